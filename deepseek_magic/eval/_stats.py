"""The statistics of an evaluation, pure functions of counts (no pandas):

* :func:`wilson`: the Wilson score interval of a proportion (95% by default), which stays
  inside [0, 1] and is honest for small n and for accuracies near 0 or 1, where the
  normal approximation is not (Wilson 1927; Brown, Cai and DasGupta 2001);
* :func:`pass_at_k`: the unbiased estimator of pass@k from n samples of which c are
  correct, ``1 - C(n-c, k) / C(n, k)`` (Chen et al. 2021, "Evaluating Large Language
  Models Trained on Code", eq. 1), computed as their numerically stable product;
* :func:`majority`: the most common answer of a row's samples, its votes and agreement.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Hashable, Sequence
from typing import Any

__all__ = ["Z95", "majority", "pass_at_k", "wilson"]

#: the normal quantile of a two-sided 95% interval
Z95 = 1.959963984540054


def wilson(correct: int, n: int, z: float = Z95) -> tuple[float, float]:
    """The Wilson score interval ``(low, high)`` of ``correct`` successes out of ``n``;
    ``(0.0, 1.0)`` when ``n`` is 0 (nothing is known)."""
    if n <= 0:
        return (0.0, 1.0)
    if not 0 <= correct <= n:
        raise ValueError(f"correct={correct} is not between 0 and n={n}")
    p = correct / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return (max(0.0, centre - half), min(1.0, centre + half))


def pass_at_k(n: int, c: int, k: int) -> float:
    """The probability that at least one of ``k`` samples drawn without replacement from
    ``n`` (``c`` of them correct) is correct: Chen et al.'s unbiased estimator."""
    if not 1 <= k <= n:
        raise ValueError(f"pass@k needs 1 <= k <= n (k={k}, n={n})")
    if n - c < k:
        return 1.0
    return 1.0 - math.prod(1.0 - k / i for i in range(n - c + 1, n + 1))


def _key(value: Any) -> Hashable:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    try:
        hash(value)
    except TypeError:
        return repr(value)
    return value  # type: ignore[no-any-return]


def majority(answers: Sequence[Any]) -> tuple[Any, int, float]:
    """``(answer, votes, agreement)`` over a row's samples: the most common non-None answer
    (a tie goes to the one seen first), its votes, and its share of all the samples
    (None answers count in the share: a sample with no answer agrees with nobody)."""
    if not answers:
        return (None, 0, 0.0)
    counts: Counter[Hashable] = Counter()
    first: dict[Hashable, Any] = {}
    for value in answers:
        if value is None:
            continue
        key = _key(value)
        counts[key] += 1
        first.setdefault(key, value)
    if not counts:
        return (None, 0, 0.0)
    best = max(counts.values())
    winner = next(k for k in first if counts[k] == best)
    return (first[winner], best, best / len(answers))
