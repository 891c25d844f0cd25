"""The run file of a batch run: every finished row, written at once, so a run resumes.

SQLite (the standard library's ``sqlite3``), not JSON lines; why (README, design notes):

* a row is one transaction: a crash mid-write leaves the previous state, never a torn
  line, and nothing has to be repaired or skipped on the next read;
* a row's state changes in place (sending -> done / failed / interrupted) instead of
  appending lines that a reader must replay, so re-running a cell ten times does not
  grow the file or the time to read it, and a run reads only its own rows (by key,
  through the primary-key index), never the whole history into memory;
* the reasoning, the largest part of a row, sits in its own column: a run that keeps
  reasoning on disk only reads it back one row at a time (:meth:`RunFile.reasoning`).

WAL journal with ``synchronous=NORMAL``: a committed row survives the kernel's crash
(the process dying) at the cost of a write, not an fsync, per row; after a power cut
the last rows may be lost, never a row half-written.

A row is keyed by :func:`~._cache.cache_key` of its request: base URL (or the offline
emulator), model, messages and every option, never the API key. Only ``done`` rows are
answers; ``failed`` and ``interrupted`` rows keep their one-line error and are sent
again by the next run; ``sending`` rows are the ones a crash left in flight. Every text
written is checked for the API key and masks it (a key pasted into a prompt).
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ..core._errors import ConfigError
from ..core._result import Result
from ..features._cache import _scrub
from ._output import ROW_FIELDS

__all__ = ["DEFAULT_RUN_FILE", "ROW_FIELDS", "RunFile", "open_run"]

DEFAULT_RUN_FILE = "deepseek-runs.sqlite"
FORMAT_VERSION = 1

#: what an answered row stores: the row's fields (``error`` aside: NULL once answered) and
#: the completion tokens the estimates read, every one named as in ``Result.to_row``
_STORED = (*(f for f in ROW_FIELDS if f != "error"), "completion_tokens")
_TEXT = ("answer", "reasoning")
_DONE = (
    "UPDATE rows SET status = 'done', updated = ?, error = NULL, result = ?, "
    + ", ".join(f"{f} = ?" for f in _STORED)
    + " WHERE key = ?"
)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT);
CREATE TABLE IF NOT EXISTS rows (
    key TEXT PRIMARY KEY,
    status TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    updated TEXT NOT NULL,
    request TEXT,
    answer TEXT,
    reasoning TEXT,
    prompt_tokens INTEGER,
    reasoning_tokens INTEGER,
    answer_tokens INTEGER,
    completion_tokens INTEGER,
    cost REAL,
    finish_reason TEXT,
    model TEXT,
    elapsed REAL,
    error TEXT,
    result TEXT
);
CREATE INDEX IF NOT EXISTS rows_model ON rows (model, status);
"""
_CHUNK = 500  # keys per IN (...) query (SQLite's default limit is 999 parameters)


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


