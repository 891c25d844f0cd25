"""Rendering results to mimebundles: what a notebook user sees, and that model
output never becomes live HTML in any bundle.

The safety checks (in tests/helpers/inert_html.py) parse every ``text/html`` with
``html.parser`` and render every ``text/markdown`` twice the way a notebook would:
with markdown-it and raw HTML on (links not validated, as marked does), and after a
port of JupyterLab's ``removeMath`` (which lifts ``$...$`` out of markdown first).
"""

from __future__ import annotations

import html as html_lib
import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from deepseek_magic.core._result import Result, ToolCall, Usage
from deepseek_magic.view._live_state import render_live
from deepseek_magic.view._markdown import IGNORE_MATH_CLASS, is_safe_url, markdown_to_markdown
from deepseek_magic.view._render import (
    escape,
    format_cost,
    format_footer,
    format_tokens,
    markdown_to_html,
    render_error,
    render_plain_final,
    render_result,
)
from tests.helpers.inert_html import (
    FRAGMENTS,
    IGNORE_SPAN,
    MD_WITH_HTML,
    PAYLOADS,
    Node,
    Tree,
    assert_bundle_inert,
    assert_inert,
    assert_mathjax_sees_only_our_math,
    jupyterlab_remove_math,
    math_spans,
    mathjax_strings,
)


def test_corpus_is_big_enough() -> None:
    assert len(PAYLOADS) >= 30


def _result_with(text: str, **fields: Any) -> Result:
    return Result(
        model="deepseek/deepseek-r1", usage=Usage(10, 40, 30, 50), cost=0.0001,
        cost_source="server", elapsed=2.0, finish_reason="stop", **fields,
    )  # fmt: skip


@pytest.mark.parametrize("payload", PAYLOADS)
def test_hostile_text_never_becomes_live_html(payload: str) -> None:
    call = ToolCall(id="c1", name=payload, arguments=payload, output=payload, elapsed=0.1)
    failed = ToolCall(id="c2", name="f", arguments=json.dumps({"q": payload}), error=payload)
    results = {
        "answer": _result_with(payload, answer=payload),
        "reasoning": _result_with(payload, reasoning=payload, answer="ok"),
        "tool calls": _result_with(payload, answer="ok", tool_calls=(call, failed)),
        "tool round": _result_with(
            payload,
            answer=payload,
            rounds=(Result(reasoning=payload, answer=payload, tool_calls=(call,)),),
        ),
        "metadata fields": Result(answer="ok", model=payload, finish_reason=payload, error=payload),
    }  # fmt: skip
    for where, result in results.items():
        bundle, metadata = render_result(result)
        assert_bundle_inert(bundle, where)
        json.dumps(metadata)
    for where, live in {
        "live reasoning": render_live(Result(reasoning=payload), elapsed=1.0),
        "live answer": render_live(
            Result(reasoning="r", answer=payload, error=payload), elapsed=1.0
        ),
        "live tools": render_live(Result(tool_calls=(call,)), elapsed=1.0),
        "error": render_error(payload, partial=Result(answer=payload)),
    }.items():
        assert_bundle_inert(live, where)


@pytest.mark.parametrize(
    "url",
    [
        "javascript:alert(1)", "JaVaScRiPt:alert(1)", " javascript:alert(1)",
        "java\tscript:alert(1)",
        "java\nscript:alert(1)", "\x01javascript:alert(1)", "&#106;avascript:alert(1)",
        "javascript&colon;alert(1)", "&amp;#106;avascript:x", "%6Aavascript:x", "java%09script:x",
        "vbscript:x", "VBScript:x", "data:text/html,<script>", "data:image/png;base64,AAAA",
        "file:///etc/passwd", "java\u200bscript:x", "\ufeffjavascript:x", "ms-settings:x",
    ],
)  # fmt: skip
def test_unsafe_urls_are_refused(url: str) -> None:
    assert not is_safe_url(url)


@pytest.mark.parametrize(
    "url",
    [
        "https://example.com/a?b=1&c=2",
        "http://x.y",
        "mailto:a@b.c",
        "/relative/path",
        "#anchor",
        "page.html",
        "//cdn.example",
    ],
)
def test_ordinary_urls_pass(url: str) -> None:
    assert is_safe_url(url)


