#!/usr/bin/env bash
# Records real k6 JSON metric output against a loopback server, as the agent runs k6.
# Usage: [SLEEP=seconds] record.sh OUT.json [DURATION] [VUS]   (bounded: the server exits by itself)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
out="$1"; duration="${2:-10s}"; vus="${3:-4}"; port="${PORT:-18765}"
k6="${K6:-$here/../../../../.venv/bin/k6}"
python3 "$here/server.py" --port "$port" --seconds 300 &
server=$!
trap 'kill "$server" 2>/dev/null || true' EXIT
for _ in $(seq 50); do (exec 5<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done
kill -0 "$server" || { echo "server did not start (port $port busy?)" >&2; exit 1; }
BASE="http://127.0.0.1:$port" DURATION="$duration" VUS="$vus" \
  timeout 600 "$k6" run --quiet --no-usage-report \
  --no-thresholds --tag shard=0 \
  --system-tags name,method,status,scenario,expected_response,check,group \
  --out json=/dev/fd/3 "$here/script.js" 3> >(cat > "$out")
sleep 0.5
