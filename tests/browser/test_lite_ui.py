"""The lessons as a JupyterLite site (issue 16), in Debian's Chromium: Python runs in the tab.

The site is built with ``python -m deepseek_magic.lite build`` (PyPI and npm only; downloads
cached) and served on 127.0.0.1. Every request the page and its workers make is routed
and logged: any host other than 127.0.0.1 is refused and fails the test.

* ``01-quick-start.ipynb`` runs as it is, offline (the emulator answers inside the kernel):
  the live view streams, the reasoning folds into ``<details>``, the answer renders with
  math, ``r`` is used by later cells, and the panel's Send answers.
* A second notebook talks to the emulator with CORS on, over real HTTP on loopback,
  playing OpenRouter (key and attribution headers, nothing a preflight would refuse):
  through the browser's ``fetch`` it streams, reports an error status in one line, and
  a stall is cut by the read timeout with the partial result kept.
"""

from __future__ import annotations

import functools
import http.server
import json
import re
import shutil
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from playwright.sync_api import BrowserContext, Page, expect

from deepseek_magic.emulator import Emulator, Fault, Reply
from tests.helpers.tiers import unavailable

from .jupyter import (
    code_cells,
    recorded_frames,
    wait_cells_done,
    wait_kernel_idle,
    watch_live_view,
)

REPO = Path(__file__).resolve().parents[2]
KEY = "sk-or-v1-lite-browser-test-" + "0" * 24
REASONING = "Compare tenths: 9 against 1. " * 6
ANSWER = "No: **9.9 is larger**, because \\(0.9 > 0.11\\)."
#: a kernel starts in about 20-30 s on 2 busy cores (pyodide + IPython + our package)
KERNEL_START_MS = 240_000


@dataclass
class Site:
    url: str
    folder: Path
    seconds: float
    bytes: int
    requests: list[str] = field(default_factory=list)


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


def _cors_notebook(url: str) -> dict[str, object]:
    cells = [
        f'%load_ext deepseek_magic\nimport deepseek_magic as dm\nURL = "{url}"\n'
        f'dm.SESSION.config["api_key"] = "{KEY}"  # test setup; a person uses %deepseek_key',
        f"%%deepseek --provider openrouter --base-url {url} -o ok\nIs 9.11 larger than 9.9?",
        "print('answer:', ok.answer)\nprint('offline:', ok.offline, '| cost:', ok.cost)",
        "try:\n    dm.ask('Again?', provider='openrouter', base_url=URL)\n"
        "except dm.DeepSeekError as exc:\n    print('refused:', exc)",
        "try:\n    dm.ask('And now?', provider='openrouter', base_url=URL, timeout=3)\n"
        "except dm.DeepSeekError as exc:\n"
        "    print('cut:', type(exc).__name__, '| kept:', repr(exc.partial.reasoning[:20]))",
        "p = dm.panel('Count slowly.', provider='openrouter', base_url=URL)\np",
    ]
    return {
        "cells": [
            {
                "cell_type": "code",
                "metadata": {},
                "source": c,
                "outputs": [],
                "execution_count": None,
            }
            for c in cells
        ],
        "metadata": {
            "kernelspec": {
                "name": "python",
                "display_name": "Python (Pyodide)",
                "language": "python",
            }
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    }


@pytest.fixture(scope="module")
def cors_emulator() -> Iterator[Emulator]:
    with Emulator(cors=True, token_delay=0.05) as emu:
        yield emu


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory, cors_emulator: Emulator) -> Iterator[Site]:
    from deepseek_magic.lite import build, cache_dir
    from deepseek_magic.lite._build import PYODIDE_VERSION

    pytest.importorskip(
        "jupyterlite_core", reason="pip install 'deepseek-magic[lite]' to build the site"
    )
    if shutil.which("npm") is None and not (cache_dir() / f"pyodide-{PYODIDE_VERSION}").exists():
        message = "npm is needed once to fetch the pyodide runtime: apt-get install npm"
        unavailable(message)
    lessons = tmp_path_factory.mktemp("lessons")
    shutil.copytree(REPO / "notebooks", lessons, dirs_exist_ok=True)
    url = cors_emulator.base_url.replace("/v1", "/api/v1")
    (lessons / "lite-openrouter.ipynb").write_text(
        json.dumps(_cors_notebook(url)), encoding="utf-8"
    )
    folder = tmp_path_factory.mktemp("site") / "_site"
    report = build(folder, notebooks=lessons, say=lambda line: None)
    handler = functools.partial(_Quiet, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield Site(
            f"http://127.0.0.1:{server.server_address[1]}/", folder, report.seconds, report.bytes
        )
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)


