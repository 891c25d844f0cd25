"""The record/replay cache: real answers recorded once, replayed without a key or network.

Opt-in (``%deepseek_cache MODE [FILE]``, :func:`enable_cache`, or
``DEEPSEEK_MAGIC_CACHE="replay:FILE"`` through :func:`cache_from_env`). The cache is a plain
JSON-lines file beside the notebook (default ``deepseek-cache.jsonl``), one line per reply::

    {"v": 1, "key": "<sha256>", "created": "2025-01-31T12:00:00+00:00",
     "request": {"base_url": ..., "model": ..., "messages": [...], "options": {...}},
     "result": <Result.to_dict()>}

Modes:

* ``off``: nothing is looked up or stored;
* ``record``: every request is sent; each complete reply is appended (a later reply for
  the same key wins when the file is read: last line wins);
* ``replay``: replies come only from the file; a request it lacks raises
  :class:`~deepseek_magic.CacheError` and nothing is sent (no key needed);
* ``replay-or-call``: a hit is replayed, a miss is sent and stored.

The key (:func:`cache_key`) is the sha256 of a canonical JSON (sorted keys, no spaces) of
the base URL, the model, the messages and the body's other options except ``stream`` (so
a streamed and a non-streamed request share an entry). In offline mode the base URL is
replaced by ``"offline-emulator"``, because the emulator's port changes every session.
The API key is never part of the key nor of the file: every line written is checked for
it and it is masked should it appear anywhere (e.g. pasted into a prompt).

A replayed :class:`~deepseek_magic.Result` is the recorded one with ``cached=True`` (the
footer says "replayed from cache", the output metadata ``"cached": true``); its elapsed
time is the recorded one.

Damage: a line that is not a cache entry (a crash mid-write leaves a partial last line;
an editor can leave anything) never loses the others. Reading skips it with a warning
naming the file and the line; :meth:`Cache.load` with ``strict=True`` (or
``enable_cache(strict=True)``) refuses with a :class:`CacheError` instead. The user's file
is never rewritten or truncated: new entries are only appended, after a newline if the
file ends mid-line, so a partial line never swallows a new entry.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal, cast

from ..client._request import Request
from ..core._argline import Arg, LineError, arg, parse_line_of
from ..core._errors import CacheError, ConfigError
from ..core._result import Result
from ..core._session import Feature, Session
from ..core._settings import is_loopback, mask_key

__all__ = [
    "DEFAULT_PATH",
    "ENV_CACHE",
    "MODES",
    "Cache",
    "CacheMode",
    "CacheProblem",
    "cache_from_env",
    "cache_key",
    "cache_magic",
    "current_cache",
    "disable_cache",
    "enable_cache",
    "request_record",
]

CacheMode = Literal["off", "record", "replay", "replay-or-call"]
MODES: tuple[CacheMode, ...] = ("off", "record", "replay", "replay-or-call")
DEFAULT_PATH = "deepseek-cache.jsonl"
#: ``"MODE"`` or ``"MODE:FILE"``, e.g. ``replay:notebook-cache.jsonl``
ENV_CACHE = "DEEPSEEK_MAGIC_CACHE"
#: the base URL recorded in keys for offline-mode requests (the emulator's port varies)
OFFLINE_BASE_URL = "offline-emulator"
FORMAT_VERSION = 1

Warn = Callable[[str], None]

# One lock per file, so two Cache objects on one file (two sessions) never interleave lines.
_file_locks: dict[str, threading.Lock] = {}
_file_locks_guard = threading.Lock()


def _lock_for(path: Path) -> threading.Lock:
    with _file_locks_guard:
        return _file_locks.setdefault(str(path), threading.Lock())


def _stderr_warning(message: str) -> None:
    print(f"Warning: {message}", file=sys.stderr)


# ----------------------------------------------------------------- the key
def request_record(request: Request) -> dict[str, Any]:
    """What identifies a request, without the key: base URL, model, messages, options."""
    body = request.body
    settings = request.settings
    base_url = OFFLINE_BASE_URL if settings.offline else settings.base_url.rstrip("/")
    return {
        "base_url": base_url,
        "model": body.get("model", settings.model),
        "messages": [dict(m) for m in body.get("messages", ())],
        # stream / stream_options are transport, not content: a streamed and a
        # non-streamed request share their reply
        "options": {
            k: v
            for k, v in body.items()
            if k not in ("messages", "model", "stream", "stream_options")
        },
    }


def cache_key(request: Request) -> str:
    """sha256 (hex) of the canonical JSON of :func:`request_record`: sorted keys, no
    whitespace, UTF-8 text kept as is."""
    canonical = json.dumps(
        request_record(request), sort_keys=True, separators=(",", ":"), ensure_ascii=False
    )
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


#: shorter "keys" are placeholders local servers accept ("EMPTY", "none"); masking every
#: occurrence of such a word would corrupt the recorded answers
_MIN_SECRET_CHARS = 8


def _scrub(text: str, secret: str | None) -> str:
    """Mask the API key wherever it appears in a line about to be written."""
    if not secret or len(secret) < _MIN_SECRET_CHARS:
        return text
    mask = mask_key(secret)
    for form in {secret, json.dumps(secret, ensure_ascii=False)[1:-1], json.dumps(secret)[1:-1]}:
        text = text.replace(form, mask)
    return text


# ----------------------------------------------------------------- the file
@dataclass(frozen=True)
class CacheProblem:
    """A line of the cache file that is not a usable entry."""

    line: int
    reason: str


def _parse_line(raw: bytes, last_unterminated: bool) -> tuple[str, Result] | str:
    """One line -> ``(key, Result)``, or the reason it is not an entry."""
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        if last_unterminated:
            return "is cut short (the file ends mid-line: a crash while writing?)"
        return "is not valid JSON"
    if (
        not isinstance(data, dict)
        or not isinstance(data.get("key"), str)
        or not isinstance(data.get("result"), dict)
    ):
        return 'is not a cache entry (it needs "key" and "result")'
    try:
        result = Result.from_dict(data["result"])
    except (TypeError, ValueError, KeyError, AttributeError):
        return "holds a reply this version cannot read"
    return data["key"], result


def _write_all(fd: int, data: bytes) -> None:
    while data:
        written = os.write(fd, data)
        data = data[written:]


class Cache(Feature):
    """One cache file in one mode; see the module docstring.

    ``lookup``/``store`` work in any mode (they are the mechanism); the mode decides what
    the session hooks do with them (:meth:`before_request`, :meth:`after_reply`). Asked
    first among a session's features: a replay answers before a budget sees the request.
    """

    order = 10

    def __init__(
        self,
        path: str | os.PathLike[str] = DEFAULT_PATH,
        mode: CacheMode = "replay-or-call",
        *,
        strict: bool = False,
        warn: Warn | None = None,
    ) -> None:
        if mode not in MODES:
            raise CacheError(f"Unknown cache mode {mode!r}; choose one of {', '.join(MODES)}.")
        #: the file as the user named it (shown in messages)
        self.name = os.fspath(path)
        #: the absolute path, fixed now so a later %cd does not move the cache
        self.path = Path(os.path.expanduser(self.name)).absolute()
        self.mode: CacheMode = mode
        self.strict = strict
        self.warn: Warn = warn or _stderr_warning
        self._index: dict[str, Result] = {}
        self._lines = 0
        self._problems: list[CacheProblem] = []
        self._warned: set[CacheProblem] = set()
        self._signature: tuple[int, int, int] | None = None
        self._loaded = False
        self._lock = threading.RLock()

    def __repr__(self) -> str:
        # No file access here: a repr must not read (or warn).
        known = f"{len(self._index)} replies" if self._loaded else "not read yet"
        return f"<Cache {self.mode} {self.name!r}: {known}>"

    # ------------------------------------------------------------ reading
    @property
    def entries(self) -> int:
        """Distinct requests with a usable reply."""
        self._ensure_loaded()
        return len(self._index)

    @property
    def lines(self) -> int:
        """Usable lines in the file (a request recorded twice counts twice)."""
        self._ensure_loaded()
        return self._lines

    @property
    def problems(self) -> list[CacheProblem]:
        """Damaged lines found at the last read."""
        self._ensure_loaded()
        return list(self._problems)

    def _stat(self) -> tuple[int, int, int] | None:
        try:
            st = self.path.stat()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise CacheError(
                f"Cannot read the cache file {self.name}: {exc.strerror or exc}."
            ) from None
        return (st.st_ino, st.st_size, st.st_mtime_ns)

    def problem_message(self, problem: CacheProblem) -> str:
        others = self._lines
        return (
            f"{self.name} line {problem.line} {problem.reason}; the other {others} "
            f"entr{'y is' if others == 1 else 'ies are'} intact — delete or fix that line."
        )

    def load(self, strict: bool | None = None) -> int:
        """(Re)read the file; returns the number of distinct requests it holds.

        Damaged lines are skipped with a warning (each once), or, when ``strict``, refused
        with a :class:`CacheError` naming the file and the line. The file is never changed.
        """
        strict = self.strict if strict is None else strict
        with self._lock:
            signature = self._stat()
            index: dict[str, Result] = {}
            problems: list[CacheProblem] = []
            lines = 0
            if signature is not None:
                try:
                    data = self.path.read_bytes()
                except IsADirectoryError:
                    raise CacheError(
                        f"The cache file {self.name} is a folder; name a file."
                    ) from None
                except OSError as exc:
                    raise CacheError(
                        f"Cannot read the cache file {self.name}: {exc.strerror or exc}."
                    ) from None
                # JSON lines end with LF only; str.splitlines would also split on U+2028 & co.,
                # which json.dumps(ensure_ascii=False) leaves inside strings.
                raw_lines = data.split(b"\n")
                for number, raw in enumerate(raw_lines, start=1):
                    raw = raw.rstrip(b"\r")
                    if not raw.strip():
                        continue
                    parsed = _parse_line(raw, last_unterminated=number == len(raw_lines))
                    if isinstance(parsed, str):
                        problems.append(CacheProblem(number, parsed))
                    else:
                        index[parsed[0]] = parsed[1]  # last line wins
                        lines += 1
            self._index, self._lines, self._problems = index, lines, problems
            self._signature, self._loaded = signature, True
            if problems and strict:
                more = f" ({len(problems) - 1} more damaged lines)" if len(problems) > 1 else ""
                raise CacheError(self.problem_message(problems[0]) + more)
            for problem in problems:
                if problem not in self._warned:
                    self._warned.add(problem)
                    self.warn(self.problem_message(problem) + " It was skipped.")
            return len(index)

    def _ensure_loaded(self) -> None:
        with self._lock:
            # Re-read when the file changed behind our back (another kernel recording, an edit).
            if not self._loaded or self._stat() != self._signature:
                self.load()

    def lookup(self, request: Request) -> Result | None:
        """The recorded reply for ``request`` (marked ``cached=True``), or None."""
        key = cache_key(request)
        with self._lock:
            self._ensure_loaded()
            found = self._index.get(key)
        return None if found is None else found.replace(cached=True)

    # ------------------------------------------------------------ writing
    def store(self, request: Request, result: Result) -> None:
        """Append one line for ``request`` -> ``result`` (flushed and fsynced); never the key.

        Raises ``OSError`` when the file cannot be written.
        """
        key = cache_key(request)
        entry = {
            "v": FORMAT_VERSION,
            "key": key,
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "request": request_record(request),
            "result": result.replace(cached=False).to_dict(),
        }
        # default=str: a value JSON cannot hold is kept as its text rather than losing the reply.
        text = _scrub(json.dumps(entry, ensure_ascii=False, default=str), request.settings.api_key)
        data = text.encode("utf-8") + b"\n"
        with self._lock:
            self._ensure_loaded()
            with _lock_for(self.path):
                # O_APPEND: every write lands at the end, even with another process appending;
                # O_BINARY (Windows) keeps "\n" from becoming "\r\n".
                flags = os.O_RDWR | os.O_APPEND | os.O_CREAT | getattr(os, "O_BINARY", 0)
                fd = os.open(self.path, flags, 0o644)
                try:
                    before = os.fstat(fd)
                    # A crash mid-write leaves a line without its newline: start on a fresh
                    # line so the partial one never swallows this entry.
                    if before.st_size:
                        os.lseek(fd, -1, os.SEEK_END)
                        if os.read(fd, 1) != b"\n":
                            data = b"\n" + data
                    _write_all(fd, data)
                    os.fsync(fd)
                    after = os.fstat(fd)
                finally:
                    os.close(fd)
            up_to_date = self._signature is not None and self._signature[:2] == (
                before.st_ino,
                before.st_size,
            )
            if up_to_date or (self._signature is None and before.st_size == 0):
                self._signature = (after.st_ino, after.st_size, after.st_mtime_ns)
                self._index[key] = result.replace(cached=False)
                self._lines += 1
            else:
                self._loaded = False  # someone else wrote too: read it all again next time

    # ------------------------------------------------------------ session hooks
    def before_request(self, request: Request) -> Result | None:
        """A Result when the cache answers, None to send (``Feature`` hook)."""
        if self.mode in ("off", "record"):
            return None
        found = self.lookup(request)
        if found is not None:
            return found
        if self.mode == "replay":
            raise CacheError(self._miss_message())
        settings = request.settings
        if (
            settings.api_key is None
            and settings.provider.needs_key
            and not is_loopback(settings.base_url)
        ):
            # prepare() let the request through without a key because the cache might answer.
            where = f" or {settings.provider.key_env}" if settings.provider.key_env else ""
            raise ConfigError(
                f"No cached reply for this request in {self.name} and no API key to ask "
                f"{settings.base_url}: set DEEPSEEK_MAGIC_API_KEY{where} (or run %deepseek_key), "
                f"or replay a file that has it."
            )
        return None

    def after_reply(self, request: Request, result: Result) -> None:
        """Store complete replies (record, replay-or-call) (``Feature`` hook)."""
        if self.mode not in ("record", "replay-or-call") or not result.ok or result.cached:
            return
        try:
            self.store(request, result)
        except (OSError, CacheError) as exc:
            # The reply is already paid for and shown; failing here would lose it.
            reason = getattr(exc, "strerror", None) or str(exc)
            self.warn(
                f"Could not save the reply in the cache file {self.name}: {reason}. "
                "The reply is kept in the session, not in the file."
            )

    def _miss_message(self) -> str:
        message = (
            f"No cached reply for this request in {self.name} (mode replay); "
            f"record it first with %deepseek_cache record {self.name}"
        )
        if self._problems:
            lines = ", ".join(str(p.line) for p in self._problems[:5])
            message += (
                f" (damaged line{'s' if len(self._problems) > 1 else ''} {lines} may have held it)"
            )
        return message

    @property
    def serves_without_key(self) -> bool:
        """Whether a request may be prepared without an API key (the cache may answer it)."""
        return self.mode in ("replay", "replay-or-call")

    def describe(self) -> str:
        """One line for ``%deepseek_cache status``."""
        n, lines = self.entries, self.lines
        if not self.path.exists():
            state = "does not exist yet"
        else:
            state = f"{n} repl{'y' if n == 1 else 'ies'}" + (
                f" ({lines} lines)" if lines != n else ""
            )
        damaged = f", {len(self._problems)} damaged line(s) skipped" if self._problems else ""
        return f"Cache {self.mode.upper()}: {self.name} {state}{damaged}."


# ----------------------------------------------------------------- session wiring
def current_cache(session: Session) -> Cache | None:
    """The cache plugged into ``session``, if any."""
    return session.feature(Cache)


def disable_cache(session: Session) -> Cache | None:
    """Unplug the cache from ``session`` (the file is kept); returns the old cache."""
    return session.unplug(Cache)


def enable_cache(
    session: Session,
    path: str | os.PathLike[str] = DEFAULT_PATH,
    mode: CacheMode = "replay-or-call",
    *,
    strict: bool = False,
    warn: Warn | None = None,
) -> Cache:
    """Use ``path`` as the record/replay cache of ``session`` in ``mode`` (replacing any other).

    The file is read now: damaged lines warn (or, with ``strict``, raise :class:`CacheError`
    and leave the session as it was). ``mode="off"`` just disables the cache.
    """
    cache = Cache(path, mode, strict=strict, warn=warn)
    if mode == "off":
        disable_cache(session)
        return cache
    if not cache.path.parent.is_dir():
        raise CacheError(f"The folder of the cache file {cache.name} does not exist.")
    cache.load()
    session.plug(cache)  # replaces any other cache; first in line (Cache.order)
    return cache


_ANNOUNCE = {
    "record": (
        "every request is sent and its reply saved in {name}{count}; the API key is never written."
    ),
    "replay": (
        "replies come only from {name}{count}; nothing is sent, and a request it lacks fails."
    ),
    "replay-or-call": (
        "replies come from {name} when it has them{count}; other requests are sent and saved there."
    ),
}


def _announce(cache: Cache) -> str:
    if cache.path.exists():
        n = cache.entries
        count = f" ({n} repl{'y' if n == 1 else 'ies'} so far)"
    elif cache.mode == "replay":
        count = " (which does not exist yet: record it first)"
    else:
        count = " (a new file)"
    return (
        f"Cache {cache.mode.upper()}: "
        + _ANNOUNCE[cache.mode].format(name=cache.name, count=count)
        + " %deepseek_cache off to stop."
    )


_USAGE = (
    "Usage: %deepseek_cache [status | off | record [FILE] | replay [FILE] | replay-or-call [FILE]] "
    f"(FILE defaults to {DEFAULT_PATH})"
)


def arguments() -> tuple[Arg, ...]:
    """The arguments of ``%deepseek_cache``, declared once (the magic's help and its parser)."""
    actions = ("status",) + MODES
    return (
        arg(
            "action",
            nargs="?",
            default="status",
            choices=actions,
            metavar="|".join(actions),
            help="status (default), off, or the mode to use.",
        ),
        arg("file", nargs="?", metavar="FILE", help=f"The cache file (default {DEFAULT_PATH})."),
    )


DESCRIPTION = (
    "The record/replay cache: record replies to a file, replay them with no key and no "
    "network, or replay what it has and call for the rest."
)


def cache_magic(session: Session, line: str, *, out: Callable[[str], None] = print) -> Cache | None:
    """``%deepseek_cache [status|off|record|replay|replay-or-call] [FILE]``."""
    session.env_applied.add("cache")  # the user chose: the environment no longer decides
    args = parse_line_of("deepseek_cache", DESCRIPTION, arguments(), line)
    action = args.action
    if action in ("status", "off") and args.file is not None:
        raise LineError(_USAGE)
    current = current_cache(session)
    if action == "status":
        out(
            current.describe()
            if current is not None
            else "Cache OFF: requests are sent as usual. "
            f"%deepseek_cache record {DEFAULT_PATH} starts recording."
        )
        return current
    if action == "off":
        old = disable_cache(session)
        out(
            f"Cache OFF: requests are sent as usual ({old.name} is kept)."
            if old is not None
            else "The cache was already off."
        )
        return None
    path = args.file or (current.name if current is not None else DEFAULT_PATH)
    cache = enable_cache(
        session, path, cast(CacheMode, action), warn=lambda message: out(f"Warning: {message}")
    )
    out(_announce(cache))
    return cache


def cache_from_env(
    session: Session, env: Mapping[str, str] | None = None, *, out: Callable[[str], None] = print
) -> Cache | None:
    """Apply ``DEEPSEEK_MAGIC_CACHE`` (``"replay"``, ``"record:notebook-cache.jsonl"`` ...)
    once per session, printing the same line as the magic; returns the session's cache.

    After it has been applied, or after the user used ``%deepseek_cache``, later calls
    change nothing. An unknown mode prints a warning and enables nothing. A file that
    cannot be used (its folder is missing, it is a folder) raises :class:`CacheError`, and
    raises again at the next call until fixed: a replay never silently becomes a call.
    """
    env = os.environ if env is None else env
    if "cache" in session.env_applied:
        return current_cache(session)
    value = env.get(ENV_CACHE, "").strip()
    mode, _, path = value.partition(":")
    mode = mode.strip().lower()
    if mode in ("", "off"):
        session.env_applied.add("cache")
        return current_cache(session)
    if mode not in MODES:
        session.env_applied.add("cache")
        out(
            f"Warning: {ENV_CACHE}={value!r}: unknown mode {mode!r} (use one of "
            f"{', '.join(MODES)}, "
            "optionally followed by :FILE); the cache stays off."
        )
        return current_cache(session)
    cache = enable_cache(
        session, path.strip() or DEFAULT_PATH, mode, warn=lambda message: out(f"Warning: {message}")
    )
    session.env_applied.add("cache")
    out(_announce(cache))
    return cache
