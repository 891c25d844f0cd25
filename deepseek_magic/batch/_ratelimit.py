"""One rate limiter for a whole batch run: how many requests may be in flight, and when.

A batch run (``deepseek_magic.map``) sends its rows through one :class:`RateGate`:

* at most ``limit`` requests are in flight (``limit`` starts at the run's concurrency and
  never goes above it);
* a throttle from the server (429, or 503, before the first byte) lowers the limit for
  everyone at once, to what the server just showed it can take: the number in flight
  when it refused, minus the refused one (each refusal of a burst lowers it further, as
  the refused requests leave, so it settles on what the server admitted);
* with ``Retry-After`` the whole run pauses that long (capped: a longer wait is the
  caller's to report); without one (DeepSeek's dynamic-concurrency 429) only the limit
  drops, unless nothing else was in flight (then a short capped backoff);
* every success adds ``1/limit`` (one more request in flight per ``limit`` successes):
  the run probes back up, the additive increase of AIMD, so a server that recovers is
  used fully again; after a refusal, probing waits a second (ten Retry-Afters after a
  pause), so a server that stays full sees at most one refused probe a second.

The refused row itself waits for the gate again like any other: there is no per-row
retry timer, hence no thundering herd when a pause ends. Pure asyncio, with an
injectable clock; nothing here sends anything.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["THROTTLE_STATUSES", "GateStats", "RateGate"]

#: statuses that mean "too much, slow down" (before the first byte)
THROTTLE_STATUSES = frozenset({429, 503})
#: probing waits this many pauses after a Retry-After pause...
PROBE_HOLD = 10.0
#: ...and at least this many seconds after any refusal (at most one refused probe a second)
MIN_PROBE_HOLD = 1.0
#: the longest pause after a refusal with nothing else in flight and no Retry-After
MAX_IDLE_BACKOFF = 8.0


@dataclass
class GateStats:
    """What the gate did, for the run's summary and the benchmarks."""

    throttles: int = 0
    decreases: int = 0
    paused_s: float = 0.0
    lowest_limit: float = 0.0


class RateGate:
    """See the module docstring. Use one per run, on one event loop."""

    def __init__(self, limit: int, *, clock: Callable[[], float] = time.monotonic) -> None:
        if limit < 1:
            raise ValueError("limit must be >= 1")
        self.ceiling = limit
        self.limit = float(limit)
        self.active = 0
        self.clock = clock
        self.paused_until = 0.0
        self.probe_after = 0.0
        #: bumps at each decrease; a ticket remembers the epoch it was issued in
        self.epoch = 0
        self.stats = GateStats(lowest_limit=float(limit))
        self._changed: asyncio.Condition | None = None
        self._streak = 0

    @property
    def allowed(self) -> int:
        return max(1, int(self.limit))

    def _cond(self) -> asyncio.Condition:
        if self._changed is None:
            self._changed = asyncio.Condition()
        return self._changed

    async def acquire(self) -> int:
        """Wait for a slot; returns the ticket (the epoch) to hand back to :meth:`throttled`."""
        cond = self._cond()
        async with cond:
            while True:
                wait = self.paused_until - self.clock()
                if wait > 0:
                    try:
                        await asyncio.wait_for(cond.wait(), timeout=wait)
                    except asyncio.TimeoutError:
                        pass
                    continue
                if self.active < self.allowed:
                    self.active += 1
                    return self.epoch
                await cond.wait()

    async def release(self, *, ok: bool) -> None:
        """A request ended; ``ok`` when it was answered (that probes the limit up)."""
        cond = self._cond()
        async with cond:
            self.active -= 1
            if ok:
                self._streak = 0
            if ok and self.limit < self.ceiling and self.clock() >= self.probe_after:
                self.limit = min(float(self.ceiling), self.limit + 1.0 / self.limit)
            cond.notify_all()

    async def throttled(self, ticket: int, retry_after: float | None) -> None:
        """The request holding ``ticket`` was refused as too much (before its first byte);
        call before :meth:`release` for it (so the count in flight includes it)."""
        cond = self._cond()
        async with cond:
            self.stats.throttles += 1
            now = self.clock()
            # The server was full with the others in flight: it takes at most active - 1.
            # Refusals of one burst each lower it further (the refused ones still count as
            # in flight until released), so the limit settles on what the server took.
            target = max(1.0, float(self.active - 1))
            if target < self.limit:
                if ticket == self.epoch:
                    self.stats.decreases += 1
                self.epoch += 1
                self.limit = target
                self.stats.lowest_limit = min(self.stats.lowest_limit, self.limit)
            if (retry_after is None or retry_after <= 0) and self.active <= 1:
                # Refused with nothing else in flight: the server is busy with others, so
                # wait (capped exponential backoff) instead of asking again at once.
                retry_after = min(MAX_IDLE_BACKOFF, 0.25 * 2.0**self._streak)
                self._streak += 1
            hold = MIN_PROBE_HOLD
            if retry_after is not None and retry_after > 0:
                until = now + retry_after
                if until > self.paused_until:
                    self.stats.paused_s += until - max(now, self.paused_until)
                    self.paused_until = until
                hold = max(hold, PROBE_HOLD * retry_after)
            self.probe_after = max(self.probe_after, now + hold)
            cond.notify_all()
