"""The tuning panel in a real JupyterLab, used with mouse and keyboard (acceptance, issue 9).

``%deepseek_panel`` is shown by a notebook run through the JupyterLab UI; the test
then does what a person does: types the prompt, moves sliders (typing into the
readout and with the arrow keys on the handle), adds a stop sequence in the tags
field, presses **Send** or **Stop**, and reads the panel. The emulator's request
log says what the browser's widgets really sent through the kernel.

Widgets are found by the panel's documented CSS classes (``dsm-panel``,
``dsm-prompt``, ``dsm-send``, ``dsm-stop``, ``dsm-output``, ``dsm-status``) and
sliders by their description (the option's name in words: ``temperature``,
``top p``).
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import Locator, Page, expect

from deepseek_magic.emulator import Emulator, Reply

from .jupyter import (
    JupyterLab,
    cell_outputs,
    nudge_slider,
    open_notebook,
    run_all,
    screenshot,
    set_slider,
    slider_value,
    wait_cells_done,
)

CELLS = ["%load_ext deepseek_magic", "%deepseek_panel"]
PROMPT = "Is 9.11 larger than 9.9? Explain briefly."
REASONING = "Same integer part; compare tenths: 9 against 1. So 9.9 is larger."
ANSWER = "No: **9.9 is larger** than 9.11, since 9 tenths beat 1 tenth."
LONG_ANSWER = " ".join(f"Step {i}: compare the next digit and carry on." for i in range(1, 80))


def open_panel(page: Page, lab: JupyterLab, notebook_name: str) -> Locator:
    """Run the notebook that shows the panel; return the panel, ready for input."""
    lab.write_notebook(notebook_name, CELLS)
    open_notebook(page, lab, notebook_name)
    run_all(page)
    wait_cells_done(page, timeout=60_000)
    panel = cell_outputs(page, 1).locator(".dsm-panel")
    expect(panel).to_be_visible()
    expect(status(panel)).to_contain_text("Ready")
    return panel


def status(panel: Locator) -> Locator:
    """The panel's own status line (the live view inside the output has a .dsm-status too)."""
    return panel.locator(".widget-html.dsm-status")


def type_prompt(panel: Locator, text: str) -> None:
    box = panel.locator(".dsm-prompt textarea")
    box.click()
    box.fill(text)
    box.press("Tab")  # leave the box: the text area syncs its value to the kernel


def add_stop_sequence(page: Page, panel: Locator, text: str) -> None:
    """Type ``text`` into the "stop" tags field, then click elsewhere: it becomes a tag.

    Enter does not commit a tag here: inside JupyterLab 4 the TagsInput gets no
    ``change`` event on Enter (seen with a bare ipywidgets TagsInput too), so a
    person has to leave the field, as this does.
    """
    row = panel.locator(".dsm-option-stop")
    row.locator("input.jupyter-widget-taginput").click()
    page.keyboard.type(text)
    panel.locator(".dsm-prompt textarea").click()
    expect(row.locator(".jupyter-widget-tag:not(input)")).to_have_text([text])
    expect(row.locator(".dsm-send-option input")).to_be_checked()  # the kernel saw it


