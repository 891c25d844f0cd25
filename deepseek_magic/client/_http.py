"""The only module that talks HTTP.

``Client.stream(request)`` returns a :class:`ChatStream`: iterate it for chat events,
read ``.result`` at any moment for the Result so far, and it always closes its
connection (when the loop ends, breaks, raises, or the kernel is interrupted).
``AsyncClient`` is the awaitable twin for running several requests at once.

The pure pipeline both feed lives in ``_pipeline`` (:class:`~._pipeline.Pipeline`: bytes
-> SSE -> chunks -> events -> accumulator); the sync and async I/O loops around it stay
explicit twins, as in httpx, and differ only in ``await``.
"""

from __future__ import annotations

import functools
import json
import logging
import socket
import ssl
import time
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Generator, Iterator, Mapping
from typing import Any

import httpx

from .. import __version__
from ..core._errors import (
    APIConnectionError,
    APIError,
    APITimeoutError,
    StreamError,
    status_error,
)
from ..core._result import Result
from ._events import ChatEvent
from ._fetch_transport import AsyncFetchTransport, FetchTransport, in_browser
from ._pipeline import _ERROR_BODY_LIMIT, DEFAULT_MAX_REPLY_CHARS, Pipeline
from ._pools import sharded_transport
from ._request import Request
from ._retry import RetryPolicy, parse_retry_after

__all__ = [
    "Client",
    "AsyncClient",
    "ChatStream",
    "AsyncChatStream",
    "DEFAULT_MAX_REPLY_CHARS",
    "provider_headers",
]

log = logging.getLogger("deepseek_magic")

#: After ``[DONE]`` a stream reads on to the end of the body (normally just the terminating
#: chunk), so its connection goes back to the pool for the next request, reading at most
#: this many bytes and, once a read has returned, for at most DRAIN_SECONDS (a read itself
#: waits at most the read timeout); a server still sending then has its connection closed.
DRAIN_LIMIT = 64 * 1024
DRAIN_SECONDS = 1.0


def provider_headers(settings: Any) -> dict[str, str]:
    """The headers every request to ``settings``' server carries: ours, the provider's
    own (``Provider.headers``) and the key."""
    headers = {"User-Agent": f"deepseek-magic/{__version__}", **settings.provider.headers}
    if settings.api_key:
        headers["Authorization"] = f"Bearer {settings.api_key}"
    return headers


def _headers(request: Request) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        "Accept": "text/event-stream" if request.stream else "application/json",
        **provider_headers(request.settings),
    }


def _timeout(request: Request) -> httpx.Timeout:
    s = request.settings
    return httpx.Timeout(
        connect=s.connect_timeout, read=s.read_timeout, write=s.read_timeout, pool=s.connect_timeout
    )


def _status_exception(
    response: httpx.Response, raw: bytes, key: str | None, *, note: str = ""
) -> APIError:
    """An HTTP error response -> the matching exception (never containing the key), its
    message final (``note`` ends it)."""
    status = response.status_code
    text = raw.decode("utf-8", "replace").strip()
    if key:
        text = text.replace(key, "***")  # some servers echo the key they refused
    body: Any = text
    message = ""
    code: Any = status
    metadata: dict[str, Any] = {}
    try:
        body = json.loads(text) if text else None
    except (ValueError, RecursionError):  # RecursionError: hostile nesting like [[[[...
        pass
    if isinstance(body, Mapping):
        error = body.get("error", body)
        if isinstance(error, Mapping):
            message = str(error.get("message") or "")
            # OpenRouter's availability errors have no error.code: fall back to the status.
            code = error.get("code", error.get("http_status", status))
            meta = error.get("metadata")
            metadata = dict(meta) if isinstance(meta, Mapping) else {}
            if isinstance(error.get("availability"), Mapping):
                metadata["availability"] = dict(error["availability"])
        elif isinstance(error, str):
            message = error
    if not message:
        if 300 <= status < 400:
            location = response.headers.get("location", "?")
            location = location.replace(key, "***") if key else location
            message = f"the server redirected to {location}; set the base URL to the final address"
        elif "html" in response.headers.get("content-type", "") or text.lower().startswith("<"):
            message = f"{response.reason_phrase or 'error'} (the server sent an HTML page)"
        else:
            message = response.reason_phrase or "error"
    message = " ".join(message.split())[:300]
    retry_after = parse_retry_after(response.headers)
    cls = status_error(status)
    request_id = response.headers.get("x-generation-id") or response.headers.get("x-request-id")
    return cls(
        f"HTTP {status} from {response.request.url.host}: {message.rstrip('.')}.{note}",
        status=status,
        code=code,
        body=body,
        request_id=request_id,
        metadata=metadata,
        retry_after=retry_after,
    )


