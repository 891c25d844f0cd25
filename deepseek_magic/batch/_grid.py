"""The grid of a sweep and of the panel's Compare: one parser, one limit.

A grid is option name -> values; its points are every combination of the values. Both
surfaces read it here, and nothing else parses one:

* the magic: ``%%deepseek --sweep temperature=0.2,0.6 --sweep seed=1,2`` (one axis per
  item, :func:`parse_grid` of the list);
* the panel's compare box: ``temperature = 0.2, 0.6; seed = 1, 2`` (axes separated by
  ``;``, :func:`parse_grid` of the text);
* Python: ``deepseek_magic.sweep(prompt, {"temperature": [0.2, 0.6]})`` (a mapping,
  :func:`normalize_grid`), or the same text as the compare box.

Names are written as flags or as keywords, either way (``top-p``, ``top p``, ``--top-p``,
``Top_P``); a deprecated alias is swept as its target (``max-tokens`` as
``max_completion_tokens``); ``model`` may be swept too; ``tools`` may not (they are
functions, not values). Every value is checked by its option in the option table
(``Option.coerce``), so a bad one is a one-line :class:`OptionError` naming the option,
raised before anything is sent.
"""

from __future__ import annotations

import difflib
import itertools
import math
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

from ..core._errors import OptionError
from ..core._options import OPTIONS, Option

__all__ = ["MAX_POINTS", "grid_points", "normalize_grid", "parse_grid", "point_label"]

#: The most points one sweep or Compare may have: a larger grid is refused before
#: anything is sent. A grid is a product, so one more axis multiplies it (a slip such as
#: ``seed=1..50`` beside two temperatures is already 100 paid requests), and a sweep is
#: made to be read side by side, which stops working well before 100 columns. A sweep
#: also keeps no run file: an interrupt keeps the rows done, but running it again sends
#: every point again. Larger runs are ``map()``'s job (a run file that sends only what is
#: not yet answered, a cost estimate, a budget, a rate-aware gate): many runs of one
#: setting are ``map([prompt], samples=k)`` (a seed each, or ``temperature=[...]``).
MAX_POINTS = 100


class _Surface(NamedTuple):
    """How errors read on one surface (what the user typed the grid into)."""

    prefix: str  # "--sweep" / "Compare:"
    verb: str  # "swept" / "compared"
    tools: str  # where tools are given instead
    form: str  # the syntax, as this surface writes it
    example: str


_SURFACES = {
    "sweep": _Surface(
        "--sweep", "swept", "give them with --tools", "NAME=V1,V2", "--sweep temperature=0.2,0.6"
    ),
    "compare": _Surface(
        "Compare:",
        "compared",
        "pick them in the tool picker",
        "NAME = V1, V2",
        "temperature = 0.2, 0.6, 1.0",
    ),
}


def _words(surface: str) -> _Surface:
    try:
        return _SURFACES[surface]
    except KeyError:
        raise ValueError(f"surface={surface!r}: expected one of {sorted(_SURFACES)}") from None


def _key(name: str) -> str:
    """``--Top-P`` / ``top p`` / ``top_p`` -> ``top_p``."""
    return name.strip().lstrip("-").strip().replace("-", "_").replace(" ", "_").lower()