def test_sliders_and_stop_sequence_set_in_the_ui_are_sent(
    page: Page, lab: JupyterLab, emulator: Emulator, notebook_name: str
) -> None:
    emulator.queue(Reply(reasoning=REASONING, answer=ANSWER))
    panel = open_panel(page, lab, notebook_name)
    type_prompt(panel, PROMPT)
    set_slider(page, "temperature", "0.3", within=panel)
    nudge_slider(page, "top p", -2, within=panel)  # 1.00 -> 0.98 with the arrow keys
    expect(panel.locator(".dsm-option-temperature .widget-readout")).to_have_text("0.30")
    expect(panel.locator(".dsm-option-top-p .widget-readout")).to_have_text("0.98")
    add_stop_sequence(page, panel, "###")
    # Moving a control ticks its "send" box; untouched options stay unticked.
    expect(panel.locator(".dsm-option-temperature .dsm-send-option input")).to_be_checked()
    expect(panel.locator(".dsm-option-top-p .dsm-send-option input")).to_be_checked()
    expect(panel.locator(".dsm-option-seed .dsm-send-option input")).not_to_be_checked()

    panel.locator(".dsm-send").click()

    output = panel.locator(".dsm-output")
    expect(output.locator(".dsm-answer-body")).to_contain_text("No: 9.9 is larger than 9.11")
    expect(output.locator("details.dsm-reasoning")).to_have_count(1)
    expect(output.locator("details.dsm-reasoning")).to_have_js_property("open", False)
    expect(status(panel)).to_contain_text("✓")
    expect(panel.locator(".dsm-send")).to_be_enabled()
    expect(panel.locator(".dsm-stop")).to_be_disabled()

    assert len(emulator.requests) == 1
    body = emulator.requests[0]
    assert body["messages"][-1] == {"role": "user", "content": PROMPT}
    assert body["temperature"] == 0.3
    assert body["top_p"] == 0.98
    assert body["stop"] == ["###"]
    assert "seed" not in body and "top_k" not in body  # untouched: the server's default
    assert slider_value(page, "temperature", within=panel) == "0.30"
    screenshot(page, "panel-answer", locator=panel)


def test_stop_ends_a_slow_stream_and_keeps_the_partial_answer(
    page: Page, lab: JupyterLab, emulator: Emulator, notebook_name: str
) -> None:
    emulator.token_delay = 0.05  # the whole reply would take about a minute
    emulator.queue(Reply(reasoning="Think briefly first.", answer=LONG_ANSWER))
    panel = open_panel(page, lab, notebook_name)
    type_prompt(panel, PROMPT)
    panel.locator(".dsm-send").click()

    output = panel.locator(".dsm-output")
    expect(panel.locator(".dsm-stop")).to_be_enabled()
    expect(output.locator(".dsm-live .dsm-answer-tail")).to_contain_text("Step 2:")
    panel.locator(".dsm-stop").click()

    # Said once: the result's banner says it was interrupted and kept; the status line
    # adds only where the Result is.
    expect(status(panel)).to_contain_text("The Result so far is in")
    expect(output.locator(".dsm-live")).to_have_count(0)  # the final view replaced it
    expect(output.locator(".dsm-warning")).to_contain_text("Interrupted — partial result kept")
    seen = panel.inner_text().lower()
    assert seen.count("partial result kept") == 1, seen
    assert seen.count("interrupted") + seen.count("stopped") == 1, seen
    partial = output.locator(".dsm-answer-body")
    expect(partial).to_be_visible()
    shown = partial.inner_text().strip()
    assert shown.startswith("Step 1: compare the next digit"), shown
    assert len(shown) < len(LONG_ANSWER)  # cut short by Stop
    expect(panel.locator(".dsm-send")).to_be_enabled()
    # The connection was closed: the emulator saw the client leave mid-reply.
    assert emulator.wait_idle(10)
    record = emulator.request_log[0]
    assert record.disconnected and not record.completed
    screenshot(page, "panel-stopped", locator=panel)


