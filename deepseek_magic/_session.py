"""Session state shared by the magic, the panel and ``ask()``: history, conversations,
session config, spend totals, and the pooled HTTP client.

One module-level :data:`SESSION` serves a kernel; tests make their own ``Session``.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from ._result import Result

__all__ = ["Session", "SESSION", "History", "Conversation"]


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
            rows.append({
                "n": i,
                "model": r.model,
                "prompt": _last_user_text(r),
                "answer": r.answer,
                "reasoning": r.reasoning,
                "reasoning_chars": len(r.reasoning),
                "answer_chars": len(r.answer),
                "prompt_tokens": r.usage.prompt_tokens,
                "completion_tokens": r.usage.completion_tokens,
                "reasoning_tokens": r.usage.reasoning_tokens,
                "answer_tokens": r.usage.answer_tokens,
                "cost": r.cost,
                "cost_source": r.cost_source,
                "elapsed": r.elapsed,
                "time_to_first_token": r.time_to_first_token,
                "finish_reason": r.finish_reason,
                "tool_calls": len(r.tool_calls),
                "error": r.error,
                "interrupted": r.interrupted,
                "offline": r.offline,
                "cached": r.cached,
                "conversation": r.conversation,
                **{f"param_{k}": _scalar(v) for k, v in r.params.items() if k not in ("stream", "tools")},
            })
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
        self._lock = threading.Lock()
        #: callables run on every finished Result (spend tracking ...)
        self.observers: list[Any] = []
        #: callables ``hook(request) -> Result | None`` asked before sending (the replay
        #: cache answers here; a budget raises here): a Result means "do not send"
        self.before_send: list[Any] = []
        #: callables ``hook(request, result)`` after a reply arrived from the network
        self.after_receive: list[Any] = []
        #: set by offline mode: the running emulator
        self.offline: Any = None

    def client(self) -> Any:
        from ._client import Client

        with self._lock:
            if self._client is None:
                self._client = Client(verify=self.config.get("verify_tls", True) is not False)
            return self._client

    def conversation(self, name: str) -> Conversation:
        with self._lock:
            if name not in self.conversations:
                self.conversations[name] = Conversation(name)
            return self.conversations[name]

    def record(self, result: Result) -> None:
        self.history.append(result)
        for observer in list(self.observers):
            observer(result)

    @property
    def last(self) -> Result | None:
        return self.history.last


SESSION = Session()
