#!/usr/bin/env bash
# Set up a machine to run startle, offline by design (see shared DESIGN "Offline by design"):
#   packages   docker.io (only if no engine answers), qemu-user-static, binfmt-support, mmdebstrap,
#              chromium (headless, for the report.html render test)
#   docker     use the engine that answers, else start dockerd in the background (no systemd)
#   binfmt     mount binfmt_misc, enable qemu-aarch64 (arm64 images run under QEMU)
#   toxiproxy  static toxiproxy-server/-cli from the Go module proxy, into .cache/toxiproxy/<version>/
#   venv       .venv with `pip install -e .` (again only when pyproject.toml changed)
#   images     startle build (python -m harness.cli build): base, agent, center, Toxiproxy and the third-party
#              package images of fixtures/thirdparty/ (mosquitto, prometheus; content-hash tags,
#              cached; nothing is pulled, their Debian packages come through mmdebstrap)
# Idempotent: a warm run only checks (target < 5 s). Prints one line per step:
#   setup: <step>: ok|installed|started|warn (<seconds>s)
# Needs root for apt-get, mount and dockerd (CI runs as root, no stdin, CI=true).
# Environment: STARTLE_PYTHON (default python3, >= 3.11), GO (default: go on PATH, else
# /usr/local/go/bin/go), STARTLE_DOCKERD_LOG (default /var/log/dockerd.log),
# STARTLE_SKIP_IMAGES=1 (stop before building images), STARTLE_CACHE_DIR (default .cache),
# STARTLE_INSTALLED=1 (`startle setup` of an installed wheel: no venv, no chromium; the images are
# built with STARTLE_PYTHON, the interpreter startle is installed in).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="${STARTLE_CACHE_DIR:-$ROOT/.cache}"
INSTALLED="${STARTLE_INSTALLED:-0}"
mkdir -p "$CACHE/logs" "$CACHE/stamps"
export DEBIAN_FRONTEND=noninteractive

# One setup at a time per checkout.
exec 9>"$CACHE/setup.lock"
flock 9

