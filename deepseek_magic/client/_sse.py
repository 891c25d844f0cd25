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
* lines to events per the WHATWG algorithm (as ``httpx_sse.SSEDecoder`` does, inlined
  here for speed): comments such as ``: OPENROUTER PROCESSING`` are skipped (and
  counted), ``data:`` with or without a space, several ``data:`` lines joined with
  ``\\n`` (section 8.1, 8.5).
  https://html.spec.whatwg.org/multipage/server-sent-events.html#event-stream-interpretation

We use httpx-sse's line decoder rather than its ``EventSource`` because it is pure (it
never touches the response) and so can be fed arbitrary chunkings in tests; the field
handling is inlined because it runs once per token (see benchmarks/BENCHMARKS.md) and
because we count comment lines (keep-alives).
"""

from __future__ import annotations

import codecs
from dataclasses import dataclass

from httpx_sse._decoders import SSELineDecoder

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
        # The event being built (WHATWG fields). Done here rather than with httpx-sse's
        # SSEDecoder, which builds a second event object per chunk: this runs ~20,000
        # times for one long reply (benchmarks/BENCHMARKS.md, streaming overhead).
        self._data: list[str] = []
        self._event = ""
        self._id = ""
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
            if not line:  # a blank line dispatches the event, if it has data or a type
                if self._data or self._event:
                    data = "\n".join(self._data)
                    if data or self._event:
                        out.append(SSEEvent(data, self._event, self._id))
                    self._data, self._event = [], ""
                continue
            if line[0] == ":":
                self.comments += 1
                continue
            name, _, value = line.partition(":")
            if value[:1] == " ":
                value = value[1:]
            if name == "data":
                self._data.append(value)
            elif name == "event":
                self._event = value
            elif name == "id" and "\0" not in value:
                self._id = value  # kept across events, as the spec says
            # "retry" and unknown fields are ignored: we never reconnect.
        return out
