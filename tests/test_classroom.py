"""The classroom test: every lesson, offline, as a class of students really runs it.

Each lesson in ``notebooks/`` (those other branches add too) runs in one real kernel
(nbclient), in a scratch copy of the lesson folder, with no key:

1. top to bottom, with the first cell that asks R1 run twice in a row (a student
   re-running it), and the panel's Send clicked after every cell that opens a panel (the
   lesson's text invites it);
2. then the whole lesson again, in the same kernel ("Run all" twice).

Nothing may raise, on either pass, and every reply the session shows must be its own:
the answer is one that the lesson's scripts hold for that prompt (any sample), never
another prompt's reply, and the emulator's labelled "no scripted reply" only for a
prompt no script names. The oracle is the script files read here, by prompt alone
(``when`` conditions aside), not the emulator's choice.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import nbformat
import pytest

from tests.helpers.classroom import check_replies, lesson_rules

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
LESSON_DIR = ROOT / "notebooks"
LESSONS = sorted(p.name for p in LESSON_DIR.glob("[0-9][0-9]-*.ipynb"))

#: a cell that asks R1 (the magics, ask/aask/map, a sweep)
ASKS = re.compile(r"^%%?deepseek(\s|$)|\bdm\.a?ask\(|\bdm\.map\(", re.M)
#: clicks Send on every panel the lesson opened, and waits for the reply
CLICK_SEND = """\
for _panel in [v for v in list(globals().values()) if type(v).__name__ == "Panel"]:
    _panel.send_button.click()
    assert _panel.wait(timeout=120), "the panel's Send did not finish"
"""
#: what the session showed: one (prompt, answer) per reply
PROBE = """\
import json as _json, deepseek_magic as _dm
print("PROBE" + _json.dumps([
    {"prompt": next((m.get("content") for m in reversed(r.messages) if m.get("role") == "user"),
                    None),
     "answer": r.answer, "offline": r.offline}
    for r in _dm.history()
] + [  # what the running emulator served (map() rows are not in the history)
    {"prompt": next((m.get("content") for m in reversed(rec.body.get("messages") or [])
                     if m.get("role") == "user"), None),
     "answer": getattr(rec.script, "answer", None), "offline": True, "served": True}
    for rec in (_dm.SESSION.offline.request_log if _dm.SESSION.offline else [])
    if rec.script is not None
]))
"""


def _run(client: Any, nb: Any, source: str) -> list[Any]:
    cell = nbformat.v4.new_code_cell(source)
    nb.cells.append(cell)  # nbclient stores the executed cell at its index
    try:
        client.execute_cell(cell, len(nb.cells) - 1)
    finally:
        nb.cells.pop()
    return list(cell.outputs)


def _probe(client: Any, nb: Any) -> list[dict[str, Any]]:
    outputs = _run(client, nb, PROBE)
    text = "".join(o.get("text", "") for o in outputs if o.get("output_type") == "stream")
    return json.loads(text.split("PROBE", 1)[1])


def _pass(client: Any, nb: Any, *, twice_first: bool) -> None:
    asked = False
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        client.execute_cell(cell, index)  # raises CellExecutionError on any error
        if twice_first and not asked and ASKS.search(cell.source):
            asked = True
            client.execute_cell(cell, index)  # a student runs it again at once
        if "panel(" in cell.source:
            _run(client, nb, CLICK_SEND)


@pytest.mark.parametrize("name", LESSONS)
def test_a_lesson_survives_a_classroom(name: str, tmp_path: Path, monkeypatch) -> None:
    from nbclient import NotebookClient

    monkeypatch.setenv("DEEPSEEK_MAGIC_OFFLINE_PACE", "fast")
    folder = tmp_path / "notebooks"
    shutil.copytree(LESSON_DIR, folder, ignore=shutil.ignore_patterns("*-run.sqlite*", ".*"))
    nb = nbformat.read(folder / name, as_version=4)
    rules = lesson_rules([c.source for c in nb.cells if c.cell_type == "code"])
    client = NotebookClient(
        nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(folder)}}
    )
    with client.setup_kernel():
        _pass(client, nb, twice_first=True)
        first = _probe(client, nb)
        assert first, "the lesson asked nothing"
        check_replies(rules, first, f"{name}, first pass")
        _pass(client, nb, twice_first=False)
        again = _probe(client, nb)
        assert len(again) > len([r for r in first if not r.get("served")])
        check_replies(rules, again, f"{name}, second pass")