def test_links_open_safely_in_a_new_tab() -> None:
    tree = Tree(markdown_to_html("see [the docs](https://example.com/x)"))
    (link,) = [n for n in tree.elements if n.tag == "a"]
    attrs = dict(link.attrs)
    assert attrs["href"] == "https://example.com/x"
    assert attrs["rel"] == "noopener noreferrer nofollow"
    assert attrs["target"] == "_blank"


@pytest.mark.parametrize(
    "source", ["[x](javascript:alert(1))", "[x](<java\tscript:alert(1)>)", "<javascript:alert(1)>"]
)
def test_unsafe_links_stay_literal_text(source: str) -> None:
    out = markdown_to_html(source)
    assert "<a" not in out
    assert "alert(1)" in out


def test_images_become_links_not_loads() -> None:
    out = markdown_to_html("![a cat](https://example.com/cat.png) and ![x](javascript:alert(1))")
    assert "<img" not in out
    assert '<a class="dsm-image" href="https://example.com/cat.png"' in out
    assert "[image: a cat]" in out
    assert "javascript" not in "".join(dict(n.attrs).get("href") or "" for n in Tree(out).elements)


# ====================================================================== random text
hostile_text = st.lists(
    st.one_of(st.sampled_from(FRAGMENTS), st.text(max_size=8)), max_size=12
).map("".join)
EXAMPLES: list[int] = []


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=hostile_text)
def test_random_hostile_text_stays_inert(text: str) -> None:
    EXAMPLES.append(1)
    call = ToolCall(id="c", name=text[:30], arguments=text, output=text)
    result = _result_with(text, answer=text, reasoning=text, tool_calls=(call,), error=text or None)
    bundle, metadata = render_result(result)
    assert_bundle_inert(bundle, repr(text))
    json.dumps(metadata)
    assert_bundle_inert(render_live(result.replace(answer=""), elapsed=0.5), "live")


def test_hypothesis_example_count() -> None:
    """Runs after the property test (file order): says how many examples it tried."""
    print(f"\nhypothesis examples run: {len(EXAMPLES)}")
    assert len(EXAMPLES) >= 100


# ====================================================================== math
@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("$x^2$", '<span class="dsm-math">$x^2$</span>'),
        ("so $$\\int_0^1 f$$ here", '<span class="dsm-math">$$\\int_0^1 f$$</span>'),
        ("\\(a<b\\)", '<span class="dsm-math">\\(a&lt;b\\)</span>'),
        ("\\[E=mc^2\\]", '<div class="dsm-math dsm-math-display">\\[E=mc^2\\]</div>'),
        ("$$\n\\int_0^1 f\n$$", '<div class="dsm-math dsm-math-display">$$\n\\int_0^1 f\n$$</div>'),
        ("$a & b < c$", '<span class="dsm-math">$a &amp; b &lt; c$</span>'),
        ("$\\$5$", '<span class="dsm-math">$\\$5$</span>'),
    ],
)
def test_math_keeps_its_delimiters_and_is_escaped(source: str, expected: str) -> None:
    out = markdown_to_html(source)
    assert expected in out
    assert_mathjax_sees_only_our_math(out)


def test_display_math_lines_are_not_markdown() -> None:
    out = markdown_to_html("$$\n- a\n# b\n===\n$$")
    assert "<li>" not in out and "<h1>" not in out
    assert math_spans(out) == ["$$\n- a\n# b\n===\n$$"]


def test_math_inside_code_is_untouched() -> None:
    out = markdown_to_html("`$x$` and\n\n```\n$y$ \\(z\\) <b>\n```\n")
    assert "<code>$x$</code>" in out
    assert "<pre><code>$y$ \\(z\\) &lt;b&gt;\n</code></pre>" in out
    assert "dsm-math" not in out


def test_prices_are_not_math() -> None:
    out = markdown_to_html("It costs $5 and $6.")
    assert out == f"<p>It costs {IGNORE_SPAN}$</span>5 and {IGNORE_SPAN}$</span>6.</p>\n"
    for text in ["$3.50 today", "from $5 to$10", "$ x $", "US$5, $6, $7 or \\$8"]:
        rendered = markdown_to_html(text)
        assert "dsm-math" not in rendered, text
        assert_mathjax_sees_only_our_math(rendered)


