"""Checks that rendered model output is inert, and the hostile corpus they run on.

Every ``text/html`` is parsed with ``html.parser``; every ``text/markdown`` is rendered
twice the way a notebook would: with markdown-it and raw HTML on (links not validated,
as marked does), and after a port of JupyterLab's ``removeMath`` (which lifts ``$...$``
out of markdown before parsing it). Used by test_render.py and test_fuzz.py.
"""

from __future__ import annotations

import html as html_lib
import re
from html.parser import HTMLParser

from markdown_it import MarkdownIt

from deepseek_magic.view._markdown import IGNORE_MATH_CLASS

IGNORE_SPAN = f'<span class="{IGNORE_MATH_CLASS}">'


# ====================================================================== an HTML tree
VOID = {
    "area",
    "base",
    "br",
    "col",
    "embed",
    "hr",
    "img",
    "input",
    "link",
    "meta",
    "source",
    "track",
    "wbr",
}


class Node:
    def __init__(self, tag: str, attrs: list[tuple[str, str | None]], parent: Node | None) -> None:
        self.tag, self.attrs, self.parent = tag, attrs, parent
        self.children: list[Node | str] = []

    @property
    def classes(self) -> set[str]:
        return set((dict(self.attrs).get("class") or "").split())

    def text(self) -> str:
        return "".join(c if isinstance(c, str) else c.text() for c in self.children)

    def walk(self) -> list[Node]:
        out = [self]
        for c in self.children:
            if isinstance(c, Node):
                out.extend(c.walk())
        return out

    def find(self, cls: str) -> list[Node]:
        return [n for n in self.walk() if cls in n.classes]


class Tree(HTMLParser):
    """A forgiving DOM: enough to find elements, attributes, and text."""

    def __init__(self, source: str) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Node("#root", [], None)
        self.current = self.root
        self.elements: list[Node] = []
        self.markup_declarations: list[str] = []  # comments, <!doctype>, <?pi>
        self.feed(source)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        node = Node(tag, attrs, self.current)
        self.current.children.append(node)
        self.elements.append(node)
        if tag not in VOID:
            self.current = node

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        node = Node(tag, attrs, self.current)
        self.current.children.append(node)
        self.elements.append(node)

    def handle_endtag(self, tag: str) -> None:
        node: Node | None = self.current
        while node is not None and node.tag != tag:
            node = node.parent
        if node is not None and node.parent is not None:
            self.current = node.parent

    def handle_data(self, data: str) -> None:
        self.current.children.append(data)

    def handle_comment(self, data: str) -> None:
        self.markup_declarations.append(f"<!--{data}-->")

    def handle_decl(self, decl: str) -> None:
        self.markup_declarations.append(decl)

    def handle_pi(self, data: str) -> None:
        self.markup_declarations.append(data)


# ====================================================================== the safety check
FORBIDDEN_TAGS = {
    "script",
    "iframe",
    "object",
    "embed",
    "style",
    "base",
    "meta",
    "form",
    "img",
    "svg",
}
ALLOWED_TAGS = {
    "a", "blockquote", "br", "code", "del", "details", "div", "em", "h1", "h2", "h3", "h4",
    "h5", "h6", "hr", "li", "ol", "p", "pre", "s", "small", "span", "strong", "summary",
    "table", "tbody", "td", "th", "thead", "tr", "ul",
}  # fmt: skip
ALLOWED_ATTRS = {"class", "style", "href", "rel", "target", "open", "title", "start"}
URL_ATTRS = {"href", "src", "action", "formaction", "xlink:href", "data", "background", "poster"}
_BLANKS = re.compile(r"[\x00-\x20\x7f-\xa0\u200b-\u200f\u2028\u2029\ufeff]+")


def url_scheme(value: str) -> str | None:
    """The scheme a browser would see (entities already decoded by the parser)."""
    cleaned = _BLANKS.sub("", html_lib.unescape(value)).lower()
    match = re.match(r"([a-z][a-z0-9+.\-]*):", cleaned)
    return match.group(1) if match else None


def assert_inert(source: str, where: str = "") -> None:
    tree = Tree(source)
    for node in tree.elements:
        assert node.tag not in FORBIDDEN_TAGS, (where, node.tag, source)
        assert node.tag in ALLOWED_TAGS, (where, node.tag, source)
        for name, value in node.attrs:
            assert not name.startswith("on"), (where, name, source)
            assert name in ALLOWED_ATTRS, (where, name, source)
            if name in URL_ATTRS and value:
                assert url_scheme(value) not in {"javascript", "vbscript", "data", "file"}, (
                    where,
                    value,
                )
                assert url_scheme(value) in {None, "http", "https", "mailto"}, (where, value)
            if name == "style" and value:
                assert not re.search(
                    r"url\(|expression|javascript|@import", value, re.IGNORECASE
                ), (where, value)
    assert not tree.markup_declarations, (where, tree.markup_declarations, source)


