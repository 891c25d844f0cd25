"""``grade(..., compare="judge")``: a model decides whether each answer is correct.

The judge's calls are a ``map()`` run of their own: one request per graded row (rows
that failed or have no answer are not sent: they are wrong), estimated up front,
budgeted (``judge={"budget": 0.05}``), written to the run file (so grading again sends
nothing new) and shown with their own progress line; their cost is kept apart from the
graded rows' (``Grades.judge.cost``). By default the judge is the session's model with
thinking off (``thinking=False``; where a server has no such switch, the run's rows say
so in ``options_not_sent``, like any option); ``judge={"model": ..., ...}`` takes any of
``map()``'s keywords.

The judge is asked for ``{"verdict": "correct" | "incorrect", "reason": "..."}``; its
reply is read tolerantly by :func:`parse_verdict` (a JSON object anywhere in the text,
a ```json fence, else the first "correct" / "incorrect" / "right" / "wrong" word), a
small parser of this module's own: the typed-answers machinery (``schema=``) is on
another branch today. Its reasoning is kept (``judge_reasoning``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..core._errors import OptionError

__all__ = ["DEFAULT_RUBRIC", "JudgeRun", "judge_prompt", "parse_verdict", "run_judge"]

#: the judge's instructions (``grade(..., rubric=...)`` replaces them)
DEFAULT_RUBRIC = (
    "You are grading an answer against the expected answer. The answer is correct when "
    "its final answer means the same as the expected one (equivalent numbers, units or "
    "wording count as the same); extra explanation does not matter; a missing, hedged or "
    "contradictory final answer is incorrect."
)
_ANSWER_LIMIT = 4000
_WORD = re.compile(r"\b(incorrect|not\s+correct|wrong|correct|right)\b", re.IGNORECASE)


def judge_prompt(rubric: str, expected: Any, answer: str, question: Any = None) -> str:
    """The judge's prompt for one row."""
    shown = answer if len(answer) <= _ANSWER_LIMIT else "…" + answer[-_ANSWER_LIMIT:]
    parts = [rubric.strip(), ""]
    if question is not None and str(question).strip():
        parts += [f"Question: {question}", ""]
    parts += [
        f"Expected answer: {expected}",
        "",
        "Answer to grade (between the markers):",
        "<<<",
        shown,
        ">>>",
        "",
        'Reply with JSON only: {"verdict": "correct" or "incorrect", "reason": "one line"}',
    ]
    return "\n".join(parts)


def _json_objects(text: str) -> list[Any]:
    found = []
    for m in re.finditer(r"```(?:json)?\s*(.*?)```", text, re.DOTALL):
        found.append(m.group(1))
    start = text.find("{")
    end = text.rfind("}")
    if 0 <= start < end:
        found.append(text[start : end + 1])
    out = []
    for candidate in found:
        try:
            out.append(json.loads(candidate))
        except ValueError:
            continue
    return out


def parse_verdict(text: str) -> tuple[bool | None, str]:
    """``(correct, reason)`` from a judge's reply; ``correct`` is None when no verdict can
    be read (graded wrong, and the reason says why)."""
    text = text or ""
    for value in _json_objects(text):
        if isinstance(value, Mapping):
            verdict = value.get("verdict", value.get("correct", value.get("grade")))
            reason = str(value.get("reason", "") or "").strip()
            if isinstance(verdict, bool):
                return verdict, reason
            if isinstance(verdict, str):
                word = _WORD.search(verdict)
                if word:
                    return word.group(1).lower() in ("correct", "right"), reason
    for line in [text.strip().split("\n", 1)[0], text]:
        word = _WORD.search(line)
        if word:
            rest = text[word.end() :].strip(" .:-—*\n").split("\n", 1)[0].strip()
            return word.group(1).lower() in ("correct", "right"), rest
    return None, "no verdict in the judge's reply"


@dataclass
class JudgeRun:
    """The judge's run: per graded row its verdict; ``frame`` the judge's own map() rows."""

    correct: list[bool]
    columns: dict[str, list[Any]]
    frame: Any = None
    cost: float | None = None
    options: Mapping[str, Any] = field(default_factory=dict)


def run_judge(
    frame: Any,
    answers: Sequence[str],
    expected: Sequence[Any],
    errors: Sequence[str],
    *,
    rubric: str | None,
    options: Mapping[str, Any],
    question: Any = None,
) -> JudgeRun:
    """Send the judge's requests (one ``map()`` run) and read their verdicts."""
    import pandas as pd

    from ..batch._batch import map_rows

    if rubric is not None and (not isinstance(rubric, str) or not rubric.strip()):
        raise OptionError(
            "grade(rubric=...): give the judge's instructions as text.", option="rubric"
        )
    if not isinstance(options, Mapping):
        raise OptionError("grade(judge=...): give a dict of map() keywords.", option="judge")
    questions: list[Any] = [None] * len(frame)
    if question is not None:
        if isinstance(question, str) and question in frame.columns:
            questions = list(frame[question])
        else:
            raise OptionError(f"grade(question={question!r}): not a column.", option="question")
    text = rubric or DEFAULT_RUBRIC
    send = [i for i, (a, e) in enumerate(zip(answers, errors, strict=True)) if a.strip() and not e]
    verdicts: list[bool | None] = [None] * len(frame)
    reasons = [
        "no answer to judge" if not errors[i] else "the row failed" for i in range(len(frame))
    ]
    reasoning = [""] * len(frame)
    judge_frame = None
    cost = None
    settings = {"thinking": False, **dict(options)}
    if send:
        rows = pd.DataFrame(
            {"prompt": [judge_prompt(text, expected[i], answers[i], questions[i]) for i in send]}
        )
        judge_frame = map_rows(rows, "{prompt}", keep=[], **settings)
        cost = float(judge_frame["cost"].fillna(0).sum())
        for position, (_, row) in zip(send, judge_frame.iterrows(), strict=True):
            if row["error"]:
                reasons[position] = f"judge failed: {row['error']}"
                continue
            verdicts[position], reasons[position] = parse_verdict(str(row["answer"]))
            reasoning[position] = str(row["reasoning"] or "")
    return JudgeRun(
        correct=[v is True for v in verdicts],
        columns={"judge_verdict": verdicts, "judge_reason": reasons, "judge_reasoning": reasoning},
        frame=judge_frame,
        cost=cost,
        options=settings,
    )
