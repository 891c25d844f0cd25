"""What both emulators share: their settings, the script and the request log.

:class:`ScriptedServer` holds the settings the socket :class:`~._server.Emulator` and the
:class:`~._inkernel.InKernelEmulator` take alike (replies, responder, dialect, pacing) and
decides, for a request, what both would: whether it is refused, which scripted item
answers it, and the reply's stream context. Each subclass only moves the bytes (a socket
handler, an httpx transport); every byte is built in ``_script.py``.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import InitVar, dataclass, field, replace
from typing import Any

from ._dialect_rules import dialect_refusal
from ._script import (
    DEEPSEEK_ANSWERS_AS,
    DEFAULT_MODEL,
    DIALECTS,
    Dialect,
    Fault,
    Matched,
    Reply,
    Rule,
    Script,
    StreamContext,
    default_reply,
    error_body,
    prompt_tokens,
    thinking_off,
)

__all__ = ["RequestRecord", "Responder", "ScriptedServer", "status_payload"]

#: ``responder(body)`` picks the reply when the queue is empty (None = the default reply).
Responder = Callable[[dict[str, Any]], Script | None]


@dataclass
class RequestRecord:
    """One chat-completions request as the emulator saw it.

    ``headers`` has lower-case names and ``authorization`` masked to ``Bearer ***``;
    the raw value is ``.authorization``. ``completed`` means the emulator wrote all it
    meant to (a scripted fault that ran to its end counts); ``disconnected`` means the
    client closed the connection first. Both are set as the handler ends, which can be
    just after the client has read the last byte: call ``wait_idle()`` before reading them.
    """

    body: dict[str, Any]
    headers: dict[str, str]
    path: str
    method: str = "POST"
    status: int = 0
    completed: bool = False
    disconnected: bool = False
    json_ok: bool = True
    script: Script | None = None
    authorization: str | None = field(default=None, repr=False)

    @property
    def had_auth(self) -> bool:
        return self.authorization is not None

    @classmethod
    def received(cls, headers: Iterable[tuple[str, str]], path: str) -> RequestRecord:
        """A record of a request with these headers, before its body is read."""
        lower = {k.lower(): v for k, v in headers}
        auth = lower.get("authorization")
        if auth is not None:
            lower["authorization"] = "Bearer ***" if auth.lower().startswith("bearer") else "***"
        return cls(body={}, headers=lower, path=path, authorization=auth)


@dataclass(eq=False, repr=False)
class ScriptedServer:
    """The settings and the script both emulators share; see the module docstring."""

    replies: InitVar[Iterable[Script | Matched | Rule] | None] = None
    responder: Responder | None = None
    dialect: Dialect = "openrouter"
    token_delay: float = 0.0
    first_token_latency: float = 0.0
    keepalive_interval: float | None = None
    tokens_per_chunk: int = 1

    def __post_init__(self, replies: Iterable[Script | Matched | Rule] | None) -> None:
        if self.dialect not in DIALECTS:
            raise ValueError(f"unknown dialect {self.dialect!r}; choose from {', '.join(DIALECTS)}")
        items = list(replies or ())
        #: rules chosen by the request's content (``Rule``, ``Matched``), tried in order
        #: before the queue is asked; with how many requests each has answered
        self._rules: list[Rule] = [_as_rule(r) for r in items if _is_rule(r)]
        self._turns: dict[int, int] = {}
        self._queue: deque[Script] = deque(r for r in items if not _is_rule(r))  # type: ignore[misc]
        self._cond = threading.Condition()
        self._log: list[RequestRecord] = []
        self._ids = itertools.count(1)

    # ----------------------------------------------------------------- script and log

    def queue(self, *items: Script | Matched | Rule) -> None:
        """Append replies or faults; each request consumes one, in order (a ``Rule`` or
        ``Matched`` item answers every request it matches instead, after the rules
        already given)."""
        with self._cond:
            self._rules.extend(_as_rule(i) for i in items if _is_rule(i))
            self._queue.extend(i for i in items if not _is_rule(i))  # type: ignore[misc]

    @property
    def rules(self) -> list[Rule]:
        """The rules that choose replies by the request, in the order they are tried."""
        with self._cond:
            return list(self._rules)

    @property
    def requests(self) -> list[dict[str, Any]]:
        """The JSON bodies of chat-completions requests received, in order."""
        with self._cond:
            return [r.body for r in self._log if r.json_ok]

    @property
    def request_log(self) -> list[RequestRecord]:
        with self._cond:
            return list(self._log)

    def wait_for_requests(self, n: int, timeout: float = 5.0) -> bool:
        """Wait until at least ``n`` chat-completions requests have arrived."""
        with self._cond:
            return self._cond.wait_for(lambda: len(self._log) >= n, timeout)

    def reset(self) -> None:
        """Forget queued replies and logged requests."""
        with self._cond:
            self._queue.clear()
            self._rules.clear()
            self._turns.clear()
            self._log.clear()

    # ----------------------------------------------------------------- deciding a reply

    def _check(self, record: RequestRecord, raw: bytes) -> tuple[int, dict[str, Any]] | None:
        """Parse ``raw`` into ``record.body``; the error reply (status, body) for a request
        the server refuses (bad JSON, no messages, what today's provider refuses), or None."""
        try:
            body = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as exc:
            record.json_ok = False
            return 400, error_body(400, f"Invalid JSON in request body: {exc}")
        if not isinstance(body, dict):
            record.json_ok = False
            return 400, error_body(400, "The request body must be a JSON object")
        record.body = body
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            return 400, error_body(400, "Input required: 'messages' must be a non-empty array")
        return dialect_refusal(body, self.dialect)

    def _admit(self, record: RequestRecord) -> Script | None:
        """Log a request and, if it is an accepted chat request (``status`` still 0), take
        the item that answers it: the first rule's that matches (by its seed, else the
        rule's next sample), else the next queued one."""
        with self._cond:
            self._log.append(record)
            self._cond.notify_all()
            if record.status == 0:
                for rule in self._rules:
                    if rule.matches(record.body):
                        turn = self._turns.get(id(rule), 0)
                        self._turns[id(rule)] = turn + 1
                        item: Script = rule.pick(record.body, turn)
                        return item
                if self._queue:
                    return self._queue.popleft()
        return None

    def _script_for(self, body: dict[str, Any], item: Script | None) -> Script:
        """The item that answers: the scripted one, else the responder's, else the default
        reply; a reply loses its reasoning when the request turns thinking off."""
        if item is None and self.responder is not None:
            item = self.responder(body)
        if item is None:
            item = default_reply(body)
        if isinstance(item, Reply) and thinking_off(body, item.dialect or self.dialect):
            item = replace(item, reasoning="", empty_think=False)
        return item

    def _context(self, reply: Reply, body: Mapping[str, Any]) -> StreamContext:
        n = next(self._ids)
        dialect = reply.dialect or self.dialect
        options = body.get("stream_options")
        model = body.get("model")
        return StreamContext(
            dialect=dialect,
            gen_id=f"gen-emu-{n}" if dialect == "openrouter" else f"chatcmpl-emu-{n}",
            created=int(time.time()),
            model=reply.model or _served_as(dialect, model),
            provider=reply.provider,
            prompt_tokens=prompt_tokens(body),
            include_usage=isinstance(options, Mapping) and options.get("include_usage") is True,
        )


def _is_rule(item: object) -> bool:
    return isinstance(item, (Rule, Matched))


def _as_rule(item: Rule | Matched | Script) -> Rule:
    """A ``Matched`` (the older ``prompt_contains`` form) is a rule of one reply."""
    if isinstance(item, Matched):
        return Rule((item.item,), contains=item.text)
    assert isinstance(item, Rule)
    return item


def status_payload(fault: Fault) -> bytes:
    """The body of a ``status`` or ``redirect`` fault: its own, else an error body when it
    is JSON, else nothing."""
    if fault.body is None:
        if fault.content_type != "application/json":
            return b""
        return json.dumps(error_body(fault.status, fault.message)).encode()
    if isinstance(fault.body, str):
        return fault.body.encode("utf-8")
    return json.dumps(fault.body, ensure_ascii=False).encode("utf-8")


def _served_as(dialect: str, model: Any) -> str:
    """The model a reply names: the requested one, or what the server says it really used."""
    if not isinstance(model, str) or not model:
        return DEFAULT_MODEL
    return DEEPSEEK_ANSWERS_AS.get(model, model) if dialect == "deepseek" else model
