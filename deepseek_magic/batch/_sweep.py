"""Sweeps as data: one prompt over a grid of options, run concurrently, as a DataFrame.

The panel's Compare is the same feature with a widget view: it reads its grid with the
same parser, is held to the same limit, builds its requests with :func:`plan_points` and
sends them with :func:`run_points`, at the same :data:`DEFAULT_CONCURRENCY`.

* :func:`parse_sweep` reads ``--sweep temperature=0.2,0.6 --sweep seed=1,2`` into a grid
  (``{"temperature": [0.2, 0.6], "seed": [1, 2]}``), every value checked by the option
  table before anything is sent (:mod:`._grid`, the one grid parser; at most
  :data:`~._grid.MAX_POINTS` points).
* :func:`plan_points` makes one validated :class:`~._api.Prepared` per grid point (the
  product of the values) from the prompt's, and checks them all against the spend budget;
  :func:`run_points` sends them through the engine (``run_many`` with a plain limit of
  ``concurrency`` in flight).
* :func:`sweep` runs them and returns a pandas DataFrame, one row per point: the point's
  options, then columns of ``Result.to_row`` (``answer``, ``reasoning_chars``, token
  counts, ``cost``, ``elapsed``, ``finish_reason``), ``error`` and the ``result`` itself.
  A failing point is a row with its error, not the failure of the whole sweep. It draws
  nothing itself: a ``view`` (a callable) gets ``_render``'s progress line and
  side-by-side table, and the notebook layer shows them (``notebook._display.updating``).
* :func:`sweep_ask` is the same from Python: ``sweep_ask(prompt, {"temperature": [0.2,
  1.0]}, max_completion_tokens=512)`` (or the grid as text, ``"temperature=0.2,1.0"``).

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
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ..client._request import build_request
from ..core._call import split_keywords
from ..core._errors import Interrupted
from ..core._options import validate_options
from ..core._result import Result
from ..core._session import SESSION, Session
from ..core._settings import resolve_model
from ..engine._api import Prepared, prepare
from ..engine._dispatch import STOPPED, Lane, Limit, run_many
from ..features import start
from ..features._schema_batch import point_data
from ..view._render import render_progress, render_sweep
from ._capacity import check_concurrency
from ._grid import MAX_POINTS, grid_points, normalize_grid, parse_grid
from ._loop_thread import LoopThread

__all__ = [
    "DEFAULT_CONCURRENCY",
    "MAX_POINTS",
    "grid_points",
    "normalize_grid",
    "parse_sweep",
    "plan_points",
    "run_points",
    "sweep",
    "sweep_ask",
    "View",
]

#: where a sweep's bundles go (the notebook shows them in one output, updated in place)
View = Callable[[dict[str, str]], None]

#: Requests of one sweep or Compare in flight at once, unless ``concurrency=`` says
#: otherwise. 12 is what Compare always sent at once, so a Compare of up to 12 settings
#: still starts every run together and reads side by side as they stream (a sweep sent 4
#: at a time before: its 12 points went in three waves); the gate is a plain limit, not
#: ``map()``'s rate-aware one, since a grid is small (at most ``MAX_POINTS``) and a
#: throttled request (429) is retried by the engine, honouring ``Retry-After``.
DEFAULT_CONCURRENCY = 12


# ---------------------------------------------------------------------- the grid
def parse_sweep(items: str | Sequence[str]) -> dict[str, list[Any]]:
    """``["temperature=0.2,0.6,1.0", "seed=1,2"]`` (the magic's ``--sweep`` items) or
    ``"temperature=0.2,0.6; seed=1,2"`` -> a checked grid: :func:`._grid.parse_grid`, the
    one parser the panel's Compare uses too."""
    return parse_grid(items, surface="sweep")


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


def plan_points(
    prep: Prepared, grid: Mapping[str, Sequence[Any]], *, session: Session
) -> tuple[list[dict[str, Any]], list[Prepared]]:
    """The grid's points and one prepared request per point (``prep`` with the point's
    options, all validated together), the whole grid checked against the spend budget:
    raises (one line) before anything is sent. ``grid`` is a checked one
    (:func:`~._grid.normalize_grid`)."""
    from ..features._spend import check_budget

    points = grid_points(grid)
    preps = [_point_prep(prep, p) for p in points]
    check_budget(session, [p.request for p in preps])
    return points, preps


# ---------------------------------------------------------------------- running
async def run_points(
    preps: Sequence[Prepared],
    *,
    session: Session,
    concurrency: int = DEFAULT_CONCURRENCY,
    lane: Lane | None = None,
    on_done: Callable[[int, Result | BaseException | None], None] | None = None,
    client: Any = None,
) -> list[Result | BaseException | None]:
    """Every point's request through the engine (``run_many``), ``concurrency`` at a time
    (a plain limit): what a sweep and the panel's Compare (and Send) both call. Each
    outcome (a Result, or the exception that ended it) goes to ``on_done(i, outcome)``
    and ``lane`` (the panel's live views) as it ends, and is returned at the point's
    index. ``client``: an ``AsyncClient`` (default: the session's for this loop)."""
    return await run_many(
        preps,
        session=session,
        gate=Limit(concurrency),
        concurrency=concurrency,
        lane=lane,
        on_done=on_done,
        client=client,
    )


async def _run_sweep(
    preps: list[Prepared],
    outcomes: list[Result | BaseException | None],
    *,
    session: Session,
    concurrency: int,
    client: Any,
    notify: Callable[[], None],
) -> None:
    """A sweep's points on its own loop: each outcome lands in ``outcomes`` at the
    point's index, then ``notify`` wakes the kernel's thread to redraw the progress."""
    from ..client._http import AsyncClient

    def done(i: int, outcome: Result | BaseException | None) -> None:
        outcomes[i] = outcome
        notify()

    # The sweep's loop lives as long as the sweep: so does its client (closed below).
    own = client is None
    client = client or AsyncClient(verify=session.verify_tls)
    try:
        await run_points(
            preps, session=session, concurrency=concurrency, on_done=done, client=client
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
    check_concurrency(concurrency)
    _need_pandas()
    grid = normalize_grid(grid)
    points, preps = plan_points(prep, grid, session=session)  # raises before anything is sent
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
            lambda: _run_sweep(
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
    grid: Mapping[str, Any] | str,
    *,
    session: Session | None = None,
    concurrency: int = DEFAULT_CONCURRENCY,
    view: View | None = None,
    **kwargs: Any,
) -> Any:
    """``ask()`` over a grid: ``sweep_ask("Is 9.11 > 9.9?", {"temperature": [0.2, 0.6, 1.0],
    "seed": [1, 2]}, max_completion_tokens=1024)`` -> a DataFrame, one row per point.

    ``grid`` may also be written as the panel's compare box takes it:
    ``"temperature = 0.2, 0.6, 1.0; seed = 1, 2"``. ``kwargs`` are ``ask()``'s
    (``model=``, ``system=``, ``base_url=`` ... and the shared request options). ``view``
    as :func:`sweep`'s (``deepseek_magic.sweep(display=True)`` passes the notebook's).
    """
    session = session or SESSION
    call, options = split_keywords(kwargs)
    grid = parse_sweep(grid) if isinstance(grid, str) else normalize_grid(grid)
    check_concurrency(concurrency)
    start(session)
    prep = prepare(prompt, session=session, call=call, options=options)
    return sweep(prep, grid, session=session, view=view, concurrency=concurrency)