now_ms() { date +%s%3N; }
T0=$(now_ms)
step_start() { T_STEP=$(now_ms); }
# report STEP STATUS [DETAIL]
report() {
    local ms=$(( $(now_ms) - T_STEP ))
    local detail="${3:+ $3}"
    printf 'setup: %s: %s (%d.%ds)%s\n' "$1" "$2" $((ms / 1000)) $(((ms % 1000) / 100)) "$detail"
}
die() {
    printf 'setup: %s: FAILED: %s\n' "$1" "$2" >&2
    [ -n "${3:-}" ] && printf 'hint: %s\n' "$3" >&2
    exit 1
}
need_root() {
    [ "$(id -u)" = 0 ] || die "$1" "needs root to $2" "run as root (sudo bash scripts/setup.sh)"
}
installed() { [ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null)" = "install ok installed" ]; }
# This machine's engine (the one images are built on), whatever DOCKER_HOST or a docker context says:
# a remote target engine (docs/remote-engine.md) is not set up here.
LOCAL_DOCKER=(env -u DOCKER_HOST -u DOCKER_TLS_VERIFY -u DOCKER_CERT_PATH -u DOCKER_CONTEXT
    docker --host unix:///var/run/docker.sock)
engine_answers() { timeout 10 "${LOCAL_DOCKER[@]}" version --format '{{.Server.Version}}' >/dev/null 2>&1; }
# The pid of this machine's dockerd (its default pid file), if that process is a dockerd; other
# dockerd processes (a second engine of the remote-engine tests) are not it.
local_dockerd_pid() {
    local pid
    pid=$(cat /var/run/docker.pid 2>/dev/null) || return 1
    [ -n "$pid" ] && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = dockerd ] && echo "$pid"
}

# ---------------------------------------------------------------- packages
step_start
PACKAGES=(qemu-user-static binfmt-support mmdebstrap)
BARE=(chromium fonts-liberation)  # without their recommends (no avahi/cups daemons, nothing that talks)
[ "$INSTALLED" = 1 ] && BARE=()   # the report render test is the checkout's, not a user's
if ! command -v docker >/dev/null 2>&1 || ! engine_answers; then
    # no engine answers: we need a dockerd to start (and a client to talk to it)
    command -v dockerd >/dev/null 2>&1 && command -v docker >/dev/null 2>&1 || PACKAGES+=(docker.io)
fi
PY="${STARTLE_PYTHON:-python3}"
command -v "$PY" >/dev/null 2>&1 || PACKAGES+=(python3)
if command -v "$PY" >/dev/null 2>&1 && ! "$PY" -c 'import ensurepip, venv' >/dev/null 2>&1; then
    PACKAGES+=(python3-venv)
fi
MISSING=()
for p in "${PACKAGES[@]}"; do
    if [ "$p" = docker.io ] || [ "$p" = python3 ] || [ "$p" = python3-venv ] || ! installed "$p"; then
        MISSING+=("$p")
    fi
done
MISSING_BARE=()
for p in "${BARE[@]}"; do installed "$p" || MISSING_BARE+=("$p"); done
if [ $(( ${#MISSING[@]} + ${#MISSING_BARE[@]} )) -gt 0 ]; then
    need_root packages "apt-get install ${MISSING[*]} ${MISSING_BARE[*]}"
    apt-get update -qq </dev/null >"$CACHE/logs/apt.log" 2>&1 \
        || { tail -n 20 "$CACHE/logs/apt.log" >&2; die packages "apt-get update failed" "see $CACHE/logs/apt.log"; }
    if [ ${#MISSING[@]} -gt 0 ]; then
        apt-get install -y -qq "${MISSING[@]}" </dev/null >>"$CACHE/logs/apt.log" 2>&1 \
            || { tail -n 20 "$CACHE/logs/apt.log" >&2; die packages "apt-get install ${MISSING[*]} failed" "see $CACHE/logs/apt.log"; }
    fi
    if [ ${#MISSING_BARE[@]} -gt 0 ]; then
        apt-get install -y -qq --no-install-recommends "${MISSING_BARE[@]}" </dev/null >>"$CACHE/logs/apt.log" 2>&1 \
            || { tail -n 20 "$CACHE/logs/apt.log" >&2; die packages "apt-get install ${MISSING_BARE[*]} failed" "see $CACHE/logs/apt.log"; }
    fi
    report packages installed "${MISSING[*]} ${MISSING_BARE[*]}"
else
    report packages ok
fi

# ---------------------------------------------------------------- docker
step_start
if engine_answers; then
    report docker ok "$("${LOCAL_DOCKER[@]}" version --format '{{.Server.Version}}' 2>/dev/null)"
else
    need_root docker "start dockerd"
    command -v dockerd >/dev/null 2>&1 || die docker "dockerd not found after installing docker.io"
    DOCKERD_LOG="${STARTLE_DOCKERD_LOG:-/var/log/dockerd.log}"
    if DOCKERD_PID=$(local_dockerd_pid); then
        :  # starting already: wait for it
    else
        # detached from this shell (setsid, no stdin) so that it outlives setup.sh. It must not
        # inherit (and hold forever) any open file: not the setup lock on fd 9, nor a lock its
        # caller holds (`flock /tmp/some.lock make setup` hands its lock's fd down to us).
        (
            for fd in /proc/self/fd/*; do n=${fd##*/}; [ "$n" -gt 2 ] && eval "exec $n>&-"; done
            exec setsid nohup dockerd >>"$DOCKERD_LOG" 2>&1 </dev/null
        ) &
        DOCKERD_PID=$!
        disown "$DOCKERD_PID" 2>/dev/null || true
    fi
    deadline=$(( $(now_ms) + 60000 ))   # 60 s
    until engine_answers; do
        if ! kill -0 "$DOCKERD_PID" 2>/dev/null && ! local_dockerd_pid >/dev/null; then
            tail -n 20 "$DOCKERD_LOG" >&2 2>/dev/null || true
            die docker "dockerd exited" "see $DOCKERD_LOG"
        fi
        if [ "$(now_ms)" -ge "$deadline" ]; then
            tail -n 20 "$DOCKERD_LOG" >&2 2>/dev/null || true
            die docker "dockerd (pid $DOCKERD_PID) did not answer on unix:///var/run/docker.sock within 60 s" \
                "see $DOCKERD_LOG (if setup started it), or stop the stuck dockerd and run setup again"
        fi
        sleep 0.5
    done
    report docker started "$("${LOCAL_DOCKER[@]}" version --format '{{.Server.Version}}' 2>/dev/null), log $DOCKERD_LOG"
fi

# ---------------------------------------------------------------- binfmt (QEMU for arm64)
step_start
BINFMT=/proc/sys/fs/binfmt_misc
binfmt_state() { head -n 1 "$BINFMT/qemu-aarch64" 2>/dev/null || echo absent; }
status=ok
if ! mountpoint -q "$BINFMT"; then
    need_root binfmt "mount binfmt_misc"
    mount -t binfmt_misc binfmt_misc "$BINFMT" 2>"$CACHE/logs/binfmt.log" && status=started || status=warn
fi
if [ "$status" != warn ] && [ "$(binfmt_state)" != enabled ]; then
    need_root binfmt "enable qemu-aarch64"
    {
        update-binfmts --display qemu-aarch64 >/dev/null 2>&1 || update-binfmts --import qemu-aarch64
        update-binfmts --enable qemu-aarch64
    } >>"$CACHE/logs/binfmt.log" 2>&1 || true
    [ "$(binfmt_state)" = enabled ] && status=started || status=warn
fi
if [ "$status" = warn ]; then
    report binfmt warn "qemu-aarch64 $(binfmt_state): arm64 images will fail with exec format error; see $CACHE/logs/binfmt.log"
else
    report binfmt "$status" "qemu-aarch64 $(binfmt_state)"
fi

# ---------------------------------------------------------------- toxiproxy (static Go binaries)
step_start
TP_VERSION="$(tr -d '[:space:]' <"$ROOT/fixtures/toxiproxy/VERSION")"
TP_DIR="$CACHE/toxiproxy/$TP_VERSION"
if [ -x "$TP_DIR/toxiproxy-server" ] && [ -x "$TP_DIR/toxiproxy-cli" ]; then
    report toxiproxy ok "$TP_VERSION"
else
    GO="${GO:-$(command -v go || echo /usr/local/go/bin/go)}"
    [ -x "$GO" ] || die toxiproxy "no Go toolchain (looked for go on PATH and /usr/local/go/bin/go)" \
        "install Go >= 1.23 (toxiproxy $TP_VERSION needs it) or set GO=/path/to/go"
    TP_TMP="$TP_DIR.tmp"
    rm -rf "$TP_TMP"
    mkdir -p "$TP_TMP"
    TP_MODULE=github.com/Shopify/toxiproxy/v2
    if ! env CGO_ENABLED=0 GOBIN="$TP_TMP" GOTOOLCHAIN=local GOFLAGS=-modcacherw \
            GOMODCACHE="$CACHE/go/mod" GOCACHE="$CACHE/go/build" \
            "$GO" install -trimpath -ldflags="-s -w -X $TP_MODULE.Version=${TP_VERSION#v}" \
            "$TP_MODULE/cmd/server@$TP_VERSION" "$TP_MODULE/cmd/cli@$TP_VERSION" \
            </dev/null >"$CACHE/logs/toxiproxy-build.log" 2>&1; then
        tail -n 20 "$CACHE/logs/toxiproxy-build.log" >&2
        die toxiproxy "go install $TP_MODULE/cmd/{server,cli}@$TP_VERSION failed" \
            "see $CACHE/logs/toxiproxy-build.log; is the Go module proxy reachable?"
    fi
    mv "$TP_TMP/server" "$TP_TMP/toxiproxy-server"
    mv "$TP_TMP/cli" "$TP_TMP/toxiproxy-cli"
    for b in "$TP_TMP"/toxiproxy-*; do
        if ldd "$b" >/dev/null 2>&1; then die toxiproxy "$b is dynamically linked" "CGO_ENABLED=0 must hold"; fi
    done
    rm -rf "$TP_DIR"
    mv "$TP_TMP" "$TP_DIR"
    report toxiproxy installed "$TP_VERSION, $("$TP_DIR/toxiproxy-server" -version 2>&1 | head -n 1), static"
fi

# ---------------------------------------------------------------- venv
step_start
if [ "$INSTALLED" = 1 ]; then
    VENV_PY="$PY"
    report venv ok "installed startle: $("$PY" -V 2>&1)"
else
command -v "$PY" >/dev/null 2>&1 || die venv "$PY not found"
"$PY" -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
    || die venv "$("$PY" -V 2>&1) is older than 3.11" "set STARTLE_PYTHON=/path/to/python3.11+"
VENV="$ROOT/.venv"
STAMP="$CACHE/stamps/venv"
WANT="$(sha256sum "$ROOT/pyproject.toml" | cut -d' ' -f1) $("$PY" -V 2>&1)"
if [ -x "$VENV/bin/python" ] && "$VENV/bin/python" -c '' 2>/dev/null && [ "$(cat "$STAMP" 2>/dev/null)" = "$WANT" ]; then
    report venv ok
else
    rm -f "$STAMP"
    if ! { [ -x "$VENV/bin/python" ] && "$VENV/bin/python" -c '' 2>/dev/null; }; then
        "$PY" -m venv --clear "$VENV" >"$CACHE/logs/venv.log" 2>&1 \
            || { tail -n 20 "$CACHE/logs/venv.log" >&2; die venv "$PY -m venv failed" "apt-get install python3-venv"; }
    fi
    if ! env PIP_CACHE_DIR="$CACHE/pip" PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1 \
            "$VENV/bin/pip" install -q -e "$ROOT" </dev/null >>"$CACHE/logs/venv.log" 2>&1; then
        tail -n 20 "$CACHE/logs/venv.log" >&2
        die venv "pip install -e . failed" "see $CACHE/logs/venv.log"
    fi
    echo "$WANT" >"$STAMP"
    report venv installed "$("$VENV/bin/python" -V 2>&1)"
fi
VENV_PY="$VENV/bin/python"
fi

# ---------------------------------------------------------------- images
if [ "${STARTLE_SKIP_IMAGES:-0}" = 1 ]; then
    echo "setup: images: skipped (STARTLE_SKIP_IMAGES=1)"
else
    step_start
    # `startle build` through the interpreter that has startle (the venv made above, or the one an
    # installed startle runs in), from $ROOT: a checkout's own harness/ is imported before any other.
    (cd "$ROOT" && STARTLE_CACHE_DIR="$CACHE" "$VENV_PY" -m harness.cli build </dev/null) | tee "$CACHE/logs/images.out" \
        || die images "startle build failed (its error is above)" \
            "fix the named image's inputs, then run bash scripts/setup.sh again"
    built=$(grep -c ' built (' "$CACHE/logs/images.out" || true)
    if [ "$built" -gt 0 ]; then report images installed "$built built"; else report images ok; fi
fi

T_STEP=$T0
report total ok
