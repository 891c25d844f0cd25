"""The reasoning explorer: ``Result.explore()``, ``%deepseek_explore`` and
``deepseek_magic.compare(r1, r2)``.

One Result's reasoning as numbered steps (:func:`._reasoning.split_steps`), each with
the second it arrived (from ``Result.reasoning_times``, the stream's timestamps), its
self-checks marked (⟲, amber) and the place the final answer first appears marked
(✓, green); above them a strip of time, one segment per step, as wide as the step took;
beside them the answer and the figures. :func:`compare` puts two runs side by side,
step *n* beside step *n*.

The HTML is static (no script, no ``<style>``: it reads the same in a saved notebook,
nbconvert and GitHub's renderer) and safe: the reasoning's text is escaped and kept out
of MathJax's reach (the ignore class), the only markup in it ours; the answer is
rendered as the reply view renders it (``_markdown.markdown_to_html``: no raw HTML, safe
links, math for MathJax). Colours are translucent over the page's own background and the
text colour is inherited, so the same HTML reads in light and dark themes (checked by eye
in Chromium on a white and a near-black page). In a terminal, ``repr()`` is plain text.
"""

from __future__ import annotations

import html
import textwrap
from bisect import bisect_right
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..view._markdown import IGNORE_MATH_CLASS, markdown_to_html
from ._reasoning import ReasoningStats, Step, reasoning_stats

if TYPE_CHECKING:
    from ..core._result import Result

__all__ = ["Comparison", "Exploration", "compare", "explore", "step_times"]

_AMBER = "rgba(214,150,0,.28)"
_GREEN = "rgba(40,167,69,.28)"
_SHADE = "rgba(127,127,127,.10)"
_LINE = "rgba(127,127,127,.35)"
_ESC = html.escape


def step_times(result: Result, steps: list[Step]) -> list[float | None]:
    """The second (since sending) each step began to arrive, or None without timestamps."""
    marks = result.reasoning_times
    if not marks:
        return [None] * len(steps)
    chars = [c for c, _ in marks]
    out: list[float | None] = []
    for step in steps:
        i = bisect_right(chars, step.start)
        out.append(marks[min(i, len(marks) - 1)][1])
    return out


def _end_of_thinking(result: Result) -> float | None:
    if result.reasoning_elapsed is not None:
        return result.reasoning_elapsed
    if result.reasoning_times:
        return result.reasoning_times[-1][1]
    return None


def _answer_offset(result: Result, stats: ReasoningStats) -> int | None:
    if stats.answer_first_at is None or not result.reasoning:
        return None
    return round(stats.answer_first_at * len(result.reasoning))


@dataclass
class _StepView:
    step: Step
    time: float | None
    checks: list[tuple[int, int]]  # (start, end) in the reasoning
    answer_at: int | None  # offset in the reasoning, when this step holds it


def _views(result: Result, stats: ReasoningStats) -> list[_StepView]:
    steps = list(stats.steps)
    times = step_times(result, steps)
    answer_at = _answer_offset(result, stats)
    views = []
    for step, time in zip(steps, times, strict=True):
        checks = [
            (c.offset, c.offset + len(c.phrase))
            for c in stats.self_check_marks
            if c.step == step.index
        ]
        here = answer_at if answer_at is not None and step.start <= answer_at < step.end else None
        views.append(_StepView(step, time, checks, here))
    return views


def _marked_text(reasoning: str, view: _StepView) -> str:
    """The step's text, escaped, with our spans around its self-checks and the answer."""
    cuts: list[tuple[int, int, str]] = [(s, e, "check") for s, e in view.checks]
    if view.answer_at is not None:
        end = view.answer_at + 1
        while (
            end < view.step.end and not reasoning[end].isspace() and reasoning[end] not in ",.;:)"
        ):
            end += 1
        cuts.append((view.answer_at, end, "answer"))
    cuts.sort()
    out, at = [], view.step.start
    for start, end, kind in cuts:
        if start < at:
            continue
        out.append(_ESC(reasoning[at:start]))
        colour, sign, title = (
            (_AMBER, "⟲ ", "self-check")
            if kind == "check"
            else (_GREEN, "✓ ", "the final answer first appears here")
        )
        out.append(
            f"<span class='dm-{'check' if kind == 'check' else 'first-answer'}' "
            f"title='{title}' style='background:{colour};"
            f"border-radius:3px;padding:0 2px'>{sign}{_ESC(reasoning[start:end])}</span>"
        )
        at = end
    out.append(_ESC(reasoning[at : view.step.end]))
    return "".join(out)


