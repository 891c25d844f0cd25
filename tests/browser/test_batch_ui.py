"""``%%deepseek --over`` in a real JupyterLab (issue 15): the progress bar moves while the
rows are answered, and the kernel's stop button ends the run at once with the finished
rows kept (in the ``-o`` variable and in the run file) and no traceback."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from deepseek_magic.emulator import Emulator, Reply

from .jupyter import (
    JupyterLab,
    cell_outputs,
    code_cells,
    interrupt_kernel,
    open_notebook,
    run_all,
    screenshot,
)

ROWS = 60
CELLS = [
    "%load_ext deepseek_magic",
    f"import pandas as pd\nqs = pd.DataFrame({{'q': [f'question {{i}}' for i in range({ROWS})]}})",
    "%%deepseek --over qs --concurrency 2 --run-file batch-ui.sqlite -o out\nAnswer briefly: {{q}}",
    "print('not reached')",
]
AFTER = "print('kept', (out['error'] == '').sum(), 'of', len(out))"


def _done(page: Page, cell: int) -> int:
    """Rows done as the bar's text says ("12/60 [...]"), or -1 before the bar is there."""
    text = " ".join(cell_outputs(page, cell).locator(".widget-hbox").all_inner_texts())
    found = re.search(rf"(\d+)/{ROWS}\b", text)
    return int(found.group(1)) if found else -1


def test_progress_bar_moves_and_the_stop_button_keeps_the_finished_rows(
    page: Page, lab: JupyterLab, emulator: Emulator, notebook_name: str
) -> None:
    emulator.token_delay = 0.08  # about a second a row: the run would take half a minute
    emulator.responder = lambda body: Reply(reasoning="Think. " * 5, answer="Done.")
    lab.write_notebook(notebook_name, CELLS)
    open_notebook(page, lab, notebook_name)
    run_all(page)
    out = cell_outputs(page, 2)
    bar = out.locator(".widget-hbox .widget-hprogress")
    expect(bar).to_be_visible(timeout=60_000)  # a widget (tqdm.auto in a notebook), not text

    seen = []
    page.wait_for_function(
        """([sel, rows]) => {
            const t = [...document.querySelectorAll(sel)].map(e => e.textContent).join(' ');
            const m = t.match(new RegExp('(\\\\d+)/' + rows)); return m && +m[1] >= 2; }""",
        arg=[".jp-OutputArea .widget-hbox", ROWS],
        timeout=60_000,
    )
    seen.append(_done(page, 2))
    page.wait_for_function(
        """([sel, rows, first]) => {
            const t = [...document.querySelectorAll(sel)].map(e => e.textContent).join(' ');
            const m = t.match(new RegExp('(\\\\d+)/' + rows)); return m && +m[1] > first; }""",
        arg=[".jp-OutputArea .widget-hbox", ROWS, seen[0]],
        timeout=60_000,
    )
    seen.append(_done(page, 2))
    assert 0 < seen[0] < seen[1] < ROWS, seen  # the bar moved
    screenshot(page, "batch-progress", locator=out)

    interrupt_kernel(page)
    expect(out).to_contain_text(
        "Stopped by the kernel's interrupt. Finished rows are kept in out", timeout=30_000
    )
    expect(out).not_to_contain_text("Traceback")
    expect(cell_outputs(page, 3)).not_to_contain_text("not reached")
    # How many rows were kept: a new cell reads the DataFrame the magic bound.
    notebook_cells = code_cells(page)
    notebook_cells.nth(3).click()
    page.keyboard.press("Escape")
    page.keyboard.press("b")  # a new cell below
    page.keyboard.press("Enter")
    page.keyboard.type(AFTER)
    page.keyboard.press("Shift+Enter")
    kept = cell_outputs(page, 4)
    expect(kept).to_contain_text(re.compile(rf"kept \d+ of {ROWS}"), timeout=30_000)
    count = int(re.search(r"kept (\d+)", kept.inner_text()).group(1))  # type: ignore[union-attr]
    assert seen[1] <= count < ROWS, (seen, count)
    assert emulator.wait_idle(10)  # the rows in flight were closed, not left streaming
    answered = sum(1 for r in emulator.request_log if r.completed)
    assert answered >= count
