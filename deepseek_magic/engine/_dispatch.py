"""The one place a prepared request becomes a :class:`~deepseek_magic.Result`.

Every entry point (``ask``/``aask``, ``stream``/``astream``, the magic, the panel's Send
and Compare, sweeps, ``map``/``amap``) ends here; this is the only module that calls a
client's ``stream()``. One request, in this order:

1. the session's features, lowest ``order`` first: ``before_request`` (a replay answers,
   a budget refuses);
2. the request on the network (retries: see below); its events go to the caller;
3. ``after_reply`` for a reply that arrived from the network and ended normally;
4. the *extra-round hooks* (:mod:`._rounds`, one shape), after a reply that is ok, in
   this order: the tool round (the model's tool calls run, ``max_tool_rounds``), typed
   answers' retry of empty content and repair rounds (``Prepared.schema.hooks``: they put
   ``data`` on the Result), ``Prepared.extra_rounds``, then ``extra_rounds=``. Each may
   annotate the Result and return the next Request; the first that does sends it (within
   its budget, counted here per request) and the hooks run again on its reply;
5. (no hook sends more) the last round's Result is final;
6. the rounds combined into one Result (cost and time summed; ``rounds`` keeps the
   earlier ones), the conversation extended, the Result recorded: in the session's
   history (``record=True``) and, always, by ``Feature.recorded``.

On failure the raised error carries the combined partial Result as ``.partial`` (and it
is recorded); on the kernel's interrupt :class:`~deepseek_magic.Interrupted` is raised
with it; a cancelled task re-raises ``CancelledError`` after recording it. A server that
refuses the model name gets one line with the closest model it serves, the same text in
the sync and the async twin.

Retries: a single request (``run``/``run_sync``) lets the client retry before the first
byte (its :class:`~deepseek_magic.client._retry.RetryPolicy`, from ``max_retries``). A
gated one (``run_many``, or ``run(gate=...)``) tries through the gate instead, so that a
throttle (429/503 before the first byte) slows every request of the run together
(:class:`~deepseek_magic.batch._ratelimit.RateGate`, the default) and a backoff holds no
slot; a reply that has started is never sent again.

Extra-round hook: see :mod:`._rounds` (the shape, an example, the budgets).
"""

from __future__ import annotations

import asyncio
import sys
import threading
import warnings
from collections.abc import (
    AsyncGenerator,
    AsyncIterator,
    Callable,
    Generator,
    Iterator,
    Mapping,
    Sequence,
)
from typing import TYPE_CHECKING, Any, Protocol

from ..core._errors import APIError, DeepSeekError, Interrupted
from ..core._result import Result, ToolCall
from ._rounds import ExtraRound, Outcome, Round, assistant_message
from ._tools import run_tool_call

if TYPE_CHECKING:
    from ..client._events import ChatEvent
    from ..client._http import AsyncClient, Client
    from ..client._request import Request
    from ..client._retry import RetryPolicy
    from ..core._session import Session
    from ._api import Prepared

__all__ = [
    "ARun",
    "ExtraRound",
    "Outcome",
    "Round",
    "Gate",
    "Lane",
    "Limit",
    "MAX_THROTTLES_PER_ROW",
    "Rounds",
    "Run",
    "STOPPED",
    "assistant_message",
    "aevents",
    "events",
    "run",
    "run_many",
    "run_sync",
]

EventHook = Callable[["ChatEvent", Any], None]
StreamHook = Callable[[Any], None]

#: a request refused this many times as "too much" fails (the server never had room for it)
MAX_THROTTLES_PER_ROW = 50
#: what an interrupted request's error says
STOPPED = "Stopped by the kernel's interrupt."


# ------------------------------------------------------------ the tool round (the first hook)
def _tool_messages(calls: Sequence[ToolCall]) -> list[dict[str, Any]]:
    return [
        {
            "role": "tool",
            "tool_call_id": c.id,
            "content": c.output if c.error is None else f"Error: {c.error}",
        }
        for c in calls
    ]


