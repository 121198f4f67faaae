#!/usr/bin/env bash
# What the live dashboard costs the run it shows: the orchestrator's CPU
# (the `loadgrid run` process itself, not its agents or k6) and the run's
# requests per second, without a dashboard, with a dashboard nobody opens,
# and with CLIENTS pages open on it (each a `curl -N` on its event stream,
# which receives every update as a browser tab does).
#
# Usage: bench/dashboard-clients.sh [ROUNDS] [CLIENTS]    (default 3, 20)
# Builds loadgrid (release). Each round runs the three modes in turn; a
# run is a local 2-shard grid of 4 VUs for DURATION seconds (default 30)
# against the built-in target, on this machine's loopback only.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
ROUNDS="${1:-3}"
CLIENTS="${2:-20}"
DURATION="${DURATION:-30}"
HZ="$(getconf CLK_TCK)"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"

[[ -x .venv/bin/k6 ]] || scripts/venv
export LOADGRID_K6="$ROOT/.venv/bin/k6"
echo "# building loadgrid (release)"
cargo build --quiet --release -p loadgrid
LOADGRID="$CARGO_TARGET_DIR/release/loadgrid"

WORK="$(mktemp -d)"
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
TARGET_PORT="$(free_port)"
"$LOADGRID" target --listen "127.0.0.1:$TARGET_PORT" >/dev/null 2>&1 &
PIDS+=($!)
cat >"$WORK/load.js" <<EOF
import http from 'k6/http';
export const options = { scenarios: { steady: { executor: 'constant-vus', vus: 4, duration: '${DURATION}s' } } };
export default function () { http.get('http://127.0.0.1:${TARGET_PORT}/delay/10ms', { tags: { name: 'delay' } }); }
EOF

ticks() { awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0; }

# run MODE: prints "cpu_percent rps" for one run.
run() {
  local mode="$1" port args=() pid clients=() t0 t1 start
  port="$(free_port)"
  [[ "$mode" != none ]] && args=(--dashboard="127.0.0.1:$port")
  "$LOADGRID" run "$WORK/load.js" --shards 2 --store "$WORK/store" --json -q "${args[@]}" \
    >"$WORK/summary.json" 2>"$WORK/stderr" </dev/null &
  pid=$!
  if [[ "$mode" == clients ]]; then
    until curl -fs -o /dev/null "http://127.0.0.1:$port/"; do sleep 0.1; done
    for _ in $(seq "$CLIENTS"); do
      curl -sN "http://127.0.0.1:$port/events" >/dev/null 2>&1 &
      clients+=($!)
    done
  fi
  # The test's middle: from 5 s after it starts to 5 s before it ends.
  until [[ -n "$(find "$WORK/store/runs" -name go 2>/dev/null)" ]]; do sleep 0.1; done
  sleep 5
  t0="$(ticks "$pid")"; start="$EPOCHREALTIME"
  sleep $((DURATION - 10))
  t1="$(ticks "$pid")"
  local seconds; seconds="$(python3 -c "print($EPOCHREALTIME - $start)")"
  wait "$pid" || true
  for c in "${clients[@]}"; do kill "$c" 2>/dev/null || true; done
  rm -rf "$WORK/store"
  python3 - "$WORK/summary.json" "$t0" "$t1" "$HZ" "$seconds" <<'EOF'
import json, sys
summary = json.load(open(sys.argv[1]))
t0, t1, hz, seconds = int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5])
rps = summary["metrics"]["http_reqs"]["values"]["rate"]
print(f"{(t1 - t0) / hz / seconds * 100:.2f} {rps:.1f}")
EOF
}

echo "# $ROUNDS rounds; $DURATION s runs of 2 local shards; orchestrator CPU over the test's middle $((DURATION - 10)) s"
printf '%-24s %6s %22s %12s\n' mode round "orchestrator CPU (%)" "requests/s"
declare -A CPU RPS
for round in $(seq "$ROUNDS"); do
  for mode in none dashboard clients; do
    read -r cpu rps < <(run "$mode")
    CPU[$mode]+="$cpu "; RPS[$mode]+="$rps "
    label="$mode"
    [[ "$mode" == none ]] && label="no dashboard"
    [[ "$mode" == dashboard ]] && label="dashboard, no page open"
    [[ "$mode" == clients ]] && label="dashboard, $CLIENTS pages"
    printf '%-24s %6s %22s %12s\n' "$label" "$round" "$cpu" "$rps"
  done
done
median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{a[NR]=$1} END{print (NR%2)? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
echo "# medians"
for mode in none dashboard clients; do
  printf '%-24s %22s %12s\n' "$mode" "$(echo "${CPU[$mode]}" | median)" "$(echo "${RPS[$mode]}" | median)"
done
