"""deepseek-magic: DeepSeek R1 in Jupyter and IPython.

``%load_ext deepseek_magic`` registers ``%%deepseek`` (cell), ``%deepseek`` (line) and
the helper magics; ``deepseek_magic.ask()`` does the same from Python and returns a
:class:`Result`; ``deepseek_magic.panel()`` opens the ipywidgets panel.

Nothing here reads the environment or opens a socket at import time, and the heavy
pieces (ipywidgets, pandas, the renderer) load only when used.
"""

import inspect as _inspect
from typing import TYPE_CHECKING as _TYPE_CHECKING
from typing import Any as _Any

__version__ = "0.1.0"

from . import events
from .core import _errors  # noqa: E402  (events: the public stream events)
from .core._errors import *  # noqa: E402,F401,F403  (the exception tree: every name in _errors.__all__)
from .core._errors import OptionError  # noqa: E402
from .core._options import OPTIONS, Option  # noqa: E402
from .core._result import Result, ToolCall, Usage  # noqa: E402
from .core._session import SESSION  # noqa: E402
from .core._settings import Settings, resolve_settings  # noqa: E402
from .engine._api import aask, ask, astream, stream  # noqa: E402
from .engine._stream import AsyncStream, Stream  # noqa: E402

if _TYPE_CHECKING:  # served by __getattr__ (the eval package loads on first use)
    from .eval._grade import Grades
    from .eval._reasoning import SELF_CHECK_PHRASES

__all__ = [
    "__version__",
    "ask",
    "aask",
    "stream",
    "astream",
    "Stream",
    "AsyncStream",
    "events",
    "panel",
    "sweep",
    "amap",  # noqa: F405  (served by __getattr__, as map is)
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
del status_error  # noqa: F821  (the star import's one private helper: not a public name)


def history() -> _Any:
    """The session's history of Results (``.to_dataframe()`` for a pandas DataFrame)."""
    return SESSION.history


def last() -> Result | None:
    """The most recent Result of this session (also bound as ``_deepseek`` in IPython)."""
    return SESSION.last


def sweep(prompt: _Any, grid: _Any, *, display: bool = False, **kwargs: _Any) -> _Any:
    """Run one prompt over a grid of options concurrently and return a pandas DataFrame
    (one row per run): ``sweep("Name a colour", {"temperature": [0.2, 1.0], "seed": [1, 2]})``,
    or the grid as the panel's compare box takes it, ``"temperature=0.2,1.0; seed=1,2"``
    (at most 100 points). Keywords are those of :func:`ask` plus ``concurrency`` (default
    12, as the panel's Compare); ``display=True`` also shows the side-by-side table in a
    notebook."""
    from .batch._sweep import sweep_ask

    view = None
    if display:
        from .notebook._display import updating

        view = updating()
    return sweep_ask(prompt, grid, view=view, **kwargs)


def open_run(path: _Any = "deepseek-runs.sqlite") -> _Any:
    """Open a run file written by ``map()``: ``.reasoning(row_key)``,
    ``.result(row_key)``."""
    from .batch._runfile import open_run as _open

    return _open(path)


def __getattr__(name: str) -> _Any:
    # ``deepseek_magic.map(data, prompt, **options)`` (issue 15's name) and its twin
    # ``amap``. Served here, not defined as module globals, so the builtin ``map`` stays
    # what it is inside this package and the batch modules load on first use; ``map`` is
    # deliberately not in ``__all__`` (``from deepseek_magic import *`` must not replace
    # the user's builtin), but it is in ``dir()``, so it tab-completes. The grading names
    # are served here too, so ``%load_ext`` does not load the eval package.
    if name in _LAZY:
        import importlib

        module, attribute = _LAZY[name]
        found = getattr(importlib.import_module(module, __name__), attribute)
        if isinstance(found, type) or _inspect.isfunction(found):
            found.__module__ = __name__
        return found
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


_LAZY = {
    "map": (".batch._batch", "map_rows"),
    "amap": (".batch._batch", "amap_rows"),
    "Grades": (".eval._grade", "Grades"),
    "SELF_CHECK_PHRASES": (".eval._reasoning", "SELF_CHECK_PHRASES"),
}


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})


def models(contains: str | None = None, **kwargs: _Any) -> _Any:
    """What the configured provider serves, as a DataFrame: ``models("deepseek")`` keeps
    matching ids. Read once per session from ``GET /models`` (``refresh=True`` reads
    again); the dated snapshot shipped with the package answers when it cannot be reached
    (or with ``snapshot=True``)."""
    from .client._catalogue import models as _models

    return _models(contains, **kwargs)


def grade(results: _Any, expected: _Any = None, **kwargs: _Any) -> _Any:
    """Grade a ``map()`` DataFrame, a sweep or Results against the right answers:
    ``grade(out, expected="answer", extract="number")`` -> :class:`Grades` (accuracy, a
    95% interval, cost per correct answer, majority vote and pass@k with samples)."""
    from .eval._grade import grade as _grade

    return _grade(results, expected, **kwargs)


def compare(first: _Any, second: _Any) -> _Any:
    """Two Results' reasoning side by side, aligned by step (static, safe HTML)."""
    from .eval._explore import compare as _compare

    for name, value in (("first", first), ("second", second)):
        if not isinstance(value, Result):
            raise OptionError(
                f"compare(): the {name} argument is a {type(value).__name__}, not a Result.",
                option=name,
            )
    return _compare(first, second)


def panel(prompt: str = "", **options: _Any) -> _Any:
    """The ipywidgets panel for tuning parameters and comparing runs (needs ipywidgets)."""
    from .notebook._panel import panel as _panel

    return _panel(prompt, **options)


def load_ipython_extension(ipython: _Any) -> None:
    """``%load_ext deepseek_magic``: register the magics."""
    from .notebook._magic import load_ipython_extension as _load

    _load(ipython)


def unload_ipython_extension(ipython: _Any) -> None:
    """``%unload_ext deepseek_magic``."""
    from .notebook._magic import unload_ipython_extension as _unload

    _unload(ipython)


# Every public name reports the package as its home (``deepseek_magic.Result``, not
# ``deepseek_magic.core._result.Result``), as httpx does: that is where users import it from.
for _name in __all__:
    _obj = globals().get(_name)
    if isinstance(_obj, type) or _inspect.isfunction(_obj):
        _obj.__module__ = __name__
del _name, _obj
