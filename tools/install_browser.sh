#!/usr/bin/env bash
# Install Debian's Chromium for the browser tests (tests/test_browser.py).
#
# Idempotent and quiet: does nothing when /usr/bin/chromium is already there.
# Needs root and apt-get (as on CI); anywhere else it says why it cannot and
# exits 0, and the browser tests are then skipped with that reason.  The
# Playwright client is the Python package in requirements.txt; no browser is
# ever downloaded through Playwright.
set -uo pipefail
source "$(dirname "$0")/apt_install.sh"

CHROMIUM=/usr/bin/chromium
if [ -x "$CHROMIUM" ]; then
    exit 0
fi
if apt_install chromium "browser tests" test -x "$CHROMIUM"; then
    echo ">> chromium installed in $APT_SECONDS s: $("$CHROMIUM" --version 2>/dev/null)"
fi
exit 0
