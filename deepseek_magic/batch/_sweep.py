"""Sweeps as data: one prompt over a grid of options, run concurrently, as a DataFrame.

* :func:`parse_sweep` reads ``--sweep temperature=0.2,0.6 --sweep seed=1,2`` into a grid
  (``{"temperature": [0.2, 0.6], "seed": [1, 2]}``), every value checked by the option
  table before anything is sent.
* :func:`sweep` runs a validated :class:`~._api.Prepared` once per grid point (the
  product of the values), at most ``concurrency`` requests at a time, shows a compact
  side-by-side table when asked, and returns a pandas DataFrame, one row per point:
  the point's options, ``answer``, ``reasoning_chars``, token counts, ``cost``,
  ``elapsed``, ``finish_reason``, ``error`` and the ``result`` itself. A failing point is a
  row with its error, not the failure of the whole sweep.
* :func:`sweep_ask` is the same from Python: ``sweep_ask(prompt, {"temperature": [0.2,
  1.0]}, max_completion_tokens=512)``.

The requests run on an asyncio loop in a worker thread: in Jupyter the main thread
already runs an event loop, which may not be blocked on or re-entered. The kernel's
interrupt cancels every request in flight (their connections close) and re-raises.
A sweep never extends a conversation (``--chat``): its points see the conversation so
far, and none of them is added to it.
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import queue
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from .._api import Prepared, arun_prepared, prepare
from .._call import split_keywords
from .._errors import OptionError
from .._options import OPTION_BY_NAME, validate_options
from .._render import render_progress, render_sweep
from .._result import Result
from .._session import SESSION, Session
from .._settings import resolve_model
from ..client._request import build_request
from ..features import start

__all__ = [
    "DEFAULT_CONCURRENCY",
    "MAX_POINTS",
    "grid_points",
    "normalize_grid",
    "parse_sweep",
    "render_sweep",
    "sweep",
    "sweep_ask",
]

DEFAULT_CONCURRENCY = 4
#: a larger grid is refused: split it (a typo should not send thousands of requests)
MAX_POINTS = 100


# ---------------------------------------------------------------------- the grid
def normalize_grid(grid: Mapping[str, Any]) -> dict[str, list[Any]]:
    """Check a grid (option name -> values) and return it with canonical values.

    Names may use dashes (``top-p``); ``model`` may be swept too; a single value counts
    as a list of one. Raises :class:`OptionError` (one line) for unknown names, values out
    of range, and grids over :data:`MAX_POINTS` points.
    """
    out: dict[str, list[Any]] = {}
    for raw_name, raw_values in grid.items():
        name = str(raw_name).strip().replace("-", "_")
        values = list(raw_values) if isinstance(raw_values, (list, tuple, range)) else [raw_values]
        if not values:
            raise OptionError(f"--sweep {raw_name}: no values given.", option=name)
        if name == "model":
            if not all(isinstance(v, str) and v.strip() for v in values):
                raise OptionError(
                    "--sweep model: give model ids, e.g. "
                    "model=deepseek-r1,deepseek/deepseek-r1-0528.",
                    option="model",
                )
            canonical = [v.strip() for v in values]
        else:
            option = OPTION_BY_NAME.get(name)
            if option is None:
                import difflib

                close = difflib.get_close_matches(name, [*OPTION_BY_NAME, "model"], n=1)
                hint = f" Did you mean {close[0]}?" if close else ""
                raise OptionError(
                    f"--sweep {raw_name}: not an option that can be swept.{hint}", option=name
                )
            if option.kind == "tools":
                raise OptionError(
                    "--sweep tools: tools cannot be swept; give them with --tools.", option=name
                )
            canonical = [option.coerce(v) for v in values]
            name = option.alias_of or name  # max_tokens is swept as max_completion_tokens
        if name in out:
            raise OptionError(
                f"--sweep {raw_name}: given twice; list all its values once.", option=name
            )
        out[name] = canonical
    size = 1
    for values in out.values():
        size *= len(values)
    if not out:
        raise OptionError(
            "--sweep: no options given; write e.g. --sweep temperature=0.2,0.6.", option="sweep"
        )
    if size > MAX_POINTS:
        raise OptionError(
            f"--sweep: {size} points is more than {MAX_POINTS}; split the grid into smaller "
            "sweeps.",
            option="sweep",
        )
    return out


def parse_sweep(items: Sequence[str]) -> dict[str, list[Any]]:
    """``["temperature=0.2,0.6,1.0", "seed=1,2"]`` -> a checked grid.

    See :func:`normalize_grid`.
    """
    raw: dict[str, list[str]] = {}
    for item in items:
        name, sep, text = item.partition("=")
        if not sep or not name.strip():
            raise OptionError(
                f"--sweep {item}: write NAME=V1,V2 (e.g. --sweep temperature=0.2,0.6).",
                option="sweep",
            )
        values = [v.strip() for v in text.split(",")]
        if not text.strip() or any(v == "" for v in values):
            raise OptionError(
                f"--sweep {item}: an empty value; write NAME=V1,V2 with no empty items.",
                option="sweep",
            )
        if name.strip() in raw:
            raise OptionError(
                f"--sweep {name.strip()}: given twice; list all its values once.", option="sweep"
            )
        raw[name.strip()] = values
    return normalize_grid(raw)


def grid_points(grid: Mapping[str, Sequence[Any]]) -> list[dict[str, Any]]:
    """Every combination of the grid's values, the last name varying fastest."""
    names = list(grid)
    return [
        dict(zip(names, combo, strict=True))
        for combo in itertools.product(*(grid[n] for n in names))
    ]


