"""The rows of a batch run: the input as records, the prompt template, one request per
row (the output is :mod:`._output`'s). Pure (no network); every error here is raised
before anything is sent.

Templates:

* ``map()``: a :meth:`str.format` template whose fields are columns, ``"Solve: {question}"``
  (format specs work, ``{x:.2f}``; ``{{`` and ``}}`` are literal braces);
* ``%%deepseek --over df``: the ``--vars`` syntax, ``{{question}}``; a name that is not a
  column is looked up in the notebook only with ``--vars``;
* a callable ``row -> prompt or messages`` (``row`` a dict of the row's columns).

A list of strings is one column named ``text``; with no template, the text is the prompt.
"""

from __future__ import annotations

import dataclasses
import re
import string
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ..client._request import Request, normalize_messages
from ..core._errors import OptionError
from ..engine._api import Prepared

__all__ = ["TEXT_COLUMN", "Rows", "compile_template", "read_rows", "row_requests"]

TEXT_COLUMN = "text"
_VARS = re.compile(r"\{\{\s*([A-Za-z_]\w*)\s*\}\}")

Prompt = str | Sequence[Mapping[str, Any]]


@dataclasses.dataclass
class Rows:
    """The input: records (one dict per row), the index to align the output with, the columns."""

    records: list[dict[str, Any]]
    index: Any
    columns: list[str]


def read_rows(data: Any) -> Rows:
    """A DataFrame, a list of dicts or a list of strings -> :class:`Rows`."""
    try:
        import pandas as pd
    except ImportError:
        raise ImportError("map() returns a pandas DataFrame: pip install pandas") from None
    if isinstance(data, pd.Series):
        data = data.to_frame(name=str(data.name) if data.name is not None else TEXT_COLUMN)
    if isinstance(data, pd.DataFrame):
        if not data.columns.is_unique:
            raise OptionError(
                "The DataFrame has duplicate column names; rename them first.", option="data"
            )
        columns = [str(c) for c in data.columns]
        records = [
            dict(zip(columns, values, strict=True))
            for values in data.itertuples(index=False, name=None)
        ]
        return Rows(records, data.index, columns)
    if isinstance(data, (str, bytes)) or not isinstance(data, Sequence):
        raise OptionError(
            f"map() takes a DataFrame, a list of strings or a list of dicts, not "
            f"{type(data).__name__}.",
            option="data",
        )
    items = list(data)
    if all(isinstance(x, str) for x in items):
        return Rows([{TEXT_COLUMN: x} for x in items], pd.RangeIndex(len(items)), [TEXT_COLUMN])
    if all(isinstance(x, Mapping) for x in items):
        names: list[str] = []
        for x in items:
            names.extend(str(k) for k in x if str(k) not in names)
        return Rows(
            [{str(k): v for k, v in x.items()} for x in items], pd.RangeIndex(len(items)), names
        )
    kinds = sorted({type(x).__name__ for x in items})
    raise OptionError(
        f"map() takes a list of strings or a list of dicts, not a list of {', '.join(kinds)}.",
        option="data",
    )


def _missing(name: str, columns: Sequence[str], how: str) -> OptionError:
    import difflib

    close = difflib.get_close_matches(name, columns, n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    shown = ", ".join(columns[:12]) + (" …" if len(columns) > 12 else "")
    return OptionError(
        f"The prompt names {how}, which is not a column (columns: {shown}).{hint} "
        "Nothing was sent.",
        option="prompt",
    )


def compile_template(
    prompt: Any,
    columns: Sequence[str],
    *,
    style: str = "format",
    namespace: Mapping[str, Any] | None = None,
) -> Callable[[dict[str, Any]], Prompt]:
    """The function ``row -> prompt`` for ``prompt``; raises :class:`OptionError` for a
    name that is not a column (before anything is sent)."""
    if prompt is None:
        if TEXT_COLUMN in columns:
            return lambda row: str(row[TEXT_COLUMN])
        if len(columns) == 1:
            only = columns[0]
            return lambda row: str(row[only])
        raise OptionError(
            'Give a prompt template, e.g. "Solve: {question}" (the data has several columns).',
            option="prompt",
        )
    if callable(prompt):
        return prompt  # type: ignore[no-any-return]
    if not isinstance(prompt, str):
        raise OptionError(
            f"The prompt must be a template string or a function of the row, not "
            f"{type(prompt).__name__}.",
            option="prompt",
        )
    if style == "vars":
        return _vars_template(prompt, columns, namespace)
    names = []
    try:
        for _, field, _, _ in string.Formatter().parse(prompt):
            if field is not None:
                names.append(field)
    except ValueError as exc:
        raise OptionError(
            f"The prompt template cannot be read: {exc} (write {{{{ and }}}} for literal braces).",
            option="prompt",
        ) from None
    for field in names:
        head = re.split(r"[.\[]", field, maxsplit=1)[0]
        if head == "" or head.isdigit():
            raise OptionError(
                f"The prompt template has {{{field}}}: name a column, e.g. {{question}}.",
                option="prompt",
            )
        if head not in columns:
            raise _missing(head, columns, f"{{{head}}}")
    return lambda row: prompt.format_map(row)


def _vars_template(
    prompt: str, columns: Sequence[str], namespace: Mapping[str, Any] | None
) -> Callable[[dict[str, Any]], Prompt]:
    for name in _VARS.findall(prompt):
        if name not in columns and (namespace is None or name not in namespace):
            where = " or a notebook variable" if namespace is not None else ""
            raise _missing(
                name, columns, f"{{{{{name}}}}}" + (f" (not a column{where})" if where else "")
            )
    fixed = dict(namespace or {})

    def fill(row: dict[str, Any]) -> str:
        return _VARS.sub(
            lambda m: str(row[m.group(1)] if m.group(1) in row else fixed[m.group(1)]), prompt
        )

    return fill


def template_columns(prompt: Any, columns: Sequence[str]) -> list[str]:
    """The columns a template string uses (the default columns to keep)."""
    if not isinstance(prompt, str):
        return [TEXT_COLUMN] if prompt is None and TEXT_COLUMN in columns else []
    found = set(_VARS.findall(prompt))
    try:
        for _, field, _, _ in string.Formatter().parse(prompt):
            if field:
                found.add(re.split(r"[.\[]", field, maxsplit=1)[0])
    except ValueError:
        pass
    return [c for c in columns if c in found]


def row_requests(
    base: Prepared, rows: Rows, fill: Callable[[dict[str, Any]], Prompt], system: str | None
) -> list[Request]:
    """One request per row: ``base`` (validated options, settings) with the row's messages."""
    out: list[Request] = []
    body = dict(base.request.body)
    for i, row in enumerate(rows.records):
        try:
            prompt = fill(row)
        except OptionError:
            raise
        except Exception as exc:  # noqa: BLE001  (a row the template or the user's function cannot handle)
            label = rows.index[i]
            raise OptionError(
                f"Row {label!r}: the prompt could not be made ({type(exc).__name__}: {exc}). "
                "Nothing was sent.",
                option="prompt",
            ) from None
        try:
            messages = normalize_messages(prompt, system=system)
        except OptionError as exc:
            raise OptionError(
                f"Row {rows.index[i]!r}: {exc} Nothing was sent.", option="prompt"
            ) from None
        out.append(dataclasses.replace(base.request, body={**body, "messages": messages}))
    return out
