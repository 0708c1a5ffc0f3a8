#!/usr/bin/env bash
# A container engine and a base image on a machine that has neither, offline from any image
# registry: Debian's docker.io, started with its own data root and socket (it leaves a system
# Docker alone), and a Debian bookworm base with Python made by debootstrap from the Debian
# archive apt already uses. The image tests (tests/image) run it; people can too:
#
#   eval "$(bash deploy/container-engine.sh start)"   # engine up; prints DOCKER_HOST=...
#   bash deploy/container-engine.sh base              # the base images (cached)
#   bash deploy/container-engine.sh build -t tts-service:cpu --build-arg BAKE_MODELS=true
#   bash deploy/container-engine.sh nginx             # Debian's nginx as an image, for compose
#   bash deploy/container-engine.sh stop
#
# `build` is `docker build -f Containerfile` of this checkout with PYTHON_IMAGE and BUILD_IMAGE
# pointed at the two base images; other arguments pass through to `docker build`.
#
# Two base images, because the build stage downloads packages (pip, the npm voices) and this
# machine may reach registries through a proxy with its own certificate authority:
#   localhost/tts-base:bookworm        the plain base: the final image's (no host CA in it)
#   localhost/tts-base:bookworm-build  the same plus this host's CA bundle, for the build stage
#
# Where a Docker engine already answers (DOCKER_HOST, or the default socket), `start` uses it.
# Otherwise it installs docker.io and debootstrap with apt-get when missing (root or
# password-less sudo) and starts dockerd in TTS_ENGINE_DIR (default ~/.cache/tts-service/engine;
# its data root keeps the base images and the build cache between runs). It exits 3, saying why,
# where no engine can be started.
set -euo pipefail

ENGINE_DIR="${TTS_ENGINE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/tts-service/engine}"
SOCKET="$ENGINE_DIR/docker.sock"
BASE=localhost/tts-base:bookworm
BUILD_BASE=localhost/tts-base:bookworm-build
NGINX=localhost/nginx:bookworm
MIRROR="${TTS_DEBIAN_MIRROR:-}"
ROOT="$(cd "$(dirname "$0")/.." && pwd)"

say() { echo "container-engine: $*" >&2; }
cannot() {
    say "$*"
    exit 3
}

as_root() {
    if [ "$(id -u)" -eq 0 ]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
        sudo -n "$@"
    else
        return 1
    fi
}

docker_cli() {
    # Debian's client matches its daemon; a newer client also works (it negotiates the API).
    if [ -x /usr/bin/docker ]; then /usr/bin/docker "$@"; else docker "$@"; fi
}

answers() { docker_cli info >/dev/null 2>&1; }

