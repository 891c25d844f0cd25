"""The lessons as the browser site serves them: each notebook copied as it is, except the
cells that cannot work in a browser tab, which say so in one line instead of failing.

A cell is skipped when it matches a rule below (a new limitation is a new entry), or when
it uses a name that only a skipped cell defined. The original code stays in the cell as
comments, so a reader sees what it does on a computer.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

__all__ = ["SKIP_RULES", "copy_lessons", "skip_reason"]

#: (pattern in a cell's code, why the browser cannot run it)
SKIP_RULES: tuple[tuple[str, str], ...] = (
    (
        r"\bimport pandas\b|\bpd\.|\.to_dataframe\(",
        "it needs pandas, which this browser site does not include",
    ),
    (
        r"\bimport matplotlib\b|\bplt\.",
        "it needs matplotlib, which this browser site does not include",
    ),
    (
        r"--sweep\b|\bsweep\(|--over\b|\bdm\.map\(|\bdeepseek_magic\.map\(",
        "sweeps and runs over a dataset give pandas DataFrames, and this browser site does "
        "not include pandas",
    ),
    (
        r"\bEmulator\([^)]*\)\.start\(\)",
        "it starts a local server, and a browser tab cannot listen on a port",
    ),
    (
        r"\bhttpx\.(get|post|stream|request)\(",
        "it calls httpx directly, whose own transport has no sockets in a browser tab",
    ),
)
_DEFINES = re.compile(r"^(?:async\s+)?(?:def|class)\s+(\w+)|^(\w+)\s*(?::[^=]*)?=(?!=)", re.M)


def skip_reason(code: str, unavailable: set[str]) -> str | None:
    """Why ``code`` cannot run in the browser, or None. ``unavailable``: names that only
    skipped cells define."""
    for pattern, reason in SKIP_RULES:
        if re.search(pattern, code):
            return reason
    used = sorted(n for n in unavailable if re.search(rf"\b{re.escape(n)}\b", code))
    if used:
        return f"it uses {', '.join(used)}, from a cell skipped above"
    return None


_MAGIC_OUT = re.compile(r"^%%?deepseek\b.*?(?:-o|--out)[ =](\w+)", re.M)


def _defined(code: str) -> set[str]:
    """Names a cell assigns: ``x = ...``, ``def``/``class``, and ``%%deepseek -o NAME``."""
    return {a or b for a, b in _DEFINES.findall(code)} | set(_MAGIC_OUT.findall(code))


def _skipped_cell(code: str, reason: str) -> str:
    note = f"Skipped in the browser version of this lesson: {reason}."
    original = "\n".join("# " + line if line else "#" for line in code.splitlines())
    return (
        f"# {note}\n# On a computer (Jupyter, or the Binder link) this cell runs:\n"
        f"{original}\nprint({note!r})"
    )


def rewrite(notebook: dict[str, Any]) -> int:
    """Skip the cells the browser cannot run, in place; returns how many."""
    unavailable: set[str] = set()
    skipped = 0
    for cell in notebook.get("cells", []):
        if cell.get("cell_type") != "code":
            continue
        code = "".join(cell.get("source", []))
        reason = skip_reason(code, unavailable - _defined(code))  # a cell may define it anew
        if reason is None:
            unavailable -= _defined(code)
            continue
        unavailable |= _defined(code)
        cell["source"] = _skipped_cell(code, reason)
        cell["outputs"] = []
        cell["execution_count"] = None
        cell.setdefault("metadata", {})["tags"] = sorted(
            set(cell["metadata"].get("tags", [])) | {"skipped-in-browser"}
        )
        skipped += 1
    return skipped


def copy_lessons(source: Path, target: Path) -> dict[str, int]:
    """Copy the lessons (``*.ipynb``, their ``replies/``, README) into ``target``;
    returns skipped cells per notebook."""
    target.mkdir(parents=True, exist_ok=True)
    skipped: dict[str, int] = {}
    for path in sorted(source.glob("*.ipynb")):
        notebook = json.loads(path.read_text(encoding="utf-8"))
        skipped[path.name] = rewrite(notebook)
        (target / path.name).write_text(
            json.dumps(notebook, indent=1, ensure_ascii=False) + "\n", encoding="utf-8"
        )
    if (source / "replies").is_dir():
        shutil.copytree(source / "replies", target / "replies", dirs_exist_ok=True)
    if (source / "README.md").exists():
        shutil.copy2(source / "README.md", target / "README.md")
    return skipped
