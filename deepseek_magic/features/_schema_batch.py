"""Typed answers in ``map()``: the rows' requests, their extra rounds, their columns.

* :func:`schema_rows`: every row's request describes the schema (its body already asks
  for it: ``row_requests`` copies the prepared body); refuses a field that would take
  the place of one of ``map()``'s own columns.
* :func:`add_data_columns`: one column per top-level field, with pandas dtypes from the
  schema (``Int64``, ``Float64``, ``boolean``, ``string``: nullable, so a failed row is
  ``<NA>``; lists and objects as Python objects), and ``data_status`` (enforced,
  validated, repaired, missing) after ``error``. Resumed rows read their validated data
  back from the run file.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ..core._errors import OptionError
from ._schema import plain_data
from ._schema_run import SchemaRun
from ._schema_view import data_status

if TYPE_CHECKING:
    from ..batch._plan import Plan
    from ..batch._runner import Runner
    from ..client._request import Request
    from ..core._result import Result

__all__ = ["schema_rows", "add_data_columns", "row_data", "point_data"]

_DTYPES = {"integer": "Int64", "number": "Float64", "boolean": "boolean", "string": "string"}


def schema_rows(
    run: SchemaRun | None, requests: Sequence[Request], reserved: Collection[str] = ()
) -> list[Request]:
    """The rows' requests, each describing the schema in its last user message."""
    if run is None:
        return list(requests)
    clash = [f.name for f in run.schema.fields if f.name in reserved or f.name == "data_status"]
    if clash:
        raise OptionError(
            f"schema field {clash[0]!r} would replace map()'s own column of that name: "
            "rename the field. Nothing was sent.",
            option="schema",
        )
    return [
        dataclasses.replace(r, body={**r.body, "messages": run.instruct(r.body["messages"])})
        for r in requests
    ]


def row_data(result: Result) -> dict[str, Any]:
    """What a row's flat outcome keeps of its data (plain JSON)."""
    if result.data_method is None:
        return {}
    return {"data": plain_data(result.data), "data_status": data_status(result)}


def add_data_columns(frame: Any, plan: Plan, runner: Runner | None) -> Any:
    """``frame`` (``map()``'s, in the order of ``plan.keys``) with the data's columns (see
    the module docstring); unchanged without a schema."""
    run: SchemaRun | None = plan.prep.schema
    if run is None:
        return frame
    import pandas as pd

    outcomes = runner.outcomes if runner is not None else {}
    data: list[Any] = []
    statuses: list[Any] = []
    for key in plan.keys:
        flat = outcomes.get(key)
        if flat is None and key in plan.resumed and plan.run_file is not None:
            stored = plan.run_file.result(key)  # the validated data, as the run file keeps it
            flat = row_data(stored) if stored is not None else None
        data.append((flat or {}).get("data"))
        statuses.append((flat or {}).get("data_status") or "missing")
    position = len([c for c in plan.keep if c in frame.columns])
    if run.schema.many or not run.schema.fields:
        frame.insert(position, "data", pd.Series(data, index=frame.index, dtype=object))
    else:
        for offset, f in enumerate(run.schema.fields):
            values = [d.get(f.name) if isinstance(d, Mapping) else None for d in data]
            kind = f.schema.get("type")
            if isinstance(kind, list):
                kind = next((k for k in kind if k != "null"), None)
            choices = f.schema.get("enum")
            if kind is None and choices and all(isinstance(c, str) for c in choices if c):
                kind = "string"
            dtype = _DTYPES.get(str(kind), "object")
            column = pd.Series(values, index=frame.index, dtype=object)
            if dtype != "object":
                try:
                    column = column.astype(dtype)
                except (TypeError, ValueError):  # a value the schema let through (anyOf)
                    pass
            frame.insert(position + offset, f.name, column)
    frame["data_status"] = pd.Series(statuses, index=frame.index, dtype=object)
    return frame


def point_data(result: Result | None) -> dict[str, Any]:
    """A sweep row's data columns (one row per run): the top-level fields, ``data_status``
    and ``data_error``; nothing without a schema."""
    if result is None or result.data_method is None:
        return {}
    data = plain_data(result.data)
    fields = dict(data) if isinstance(data, Mapping) else {"data": data}
    return {**fields, "data_status": data_status(result), "data_error": result.data_error}
