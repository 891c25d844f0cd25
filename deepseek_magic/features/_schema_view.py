"""How typed data shows: under the answer (a compact table of fields and values in a
notebook, aligned text in a terminal), in the footer (the method and the repair rounds,
with what they cost), and per row (:func:`data_status`).

Pure functions of a :class:`~deepseek_magic.Result`; ``_render.py`` calls them. The data
came from a model: everything put into HTML is escaped here (``html.escape``), and in a
``text/markdown`` context ``$`` and ``\\`` are made inert too (JupyterLab's math finder).
"""

from __future__ import annotations

import html
import json
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

from ._schema import plain_data
from ._schema_run import METHOD_TEXT

if TYPE_CHECKING:
    from ..core._result import Result

__all__ = [
    "data_status",
    "schema_footer",
    "data_html",
    "data_plain",
    "extra_rounds",
    "DataStatus",
]

DataStatus = Literal["enforced", "validated", "repaired", "missing"]

#: the most rows and characters a data table shows (the Result holds all of it)
MAX_ROWS = 50
MAX_CELL = 200

_TABLE = "border-collapse:collapse;margin:0.4em 0;font-size:0.92em;"
_CELL = "border:1px solid rgba(128,128,128,0.35);padding:0.15em 0.5em;text-align:left;"
_HEAD = _CELL + "font-weight:600;background:rgba(128,128,128,0.08);"
_ERROR = "color:#b00020;font-weight:600;margin:0.4em 0;"


def data_status(result: Result) -> DataStatus | None:
    """Whether a Result's data was enforced by the server, validated here, repaired, or is
    missing; None without a schema."""
    if result.data_method is None:
        return None
    if result.data_error is not None or result.data is None:
        return "missing"
    if result.data_repairs:
        return "repaired"
    return "enforced" if result.data_method == "json_schema" else "validated"


def extra_rounds(result: Result) -> list[Result]:
    """The rounds a schema added (retries and repairs), oldest first: the rounds at the end
    of ``result.rounds`` plus ``result`` itself, past the first try."""
    n = result.data_repairs + result.data_retries
    if n <= 0:
        return []
    chain = [*result.rounds, result]
    return chain[-n:]


def schema_footer(result: Result) -> list[str]:
    """The footer's parts: ``schema: instructions + validation, 1 repair round (+812
    tokens, $0.0021)`` and, when the data is missing, ``no data``."""
    if result.data_method is None:
        return []
    text = "schema: " + METHOD_TEXT.get(result.data_method, result.data_method)
    if result.data_retries:
        text += f", {result.data_retries} retry of empty content"
    if result.data_repairs:
        text += f", {result.data_repairs} repair round{'s' if result.data_repairs != 1 else ''}"
    extra = extra_rounds(result)
    if extra:
        tokens = sum((r.usage.prompt_tokens or 0) + (r.usage.completion_tokens or 0) for r in extra)
        # result.cost is every round's (``_api._combine`` sums them): the extra rounds'
        # share is that minus the rounds before them
        before = result.rounds[: len(result.rounds) - (len(extra) - 1)]
        spent = ""
        if result.cost is not None:
            share = result.cost - sum(r.cost or 0.0 for r in before)
            spent = f", ${share:.6f}"
        text += f" (+{tokens:,} tokens{spent})"
    parts = [text]
    if result.data_error is not None:
        parts.append("no data")
    return parts


def _cell(value: Any) -> str:
    value = plain_data(value)
    if value is None:
        text = "–"
    elif isinstance(value, str):
        text = value
    elif isinstance(value, list) and all(isinstance(v, (str, int, float)) for v in value):
        text = ", ".join(str(v) for v in value)
    else:
        text = json.dumps(value, ensure_ascii=False)
    text = " ".join(text.split())
    return text if len(text) <= MAX_CELL else text[: MAX_CELL - 1] + "…"


def _rows(result: Result) -> tuple[list[str], list[list[str]]] | None:
    """(header, rows) of the data: fields and values for one object, one row per item
    for a list of objects; None when there is nothing to show."""
    data = plain_data(result.data)
    if data is None:
        return None
    if isinstance(data, Mapping):
        return ["field", "value"], [[str(k), _cell(v)] for k, v in data.items()]
    if isinstance(data, Sequence) and not isinstance(data, str):
        items = list(data)[:MAX_ROWS]
        if items and all(isinstance(i, Mapping) for i in items):
            names = list(dict.fromkeys(k for i in items for k in i))
            return names, [[_cell(i.get(n)) for n in names] for i in items]
        return ["value"], [[_cell(i)] for i in items]
    return ["value"], [[_cell(data)]]


def data_html(result: Result, *, markdown: bool = False) -> str:
    """The data as a compact, escaped HTML table (``""`` without data); a data_error as one
    line."""

    def esc(text: str) -> str:
        out = html.escape(text, quote=True)
        return out.replace("$", "&#36;").replace("\\", "&#92;") if markdown else out

    if result.data_error is not None and result.data_method is not None:
        return (
            f'<div class="dsm-data-error" style="{_ERROR}">No data: {esc(result.data_error)}</div>'
        )
    table = _rows(result)
    if table is None:
        return ""
    header, rows = table
    head = "".join(f'<th style="{_HEAD}">{esc(h)}</th>' for h in header)
    body = "".join(
        "<tr>" + "".join(f'<td style="{_CELL}">{esc(c)}</td>' for c in row) + "</tr>"
        for row in rows
    )
    return (
        f'<table class="dsm-data" style="{_TABLE}"><thead><tr>{head}</tr></thead>'
        f"<tbody>{body}</tbody></table>"
    )


def data_plain(result: Result) -> list[str]:
    """The data as aligned text lines for a terminal (empty without data)."""
    if result.data_error is not None and result.data_method is not None:
        return [f"No data: {result.data_error}"]
    table = _rows(result)
    if table is None:
        return []
    header, rows = table
    if header == ["field", "value"]:
        width = max(len(r[0]) for r in rows) if rows else 0
        return [f"{r[0].ljust(width)}  {r[1]}" for r in rows]
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(header)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True))]
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    return [line.rstrip() for line in lines]
