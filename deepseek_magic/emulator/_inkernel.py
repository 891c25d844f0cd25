"""The emulator inside the kernel: its replies served through an httpx transport, no socket.

In a browser kernel (pyodide, JupyterLite) nothing can listen on a port, so offline mode
answers here: :class:`InKernelEmulator` takes the same replies, faults, dialects and
pacing as the socket :class:`~deepseek_magic.emulator.Emulator` and builds every byte
with the same functions (``_script.py``), so the wire format is the same; only *when*
bytes are handed over is decided here, with ``sleep`` between chunks so the live view
visibly streams. It registers itself in the fetch transport's local routes, so the
session's client reaches it at :attr:`InKernelEmulator.base_url` without a request
leaving the tab.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Mapping
from dataclasses import replace
from typing import Any

import httpx

from ._script import (
    DIALECTS,
    Dialect,
    Fault,
    Matched,
    Reply,
    Script,
    StreamContext,
    completion_body,
    content_chunks,
    default_reply,
    error_body,
    error_chunk,
    finish_chunk,
    huge_token_count,
    huge_tokens,
    junk_pieces,
    keepalive_comment,
    models_body,
    prompt_tokens,
    refusal,
    thinking_off,
    truncate,
    usage_chunk,
)
from ._server import _served_as

__all__ = ["InKernelEmulator", "IN_KERNEL_BASE_URL"]

#: where the in-kernel emulator answers (loopback, so no key is asked for; never fetched)
IN_KERNEL_BASE_URL = "http://127.0.0.1/deepseek-magic-offline/v1"
CHAT_PATHS = ("/chat/completions",)
Responder = Callable[[dict[str, Any]], Script | None]
#: a step of a reply: bytes to hand over, or seconds to wait first
Step = bytes | float


class _Cut(Exception):
    """The scripted reply ends here without a proper end of body (the drop fault)."""


class InKernelEmulator:
    """The offline emulator as an httpx transport (sync and async); see the module docstring."""

    def __init__(
        self,
        replies: Iterable[Script | Matched] | None = None,
        responder: Responder | None = None,
        dialect: Dialect = "openrouter",
        token_delay: float = 0.0,
        first_token_latency: float = 0.0,
        keepalive_interval: float | None = None,
        tokens_per_chunk: int = 1,
        base_url: str = IN_KERNEL_BASE_URL,
        sleep: Callable[[float], Any] = time.sleep,
        async_sleep: Callable[[float], Any] | None = None,
    ) -> None:
        if dialect not in DIALECTS:
            raise ValueError(f"unknown dialect {dialect!r}; choose from {', '.join(DIALECTS)}")
        self.responder = responder
        self.dialect: Dialect = dialect
        self.token_delay = token_delay
        self.first_token_latency = first_token_latency
        self.keepalive_interval = keepalive_interval
        self.tokens_per_chunk = tokens_per_chunk
        self._base_url = base_url.rstrip("/")
        self.sleep = sleep
        self.async_sleep = async_sleep
        items = list(replies or ())
        #: items chosen by the request's content (``Matched``), before the queue is asked
        self._matched = [r for r in items if isinstance(r, Matched)]
        self._queue: deque[Script] = deque(r for r in items if not isinstance(r, Matched))
        self._lock = threading.Lock()
        self._bodies: list[dict[str, Any]] = []
        self._ids = itertools.count(1)
        self.running = False

    # ----------------------------------------------------------------- like Emulator
    @property
    def base_url(self) -> str:
        return self._base_url

    def start(self) -> InKernelEmulator:
        from ..client._fetch_transport import local_routes

        local_routes[self._base_url] = self
        self.running = True
        return self

    def stop(self, timeout: float = 0.0) -> None:
        from ..client._fetch_transport import local_routes

        if local_routes.get(self._base_url) is self:
            del local_routes[self._base_url]
        self.running = False

    def __enter__(self) -> InKernelEmulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"<InKernelEmulator {self.dialect} {state} {self.base_url}>"

    def queue(self, *items: Script | Matched) -> None:
        with self._lock:
            self._matched.extend(i for i in items if isinstance(i, Matched))
            self._queue.extend(i for i in items if not isinstance(i, Matched))

    @property
    def requests(self) -> list[dict[str, Any]]:
        """The JSON bodies of chat-completions requests received, in order."""
        with self._lock:
            return list(self._bodies)

    # ----------------------------------------------------------------- transport
    def handle_request(self, request: httpx.Request) -> httpx.Response:
        status, headers, steps = self._answer(request)
        return httpx.Response(
            status, headers=headers, stream=_SyncSteps(steps, self.sleep, request), request=request
        )

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        import asyncio

        status, headers, steps = self._answer(request)
        return httpx.Response(
            status,
            headers=headers,
            stream=_AsyncSteps(steps, self.async_sleep or asyncio.sleep, request),
            request=request,
        )

    def _answer(self, request: httpx.Request) -> tuple[int, dict[str, str], Iterator[Step]]:
        path = request.url.path
        base_path = httpx.URL(self._base_url).path.rstrip("/")
        route = path[len(base_path) :] if path.startswith(base_path) else path
        if request.method == "GET" and route.rstrip("/") == "/models":
            return _json(200, models_body(self.dialect))
        if request.method != "POST" or route.rstrip("/") not in CHAT_PATHS:
            return _json(404, error_body(404, f"No route for {request.method} {route}"))
        try:
            body = json.loads(request.read().decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as exc:
            return _json(400, error_body(400, f"Invalid JSON in request body: {exc}"))
        if not isinstance(body, dict):
            return _json(400, error_body(400, "The request body must be a JSON object"))
        messages = body.get("messages")
        valid = isinstance(messages, list) and bool(messages)
        refused = refusal(body, self.dialect) if valid else None  # as today's provider would
        with self._lock:
            self._bodies.append(body)
            item = None
            if valid and not refused:
                item = next((m.item for m in self._matched if m.matches(body)), None)
                if item is None and self._queue:
                    item = self._queue.popleft()
        if not valid:
            return _json(
                400, error_body(400, "Input required: 'messages' must be a non-empty array")
            )
        if refused:
            return _json(*refused)
        if item is None and self.responder is not None:
            item = self.responder(body)
        if item is None:
            item = default_reply(body)
        if isinstance(item, Reply) and thinking_off(body, item.dialect or self.dialect):
            item = replace(item, reasoning="", empty_think=False)  # thinking off: no reasoning
        timeout = (request.extensions.get("timeout") or {}).get("read")
        return self._respond(item, body, timeout)

    def _respond(
        self, item: Script, body: Mapping[str, Any], read_timeout: float | None
    ) -> tuple[int, dict[str, str], Iterator[Step]]:
        if isinstance(item, Fault) and item.kind in ("status", "redirect"):
            headers = {"content-type": item.content_type, **dict(item.headers)}
            if item.kind == "redirect":
                headers["location"] = item.location
            if item.body is None:
                payload = (
                    json.dumps(error_body(item.status, item.message)).encode()
                    if item.content_type == "application/json"
                    else b""
                )
            elif isinstance(item.body, str):
                payload = item.body.encode("utf-8")
            else:
                payload = json.dumps(item.body, ensure_ascii=False).encode("utf-8")
            return item.status, headers, iter([payload])
        fault = item if isinstance(item, Fault) else None
        reply = (
            item
            if isinstance(item, Reply)
            else (fault.reply if fault else None) or default_reply(body)
        )
        ctx = self._context(reply, body)
        headers = {"x-generation-id": ctx.gen_id} if ctx.dialect == "openrouter" else {}
        if body.get("stream") is True:
            headers["content-type"] = "text/event-stream"
            return 200, headers, self._stream(reply, ctx, fault, read_timeout)
        headers["content-type"] = "application/json"
        return 200, headers, self._whole(reply, ctx, fault)

    def _context(self, reply: Reply, body: Mapping[str, Any]) -> StreamContext:
        n = next(self._ids)
        dialect = reply.dialect or self.dialect
        options = body.get("stream_options")
        model = body.get("model")
        return StreamContext(
            dialect=dialect,
            gen_id=f"gen-emu-{n}" if dialect == "openrouter" else f"chatcmpl-emu-{n}",
            created=int(time.time()),
            model=reply.model or _served_as(dialect, model),
            provider=reply.provider,
            prompt_tokens=prompt_tokens(body),
            include_usage=isinstance(options, Mapping) and options.get("include_usage") is True,
        )

    def _wait(
        self,
        seconds: float | None,
        read_timeout: float | None,
        comment: bytes = b"",
        interval: float | None = None,
    ) -> Iterator[Step]:
        """Silence (or keep-alive comments) for ``seconds``; a wait longer than the client's
        read timeout ends as the client would see it (None = until the client gives up)."""
        limit = seconds if seconds is not None else read_timeout
        if limit is None:
            raise _Cut("the emulator was told to wait forever")
        if interval and comment:
            waited = 0.0
            while waited + interval <= limit:
                yield float(interval)
                yield comment
                waited += interval
            if limit > waited:
                yield float(limit - waited)
        elif limit > 0:
            yield float(limit)
        if seconds is None or (read_timeout is not None and seconds > read_timeout and not comment):
            raise httpx.ReadTimeout("the offline emulator stalled")

    def _stream(
        self, reply: Reply, ctx: StreamContext, fault: Fault | None, read_timeout: float | None
    ) -> Iterator[Step]:
        kind = fault.kind if fault else None
        comment = keepalive_comment(ctx.dialect)
        if self.keepalive_interval:
            yield comment
        if self.first_token_latency:
            yield from self._wait(self.first_token_latency, None, comment, self.keepalive_interval)
        if fault is not None and fault.kind == "keepalive_forever":
            yield from self._wait(fault.seconds, read_timeout, comment, fault.interval)
            return
        if (
            fault is not None
            and fault.kind == "stall"
            and fault.before_headers
            and not fault.after_tokens
        ):
            yield from self._wait(fault.seconds, read_timeout)
        huge = fault.size if fault is not None and fault.kind == "huge" else None
        cutting = ("midstream_error", "drop", "stall", "malformed")
        cut = fault.after_tokens if fault is not None and kind in cutting else None
        chunks = content_chunks(
            reply,
            ctx,
            self.tokens_per_chunk,
            boundary=cut,
            answer_tokens=None if huge is None else huge_tokens(huge),
        )
        tokens, first = 0, True
        for chunk in chunks:
            if self.token_delay and not first:
                yield float(self.token_delay)
            first = False
            yield chunk.sse()
            tokens += chunk.tokens
            if cut is not None and tokens >= cut:
                break
        if fault is not None and fault.kind == "midstream_error":
            yield error_chunk(fault, ctx).sse()
            if fault.done:
                yield b"data: [DONE]\n\n"
            return
        if kind == "drop":
            raise _Cut("dropped")
        if fault is not None and fault.kind == "stall" and not fault.before_headers:
            yield from self._wait(fault.seconds, read_timeout)
        if fault is not None and fault.kind == "malformed":
            yield b"data: {not json\n\n"
            if fault.then == "end":
                return
        for chunk in chunks:
            if self.token_delay:
                yield float(self.token_delay)
            yield chunk.sse()
        if self.token_delay:
            yield float(self.token_delay)
        yield finish_chunk(reply, ctx).sse()
        usage = usage_chunk(reply, ctx, None if huge is None else huge_token_count(huge))
        if usage is not None:
            yield usage.sse()
        if kind != "no_done":
            yield b"data: [DONE]\n\n"
        if fault is not None and fault.kind == "after_done":
            yield from junk_pieces(fault.size)

    def _whole(self, reply: Reply, ctx: StreamContext, fault: Fault | None) -> Iterator[Step]:
        if self.first_token_latency:
            yield float(self.first_token_latency)
        if fault is not None and fault.kind == "malformed":
            yield b"{not json"
            return
        if fault is not None and fault.kind == "midstream_error":
            body = completion_body(truncate(reply, fault.after_tokens), ctx)
            body["error"] = error_chunk(fault, ctx).payload["error"]
            body["choices"][0]["finish_reason"] = "error"
            yield json.dumps(body, ensure_ascii=False).encode()
            return
        prefix = b"\n\n" if ctx.dialect == "deepseek" else b""
        data = prefix + json.dumps(completion_body(reply, ctx), ensure_ascii=False).encode()
        if fault is not None and fault.kind == "drop":
            yield data[: len(data) // 2]
            raise _Cut("dropped")
        yield data


def _json(status: int, obj: Any) -> tuple[int, dict[str, str], Iterator[Step]]:
    return status, {"content-type": "application/json"}, iter([json.dumps(obj).encode()])


class _SyncSteps(httpx.SyncByteStream):
    def __init__(
        self, steps: Iterator[Step], sleep: Callable[[float], Any], request: httpx.Request
    ) -> None:
        self.steps, self.sleep, self.request = steps, sleep, request
        self.closed = False

    def __iter__(self) -> Iterator[bytes]:
        try:
            for step in self.steps:
                if self.closed:
                    raise httpx.ReadError("the stream was closed", request=self.request)
                if isinstance(step, float):
                    self.sleep(step)
                else:
                    yield step
        except _Cut as exc:
            raise httpx.RemoteProtocolError(
                f"the offline emulator cut the reply ({exc})", request=self.request
            ) from None

    def close(self) -> None:
        self.closed = True


class _AsyncSteps(httpx.AsyncByteStream):
    def __init__(
        self, steps: Iterator[Step], sleep: Callable[[float], Any], request: httpx.Request
    ) -> None:
        self.steps, self.sleep, self.request = steps, sleep, request
        self.closed = False

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            for step in self.steps:
                if self.closed:
                    raise httpx.ReadError("the stream was closed", request=self.request)
                if isinstance(step, float):
                    await self.sleep(step)
                else:
                    yield step
        except _Cut as exc:
            raise httpx.RemoteProtocolError(
                f"the offline emulator cut the reply ({exc})", request=self.request
            ) from None

    async def aclose(self) -> None:
        self.closed = True
