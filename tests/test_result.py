"""``Result.to_row()``: the one flat row a user sees in a DataFrame, and every place that
turns a Result into a row (the history, a sweep, a batch run and its run file, the output
metadata) taking its columns and values from it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from deepseek_magic.batch._output import OUTPUT_COLUMNS, ROW_FIELDS, answered_row
from deepseek_magic.batch._runfile import RunFile
from deepseek_magic.batch._sweep import _row as sweep_row
from deepseek_magic.core._result import Result, ToolCall, Usage
from deepseek_magic.core._session import History
from deepseek_magic.view._render import render_result

pd = pytest.importorskip("pandas")

#: what a user sees, in this order (the history puts ``n``, ``model``, ``prompt`` first)
COLUMNS = [
    "model",
    "answer",
    "reasoning",
    "reasoning_chars",
    "answer_chars",
    "prompt_tokens",
    "completion_tokens",
    "reasoning_tokens",
    "answer_tokens",
    "cost",
    "cost_source",
    "elapsed",
    "time_to_first_token",
    "finish_reason",
    "tool_calls",
    "error",
    "interrupted",
    "offline",
    "cached",
    "conversation",
]


def answered(**changes: Any) -> Result:
    base = Result(
        answer="It is 9.9.",
        reasoning="Compare the tenths: 9 > 1.",
        finish_reason="stop",
        usage=Usage(prompt_tokens=12, completion_tokens=40, reasoning_tokens=30),
        cost=0.000109,
        cost_source="server",
        model="deepseek/deepseek-r1",
        params={"model": "deepseek/deepseek-r1", "temperature": 0.6, "stop": ["###"]},
        messages=({"role": "user", "content": "Is 9.11 > 9.9?"},),
        elapsed=2.5,
        time_to_first_token=0.4,
        tool_calls=(ToolCall(id="c1", name="now", arguments="{}", output="12:00"),),
        conversation="c",
    )
    return base.replace(**changes)


def test_to_row_is_flat_scalars_with_the_counts_a_user_compares() -> None:
    row = answered().to_row()
    assert list(row) == COLUMNS
    assert all(v is None or isinstance(v, (str, int, float, bool)) for v in row.values())
    assert row["reasoning_chars"] == 26 and row["answer_chars"] == 10
    assert row["answer_tokens"] == 10  # completion minus reasoning
    assert row["tool_calls"] == 1 and row["conversation"] == "c" and row["error"] is None
    assert row["cost"] == pytest.approx(0.000109) and row["cost_source"] == "server"


def test_to_row_of_a_partial_reply_keeps_what_arrived_and_says_why() -> None:
    row = Result(reasoning="Hmm", error="StreamError: cut", usage=Usage()).to_row()
    assert (
        row["answer"] == "" and row["reasoning_chars"] == 3 and row["error"] == "StreamError: cut"
    )
    assert row["prompt_tokens"] is None and row["answer_tokens"] is None  # unknown, not 0


def test_the_history_dataframe_is_to_row_plus_its_own_columns() -> None:
    history = History()
    history.append(answered())
    history.append(answered(answer="Other", error="x", params={}))
    frame = history.to_dataframe()
    mine = ["n", "model", "prompt"] + [c for c in COLUMNS if c != "model"]
    assert list(frame.columns) == [*mine, "param_model", "param_temperature", "param_stop"]
    first = history.to_records()[0]
    assert first["prompt"] == "Is 9.11 > 9.9?" and first["param_stop"] == '["###"]'
    assert {c: first[c] for c in COLUMNS} == answered().to_row()
    assert frame.iloc[1]["error"] == "x" and list(frame["n"]) == [0, 1]


def test_a_sweep_row_is_the_point_then_to_row_columns() -> None:
    result = answered()
    row = sweep_row({"temperature": 0.2, "seed": 1}, result)
    full = result.to_row()
    assert list(row)[:2] == ["temperature", "seed"] and row["result"] is result
    taken = [c for c in row if c not in ("temperature", "seed", "error", "result")]
    assert taken and all(row[c] == full[c] for c in taken)
    assert row["error"] is None
    failed = sweep_row({"seed": 2}, answered(error="APIError: boom"))
    assert failed["error"] == "APIError: boom" and failed["answer"] == "It is 9.9."


def test_a_batch_row_is_to_row_columns_and_the_run_file_gives_the_same_back(
    tmp_path: Path,
) -> None:
    result = answered()
    row = answered_row(result)
    full = result.to_row()
    assert list(row) == list(ROW_FIELDS) == list(OUTPUT_COLUMNS[:-1])
    assert row["error"] == "" and all(row[c] == full[c] for c in ROW_FIELDS if c != "error")
    assert answered_row(result, keep_reasoning=False)["reasoning"] == ""
    with RunFile(tmp_path / "runs.sqlite") as store:
        store.sending("k", {"messages": list(result.messages)})
        store.done("k", result)
        assert store.done_rows(["k"]) == {"k": row}  # a resumed row reads as a fresh one
        assert store.completion_tokens(result.model) == [40]


def test_the_output_metadata_takes_its_fields_from_to_row() -> None:
    result = answered()
    meta = json.loads(json.dumps(render_result(result)[1]))["deepseek_magic"]
    row = result.to_row()
    shared = set(meta) & set(row)
    assert shared >= {"model", "cost", "elapsed", "finish_reason", "error", "cached", "offline"}
    assert all(meta[k] == row[k] for k in shared)
    assert "answer" not in meta and "reasoning" not in meta  # the text stays in the output
    assert meta["usage"] == result.usage.to_dict()  # the saved notebook's usage, as before
