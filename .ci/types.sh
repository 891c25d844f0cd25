#!/usr/bin/env bash
# Type gate: mypy strict (config in pyproject.toml) over the package, inside the test venv
# (its extra pins mypy, so the checked code sees the same libraries the tests run).
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -x .venv/bin/mypy ]; then
    [ -d .venv ] || python3 -m venv .venv
    .venv/bin/pip install -q -e '.[test]'
fi

.venv/bin/mypy deepseek_magic
