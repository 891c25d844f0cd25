"""The hostile corpus for the browser XSS test: model text that tries to run script.

Each payload, if it ever became live HTML (or a followed link), would run
:func:`js` and set the page globals ``window.__xss`` and ``window.__xss_<n>``
(``<n>`` names the payload), so the browser test can tell *which* one got through;
the pure style injections carry ``--xss:<n>`` instead.
Payloads whose code would run in another origin (``data:`` documents) or only on
a click (``javascript:`` links) cannot reach the sentinel; the test's DOM walk
catches those (no ``on*`` attribute, no ``javascript:``/``data:`` URL, no
``<script>``/``<iframe>``/``<object>`` ...).

The families the acceptance issue names, each several times: script tags, event
handler attributes, ``javascript:`` and ``data:`` links, SVG, iframes, style
injection, HTML inside math, HTML inside code, markdown link tricks. Every payload
is self-contained (closes what it opens), so one that is wrongly *parsed* cannot
swallow the ones after it and hide them from the test.

:func:`corpus` joins them into one markdown text with a visible label before each
(``Payload 7:``) and a last line :data:`END`, so the test can also check that every
payload arrived and was shown as text.
"""

from __future__ import annotations

import base64

__all__ = ["END", "PAYLOADS", "corpus", "js", "label"]

#: The corpus's last paragraph: when it is visible, nothing before it swallowed the rest.
END = "End of the hostile corpus."


def js(n: int, target: str = "window") -> str:
    """Code that marks payload ``n`` as executed (no spaces or quotes: fits anywhere)."""
    return f"{target}.__xss={target}.__xss_{n}=1"


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def _payloads() -> list[str]:
    templates: list[str] = [
        # -- script tags
        "<script>{js}</script>",
        "<SCRIPT>{js}</SCRIPT>",
        "<scr<script>ipt>{js}</script>",
        '<script src="data:text/javascript,{js}"></script>',
        "<details><summary>open me</summary><script>{js}</script></details>",
        # -- event-handler attributes
        "<img src=x onerror={js}>",
        '<img src="x" onerror="{js}">',
        "<details open ontoggle={js}>toggled</details>",
        "<input autofocus onfocus={js}>",
        "<video><source onerror={js}></video>",
        "<body onload={js}>",
        '<a href="#" onmouseover="{js}">hover me</a>',
        '<noscript><p title="</noscript><img src=x onerror={js}>"></p></noscript>',
        # -- javascript: and data: links (raw HTML and markdown)
        '<a href="javascript:{js}">click me</a>',
        "[click me](javascript:{js})",
        "[click me](JaVaScRiPt:{js})",
        "[click me](&#106;avascript:{js})",
        "[click me](&#x6A;avascript&#x3A;{js})",
        "[click me](java%0Ascript:{js})",
        "<javascript:{js}>",
        "[click me](data:text/html;base64,{b64_script})",
        '<a href="data:text/html,<script>{js_opener}</script>">click me</a>',
        "[click me][evil]\n\n[evil]: javascript:{js}",
        # -- SVG
        "<svg onload={js}></svg>",
        "<svg><script>{js}</script></svg>",
        '<svg><a xlink:href="javascript:{js}"><text x="10" y="20">svg link</text></a></svg>',
        "<svg><animate onbegin={js} attributeName=x dur=1s></animate></svg>",
        # -- iframes, objects, embeds, forms
        '<iframe src="javascript:{js_parent}"></iframe>',
        '<iframe srcdoc="<script>{js_parent}</script>"></iframe>',
        '<iframe src="data:text/html;base64,{b64_script}"></iframe>',
        '<object data="javascript:{js_parent}"></object>',
        '<embed src="data:text/html;base64,{b64_script}">',
        '<form><button formaction="javascript:{js}">submit me</button></form>',
        # -- style injection
        "<style>.jp-Notebook{{display:none!important}} /* {js} */</style>",
        '<div style="position:fixed;inset:0;z-index:99999;background:red;--xss:{n}">overlay</div>',
        '<p style="background:url(javascript:{js})">styled</p>',
        '<link rel="stylesheet" href="data:text/css;base64,{b64_css}">',
        # -- HTML inside math
        "$<img src=x onerror={js}>$",
        "$$</div><script>{js}</script>$$",
        "\\(<svg onload={js}></svg>\\)",
        '\\[<iframe srcdoc="<script>{js_parent}</script>"></iframe>\\]',
        "$\\href{{javascript:{js}}}{{math link}}$",
        # -- HTML inside code
        "`<script>{js}</script>`",
        "``<img src=x onerror={js}>``",
        "```html\n<img src=x onerror={js}>\n<script>{js}</script>\n```",
        "    <svg onload={js}></svg>",
        # -- markdown link and image tricks
        '[hover me](http://example.com "\\" onmouseover=\\"{js}")',
        "[hover me](http://example.com 'a\" onmouseover=\"{js}')",
        '![pic](x" onerror="{js})',
        "![pic](javascript:{js})",
        "![<img src=x onerror={js}>](http://example.com/a.png)",
        '<http://example.com/" onmouseover="{js}>',
        "| a | b |\n|---|---|\n| <img src=x onerror={js}> | [cell link](javascript:{js}) |",
        "- item\n  <img src=x onerror={js}>\n  > <script>{js}</script>",
        "<!-- --><img src=x onerror={js}><!-- -->",
    ]
    out = []
    for n, template in enumerate(templates, start=1):
        out.append(
            template.format(
                n=n,
                js=js(n),
                js_parent=js(n, "parent"),
                js_opener=js(n, "opener"),
                b64_script=_b64(f"<script>{js(n, 'parent')}</script>"),
                b64_css=_b64(f".jp-Notebook{{display:none;--xss:{n}}}"),
            )
        )
    return out


#: The payloads; payload ``n`` (1-based) sets ``window.__xss_<n>`` if it ever runs.
PAYLOADS: tuple[str, ...] = tuple(_payloads())


def label(n: int) -> str:
    """The visible label written before payload ``n``."""
    return f"Payload {n}:"


def corpus() -> str:
    """All payloads as one markdown text: a label paragraph before each, :data:`END` last."""
    parts = [f"{label(n)}\n\n{payload}" for n, payload in enumerate(PAYLOADS, start=1)]
    return "\n\n".join([*parts, END]) + "\n"
