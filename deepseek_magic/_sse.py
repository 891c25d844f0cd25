"""Bytes to Server-Sent Events: a pure, incremental decoder.

``SSEParser.feed(bytes)`` returns the complete events those bytes finish; ``flush()``
ends the stream. Feeding the same stream cut at any byte boundaries gives the same
events (tested at every boundary).

The stages, each incremental:

* UTF-8 with one incremental decoder, so a character split across reads is not
  turned into U+FFFD (wire-format.md section 8.2);
* lines split on CR, LF and CRLF only, a CRLF split across reads included
  (``httpx_sse.SSELineDecoder``; ``str.splitlines`` would also split on U+2028 and
  corrupt JSON) (section 8.3, 8.4);
* lines to events per the WHATWG algorithm (``httpx_sse.SSEDecoder``): comments such
  as ``: OPENROUTER PROCESSING`` are skipped, ``data:`` with or without a space,
  several ``data:`` lines joined with ``\\n`` (section 8.1, 8.5).
  https://html.spec.whatwg.org/multipage/server-sent-events.html#event-stream-interpretation

We use httpx-sse's two decoders rather than its ``EventSource`` because they are pure
(they never touch the response) and so can be fed arbitrary chunkings in tests, and
because we need to know about comment lines too (keep-alives reset the
first-token timer).
"""

from __future__ import annotations

import codecs
from dataclasses import dataclass

from httpx_sse._decoders import SSEDecoder, SSELineDecoder

__all__ = ["SSEEvent", "SSEParser"]


@dataclass(frozen=True)
class SSEEvent:
    data: str
    event: str = ""
    id: str = ""


class SSEParser:
    """Incremental bytes -> :class:`SSEEvent` decoder."""

    def __init__(self) -> None:
        self._utf8 = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._lines = SSELineDecoder()
        self._events = SSEDecoder()
        self._first = True
        #: number of comment lines seen (keep-alives)
        self.comments = 0

    def feed(self, data: bytes) -> list[SSEEvent]:
        text = self._utf8.decode(data)
        if not text:
            return []
        if self._first:
            # A UTF-8 byte order mark at the very start is not part of the first field name.
            text = text.lstrip("\ufeff")
            if not text:
                return []
            self._first = False
        return self._decode(self._lines.decode(text))

    def flush(self) -> list[SSEEvent]:
        """End of stream: decode what is left. An event without its closing blank line
        is still delivered (servers that close right after the last ``data:`` line)."""
        tail = self._utf8.decode(b"", final=True)
        lines = self._lines.decode(tail) if tail else []
        lines += self._lines.flush()
        lines.append("")
        return self._decode(lines)

    def _decode(self, lines: list[str]) -> list[SSEEvent]:
        out = []
        for line in lines:
            if line.startswith(":"):
                self.comments += 1
                continue
            sse = self._events.decode(line)
            if sse is not None and (sse.data or sse.event):
                out.append(SSEEvent(sse.data, sse.event, sse.id))
        return out
