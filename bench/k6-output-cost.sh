#!/usr/bin/env bash
# What k6's per-sample metric output costs k6 itself.
#
# k6 runs pinned to core 0 (so it is CPU-bound on one core) with a
# constant-vus scenario doing a trivial `GET /` against the built-in target
# (pinned to core 1, current-thread runtime; it is far from saturated). The
# k6 request rate is then the most one k6 core can do, and the drop with an
# output enabled is the output's cost. Configurations:
#   none      no --out
#   json      --out json=/dev/fd/3
#   csv       --out csv=/dev/fd/3, K6_CSV_TIME_FORMAT=unix_micro
#   csv-tags  as csv, plus --system-tags name,method,status,scenario,expected_response,check,group
#             (the reduced tag set the loadgrid agent uses)
#   json-tags as json, with the same reduced --system-tags
# fd 3 is a pipe to a consumer that reads and discards (`wc -c`, pinned to
# core 1), which also counts the bytes k6 wrote.
# Reported per config: k6's request rate, and k6's CPU time per request (the
# steadier figure on a shared or virtualised machine); cost = change vs none.
#
# Usage: bench/k6-output-cost.sh [--duration SECS] [--vus N] [--repeat N]
# Env: CARGO_TARGET_DIR (default <repo>/target), K6 (path to a k6 binary),
#      WAIT_IDLE (max seconds to wait for idle cores before each run, default 120),
#      MAX_OTHER / TRIES (repeat a run, up to TRIES times, while other processes
#      used more than MAX_OTHER % of cores 0-1 during it; defaults 10 and 3).
#
# Traffic goes to 127.0.0.1 only; every run is bounded by its duration and
# by `timeout`; the target is stopped on exit.
set -euo pipefail

DURATION=20
VUS=20
REPEAT=2
CONFIGS=(none json csv csv-tags json-tags)
SYSTEM_TAGS="name,method,status,scenario,expected_response,check,group"
while [[ $# -gt 0 ]]; do
  case "$1" in
    --duration) DURATION="$2"; shift ;;
    --vus) VUS="$2"; shift ;;
    --repeat) REPEAT="$2"; shift ;;
    -h|--help) sed -n '2,24p' "$0"; exit 0 ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
  shift
done

source "$(dirname "$0")/lib.sh"

echo "# target: $URL (pid $SERVER_PID, core 1, current-thread runtime)"
echo "# k6: $("$K6" version | head -1)"

cat >"$WORK/get.js" <<'EOF'
import http from 'k6/http';
export const options = {
  scenarios: {
    get: { executor: 'constant-vus', vus: Number(__ENV.VUS), duration: __ENV.DURATION },
  },
};
export default function () {
  http.get(__ENV.URL);
}
EOF

# run_config CFG I: one k6 run; appends "CFG I RPS REQS BYTES GEN% OTHER%" to results
run_config() {
  local cfg="$1" i="$2" tag="$1-$2"
  local -a out=() env=()
  case "$cfg" in
    none) ;;
    json) out=(--out json=/dev/fd/3) ;;
    csv) out=(--out csv=/dev/fd/3); env=(K6_CSV_TIME_FORMAT=unix_micro) ;;
    csv-tags) out=(--out csv=/dev/fd/3 --system-tags "$SYSTEM_TAGS"); env=(K6_CSV_TIME_FORMAT=unix_micro) ;;
    json-tags) out=(--out json=/dev/fd/3 --system-tags "$SYSTEM_TAGS") ;;
    *) echo "unknown config $cfg" >&2; exit 2 ;;
  esac
  local try consumer
  for try in $(seq "$TRIES"); do
    wait_idle
    : >"$WORK/bytes-$tag"
    # fd 3: a pipe to a consumer that discards and counts (core 1, off k6's core)
    measure env VUS="$VUS" DURATION="${DURATION}s" URL="$URL" "${env[@]}" \
      taskset -c 0 timeout -k 5 "$LIMIT" "$K6" run --quiet --no-usage-report "${out[@]}" \
      --summary-export "$WORK/sum-$tag.json" "$WORK/get.js" \
      >"$WORK/k6-$tag.log" 2>&1 3> >(taskset -c 1 wc -c >"$WORK/bytes-$tag") \
      || { cat "$WORK/k6-$tag.log" >&2; exit 1; }
    consumer=$!
    wait "$consumer" 2>/dev/null || true
    for _ in $(seq 50); do [[ -s "$WORK/bytes-$tag" ]] && break; sleep 0.1; done
    noisy "$try" || break
  done
  local rps reqs bytes
  read -r rps reqs < <(python3 -c 'import json,sys; m=json.load(open(sys.argv[1]))["metrics"]["http_reqs"]; print(m["rate"], m["count"])' "$WORK/sum-$tag.json")
  bytes="$(tr -d ' ' <"$WORK/bytes-$tag")"
  local line
  line="$(awk -v c="$cfg" -v i="$i" -v r="$rps" -v n="$reqs" -v b="$bytes" -v g="$M_GEN" -v w="$M_WALL" -v o="$M_OTHER" \
    'BEGIN{printf "%s %s %.1f %d %d %.0f %s %.3f", c, i, r, n, b, 100*g/w, o, g}')"
  echo "$line" >>"$WORK/results"
  awk -v c="$cfg" -v i="$i" -v r="$rps" -v b="$bytes" -v n="$reqs" -v g="$M_GEN" -v w="$M_WALL" -v o="$M_OTHER" \
    'BEGIN{printf "  %-9s #%s %7.0f req/s  %5.1f k6-CPU-us/req  k6 CPU %3.0f%%  other %2s%%  out %6.1f MB (%.0f B/req)\n", c, i, r, (n>0? g*1e6/n : 0), 100*g/w, o, b/1e6, (n>0? b/n : 0)}'
}

