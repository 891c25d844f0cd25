"""The emulator's HTTP server: :class:`Emulator` and its handler (the script, the request
log and the choice of reply are shared with the in-kernel emulator, in ``_base.py``).

A ``ThreadingHTTPServer`` speaking HTTP/1.1 on loopback. Streams use chunked
transfer encoding and every SSE event is written (unbuffered) as soon as it is
built, so a client sees tokens arrive one by one. Every wait goes through
:meth:`_Handler._pause`, which wakes up when :meth:`Emulator.stop` is called or the
client hangs up; ``stop()`` also shuts every open socket, so no handler thread
outlives it.
"""

from __future__ import annotations

import json
import logging
import math
import select
import socket
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from ._base import RequestRecord, ScriptedServer, status_payload
from ._catalogues import models_body, props_body
from ._script import (
    Chunk,
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
    huge_pieces,
    huge_token_count,
    huge_tokens,
    junk_pieces,
    keepalive_comment,
    truncate,
    usage_chunk,
)

__all__ = ["Emulator", "RequestRecord"]

log = logging.getLogger(__name__)

CHAT_PATHS = ("/v1/chat/completions", "/api/v1/chat/completions")
MODELS_PATHS = ("/v1/models", "/api/v1/models")

_ABOUT = (
    "deepseek-magic offline emulator: an OpenAI-compatible chat-completions endpoint "
    "for tests and keyless demos. Replies come from the emulator, not from DeepSeek R1.\n"
    "POST /v1/chat/completions   GET /v1/models   GET /health\n"
)
#: the request headers OpenRouter's CORS preflight allows (a page may send only these)
CORS_ALLOWED_HEADERS = ("authorization", "content-type", "http-referer", "x-title", "accept")
_CORS_HEADERS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Expose-Headers": "X-Generation-Id, Retry-After",
}
_POLL = 0.25  # longest a wait sleeps before re-checking the stop flag (stop() also wakes it)


class _Stopping(Exception):
    """The emulator is stopping: abandon the request."""


class _ClientGone(Exception):
    """The client closed the connection."""


@dataclass(eq=False, repr=False)
class Emulator(ScriptedServer):
    """An OpenAI-compatible chat-completions server on loopback; see the package docstring."""

    port: int = 0
    host: str = "127.0.0.1"
    #: answer web pages on other origins as OpenRouter does (CORS), for JupyterLite
    cors: bool = False
    #: chat requests served at once; one more gets an immediate 429 (DeepSeek's dynamic
    #: concurrency limit), with ``Retry-After: busy_retry_after`` when that is set
    max_concurrent: int | None = None
    busy_retry_after: float | None = None

    def __post_init__(self, replies: Iterable[Script | Matched | Rule] | None) -> None:
        super().__post_init__(replies)
        self._chatting = 0
        self._inflight = 0
        self._connections: set[socket.socket] = set()
        self._accepted = 0
        self._stopping = threading.Event()
        self._server: _HTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ----------------------------------------------------------------- lifecycle

    def start(self) -> Emulator:
        if self._server is not None:
            return self
        self._stopping.clear()
        self._server = _HTTPServer((self.host, self.port), self)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"deepseek-magic-emulator:{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Stop serving, end every open connection (stalled ones too) and join all threads."""
        server, self._server = self._server, None
        if server is None:
            return
        with self._cond:
            self._stopping.set()
            connections = list(self._connections)
        server.shutdown()
        for conn in connections:  # wakes handlers blocked reading a keep-alive connection
            _shutdown(conn)
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout)
        deadline = time.monotonic() + timeout
        for thread in server.handler_threads():
            thread.join(max(0.0, deadline - time.monotonic()))

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = "running" if self._server else "stopped"
        return f"<Emulator {self.dialect} {state} {self.base_url}>"

    @property
    def base_url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/v1"

    # ----------------------------------------------------------------- connections

    @property
    def active_connections(self) -> int:
        with self._cond:
            return len(self._connections)

    @property
    def connections_accepted(self) -> int:
        """TCP connections accepted since start (a client that reuses its connections
        opens one for many requests)."""
        with self._cond:
            return self._accepted

    def wait_idle(self, timeout: float = 5.0) -> bool:
        """Wait until no request is being handled (idle keep-alive connections don't count)."""
        with self._cond:
            return self._cond.wait_for(lambda: self._inflight == 0, timeout)

    # ----------------------------------------------------------------- used by the handler

    def _register(self, conn: socket.socket) -> bool:
        with self._cond:
            if self._stopping.is_set():
                return False
            self._accepted += 1
            self._connections.add(conn)
            return True

    def _unregister(self, conn: socket.socket) -> None:
        with self._cond:
            self._connections.discard(conn)

    def _busy(self, delta: int) -> None:
        with self._cond:
            self._inflight += delta
            self._cond.notify_all()

    def _enter_chat(self) -> bool:
        """Count a chat request in; False (not counted) when the server is at capacity."""
        with self._cond:
            if self.max_concurrent is not None and self._chatting >= self.max_concurrent:
                return False
            self._chatting += 1
            return True

    def _leave_chat(self) -> None:
        with self._cond:
            self._chatting -= 1


