#!/usr/bin/env bash
# Make sure a Docker engine answers, and that the host tools the image builds
# need (mmdebstrap) are present.
#
# - If `docker info` already works, that engine is used as it is.
# - Otherwise, on a Debian-family machine as root: install Debian's docker.io,
#   runsc (gVisor) and mmdebstrap from the machine's own apt configuration,
#   register runsc as a runtime, start dockerd in the background and wait.
# - Anywhere else: stop and say what to install.
set -euo pipefail

LOG=${AIRLOCK_DOCKERD_LOG:-/var/log/airlock-dockerd.log}
DAEMON_JSON=/etc/docker/daemon.json
WAIT_SECONDS=${AIRLOCK_DOCKERD_WAIT:-60}

say() { printf 'ensure-engine: %s\n' "$*" >&2; }
die() { say "$*"; exit 1; }

is_debian_root() {
    [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null && command -v dpkg >/dev/null
}

engine_answers() { docker info >/dev/null 2>&1; }

# Install the Debian packages among "$@" that are not installed yet.
apt_install_missing() {
    local missing=()
    for pkg in "$@"; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' \
            || missing+=("$pkg")
    done
    ((${#missing[@]} == 0)) && return 0
    say "installing ${missing[*]} (apt, the machine's own sources)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# Register runsc as a runtime. Debian's runsc only runs with networking off in
# this environment ("cannot run with network enabled in root network namespace"),
# and may connect to the host sockets mounted into a sandbox (--host-uds=open: the
# egress proxy's, sandbox/egress_socket.py). With "upgrade", only an entry this
# script wrote before is brought up to date (an engine it did not set up is left
# alone). Prints "changed" when it changed the file.
register_runsc() {
    local runsc
    runsc=$(command -v runsc) || return 0
    mkdir -p "$(dirname "$DAEMON_JSON")"
    python3 - "$DAEMON_JSON" "$runsc" "${1:-}" <<'PY'
import json, os, sys
path, runsc, mode = sys.argv[1], sys.argv[2], sys.argv[3]
config = json.load(open(path)) if os.path.exists(path) and os.path.getsize(path) else {}
wanted = {"path": runsc, "runtimeArgs": ["--network=none", "--host-uds=open"]}
ours_before = [{"path": runsc, "runtimeArgs": ["--network=none"]}]
current = config.get("runtimes", {}).get("runsc")
if current != wanted and (mode != "upgrade" or current in ours_before):
    config.setdefault("runtimes", {})["runsc"] = wanted
    with open(path, "w") as f:
        json.dump(config, f, indent=2)
        f.write("\n")
    print("changed")
PY
}

# A running dockerd rereads its runtimes on SIGHUP; wait until it reports runsc's new args.
reload_dockerd() {
    say "reloading dockerd's runtimes (runsc --host-uds=open)"
    pkill -HUP -x dockerd || return 0
    local deadline=$((SECONDS + WAIT_SECONDS))
    until docker info --format '{{json .Runtimes}}' 2>/dev/null | grep -q -- '--host-uds=open'; do
        ((SECONDS < deadline)) || die "dockerd did not reload its runtimes; see $LOG"
        sleep 0.5
    done
}

start_dockerd() {
    if pgrep -x dockerd >/dev/null; then
        say "dockerd is running; waiting for it to answer"
    else
        # A killed dockerd leaves its pid file behind and the next one refuses to start.
        rm -f /var/run/docker.pid
        say "starting dockerd (log: $LOG)"
        mkdir -p "$(dirname "$LOG")"
        nohup dockerd >>"$LOG" 2>&1 </dev/null &
        disown || true
    fi
    local deadline=$((SECONDS + WAIT_SECONDS))
    until engine_answers; do
        ((SECONDS < deadline)) || die "dockerd did not answer within ${WAIT_SECONDS}s; see $LOG"
        sleep 0.5
    done
    say "engine is up: $(docker version --format '{{.Server.Version}}')"
}

main() {
    if engine_answers; then
        if is_debian_root; then
            apt_install_missing mmdebstrap
            if [[ $(register_runsc upgrade) == changed ]]; then reload_dockerd; fi
        fi
        exit 0
    fi
    if ! is_debian_root; then
        die "no Docker engine answers. Install and start Docker (https://docs.docker.com/engine/install/), \
add gVisor's runsc for the hardened tier, and install mmdebstrap to build the images; \
or run this as root on Debian/Ubuntu and it does it for you."
    fi
    apt_install_missing docker.io runsc mmdebstrap
    register_runsc >/dev/null
    start_dockerd
}

main "$@"
