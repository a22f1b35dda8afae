#!/usr/bin/env bash
# Local AWS emulator: LocalStack community (host mode, no Docker) + the
# emulator/hactl_localstack_ext extension that adds ECS, ELBv2, Auto Scaling, RDS,
# DocumentDB and Application Auto Scaling through LocalStack's bundled moto.
#
# Usage: scripts/emulator.sh {install|start|stop|status|reset|env}
#   install  create .emulator/venv (Python 3.13) with emulator/requirements.txt + extension
#   start    install if needed, start LocalStack on 127.0.0.1:4566 (HACTL_EMULATOR_PORT),
#            wait until healthy
#   stop     stop the LocalStack started by `start` (by its PID only)
#   status   print whether it is running and its health JSON
#   reset    stop, wipe emulator state, start again
#   env      print the AWS_* exports for clients: eval "$(scripts/emulator.sh env)"
#            (then `.emulator/venv/bin/aws ...` or any SDK talks to the emulator)
#
# Everything lives under <repo>/.emulator (venv, pid, log, LocalStack filesystem, caches).
# Knobs: EMULATOR_PYTHON=/path/to/python3.13, EMULATOR_START_TIMEOUT=120 (seconds),
# HACTL_EMULATOR_PORT=4566 (another port runs another emulator beside the first, from this
# checkout or another, its runtime files under .emulator/port-N;
# `env` then points clients at it, and scripts/test.sh and scripts/demo.sh follow it).
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$SCRIPT_DIR/.." && pwd)"
STATE="$ROOT/.emulator"
VENV="$STATE/venv"
PY="$VENV/bin/python"
REQS="$ROOT/emulator/requirements.txt"
EXT_SRC="$ROOT/emulator/hactl_localstack_ext"
REQ_STAMP="$VENV/.requirements.stamp"
EXT_STAMP="$VENV/.extension.stamp"
# Runtime files of one emulator: under .emulator for the default port, under
# .emulator/port-N for another (the venv is shared), so emulators on two ports of one
# checkout do not share a pid file, log or LocalStack filesystem.
if [[ "${HACTL_EMULATOR_PORT:-4566}" == 4566 ]]; then RUN="$STATE"; else RUN="$STATE/port-$HACTL_EMULATOR_PORT"; fi
PIDFILE="$RUN/localstack.pid"
LOGFILE="$RUN/localstack.log"
HOSTPORT="127.0.0.1:${HACTL_EMULATOR_PORT:-4566}"
HEALTH_URL="http://$HOSTPORT/_localstack/health"
START_TIMEOUT="${EMULATOR_START_TIMEOUT:-120}"

