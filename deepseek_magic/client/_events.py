"""Chat-completion chunks to typed chat events.

``ChunkParser.feed(chunk)`` turns one parsed ``data:`` JSON object of any supported
dialect into a list of events; ``flush()`` releases text held back at the end.

Dialects (wire-format.md sections 3, 5, 6, 8):

* ``delta.reasoning`` (OpenRouter, vLLM >= 0.11, Ollama),
* ``delta.reasoning_content`` (DeepSeek, llama.cpp, older vLLM),
* ``delta.reasoning_details`` (OpenRouter: the *same* text again, read only when
  neither field above is present, so it is never counted twice),
* inline ``<think>…</think>`` in ``content`` (older Ollama, raw servers), including
  output with no opening tag and tags split across deltas (:class:`ThinkSplitter`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping  # not typing.Mapping: its isinstance() is ~10x slower
from dataclasses import dataclass
from typing import Any

__all__ = [
    "ReasoningDelta",
    "ContentDelta",
    "ContentWasReasoning",
    "ToolCallDelta",
    "UsageEvent",
    "FinishEvent",
    "MetaEvent",
    "ErrorEvent",
    "ChatEvent",
    "ChunkParser",
    "ThinkSplitter",
]


@dataclass(frozen=True)
class ReasoningDelta:
    text: str


@dataclass(frozen=True)
class ContentDelta:
    text: str


@dataclass(frozen=True)
class ContentWasReasoning:
    """A ``</think>`` arrived with no ``<think>`` before it: the content so far was reasoning."""


@dataclass(frozen=True)
class ToolCallDelta:
    index: int
    id: str | None = None
    name: str | None = None
    arguments: str = ""


@dataclass(frozen=True)
class UsageEvent:
    usage: Mapping[str, Any]
    cost: float | None = None


@dataclass(frozen=True)
class FinishEvent:
    reason: str


@dataclass(frozen=True)
class MetaEvent:
    id: str | None = None
    model: str | None = None
    provider: str | None = None


@dataclass(frozen=True)
class ErrorEvent:
    message: str
    code: Any = None
    metadata: Mapping[str, Any] | None = None


ChatEvent = (
    ReasoningDelta
    | ContentDelta
    | ContentWasReasoning
    | ToolCallDelta
    | UsageEvent
    | FinishEvent
    | MetaEvent
    | ErrorEvent
)

OPEN, CLOSE = "<think>", "</think>"

# Checked a few times per chunk: ``dict`` first answers the usual case without the
# slower ABC check (benchmarks/BENCHMARKS.md, streaming overhead).
_MAPPING = (dict, Mapping)


def _partial_suffix(text: str, tag: str) -> int:
    """Length of the longest suffix of ``text`` that is a proper prefix of ``tag``."""
    if tag[0] not in text[1 - len(tag) :]:
        return 0  # the usual case, in one step (this runs once per answer delta)
    for n in range(min(len(tag) - 1, len(text)), 0, -1):
        if text.endswith(tag[:n]):
            return n
    return 0


class ThinkSplitter:
    """Splits content with inline ``<think>`` tags into reasoning and answer, incrementally.

    States: ``start`` (only whitespace so far), ``think`` (inside ``<think>``), ``maybe``
    (content with no opening tag: it is shown as answer, but a later ``</think>`` turns it
    into reasoning, as R1 templates that pre-fill ``<think>`` produce), ``answer``
    (after ``</think>``: no more tag processing, a literal tag in the answer is kept).
    A tail that could be the start of a tag is held back until the next delta.
    """

    def __init__(self) -> None:
        self.state = "start"
        self._held = ""
        self._trim_answer = False  # drop whitespace right after </think>
        self._trim_reasoning = False  # drop whitespace right after <think>
        #: nothing held and no tag processing pending: text with no ``<`` is answer as it is
        #: (``ChunkParser`` reads this to skip the call, once per answer delta)
        self.plain = False

    def feed(self, text: str) -> list[ChatEvent]:
        if self.plain and "<" not in text:
            # No tag can start here: the answer text as it is (the usual case, once per delta).
            return [ContentDelta(text)] if text else []
        out = self._feed(text)
        self.plain = not self._held and (
            self.state == "maybe" or self.state == "answer" and not self._trim_answer
        )
        return out

    def _feed(self, text: str) -> list[ChatEvent]:
        text = self._held + text
        self._held = ""
        out: list[ChatEvent] = []
        while text:
            if self.state == "start":
                stripped = text.lstrip()
                if not stripped:
                    self._held = text
                    return out
                if stripped.startswith(OPEN):
                    self.state, self._trim_reasoning = "think", True
                    text = stripped[len(OPEN) :]
                    continue
                if OPEN.startswith(stripped):
                    self._held = text
                    return out
                self.state = "maybe"
                text = stripped
                continue
            if self.state in ("think", "maybe"):
                at = text.find(CLOSE)
                if at >= 0:
                    before, text = text[:at], text[at + len(CLOSE) :]
                    if self.state == "maybe":
                        out.append(ContentWasReasoning())
                    self._emit_reasoning(before, out)
                    self.state, self._trim_answer = "answer", True
                    continue
                keep = _partial_suffix(text, CLOSE)
                body, self._held = (text[:-keep], text[-keep:]) if keep else (text, "")
                if self.state == "think":
                    self._emit_reasoning(body, out)
                elif body:
                    out.append(ContentDelta(body))
                return out
            # answer
            if self._trim_answer:
                text = text.lstrip()
                if not text:
                    return out
                self._trim_answer = False
            out.append(ContentDelta(text))
            return out
        return out

    def _emit_reasoning(self, text: str, out: list[ChatEvent]) -> None:
        if self._trim_reasoning:
            text = text.lstrip()
            if not text:
                return
            self._trim_reasoning = False
        if text:
            out.append(ReasoningDelta(text))

    def flush(self) -> list[ChatEvent]:
        held, self._held = self._held, ""
        if not held:
            return []
        self.plain = self.state == "maybe" or self.state == "answer" and not self._trim_answer
        if self.state == "think":
            return [ReasoningDelta(held)] if held.strip() else []
        if self.state == "start" and not held.strip():
            return []
        return [ContentDelta(held)]


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


class ChunkParser:
    """One stream's chunks -> chat events (stateful: dialect detection, ``<think>`` tags)."""

    def __init__(self, *, parse_think_tags: bool = True) -> None:
        self._think = ThinkSplitter() if parse_think_tags else None
        self._field_reasoning = False  # a reasoning field was seen: content tags are duplicates
        self._meta_sent = False

    def feed(self, chunk: Mapping[str, Any]) -> list[ChatEvent]:
        """The events of one chunk. Nearly every chunk of a stream is one choice whose delta
        carries only reasoning or only answer text: that case is answered first, in a few
        lookups; anything else (meta, usage, an error, a finish, tool calls, several
        choices, both texts, ``reasoning_details`` alone) goes through :meth:`_feed`, which
        reads every field."""
        if type(chunk) is dict and (self._meta_sent or not (chunk.get("id") or chunk.get("model"))):
            choices = chunk.get("choices")
            if (
                type(choices) is list
                and len(choices) == 1
                and chunk.get("error") is None
                and not chunk.get("usage")
            ):
                choice = choices[0]
                if (
                    type(choice) is dict
                    and choice.get("index", 0) in (0, None)
                    and not choice.get("finish_reason")
                ):
                    delta = choice.get("delta")
                    if type(delta) is dict and delta.get("tool_calls") is None:
                        content = delta.get("content")
                        reasoning = delta.get("reasoning")
                        if not reasoning:
                            reasoning = delta.get("reasoning_content")
                        if type(reasoning) is str and reasoning:
                            if not content:
                                self._field_reasoning = True
                                return [ReasoningDelta(reasoning)]
                        elif (
                            not reasoning
                            and type(content) is str
                            and content
                            and (
                                "reasoning_details" not in delta
                                or "reasoning" in delta
                                or "reasoning_content" in delta
                            )
                        ):
                            think = self._think
                            if think is None or think.plain and "<" not in content:
                                return [ContentDelta(content)]
        return self._feed(chunk)

    def _feed(self, chunk: Mapping[str, Any]) -> list[ChatEvent]:
        out: list[ChatEvent] = []
        if not self._meta_sent and (chunk.get("id") or chunk.get("model")):
            self._meta_sent = True
            out.append(
                MetaEvent(
                    _opt_str(chunk.get("id")),
                    _opt_str(chunk.get("model")),
                    _opt_str(chunk.get("provider")),
                )
            )
        choices = chunk.get("choices")
        if isinstance(choices, list):
            for choice in choices:
                if isinstance(choice, _MAPPING) and choice.get("index", 0) in (0, None):
                    self._choice(choice, out)
        usage = chunk.get("usage")
        if usage and isinstance(usage, _MAPPING):
            out.append(UsageEvent(usage, _cost(usage.get("cost"))))
        error = chunk.get("error")
        if error is not None:
            out.append(_error_event(error))
        return out

    def _choice(self, choice: Mapping[str, Any], out: list[ChatEvent]) -> None:
        delta = choice.get("delta")
        if not isinstance(delta, _MAPPING):
            delta = choice.get("message")  # some servers stream whole messages
        if isinstance(delta, _MAPPING):
            reasoning = _text(delta.get("reasoning")) or _text(delta.get("reasoning_content"))
            has_field = "reasoning" in delta or "reasoning_content" in delta
            if not reasoning and not has_field:
                reasoning = _details_text(delta.get("reasoning_details"))
            if reasoning:
                self._field_reasoning = True
                out.append(ReasoningDelta(reasoning))
            content = _text(delta.get("content"))
            if content:
                if self._think is None:
                    out.append(ContentDelta(content))
                elif self._field_reasoning:
                    # llama.cpp's deepseek-legacy format repeats the reasoning inline in
                    # <think> tags: keep only the text outside them.
                    out.extend(
                        e
                        for e in self._think.feed(content)
                        if not isinstance(e, (ReasoningDelta, ContentWasReasoning))
                    )
                else:
                    out.extend(self._think.feed(content))
            calls = delta.get("tool_calls")
            if isinstance(calls, list):
                for position, call in enumerate(calls):
                    if isinstance(call, Mapping):
                        out.append(_tool_delta(call, position))
        reason = choice.get("finish_reason")
        if isinstance(reason, str) and reason:
            out.extend(self.flush())
            out.append(FinishEvent(reason))

    def flush(self) -> list[ChatEvent]:
        if self._think is None:
            return []
        events = self._think.flush()
        if self._field_reasoning:
            return [e for e in events if isinstance(e, ContentDelta)]
        return events