def normalize_grid(
    grid: Mapping[str, Any], *, options: Sequence[Option] = OPTIONS, surface: str = "sweep"
) -> dict[str, list[Any]]:
    """Check a grid (option name -> values) and return it with canonical names and values.

    A single value counts as a list of one. ``options`` is the option table to read names
    and values from (the panel passes its own). Raises :class:`OptionError` (one line) for
    an unknown name, a value its option refuses, a name given twice, an empty grid, and a
    grid of more than :data:`MAX_POINTS` points.
    """
    prefix, verb, tools_hint, _, example = _words(surface)
    by_name = {o.name: o for o in options}
    out: dict[str, list[Any]] = {}
    for raw_name, raw_values in grid.items():
        shown = str(raw_name).strip()
        name = _key(shown)
        values = list(raw_values) if isinstance(raw_values, (list, tuple, range)) else [raw_values]
        if not values:
            raise OptionError(f"{prefix} {shown}: no values given; write {example}.", option=name)
        if name == "model":
            if not all(isinstance(v, str) and v.strip() for v in values):
                raise OptionError(
                    f"{prefix} model: give model ids, e.g. "
                    "model=deepseek-r1,deepseek/deepseek-r1-0528.",
                    option="model",
                )
            canonical = [v.strip() for v in values]
        else:
            option = by_name.get(name)
            if option is None:
                close = difflib.get_close_matches(name, [*by_name, "model"], n=1)
                hint = f" Did you mean {close[0]}?" if close else ""
                raise OptionError(
                    f"{prefix} {shown}: not an option that can be {verb}.{hint}", option=name
                )
            if option.kind == "tools":
                raise OptionError(
                    f"{prefix} tools: tools cannot be {verb}; {tools_hint}.", option=name
                )
            canonical = [option.coerce(v) for v in values]
            name = option.alias_of or name  # max_tokens is swept as max_completion_tokens
        if name in out:
            raise OptionError(
                f"{prefix} {shown}: given twice; list all its values once.", option=name
            )
        out[name] = canonical
    if not out:
        raise OptionError(
            f"{prefix} no options given; write which option to vary, e.g. {example}.",
            option=surface,
        )
    size = math.prod(len(values) for values in out.values())
    if size > MAX_POINTS:
        raise OptionError(
            f"{prefix} {size} points is more than {MAX_POINTS}; split the grid, or run many "
            "runs of one setting as map([prompt], samples=k) (resumable, with a budget).",
            option=surface,
        )
    return out


def parse_grid(
    spec: str | Sequence[str], *, options: Sequence[Option] = OPTIONS, surface: str = "sweep"
) -> dict[str, list[Any]]:
    """The grid written as text -> a checked grid (see :func:`normalize_grid`).

    ``spec`` is the compare box's text (``"temperature = 0.2, 1.0; seed = 1, 2"``, axes
    separated by ``;``, blank ones skipped) or the magic's ``--sweep`` items (a list, one
    axis each: ``["temperature=0.2,1.0", "seed=1,2"]``, so a stop sequence may hold a
    ``;``). An axis is ``NAME=V1,V2,...`` (spaces anywhere); an empty value is refused.
    """
    prefix, _, _, form, example = _words(surface)
    items = [p for p in spec.split(";") if p.strip()] if isinstance(spec, str) else list(spec)
    raw: dict[str, list[str]] = {}
    for item in items:
        name, sep, text = item.partition("=")
        if not sep or not name.strip():
            raise OptionError(
                f"{prefix} {item.strip()}: write {form} (e.g. {example}).", option=surface
            )
        values = [v.strip() for v in text.split(",")]
        if any(v == "" for v in values):
            raise OptionError(
                f"{prefix} {item.strip()}: an empty value; write {form} with no empty items.",
                option=surface,
            )
        key = _key(name)
        if key in (_key(k) for k in raw):
            raise OptionError(
                f"{prefix} {name.strip()}: given twice; list all its values once.", option=surface
            )
        raw[name.strip()] = values
    return normalize_grid(raw, options=options, surface=surface)


def grid_points(grid: Mapping[str, Sequence[Any]]) -> list[dict[str, Any]]:
    """Every combination of the grid's values, the last name varying fastest."""
    names = list(grid)
    return [
        dict(zip(names, combo, strict=True))
        for combo in itertools.product(*(grid[n] for n in names))
    ]


def point_label(point: Mapping[str, Any]) -> str:
    """``{"temperature": 0.2, "stop": ("a", "b")}`` -> ``"temperature = 0.2, stop = a | b"``."""
    return ", ".join(
        f"{name} = {' | '.join(v) if isinstance(v, tuple) else v}" for name, v in point.items()
    )
