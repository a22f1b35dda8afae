#!/usr/bin/env bash
# Benchmark: hactl's apply / no-change plan / drift / destroy against the local emulator,
# for the demo over 2 and 4 AZs and for stacks of about 330 and 1,000 resources (the demo
# plus generated internal services), with AWS API calls and peak memory. Prints markdown
# tables (see the doc comment of benches/plan.rs).
#
# Environment: HACTL_BENCH_BIN=<hactl binary> measures that binary and skips the release
# build (e.g. target/debug/hactl); HACTL_BENCH_SIZES=78,330,1000 the sizes in resources;
# HACTL_EMULATOR_PORT the emulator's port (default 4566).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
# Starts the emulator when it is not running, and stops it again at the end if it did (a
# CI run after a bench finds the port free, as after scripts/test.sh).
started=0
if ! curl -fsS -m 2 "http://127.0.0.1:${HACTL_EMULATOR_PORT:-4566}/_localstack/health" >/dev/null 2>&1; then
    bash scripts/emulator.sh start
    started=1
fi
cleanup() { if [[ $started == 1 ]]; then bash scripts/emulator.sh stop || true; fi; }
trap cleanup EXIT
eval "$(bash scripts/emulator.sh env)"
if [[ -z "${HACTL_BENCH_BIN:-}" ]]; then
    cargo build --release -p hactl
fi
# The harness only drives hactl processes: build it with the dev profile, so it reuses the
# test build's dependencies instead of compiling the AWS SDK crates again in release mode.
cargo bench --profile dev --bench plan
