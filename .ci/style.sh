#!/usr/bin/env bash
# Style gate: the tree must be `ruff format`ted and `ruff check` clean (line length 100).
# Installs the pinned ruff into .venv when it is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -x .venv/bin/ruff ]; then
    [ -d .venv ] || python3 -m venv .venv
    .venv/bin/pip install -q 'ruff==0.17.6'
fi

if ! .venv/bin/ruff format --check . || ! .venv/bin/ruff check .; then
    echo "style check failed; fix with: ruff format . && ruff check --fix ." >&2
    exit 1
fi
