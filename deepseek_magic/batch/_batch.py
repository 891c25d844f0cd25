"""R1 over a dataset: ``deepseek_magic.map(data, prompt, **options)`` and its async twin.

One request per row (rows whose requests are identical share one reply), at most
``concurrency`` in flight through one shared :class:`~._ratelimit.RateGate`, every
finished row written at once to the run file (:mod:`._runfile`), a progress bar
(``tqdm.auto``), and a DataFrame aligned with the input's index.

Before the first request: the template is checked against the columns, every row's
request is built and validated, the run file is read (rows already answered are not
sent again), the cost is estimated (:mod:`._runcost`) and a run that could exceed its
budget is refused. ``dry_run=True`` stops there and returns the estimate.

While it runs: a throttle (429/503 before the first byte) slows the whole run through
the gate; other failures before the first byte (5xx, a connection refused) are retried
per row following the client's :class:`~._retry.RetryPolicy` (backoff, at most
``max_retries``); a failure after the first byte is never replayed: the row fails with
its one-line error (and is sent again by the next run, never stored as an answer). A
run that reaches its budget stops starting rows and keeps what is done.

Interrupting (the kernel's stop button, Ctrl-C) cancels what is in flight (marked
``interrupted`` in the run file), keeps every finished row, and raises
``KeyboardInterrupt`` with the partial DataFrame as ``.partial``.

Rows are not added to the session history (a run of 10,000 rows would keep them all in
memory); the session's features see each reply, so ``%deepseek_spend`` counts them, and the
run file is the run's record.
"""

from __future__ import annotations

import asyncio
import math
import queue
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .._api import Prepared, prepare
from .._call import split_keywords
from .._errors import APIError, BudgetError, DeepSeekError, OptionError
from .._result import Result
from .._session import SESSION, Session
from ..client._request import Request
from ..client._retry import RetryPolicy
from ..features import start
from ..features._cache import cache_key, request_record
from ._ratelimit import THROTTLE_STATUSES, RateGate
from ._rows import (
    OUTPUT_COLUMNS,
    Rows,
    compile_template,
    read_rows,
    row_requests,
    template_columns,
)
from ._runcost import RunEstimate, estimate_run, model_prices
from ._runfile import DEFAULT_RUN_FILE, RunFile

__all__ = ["DEFAULT_CONCURRENCY", "Plan", "amap_rows", "map_rows", "plan_run"]

DEFAULT_CONCURRENCY = 8
#: a row refused this many times as "too much" fails (the server never had room for it)
MAX_THROTTLES_PER_ROW = 50
#: errors shown under the summary line
SHOWN_ERRORS = 3


# ---------------------------------------------------------------------- the plan
@dataclass
class Plan:
    """Everything decided before the first request."""

    rows: Rows
    keep: list[str]
    requests: list[Request]
    keys: list[str]
    #: unique keys still to send, in row order
    todo: list[str]
    #: answered rows from the run file, key -> flat row
    resumed: dict[str, dict[str, Any]]
    estimate: RunEstimate
    budget: float | None
    prep: Prepared
    run_file: RunFile | None
    keep_reasoning: bool
    results: bool
    #: rows a crash left in flight last time (sent again now)
    crashed: int = 0


def _history_tokens(session: Session, model: str, run_file: RunFile | None) -> list[int]:
    tokens = [
        r.usage.completion_tokens
        for r in session.history
        if r.ok and r.model == model and r.usage.completion_tokens is not None and not r.cached
    ]
    out = [int(t) for t in tokens if t is not None]
    if run_file is not None:
        out += run_file.completion_tokens(model)
    return out


def _money(value: Any) -> float | None:
    if value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise OptionError(
            f"budget={value!r}: expected US dollars, e.g. 0.50.", option="budget"
        ) from None
    if not math.isfinite(number) or number < 0:
        raise OptionError(f"budget={value!r}: expected zero or more US dollars.", option="budget")
    return number


