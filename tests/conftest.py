"""Shared fixtures: the offline emulator, a private session, a sentinel API key."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Iterator

import pytest

sys.path.insert(0, str(Path(__file__).parent))

# Property tests explore new cases on every local run; in CI they replay a fixed
# sequence, so a landing never hinges on luck (a case found locally is pinned with
# @example).
from hypothesis import settings as _hypothesis_settings  # noqa: E402

_hypothesis_settings.register_profile("ci", derandomize=True, database=None)
if os.environ.get("CI"):
    _hypothesis_settings.load_profile("ci")

#: A key that must never appear in anything a user can see.
SENTINEL_KEY = "sk-or-v1-SENTINEL-7f3e9a1c5b2d4e6f8091a2b3c4d5e6f7"


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    # Tests never see the developer's real keys or base URL.
    for name in ("DEEPSEEK_MAGIC_BASE_URL", "DEEPSEEK_MAGIC_API_KEY", "DEEPSEEK_MAGIC_MODEL",
                 "OPENROUTER_API_KEY", "DEEPSEEK_API_KEY", "DEEPSEEK_MAGIC_OFFLINE", "DEEPSEEK_MAGIC_CACHE"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def session():
    from deepseek_magic._session import Session

    s = Session()
    yield s
    if s._client is not None:
        s._client.close()


@pytest.fixture
def emulator() -> Iterator[object]:
    from deepseek_magic.emulator import Emulator

    with Emulator() as emu:
        yield emu


@pytest.fixture
def sentinel_key() -> str:
    return SENTINEL_KEY


def pytest_report_header(config: pytest.Config) -> str:
    return f"deepseek-magic tests: offline emulator on 127.0.0.1 only (pid {os.getpid()})"