def test_math_with_a_script_link_is_left_as_text() -> None:
    out = markdown_to_html("$\\href{javascript:alert(1)}{x}$ and $\\href{https://ok.example}{y}$")
    assert math_spans(out) == ["$\\href{https://ok.example}{y}$"]


def test_markdown_bundle_math_for_jupyterlab() -> None:
    md = markdown_to_markdown("It costs $5 and $6.")
    assert md == f"It costs {IGNORE_SPAN}&#36;</span>5 and {IGNORE_SPAN}&#36;</span>6."
    assert jupyterlab_remove_math(md)[1] == []  # no math for JupyterLab to typeset

    md = markdown_to_markdown("$x^2$, \\(a<b\\) and\n\n$$\n\\int_0^1 f\n$$")
    assert jupyterlab_remove_math(md)[1] == ["$x^2$", "$a&lt; b$", "$$\n\\int_0^1 f\n$$"]
    # TeX that JupyterLab would pair differently is shown as code instead
    md = markdown_to_markdown("$a{$ and more")
    assert "<code>&#36;a&#123;&#36;</code>" in md and jupyterlab_remove_math(md)[1] == []


# ====================================================================== markdown elements
RICH = """# Title

Some *emphasis*, **strong**, ~~gone~~ and `code`.

- one
- two
  1. nested

| a | b |
|:--|--:|
| 1 | 2 |

```python
print("<hi>")
```

> quoted
"""


def test_markdown_renders_as_html_elements() -> None:
    tags = {n.tag for n in Tree(markdown_to_html(RICH)).elements}
    assert {
        "h1",
        "em",
        "strong",
        "s",
        "code",
        "ul",
        "ol",
        "li",
        "table",
        "th",
        "td",
        "pre",
        "blockquote",
    } <= tags


def test_markdown_bundle_round_trips_the_structure() -> None:
    original = Tree(markdown_to_html(RICH)).elements
    again = Tree(MD_WITH_HTML.render(markdown_to_markdown(RICH))).elements
    assert [n.tag for n in original] == [n.tag for n in again]
    assert 'print("<hi>")' in markdown_to_markdown(RICH)  # code stays readable


# ====================================================================== the final view
def full_result(**changes: Any) -> Result:
    base = Result(
        answer="The answer is **42**.",
        reasoning="First I think.\nThen <I> think more.",
        usage=Usage(
            prompt_tokens=12, completion_tokens=400, reasoning_tokens=340, total_tokens=412
        ),
        cost=0.000123,
        cost_source="server",
        model="deepseek/deepseek-r1",
        params={"model": "deepseek/deepseek-r1", "temperature": 0.6, "stream": True},
        elapsed=11.0,
        time_to_first_token=1.0,
        finish_reason="stop",
        id="gen-1",
        provider="DeepInfra",
    )
    return base.replace(**changes)


def test_reasoning_is_collapsed_and_the_answer_open() -> None:
    bundle, _ = render_result(full_result())
    root = Tree(bundle["text/html"]).root
    (reasoning,) = root.find("dsm-reasoning")
    (answer,) = root.find("dsm-answer")
    assert reasoning.tag == answer.tag == "details"
    assert "open" not in dict(reasoning.attrs)
    assert "open" in dict(answer.attrs)
    summary = reasoning.children[0]
    assert isinstance(summary, Node) and summary.tag == "summary"
    # 340 of 400 completion tokens: ≈ 1.0 s wait + 10.0 s × 0.85
    assert (
        summary.text() == "Reasoning · 340 tokens · ≈9.5 s (click to show)"
    )  # static views draw no arrow
    assert "Then <I> think more." in reasoning.text()
    assert "<strong>42</strong>" in bundle["text/html"]


def test_reasoning_estimates_are_marked() -> None:
    bundle, _ = render_result(full_result(usage=Usage(), answer="", reasoning="x" * 400))
    summary = Tree(bundle["text/html"]).root.find("dsm-reasoning")[0].children[0]
    assert isinstance(summary, Node)
    assert summary.text() == "Reasoning · ≈100 tokens · 11.0 s (click to show)"