echo "# ${#CONFIGS[@]} configs x $REPEAT runs, ${DURATION}s each, $VUS VUs, interleaved (order rotated each round)"
: >"$WORK/results"
for i in $(seq "$REPEAT"); do
  n=${#CONFIGS[@]}
  for j in $(seq 0 $((n - 1))); do run_config "${CONFIGS[$(( (j + i - 1) % n ))]}" "$i"; done
done

echo
echo "== k6-output-cost: k6 on 1 core, $VUS VUs constant, GET / of the built-in target, ${DURATION}s runs"
python3 - "$WORK/results" "${CONFIGS[@]}" <<'EOF'
import statistics, sys
path, configs = sys.argv[1], sys.argv[2:]
runs = {c: [] for c in configs}
for line in open(path):
    cfg, i, rps, reqs, b, gen_pct, other, gen_secs = line.split()
    reqs = int(reqs)
    runs[cfg].append(dict(rps=float(rps), us=float(gen_secs) * 1e6 / max(reqs, 1),
                          bpr=int(b) / max(reqs, 1), gen=float(gen_pct), other=other))
med = lambda c, k: statistics.median(r[k] for r in runs[c])
base_rps, base_us = med("none", "rps"), med("none", "us")
print(f"{'output':<9} {'req/s each run':<18} {'median':>7} {'cost':>6}   "
      f"{'k6 CPU us/req each':<19} {'median':>6} {'cost':>6}  {'B/req':>5} {'other%':>7}")
for c in configs:
    rs = runs[c]
    rps, us = med(c, "rps"), med(c, "us")
    cost_rps = "-" if c == "none" else f"{100 * (1 - rps / base_rps):.1f}%"
    cost_us = "-" if c == "none" else f"{100 * (us / base_us - 1):.1f}%"
    each_rps = " ".join(f"{r['rps']:.0f}" for r in rs)
    each_us = " ".join(f"{r['us']:.0f}" for r in rs)
    other = "/".join(r["other"] for r in rs)
    print(f"{c:<9} {each_rps:<18} {rps:>7.0f} {cost_rps:>6}   {each_us:<19} {us:>6.1f} {cost_us:>6}  "
          f"{med(c, 'bpr'):>5.0f} {other:>7}")
print("req/s: k6's request rate (k6 is CPU-bound on its one core, so this is its maximum);")
print("  cost = drop of the median vs no output.")
print("k6 CPU us/req: k6's CPU time per request (whole run incl. start-up); cost = rise of the median")
print("  vs no output. Less sensitive to noise from the rest of the machine than req/s.")
print("B/req: bytes k6 wrote to fd 3 per request. other%: share of cores 0-1 used by other processes in")
print("  each run, incl. the fd-3 consumer (runs above MAX_OTHER are repeated, up to TRIES times).")
EOF
