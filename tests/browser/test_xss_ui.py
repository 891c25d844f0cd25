"""Hostile model output in a real JupyterLab executes nothing (acceptance, issue 9).

The emulator answers with the corpus of :mod:`.xss_payloads` as both the reasoning
and the answer; the ``%%deepseek`` cell runs through the JupyterLab UI (a cell the
user just ran is trusted: JupyterLab would execute a ``<script>`` in its output).
Then, in the page:

* no sentinel global ``window.__xss*`` was set, no dialog opened;
* the output's DOM holds nothing from the payloads that could run: no ``on*``
  attribute, no ``<script>``/``<iframe>``/``<object>``/``<img>``/``<style>``/...,
  no ``javascript:``/``data:`` URL, no injected style; the same walk runs on every
  DOM change while the cell streams, so the live view's frames are checked too;
* every payload is there as text (its label and the corpus's last line are
  visible, the reasoning is shown verbatim), so "nothing ran" is not "nothing shown".

A control cell displays live HTML with IPython's own ``HTML()``: its handler and
script DO run and the DOM walk DOES flag them, which proves the two checks can
see an execution in this very page.
"""

from __future__ import annotations

import base64
import json
import re
from typing import Any

from playwright.sync_api import Page, expect

from deepseek_magic.emulator import Emulator, Reply
from deepseek_magic.view._live_state import STYLESHEET

from .jupyter import (
    NOTEBOOK,
    JupyterLab,
    cell_outputs,
    code_cells,
    open_notebook,
    run_all,
    screenshot,
    wait_cells_done,
)
from .xss_payloads import END, PAYLOADS, corpus, label

CONTROL = (
    "from IPython.display import HTML, display\n"
    'display(HTML(\'<img src="x" onerror="window.__control_xss=1">'
    "<script>window.__control_script=1</script>'))"
)
CELLS = [
    "%load_ext deepseek_magic",
    "%%deepseek -o r\nRepeat the text below exactly.",
    CONTROL,
]

#: Walks the output areas of one cell; returns what could run, as short strings.
UNSAFE_JS = r"""(cell) => {
    const BAD_TAGS = new Set(['script', 'iframe', 'frame', 'frameset', 'object', 'embed',
        'applet', 'style', 'link', 'base', 'meta', 'form', 'input', 'button', 'textarea',
        'select', 'img', 'image', 'video', 'audio', 'source', 'track', 'picture', 'marquee',
        'noscript', 'template', 'html', 'head', 'body', 'portal']);
    const URL_ATTRS = new Set(['href', 'src', 'action', 'formaction', 'xlink:href', 'data',
        'poster', 'background', 'srcset', 'ping', 'codebase', 'cite']);
    const found = [];
    for (const root of cell.querySelectorAll('.jp-OutputArea-output')) {
        for (const el of root.querySelectorAll('*')) {
            const tag = el.localName;
            const inMath = el.closest('mjx-container') !== null;  // MathJax's own markup
            // The live view's own stylesheet: first in an output of its own, our exact text.
            const ours = tag === 'style' && el.parentElement === root
                && root.firstElementChild === el && el.textContent === __STYLESHEET__;
            if ((BAD_TAGS.has(tag) && !ours) || ((tag === 'svg' || tag === 'math') && !inMath)) {
                found.push('<' + tag + '>');
            }
            // Our renderer's <details> carry a dsm-* class; any other came from a payload.
            if (tag === 'details' && !/\bdsm-/.test(el.className)) found.push('<details> not ours');
            for (const a of el.attributes) {
                const name = a.name.toLowerCase();
                const value = a.value.replace(/[\s\u0000-\u001f]+/g, '').toLowerCase();
                if (name.startsWith('on')) found.push('<' + tag + ' ' + name + '>');
                if (name === 'srcdoc') found.push('<' + tag + ' srcdoc>');
                if (URL_ATTRS.has(name) && /^(javascript|data|vbscript):/.test(value)) {
                    found.push('<' + tag + ' ' + name + '=' + value.slice(0, 40) + '>');
                }
                const hostileStyle = /url\(|expression\(|position:fixed|--xss|javascript:/;
                if (name === 'style' && hostileStyle.test(value)) {
                    found.push('<' + tag + ' style=' + value.slice(0, 40) + '>');
                }
            }
        }
    }
    return found;
}""".replace("__STYLESHEET__", json.dumps(STYLESHEET))

