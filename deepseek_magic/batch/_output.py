"""What a batch run gives back: one row per input row, aligned with the input's index.

An answered row's columns come from :meth:`Result.to_row` (the one Result -> row
function); the batch adds only what is its own: the input columns it keeps, ``error``
as text (``""`` when answered, so ``out["error"] == ""`` selects the answers), and
``row_key`` (the run file's key, shared by identical rows). The run file stores and
gives back the same :data:`ROW_FIELDS`, so a resumed row reads as a fresh one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..core._result import Result
from ..features._schema_batch import add_data_columns, row_data

if TYPE_CHECKING:
    from ._plan import Plan
    from ._runner import Runner

__all__ = [
    "OUTPUT_COLUMNS",
    "REASONING_COLUMNS",
    "ROW_FIELDS",
    "answered_row",
    "build_frame",
    "unanswered_row",
]

#: a row's columns from ``Result.to_row``, in the DataFrame's order (then ``error``)
RESULT_COLUMNS = (
    "answer",
    "reasoning",
    "reasoning_tokens",
    "answer_tokens",
    "prompt_tokens",
    "cost",
    "finish_reason",
    "model",
    "elapsed",
)
#: the flat fields of a row: what the run file stores and gives back for an answered row
ROW_FIELDS = (*RESULT_COLUMNS, "error")
#: the columns a run adds after the kept input columns (``result`` is added on demand)
OUTPUT_COLUMNS = (*ROW_FIELDS, "row_key")
_TEXT = ("answer", "reasoning", "error")
#: the reasoning's structure, computed from each row's reasoning and answer
#: (:mod:`deepseek_magic.eval._reasoning`; None with ``keep_reasoning=False``)
REASONING_COLUMNS = ("reasoning_steps", "self_checks", "answer_first_at", "reasoning_cut")


def answered_row(result: Result, *, keep_reasoning: bool = True) -> dict[str, Any]:
    """The flat row of an answered ``result``."""
    row = result.to_row()
    out = {name: row[name] for name in RESULT_COLUMNS}
    if not keep_reasoning:
        out["reasoning"] = ""
    out["error"] = ""
    out.update(row_data(result))  # typed answers: the validated data and its status
    return out


def unanswered_row(error: str) -> dict[str, Any]:
    """The flat row of a row with no answer: its one-line error, nothing else."""
    return {name: "" if name in _TEXT else None for name in RESULT_COLUMNS} | {"error": error}


def _why_missing(key: str, runner: Runner | None, *, interrupted: bool) -> str:
    """The error of a row that has no outcome: why it was never answered."""
    if interrupted and runner is not None and key in (runner.inflight | runner.interrupted):
        return "interrupted"
    if interrupted:
        return "not sent (interrupted)"
    stopped = runner.progress.stopped if runner is not None else None
    return f"not sent ({stopped})" if stopped else "not sent"


def build_frame(plan: Plan, runner: Runner | None, *, interrupted: bool = False) -> Any:
    """The DataFrame aligned with the input's index."""
    import pandas as pd

    outcomes = runner.outcomes if runner is not None else {}
    records = []
    for row, key in zip(plan.rows.records, plan.keys, strict=True):
        flat = plan.resumed.get(key) or outcomes.get(key)
        if flat is None:
            flat = unanswered_row(_why_missing(key, runner, interrupted=interrupted))
        out: dict[str, Any] = {c: row.get(c) for c in plan.keep}
        out.update((column, flat.get(column)) for column in ROW_FIELDS)
        if not plan.keep_reasoning:
            out["reasoning"] = ""
        out["row_key"] = key
        if plan.results:
            result = runner.results.get(key) if runner is not None else None
            if result is None and key in plan.resumed and plan.run_file is not None:
                result = plan.run_file.result(key)
            out["result"] = result
        records.append(out)
    frame = pd.DataFrame.from_records(records, index=plan.rows.index)
    frame = add_data_columns(frame, plan, runner)  # typed answers: one column per field
    from ..eval._reasoning import add_reasoning_columns

    add_reasoning_columns(frame, REASONING_COLUMNS, keep_reasoning=plan.keep_reasoning)
    frame.attrs["run_file"] = plan.run_file.name if plan.run_file is not None else None
    frame.attrs["estimate"] = plan.estimate.as_dict()
    if runner is not None:
        if runner.progress.stopped:
            frame.attrs["stopped"] = runner.progress.stopped
        frame.attrs.update(
            requests=runner.progress.requests,
            retries=runner.progress.retries,
            throttled=runner.gate.stats.throttles,
            lowest_limit=runner.gate.stats.lowest_limit,
        )
    return frame
