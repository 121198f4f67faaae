#!/usr/bin/env bash
# Cold build time, binary size and start-up time of each cargo profile that
# builds loadgrid: `release` (quick local builds) and `dist` (what releases
# ship). Each profile builds from scratch in its own target directory under
# $PROFILES_DIR (default /tmp/loadgrid-profiles); with --reuse, a binary
# already there is measured without building again (no build time then).
# Start-up: the median wall time of `loadgrid --version` and of
# `loadgrid run --help` over 20 runs each.
#
#   bench/profiles.sh [--reuse] [profile ...]     default: release dist
set -euo pipefail
cd "$(dirname "$0")/.."

reuse=0
if [ "${1:-}" = "--reuse" ]; then
  reuse=1
  shift
fi
profiles=("$@")
[ "${#profiles[@]}" -gt 0 ] || profiles=(release dist)
root="${PROFILES_DIR:-/tmp/loadgrid-profiles}"

median_ms() {
  python3 - "$@" <<'PY'
import statistics, subprocess, sys, time
times = []
for _ in range(20):
    started = time.perf_counter()
    subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    times.append((time.perf_counter() - started) * 1000)
print(f"{statistics.median(times):.1f}")
PY
}

printf '| profile | cold build | binary | stripped | `--version` | `run --help` |\n'
printf '| --- | ---: | ---: | ---: | ---: | ---: |\n'
for profile in "${profiles[@]}"; do
  dir="$root/$profile"
  binary="$dir/$profile/loadgrid"
  build="-"
  if [ "$reuse" = 0 ] || [ ! -x "$binary" ]; then
    rm -rf "$dir"
    started="$(date +%s)"
    CARGO_TARGET_DIR="$dir" cargo build --quiet --locked --profile "$profile" -p loadgrid
    seconds=$(($(date +%s) - started))
    build="$((seconds / 60)) min $((seconds % 60)) s"
  fi
  size="$(stat -c %s "$binary")"
  cp "$binary" "$dir/stripped"
  strip "$dir/stripped"
  stripped="$(stat -c %s "$dir/stripped")"
  printf '| %s | %s | %.1f MB | %.1f MB | %s ms | %s ms |\n' "$profile" "$build" \
    "$(echo "$size / 1000000" | python3 -c 'print(eval(input()))')" \
    "$(echo "$stripped / 1000000" | python3 -c 'print(eval(input()))')" \
    "$(median_ms "$binary" --version)" "$(median_ms "$binary" run --help)"
done
