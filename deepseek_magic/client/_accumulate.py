"""Chat events to a :class:`~deepseek_magic.Result`.

The :class:`Accumulator` is fed events in order and can produce a ``Result`` snapshot
at any moment (the live view asks for one a few times a second; an error or an
interrupt asks for the partial one). Text is kept as lists of parts and joined lazily,
so snapshots cost time linear in the text, and many snapshots stay cheap.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..core._result import Result, ToolCall, Usage, estimate_cost
from ._events import (
    ChatEvent,
    ContentDelta,
    ContentWasReasoning,
    ErrorEvent,
    FinishEvent,
    MetaEvent,
    ReasoningDelta,
    ToolCallDelta,
    UsageEvent,
)

__all__ = ["Accumulator"]


class _Text:
    """An append-only string with an amortised join.

    Pieces are collected in a list and joined in blocks of ``_BLOCK``: one string
    object per streamed token costs ~60 bytes, about 15 times the text itself, so a
    64k-token reply would hold megabytes of them until the end (benchmarks/BENCHMARKS.md,
    memory). Each piece is copied once into its block, so adding stays linear.
    """

    __slots__ = ("_blocks", "_tail", "_size")

    _BLOCK = 256

    def __init__(self) -> None:
        self._blocks: list[str] = []
        self._tail: list[str] = []
        self._size = 0

    def add(self, text: str) -> None:
        self._tail.append(text)
        self._size += len(text)
        if len(self._tail) >= self._BLOCK:
            self._blocks.append("".join(self._tail))
            self._tail = []

    def value(self) -> str:
        if self._tail or len(self._blocks) > 1:
            self._blocks = ["".join(self._blocks + self._tail)]
            self._tail = []
        return self._blocks[0] if self._blocks else ""

    def take(self) -> str:
        text = self.value()
        self._blocks, self._size = [], 0
        return text

    def __len__(self) -> int:
        return self._size


@dataclass
class _Call:
    index: int
    id: str = ""
    name: str = ""
    arguments: list[str] = field(default_factory=list)


class Accumulator:
    """Collects one reply's events; ``snapshot()`` gives the Result so far."""

    def __init__(
        self,
        *,
        params: Mapping[str, Any] | None = None,
        messages: tuple[Mapping[str, Any], ...] = (),
        model: str = "",
        base_url: str = "",
        keep_chunks: bool = False,
        offline: bool = False,
        price: Any = None,
        plan: Any = None,
    ) -> None:
        self.reasoning = _Text()
        self.answer = _Text()
        #: characters of reasoning + answer so far (kept as they arrive: the pipeline checks
        #: it against ``max_reply_chars`` after every chunk)
        self.text_size = 0
        self._calls: dict[int, _Call] = {}
        self.finish_reason: str | None = None
        self.usage = Usage()
        self.server_cost: float | None = None
        self.model = model
        self.id: str | None = None
        self.provider: str | None = None
        self.error: ErrorEvent | None = None
        self.time_to_first_token: float | None = None
        self.time_to_answer: float | None = None
        #: (reasoning characters so far, seconds since sending), sampled while thinking
        #: (``Result.reasoning_times``: the explorer's time strip)
        self.reasoning_times: list[tuple[int, float]] = []
        self._mark_every = 0.1
        self.chunks: list[Mapping[str, Any]] = []
        self.chunk_count = 0
        self._keep_chunks = keep_chunks
        self._params = dict(params or {})
        self._messages = messages
        self._base_url = base_url
        self._offline = offline
        #: ``price(model) -> _catalogue.Price`` for estimates (None = the seed's prices)
        self._price = price
        self._plan = plan

    # ------------------------------------------------------------------ input
    def add_chunk(self, chunk: Mapping[str, Any]) -> None:
        self.chunk_count += 1
        if self._keep_chunks:
            self.chunks.append(chunk)

    def add(self, event: ChatEvent, *, now: float | None = None) -> None:
        if self.time_to_first_token is None and isinstance(
            event, (ReasoningDelta, ContentDelta, ToolCallDelta)
        ):
            self.time_to_first_token = now
        if isinstance(event, ReasoningDelta):
            self.reasoning.add(event.text)
            self.text_size += len(event.text)
            marks = self.reasoning_times
            if now is not None and (not marks or now - marks[-1][1] >= self._mark_every):
                self._mark(now)  # (its first test inlined: false for nearly every token)
        elif isinstance(event, ContentDelta):
            if self.time_to_answer is None and len(self.reasoning):
                self.time_to_answer = now
            self.answer.add(event.text)
            self.text_size += len(event.text)
        elif isinstance(event, ContentWasReasoning):
            self.reasoning.add(self.answer.take())
        elif isinstance(event, ToolCallDelta):
            self._add_call(event)
        elif isinstance(event, UsageEvent):
            self.usage = Usage.from_wire(event.usage)
            if event.cost is not None:
                self.server_cost = event.cost
        elif isinstance(event, FinishEvent):
            self.finish_reason = event.reason
        elif isinstance(event, MetaEvent):
            self.id = event.id or self.id
            self.model = event.model or self.model
            self.provider = event.provider or self.provider
        elif isinstance(event, ErrorEvent):
            self.error = event

    def _mark(self, now: float) -> None:
        """Keep (characters, seconds) at most every ``_mark_every`` seconds; past 512
        marks, every other one is dropped and the spacing doubled (memory stays bounded)."""
        marks = self.reasoning_times
        if marks and now - marks[-1][1] < self._mark_every:
            return
        marks.append((len(self.reasoning), now))
        if len(marks) > 512:
            self.reasoning_times = marks[::2]
            self._mark_every *= 2

    def _add_call(self, delta: ToolCallDelta) -> None:
        call = self._calls.get(delta.index)
        # Some servers reuse index 0 for every call of a parallel batch
        # (wire-format.md 8.11): a new id on a finished call starts a new one.
        if call is not None and delta.id and call.id and delta.id != call.id:
            index = max(self._calls) + 1
            call = None
        else:
            index = delta.index
        if call is None:
            call = self._calls[index] = _Call(index)
        if delta.id and not call.id:
            call.id = delta.id
        if delta.name and not call.name:
            call.name = delta.name
        if delta.arguments:
            call.arguments.append(delta.arguments)

    # ----------------------------------------------------------------- output
    @property
    def has_output(self) -> bool:
        return bool(len(self.reasoning) or len(self.answer) or self._calls)

    def tool_calls(self) -> tuple[ToolCall, ...]:
        return tuple(
            ToolCall(id=c.id or f"call_{c.index}", name=c.name, arguments="".join(c.arguments))
            for _, c in sorted(self._calls.items())
        )

    def snapshot(
        self, *, elapsed: float, error: str | None = None, interrupted: bool = False
    ) -> Result:
        cost, source, basis = self._cost()
        return Result(
            answer=self.answer.value().strip(),
            reasoning=self.reasoning.value().strip(),
            tool_calls=self.tool_calls(),
            finish_reason=self.finish_reason,
            usage=self.usage,
            cost=cost,
            cost_source=source,  # type: ignore[arg-type]
            price_source=basis,
            model=self.model,
            params=self._params,
            messages=self._messages,
            elapsed=elapsed,
            time_to_first_token=self.time_to_first_token,
            reasoning_elapsed=self.time_to_answer if len(self.answer) else None,
            reasoning_times=tuple(self.reasoning_times),
            id=self.id,
            provider=self.provider,
            base_url=self._base_url,
            chunks=tuple(self.chunks),
            chunk_count=self.chunk_count,
            error=error,
            interrupted=interrupted,
            offline=self._offline,
            **self._plan_fields(),
            **self._price_fields(),
        )

    def _price_fields(self) -> dict[str, Any]:
        """Which time-of-day price applied, and what the prompt cache saved."""
        price = self._price(self.model) if self._price is not None else None
        if price is None or price.source == "free":
            return {}
        return {"price_note": price.note, "cache_saved": price.saved(self.usage.cached_tokens or 0)}

    def _cost(self) -> tuple[float | None, str | None, str | None]:
        """(dollars, cost_source, price_source): the server's figure wins; a local server
        costs nothing; else an estimate at the prices of the model that answered."""
        if self.server_cost is not None:
            return self.server_cost, "server", None
        price = self._price(self.model) if self._price is not None else None
        if price is not None and price.source == "free":
            return 0.0, "free", None
        if price is None:
            cost = estimate_cost(self.usage)
            return (cost, "estimate", "seed") if cost is not None else (None, None, None)
        u = self.usage
        if u.prompt_tokens is None and u.completion_tokens is None:
            return None, None, None
        cost = price.cost(u.prompt_tokens or 0, u.completion_tokens or 0, u.cached_tokens or 0)
        return cost, "estimate", price.source

    def _plan_fields(self) -> dict[str, Any]:
        plan = self._plan
        if plan is None:
            return {}
        return {
            "options_sent": tuple(plan.sent),
            "options_ignored": dict(plan.ignored),
            "options_not_sent": dict(plan.not_sent),
            "options_remapped": dict(plan.remapped),
            "model_expires": plan.expires,
        }
