"""The public stream: ``deepseek_magic.stream(prompt, **options)`` and ``astream(...)``.

A :class:`Stream` is a prepared request that sends when iterated (openai's ``Stream``,
llm's ``Response``): a context manager, iterable for the public events of
:mod:`deepseek_magic.events`, with ``.result`` (the Result so far) at any time. It is
closed in ``finally`` (the ``with`` block's end, a ``break``, an error, the kernel's
interrupt), and a stopped or failed stream keeps its partial Result (recorded in the
session's history, marked interrupted). ``ask()`` is a stream run to its end
(:meth:`Stream.until_done`). :class:`AsyncStream` is the awaitable twin, line for line.

Everything else (features, retries, tool and extra rounds) is the engine's
(:mod:`._dispatch`); this module only turns its events into public ones.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from types import TracebackType
from typing import TYPE_CHECKING

from ..core._result import Result
from ..events import Event, public_event
from ._dispatch import ARun, EventHook, Run

if TYPE_CHECKING:
    from ..client._http import AsyncClient, Client
    from ..core._session import Session
    from ._api import Prepared

__all__ = ["AsyncStream", "Stream"]


class Stream:
    """A request that streams when iterated; see the module docstring."""

    def __init__(self, prep: Prepared, *, session: Session, client: Client | None = None) -> None:
        self._run = Run(prep, session=session, client=client)

    def __enter__(self) -> Stream:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def __iter__(self) -> Iterator[Event]:
        try:
            for event in self._run:
                public = public_event(event)
                if public is not None:
                    yield public
        finally:
            self.close()

    @property
    def result(self) -> Result:
        """The Result so far (complete once the stream has ended; partial if stopped)."""
        return self._run.result

    @property
    def done(self) -> bool:
        """True once the stream has ended (finished, failed or stopped)."""
        return self._run.done

    def close(self) -> None:
        """Stop now (from another thread too); what arrived is kept in ``result``."""
        self._run.close()

    def until_done(self, on_event: EventHook | None = None) -> Result:
        """Read to the end and return the Result (what ``ask()`` does)."""
        try:
            return self._run.finish(on_event)
        finally:
            self.close()

    def __repr__(self) -> str:
        state = "done" if self.done else "open"
        return f"<Stream {state}: {self.result!r}>"


class AsyncStream:
    """The awaitable twin of :class:`Stream` (``async with``, ``async for``)."""

    def __init__(
        self, prep: Prepared, *, session: Session, client: AsyncClient | None = None
    ) -> None:
        self._run = ARun(prep, session=session, client=client)

    async def __aenter__(self) -> AsyncStream:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def __aiter__(self) -> AsyncIterator[Event]:
        try:
            async for event in self._run:
                public = public_event(event)
                if public is not None:
                    yield public
        finally:
            await self.close()

    @property
    def result(self) -> Result:
        """The Result so far (complete once the stream has ended; partial if stopped)."""
        return self._run.result

    @property
    def done(self) -> bool:
        """True once the stream has ended (finished, failed or stopped)."""
        return self._run.done

    async def close(self) -> None:
        """Stop now; what arrived is kept in ``result``."""
        await self._run.close()

    async def until_done(self, on_event: EventHook | None = None) -> Result:
        """Read to the end and return the Result (what ``aask()`` does)."""
        try:
            return await self._run.finish(on_event)
        finally:
            await self.close()

    def __repr__(self) -> str:
        state = "done" if self.done else "open"
        return f"<AsyncStream {state}: {self.result!r}>"
