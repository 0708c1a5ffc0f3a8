#!/usr/bin/env bash
# Install what the browser tests (tests/browser) drive, when it is missing: Debian's chromium and
# firefox-esr, and pulseaudio (headless Firefox plays audio only to an audio server; the tests
# start a private one with a null sink). Idempotent and quiet: does nothing when all are present,
# and only installs as root or with password-less sudo. Without them the browser tests skip.
set -euo pipefail

missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v firefox-esr >/dev/null 2>&1 || command -v firefox >/dev/null 2>&1 || missing+=(firefox-esr)
command -v pulseaudio >/dev/null 2>&1 || missing+=(pulseaudio)
[ ${#missing[@]} -eq 0 ] && exit 0

if ! command -v apt-get >/dev/null 2>&1; then
    echo "run_browser_deps: no apt-get; install ${missing[*]} yourself (browser tests skip without them)" >&2
    exit 0
fi
if [ "$(id -u)" -eq 0 ]; then
    sudo=()
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    sudo=(sudo -n)
else
    echo "run_browser_deps: not root and no password-less sudo; missing ${missing[*]} (browser tests skip)" >&2
    exit 0
fi

echo "run_browser_deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq >/dev/null
for package in "${missing[@]}"; do
    if [ "$package" = pulseaudio ]; then
        "${sudo[@]}" apt-get install -y -qq --no-install-recommends pulseaudio >/dev/null
    else
        "${sudo[@]}" apt-get install -y -qq "$package" >/dev/null
    fi
done
