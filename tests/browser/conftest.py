"""Fixtures for the real-browser tests: Debian's Chromium driven by Playwright, JupyterLab.

* ``chromium_path`` (session): ``/usr/bin/chromium``, or every test in this
  folder is skipped with a message saying how to install it (under ``CI=true``
  they fail instead: a skip there would hide a missing install step).
* ``browser`` (session): one headless Chromium; ``context`` / ``page``
  (per test): a fresh, isolated browser context each (no shared storage).
* ``lab_factory`` (session): starts a :class:`JupyterLab` with extra environment
  (kernels inherit it), one per distinct ``env``, all stopped at the end;
  ``lab`` (session): the default one, whose kernels talk to ``lab_emulator``.
  Notebooks are separate files in its root.
* ``lab_emulator`` (session): the offline emulator the ``lab`` kernels reach
  through ``DEEPSEEK_MAGIC_BASE_URL``; ``emulator`` (per test) is that same server,
  its queue and log emptied and its settings (dialect, delays, responder) restored
  after each test. tests/conftest.py's ``emu`` (a private in-process emulator the
  lab's kernels never reach) is refused here, with a message naming ``emulator``.
* ``notebook_name``: a file name unique to the test.

On failure a test's screenshot, browser console and JupyterLab log tail go to
``tests/browser/artifacts/``. Every test here carries the ``browser`` marker.

Plain Playwright (no pytest-playwright plugin): its ``--browser-channel`` cannot
name Debian's binary, and we need nothing else from it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import pytest

from tests.helpers.tiers import unavailable

from .jupyter import ARTIFACTS_DIR, JupyterLab

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext, Page, Playwright

    from deepseek_magic.emulator import Emulator

CHROMIUM = Path("/usr/bin/chromium")
LAUNCH_ARGS = [
    "--headless",
    "--no-sandbox",  # we run as root
    "--disable-gpu",
    # Quiet on a closed network: no update checks, sync, field trials, QUIC probes.
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
REPO_ROOT = Path(__file__).resolve().parents[2]
#: Never inherited by the test server and its kernels (a developer's real keys,
#: base URL, model, cache): the same names tests/conftest.py clears for tests.
SCRUBBED_ENV = ("DEEPSEEK_MAGIC_*", "DEEPSEEK_API_KEY", "OPENROUTER_API_KEY")
HERE = Path(__file__).resolve().parent

_REPORTS = pytest.StashKey[dict[str, pytest.TestReport]]()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if HERE in item.path.resolve().parents:
            item.add_marker(pytest.mark.browser)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    item.stash.setdefault(_REPORTS, {})[report.when] = report
    return report


# -- the browser -------------------------------------------------------------


@pytest.fixture(scope="session")
def chromium_path() -> Path:
    if not CHROMIUM.exists():
        message = (
            f"Chromium not found at {CHROMIUM}; install it with `apt-get install chromium` "
            "or run `bash .ci/install-browser.sh` to enable the browser tests"
        )
        unavailable(message)
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        pytest.skip("playwright is not installed: pip install 'deepseek-magic[test]'")
    return CHROMIUM


@pytest.fixture(autouse=True)
def _needs_chromium(chromium_path: Path) -> None:
    """Skip every test in this folder when Chromium is missing, fixtures or not."""


# Module scope, not session: Playwright's sync API keeps an asyncio loop running in the
# main thread while it is open, and later tests (asyncio.run in aask, nbval's kernel
# client) cannot start one of their own beside it.
@pytest.fixture(scope="module")
def playwright_session(chromium_path: Path) -> Iterator[Playwright]:
    from playwright.sync_api import expect, sync_playwright

    # JupyterLab loads MathJax and widget bundles lazily; 5 s is tight on 2 cores.
    expect.set_options(timeout=20_000)
    with sync_playwright() as pw:
        yield pw


@pytest.fixture(scope="module")
def browser(playwright_session: Playwright, chromium_path: Path) -> Iterator[Browser]:
    browser = playwright_session.chromium.launch(
        executable_path=str(chromium_path), args=LAUNCH_ARGS, headless=True
    )
    yield browser
    browser.close()


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    """A fresh browser context (its own cookies, storage and cache) for each test."""
    ctx = browser.new_context(viewport={"width": 1280, "height": 900})
    ctx.set_default_timeout(30_000)
    yield ctx
    ctx.close()


@pytest.fixture
def page(context: BrowserContext, request: pytest.FixtureRequest) -> Iterator[Page]:
    page = context.new_page()
    console: list[str] = []
    page.on("console", lambda m: console.append(f"[{m.type}] {m.text}"))
    page.on("pageerror", lambda e: console.append(f"[pageerror] {e}"))
    yield page
    reports = request.node.stash.get(_REPORTS, {})
    if any(r.failed for r in reports.values()):
        _save_failure_artifacts(page, request, console)


def _save_failure_artifacts(page: Page, request: pytest.FixtureRequest, console: list[str]) -> None:
    ARTIFACTS_DIR.mkdir(parents=True, exist_ok=True)
    stem = "FAILED-" + re.sub(r"[^A-Za-z0-9._-]+", "_", request.node.nodeid).strip("_")
    try:
        page.screenshot(path=str(ARTIFACTS_DIR / f"{stem}.png"))
    except Exception as e:  # noqa: BLE001 - a dead page must not hide the real failure
        console.append(f"(screenshot failed: {e})")
    text = ["# browser console", *console]
    for lab in _started_labs(request):
        text += [f"\n# JupyterLab log tail ({lab.log_path})", lab.log_tail(80)]
    (ARTIFACTS_DIR / f"{stem}.log").write_text("\n".join(text) + "\n")


def _started_labs(request: pytest.FixtureRequest) -> list[JupyterLab]:
    if "_labs" not in request.fixturenames:
        return []
    labs: dict[Any, JupyterLab] = request.getfixturevalue("_labs")
    return list(labs.values())


# -- JupyterLab --------------------------------------------------------------


@pytest.fixture(scope="session")
def _labs() -> Iterator[dict[Any, JupyterLab]]:
    labs: dict[Any, JupyterLab] = {}
    yield labs
    for lab in labs.values():
        lab.cleanup()


@pytest.fixture(scope="session")
def lab_factory(_labs: dict[Any, JupyterLab], chromium_path: Path) -> Callable[..., JupyterLab]:
    """``lab_factory(env=None, app="lab") -> JupyterLab``: a started server, one per distinct
    ``env`` and ``app`` (``"notebook"``: Notebook 7 instead of JupyterLab).

    Kernels inherit the server's environment, so pass what the notebook's code
    must see, e.g. ``lab_factory({"DEEPSEEK_MAGIC_BASE_URL": emulator_url})``.
    The repo root is on the kernels' ``PYTHONPATH``, so notebooks import the
    working tree's ``deepseek_magic``. Each call with a new ``env`` starts one
    more server (about 2 s); the same ``env`` returns the same server.
    """

    def make(
        env: Mapping[str, str] | None = None, app: Literal["lab", "notebook"] = "lab"
    ) -> JupyterLab:
        full_env = {"PYTHONPATH": str(REPO_ROOT), **(env or {})}
        key = (app, *sorted(full_env.items()))
        if key not in _labs:
            _labs[key] = JupyterLab(env=full_env, unset_env=SCRUBBED_ENV, app=app).start()
        return _labs[key]

    return make


@pytest.fixture(scope="session")
def lab_emulator(chromium_path: Path) -> Iterator[Emulator]:
    from deepseek_magic.emulator import Emulator

    with Emulator() as emu:
        yield emu


_EMULATOR_SETTINGS = (
    "responder",
    "dialect",
    "token_delay",
    "first_token_latency",
    "keepalive_interval",
    "tokens_per_chunk",
)


@pytest.fixture
def emulator(lab_emulator: Emulator) -> Iterator[Emulator]:
    """The emulator that ``lab``'s kernels use, fresh for this test (queue, log, settings)."""
    saved = {name: getattr(lab_emulator, name) for name in _EMULATOR_SETTINGS}
    lab_emulator.reset()
    yield lab_emulator
    lab_emulator.reset()
    for name, value in saved.items():
        setattr(lab_emulator, name, value)


@pytest.fixture
def emu() -> None:
    pytest.fail("a browser test's kernels reach the lab's emulator: use the `emulator` fixture")


@pytest.fixture(scope="session")
def lab(lab_factory: Callable[..., JupyterLab], lab_emulator: Emulator) -> JupyterLab:
    """The session's JupyterLab; its kernels see ``DEEPSEEK_MAGIC_BASE_URL`` = the emulator."""
    return lab_factory(
        {
            "DEEPSEEK_MAGIC_BASE_URL": lab_emulator.base_url,
            "DEEPSEEK_MAGIC_BROWSER_TEST": "1",
        }
    )


@pytest.fixture
def notebook_name(request: pytest.FixtureRequest) -> str:
    """``<test name>.ipynb``, unique within the session's root dir."""
    return re.sub(r"[^A-Za-z0-9_-]+", "_", request.node.name).strip("_") + ".ipynb"
