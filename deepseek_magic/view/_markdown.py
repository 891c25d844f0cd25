"""Safe markdown + math for untrusted model text: one parse, two outputs.

:func:`render_markdown` parses the model's markdown once (markdown-it-py,
``commonmark`` + tables + strikethrough, raw HTML off, linkify off) and gives

* HTML for the ``text/html`` bundle (:func:`markdown_to_html`), and
* markdown for the ``text/markdown`` bundle (:func:`markdown_to_markdown`),
  re-serialised from the same tokens so it carries only what the HTML carries.

Model output is untrusted: it must never become live HTML. The rules:

* Raw HTML in the model's text is escaped (``html=False``).
* Links pass :func:`is_safe_url` (only http, https, mailto or scheme-less URLs,
  checked after decoding entities and percent escapes and dropping the blanks and
  control characters browsers ignore) and get ``rel="noopener noreferrer nofollow"``
  and ``target="_blank"``. Images never load: ``![alt](src)`` becomes a link
  "[image: alt]" (no tracking pixels, no ``onerror`` tricks).
* Math (``$...$``, ``$$...$$``, ``\\(...\\)``, ``\\[...\\]``) is found by a markdown-it
  rule, so math inside code is never touched, and is emitted WITH its delimiters
  (MathJax in JupyterLab ignores delimiter-less math) and HTML-escaped
  (``$a<b$`` is text, not a tag). ``$`` follows pandoc's rule: the opening ``$``
  is not followed by a blank, the closing one is not preceded by a blank nor
  followed by a digit, so "costs $5 and $6" is not math.
* Every ``$`` and ``\\`` that is *text* is wrapped in
  ``<span class="tex2jax_ignore mathjax_ignore">``. MathJax, which JupyterLab runs
  over every HTML and markdown output, pairs any two dollars it sees in the
  browser ("$5 and $6" would typeset "5 and "); an HTML entity does not help
  because MathJax reads the decoded text. Elements with those classes are skipped
  by MathJax 3 (``mathjax_ignore``, JupyterLab 4) and MathJax 2
  (``tex2jax_ignore``, nbconvert's HTML), and in MathJax 3 an element boundary
  also ends the text it searches, so a wrapped dollar can neither open nor close
  math.

The markdown output has one more reader: JupyterLab's ``removeMath`` (rendermime
``latex.ts``), which lifts ``$``-delimited spans out of markdown before parsing it.
So in ``text/markdown`` text dollars and backslashes are entities inside that
span (no raw ``$`` or ``\\`` outside math and code), math uses ``$`` delimiters
and is kept only when ``removeMath`` would lift exactly that span, and code
nested in lists or quotes (which ``removeMath`` does not protect) is written as an
escaped ``<pre><code>`` block.
"""

from __future__ import annotations

import html
import re
from bisect import bisect_left
from collections.abc import Callable, Iterator, Sequence
from functools import lru_cache
from typing import Any
from urllib.parse import unquote

from markdown_it import MarkdownIt
from markdown_it.rules_block import StateBlock
from markdown_it.rules_inline import StateInline
from markdown_it.token import Token
from markdown_it.tree import SyntaxTreeNode

from ._style import IGNORE_MATH_CLASS

__all__ = [
    "IGNORE_MATH_CLASS",
    "escape",
    "escape_text",
    "is_safe_url",
    "markdown_to_html",
    "markdown_to_markdown",
    "render_markdown",
]


_LINK_ATTRS = 'rel="noopener noreferrer nofollow" target="_blank"'


# ---------------------------------------------------------------- escaping
def escape(text: str) -> str:
    """HTML-escape ``text`` for element content and quoted attribute values."""
    return html.escape(text, quote=True)


_TEX_CHARS = re.compile(r"[$\\]+")


def escape_text(text: str) -> str:
    """Escape model *text* (not math, not code) for HTML: ``$`` and ``\\`` go inside
    an element MathJax skips, so they cannot open or close math in the browser."""
    return _TEX_CHARS.sub(
        lambda m: f'<span class="{IGNORE_MATH_CLASS}">{m.group(0)}</span>', escape(text)
    )


