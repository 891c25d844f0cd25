"""The live view: one display, updated in place while R1 streams, paced.

This is the thin impure shell around the live model (``_live_state.py``, pure). It is
fed values (each event: the text that arrived, a count, the end; and
:meth:`LiveView.request_started` when a tool round's request begins), never the stream
object. It owns one display and sends a frame

* when something visible changed and at least ``1 / max_rate`` seconds passed since the
  last frame (at most ``max_rate`` frames a second, whatever the token rate);
* also when no further event comes: a frame that is due is sent by a timer (one daemon
  thread per stream, started at the first frame it has to hold back, stopped and joined
  when the stream ends or is interrupted), so no received text waits behind a pause of
  the server for longer than one frame interval;
* within a byte budget: the frames sent so far stay within ``byte_factor`` times the
  estimated final output of what arrived plus ``byte_allowance``; past it, a frame goes
  when the text since the last one pays for it, or once the stream has gone quiet, so
  total traffic stays linear in the reply and a slow stream gets fewer frames, while
  held-back text still shows without waiting for another event.

Frames are small: text and class names, their stylesheet (:data:`SHEET`) shown once in
an output of its own above them (a ``sheet`` display). At R1's
usual 40 tokens a second the budget then does not bind, and the view keeps
``max_rate`` frames a second to the end. One final frame (:meth:`LiveView.finish`)
replaces the live one with the rendered result, which has its own inline styles (it
looks the same in a notebook reopened untrusted); no frame is sent after it.

Threads: the reading loop calls :meth:`LiveView.event` (and sends a due frame itself);
the timer renders from the live model, never from the accumulator the reading loop is
writing, under the view's lock. ipykernel sends display messages from any thread (its
iopub socket forwards them to its I/O thread); the timer runs in a copy of the cell's
``contextvars`` context, so its messages carry the cell's parent header even when the
kernel handles other messages (a widget's) meanwhile. In a terminal (no rich
frontend) :class:`TerminalView` prints the text as it arrives instead.
"""

from __future__ import annotations

import contextvars
import os
import sys
import threading
import time
from collections.abc import Callable
from typing import Any, Protocol, TextIO

from ..client._events import ChatEvent, ContentDelta, ContentWasReasoning, ReasoningDelta
from ..view._live_state import STYLESHEET, LiveState
from ..view._style import OFFLINE_NOTE

__all__ = [
    "LiveView",
    "TerminalView",
    "DEFAULT_MAX_RATE",
    "DEFAULT_BYTE_FACTOR",
    "DEFAULT_BYTE_ALLOWANCE",
    "ThreadTimer",
    "SHEET",
    "EMPTY_SHEET",
]

DEFAULT_MAX_RATE = 8.5  # frames per second
# The budget is counted against an estimate of the final output for what arrived so far
# (``LiveState.final_estimate``: ~2 bytes per character of reasoning, ~4 per character of
# answer, more for tables and math). Frames are counted as whole messages (their JSON
# envelope too, :data:`MESSAGE_OVERHEAD`), so 19x of it keeps all the traffic within ~20x
# the final output up to 64k tokens, and an answer, whose final form costs more, gets
# more frames' worth.
DEFAULT_BYTE_FACTOR = 19.0  # bytes of live messages per byte the final output will take
DEFAULT_BYTE_ALLOWANCE = 8_000  # bytes allowed before the reply has grown
_EPSILON = 1e-4  # seconds: a timer woken this close to its time is on time
#: bytes each display message carries besides its data: the JSON around it (the mime
#: key, ``"metadata": {}``, the ``transient`` display id). Counted in the budget: with
#: frames of a few hundred bytes it is a sixth of the traffic.
MESSAGE_OVERHEAD = 110


def _bundle_size(bundle: dict[str, Any]) -> int:
    data = sum(len(v.encode("utf-8")) if isinstance(v, str) else 0 for v in bundle.values())
    return data + MESSAGE_OVERHEAD


