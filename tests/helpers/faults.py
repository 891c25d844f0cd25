"""Leak and wait helpers for the fault, interrupt and concurrency tests.

:class:`Footprint` counts this process's threads and sockets before a test to compare
with after it; :func:`settle` polls a condition (threads and sockets end a moment after
a close); :class:`Sleeps` is a ``sleep`` that records instead of sleeping;
:data:`STATUS_ERRORS` is the documented HTTP status -> exception map.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable

import deepseek_magic as dm


def open_sockets() -> int:
    """Sockets this process holds open (the emulator's own included: it runs in-process)."""
    count = 0
    for fd in os.listdir("/proc/self/fd"):
        try:
            if os.readlink(f"/proc/self/fd/{fd}").startswith("socket:"):
                count += 1
        except OSError:  # the fd closed while we looked
            pass
    return count


def settle(check: Callable[[], bool], timeout: float = 5.0) -> bool:
    """Poll ``check`` until it holds (threads and sockets end a moment after a close)."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            return check()
        time.sleep(0.01)
    return True


class Footprint:
    """Threads and sockets before a test, to compare with after it."""

    def __init__(self) -> None:
        self.threads = threading.active_count()
        self.sockets = open_sockets()

    def now(self) -> tuple[int, int]:
        return threading.active_count(), open_sockets()

    def assert_back(self, timeout: float = 5.0) -> None:
        settle(lambda: self.now()[0] <= self.threads and self.now()[1] <= self.sockets, timeout)
        threads, sockets = self.now()
        assert threads <= self.threads, f"{threads - self.threads} thread(s) left behind"
        assert sockets <= self.sockets, f"{sockets - self.sockets} socket(s) left behind"


class Sleeps(list[float]):
    """A ``sleep`` that records instead of sleeping (``Client(sleep=...)``)."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)

    async def asleep(self, seconds: float) -> None:
        self.append(seconds)


#: the HTTP statuses and the exceptions DESIGN.md says they become
STATUS_ERRORS: dict[int, type[dm.APIStatusError]] = {
    400: dm.BadRequestError,
    401: dm.AuthenticationError,
    402: dm.PaymentRequiredError,
    403: dm.PermissionDeniedError,
    408: dm.RequestTimeoutError,
    429: dm.RateLimitError,
    404: dm.NotFoundError,
    409: dm.ConflictError,
    422: dm.UnprocessableEntityError,
    500: dm.InternalServerError,
    502: dm.InternalServerError,
    503: dm.InternalServerError,
}