def _tool_round(round: Round) -> Outcome | None:
    """Run the reply's tool calls if allowed and send their outputs back.

    The calls stay pending (not run; ``_tools.run_pending`` runs them) when the budget
    (``max_tool_rounds``) is spent (running them would be a side effect whose result the
    model never sees) or when one names an offered raw spec with no Python function."""
    prep, result = round.prep, round.result
    if not (prep.run_tools and result.tool_calls):
        return None
    functions = prep.request.tool_functions
    offered = {
        t.get("function", {}).get("name")
        for t in prep.request.body.get("tools") or ()
        if isinstance(t, Mapping)
    }
    if any(c.name not in functions and c.name in offered for c in result.tool_calls):
        return None
    if round.left <= 0:
        warnings.warn(
            f"Stopped after {prep.max_tool_rounds} tool rounds (max_tool_rounds); the last tool "
            "calls were not run: they are in result.tool_calls "
            "(deepseek_magic.engine._tools.run_pending runs them).",
            stacklevel=2,
        )
        return None
    ran = result.replace(tool_calls=tuple(run_tool_call(c, functions) for c in result.tool_calls))
    turn = assistant_message(ran, prep.settings.provider, in_tool_turn=True)
    return round.again(*_tool_messages(ran.tool_calls), reply=turn, result=ran)


def tool_round(prep: Prepared) -> ExtraRound:
    """The first hook: the model's tool calls, at most ``max_tool_rounds`` rounds."""
    return ExtraRound("tools", _tool_round, prep.max_tool_rounds)


def _sum(values: Sequence[float | None]) -> float | None:
    given = [v for v in values if v is not None]
    return sum(given) if given else None


