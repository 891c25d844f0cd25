"""Session state shared by the magic, the panel and ``ask()``: history, conversations,
session config, the features plugged in (replay cache, spend guard), offline mode, and
the pooled HTTP client.

One module-level :data:`SESSION` serves a kernel; tests make their own ``Session``.
Everything a feature keeps lives on its ``Session`` (no module-level registries).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from ._result import Result

if TYPE_CHECKING:
    from ..client._request import Request

__all__ = ["Session", "SESSION", "History", "Conversation", "Feature"]

F = TypeVar("F", bound="Feature")


class Feature:
    """A feature plugged into a session (the replay cache, the spend guard): the typed hook
    protocol. A feature overrides the hooks it needs; the session asks its features in
    ``order`` (lowest first).

    * :meth:`before_request`: before each request goes out; a Result means "answered, do
      not send" (a replay); raising refuses the request (a budget); None lets it go.
    * :meth:`after_reply`: after a reply arrived from the network (not a replayed one).
    * :meth:`recorded`: every finished Result the session records (tool rounds combined).
    * :attr:`serves_without_key`: True when ``before_request`` may answer with no API key,
      so ``prepare()`` lets a request without one through (it fails there on a miss).
    """

    order: int = 50

    @property
    def serves_without_key(self) -> bool:
        return False

    def before_request(self, request: Request) -> Result | None:
        return None

    def after_reply(self, request: Request, result: Result) -> None:
        return None

    def recorded(self, result: Result) -> None:
        return None


class History:
    """The session's Results, oldest first; thread-safe to append (the panel runs in threads)."""

    def __init__(self) -> None:
        self._items: list[Result] = []
        self._lock = threading.Lock()

    def append(self, result: Result) -> None:
        with self._lock:
            self._items.append(result)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()

    def __len__(self) -> int:
        return len(self._items)

    def __iter__(self) -> Iterator[Result]:
        return iter(list(self._items))

    def __getitem__(self, index: int) -> Result:
        return self._items[index]

    @property
    def last(self) -> Result | None:
        return self._items[-1] if self._items else None

    def to_records(self) -> list[dict[str, Any]]:
        """One flat dict per Result (the DataFrame's rows)."""
        rows = []
        for i, r in enumerate(self._items):
            row = r.to_row()
            rows.append(
                {
                    "n": i,
                    "model": row.pop("model"),
                    "prompt": _last_user_text(r),
                    **row,
                    **{
                        f"param_{k}": _scalar(v)
                        for k, v in r.params.items()
                        if k not in ("stream", "tools")
                    },
                }
            )
        return rows

    def to_dataframe(self) -> Any:
        """The history as a pandas DataFrame (one row per request)."""
        try:
            import pandas as pd
        except ImportError:
            raise ImportError("The history DataFrame needs pandas: pip install pandas") from None
        return pd.DataFrame.from_records(self.to_records())

    def __repr__(self) -> str:
        return f"History({len(self)} results)"


def _scalar(value: Any) -> Any:
    if isinstance(value, (list, tuple, dict)):
        import json

        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    return value


def _last_user_text(result: Result) -> str:
    for message in reversed(result.messages):
        if message.get("role") == "user":
            content = message.get("content")
            return content if isinstance(content, str) else str(content)
    return ""


@dataclass
class Conversation:
    """A named chat that continues across cells: the messages so far."""

    name: str
    messages: list[dict[str, Any]] = field(default_factory=list)
    results: list[Result] = field(default_factory=list)

    def __repr__(self) -> str:
        return f"Conversation({self.name!r}, {len(self.messages)} messages)"


class Session:
    """What one kernel shares across cells, the panel and ``ask()``."""

    def __init__(self) -> None:
        self.history = History()
        self.conversations: dict[str, Conversation] = {}
        #: session defaults (the magic's %config traits write here); None = unset
        self.config: dict[str, Any] = {}
        #: default request options for every call (e.g. temperature from %config)
        self.defaults: dict[str, Any] = {}
        self._client: Any = None
        #: one AsyncClient per event loop (see :meth:`aclient`)
        self._aclients: dict[Any, Any] = {}
        self._lock = threading.Lock()
        #: the features plugged in, in ``Feature.order`` (see :class:`Feature`)
        self.features: list[Feature] = []
        #: the environment switches already applied, or overridden by the user's magic
        #: (``"offline"``, ``"cache"``): the environment decides once per session
        self.env_applied: set[str] = set()
        #: set by offline mode: the running emulator
        self.offline: Any = None
        #: the providers' live ``/models`` catalogues read this session, by base URL
        #: (``client/_catalogue``: read once, ``refresh=True`` reads again)
        self.catalogues: dict[str, Any] = {}

    @property
    def verify_tls(self) -> bool:
        """Only an explicit ``%config DeepSeekMagics.verify_tls = False`` turns it off."""
        return self.config.get("verify_tls", True) is not False

    def client(self) -> Any:
        from ..client._http import Client

        with self._lock:
            if self._client is None:
                self._client = Client(verify=self.verify_tls)
            return self._client

    def aclient(self) -> Any:
        """The session's ``AsyncClient`` for the running event loop (one per loop: httpx's
        connections belong to the loop that opened them). A loop's client goes with it."""
        import asyncio

        from ..client._http import AsyncClient

        loop = asyncio.get_running_loop()
        with self._lock:
            # A closed loop's client is let go (its connections belonged to that loop):
            # ``asyncio.run(aask(...))`` in a loop of its own each time keeps nothing.
            for done in [old for old in self._aclients if old.is_closed()]:
                del self._aclients[done]
            found = self._aclients.get(loop)
            if found is None:
                found = self._aclients[loop] = AsyncClient(verify=self.verify_tls)
            return found

    def close(self) -> None:
        """Close the session's pooled sync client (a new one opens on the next request)."""
        with self._lock:
            client, self._client = self._client, None
        if client is not None:
            client.close()

    def conversation(self, name: str) -> Conversation:
        with self._lock:
            if name not in self.conversations:
                self.conversations[name] = Conversation(name)
            return self.conversations[name]

    def record(self, result: Result) -> None:
        self.history.append(result)
        for feature in list(self.features):
            feature.recorded(result)

    # ------------------------------------------------------------------ features
    def plug(self, feature: Feature) -> None:
        """Plug ``feature`` in, replacing one of the same type."""
        with self._lock:
            kept = [f for f in self.features if type(f) is not type(feature)]
            self.features = sorted([*kept, feature], key=lambda f: f.order)

    def unplug(self, kind: type[F]) -> F | None:
        """Take the feature of type ``kind`` out; returns it (None if there was none)."""
        with self._lock:
            found = self.feature(kind)
            self.features = [f for f in self.features if f is not found]
            return found

    def feature(self, kind: type[F]) -> F | None:
        """The plugged-in feature of type ``kind``, if any."""
        for f in self.features:
            if isinstance(f, kind):
                return f
        return None

    @property
    def serves_without_key(self) -> bool:
        return any(f.serves_without_key for f in self.features)

    @property
    def last(self) -> Result | None:
        return self.history.last


SESSION = Session()