# ---------------------------------------------------------------- links
_SAFE_SCHEMES = frozenset({"http", "https", "mailto"})
_SCHEME = re.compile(r"([a-z][a-z0-9+.\-]*):")
# What browsers drop from or ignore in a URL, plus invisible Unicode blanks: removing
# them before looking for a scheme errs towards refusing (``java\tscript:``).
_URL_BLANKS = re.compile(
    "[\x00-\x20\x7f-\xa0\u1680\u180e\u2000-\u200f\u2028-\u202f\u205f-\u2064\u3000\ufeff]+"
)


def is_safe_url(url: str) -> bool:
    """True for links we let through: http, https, mailto, or no scheme at all.

    An allowlist, not a blocklist: ``javascript:``, ``vbscript:``, ``data:``,
    ``file:`` and anything exotic are refused, in any case, with entities
    (``&#106;``), percent escapes or blanks/control characters inside.
    """
    candidate = url
    for _ in range(3):  # undo nested encodings (``&amp;#106;``, ``%2526``) a few levels deep
        candidate = unquote(html.unescape(candidate))
    candidate = _URL_BLANKS.sub("", candidate).lower()
    match = _SCHEME.match(candidate)
    return match is None or match.group(1) in _SAFE_SCHEMES


# ---------------------------------------------------------------- math
def _unescaped(src: str, index: int) -> bool:
    """True when ``src[index]`` is not preceded by an odd number of backslashes."""
    count = 0
    while index - count - 1 >= 0 and src[index - count - 1] == "\\":
        count += 1
    return count % 2 == 0


def _closer_positions(src: str, closer: str) -> list[int]:
    """Sorted positions where ``closer`` can end math in ``src``."""
    found = [m.start() for m in re.finditer(re.escape(closer), src) if _unescaped(src, m.start())]
    if closer == "$":  # pandoc: not after a blank, not before a digit
        found = [
            i
            for i in found
            if i > 0
            and not src[i - 1].isspace()
            and not (i + 1 < len(src) and src[i + 1].isdigit())
        ]
    return found


def _next_closer(state: StateInline, closer: str, start: int) -> int | None:
    """First closer at or after ``start`` (and before ``posMax``).

    The closer positions of one inline text are computed once per parse and
    searched by bisection, so a paragraph of many unmatched ``$`` stays linear.
    """
    cache: dict[tuple[str, str], list[int]] = state.env.setdefault("dsm_math_closers", {})
    key = (closer, state.src)
    if key not in cache:
        cache[key] = _closer_positions(state.src, closer)
    positions = cache[key]
    i = bisect_left(positions, start)
    if i < len(positions) and positions[i] < state.posMax:
        return positions[i]
    return None


_TEX_LINK = re.compile(r"\\(?:href|url)\b")
_BAD_SCHEME_IN_TEX = re.compile(r"(?:javascript|vbscript|data|file):")


def _tex_is_safe(tex: str) -> bool:
    """Refuse TeX whose ``\\href``/``\\url`` could point at a script (MathJax makes
    links of them; JupyterLab's MathJax filters them, nbconvert's may not)."""
    if not _TEX_LINK.search(tex):
        return True
    flat = _URL_BLANKS.sub("", html.unescape(tex)).replace("{", "").replace("}", "").lower()
    return not _BAD_SCHEME_IN_TEX.search(flat)


def _math_inline_rule(state: StateInline, silent: bool) -> bool:
    """``$...$``, ``$$...$$``, ``\\(...\\)``, ``\\[...\\]`` inside a paragraph."""
    src, pos, end = state.src, state.pos, state.posMax
    if src[pos] == "$":
        if src.startswith("$$", pos):
            opener = closer = "$$"
        elif pos + 1 < end and not src[pos + 1].isspace():
            opener = closer = "$"
        else:
            return False
    elif src[pos] == "\\" and src[pos + 1 : pos + 2] in ("(", "["):
        opener = src[pos : pos + 2]
        closer = "\\)" if opener == "\\(" else "\\]"
    else:
        return False
    start = pos + len(opener)
    close_at = _next_closer(state, closer, start)
    if close_at is None:
        return False
    content = src[start:close_at]
    if not content.strip() or not _tex_is_safe(content):
        return False
    if not silent:
        token = state.push("math_inline", "math", 0)
        token.content, token.markup, token.info = content, opener, closer
    state.pos = close_at + len(closer)
    return True


