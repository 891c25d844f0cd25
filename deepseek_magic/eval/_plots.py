"""The evaluation's plots, each one call returning a matplotlib ``Figure`` with a title and
labelled axes (matplotlib is imported only when one is drawn):

* :func:`accuracy_by_tokens`: accuracy against reasoning tokens, binned by quantile,
  each bin's 95% Wilson interval as an error bar;
* :func:`length_by_correct`: reasoning length of the correct and the wrong answers;
* :func:`cost_per_correct`: US dollars per correct answer by a column (model, effort);
* :func:`agreement_vs_accuracy`: with samples, each row's agreement against whether its
  majority answer is right (binned, with intervals).

Each takes ``Grades.frame`` (or any DataFrame with ``correct`` and the columns named);
``Grades`` has them as methods.
"""

from __future__ import annotations

from typing import Any

from ..core._errors import OptionError
from ._stats import wilson

__all__ = ["accuracy_by_tokens", "agreement_vs_accuracy", "cost_per_correct", "length_by_correct"]


def _figure(title: str, xlabel: str, ylabel: str) -> tuple[Any, Any]:
    """A matplotlib Figure outside pyplot (so a notebook shows it once, as the cell's
    value) that draws itself as PNG for IPython's display."""
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise ImportError("The plots need matplotlib: pip install matplotlib") from None

    class ShownFigure(Figure):
        def _repr_png_(self) -> bytes:
            import io

            buffer = io.BytesIO()
            self.savefig(buffer, format="png", dpi=100)
            return buffer.getvalue()

    figure = ShownFigure(figsize=(6.4, 3.8), layout="constrained")
    axes = figure.add_subplot()
    axes.set_title(title)
    axes.set_xlabel(xlabel)
    axes.set_ylabel(ylabel)
    return figure, axes


def _need(frame: Any, *columns: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise OptionError(f"The plot needs the columns {missing}.", option="frame")


def _binned(frame: Any, column: str, bins: int) -> list[tuple[float, int, int]]:
    """(centre of the bin, rows, correct) for quantile bins of ``column``."""
    import pandas as pd

    part = frame[[column, "correct"]].dropna()
    if part.empty:
        return []
    cut = pd.qcut(
        part[column].astype(float), q=min(bins, part[column].nunique()), duplicates="drop"
    )
    out = []
    for _, group in part.groupby(cut, observed=True):
        out.append((float(group[column].mean()), len(group), int(group["correct"].sum())))
    return out


def _errorbars(axes: Any, points: list[tuple[float, int, int]], label: str) -> None:
    xs = [x for x, _, _ in points]
    ys = [c / n for _, n, c in points]
    lows = [y - wilson(c, n)[0] for y, (_, n, c) in zip(ys, points, strict=True)]
    highs = [wilson(c, n)[1] - y for y, (_, n, c) in zip(ys, points, strict=True)]
    axes.errorbar(xs, ys, yerr=[lows, highs], marker="o", capsize=4, label=label)
    axes.set_ylim(-0.05, 1.05)


def accuracy_by_tokens(frame: Any, *, bins: int = 5, column: str = "reasoning_tokens") -> Any:
    """Accuracy against reasoning tokens (quantile bins, 95% Wilson intervals)."""
    _need(frame, column, "correct")
    figure, axes = _figure(
        "Accuracy against reasoning length", f"{column.replace('_', ' ')} (bin mean)", "accuracy"
    )
    _errorbars(axes, _binned(frame, column, bins), "accuracy, 95% interval")
    axes.legend(loc="lower left")
    return figure


def length_by_correct(frame: Any, *, column: str = "reasoning_tokens") -> Any:
    """The reasoning length of the correct and of the wrong answers, side by side."""
    _need(frame, column, "correct")
    figure, axes = _figure(
        "Reasoning length, correct and wrong", "graded", column.replace("_", " ")
    )
    groups = []
    labels = []
    for value, label in ((True, "correct"), (False, "wrong")):
        data = frame.loc[frame["correct"] == value, column].dropna().astype(float).tolist()
        groups.append(data or [float("nan")])
        labels.append(f"{label} (n={len(data)})")
    axes.boxplot(groups)
    axes.set_xticks([1, 2], labels)
    return figure


def cost_per_correct(frame: Any, *, by: str = "model") -> Any:
    """US dollars per correct answer for each value of ``by`` (a bar each)."""
    _need(frame, by, "cost", "correct")
    figure, axes = _figure(f"Cost per correct answer by {by}", by, "US dollars per correct answer")
    names, values = [], []
    for value, part in frame.groupby(by, sort=False):
        correct = int(part["correct"].sum())
        cost = float(part["cost"].fillna(0).sum())
        names.append(str(value))
        values.append(cost / correct if correct else float("nan"))
    axes.bar(names, values)
    return figure


def agreement_vs_accuracy(votes: Any, *, bins: int = 4) -> Any:
    """With samples: how often the majority is right, against how much the samples agree
    (``Grades.votes``; binned by agreement, 95% intervals)."""
    _need(votes, "agreement", "majority_correct")
    frame = votes.rename(columns={"majority_correct": "correct"})
    figure, axes = _figure(
        "Agreement of the samples and accuracy of the majority",
        "agreement (share of samples giving the majority answer)",
        "majority-vote accuracy",
    )
    _errorbars(axes, _binned(frame, "agreement", bins), "majority vote, 95% interval")
    axes.set_xlim(0, 1.05)
    axes.legend(loc="lower right")
    return figure