def plan_run(
    data: Any,
    prompt: Any,
    *,
    session: Session,
    options: Mapping[str, Any],
    style: str = "format",
    namespace: Mapping[str, Any] | None = None,
    keep: Any = None,
    budget: Any = None,
    run_file: Any = DEFAULT_RUN_FILE,
    keep_reasoning: bool = True,
    results: bool = False,
    settings: Mapping[str, Any] | None = None,
    dry_run: bool = False,
) -> Plan:
    """Read the rows, build and validate every request, read the run file, estimate the
    cost and check the budget. Raises before anything is sent."""
    rows = read_rows(data)
    if not rows.records:
        raise OptionError("The data has no rows; nothing to send.", option="data")
    fill = compile_template(prompt, rows.columns, style=style, namespace=namespace)
    settings = dict(settings or {})
    for name in ("conversation", "run_tools", "max_tool_rounds"):
        if options.get(name) or settings.get(name):
            raise OptionError(
                f"map() does not take {name}=: each row is one independent request.", option=name
            )
    system = settings.pop("system", None)
    try:
        # Validates the options and settings once; each row's request is this one with
        # the row's messages (row_requests checks every row's prompt).
        prep = prepare(
            "(the rows' prompts)",
            session=session,
            options=dict(options),
            require_key=not dry_run,
            **settings,
        )
    except TypeError as exc:
        raise OptionError(f"map(): {exc}.", option="options") from None
    system = system or session.config.get("system")
    requests = row_requests(prep, rows, fill, system)
    if keep is None:
        keep_cols = template_columns(prompt, rows.columns)
    elif keep is True:
        keep_cols = list(rows.columns)
    elif keep is False:
        keep_cols = []
    else:
        keep_cols = [keep] if isinstance(keep, str) else list(keep)
        unknown = [c for c in keep_cols if c not in rows.columns]
        if unknown:
            raise OptionError(
                f"keep={unknown}: not columns of the data ({', '.join(rows.columns)}).",
                option="keep",
            )
    clash = [c for c in keep_cols if c in (*OUTPUT_COLUMNS, "result")]
    if clash:
        raise OptionError(
            f"keep={clash}: the output has columns of those names; rename them in the input.",
            option="keep",
        )
    keys = [cache_key(r) for r in requests]
    store: RunFile | None = None
    if run_file not in (None, False):
        store = RunFile(run_file, secret=prep.settings.api_key)
    unique = list(dict.fromkeys(keys))
    resumed: dict[str, dict[str, Any]] = {}
    crashed = 0
    if store is not None:
        resumed = store.done_rows(unique, reasoning=keep_reasoning)
        crashed = sum(1 for s in store.states(unique).values() if s == "sending")
    todo = [k for k in unique if k not in resumed]
    first_of: dict[str, Request] = {}
    for key, request in zip(keys, requests, strict=True):
        first_of.setdefault(key, request)
    model = str(prep.request.body.get("model", prep.settings.model))
    estimate = estimate_run(
        prep.request,
        [first_of[k] for k in todo],
        rows=len(rows.records),
        resumed=sum(1 for k in keys if k in resumed),
        history=_history_tokens(session, model, store),
    )
    limit = _effective_budget(session, _money(budget))
    return Plan(
        rows,
        keep_cols,
        requests,
        keys,
        todo,
        resumed,
        estimate,
        limit,
        prep,
        store,
        keep_reasoning,
        results,
        crashed,
    )


def _effective_budget(session: Session, budget: float | None) -> float | None:
    """The run's budget: ``budget=``, or what is left of the session's, whichever is less."""
    from ..features._spend import session_totals

    try:
        left = session_totals(session).remaining
    except DeepSeekError:
        left = None
    candidates = [b for b in (budget, left) if b is not None]
    return min(candidates) if candidates else None


def check_plan_budget(plan: Plan) -> None:
    """Refuse, before the first request, a run whose estimate can exceed its budget."""
    from .._render import format_cost

    if plan.budget is None or plan.estimate.requests == 0:
        return
    if plan.estimate.cost_high > plan.budget:
        raise BudgetError(
            f"Not sent: this run could cost up to {format_cost(plan.estimate.cost_high)} "
            f"({plan.estimate.requests:,} requests, {plan.estimate.output_high:,} completion "
            f"tokens each at most, {plan.estimate.output_basis}), over its budget of "
            f"${plan.budget:g}. Raise budget=, set "
            "max_completion_tokens, or run fewer rows (nothing was sent)."
        )