def mathjax_strings(source: str) -> list[str]:
    """Text MathJax 3 would search: not inside ignored classes, pre or code. Math
    spans we emitted are returned separately by :func:`math_spans`."""
    out: list[str] = []

    def visit(node: Node) -> None:
        if (
            node.tag in {"pre", "code"}
            or {"tex2jax_ignore", "mathjax_ignore", "dsm-math"} & node.classes
        ):
            return
        for child in node.children:
            if isinstance(child, str):
                out.append(child)
            else:
                visit(child)

    visit(Tree(source).root)
    return out


def math_spans(source: str) -> list[str]:
    return [n.text() for n in Tree(source).root.find("dsm-math")]


def assert_mathjax_sees_only_our_math(source: str) -> None:
    for text in mathjax_strings(source):
        assert "$" not in text and "\\" not in text, (text, source)
    for tex in math_spans(source):
        assert re.fullmatch(r"(\$\$?|\\\(|\\\[)[\s\S]+(\$\$?|\\\)|\\\])", tex), tex


# ---------------------------------------------------------------- markdown as notebooks render it
def _permissive_markdown_it() -> MarkdownIt:
    md = MarkdownIt("commonmark", {"html": True}).enable(["table", "strikethrough"])
    md.validateLink = lambda url: True  # type: ignore[method-assign]  # marked does not validate
    return md


MD_WITH_HTML = _permissive_markdown_it()

# JupyterLab 4, packages/rendermime/src/latex.ts: removeMath / replaceMath, ported.
_MATHSPLIT = re.compile(
    r"(\$\$?|\\(?:begin|end)\{[a-z]*\*?\}|\\[{}$]|[{}]|(?:\n\s*)+|@@\d+@@|\\\\(?:\(|\)|\[|\]))",
    re.IGNORECASE,
)


def jupyterlab_remove_math(text: str) -> tuple[str, list[str]]:
    math: list[str] = []

    def de_tilde(s: str) -> str:
        return s

    if "`" in text or "~~~" in text:
        text = text.replace("~", "~T")
        text = re.sub(
            r"^(?P<fence>`{3,}|(~T){3,})[^`\n]*\n([\s\S]*?)^(?P=fence)`*$",
            lambda m: m.group(0).replace("$", "~D"), text, flags=re.MULTILINE,
        )  # fmt: skip
        text = re.sub(
            r"(^|[^\\])(`+)([^\n]*?[^`\n])\2(?!`)",
            lambda m: m.group(0).replace("$", "~D"),
            text,
            flags=re.MULTILINE,
        )

        def de_tilde(s: str) -> str:
            return re.sub(r"~([TD])", lambda m: "~" if m.group(1) == "T" else "$", s)

    blocks = _MATHSPLIT.split(text.replace("\r\n", "\n").replace("\r", "\n"))

    def process(i: int, j: int) -> None:
        block = (
            "".join(blocks[i : j + 1])
            .replace("&", "&amp;")
            .replace("<", "&lt;")
            .replace(">", "&gt;")
        )
        for k in range(i + 1, j + 1):
            blocks[k] = ""
        blocks[i] = f"@@{len(math)}@@"
        math.append(de_tilde(block))

    start: int | None = None
    end: str | None = None
    last: int | None = None
    braces = 0
    i = 1
    while i < len(blocks):
        block = blocks[i]
        if block.startswith("@"):
            blocks[i] = f"@@{len(math)}@@"
            math.append(block)
        elif start is not None:
            if block == end:
                if braces:
                    last = i
                else:
                    process(start, i)
                    start = end = last = None
            elif re.search(r"\n.*\n", block):
                if last is not None:
                    i = last
                    process(start, i)
                start = end = last = None
                braces = 0
            elif block == "{":
                braces += 1
            elif block == "}" and braces:
                braces -= 1
        elif block in ("$", "$$"):
            start, end, braces = i, block, 0
        elif block in ("\\\\(", "\\\\["):
            start, end, braces = i, "\\\\)" if block.endswith("(") else "\\\\]", 0
        elif block[1:6] == "begin":
            start, end, braces = i, "\\end" + block[6:], 0
        i += 2
    if start is not None and last is not None:
        process(start, last)
    return de_tilde("".join(blocks)), math


def jupyterlab_markdown(text: str) -> str:
    stripped, math = jupyterlab_remove_math(text)
    rendered = MD_WITH_HTML.render(stripped)
    return re.sub(r"@@(\d+)@@", lambda m: math[int(m.group(1))], rendered)


