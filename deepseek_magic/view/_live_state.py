"""What the live view shows, built from the chat events, and its frame (pure, no I/O).

The live view keeps its own small model of the stream instead of reading the
accumulator: its trailing-frame timer renders from another thread, and this model is
only touched under the view's lock. It is bounded whatever the reply's length:

* the status line first (phase, tokens, seconds), as the README describes the output;
* the reasoning: a header line and its last :data:`REASONING_TAIL` characters, from a
  line or word boundary, in a box of a fixed height (:data:`REASONING_LINES` lines,
  filled from the top while it is short, then the newest text at the bottom), so
  frames do not grow and the box does not jump line by line; when the answer starts,
  the header line becomes the final view's collapsed summary, and "Answer" and the
  answer take the box's room, so the output keeps its height;
* the answer: rendered with the final view's safe renderer (:mod:`._markdown`, raw
  HTML off), block by block. A block is rendered once (its math typeset), when the next
  one starts; the block still growing is rendered on its own, so an unclosed fence or
  ``$`` only ever affects that block, never the answer above it. The window keeps the last
  :data:`ANSWER_WINDOW` bytes of rendered blocks; earlier ones (and one too big for the
  window, or with display math, which MathJax would typeset again at every frame) are
  summed up in one line that keeps their estimated room and come back with the final
  view. The answer's first block (or its first words, :data:`FIRST_WINDOW`) stays in
  every frame: a reader's verdict never disappears while the rest streams. The growing
  block shows only what can be rendered (:func:`renderable_prefix`): a table from its
  separator row on, whole rows; a line up to where every code span, emphasis, link and
  inline formula it opens is closed, the rest as plain text hidden from MathJax; closed
  inline math is typeset at once, display math waits for the final view.

Frames carry text and class names only; their styles are :data:`STYLESHEET`, shown
once per live view (see :mod:`.notebook._live`). The layout follows the final view's (reasoning
summary, "Answer", the answer; the status line above them takes the footer's room), so
the final render replaces the live frame with output of nearly the same height.
"""

from __future__ import annotations

import re
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..client._events import (
    ChatEvent,
    ContentDelta,
    ContentWasReasoning,
    ErrorEvent,
    FinishEvent,
    ReasoningDelta,
    ToolCallDelta,
    UsageEvent,
)
from ._style import IGNORE_MATH_CLASS, OFFLINE_NOTE

# markdown-it (the renderer, ``._markdown``) loads on the first frame, not at ``%load_ext``.


def markdown_to_html(text: str) -> str:
    from ._markdown import markdown_to_html

    return markdown_to_html(text)


def escape(text: str) -> str:
    from ._markdown import escape

    return escape(text)


def scrub(text: str) -> str:
    from ._markdown import scrub

    return scrub(text)


if TYPE_CHECKING:
    from ..core._result import Result

__all__ = [
    "render_live",
    "ANSWER_WINDOW",
    "REASONING_LINES",
    "REASONING_TAIL",
    "LiveState",
    "AnswerBlocks",
]

#: characters of reasoning kept and shown (one or two lines of a notebook's width; each
#: is sent again in every frame, so this is what the byte budget pays for)
REASONING_TAIL = 200
#: the reasoning box's height, in lines
REASONING_LINES = 4
#: bytes of rendered answer blocks a live frame carries (the rest waits for the final view)
ANSWER_WINDOW = 300
#: a growing block longer than this is shown by its last lines (about this many characters)
GROWING_SHOWN = 240
#: a growing block longer than this is parsed again only when it grew by a quarter
GROWING_PARSE_LIMIT = 4_000
#: bytes of the answer's first block that stay in every frame (a reader's verdict is
#: there: it never leaves the live view); a longer first block keeps its first words
FIRST_WINDOW = 400
#: characters of a long first block's first line kept instead
FIRST_SHOWN = 200