# ---------------------------------------------------------------------- the run
@dataclass
class Progress:
    """Counters the runner updates and the progress bar reads (one writer: the loop)."""

    total: int
    done: int = 0
    failed: int = 0
    tokens: int = 0
    cost: float = 0.0
    started: float = field(default_factory=time.monotonic)
    errors: list[tuple[str, str]] = field(default_factory=list)
    stopped: str | None = None
    requests: int = 0
    retries: int = 0


class Runner:
    """The rows' requests on one event loop, through one gate."""

    def __init__(
        self,
        plan: Plan,
        session: Session,
        concurrency: int,
        client: Any = None,
        notify: Callable[[], None] | None = None,
    ) -> None:
        self.plan = plan
        self.session = session
        self.concurrency = concurrency
        self.client = client
        self.notify = notify or (lambda: None)
        self.gate = RateGate(concurrency)
        self.outcomes: dict[str, dict[str, Any]] = {}
        self.results: dict[str, Result] = {}
        self.progress = Progress(total=len(plan.todo))
        self.inflight: set[str] = set()
        #: rows in flight when the run was interrupted
        self.interrupted: set[str] = set()
        self.by_key: dict[str, Request] = {}
        for key, request in zip(plan.keys, plan.requests, strict=True):
            self.by_key.setdefault(key, request)
        self.policy = RetryPolicy(max_retries=plan.prep.settings.max_retries)
        self._reserved = 0.0
        self._stop = False
        prices = model_prices(plan.prep.request)
        self._row_high = (
            {
                key: self._high_cost(self.by_key[key], prices.prompt_per_m, prices.completion_per_m)
                for key in plan.todo
            }
            if plan.budget is not None
            else {}
        )

    def _high_cost(self, request: Request, p_in: float, p_out: float) -> float:
        from ..features._spend import estimate_request

        return (
            estimate_request(request).prompt_tokens * p_in + self.plan.estimate.output_high * p_out
        ) / 1e6

    # ---------------------------------------------------------------- one row
    def _budget_allows(self, key: str) -> bool:
        if self.plan.budget is None:
            return True
        need = self._row_high.get(key, 0.0)
        if self.progress.cost + self._reserved + need > self.plan.budget:
            self._stop = True
            self.progress.stopped = f"the budget of ${self.plan.budget:g} was reached"
            return False
        self._reserved += need
        return True

    def _observe(self, request: Request, result: Result, *, received: bool) -> None:
        for feature in list(self.session.features):
            feature.recorded(result)
            if received and result.ok:
                feature.after_reply(request, result)

    def _finish(self, key: str, result: Result, request: Request, *, received: bool) -> None:
        store = self.plan.run_file
        if store is not None:
            store.done(key, result)
        p = self.progress
        p.done += 1
        if not result.cached:  # a replayed reply was paid for when it was recorded
            p.tokens += result.usage.completion_tokens or 0
            p.cost += result.cost or 0.0
        self.outcomes[key] = _flat(result, keep_reasoning=self.plan.keep_reasoning)
        if self.plan.results:
            self.results[key] = result
        self._observe(request, result, received=received)

    def _fail(self, key: str, error: str, partial: Result | None, request: Request) -> None:
        store = self.plan.run_file
        if store is not None:
            store.failed(key, error)
        p = self.progress
        p.done += 1
        p.failed += 1
        if partial is not None:
            p.tokens += partial.usage.completion_tokens or 0
            p.cost += partial.cost or 0.0
            self._observe(request, partial.replace(error=partial.error or error), received=False)
        if len(p.errors) < 50:
            p.errors.append((key, error))
        self.outcomes[key] = {"error": error}

    async def row(self, key: str, client: Any) -> None:
        """Send one row until it is answered, fails, or the run stops."""
        try:
            await self._row(key, client)
        except asyncio.CancelledError:
            # In flight or waiting to retry: marked, so the next run knows it was not a crash.
            self.interrupted.add(key)
            if self.plan.run_file is not None:
                self.plan.run_file.failed(key, "interrupted", status="interrupted")
            raise

    async def _row(self, key: str, client: Any) -> None:
        request = self.by_key[key]
        attempts = throttles = 0
        while not self._stop:
            ticket = await self.gate.acquire()
            if self._stop or not self._budget_allows(key):
                await self.gate.release(ok=False)
                return
            need = self._row_high.get(key, 0.0)
            self.inflight.add(key)
            try:
                outcome = await self._attempt(key, request, client)
            except asyncio.CancelledError:
                await self._release(key, need, ok=False)
                raise
            if outcome is None or isinstance(outcome, Result):
                await self._release(key, need, ok=outcome is not None)
                return
            exc, started = outcome
            status = getattr(exc, "status", None)
            wait = exc.retry_after
            if not started and status in THROTTLE_STATUSES and throttles < MAX_THROTTLES_PER_ROW:
                if wait is None or wait <= self.policy.max_retry_after:
                    throttles += 1
                    self.progress.retries += 1
                    await self.gate.throttled(ticket, wait)  # before release: it counts in flight
                    await self._release(key, need, ok=False)
                    continue
                self._fail(
                    key, _one_line(exc) + f" (the server asked to wait {wait:g} s)", None, request
                )
                await self._release(key, need, ok=False)
                return
            await self._release(key, need, ok=False)
            if (
                not started
                and status not in THROTTLE_STATUSES
                and self.policy.should_retry(attempts, status)
            ):
                delay = self.policy.delay(attempts, wait)
                if delay is not None:
                    attempts += 1
                    self.progress.retries += 1
                    await asyncio.sleep(delay)  # this row only, holding no slot
                    continue
            self._fail(key, _one_line(exc), exc.partial, request)
            return

    async def _release(self, key: str, need: float, *, ok: bool) -> None:
        self.inflight.discard(key)
        self._reserved -= need
        await self.gate.release(ok=ok)
        self.notify()

    async def _attempt(
        self, key: str, request: Request, client: Any
    ) -> Result | tuple[APIError, bool] | None:
        """One try: the Result (answered), None (the row ended unanswered: refused before
        sending), or the error with whether the reply had started (a started stream is
        never replayed)."""
        from .._api import _intercept

        store = self.plan.run_file
        if store is not None:
            store.sending(key, request_record(request))
        try:
            cached = _intercept(self.session, request)
        except BudgetError as exc:  # the session's budget: stop the run, keep what is done
            self._stop = True
            self.progress.stopped = str(exc).split(". ")[0]
            if store is not None:
                store.failed(key, "not sent: the session budget was reached")
            return None
        except DeepSeekError as exc:  # a hook refused this row (a replay cache without it)
            self._fail(key, _one_line(exc), None, request)
            return None
        if cached is not None:
            self._finish(key, cached, request, received=False)
            return cached
        self.progress.requests += 1
        stream = client.stream(
            request,
            keep_chunks=False,
            offline=self.plan.prep.settings.offline,
            max_reply_chars=self.plan.prep.max_reply_chars,
        )
        try:
            await stream.run()
        except APIError as exc:
            return exc, getattr(stream, "_response", None) is not None
        result: Result = stream.result
        self._finish(key, result, request, received=True)
        return result

    async def run(self) -> None:
        """Send every row still to do, ``concurrency`` workers pulling from one queue."""
        from ..client._http import AsyncClient

        own = self.client is None
        client = self.client or AsyncClient(
            verify=self.session.verify_tls,
            policy=RetryPolicy(max_retries=0),
        )
        todo = iter(self.plan.todo)

        async def worker() -> None:
            for key in todo:
                if self._stop:
                    return
                await self.row(key, client)

        try:
            await asyncio.gather(
                *(worker() for _ in range(min(self.concurrency, max(1, len(self.plan.todo)))))
            )
        finally:
            if own:
                await client.aclose()


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text[:300]}"