def _find_closer_in_line(text: str, closer: str, start: int = 0) -> int:
    """Index of the first unescaped ``closer`` in ``text`` from ``start``, or -1."""
    i = text.find(closer, start)
    while i != -1 and not _unescaped(text, i):
        i = text.find(closer, i + 1)
    return i


def _math_block_rule(state: StateBlock, start_line: int, end_line: int, silent: bool) -> bool:
    """Display math opening a line (``$$`` or ``\\[``) up to the line that closes it.

    Needed so that lines inside display math that look like markdown (``- x``,
    ``# y``, ``===``) are not parsed as lists or headings. A blank line before
    the closer means "not math": the lines are left to the paragraph rule.
    """
    if state.is_code_block(start_line):
        return False
    first = state.src[
        state.bMarks[start_line] + state.tShift[start_line] : state.eMarks[start_line]
    ]
    if first.startswith("$$"):
        opener, closer = "$$", "$$"
    elif first.startswith("\\["):
        opener, closer = "\\[", "\\]"
    else:
        return False
    lines = [first[len(opener) :]]
    line = start_line
    while True:
        at = _find_closer_in_line(lines[-1], closer)
        if at != -1:
            if lines[-1][at + len(closer) :].strip():
                return False  # text after the closer: an inline span, not a block
            lines[-1] = lines[-1][:at]
            break
        line += 1
        if line >= end_line or state.isEmpty(line) or state.sCount[line] < state.blkIndent:
            return False
        lines.append(state.src[state.bMarks[line] + state.tShift[line] : state.eMarks[line]])
    content = "\n".join(lines)
    if not content.strip() or not _tex_is_safe(content):
        return False
    if silent:
        return True
    state.line = line + 1
    token = state.push("math_block", "math", 0)
    token.block = True
    token.content, token.markup, token.info = content, opener, closer
    token.map = [start_line, state.line]
    return True


# ---------------------------------------------------------------- HTML rules
_Rule = Callable[..., str]


def _render_text(self: Any, tokens: Sequence[Token], idx: int, options: Any, env: Any) -> str:
    return escape_text(tokens[idx].content)


def _render_math_inline(
    self: Any, tokens: Sequence[Token], idx: int, options: Any, env: Any
) -> str:
    token = tokens[idx]
    return f'<span class="dsm-math">{escape(token.markup + token.content + token.info)}</span>'


def _render_math_block(self: Any, tokens: Sequence[Token], idx: int, options: Any, env: Any) -> str:
    token = tokens[idx]
    tex = escape(token.markup + token.content + token.info)
    return f'<div class="dsm-math dsm-math-display">{tex}</div>\n'


def _render_link_open(self: Any, tokens: Sequence[Token], idx: int, options: Any, env: Any) -> str:
    token = tokens[idx]
    if not is_safe_url(str(token.attrGet("href") or "")):  # validateLink already refused these
        token.attrs.pop("href", None)
    token.attrSet("rel", "noopener noreferrer nofollow")
    token.attrSet("target", "_blank")
    return str(self.renderToken(tokens, idx, options, env))


def _inside_link(tokens: Sequence[Token], idx: int) -> bool:
    """True when ``tokens[idx]`` sits between a ``link_open`` and its ``link_close``."""
    depth = 0
    for token in tokens[:idx]:
        depth += {"link_open": 1, "link_close": -1}.get(token.type, 0)
    return depth > 0


