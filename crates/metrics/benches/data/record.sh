#!/usr/bin/env bash
# Records real k6 metric output against a loopback server, as the agent runs k6.
# Usage: [SLEEP=seconds] record.sh OUT [DURATION] [VUS]   (bounded: the server exits by itself)
# OUT ending in .csv records CSV (K6_CSV_TIME_FORMAT=unix_micro), in .json records JSON; any
# other OUT records ONE run in both formats at once, to OUT.csv and OUT.json.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
out="$1"; duration="${2:-10s}"; vus="${3:-4}"; port="${PORT:-18765}"
k6="${K6:-$here/../../../../.venv/bin/k6}"
case "$out" in
  *.csv) outputs=(--out csv=/dev/fd/3); csv="$out"; json=/dev/null ;;
  *.json) outputs=(--out json=/dev/fd/4); csv=/dev/null; json="$out" ;;
  *) outputs=(--out csv=/dev/fd/3 --out json=/dev/fd/4); csv="$out.csv"; json="$out.json" ;;
esac
python3 "$here/server.py" --port "$port" --seconds 300 &
server=$!
trap 'kill "$server" 2>/dev/null || true' EXIT
for _ in $(seq 50); do (exec 5<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done
kill -0 "$server" || { echo "server did not start (port $port busy?)" >&2; exit 1; }
BASE="http://127.0.0.1:$port" K6_CSV_TIME_FORMAT=unix_micro DURATION="$duration" VUS="$vus" \
  timeout 600 "$k6" run --quiet --no-usage-report \
  --no-thresholds --tag shard=0 \
  --system-tags name,method,status,scenario,expected_response,check,group \
  "${outputs[@]}" "$here/script.js" 3> >(cat > "$csv") 4> >(cat > "$json")
sleep 0.5
