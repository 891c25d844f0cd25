"""Static views of a finished result: what a reader sees where no script and no style run.

A saved notebook is read in three places besides JupyterLab: nbconvert's HTML (the lab
and classic templates) and GitHub, which passes ``text/html`` outputs through an
allowlist sanitizer (no ``<style>``, no ``<script>``, no ``style`` or ``class``
attributes: no CSS of ours, no MathJax). Each must still show a marker saying the
reasoning can be opened (in the summary's text: classic's CSS draws no disclosure
arrow), the answer's math as readable TeX, and the footer; and a hostile reply must
leave nothing executable, before the sanitizer and after it.
"""

from __future__ import annotations

from typing import Any

import pytest

from deepseek_magic.core._result import Result, Usage
from deepseek_magic.view._render import format_footer, render_result
from tests.helpers.inert_html import PAYLOADS, Node, Tree, assert_inert

nh3 = pytest.importorskip("nh3")

# GitHub's allowlist, as written in html-pipeline (gjtorikian/html-pipeline, the filter
# GitHub built for user content): lib/html/pipeline/sanitization_filter.rb, WHITELIST
# (2.x). Its 3.x DEFAULT_CONFIG (lib/html_pipeline/sanitization_filter.rb) only adds
# elements (span, small, mark, caption, figure, ...) and attributes (id, aria-*, role):
# the stricter 2.x list is the one tested. No style, no class, no script anywhere.
GITHUB_ELEMENTS = set(
    "h1 h2 h3 h4 h5 h6 h7 h8 br b i strong em a pre code img tt div ins del sup sub p ol ul"
    " table thead tbody tfoot blockquote dl dt dd kbd q samp var hr ruby rt rp li tr td th"
    " s strike summary details".split()
)
GITHUB_ALL_ATTRIBUTES = set(
    "abbr accept accept-charset accesskey action align alt axis border cellpadding"
    " cellspacing char charoff charset checked clear cols colspan color compact coords"
    " datetime dir disabled enctype for frame headers height hreflang hspace ismap label"
    " lang maxlength media method multiple name nohref noshade nowrap open prompt readonly"
    " rel rev rows rowspan rules scope selected shape size span start summary tabindex"
    " target title type usemap valign value vspace width itemprop".split()
)
GITHUB_ATTRIBUTES = {
    "*": GITHUB_ALL_ATTRIBUTES,
    "a": {"href"},
    "img": {"src", "longdesc"},
    "div": {"itemscope", "itemtype"},
    "blockquote": {"cite"},
    "del": {"cite"},
    "ins": {"cite"},
    "q": {"cite"},
}
#: ANCHOR_SCHEMES (relative URLs pass too); "github-windows"/"github-mac" left out
GITHUB_SCHEMES = {"http", "https", "mailto"}


def github_sanitize(source: str) -> str:
    """``source`` as GitHub would keep it: allowed tags and attributes only, script
    removed with its content (``remove_contents``), other tags unwrapped."""
    return str(
        nh3.clean(
            source,
            tags=GITHUB_ELEMENTS,
            clean_content_tags={"script", "style"},
            attributes=GITHUB_ATTRIBUTES,
            url_schemes=GITHUB_SCHEMES,
            link_rel=None,  # html-pipeline adds none; "rel" is in its allowlist
        )
    )


def finished(**fields: Any) -> Result:
    """A finished reply: reasoning, an answer with inline and display math, a footer."""
    values: dict[str, Any] = {
        "model": "deepseek-reasoner",
        "usage": Usage(12, 60, 40, 52),
        "cost": 0.000123,
        "cost_source": "server",
        "elapsed": 3.2,
        "finish_reason": "stop",
        "reasoning": "Square x first, then check the sum: 40 + 2 = 42.",
        "answer": "We get $x^2$, so the answer is $\\boxed{42}$.\n\n$$\\int_0^1 x\\,dx$$",
    }
    return Result(**{**values, **fields})


def elements(root: Node, tag: str) -> list[Node]:
    return [n for n in root.walk() if n.tag == tag]