def _flat(result: Result, *, keep_reasoning: bool) -> dict[str, Any]:
    u = result.usage
    return {
        "answer": result.answer,
        "reasoning": result.reasoning if keep_reasoning else "",
        "prompt_tokens": u.prompt_tokens,
        "reasoning_tokens": u.reasoning_tokens,
        "answer_tokens": u.answer_tokens,
        "cost": result.cost,
        "finish_reason": result.finish_reason,
        "model": result.model,
        "elapsed": result.elapsed,
        "error": "",
    }


# ---------------------------------------------------------------------- the output
def build_frame(plan: Plan, runner: Runner | None, *, interrupted: bool = False) -> Any:
    """The DataFrame aligned with the input's index."""
    import pandas as pd

    outcomes = runner.outcomes if runner is not None else {}
    inflight = (runner.inflight | runner.interrupted) if runner is not None else set()
    stopped = runner.progress.stopped if runner is not None else None
    records = []
    for row, key in zip(plan.rows.records, plan.keys, strict=True):
        out: dict[str, Any] = {c: row.get(c) for c in plan.keep}
        flat = plan.resumed.get(key) or outcomes.get(key)
        if flat is None:
            if interrupted and key in inflight:
                why = "interrupted"
            elif interrupted:
                why = "not sent (interrupted)"
            elif stopped:
                why = f"not sent ({stopped})"
            else:
                why = "not sent"
            flat = {"error": why}
        for column in OUTPUT_COLUMNS[:-1]:
            out[column] = flat.get(
                column, "" if column in ("answer", "reasoning", "error") else None
            )
        if not plan.keep_reasoning:
            out["reasoning"] = ""
        out["request_id"] = key
        if plan.results:
            result = runner.results.get(key) if runner is not None else None
            if result is None and key in plan.resumed and plan.run_file is not None:
                result = plan.run_file.result(key)
            out["result"] = result
        records.append(out)
    frame = pd.DataFrame.from_records(records, index=plan.rows.index)
    frame.attrs["run_file"] = plan.run_file.name if plan.run_file is not None else None
    frame.attrs["estimate"] = plan.estimate.as_dict()
    if stopped:
        frame.attrs["stopped"] = stopped
    if runner is not None:
        p = runner.progress
        frame.attrs.update(
            requests=p.requests,
            retries=p.retries,
            throttled=runner.gate.stats.throttles,
            lowest_limit=runner.gate.stats.lowest_limit,
        )
    return frame


