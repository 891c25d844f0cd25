"""8. Typed answers: ``map(..., schema=S)`` over many rows, R1 as it answers in the wild.

The emulator runs in its own process (so the client's CPU is measured alone) and answers
each row by its text (``prompt_contains``): 60% of the rows with plain JSON, 30% with the
JSON inside prose or a fence (extraction, no repair), 10% with a wrong type (the rating
as words), whose repair round is answered with the right JSON. Measured, in the same run:

* rows validated (goal: all of them),
* requests per row (goal <= 1.1 + the repair share: one request a row, plus the repairs),
* client CPU per row against ``map()`` without a schema over the same rows and replies
  (goal <= 1.2x): what extraction, validation and the repair bookkeeping cost.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ._common import Figure

__all__ = ["run"]

SPEC = "rating: int, sentiment: 'positive' | 'negative' | 'mixed', pros: list[str]"
PROMPT = "Read the document and give its rating, sentiment and pros.\n\n{text}"


def _record(i: int) -> dict[str, Any]:
    return {
        "rating": i % 5 + 1,
        "sentiment": ("positive", "negative", "mixed")[i % 3],
        "pros": [f"point {i}", "clear"],
    }


def _script(rows: int) -> list[dict[str, Any]]:
    reasoning = "The document is short; read the tone, count the points, then write the JSON. " * 3
    items: list[dict[str, Any]] = []
    for i in range(rows):
        record = _record(i)
        clean = json.dumps(record)
        kind = i % 10
        if kind in (1, 4, 7):  # 30%: JSON in prose or a fence
            answer = (
                f"Here is what I read: {clean} That is all."
                if kind != 7
                else f"Sure.\n\n```json\n{clean}\n```"
            )
        elif kind == 9:  # 10%: a wrong type, repaired
            answer = json.dumps({**record, "rating": f"rated {i}"})
            items.append(
                {
                    "prompt_contains": f'got "rated {i}"',
                    "reasoning": "The rating must be an integer.",
                    "answer": clean,
                }
            )
        else:
            answer = clean
        items.append(
            {"prompt_contains": f"Document {i:05d}.", "reasoning": reasoning, "answer": answer}
        )
    return items


@contextlib.contextmanager
def _served(items: list[dict[str, Any]]) -> Iterator[str]:
    with tempfile.TemporaryDirectory(prefix="dsm-bench-schema-") as tmp:
        script = os.path.join(tmp, "script.json")
        Path(script).write_text(json.dumps(items), encoding="utf-8")
        cmd = [
            sys.executable,
            "-m",
            "deepseek_magic.emulator",
            "--port",
            "0",
            "--script",
            script,
            "--tokens-per-chunk",
            "4",
        ]
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            assert proc.stdout is not None
            line = proc.stdout.readline()
            if "http" not in line:
                raise RuntimeError(f"the emulator did not start: {line!r}")
            yield line.split()[-1].rstrip("/")
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _rows(rows: int) -> Any:
    import pandas as pd

    return pd.DataFrame({"text": [f"Document {i:05d}. A short text to read." for i in range(rows)]})


def _map(url: str, rows: int, session: Any, **kw: Any) -> tuple[Any, float]:
    from deepseek_magic.batch._batch import map_rows

    data = _rows(rows)
    with tempfile.TemporaryDirectory() as tmp:
        c0 = time.process_time()
        frame = map_rows(
            data,
            PROMPT,
            base_url=url,
            session=session,
            concurrency=8,
            run_file=Path(tmp) / "run.sqlite",
            progress=False,
            **kw,
        )
        cpu = time.process_time() - c0
    return frame, cpu


def run(rows: int) -> tuple[list[Figure], dict[str, Any]]:
    import deepseek_magic as dm
    from deepseek_magic.core._session import Session

    session = Session()
    repair_share = sum(1 for i in range(rows) if i % 10 == 9) / rows
    with _served(_script(rows)) as url:
        dm.ask("Document 00000. warm-up", base_url=url, session=session)
        plain, plain_cpu = _map(url, rows, session)
        typed, typed_cpu = _map(url, rows, session, schema=SPEC)
    validated = int((typed["data_status"] != "missing").sum())
    per_row = typed.attrs["requests"] / rows
    ratio = (typed_cpu / rows) / (plain_cpu / rows) if plain_cpu else None
    raw = {
        "rows": rows,
        "validated": validated,
        "statuses": typed["data_status"].value_counts().to_dict(),
        "requests": typed.attrs["requests"],
        "plain_failed": int((plain["error"] != "").sum()),
        "plain_cpu_ms_per_row": plain_cpu / rows * 1e3,
        "typed_cpu_ms_per_row": typed_cpu / rows * 1e3,
        "repair_share": repair_share,
    }
    figures = [
        Figure(
            "schema.rows_validated",
            "rows with validated data",
            validated / rows,
            "share",
            "all rows",
            ">= 1.0",
            1.0,
            f"{validated} of {rows}",
            higher_is_better=True,
        ),
        Figure(
            "schema.requests_per_row",
            "requests per row",
            per_row,
            "",
            "one a row",
            f"<= 1.1 + the repair share ({repair_share:.2f})",
            1.1 + repair_share,
            f"{typed.attrs['requests']} requests for {rows} rows",
        ),
        Figure(
            "schema.cpu_ratio",
            "client CPU per row, schema vs none",
            ratio,
            "x",
            "map() without a schema, same rows",
            "<= 1.2x",
            1.2,
            f"{raw['typed_cpu_ms_per_row']:.2f} ms vs {raw['plain_cpu_ms_per_row']:.2f} ms",
        ),
    ]
    return figures, raw


if __name__ == "__main__":  # python -m benchmarks.schema [ROWS]
    figures, raw = run(int(sys.argv[1]) if len(sys.argv) > 1 else 1000)
    for f in figures:
        print(f"{f.status:5} {f.label}: {f.value:.3f}{f.unit} (goal {f.goal}; {f.note})")
    print(json.dumps(raw, indent=1, default=str))
