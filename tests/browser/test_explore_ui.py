"""The reasoning explorer in a real JupyterLab (issue 24): a reasoning made of the hostile
corpus of :mod:`.xss_payloads`, one payload per step, shown with ``r.explore()`` and
``deepseek_magic.compare(r, r)`` runs nothing (no sentinel, no dialog, the same DOM walk as
test_xss_ui.py), and every step is there, numbered, in order, its text shown as text.
"""

from __future__ import annotations

from typing import Any

from playwright.sync_api import Page, expect

from deepseek_magic.emulator import Emulator, Reply

from .jupyter import JupyterLab, cell_outputs, code_cells, open_notebook, run_all, wait_cells_done
from .test_xss_ui import FIRED_JS, UNSAFE_JS
from .xss_payloads import END, PAYLOADS, corpus, label

CELLS = [
    "%load_ext deepseek_magic",
    "import deepseek_magic as dm\nr = dm.ask('Repeat the text below exactly.')",
    "r.explore()",
    "dm.compare(r, r)",
]


def test_hostile_reasoning_in_the_explorer_executes_nothing(
    page: Page, lab: JupyterLab, emulator: Emulator, notebook_name: str
) -> None:
    dialogs: list[str] = []

    def on_dialog(dialog: Any) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", on_dialog)
    text = corpus()
    emulator.queue(Reply(reasoning=text, answer="Wait, " + text))
    emulator.tokens_per_chunk, emulator.token_delay = 20, 0.002
    lab.write_notebook(notebook_name, CELLS)
    open_notebook(page, lab, notebook_name)
    run_all(page)
    wait_cells_done(page, timeout=60_000)

    explorer = cell_outputs(page, 2)
    expect(explorer.locator(".dm-explore")).to_have_count(1)
    expect(cell_outputs(page, 3).locator(".dm-compare")).to_have_count(1)
    page.wait_for_timeout(300)  # late events (image errors, focus) get their turn
    assert page.evaluate(FIRED_JS) == [] and dialogs == []
    for cell in (2, 3):
        unsafe = code_cells(page).nth(cell).evaluate(UNSAFE_JS)
        assert unsafe == [], f"live HTML from the payloads in cell {cell}: {unsafe}"

    steps = explorer.locator(".dm-step")
    shown = steps.all_inner_texts()
    # every step, numbered in order; each payload's label is a step of its own
    assert [s.split(".", 1)[0].strip() for s in shown] == [str(i + 1) for i in range(len(shown))]
    labels = [i for i, s in enumerate(shown) if s.split("\n", 1)[-1].strip().startswith("Payload ")]
    assert len(labels) == len(PAYLOADS)
    joined = "\n".join(shown).replace("✓ ", "").replace("⟲ ", "")  # our marks, not text
    positions = [joined.index(label(n)) for n in range(1, len(PAYLOADS) + 1)]
    assert positions == sorted(positions) and END in shown[-1]
    assert "<script>" in joined and "onerror=" in joined  # visible, as text
    answer = explorer.locator(".dm-answer").inner_text()
    assert answer.startswith("Wait, ") and END in answer