# ---------------------------------------------------------------------- the rounds
class Rounds:
    """One prepared request's rounds and what they share between the sync and async
    loops: the hooks around each request, the tool and extra rounds, and keeping whatever
    arrived when a round fails or is interrupted. ``result`` is the Result so far at any
    moment (finished rounds combined with the one in flight)."""

    def __init__(
        self,
        prep: Prepared,
        session: Session,
        *,
        record: bool = True,
        extra_rounds: Sequence[ExtraRound] = (),
    ) -> None:
        self.prep = prep
        self.session = session
        self.record = record
        schema = prep.schema.hooks if prep.schema is not None else ()
        #: the hooks, in their one order (see the module docstring)
        self.hooks: tuple[ExtraRound, ...] = (
            tool_round(prep),
            *schema,
            *prep.extra_rounds,
            *extra_rounds,
        )
        self.rounds: list[Result] = []
        self.request: Request | None = prep.request
        #: rounds each hook asked for (by name): the one place budgets are counted
        self.used: dict[str, int] = {}
        #: the messages later rounds added (tool turns, extra rounds): a conversation keeps them
        self.added: list[dict[str, Any]] = []
        #: the stream in flight (None between rounds)
        self.stream: Any = None
        #: the combined Result once finished (or failed, or interrupted)
        self.final: Result | None = None

    def __iter__(self) -> Iterator[Request]:
        while self.request is not None and self.final is None:
            yield self.request

    @property
    def result(self) -> Result:
        if self.final is not None:
            return self.final
        current = [self.stream.result] if self.stream is not None else []
        rounds = self.rounds + current
        return self._combine(rounds) if rounds else Result(model=self.prep.settings.model)

    # ------------------------------------------------------------ the hooks, in order
    def before(self, request: Request) -> Result | None:
        """A feature's answer (the replay cache), or None to send; a feature may refuse
        (raise): the rounds already done are kept on the error."""
        try:
            for feature in list(self.session.features):
                found = feature.before_request(request)
                if found is not None:
                    return found
        except DeepSeekError as exc:
            if self.rounds and exc.partial is None:
                exc.partial = self._close(list(self.rounds))
            raise
        return None

    def received(self, request: Request, result: Result, *, network: bool = True) -> None:
        """A round's reply: tell the features (when it came from the network), then let
        the hooks annotate it and send one more round, or finish."""
        self.stream = None
        if network and result.ok:
            for feature in list(self.session.features):
                feature.after_reply(request, result)
        outcome = self._hooks(request, result) if result.ok else Outcome(result)
        self.rounds.append(outcome.result)
        if outcome.next is None:
            self.request = None
            self._close(self.rounds)
            return
        self.added.extend(outcome.added)
        self.request = outcome.next

    def _hooks(self, request: Request, result: Result) -> Outcome:
        """Each hook in order, each seeing the Result the one before kept; the first next
        Request within its hook's budget is the outcome."""
        try:
            for hook in self.hooks:
                used = self.used.get(hook.name, 0)
                left = hook.budget - used
                seen = Round(self.prep, request, result, tuple(self.rounds), self.used, left)
                outcome = hook.decide(seen)
                if outcome is None:
                    continue
                result = outcome.result
                if outcome.next is not None and left > 0:
                    self.used[hook.name] = used + 1
                    return outcome
        except KeyboardInterrupt:
            # Ctrl-C while a hook (a tool) runs: the reply that asked for it is kept.
            self.interrupted(result)
            raise
        return Outcome(result)

    def failed(self, exc: DeepSeekError, partial: Result) -> None:
        partial = (exc.partial or partial).replace(
            error=str(exc),
            error_type=type(exc).__name__,
            error_status=getattr(exc, "status_code", None),
        )
        exc.partial = self._close(self.rounds + [partial])

    def interrupted(self, partial: Result | None = None) -> Result:
        if self.final is not None:
            return self.final
        if partial is None:
            partial = self.stream.result if self.stream is not None else None
        rounds = self.rounds + ([partial.replace(interrupted=True)] if partial else [])
        if not rounds:
            rounds = [Result(model=self.prep.settings.model, interrupted=True)]
        return self._close(rounds)

    # ------------------------------------------------------------ the end
    def _combine(self, rounds: list[Result]) -> Result:
        last = rounds[-1]
        if len(rounds) > 1:
            last = last.replace(
                rounds=tuple(rounds[:-1]),
                elapsed=sum(r.elapsed for r in rounds),
                cost=_sum([r.cost for r in rounds]),
            )
        if self.prep.conversation is not None:
            last = last.replace(conversation=self.prep.conversation.name)
        return last

    def _close(self, rounds: list[Result]) -> Result:
        result = self._combine(rounds)
        prep = self.prep
        if prep.conversation is not None and result.ok:
            conv = prep.conversation
            conv.messages.extend(prep.new_messages)
            conv.messages.extend(self.added)
            # The final answer of a tool turn keeps its reasoning too (DeepSeek: "in all
            # subsequent user turns", wire-format.md section 11)
            conv.messages.append(
                assistant_message(
                    result, prep.settings.provider, in_tool_turn=self.used.get("tools", 0) > 0
                )
            )
            conv.results.append(result)
        if self.record:
            self.session.record(result)
        else:
            for feature in list(self.session.features):
                feature.recorded(result)
        self.final = result
        return result

    # ------------------------------------------------------------ "not served"
    def not_served(self, exc: DeepSeekError, catalogue: Any) -> DeepSeekError:
        """``exc`` rebuilt with one line naming the closest model the server serves."""
        from ..client._catalogue import not_served_message

        settings = self.prep.settings
        message = not_served_message(settings.model, settings.provider, catalogue)
        return _rebuilt(exc, message, "")

    def changed(self, exc: DeepSeekError) -> DeepSeekError | None:
        """``exc`` rebuilt with a hint naming what changed on the server, for a refusal the
        catalogue did not foresee (reasoning now mandatory, ...), else None."""
        from ..client._catalogue import changed_hint

        hint = changed_hint(getattr(exc, "status_code", None), exc.message)
        return None if hint is None else _rebuilt(exc, exc.message, hint)

    def is_not_served(self, exc: DeepSeekError) -> bool:
        from ..client._catalogue import is_not_served

        return is_not_served(getattr(exc, "status", None), exc.message)


def _rebuilt(exc: DeepSeekError, message: str, hint: str) -> DeepSeekError:
    """``exc`` built again with its final message and hint (errors are built once)."""
    if isinstance(exc, APIError):
        return type(exc)(
            message,
            hint=hint,
            partial=exc.partial,
            status=exc.status,
            code=exc.code,
            body=exc.body,
            request_id=exc.request_id,
            metadata=exc.metadata,
            retry_after=exc.retry_after,
        )
    return type(exc)(message, hint=hint, partial=exc.partial)