def _strip(views: list[_StepView], end: float | None) -> str:
    """The time strip: one segment per step, as wide as the time until the next began."""
    times = [v.time for v in views]
    if not views or any(t is None for t in times) or end is None:
        return (
            "<div class='dm-strip' style='opacity:.7;font-size:90%'>no stream timestamps "
            "(a replayed or non-streamed reply): no time strip</div>"
        )
    start = times[0] or 0.0
    total = max(end - start, 1e-9)
    cells = []
    for i, view in enumerate(views):
        begin = times[i] or 0.0
        finish = times[i + 1] if i + 1 < len(views) else end
        width = max(0.0, (finish or begin) - begin) / total * 100
        colour = _GREEN if view.answer_at is not None else _AMBER if view.checks else _SHADE
        cells.append(
            f"<span title='step {i + 1}: {begin:.1f} s' style='display:inline-block;height:14px;"
            f"width:{width:.2f}%;background:{colour};border-right:1px solid {_LINE}'></span>"
        )
    return (
        "<div class='dm-strip' style='margin:4px 0 8px 0'>"
        f"<div style='font-size:85%;opacity:.75'>time: {start:.1f} s → {end:.1f} s "
        "(each segment one step; amber: a self-check, green: the answer appears)</div>"
        f"<div style='white-space:nowrap;overflow:hidden;border:1px solid {_LINE}'>"
        + "".join(cells)
        + "</div></div>"
    )


def _headline(stats: ReasoningStats) -> str:
    steps, checks = stats.step_count, stats.self_checks
    parts = [
        f"{steps} step{'' if steps == 1 else 's'}",
        f"{checks} self-check{'' if checks == 1 else 's'}",
    ]
    if stats.tokens is not None:
        parts.append(f"{stats.tokens:,} reasoning tokens")
    parts.append(f"{stats.characters:,} characters")
    if stats.thinking_seconds is not None:
        parts.append(f"thought {stats.thinking_seconds:.1f} s")
    if stats.answer_first_at is not None:
        parts.append(
            f"the answer ({stats.final_answer}) first appears {stats.answer_first_at:.0%} through"
        )
    elif stats.final_answer is not None:
        parts.append("the answer does not appear in the reasoning")
    if stats.cut:
        parts.append("cut off before the answer")
    return ", ".join(parts)


def _steps_html(result: Result, views: list[_StepView]) -> str:
    rows = []
    for view in views:
        when = "" if view.time is None else f"{view.time:.1f} s"
        rows.append(
            f"<div class='dm-step' style='display:flex;gap:8px;padding:4px 6px;margin:2px 0;"
            f"background:{_SHADE};border-radius:4px'>"
            f"<div style='min-width:4.5em;opacity:.75;font-variant-numeric:tabular-nums'>"
            f"{view.step.index + 1}. <small>{when}</small></div>"
            f"<div class='{IGNORE_MATH_CLASS}' style='white-space:pre-wrap;flex:1'>"
            f"{_marked_text(result.reasoning, view)}</div></div>"
        )
    return "".join(rows) or "<div style='opacity:.7'>(no reasoning)</div>"


def _answer_html(result: Result) -> str:
    """The answer as the reply view draws it: markdown rendered inert (no raw HTML, safe
    links only, math kept for MathJax), by the renderer's own function."""
    body = markdown_to_html(result.answer) if result.answer else "<p>(no answer)</p>"
    return (
        f"<div style='font-weight:600;margin-bottom:4px'>Answer</div>"
        f"<div class='dm-answer' style='padding:0 6px;"
        f"border:1px solid {_LINE};border-radius:4px'>{body}</div>"
    )