def _connection_exception(exc: Exception, request: Request) -> APIError:
    host = httpx.URL(request.settings.base_url).host
    if isinstance(exc, httpx.TimeoutException):
        kind = "connect" if isinstance(exc, httpx.ConnectTimeout) else "read"
        seconds = (
            request.settings.connect_timeout if kind == "connect" else request.settings.read_timeout
        )
        return APITimeoutError(f"{host} sent nothing for {seconds:g} s ({kind} timeout).")
    detail = str(exc).split("\n")[0][:200] or type(exc).__name__
    if request.settings.api_key:
        detail = detail.replace(request.settings.api_key, "***")
    return APIConnectionError(f"Could not reach {host}: {detail}.")


class _StreamBase:
    def __init__(
        self,
        request: Request,
        *,
        policy: RetryPolicy,
        clock: Callable[[], float],
        keep_chunks: bool,
        max_reply_chars: int,
        offline: bool,
    ) -> None:
        self.request = request
        self.policy = policy
        self.clock = clock
        self.started = clock()
        self._pipe = Pipeline(
            request,
            started=self.started,
            clock=clock,
            keep_chunks=keep_chunks,
            max_reply_chars=max_reply_chars,
            offline=offline,
        )
        #: retries made before the stream started
        self.retries = 0
        self._response: httpx.Response | None = None
        #: True once the reply's connection is closed
        self.closed = False

    @property
    def result(self) -> Result:
        """The Result so far (complete once iteration has finished)."""
        return self._pipe.result()

    @property
    def responded(self) -> bool:
        """True once the server answered with a success status: from then on the request
        is never sent again (a failure is the reply's, not the connection's)."""
        return self._response is not None

    def _next_delay(self, error: APIError) -> float | None:
        """Seconds to wait before retrying after ``error``, or None to give up."""
        if not self.policy.should_retry(self.retries, error.status_code):
            return None
        return self.policy.delay(self.retries, error.retry_after)

    def _wait_note(self, response: httpx.Response) -> str:
        """What the error says when the server asks for a longer wait than the policy
        allows (decided before the error is built: its message is final)."""
        wait = parse_retry_after(response.headers)
        status = response.status_code
        if wait is None or not self.policy.should_retry(self.retries, status):
            return ""
        if self.policy.delay(self.retries, wait) is not None:
            return ""
        return f" The server asked to wait {wait:g} s; try again later."

    def _handle_response_head(self, response: httpx.Response) -> bool:
        """True when the body is SSE; False for a JSON body (a non-streamed reply)."""
        ctype = response.headers.get("content-type", "")
        return "event-stream" in ctype or (self.request.stream and "json" not in ctype)

    def _drain_deadline(self) -> float:
        """When reading past ``[DONE]`` stops (see :data:`DRAIN_SECONDS`)."""
        return self.clock() + min(DRAIN_SECONDS, self.request.settings.read_timeout)

    def _json_reply(self, raw: bytes) -> list[ChatEvent]:
        return self._pipe.feed_json(raw)


