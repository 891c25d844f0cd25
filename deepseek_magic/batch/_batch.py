"""R1 over a dataset: ``deepseek_magic.map(data, prompt, **options)`` and its async twin.

One request per row (rows whose requests are identical share one reply), at most
``concurrency`` in flight, every finished row written at once to the run file
(:mod:`._runfile`), a progress bar, and a DataFrame aligned with the input's index. The
pieces, one job each:

* :mod:`._plan`: before the first request, the template checked against the columns,
  every row's request built and validated, the run file read (rows already answered are
  not sent again), the cost estimated and a run that could exceed its budget refused.
  ``dry_run=True`` stops there and returns the estimate;
* :mod:`._runner`: the rows on one event loop through one rate gate, retries, the budget;
* :mod:`._output`: the DataFrame (each answered row from ``Result.to_row``);
* :mod:`._report`: the progress bar and the summary line;
* this module: :func:`map_rows` and :func:`amap_rows`, explicit twins (as httpx's
  ``Client`` and ``AsyncClient``) around :class:`_Run`, what they share. ``map_rows``
  runs the loop in a worker thread (:mod:`._loop_thread`); ``amap_rows`` on the caller's.

Interrupting (the kernel's stop button, Ctrl-C) cancels what is in flight (marked
``interrupted`` in the run file), keeps every finished row, and raises
:class:`~deepseek_magic.Interrupted` with the partial DataFrame as ``.partial_frame``.

Rows are not added to the session history (a run of 10,000 rows would keep them all in
memory); the session's features see each reply, so ``%deepseek_spend`` counts them, and the
run file is the run's record.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from types import TracebackType
from typing import Any

from ..core._call import split_keywords
from ..core._errors import Interrupted
from ..core._session import SESSION, Session
from ..engine._dispatch import STOPPED
from ..features import start
from ._capacity import check_concurrency, warn_above_documented
from ._loop_thread import LoopThread
from ._output import build_frame
from ._plan import Plan, check_plan_budget, plan_run
from ._report import Bar, summary
from ._runfile import DEFAULT_RUN_FILE
from ._runner import Runner

__all__ = ["DEFAULT_CONCURRENCY", "amap_rows", "map_rows"]

DEFAULT_CONCURRENCY = 8
#: seconds between two refreshes of the bar by ``amap_rows`` (it shares the caller's loop)
REFRESH = 0.1


# ---------------------------------------------------------------------- what the twins share
class _Run:
    """One call of :func:`map_rows` or :func:`amap_rows`: its plan, then (once started) its
    runner and bar. A context manager that closes the run file however the call ends."""

    def __init__(self, plan: Plan, session: Session, concurrency: int, client: Any) -> None:
        self.plan = plan
        self.session = session
        self.concurrency = concurrency
        self.client = client
        self.runner: Runner | None = None
        self.bar: Bar | None = None
        self.started = time.monotonic()

    @classmethod
    def begin(
        cls,
        data: Any,
        prompt: Any,
        *,
        session: Session | None,
        concurrency: Any,
        client: Any,
        kwargs: Mapping[str, Any],
        **plan: Any,
    ) -> _Run:
        """The session (its features switched on), the checked concurrency and the plan:
        everything before sending (raises, one line, before anything is sent)."""
        session = session or SESSION
        start(session)  # DEEPSEEK_MAGIC_OFFLINE / _CACHE and the spend guard (once)
        checked = check_concurrency(concurrency)
        call, options = split_keywords(kwargs)
        settings = dict(call.items())
        made = plan_run(data, prompt, session=session, options=options, settings=settings, **plan)
        prep = made.prep
        warn_above_documented(prep.settings.provider, str(prep.request.body.get("model")), checked)
        return cls(made, session, checked, client)

    def __enter__(self) -> _Run:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self.plan.run_file is not None:
            self.plan.run_file.close()

    def start(self, *, progress: bool, notify: Callable[[], None] | None = None) -> Runner:
        """Refuse a run over its budget, print the estimate, make the runner and the bar."""
        check_plan_budget(self.plan)
        if progress:
            print(self.plan.estimate.line())
        self.runner = Runner(self.plan, self.session, self.concurrency, self.client, notify)
        self.bar = Bar(self.plan, progress)
        self.started = time.monotonic()
        return self.runner

    def refresh(self) -> None:
        """Move the bar to the rows done so far."""
        if self.bar is not None and self.runner is not None:
            self.bar.update(self.runner)

    @contextmanager
    def running(self) -> Iterator[None]:
        """Around the run: a stop (the kernel's interrupt, a cancelled task) closes the bar,
        prints what was kept and raises :class:`Interrupted` with the rows done as
        ``.partial_frame`` (a cancelled task re-raises, the frame on the same attribute);
        any other failure closes the bar red and re-raises."""
        assert self.runner is not None and self.bar is not None
        try:
            yield
        except (KeyboardInterrupt, asyncio.CancelledError) as exc:
            self.bar.update(self.runner, force=True)
            self.bar.close(ok=False)
            frame = build_frame(self.plan, self.runner, interrupted=True)
            print(summary(self.plan, self.runner, self._seconds(), interrupted=True))
            if isinstance(exc, KeyboardInterrupt):
                raise Interrupted(STOPPED, partial_frame=frame) from None
            exc.partial_frame = frame  # type: ignore[attr-defined]  # a cancelled amap() task
            raise
        except BaseException:
            self.bar.close(ok=False)
            raise

    def finished(self) -> Any:
        """Close the bar, print the summary line, return the DataFrame."""
        assert self.runner is not None and self.bar is not None
        self.bar.update(self.runner, force=True)
        self.bar.close(ok=not self.runner.progress.failed)
        print(summary(self.plan, self.runner, self._seconds()))
        return build_frame(self.plan, self.runner)

    def _seconds(self) -> float:
        return time.monotonic() - self.started


def _at_most_every(seconds: float, action: Callable[[], None]) -> Callable[[], None]:
    """``action`` made to run at most once every ``seconds`` (calls in between are dropped)."""
    last = 0.0

    def throttled() -> None:
        nonlocal last
        now = time.monotonic()
        if now - last >= seconds:
            last = now
            action()

    return throttled


# ---------------------------------------------------------------------- the twins
def map_rows(
    data: Any,
    prompt: Any = None,
    *,
    concurrency: int = DEFAULT_CONCURRENCY,
    budget: Any = None,
    run_file: Any = DEFAULT_RUN_FILE,
    keep: Any = None,
    keep_reasoning: bool = True,
    results: bool = False,
    dry_run: bool = False,
    progress: bool = True,
    session: Session | None = None,
    client: Any = None,
    template_style: str = "format",
    namespace: Mapping[str, Any] | None = None,
    samples: int | None = None,
    **kwargs: Any,
) -> Any:
    """Ask DeepSeek R1 once per row of ``data`` and return a DataFrame aligned with its index.

    ``data``: a DataFrame, a list of strings (column ``text``) or a list of dicts.
    ``prompt``: a template filled per row (``"Solve: {question}"``; a name that is not a
    column is an error before anything is sent) or a function ``row -> prompt or messages``.
    Output columns: the input columns in ``keep`` (default: those the template uses),
    ``answer``, ``reasoning``, ``reasoning_tokens``, ``answer_tokens``, ``prompt_tokens``,
    ``cost``, ``finish_reason``, ``model``, ``elapsed``, ``error`` (one line, empty on
    success), ``row_key``, and ``result`` (the Result objects) with ``results=True``.

    ``concurrency`` (default 8, at most 10,000) requests at most in flight, slowed down
    together when the server throttles; above what the provider documents for the model
    (DeepSeek: 2,500 for deepseek-flash) it warns and sends (see :mod:`._capacity`).
    Every finished row is written to ``run_file`` (default ``deepseek-runs.sqlite`` in the
    working folder, the notebook's; ``None`` for none): the same call again sends only the
    rows not yet answered. ``budget`` (US dollars) refuses
    a run whose estimate can exceed it and stops one that reaches it. ``dry_run=True``
    returns the estimate and sends nothing. ``keep_reasoning=False`` keeps the reasoning
    in the run file only (``open_run(path).reasoning(row_key)``). Other keywords are
    those of :func:`~deepseek_magic.ask` (``model=``, ``system=``, ``temperature=`` ...).

    ``samples=k`` sends each row k times (self-consistency, pass@k): one output row per
    sample, the index label repeated, a ``sample`` column (0..k-1); the samples differ by
    seed (``seed`` + i) or by the temperatures given (``temperature=[...]``, one per
    sample); see :mod:`._samples`. ``grade()`` then reports majority vote and pass@k.
    The output also has the reasoning's structure: ``reasoning_steps``, ``self_checks``,
    ``answer_first_at`` and ``reasoning_cut`` (see ``Result.reasoning_stats``).
    """
    run = _Run.begin(
        data,
        prompt,
        session=session,
        concurrency=concurrency,
        client=client,
        kwargs=kwargs,
        keep=keep,
        budget=budget,
        run_file=run_file,
        keep_reasoning=keep_reasoning,
        results=results,
        style=template_style,
        namespace=namespace,
        dry_run=dry_run,
        samples=samples,
    )
    with run:
        if dry_run:
            return run.plan.estimate
        # The loop runs in a worker thread (a notebook's main thread already runs one);
        # this thread keeps the bar moving and turns the kernel's interrupt into a cancel.
        thread = LoopThread("deepseek-magic-map")
        runner = run.start(progress=progress, notify=thread.notify)
        with run.running():
            thread.run(runner.run, on_wake=run.refresh)
        return run.finished()


async def amap_rows(
    data: Any,
    prompt: Any = None,
    *,
    concurrency: int = DEFAULT_CONCURRENCY,
    budget: Any = None,
    run_file: Any = DEFAULT_RUN_FILE,
    keep: Any = None,
    keep_reasoning: bool = True,
    results: bool = False,
    dry_run: bool = False,
    progress: bool = True,
    session: Session | None = None,
    client: Any = None,
    template_style: str = "format",
    namespace: Mapping[str, Any] | None = None,
    samples: int | None = None,
    **kwargs: Any,
) -> Any:
    """The awaitable twin of :func:`map_rows` (same arguments), on the caller's event loop."""
    run = _Run.begin(
        data,
        prompt,
        session=session,
        concurrency=concurrency,
        client=client,
        kwargs=kwargs,
        keep=keep,
        budget=budget,
        run_file=run_file,
        keep_reasoning=keep_reasoning,
        results=results,
        style=template_style,
        namespace=namespace,
        dry_run=dry_run,
        samples=samples,
    )
    with run:
        if dry_run:
            return run.plan.estimate
        runner = run.start(progress=progress, notify=_at_most_every(REFRESH, run.refresh))
        with run.running():
            await runner.run()
        return run.finished()