def _catalogue(rounds: Rounds, http: Any) -> Any:
    from ..client._catalogue import load_catalogue

    return load_catalogue(rounds.session, rounds.prep.settings, http=http)[0]


def _known_catalogue(rounds: Rounds) -> Any:
    from ..client._catalogue import known_catalogue

    return known_catalogue(rounds.session, rounds.prep.settings)


def _stream_args(prep: Prepared) -> dict[str, Any]:
    return {
        "keep_chunks": prep.keep_chunks,
        "offline": prep.settings.offline,
        "max_reply_chars": prep.max_reply_chars,
    }


# ---------------------------------------------------------------------- the sync twin
def events(
    rounds: Rounds, client: Client, *, on_stream: StreamHook | None = None
) -> Generator[ChatEvent, None, None]:
    """Every round's events, in order (a generator: closing it stops the request in
    flight and records the partial Result). ``rounds.result`` is the Result so far."""
    for request in rounds:
        cached = rounds.before(request)
        if cached is not None:
            rounds.received(request, cached, network=False)
            continue
        stream = rounds.stream = client.stream(request, **_stream_args(rounds.prep))
        if on_stream is not None:
            on_stream(stream)
        reading = iter(stream)
        try:
            yield from reading
        except DeepSeekError as exc:
            changed = rounds.changed(exc)
            if changed is None and rounds.is_not_served(exc):
                changed = rounds.not_served(exc, _catalogue(rounds, getattr(client, "http", None)))
            if changed is not None:
                rounds.failed(changed, stream.result)
                raise changed from None
            rounds.failed(exc, stream.result)
            raise
        except (KeyboardInterrupt, GeneratorExit):
            reading.close()
            rounds.interrupted(stream.result.replace(interrupted=True))
            raise
        rounds.received(request, stream.result)


class Run:
    """One prepared request being sent (sync): iterate it for the chat events of every
    round; ``result`` is the Result so far at any moment; :meth:`close` stops it (from
    another thread too: the connection is shut and the reading thread raises
    :class:`Interrupted`), keeping the partial. :meth:`finish` runs it to the end."""

    def __init__(
        self,
        prep: Prepared,
        *,
        session: Session,
        client: Client | None = None,
        on_stream: StreamHook | None = None,
        record: bool = True,
        extra_rounds: Sequence[ExtraRound] = (),
    ) -> None:
        self.rounds = Rounds(prep, session, record=record, extra_rounds=extra_rounds)
        self._events = events(self.rounds, client or session.client(), on_stream=on_stream)
        self._reader: int | None = None
        self._started = False
        self._ended = False

    @property
    def result(self) -> Result:
        return self.rounds.result

    @property
    def done(self) -> bool:
        return self.rounds.final is not None

    def __iter__(self) -> Iterator[ChatEvent]:
        self._reader = threading.get_ident()
        self._started = True
        try:
            yield from self._events
        except Interrupted:
            self._ended = True
            raise
        except KeyboardInterrupt:
            self._ended = True
            raise Interrupted(STOPPED, partial=self.rounds.interrupted()) from None
        except BaseException:
            # The events ended with this error (a refusal before sending records nothing;
            # a failure after has recorded its partial): there is nothing left to close.
            self._ended = True
            raise
        finally:
            self._reader = None

    def close(self) -> None:
        """Stop now; what arrived is kept (recorded, marked interrupted). A run never
        iterated sent nothing and records nothing."""
        if self.done or not self._started or self._ended:
            return
        reader = self._reader
        if reader is not None and reader != threading.get_ident():
            stream = self.rounds.stream  # another thread reads: wake it (ChatStream.close)
            if stream is not None:
                stream.close()
            return
        self._events.close()
        self.rounds.interrupted()

    def finish(self, on_event: EventHook | None = None) -> Result:
        """Read to the end and return the Result (``on_event(event, stream)`` sees each
        event); the kernel's interrupt raises :class:`Interrupted` with the partial."""
        try:
            for event in self:
                if on_event is not None:
                    on_event(event, self.rounds.stream)
        except Interrupted:
            raise
        except KeyboardInterrupt:  # raised by on_event, outside the events
            self.close()
            raise Interrupted(STOPPED, partial=self.rounds.interrupted()) from None
        assert self.rounds.final is not None
        return self.rounds.final


