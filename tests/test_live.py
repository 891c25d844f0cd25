"""The live view (issue 13): trailing frames, nothing after the final frame, no timer
thread left behind, the answer rendered while it streams, and hostile text inert in
every live frame. Counts and contents only, never wall-clock durations."""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from typing import Any

import pytest

from deepseek_magic.client._events import ContentDelta, ReasoningDelta
from deepseek_magic.emulator import Emulator, Fault, Reply, tokenize
from deepseek_magic.notebook._live import EMPTY_SHEET, SHEET, LiveView, _bundle_size
from deepseek_magic.view._live_state import LINE_HEIGHT, REASONING_LINES, STYLESHEET, LiveState
from deepseek_magic.view._markdown import IGNORE_MATH_CLASS
from tests.browser.xss_payloads import PAYLOADS as BROWSER_PAYLOADS
from tests.helpers.cells import interrupt_while_streaming, run_cell
from tests.helpers.inert_html import PAYLOADS, assert_bundle_inert, assert_inert

TIMER_NAME = "deepseek-live-timer"


class ManualTimer:
    """A timer the test fires by hand (the fake clock's twin)."""

    def __init__(self, fire: Callable[[], None]) -> None:
        self.fire = fire
        self.due: float | None = None
        self.cancelled = False

    def arm(self, at: float) -> None:
        if not self.cancelled and (self.due is None or at < self.due):
            self.due = at

    def cancel(self) -> None:
        self.cancelled, self.due = True, None


def fake_view(**kwargs: Any) -> tuple[LiveView, list[dict[str, Any]], list[float], ManualTimer]:
    now = [0.0]
    frames: list[dict[str, Any]] = []
    timers: list[ManualTimer] = []

    def make(fire: Callable[[], None]) -> ManualTimer:
        timers.append(ManualTimer(fire))
        return timers[-1]

    view = LiveView(
        lambda b, m, update: frames.append(b), clock=lambda: now[0], timer=make, **kwargs
    )
    return view, frames, now, timers[0]


def live_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == TIMER_NAME and t.is_alive()]


# ----------------------------------------------------------------------------- pacing


def test_a_frame_held_back_is_sent_by_the_timer_when_no_event_follows() -> None:
    view, frames, now, timer = fake_view()
    view.start()
    now[0] = 1.0
    view.event(ReasoningDelta("first words"))  # due: sent at once
    assert len(frames) == 2 and "first words" in frames[-1]["text/html"]
    now[0] = 1.01
    assert not view.event(ReasoningDelta(" then the last ones"))  # too soon after the frame
    assert len(frames) == 2 and timer.due == pytest.approx(1.0 + 1 / view.max_rate)
    # The server stalls: no event comes. The timer fires when the frame is due.
    now[0] = timer.due
    timer.due = None
    timer.fire()
    assert len(frames) == 3 and view.trailing == 1
    assert "then the last ones" in frames[-1]["text/html"]
    timer.fire()  # nothing new arrived: no frame
    assert len(frames) == 3


def test_nothing_is_sent_after_the_final_frame() -> None:
    view, frames, now, timer = fake_view()
    view.start()
    now[0] = 1.0
    view.event(ReasoningDelta("a"))
    now[0] = 1.01
    view.event(ReasoningDelta("b"))  # held back: the timer is armed
    assert timer.due is not None
    view.finish({"text/plain": "final"}, {})
    assert timer.cancelled and frames[-1] == {"text/plain": "final"}
    count = len(frames)
    now[0] = 5.0
    timer.fire()  # a timer that fires late anyway
    view.event(ReasoningDelta("c"))  # an event after the end
    assert len(frames) == count and frames[-1] == {"text/plain": "final"}


def test_frames_are_paced_by_the_byte_budget_but_a_pause_still_shows_the_text() -> None:
    view, frames, now, timer = fake_view(byte_factor=1, byte_allowance=0)
    view.start()
    sent_before = len(frames)
    for i in range(1, 40):  # one character every 0.2 s: far below what a frame costs
        now[0] = i * 0.2
        view.event(ReasoningDelta("x"))
        while timer.due is not None and timer.due <= now[0]:
            timer.due = None
            timer.fire()
    assert len(frames) - sent_before <= 3  # the budget holds frames back
    # A pause: the held text goes out once the stream has been quiet long enough.
    count = len(frames)
    for _ in range(5):  # no event comes any more: only the timer runs
        assert timer.due is not None
        now[0] = timer.due
        timer.due = None
        timer.fire()
        if len(frames) > count:
            break
    assert len(frames) == count + 1 and "x" * 39 in frames[-1]["text/html"]
    assert timer.due is None  # and then nothing more is pending


