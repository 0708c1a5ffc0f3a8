#!/usr/bin/env bash
# Install the system programs the tests drive, when missing: Debian's chromium and firefox-esr and
# pulseaudio for the browser tests (tests/browser; headless Firefox plays audio only to an audio
# server, and the tests start a private one with a null sink), and nginx for the reverse-proxy and
# load-balancing tests (tests/integration/test_nginx.py; run from a temporary config, never as the
# system service), and Node.js, which runs the web player's pure modules in unit tests. Idempotent and quiet: does nothing when all are present, and only installs as
# root or with password-less sudo. Without them the tests that need them skip.
set -euo pipefail

missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v firefox-esr >/dev/null 2>&1 || command -v firefox >/dev/null 2>&1 || missing+=(firefox-esr)
command -v pulseaudio >/dev/null 2>&1 || missing+=(pulseaudio)
[ -x /usr/sbin/nginx ] || command -v nginx >/dev/null 2>&1 || missing+=(nginx)
command -v node >/dev/null 2>&1 || missing+=(nodejs)
[ ${#missing[@]} -eq 0 ] && exit 0

if ! command -v apt-get >/dev/null 2>&1; then
    echo "install_system_deps: no apt-get; install ${missing[*]} yourself (the tests that need them skip)" >&2
    exit 0
fi
if [ "$(id -u)" -eq 0 ]; then
    sudo=()
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    sudo=(sudo -n)
else
    echo "install_system_deps: not root and no password-less sudo; missing ${missing[*]} (the tests that need them skip)" >&2
    exit 0
fi

echo "install_system_deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq >/dev/null
for package in "${missing[@]}"; do
    if [ "$package" = pulseaudio ]; then
        "${sudo[@]}" apt-get install -y -qq --no-install-recommends pulseaudio >/dev/null
    else
        "${sudo[@]}" apt-get install -y -qq "$package" >/dev/null
    fi
done
