"""How many requests a run may keep in flight: checked before anything is sent.

* :func:`check_concurrency`: a whole number from 1 to :data:`MAX_CONCURRENCY`, and one this
  process can hold open: each request in flight is a socket, and a process may only open
  so many files (``ulimit -n``: 256 by default on macOS, 1,024 on many Linux machines).
  When the soft limit is too low and the hard limit allows it, the soft limit is raised
  for this process (what servers do at start); otherwise a one-line error says how to
  raise it.
* :func:`warn_above_documented`: a provider documents how many requests an account may
  have in flight (``Provider.concurrent_requests``, with its source); above it the server
  answers 429 and the run's gate slows down to what it takes. Accounts can have their
  limit raised, so this warns and sends, it does not refuse.
"""

from __future__ import annotations

import logging
import warnings
from typing import Any

from ..core._errors import OptionError
from ..core._providers import Provider

__all__ = ["MAX_CONCURRENCY", "check_concurrency", "warn_above_documented"]

log = logging.getLogger("deepseek_magic")

#: the most requests one run keeps in flight (one event loop; past the largest limit a
#: provider documents: DeepSeek's 2,500 for deepseek-flash)
MAX_CONCURRENCY = 10_000
#: open files kept for everything else (the kernel, its comms, the run file, notebooks)
FILES_RESERVE = 256


def check_concurrency(concurrency: Any) -> int:
    """``concurrency`` checked (raises :class:`OptionError`, one line, nothing sent)."""
    if (
        not isinstance(concurrency, int)
        or isinstance(concurrency, bool)
        or not 1 <= concurrency <= MAX_CONCURRENCY
    ):
        raise OptionError(
            f"concurrency={concurrency!r}: expected a whole number from 1 to {MAX_CONCURRENCY:,}.",
            option="concurrency",
        )
    _make_room(concurrency)
    return concurrency


def _make_room(concurrency: int) -> None:
    """Raise this process's open-file soft limit if ``concurrency`` sockets need it."""
    try:
        import resource
    except ImportError:  # Windows, the browser: no such limit here
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    need = concurrency + FILES_RESERVE
    if soft == resource.RLIM_INFINITY or soft >= need:
        return
    if hard == resource.RLIM_INFINITY or hard >= need:
        resource.setrlimit(resource.RLIMIT_NOFILE, (need, hard))
        log.info("raised this process's open-file limit from %d to %d", soft, need)
        return
    raise OptionError(
        f"concurrency={concurrency:,}: that needs about {need:,} open files and this "
        f"process may open {hard:,} (its hard limit); lower concurrency, or raise the "
        "limit (ulimit -n) before starting Jupyter.",
        option="concurrency",
    )


def warn_above_documented(provider: Provider, model: str, concurrency: int) -> str | None:
    """Warn when ``concurrency`` is above what ``provider`` documents for ``model``;
    returns the warning's text (None when there is nothing to say)."""
    limit = provider.concurrent_requests.get(model)
    if limit is None or concurrency <= limit:
        return None
    source = provider.fact_sources.get("concurrent_requests", provider.source)
    text = (
        f"concurrency={concurrency:,} is above the {limit:,} requests in flight "
        f"{provider.title} allows for {model} ({source}): past it the server answers 429 "
        "and the run slows down to what it takes. Lower concurrency, or ask the provider "
        "to raise your account's limit."
    )
    warnings.warn(text, UserWarning, stacklevel=4)
    return text