class Exploration:
    """One Result's reasoning, explored (shown as HTML in a notebook, text in a terminal)."""

    def __init__(self, result: Result) -> None:
        self.result = result
        self.stats = reasoning_stats(result)
        self.views = _views(result, self.stats)

    @property
    def steps(self) -> list[Step]:
        return list(self.stats.steps)

    def _repr_html_(self) -> str:
        return (
            "<div class='dm-explore' style='font-size:13px;line-height:1.45'>"
            f"<div style='font-weight:600'>{_ESC(_headline(self.stats))}</div>"
            f"{_strip(self.views, _end_of_thinking(self.result))}"
            "<div style='display:flex;gap:16px;align-items:flex-start;flex-wrap:wrap'>"
            f"<div style='flex:3;min-width:320px'>{_steps_html(self.result, self.views)}</div>"
            f"<div style='flex:2;min-width:220px'>{_answer_html(self.result)}</div>"
            "</div></div>"
        )

    def text(self, width: int = 100) -> str:
        """The plain-text form: the headline, the numbered steps (⟲ a self-check, ✓ the
        step where the answer first appears), the answer."""
        lines = [f"Reasoning: {_headline(self.stats)}"]
        for view in self.views:
            when = "       " if view.time is None else f"{view.time:5.1f} s"
            flags = ("⟲" if view.checks else " ") + ("✓" if view.answer_at is not None else " ")
            head = f"{view.step.index + 1:>3}. {when} {flags} "
            body = textwrap.wrap(" ".join(view.step.text.split()), max(20, width - len(head))) or [
                ""
            ]
            lines.append(head + body[0])
            lines.extend(" " * len(head) + more for more in body[1:])
        lines.append("The answer: " + (self.result.answer or "(no answer)"))
        return "\n".join(lines)

    def __repr__(self) -> str:
        return self.text()


def explore(result: Result) -> Exploration:
    """The explorer of ``result`` (``Result.explore()``)."""
    return Exploration(result)


class Comparison:
    """Two Results' reasoning side by side, step n beside step n."""

    def __init__(self, first: Result, second: Result) -> None:
        self.left, self.right = Exploration(first), Exploration(second)

    def _repr_html_(self) -> str:
        left, right = self.left, self.right
        rows = []
        for i in range(max(len(left.views), len(right.views))):
            cells = []
            for side in (left, right):
                if i < len(side.views):
                    view = side.views[i]
                    when = "" if view.time is None else f" <small>{view.time:.1f} s</small>"
                    cells.append(
                        "<td style='vertical-align:top;padding:4px 6px;"
                        f"border-top:1px solid {_LINE}'>"
                        f"<div style='opacity:.75'>{i + 1}.{when}</div>"
                        f"<div class='{IGNORE_MATH_CLASS}' style='white-space:pre-wrap'>"
                        f"{_marked_text(side.result.reasoning, view)}</div></td>"
                    )
                else:
                    cells.append(f"<td style='border-top:1px solid {_LINE}'></td>")
            rows.append("<tr>" + "".join(cells) + "</tr>")
        heads = "".join(
            f"<th style='text-align:left;vertical-align:top;padding:4px 6px;width:50%'>"
            f"{_ESC(_headline(side.stats))}"
            f"{_strip(side.views, _end_of_thinking(side.result))}</th>"
            for side in (left, right)
        )
        answers = "".join(
            f"<td style='vertical-align:top;padding:4px 6px'>{_answer_html(side.result)}</td>"
            for side in (left, right)
        )
        return (
            "<div class='dm-compare' style='font-size:13px;line-height:1.45'>"
            "<table style='border-collapse:collapse;width:100%;table-layout:fixed'>"
            f"<thead><tr>{heads}</tr></thead><tbody>{''.join(rows)}<tr>{answers}</tr></tbody>"
            "</table></div>"
        )

    def text(self, width: int = 100) -> str:
        half = max(24, (width - 3) // 2)
        lines = [
            f"A: {_headline(self.left.stats)}",
            f"B: {_headline(self.right.stats)}",
        ]
        for i in range(max(len(self.left.views), len(self.right.views))):
            sides = []
            for side in (self.left, self.right):
                text = side.views[i].step.text if i < len(side.views) else ""
                sides.append(textwrap.wrap(" ".join(text.split()), half - 5) or [""])
            lines.append(f"--- step {i + 1}")
            for j in range(max(len(sides[0]), len(sides[1]))):
                a = sides[0][j] if j < len(sides[0]) else ""
                b = sides[1][j] if j < len(sides[1]) else ""
                lines.append(f"{a:<{half}} | {b}")
        lines.append(f"A answer: {self.left.result.answer or '(no answer)'}")
        lines.append(f"B answer: {self.right.result.answer or '(no answer)'}")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return self.text()


def compare(first: Result, second: Result) -> Comparison:
    """``deepseek_magic.compare(r1, r2)``: two runs' reasoning side by side (the public
    name checks that both are Results)."""
    return Comparison(first, second)
