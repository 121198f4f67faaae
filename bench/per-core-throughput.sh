#!/usr/bin/env bash
# What one shard costs k6's throughput on the core it shares with its agent
# (as on Fargate, where the agent and k6 share the task's vCPUs).
#
# Plain k6 and `loadgrid run --shards 1` alternate on core 0 (the whole
# process tree pinned there: orchestrator, agent and k6), ROUNDS times, with
# the same constant-vus `GET /` script against the built-in target pinned to
# core 1. Each round prints both request rates and their ratio (loadgrid /
# k6); the median ratio is the figure. Target: >= 0.90. Rounds alternate
# which of the two goes first, so that drift on the machine cancels out.
#
# Usage: bench/per-core-throughput.sh [--rounds N] [--duration SECS] [--vus N]
# Env: LOADGRID (the loadgrid binary; default the release build, built if
#      missing), K6, CARGO_TARGET_DIR, WAIT_IDLE (see bench/lib.sh).
#
# Traffic goes to 127.0.0.1 only; every run is bounded by its duration and
# by `timeout`; the target is stopped on exit.
set -euo pipefail

ROUNDS=7
DURATION=10
VUS=20
while [[ $# -gt 0 ]]; do
  case "$1" in
    --rounds) ROUNDS="$2"; shift ;;
    --duration) DURATION="$2"; shift ;;
    --vus) VUS="$2"; shift ;;
    -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
  shift
done

# shellcheck source=bench/lib.sh
source "$(dirname "$0")/lib.sh"

one_shard_setup

k6_rate() {
  taskset -c 0 timeout "$LIMIT" "$K6" run --quiet --no-usage-report \
    --summary-export "$WORK/k6.json" "$WORK/get.js" >/dev/null 2>&1
  python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["metrics"]["http_reqs"]["rate"])' "$WORK/k6.json"
}
loadgrid_rate() {
  taskset -c 0 timeout "$LIMIT" env LOADGRID_K6="$K6" "$LOADGRID" run "$WORK/get.js" --shards 1 --json -q \
    --store "$WORK/store" >"$WORK/lg.json" 2>/dev/null
  python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["metrics"]["http_reqs"]["values"]["rate"])' "$WORK/lg.json"
}

echo "# $ROUNDS rounds, $VUS VUs for ${DURATION}s each, k6 $("$K6" version | awk '{print $2}'), $("$LOADGRID" --version)"
printf '%-6s %12s %12s %8s\n' round "k6 req/s" "grid req/s" ratio
ratios=()
for round in $(seq "$ROUNDS"); do
  wait_idle
  if (( round % 2 )); then
    k6="$(k6_rate)"; wait_idle; grid="$(loadgrid_rate)"
  else
    grid="$(loadgrid_rate)"; wait_idle; k6="$(k6_rate)"
  fi
  ratio="$(python3 -c "print(f'{$grid / $k6:.2f}')")"
  ratios+=("$ratio")
  printf '%-6s %12.0f %12.0f %8s\n' "$round" "$k6" "$grid" "$ratio"
done
python3 -c 'import statistics, sys; print(f"median ratio: {statistics.median(map(float, sys.argv[1:])):.2f} over {len(sys.argv) - 1} rounds (target >= 0.90)")' "${ratios[@]}"