# Runs the walk after every DOM change of the cell, so the live view's frames (which the
# final view replaces) are checked too; also notes whether a live frame showed payloads.
WATCH_JS = (
    """(cell) => {
    const walk = """
    + UNSAFE_JS
    + """;
    const seen = window.__liveWatch = {unsafe: [], liveFramesWithPayloads: 0};
    new MutationObserver(() => {
        for (const f of walk(cell)) if (!seen.unsafe.includes(f)) seen.unsafe.push(f);
        const live = cell.querySelector('.dsm-live');
        if (live && live.textContent.includes('onerror=')) seen.liveFramesWithPayloads++;
    }).observe(cell, {subtree: true, childList: true, characterData: true, attributes: true});
}"""
)

FIRED_JS = "() => Object.keys(window).filter(k => k.startsWith('__xss')).sort()"


def unsafe_elements(page: Page, cell: int) -> list[str]:
    """What in cell ``cell``'s outputs could run script (empty when inert)."""
    found: list[str] = code_cells(page).nth(cell).evaluate(UNSAFE_JS)
    return found


def assert_nothing_ran(page: Page, dialogs: list[str]) -> None:
    """No sentinel set, no dialog, nothing executable in the magic's output (cell 1)."""
    fired = page.evaluate(FIRED_JS)
    assert fired == [], f"payloads ran (their sentinel globals are set): {fired}"
    assert dialogs == []
    unsafe = unsafe_elements(page, 1)
    assert unsafe == [], f"live HTML from the payloads in the output: {unsafe}"
    # Style injection neither hid nor covered the notebook.
    expect(page.locator(f"{NOTEBOOK} .jp-Notebook")).to_be_visible()
    expect(code_cells(page).nth(2).locator(".jp-InputArea")).to_be_visible()


def test_corpus_is_big_and_each_payload_names_its_sentinel() -> None:
    assert len(PAYLOADS) >= 30
    assert len(set(PAYLOADS)) == len(PAYLOADS)
    for n, payload in enumerate(PAYLOADS, start=1):
        decoded = [
            base64.b64decode(chunk).decode(errors="replace")
            for chunk in re.findall(r"base64,([A-Za-z0-9+/=]+)", payload)
        ]
        mark = (f"__xss_{n}=1", f"--xss:{n}")  # code to run, or a style's custom property
        assert any(m in text for m in mark for text in [payload, *decoded]), payload


def test_hostile_answer_and_reasoning_execute_nothing(
    page: Page, lab: JupyterLab, emulator: Emulator, notebook_name: str
) -> None:
    dialogs: list[str] = []

    def on_dialog(dialog: Any) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", on_dialog)
    text = corpus()
    emulator.queue(Reply(reasoning=text, answer=text))
    # Chunks of 20 tokens every 10 ms: a second or two of stream, so live frames show.
    emulator.tokens_per_chunk, emulator.token_delay = 20, 0.01
    lab.write_notebook(notebook_name, CELLS)
    open_notebook(page, lab, notebook_name)
    code_cells(page).nth(1).evaluate(WATCH_JS)
    run_all(page)
    wait_cells_done(page, timeout=60_000)

    out = cell_outputs(page, 1)
    expect(out.locator("details.dsm-reasoning")).to_have_count(1)

    # The control: live HTML from IPython.display DOES run here, and IS flagged.
    page.wait_for_function("() => window.__control_xss === 1 && window.__control_script === 1")
    control = unsafe_elements(page, 2)
    assert "<img onerror>" in control and "<script>" in control, control

    assert_nothing_ran(page, dialogs)  # before any click: a live payload fails here, clearly
    watched = page.evaluate("() => window.__liveWatch")
    assert watched["unsafe"] == [], f"live HTML in a frame while streaming: {watched['unsafe']}"
    assert watched["liveFramesWithPayloads"] >= 1, "the live view never showed the payloads"

    # Open the reasoning: whatever it holds is now rendered and visible; look again.
    reasoning = out.locator("details.dsm-reasoning")
    reasoning.locator("summary").click()
    expect(reasoning).to_have_js_property("open", True)
    # Give late events (image errors, toggles, focus) their turn before looking.
    page.wait_for_timeout(300)
    assert_nothing_ran(page, dialogs)

    # Every payload reached the page and is shown as text.
    answer_text = out.locator(".dsm-answer-body").inner_text()
    missing = [n for n in range(1, len(PAYLOADS) + 1) if label(n) not in answer_text]
    assert not missing, f"payload labels not visible in the answer: {missing}"
    assert END in answer_text
    assert "<script>" in answer_text and "onerror=" in answer_text  # visible, as text
    shown = out.locator(".dsm-reasoning-body").text_content() or ""
    assert shown.strip() == text.strip()  # the reasoning verbatim

    screenshot(page, "xss-final", locator=out)