def run_sync(
    prep: Prepared,
    *,
    session: Session,
    client: Client | None = None,
    on_event: EventHook | None = None,
    on_stream: StreamHook | None = None,
    record: bool = True,
    extra_rounds: Sequence[ExtraRound] = (),
) -> Result:
    """Send ``prep`` (and its tool and extra rounds) and return the Result; see the module
    docstring. The kernel's interrupt raises :class:`Interrupted` with the partial."""
    run = Run(
        prep,
        session=session,
        client=client,
        on_stream=on_stream,
        record=record,
        extra_rounds=extra_rounds,
    )
    return run.finish(on_event)


# ---------------------------------------------------------------------- the async twin
class Gate(Protocol):
    """How many requests may be in flight, and when (``RateGate`` and :class:`Limit`)."""

    async def acquire(self) -> int: ...

    async def release(self, *, ok: bool) -> None: ...

    async def throttled(self, ticket: int, retry_after: float | None) -> None: ...


class Limit:
    """A plain limit: at most ``n`` requests in flight; a throttle is retried after the
    policy's backoff (a sweep's gate: a few points, no rate to learn)."""

    def __init__(self, n: int) -> None:
        self._sem = asyncio.Semaphore(n)

    async def acquire(self) -> int:
        await self._sem.acquire()
        return 0

    async def release(self, *, ok: bool) -> None:
        self._sem.release()

    async def throttled(self, ticket: int, retry_after: float | None) -> None:
        """Never called: under a plain limit a throttle is retried like any other failure."""


class Lane:
    """What :func:`run_many` tells its caller about item ``i`` (override what you need)."""

    def admit(self, i: int) -> bool:
        """Holding a slot, before each try: False ends the item unsent (``done(i, None)``)."""
        return True

    def sending(self, i: int, request: Request) -> None:
        """A try goes to the network (after the features let it)."""

    def released(self, i: int) -> None:
        """A try's slot was given back."""

    def retrying(self, i: int) -> None:
        """A try failed before the first byte and will be made again."""

    def stream(self, i: int, stream: Any) -> None:
        """A request's stream opened (each round, each try)."""

    def event(self, i: int, event: ChatEvent, stream: Any) -> None:
        """One event of item ``i``'s reply."""

    def done(self, i: int, outcome: Result | BaseException | None) -> None:
        """Item ``i`` ended: its Result, the error that ended it (``.partial`` kept; a stop
        is an :class:`Interrupted`), or None (not admitted)."""


class _NotAdmitted(Exception):
    pass


class _Try:
    """One gated try's bookkeeping: the gate's ticket, how many throttles and retries."""

    def __init__(self, gate: Gate, policy: RetryPolicy, lane: Lane, i: int) -> None:
        self.gate, self.policy, self.lane, self.i = gate, policy, lane, i
        self.ticket = 0
        self.attempts = self.throttles = 0
        self.holding = False

    async def enter(self) -> None:
        self.ticket = await self.gate.acquire()
        self.holding = True
        if not self.lane.admit(self.i):
            await self.leave(ok=False)
            raise _NotAdmitted

    async def leave(self, *, ok: bool) -> None:
        if self.holding:
            self.holding = False
            await self.gate.release(ok=ok)
            self.lane.released(self.i)

    async def again(self, exc: APIError) -> bool:
        """After a failure before the first byte: True to try again (having waited)."""
        from ..batch._ratelimit import THROTTLE_STATUSES

        status, wait = exc.status, exc.retry_after
        if status in THROTTLE_STATUSES and not isinstance(self.gate, Limit):
            if self.throttles >= MAX_THROTTLES_PER_ROW or (
                wait is not None and wait > self.policy.max_retry_after
            ):
                await self.leave(ok=False)
                return False
            self.throttles += 1
            self.lane.retrying(self.i)
            await self.gate.throttled(self.ticket, wait)  # before release: it counts in flight
            await self.leave(ok=False)
            return True
        await self.leave(ok=False)
        if self.policy.should_retry(self.attempts, status):
            delay = self.policy.delay(self.attempts, wait)
            if delay is not None:
                self.attempts += 1
                self.lane.retrying(self.i)
                await asyncio.sleep(delay)  # this request only, holding no slot
                return True
        return False