#: The live frames' stylesheet, shown once per live view in an output of its own (the
#: ``sheet`` display, of no height): frames then carry text and class names only. A
#: ``<style>`` applies to the whole page in the frontends that show trusted HTML in the
#: page (JupyterLab, Notebook, VS Code), scoped here by the ``dsm-live`` root. After the
#: final frame it is emptied (:data:`EMPTY_SHEET`), so a saved notebook keeps no
#: stylesheet and no hidden formula in every cell (a blank gap in nbconvert, a diff at
#: every save); that message waits, if it must, until the last second holds fewer than
#: :data:`MAX_MESSAGES_PER_SECOND` (the final frame itself never waits). The final frame
#: has its own inline styles, so it looks the same without the stylesheet.
#:
#: The same output holds a hidden formula: MathJax's first typesetting in a page pays
#: one-time costs (its setup, the styles of the glyphs and constructs it meets first),
#: and the live frames typeset only small blocks (display math is left to the final
#: view), so without it the final render paid them all at once. Fractions, sums, roots,
#: bars and operator names (the most common constructs of R1's math), inline and in
#: display style, are set up while the reply starts.
MATH_WARMUP = (
    r"<span hidden>\(\frac{1}{n}\sum_{i=1}^{n} x_i^2\)"
    r"\[\operatorname{Var}(X) = \frac{1}{n-1} \sum_{i=1}^{n} (x_i - \bar{x})^2"
    r" \approx \sqrt{\sigma}\]"
    r"</span>"
)
SHEET = {"text/html": f"<style>{STYLESHEET}</style>{MATH_WARMUP}"}
#: what the stylesheet's output holds after the final frame: nothing to see or to save
#: (an empty HTML, not an empty bundle: JupyterLab cannot render an output with no data,
#: and its cell then never shows that it finished)
EMPTY_SHEET: dict[str, Any] = {"text/html": ""}
#: display messages a live view sends in any one second at most (frames, the final one
#: and the stylesheet's two)
MAX_MESSAGES_PER_SECOND = 10


class Timer(Protocol):
    """Calls back once at (or soon after) the time it was last armed for."""

    def arm(self, at: float) -> None: ...

    def cancel(self) -> None: ...


class ThreadTimer:
    """One daemon thread that calls ``fire`` when the armed time comes; :meth:`cancel`
    stops it and joins it (no thread is left behind)."""

    def __init__(
        self,
        fire: Callable[[], None],
        clock: Callable[[], float] = time.monotonic,
        context: contextvars.Context | None = None,
    ) -> None:
        self._fire = fire
        self._clock = clock
        self._context = context
        self._cond = threading.Condition()
        self._due: float | None = None
        self._stopped = False
        self.thread: threading.Thread | None = None

    def arm(self, at: float) -> None:
        with self._cond:
            if self._stopped:
                return
            if self._due is None or at < self._due:
                self._due = at
                self._cond.notify()
            if self.thread is None:
                thread = threading.Thread(target=self._run, name="deepseek-live-timer", daemon=True)
                try:
                    thread.start()
                except RuntimeError:  # no threads (a browser kernel): no trailing frames
                    self._stopped = True
                    return
                self.thread = thread

    def _run(self) -> None:
        with self._cond:
            while not self._stopped:
                if self._due is None:
                    self._cond.wait()
                    continue
                delay = self._due - self._clock()
                if delay > 0:
                    self._cond.wait(delay)
                    continue
                self._due = None
                self._cond.release()
                try:
                    if self._context is not None:
                        self._context.run(self._fire)
                    else:
                        self._fire()
                except Exception:  # noqa: BLE001 - a frame that fails must not kill the view
                    pass
                finally:
                    self._cond.acquire()

    def cancel(self) -> None:
        with self._cond:
            self._stopped = True
            self._due = None
            self._cond.notify()
        thread = self.thread
        if thread is not None and thread is not threading.current_thread():
            thread.join()