class ChatStream(_StreamBase):
    """A streaming request in progress (sync). Iterate for events; always closed."""

    def __init__(
        self,
        http: httpx.Client,
        request: Request,
        *,
        policy: RetryPolicy,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] | None = None,
        keep_chunks: bool = False,
        max_reply_chars: int = DEFAULT_MAX_REPLY_CHARS,
        offline: bool = False,
    ) -> None:
        super().__init__(
            request,
            policy=policy,
            clock=clock,
            keep_chunks=keep_chunks,
            max_reply_chars=max_reply_chars,
            offline=offline,
        )
        self._http = http
        self._sleep = sleep if sleep is not None else time.sleep
        #: close() was called before the iteration ended (a stop from another thread)
        self._stopped = False
        self._finished = False

    def __enter__(self) -> ChatStream:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def close(self) -> None:
        """Close the connection. Safe to call from another thread while the stream is read
        (the panel's Stop): a read blocked on a silent server wakes at once, and the reading
        loop raises KeyboardInterrupt with the Result so far marked interrupted, as the
        kernel's interrupt would."""
        if not self._finished:
            self._stopped = True
            _wake(self._response)
        if self._response is not None:
            self._response.close()
        self.closed = True

    def _check_stopped(self) -> None:
        if self._stopped:
            raise KeyboardInterrupt("stream closed while it was read")

    def _open(self) -> httpx.Response:
        req = self._http.build_request(
            "POST",
            self.request.settings.endpoint,
            json=dict(self.request.body),
            headers=_headers(self.request),
            timeout=_timeout(self.request),
        )
        while True:
            try:
                log.debug("POST %s (attempt %d)", req.url, self.retries + 1)
                response = self._http.send(req, stream=True)
            except httpx.HTTPError as exc:
                error = _connection_exception(exc, self.request)
            else:
                if response.status_code < 300:
                    return response
                try:
                    raw = _read_limited(response.iter_bytes())
                except httpx.HTTPError:
                    raw = b""
                finally:
                    response.close()
                error = _status_exception(
                    response, raw, self.request.settings.api_key, note=self._wait_note(response)
                )
            delay = self._next_delay(error)
            if delay is None:
                raise self._pipe.fail(error)
            log.info("retrying in %.1f s after: %s", delay, error)
            self._sleep(delay)
            self.retries += 1

    def __iter__(self) -> Generator[ChatEvent, None, None]:
        try:
            self._check_stopped()
            self._response = response = self._open()
            self._check_stopped()
            if not self._handle_response_head(response):
                yield from self._json_reply(
                    _read_limited(response.iter_bytes(), self._pipe.max_body_bytes)
                )
                return
            chunks = response.iter_bytes()
            for data in chunks:
                yield from self._pipe.feed(data)
                if self._pipe.done:
                    self._drain(chunks)
                    return
                late = self._pipe.waiting_too_long()
                if late is not None:
                    raise self._pipe.fail(late)
            yield from self._pipe.end_of_stream()
        except httpx.HTTPError as exc:
            if self._stopped:  # close() from another thread cut the read: a stop, not a failure
                self._pipe.interrupted = True
                raise KeyboardInterrupt("stream closed while it was read") from None
            raise self._pipe.fail(_stream_cut(exc, self.request)) from None
        except (KeyboardInterrupt, GeneratorExit):
            self._pipe.interrupted = True
            raise
        finally:
            self._finished = True
            self.close()

    def _drain(self, chunks: Iterator[bytes]) -> None:
        """Read what follows ``[DONE]`` (normally only the body's end) within the bounds."""
        left, deadline = DRAIN_LIMIT, self._drain_deadline()
        try:
            for data in chunks:
                left -= len(data)
                if left < 0 or self._stopped or self.clock() > deadline:
                    return  # the connection is closed, not reused
        except httpx.HTTPError:  # a Stop shut the socket, or the server broke off
            pass  # the reply is complete; only the connection is lost

    def run(self) -> Result:
        """Consume the whole stream and return the Result (raises on failure)."""
        for _ in self:
            pass
        return self.result