def _render_image(self: Any, tokens: Sequence[Token], idx: int, options: Any, env: Any) -> str:
    """An image becomes a link to it (or just its alt text): nothing loads by itself."""
    token = tokens[idx]
    alt = self.renderInlineAsText(token.children or [], options, env)
    label = f"[image: {escape_text(alt)}]" if alt else "[image]"
    src = str(token.attrGet("src") or "")
    if not src or not is_safe_url(src) or _inside_link(tokens, idx):
        return f'<span class="dsm-image">{label}</span>'
    return f'<a class="dsm-image" href="{escape(src)}" {_LINK_ATTRS}>{label}</a>'


@lru_cache(maxsize=1)
def _parser() -> MarkdownIt:
    """The one configured parser (built on first use, not at import)."""
    md = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False})
    md.enable(["table", "strikethrough"])
    md.validateLink = is_safe_url  # type: ignore[method-assign]
    md.inline.ruler.before("escape", "math_inline", _math_inline_rule)
    md.block.ruler.before(
        "fence",
        "math_block",
        _math_block_rule,
        {"alt": ["paragraph", "reference", "blockquote", "list"]},
    )
    rules: dict[str, _Rule] = {
        "text": _render_text,
        "math_inline": _render_math_inline,
        "math_block": _render_math_block,
        "link_open": _render_link_open,
        "image": _render_image,
    }
    for name, rule in rules.items():
        md.add_render_rule(name, rule)
    return md


def _parse(text: str) -> tuple[list[Token], dict[str, Any]]:
    env: dict[str, Any] = {}
    return _parser().parse(text, env), env


def markdown_to_html(text: str) -> str:
    """Render untrusted markdown to inert HTML, math kept with its delimiters."""
    tokens, env = _parse(text)
    md = _parser()
    return str(md.renderer.render(tokens, md.options, env))


def markdown_to_markdown(text: str) -> str:
    """Re-serialise untrusted markdown so that it is inert even where raw HTML renders."""
    tokens, _ = _parse(text)
    return _Markdown().document(tokens)


def render_markdown(text: str) -> tuple[str, str]:
    """``(html, markdown)`` from ONE parse of ``text`` (the final view needs both).

    A long text is rendered a few top-level blocks at a time (:func:`_sections`), so the
    token trees in memory at once stay small: markdown-it's tree of a whole 60k-token
    answer took ~30x the answer's size. The blocks are cut where markdown-it itself ends
    a top-level block, so nothing renders differently."""
    html: list[str] = []
    markdown: list[str] = []
    for section in _sections(text):
        tokens, env = _parse(section)
        md = _parser()
        # the markdown before rendering: the HTML rules add attributes
        markdown.append(_Markdown().document(tokens))
        html.append(str(md.renderer.render(tokens, md.options, env)))
        del tokens
    return "".join(html), "\n\n".join(m for m in markdown if m)


#: source characters rendered at once (a section is whole top-level blocks)
SECTION_CHARS = 800
#: a link reference definition: its label may be used in any block, so such a text is
#: rendered whole
_REFERENCE = re.compile(r"^ {0,3}\[[^\]\n]+\]:", re.M)


_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
#: a line after a blank line that may continue the block before it: indented (a list
#: item's next paragraph, indented code), a list item (a loose list), a table row
_CONTINUES = re.compile(r"^(?:\s|[-*+](?:\s|$)|\d{1,9}[.)](?:\s|$)|\|)")


def _sections(text: str) -> Iterator[str]:
    """``text`` cut at blank lines that end a top-level block for certain (outside fences
    and display math, before a line that cannot continue a list, a table or indented
    code) into pieces of about :data:`SECTION_CHARS`; one piece when it is short or
    defines link references. A line scanner, one section at a time: parsing the whole
    text to find the blocks would cost what the sections save."""
    if len(text) <= SECTION_CHARS or _REFERENCE.search(text):
        yield text
        return
    first, fence, math, blank_at = 0, "", False, -1
    for match in _LINE.finditer(text):
        line, at = match.group(), match.start()
        if not line:
            break
        if blank_at >= 0:  # the line after a blank one: cut before it?
            if line.strip() and not _CONTINUES.match(line) and at - first >= SECTION_CHARS:
                yield text[first:at]
                first = at
            blank_at = -1
        opened = _FENCE.match(line)
        if fence:
            if opened and opened.group(1)[0] == fence[0] and len(opened.group(1)) >= len(fence):
                if not line.strip().strip(fence[0]):
                    fence = ""
            continue
        if opened:
            fence = opened.group(1)
            continue
        math ^= (line.count("$$") % 2 == 1) ^ (line.count("\\[") != line.count("\\]"))
        if not math and not line.strip():
            blank_at = at
    if text[first:].strip() or first == 0:
        yield text[first:]