def test_no_reasoning_no_details() -> None:
    bundle, _ = render_result(full_result(reasoning=""))
    assert "dsm-reasoning" not in bundle["text/html"]
    assert "reasoning:" not in bundle["text/plain"]


def test_one_root_no_script_no_global_style() -> None:
    html = render_result(full_result())[0]["text/html"]
    root = Tree(html).root
    assert len([c for c in root.children if isinstance(c, Node)]) == 1
    assert root.children[0].classes == {"deepseek-magic"}  # type: ignore[union-attr]
    assert "<script" not in html and "<style" not in html


def test_footer() -> None:
    bundle, _ = render_result(full_result())
    (footer,) = Tree(bundle["text/html"]).root.find("dsm-footer")
    assert footer.text() == (
        "deepseek/deepseek-r1 · 12 prompt / 340 reasoning / 60 answer tokens · $0.000123 · 11.0 s "
        "· finish: stop"
    )
    assert IGNORE_MATH_CLASS.split()[0] in footer.classes  # the "$" of the cost is not math
    estimate = render_result(full_result(cost_source="estimate", cached=True))[0]["text/html"]
    assert "≈$0.000123" in estimate and "replayed from cache" in estimate


def test_offline_note_at_the_top() -> None:
    bundle, _ = render_result(full_result(offline=True))
    first = Tree(bundle["text/html"]).root.children[0].children[0]  # type: ignore[union-attr]
    assert isinstance(first, Node) and first.text() == "Offline emulator — not DeepSeek R1"
    assert "Offline emulator — not DeepSeek R1" in bundle["text/markdown"]
    assert "Offline emulator — not DeepSeek R1" in bundle["text/plain"]
    assert (
        "Offline"
        not in render_result(full_result(offline=True), offline_note=False)[0]["text/html"]
    )
    assert "Offline emulator" in render_result(full_result(), offline_note=True)[0]["text/html"]


@pytest.mark.parametrize(
    ("changes", "line"),
    [
        ({"interrupted": True, "finish_reason": None}, "⚠ Interrupted — partial result kept"),
        (
            {"error": "Connection lost", "finish_reason": None},
            "⚠ Connection lost — partial result kept",
        ),
        ({"finish_reason": "length"}, "⚠ Stopped at the token limit"),
    ],
)
def test_unfinished_replies_say_so(changes: dict[str, Any], line: str) -> None:
    bundle, _ = render_result(full_result(**changes))
    for mime in ("text/html", "text/plain"):
        assert line in html_lib.unescape(bundle[mime])
    assert line in html_lib.unescape(bundle["text/markdown"].replace("&#36;", "$"))


def test_tool_calls_are_collapsed_with_pretty_arguments() -> None:
    calls = (
        ToolCall(
            id="1", name="get_weather", arguments='{"city":"Paris"}', output="sunny", elapsed=0.25
        ),
        ToolCall(id="2", name="broken", arguments="{not json", error="JSONDecodeError: bad"),
    )
    first_round = Result(reasoning="need weather", tool_calls=calls[:1], finish_reason="tool_calls")
    bundle, _ = render_result(full_result(rounds=(first_round,), tool_calls=calls[1:]))
    root = Tree(bundle["text/html"]).root
    tools = root.find("dsm-tool")
    assert [t.tag for t in tools] == ["details", "details"]
    assert all("open" not in dict(t.attrs) for t in tools)
    assert tools[0].children[0].text() == "Tool · get_weather · done · 0.25 s (click to show)"  # type: ignore[union-attr]
    assert '{\n  "city": "Paris"\n}' in tools[0].text() and "sunny" in tools[0].text()
    assert "{not json" in tools[1].text() and "JSONDecodeError: bad" in tools[1].text()
    assert len(root.find("dsm-reasoning")) == 2  # each round's reasoning
    assert "[tool get_weather(" in bundle["text/plain"]


