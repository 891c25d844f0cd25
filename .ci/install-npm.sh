#!/usr/bin/env bash
# Make sure npm is there for the JupyterLite site build (tests/browser/test_lite_ui.py):
# `npm pack pyodide@<version>` fetches the pyodide runtime from the npm registry.
# Idempotent and quiet: does nothing when npm is already installed.
set -euo pipefail

if command -v npm >/dev/null 2>&1; then
    exit 0
fi
if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "npm not found; the JupyterLite browser test will be skipped (apt-get install npm)." >&2
    exit 0
fi
echo "Installing npm (for the JupyterLite site build) ..."
export DEBIAN_FRONTEND=noninteractive
log=$(mktemp)
if ! { apt-get update -qq && apt-get install -y -qq npm; } >"$log" 2>&1; then
    echo "apt-get install npm failed:" >&2
    tail -n 30 "$log" >&2
    rm -f "$log"
    exit 1
fi
rm -f "$log"