_LINE = re.compile(r"[^\n]*\n?")


# ---------------------------------------------------------------- markdown output
# JupyterLab's removeMath tokenizer (rendermime/src/latex.ts, MATHSPLIT).
_JUPYTER_MATH_SPLIT = re.compile(
    r"(\$\$?|\\(?:begin|end)\{[a-z]*\*?\}|\\[{}$]|[{}]|(?:\n\s*)+|@@\d+@@|\\\\(?:\(|\)|\[|\]))",
    re.IGNORECASE,
)


def _jupyter_lifts_whole(math: str, delimiter: str) -> bool:
    """True when JupyterLab's ``removeMath`` would lift exactly ``math`` (which starts
    and ends with ``delimiter``) as one span: no inner delimiter, balanced braces."""
    parts = _JUPYTER_MATH_SPLIT.split(math)
    if parts[0] or len(parts) < 5 or parts[1] != delimiter or parts[-1]:
        return False
    braces = 0
    for i in range(3, len(parts), 2):
        token = parts[i]
        if token == delimiter:
            return i == len(parts) - 2 and braces == 0
        if token.count("\n") >= 2:
            return False
        if token == "{":
            braces += 1
        elif token == "}" and braces:
            braces -= 1
    return False


# One pass over text: runs of "$"/"\\" (span of entities), markdown punctuation
# (backslash), HTML specials (entity). One pass, so no escape is escaped again.
_MD_SPECIAL = re.compile(r"([$\\]+)|([`*_\[\]|~#])|([&<>])")
_MD_LINE_START = re.compile(r"^(?:[-+=]|\d+(?=[.)]))")
_NOT_PLAIN = re.compile(r"[^0-9A-Za-z ,.:;!?/=+%@-]")
_CODE_SPECIAL = re.compile(r"[&<>$\\`]")
_LANG = re.compile(r"[^0-9A-Za-z_+#.-]")


def _entities(text: str, chars: re.Pattern[str] = _NOT_PLAIN) -> str:
    """Numeric character references for the ``chars`` found in ``text``."""
    return chars.sub(lambda m: f"&#{ord(m.group(0))};", text)


def _md_special(match: re.Match[str]) -> str:
    tex, punct, special = match.groups()
    if tex:
        return f'<span class="{IGNORE_MATH_CLASS}">{_entities(tex)}</span>'
    if punct:
        return "\\" + punct
    return {"&": "&amp;", "<": "&lt;", ">": "&gt;"}[special]


def _md_text(text: str, line_start: bool) -> str:
    """Markdown-escape plain text: no markup, no raw ``<``/``&``, no raw ``$``/``\\``."""
    out = _MD_SPECIAL.sub(_md_special, text.replace("\n", " "))
    if out.endswith("!"):
        # "!" right before a link we write next would turn it into an image: "\!" is
        # still "!" to every markdown renderer. (Found by the fuzz test.)
        out = out[:-1] + "\\!"
    if line_start:  # list markers and setext underlines (">" is already &gt;)
        match = _MD_LINE_START.match(out)
        if match:
            end = match.end()
            out = "\\" + out if not out[0].isdigit() else out[:end] + "\\" + out[end:]
    return out


def _fence(code: str, info: str = "") -> str:
    """A backtick fence longer than any backtick run inside ``code``."""
    longest = max((len(run) for run in re.findall(r"`+", code)), default=0)
    fence = "`" * max(3, longest + 1)
    body = code if code.endswith("\n") or not code else code + "\n"
    return f"{fence}{_LANG.sub('', info)}\n{body}{fence}"


