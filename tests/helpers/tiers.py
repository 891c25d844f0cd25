"""What a test tier does when what it needs is missing: on a laptop it skips with the
line that says how to enable it; under CI (``CI=1``/``true``/``yes``) it fails, because
a skip there would hide a missing install step (``.ci/run`` installs them all)."""

from __future__ import annotations

import os
from typing import NoReturn

import pytest

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def unavailable(message: str, *, module: bool = False) -> NoReturn:
    """Skip (or, under CI, fail) with ``message``; ``module`` for a module-level call."""
    if IN_CI:
        pytest.fail(message, pytrace=False)
    pytest.skip(message, allow_module_level=module)
