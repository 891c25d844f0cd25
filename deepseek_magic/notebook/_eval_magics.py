"""What ``%deepseek_grade`` and ``%deepseek_explore`` do once their line is parsed
(the declarations are in :mod:`._helper_magics`, with the other helper magics): look the
names up in the notebook, call :func:`~deepseek_magic.grade` or the explorer, bind
``-o NAME``. A name that is not in the notebook is one ``UsageError``.
"""

from __future__ import annotations

import argparse
from collections.abc import MutableMapping
from typing import Any

from IPython.core.error import UsageError

from ..core._errors import DeepSeekError
from ._display import LAST_NAME, bind

__all__ = ["explore_magic", "grade_magic"]


def _lookup(namespace: MutableMapping[str, Any], name: str | None, magic: str) -> Any:
    key = name or LAST_NAME
    if key not in namespace:
        hint = f"{name!r} is not defined in the notebook" if name else "there is no result yet"
        raise UsageError(f"%{magic}: {hint}.")
    return namespace[key]


def grade_magic(namespace: MutableMapping[str, Any], args: argparse.Namespace) -> Any:
    """``%deepseek_grade OUT --expected COLUMN [--extract NAME] [--compare NAME]``."""
    from ..eval._grade import grade

    results = _lookup(namespace, args.results, "deepseek_grade")
    kwargs: dict[str, Any] = {"extract": args.extract}
    if args.compare:
        kwargs["compare"] = args.compare
    if args.tolerance is not None:
        kwargs["tolerance"] = args.tolerance
    if args.rubric:
        kwargs["rubric"] = args.rubric
    try:
        grades = grade(results, args.expected, **kwargs)
    except DeepSeekError as exc:
        raise UsageError(f"%deepseek_grade: {exc}") from None
    if args.output:
        try:
            bind(namespace, args.output, grades, last=False)
        except ValueError as exc:
            raise UsageError(f"%deepseek_grade: {exc}") from None
    return grades


def explore_magic(namespace: MutableMapping[str, Any], args: argparse.Namespace) -> Any:
    """``%deepseek_explore [R] [--compare R2]``: the explorer, or two runs side by side."""
    from ..core._result import Result
    from ..eval._explore import compare, explore

    first = _lookup(namespace, args.result, "deepseek_explore")
    second = _lookup(namespace, args.compare, "deepseek_explore") if args.compare else None
    for name, value in ((args.result or LAST_NAME, first), (args.compare, second)):
        if value is not None and not isinstance(value, Result):
            raise UsageError(
                f"%deepseek_explore: {name} is a {type(value).__name__}, not a Result."
            )
    return compare(first, second) if second is not None else explore(first)
