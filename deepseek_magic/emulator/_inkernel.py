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

import json
import time
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from ._base import RequestRecord, ScriptedServer, status_payload
from ._catalogues import models_body
from ._script import (
    Fault,
    Matched,
    Reply,
    Rule,
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
    truncate,
    usage_chunk,
)

__all__ = ["InKernelEmulator", "IN_KERNEL_BASE_URL"]

#: where the in-kernel emulator answers (loopback, so no key is asked for; never fetched)
IN_KERNEL_BASE_URL = "http://127.0.0.1/deepseek-magic-offline/v1"
CHAT_PATHS = ("/chat/completions",)
#: a step of a reply: bytes to hand over, or seconds to wait first
Step = bytes | float


class _Cut(Exception):
    """The scripted reply ends here without a proper end of body (the drop fault)."""


@dataclass(eq=False, repr=False)
class InKernelEmulator(ScriptedServer):
    """The offline emulator as an httpx transport (sync and async); see the module docstring."""

    base_url: str = IN_KERNEL_BASE_URL
    sleep: Callable[[float], Any] = time.sleep
    async_sleep: Callable[[float], Any] | None = None

    def __post_init__(self, replies: Iterable[Script | Matched | Rule] | None) -> None:
        super().__post_init__(replies)
        self.base_url = self.base_url.rstrip("/")
        self.running = False

    # ----------------------------------------------------------------- like Emulator
    def start(self) -> InKernelEmulator:
        from ..client._fetch_transport import local_routes

        local_routes[self.base_url] = self
        self.running = True
        return self

    def stop(self, timeout: float = 0.0) -> None:
        from ..client._fetch_transport import local_routes

        if local_routes.get(self.base_url) is self:
            del local_routes[self.base_url]
        self.running = False

    def __enter__(self) -> InKernelEmulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"<InKernelEmulator {self.dialect} {state} {self.base_url}>"

    # ----------------------------------------------------------------- transport
    def handle_request(self, request: httpx.Request) -> httpx.Response:
        status, headers, steps, record = self._answer(request)
        stream = _SyncSteps(steps, self.sleep, request, record)
        return httpx.Response(status, headers=headers, stream=stream, request=request)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        import asyncio

        status, headers, steps, record = self._answer(request)
        stream = _AsyncSteps(steps, self.async_sleep or asyncio.sleep, request, record)
        return httpx.Response(status, headers=headers, stream=stream, request=request)

    def _answer(
        self, request: httpx.Request
    ) -> tuple[int, dict[str, str], Iterator[Step], RequestRecord | None]:
        path = request.url.path
        base_path = httpx.URL(self.base_url).path.rstrip("/")
        route = path[len(base_path) :] if path.startswith(base_path) else path
        if request.method == "GET" and route.rstrip("/") == "/models":
            return (*_json(200, models_body(self.dialect)), None)
        if request.method != "POST" or route.rstrip("/") not in CHAT_PATHS:
            return (*_json(404, error_body(404, f"No route for {request.method} {route}")), None)
        record = RequestRecord.received(request.headers.items(), route)
        rejected = self._check(record, request.read())
        if rejected:
            record.status = rejected[0]  # marks the record as refused, so nothing is dequeued
        item = self._admit(record)
        if rejected:
            return (*_json(*rejected), record)
        record.script = item = self._script_for(record.body, item)
        timeout = (request.extensions.get("timeout") or {}).get("read")
        status, headers, steps = self._respond(item, record.body, timeout)
        record.status = status
        return status, headers, steps, record

    def _respond(
        self, item: Script, body: Mapping[str, Any], read_timeout: float | None
    ) -> tuple[int, dict[str, str], Iterator[Step]]:
        if isinstance(item, Fault) and item.kind in ("status", "redirect"):
            headers = {"content-type": item.content_type, **dict(item.headers)}
            if item.kind == "redirect":
                headers["location"] = item.location
            return item.status, headers, iter([status_payload(item)])
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


class _Steps:
    """A reply's steps handed to httpx: bytes are yielded, floats slept (by the subclass);
    a cut reply raises as a broken connection would, and the request's record says whether
    the client read it all or closed it first."""

    def __init__(
        self,
        steps: Iterator[Step],
        sleep: Callable[[float], Any],
        request: httpx.Request,
        record: RequestRecord | None,
    ) -> None:
        self.steps, self.sleep, self.request, self.record = steps, sleep, request, record
        self.closed = False

    def _steps(self) -> Iterator[Step]:
        try:
            for step in self.steps:
                if self.closed:
                    raise httpx.ReadError("the stream was closed", request=self.request)
                yield step
        except _Cut as exc:
            self._completed()  # the scripted fault ran to its end
            raise httpx.RemoteProtocolError(
                f"the offline emulator cut the reply ({exc})", request=self.request
            ) from None
        self._completed()

    def _completed(self) -> None:
        if self.record is not None:
            self.record.completed = True

    def _close(self) -> None:
        self.closed = True
        if self.record is not None and not self.record.completed:
            self.record.disconnected = True


class _SyncSteps(_Steps, httpx.SyncByteStream):
    def __iter__(self) -> Iterator[bytes]:
        for step in self._steps():
            if isinstance(step, float):
                self.sleep(step)
            else:
                yield step

    def close(self) -> None:
        self._close()


class _AsyncSteps(_Steps, httpx.AsyncByteStream):
    async def __aiter__(self) -> AsyncIterator[bytes]:
        for step in self._steps():
            if isinstance(step, float):
                await self.sleep(step)
            else:
                yield step

    async def aclose(self) -> None:
        self._close()