def _shutdown(conn: socket.socket) -> None:
    try:
        conn.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass


class _HTTPServer(ThreadingHTTPServer):
    """Tracks its handler threads itself so stop() can join them.

    ``ThreadingMixIn`` does not join daemon threads, and non-daemon ones would block
    interpreter exit when stop() is never called (a notebook kernel shutting down).
    """

    daemon_threads = True
    allow_reuse_address = True
    # socketserver's default backlog of 5 drops the SYNs of a 6th simultaneous client,
    # which then waits a 1 s TCP retransmit: concurrent requests (aask + gather) need more.
    request_queue_size = 4096

    def __init__(self, address: tuple[str, int], emulator: Emulator) -> None:
        self.emulator = emulator
        self._handler_lock = threading.Lock()
        # each thread takes itself out when it ends: no scan of every thread per request
        self._handlers: set[threading.Thread] = set()
        super().__init__(address, _Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        thread = threading.Thread(
            target=self._handle_in_thread,
            args=(request, client_address),
            daemon=True,
            name="deepseek-magic-emulator-handler",
        )
        with self._handler_lock:
            self._handlers.add(thread)
        thread.start()

    def _handle_in_thread(self, request: Any, client_address: Any) -> None:
        try:
            self.process_request_thread(request, client_address)
        finally:
            with self._handler_lock:
                self._handlers.discard(threading.current_thread())

    def handler_threads(self) -> list[threading.Thread]:
        with self._handler_lock:
            return list(self._handlers)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients that vanish mid-request are routine here; anything else is a bug worth a log line.
        log.debug("emulator handler error for %s", client_address, exc_info=True)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "deepseek-magic-emulator/0.1"
    server: _HTTPServer

    # ----------------------------------------------------------------- plumbing

    def setup(self) -> None:
        super().setup()
        self.emu = self.server.emulator
        self.chunked = False
        self.record: RequestRecord | None = None
        # Small SSE writes must leave at once, not wait for Nagle's algorithm.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if not self.emu._register(self.connection):
            _shutdown(self.connection)

    def finish(self) -> None:
        try:
            super().finish()
        except OSError:
            pass
        finally:
            self.emu._unregister(self.connection)

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("emulator: " + format, *args)

    def _write(self, data: bytes, *, raw: bool = False) -> None:
        """Send ``data`` now (as one chunk when the body is chunked)."""
        if self.emu._stopping.is_set():
            raise _Stopping
        if self.chunked and not raw:
            if not data:
                return  # an empty chunk would end the body
            data = b"%x\r\n%s\r\n" % (len(data), data)
        try:
            self.wfile.write(data)
        except OSError as exc:
            raise (_Stopping if self.emu._stopping.is_set() else _ClientGone) from exc

    def _head(
        self,
        status: int,
        headers: Mapping[str, str],
        *,
        chunked: bool = False,
        length: int | None = None,
        close: bool = False,
    ) -> None:
        if self.record is not None:
            self.record.status = status
        self.send_response(status)
        if self.emu.cors:
            headers = {**_CORS_HEADERS, **headers}
        for name, value in headers.items():
            self.send_header(name, value)
        if chunked:
            self.send_header("Transfer-Encoding", "chunked")
        elif length is not None:
            self.send_header("Content-Length", str(length))
        if close:
            self.send_header("Connection", "close")
            self.close_connection = True
        try:
            self.end_headers()
        except OSError as exc:
            raise (_Stopping if self.emu._stopping.is_set() else _ClientGone) from exc
        self.chunked = chunked

    def _end_body(self) -> None:
        if self.chunked:
            self._write(b"0\r\n\r\n", raw=True)  # the zero-length chunk that ends the body
            self.chunked = False

    def _send(
        self,
        status: int,
        body: bytes,
        content_type: str = "application/json",
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self._head(status, {"Content-Type": content_type, **(headers or {})}, length=len(body))
        if body:
            self._write(body)

    def _send_json(self, status: int, obj: Any, headers: Mapping[str, str] | None = None) -> None:
        self._send(status, json.dumps(obj, ensure_ascii=False).encode("utf-8"), headers=headers)

    def _peer_closed(self) -> bool:
        try:
            return bool(self.connection.recv(1, socket.MSG_PEEK) == b"")
        except BlockingIOError:
            return False
        except OSError:
            return True

    def _pause(
        self, seconds: float | None, keepalive: float | None = None, comment: bytes = b""
    ) -> None:
        """Wait ``seconds`` (None = until stop), sending ``comment`` every ``keepalive`` seconds.

        Raises _Stopping when the emulator stops and _ClientGone when the client hangs up,
        so a stalled stream ends promptly either way.
        """
        now = time.monotonic()
        deadline = math.inf if seconds is None else now + seconds
        next_comment = now + keepalive if keepalive else math.inf
        peer_sent_data = False
        while True:
            if self.emu._stopping.is_set():
                raise _Stopping
            now = time.monotonic()
            if now >= deadline:
                return
            if now >= next_comment:
                self._write(comment)
                next_comment = now + (keepalive or math.inf)
            wait = min(deadline, next_comment, now + _POLL) - now
            if peer_sent_data:  # the socket stays readable; just sleep on the stop flag
                self.emu._stopping.wait(wait)
                continue
            readable, _, _ = select.select([self.connection], [], [], wait)
            if readable and not self.emu._stopping.is_set():
                if self._peer_closed():
                    raise _ClientGone
                peer_sent_data = True

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            parts: list[bytes] = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(parts)
                parts.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    # ----------------------------------------------------------------- routes

    def do_OPTIONS(self) -> None:
        """A CORS preflight: allowed (with ``cors=True``) only for the headers OpenRouter
        allows, so a page sending any other header fails as it would there."""
        self.record, self.chunked = None, False
        wanted = self.headers.get("Access-Control-Request-Headers", "")
        asked = [h.strip().lower() for h in wanted.split(",") if h.strip()]
        if not self.emu.cors or any(h not in CORS_ALLOWED_HEADERS for h in asked):
            self._send(403, b"", "text/plain")  # no CORS headers: the browser refuses the request
            return
        self._send(
            204,
            b"",
            "text/plain",
            {
                "Access-Control-Allow-Methods": "GET, POST, OPTIONS",
                "Access-Control-Allow-Headers": ", ".join(CORS_ALLOWED_HEADERS),
                "Access-Control-Max-Age": "600",
            },
        )

    def do_GET(self) -> None:
        path = urlsplit(self.path).path.rstrip("/")
        self.record, self.chunked = None, False  # a keep-alive connection serves many requests
        self.emu._busy(+1)
        try:
            if path in MODELS_PATHS:
                self._send_json(200, models_body(self.emu.dialect))
            elif path == "/props" and props_body(self.emu.dialect) is not None:
                self._send_json(200, props_body(self.emu.dialect))  # llama-server's
            elif path == "/health":
                accepted = self.emu.connections_accepted
                self._send_json(200, {"status": "ok", "emulator": True, "connections": accepted})
            elif path == "":
                self._send(200, _ABOUT.encode(), "text/plain; charset=utf-8")
            else:
                self._send_json(404, error_body(404, f"No route for GET {path}"))
        except (_ClientGone, _Stopping):
            self.close_connection = True
        finally:
            self.emu._busy(-1)

    def do_POST(self) -> None:
        path = urlsplit(self.path).path.rstrip("/")
        self.record, self.chunked = None, False
        self.emu._busy(+1)
        try:
            raw = self._read_body()
            if path not in CHAT_PATHS:
                self._send_json(404, error_body(404, f"No route for POST {path}"))
                return
            self._chat(path, raw)
        except (_ClientGone, _Stopping):
            self.close_connection = True
        finally:
            self.emu._busy(-1)

    def _chat(self, path: str, raw: bytes) -> None:
        record = RequestRecord.received(self.headers.items(), path)
        rejected = self.emu._check(record, raw)
        if rejected:
            record.status = 400  # marks the record as refused, so nothing is dequeued
        elif not self.emu._enter_chat():
            record.status = 429  # over capacity: refused at once, nothing dequeued
        item = self.emu._admit(record)
        self.record = record
        if rejected:
            self._send_json(*rejected)
            record.completed = True
            return
        if record.status == 429:
            busy = self.emu.busy_retry_after
            headers = {} if busy is None else {"Retry-After": f"{busy:g}"}
            busy_body = error_body(429, "Too many concurrent requests; slow down")
            self._send_json(429, busy_body, headers)
            record.completed = True
            return
        try:
            self._chat_admitted(record, item)
        finally:
            self.emu._leave_chat()

    def _chat_admitted(self, record: RequestRecord, item: Script | None) -> None:
        try:
            item = self.emu._script_for(record.body, item)
        except Exception as exc:  # a broken responder should fail loudly, not hang a client
            log.exception("emulator responder failed")
            self._send_json(500, error_body(500, f"Emulator responder failed: {exc!r}"))
            record.completed = True
            return
        record.script = item
        try:
            if isinstance(item, Fault):
                self._fault(item, record.body)
            else:
                self._reply(item, record.body)
            record.completed = True
        except _ClientGone:
            record.disconnected = True
            raise

    # ----------------------------------------------------------------- replies

    def _reply(self, reply: Reply, body: Mapping[str, Any], fault: Fault | None = None) -> None:
        ctx = self.emu._context(reply, body)
        if body.get("stream") is True:
            self._stream(reply, ctx, fault)
        else:
            self._whole(reply, ctx, fault)

    def _fault(self, fault: Fault, body: Mapping[str, Any]) -> None:
        if fault.kind in ("status", "redirect"):
            headers = dict(fault.headers)
            if fault.kind == "redirect":
                headers["Location"] = fault.location
            self._send(fault.status, status_payload(fault), fault.content_type, headers)
            return
        reply = fault.reply or default_reply(body)
        if fault.kind == "stall" and fault.before_headers and fault.after_tokens == 0:
            self._pause(fault.seconds)  # nothing at all, not even a status line...
            self._reply(reply, body)  # ...then the reply as normal
        else:
            self._reply(reply, body, fault)

    def _start_stream(self, ctx: StreamContext, close: bool = False) -> None:
        headers = {"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
        if ctx.dialect == "openrouter":
            headers["X-Generation-Id"] = ctx.gen_id
        self._head(200, headers, chunked=True, close=close)

    def _stream(self, reply: Reply, ctx: StreamContext, fault: Fault | None) -> None:
        emu, kind = self.emu, (fault.kind if fault else None)
        comment = keepalive_comment(ctx.dialect)
        self._start_stream(ctx, close=kind in ("drop", "no_done"))
        if emu.keepalive_interval:
            self._write(comment)
        self._pause(emu.first_token_latency, emu.keepalive_interval, comment)
        if fault is not None and fault.kind == "keepalive_forever":
            self._pause(fault.seconds, fault.interval, comment)
            self._end_body()
            return

        huge = fault.size if fault is not None and fault.kind == "huge" else None
        cutting = ("midstream_error", "drop", "stall", "malformed")
        cut = fault.after_tokens if fault is not None and fault.kind in cutting else None
        chunks = content_chunks(
            reply,
            ctx,
            emu.tokens_per_chunk,
            boundary=cut,
            answer_tokens=None if huge is None else huge_tokens(huge),
        )
        sent = self._send_chunks(chunks, cut, comment, first=True)

        if fault is not None and fault.kind == "midstream_error":
            self._write(error_chunk(fault, ctx).sse())
            if fault.done:
                self._write(b"data: [DONE]\n\n")
            self._end_body()
            return
        if kind == "drop":
            _shutdown(self.connection)  # no final chunk: the client sees a broken body
            self.close_connection = True
            return
        if fault is not None and fault.kind == "stall":
            self._pause(fault.seconds)
        if fault is not None and fault.kind == "malformed":
            self._write(b"data: {not json\n\n")
            if fault.then == "end":
                self._end_body()
                return
        self._send_chunks(chunks, None, comment, first=not sent)
        if emu.token_delay:
            self._pause(emu.token_delay, emu.keepalive_interval, comment)
        self._write(finish_chunk(reply, ctx).sse())
        usage = usage_chunk(reply, ctx, None if huge is None else huge_token_count(huge))
        if usage is not None:
            self._write(usage.sse())
        if kind != "no_done":
            self._write(b"data: [DONE]\n\n")
        if fault is not None and fault.kind == "after_done":
            for piece in junk_pieces(fault.size):
                self._write(piece)
        self._end_body()

    def _send_chunks(
        self, chunks: Iterator[Chunk], until: int | None, comment: bytes, first: bool
    ) -> int:
        """Write chunks until ``until`` tokens have gone (None = all); returns chunks written.

        Chunks keep to a schedule (one every ``token_delay`` from the start of this call),
        as a model generating at a fixed rate does: a handler thread that wakes late under
        load (hundreds of streams at once) catches up instead of slowing every later token.
        """
        emu, sent, tokens = self.emu, 0, 0
        due = time.monotonic() + (0.0 if first else emu.token_delay)
        while until is None or tokens < until:
            chunk = next(chunks, None)
            if chunk is None:
                break
            if emu.token_delay:
                wait = due - time.monotonic()
                if wait > 0:
                    self._pause(wait, emu.keepalive_interval, comment)
                due += emu.token_delay
            self._write(chunk.sse())
            sent += 1
            tokens += chunk.tokens
        return sent

    def _whole(self, reply: Reply, ctx: StreamContext, fault: Fault | None) -> None:
        """A ``"stream": false`` reply, with the faults that make sense without SSE."""
        emu, kind = self.emu, (fault.kind if fault else None)
        headers = {"Content-Type": "application/json"}
        if ctx.dialect == "openrouter":
            headers["X-Generation-Id"] = ctx.gen_id
        # DeepSeek sends blank lines while a request waits, so its JSON starts with some.
        deepseek = ctx.dialect == "deepseek"
        prefix = b"\n\n" if deepseek else b""
        if fault is not None and fault.kind == "huge":
            self._pause(emu.first_token_latency)
            self._head(200, headers, chunked=True)
            self._huge_body(reply, ctx, fault.size, prefix)
            self._end_body()
            return
        if kind == "malformed":
            self._send(200, b"{not json", headers=headers)
            return
        if fault is not None and fault.kind == "midstream_error":
            body = completion_body(truncate(reply, fault.after_tokens), ctx)
            body["error"] = error_chunk(fault, ctx).payload["error"]
            body["choices"][0]["finish_reason"] = "error"
            self._send_json(200, body, headers=headers)
            return
        data = prefix + json.dumps(completion_body(reply, ctx), ensure_ascii=False).encode()
        if kind == "drop":
            self._head(200, headers, length=len(data), close=True)
            self._write(data[: len(data) // 2])
            _shutdown(self.connection)
            return
        if not deepseek and kind not in ("stall", "keepalive_forever"):
            self._pause(emu.first_token_latency)  # a plain server is silent while it works
            self._head(200, headers, length=len(data))
            self._write(data)
            return
        self._head(200, headers, chunked=True)
        keepalive = emu.keepalive_interval if deepseek else None
        self._pause(emu.first_token_latency, keepalive, b"\n")
        if fault is not None and fault.kind == "keepalive_forever":
            self._pause(fault.seconds, fault.interval, b"\n")  # whitespace is JSON's only filler
            self._end_body()
            return
        if fault is not None and fault.kind == "stall":
            self._pause(fault.seconds)
        self._write(data)
        self._end_body()

    def _huge_body(self, reply: Reply, ctx: StreamContext, size: int, prefix: bytes) -> None:
        """Write a ``chat.completion`` whose answer is generated piece by piece."""
        marker = "\x00HUGE\x00"
        body = completion_body(replace(reply, answer=marker), ctx, huge_token_count(size))
        text = json.dumps(body, ensure_ascii=False)
        head, tail = text.split(json.dumps(marker)[1:-1], 1)
        self._write(prefix + head.encode())
        batch: list[str] = []
        for piece in huge_pieces(size):
            batch.append(json.dumps(piece, ensure_ascii=False)[1:-1])
            if len(batch) >= 256:
                self._write("".join(batch).encode())
                batch = []
        self._write("".join(batch).encode() + tail.encode())
