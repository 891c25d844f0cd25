"""The structure of a reasoning: :func:`split_steps`, :func:`find_self_checks` and
``Result.reasoning_stats`` (:func:`reasoning_stats`, a :class:`ReasoningStats`).

Steps: the reasoning's paragraphs (text between blank lines), where a paragraph made of
numbered items ("1." "2)" "Step 3:") is one step per item. A fenced code block is never
split (its blank lines are code) and belongs to the paragraph it is written in; a
bulleted list is one step (one thought, several points).

Self-checks: the places where the model doubts, re-checks or corrects itself, found with
:data:`SELF_CHECK_PHRASES`, a list you can change (append your own phrases, or pass
``phrases=`` to :func:`reasoning_stats`). Each entry is ``(phrase, at_clause_start)``;
with ``at_clause_start`` the phrase counts only at the start of a sentence or clause
("Wait, ...", "But wait", "Hmm, actually"), so "I can't wait" is not a doubt. Matching
ignores case; the longest phrase wins where two overlap, and phrases that follow each
other with only punctuation between ("Wait, let me double-check") are one self-check.
English first; R1 often thinks in Chinese, so the common Chinese ones are there too.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..core._result import Result

__all__ = [
    "SELF_CHECK_PHRASES",
    "ReasoningStats",
    "SelfCheck",
    "Step",
    "add_reasoning_columns",
    "answer_position",
    "find_self_checks",
    "reasoning_stats",
    "split_steps",
]

#: (phrase, counts only at the start of a sentence or clause): the self-checks counted
SELF_CHECK_PHRASES: list[tuple[str, bool]] = [
    ("wait", True),
    ("hmm, actually", False),
    ("hold on", True),
    ("actually", True),
    ("alternatively", True),
    ("on second thought", False),
    ("let me check", False),
    ("let me double-check", False),
    ("let me double check", False),
    ("let me recheck", False),
    ("let me re-check", False),
    ("let me verify", False),
    ("let me confirm", False),
    ("let me reconsider", False),
    ("let me re-examine", False),
    ("let me recalculate", False),
    ("let me re-read", False),
    ("let me think again", False),
    ("double-checking", False),
    ("to double-check", False),
    ("to verify", False),
    ("sanity check", False),
    ("i made a mistake", False),
    ("that's not right", False),
    ("that is not right", False),
    ("that's wrong", False),
    ("that can't be right", False),
    ("no, that", True),
    ("check:", True),
    ("等等", False),
    ("不对", False),
    ("验证一下", False),
    ("检查一下", False),
    ("再想想", False),
]

_FENCE = re.compile(r"^\s*(```|~~~)")
_NUMBERED = re.compile(r"^\s*(?:\d{1,3}[.)]|step\s+\d{1,3}\s*[:.)-])\s+", re.IGNORECASE)
_CLAUSE_BEFORE = re.compile(
    r"(?:^|[.!?,;:\n—(\"'*]|\b(?:but|hmm+|oh|ah|no|and|so|ok|okay))\s*$", re.IGNORECASE
)


@dataclass(frozen=True)
class Step:
    """One step of a reasoning: its text and where it starts and ends in the reasoning."""

    index: int
    text: str
    start: int
    end: int


@dataclass(frozen=True)
class SelfCheck:
    """One self-check: the phrase as written, the step it is in, its offset."""

    phrase: str
    step: int
    offset: int


def _blocks(reasoning: str) -> list[tuple[int, int]]:
    """(start, end) of the paragraphs: text between blank lines outside code fences."""
    spans: list[tuple[int, int]] = []
    start: int | None = None
    fenced = False
    offset = 0
    for line in reasoning.splitlines(keepends=True):
        blank = not line.strip()
        if _FENCE.match(line):
            fenced = not fenced
        if blank and not fenced:
            if start is not None:
                spans.append((start, offset))
                start = None
        elif start is None:
            start = offset
        offset += len(line)
    if start is not None:
        spans.append((start, offset))
    return spans


def _split_numbered(reasoning: str, start: int, end: int) -> list[tuple[int, int]]:
    """A paragraph whose lines start numbered items: one span per item."""
    lines = reasoning[start:end].splitlines(keepends=True)
    if sum(1 for line in lines if _NUMBERED.match(line)) < 2:
        return [(start, end)]
    spans: list[tuple[int, int]] = []
    offset, item = start, start
    fenced = False
    for line in lines:
        if _FENCE.match(line):
            fenced = not fenced
        if not fenced and _NUMBERED.match(line) and offset > item:
            spans.append((item, offset))
            item = offset
        offset += len(line)
    spans.append((item, end))
    return spans


def split_steps(reasoning: str) -> list[Step]:
    """The reasoning's steps, in order (see the module's docstring)."""
    steps: list[Step] = []
    for start, end in _blocks(reasoning):
        for s, e in _split_numbered(reasoning, start, end):
            text = reasoning[s:e]
            lead = len(text) - len(text.lstrip())
            text = text.strip()
            if text:
                steps.append(Step(len(steps), text, s + lead, s + lead + len(text)))
    return steps


def _pattern(phrases: Sequence[tuple[str, bool]]) -> tuple[re.Pattern[str], dict[str, bool]]:
    return _compiled(tuple((str(p), bool(c)) for p, c in phrases))


@lru_cache(maxsize=32)
def _compiled(phrases: tuple[tuple[str, bool], ...]) -> tuple[re.Pattern[str], dict[str, bool]]:
    """The phrases as one pattern (compiled once per list: a run measures every row)."""
    ordered = sorted({p.lower(): c for p, c in phrases}.items(), key=lambda pc: -len(pc[0]))
    parts = []
    for phrase, _ in ordered:
        body = re.escape(phrase).replace(r"\ ", r"\s+")
        if phrase.isascii() and phrase[-1].isalnum():
            body += r"(?![\w'-])"
        if phrase.isascii() and phrase[0].isalnum():
            body = r"(?<![\w'-])" + body
        parts.append(body)
    return re.compile("|".join(parts) or r"(?!)", re.IGNORECASE), dict(ordered)


def find_self_checks(
    reasoning: str,
    steps: Sequence[Step] | None = None,
    phrases: Sequence[tuple[str, bool]] | None = None,
) -> list[SelfCheck]:
    """Every self-check in ``reasoning`` (default phrases: :data:`SELF_CHECK_PHRASES`)."""
    chosen = SELF_CHECK_PHRASES if phrases is None else phrases
    steps = split_steps(reasoning) if steps is None else steps
    found: list[SelfCheck] = []
    for start, end, clause in _occurrences(reasoning, chosen):
        if clause and not _CLAUSE_BEFORE.search(reasoning[max(0, start - 12) : start]):
            continue
        step = next((s.index for s in steps if s.start <= start < s.end), -1)
        if found and found[-1].step == step:
            last = found[-1]
            gap = reasoning[last.offset + len(last.phrase) : start]
            if not gap.strip(" ,.;:!?—-\t"):  # "Wait, let me double-check": one doubt
                found[-1] = SelfCheck(reasoning[last.offset : end], step, last.offset)
                continue
        found.append(SelfCheck(reasoning[start:end], step, start))
    return found


def _occurrences(
    reasoning: str, phrases: Sequence[tuple[str, bool]]
) -> list[tuple[int, int, bool]]:
    """(start, end, counts only at a clause start) of each phrase, left to right, the
    longest where two overlap, word boundaries respected for phrases in ASCII. A plain
    search per phrase (the text lower-cased once): one regex of every phrase, with its
    lookarounds, costs ~5 ms on a 3 KB reasoning, and map() measures every row."""
    lowered = reasoning.lower()
    if len(lowered) != len(reasoning):  # a character whose lower case is longer: slow path
        pattern, clause = _pattern(phrases)
        return [
            (m.start(), m.end(), clause.get(" ".join(m.group(0).lower().split()), False))
            for m in pattern.finditer(reasoning)
        ]
    hits: list[tuple[int, int, bool]] = []
    for phrase, at_clause in dict((p.lower(), c) for p, c in phrases).items():
        if not phrase:
            continue
        bounded = phrase.isascii()
        at = lowered.find(phrase)
        while at >= 0:
            end = at + len(phrase)
            before = lowered[at - 1] if at else " "
            after = lowered[end] if end < len(lowered) else " "
            if not bounded or (
                (not phrase[0].isalnum() or not _word_char(before))
                and (not phrase[-1].isalnum() or not _word_char(after))
            ):
                hits.append((at, end, at_clause))
            at = lowered.find(phrase, at + 1)
    hits.sort(key=lambda h: (h[0], -(h[1] - h[0])))
    kept: list[tuple[int, int, bool]] = []
    for hit in hits:
        if not kept or hit[0] >= kept[-1][1]:
            kept.append(hit)
    return kept


def _word_char(ch: str) -> bool:
    return ch.isalnum() or ch in "_'-"


def answer_position(reasoning: str, answer: Any) -> float | None:
    """Where ``answer`` (a number, or a text) first appears in ``reasoning``, as a fraction
    of its length (0 = its start), or None when it does not appear."""
    if answer is None or not reasoning:
        return None
    from ._extract import _NUMBER, match_value, normalize_text, parse_number

    value = (
        parse_number(answer)
        if not isinstance(answer, str) or _NUMBER.fullmatch(answer.strip())
        else None
    )
    if value is not None:
        for m in _NUMBER.finditer(reasoning):
            found = match_value(m)
            if found is not None and math.isclose(
                float(found), float(value), rel_tol=1e-9, abs_tol=1e-9
            ):
                begin = m.start("sign") if m.group("sign") else m.start("int")
                return begin / len(reasoning)
        return None
    wanted = normalize_text(answer)
    if not wanted:
        return None
    hit = re.search(
        r"(?<!\w)" + r"\W+".join(re.escape(w) for w in wanted.split()) + r"(?!\w)",
        reasoning,
        re.IGNORECASE,
    )
    return hit.start() / len(reasoning) if hit else None


@dataclass(frozen=True)
class ReasoningStats:
    """The reasoning of one Result, measured (``Result.reasoning_stats``)."""

    #: reasoning tokens as the server counted them (None when it did not say)
    tokens: int | None
    characters: int
    steps: tuple[Step, ...] = field(repr=False)
    self_check_marks: tuple[SelfCheck, ...] = field(repr=False)
    #: seconds from the first reasoning token to the first answer token
    thinking_seconds: float | None
    #: the final answer as read from the answer (the ``number`` extractor, else the text)
    final_answer: Any
    #: where the final answer first appears in the reasoning, 0..1 (None: it does not)
    answer_first_at: float | None
    #: the reply stopped (token limit, interrupt, error) before an answer began
    cut: bool

    @property
    def step_count(self) -> int:
        return len(self.steps)

    @property
    def self_checks(self) -> int:
        return len(self.self_check_marks)

    def as_row(self) -> dict[str, Any]:
        """The main figures as flat columns (what ``map()`` adds to its DataFrame)."""
        return {
            "steps": self.step_count,
            "self_checks": self.self_checks,
            "thinking_seconds": self.thinking_seconds,
            "answer_first_at": self.answer_first_at,
            "reasoning_cut": self.cut,
        }

    def __repr__(self) -> str:
        where = "absent" if self.answer_first_at is None else f"{self.answer_first_at:.0%}"
        think = "?" if self.thinking_seconds is None else f"{self.thinking_seconds:.1f} s"
        return (
            f"ReasoningStats(tokens={self.tokens}, characters={self.characters}, "
            f"steps={self.step_count}, self_checks={self.self_checks}, thinking={think}, "
            f"answer_first_at={where}, cut={self.cut})"
        )


def _final_answer(answer: str) -> Any:
    from ._extract import number, text

    if not answer.strip():
        return None
    found = number(answer)
    return found if found is not None else text(answer)


def stats_of(
    reasoning: str,
    answer: str,
    *,
    tokens: int | None = None,
    thinking_seconds: float | None = None,
    cut: bool = False,
    final: Any = ...,
    phrases: Sequence[tuple[str, bool]] | None = None,
) -> ReasoningStats:
    """The stats of a reasoning and its answer given as text (``map()``'s columns)."""
    steps = split_steps(reasoning)
    final_answer = _final_answer(answer) if final is ... else final
    return ReasoningStats(
        tokens=tokens,
        characters=len(reasoning),
        steps=tuple(steps),
        self_check_marks=tuple(find_self_checks(reasoning, steps, phrases)),
        thinking_seconds=thinking_seconds,
        final_answer=final_answer,
        answer_first_at=answer_position(reasoning, final_answer),
        cut=cut,
    )


def reasoning_stats(
    result: Result, *, phrases: Sequence[tuple[str, bool]] | None = None, answer: Any = ...
) -> ReasoningStats:
    """``result``'s reasoning measured; ``answer=`` the value to look for in the reasoning
    (default: the final number of the answer, else its normalised text)."""
    thinking = None
    if result.reasoning_elapsed is not None and result.time_to_first_token is not None:
        thinking = max(0.0, result.reasoning_elapsed - result.time_to_first_token)
    stopped = result.finish_reason == "length" or result.interrupted or result.error is not None
    return stats_of(
        result.reasoning,
        result.answer,
        tokens=result.usage.reasoning_tokens,
        thinking_seconds=thinking,
        cut=bool(stopped and result.reasoning and not result.answer.strip()),
        final=answer,
        phrases=phrases,
    )


def add_reasoning_columns(frame: Any, names: Sequence[str], *, keep_reasoning: bool) -> None:
    """``map()``'s columns of the reasoning's structure (``names``: steps, self-checks,
    where the answer first appears, cut), computed from each row's reasoning and answer;
    None for rows with no reasoning kept or no answer (a failed row)."""
    values: list[list[Any]] = [[] for _ in names]
    for reasoning, answer, finish, error in zip(
        frame["reasoning"], frame["answer"], frame["finish_reason"], frame["error"], strict=True
    ):
        if not keep_reasoning or error or not isinstance(reasoning, str):
            row: tuple[Any, ...] = (None,) * len(names)
        else:
            answer = answer if isinstance(answer, str) else ""
            stats = stats_of(reasoning, answer, cut=finish == "length" and not answer.strip())
            row = (stats.step_count, stats.self_checks, stats.answer_first_at, stats.cut)
        for column, value in zip(values, row, strict=True):
            column.append(value)
    for name, column in zip(names, values, strict=True):
        frame[name] = column
