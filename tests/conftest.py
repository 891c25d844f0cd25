"""Shared fixtures: a private session, the offline emulator, a shell with the magics, a
sentinel API key. Code the test modules share (not fixtures) is in ``tests/helpers/``.

* ``session``: a fresh :class:`~deepseek_magic.core._session.Session`; its client and any
  offline emulator it started are closed afterwards.
* ``emu``: an :class:`~deepseek_magic.emulator.Emulator` on 127.0.0.1 with an empty queue.
  A module or test that needs another one says so with a marker, e.g.
  ``pytestmark = pytest.mark.emulator(token_delay=0.005)``: its keywords go to
  ``Emulator(...)``.
* ``shell``: the process's one ``InteractiveShell`` with ``DeepSeekMagics`` on ``session``
  registered, the ``?``-protecting input transformer installed, the names earlier tests
  bound removed and its ``%config`` put back afterwards.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest
from hypothesis import settings as _hypothesis_settings

if TYPE_CHECKING:
    from deepseek_magic.core._session import Session
    from deepseek_magic.emulator import Emulator

# Property tests explore new cases on every local run; in CI they replay a fixed
# sequence, so a landing never hinges on luck (a case found locally is pinned with
# @example).
_hypothesis_settings.register_profile("ci", derandomize=True, database=None)
if os.environ.get("CI"):
    _hypothesis_settings.load_profile("ci")

#: A key that must never appear in anything a user can see.
SENTINEL_KEY = "sk-or-v1-SENTINEL-7f3e9a1c5b2d4e6f8091a2b3c4d5e6f7"

#: Variables of the user's environment that tests must never see.
USER_ENVIRONMENT = (
    "DEEPSEEK_MAGIC_BASE_URL",
    "DEEPSEEK_MAGIC_API_KEY",
    "DEEPSEEK_MAGIC_MODEL",
    "OPENROUTER_API_KEY",
    "DEEPSEEK_API_KEY",
    "DEEPSEEK_MAGIC_OFFLINE",
    "DEEPSEEK_MAGIC_CACHE",
)

#: Names the magic or the panel bind in the shared shell's namespace; each test starts
#: without them, so a test cannot pass on what an earlier one left.
BOUND_NAMES = ("_deepseek", "answer", "runs")


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    # Tests never see the developer's real keys or base URL.
    for name in USER_ENVIRONMENT:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def session() -> Iterator[Session]:
    from deepseek_magic.core._session import Session
    from deepseek_magic.features._offline import stop_offline

    s = Session()
    yield s
    s.close()
    stop_offline(s)  # a test that went offline leaves no emulator thread behind


@pytest.fixture
def emu(request: pytest.FixtureRequest) -> Iterator[Emulator]:
    from deepseek_magic.emulator import Emulator

    marker = request.node.get_closest_marker("emulator")
    with Emulator(**(marker.kwargs if marker else {})) as e:
        yield e


@pytest.fixture
def shell(session: Session) -> Iterator[Any]:
    from IPython.core.interactiveshell import InteractiveShell

    from deepseek_magic.notebook._magic import protect_question_marks, register_magics

    ip = InteractiveShell.instance()
    for name in BOUND_NAMES:
        ip.user_ns.pop(name, None)
    # %config writes into the shared shell's config: put it back for the next test
    saved = copy.deepcopy(ip.config["DeepSeekMagics"]) if "DeepSeekMagics" in ip.config else None
    register_magics(ip, session)
    if protect_question_marks not in ip.input_transformers_cleanup:
        ip.input_transformers_cleanup.append(protect_question_marks)
    yield ip
    if saved is None:
        ip.config.pop("DeepSeekMagics", None)
    else:
        ip.config["DeepSeekMagics"] = saved


@pytest.fixture
def sentinel_key() -> str:
    return SENTINEL_KEY


def pytest_report_header(config: pytest.Config) -> str:
    return f"deepseek-magic tests: offline emulator on 127.0.0.1 only (pid {os.getpid()})"
