"""Terminal IPython: the magic streams plain text (reasoning dimmed, then the answer) and
ends with a footer; no HTML reaches a terminal."""

from __future__ import annotations

import io

from deepseek_magic.client._events import ContentDelta, ContentWasReasoning, ReasoningDelta
from deepseek_magic.emulator import Emulator, Reply
from deepseek_magic.notebook._live import TerminalView
from tests.helpers.cells import run_terminal_ipython


def test_terminal_view_prints_reasoning_then_answer() -> None:
    out = io.StringIO()
    view = TerminalView(out, color=False)
    for event in [
        ReasoningDelta("Let me "),
        ReasoningDelta("think."),
        ContentDelta("It is "),
        ContentDelta("42."),
    ]:
        view.event(event)
    view.finish("-- model · 3 tokens")
    assert out.getvalue() == "Thinking…\nLet me think.\n\nIt is 42.\n-- model · 3 tokens\n"


def test_terminal_view_can_hide_reasoning_and_says_when_text_was_reasoning() -> None:
    out = io.StringIO()
    view = TerminalView(out, show_reasoning=False, color=False)
    view.event(ReasoningDelta("secret plan"))
    view.event(ContentDelta("answer"))
    view.event(ContentWasReasoning())
    assert "secret plan" not in out.getvalue() and "answer" in out.getvalue()
    assert "[the text above was reasoning]" in out.getvalue()


def test_terminal_ipython_streams_plain_text(tmp_path) -> None:
    with Emulator(
        replies=[Reply(reasoning="Compare the tenths first.", answer="**9.9** is larger.")]
    ) as emu:
        script = (
            f"%load_ext deepseek_magic\n"
            f"%deepseek --base-url {emu.base_url} -o r Is 9.11 larger than 9.9?\n"
            f"print('ANSWER=' + r.answer)\n"
        )
        proc = run_terminal_ipython(script, tmp_path)
    out = proc.stdout
    assert proc.returncode == 0, proc.stderr
    assert "Compare the tenths first." in out  # the reasoning streamed
    assert "**9.9** is larger." in out  # the answer as text (markdown source, readable)
    assert "ANSWER=**9.9** is larger." in out  # -o bound the Result
    assert "finish: stop" in out  # the footer
    assert "<div" not in out and "<details" not in out  # no HTML in a terminal
    assert emu.requests[-1]["messages"][-1]["content"] == "Is 9.11 larger than 9.9?"


def test_colour_only_on_a_terminal_and_once_per_stretch(monkeypatch) -> None:
    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    monkeypatch.delenv("NO_COLOR", raising=False)
    out = Tty()
    view = TerminalView(out)
    for word in ("a ", "b ", "c"):
        view.event(ReasoningDelta(word))
    view.event(ContentDelta("answer"))
    view.finish("footer")
    text = out.getvalue()
    assert text.count(TerminalView.DIM) == 2 and text.endswith(
        TerminalView.RESET + "\n"
    )  # reasoning, footer
    assert "\x1b" not in text.split(TerminalView.RESET)[1].split(TerminalView.DIM)[0].replace(
        "\n", ""
    )
    monkeypatch.setenv("NO_COLOR", "1")
    plain = Tty()
    TerminalView(plain).event(ReasoningDelta("x"))
    assert "\x1b" not in plain.getvalue()


def test_terminal_view_says_when_the_emulator_answers() -> None:
    out = io.StringIO()
    view = TerminalView(out, color=False, offline=True)
    view.event(ContentDelta("42."))
    view.finish("-- model · simulated cost $0.000010 (not charged)")
    assert out.getvalue().startswith("[Offline emulator — not DeepSeek R1]\n")
    assert "simulated cost" in out.getvalue()


def test_terminal_ipython_offline_labels_the_reply_and_shows_no_charge(tmp_path) -> None:
    script = "%load_ext deepseek_magic\n%deepseek_offline on\n%deepseek What is 17 * 23?\n"
    proc = run_terminal_ipython(script, tmp_path)
    out = proc.stdout
    assert proc.returncode == 0, proc.stderr
    assert "[Offline emulator — not DeepSeek R1]" in out
    footer = next(line for line in out.splitlines() if "finish:" in line)
    assert "simulated cost $" in footer and "(not charged)" in footer