class LiveView:
    """Paced in-place display of a stream (rich frontends: JupyterLab, VS Code ...)."""

    def __init__(
        self,
        display: Callable[..., Any],
        *,
        max_rate: float = DEFAULT_MAX_RATE,
        byte_factor: float = DEFAULT_BYTE_FACTOR,
        byte_allowance: int = DEFAULT_BYTE_ALLOWANCE,
        clock: Callable[[], float] = time.monotonic,
        offline: bool = False,
        timer: Callable[[Callable[[], None]], Timer] | None = None,
        sheet: Callable[..., Any] | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        #: ``display(bundle, metadata, update: bool)``: shows the first frame, updates after
        self._display = display
        #: the same for the stylesheet's output (above the frames); None: frames only (a
        #: frontend that keeps styles elsewhere, or a test)
        self._sheet = sheet
        self._sheet_shown = False
        self._sleep = sleep
        #: when each display message went out (the last second's, for the message budget)
        self._sent_at: list[float] = []
        self.max_rate = max_rate
        self.byte_factor = byte_factor
        self.byte_allowance = byte_allowance
        self.clock = clock
        self.offline = offline
        self.started = clock()
        self.state = LiveState(offline=offline)
        self._lock = threading.RLock()
        self._last = float("-inf")
        self._last_size = 0
        self._first_text: float | None = None
        self._last_event = float("-inf")
        self._events = 0  # events that changed the view
        self._size_at_last = 0.0  # the final output's estimate when the last frame was sent
        self._dirty = False
        self._rounds = 0
        #: True once the final frame is sent (or the view closed): nothing is sent after
        self.closed = False
        #: frames sent (the first display and the final one included) and their bytes
        self.updates = 0
        self.bytes_sent = 0
        #: frames sent by the timer (no event came to send them)
        self.trailing = 0
        self._shown = False
        if timer is None:
            context = contextvars.copy_context()
            timer = lambda fire: ThreadTimer(fire, clock, context)  # noqa: E731
        self.timer: Timer = timer(self._on_timer)

    # ------------------------------------------------------------------ input
    def start(self) -> None:
        """The stylesheet, then the first frame ("waiting…")."""
        with self._lock:
            if self._sheet is not None:
                self._sheet(SHEET, {}, False)
                self._sheet_shown = True
                self._sent_at.append(self.clock())
                self.bytes_sent += _bundle_size(SHEET)
            self._send(self.state.frame(0.0), {})

    def request_started(self) -> None:
        """A request's stream begins: the first is round 1, each later one (a tool
        round's follow-up) starts a new round with its own reasoning and answer."""
        with self._lock:
            self._rounds += 1
            if self._rounds > 1 and not self.closed:
                self.state.new_round()

    def event(self, event: ChatEvent) -> bool:
        """Called for each event of the stream (a value: the text that arrived, a count,
        the end). Sends a frame when one is due, else makes sure the timer sends it.
        Returns whether a frame went out now."""
        with self._lock:
            if self.closed:
                return False
            if not self.state.add(event):
                return False
            now = self._last_event = self.clock()
            self._events += 1
            if self._first_text is None and self.state.text_size:
                self._first_text = now
            self._dirty = True
            wait = self._wait(now)
            if wait <= 0:
                self._frame(now)
                return True
        self.timer.arm(now + wait)
        return False

    # ------------------------------------------------------------------ pacing
    def _wait(self, now: float) -> float:
        """Seconds until a frame may be sent (0: now)."""
        wait = 1.0 / self.max_rate - (now - self._last)
        if wait > _EPSILON:
            return wait
        size = self.state.final_estimate
        if self.bytes_sent + self._last_size <= self.byte_factor * size + self.byte_allowance:
            return 0.0
        # Over the budget: a frame is sent when the text that arrived since the last one
        # pays for it, or once the stream has gone quiet (no event for twice the usual gap
        # between events, and at least a frame interval), so a pause of the server never
        # holds back text that arrived before it, while a steady slow stream is paced.
        if self.byte_factor * (size - self._size_at_last) >= self._last_size:
            return 0.0
        first = now if self._first_text is None else self._first_text
        usual = (self._last_event - first) / max(self._events - 1, 1)
        wait = self._last_event + max(2.0 * usual, 1.0 / self.max_rate) - now
        return wait if wait > _EPSILON else 0.0

    def _on_timer(self) -> None:
        with self._lock:
            if self.closed or not self._dirty:
                return
            now = self.clock()
            wait = self._wait(now)
            if wait <= 0:
                self._frame(now)
                self.trailing += 1
                return
        self.timer.arm(now + wait)

    def due(self) -> bool:
        """Whether a frame is waiting to be sent (text arrived since the last frame)."""
        return self._dirty and not self.closed

    # ------------------------------------------------------------------ output
    def finish(self, bundle: dict[str, Any], metadata: dict[str, Any]) -> None:
        """The final frame: always sent, replacing the live one; nothing is sent after it.
        (It has its own inline styles: it looks the same in a notebook reopened untrusted,
        without the stylesheet.)"""
        self.close()
        with self._lock:
            self._send(bundle, metadata)
            self._empty_sheet()

    def _empty_sheet(self) -> None:
        """Empty the stylesheet's output, once the last second has room for the message."""
        if self._sheet is None or not self._sheet_shown:
            return
        now = self.clock()
        recent = sorted(t for t in self._sent_at if t > now - 1.0)
        if len(recent) >= MAX_MESSAGES_PER_SECOND:
            # the oldest message that must leave the window first
            wait = recent[len(recent) - MAX_MESSAGES_PER_SECOND] + 1.0 - now
            if wait > 0:
                self._sleep(wait)
        self._sheet(EMPTY_SHEET, {}, True)
        self._sheet_shown = False
        self._sent_at.append(self.clock())
        self.bytes_sent += _bundle_size(EMPTY_SHEET)

    def close(self) -> None:
        """Stop the timer (joining its thread); no live frame is sent after this."""
        with self._lock:
            self.closed = True
            self._dirty = False
        self.timer.cancel()

    def _frame(self, now: float) -> None:
        self._send(self.state.frame(now - self.started), {})
        self._size_at_last = self.state.final_estimate
        self._dirty = False

    def _send(self, bundle: dict[str, Any], metadata: dict[str, Any]) -> None:
        size = _bundle_size(bundle)
        self._display(bundle, metadata, self._shown)
        self._shown = True
        self._last = self.clock()
        self._sent_at = [t for t in self._sent_at if t > self._last - 1.0] + [self._last]
        self._last_size = size
        self.updates += 1
        self.bytes_sent += size


class TerminalView:
    """Terminal IPython: print reasoning (dimmed) and answer as they arrive.

    Colour only on a real terminal, and never when ``NO_COLOR`` is set
    (https://no-color.org); the dim style is switched on once per stretch of reasoning,
    not per token, so a log of the output stays readable. ``offline=True`` (the emulator
    answers) writes the offline note first, as every other surface shows it.
    """

    DIM, RESET = "\x1b[2m", "\x1b[0m"

    def __init__(
        self,
        out: TextIO | None = None,
        *,
        show_reasoning: bool = True,
        color: bool | None = None,
        offline: bool = False,
    ) -> None:
        self.out = out or sys.stdout
        self.show_reasoning = show_reasoning
        if color is None:
            isatty = getattr(self.out, "isatty", None)
            color = bool(isatty and isatty()) and "NO_COLOR" not in os.environ
        self.color = color
        self._phase = "waiting"
        self._dim_on = False
        if offline:
            self._write(f"[{OFFLINE_NOTE}]\n")

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
