"""``map(..., samples=k)``: each row sent k times, as k rows of the plan.

Samples are an expansion of the rows, decided before anything is sent: row r becomes
rows (r, sample 0) ... (r, sample k-1), with the input's index label repeated and a
``sample`` column, so everything a run does for a row it does for a sample: one request
each, written to the run file as it ends (a second run sends only the samples not yet
answered), counted in the estimate and held to the budget.

What makes the samples differ: a seed each (``seed`` + i, from 0 when no ``seed=`` is
given; ``seed=[...]`` gives them all), or the user's temperatures (``temperature=[0.2,
0.7, 1.0]``, one per sample). A server that takes no seed (the DeepSeek API) still gets
k requests: the sample number is part of each run-file key, and each Result says the
seed was not sent (``options_not_sent``), as for any option.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ..core._errors import OptionError
from ._rows import Rows

__all__ = ["SAMPLE_COLUMN", "check_samples", "expand_rows", "sample_key", "sample_options"]

SAMPLE_COLUMN = "sample"
#: the most samples per row one call may ask for
MAX_SAMPLES = 100
_PER_SAMPLE = ("seed", "temperature")


def check_samples(samples: Any) -> int | None:
    """``samples=`` checked: None, or a whole number from 1 to :data:`MAX_SAMPLES`."""
    if samples is None:
        return None
    if not isinstance(samples, int) or isinstance(samples, bool) or not 1 <= samples <= MAX_SAMPLES:
        raise OptionError(
            f"samples={samples!r}: expected a whole number from 1 to {MAX_SAMPLES}.",
            option="samples",
        )
    return samples


def sample_options(options: Mapping[str, Any], samples: int) -> list[dict[str, Any]]:
    """The options of each sample: a distinct seed each, unless the user gave a list of
    temperatures (or of seeds), one per sample."""
    base = dict(options)
    lists = {
        name: list(base.pop(name))
        for name in _PER_SAMPLE
        if isinstance(base.get(name), (list, tuple))
    }
    for name, values in lists.items():
        if len(values) != samples:
            raise OptionError(
                f"{name}= has {len(values)} values for samples={samples}: give one per sample.",
                option=name,
            )
    if "seed" not in lists and "temperature" not in lists:
        first = base.pop("seed", 0)
        if not isinstance(first, int) or isinstance(first, bool):
            raise OptionError(f"seed={first!r}: expected a whole number.", option="seed")
        lists["seed"] = [first + i for i in range(samples)]
    return [{**base, **{name: values[i] for name, values in lists.items()}} for i in range(samples)]


def expand_rows(rows: Rows, samples: int) -> Rows:
    """Each row k times (sample 0 .. k-1 together), the index label repeated."""
    if SAMPLE_COLUMN in rows.columns:
        raise OptionError(
            f"samples=: the data already has a {SAMPLE_COLUMN!r} column; rename it first.",
            option="samples",
        )
    records = [{**record, SAMPLE_COLUMN: i} for record in rows.records for i in range(samples)]
    return Rows(records, rows.index.repeat(samples), [*rows.columns, SAMPLE_COLUMN])


def sample_key(key: str, sample: int) -> str:
    """A sample's run-file key: its request's, with the sample number (a server that
    takes no seed gets k identical requests, each still its own row)."""
    return f"{key}~sample{sample}"


def interleave(per_sample: Sequence[Sequence[Any]]) -> list[Any]:
    """[[row0 s0, row1 s0], [row0 s1, row1 s1]] -> [row0 s0, row0 s1, row1 s0, row1 s1]."""
    return [item for group in zip(*per_sample, strict=True) for item in group]