def _code_span(code: str, in_table: bool) -> str:
    """Inline code for text/markdown, as an HTML ``<code>`` element with every special
    character an entity.

    A markdown code span would be inert for a CommonMark renderer, but JupyterLab first
    runs ``removeMath`` over the text, which pairs ``$`` across backticks and can cut a
    code span open, turning the ``<img ...>`` inside it into live HTML (found by the fuzz
    test). Entities survive that: no raw ``<``, backtick or ``$`` of the model is left.
    Markdown punctuation is an entity too (``[``, ``(``, ``*`` ...): text between inline
    HTML tags is still parsed as markdown, and ``[x](javascript:...)`` would become a link.
    """
    del in_table  # "|" is an entity as well, so table cells are safe too
    return f"<code>{_entities(code, _NOT_PLAIN)}</code>"


def _destination(href: str) -> str:
    """A link destination that parses back to ``href`` and carries no raw ``$``."""
    href = href.replace("$", "%24").replace(" ", "%20")
    return re.sub(r"[()<>&`\\]", lambda m: "\\" + m.group(0), href)


def _tex_for_markdown(tex: str, inline: bool) -> str:
    """TeX that stays inert for markdown renderers that do not know math."""
    tex = re.sub(r"<(?=[A-Za-z/!?])", "< ", tex)  # "< b" cannot open a tag
    tex = tex.replace("](", "] (")  # cannot become a link
    # An inline span's continuation lines are indented so they cannot start a block.
    return tex.replace("\n", "\n    ") if inline else tex


