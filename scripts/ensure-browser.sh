#!/usr/bin/env bash
# Make sure a chromium is on PATH for the tests of `airlock serve`'s page
# (tests/integration/test_service_ui.py drives it headless with Playwright; Playwright's
# own browsers are never downloaded).
#
# - If `chromium` (or `chromium-browser`) is on PATH, that one is used.
# - Otherwise, on a Debian-family machine as root: install Debian's chromium from the
#   machine's own apt configuration.
# - Anywhere else: say what to install (the page's tests fail, saying the same).
set -euo pipefail

say() { printf 'ensure-browser: %s\n' "$*" >&2; }

if command -v chromium >/dev/null || command -v chromium-browser >/dev/null; then
    exit 0
fi
if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null && command -v dpkg >/dev/null; then
    say "installing chromium (apt, the machine's own sources)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends chromium >/dev/null
    command -v chromium >/dev/null || { say "chromium is installed but not on PATH"; exit 1; }
    exit 0
fi
say "no chromium on PATH: install your system's chromium for the page's tests \
(tests/integration/test_service_ui.py); or run this as root on Debian/Ubuntu and it does it for you."
