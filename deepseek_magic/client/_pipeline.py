"""The pure pipeline of a reply: bytes in, chat events out, a Result at the end.

SSE lines (``_sse``) -> chunks (JSON) -> chat events (``_events``) -> the Accumulator
(``_accumulate``) -> :class:`~deepseek_magic.Result`. No I/O and no clock of its own (the
caller passes one), so a test or a fuzzer feeds it any bytes at any boundaries; the client
(``_http``) only moves bytes between the network and :class:`Pipeline`.
"""

from __future__ import annotations

import json
import json.scanner
from collections.abc import Callable, Mapping
from typing import Any

from ..core._call import SETTING_BY_NAME
from ..core._errors import APIError, APITimeoutError, StreamError
from ..core._result import Result
from ._accumulate import Accumulator
from ._events import ChatEvent, ChunkParser, ErrorEvent
from ._request import Request
from ._sse import SSEParser

__all__ = ["Pipeline", "DEFAULT_MAX_REPLY_CHARS"]

#: A reply longer than this (reasoning + answer, in characters) is cut off with a
#: StreamError: R1's 64K-token limit is about 256K characters, so this only stops a
#: runaway or hostile server from filling the kernel's memory.
DEFAULT_MAX_REPLY_CHARS: int = SETTING_BY_NAME["max_reply_chars"].default
#: the most bytes of an error body read (a server may send a whole HTML page)
_ERROR_BODY_LIMIT = 64 * 1024
#: the scanner ``json.loads`` ends in (the C one): ``(value, end)`` for the JSON at an index
_scan: Callable[[str, int], tuple[Any, int]] = json.scanner.make_scanner(
    json.JSONDecoder()  # type: ignore[arg-type]  # typeshed: the decoder is the context
)


