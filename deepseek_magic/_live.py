"""The live view: one display, updated in place while R1 streams, throttled.

This is the thin impure shell around the pure renderer (``_render.py``). It owns one
``display_id``; it sends an update only when

* at least ``1 / max_rate`` seconds passed since the last one (at most ``max_rate``
  updates a second, whatever the token rate), and
* the bytes sent so far stay within ``byte_factor`` times the text received plus a
  fixed allowance: the live frames are bounded in size (the tail of the reasoning and
  answer), so total traffic grows linearly with the reply, never quadratically;

plus one final update that replaces the live frame with the rendered result. In a
terminal (no rich frontend) it prints the text as it arrives instead.
"""

from __future__ import annotations

import os
import sys
import time
from typing import Any, Callable, TextIO

from ._events import ChatEvent, ContentDelta, ContentWasReasoning, ReasoningDelta

__all__ = ["LiveView", "TerminalView", "DEFAULT_MAX_RATE", "DEFAULT_BYTE_FACTOR", "DEFAULT_BYTE_ALLOWANCE"]

DEFAULT_MAX_RATE = 8.0  # updates per second
# The final output takes at least ~2.5 bytes per character of reply (HTML, markdown and
# plain copies), so 40 bytes of live frames per character keeps all the traffic within
# ~20x the final output, while leaving a stream at R1's usual 30-60 tokens/s a few
# frames a second (live frames are ~1-3 KB).
DEFAULT_BYTE_FACTOR = 40  # bytes of live frames per character of reply
DEFAULT_BYTE_ALLOWANCE = 16_000  # bytes allowed before the reply has grown (status-only frames are small)


def _bundle_size(bundle: dict[str, Any]) -> int:
    return sum(len(v.encode("utf-8")) if isinstance(v, str) else 0 for v in bundle.values())


class LiveView:
    """Throttled in-place display of a stream (rich frontends: JupyterLab, VS Code ...)."""

    def __init__(
        self,
        display: Callable[..., Any],
        *,
        max_rate: float = DEFAULT_MAX_RATE,
        byte_factor: float = DEFAULT_BYTE_FACTOR,
        byte_allowance: int = DEFAULT_BYTE_ALLOWANCE,
        clock: Callable[[], float] = time.monotonic,
        offline: bool = False,
    ) -> None:
        #: ``display(bundle, metadata, update: bool)``: shows the first frame, updates after
        self._display = display
        self.max_rate = max_rate
        self.byte_factor = byte_factor
        self.byte_allowance = byte_allowance
        self.clock = clock
        self.offline = offline
        self.started = clock()
        self._last = float("-inf")
        #: frames sent (the first display included) and their total size in bytes
        self.updates = 0
        self.bytes_sent = 0
        self._shown = False

    def start(self) -> None:
        from ._render import render_live
        from ._result import Result

        self._send(render_live(Result(offline=self.offline), elapsed=0.0), {})

    def due(self, text_size: int) -> bool:
        """Whether a frame may be sent now (cheap: no rendering)."""
        now = self.clock()
        if now - self._last < 1.0 / self.max_rate:
            return False
        return self.bytes_sent <= self.byte_factor * text_size + self.byte_allowance

    def tick(self, stream: Any) -> bool:
        """Called after each event: sends a frame when due. Returns whether it did."""
        if not self.due(stream.accumulator.text_size):
            return False
        from ._render import render_live

        self._send(render_live(stream.result, elapsed=self.clock() - self.started), {})
        return True

    def finish(self, bundle: dict[str, Any], metadata: dict[str, Any]) -> None:
        """The final frame: always sent, replacing the live one."""
        self._send(bundle, metadata, force=True)

    def _send(self, bundle: dict[str, Any], metadata: dict[str, Any], force: bool = False) -> None:
        self._display(bundle, metadata, self._shown)
        self._shown = True
        self._last = self.clock()
        self.updates += 1
        self.bytes_sent += _bundle_size(bundle)


class TerminalView:
    """Terminal IPython: print reasoning (dimmed) and answer as they arrive.

    Colour only on a real terminal, and never when ``NO_COLOR`` is set
    (https://no-color.org); the dim style is switched on once per stretch of reasoning,
    not per token, so a log of the output stays readable.
    """

    DIM, RESET = "\x1b[2m", "\x1b[0m"

    def __init__(self, out: TextIO | None = None, *, show_reasoning: bool = True,
                 color: bool | None = None) -> None:
        self.out = out or sys.stdout
        self.show_reasoning = show_reasoning
        if color is None:
            isatty = getattr(self.out, "isatty", None)
            color = bool(isatty and isatty()) and "NO_COLOR" not in os.environ
        self.color = color
        self._phase = "waiting"
        self._dim_on = False

    def event(self, event: ChatEvent) -> None:
        if isinstance(event, ReasoningDelta) and self.show_reasoning:
            if self._phase == "waiting":
                self._write("Thinking…\n", dim=True)
            self._phase = "thinking"
            self._write(event.text, dim=True)
        elif isinstance(event, ContentDelta):
            if self._phase != "answering":
                self._write("\n\n" if self._phase == "thinking" else "")
            self._phase = "answering"
            self._write(event.text)
        elif isinstance(event, ContentWasReasoning):
            self._write("\n[the text above was reasoning]\n", dim=True)

    def finish(self, footer: str) -> None:
        self._write("\n")
        self._write(footer, dim=True)
        self._write("\n")

    def _write(self, text: str, dim: bool = False) -> None:
        if self.color and dim != self._dim_on:
            text = (self.DIM if dim else self.RESET) + text
            self._dim_on = dim
        self.out.write(text)
        self.out.flush()