def summary(plan: Plan, runner: Runner | None, seconds: float, *, interrupted: bool = False) -> str:
    """One line, then the first few errors (row labels, one line each)."""
    from .._render import format_cost

    p = runner.progress if runner is not None else Progress(total=0)
    rows = len(plan.keys)
    answered = sum(
        1
        for k in plan.keys
        if k in plan.resumed
        or (runner is not None and runner.outcomes.get(k, {}).get("error") == "")
    )
    failed_rows = sum(
        1 for k in plan.keys if runner is not None and runner.outcomes.get(k, {}).get("error")
    )
    resumed = sum(1 for k in plan.keys if k in plan.resumed)
    parts = [
        f"{answered:,}/{rows:,} rows answered"
        + (f" ({resumed:,} from the run file)" if resumed else "")
    ]
    if failed_rows:
        parts.append(f"{failed_rows:,} failed")
    missing = rows - answered - failed_rows
    if missing:
        parts.append(f"{missing:,} not answered")
    parts.append(f"{p.requests:,} requests" + (f" ({p.retries:,} retried)" if p.retries else ""))
    if runner is not None and runner.gate.stats.throttles:
        parts.append(f"{runner.gate.stats.throttles:,} throttled")
    parts.append(f"{p.tokens:,} completion tokens")
    parts.append(
        format_cost(p.cost) + (" (simulated, not charged)" if plan.estimate.offline else "")
    )
    parts.append(f"{seconds:.1f} s")
    head = "Interrupted: " if interrupted else ("Stopped: " + p.stopped + ". " if p.stopped else "")
    line = "map: " + head + " · ".join(parts)
    if plan.estimate.offline:
        from .._render import OFFLINE_NOTE

        line = f"[{OFFLINE_NOTE}] {line}"
    if plan.run_file is not None:
        line += f" · run file {plan.run_file.name}"
    if plan.crashed:
        line += f" · {plan.crashed} rows an earlier run left unfinished (a crash?) were sent again"
    label = {k: i for k, i in reversed(list(zip(plan.keys, plan.rows.index, strict=True)))}
    shown = [f"  row {label.get(k)!r}: {e}" for k, e in p.errors[:SHOWN_ERRORS]]
    if len(p.errors) > SHOWN_ERRORS:
        shown.append(f"  … and {failed_rows - SHOWN_ERRORS} more (the error column has them all)")
    return "\n".join([line, *shown])


