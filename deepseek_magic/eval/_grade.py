"""``deepseek_magic.grade(results, expected=..., extract=..., compare=...)`` and the
:class:`Grades` it returns (in :mod:`._grades`).

``results``: a ``map()`` DataFrame (one row per row, or per sample with ``samples=k``),
a sweep's DataFrame, a list of :class:`~deepseek_magic.Result` or one Result.
``expected``: a column name, a Series (aligned by index), a list aligned with the rows
(or, for one Result, the value). ``extract``: a name of :data:`._extract.EXTRACTORS`,
a regular expression, a callable ``answer -> value``, or ``"data"`` / ``"data.FIELD"``
(the typed answer, ``Result.data``, or one field of it; from the ``result`` column, or
from the typed column ``FIELD`` of a ``map(schema=...)`` frame). ``compare``: a name of
:data:`._extract.COMPARISONS`, a callable ``(extracted, expected) -> bool``, or
``"judge"`` (a model decides; :mod:`._judge`).

A row that failed (its ``error`` set) or has no answer to extract is graded wrong: an
evaluation counts what it asked, not only what came back. Its ``extracted`` is None.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ..core._errors import OptionError
from ..core._result import Result
from ._extract import COMPARISONS, DEFAULT_COMPARISON, EXTRACTORS, compare_values
from ._grades import Grades, missing

__all__ = ["Grades", "grade"]

Extractor = Callable[[str, Any], Any]


# ----------------------------------------------------------------------------- inputs
def _as_frame(results: Any) -> tuple[Any, bool]:
    """The rows to grade as a DataFrame (copied), and whether the input was one Result."""
    import pandas as pd

    if isinstance(results, pd.DataFrame):
        if "answer" not in results.columns:
            raise OptionError(
                "grade(): the DataFrame has no 'answer' column (give map()'s or a sweep's output).",
                option="results",
            )
        return results.copy(), False
    if isinstance(results, Result):
        results, single = [results], True
    else:
        single = False
    if isinstance(results, Sequence) and not isinstance(results, (str, bytes)):
        items = list(results)
        bad = sorted({type(r).__name__ for r in items if not isinstance(r, Result)})
        if bad:
            raise OptionError(
                f"grade() takes a DataFrame or Results, not a list of {', '.join(bad)}.",
                option="results",
            )
        if not items:
            raise OptionError("grade(): there is nothing to grade (no results).", option="results")
        rows = []
        for r in items:
            row = r.to_row()
            row["error"] = r.error or ("interrupted" if r.interrupted else "")
            row["result"] = r
            rows.append(row)
        return pd.DataFrame.from_records(rows), single
    raise OptionError(
        f"grade() takes a map() or sweep DataFrame, a Result or a list of Results, not "
        f"{type(results).__name__}.",
        option="results",
    )


def _expected(frame: Any, expected: Any, single: bool) -> list[Any]:
    import pandas as pd

    if expected is None:
        if "expected" in frame.columns:
            return list(frame["expected"])
        raise OptionError(
            "grade() needs expected=: a column name, a Series or a list of the right answers.",
            option="expected",
        )
    if isinstance(expected, str) and expected in frame.columns:
        return list(frame[expected])
    if isinstance(expected, pd.Series):
        if not expected.index.is_unique:
            raise OptionError(
                "grade(): the expected Series has a repeated index.", option="expected"
            )
        missing = [label for label in dict.fromkeys(frame.index) if label not in expected.index]
        if missing:
            raise OptionError(
                f"grade(): the expected Series has no value for rows {missing[:5]}.",
                option="expected",
            )
        return list(expected.reindex(frame.index))
    if single:
        return [expected]
    if isinstance(expected, str):
        shown = ", ".join(map(str, frame.columns[:12]))
        raise OptionError(
            f"grade(): expected={expected!r} is not a column (columns: {shown}).",
            option="expected",
        )
    if isinstance(expected, Sequence) or hasattr(expected, "__array__"):
        values = list(expected)
        if len(values) != len(frame):
            raise OptionError(
                f"grade(): expected has {len(values)} values for {len(frame)} rows.",
                option="expected",
            )
        return values
    raise OptionError(
        f"grade(): expected= must be a column name, a Series or a list, not "
        f"{type(expected).__name__}.",
        option="expected",
    )


def _field_of(value: Any, name: str) -> Any:
    for part in name.split("."):
        if value is None:
            return None
        value = value.get(part) if isinstance(value, Mapping) else getattr(value, part, None)
    return value


def _extractor(extract: Any, frame: Any) -> tuple[Extractor, Callable[[Any], Any], str, str]:
    """(``(answer, row's Result or typed value) -> value``, the expected's normaliser,
    the default comparison, a name to show)."""
    if isinstance(extract, str) and extract in EXTRACTORS:
        fn, norm = EXTRACTORS[extract]
        return (lambda answer, _r: fn(answer)), norm, DEFAULT_COMPARISON[extract], extract
    if isinstance(extract, str) and (extract == "data" or extract.startswith("data.")):
        field = extract[5:]
        if "result" in frame.columns:

            def from_data(_answer: str, result: Any) -> Any:
                data = getattr(result, "data", None)
                return _field_of(data, field) if field else data

            return from_data, _same, "auto", extract
        if field and field.split(".")[0] in frame.columns:
            return (
                (
                    lambda _a, typed: (
                        _field_of(typed, field.partition(".")[2]) if "." in field else typed
                    )
                ),
                _same,
                "auto",
                extract,
            )
        raise OptionError(
            f"grade(extract={extract!r}): the rows carry no typed answers (run map() with "
            "schema= and results=True, or pass Results).",
            option="extract",
        )
    if isinstance(extract, re.Pattern) or isinstance(extract, str):
        try:
            pattern = re.compile(extract) if isinstance(extract, str) else extract
        except re.error as exc:
            names = ", ".join(EXTRACTORS)
            raise OptionError(
                f"grade(extract={extract!r}): not an extractor ({names}) and not a valid "
                f"regular expression ({exc}).",
                option="extract",
            ) from None

        def by_regex(answer: str, _r: Any) -> Any:
            found = list(pattern.finditer(answer or ""))
            if not found:
                return None
            last = found[-1]
            return (last.group(1) if pattern.groups else last.group(0)).strip()

        return by_regex, _same, "auto", f"regex {pattern.pattern!r}"
    if callable(extract):
        name = getattr(extract, "__name__", "function")
        return (lambda answer, _r: extract(answer)), _same, "auto", name
    raise OptionError(
        f"grade(): extract= must be one of {', '.join(EXTRACTORS)}, a regular expression, a "
        f"function or 'data.FIELD', not {type(extract).__name__}.",
        option="extract",
    )


def _same(value: Any) -> Any:
    return value


# ----------------------------------------------------------------------------- grade
def grade(
    results: Any,
    expected: Any = None,
    *,
    extract: Any = "number",
    compare: Any = None,
    tolerance: float = 1e-6,
    rubric: str | None = None,
    judge: Mapping[str, Any] | None = None,
    question: Any = None,
) -> Grades:
    """Grade ``results`` against ``expected``: see the module's docstring. ``tolerance``
    is for ``compare="numeric"`` (absolute and relative). With ``compare="judge"``:
    ``rubric=`` (the judge's instructions, :data:`._judge.DEFAULT_RUBRIC` by default),
    ``judge=`` the options of the judge's own ``map()`` run (``model=``, ``run_file=``,
    ``budget=``, ``concurrency=``, ...) and ``question=`` the question column, if any."""
    frame, single = _as_frame(results)
    values = _expected(frame, expected, single)
    extractor, normalise, default_compare, extract_name = _extractor(extract, frame)
    how = default_compare if compare is None else compare
    if not (callable(how) or how == "judge" or how in COMPARISONS):
        raise OptionError(
            f"grade(): compare={how!r}: expected one of {', '.join([*COMPARISONS, 'judge'])} "
            "or a function (extracted, expected) -> bool.",
            option="compare",
        )
    if not isinstance(tolerance, (int, float)) or isinstance(tolerance, bool) or tolerance < 0:
        raise OptionError(
            f"grade(): tolerance={tolerance!r}: expected a number >= 0.", option="tolerance"
        )
    field_column = None
    if isinstance(extract, str) and extract.startswith("data.") and "result" not in frame.columns:
        field_column = extract[5:].split(".")[0]
    answers = ["" if missing(a) else str(a) for a in frame["answer"]]
    errors = (
        [("" if missing(e) else str(e)) for e in frame["error"]]
        if "error" in frame.columns
        else [""] * len(frame)
    )
    carriers = (
        list(frame[field_column])
        if field_column
        else list(frame["result"])
        if "result" in frame.columns
        else [None] * len(frame)
    )
    extracted = [
        None if err else extractor(answer, carrier)
        for answer, err, carrier in zip(answers, errors, carriers, strict=True)
    ]
    expected_norm = [None if missing(v) else normalise(v) for v in values]
    judged = None
    if how == "judge":
        from ._judge import run_judge

        judged = run_judge(
            frame, answers, values, errors, rubric=rubric, options=judge or {}, question=question
        )
        correct = list(judged.correct)
    else:
        correct = [
            bool(not err and not missing(x) and compare_values(how, x, e, float(tolerance)))
            for x, e, err in zip(extracted, expected_norm, errors, strict=True)
        ]
    import pandas as pd

    frame["expected"] = pd.Series(values, index=frame.index, dtype=object)
    frame["extracted"] = pd.Series(extracted, index=frame.index, dtype=object)
    frame["correct"] = pd.Series(correct, index=frame.index, dtype=bool)
    if judged is not None:
        for name, column in judged.columns.items():
            frame[name] = pd.Series(column, index=frame.index, dtype=object)
    compare_name = how if isinstance(how, str) else getattr(how, "__name__", "function")
    return Grades(
        frame,
        extract=extract_name,
        compare=compare_name,
        comparer=how if how != "judge" else None,
        tolerance=float(tolerance),
        judge=judged,
    )