class Pipeline:
    """The pure part of a reply: bytes in, events out, the state in an Accumulator.

    Feed a stream piece by piece (:meth:`feed`, then :meth:`end_of_stream`), or a whole
    non-streamed JSON reply at once (:meth:`feed_json`). Any refusal raises the
    :class:`StreamError` that :meth:`fail` returns, carrying the partial Result.
    """

    def __init__(
        self,
        request: Request,
        *,
        started: float,
        clock: Callable[[], float],
        keep_chunks: bool,
        max_reply_chars: int,
        offline: bool = False,
    ) -> None:
        self.request = request
        self.started = started
        self.clock = clock
        self.sse = SSEParser()
        self.parser = ChunkParser()
        self.acc = Accumulator(
            params=request.params,
            messages=request.messages,
            model=request.settings.model,
            base_url=request.settings.base_url,
            keep_chunks=keep_chunks,
            offline=offline,
            price=request.price,
            plan=request.plan,
        )
        self.done = False
        self.max_reply_chars = max_reply_chars
        #: bytes one event (or a whole non-streamed body) may take: JSON escapes can make a
        #: character 6-12 bytes, so a generous multiple of the character limit
        self.max_body_bytes = 8 * max_reply_chars + _ERROR_BODY_LIMIT
        self._pending = 0  # bytes received since the last complete event or comment
        self.error: APIError | None = None
        self.interrupted = False

    def feed(self, data: bytes) -> list[ChatEvent]:
        out: list[ChatEvent] = []
        comments = self.sse.comments
        events = self.sse.feed(data)
        # A server that never ends its line would otherwise grow the line buffer forever.
        self._pending = 0 if events or self.sse.comments != comments else self._pending + len(data)
        if self._pending > self.max_body_bytes:
            raise self.fail(
                StreamError(
                    f"The server sent {self._pending:,} bytes without completing an event; the "
                    "stream was cut off "
                    "to protect memory."
                )
            )
        if len(events) == 1:  # the usual read: one event, its list as it is
            return self._event(events[0].data)
        for sse in events:
            out.extend(self._event(sse.data))
            if self.done:
                break
        return out

    def _event(self, data: str) -> list[ChatEvent]:
        if data[:1] == "{":
            # The usual chunk: the JSON scanner that json.loads ends in, without its two
            # whitespace regex matches and wrapper calls (~1.5 us a chunk). Anything it does
            # not take whole (trailing space, extra data, bad JSON) goes the long way.
            try:
                chunk, end = _scan(data, 0)
            except (StopIteration, ValueError, RecursionError):
                pass
            else:
                if end == len(data):
                    return self._chunk(chunk)
        if data.strip() == "[DONE]":
            self.done = True
            return self._flush()
        try:
            chunk = json.loads(data)
        except (ValueError, RecursionError):  # RecursionError: hostile nesting like [[[[...
            raise self.fail(
                StreamError(f"The server sent a malformed chunk: {self._mask(data)[:80]!r}.")
            ) from None
        if not isinstance(chunk, dict):  # json.loads gives a dict; typing.Mapping checks are slow
            raise self.fail(
                StreamError(
                    f"The server sent a chunk that is not an object: {self._mask(data)[:80]!r}."
                )
            )
        return self._chunk(chunk)

    def _chunk(self, chunk: Mapping[str, Any]) -> list[ChatEvent]:
        """One decoded chunk (or a whole non-streamed body) into events."""
        acc = self.acc
        acc.add_chunk(chunk)
        events = self.parser.feed(chunk)
        now = self.clock() - self.started
        for event in events:
            acc.add(event, now=now)
            if isinstance(event, ErrorEvent):
                # One line, whatever the server put in its code and message.
                # (and never the key: a server may echo it, masked before anything is cut short)
                raw_code = self._mask(event.code)
                code = (
                    f" (code {' '.join(str(raw_code).split())[:40]})"
                    if raw_code is not None
                    else ""
                )
                message = " ".join(self._mask(event.message).split())[:300].rstrip(".")
                raise self.fail(
                    StreamError(
                        f"The server reported an error mid-stream{code}: {message}.",
                        code=raw_code,
                        metadata=self._mask(dict(event.metadata or {})),
                    )
                )
        if acc.text_size > self.max_reply_chars:
            raise self.fail(
                StreamError(
                    f"The reply passed {self.max_reply_chars:,} characters and was cut off to "
                    "protect memory."
                )
            )
        return events

    def _flush(self) -> list[ChatEvent]:
        events = self.parser.flush()
        for event in events:
            self.acc.add(event)
        return events

    def end_of_stream(self) -> list[ChatEvent]:
        """The server closed the stream: deliver held text, and fail if the reply was cut."""
        events: list[ChatEvent] = []
        if not self.done:
            for sse in self.sse.flush():
                events.extend(self._event(sse.data))
        if not self.done:
            events.extend(self._flush())
            if self.acc.finish_reason is None:
                raise self.fail(
                    StreamError("The stream ended before the reply was complete (no [DONE]).")
                )
        return events

    def feed_json(self, raw: bytes) -> list[ChatEvent]:
        """A whole non-streamed reply (possibly preceded by DeepSeek's blank keep-alive lines).
        ``raw`` is read up to :attr:`max_body_bytes`, so reaching that length means it was cut."""
        if len(raw) >= self.max_body_bytes:
            raise self.fail(
                StreamError(
                    f"The reply passed {self.max_body_bytes:,} bytes and was cut off to protect "
                    "memory."
                )
            )
        text = raw.decode("utf-8", "replace").strip()
        try:
            body = json.loads(text)
        except (ValueError, RecursionError):
            raise self.fail(
                StreamError(f"The server sent a reply that is not JSON: {text[:80]!r}.")
            ) from None
        if not isinstance(body, Mapping):
            raise self.fail(StreamError("The server sent a reply that is not a JSON object."))
        events = self._chunk(body)
        events.extend(self._flush())
        self.done = True
        if self.acc.finish_reason is None and not self.acc.has_output:
            raise self.fail(StreamError("The server's reply had no choices."))
        return events

    def waiting_too_long(self) -> APIError | None:
        if self.acc.time_to_first_token is not None:  # the usual answer, once per read
            return None
        s = self.request.settings
        if self.clock() - self.started > s.first_token_timeout:
            return APITimeoutError(
                f"No token arrived in {s.first_token_timeout:g} s (only keep-alives); the "
                "provider may be stuck.",
                hint="Try again later or choose another provider "
                "(first_token_timeout sets the wait).",
            )
        return None

    def _mask(self, value: Any) -> Any:
        """``value`` (text, or JSON data) with the API key replaced by ``***``."""
        key = self.request.settings.api_key
        if not key:
            return value
        if isinstance(value, str):
            return value.replace(key, "***")
        if isinstance(value, Mapping):
            return {k: self._mask(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self._mask(v) for v in value]
        return value

    def fail(self, error: APIError) -> APIError:
        self.error = error
        error.partial = self.result()
        return error

    def result(self) -> Result:
        error = str(self.error) if self.error is not None else None
        result = self.acc.snapshot(
            elapsed=self.clock() - self.started, error=error, interrupted=self.interrupted
        )
        if self.error is not None:
            result = result.replace(
                error_type=type(self.error).__name__, error_status=self.error.status_code
            )
        return result
