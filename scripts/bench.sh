#!/usr/bin/env bash
# Benchmark: hactl's apply / no-change plan / drift / destroy against the local emulator,
# 2 AZs vs 4 AZs, with AWS API call counts. Prints a table.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
bash scripts/emulator.sh start
eval "$(bash scripts/emulator.sh env)"
cargo build --release -p hactl
cargo bench --bench plan