class RunFile:
    """One run file; see the module docstring. Safe to use from one thread at a time
    (a lock serialises the batch runner's thread and the caller's)."""

    def __init__(
        self, path: str | os.PathLike[str] = DEFAULT_RUN_FILE, *, secret: str | None = None
    ) -> None:
        self.name = os.fspath(path)
        self.path = Path(os.path.expanduser(self.name)).absolute()
        self.secret = secret
        self._lock = threading.Lock()
        try:
            self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(_SCHEMA)
            self._db.execute(
                "INSERT OR IGNORE INTO meta VALUES ('version', ?)", (str(FORMAT_VERSION),)
            )
        except sqlite3.DatabaseError as exc:
            raise ConfigError(
                f"Cannot use {self.name} as a run file: {exc}. Name another file "
                "(run_file=... / --run-file)."
            ) from None

    def __repr__(self) -> str:
        return f"<RunFile {self.name!r}>"

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> RunFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _clean(self, text: str | None) -> str | None:
        return None if text is None else _scrub(text, self.secret)

    def _write(self, sql: str, params: Sequence[Any]) -> None:
        with self._lock:
            self._db.execute(sql, params)  # autocommit: one row, one transaction

    # ------------------------------------------------------------ reading
    def states(self, keys: Iterable[str]) -> dict[str, str]:
        """``key -> status`` for those of ``keys`` the file knows."""
        found: dict[str, str] = {}
        keys = list(keys)
        with self._lock:
            for i in range(0, len(keys), _CHUNK):
                part = keys[i : i + _CHUNK]
                marks = ",".join("?" * len(part))
                for key, status in self._db.execute(
                    f"SELECT key, status FROM rows WHERE key IN ({marks})", part
                ):
                    found[key] = status
        return found

    def done_rows(
        self, keys: Iterable[str], *, reasoning: bool = True
    ) -> dict[str, dict[str, Any]]:
        """The answered rows among ``keys``: ``key -> flat row`` (the reasoning only when
        asked)."""
        columns = [f for f in ROW_FIELDS if reasoning or f != "reasoning"]
        found: dict[str, dict[str, Any]] = {}
        keys = list(keys)
        with self._lock:
            for i in range(0, len(keys), _CHUNK):
                part = keys[i : i + _CHUNK]
                marks = ",".join("?" * len(part))
                sql = (
                    f"SELECT key, {', '.join(columns)} FROM rows "
                    f"WHERE status = 'done' AND key IN ({marks})"
                )
                for key, *values in self._db.execute(sql, part):
                    row = dict(zip(columns, values, strict=True))
                    for text in ("answer", "reasoning", "error"):
                        if text in row and row[text] is None:
                            row[text] = ""  # an answered row: empty, never missing
                    found[key] = row
        return found

    def reasoning(self, key: str) -> str:
        """The reasoning of an answered row (for runs that keep it on disk only)."""
        with self._lock:
            row = self._db.execute("SELECT reasoning FROM rows WHERE key = ?", (key,)).fetchone()
        return "" if row is None or row[0] is None else str(row[0])

    def result(self, key: str) -> Result | None:
        """The full :class:`Result` of an answered row (messages and reasoning included)."""
        with self._lock:
            row = self._db.execute(
                "SELECT result, reasoning, request FROM rows WHERE key = ? AND status = 'done'",
                (key,),
            ).fetchone()
        if row is None or row[0] is None:
            return None
        data = json.loads(row[0])
        data["reasoning"] = row[1] or ""
        data["messages"] = json.loads(row[2]).get("messages", []) if row[2] else []
        return Result.from_dict(data)

    def completion_tokens(self, model: str, limit: int = 2000) -> list[int]:
        """Completion tokens of the latest answered rows of ``model`` (for estimates)."""
        with self._lock:
            rows = self._db.execute(
                "SELECT completion_tokens FROM rows WHERE model = ? AND status = 'done' "
                "AND completion_tokens IS NOT NULL ORDER BY updated DESC LIMIT ?",
                (model, limit),
            ).fetchall()
        return [int(r[0]) for r in rows]

    def counts(self) -> dict[str, int]:
        """Rows per status in the whole file."""
        with self._lock:
            return dict(
                self._db.execute("SELECT status, COUNT(*) FROM rows GROUP BY status").fetchall()
            )

    # ------------------------------------------------------------ writing
    def sending(self, key: str, request: Mapping[str, Any]) -> None:
        """Mark a row in flight (what a crash leaves behind), counting the attempt."""
        text = self._clean(json.dumps(request, ensure_ascii=False, sort_keys=True, default=str))
        self._write(
            "INSERT INTO rows (key, status, attempts, updated, request) "
            "VALUES (?, 'sending', 1, ?, ?) ON CONFLICT(key) DO UPDATE SET status = 'sending', "
            "attempts = attempts + 1, updated = excluded.updated",
            (key, _now(), text),
        )

    def done(self, key: str, result: Result) -> None:
        """Store an answered row (only a complete reply: ``result.ok``)."""
        if not result.ok:
            raise ValueError("only a complete reply is stored as an answer")
        row = result.to_row()
        data = result.replace(reasoning="", messages=(), chunks=()).to_dict()
        payload = self._clean(json.dumps(data, ensure_ascii=False, default=str))
        values = [self._clean(row[f]) if f in _TEXT else row[f] for f in _STORED]
        self._write(_DONE, (_now(), payload, *values, key))

    def failed(self, key: str, error: str, *, status: str = "failed") -> None:
        """A row that got no answer: its one-line error, and no answer, ever."""
        self._write(
            "UPDATE rows SET status = ?, updated = ?, error = ?, answer = NULL, reasoning = NULL, "
            "result = NULL "
            "WHERE key = ? AND status != 'done'",
            (status, _now(), self._clean(error), key),
        )


def open_run(path: str | os.PathLike[str] = DEFAULT_RUN_FILE) -> RunFile:
    """Open a run file to read it: ``open_run().reasoning(df.loc[i, "row_key"])``."""
    if not Path(os.path.expanduser(os.fspath(path))).exists():
        raise ConfigError(f"No run file {os.fspath(path)}.")
    return RunFile(path)