def summary_of(details: Node) -> str:
    return " ".join(s.text() for s in elements(details, "summary"))


def assert_reads_without_css(root: Node, result: Result) -> None:
    """The three things a static view must still show, read as text from ``root``."""
    text = root.text()
    # The reasoning can be opened: a folded <details> whose summary names it and says,
    # in its own text (not a CSS-drawn arrow), that it opens.
    reasoning = [d for d in elements(root, "details") if summary_of(d).startswith("Reasoning")]
    assert len(reasoning) == 1, text
    assert "open" not in dict(reasoning[0].attrs)  # folded, as in JupyterLab
    assert "click to show" in summary_of(reasoning[0]), summary_of(reasoning[0])
    assert result.reasoning in reasoning[0].text()
    # The answer is shown (its <details> is open) and its math reads as TeX.
    answer = [d for d in elements(root, "details") if summary_of(d).startswith("Answer")]
    assert len(answer) == 1 and "open" in dict(answer[0].attrs), text
    for tex in ("$x^2$", "$\\boxed{42}$", "$$\\int_0^1 x\\,dx$$"):
        assert tex in answer[0].text(), (tex, answer[0].text())
    # The footer, whole.
    assert format_footer(result) in text, text


# ---------------------------------------------------------------- GitHub's sanitizer
def test_the_final_render_needs_no_style_and_no_script() -> None:
    html = render_result(finished())[0]["text/html"]
    tags = {n.tag for n in Tree(html).elements}
    assert not tags & {"style", "script", "link"}, tags  # what GitHub drops: none is needed


def test_under_githubs_sanitizer_the_reasoning_math_and_footer_still_read() -> None:
    result = finished()
    clean = github_sanitize(render_result(result)[0]["text/html"])
    tree = Tree(clean)
    # the sanitizer is configured as the docstring says: no styling of ours survives
    assert not any(name in ("style", "class") for n in tree.elements for name, _ in n.attrs)
    assert_reads_without_css(tree.root, result)


def test_under_githubs_sanitizer_an_interrupted_reply_says_so_once() -> None:
    result = finished(interrupted=True, answer="We get $x^2$, so", finish_reason=None)
    text = Tree(github_sanitize(render_result(result)[0]["text/html"])).root.text()
    assert text.count("Interrupted — partial result kept") == 1, text
    assert "$x^2$" in text and format_footer(result) in text


@pytest.mark.parametrize("payload", PAYLOADS)
def test_a_hostile_reply_leaves_nothing_executable_before_or_after_sanitizing(
    payload: str,
) -> None:
    result = finished(reasoning=f"thinking {payload}", answer=f"answer {payload}")
    html = render_result(result)[0]["text/html"]
    assert_inert(html, "final render")
    clean = github_sanitize(html)
    assert_inert(clean, "after GitHub's sanitizer")
    text = Tree(clean).root.text()
    assert format_footer(result) in text  # the hostile text did not swallow the footer
    if payload == "<script>alert(1)</script>":  # shown as text, not silently eaten
        assert text.count(payload) == 2, text


# ---------------------------------------------------------------- nbconvert's templates
@pytest.mark.parametrize("template", ["lab", "classic"])
def test_nbconvert_html_shows_the_reasoning_marker_math_and_footer(template: str) -> None:
    nbconvert = pytest.importorskip("nbconvert")
    nbformat = pytest.importorskip("nbformat")
    result = finished()
    bundle, metadata = render_result(result)
    output = nbformat.v4.new_output("display_data", data=bundle, metadata=metadata)
    cell = nbformat.v4.new_code_cell("%%deepseek\nWhat is x squared?", outputs=[output])
    page, _ = nbconvert.HTMLExporter(template_name=template).from_notebook_node(
        nbformat.v4.new_notebook(cells=[cell])
    )
    # the output area of each template (lab: jp-RenderedHTML, classic: output_html)
    areas = [n for n in Tree(page).elements if n.classes & {"jp-RenderedHTML", "output_html"}]
    assert len(areas) == 1, template
    assert_reads_without_css(areas[0], result)