_IGN = IGNORE_MATH_CLASS
#: the root's line-height: the boxes' heights (in em) count lines of it
LINE_HEIGHT = 1.5
_BOX_EM = LINE_HEIGHT * REASONING_LINES
# While thinking, a header line ("▾ Reasoning") and the box; when the answer starts, the
# header line stays ("▸ Reasoning · N tokens", as the final view's collapsed summary),
# and "Answer" and the answer's body take the box's room: the output keeps its height.
_ANSWER_MIN_EM = _BOX_EM - LINE_HEIGHT
#: The live frames' styles, shown once per live view in an output of their own (see
#: :class:`.notebook._live.LiveView`): every byte of a frame is sent again at each update, 9 times
#: a second, and at R1's 40 tokens a second a frame may cost only about 19 times the ~14
#: characters that arrived since the last one, so frames carry text and class names only.
#: Scoped by the ``dsm-live`` root; a frame shown without them (a frontend that drops
#: ``<style>``) is still readable text.
STYLESHEET = (
    f".dsm-live{{line-height:{LINE_HEIGHT:g}}}"
    # The newest text at the bottom of a box of fixed height: a column-reverse flex box
    # puts its (anonymous) text item at the bottom, and older lines overflow at the top.
    ".dsm-live .dsm-reasoning-tail{border-left:3px solid #8886;padding-left:.75em;"
    f"height:{_BOX_EM:g}em;white-space:pre-wrap;overflow-wrap:anywhere;opacity:.7;"
    "overflow:hidden;display:flex;flex-flow:column-reverse}"
    # ... and while the text is shorter than the box, it starts at the top (an auto
    # margin at the bottom takes the free room; overflowing, it is 0: newest at the bottom)
    ".dsm-live .dsm-reasoning-tail>div{margin-bottom:auto}"
    ".dsm-live .dsm-head{opacity:.75}"
    f".dsm-live .dsm-answer-body{{min-height:{_ANSWER_MIN_EM:g}em;display:flow-root}}"
    ".dsm-live .dsm-elided{opacity:.5}"
    ".dsm-live .dsm-status{opacity:.65}"
    ".dsm-live .dsm-offline{border:1px solid rgba(230,160,0,.75);"
    "background:rgba(230,160,0,.12);border-radius:3px;padding:.2em .6em;margin:0 0 .4em;"
    "font-weight:600}"
)
_PHASES = {
    "waiting": "waiting…",
    "thinking": "thinking…",
    "answering": "answering…",
    "tool_calls": "calling tools…",
}


