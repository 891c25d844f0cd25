"""The live view in a real JupyterLab (issue 13): the output's height at every frame and
at the end, recorded by a MutationObserver installed before the cell runs (no sleeps, no
timing assertions), and the answer rendered while it streams.

Heights are what a person sees jump: the reasoning box keeps one height while it streams,
the answer's start and the final render change the output's height by little.
"""

from __future__ import annotations

from typing import Any

from playwright.sync_api import Page, expect

from deepseek_magic.emulator import Emulator, Reply

from .jupyter import JupyterLab, cell_outputs, code_cells, open_notebook, run_all, wait_cells_done

LOAD = "%load_ext deepseek_magic"
CELL = "%%deepseek -o r\nCompare 9.9 and 9.11."
REASONING = (
    "The user asks which of 9.9 and 9.11 is larger. Both have the integer part 9, so the "
    "decimal parts decide: 0.90 against 0.11. The tenths digit of 9.9 is 9 and that of 9.11 "
    "is 1, so 9.9 is larger, by 0.79. A common slip is to read 9.11 like a version number. "
) * 3
ANSWER = (
    "## Answer\n\n**9.9 is larger.** The tenths decide: $9 > 1$.\n\n"
    "| number | tenths |\n|---|---:|\n| 9.9 | 9 |\n| 9.11 | 1 |\n\n"
    "The difference is $$9.9 - 9.11 = 0.79$$\n\nSo 9.9 wins."
)

HEIGHTS_JS = r"""(cell) => {
    const frames = [];
    const area = cell.querySelector('.jp-Cell-outputWrapper') || cell;
    const snap = () => {
        const live = cell.querySelector('.jp-OutputArea .dsm-live');
        const final = cell.querySelector('.jp-OutputArea .dsm-footer') !== null;
        if (!live && !final) return;
        const state = {
            h: Math.round(area.getBoundingClientRect().height),
            phase: final ? 'final' : (live.querySelector('.dsm-answer-tail') ? 'answer'
                : (live.querySelector('.dsm-reasoning-tail') ? 'reasoning' : 'waiting')),
            html: live ? live.innerHTML.length : 0,
            rendered: live ? live.querySelectorAll(
                '.dsm-answer-body table, .dsm-answer-body h2, .dsm-answer-body strong').length : 0,
            typeset: live ? live.querySelectorAll('.dsm-answer-body mjx-container').length : 0,
            elided: live ? live.querySelector('.dsm-elided') !== null : false,
            boxed: live && live.querySelector('.dsm-reasoning-tail')
                ? +(getComputedStyle(live.querySelector('.dsm-reasoning-tail')).overflow
                    === 'hidden') : 0,
            t: performance.now(),
        };
        const last = frames[frames.length - 1];
        if (!last || last.h !== state.h || last.phase !== state.phase || last.html !== state.html)
            frames.push(state);
    };
    new MutationObserver(snap).observe(cell, {subtree: true, childList: true, characterData: true});
    window.__dsmHeights = frames;
}"""


def test_heights_at_every_frame_and_the_answer_rendered_live(
    page: Page, lab: JupyterLab, emulator: Emulator, notebook_name: str
) -> None:
    emulator.token_delay = 0.02  # about 5 s of stream
    emulator.queue(Reply(reasoning=REASONING, answer=ANSWER))
    lab.write_notebook(notebook_name, [LOAD, CELL])
    open_notebook(page, lab, notebook_name)
    code_cells(page).nth(1).evaluate(HEIGHTS_JS)
    run_all(page)
    wait_cells_done(page, timeout=90_000)
    out = cell_outputs(page, 1)
    expect(out.locator(".dsm-answer-body mjx-container").first).to_be_visible()
    page.wait_for_timeout(300)  # MathJax's last pass in the final view
    frames: list[dict[str, Any]] = page.evaluate("() => window.__dsmHeights")
    print("heights:", [(f["phase"], f["h"]) for f in frames])

    reasoning = [f for f in frames if f["phase"] == "reasoning"]
    answer = [f for f in frames if f["phase"] == "answer"]
    final = [f for f in frames if f["phase"] == "final"]
    assert len(reasoning) >= 3 and len(answer) >= 3 and final, frames
    # The reasoning box keeps one height while it streams (no line-by-line growth).
    assert max(f["h"] for f in reasoning) - min(f["h"] for f in reasoning) <= 2, reasoning
    # The answer is rendered while it streams: heading, bold, table; math typeset live.
    assert max(f["rendered"] for f in answer) >= 3, answer
    assert max(f["typeset"] for f in answer) >= 1, answer
    # The frames are styled by the live view's stylesheet (one <style>, above them).
    assert max(f["boxed"] for f in reasoning) == 1, reasoning
    # Jumps: at the answer's start, and from the last live frame to the final view.
    end = final[-1]["h"] - answer[-1]["h"]
    print(
        f"answer start: {reasoning[-1]['h']} -> {answer[0]['h']} px; "
        f"end: {answer[-1]['h']} -> {final[-1]['h']} px"
    )
    # The room of the blocks above the live window is kept, so the final view, which
    # brings them back, is about as tall as the last live frame (at this window width).
    assert abs(end) <= 0.1 * final[-1]["h"], (answer[-1], final[-1])
    assert any(f["elided"] for f in answer)  # (the window did leave blocks out)
    # When the answer starts the output does not shrink: the answer's first lines take the
    # reasoning box's room (it grows from there with what the answer brings, here a heading).
    assert answer[0]["h"] >= reasoning[-1]["h"] - 2, (reasoning[-1], answer[0])
    # Largest change between two consecutive live frames while answering.
    steps = [b["h"] - a["h"] for a, b in zip(answer, answer[1:], strict=False)]
    assert max(abs(s) for s in steps) <= 0.5 * final[-1]["h"], steps