# ---------------------------------------------------------------------- progress
class Bar:
    """A tqdm.auto bar (a widget in notebooks, text in a terminal), or nothing."""

    def __init__(self, plan: Plan, enabled: bool) -> None:
        self.bar: Any = None
        self.seen = 0
        if not enabled:
            return
        from tqdm.auto import tqdm

        rows = len(plan.todo) + len(plan.resumed)
        self.bar = tqdm(
            total=rows,
            initial=len(plan.resumed),
            unit="row",
            desc="map",
            dynamic_ncols=True,
            smoothing=0.1,
        )

    def update(self, runner: Runner, *, force: bool = False) -> None:
        if self.bar is None:
            return
        p = runner.progress
        elapsed = max(1e-9, time.monotonic() - p.started)
        from .._render import format_cost

        self.bar.set_postfix_str(
            f"failed {p.failed} · {p.tokens / elapsed:,.0f} tok/s · {format_cost(p.cost)}",
            refresh=False,
        )
        step = p.done - self.seen
        self.seen = p.done
        if step or force:
            self.bar.update(step)
        if force:
            self.bar.refresh()

    def close(self, ok: bool) -> None:
        if self.bar is None:
            return
        if not ok:
            self.bar.colour = (
                "#d32f2f"  # a notebook bar turns red when rows failed; text ignores it
            )
        self.bar.close()