install_missing() {
    local missing=()
    command -v dockerd >/dev/null 2>&1 || [ -x /usr/sbin/dockerd ] || missing+=(docker.io)
    command -v debootstrap >/dev/null 2>&1 || [ -x /usr/sbin/debootstrap ] || missing+=(debootstrap)
    # Compose, for compose.yaml's replicas: Debian's docker-compose (v1) where no `docker compose`.
    docker_cli compose version >/dev/null 2>&1 || command -v docker-compose >/dev/null 2>&1 \
        || missing+=(docker-compose)
    [ ${#missing[@]} -eq 0 ] && return 0
    command -v apt-get >/dev/null 2>&1 || cannot "no apt-get to install ${missing[*]}"
    say "installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    as_root apt-get update -qq >/dev/null || cannot "cannot run apt-get (not root, no sudo)"
    as_root apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null \
        || cannot "apt-get could not install ${missing[*]}"
}

start() {
    if answers; then
        say "using the engine that answers at ${DOCKER_HOST:-the default socket}"
        echo "export DOCKER_HOST=${DOCKER_HOST:-unix:///var/run/docker.sock}"
        return 0
    fi
    export DOCKER_HOST="unix://$SOCKET"
    if ! answers; then
        install_missing
        mkdir -p "$ENGINE_DIR"
        rm -f "$SOCKET"
        say "starting dockerd in $ENGINE_DIR (log: $ENGINE_DIR/dockerd.log)"
        # setsid: the daemon outlives this script and ignores the caller's terminal.
        as_root setsid "$(command -v dockerd || echo /usr/sbin/dockerd)" \
            --data-root "$ENGINE_DIR/data" --exec-root "$ENGINE_DIR/exec" \
            --pidfile "$ENGINE_DIR/dockerd.pid" -H "$DOCKER_HOST" \
            >"$ENGINE_DIR/dockerd.log" 2>&1 </dev/null &
        for _ in $(seq 120); do
            answers && break
            sleep 0.5
        done
        answers || cannot "dockerd did not answer within 60 s: $(tail -n 3 "$ENGINE_DIR/dockerd.log")"
    fi
    echo "export DOCKER_HOST=$DOCKER_HOST"
}

stop() {
    local pidfile="$ENGINE_DIR/dockerd.pid"
    [ -f "$pidfile" ] || return 0
    local pid
    pid="$(cat "$pidfile")"
    as_root kill "$pid" 2>/dev/null || true
    for _ in $(seq 100); do
        kill -0 "$pid" 2>/dev/null || return 0
        sleep 0.2
    done
    as_root kill -9 "$pid" 2>/dev/null || true
}

use_engine() {
    if ! answers; then
        export DOCKER_HOST="unix://$SOCKET"
        answers || cannot "no engine answers; run \`$0 start\` first"
    fi
}

has_image() { docker_cli image inspect "$1" >/dev/null 2>&1; }

base() {
    use_engine
    if has_image "$BASE" && has_image "$BUILD_BASE"; then
        say "base images present: $BASE, $BUILD_BASE"
        return 0
    fi
    install_missing
    work="$(mktemp -d "${TMPDIR:-/tmp}/tts-base.XXXXXX")"
    trap 'as_root rm -rf "$work"' EXIT
    say "debootstrap bookworm (minbase, Python 3.11) into $work"
    as_root debootstrap --variant=minbase \
        --include=ca-certificates,python3,python3-venv,python-is-python3 \
        bookworm "$work/rootfs" ${MIRROR:+"$MIRROR"} >"$work/debootstrap.log" 2>&1 \
        || cannot "debootstrap failed: $(tail -n 3 "$work/debootstrap.log")"
    # What a slim image leaves out: package caches and lists, documentation, translations.
    as_root rm -rf "$work"/rootfs/var/cache/apt/* "$work"/rootfs/var/lib/apt/lists/* \
        "$work"/rootfs/usr/share/doc/* "$work"/rootfs/usr/share/man/* \
        "$work"/rootfs/usr/share/locale/* "$work"/rootfs/var/log/*
    as_root tar -C "$work/rootfs" -c . | docker_cli import \
        --change 'ENV LANG=C.UTF-8' --change 'CMD ["python3"]' - "$BASE" >/dev/null
    # The build base trusts what this host trusts (a proxy's CA, say): pip, httpx and npm's
    # downloads in the build stage go through the host's network.
    local bundle=/etc/ssl/certs/ca-certificates.crt
    [ -r "$bundle" ] || bundle="$(python3 -c 'import ssl; print(ssl.get_default_verify_paths().cafile or "")')"
    mkdir -p "$work/ctx"
    cp "$bundle" "$work/ctx/host-ca.crt"
    cat >"$work/ctx/Containerfile" <<EOF
FROM $BASE
COPY host-ca.crt /etc/ssl/certs/ca-certificates.crt
ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt \\
    PIP_CERT=/etc/ssl/certs/ca-certificates.crt \\
    REQUESTS_CA_BUNDLE=/etc/ssl/certs/ca-certificates.crt
EOF
    docker_cli build -q -t "$BUILD_BASE" -f "$work/ctx/Containerfile" "$work/ctx" >/dev/null
    say "made $BASE ($(docker_cli image inspect -f '{{.Size}}' "$BASE") bytes) and $BUILD_BASE"
}

nginx() {
    # compose.yaml's nginx comes from Docker Hub; offline, Debian's nginx stands in for it
    # (run with the image's compose.yaml and an override naming this image).
    use_engine
    has_image "$NGINX" && return 0
    has_image "$BASE" || base
    work="$(mktemp -d "${TMPDIR:-/tmp}/tts-nginx.XXXXXX")"
    trap 'rm -rf "$work"' EXIT
    cat >"$work/Containerfile" <<EOF
FROM $BASE
RUN apt-get update -qq \\
    && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nginx \\
    && rm -rf /var/lib/apt/lists/* \\
    && ln -sf /dev/stdout /var/log/nginx/access.log && ln -sf /dev/stderr /var/log/nginx/error.log
STOPSIGNAL SIGQUIT
CMD ["nginx", "-g", "daemon off;"]
EOF
    docker_cli build -q --network host -t "$NGINX" -f "$work/Containerfile" "$work" >/dev/null
    say "made $NGINX"
}

build() {
    use_engine
    has_image "$BASE" || base
    docker_cli build -f "$ROOT/Containerfile" --network host \
        --build-arg PYTHON_IMAGE="$BASE" --build-arg BUILD_IMAGE="$BUILD_BASE" "$@" "$ROOT"
    # (No pruning of the untagged images a rebuild leaves: the build stage's layers are untagged
    # too, and they are the cache that makes the next build fast. `docker image prune` by hand.)
}

case "${1:-}" in
    start) start ;;
    stop) stop ;;
    base) base ;;
    nginx) nginx ;;
    build) shift && build "$@" ;;
    *)
        echo "usage: $0 start | base | nginx | build [docker build options] | stop" >&2
        exit 2
        ;;
esac
