#!/usr/bin/env bash
# Where the core goes when one shard runs on it: `perf record` over a
# `loadgrid run --shards 1` pinned to core 0 (orchestrator, agent and k6),
# 20 VUs of `GET /` against the built-in target on core 1. Prints the CPU
# samples by process (the orchestrator, the agent, k6) and the hottest
# symbols of the two loadgrid processes.
#
# Usage: bench/profile-one-shard.sh [--duration SECS] [--vus N]
# Env: LOADGRID (default the release build, built if missing), K6,
#      CARGO_TARGET_DIR, WAIT_IDLE (see bench/lib.sh). Needs `perf`.
#
# Traffic goes to 127.0.0.1 only; the run is bounded by its duration and by
# `timeout`; the target is stopped on exit.
set -euo pipefail

DURATION=10
VUS=20
while [[ $# -gt 0 ]]; do
  case "$1" in
    --duration) DURATION="$2"; shift ;;
    --vus) VUS="$2"; shift ;;
    -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
  shift
done
command -v perf >/dev/null || { echo "needs perf (Debian: linux-perf)" >&2; exit 1; }

# shellcheck source=bench/lib.sh
source "$(dirname "$0")/lib.sh"

one_shard_setup

wait_idle
taskset -c 0 perf record -q -F 499 -g -o "$WORK/perf.data" -- \
  timeout "$LIMIT" env LOADGRID_K6="$K6" "$LOADGRID" run "$WORK/get.js" --shards 1 --json -q \
  --store "$WORK/store" >"$WORK/lg.json" 2>"$WORK/lg.err"
python3 -c 'import json,sys; m=json.load(open(sys.argv[1]))["metrics"]["http_reqs"]["values"]; print("# %.0f requests, %.0f/s" % (m["count"], m["rate"]))' "$WORK/lg.json"

# The orchestrator and the agent are both `loadgrid`: tell them apart by pid.
orchestrator_pid="$(perf script -i "$WORK/perf.data" -F comm,pid 2>/dev/null | awk '$1=="loadgrid"{print $2; exit}')"
echo "# CPU samples by process (orchestrator pid $orchestrator_pid; the agent is the other loadgrid)"
perf report -i "$WORK/perf.data" --no-children --sort pid --stdio 2>/dev/null | grep -E '^ +[0-9]' | head -8
for pid in $(perf report -i "$WORK/perf.data" --no-children --sort pid --stdio 2>/dev/null \
  | awk '/loadgrid/ {split($2, a, ":"); print a[1]}'); do
  role="agent"; [[ "$pid" == "$orchestrator_pid" ]] && role="orchestrator"
  echo "# hottest symbols of the $role (pid $pid), share of all samples"
  perf report -i "$WORK/perf.data" --no-children --pid "$pid" --sort symbol --stdio 2>/dev/null \
    | grep -E '^ +[0-9]' | head -15
done
