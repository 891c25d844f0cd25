"""A fake of the JavaScript side the fetch transport uses (``js`` + ``pyodide.ffi``), so the
transport's logic runs under CPython.

A test scripts the "server": ``FakeJS.replies`` is a queue of :class:`FakeReply` (status,
headers and body chunks), ``FetchFailed`` (fetch rejects, as on a network or CORS
failure) or ``HANG`` (fetch never settles). A body chunk is ``bytes``, ``HANG`` (the read
never settles), an Exception (the read rejects) or ``KeyboardInterrupt`` (the user
interrupts while waiting). Time is simulated: waiting on a promise that never settles
fires the armed ``setTimeout`` timers in order (nothing else can end the wait), which
is how a timeout aborts through the ``AbortController``; with no timer armed the wait
would last forever, so the fake raises instead of hanging the test.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from deepseek_magic.client._fetch_transport import Browser

HANG = object()


class JsException(Exception):
    def __init__(self, name: str, message: str) -> None:
        super().__init__(f"{name}: {message}")
        self.name = name


class FetchFailed(Exception):
    """Scripted: fetch() rejects with a TypeError (network down, CORS refused)."""


class Forever(AssertionError):
    """A wait no timer and no abort could end."""


class Promise:
    def __init__(self, js: FakeJS, settle: Any, controller: FakeController | None) -> None:
        self.js, self._settle, self.controller = js, settle, controller

    def result(self) -> Any:
        while self._settle is HANG:
            if self.controller is not None and self.controller.aborted:
                raise JsException("AbortError", "The user aborted a request.")
            if not self.js.fire_next_timer():
                raise Forever("the page would wait forever")
        if self.controller is not None and self.controller.aborted:
            raise JsException("AbortError", "The user aborted a request.")
        if isinstance(self._settle, BaseException):
            raise self._settle
        return self._settle

    def catch(self, handler: Any) -> Promise:
        """A promise that settles with ``handler(error)`` where this one rejects."""
        return _Caught(self, handler)

    def __await__(self) -> Any:
        if False:  # pragma: no cover - makes this a generator
            yield
        return self.result()


class _Caught(Promise):
    def __init__(self, inner: Promise, handler: Any) -> None:
        super().__init__(inner.js, None, None)
        self.inner, self.handler = inner, handler

    def result(self) -> Any:
        try:
            return self.inner.result()
        except JsException as error:
            return self.handler(error)


class Uint8Array:
    def __init__(self, data: bytes) -> None:
        self.data = data

    def to_bytes(self) -> bytes:
        return self.data


@dataclass
class ReadResult:
    done: bool
    value: Any = None


class FakeReader:
    def __init__(self, js: FakeJS, chunks: list[Any], controller: FakeController) -> None:
        self.js, self.chunks, self.controller = js, list(chunks), controller
        self.cancelled = False
        self.reads = 0

    def read(self) -> Promise:
        self.reads += 1
        if self.cancelled:
            return Promise(self.js, ReadResult(True), None)
        if not self.chunks:
            return Promise(self.js, ReadResult(True), self.controller)
        item = self.chunks.pop(0)
        if item is HANG:
            return Promise(self.js, HANG, self.controller)
        if item is KeyboardInterrupt or isinstance(item, BaseException):
            return Promise(
                self.js,
                item if isinstance(item, BaseException) else KeyboardInterrupt(),
                self.controller,
            )
        return Promise(self.js, ReadResult(False, Uint8Array(item)), self.controller)

    def cancel(self) -> Promise:
        self.cancelled = True
        return Promise(self.js, None, None)


class FakeHeaders:
    def __init__(self, headers: dict[str, str]) -> None:
        self._headers = {k.lower(): v for k, v in headers.items()}

    def entries(self) -> list[list[str]]:
        return [[k, v] for k, v in self._headers.items()]


@dataclass
class FakeReply:
    status: int = 200
    chunks: list[Any] = field(default_factory=list)
    headers: dict[str, str] = field(default_factory=lambda: {"content-type": "text/event-stream"})
    statusText: str = "OK"
    type: str = "cors"


class FakeResponse:
    def __init__(self, js: FakeJS, reply: FakeReply, controller: FakeController) -> None:
        self.status, self.statusText, self.type = reply.status, reply.statusText, reply.type
        self.headers = FakeHeaders(reply.headers)
        self.reader = FakeReader(js, reply.chunks, controller)
        self.body = self

    def getReader(self) -> FakeReader:
        return self.reader


class FakeController:
    def __init__(self) -> None:
        self.aborted = False
        self.signal = self

    def abort(self) -> None:
        self.aborted = True


class _New:
    def __init__(self, make: Any) -> None:
        self.new = make


class _Object:
    @staticmethod
    def fromEntries(entries: Any) -> Any:
        return dict(entries)


class FakeJS:
    def __init__(self, replies: list[Any] | None = None) -> None:
        self.replies = list(replies or [])
        self.fetches: list[tuple[str, dict[str, Any]]] = []
        self.controllers: list[FakeController] = []
        self.responses: list[FakeResponse] = []
        self.timers: dict[int, tuple[Any, float]] = {}
        self.fired: list[float] = []  # delays (ms) of timers that went off
        self._ids = 0
        self.AbortController = _New(self._controller)
        self.Object = _Object

    def _controller(self) -> FakeController:
        controller = FakeController()
        self.controllers.append(controller)
        return controller

    def fetch(self, url: str, init: dict[str, Any]) -> Promise:
        self.fetches.append((url, init))
        controller = init["signal"]
        item = self.replies.pop(0)
        if item is HANG:
            return Promise(self, HANG, controller)
        if isinstance(item, FetchFailed):
            return Promise(self, JsException("TypeError", "Failed to fetch"), controller)
        if item is KeyboardInterrupt:
            return Promise(self, KeyboardInterrupt(), controller)
        response = FakeResponse(self, item, controller)
        self.responses.append(response)
        return Promise(self, response, controller)

    def setTimeout(self, callback: Any, ms: float) -> int:
        self._ids += 1
        self.timers[self._ids] = (callback, ms)
        return self._ids

    def clearTimeout(self, timer: int) -> None:
        self.timers.pop(timer, None)

    def fire_next_timer(self) -> bool:
        if not self.timers:
            return False
        timer = min(self.timers)
        callback, ms = self.timers.pop(timer)
        self.fired.append(ms)
        callback()
        return True


class FakeFFI:
    def __init__(self, js: FakeJS, sync: bool = True) -> None:
        self.js, self.sync = js, sync

    def can_run_sync(self) -> bool:
        return self.sync

    def run_sync(self, promise: Promise) -> Any:
        assert self.sync, "run_sync called where the browser cannot run it"
        # A rejected promise run_sync waited on comes back later as a stray traceback in
        # the cell (seen in Chromium): the transport must hand it only guarded ones.
        assert isinstance(promise, _Caught), "run_sync got a promise that may reject"
        return promise.result()

    @staticmethod
    def to_js(value: Any, dict_converter: Any = None) -> Any:
        if isinstance(value, bytes):
            return Uint8Array(value)
        return (
            dict_converter(value.items()) if dict_converter and isinstance(value, dict) else value
        )

    @staticmethod
    def create_once_callable(fn: Any) -> Any:
        return fn


def browser(replies: list[Any] | None = None, *, sync: bool = True) -> tuple[Browser, FakeJS]:
    js = FakeJS(replies)
    return Browser(js, FakeFFI(js, sync)), js
