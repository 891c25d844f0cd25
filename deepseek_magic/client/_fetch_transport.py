"""httpx transports on the browser's ``fetch``, for a kernel running in pyodide (JupyterLite).

pyodide has no sockets, so httpx's own transport cannot connect there. These transports
hand each request to ``fetch`` and read the reply through the body's ``ReadableStream``
reader, one chunk at a time, so a streamed reply streams:

* :class:`FetchTransport` (sync, for ``ask()``, the magic and the panel) waits on each
  JavaScript promise with ``pyodide.ffi.run_sync``, which needs JSPI (Chromium today);
* :class:`AsyncFetchTransport` (for ``aask()``) awaits the same promises, and works in
  every browser.

Timeouts, a stop (``Response.close()``) and a KeyboardInterrupt abort the fetch through
its ``AbortController``; the client keeps what arrived, as on a server kernel. Errors
become the httpx exceptions the client already maps (ConnectError, ReadTimeout ...).

The JavaScript side is reached only through a :class:`Browser` (the ``js`` module and
``pyodide.ffi``), so tests run under CPython with a fake one. This module imports
neither IPython nor ipywidgets.

Which providers refuse web pages (no CORS) is the provider table's ``browser_refusal``;
which request headers a browser sends is :data:`BROWSER_HEADERS` below (what OpenRouter's
preflight allows).
"""

from __future__ import annotations

import logging
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx

__all__ = [
    "AsyncFetchTransport",
    "Browser",
    "FetchTransport",
    "browser_refusal",
    "in_browser",
    "local_routes",
]

log = logging.getLogger("deepseek_magic")

#: Request headers a browser sends: what OpenRouter's CORS preflight allows (Authorization,
#: Content-Type and its documented attribution headers) plus Accept, which needs no
#: preflight. Others (User-Agent, X-Stainless-*, OpenAI-Beta) fail the preflight, and
#: Host, Content-Length, Connection, Accept-Encoding are the browser's own to set.
BROWSER_HEADERS = frozenset({"accept", "authorization", "content-type", "http-referer", "x-title"})

#: base URL prefix -> transport answering inside the kernel (the in-kernel offline
#: emulator registers here; see ``deepseek_magic/emulator/_inkernel.py``)
local_routes: dict[str, Any] = {}


def in_browser() -> bool:
    """True when this Python runs in pyodide (a JupyterLite tab)."""
    return sys.platform == "emscripten"


def browser_refusal(url: str) -> str | None:
    """The one-line reason a browser cannot call ``url`` (its provider's
    ``browser_refusal`` in the provider table), or None when it can."""
    from ..core._providers import detect_provider

    return detect_provider(url).browser_refusal or None


@dataclass
class Browser:
    """What the transports use of JavaScript: the ``js`` module and ``pyodide.ffi``."""

    js: Any
    ffi: Any

    @classmethod
    def current(cls) -> Browser:
        import js  # pyodide only
        import pyodide.ffi  # pyodide only

        return cls(js, pyodide.ffi)

    def can_run_sync(self) -> bool:
        check = getattr(self.ffi, "can_run_sync", None)
        return bool(check()) if check is not None else False

    def init(self, request: httpx.Request, signal: Any) -> Any:
        """The ``fetch`` options for ``request`` as a JavaScript object."""
        headers = {}
        dropped = []
        for name, value in request.headers.items():
            if name.lower() in BROWSER_HEADERS:
                headers[name] = value
            elif name.lower() not in ("host", "content-length", "connection", "accept-encoding"):
                dropped.append(name)
        if dropped:
            log.debug("not sent from the browser (CORS): %s", ", ".join(dropped))
        options: dict[str, Any] = {
            "method": request.method,
            "headers": headers,
            "signal": signal,
            "redirect": "manual",
            "credentials": "omit",
            "cache": "no-store",
        }
        body = request.read()
        if body:
            options["body"] = self.ffi.to_js(body)
        return self.ffi.to_js(options, dict_converter=self.js.Object.fromEntries)


