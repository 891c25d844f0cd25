"""The rows of a batch run on one event loop: at most ``concurrency`` requests in flight
through one shared :class:`~._ratelimit.RateGate`, each row's outcome recorded as it ends.

A throttle (429/503 before the first byte) slows the whole run through the gate; other
failures before the first byte (5xx, a connection refused) are retried per row following
the client's :class:`~deepseek_magic.client._retry.RetryPolicy` (backoff, at most
``max_retries``); a failure after the first byte is never replayed: the row fails with
its one-line error (and is sent again by the next run, never stored as an answer). A run
that reaches its budget stops starting rows and keeps what is done. A cancelled row is
marked ``interrupted`` in the run file, so the next run knows it was not a crash.

Each finished row is written to the run file at once and recorded as its flat row
(:func:`._output.answered_row`); the session's features see every reply (the spend guard
counts it), the session's history does not keep it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .._errors import APIError, BudgetError, DeepSeekError
from .._result import Result
from .._session import Session
from ..client._request import Request
from ..client._retry import RetryPolicy
from ..features._cache import request_record
from ..features._schema_batch import arun_extra_rounds
from ._output import answered_row, unanswered_row
from ._plan import Plan
from ._ratelimit import THROTTLE_STATUSES, RateGate
from ._runcost import model_prices

__all__ = ["MAX_THROTTLES_PER_ROW", "Progress", "Runner"]

#: a row refused this many times as "too much" fails (the server never had room for it)
MAX_THROTTLES_PER_ROW = 50


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
        self.outcomes[key] = answered_row(result, keep_reasoning=self.plan.keep_reasoning)
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
        self.outcomes[key] = unanswered_row(error)

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
        result = await arun_extra_rounds(  # typed answers: a retry, repair rounds
            self.plan.prep.schema,
            request,
            result,
            client,
            offline=self.plan.prep.settings.offline,
            max_reply_chars=self.plan.prep.max_reply_chars,
            progress=self.progress,
        )
        if result.data_error is not None:  # no data: a failed row, sent again by the next run
            self._fail(key, f"no data: {result.data_error}", result, request)
            error = self.outcomes[key]["error"]  # the frame keeps the text that did not fit
            self.outcomes[key] = answered_row(result, keep_reasoning=self.plan.keep_reasoning)
            self.outcomes[key]["error"] = error
            return result
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
