"""What :func:`~deepseek_magic.grade` returns: :class:`Grades`, the graded rows and every
figure an evaluation reports from them (accuracy and its interval, cost and tokens per
correct answer, by column, the reasoning of right against wrong answers, majority vote
and pass@k over samples), its plots and its display (a summary line, the wrong rows
first, escaped HTML). :mod:`._grade` reads the inputs and grades the rows.
"""

from __future__ import annotations

import html
import math
from typing import Any

from ..core._errors import OptionError
from ._extract import EXTRACTORS, compare_values
from ._stats import majority, pass_at_k, wilson

__all__ = ["Grades", "missing"]


def missing(value: Any) -> bool:
    """None or NaN (pandas' empty cell)."""
    return value is None or (isinstance(value, float) and math.isnan(value))


def _fmt_pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1%}"


def _sum(frame: Any, column: str) -> float | None:
    if column not in frame.columns:
        return None
    values = [float(v) for v in frame[column] if not missing(v)]
    return sum(values) if values else None


class Grades:
    """What :func:`grade` found. ``.frame`` (the rows with ``expected``, ``extracted``,
    ``correct``, aligned with the input's index), ``.accuracy``, ``.interval`` (95%
    Wilson), ``.cost_per_correct``, ``.tokens_per_correct``, ``.by(column)``, ``.reasoning()``
    (the reasoning of the right answers against the wrong ones); with samples
    ``.votes``, ``.majority_accuracy``, ``.agreement``, ``.pass_at(k)``; the plots
    ``.plot_accuracy_by_tokens()``, ``.plot_length()``, ``.plot_cost_per_correct(by)``,
    ``.plot_agreement()``. Shown in a notebook as a summary line and the wrong rows first."""

    def __init__(
        self,
        frame: Any,
        *,
        extract: str,
        compare: str,
        comparer: Any,
        tolerance: float,
        judge: Any = None,
    ) -> None:
        self.frame = frame
        self.extract = extract
        self.compare = compare
        self._comparer = comparer
        self._tolerance = tolerance
        #: the judge's run (``.frame``: its own map() rows, ``.cost``), with compare="judge"
        self.judge = judge

    # -------------------------------------------------------------- the figures
    @property
    def n(self) -> int:
        return len(self.frame)

    @property
    def correct(self) -> int:
        return int(sum(bool(c) for c in self.frame["correct"]))

    @property
    def accuracy(self) -> float | None:
        """The share of rows graded correct (None for no rows)."""
        return self.correct / self.n if self.n else None

    @property
    def interval(self) -> tuple[float, float]:
        """The 95% Wilson score interval of the accuracy."""
        return wilson(self.correct, self.n)

    @property
    def errors(self) -> int:
        if "error" not in self.frame.columns:
            return 0
        return int(sum(1 for e in self.frame["error"] if not missing(e) and str(e)))

    @property
    def cost(self) -> float | None:
        """US dollars the graded rows cost (the judge's cost is apart: ``.judge.cost``)."""
        return _sum(self.frame, "cost")

    @property
    def tokens(self) -> int | None:
        if "completion_tokens" in self.frame.columns:
            total = _sum(self.frame, "completion_tokens")
        else:
            parts = [_sum(self.frame, c) for c in ("reasoning_tokens", "answer_tokens")]
            total = None if all(p is None for p in parts) else sum(p or 0 for p in parts)
        return None if total is None else int(total)

    @property
    def cost_per_correct(self) -> float | None:
        """US dollars per correct answer (None when none is correct or costs are unknown)."""
        cost = self.cost
        return cost / self.correct if cost is not None and self.correct else None

    @property
    def tokens_per_correct(self) -> float | None:
        """Completion tokens (reasoning and answer) per correct answer."""
        tokens = self.tokens
        return tokens / self.correct if tokens is not None and self.correct else None

    def by(self, column: str) -> Any:
        """Accuracy per value of ``column``: n, correct, accuracy, its interval, cost per
        correct answer (a DataFrame, one row per value, in order of appearance)."""
        import pandas as pd

        if column not in self.frame.columns:
            shown = ", ".join(map(str, self.frame.columns[:16]))
            raise OptionError(f"by({column!r}): not a column (columns: {shown}).", option="by")
        rows = []
        for value, part in self.frame.groupby(column, sort=False, dropna=False):
            n, ok = len(part), int(part["correct"].sum())
            low, high = wilson(ok, n)
            cost = _sum(part, "cost")
            rows.append(
                {
                    column: value,
                    "n": n,
                    "correct": ok,
                    "accuracy": ok / n if n else None,
                    "low": low,
                    "high": high,
                    "cost_per_correct": cost / ok if cost is not None and ok else None,
                }
            )
        return pd.DataFrame.from_records(rows).set_index(column)

    #: the reasoning's figures :meth:`reasoning` compares, where the frame has them
    REASONING = (
        "reasoning_tokens",
        "reasoning_steps",
        "self_checks",
        "answer_first_at",
        "reasoning_cut",
    )

    def reasoning(self) -> Any:
        """The reasoning of the correct answers against the wrong ones: the mean of each
        of :attr:`REASONING` the frame has (map() adds them), one row for each verdict."""
        import pandas as pd

        columns = [c for c in self.REASONING if c in self.frame.columns]
        if not columns:
            raise OptionError(
                "reasoning(): the rows have no reasoning figures (grade map()'s output).",
                option="frame",
            )
        values = self.frame[columns].apply(pd.to_numeric, errors="coerce")
        table = values.groupby(self.frame["correct"].to_numpy()).mean()
        table.index = pd.Index(["correct" if v else "wrong" for v in table.index], name="graded")
        table.insert(0, "n", self.frame.groupby(self.frame["correct"].to_numpy()).size().to_numpy())
        return table

    # -------------------------------------------------------------- samples
    @property
    def has_samples(self) -> bool:
        return "sample" in self.frame.columns

    def _groups(self) -> dict[Any, list[int]]:
        groups: dict[Any, list[int]] = {}
        for position, label in enumerate(self.frame.index):
            groups.setdefault(label, []).append(position)
        return groups

    @property
    def votes(self) -> Any:
        """One row per input row (its samples together): expected, the majority answer, its
        votes, samples, agreement (the majority's share), correct samples, and whether the
        majority is correct."""
        import pandas as pd

        extracted = list(self.frame["extracted"])
        correct = list(self.frame["correct"])
        expected = list(self.frame["expected"])
        rows, labels = [], []
        for label, positions in self._groups().items():
            answers = [extracted[p] for p in positions]
            winner, count, agreement = majority(answers)
            if winner is None:
                ok = False
            elif self._comparer is None:  # the judge: the verdict of a sample with that answer
                ok = next(correct[p] for p in positions if extracted[p] == winner)
            else:
                ok = bool(
                    compare_values(
                        self._comparer, winner, self._norm(expected[positions[0]]), self._tolerance
                    )
                )
            labels.append(label)
            rows.append(
                {
                    "expected": expected[positions[0]],
                    "majority": winner,
                    "votes": count,
                    "samples": len(positions),
                    "agreement": agreement,
                    "correct_samples": int(sum(bool(correct[p]) for p in positions)),
                    "majority_correct": ok,
                }
            )
        index = pd.Index(labels, name=self.frame.index.name)
        return pd.DataFrame.from_records(rows, index=index)

    def _norm(self, value: Any) -> Any:
        name = self.extract if self.extract in EXTRACTORS else None
        return EXTRACTORS[name][1](value) if name and not missing(value) else value

    @property
    def majority_accuracy(self) -> float | None:
        """The accuracy of each row's majority-vote answer (self-consistency)."""
        votes = self.votes
        return float(votes["majority_correct"].mean()) if len(votes) else None

    @property
    def agreement(self) -> float | None:
        """The mean share of a row's samples that give its majority answer."""
        votes = self.votes
        return float(votes["agreement"].mean()) if len(votes) else None

    def pass_at(self, k: int) -> float:
        """pass@k, Chen et al.'s unbiased estimator averaged over the rows; ``k`` at most
        the samples of the row with fewest."""
        votes = self.votes
        fewest = int(votes["samples"].min())
        if not isinstance(k, int) or isinstance(k, bool) or not 1 <= k <= fewest:
            raise OptionError(
                f"pass_at({k!r}): k must be a whole number from 1 to {fewest} (the samples taken).",
                option="k",
            )
        return sum(
            pass_at_k(int(n), int(c), k)
            for n, c in zip(votes["samples"], votes["correct_samples"], strict=True)
        ) / len(votes)

    @property
    def pass_at_k(self) -> dict[int, float]:
        """pass@k for every k from 1 to the samples taken."""
        fewest = int(self.votes["samples"].min()) if self.n else 0
        return {k: self.pass_at(k) for k in range(1, fewest + 1)}

    # -------------------------------------------------------------- plots
    def plot_accuracy_by_tokens(self, bins: int = 5) -> Any:
        from ._plots import accuracy_by_tokens

        return accuracy_by_tokens(self.frame, bins=bins)

    def plot_length(self) -> Any:
        from ._plots import length_by_correct

        return length_by_correct(self.frame)

    def plot_cost_per_correct(self, by: str = "model") -> Any:
        from ._plots import cost_per_correct

        return cost_per_correct(self.frame, by=by)

    def plot_agreement(self) -> Any:
        from ._plots import agreement_vs_accuracy

        return agreement_vs_accuracy(self.votes)

    # -------------------------------------------------------------- display
    def summary(self) -> str:
        """The one line: accuracy, interval, what was compared, cost and tokens per correct."""
        low, high = self.interval
        parts = [
            f"accuracy {_fmt_pct(self.accuracy)} ({self.correct} of {self.n}), "
            f"95% CI {low:.1%}–{high:.1%}",
            f"extract {self.extract}, compare {self.compare}",
        ]
        if self.cost_per_correct is not None:
            parts.append(f"${self.cost_per_correct:.6f} per correct")
        if self.tokens_per_correct is not None:
            parts.append(f"{self.tokens_per_correct:,.0f} tokens per correct")
        if self.has_samples and self.n:
            passes = self.pass_at_k
            shown = ", ".join(
                f"pass@{k} {v:.1%}"
                for k, v in passes.items()
                if k in (1, 2, 4, 5, 8, 10, max(passes))
            )
            parts.append(
                f"majority vote {_fmt_pct(self.majority_accuracy)}, agreement "
                f"{self.agreement or 0:.2f}, {shown}"
            )
        if self.errors:
            parts.append(
                f"{self.errors} {'row' if self.errors == 1 else 'rows'} failed (graded wrong)"
            )
        if self.judge is not None and self.judge.cost is not None:
            parts.append(f"judge ${self.judge.cost:.6f} (apart)")
        return " · ".join(parts)

    def _shown_rows(self, limit: int) -> Any:
        frame = self.frame
        order = sorted(range(len(frame)), key=lambda i: bool(frame["correct"].iloc[i]))
        return frame.iloc[order[:limit]]

    def __repr__(self) -> str:
        lines = [f"Grades: {self.summary()}"]
        wrong = self.frame[~self.frame["correct"].astype(bool)]
        for label, row in wrong.head(10).iterrows():
            lines.append(
                f"  ✗ {label!r}: expected {row['expected']!r}, extracted {row['extracted']!r}"
            )
        if len(wrong) > 10:
            lines.append(f"  … and {len(wrong) - 10} more wrong rows (.frame)")
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        esc = html.escape
        head = "".join(
            f"<th style='text-align:left;padding:2px 8px'>{esc(h)}</th>"
            for h in ("row", "expected", "extracted", "", "answer (end)")
        )
        body = []
        for label, row in self._shown_rows(20).iterrows():
            ok = bool(row["correct"])
            answer = str(row["answer"] or row.get("error") or "")
            tail = answer if len(answer) <= 160 else "…" + answer[-160:]
            mark = (
                "<span style='color:#1a7f37'>✓</span>"
                if ok
                else "<span style='color:#cf222e'>✗</span>"
            )
            cells = (
                esc(str(label)),
                esc(repr(row["expected"])),
                esc(repr(row["extracted"])),
                mark,
                esc(tail),
            )
            body.append(
                "<tr>"
                + "".join(f"<td style='padding:2px 8px;vertical-align:top'>{c}</td>" for c in cells)
                + "</tr>"
            )
        more = len(self.frame) - min(20, len(self.frame))
        foot = (
            f"<div style='opacity:.7'>… {more} more rows in <code>.frame</code></div>"
            if more
            else ""
        )
        return (
            "<div class='deepseek-grades'>"
            f"<div style='font-weight:600;margin-bottom:4px'>{esc(self.summary())}</div>"
            f"<table style='border-collapse:collapse'><thead><tr>{head}</tr></thead>"
            f"<tbody>{''.join(body)}</tbody></table>{foot}</div>"
        )
