"""Bytes to Server-Sent Events: a pure, incremental decoder.

``SSEParser.feed(bytes)`` returns the complete events those bytes finish; ``flush()``
ends the stream. Feeding the same stream cut at any byte boundaries gives the same
events (tested at every boundary, and against a reference decoder in tests/test_pipeline.py).

It works on bytes and decodes only what it keeps (a field's value), because this runs
once per streamed token (benchmarks/BENCHMARKS.md, streaming overhead):

* lines are split on CR, LF and CRLF only, a CRLF split across reads included (as
  ``httpx_sse.SSELineDecoder`` does on text; ``str.splitlines`` would also split on
  U+2028 and corrupt JSON) (wire-format.md section 8.3, 8.4). Splitting bytes is safe:
  CR and LF are ASCII and never part of a multi-byte UTF-8 character, so a character
  split across reads stays whole in the held line (section 8.2);
* a complete line's value is decoded as UTF-8 (invalid bytes become U+FFFD, as one
  incremental decoder over the whole stream would give: UTF-8 resynchronises at every
  ASCII byte); a UTF-8 byte order mark at the very start is dropped;
* lines to events per the WHATWG algorithm: comments such as ``: OPENROUTER
  PROCESSING`` are skipped (and counted), ``data:`` with or without a space, several
  ``data:`` lines joined with ``\\n`` (section 8.1, 8.5).
  https://html.spec.whatwg.org/multipage/server-sent-events.html#event-stream-interpretation

The usual read is one whole event, ``data: {...}\\n\\n``: :meth:`SSEParser.feed` answers
it in a few byte operations before the general line loop.
"""

from __future__ import annotations

from typing import NamedTuple

__all__ = ["SSEEvent", "SSEParser"]

_BOM = b"\xef\xbb\xbf"
_COLON = ord(":")


class SSEEvent(NamedTuple):
    """One dispatched event (a tuple: built once per streamed token, so it must be cheap)."""

    data: str
    event: str = ""
    id: str = ""


def _text(raw: bytes) -> str:
    return raw.decode("utf-8", "replace")


class SSEParser:
    """Incremental bytes -> :class:`SSEEvent` decoder."""

    def __init__(self) -> None:
        self._held: list[bytes] = []  # the pieces of a line not ended yet
        self._cr = False  # the last read ended with CR: maybe the first half of a CRLF
        self._first = True  # nothing but byte order marks seen yet
        self._start = b""  # a byte order mark cut short at the very start
        # The event being built (WHATWG fields).
        self._data: list[bytes] = []
        self._event = ""
        self._id = ""
        #: number of comment lines seen (keep-alives)
        self.comments = 0

    def feed(self, data: bytes) -> list[SSEEvent]:
        if self._first:
            data = self._start + data
            while data.startswith(_BOM):
                data = data[3:]
            if _BOM.startswith(data):  # nothing yet, or a mark cut short: wait for more
                self._start = data
                return []
            self._first, self._start = False, b""
        if self._cr:
            data = b"\r" + data
            self._cr = False
        elif (
            not self._held
            and not self._data
            and not self._event
            and len(data) > 8  # an empty data field dispatches nothing
            and data[:6] == b"data: "
            and data[-2:] == b"\n\n"
            and data.count(b"\n") == 2
            and b"\r" not in data
        ):
            # One whole one-line event: the usual read of a stream.
            return [SSEEvent(_text(data[6:-2]), "", self._id)]
        if b"\r" in data:
            if data[-1:] == b"\r":
                self._cr = True  # its line ends here, but a LF may follow on the next read
                data = data[:-1]
            data = data.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        lines = data.split(b"\n")
        rest = lines.pop()  # after the last line end: a line not ended yet
        if self._held and lines:
            self._held.append(lines[0])
            lines[0] = b"".join(self._held)
            self._held = []
        if rest:
            self._held.append(rest)
        return self._decode(lines) if lines else []

    def flush(self) -> list[SSEEvent]:
        """End of stream: decode what is left. An event without its closing blank line
        is still delivered (servers that close right after the last ``data:`` line)."""
        lines = []
        if self._start:
            lines.append(self._start)
            self._start = b""
        if self._held or self._cr:
            lines.append(b"".join(self._held))
            self._held, self._cr = [], False
        lines.append(b"")
        return self._decode(lines)

    def _decode(self, lines: list[bytes]) -> list[SSEEvent]:
        out = []
        for line in lines:
            if not line:  # a blank line dispatches the event, if it has data or a type
                if self._data or self._event:
                    data = _text(b"\n".join(self._data))
                    if data or self._event:
                        out.append(SSEEvent(data, self._event, self._id))
                    self._data, self._event = [], ""
                continue
            if line[0] == _COLON:
                self.comments += 1
                continue
            name, _, value = line.partition(b":")
            if value[:1] == b" ":
                value = value[1:]
            if name == b"data":
                self._data.append(value)
            elif name == b"event":
                self._event = _text(value)
            elif name == b"id" and b"\0" not in value:
                self._id = _text(value)  # kept across events, as the spec says
            # "retry" and unknown fields are ignored: we never reconnect.
        return out
