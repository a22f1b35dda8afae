#!/bin/bash
# LocalStack BOOT-stage init hook for the Docker image (see localstack-compose.yml).
# BOOT hooks run inside the container before the LocalStack runtime starts, so the
# providers of emulator/hactl_localstack_ext are installed before LocalStack looks up
# its `localstack.aws.provider` entry points. Safe to run on every container start.
set -euo pipefail

SRC="${HACTL_EXT_SRC:-/opt/hactl_localstack_ext}"
VENV_PY="${LOCALSTACK_VENV_PYTHON:-/opt/code/localstack/.venv/bin/python}"

# Build from a writable copy: the source is mounted read-only and setuptools writes
# build/ and *.egg-info next to the sources.
build="$(mktemp -d)"
trap 'rm -rf "$build"' EXIT
cp -r "$SRC"/. "$build"/

args=(install --quiet --disable-pip-version-check --no-input --no-deps --force-reinstall)
# Build offline with the venv's setuptools when it has one; otherwise pip fetches it.
if "$VENV_PY" -c 'import setuptools' >/dev/null 2>&1; then
    args+=(--no-build-isolation)
fi
args+=("$build")
if "$VENV_PY" -m pip --version >/dev/null 2>&1; then
    "$VENV_PY" -m pip "${args[@]}"
elif command -v pip >/dev/null 2>&1; then
    # LocalStack's venv may ship without pip; the image's system pip can target it.
    pip --python "$VENV_PY" "${args[@]}"
elif command -v uv >/dev/null 2>&1; then
    uv pip install --quiet --python "$VENV_PY" --no-deps --reinstall "$build"
else
    echo "hactl: no pip/uv found to install $SRC into $VENV_PY" >&2
    exit 1
fi
echo "hactl: installed hactl-localstack-ext into $VENV_PY"