async def aevents(
    rounds: Rounds,
    client: AsyncClient,
    *,
    on_stream: StreamHook | None = None,
    gated: _Try | None = None,
) -> AsyncGenerator[ChatEvent, None]:
    """The awaitable twin of :func:`events`; ``gated`` sends each try through a gate."""
    from ..client._retry import RetryPolicy

    args = _stream_args(rounds.prep)
    if gated is not None:
        args["policy"] = RetryPolicy(max_retries=0)  # the gate retries, not the stream
    for request in rounds:
        while True:
            if gated is not None:
                await gated.enter()
            try:
                cached = rounds.before(request)
            except BaseException:
                if gated is not None:
                    await gated.leave(ok=False)
                raise
            if cached is not None:
                if gated is not None:
                    await gated.leave(ok=True)
                rounds.received(request, cached, network=False)
                break
            if gated is not None:
                gated.lane.sending(gated.i, request)
            stream = rounds.stream = client.stream(request, **args)
            if on_stream is not None:
                on_stream(stream)
            reading = stream.__aiter__()
            try:
                async for event in reading:
                    yield event
            except DeepSeekError as exc:
                if (
                    gated is not None
                    and isinstance(exc, APIError)
                    and not stream.responded
                    and await gated.again(exc)
                ):
                    continue
                if gated is not None:
                    await gated.leave(ok=False)
                changed = rounds.changed(exc)
                if changed is None and rounds.is_not_served(exc):
                    changed = rounds.not_served(exc, await _acatalogue(rounds))
                if changed is not None:
                    rounds.failed(changed, stream.result)
                    raise changed from None
                rounds.failed(exc, stream.result)
                raise
            except (KeyboardInterrupt, asyncio.CancelledError, GeneratorExit):
                await reading.aclose()
                rounds.interrupted(stream.result.replace(interrupted=True))
                if gated is not None:
                    await gated.leave(ok=False)
                raise
            if gated is not None:
                await gated.leave(ok=True)
            rounds.received(request, stream.result)
            break


async def _acatalogue(rounds: Rounds) -> Any:
    """The catalogue for the "not served" line, read as the sync twin reads it (in a
    worker thread, so the event loop is not blocked; a browser kernel has none: what is
    known)."""
    if sys.platform == "emscripten":
        return _known_catalogue(rounds)
    return await asyncio.to_thread(_catalogue, rounds, None)


class ARun:
    """The awaitable twin of :class:`Run`: ``async for`` its events, ``await close()``,
    ``await finish()``; a cancelled task keeps the partial too."""

    def __init__(
        self,
        prep: Prepared,
        *,
        session: Session,
        client: AsyncClient | None = None,
        on_stream: StreamHook | None = None,
        record: bool = True,
        extra_rounds: Sequence[ExtraRound] = (),
        gate: Gate | None = None,
    ) -> None:
        self.rounds = Rounds(prep, session, record=record, extra_rounds=extra_rounds)
        self._client = client
        self._on_stream = on_stream
        self._gated = _Try(gate, _policy(prep), Lane(), 0) if gate is not None else None
        self._events: AsyncGenerator[ChatEvent, None] | None = None
        self._ended = False

    @property
    def result(self) -> Result:
        return self.rounds.result

    @property
    def done(self) -> bool:
        return self.rounds.final is not None

    def _open(self) -> AsyncGenerator[ChatEvent, None]:
        if self._events is None:
            client = self._client or self.rounds.session.aclient()
            self._events = aevents(
                self.rounds, client, on_stream=self._on_stream, gated=self._gated
            )
        return self._events

    async def __aiter__(self) -> AsyncIterator[ChatEvent]:
        try:
            async for event in self._open():
                yield event
        except Interrupted:
            self._ended = True
            raise
        except KeyboardInterrupt:
            self._ended = True
            raise Interrupted(STOPPED, partial=self.rounds.interrupted()) from None
        except asyncio.CancelledError:
            raise  # a cancelled task: close() keeps the partial
        except Exception:
            self._ended = True  # see Run.__iter__
            raise

    async def close(self) -> None:
        """Stop now; what arrived is kept (recorded, marked interrupted). A run never
        iterated sent nothing and records nothing."""
        if self.done or self._events is None or self._ended:
            return
        await self._events.aclose()
        self.rounds.interrupted()

    async def finish(self, on_event: EventHook | None = None) -> Result:
        """The awaitable twin of :meth:`Run.finish`."""
        try:
            async for event in self:
                if on_event is not None:
                    on_event(event, self.rounds.stream)
        except Interrupted:
            raise
        except KeyboardInterrupt:
            await self.close()
            raise Interrupted(STOPPED, partial=self.rounds.interrupted()) from None
        except asyncio.CancelledError:
            await self.close()
            raise
        assert self.rounds.final is not None
        return self.rounds.final


