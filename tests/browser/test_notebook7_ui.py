"""The product in Notebook 7's own UI, not JupyterLab's.

Issue 4: JupyterLab 4, Notebook 7, VS Code.

Notebook 7 (the ``notebook`` package) reuses JupyterLab's renderers and widget
manager inside a different shell: one document per page at
``/notebooks/NAME.ipynb``, its own menus and toolbar, no status bar. These tests
start a Notebook 7 server (``lab_factory(..., app="notebook")``) whose kernels
talk to the session's emulator, open a notebook there, run it from the Run menu
as a person would, and check what the page shows:

* ``%%deepseek``: the final view has the reasoning collapsed in
  ``details.dsm-reasoning`` (a click on its summary opens it) and the answer's
  markdown rendered (a table, ``<strong>``);
* ``%deepseek_panel``: the widgets render (the ``temperature`` slider, Send), a
  value typed into the slider and a click on Send reach the emulator, and the
  answer appears inside ``.dsm-output``.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from playwright.sync_api import Locator, Page, expect

from deepseek_magic.emulator import Emulator, Reply

from .jupyter import (
    JupyterLab,
    cell_outputs,
    open_notebook,
    run_all,
    screenshot,
    set_slider,
    slider,
    wait_cells_done,
)

LOAD = "%load_ext deepseek_magic"
PROMPT = "Is 9.11 larger than 9.9? Explain briefly."
REASONING = "Same integer part; compare the tenths: 9 against 1. So 9.9 is larger."
ANSWER = """**9.9 is larger.** Line the numbers up by place value:

| number | tenths | hundredths |
|:--|--:|--:|
| 9.9 | 9 | 0 |
| 9.11 | 1 | 1 |
"""


@pytest.fixture(scope="module")
def notebook7(lab_factory: Callable[..., JupyterLab], lab_emulator: Emulator) -> JupyterLab:
    """A Notebook 7 server; its kernels see ``DEEPSEEK_MAGIC_BASE_URL`` = the emulator."""
    return lab_factory(
        {"DEEPSEEK_MAGIC_BASE_URL": lab_emulator.base_url, "DEEPSEEK_MAGIC_BROWSER_TEST": "1"},
        app="notebook",
    )


def open_and_run(page: Page, server: JupyterLab, name: str, cells: list[str]) -> None:
    """Open ``cells`` as a notebook in Notebook 7 and run them all from its Run menu."""
    server.write_notebook(name, cells)
    open_notebook(page, server, name)
    # Really Notebook 7's shell (not JupyterLab's) at /notebooks/NAME.
    assert "/notebooks/" + name in page.url
    assert page.evaluate("() => window.jupyterapp.name") == "Jupyter Notebook"
    expect(page.locator("#jp-NotebookLogo")).to_be_visible()
    expect(page.locator(".jp-LabShell")).to_have_count(0)
    run_all(page, via="menu")
    wait_cells_done(page, timeout=60_000)


def test_magic_collapses_reasoning_and_renders_the_answer(
    page: Page, notebook7: JupyterLab, emulator: Emulator, notebook_name: str
) -> None:
    emulator.queue(Reply(reasoning=REASONING, answer=ANSWER))
    open_and_run(page, notebook7, notebook_name, [LOAD, f"%%deepseek -o r\n{PROMPT}"])

    out = cell_outputs(page, 1)
    expect(out.locator(".dsm-live")).to_have_count(0)  # the live view was replaced
    details = out.locator("details.dsm-reasoning")
    expect(details).to_have_count(1)
    expect(details).not_to_have_attribute("open", re.compile(".*"))
    expect(details).to_have_js_property("open", False)
    expect(details.locator(".dsm-reasoning-body")).to_be_hidden()

    answer = out.locator(".dsm-answer-body")
    expect(answer.locator("strong").first).to_have_text("9.9 is larger.")
    table = answer.locator("table")
    expect(table).to_have_count(1)
    expect(table.locator("th")).to_have_text(["number", "tenths", "hundredths"])
    expect(table.locator("tbody tr").nth(1).locator("td")).to_have_text(["9.11", "1", "1"])
    expect(answer).not_to_contain_text("|:--")  # no markdown source left

    details.locator("summary").click()
    expect(details).to_have_js_property("open", True)
    expect(details.locator(".dsm-reasoning-body")).to_be_visible()
    expect(details.locator(".dsm-reasoning-body")).to_have_text(REASONING)

    assert len(emulator.requests) == 1
    assert emulator.requests[0]["messages"][-1] == {"role": "user", "content": PROMPT}
    screenshot(page, "notebook7-magic")


def panel_status(panel: Locator) -> Locator:
    """The panel's own status line (the live view inside the output has a .dsm-status too)."""
    return panel.locator(".widget-html.dsm-status")


def test_panel_widgets_render_and_send_answers(
    page: Page, notebook7: JupyterLab, emulator: Emulator, notebook_name: str
) -> None:
    emulator.queue(Reply(reasoning=REASONING, answer=ANSWER))
    open_and_run(page, notebook7, notebook_name, [LOAD, "%deepseek_panel"])

    panel = cell_outputs(page, 1).locator(".dsm-panel")
    expect(panel).to_be_visible()
    expect(panel_status(panel)).to_contain_text("Ready")
    expect(slider(page, "temperature", within=panel)).to_be_visible()
    send = panel.locator(".dsm-send")
    expect(send).to_be_visible()
    expect(send).to_have_text(re.compile(r"Send"))

    box = panel.locator(".dsm-prompt textarea")
    box.click()
    box.fill(PROMPT)
    box.press("Tab")  # leave the box: the text area syncs its value to the kernel
    set_slider(page, "temperature", "0.3", within=panel)
    expect(panel.locator(".dsm-option-temperature .widget-readout")).to_have_text("0.30")
    # The kernel saw the move: it ticked the option's "send" box.
    expect(panel.locator(".dsm-option-temperature .dsm-send-option input")).to_be_checked()

    send.click()

    output = panel.locator(".dsm-output")
    expect(output.locator(".dsm-answer-body strong").first).to_have_text("9.9 is larger.")
    expect(output.locator(".dsm-answer-body table")).to_have_count(1)
    expect(output.locator("details.dsm-reasoning")).to_have_js_property("open", False)
    expect(panel_status(panel)).to_contain_text("✓")
    expect(send).to_be_enabled()

    assert len(emulator.requests) == 1
    body = emulator.requests[0]
    assert body["messages"][-1] == {"role": "user", "content": PROMPT}
    assert body["temperature"] == 0.3
    screenshot(page, "notebook7-panel")