def assert_bundle_inert(bundle: dict[str, str], where: str) -> None:
    assert_inert(bundle["text/html"], f"{where}: text/html")
    assert_mathjax_sees_only_our_math(bundle["text/html"])
    if "text/markdown" in bundle:
        assert_inert(MD_WITH_HTML.render(bundle["text/markdown"]), f"{where}: text/markdown")
        assert_inert(
            jupyterlab_markdown(bundle["text/markdown"]), f"{where}: text/markdown in JupyterLab"
        )


# ====================================================================== the hostile corpus
PAYLOADS = [
    "<script>alert(1)</script>",
    "<SCRIPT SRC=//evil.example/x.js></SCRIPT>",
    "<scr<script>ipt>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    "<svg onload=alert(1)>",
    "<svg><script>alert(1)</script></svg>",
    '<iframe src="javascript:alert(1)"></iframe>',
    "<details open ontoggle=alert(1)>",
    '<a href="javascript:alert(1)">x</a>',
    "<a href=x onmouseover=alert(1)>x</a>",
    "[x](javascript:alert(1))",
    "[x](JaVaScRiPt:alert(1))",
    "[x](<java\tscript:alert(1)>)",
    "[x](<\x01javascript:alert(1)>)",
    "[x](&#106;avascript:alert(1))",
    "[x](&#x6A;avascript&#x3A;alert(1))",
    "[x](javascript&colon;alert(1))",
    "[x](&amp;#106;avascript:alert(1))",
    "[x](%6Aavascript:alert(1))",
    "[x](&#0000106&#0000097&#0000118&#0000097&#0000115&#0000099&#0000114&#0000105&#0000112&#0000116&#0000058alert(1))",
    "[x](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    "[x](vbscript:msgbox(1))",
    "[x](file:///etc/passwd)",
    "[x][ref]\n\n[ref]: javascript:alert(1)",
    '[a](javascript:alert(1) "t")',
    "<javascript:alert(1)>",
    "<JAVASCRIPT:alert(1)>",
    '<http://example.com/" onmouseover="alert(1)>',
    '[x](http://example.com "\\" onmouseover=\\"alert(1)")',
    "[x](http://example.com 'a\" onmouseover=\"alert(1)')",
    '![x](x" onerror="alert(1))',
    "![x](javascript:alert(1))",
    "![<img src=x onerror=alert(1)>](http://example.com/a.png)",
    "![x](data:image/png;base64,iVBORw0KGgo=)",
    "![pixel](https://tracker.example/p.gif)",
    "<style>body{display:none}</style>",
    "<math><mtext><script>alert(1)</script></mtext></math>",
    "$<img src=x onerror=alert(1)>$",
    "$$</div><script>alert(1)</script>$$",
    "\\(<svg onload=alert(1)>\\)",
    "$\\href{javascript:alert(1)}{click}$",
    "$$\\href{ java script : alert(1)}{x}$$",
    "`<script>alert(1)</script>`",
    "```html\n<script>alert(1)</script>\n```",
    "<!-- <script>alert(1)</script> -->",
    '<base href="javascript:alert(1)//">',
    '<meta http-equiv="refresh" content="0;url=javascript:alert(1)">',
    '<form action="javascript:alert(1)"><button>x</button></form>',
    '<object data="javascript:alert(1)"></object>',
    '<embed src="javascript:alert(1)">',
    '<div style="background:url(javascript:alert(1))">x</div>',
    "<textarea><script>alert(1)</script></textarea>",
    '<noscript><p title="</noscript><img src=x onerror=alert(1)>">',
    "&lt;script&gt;alert(1)&lt;/script&gt;",
    "\x00<script>alert(1)</script>",
    "| a | b |\n|---|---|\n| <script>alert(1)</script> | [x](javascript:alert(1)) |",
    # pairing tricks against JupyterLab's removeMath and divergent code-span rules
    "- x\n  ```\n  $\n  ```\n  $y$\n  ```\n  <img src=x onerror=alert(1)>\n  ```",
    "> ```\n> $\n> ```\n>\n> $y$\n> ```\n> <img src=x onerror=alert(1)>\n> ```",
    "$a{$ x\n```\n$ <img src=x onerror=alert(1)>\n```",
    "$`$ text `<img src=x onerror=alert(1)>`",
    '[`x`](http://e.com "`") <img src=x onerror=alert(1)> `',
    "\\\\(x\\\\) <img src=x onerror=alert(1)> \\\\)",
    "<details><summary>x</summary><script>alert(1)</script></details>",
]


FRAGMENTS = PAYLOADS + [
    "$", "$$", "\\(", "\\)", "\\[", "\\]", "\\", "`", "```", "~~~", "\n", "\n\n", "> ", "- ", "1. ",
    "|", "| --- |", "[", "]", "(", ")", "](", "![", "<", ">", "&", "&#", ";", '"', "'", "*", "_",
    "#", "    ", "{", "}", "@@0@@", "javascript:", "onerror=", "<a ", "x", "5", " ",
]  # fmt: skip
