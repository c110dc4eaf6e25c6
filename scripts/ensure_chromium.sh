#!/usr/bin/env bash
# Headless Chromium and its WebDriver for the web console tests (tests/console).
#
# When `chromium` or `chromedriver` is missing and this runs as root on a machine with
# apt-get (CI), installs Debian's `chromium` and `chromium-driver`. Otherwise it only
# says what to install: it never fails the build, and the console tests then skip with
# a loud reason. HEADSTART_CHROMIUM / HEADSTART_CHROMEDRIVER name binaries elsewhere.
set -uo pipefail

have() { command -v "$1" >/dev/null 2>&1; }
browser() { [ -n "${HEADSTART_CHROMIUM:-}" ] || have chromium || have chromium-browser || have google-chrome; }
driver() { [ -n "${HEADSTART_CHROMEDRIVER:-}" ] || have chromedriver; }

browser && driver && exit 0

if [ "$(id -u)" != 0 ] || ! have apt-get; then
    echo "ensure_chromium: no Chromium/chromedriver and no root apt-get here: the console tests" \
         "will be SKIPPED. Install them (Debian: apt-get install chromium chromium-driver)." >&2
    exit 0
fi

echo "ensure_chromium: installing chromium and chromium-driver with apt-get..." >&2
export DEBIAN_FRONTEND=noninteractive
install() { apt-get install -y -q chromium chromium-driver >/tmp/ensure_chromium.log 2>&1; }
# A fresh machine's package lists may be missing or stale: update once, then retry.
if ! install && ! { apt-get update -q >>/tmp/ensure_chromium.log 2>&1 && install; }; then
    echo "ensure_chromium: apt-get could not install chromium/chromium-driver (see" \
         "/tmp/ensure_chromium.log): the console tests will be SKIPPED." >&2
    exit 0
fi
echo "ensure_chromium: $(chromium --version 2>/dev/null | head -1); $(chromedriver --version | head -1)" >&2