def test_plain_text_has_answer_and_footer() -> None:
    bundle, _ = render_result(full_result())
    plain = bundle["text/plain"]
    assert plain.splitlines() == [
        "[reasoning: 340 tokens, hidden]",
        "The answer is **42**.",
        "-- " + format_footer(full_result()),
    ]
    shown = render_plain_final(full_result(), show_reasoning=True)
    assert "Then <I> think more." in shown
    assert (
        render_plain_final(full_result(answer="\x1b]52;c;cGF5bG9hZA==\x07hi\r")).count("\x1b") == 0
    )


def test_markdown_bundle_hides_reasoning_in_a_fence() -> None:
    md = render_result(full_result(reasoning="a ``` b ```` c <b>"))[0]["text/markdown"]
    assert "<details><summary>Reasoning · 340 tokens · ≈9.5 s (click to show)</summary>" in md
    assert "`````text\na ``` b ```` c <b>\n`````" in md


# ====================================================================== metadata
def test_metadata_is_json_and_only_result_fields() -> None:
    result = full_result(
        messages=({"role": "user", "content": "secret prompt"},), base_url="http://127.0.0.1:1/v1"
    )
    _, metadata = render_result(result)
    data = json.loads(json.dumps(metadata))
    assert set(data) == {"deepseek_magic"}
    meta = data["deepseek_magic"]
    assert set(meta) == {
        "model", "params", "usage", "cost", "cost_source", "elapsed", "time_to_first_token",
        "finish_reason", "id", "provider", "offline", "cached", "error", "interrupted",
        "conversation", "tool_rounds",
    }  # fmt: skip
    assert meta["params"] == {"model": "deepseek/deepseek-r1", "temperature": 0.6, "stream": True}
    assert meta["usage"]["reasoning_tokens"] == 340 and meta["usage"]["answer_tokens"] == 60
    text = json.dumps(metadata)
    assert "secret prompt" not in text and "127.0.0.1" not in text


def test_metadata_drops_anything_named_like_a_key() -> None:
    _, metadata = render_result(
        full_result(
            params={"temperature": 1.0, "api_key": "sk-or-v1-abc", "Authorization": "Bearer x"}
        )
    )
    assert metadata["deepseek_magic"]["params"] == {"temperature": 1.0}


# ====================================================================== the live view
LIVE_CONSTANT = 2_000


def test_live_view_is_bounded_and_shows_the_tail() -> None:
    reasoning = "a" * 1_000_000 + "<THE END>"
    live = render_live(Result(reasoning=reasoning), elapsed=12.34)
    html = live["text/html"]
    assert len(html) <= LIVE_CONSTANT + 1200 + 4000
    assert "&lt;THE END&gt;" in html and "<THE END>" not in html
    assert "…" in html and "thinking…" in html and "12.3 s" in html and "≈250,003 tokens" in html
    assert set(live) == {"text/html"}  # every byte of a live frame is sent again each time

    answer = "<" * 1_000_000  # worst case for escaping
    live = render_live(
        Result(reasoning=reasoning, answer=answer, usage=Usage(completion_tokens=99)), elapsed=1
    )
    html = live["text/html"]
    assert len(html) <= LIVE_CONSTANT + 1200 + 4000
    assert "answering…" in html and "99 tokens" in html
    assert "▸ Reasoning · ≈250,003 tokens" in html and "aaaa" not in html  # reasoning collapsed
    assert_inert(html)


def test_a_live_frame_does_not_grow_with_the_reply() -> None:
    """A live frame renders only what it shows, so its work does not grow with the reply:
    the frame of a 2 MB reply is the size of a 2 KB one's (the counts' digits aside). The
    speed goal itself is a benchmark (benchmarks/streaming.py), not a timed test."""
    small = render_live(Result(reasoning="x" * 1_000, answer="y" * 1_000), elapsed=1.0)
    big = render_live(Result(reasoning="x" * 1_000_000, answer="y" * 1_000_000), elapsed=1.0)
    assert len(big["text/html"]) <= len(small["text/html"]) + 100


@pytest.mark.parametrize(
    ("result", "phase"),
    [
        (Result(), "waiting…"),
        (Result(reasoning="r"), "thinking…"),
        (Result(reasoning="r", answer="a"), "answering…"),
        (Result(tool_calls=(ToolCall(id="1", name="lookup"),)), "calling tools…"),
    ],
)
def test_live_phase(result: Result, phase: str) -> None:
    status = Tree(render_live(result, elapsed=0.0)["text/html"]).root.find("dsm-status")[0].text()
    assert status.startswith(phase)


