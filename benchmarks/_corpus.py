"""Realistic R1 replies of an exact token count, for the benchmarks.

A reply is half reasoning (prose that works through a problem, with inline math) and
half answer (markdown: headings, lists, a table, fenced code, inline and display math),
as R1 writes them. Text is built deterministically from templates and cut to the exact
number of tokens the emulator's tokenizer (``deepseek_magic.emulator.tokenize``) counts,
so "a 20,000-token reply" means 20,000 streamed chunks at one token per chunk.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator

from deepseek_magic.emulator import Reply, tokenize

__all__ = ["answer_text", "make_reply", "reasoning_text", "reply_size"]

_REASONING = [
    (
        "Okay, let me think about this carefully. The user wants the variance of the sample, "
        "so I need $\\sigma^2 = \\frac{1}{n-1}\\sum_{i=1}^{n}(x_i - \\bar{x})^2$ rather than the "
        "population version. "
    ),
    (
        "Wait, maybe I should check the edge case where $n = 1$: then the denominator is zero, "
        "and pandas returns `NaN` for `df.var()` while NumPy's `np.var` uses `ddof=0` by default. "
    ),
    (
        "Hmm, the column {k} has missing values, so `dropna()` first, otherwise the mean is "
        "dragged by the fill value. Let me recount: {a} rows, {b} of them null, leaves {c}. "
    ),
    (
        "Alternatively, a rolling window of {k} days would smooth the series; the cost is "
        "$O(n \\cdot w)$ naively but $O(n)$ with a running sum, which matters for {a} rows. "
    ),
    (
        "Let me verify with a tiny example: for $x = (1, 2, 3)$ the mean is $2$ and the "
        "squared deviations sum to $2$, so the sample variance is $1$. That matches. "
    ),
    (
        "But the question also mentions outliers. A robust alternative is the median absolute "
        "deviation, $\\mathrm{MAD} = \\operatorname{median}(|x_i - \\tilde{x}|)$, scaled by "
        "$1.4826$ to be consistent with $\\sigma$ under normality. "
    ),
    (
        "\n\nSo the plan is: load the CSV, parse dates, group by month, compute the statistics, "
        "then plot. I should also mention the `groupby(...).agg(...)` pattern. "
    ),
]

_ANSWER = [
    (
        "## Step {k}: compute the statistics\n\n"
        "The sample variance uses Bessel's correction:\n\n"
        "$$\n\\operatorname{Var}(X) = \\frac{1}{n-1} \\sum_{i=1}^{n} (x_i - \\bar{x})^2\n$$\n\n"
    ),
    (
        "```python\nimport pandas as pd\n\n"
        'df = pd.read_csv("sales_{k}.csv", parse_dates=["date"])\n'
        'monthly = df.groupby(df["date"].dt.to_period("M"))["amount"].agg(["mean", "var", '
        '"count"])\n'
        "print(monthly.head({b}))\n```\n\n"
    ),
    (
        "| month | mean | variance | rows |\n|---|---:|---:|---:|\n"
        "| 2024-0{d} | {a}.5 | {b}.25 | {c} |\n| 2024-0{e} | {c}.1 | {a}.75 | {b} |\n\n"
    ),
    (
        "- **Missing values**: drop them with `dropna()` before aggregating ({b} rows here).\n"
        "- **Outliers**: prefer the MAD, $1.4826 \\cdot \\mathrm{MAD}$, when the tail is heavy.\n"
        "- **Units**: the variance is in squared units; report $\\sigma = "
        "\\sqrt{\\operatorname{Var}}$.\n\n"
    ),
    (
        "In short, with $n = {a}$ observations the standard error of the mean is "
        "$\\sigma / \\sqrt{n} \\approx {c}.{d}$, and \\(t = \\bar{x} / \\mathrm{SE}\\) tests the "
        "difference from zero. See \\[ \\mathrm{SE} = \\frac{s}{\\sqrt{n}} \\] for the sample "
        "version.\n\n"
    ),
]


def _pieces(templates: list[str]) -> Iterator[str]:
    for k in itertools.count(1):
        text = templates[(k - 1) % len(templates)]
        # Plain replacement, not str.format: the LaTeX braces must stay as they are.
        values = {
            "k": k,
            "a": 100 + 7 * k % 900,
            "b": 3 + k % 17,
            "c": 50 + 13 * k % 400,
            "d": 1 + k % 9,
            "e": 1 + (k + 1) % 9,
        }
        for name, value in values.items():
            text = text.replace("{" + name + "}", str(value))
        yield text


def _exact(pieces: Iterator[str], tokens: int) -> str:
    parts: list[str] = []
    size = 0
    for piece in pieces:  # about 4 characters a token: stop well past the count
        parts.append(piece)
        size += len(piece)
        if size > 6 * tokens + 200:
            break
    toks = tokenize("".join(parts))
    assert len(toks) >= tokens, "the templates are too short"
    text = "".join(toks[:tokens])
    # A prefix of tokens re-tokenizes to the same tokens: the emulator streams exactly ``tokens``.
    assert len(tokenize(text)) == tokens, (len(tokenize(text)), tokens)
    return text


def reasoning_text(tokens: int) -> str:
    return _exact(_pieces(_REASONING), tokens) if tokens else ""


def answer_text(tokens: int) -> str:
    return _exact(_pieces(_ANSWER), tokens) if tokens else ""


def make_reply(tokens: int) -> Reply:
    """A reply of ``tokens`` tokens in all: half reasoning, half answer."""
    half = tokens // 2
    return Reply(reasoning=reasoning_text(half), answer=answer_text(tokens - half))


def reply_size(reply: Reply) -> int:
    """Bytes of reasoning + answer text (UTF-8): what the memory figure is compared with."""
    return len(reply.reasoning.encode("utf-8")) + len(reply.answer.encode("utf-8"))
