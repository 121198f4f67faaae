#!/usr/bin/env bash
# Throughput of the built-in target (crates/target) on ONE core.
#
# The target runs pinned to core 1 with a current-thread runtime; the load
# generator runs pinned to core 0:
#   * k6 (constant-vus, GET /): what one k6 shard can generate on one core;
#   * wrk (if installed): a much cheaper generator, to push the target harder.
# Each run also records the CPU time of the generator and of the target, so
# the table shows how busy the one target core was and "req/s/core" (req/s
# divided by the target's CPU share: a rough capacity estimate).
#
# Usage: bench/target-throughput.sh [--install] [--duration SECS] [--vus N]
#                                   [--repeat N] [--wrk-conns "10 50"]
#   --install   apt-get install wrk if it is missing (otherwise wrk is skipped)
# Env: CARGO_TARGET_DIR (default <repo>/target), K6 (path to a k6 binary),
#      WAIT_IDLE (max seconds to wait for idle cores before each run, default 120),
#      MAX_OTHER / TRIES (repeat a run, up to TRIES times, while other processes
#      used more than MAX_OTHER % of cores 0-1 during it; defaults 10 and 3).
#
# Traffic goes to 127.0.0.1 only; every run is bounded by its duration and
# by `timeout`; the target is stopped on exit.
set -euo pipefail

DURATION=15
VUS=50
REPEAT=2
WRK_CONNS="10 50"
INSTALL=0
while [[ $# -gt 0 ]]; do
  case "$1" in
    --install) INSTALL=1 ;;
    --duration) DURATION="$2"; shift ;;
    --vus) VUS="$2"; shift ;;
    --repeat) REPEAT="$2"; shift ;;
    --wrk-conns) WRK_CONNS="$2"; shift ;;
    -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
  shift
done

source "$(dirname "$0")/lib.sh"
if ! command -v wrk >/dev/null 2>&1 && [[ "$INSTALL" == 1 ]]; then
  echo "# installing wrk (Debian package)"
  apt-get update -qq && apt-get install -y -qq wrk >/dev/null
fi
HAVE_WRK=0
command -v wrk >/dev/null 2>&1 && HAVE_WRK=1

echo "# target: $URL (pid $SERVER_PID, core 1, current-thread runtime)"
echo "# k6: $("$K6" version | head -1)"
if [[ "$HAVE_WRK" == 1 ]]; then echo "# wrk: $(wrk --version 2>&1 | head -1)"; fi

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

HEADER="$(printf '%-20s %10s %8s %11s %11s %6s' "generator (core 0)" "req/s" "gen CPU" "target CPU" "req/s/core" "other")"
ROWS=()
# row NAME RPS: one result line from the last `measure`
row() {
  local line
  line="$(awk -v n="$1" -v r="$2" -v g="$M_GEN" -v t="$M_TGT" -v w="$M_WALL" -v o="$M_OTHER" \
    'BEGIN{ tc=t/w; cap=(tc>0)? sprintf("%.0f", r/tc) : "n/a";
            printf "%-20s %10.0f %7.0f%% %10.0f%% %11s %5s%%", n, r, 100*g/w, 100*tc, cap, o }')"
  ROWS+=("$line")
  echo "  $line"
}

K6_RPS=()
run_k6() {
  local i="$1" rps failed try
  for try in $(seq "$TRIES"); do
    wait_idle
    measure env VUS="$VUS" DURATION="${DURATION}s" URL="$URL" \
      taskset -c 0 timeout -k 5 "$LIMIT" "$K6" run --quiet --no-usage-report \
      --summary-export "$WORK/k6-$i.json" "$WORK/get.js" >"$WORK/k6-$i.log" 2>&1 \
      || { cat "$WORK/k6-$i.log" >&2; exit 1; }
    noisy "$try" || break
  done
  rps="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["metrics"]["http_reqs"]["rate"])' "$WORK/k6-$i.json")"
  failed="$(python3 -c 'import json,sys; m=json.load(open(sys.argv[1]))["metrics"].get("http_req_failed",{}); print(m.get("value", m.get("rate", 0)))' "$WORK/k6-$i.json")"
  if [[ "$failed" != "0" && "$failed" != "0.0" ]]; then
    echo "warning: k6 run $i had failed requests (rate $failed)" >&2
  fi
  K6_RPS+=("$rps")
  row "k6 $VUS VUs #$i" "$rps"
}

WRK_RPS=()
run_wrk() {
  local conns="$1" i="$2" rps try
  for try in $(seq "$TRIES"); do
    wait_idle
    measure taskset -c 0 timeout -k 5 "$LIMIT" wrk -t1 -c"$conns" -d"${DURATION}s" "$URL" \
      >"$WORK/wrk.log" 2>&1 || { cat "$WORK/wrk.log" >&2; exit 1; }
    noisy "$try" || break
  done
  rps="$(awk '/^Requests\/sec:/{print $2}' "$WORK/wrk.log")"
  if grep -q "Non-2xx\|Socket errors" "$WORK/wrk.log"; then
    echo "warning: wrk reported errors:" >&2
    grep "Non-2xx\|Socket errors" "$WORK/wrk.log" >&2
  fi
  WRK_RPS+=("$rps")
  row "wrk -t1 -c$conns #$i" "$rps"
}

echo "# runs: ${DURATION}s each, x$REPEAT"
echo "  $HEADER"
for i in $(seq "$REPEAT"); do
  run_k6 "$i"
  if [[ "$HAVE_WRK" == 1 ]]; then
    for c in $WRK_CONNS; do run_wrk "$c" "$i"; done
  fi
done

max() { printf '%s\n' "$@" | sort -g | tail -1; }

echo
echo "== target-throughput: target on 1 core (current-thread), generator on the other, GET /, ${DURATION}s runs"
echo "$HEADER"
for r in "${ROWS[@]}"; do echo "$r"; done
echo
K6_MAX="$(max "${K6_RPS[@]}")"
printf 'one k6 shard (1 core, %s VUs) generated at most: %8.0f req/s\n' "$VUS" "$K6_MAX"
if [[ "$HAVE_WRK" == 1 ]]; then
  WRK_MAX="$(max "${WRK_RPS[@]}")"
  printf 'target (1 core) served at most (wrk):            %8.0f req/s  = %.1fx one k6 shard\n' \
    "$WRK_MAX" "$(awk -v a="$WRK_MAX" -v b="$K6_MAX" 'BEGIN{print a/b}')"
else
  echo "wrk not installed (pass --install to apt-get it): only the k6 figure was measured"
fi
cat <<'EOF'
gen CPU / target CPU: share of one core used by the generator / the target (wall time of the run).
req/s/core: req/s divided by the target's CPU share: a rough estimate of what one fully busy
  target core serves (a lower bound at low load, where each request pays more wake-ups).
other: share of cores 0-1 used by other processes during the run (runs above MAX_OTHER=10%
  are repeated, up to TRIES=3 times); a high value means a noisy measurement.
EOF
