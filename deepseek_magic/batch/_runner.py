"""The rows of a batch run on one event loop: at most ``concurrency`` requests in flight
through one shared :class:`~._ratelimit.RateGate`, each row's outcome recorded as it ends.
The requests go through the engine (:func:`~deepseek_magic.engine._dispatch.run_many`);
this module is the batch's side of it (:class:`_RowLane`).

A throttle (429/503 before the first byte) slows the whole run through the gate; other
failures before the first byte (5xx, a connection refused) are retried per row following
the :class:`~deepseek_magic.client._retry.RetryPolicy` (backoff, at most
``max_retries``); a failure after the first byte is never replayed: the row fails with
its one-line error (and is sent again by the next run, never stored as an answer). A run
that reaches its budget stops starting rows and keeps what is done. A cancelled row is
marked ``interrupted`` in the run file, so the next run knows it was not a crash.

Each finished row is written to the run file at once and recorded as its flat row
(:func:`._output.answered_row`); the session's features see every reply (the spend guard
counts it), the session's history does not keep it.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, overload

from ..client._request import Request
from ..core._errors import BudgetError, DeepSeekError, Interrupted
from ..core._result import Result
from ..core._session import Session
from ..engine._dispatch import MAX_THROTTLES_PER_ROW, Lane, run_many
from ..features._cache import request_record
from ._output import answered_row, unanswered_row
from ._plan import Plan
from ._ratelimit import THROTTLE_STATUSES, RateGate
from ._runcost import model_prices

if TYPE_CHECKING:
    from ..engine._api import Prepared

__all__ = ["MAX_THROTTLES_PER_ROW", "Progress", "Runner"]


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
        #: the unique keys to send, in row order (item i of the engine's run)
        self.keys: list[str] = list(plan.todo)
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

    def _finish(self, key: str, result: Result) -> None:
        if result.data_error is not None:  # typed answers: no data is a failed row, sent again
            self._fail(key, f"no data: {result.data_error}", result)
            error = self.outcomes[key]["error"]  # the frame keeps the text that did not fit
            self.outcomes[key] = answered_row(result, keep_reasoning=self.plan.keep_reasoning)
            self.outcomes[key]["error"] = error
            return
        store = self.plan.run_file
        if store is not None:
            store.done(key, result)
        p = self.progress
        p.done += 1
        if not result.cached:  # a replayed reply was paid for when it was recorded
            p.tokens += result.usage.completion_tokens or 0
            p.cost += result.cost or 0.0
        self.outcomes[key] = answered_row(result, keep_reasoning=self.plan.keep_reasoning)
        if self.plan.results:
            self.results[key] = result

    def _fail(self, key: str, error: str, partial: Result | None) -> None:
        store = self.plan.run_file
        if store is not None:
            store.failed(key, error)
        p = self.progress
        p.done += 1
        p.failed += 1
        if partial is not None:
            p.tokens += partial.usage.completion_tokens or 0
            p.cost += partial.cost or 0.0
        if len(p.errors) < 50:
            p.errors.append((key, error))
        self.outcomes[key] = unanswered_row(error)

    async def run(self) -> None:
        """Send every row still to do through the engine (one request per unique key),
        ``concurrency`` workers pulling from one queue through the run's rate gate."""
        from ..client._http import AsyncClient

        own = self.client is None
        client = self.client or AsyncClient(verify=self.session.verify_tls)
        try:
            await run_many(
                _RowPreps(self),
                session=self.session,
                gate=self.gate,
                lane=_RowLane(self),
                concurrency=self.concurrency,
                client=client,
                record=False,
                keep=False,
            )
        finally:
            if own:
                await client.aclose()


class _RowPreps(Sequence["Prepared"]):
    """The rows' prepared requests, made when the engine reaches each row (10,000 rows
    hold one shared ``Prepared`` and their requests, not 10,000 copies)."""

    def __init__(self, runner: Runner) -> None:
        self.runner = runner

    def __len__(self) -> int:
        return len(self.runner.keys)

    @overload
    def __getitem__(self, i: int) -> Prepared: ...

    @overload
    def __getitem__(self, i: slice) -> Sequence[Prepared]: ...

    def __getitem__(self, i: int | slice) -> Prepared | Sequence[Prepared]:
        if isinstance(i, slice):
            return [self[j] for j in range(len(self))[i]]
        r = self.runner
        return dataclasses.replace(r.plan.prep, request=r.by_key[r.keys[i]])


class _RowLane(Lane):
    """The runner's side of the engine's ``run_many``: the budget, the run file, the
    progress counters, each row's outcome."""

    def __init__(self, runner: Runner) -> None:
        self.r = runner
        self.need: dict[int, float] = {}

    def admit(self, i: int) -> bool:
        r = self.r
        key = r.keys[i]
        if r._stop or not r._budget_allows(key):
            return False
        self.need[i] = r._row_high.get(key, 0.0)
        r.inflight.add(key)
        return True

    def sending(self, i: int, request: Request) -> None:
        r = self.r
        if r.plan.run_file is not None:
            r.plan.run_file.sending(r.keys[i], request_record(request))
        r.progress.requests += 1

    def released(self, i: int) -> None:
        r = self.r
        r.inflight.discard(r.keys[i])
        r._reserved -= self.need.pop(i, 0.0)
        r.notify()

    def retrying(self, i: int) -> None:
        self.r.progress.retries += 1

    def done(self, i: int, outcome: Result | BaseException | None) -> None:
        r = self.r
        key = r.keys[i]
        store = r.plan.run_file
        if isinstance(outcome, Result):
            r._finish(key, outcome)
        elif isinstance(outcome, Interrupted):
            # In flight or waiting to retry: marked, so the next run knows it was not a crash.
            r.interrupted.add(key)
            if store is not None:
                store.failed(key, "interrupted", status="interrupted")
        elif isinstance(outcome, BudgetError):  # the session's budget: stop, keep what is done
            r._stop = True
            r.progress.stopped = str(outcome).split(". ")[0]
            if store is not None:
                store.failed(key, "not sent: the session budget was reached")
        elif isinstance(outcome, DeepSeekError):
            r._fail(key, _one_line(outcome), outcome.partial)
        elif outcome is not None:
            r._fail(key, _one_line(outcome), None)


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    line = f"{type(exc).__name__}: {text[:300]}"
    wait = getattr(exc, "retry_after", None)
    if getattr(exc, "status", None) in THROTTLE_STATUSES and wait is not None:
        line += f" (the server asked to wait {wait:g} s)"
    return line