@pytest.fixture
def logged(context: BrowserContext, site: Site) -> Iterator[list[str]]:
    """Every request of the page and its workers; any outside 127.0.0.1 is refused."""
    seen: list[str] = []
    outside: list[str] = []

    def route(route: object) -> None:
        url = route.request.url  # type: ignore[attr-defined]
        seen.append(url)
        if re.match(r"^(https?|wss?)://127\.0\.0\.1(:\d+)?/", url) or url.startswith(
            ("data:", "blob:")
        ):
            route.continue_()  # type: ignore[attr-defined]
        else:
            outside.append(url)
            route.abort()  # type: ignore[attr-defined]

    context.route("**/*", route)
    context.on("request", lambda r: seen.append(r.url))
    yield seen
    assert not outside, f"requests left 127.0.0.1: {outside[:5]}"
    assert not [
        u for u in seen if not re.match(r"^(https?|wss?)://127\.0\.0\.1[:/]|^(data|blob):", u)
    ]


def open_lite(page: Page, site: Site, name: str) -> None:
    page.goto(f"{site.url}lab/index.html?path={name}")
    page.locator(".jp-NotebookPanel:not(.lm-mod-hidden)").wait_for(state="visible", timeout=60_000)
    wait_kernel_idle(page, timeout=KERNEL_START_MS)


def run_all_from_menu(page: Page) -> None:
    page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(r"^Run$")).click()
    page.locator(".lm-Menu-item[data-command='runmenu:run-all']").click()


def test_quick_start_runs_in_the_browser(page: Page, site: Site, logged: list[str]) -> None:
    open_lite(page, site, "01-quick-start.ipynb")
    watch_live_view(page, 1)  # the first %%deepseek cell
    run_all_from_menu(page)
    wait_cells_done(page, timeout=300_000)

    frames = recorded_frames(page)
    live = {
        (f["reasoning"], f["answer"])
        for f in frames
        if f["status"] is not None and not f["final"] and (f["reasoning"] or f["answer"])
    }
    assert len(live) >= 2, f"the live view did not stream: {frames[:5]}"
    cell = code_cells(page).nth(1)
    details = cell.locator("details.dsm-reasoning")
    expect(details).to_have_count(1)
    assert details.get_attribute("open") is None  # collapsed
    expect(cell.locator(".jp-OutputArea")).to_contain_text("Offline emulator")
    expect(cell.locator(".dsm-answer-body")).to_contain_text("9.9 is larger than 9.11")
    expect(cell.locator(".dsm-answer-body mjx-container").first).to_be_visible()  # \( ... \)
    # the Result `r` in later cells
    expect(code_cells(page).nth(3).locator(".jp-OutputArea")).to_contain_text(
        "9.9 is larger than 9.11"
    )
    expect(code_cells(page).nth(4).locator(".jp-OutputArea")).to_contain_text("reasoning:")
    # the cell that needs pandas says so in one line instead of a traceback
    outputs = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-OutputArea").all_inner_texts()
    assert any("Skipped in the browser version of this lesson" in o for o in outputs)
    assert not any("Traceback" in o for o in outputs), outputs

    # the panel's Send, in a cell added at the end
    last = code_cells(page).last
    last.click()
    page.keyboard.press("Escape")
    page.keyboard.press("b")  # a new cell below, in command mode
    page.keyboard.press("Enter")
    page.keyboard.type('dm.panel("What is 2 + 2?")')
    page.keyboard.press("Shift+Enter")
    panel = code_cells(page).last.locator(".dsm-panel")
    expect(panel).to_be_visible(timeout=60_000)
    panel.locator(".dsm-send").click()
    expect(panel.locator(".dsm-output")).to_contain_text("offline emulator", timeout=60_000)
    expect(panel.locator(".dsm-output details.dsm-reasoning")).to_have_count(1)


