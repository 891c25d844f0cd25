"""When to retry a request, and how long to wait: pure functions.

Retries happen only before the first byte of a reply (a stream that has started is
never replayed: it would bill twice and show text twice), for statuses that say
"try again" (408, 409, 429, 5xx) and for connection failures. 400/401/402/403 are
never retried. The delay honours ``Retry-After`` (seconds or an HTTP date, MDN:
https://developer.mozilla.org/docs/Web/HTTP/Headers/Retry-After) up to a cap; a
server that asks for more than the cap gets no retry at all (the user hears at once
instead of a silent long wait). Otherwise: capped exponential backoff with jitter,
as openai-python does.
"""

from __future__ import annotations

import email.utils
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

__all__ = ["RetryPolicy", "parse_retry_after", "RETRYABLE_STATUSES"]

RETRYABLE_STATUSES = frozenset({408, 409, 429, 500, 502, 503, 504})


def parse_retry_after(headers: Mapping[str, str], *, now: float | None = None) -> float | None:
    """Seconds the server asked us to wait, from ``retry-after-ms`` or ``Retry-After``."""
    lowered = {k.lower(): v for k, v in headers.items()}
    ms = lowered.get("retry-after-ms")
    if ms is not None:
        try:
            value = float(ms) / 1000
            if value >= 0:
                return value
        except ValueError:
            pass
    raw = lowered.get("retry-after")
    if raw is None:
        return None
    raw = raw.strip()
    try:
        seconds = float(raw)
        return seconds if seconds >= 0 else None
    except ValueError:
        pass
    try:
        parsed = email.utils.parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        return None
    current = time.time() if now is None else now
    return max(0.0, parsed.timestamp() - current)


@dataclass(frozen=True)
class RetryPolicy:
    """How many times and how long. ``delay()`` is a pure function of its inputs."""

    max_retries: int = 2
    initial_delay: float = 0.5
    max_delay: float = 8.0
    #: the longest Retry-After we are willing to honour silently
    max_retry_after: float = 30.0

    def should_retry(self, attempt: int, status: int | None) -> bool:
        """``attempt`` counts retries already made (0 for the first failure).
        ``status`` is None for a connection failure."""
        if attempt >= self.max_retries:
            return False
        return status is None or status in RETRYABLE_STATUSES

    def delay(
        self, attempt: int, retry_after: float | None, jitter: Callable[[], float] = random.random
    ) -> float | None:
        """Seconds to wait before retry number ``attempt + 1``; None means "do not retry"
        (the server asked for a longer wait than :attr:`max_retry_after`)."""
        if retry_after is not None:
            return retry_after if retry_after <= self.max_retry_after else None
        base = min(self.initial_delay * 2.0**attempt, self.max_delay)
        # Up to 25% less than the base, so many clients do not retry in step.
        return base * (1 - 0.25 * jitter())

    def worst_case_wait(self) -> float:
        """The longest total time retries can add (for documentation and tests)."""
        return self.max_retries * max(self.max_delay, self.max_retry_after)