def _details_text(details: Any) -> str:
    if not isinstance(details, list):
        return ""
    parts = []
    for item in details:
        if isinstance(item, Mapping):
            parts.append(_text(item.get("text")) or _text(item.get("summary")))
    return "".join(parts)


def _tool_delta(call: Mapping[str, Any], position: int) -> ToolCallDelta:
    fn = call.get("function")
    fn = fn if isinstance(fn, Mapping) else {}
    index = call.get("index")
    return ToolCallDelta(
        index=index if isinstance(index, int) and not isinstance(index, bool) else position,
        id=_opt_str(call.get("id")),
        name=_opt_str(fn.get("name")),
        arguments=_text(fn.get("arguments")),
    )


def _error_event(error: Any) -> ErrorEvent:
    if isinstance(error, Mapping):
        message = error.get("message")
        metadata = error.get("metadata")
        return ErrorEvent(
            message=str(message) if message else "the server reported an error in the stream",
            code=error.get("code", error.get("http_status")),
            metadata=metadata if isinstance(metadata, Mapping) else None,
        )
    return ErrorEvent(message=str(error) or "the server reported an error in the stream")


def _cost(value: Any) -> float | None:
    """A reported cost as a finite float, else None (JSON allows 1e999, NaN and 400-digit
    integers, which ``float()`` turns into inf or refuses with OverflowError)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    try:
        cost = float(value)
    except OverflowError:
        return None
    return cost if math.isfinite(cost) else None


def _opt_str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None