def test_openrouter_over_fetch_with_cors(
    page: Page, site: Site, cors_emulator: Emulator, logged: list[str]
) -> None:
    cors_emulator.reset()
    cors_emulator.queue(
        Reply(reasoning=REASONING, answer=ANSWER),
        Fault(
            "status", status=402, body={"error": {"code": 402, "message": "Insufficient credits"}}
        ),
        Fault(
            "stall", after_tokens=6, seconds=None, reply=Reply(reasoning=REASONING, answer=ANSWER)
        ),
    )
    open_lite(page, site, "lite-openrouter.ipynb")
    watch_live_view(page, 1)
    run_all_from_menu(page)
    wait_cells_done(page, timeout=240_000)

    frames = recorded_frames(page)
    live = {
        (f["reasoning"], f["answer"])
        for f in frames
        if f["status"] is not None and not f["final"] and (f["reasoning"] or f["answer"])
    }
    assert len(live) >= 2, f"fetch did not stream: {frames[:5]}"
    out = [code_cells(page).nth(i).locator(".jp-OutputArea") for i in range(5)]
    expect(out[1].locator(".dsm-answer-body")).to_contain_text("9.9 is larger")
    expect(out[2]).to_contain_text("answer: No: **9.9 is larger**")
    expect(out[2]).to_contain_text("offline: False")
    expect(out[3]).to_contain_text("refused: HTTP 402 from 127.0.0.1: Insufficient credits.")
    expect(out[4]).to_contain_text("cut: APITimeoutError | kept: 'Compare tenths")
    page.wait_for_timeout(2000)  # a stray late traceback (an unhandled rejection) would show now
    texts = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-OutputArea").all_inner_texts()
    assert not any("Traceback" in t or "JsException" in t for t in texts), texts
    # what the browser really sent: OpenRouter's headers and the key, nothing else refused
    assert cors_emulator.wait_idle(10)
    first = cors_emulator.request_log[0]
    assert first.authorization == f"Bearer {KEY}"
    assert first.headers.get("x-title") == "deepseek-magic" and "http-referer" in first.headers
    assert first.body["model"] == "deepseek/deepseek-r1" and first.body["stream"] is True
    stalled = cors_emulator.request_log[2]
    assert stalled.disconnected  # the read timeout aborted the fetch: the emulator saw it leave
    assert any(u.startswith(cors_emulator.base_url.rsplit("/v1", 1)[0]) for u in logged)


def test_panel_stop_aborts_a_fetch_mid_stream(
    page: Page, site: Site, cors_emulator: Emulator, logged: list[str]
) -> None:
    """Stop, pressed while Send streams over fetch, aborts the fetch and keeps the partial."""
    cors_emulator.reset()
    long_answer = " ".join(f"Step {i}: count on." for i in range(1, 200))
    cors_emulator.queue(
        Reply(reasoning="r", answer="a"),
        Fault("status", status=402),
        Fault("stall", after_tokens=6, seconds=None),
        Reply(reasoning="Think briefly first.", answer=long_answer),
    )
    open_lite(page, site, "lite-openrouter.ipynb")
    run_all_from_menu(page)
    wait_cells_done(page, timeout=240_000)
    panel = code_cells(page).nth(5).locator(".dsm-panel")
    expect(panel).to_be_visible()
    panel.locator(".dsm-send").click()
    output = panel.locator(".dsm-output")
    expect(output.locator(".dsm-live .dsm-answer-tail")).to_contain_text("Step 2:", timeout=60_000)
    panel.locator(".dsm-stop").click()
    # Said once: the result's banner says it was interrupted and kept; the status line
    # adds only where the Result is.
    expect(panel.locator(".widget-html.dsm-status")).to_contain_text(
        "The Result so far is in", timeout=30_000
    )
    expect(output.locator(".dsm-warning")).to_contain_text("Interrupted — partial result kept")
    seen = panel.inner_text().lower()
    assert seen.count("partial result kept") == 1, seen
    assert seen.count("interrupted") + seen.count("stopped") == 1, seen
    shown = output.locator(".dsm-answer-body").inner_text().strip()
    assert shown.startswith("Step 1: count on.") and len(shown) < len(long_answer)
    assert cors_emulator.wait_idle(10)
    assert cors_emulator.request_log[3].disconnected  # the fetch was aborted mid-reply


def test_answers_as_data_lesson_runs_in_the_browser(
    page: Page, site: Site, logged: list[str]
) -> None:
    """Lesson 07 in JupyterLite: the dataclass schema (no pydantic there), the data table
    under the answer, the DataFrame cells skipped in one line each, no traceback."""
    open_lite(page, site, "07-answers-as-data.ipynb")
    run_all_from_menu(page)
    wait_cells_done(page, timeout=300_000)
    cell = code_cells(page).nth(2)  # %%deepseek --schema Review
    expect(cell.locator("table.dsm-data")).to_contain_text("boils fast, cool handle, good price")
    expect(cell.locator(".dsm-footer")).to_contain_text("schema: instructions + validation")
    expect(code_cells(page).nth(3).locator(".jp-OutputArea")).to_contain_text(
        "Review(rating=4, sentiment='positive'"
    )
    outputs = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-OutputArea").all_inner_texts()
    assert any("Skipped in the browser version of this lesson" in o for o in outputs)
    assert not any("Traceback" in o for o in outputs), outputs
