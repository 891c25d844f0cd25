"""A coroutine on an event loop of its own in a worker thread, waited for by the caller.

A notebook's main thread already runs an event loop, which may not be blocked on or
re-entered: ``map()`` and a sweep run their requests on a loop of their own in a worker
thread (:class:`LoopThread`) while the calling thread waits, refreshes its view when
told, and turns the kernel's interrupt (the stop button, Ctrl-C) into cancelling the
coroutine: every request in flight is cancelled, its connection closed, and the
interrupt re-raised once the worker has ended. ``amap()`` needs none of this: it runs on
the caller's loop.
"""

from __future__ import annotations

import asyncio
import queue
import threading
from collections.abc import Callable, Coroutine
from typing import Any

__all__ = ["LoopThread"]

#: seconds between two looks at the queue: a simulated interrupt
#: (``_thread.interrupt_main``) does not wake a blocked ``get()``, a signal would
POLL = 0.2


class LoopThread:
    """Run one coroutine in a worker thread; see the module docstring."""

    def __init__(self, name: str) -> None:
        self.name = name
        #: True: something changed (see :meth:`notify`); False: the coroutine ended
        self._wake: queue.SimpleQueue[bool] = queue.SimpleQueue()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[Any] | None = None
        self._cancelling = False
        self._failure: BaseException | None = None

    def notify(self) -> None:
        """Wake the waiting thread to refresh its view (called on the worker's loop)."""
        self._wake.put(True)

    def run(
        self, main: Callable[[], Coroutine[Any, Any, None]], on_wake: Callable[[], None]
    ) -> None:
        """Run ``main()`` to its end. ``on_wake()`` runs in this thread after notifications
        (once for several queued) and every :data:`POLL` seconds. The kernel's interrupt
        cancels ``main``, waits for it to end and re-raises; what ``main`` raised is raised
        here."""
        thread = threading.Thread(target=self._main, args=(main,), name=self.name, daemon=True)
        thread.start()
        try:
            while self._wait():
                on_wake()
        except KeyboardInterrupt:
            self._cancel()
            thread.join()
            raise
        thread.join()
        if self._failure is not None:
            raise self._failure

    def _wait(self) -> bool:
        """Block until notified or :data:`POLL` seconds passed; False once ``main`` ended."""
        try:
            alive = self._wake.get(timeout=POLL)
        except queue.Empty:
            return True
        while alive:  # drain: one refresh for many notifications
            try:
                alive = self._wake.get_nowait()
            except queue.Empty:
                break
        return alive

    def _main(self, main: Callable[[], Coroutine[Any, Any, None]]) -> None:
        async def go() -> None:
            self._loop = asyncio.get_running_loop()
            self._task = asyncio.current_task()
            if self._cancelling:  # interrupted before the loop was there to cancel
                return
            await main()

        try:
            asyncio.run(go())
        except asyncio.CancelledError:
            pass
        except BaseException as exc:  # noqa: BLE001  (raised in the caller's thread by run())
            self._failure = exc
        finally:
            self._wake.put(False)  # wakes the caller, however the loop ended

    def _cancel(self) -> None:
        self._cancelling = True
        loop, task = self._loop, self._task
        if loop is not None and task is not None and not loop.is_closed():
            try:
                loop.call_soon_threadsafe(task.cancel)
            except RuntimeError:
                pass  # the loop ended meanwhile: nothing left to cancel
