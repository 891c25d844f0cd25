"""Sweeps as data: one prompt over a grid of options, run concurrently, as a DataFrame.

* :func:`parse_sweep` reads ``--sweep temperature=0.2,0.6 --sweep seed=1,2`` into a grid
  (``{"temperature": [0.2, 0.6], "seed": [1, 2]}``), every value checked by the option
  table before anything is sent.
* :func:`sweep` runs a validated :class:`~._api.Prepared` once per grid point (the
  product of the values), at most ``concurrency`` requests at a time, and returns a
  pandas DataFrame, one row per point: the point's options, then columns of
  ``Result.to_row`` (``answer``, ``reasoning_chars``, token counts, ``cost``, ``elapsed``,
  ``finish_reason``), ``error`` and the ``result`` itself. A failing point is a row with
  its error, not the failure of the whole sweep. It draws nothing itself: a ``view``
  (a callable) gets ``_render``'s progress line and side-by-side table, and the notebook
  layer shows them (``notebook._display.updating``).
* :func:`sweep_ask` is the same from Python: ``sweep_ask(prompt, {"temperature": [0.2,
  1.0]}, max_completion_tokens=512)``.

The requests run on an asyncio loop in a worker thread (:mod:`._loop_thread`, as
``map()``'s): in Jupyter the main thread already runs an event loop, which may not be
blocked on or re-entered. The kernel's interrupt cancels every request in flight (their
connections close) and raises :class:`~deepseek_magic.Interrupted` with the rows so far as
``.partial_frame``.
A sweep never extends a conversation (``--chat``): its points see the conversation so
far, and none of them is added to it.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ..client._request import build_request
from ..core._call import split_keywords
from ..core._errors import Interrupted, OptionError
from ..core._options import OPTION_BY_NAME, validate_options
from ..core._result import Result
from ..core._session import SESSION, Session
from ..core._settings import resolve_model
from ..engine._api import Prepared, prepare
from ..engine._dispatch import STOPPED, Limit, run_many
from ..features import start
from ..features._schema_batch import point_data
from ..view._render import render_progress, render_sweep
from ._loop_thread import LoopThread

__all__ = [
    "DEFAULT_CONCURRENCY",
    "MAX_POINTS",
    "grid_points",
    "normalize_grid",
    "parse_sweep",
    "sweep",
    "sweep_ask",
    "View",
]

#: where a sweep's bundles go (the notebook shows them in one output, updated in place)
View = Callable[[dict[str, str]], None]

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
async def _run_points(
    preps: list[Prepared],
    outcomes: list[Result | BaseException | None],
    *,
    session: Session,
    concurrency: int,
    client: Any,
    notify: Callable[[], None],
) -> None:
    """Every point's request through the engine, ``concurrency`` at a time (a plain
    limit); each outcome (a Result, or the exception that ended it) lands in ``outcomes``
    at the point's index."""
    from ..client._http import AsyncClient

    def done(i: int, outcome: Result | BaseException | None) -> None:
        outcomes[i] = outcome
        notify()

    # The sweep's loop lives as long as the sweep: so does its client (closed below).
    own = client is None
    client = client or AsyncClient(verify=session.verify_tls)
    try:
        await run_many(
            preps,
            session=session,
            gate=Limit(concurrency),
            concurrency=concurrency,
            on_done=done,
            client=client,
        )
    finally:
        if own:
            await client.aclose()


# ---------------------------------------------------------------------- rows
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
    row.update(point_data(result))  # typed answers: one column per field
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
    view: View | None = None,
    concurrency: int = DEFAULT_CONCURRENCY,
    client: Any = None,
) -> Any:
    """Run ``prep`` once per point of ``grid`` (see the module docstring) and return the
    DataFrame. Every point is validated and the whole grid checked against the spend
    budget before anything is sent. ``view`` gets the bundles to show (the progress
    line as points finish, then the table; the notebook shows them in one output).
    ``client`` is an ``AsyncClient`` to share (tests)."""
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
    outcomes: list[Result | BaseException | None] = [None] * len(preps)
    show = view or (lambda bundle: None)
    shown = 0

    def refresh() -> None:
        nonlocal shown
        done = sum(o is not None for o in outcomes)
        if done != shown:
            shown = done
            show(render_progress(done, len(points)))

    def table() -> Any:
        rows = [_row(p, o) for p, o in zip(points, outcomes, strict=True)]
        show(render_sweep(rows, list(grid)))
        return _dataframe(rows)

    thread = LoopThread("deepseek-magic-sweep")
    show(render_progress(0, len(points)))
    try:
        thread.run(
            lambda: _run_points(
                preps,
                outcomes,
                session=session,
                concurrency=concurrency,
                client=client,
                notify=thread.notify,
            ),
            on_wake=refresh,
        )
    except KeyboardInterrupt:
        raise Interrupted(STOPPED, partial_frame=table()) from None
    return table()


def sweep_ask(
    prompt: str | Sequence[Mapping[str, Any]],
    grid: Mapping[str, Any],
    *,
    session: Session | None = None,
    concurrency: int = DEFAULT_CONCURRENCY,
    view: View | None = None,
    **kwargs: Any,
) -> Any:
    """``ask()`` over a grid: ``sweep_ask("Is 9.11 > 9.9?", {"temperature": [0.2, 0.6, 1.0],
    "seed": [1, 2]}, max_completion_tokens=1024)`` -> a DataFrame, one row per point.

    ``kwargs`` are ``ask()``'s (``model=``, ``system=``, ``base_url=`` ... and the shared
    request options). ``view`` as :func:`sweep`'s (``deepseek_magic.sweep(display=True)``
    passes the notebook's).
    """
    session = session or SESSION
    call, options = split_keywords(kwargs)
    grid = normalize_grid(grid)
    start(session)
    prep = prepare(prompt, session=session, call=call, options=options)
    return sweep(prep, grid, session=session, view=view, concurrency=concurrency)