log() { echo "emulator: $*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# ---------------------------------------------------------------- install ----------

find_python() {
    local cand
    if [[ -n "${EMULATOR_PYTHON:-}" ]]; then
        echo "$EMULATOR_PYTHON"; return 0
    fi
    local pyenv_root="${PYENV_ROOT:-$HOME/.pyenv}"
    # newest 3.13.x under pyenv first, then whatever python3.13 is on PATH
    for cand in $(ls -d "$pyenv_root"/versions/3.13* 2>/dev/null | sort -rV); do
        if [[ -x "$cand/bin/python3.13" ]]; then echo "$cand/bin/python3.13"; return 0; fi
    done
    if cand="$(command -v python3.13 2>/dev/null)"; then echo "$cand"; return 0; fi
    return 1
}

# Hash of the pinned requirements (+ interpreter version): the venv is rebuilt when it changes.
requirements_hash() {
    { cat "$REQS"; "$1" -c 'import sys; print(sys.version)'; } | sha256sum | cut -d' ' -f1
}

# Hash of the extension's source files: it is reinstalled when it changes.
extension_hash() {
    (cd "$EXT_SRC" && find . -type f \( -name '*.py' -o -name '*.toml' \) \
        -not -path '*/__pycache__/*' -not -path './build/*' -print0 \
        | sort -z | xargs -0 sha256sum) | sha256sum | cut -d' ' -f1
}

cmd_install() {
    local python want
    if [[ -x "$PY" ]]; then
        python="$PY"
    else
        python="$(find_python)" || die "Python 3.13 not found. LocalStack 4.14 needs it: install it \
(e.g. 'pyenv install 3.13') or set EMULATOR_PYTHON=/path/to/python3.13."
    fi
    "$python" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 13))' \
        || die "$python is not Python 3.13 (LocalStack 4.14 needs exactly 3.13)."
    mkdir -p "$STATE"

    want="$(requirements_hash "$python")"
    if [[ -x "$PY" && -f "$REQ_STAMP" && "$(cat "$REQ_STAMP")" == "$want" ]]; then
        log "venv up to date ($VENV)"
    else
        if [[ ! -x "$PY" ]]; then
            log "creating venv $VENV with $python"
            "$python" -m venv "$VENV"
        fi
        log "installing $REQS (takes a minute or two on a cold cache)"
        "$PY" -m pip install --quiet --disable-pip-version-check --no-input -r "$REQS"
        want="$(requirements_hash "$PY")"
        echo "$want" > "$REQ_STAMP"
        rm -f "$EXT_STAMP"
    fi

    want="$(extension_hash)"
    if [[ -f "$EXT_STAMP" && "$(cat "$EXT_STAMP")" == "$want" ]]; then
        log "extension up to date"
    else
        # Build from a copy so setuptools' build/ and *.egg-info never land in the repo.
        local build="$STATE/ext-build"
        rm -rf "$build"
        mkdir -p "$build"
        cp -r "$EXT_SRC"/. "$build"/
        find "$build" -name __pycache__ -prune -exec rm -rf {} +
        log "installing extension from $EXT_SRC"
        "$PY" -m pip install --quiet --disable-pip-version-check --no-input \
            --no-deps --no-build-isolation --force-reinstall "$build"
        rm -rf "$build"
        echo "$want" > "$EXT_STAMP"
    fi
}

needs_install() {
    [[ -x "$PY" && -f "$REQ_STAMP" && -f "$EXT_STAMP" ]] || return 0
    [[ "$(cat "$REQ_STAMP")" == "$(requirements_hash "$PY")" ]] || return 0
    [[ "$(cat "$EXT_STAMP")" == "$(extension_hash)" ]] || return 0
    return 1
}

# ---------------------------------------------------------------- run --------------

healthy() { curl -fsS --max-time 3 "$HEALTH_URL" >/dev/null 2>&1; }

running_pid() {
    # prints the PID from the pid file if that process is alive
    [[ -f "$PIDFILE" ]] || return 1
    local pid
    pid="$(cat "$PIDFILE" 2>/dev/null || true)"
    [[ "$pid" =~ ^[0-9]+$ ]] || return 1
    kill -0 "$pid" 2>/dev/null || return 1
    echo "$pid"
}