@dataclass
class _Call:
    """One fetch in flight: its AbortController, the timer armed for the current wait,
    and why it was aborted (``"timeout"``, ``"closed"`` or ``"interrupt"``)."""

    browser: Browser
    url: str
    controller: Any
    timer: Any = None
    reason: str | None = None
    kind: str = "connect"
    #: the JavaScript error the last promise settled with (see :meth:`guard`)
    failure: Any = None

    def arm(self, seconds: float | None, kind: str) -> None:
        """Abort the fetch if the next wait lasts longer than ``seconds`` (None = no limit)."""
        self.kind = kind
        self.disarm()
        if seconds is None:
            return
        callback = self.browser.ffi.create_once_callable(self._expire)
        self.timer = self.browser.js.setTimeout(callback, max(0.0, seconds) * 1000)

    def disarm(self) -> None:
        if self.timer is not None:
            self.browser.js.clearTimeout(self.timer)
            self.timer = None

    def _expire(self, *args: Any) -> None:
        self.timer = None
        self.abort("timeout")

    def abort(self, reason: str) -> None:
        if self.reason is None:
            self.reason = reason
            self.controller.abort()

    def guard(self, promise: Any) -> Any:
        """``promise``, turned into one that never rejects: a rejection is kept in
        :attr:`failure` (a rejected promise that pyodide has wrapped for ``run_sync`` would
        otherwise surface again later, as a stray traceback in the cell)."""
        self.failure = None

        def failed(error: Any) -> None:
            self.failure = error

        return promise.catch(failed)

    def settled(self, value: Any, request: httpx.Request) -> Any:
        """The value a guarded promise gave, or the httpx error for its rejection."""
        if self.failure is not None:
            failure, self.failure = self.failure, None
            raise self.error(_JsError(failure), request)
        return value

    def check(self, request: httpx.Request) -> None:
        """Raise if the fetch was aborted between two reads (a stop from this thread)."""
        if self.reason is not None:
            raise self.error(None, request)

    def error(self, exc: BaseException | None, request: httpx.Request) -> httpx.HTTPError:
        """A JavaScript rejection -> the httpx exception the client understands."""
        if self.reason == "timeout":
            cls = httpx.ConnectTimeout if self.kind == "connect" else httpx.ReadTimeout
            return cls(f"no reply from {self.url} in time", request=request)
        if self.reason is not None:
            return httpx.ReadError(f"the request was stopped ({self.reason})", request=request)
        assert exc is not None
        detail = " ".join(str(exc).split())[:160] or type(exc).__name__
        if self.kind == "connect":
            return httpx.ConnectError(
                f"the browser could not fetch it ({detail}): no network, the server is down, "
                "or it does not allow requests from this page (CORS)",
                request=request,
            )
        return httpx.ReadError(f"the reply was cut ({detail})", request=request)


class _JsError(Exception):
    """A JavaScript error object a promise rejected with."""

    def __init__(self, error: Any) -> None:
        name = str(getattr(error, "name", "") or "Error")
        super().__init__(f"{name}: {getattr(error, 'message', error)}")


def _head(
    call: _Call, request: httpx.Request, reply: Any
) -> tuple[int, list[tuple[str, str]], bytes]:
    if str(getattr(reply, "type", "")) == "opaqueredirect":
        raise httpx.ConnectError(
            f"{call.url} answered with a redirect; set the base URL to the final address",
            request=request,
        )
    headers = []
    for pair in reply.headers.entries():
        name, value = str(pair[0]), str(pair[1])
        # fetch has already decoded the body: httpx must not decode it again
        if name.lower() not in ("content-encoding", "content-length", "transfer-encoding"):
            headers.append((name, value))
    return int(reply.status), headers, str(reply.statusText or "").encode("latin-1", "replace")


def _timeouts(request: httpx.Request) -> tuple[float | None, float | None]:
    timeout = request.extensions.get("timeout") or {}
    return timeout.get("connect"), timeout.get("read")


def _chunk(result: Any) -> bytes | None:
    """A ``reader.read()`` result -> its bytes, or None at the end of the body."""
    if bool(result.done):
        return None
    value = result.value
    return bytes(value.to_bytes()) if hasattr(value, "to_bytes") else bytes(value)


class _SyncBody(httpx.SyncByteStream):
    def __init__(
        self,
        call: _Call,
        reader: Any,
        request: httpx.Request,
        wait: Callable[[Any], Any],
        read_timeout: float | None,
    ) -> None:
        self.call, self.reader, self.request, self.wait = call, reader, request, wait
        self.read_timeout = read_timeout
        self.finished = False

    def __iter__(self) -> Iterator[bytes]:
        while not self.finished:
            self.call.check(self.request)
            self.call.arm(self.read_timeout, "read")
            try:
                result = self.call.settled(
                    self.wait(self.call.guard(self.reader.read())), self.request
                )
            except KeyboardInterrupt:
                self.call.abort("interrupt")
                _quietly(self.reader.cancel)
                raise
            except httpx.HTTPError:
                raise
            except Exception as exc:  # noqa: BLE001 - a JavaScript error (pyodide JsException)
                raise self.call.error(exc, self.request) from None
            finally:
                self.call.disarm()
            data = _chunk(result)
            if data is None:
                self.finished = True
                return
            if data:
                yield data

    def close(self) -> None:
        self.call.disarm()
        if not self.finished and self.call.reason is None:
            self.call.abort("closed")  # a read still to come raises (see _Call.check)
            _quietly(self.reader.cancel)


