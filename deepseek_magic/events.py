"""The public events of a stream: what ``for event in deepseek_magic.stream(prompt)`` yields.

Each is a frozen dataclass; match on the type::

    with deepseek_magic.stream("Why is the sky blue?") as s:
        for event in s:
            if isinstance(event, ReasoningEvent):
                print(event.text, end="")
    s.result.answer

* :class:`ReasoningEvent`: a piece of the model's reasoning (whatever the server's dialect:
  ``reasoning``, ``reasoning_content``, ``reasoning_details`` or ``<think>`` tags);
* :class:`ContentEvent`: a piece of the answer;
* :class:`ContentWasReasoningEvent`: the content so far was reasoning after all (a server
  that sent ``</think>`` with no ``<think>`` before it): move what you showed as answer;
* :class:`ToolCallEvent`: a piece of a tool call (``index`` says which call; ``id`` and
  ``name`` come with the first piece, ``arguments`` is JSON text in pieces);
* :class:`UsageEvent`: the token counts (and the cost, when the server reports one);
* :class:`FinishEvent`: the reply ended, with the server's finish reason.

A request with tool or extra rounds yields each round's events in turn. Nothing here
sends anything: the events are made from the client's own (``client/_events``) by
:func:`public_event`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .core._result import Usage

__all__ = [
    "Event",
    "ReasoningEvent",
    "ContentEvent",
    "ContentWasReasoningEvent",
    "ToolCallEvent",
    "UsageEvent",
    "FinishEvent",
    "public_event",
]


@dataclass(frozen=True)
class ReasoningEvent:
    """A piece of the reasoning."""

    text: str


@dataclass(frozen=True)
class ContentEvent:
    """A piece of the answer."""

    text: str


@dataclass(frozen=True)
class ContentWasReasoningEvent:
    """The content received so far was reasoning (``</think>`` arrived with no ``<think>``)."""


@dataclass(frozen=True)
class ToolCallEvent:
    """A piece of the ``index``-th tool call."""

    index: int
    id: str | None = None
    name: str | None = None
    arguments: str = ""


@dataclass(frozen=True)
class UsageEvent:
    """The token counts the server reported, and its cost (US dollars) when it gave one."""

    usage: Usage
    cost: float | None = None


@dataclass(frozen=True)
class FinishEvent:
    """The reply ended; ``reason`` is the server's (``stop``, ``length``, ``tool_calls``...)."""

    reason: str


Event = (
    ReasoningEvent
    | ContentEvent
    | ContentWasReasoningEvent
    | ToolCallEvent
    | UsageEvent
    | FinishEvent
)


def public_event(event: Any) -> Event | None:
    """The public event for a client event, or None for one users do not see (metadata)."""
    from .client import _events as e

    if isinstance(event, e.ReasoningDelta):
        return ReasoningEvent(event.text)
    if isinstance(event, e.ContentDelta):
        return ContentEvent(event.text)
    if isinstance(event, e.ToolCallDelta):
        return ToolCallEvent(event.index, event.id, event.name, event.arguments)
    if isinstance(event, e.UsageEvent):
        return UsageEvent(Usage.from_wire(event.usage), event.cost)
    if isinstance(event, e.FinishEvent):
        return FinishEvent(event.reason)
    if isinstance(event, e.ContentWasReasoning):
        return ContentWasReasoningEvent()
    return None