# ---------------------------------------------------------------------- entry points
def _split_kwargs(kwargs: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The call settings (the settings table's keywords, checked) and the request options."""
    call, options = split_keywords(kwargs)
    return dict(call.items()), options


def _begin(
    data: Any,
    prompt: Any,
    session: Session | None,
    concurrency: Any,
    kwargs: Mapping[str, Any],
    **plan: Any,
) -> tuple[Session, int, Plan]:
    """What :func:`map_rows` and :func:`amap_rows` do before running: the session (its
    features switched on), the checked concurrency, and the plan (raises before sending)."""
    session = session or SESSION
    start(session)  # DEEPSEEK_MAGIC_OFFLINE / _CACHE and the spend guard (once)
    checked = _check_concurrency(concurrency)
    settings, options = _split_kwargs(dict(kwargs))
    return (
        session,
        checked,
        plan_run(data, prompt, session=session, options=options, settings=settings, **plan),
    )


def _check_concurrency(concurrency: Any) -> int:
    if (
        not isinstance(concurrency, int)
        or isinstance(concurrency, bool)
        or not 1 <= concurrency <= 256
    ):
        raise OptionError(
            f"concurrency={concurrency!r}: expected a whole number from 1 to 256.",
            option="concurrency",
        )
    return concurrency


def _thread_run(runner: Runner, bar: Bar) -> None:
    """Run the loop in a worker thread (a notebook's main thread already runs one) and keep
    the bar moving from this thread; the kernel's interrupt cancels the run."""
    wake: queue.SimpleQueue[int] = queue.SimpleQueue()
    runner.notify = lambda: wake.put(1)
    state: dict[str, Any] = {}

    def main() -> None:
        async def go() -> None:
            state["loop"] = asyncio.get_running_loop()
            state["task"] = asyncio.current_task()
            await runner.run()

        try:
            asyncio.run(go())
        except asyncio.CancelledError:
            pass
        except BaseException as exc:  # noqa: BLE001  (surfaced in the caller's thread)
            state["failure"] = exc
        finally:
            wake.put(-1)

    thread = threading.Thread(target=main, name="deepseek-magic-map", daemon=True)
    thread.start()
    try:
        while True:
            try:
                # A short wait, again and again: a simulated interrupt (_thread.interrupt_main)
                # does not wake a blocked get(); the bar also refreshes its rate and ETA.
                item = wake.get(timeout=0.2)
            except queue.Empty:
                bar.update(runner)
                continue
            if item < 0:
                break
            while True:  # drain: one bar update for many finished rows
                try:
                    if wake.get_nowait() < 0:
                        raise _Ended
                except queue.Empty:
                    break
            bar.update(runner)
    except _Ended:
        pass
    except KeyboardInterrupt:
        loop, task = state.get("loop"), state.get("task")
        if loop is not None and task is not None and not loop.is_closed():
            try:
                loop.call_soon_threadsafe(task.cancel)
            except RuntimeError:
                pass
        thread.join()
        raise
    thread.join()
    if "failure" in state:
        raise state["failure"]


class _Ended(Exception):
    pass


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
    **kwargs: Any,
) -> Any:
    """Ask DeepSeek R1 once per row of ``data`` and return a DataFrame aligned with its index.

    ``data``: a DataFrame, a list of strings (column ``text``) or a list of dicts.
    ``prompt``: a template filled per row (``"Solve: {question}"``; a name that is not a
    column is an error before anything is sent) or a function ``row -> prompt or messages``.
    Output columns: the input columns in ``keep`` (default: those the template uses),
    ``answer``, ``reasoning``, ``reasoning_tokens``, ``answer_tokens``, ``prompt_tokens``,
    ``cost``, ``finish_reason``, ``model``, ``elapsed``, ``error`` (one line, empty on
    success), ``request_id``, and ``result`` (the Result objects) with ``results=True``.

    ``concurrency`` (default 8) requests at most in flight, slowed down together when the
    server throttles. Every finished row is written to ``run_file`` (default
    ``deepseek-runs.sqlite`` in the working folder, the notebook's; ``None`` for none): the
    same call again sends only the rows not yet answered. ``budget`` (US dollars) refuses
    a run whose estimate can exceed it and stops one that reaches it. ``dry_run=True``
    returns the estimate and sends nothing. ``keep_reasoning=False`` keeps the reasoning
    in the run file only (``open_run(path).reasoning(request_id)``). Other keywords are
    those of :func:`~deepseek_magic.ask` (``model=``, ``system=``, ``temperature=`` ...).
    """
    session, concurrency, plan = _begin(
        data,
        prompt,
        session,
        concurrency,
        kwargs,
        keep=keep,
        budget=budget,
        run_file=run_file,
        keep_reasoning=keep_reasoning,
        results=results,
        style=template_style,
        namespace=namespace,
        dry_run=dry_run,
    )
    try:
        if dry_run:
            return plan.estimate
        check_plan_budget(plan)
        if progress:
            print(plan.estimate.line())
        runner = Runner(plan, session, concurrency, client)
        bar = Bar(plan, progress)
        started = time.monotonic()
        try:
            _thread_run(runner, bar)
        except KeyboardInterrupt as exc:
            _stopped(plan, runner, bar, started, exc)
            raise
        except BaseException:
            bar.close(ok=False)
            raise
        return _finished(plan, runner, bar, started)
    finally:
        if plan.run_file is not None:
            plan.run_file.close()


def _stopped(plan: Plan, runner: Runner, bar: Bar, started: float, exc: BaseException) -> None:
    """A stopped run: close the bar, say what was kept, hang the rows done on ``exc``."""
    bar.update(runner, force=True)
    bar.close(ok=False)
    frame = build_frame(plan, runner, interrupted=True)
    print(summary(plan, runner, time.monotonic() - started, interrupted=True))
    exc.partial = frame  # type: ignore[attr-defined]


def _finished(plan: Plan, runner: Runner, bar: Bar, started: float) -> Any:
    """A finished run: close the bar, print the summary line, return the DataFrame."""
    bar.update(runner, force=True)
    bar.close(ok=not runner.progress.failed)
    print(summary(plan, runner, time.monotonic() - started))
    return build_frame(plan, runner)


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
    **kwargs: Any,
) -> Any:
    """The awaitable twin of :func:`map_rows` (same arguments), on the caller's event loop."""
    session, concurrency, plan = _begin(
        data,
        prompt,
        session,
        concurrency,
        kwargs,
        keep=keep,
        budget=budget,
        run_file=run_file,
        keep_reasoning=keep_reasoning,
        results=results,
        dry_run=dry_run,
    )
    try:
        if dry_run:
            return plan.estimate
        check_plan_budget(plan)
        if progress:
            print(plan.estimate.line())
        runner = Runner(plan, session, concurrency, client)
        bar = Bar(plan, progress)
        last = [0.0]

        def tick() -> None:
            now = time.monotonic()
            if now - last[0] >= 0.1:
                last[0] = now
                bar.update(runner)

        runner.notify = tick
        started = time.monotonic()
        try:
            await runner.run()
        except (asyncio.CancelledError, KeyboardInterrupt) as exc:
            _stopped(plan, runner, bar, started, exc)
            raise
        except BaseException:
            bar.close(ok=False)
            raise
        return _finished(plan, runner, bar, started)
    finally:
        if plan.run_file is not None:
            plan.run_file.close()