class _Markdown:
    """Serialise markdown-it tokens back to (inert) markdown."""

    def __init__(self) -> None:
        self.in_link = False  # an image inside a link is written as its label only

    def document(self, tokens: list[Token]) -> str:
        return self.blocks(SyntaxTreeNode(tokens).children, nested=False)

    # ---- blocks
    def blocks(self, nodes: Sequence[SyntaxTreeNode], nested: bool, tight: bool = False) -> str:
        parts = [self.block(node, nested) for node in nodes]
        return ("\n" if tight else "\n\n").join(p for p in parts if p)

    def block(self, node: SyntaxTreeNode, nested: bool) -> str:
        kind = node.type
        if kind == "paragraph":
            return self.inline(node.children[0]) if node.children else ""
        if kind == "heading":
            level = int(node.tag[1])
            content = self.inline(node.children[0], flat=True) if node.children else ""
            return f"{'#' * level} {content}".rstrip()
        if kind == "blockquote":
            inner = self.blocks(node.children, nested=True)
            return "\n".join(f"> {line}" if line else ">" for line in inner.split("\n"))
        if kind in ("bullet_list", "ordered_list"):
            return self.list(node)
        if kind in ("fence", "code_block"):
            return self.code(
                node.content, node.info.split()[0] if node.info.split() else "", nested
            )
        if kind == "hr":
            return "***"  # "---" under a paragraph line would make it a heading
        if kind == "table":
            return self.table(node)
        if kind == "math_block":
            return self.math(node.content, display=True, nested=nested)
        # Anything else (html_block cannot occur with html=False): its text, escaped.
        return _md_text(node.content, line_start=True)

    def code(self, code: str, lang: str, nested: bool) -> str:
        if not nested:
            return _fence(code, lang)
        # removeMath only protects column-0 fences: nested code goes in as escaped HTML.
        cls = f' class="language-{_LANG.sub("", lang)}"' if _LANG.sub("", lang) else ""
        return f"<pre><code{cls}>{_entities(code, _CODE_SPECIAL)}</code></pre>"

    def list(self, node: SyntaxTreeNode) -> str:
        ordered = node.type == "ordered_list"
        start = node.attrGet("start")
        number = int(start) if ordered and start is not None else 1
        tight = any(
            child.type == "paragraph" and child.hidden
            for item in node.children
            for child in item.children
        )
        items = []
        for item in node.children:
            marker = f"{number}. " if ordered else "- "
            number += 1
            inner = self.blocks(item.children, nested=True, tight=tight)
            pad = " " * len(marker)
            lines = inner.split("\n")
            rest = [f"{pad}{line}" if line else "" for line in lines[1:]]
            items.append("\n".join([(marker + lines[0]).rstrip(), *rest]))
        return ("\n" if tight else "\n\n").join(items)

    def table(self, node: SyntaxTreeNode) -> str:
        rows: list[list[str]] = []
        aligns: list[str] = []
        for section in node.children:
            for tr in section.children:
                rows.append(
                    [
                        self.inline(c.children[0], flat=True, in_table=True) if c.children else ""
                        for c in tr.children
                    ]
                )
                if not aligns:
                    aligns = [str(c.attrGet("style") or "") for c in tr.children]
        rule = {"text-align:left": ":--", "text-align:right": "--:", "text-align:center": ":-:"}
        lines = [
            "| " + " | ".join(rows[0]) + " |",
            "| " + " | ".join(rule.get(a, "---") for a in aligns) + " |",
        ]
        lines += ["| " + " | ".join(row) + " |" for row in rows[1:]]
        return "\n".join(lines)

    def math(self, tex: str, display: bool, *, in_table: bool = False, nested: bool = False) -> str:
        """Math with ``$`` delimiters (what every markdown renderer with math knows),
        or, when that would be ambiguous for JupyterLab, the TeX as code."""
        if in_table:  # a "|" would split the cell before any math parser sees it
            tex = tex.replace("\\|", "\\Vert{}").replace("|", "\\vert{}")
        if display:
            text = "$$\n" + _tex_for_markdown(tex.strip("\n"), inline=False) + "\n$$"
            delimiter = "$$"
        else:
            text = "$" + _tex_for_markdown(tex.strip(), inline=True) + "$"
            delimiter = "$"
        if "`" not in tex and _jupyter_lifts_whole(text, delimiter):
            return text
        source = f"{delimiter}{tex}{delimiter}"
        if display:
            return self.code(source, "latex", nested)
        return _code_span(source.replace("\n", " "), in_table)

    # ---- inline
    def inline(self, node: SyntaxTreeNode, flat: bool = False, in_table: bool = False) -> str:
        """``flat``: one line (headings, table cells)."""
        out: list[str] = []
        line_start = True
        for child in node.children:
            kind = child.type
            if kind in ("softbreak", "hardbreak"):
                out.append(" " if flat else ("\n" if kind == "softbreak" else "\\\n"))
                line_start = not flat
                continue
            out.append(self.inline_one(child, flat, in_table, line_start))
            line_start = False
        return "".join(out)

    def inline_one(self, node: SyntaxTreeNode, flat: bool, in_table: bool, line_start: bool) -> str:
        kind = node.type
        if kind == "text":
            return _md_text(node.content, line_start and not in_table)
        if kind == "code_inline":
            return _code_span(node.content, in_table)
        if kind == "math_inline":
            return self.math(node.content, display=False, in_table=in_table)
        if kind in ("em", "strong", "s"):
            mark = {"em": "*", "strong": "**", "s": "~~"}[kind]
            return mark + self.inline(node, flat, in_table) + mark
        if kind == "link":
            href = str(node.attrGet("href") or "")
            title = node.attrGet("title")
            title_part = f' "{_entities(str(title))}"' if title else ""
            self.in_link = True
            try:
                text = self.inline(node, True, in_table)
            finally:
                self.in_link = False
            if not is_safe_url(href):
                return text
            return f"[{text}]({_destination(href)}{title_part})"
        if kind == "image":
            alt = "".join(
                c.content
                for c in node.walk(include_self=False)
                if c.type in ("text", "code_inline", "math_inline")
            )
            src = str(node.attrGet("src") or "")
            label = f"\\[image: {_md_text(alt, False)}\\]" if alt else "\\[image\\]"
            if self.in_link or not src or not is_safe_url(src):
                return label
            return f"[{label}]({_destination(src)})"
        return _md_text(node.content, line_start)


_SURROGATES = re.compile("[\ud800-\udfff]")


def scrub(text: str) -> str:
    """Replace lone surrogates (a JSON ``\\ud800`` from a server) that cannot be encoded."""
    return _SURROGATES.sub("\ufffd", text)
