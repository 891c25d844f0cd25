"""Where features are switched on: :func:`start`.

A feature (``_session.Feature``: the replay cache, the spend guard) keeps its state on
the ``Session``. The explicit environment switches ``DEEPSEEK_MAGIC_OFFLINE`` and
``DEEPSEEK_MAGIC_CACHE`` are applied once per session (each announced with a visible
line), and the spend guard is plugged in, when the extension loads and where a call
starts (``ask()``, ``aask()``, the magic, the panel, a sweep), never inside ``prepare()``.
The user turns them on and off with their magics too.
"""

from __future__ import annotations

from ..core._session import Session

__all__ = ["start"]


def start(session: Session) -> None:
    """Plug in what the environment and the defaults turn on (idempotent)."""
    from ._cache import cache_from_env
    from ._offline import offline_from_env
    from ._spend import install_spend

    offline_from_env(session)
    cache_from_env(session)
    install_spend(session)  # after the cache: a replay is asked first
