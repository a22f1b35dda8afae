#!/usr/bin/env bash
# Runs every test: unit tests of each crate, and the end-to-end tests (tests/) that
# drive hactl against the local emulator and verify with the AWS SDK. Installs and
# starts the emulator when it is not running, and stops it again if it started it.
#
# Usage: bash scripts/test.sh [extra cargo test args]
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

started=0
if ! curl -fsS -m 2 "http://127.0.0.1:${HACTL_EMULATOR_PORT:-4566}/_localstack/health" >/dev/null 2>&1; then
    bash scripts/emulator.sh start
    started=1
fi
cleanup() { if [[ $started == 1 ]]; then bash scripts/emulator.sh stop || true; fi; }
trap cleanup EXIT
eval "$(bash scripts/emulator.sh env)"
# The IAM policy linter of tests/policy_lint.rs (pinned, in its own venv).
bash scripts/parliament.sh install

# The end-to-end tests (package hactl-tests) drive the hactl binary, which cargo does not
# build for another package's tests: build it first.
cargo build -p hactl
cargo test --workspace "$@"
