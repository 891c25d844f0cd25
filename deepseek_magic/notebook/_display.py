"""Where a Result goes in the notebook: what the magic and the panel share.

* :data:`LAST_NAME` (``_deepseek``): always the last Result;
* :func:`bind`: a Result (or a sweep's DataFrame) under ``-o NAME`` / "store as", and
  under ``_deepseek``;
* :func:`displayer`: one output, displayed once and then updated in place (the live
  view draws through it); :func:`updating`: the same for a series of bundles (a sweep's
  progress line, then its table).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, MutableMapping
from typing import Any

__all__ = ["LAST_NAME", "bind", "displayer", "updating"]

#: the user-namespace name that always holds the last Result
LAST_NAME = "_deepseek"


def bind(
    namespace: MutableMapping[str, Any], name: str | None, value: Any, *, last: Any = True
) -> list[str]:
    """Put ``value`` in the notebook under ``name`` (if given) and under :data:`LAST_NAME`:
    ``last=True`` binds ``value`` there, ``last=False`` leaves it alone, anything else is
    bound there instead (the panel's last Result beside a list of compared ones).
    Returns the names bound, in that order."""
    bound = []
    if name:
        if not name.isidentifier():
            raise ValueError(f"{name!r} is not a valid Python name.")
        namespace[name] = value
        bound.append(name)
    if last is not False:
        namespace[LAST_NAME] = value if last is True else last
        bound.append(LAST_NAME)
    return bound


Show = Callable[[dict[str, Any], dict[str, Any], bool], None]


def displayer() -> Show:
    """display() the first frame, update_display() after: one output, updated in place."""
    from IPython.display import display, update_display

    display_id = uuid.uuid4().hex

    def show(bundle: dict[str, Any], metadata: dict[str, Any], update: bool) -> None:
        if update:
            update_display(
                bundle,
                raw=True,
                metadata=metadata,  # type: ignore[no-untyped-call]
                display_id=display_id,
            )
        else:
            display(
                bundle,
                raw=True,
                metadata=metadata,  # type: ignore[no-untyped-call]
                display_id=display_id,
            )

    return show


def updating(show: Show | None = None) -> Callable[[dict[str, Any]], None]:
    """One output for a series of bundles: the first is displayed, each next one replaces
    it in place (``show`` defaults to a new :func:`displayer`)."""
    draw = show or displayer()
    shown = False

    def view(bundle: dict[str, Any]) -> None:
        nonlocal shown
        draw(bundle, {}, shown)
        shown = True

    return view