def _point_prep(prep: Prepared, point: Mapping[str, Any]) -> Prepared:
    """``prep`` with the point's options: re-validated together, the request rebuilt."""
    values = validate_options({**prep.options, **{k: v for k, v in point.items() if k != "model"}})
    settings = prep.settings
    if "model" in point:
        settings = settings.with_(model=resolve_model(point["model"], settings.provider))
    body = prep.request.body
    tools = body.get("tools")
    # What the option table did not produce (--extra fields) is kept as it was.
    own = set(prep.request.plan.body)
    extra = {k: v for k, v in body.items() if k not in own | {"model", "messages", "stream"}}
    request = build_request(
        body["messages"],
        settings,
        values,
        stream=prep.request.stream,
        extra=extra or None,
        tool_specs=tools,
        tool_functions=prep.request.tool_functions,
        **prep.build,
    )
    return dataclasses.replace(
        prep, request=request, settings=settings, options=values, conversation=None, new_messages=[]
    )


# ---------------------------------------------------------------------- running
class _Runner:
    """The grid's requests on an asyncio loop in a worker thread, ``concurrency`` at a time."""

    def __init__(
        self, preps: list[Prepared], session: Session, concurrency: int, client: Any
    ) -> None:
        self.preps = preps
        self.session = session
        self.concurrency = concurrency
        self.client = client
        self.outcomes: list[Result | BaseException | None] = [None] * len(preps)
        self.done: queue.Queue[int] = queue.Queue()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._failure: BaseException | None = None
        self.thread = threading.Thread(target=self._main, name="deepseek-magic-sweep", daemon=True)

    def _main(self) -> None:
        try:
            asyncio.run(self._all())
        except BaseException as exc:  # surfaced in the caller's thread by wait()  # noqa: BLE001
            self._failure = exc
        finally:
            self.done.put(-1)  # wakes the caller, however the loop ended

    async def _all(self) -> None:
        from ..client._http import AsyncClient

        self._loop = asyncio.get_running_loop()
        gate = asyncio.Semaphore(self.concurrency)
        own = self.client is None
        client = self.client or AsyncClient(verify=self.session.verify_tls)

        async def one(i: int, prep: Prepared) -> None:
            async with gate:
                try:
                    self.outcomes[i] = await arun_prepared(
                        prep, session=self.session, client=client
                    )
                except asyncio.CancelledError:
                    self.outcomes[i] = KeyboardInterrupt("interrupted")
                    raise
                except Exception as exc:  # a failing point is a row with its error  # noqa: BLE001
                    self.outcomes[i] = exc
                finally:
                    self.done.put(i)

        self._tasks = [asyncio.ensure_future(one(i, p)) for i, p in enumerate(self.preps)]
        try:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        finally:
            if own:
                await client.aclose()

    def cancel(self) -> None:
        loop = self._loop
        if loop is not None and not loop.is_closed():
            try:
                loop.call_soon_threadsafe(lambda: [t.cancel() for t in self._tasks])
            except RuntimeError:
                pass  # the loop ended meanwhile: nothing left to cancel

    def wait(self, on_progress: Callable[[int], None] | None = None) -> None:
        """Block until every point ended; ``on_progress(finished)`` after each one. The
        kernel's interrupt cancels what is in flight, waits for it to close, re-raises."""
        self.thread.start()
        finished = 0
        try:
            while True:
                try:
                    # A short wait, again and again: a simulated interrupt (the panel's,
                    # _thread.interrupt_main) does not wake a blocked get(); a signal would.
                    index = self.done.get(timeout=0.2)
                except queue.Empty:
                    continue
                if index < 0:
                    break
                finished += 1
                if on_progress is not None:
                    on_progress(finished)
        except KeyboardInterrupt:
            self.cancel()
            self.thread.join()
            raise
        self.thread.join()
        if self._failure is not None:
            raise self._failure