# Every control a person reads or clicks, and the panel's own lines (the reply inside
# .dsm-output is the renderer's, measured by its own tests).
_MEASURE = """(panel) => {
  const box = (el) => { const r = el.getBoundingClientRect();
    return {left: r.left, right: r.right, width: r.width, height: r.height}; };
  const name = (el) => {
    const row = el.closest('[class*="dsm-option-"], .dsm-model, .dsm-out-name, .dsm-system, '
      + '.dsm-compare-spec, .dsm-prompt, .dsm-status, .dsm-copy-text');
    const rowName = row ? [...row.classList].find((c) => c.startsWith('dsm-')) : '';
    const text = (el.innerText || el.value || el.getAttribute('placeholder') || '').trim();
    const classes = [...el.classList].join('.');
    return `${rowName} ${el.tagName.toLowerCase()}.${classes} "${text.slice(0, 30)}"`;
  };
  const selector = 'button, input, textarea, select, .widget-label, .widget-readout, '
    + '.widget-html-content, .jupyter-widget-tag';
  const items = [...panel.querySelectorAll(selector)]
    .filter((el) => !el.closest('.dsm-output, .dsm-compare-grid'))
    .map((el) => {
      const cut = getComputedStyle(el).textOverflow === 'ellipsis' || el.tagName === 'BUTTON';
      return {name: name(el), ...box(el),
              cut: cut && el.scrollWidth > el.clientWidth + 1};
    })
    .filter((item) => item.width > 0 || item.height > 0);
  // fields a value is typed or chosen in, which a crowded row squeezes to a sliver
  const fields = 'select, textarea, input[type="text"]:not(.jupyter-widget-taginput), '
    + 'input[type="number"], .noUi-target';
  const squeezed = [...panel.querySelectorAll(fields)]
    .filter((el) => !el.closest('.dsm-output, .dsm-compare-grid') && el.getClientRects().length)
    .filter((el) => el.getBoundingClientRect().width < 60)
    .map((el) => `${name(el)} is ${el.getBoundingClientRect().width.toFixed(0)} px wide`);
  const cell = panel.closest('.jp-OutputArea-output') || panel.parentElement;
  return {panel: box(panel), cell: box(cell), items, squeezed};
}"""


def _overflows(page: Page, panel: Locator) -> tuple[list[str], dict[str, Any]]:
    """What lies outside the panel (or the panel outside its cell), or is cut short."""
    found = panel.evaluate(_MEASURE)
    right, left = found["panel"]["right"], found["panel"]["left"]
    problems = []
    if found["panel"]["right"] > found["cell"]["right"] + 0.5:
        problems.append(
            f"the panel ends {found['panel']['right'] - found['cell']['right']:.0f} px "
            "past the cell's right edge"
        )
    for item in found["items"]:
        if item["right"] > right + 0.5 or item["left"] < left - 0.5:
            problems.append(
                f"{item['name']} [{item['left']:.0f}, {item['right']:.0f}] is outside "
                f"the panel [{left:.0f}, {right:.0f}]"
            )
        if item["cut"]:
            problems.append(f"{item['name']} is cut short")
    return problems + found["squeezed"], found


@pytest.mark.parametrize("width", [1280, 900])
def test_every_control_fits_inside_the_panel_and_each_thing_is_said_once(
    page: Page, lab: JupyterLab, emulator: Emulator, notebook_name: str, width: int
) -> None:
    page.set_viewport_size({"width": width, "height": 1000})
    emulator.queue(Reply(reasoning=REASONING, answer=ANSWER))
    panel = open_panel(page, lab, notebook_name)
    type_prompt(panel, PROMPT)
    panel.locator(".dsm-model input").fill("deepseek-r1-with-a-long-model-name")
    panel.locator(".dsm-out-name input").fill("answer")
    panel.locator(".dsm-system input").fill("Answer in one short paragraph. " * 4)
    panel.locator(".dsm-send").click()
    output = panel.locator(".dsm-output")
    expect(output.locator(".dsm-footer")).to_contain_text("finish: stop")
    expect(status(panel)).to_contain_text("✓ Done")
    # Said once: the footer under the answer is not repeated in the status line, which
    # says what only it knows (where the Result went).
    footer = output.locator(".dsm-footer").inner_text().strip()
    shown = status(panel).inner_text()
    assert footer not in shown and "answer tokens" not in shown and "answer" in shown, shown
    screenshot(page, f"panel-{width}px-sent", locator=panel)

    panel.locator(".dsm-copy").click()  # shows the copy area too, so it is measured
    expect(panel.locator(".dsm-copy-text textarea")).to_have_value(re.compile("^%%deepseek"))
    screenshot(page, f"panel-{width}px", locator=panel)
    problems, found = _overflows(page, panel)
    assert len(found["items"]) > 40  # every option row, the fields and the buttons were measured
    assert problems == [], "\n".join(problems)
