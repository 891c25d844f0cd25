"""deepseek-magic: DeepSeek R1 in Jupyter and IPython.

``%load_ext deepseek_magic`` registers ``%%deepseek`` (cell), ``%deepseek`` (line) and
the helper magics; ``deepseek_magic.ask()`` does the same from Python and returns a
:class:`Result`; ``deepseek_magic.panel()`` opens the ipywidgets panel.

Nothing here reads the environment or opens a socket at import time, and the heavy
pieces (ipywidgets, pandas, the renderer) load only when used.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

from . import _errors  # noqa: E402
from ._api import aask, ask  # noqa: E402
from ._errors import *  # noqa: E402,F401,F403  (the exception tree: every name in _errors.__all__)
from ._errors import OptionError  # noqa: E402
from ._options import OPTIONS, Option  # noqa: E402
from ._result import Result, ToolCall, Usage  # noqa: E402
from ._session import SESSION  # noqa: E402
from ._settings import Settings, resolve_settings  # noqa: E402
from .eval._grade import Grades  # noqa: E402
from .eval._reasoning import SELF_CHECK_PHRASES  # noqa: E402

__all__ = [
    "__version__",
    "ask",
    "aask",
    "panel",
    "sweep",
    "amap",
    "open_run",
    "models",
    "history",
    "last",
    "Result",
    "Usage",
    "ToolCall",
    "Settings",
    "resolve_settings",
    "OPTIONS",
    "Option",
    "SESSION",
    "load_ipython_extension",
    "unload_ipython_extension",
    "grade",
    "Grades",
    "compare",
    "SELF_CHECK_PHRASES",
]
# The exception tree is public as a whole (its picture is in _errors' docstring).
__all__ += [name for name in _errors.__all__ if name != "status_error"]


def history() -> Any:
    """The session's history of Results (``.to_dataframe()`` for a pandas DataFrame)."""
    return SESSION.history


def last() -> Result | None:
    """The most recent Result of this session (also bound as ``_deepseek`` in IPython)."""
    return SESSION.last


def sweep(prompt: Any, grid: Any, *, display: bool = False, **kwargs: Any) -> Any:
    """Run one prompt over a grid of options concurrently and return a pandas DataFrame
    (one row per run): ``sweep("Name a colour", {"temperature": [0.2, 1.0], "seed": [1, 2]})``.
    Keywords are those of :func:`ask` plus ``concurrency`` (default 4); ``display=True``
    also shows the side-by-side table in a notebook."""
    from .batch._sweep import sweep_ask

    view = None
    if display:
        from .notebook._display import updating

        view = updating()
    return sweep_ask(prompt, grid, view=view, **kwargs)


async def amap(data: Any, prompt: Any = None, **kwargs: Any) -> Any:
    """The awaitable twin of ``deepseek_magic.map`` (same arguments)."""
    from .batch._batch import amap_rows

    return await amap_rows(data, prompt, **kwargs)


def open_run(path: Any = "deepseek-runs.sqlite") -> Any:
    """Open a run file written by ``map()``: ``.reasoning(request_id)``,
    ``.result(request_id)``."""
    from .batch._runfile import open_run as _open

    return _open(path)


def __getattr__(name: str) -> Any:
    # ``deepseek_magic.map(data, prompt, **options)`` (issue 15's name). Served here, not
    # defined as a module global, so the builtin ``map`` stays what it is inside this
    # package, and ``from deepseek_magic import *`` does not replace the user's builtin
    # (``map`` is deliberately not in ``__all__``).
    if name == "map":
        from .batch._batch import map_rows

        return map_rows
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def models(contains: str | None = None, **kwargs: Any) -> Any:
    """What the configured provider serves, as a DataFrame: ``models("deepseek")`` keeps
    matching ids. Read once per session from ``GET /models`` (``refresh=True`` reads
    again); the dated snapshot shipped with the package answers when it cannot be reached
    (or with ``snapshot=True``)."""
    from .client._catalogue import models as _models

    return _models(contains, **kwargs)


def grade(results: Any, expected: Any = None, **kwargs: Any) -> Any:
    """Grade a ``map()`` DataFrame, a sweep or Results against the right answers:
    ``grade(out, expected="answer", extract="number")`` -> :class:`Grades` (accuracy, a
    95% interval, cost per correct answer, majority vote and pass@k with samples)."""
    from .eval._grade import grade as _grade

    return _grade(results, expected, **kwargs)


def compare(first: Any, second: Any) -> Any:
    """Two Results' reasoning side by side, aligned by step (static, safe HTML)."""
    from .eval._explore import compare as _compare

    for name, value in (("first", first), ("second", second)):
        if not isinstance(value, Result):
            raise OptionError(
                f"compare(): the {name} argument is a {type(value).__name__}, not a Result.",
                option=name,
            )
    return _compare(first, second)


def panel(prompt: str = "", **options: Any) -> Any:
    """The ipywidgets panel for tuning parameters and comparing runs (needs ipywidgets)."""
    from .notebook._panel import panel as _panel

    return _panel(prompt, **options)


def load_ipython_extension(ipython: Any) -> None:
    """``%load_ext deepseek_magic``: register the magics."""
    from .notebook._magic import load_ipython_extension as _load

    _load(ipython)


def unload_ipython_extension(ipython: Any) -> None:
    """``%unload_ext deepseek_magic``."""
    from .notebook._magic import unload_ipython_extension as _unload

    _unload(ipython)