def test_at_most_max_rate_frames_a_second_and_total_bytes_linear() -> None:
    def run(tokens: int) -> tuple[int, int, float]:
        view, frames, now, timer = fake_view()
        view.start()
        for i in range(tokens):
            now[0] = i / 200  # 200 tokens a second
            view.event(ReasoningDelta("word ") if i < tokens // 2 else ContentDelta("word "))
            while timer.due is not None and timer.due <= now[0]:
                timer.due = None
                timer.fire()
        return len(frames), view.bytes_sent, now[0]

    frames, small, seconds = run(2_000)
    assert frames <= view_rate() * seconds + 2
    _, large, _ = run(20_000)
    assert large <= 12 * small  # 10x the reply, about 10x the bytes (not 100x)


def view_rate() -> float:
    from deepseek_magic.notebook._live import DEFAULT_MAX_RATE

    return DEFAULT_MAX_RATE


# ----------------------------------------------------------------------------- threads


def test_the_timer_thread_is_joined_when_the_view_finishes() -> None:
    frames: list[dict[str, Any]] = []
    view = LiveView(lambda b, m, u: frames.append(b))
    view.start()
    view.event(ReasoningDelta("a"))
    view.event(ReasoningDelta("b"))  # held back: starts the timer's thread
    assert view.timer.thread is not None  # type: ignore[attr-defined]
    view.finish({"text/plain": "done"}, {})
    assert not view.timer.thread.is_alive()  # type: ignore[attr-defined]
    assert frames[-1] == {"text/plain": "done"}


def test_a_stall_shows_the_text_before_it_without_waiting_for_the_next_token(shell) -> None:
    before = "Alpha beta gamma delta epsilon zeta eta theta"
    after = " iota kappa lambda"
    reply = Reply(reasoning=before + after, answer="Done.")
    n = len(tokenize(before))
    # The tokens come at once, then the server is silent for a second.
    with Emulator(replies=[Fault("stall", after_tokens=n, seconds=1.0, reply=reply)]) as emu:
        run = run_cell(shell, f"%%deepseek --base-url {emu.base_url}\nHi")
    assert run.success, run.error
    live = [o.data["text/html"] for o in run.outputs[:-1]]
    # Some frame shows all the text from before the stall, and nothing after it: only the
    # timer could have sent it, since no event arrived until the stall ended.
    assert any("theta" in h and "iota" not in h for h in live), live
    assert not live_threads()


def test_no_timer_thread_is_left_after_an_interrupt(shell) -> None:
    words = " ".join(f"w{i}" for i in range(400))
    with Emulator(replies=[Reply(reasoning=words, answer="late")], token_delay=0.01) as emu:
        run = interrupt_while_streaming(
            shell, emu, f"%%deepseek --base-url {emu.base_url} -o cut\nHi"
        )
    assert isinstance(run.error, KeyboardInterrupt)
    assert "Interrupted" in run.final["text/html"]
    assert "dsm-live" not in run.final["text/html"]
    assert not live_threads()


# ----------------------------------------------------------------------------- rendering


def stream_into(state: LiveState, text: str, *, answer: bool, step: int = 7) -> list[str]:
    """Feed ``text`` in pieces of ``step`` characters; the frame after each piece."""
    frames = []
    for i in range(0, len(text), step):
        piece = text[i : i + step]
        state.add(ContentDelta(piece) if answer else ReasoningDelta(piece))
        frames.append(state.frame(1.0)["text/html"])
    return frames


ANSWER = (
    "## Result\n\nThe value is **42**, see $x^2$.\n\n"
    "| a | b |\n|---|---|\n| 1 | 2 |\n\n"
    "```python\nprint('costs $5')\n```\n\nDone."
)


def test_the_live_answer_is_rendered_block_by_block() -> None:
    state = LiveState()
    state.add(ReasoningDelta("thinking"))
    html = stream_into(state, ANSWER, answer=True)[-1]
    assert "<h2>Result</h2>" not in html or "<strong>42</strong>" in html
    # Completed blocks are rendered HTML (the window holds the last ones).
    assert "<table>" in html and '<pre><code class="language-python">' in html
    assert "| a | b |" not in html and "```" not in html
    # The growing block is rendered too.
    assert "Done." in html.split("dsm-growing", 1)[1]
    assert_inert(html)


def test_inline_math_is_typeset_once_it_closes_never_before() -> None:
    state = LiveState()
    state.add(ContentDelta("First $x^2$ here.\n\nNow $y"))
    html = state.frame(1.0)["text/html"]
    assert html.startswith("<div class=dsm-live>")  # MathJax may look inside
    done, growing = html.split("dsm-growing", 1)
    assert '<span class="dsm-math">$x^2$</span>' in done  # for MathJax: its block is whole
    assert "dsm-math" not in growing  # a lone "$" stays text, hidden from MathJax
    assert f"<span class='{IGNORE_MATH_CLASS}'> $y</span>" in growing  # plain, hidden from MathJax
    state.add(ContentDelta("^2$ later"))
    growing = state.frame(1.0)["text/html"].split("dsm-growing", 1)[1]
    assert growing.startswith(">") and '<span class="dsm-math">$y^2$</span>' in growing


def test_display_math_is_not_kept_in_the_window_its_room_is() -> None:
    # MathJax would typeset it again at every frame; the final view typesets it once.
    state = LiveState()
    state.add(ContentDelta("Intro $x$ here.\n\nMiddle.\n\n$$\n\\frac{a}{b}\n$$\n\nThen more"))
    html = state.frame(1.0)["text/html"]
    assert "frac" not in html and "Middle" not in html  # the block above goes along
    assert "dsm-elided" in html and "2 parts more" in html and "Then more" in html
    assert "<p>Intro" in html  # ... but never the answer's opening
    assert state.answer.elided_em > 0
    state.add(ContentDelta(" text.\n\nLast $y$ para.\n\nAnd"))
    html = state.frame(1.0)["text/html"]
    assert '<span class="dsm-math">$y$</span>' in html  # inline math is kept, typeset live


def test_the_answers_opening_never_leaves_the_live_view() -> None:
    state = LiveState()
    state.add(ReasoningDelta("r"))
    verdict = "No. **9.9 is larger than 9.11.**"
    frames = stream_into(
        state,
        f"{verdict}\n\n" + "| a | b |\n|---|---|\n| 1 | 2 |\n\n" * 30 + "More text.\n\n" * 30,
        answer=True,
        step=7,
    )
    later = [f for f in frames if "<table>" in f or "More text" in f]
    assert later and all("<strong>9.9 is larger than 9.11.</strong>" in f for f in later)
    # a long first block keeps its first words
    state = LiveState()
    state.add(ContentDelta("Word " * 300 + "\n\nNext block.\n\nAnd"))
    html = state.frame(1.0)["text/html"]
    assert "<p>Word Word" in html and "…" in html and len(html) < 1500


def test_half_written_markdown_is_shown_only_once_it_renders() -> None:
    state = LiveState()
    state.add(ContentDelta("The **answer"))
    html = state.frame(1.0)["text/html"]
    assert "**" not in html and "answer" in html  # the rest shows as plain text
    state.add(ContentDelta("** is [a link"))
    html = state.frame(1.0)["text/html"]
    assert "<strong>answer</strong>" in html and "[" not in html.split("</strong>")[1][:5]
    state.add(ContentDelta("](https://example.org) and `code"))
    html = state.frame(1.0)["text/html"]
    assert "<a " in html and "<code>" not in html
    # a table shows from its separator row on, whole rows only
    state = LiveState()
    state.add(ContentDelta("Intro.\n\n| a | b |\n"))
    assert "| a" not in state.frame(1.0)["text/html"]
    state.add(ContentDelta("|---|---|\n| 1 | 2 |\n| 3 |"))
    html = state.frame(1.0)["text/html"]
    assert "<table>" in html and "<td>1</td>" in html and "3" not in html and "|" not in html


def test_the_reasoning_tail_starts_at_a_word_and_the_box_fills_from_the_top() -> None:
    state = LiveState()
    state.add(ReasoningDelta("alpha beta gamma " * 40))
    html = state.frame(1.0)["text/html"]
    tail = html.split("<div class=dsm-reasoning-tail><div>", 1)[1].split("</div>", 1)[0]
    assert tail.lstrip("…").split(" ", 1)[0] in ("alpha", "beta", "gamma")
    assert ".dsm-reasoning-tail>div{margin-bottom:auto}" in STYLESHEET


def test_the_status_line_comes_first_as_the_readme_says() -> None:
    state = LiveState()
    state.add(ReasoningDelta("thinking hard"))
    html = state.frame(1.0)["text/html"]
    assert html.index("dsm-status") < html.index("dsm-reasoning-tail")
    state.add(ContentDelta("Answer."))
    html = state.frame(2.0)["text/html"]
    assert html.index("dsm-status") < html.index("dsm-answer-body")


def test_an_unclosed_fence_only_turns_its_own_block_into_code() -> None:
    state = LiveState()
    state.add(ContentDelta("Intro paragraph.\n\n## Heading\n\n```python\nx = 1\n"))
    html = state.frame(1.0)["text/html"]
    assert "<p>Intro paragraph.</p>" in html and "<h2>Heading</h2>" in html
    growing = html.split("dsm-growing", 1)[1]
    assert "<pre><code" in growing and "Intro" not in growing


def test_the_reasoning_box_keeps_its_height_then_gives_way_to_the_answer() -> None:
    # The box's height is fixed by the stylesheet, and "Answer" with the answer's body
    # takes the box's room when the answer starts (the header line stays).
    box = re.search(r"\.dsm-reasoning-tail\{[^}]*\bheight:([\d.]+)em", STYLESHEET)
    body = re.search(r"\.dsm-answer-body\{min-height:([\d.]+)em", STYLESHEET)
    assert box and float(box.group(1)) == LINE_HEIGHT * REASONING_LINES
    assert body and float(body.group(1)) + LINE_HEIGHT == float(box.group(1))
    state = LiveState()
    for i in range(5):  # the same markup, however much reasoning arrives: no inline style
        state.add(ReasoningDelta("step " * (10 + 50 * i)))
        html = state.frame(1.0)["text/html"]
        assert "<div class=dsm-head>▾ Reasoning</div><div class=dsm-reasoning-tail>" in html
        assert "style" not in html
    state.add(ContentDelta("Answer starts"))
    html = state.frame(1.0)["text/html"]
    assert "dsm-reasoning-tail" not in html
    assert "▸ Reasoning · ≈" in html and "<br>▾ Answer</div><div class=dsm-answer-body>" in html


def test_the_stylesheet_is_shown_once_above_the_frames_and_emptied_after_the_final() -> None:
    sheet: list[tuple[dict[str, Any], bool]] = []
    slept: list[float] = []
    sent: list[float] = []
    view, frames, now, timer = fake_view(
        sheet=lambda b, m, update: (sheet.append((b, update)), sent.append(now[0])),
        sleep=lambda s: (slept.append(s), now.__setitem__(0, now[0] + s)),
        max_rate=9.5,  # a last second full of frames: the emptying has to wait its turn
    )
    view.start()
    assert sheet == [(SHEET, False)] and len(frames) == 1
    for i in range(300):
        now[0] = i * 0.01
        if view.event(ReasoningDelta("word " * 10)):
            sent.append(now[0])
    assert len(frames) > 10  # frames carry no stylesheet
    assert all("<style" not in f["text/html"] and "style=" not in f["text/html"] for f in frames)
    view.finish({"text/plain": "final"}, {})
    sent.append(now[0])
    # The final frame at once, then the stylesheet's output emptied: a saved notebook
    # keeps no stylesheet; that message waited until the last second had room for it.
    assert frames[-1] == {"text/plain": "final"}
    assert sheet == [(SHEET, False), (EMPTY_SHEET, True)] and EMPTY_SHEET == {"text/html": ""}
    assert slept and max(sum(1 for t in sent if end - 1.0 < t <= end) for end in sent) <= 10
    # The budget counts the stylesheet's messages too.
    assert view.bytes_sent == sum(_bundle_size(b) for b in [SHEET, *frames, EMPTY_SHEET])


def test_the_stylesheet_is_emptied_at_once_when_the_last_second_was_quiet() -> None:
    sheet: list[dict[str, Any]] = []
    slept: list[float] = []
    view, frames, now, timer = fake_view(
        sheet=lambda b, m, update: sheet.append(b), sleep=slept.append
    )
    view.start()
    view.event(ReasoningDelta("word "))
    view.finish({"text/plain": "final"}, {})
    assert sheet == [SHEET, EMPTY_SHEET] and slept == []


def test_live_frames_stay_small_whatever_the_reply() -> None:
    state = LiveState()
    stream_into(state, "word " * 20_000, answer=False, step=50)
    frames = stream_into(state, ("Para " * 40 + "\n\n") * 200, answer=True, step=50)
    assert max(len(f.encode()) for f in frames) < 3_000


@pytest.mark.parametrize("payload", sorted(set(PAYLOADS) | set(BROWSER_PAYLOADS)))
def test_hostile_text_is_inert_in_every_live_frame(payload: str) -> None:
    for answer in (False, True):
        state = LiveState()
        if answer:
            state.add(ReasoningDelta("r"))
        text = f"{payload}\n\n{payload}\n\n- {payload}\n\n| {payload} | x |\n|---|---|\n| 1 | 2 |\n"
        for i, html in enumerate(stream_into(state, text, answer=answer, step=5)):
            assert_bundle_inert({"text/html": html}, f"live frame {i} of {payload!r}")


def test_the_live_rate_setting_defaults_to_the_views_rate() -> None:
    from deepseek_magic.core._call import SETTINGS
    from deepseek_magic.notebook._live import DEFAULT_MAX_RATE

    assert next(s for s in SETTINGS if s.name == "live_rate").default == DEFAULT_MAX_RATE
