# Shared by the benchmarks that drive the built-in target: builds it, starts
# it pinned to core 1, and measures CPU use. Sourced, not run.
# Expects DURATION to be set; sets ROOT, K6, WORK, URL and the CPU helpers.

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
LIMIT=$((DURATION + 60))       # hard cap per load-generator run, seconds
WAIT_IDLE="${WAIT_IDLE:-120}"  # max seconds to wait for idle cores before a run
MAX_OTHER="${MAX_OTHER:-10}"   # a run where other processes used more than this % of
TRIES="${TRIES:-3}"            # cores 0-1 is repeated, at most TRIES times in all
HZ="$(getconf CLK_TCK)"

if [[ "$(nproc)" -lt 2 ]]; then
  echo "needs at least 2 cores (load generator on core 0, target on core 1)" >&2
  exit 1
fi

K6="${K6:-$ROOT/.venv/bin/k6}"
if [[ ! -x "$K6" ]]; then
  "$ROOT/scripts/venv"
  K6="$ROOT/.venv/bin/k6"
fi

echo "# building the target (release)"
cargo build --quiet --release -p loadgrid-target --example serve
SERVE="$CARGO_TARGET_DIR/release/examples/serve"

WORK="$(mktemp -d)"
SERVER_PID=""
cleanup() {
  if [[ -n "$SERVER_PID" ]]; then
    kill "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT

# --- CPU accounting ---------------------------------------------------------
# busy ticks of cores 0 and 1 (user nice system irq softirq steal)
cores_busy() { awk '$1=="cpu0"||$1=="cpu1"{b+=$2+$3+$4+$7+$8+$9} END{print b}' /proc/stat; }
# ticks of cores 0 and 1 spent in processes (user nice system steal), i.e.
# without interrupt/softirq time, which loopback traffic itself causes
cores_task() { awk '$1=="cpu0"||$1=="cpu1"{b+=$2+$3+$4+$9} END{print b}' /proc/stat; }
# CPU seconds used so far by this shell's finished children. `times` must run
# in this shell (not in a $(...) subshell), hence the file.
children_secs() {
  times >"$WORK/times"
  awk 'NR==2{ for (i=1;i<=2;i++) { split($i,a,/[ms]/); s+=a[1]*60+a[2] } print s }' "$WORK/times"
}
pid_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
# Wait (at most WAIT_IDLE seconds) until cores 0-1 are nearly idle so that
# other work on the machine does not skew the run.
wait_idle() {
  local deadline=$((SECONDS + WAIT_IDLE)) b0 b1 pct
  while :; do
    b0="$(cores_busy)"; sleep 1; b1="$(cores_busy)"
    pct=$(( (b1 - b0) * 100 / (2 * HZ) ))
    [[ "$pct" -le 10 ]] && return 0
    if [[ "$SECONDS" -ge "$deadline" ]]; then
      echo "  (cores 0-1 still ${pct}% busy after waiting ${WAIT_IDLE}s; measuring anyway)" >&2
      return 0
    fi
  done
}
# measure CMD...: runs CMD in the foreground and sets
#   M_WALL  wall seconds
#   M_GEN   CPU seconds of CMD and its children (the load generator)
#   M_TGT   CPU seconds of the target
#   M_OTHER % of cores 0-1 used by other processes (interrupt and softirq
#           time, which the loopback traffic itself causes, is left out)
measure() {
  local t0 c0 g0 b0 t1 c1 g1 b1 rc=0
  children_secs >"$WORK/g0"
  t0="$(date +%s.%N)"; c0="$(cores_task)"; b0="$(pid_ticks "$SERVER_PID")"
  "$@" || rc=$?
  t1="$(date +%s.%N)"; c1="$(cores_task)"; b1="$(pid_ticks "$SERVER_PID")"
  children_secs >"$WORK/g1"
  g0="$(cat "$WORK/g0")"; g1="$(cat "$WORK/g1")"
  M_WALL="$(awk -v a="$t0" -v b="$t1" 'BEGIN{print b-a}')"
  M_GEN="$(awk -v a="$g0" -v b="$g1" 'BEGIN{print b-a}')"
  M_TGT="$(awk -v a="$b0" -v b="$b1" -v hz="$HZ" 'BEGIN{print (b-a)/hz}')"
  M_OTHER="$(awk -v c="$((c1 - c0))" -v hz="$HZ" -v g="$M_GEN" -v t="$M_TGT" -v w="$M_WALL" \
    'BEGIN{o=(c/hz-g-t)/(2*w)*100; if (o<0) o=0; printf "%.0f", o}')"
  return "$rc"
}
# noisy: true if the last `measure` was disturbed by other processes; says so
# when another try is left (try number $1)
noisy() {
  [[ "$M_OTHER" -le "$MAX_OTHER" ]] && return 1
  if [[ "$1" -lt "$TRIES" ]]; then
    echo "  (other processes used ${M_OTHER}% of cores 0-1 during that run; repeating it)" >&2
  else
    echo "  (other processes used ${M_OTHER}% of cores 0-1 during that run; keeping it, see 'other')" >&2
  fi
}

# --- target ----------------------------------------------------------------
taskset -c 1 "$SERVE" --listen 127.0.0.1:0 --threads 0 >"$WORK/serve.out" 2>&1 &
SERVER_PID=$!
ADDR=""
for _ in $(seq 100); do
  ADDR="$(sed -n 's/^listening on //p' "$WORK/serve.out")"
  [[ -n "$ADDR" ]] && break
  kill -0 "$SERVER_PID" 2>/dev/null || { cat "$WORK/serve.out" >&2; exit 1; }
  sleep 0.1
done
[[ -n "$ADDR" ]] || { echo "target did not start" >&2; exit 1; }
URL="http://$ADDR/"

# --- one shard against the target -------------------------------------------
# one_shard_setup: sets LOADGRID (the release build unless given; built if
# missing) and writes $WORK/get.js: $VUS constant VUs of `GET $URL` for
# $DURATION seconds.
one_shard_setup() {
  LOADGRID="${LOADGRID:-$CARGO_TARGET_DIR/release/loadgrid}"
  if [[ ! -x "$LOADGRID" ]]; then
    echo "# building loadgrid (release)"
    cargo build --quiet --release -p loadgrid
  fi
  cat >"$WORK/get.js" <<JS
import http from "k6/http";
export const options = { scenarios: { s: { executor: "constant-vus", vus: $VUS, duration: "${DURATION}s" } } };
export default function () { http.get("$URL"); }
JS
}
