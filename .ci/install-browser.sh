#!/usr/bin/env bash
# Make sure Debian's Chromium is at /usr/bin/chromium for the browser tests
# (tests/browser). Idempotent and quiet: does nothing when it is already there.
#
# Never `playwright install`: it downloads a browser build of its own, which
# cannot be fetched here; Playwright is pointed at /usr/bin/chromium instead.
set -euo pipefail

CHROMIUM=/usr/bin/chromium

if [ -x "$CHROMIUM" ]; then
    exit 0
fi

if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    cat >&2 <<MSG
Chromium not found at $CHROMIUM; the browser tests (tests/browser) will be skipped.
To enable them, install Debian's chromium package as root:
    apt-get update && apt-get install -y chromium
MSG
    exit 0
fi

echo "Installing chromium (for tests/browser) ..."
export DEBIAN_FRONTEND=noninteractive
log=$(mktemp)
if ! { apt-get update -qq && apt-get install -y -qq chromium; } >"$log" 2>&1; then
    echo "apt-get install chromium failed:" >&2
    tail -n 30 "$log" >&2
    rm -f "$log"
    exit 1
fi
rm -f "$log"

if [ ! -x "$CHROMIUM" ]; then
    echo "chromium was installed but $CHROMIUM is missing" >&2
    exit 1
fi
echo "Installed $("$CHROMIUM" --version 2>/dev/null || echo chromium)"