def _text(text: str) -> str:
    """Escape text for element content (not an attribute): quotes stay as they are."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _visible_from(text: str, lines: int) -> int:
    """Where the part of ``text`` that a bottom-anchored box of ``lines`` lines can show
    starts: after its ``lines``-th line break from the end (0: all of it may show). A
    break at the very end starts no line of its own."""
    end = len(text) - 1 if text.endswith("\n") else len(text)
    for _ in range(lines):
        end = text.rfind("\n", 0, end)
        if end == -1:
            return 0
    return end + 1


def _estimate_tokens(chars: int) -> int:
    return (chars + 3) // 4


def _oneline(text: str, limit: int) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


class _Tail:
    """The last ``keep`` characters of a growing text (amortised O(1) per character)."""

    __slots__ = ("keep", "_text")

    def __init__(self, keep: int) -> None:
        self.keep = keep
        self._text = ""

    def add(self, text: str) -> None:
        self._text += text
        if len(self._text) > 2 * self.keep:
            # some slack before the tail, so value() can start it at a word boundary
            self._text = self._text[-(self.keep + 80) :]

    def value(self) -> str:
        """The last ``keep`` characters, from a line or word boundary (never mid-word)."""
        text = self._text
        if len(text) <= self.keep:
            return text
        tail = text[-self.keep :]
        if text[-self.keep - 1].isspace():
            return tail
        line = tail.find("\n")
        if line != -1 and line < self.keep // 2:
            return tail[line + 1 :]
        # the rest of the word cut in two (a "word" of more than 40 characters is not one)
        word = next((i for i, c in enumerate(tail[:40]) if c.isspace()), -1)
        return tail[word + 1 :] if word != -1 else tail

    def clear(self) -> None:
        self._text = ""


_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")


def _last_lines(text: str, limit: int) -> str:
    """The end of a long growing block, about ``limit`` characters, to render on its own:
    whole lines (or the last words of one long line), after the fence line when the block
    is fenced code, so it still renders as code."""
    cut = text.rfind("\n", 0, len(text) - limit)
    tail = text[cut + 1 :] if cut != -1 else text[-limit:].split(" ", 1)[-1]
    fence = _FENCE.match(text)
    if fence and not tail.startswith(fence.group(1)):
        tail = text[: text.find("\n") + 1] + tail
    return "…" + tail if not fence and tail[:1].isalnum() else tail


# markdown-it ends block tags with a line break; between blocks it shows nothing, and in a
# frame's JSON it costs two bytes. Text never holds a raw "<" or ">" (escaped), so a break
# after one of these tags is always between tags.
_BLOCK_BREAK = re.compile(
    r"(<(?:/?(?:p|li|ul|ol|tr|thead|tbody|table|blockquote|h[1-6])|/t[hd]|/pre|hr ?/?)>)\n"
)
_ALIGN = re.compile(r' style="(text-align:(?:left|right|center))"')


def _compact(html: str) -> str:
    """A rendered block as it goes into a live frame: no line breaks between block tags,
    table alignment unquoted (in JSON each double quote costs a backslash)."""
    return _ALIGN.sub(r" style=\1", _BLOCK_BREAK.sub(r"\1", html))


def _block_starts(source: str) -> list[int]:
    """Line numbers where the top-level blocks of ``source`` start (markdown-it's map)."""
    from ._markdown import _parse

    tokens, _ = _parse(source)
    return [t.map[0] for t in tokens if t.level == 0 and t.nesting >= 0 and t.map and t.block]


_LIST_MARKER = re.compile(r"^\s*(?:[*+-]|\d{1,9}[.)])\s+")
_TABLE_SEPARATOR = re.compile(r"^\s*\|?\s*:?-+:?\s*(?:\|\s*:?-+:?\s*)*\|?\s*$")
#: where the growing line's plain rest goes once the rendered part is HTML (a private
#: use character: model text holding one only gets a plain copy of the rest there)
_REST = "\ue000"
_MARKERS = str.maketrans("", "", "*`[]")


def _balanced(text: str) -> bool:
    """Whether ``text`` (part of one line) closes every inline construct it opens: code
    spans, strong and emphasis with ``*``, inline math ``$``, links ``[...](...)``."""
    text = text.replace("\\\\", "").replace("\\*", "").replace("\\$", "").replace("\\`", "")
    if text.count("`") % 2:
        return False
    plain = re.sub(r"`[^`]*`", "", text)  # nothing inside a code span is markup
    if plain.count("**") % 2 or plain.replace("**", "").count("*") % 2:
        return False
    if plain.replace("$$", "").count("$") % 2:
        return False
    if plain.count("[") != plain.count("]"):
        return False
    return plain.count("](") == 0 or plain.rfind(")") > plain.rfind("](")


def renderable_prefix(line: str) -> int:
    """How much of a growing line can be rendered now: all of it when every inline
    construct it opens is closed, else up to the last word boundary where they all are
    (the rest is shown as plain text until it can be rendered)."""
    marker = _LIST_MARKER.match(line)
    start = marker.end() if marker else 0
    if _balanced(line[start:]):
        return len(line)
    for cut in range(len(line) - 1, start - 1, -1):
        if line[cut].isspace() and _balanced(line[start:cut]):
            return cut
    return start


@dataclass
class _Block:
    html: str
    size: int
    em: float  # its estimated height


#: characters in a line of a notebook's output at a usual width (1280 px window, 14 px
#: font): used only to reserve about the right room for blocks outside the live window
LINE_CHARS = 150


def estimate_em(source: str) -> float:
    """About how tall ``source`` (one markdown block) renders in a notebook, in ``em``:
    headings, fenced code, tables and display math by their lines, text by its wrapped
    lines, each with the margin JupyterLab gives it."""
    lines = source.strip("\n").split("\n")
    first = lines[0].lstrip()
    if first.startswith("#"):
        return 3.2
    if _FENCE.match(first):
        return 1.4 * max(len(lines) - 2, 1) + 2.2
    if first.startswith("|"):
        return 2.1 * max(len(lines) - 1, 1) + 1.0
    if first.startswith(("$$", "\\[")):
        return 1.5 * len(lines) + 1.5
    text = 1.5 * sum(-(-len(line) // LINE_CHARS) or 1 for line in lines) + 1.0
    return text + DISPLAY_MATH_EM * _display_math(source)


#: how much taller display math in a paragraph is once typeset than its one line of source
DISPLAY_MATH_EM = 2.3


def _display_math(source: str) -> int:
    """Display formulas (``$$…$$``, ``\\[…\\]``) inside a block of text."""
    return source.count("$$") // 2 + source.count("\\[")


class AnswerBlocks:
    """The answer as rendered blocks: completed ones rendered once, the last one growing."""

    def __init__(self, window: int = ANSWER_WINDOW) -> None:
        self.window = window
        #: the answer's first block (or its first words), shown in every frame
        self.first: _Block | None = None
        self.blocks: deque[_Block] = deque()
        self.window_bytes = 0
        #: completed blocks dropped from the top of the window
        self.elided = 0
        #: their estimated height: the room the live view keeps for them
        self.elided_em = 0.0
        self._pending: list[str] = []
        self._pending_size = 0
        #: bytes of HTML of every block rendered so far (the window's and the elided ones)
        self.html_bytes = 0
        self._parsed_at = 0  # pending size at the last parse of a long growing block

    def add(self, text: str) -> None:
        self._pending.append(text)
        self._pending_size += len(text)

    def _growing(self) -> str:
        if len(self._pending) > 1:
            self._pending = ["".join(self._pending)]
        return self._pending[0] if self._pending else ""

    def commit(self) -> None:
        """Render the blocks that are complete (another block has started after them)."""
        size = self._pending_size
        if size > GROWING_PARSE_LIMIT and size < self._parsed_at * 1.25:
            return  # a long block: parse again only when it grew by a quarter
        source = self._growing()
        if "\n" not in source:
            return
        self._parsed_at = size
        starts = _block_starts(source)
        if len(starts) < 2:
            return
        lines = source.split("\n")
        cut = len("\n".join(lines[: starts[-1]])) + 1  # up to the last block's first line
        rest = source[cut:]
        for a, b in zip(starts, starts[1:], strict=False):
            block = "\n".join(lines[a:b])
            # Display math is not kept either: MathJax would typeset it again at every
            # frame (~10 ms each, 9 times a second); the final view typesets it once.
            display_math = _display_math(block) or block.lstrip().startswith(("$$", "\\["))
            self._push(
                _compact(markdown_to_html(block)),
                estimate_em(block),
                keep=not display_math,
                source=block,
            )
        self._pending = [rest] if rest else []
        self._pending_size = len(rest)
        self._parsed_at = 0

    def _pin(self, source: str, html: str, em: float) -> None:
        """Keep the first block in every frame: whole when small, else its first words."""
        size = len(html.encode("utf-8"))
        if size > FIRST_WINDOW:
            line = source.strip().split("\n", 1)[0]
            if _FENCE.match(line) or line.lstrip().startswith(("|", "$$", "\\[")):
                line = ""  # code, a table or display math: no words to keep
            elif len(line) > FIRST_SHOWN:
                line = line[: line.rfind(" ", 0, FIRST_SHOWN)].rstrip() or line[:FIRST_SHOWN]
                line = line[: renderable_prefix(line)] + " …"
            html = _compact(markdown_to_html(line)) if line else ""
            size = len(html.encode("utf-8"))
            self.elided += 1  # the whole block comes back with the final view
            self.elided_em += max(0.0, em - 1.5)
        self.first = _Block(html, size, em)

    def _push(self, html: str, em: float, *, keep: bool = True, source: str = "") -> None:
        if not html.strip():
            return
        if self.first is None:
            self._pin(source, html, em)
            self.html_bytes += len(html.encode("utf-8"))
            return
        block = _Block(html, len(html.encode("utf-8")), em)
        self.html_bytes += block.size
        self.blocks.append(block)
        self.window_bytes += block.size
        # A block bigger than the window (a table, a long code block) is not kept either:
        # it would be sent again in every frame until the next block completes. A block
        # not kept takes the ones above it along (the window shows the answer's end).
        while self.blocks and (self.window_bytes > self.window or not keep):
            gone = self.blocks.popleft()
            self.window_bytes -= gone.size
            self.elided += 1
            self.elided_em += gone.em

    def growing_html(self) -> str:
        """The block still growing, as far as it can be rendered: a table from its
        separator row on (whole rows), other text up to where every inline construct of
        the growing line is closed, the rest of that line as plain text. Closed inline
        math is typeset (display math waits for the final view)."""
        raw = self._growing()
        text = raw.strip("\n")
        if not text:
            return ""
        if len(text) > GROWING_SHOWN:
            text = _last_lines(text, GROWING_SHOWN)
        rest = ""
        fenced = _FENCE.match(text.lstrip("…"))
        if text.lstrip("…").lstrip().startswith("|"):
            lines = text.split("\n")
            if not raw.endswith("\n"):
                lines = lines[:-1]  # a row shows when it is whole
            sep = next((i for i, line in enumerate(lines) if _TABLE_SEPARATOR.match(line)), None)
            if sep is None or sep == 0:
                return ""  # pipes mean nothing until the separator row says it is a table
            text = "\n".join(lines)
        elif not fenced:
            done, _, line = text.rpartition("\n")
            cut = renderable_prefix(line)
            if cut < len(line):
                rest = line[cut:]
                text = (done + "\n" if done else "") + line[:cut].rstrip() + _REST
        html = _compact(markdown_to_html(text))
        if rest:
            # plain text: the markers of what is not closed yet are left out
            words = rest.strip().translate(_MARKERS)
            plain = f"<span class='{_IGN}'>{_text(' ' + words)}</span>"
            html = html.replace(_REST, plain, 1) if _REST in html else html + plain
        display = _display_math(text) or text.lstrip().startswith(("$$", "\\["))
        classes = f"'dsm-growing {_IGN}'" if display or fenced else "dsm-growing"
        return f"<div class={classes}>{html}</div>"

    @property
    def growing_size(self) -> int:
        return self._pending_size

    def html(self) -> str:
        """The window: a line for the blocks above it, the completed blocks, the growing one."""
        self.commit()
        parts = [self.first.html] if self.first is not None else []
        if self.elided:
            # The room the earlier blocks will take in the final view is kept, so the
            # text being read does not move when they come back.
            n = self.elided
            parts.append(
                f"<div class=dsm-elided style=height:{self.elided_em:.1f}em>"
                f"⋯ {n} part{'s' if n > 1 else ''} more, shown in full at the end</div>"
            )
        parts.extend(b.html for b in self.blocks)
        parts.append(self.growing_html())
        return "".join(parts)

    def take_text(self) -> str:
        """The growing text (for a reply whose "answer" turns out to be reasoning)."""
        text = self._growing()
        self.__init__(self.window)  # type: ignore[misc]
        return text


class LiveState:
    """The live view's model: fed events (:meth:`add`), rendered to a frame (:meth:`frame`)."""

    def __init__(self, *, offline: bool = False) -> None:
        self.offline = offline
        self.reasoning = _Tail(REASONING_TAIL)
        self.answer = AnswerBlocks()
        self.reasoning_chars = 0
        self.answer_chars = 0
        self.completion_tokens: int | None = None
        self.tool_names: list[str] = []
        self.round = 1
        self.error: str | None = None
        self.finished = False

    # ------------------------------------------------------------------ input
    def new_round(self) -> None:
        """A tool round's follow-up request: its own reasoning and answer."""
        round_ = self.round + 1
        self.__init__(offline=self.offline)  # type: ignore[misc]
        self.round = round_

    def add(self, event: ChatEvent) -> bool:
        """Take one event; True when it changes what the view shows."""
        if isinstance(event, ReasoningDelta):
            self.reasoning.add(event.text)
            self.reasoning_chars += len(event.text)
        elif isinstance(event, ContentDelta):
            self.answer.add(event.text)
            self.answer_chars += len(event.text)
        elif isinstance(event, ContentWasReasoning):
            self.reasoning.add(self.answer.take_text())
            self.reasoning_chars += self.answer_chars
            self.answer_chars = 0
        elif isinstance(event, ToolCallDelta):
            if event.name and event.index >= len(self.tool_names):
                self.tool_names.append(event.name)
            elif not self.tool_names:
                self.tool_names.append("?")
        elif isinstance(event, UsageEvent):
            tokens = event.usage.get("completion_tokens")
            self.completion_tokens = tokens if isinstance(tokens, int) else None
        elif isinstance(event, ErrorEvent):
            self.error = event.message
        elif isinstance(event, FinishEvent):
            self.finished = True
        else:
            return False
        return True

    @property
    def phase(self) -> str:
        if self.tool_names:
            return "tool_calls"
        if self.answer_chars:
            return "answering"
        if self.reasoning_chars:
            return "thinking"
        return "waiting"

    @property
    def text_size(self) -> int:
        return self.reasoning_chars + self.answer_chars

    @property
    def final_estimate(self) -> float:
        """About the bytes the final output will take for what arrived so far: the
        reasoning twice (escaped HTML, a markdown fence), the answer's markdown and plain
        copies and its rendered HTML (measured for the blocks rendered so far)."""
        pending_html = 1.5 * self.answer.growing_size
        return (
            2.0 * self.reasoning_chars
            + 2.1 * self.answer_chars
            + self.answer.html_bytes
            + pending_html
        )

    # ------------------------------------------------------------------ output
    def status(self, elapsed: float, *, interrupted: bool = False) -> str:
        if self.completion_tokens is not None:
            tokens = f"{self.completion_tokens:,} tokens"
        else:
            est = _estimate_tokens(self.reasoning_chars) + _estimate_tokens(self.answer_chars)
            tokens = f"≈{est:,} tokens"
        parts = [_PHASES.get(self.phase, self.phase), tokens, f"{elapsed:.1f} s"]
        if self.round > 1:
            parts.append(f"round {self.round}")
        if self.tool_names:
            names = ", ".join(_oneline(n, 40) for n in self.tool_names[:5])
            parts.append(names + (", …" if len(self.tool_names) > 5 else ""))
        if interrupted:
            parts.append("interrupted")
        elif self.error:
            parts.append(f"⚠ {_oneline(self.error, 200)}")
        if self.offline:
            parts.append("offline emulator, not DeepSeek R1")
        return " · ".join(parts)

    def frame(self, elapsed: float, *, interrupted: bool = False) -> dict[str, str]:
        """The live frame: ``text/html`` only. Every byte of a frame is sent again at each
        update, and a frontend that shows only text never shows a live frame anyway (the
        terminal has its own view, :class:`.notebook._live.TerminalView`); the final frame carries
        ``text/plain``.

        Attributes are single-quoted or bare: a frame travels as JSON, where each double
        quote would cost a backslash. Everything but the answer's completed blocks carries
        the classes MathJax skips (the whole frame while there is no answer); the window
        is small, so few formulas are typeset again at each frame.
        """
        status = self.status(elapsed, interrupted=interrupted)
        html: list[str] = []
        if self.offline:
            html.append(f"<div class=dsm-offline>{escape(OFFLINE_NOTE)}</div>")
        answering = bool(self.answer_chars)
        # The status line first, as the README says (phase, tokens, seconds; then the
        # reasoning's tail, then the answer): its own words are fixed text; a tool's name
        # or an error may be model text.
        quoting = answering and (self.tool_names or self.error)
        status_class = f"'dsm-status {_IGN}'" if quoting else "dsm-status"
        html.append(f"<div class={status_class}><small>{_text(status)}</small></div>")
        if self.answer_chars:
            # Where the final view has its two summary lines (the reasoning, collapsed,
            # and "Answer"), then the answer's last blocks.
            header = "▾ Answer"
            if self.reasoning_chars:
                tokens = f"≈{_estimate_tokens(self.reasoning_chars):,} tokens"
                header = f"▸ Reasoning · {tokens}<br>{header}"
            html.append(
                f"<div class=dsm-answer-tail><div class=dsm-head>{header}</div>"
                f"<div class=dsm-answer-body>"
                f"{self.answer.html()}</div></div>"
            )
        elif self.reasoning_chars:
            tail = self.reasoning.value()
            cut = "…" if self.reasoning_chars > len(tail) else ""
            # The box shows its last lines: text before the last REASONING_LINES line
            # breaks is above its top, never seen, so it is not sent.
            hidden = _visible_from(tail, REASONING_LINES)
            if hidden:
                tail, cut = tail[hidden:], ""
            html.append(
                "<div class=dsm-head>▾ Reasoning</div><div class=dsm-reasoning-tail>"
                f"<div>{cut}{_text(tail)}</div></div>"
            )
        # While answering, MathJax typesets the completed blocks in the window (each once
        # whole: the growing block is skipped); before, nothing in the frame is math.
        root_class = "dsm-live" if answering else f"'dsm-live {_IGN}'"
        root = f"<div class={root_class}>{''.join(html)}</div>"
        return {"text/html": scrub(root)}


def render_live(result: Result, *, elapsed: float) -> dict[str, str]:
    """The view while streaming, for a snapshot ``result`` (the live view itself builds
    the same frame from the events, :class:`LiveState`): the reasoning's last lines
    (while thinking) or its one-line summary, the answer rendered block by block with the
    final view's safe renderer (the last blocks only), and a status line.

    Bounded in size whatever the reply's length; the block still growing is marked for
    MathJax to skip, so half-streamed math is never typeset.
    """
    state = LiveState(offline=result.offline)
    state.round = len(result.rounds) + 1
    if result.reasoning:
        state.add(ReasoningDelta(result.reasoning))
    if result.answer:
        state.add(ContentDelta(result.answer))
    for i, call in enumerate(result.tool_calls):
        state.add(ToolCallDelta(index=i, name=call.name or "?"))
    state.completion_tokens = result.usage.completion_tokens
    state.error = result.error
    return state.frame(elapsed, interrupted=result.interrupted)