async def run(
    prep: Prepared,
    *,
    session: Session,
    client: AsyncClient | None = None,
    on_event: EventHook | None = None,
    on_stream: StreamHook | None = None,
    record: bool = True,
    extra_rounds: Sequence[ExtraRound] = (),
    gate: Gate | None = None,
) -> Result:
    """The awaitable twin of :func:`run_sync`; ``gate`` sends each try through it."""
    arun = ARun(
        prep,
        session=session,
        client=client,
        on_stream=on_stream,
        record=record,
        extra_rounds=extra_rounds,
        gate=gate,
    )
    return await arun.finish(on_event)


def _policy(prep: Prepared) -> RetryPolicy:
    from ..client._retry import RetryPolicy

    return RetryPolicy(max_retries=prep.settings.max_retries)


async def run_many(
    preps: Sequence[Prepared],
    *,
    session: Session,
    gate: Gate | None = None,
    on_done: Callable[[int, Result | BaseException | None], None] | None = None,
    lane: Lane | None = None,
    concurrency: int = 8,
    client: AsyncClient | None = None,
    record: bool = True,
    order: Sequence[int] | None = None,
    keep: bool = True,
) -> list[Result | BaseException | None]:
    """Every prepared request, through one ``gate`` (default: a rate-aware
    :class:`~deepseek_magic.batch._ratelimit.RateGate` of ``concurrency``; a sweep passes
    a :class:`Limit`), ``concurrency`` workers pulling from one queue (in ``order``, by
    default as given). Each outcome lands in the returned list at its index and goes to
    ``on_done(i, outcome)`` (and ``lane.done``) as it ends: a Result, the error that ended
    it (never raised: one failing item does not stop the others), or None (not admitted).
    Cancelling the call cancels every request in flight (each recorded as interrupted,
    its outcome an :class:`Interrupted` with the partial) and re-raises. ``keep=False``
    returns an empty list (a batch of 10,000 rows keeps its own flat rows, not Results)."""
    if gate is None:
        from ..batch._ratelimit import RateGate

        gate = RateGate(concurrency)
    lane = lane or Lane()
    http = client or session.aclient()
    outcomes: list[Result | BaseException | None] = [None] * len(preps) if keep else []
    todo = iter(order if order is not None else range(len(preps)))

    def done(i: int, outcome: Result | BaseException | None) -> None:
        if keep:
            outcomes[i] = outcome
        lane.done(i, outcome)
        if on_done is not None:
            on_done(i, outcome)

    async def one(i: int) -> None:
        prep = preps[i]
        rounds = Rounds(prep, session, record=record)
        gated = _Try(gate, _policy(prep), lane, i)
        reading = aevents(rounds, http, on_stream=lambda s: lane.stream(i, s), gated=gated)
        try:
            async for event in reading:
                lane.event(i, event, rounds.stream)
        except _NotAdmitted:
            done(i, None)
            return
        except asyncio.CancelledError:
            await reading.aclose()
            done(i, Interrupted(STOPPED, partial=rounds.interrupted()))
            raise
        except Exception as exc:  # an item's failure is its outcome  # noqa: BLE001
            done(i, exc)
            return
        done(i, rounds.final)

    async def worker() -> None:
        for i in todo:
            await one(i)

    n = min(concurrency, max(1, len(preps)))
    await asyncio.gather(*(worker() for _ in range(n)))
    return outcomes