# ---------------------------------------------------------------------- rows and display
#: a sweep row's columns from ``Result.to_row`` (after the point's own values)
_ROW_FIELDS = (
    "answer",
    "reasoning_chars",
    "prompt_tokens",
    "reasoning_tokens",
    "answer_tokens",
    "completion_tokens",
    "cost",
    "elapsed",
    "finish_reason",
)


def _row(point: Mapping[str, Any], outcome: Result | BaseException | None) -> dict[str, Any]:
    result = outcome if isinstance(outcome, Result) else getattr(outcome, "partial", None)
    error: str | None = None
    if isinstance(outcome, KeyboardInterrupt):
        error = "interrupted"
    elif isinstance(outcome, BaseException):
        error = f"{type(outcome).__name__}: {outcome}"
    elif outcome is None:
        error = "not run"
    elif outcome.error or outcome.interrupted:
        error = outcome.error or "interrupted"
    row: dict[str, Any] = dict(point)
    fields = result.to_row() if result is not None else {"answer": "", "reasoning_chars": 0}
    row.update({name: fields.get(name) for name in _ROW_FIELDS})
    row.update(error=error, result=result)
    return row


def _dataframe(rows: list[dict[str, Any]]) -> Any:
    import pandas as pd

    return pd.DataFrame.from_records(rows)


def _need_pandas() -> None:
    try:
        import pandas  # noqa: F401
    except ImportError:
        raise ImportError("A sweep returns a pandas DataFrame: pip install pandas") from None


# ---------------------------------------------------------------------- entry points
def sweep(
    prep: Prepared,
    grid: Mapping[str, Sequence[Any]],
    *,
    session: Session,
    display: bool = True,
    concurrency: int = DEFAULT_CONCURRENCY,
    client: Any = None,
) -> Any:
    """Run ``prep`` once per point of ``grid`` (see the module docstring) and return the
    DataFrame. Every point is validated and the whole grid checked against the spend
    budget before anything is sent. ``client`` is an ``AsyncClient`` to share (tests)."""
    if not isinstance(concurrency, int) or isinstance(concurrency, bool) or concurrency < 1:
        raise OptionError(
            f"concurrency={concurrency!r}: expected a whole number >= 1.", option="concurrency"
        )
    _need_pandas()
    grid = normalize_grid(grid)
    points = grid_points(grid)
    preps = [_point_prep(prep, p) for p in points]  # raises before anything is sent
    from ..features._spend import check_budget

    check_budget(session, [p.request for p in preps])
    runner = _Runner(preps, session, concurrency, client)
    handle = None
    if display:
        from IPython.display import display as show

        handle = show(render_progress(0, len(points)), raw=True, display_id=True)  # type: ignore[no-untyped-call]
    try:
        runner.wait(
            on_progress=None
            if handle is None
            else lambda n: handle.update(render_progress(n, len(points)), raw=True)
        )
    except KeyboardInterrupt as exc:
        rows = [_row(p, o) for p, o in zip(points, runner.outcomes, strict=True)]
        exc.partial = _dataframe(rows)  # type: ignore[attr-defined]
        if handle is not None:
            handle.update(render_sweep(rows, list(grid)), raw=True)
        raise
    rows = [_row(p, o) for p, o in zip(points, runner.outcomes, strict=True)]
    if handle is not None:
        handle.update(render_sweep(rows, list(grid)), raw=True)
    return _dataframe(rows)


def sweep_ask(
    prompt: str | Sequence[Mapping[str, Any]],
    grid: Mapping[str, Any],
    *,
    session: Session | None = None,
    concurrency: int = DEFAULT_CONCURRENCY,
    display: bool = False,
    **kwargs: Any,
) -> Any:
    """``ask()`` over a grid: ``sweep_ask("Is 9.11 > 9.9?", {"temperature": [0.2, 0.6, 1.0],
    "seed": [1, 2]}, max_completion_tokens=1024)`` -> a DataFrame, one row per point.

    ``kwargs`` are ``ask()``'s (``model=``, ``system=``, ``base_url=`` ... and the shared
    request options). ``display=True`` also shows the side-by-side table in a notebook.
    """
    session = session or SESSION
    call, options = split_keywords(kwargs)
    grid = normalize_grid(grid)
    start(session)
    prep = prepare(prompt, session=session, call=call, options=options)
    return sweep(prep, grid, session=session, display=display, concurrency=concurrency)
