#!/usr/bin/env bash
# The IAM policy linter the policy test runs (tests/policy_lint.rs): parliament from PyPI,
# pinned in scripts/parliament-requirements.txt, in its own venv (its boto3 would clash
# with the emulator's pins).
#
# Usage: scripts/parliament.sh {install|path}
#   install  create .emulator/parliament-venv and install the pinned requirements
#            (again only when they change)
#   path     print the path of the parliament executable
#
# Knob: PARLIAMENT_PYTHON=/path/to/python3 (default: python3 on PATH, Python >= 3.8).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.emulator/parliament-venv"
REQS="$ROOT/scripts/parliament-requirements.txt"
STAMP="$VENV/.requirements.stamp"

log() { echo "parliament: $*" >&2; }

cmd_install() {
    local python="${PARLIAMENT_PYTHON:-python3}" want
    command -v "$python" >/dev/null || { log "ERROR: $python not found (set PARLIAMENT_PYTHON)"; exit 1; }
    want="$(sha256sum "$REQS" | cut -d' ' -f1)"
    if [[ -x "$VENV/bin/parliament" && -f "$STAMP" && "$(cat "$STAMP")" == "$want" ]]; then
        log "up to date ($VENV)"
        return 0
    fi
    mkdir -p "$ROOT/.emulator"
    [[ -x "$VENV/bin/python" ]] || "$python" -m venv "$VENV"
    log "installing $REQS"
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --no-input -r "$REQS"
    echo "$want" > "$STAMP"
}

case "${1:-}" in
    install) cmd_install ;;
    path) echo "$VENV/bin/parliament" ;;
    *) echo "usage: $0 {install|path}" >&2; exit 2 ;;
esac