cmd_start() {
    local pid
    if pid="$(running_pid)" && healthy; then
        log "already running (pid $pid) at http://$HOSTPORT"
        return 0
    fi
    if [[ -n "${pid:-}" ]]; then
        log "pid $pid alive but not healthy; stopping it first"
        cmd_stop
    fi
    if healthy; then
        die "something else already answers on http://$HOSTPORT (not started by this script)"
    fi
    if needs_install; then cmd_install; fi

    mkdir -p "$RUN/filesystem" "$RUN/tmp" "$RUN/cache" "$RUN/config"
    rm -f "$PIDFILE"
    log "starting LocalStack (log: $LOGFILE)"
    local t0=$SECONDS
    (
        cd "$RUN"
        # OVERRIDE_IN_DOCKER=0: LocalStack guesses "in Docker" from /.dockerenv (present in
        # sandboxes/CI containers) and would then use /var/lib/localstack, /etc/localstack...
        # Everything LocalStack writes stays under .emulator: FILESYSTEM_ROOT (host-mode
        # dirs), TMP (Python's tempfile dir; TMPDIR would work too but LocalStack warns
        # about it as a deprecated setting), XDG_CACHE_HOME (plux entry-point cache),
        # CONFIG_DIR (~/.localstack). No DNS server (port 53), no cert download or
        # analytics (no internet here). PROVIDER_OVERRIDE_*=moto selects the extension's
        # providers (see emulator/hactl_localstack_ext).
        exec env \
            OVERRIDE_IN_DOCKER=0 \
            GATEWAY_LISTEN="$HOSTPORT" \
            LOCALSTACK_HOST="$HOSTPORT" \
            FILESYSTEM_ROOT="$RUN/filesystem" \
            TMP="$RUN/tmp" \
            XDG_CACHE_HOME="$RUN/cache" \
            CONFIG_DIR="$RUN/config" \
            DNS_ADDRESS=0 \
            SKIP_SSL_CERT_DOWNLOAD=1 \
            DISABLE_EVENTS=1 \
            PROVIDER_OVERRIDE_ECS=moto \
            PROVIDER_OVERRIDE_ELBV2=moto \
            PROVIDER_OVERRIDE_AUTOSCALING=moto \
            PROVIDER_OVERRIDE_RDS=moto \
            PROVIDER_OVERRIDE_DOCDB=moto \
            PROVIDER_OVERRIDE_APPLICATION_AUTOSCALING=moto \
            PROVIDER_OVERRIDE_ECR=moto \
            PROVIDER_OVERRIDE_OPENSEARCH=moto \
            "$PY" -m localstack.runtime.main
    ) >"$LOGFILE" 2>&1 </dev/null &
    pid=$!
    echo "$pid" > "$PIDFILE"

    while (( SECONDS - t0 < START_TIMEOUT )); do
        if ! kill -0 "$pid" 2>/dev/null; then
            log "LocalStack exited during startup; last log lines:"
            tail -n 40 "$LOGFILE" >&2 || true
            rm -f "$PIDFILE"
            exit 1
        fi
        if healthy; then
            log "healthy after $(( SECONDS - t0 ))s (pid $pid) at http://$HOSTPORT"
            return 0
        fi
        sleep 0.5
    done
    log "not healthy after ${START_TIMEOUT}s; last log lines:"
    tail -n 40 "$LOGFILE" >&2 || true
    exit 1
}

cmd_stop() {
    local pid i
    if ! pid="$(running_pid)"; then
        log "not running"
        rm -f "$PIDFILE"
        return 0
    fi
    log "stopping pid $pid"
    kill -TERM "$pid" 2>/dev/null || true
    for i in $(seq 1 60); do   # up to ~15 s for a graceful shutdown
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.25
    done
    if kill -0 "$pid" 2>/dev/null; then
        log "still alive; sending KILL"
        kill -KILL "$pid" 2>/dev/null || true
        sleep 0.5
    fi
    rm -f "$PIDFILE"
    log "stopped"
}

cmd_status() {
    local pid
    if pid="$(running_pid)"; then
        if healthy; then
            echo "running (pid $pid) at http://$HOSTPORT"
            curl -fsS --max-time 3 "$HEALTH_URL"; echo
            return 0
        fi
        echo "process $pid alive but $HEALTH_URL does not answer (starting or wedged; see $LOGFILE)"
        return 1
    fi
    echo "stopped"
    return 3
}

cmd_reset() {
    cmd_stop
    # state is in memory (no PERSISTENCE); also drop LocalStack's scratch dirs
    rm -rf "$RUN/filesystem" "$RUN/tmp"
    cmd_start
}

cmd_env() {
    # AWS_DEFAULT_REGION too: the aws CLI v1 in the venv ignores AWS_REGION.
    echo "export AWS_ENDPOINT_URL=http://$HOSTPORT AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1"
}

case "${1:-}" in
    install) cmd_install ;;
    start) cmd_start ;;
    stop) cmd_stop ;;
    status) cmd_status ;;
    reset) cmd_reset ;;
    env) cmd_env ;;
    *) echo "usage: $0 {install|start|stop|status|reset|env}" >&2; exit 2 ;;
esac
