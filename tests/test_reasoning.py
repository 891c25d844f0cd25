"""Result.reasoning_stats on a corpus of hand-made reasonings (paragraphs, numbered steps,
bulleted lists, code blocks with blank lines, Chinese, self-checks and words that only
look like them); the stream's timestamps kept by the accumulator; the explorer and
compare(): every step in order, marks where they belong, hostile reasoning inert (the
corpora of tests/helpers/inert_html.py and tests/browser/xss_payloads.py, and the
fragments fuzzed), in nbconvert's HTML too, plain text for a terminal; the two magics.
(tests/browser/test_explore_ui.py runs the browser corpus through JupyterLab.)"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import deepseek_magic as dm
from deepseek_magic import Result, Usage
from deepseek_magic.eval._explore import step_times
from deepseek_magic.eval._reasoning import SELF_CHECK_PHRASES, find_self_checks, split_steps
from tests.browser.xss_payloads import PAYLOADS as BROWSER_PAYLOADS
from tests.helpers.inert_html import (
    ALLOWED_TAGS,
    FORBIDDEN_TAGS,
    FRAGMENTS,
    PAYLOADS,
    Tree,
    assert_inert,
    assert_mathjax_sees_only_our_math,
)

# (reasoning, steps, self-checks)
CORPUS: list[tuple[str, int, int]] = [
    ("", 0, 0),
    ("Just one thought.", 1, 0),
    ("First.\n\nSecond.\n\n\n\nThird.", 3, 0),
    ("A line\nand its next line stay one step.\n\nThen another.", 2, 0),
    ("1. Read the problem.\n2. Set up x.\n3) Solve.\nStep 4: check.", 4, 0),
    ("The plan:\n- a\n- b\n- c\n\nDone.", 2, 0),
    ("Code:\n```python\nx = 1\n\n\ny = 2\n```\n\nAfter the code.", 2, 0),
    ("1. Write code:\n```\na = 1\n\n2. not an item, inside code\n```\n2. Run it.", 2, 0),
    ("x = 5.\n\nWait, that's wrong. x = 6.", 2, 1),
    ("Wait, let me double-check that. Yes.", 1, 1),
    ("Hmm, actually no. Alternatively, use algebra. On second thought, draw it.", 1, 3),
    ("Let me verify: 6 * 12 = 72. Let me check again. Check: 72.", 1, 3),
    ("I can't wait to solve it; a waiter waits. Actually-ness is a word.", 1, 0),
    ("But wait, the train stops. No, that is too early. Hold on.", 1, 3),
    ("设宽为 w。\n\n等等，不对，长是宽的两倍。验证一下：2(6+12)=36。", 2, 3),
    ("I made a mistake: 3 + 4 is 7, that's not right either, it is 7.", 1, 2),
]


@pytest.mark.parametrize(("reasoning", "steps", "checks"), CORPUS)
def test_steps_and_self_checks_on_the_corpus(reasoning: str, steps: int, checks: int) -> None:
    stats = Result(reasoning=reasoning, answer="7").reasoning_stats
    assert stats.step_count == steps, [s.text for s in stats.steps]
    assert stats.self_checks == checks, stats.self_check_marks
    assert stats.characters == len(reasoning)
    # the steps are the reasoning, in order, nothing lost but blank lines
    joined = "".join(s.text for s in stats.steps)
    assert joined.replace("\n", "").replace(" ", "") == reasoning.replace("\n", "").replace(" ", "")
    for s in stats.steps:
        assert reasoning[s.start : s.end] == s.text


def test_a_code_block_is_never_split_and_numbered_items_are_steps() -> None:
    steps = split_steps("1. Write:\n```\nx = 1\n\n\n2. y\n```\n2. Run.")
    assert [s.text.split("\n")[0] for s in steps] == ["1. Write:", "2. Run."]
    assert "2. y" in steps[0].text


def test_the_self_check_list_is_configurable() -> None:
    text = "Voyons voir. Attendez, c'est faux."
    assert find_self_checks(text) == []
    found = find_self_checks(text, phrases=[("attendez", True), ("c'est faux", False)])
    assert [c.phrase for c in found] == ["Attendez, c'est faux"]  # one doubt, two phrases
    assert ("wait", True) in SELF_CHECK_PHRASES


def test_answer_position_thinking_time_and_cut() -> None:
    reasoning = "Try 10: too small.\n\nTry 1,234: that works.\n\nSo 1,234."
    r = Result(
        reasoning=reasoning,
        answer="**Answer: 1234**",
        usage=Usage(reasoning_tokens=40),
        time_to_first_token=1.5,
        reasoning_elapsed=4.0,
        finish_reason="stop",
    )
    stats = r.reasoning_stats
    assert stats.final_answer == 1234 and stats.tokens == 40
    assert stats.answer_first_at == pytest.approx(reasoning.index("1,234") / len(reasoning))
    assert stats.thinking_seconds == pytest.approx(2.5) and not stats.cut
    assert Result(reasoning="So far", answer="", finish_reason="length").reasoning_stats.cut
    assert Result(reasoning="So far", interrupted=True).reasoning_stats.cut
    assert not Result(reasoning="r", answer="a", finish_reason="length").reasoning_stats.cut
    assert (
        Result(reasoning="no such number", answer="Answer: 5").reasoning_stats.answer_first_at
        is None
    )
    text_answer = Result(reasoning="It could be Lyon. No: Paris.", answer="Answer: Paris")
    assert text_answer.reasoning_stats.answer_first_at == pytest.approx(22 / 28)
    assert set(stats.as_row()) == {
        "steps",
        "self_checks",
        "thinking_seconds",
        "answer_first_at",
        "reasoning_cut",
    }


def test_the_accumulator_keeps_bounded_reasoning_timestamps() -> None:
    from deepseek_magic.client._accumulate import Accumulator
    from deepseek_magic.client._events import ContentDelta, ReasoningDelta

    acc = Accumulator()
    for i in range(5000):  # 5,000 tokens over 500 s
        acc.add(ReasoningDelta("tok "), now=i * 0.1)
    acc.add(ContentDelta("42"), now=500.0)
    r = acc.snapshot(elapsed=501.0)
    marks = r.reasoning_times
    assert 100 < len(marks) <= 513
    assert [c for c, _ in marks] == sorted(c for c, _ in marks) and marks[0] == (4, 0.0)
    assert Result.from_dict(r.to_dict()).reasoning_times == marks


def test_step_times_come_from_the_stream(emu: Any, session: Any) -> None:
    from deepseek_magic.emulator import Reply

    emu.queue(Reply(reasoning="First step here.\n\nSecond step.\n\nWait, third.", answer="Done: 3"))
    r = dm.ask("x", base_url=emu.base_url, session=session, stream=True)
    assert r.reasoning_times, "a streamed reply keeps timestamps"
    times = step_times(r, list(r.reasoning_stats.steps))
    assert all(t is not None for t in times) and times == sorted(times)  # type: ignore[type-var]


# ------------------------------------------------------------------ the explorer
def _result(reasoning: str, answer: str = "Answer: 72") -> Result:
    return Result(
        reasoning=reasoning,
        answer=answer,
        time_to_first_token=1.0,
        reasoning_elapsed=9.0,
        reasoning_times=tuple((i * 10, 1.0 + i * 0.5) for i in range(len(reasoning) // 10 + 1)),
    )


R1 = _result(
    "Let w be the width.\n\nThen 6w = 36, w = 6.\n\nWait, let me double-check: 2(6+12) = 36.\n\n"
    "Area 6 * 12 = 72."
)


def test_the_explorer_shows_every_step_in_order_with_its_marks() -> None:
    page = R1.explore()._repr_html_()
    assert_inert(page, "explore")
    tree = Tree(page)
    steps = tree.root.find("dm-step")
    assert len(steps) == 4
    texts = [s.text() for s in steps]
    assert [t.split(".")[0] for t in texts] == ["1", "2", "3", "4"]
    assert "Let w be" in texts[0] and "Area 6 * 12" in texts[3]
    checks = tree.root.find("dm-check")
    assert len(checks) == 1 and "Wait, let me double-check" in checks[0].text()
    answers = tree.root.find("dm-answer")
    assert len(answers) == 1 and answers[0].text().strip() == "Answer: 72"
    first = tree.root.find("dm-first-answer")
    assert len(first) == 1 and first[0].text() == "✓ 72" and first[0] in steps[3].walk()
    assert len(tree.root.find("dm-strip")) == 1 and "4 steps, 1 self-check," in page


def test_the_explorer_in_a_terminal_and_without_timestamps() -> None:
    text = repr(R1.explore())
    lines = text.splitlines()
    assert lines[0].startswith("Reasoning: 4 steps, 1 self-check,")
    assert lines[3].lstrip().startswith("3.") and "⟲" in lines[3]
    assert "✓" in lines[4] and lines[-1] == "The answer: Answer: 72"
    bare = Result(reasoning="a\n\nb", answer="c").explore()._repr_html_()
    assert "no stream timestamps" in bare


def test_compare_aligns_two_runs_by_step() -> None:
    r2 = _result("Area is length times width.\n\n12 * 6 = 72.", answer="**72**")
    both = dm.compare(R1, r2)
    page = both._repr_html_()
    assert_inert(page, "compare")
    tree = Tree(page)
    rows = [n for n in tree.root.walk() if n.tag == "tr"]
    assert len(rows) == 1 + 4 + 1  # the heads, four steps (the longer run), the answers
    assert "Let w be" in rows[1].text() and "Area is length" in rows[1].text()
    assert rows[4].text().count("4.") == 1  # the short run has no fourth step
    text = repr(both)
    assert text.count("--- step") == 4 and "B answer: **72**" in text
    with pytest.raises(dm.OptionError, match="not a Result"):
        dm.compare(R1, "x")


@pytest.mark.parametrize("payload", PAYLOADS)
def test_hostile_reasoning_stays_inert_in_the_explorer(payload: str) -> None:
    hostile = Result(
        reasoning=f"{payload}\n\nWait, {payload}\n\n1. {payload}\n2. 72 {payload}",
        answer=payload + " Answer: 72",
        reasoning_times=((5, 1.0), (10_000, 2.0)),
        reasoning_elapsed=3.0,
    )
    for where, page in {
        "explore": hostile.explore()._repr_html_(),
        "compare": dm.compare(hostile, R1)._repr_html_(),
    }.items():
        assert_inert(page, where)
        assert_mathjax_sees_only_our_math(page)


@settings(max_examples=150, deadline=None)
@given(
    st.lists(st.one_of(st.sampled_from(FRAGMENTS), st.text(max_size=8)), max_size=12).map("".join),
    st.lists(st.one_of(st.sampled_from(FRAGMENTS), st.text(max_size=8)), max_size=6).map("".join),
)
def test_any_mix_of_fragments_stays_inert(reasoning: str, answer: str) -> None:
    r = Result(reasoning=reasoning, answer=answer, reasoning_times=((1, 0.5), (50, 1.0)))
    assert_inert(r.explore()._repr_html_(), "explore")
    assert_inert(dm.compare(r, r)._repr_html_(), "compare")
    repr(r.explore())


# ------------------------------------------------------------------ the magics
def test_the_grade_and_explore_magics(shell: Any) -> None:
    pd = pytest.importorskip("pandas")
    shell.user_ns["out"] = pd.DataFrame({"answer": ["Answer: 4", "Answer: 5"], "truth": [4, 4]})
    grades = shell.run_line_magic("deepseek_grade", "out --expected truth --extract number -o g")
    assert shell.user_ns["g"] is grades and grades.correct == 1
    from IPython.core.error import UsageError

    with pytest.raises(UsageError, match="'nope' is not defined"):
        shell.run_line_magic("deepseek_grade", "nope --expected truth")
    with pytest.raises(UsageError, match="is not a column"):
        shell.run_line_magic("deepseek_grade", "out --expected nope")
    shell.user_ns["r"] = R1
    shell.user_ns["r2"] = R1
    assert "4 steps" in repr(shell.run_line_magic("deepseek_explore", "r"))
    assert "--- step" in repr(shell.run_line_magic("deepseek_explore", "r --compare r2"))
    with pytest.raises(UsageError, match="not a Result"):
        shell.run_line_magic("deepseek_explore", "out")


@pytest.mark.parametrize("payload", BROWSER_PAYLOADS)
def test_the_browser_corpus_stays_inert_in_the_explorer(payload: str) -> None:
    hostile = Result(reasoning=f"Wait, {payload}\n\n{payload} 72", answer=f"{payload} **72**")
    assert_inert(hostile.explore()._repr_html_(), "explore")
    assert_inert(dm.compare(hostile, R1)._repr_html_(), "compare")


def test_the_explorer_in_nbconvert_html_keeps_every_step_and_runs_nothing() -> None:
    """A saved notebook's explorer output, exported by nbconvert (which runs no script and
    keeps text/html as is): the steps are all there, in order, and no payload became
    markup (the same check as for the live output, on the exported page's subtree)."""
    nbformat = pytest.importorskip("nbformat")
    nbconvert = pytest.importorskip("nbconvert")
    from tests.browser.xss_payloads import corpus, label

    r = Result(reasoning=corpus(), answer="done", reasoning_times=((10, 0.5), (10**6, 2.0)))
    shown = r.explore()
    cell = nbformat.v4.new_code_cell(
        "r.explore()",
        outputs=[
            nbformat.v4.new_output(
                "execute_result",
                data={"text/html": shown._repr_html_(), "text/plain": repr(shown)},
                execution_count=1,
            )
        ],
        execution_count=1,
    )
    page, _ = nbconvert.HTMLExporter().from_notebook_node(nbformat.v4.new_notebook(cells=[cell]))
    (explorer,) = Tree(page).root.find("dm-explore")
    for node in explorer.walk()[1:]:
        assert node.tag in ALLOWED_TAGS and node.tag not in FORBIDDEN_TAGS, node.tag
        assert all(not name.startswith("on") for name, _ in node.attrs)
    steps = explorer.find("dm-step")
    assert len(steps) == len(shown.steps)
    text = explorer.text()
    positions = [text.index(label(n)) for n in range(1, len(BROWSER_PAYLOADS) + 1)]
    assert positions == sorted(positions)