class AsyncChatStream(_StreamBase):
    """The awaitable twin of :class:`ChatStream`."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        request: Request,
        *,
        policy: RetryPolicy,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Any] | None = None,
        keep_chunks: bool = False,
        max_reply_chars: int = DEFAULT_MAX_REPLY_CHARS,
        offline: bool = False,
    ) -> None:
        super().__init__(
            request,
            policy=policy,
            clock=clock,
            keep_chunks=keep_chunks,
            max_reply_chars=max_reply_chars,
            offline=offline,
        )
        import asyncio

        self._http = http
        self._sleep = sleep if sleep is not None else asyncio.sleep

    async def __aenter__(self) -> AsyncChatStream:
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        if self._response is not None:
            await self._response.aclose()
        self.closed = True

    async def _open(self) -> httpx.Response:
        req = self._http.build_request(
            "POST",
            self.request.settings.endpoint,
            json=dict(self.request.body),
            headers=_headers(self.request),
            timeout=_timeout(self.request),
        )
        while True:
            try:
                response = await self._http.send(req, stream=True)
            except httpx.HTTPError as exc:
                error = _connection_exception(exc, self.request)
            else:
                if response.status_code < 300:
                    return response
                try:
                    raw = await _aread_limited(response.aiter_bytes())
                except httpx.HTTPError:
                    raw = b""
                finally:
                    await response.aclose()
                error = _status_exception(
                    response, raw, self.request.settings.api_key, note=self._wait_note(response)
                )
            delay = self._next_delay(error)
            if delay is None:
                raise self._pipe.fail(error)
            await self._sleep(delay)
            self.retries += 1

    async def __aiter__(self) -> AsyncGenerator[ChatEvent, None]:
        import asyncio

        try:
            self._response = response = await self._open()
            if not self._handle_response_head(response):
                raw = await _aread_limited(response.aiter_bytes(), self._pipe.max_body_bytes)
                for event in self._json_reply(raw):
                    yield event
                return
            chunks = response.aiter_bytes()
            async for data in chunks:
                for event in self._pipe.feed(data):
                    yield event
                if self._pipe.done:
                    await self._drain(chunks)
                    return
                late = self._pipe.waiting_too_long()
                if late is not None:
                    raise self._pipe.fail(late)
            for event in self._pipe.end_of_stream():
                yield event
        except httpx.HTTPError as exc:
            raise self._pipe.fail(_stream_cut(exc, self.request)) from None
        except (KeyboardInterrupt, asyncio.CancelledError, GeneratorExit):
            self._pipe.interrupted = True
            raise
        finally:
            await self.aclose()

    async def _drain(self, chunks: AsyncIterator[bytes]) -> None:
        """The awaitable twin of :meth:`ChatStream._drain`."""
        left, deadline = DRAIN_LIMIT, self._drain_deadline()
        try:
            async for data in chunks:
                left -= len(data)
                if left < 0 or self.clock() > deadline:
                    return
        except httpx.HTTPError:
            pass

    async def run(self) -> Result:
        async for _ in self:
            pass
        return self.result


def _wake(response: httpx.Response | None) -> None:
    """Shut the socket down so a read blocked in another thread returns now (closing it
    alone waits for the server's next byte, which a thinking model may not send for long)."""
    stream = response.extensions.get("network_stream") if response is not None else None
    sock = stream.get_extra_info("socket") if stream is not None else None
    if sock is not None:
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass  # already closed


def _stream_cut(exc: httpx.HTTPError, request: Request) -> APIError:
    if isinstance(exc, httpx.TimeoutException):
        return APITimeoutError(
            f"The server went silent mid-stream for {request.settings.read_timeout:g} s.",
            hint="What arrived before the silence is kept in the partial result.",
        )
    return StreamError(f"The connection was cut mid-stream ({type(exc).__name__}).")


def _read_limited(chunks: Iterator[bytes], limit: int = _ERROR_BODY_LIMIT) -> bytes:
    """At most ``limit`` bytes of a body (a list, not ``+=``: bodies can be megabytes)."""
    parts: list[bytes] = []
    size = 0
    for chunk in chunks:
        parts.append(chunk)
        size += len(chunk)
        if size >= limit:
            break
    return b"".join(parts)[:limit]


async def _aread_limited(chunks: AsyncIterator[bytes], limit: int = _ERROR_BODY_LIMIT) -> bytes:
    parts: list[bytes] = []
    size = 0
    async for chunk in chunks:
        parts.append(chunk)
        size += len(chunk)
        if size >= limit:
            break
    return b"".join(parts)[:limit]


@functools.cache
def _tls(verify: bool) -> ssl.SSLContext:
    """One TLS context per process: building one loads the CA bundle (~20 ms of CPU),
    which every ``aask()`` would otherwise pay, one after another on the event loop
    (benchmarks/BENCHMARKS.md, concurrency)."""
    return httpx.create_ssl_context(verify=verify)


def _verify(verify: bool, transport: object) -> ssl.SSLContext | bool:
    """The TLS context, built only when httpx's own transport will use it (a browser's
    fetch does its own TLS; a given transport ignores it)."""
    return _tls(verify) if transport is None else verify


class Client:
    """A connection pool for sync requests (one per session is plenty)."""

    def __init__(
        self,
        *,
        transport: httpx.BaseTransport | None = None,
        http: httpx.Client | None = None,
        verify: bool = True,
        policy: RetryPolicy | None = None,
        sleep: Callable[[float], None] | None = None,
    ) -> None:
        self._own = http is None
        if http is None and transport is None and in_browser():
            transport = FetchTransport()  # pyodide (JupyterLite): no sockets, use fetch
        #: the transport given (or the browser's fetch), None for httpx's own
        self.transport = transport
        #: what httpx verifies TLS with: the context (httpx's own transport) or the flag
        self.tls = _verify(verify, transport)
        self.http = http or httpx.Client(
            transport=transport, verify=self.tls, follow_redirects=False
        )
        self.policy = policy
        #: how to wait between retries (tests pass a recorder)
        self.sleep = sleep

    def stream(
        self,
        request: Request,
        *,
        keep_chunks: bool = False,
        max_reply_chars: int = DEFAULT_MAX_REPLY_CHARS,
        offline: bool = False,
        policy: RetryPolicy | None = None,
    ) -> ChatStream:
        """The request as a stream (not sent until iterated). ``policy`` overrides the
        client's retries (the engine's gated runs retry themselves: ``max_retries=0``)."""
        policy = policy or self.policy or RetryPolicy(max_retries=request.settings.max_retries)
        return ChatStream(
            self.http,
            request,
            policy=policy,
            keep_chunks=keep_chunks,
            max_reply_chars=max_reply_chars,
            offline=offline,
            sleep=self.sleep,
        )

    def close(self) -> None:
        if self._own:
            self.http.close()


class AsyncClient:
    """A connection pool for async requests; use one per event loop."""

    def __init__(
        self,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        http: httpx.AsyncClient | None = None,
        verify: bool = True,
        policy: RetryPolicy | None = None,
        sleep: Callable[[float], Any] | None = None,
    ) -> None:
        self._own = http is None
        if http is None and transport is None and in_browser():
            transport = AsyncFetchTransport()
        #: the transport given (or the browser's fetch), None for httpx's own
        self.transport = transport
        #: what httpx verifies TLS with: the context (httpx's own transport) or the flag
        self.tls = _verify(verify, transport)
        #: the small pools behind httpx's own transport, for hundreds of streams at once
        #: (see ``_pools``); None with a given transport or a proxy from the environment
        self.pools = sharded_transport(self.tls) if transport is None and http is None else None
        self.http = http or httpx.AsyncClient(
            transport=transport or self.pools,
            verify=self.tls,
            follow_redirects=False,
            # No cap on connections: the session shares this client, and a cap would make
            # the 65th of `asyncio.gather(*(aask(...) for ...))` wait for a connection and fail
            # with a pool timeout while R1 thinks. map() and sweeps bound themselves
            # (concurrency=); idle connections beyond httpx's keep-alive limit are closed.
            limits=httpx.Limits(max_connections=None, max_keepalive_connections=64),
        )
        self.policy = policy
        #: how to wait between retries (an async function; tests pass a recorder)
        self.sleep = sleep

    def stream(
        self,
        request: Request,
        *,
        keep_chunks: bool = False,
        max_reply_chars: int = DEFAULT_MAX_REPLY_CHARS,
        offline: bool = False,
        policy: RetryPolicy | None = None,
    ) -> AsyncChatStream:
        """The request as a stream (not sent until iterated). ``policy`` overrides the
        client's retries (the engine's gated runs retry themselves: ``max_retries=0``)."""
        policy = policy or self.policy or RetryPolicy(max_retries=request.settings.max_retries)
        return AsyncChatStream(
            self.http,
            request,
            policy=policy,
            keep_chunks=keep_chunks,
            max_reply_chars=max_reply_chars,
            offline=offline,
            sleep=self.sleep,
        )

    async def aclose(self) -> None:
        if self._own:
            await self.http.aclose()