class _AsyncBody(httpx.AsyncByteStream):
    def __init__(
        self, call: _Call, reader: Any, request: httpx.Request, read_timeout: float | None
    ) -> None:
        self.call, self.reader, self.request = call, reader, request
        self.read_timeout = read_timeout
        self.finished = False

    async def __aiter__(self) -> AsyncIterator[bytes]:
        import asyncio

        while not self.finished:
            self.call.check(self.request)
            self.call.arm(self.read_timeout, "read")
            try:
                result = self.call.settled(await self.call.guard(self.reader.read()), self.request)
            except (KeyboardInterrupt, asyncio.CancelledError):
                self.call.abort("interrupt")
                _quietly(self.reader.cancel)
                raise
            except httpx.HTTPError:
                raise
            except Exception as exc:  # noqa: BLE001 - a JavaScript error (pyodide JsException)
                raise self.call.error(exc, self.request) from None
            finally:
                self.call.disarm()
            data = _chunk(result)
            if data is None:
                self.finished = True
                return
            if data:
                yield data

    async def aclose(self) -> None:
        self.call.disarm()
        if not self.finished and self.call.reason is None:
            self.call.abort("closed")  # a read still to come raises (see _Call.check)
            _quietly(self.reader.cancel)


def _quietly(action: Callable[[], Any]) -> None:
    """Call ``action`` (it returns a promise we need not wait for), ignoring any failure."""
    try:
        promise = action()
        if hasattr(promise, "catch"):
            promise.catch(lambda error: None)
    except Exception:  # noqa: BLE001 - the body is already being abandoned
        pass


def _start(browser: Browser, request: httpx.Request) -> tuple[_Call, Any]:
    url = str(request.url)
    reason = browser_refusal(url)
    if reason is not None:
        raise httpx.ConnectError(reason, request=request)
    call = _Call(browser, url, browser.js.AbortController.new())
    return call, browser.init(request, call.controller.signal)


def _response(call: _Call, request: httpx.Request, reply: Any, stream: Any) -> httpx.Response:
    status, headers, reason = _head(call, request, reply)
    return httpx.Response(
        status,
        headers=headers,
        stream=stream,
        request=request,
        extensions={"reason_phrase": reason, "http_version": b"HTTP/1.1"},
    )


class FetchTransport(httpx.BaseTransport):
    """Sync httpx transport on ``fetch`` (waits with ``pyodide.ffi.run_sync``)."""

    def __init__(self, browser: Browser | None = None) -> None:
        self._browser = browser

    @property
    def browser(self) -> Browser:
        if self._browser is None:
            self._browser = Browser.current()
        return self._browser

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        for prefix, local in local_routes.items():
            if str(request.url).startswith(prefix):
                response: httpx.Response = local.handle_request(request)
                return response
        browser = self.browser
        if not browser.can_run_sync():
            raise httpx.ConnectError(
                "this browser cannot wait for a reply synchronously (that needs JSPI, in Chromium "
                "and Edge): use `await deepseek_magic.aask(...)` in this browser, or open the "
                "site in Chromium",
                request=request,
            )
        call, init = _start(browser, request)
        connect_timeout, read_timeout = _timeouts(request)
        call.arm(connect_timeout, "connect")
        wait = browser.ffi.run_sync
        try:
            reply = call.settled(wait(call.guard(browser.js.fetch(call.url, init))), request)
            reader = reply.body.getReader() if reply.body is not None else None
        except KeyboardInterrupt:
            call.abort("interrupt")
            raise
        except httpx.HTTPError:
            raise
        except Exception as exc:  # noqa: BLE001 - a JavaScript error (pyodide JsException)
            raise call.error(exc, request) from None
        finally:
            call.disarm()
        stream: httpx.SyncByteStream = (
            _SyncBody(call, reader, request, wait, read_timeout)
            if reader is not None
            else httpx.ByteStream(b"")
        )
        return _response(call, request, reply, stream)


class AsyncFetchTransport(httpx.AsyncBaseTransport):
    """Async httpx transport on ``fetch`` (awaits the promises; any browser)."""

    def __init__(self, browser: Browser | None = None) -> None:
        self._browser = browser

    @property
    def browser(self) -> Browser:
        if self._browser is None:
            self._browser = Browser.current()
        return self._browser

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        import asyncio

        for prefix, local in local_routes.items():
            if str(request.url).startswith(prefix):
                response: httpx.Response = await local.handle_async_request(request)
                return response
        browser = self.browser
        call, init = _start(browser, request)
        connect_timeout, read_timeout = _timeouts(request)
        call.arm(connect_timeout, "connect")
        try:
            reply = call.settled(await call.guard(browser.js.fetch(call.url, init)), request)
            reader = reply.body.getReader() if reply.body is not None else None
        except (KeyboardInterrupt, asyncio.CancelledError):
            call.abort("interrupt")
            raise
        except httpx.HTTPError:
            raise
        except Exception as exc:  # noqa: BLE001 - a JavaScript error (pyodide JsException)
            raise call.error(exc, request) from None
        finally:
            call.disarm()
        stream: httpx.AsyncByteStream = (
            _AsyncBody(call, reader, request, read_timeout)
            if reader is not None
            else httpx.ByteStream(b"")
        )
        return _response(call, request, reply, stream)
