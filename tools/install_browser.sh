#!/usr/bin/env bash
# Install Debian's Chromium for the browser tests (tests/test_browser.py).
#
# Idempotent and quiet: does nothing when /usr/bin/chromium is already there.
# Needs root and apt-get (as on CI); anywhere else it says why it cannot and
# exits 0, and the browser tests are then skipped with that reason.  The
# Playwright client is the Python package in requirements.txt; no browser is
# ever downloaded through Playwright.
set -uo pipefail

CHROMIUM=/usr/bin/chromium
if [ -x "$CHROMIUM" ]; then
    exit 0
fi
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    echo ">> $CHROMIUM is missing and this is not root with apt-get:" \
         "browser tests will be skipped (as root: apt-get install chromium)"
    exit 0
fi

echo ">> installing Debian's chromium for the browser tests (once per machine)"
start=$(date +%s)
log=$(mktemp)
export DEBIAN_FRONTEND=noninteractive
if apt-get update -qq >"$log" 2>&1 \
   && apt-get install -y -qq --no-install-recommends chromium >>"$log" 2>&1; then
    echo ">> chromium installed in $(( $(date +%s) - start )) s: $("$CHROMIUM" --version 2>/dev/null)"
    rm -f "$log"
else
    echo ">> apt-get could not install chromium; browser tests will be skipped. Last lines of its log:"
    tail -n 5 "$log"
    rm -f "$log"
fi
exit 0