def test_live_view_is_not_typeset() -> None:
    html = render_live(Result(reasoning="$5 and $6"), elapsed=0)["text/html"]
    root = Tree(html).root.children[0]
    assert isinstance(root, Node) and set(IGNORE_MATH_CLASS.split()) <= root.classes
    assert mathjax_strings(html) == []


# ====================================================================== errors and helpers
def test_render_error_is_one_escaped_line() -> None:
    bundle = render_error(
        "HTTP 401 <b>bad key</b>\nset DEEPSEEK_MAGIC_API_KEY", partial=Result(answer="half")
    )
    assert (
        bundle["text/plain"]
        == "⚠ HTTP 401 <b>bad key</b> set DEEPSEEK_MAGIC_API_KEY — partial result kept"
    )
    assert "&lt;b&gt;" in bundle["text/html"] and "\n" not in bundle["text/html"]
    assert render_error("boom")["text/plain"] == "⚠ boom"


@pytest.mark.parametrize(
    ("cost", "source", "text"),
    [(None, None, "–"), (0.000123, "server", "$0.000123"), (0.000123, "estimate", "≈$0.000123"),
     (0.0512, "server", "$0.0512"), (12.5, "server", "$12.50"), (0.0, "server", "$0.00")],
)  # fmt: skip
def test_format_cost(cost: float | None, source: str | None, text: str) -> None:
    assert format_cost(cost, source) == text


def test_format_tokens() -> None:
    assert format_tokens(Usage()) == ""
    assert format_tokens(Usage(12, 400, 340)) == "12 prompt / 340 reasoning / 60 answer tokens"
    assert format_tokens(Usage(12, 400)) == "12 prompt / 400 completion tokens"
    assert (
        format_tokens(Usage(1200, 5, cached_tokens=1000))
        == "1,200 (1,000 cached) prompt / 5 completion tokens"
    )


def test_footer_with_nothing_known() -> None:
    assert format_footer(Result()) == "– · – · 0.0 s"


def test_escape() -> None:
    assert escape('<a href="x">\'&') == "&lt;a href=&quot;x&quot;&gt;&#x27;&amp;"


# ------------------------------------------------------------------ long answers, in sections
_BLOCKS = [
    "A paragraph with **bold**, `code` and $x^2$.",
    "- one\n- two\n\n- three, a loose list",
    "1. first\n\n   its second paragraph\n\n2. second",
    "```python\ndef f():\n\n    return 1\n```",
    "~~~\nfence with\n\n\nblank lines\n~~~",
    "$$\na = b\n\n+ c\n$$",
    "\\[\n\\sum_i x_i\n\n\\]",
    "| a | b |\n|---|---|\n| 1 | 2 |\n\n| 3 | 4 |",
    "> quoted\n\n> another quote",
    "Title\n=====",
    "    indented code\n\n    more of it",
    "* item\n\n  continued\n\n* next",
    "Text\nlazy continuation",
]


def test_a_long_answer_renders_in_sections_exactly_as_whole(monkeypatch) -> None:
    import random

    import deepseek_magic.view._markdown as md

    def whole(text: str) -> tuple[str, str]:
        tokens, env = md._parse(text)
        parser = md._parser()
        markdown = md._Markdown().document(tokens)
        return str(parser.renderer.render(tokens, parser.options, env)), markdown

    rng = random.Random(7)
    for limit in (1, 20, 200):
        monkeypatch.setattr(md, "SECTION_CHARS", limit)
        for _ in range(60):
            text = "\n\n".join(rng.choice(_BLOCKS) for _ in range(rng.randint(2, 12)))
            sections = list(md._sections(text))
            assert "".join(sections) == text
            assert md.render_markdown(text) == whole(text), text
    # a text with link references is rendered whole (a label may be used anywhere)
    text = "[a][r]\n\n" + "para\n\n" * 50 + "[r]: https://example.org"
    assert list(md._sections(text)) == [text]
