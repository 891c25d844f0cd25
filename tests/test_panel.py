"""The ipywidgets panel, driven through its widgets' own API against the emulator.

Values are set with ``widget.value = ...`` and buttons pressed with ``.click()``, as a
browser would; the emulator's request log says what was really sent.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

import pytest

ipywidgets = pytest.importorskip("ipywidgets")

import deepseek_magic
from deepseek_magic.batch._grid import MAX_POINTS
from deepseek_magic.core._options import OPTION_BY_NAME, OPTIONS, Option
from deepseek_magic.emulator import Emulator, Fault, Reply
from deepseek_magic.notebook._panel import Panel, panel
from tests.helpers.cells import run_cell
from tests.helpers.inert_html import Tree

LONG_REASONING = " ".join(f"step{i}" for i in range(400))


def make(session: Any, emu: Emulator, prompt: str = "What is 2 + 2?", **kw: Any) -> Panel:
    session.config["base_url"] = emu.base_url
    kw.setdefault("shell", None)
    p = panel(prompt, session=session, **kw)
    return p


def send(p: Panel) -> None:
    p.send_button.click()
    assert p.wait(20), "the request did not finish"


def wait_until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached")
        time.sleep(0.01)


def plain(output: Any) -> str:
    return "".join(o["data"].get("text/plain", "") for o in output.outputs)


def html(output: Any) -> str:
    return "".join(o["data"].get("text/html", "") for o in output.outputs)


def seen_text(source: str) -> str:
    """What a reader sees of some HTML: its text, tags dropped."""
    return Tree(source).root.text()


# ---------------------------------------------------------------- the contract
def test_panel_is_a_widget_as_the_contract_says(session) -> None:
    p = deepseek_magic.panel("hello", session=session, shell=None)
    assert isinstance(p, ipywidgets.Widget)
    assert isinstance(p.prompt, ipywidgets.Textarea) and p.prompt.value == "hello"
    assert p.send_button.description == "Send"
    numeric = [
        o for o in OPTIONS if o.kind in ("float", "int") and o.widget in ("slider", "int_slider")
    ]
    assert {o.name for o in numeric} >= {"temperature", "top_p", "top_k"}
    for o in numeric:
        widget = p.controls[o.name]
        assert isinstance(widget, (ipywidgets.FloatSlider, ipywidgets.IntSlider)), o.name
        assert widget.description == o.label
    assert p.controls["top_p"].description == "top p"
    classes = {
        "dsm-panel": p,
        "dsm-send": p.send_button,
        "dsm-stop": p.stop_button,
        "dsm-compare": p.compare_button,
        "dsm-prompt": p.prompt,
        "dsm-output": p.output,
        "dsm-status": p.status,
    }
    for css, widget in classes.items():
        assert css in widget._dom_classes, css


def test_every_option_of_the_table_has_a_control_with_its_range(session) -> None:
    p = Panel(session=session, shell=None)
    for o in OPTIONS:
        if o.alias_of:  # a deprecated alias is sent as its target, which has the control
            assert o.name not in p.controls and o.alias_of in p.controls
            continue
        widget = p.controls[o.name]
        assert widget.description == o.label
        assert p.send_boxes[o.name].value is False, "every option starts unset"
        if isinstance(widget, (ipywidgets.FloatSlider, ipywidgets.IntSlider)):
            # The option's own range where it has one, else the range its panel hint offers.
            lo = o.minimum if o.minimum is not None else o.panel_range[0]
            hi = o.maximum if o.maximum is not None else o.panel_range[1]
            assert (widget.step, widget.max) == (o.step, hi)
            if o.min_exclusive:
                assert lo < widget.min <= lo + o.step
            else:
                assert widget.min == lo
    assert list(p.controls["reasoning_effort"].options) == list(
        OPTION_BY_NAME["reasoning_effort"].choices
    )
    assert isinstance(p.controls["stop"], ipywidgets.TagsInput)
    assert isinstance(p.controls["include_reasoning"], ipywidgets.Dropdown)
    assert isinstance(p.controls["tools"], ipywidgets.SelectMultiple)
    assert {"none", "auto", "required"} <= set(p.controls["tool_choice"].options)


def test_exclusive_minimum_cannot_be_sent_from_a_slider(session, emu) -> None:
    p = make(session, emu)
    for name in ("top_p", "repetition_penalty"):
        p.controls[name].value = 0.0  # dragged to the far left
        assert p.controls[name].value > 0
    send(p)
    body = emu.requests[-1]
    assert 0 < body["top_p"] <= 0.01 and 0 < body["repetition_penalty"] <= 0.01


def test_an_option_added_to_the_table_appears_without_panel_code(session, emu, monkeypatch) -> None:
    min_p = Option(
        "min_p", "float", "Minimum probability.", minimum=0, maximum=1, widget="slider", step=0.01
    )
    table = OPTIONS + (
        min_p,
        Option("verbosity", "choice", "How long the answer is.", choices=("low", "high")),
        Option("logprobs", "bool", "Return log probabilities."),
        Option("top_logprobs", "int", "How many log probabilities.", minimum=0, maximum=20),
    )
    p = Panel(session=session, shell=None, options=table)
    assert isinstance(p.controls["min_p"], ipywidgets.FloatSlider)
    assert (p.controls["min_p"].min, p.controls["min_p"].max, p.controls["min_p"].description) == (
        0,
        1,
        "min p",
    )
    assert list(p.controls["verbosity"].options) == ["low", "high"]
    assert isinstance(p.controls["logprobs"], ipywidgets.Dropdown)
    assert (p.controls["top_logprobs"].min, p.controls["top_logprobs"].max) == (0, 20)
    assert "min_p" not in Panel(session=session, shell=None).controls
    # Once in the table (validation and body read it too), the new option is sent and copied.
    monkeypatch.setitem(OPTION_BY_NAME, "min_p", min_p)
    session.config["base_url"] = emu.base_url
    p.prompt.value = "q"
    p.controls["min_p"].value = 0.05
    assert p.values() == {"min_p": 0.05}
    send(p)
    assert emu.requests[-1]["min_p"] == 0.05
    assert p.cell().startswith("%%deepseek --min-p 0.05\n")


# ---------------------------------------------------------------- Send
def test_untouched_panel_sends_no_options(session, emu) -> None:
    p = make(session, emu)
    send(p)
    # (stream_options: the client asks local servers for usage; not a panel option)
    assert set(emu.requests[-1]) == {"model", "messages", "stream", "stream_options"}
    assert emu.requests[-1]["messages"] == [{"role": "user", "content": "What is 2 + 2?"}]


def test_body_carries_exactly_the_values_set(session, emu) -> None:
    p = make(session, emu, provider="openrouter", base_url=emu.base_url)
    p.controls["temperature"].value = 0.6000000000000001  # what a browser slider may send
    p.controls["top_k"].value = 40
    p.controls["seed"].value = 7
    p.controls["stop"].value = ["###", "END"]
    p.controls["reasoning_effort"].value = "high"
    p.controls["max_completion_tokens"].value = 512
    p.controls["presence_penalty"].value = 0.5
    p.send_boxes["presence_penalty"].value = False  # set, then untick: not sent
    p.model.value = "deepseek/deepseek-r1"
    p.system.value = "Be brief."
    send(p)
    body = emu.requests[-1]
    assert body == {
        "model": "deepseek/deepseek-r1",
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "What is 2 + 2?"},
        ],
        "temperature": 0.6,
        "top_k": 40,
        "seed": 7,
        "stop": ["###", "END"],
        "max_completion_tokens": 512,
        "reasoning": {"effort": "high"},
        "stream": True,
    }
    assert p.last_result is not None and p.last_result.ok
    assert "You asked" in plain(p.output)
    assert "dsm-status-done" in p.status.value
    # the footer (tokens, cost, time) is said once, under the answer; the status line
    # says where the Result is (no shell here: only on the panel)
    assert "tokens" in plain(p.output) and "tokens" not in p.status.value
    assert "Done: the Result is in panel.last_result." in p.status.value
    assert session.history.last is p.last_result


def test_a_ticked_box_sends_the_shown_value(session, emu) -> None:
    p = make(session, emu)
    p.send_boxes["temperature"].value = True  # the slider's start value, the server default
    p.send_boxes["include_reasoning"].value = True
    send(p)
    body = emu.requests[-1]
    assert body["temperature"] == 1.0
    assert "include_reasoning" not in body  # the local provider takes no such field


def test_values_given_to_the_panel_are_checked_and_ticked(session, emu) -> None:
    # What `%%deepseek --panel --temperature 0.6 --stop '###'` passes: flag text.
    p = make(session, emu, temperature="0.6", stop=["###"], max_tokens="300", top_k="500")
    assert p.send_boxes["temperature"].value and p.controls["temperature"].value == 0.6
    assert p.controls["top_k"].value == 500, "a value beyond the slider's range widens it"
    send(p)
    body = emu.requests[-1]
    assert (body["temperature"], body["stop"], body["max_tokens"], body["top_k"]) == (
        0.6,
        ["###"],
        300,
        500,
    )


def test_a_bad_given_value_is_refused_before_the_panel_shows(session) -> None:
    with pytest.raises(deepseek_magic.OptionError, match="temperature"):
        panel("q", session=session, shell=None, temperature="5")
    with pytest.raises(deepseek_magic.OptionError, match="Did you mean temperature"):
        panel("q", session=session, shell=None, temprature=0.5)


def test_send_is_disabled_while_running(session) -> None:
    with Emulator(first_token_latency=0.3) as emu:
        p = make(session, emu)
        p.send_button.click()
        assert p.send_button.disabled and p.compare_button.disabled and not p.stop_button.disabled
        p.send_button.click()  # ignored while running: only one request
        assert p.wait(20)
        assert not p.send_button.disabled and p.stop_button.disabled
        assert len(emu.requests) == 1


# ---------------------------------------------------------------- Stop
def test_stop_keeps_the_partial_result_and_closes_the_connection(session) -> None:
    with Emulator(
        replies=[Reply(reasoning=LONG_REASONING, answer="never reached")], token_delay=0.02
    ) as emu:
        p = make(session, emu, out="answer", shell=None)
        p.send_button.click()
        wait_until(lambda: "thinking…" in str(p.output.outputs))  # tokens are streaming
        p.stop_button.click()
        assert p.wait(5)
        result = p.last_result
        assert result is not None and result.interrupted and result.answer == ""
        assert 0 < len(result.reasoning) < len(LONG_REASONING)
        assert session.history.last is result
        assert emu.wait_idle(5)
        record = emu.request_log[-1]
        assert record.disconnected and not record.completed
        # Said once: the result's banner says it was interrupted and kept; the status
        # line adds only where the Result is (no shell here: on the panel).
        assert "Interrupted — partial result kept" in plain(p.output)
        assert "The Result so far is in panel.last_result." in p.status.value
        assert "dsm-status-stopped" in p.status.value
        seen = (seen_text(p.status.value) + seen_text(html(p.output))).lower()
        assert seen.count("partial result kept") == 1, seen
        assert seen.count("interrupted") + seen.count("stopped") == 1, seen


def test_stop_during_compare_says_it_once_per_column(session) -> None:
    with Emulator(
        replies=[Reply(reasoning=LONG_REASONING, answer="never reached")] * 2, token_delay=0.02
    ) as emu:
        p = make(session, emu, shell=None)
        p.compare_spec.value = "temperature = 0.2, 0.6"
        p.compare_button.click()
        wait_until(lambda: str(p.compare_box.children).count("thinking…") == 2)
        p.stop_button.click()
        assert p.wait(5)
    assert "dsm-status-stopped" in p.status.value and "2 of 2 runs stopped" in p.status.value
    for column in p.compare_box.children:
        header, view, footer = column.children
        assert footer.value == ""  # the column's own banner says it
        seen = seen_text(html(view)).lower()
        assert seen.count("interrupted — partial result kept") == 1, seen
        assert seen.count("stopped") == 0, seen


def test_stop_while_the_server_is_silent_ends_at_once(session) -> None:
    # No byte arrives for a minute: closing must not wait for the server's next byte.
    with Emulator(first_token_latency=60) as emu:
        p = make(session, emu)
        p.send_button.click()
        assert emu.wait_for_requests(1)
        p.stop_button.click()
        assert p.wait(5), "Stop did not end a silent stream"
        assert p.last_result is not None and p.last_result.interrupted
        assert emu.wait_idle(5) and emu.request_log[-1].disconnected


# ---------------------------------------------------------------- Compare
def test_compare_runs_concurrently_side_by_side(session, shell) -> None:
    finished_at_arrival: list[int] = []
    emu = Emulator(first_token_latency=0.5)

    def responder(body: dict[str, Any]) -> Reply:
        # How many replies had completed when this request arrived.
        finished_at_arrival.append(sum(r.completed for r in emu.request_log))
        return Reply(reasoning="r", answer=f"temperature was {body['temperature']}")

    emu.responder = responder
    with emu:
        p = make(session, emu, shell=shell, out="runs")
        p.controls["seed"].value = 3
        p.compare_spec.value = "temperature = 0.2, 0.6, 1.0"
        before = len(session.history)
        p.compare_button.click()
        assert p.wait(20)
    assert finished_at_arrival == [0, 0, 0], "the three requests did not overlap"
    assert sorted(b["temperature"] for b in emu.requests) == [0.2, 0.6, 1.0]
    assert all(b["seed"] == 3 for b in emu.requests)
    assert len(session.history) == before + 3
    columns = p.compare_box.children
    assert len(columns) == 3
    for column, value in zip(columns, ("0.2", "0.6", "1.0"), strict=True):
        header, view, footer = column.children
        assert f"temperature = {value}" in header.value
        assert f"temperature was {value}" in plain(view)
        # the footer (tokens, cost, time) is said once: under the column's answer
        assert "answer tokens" in plain(view) and "$" in plain(view) and " s " in plain(view)
        assert footer.value == ""
    assert [r.answer for r in shell.user_ns["runs"]] == [
        f"temperature was {v}" for v in ("0.2", "0.6", "1.0")
    ]
    assert "Compared 3" in p.status.value


def test_compare_spec_errors_send_nothing(session, emu) -> None:
    p = make(session, emu)
    for spec, message in (
        ("temperature 0.2", "NAME = V1"),
        ("temprature = 1", "Did you mean temperature"),
        ("temperature = 0.5, 5", "temperature"),
        ("seed = " + ",".join(map(str, range(MAX_POINTS + 1))), f"is more than {MAX_POINTS}"),
    ):
        p.compare_spec.value = spec
        p.compare_button.click()
        assert not p.running
        assert "dsm-status-error" in p.status.value and message in p.status.value, spec
    assert emu.requests == []


def test_compare_grid_of_two_options(session, emu) -> None:
    p = make(session, emu)
    p.compare_spec.value = "top p = 0.5, 0.9; --seed = 1, 2"
    p.compare_button.click()
    assert p.wait(20)
    assert sorted((b["top_p"], b["seed"]) for b in emu.requests) == [
        (0.5, 1),
        (0.5, 2),
        (0.9, 1),
        (0.9, 2),
    ]


# ---------------------------------------------------------------- results out
def test_results_are_bound_in_the_namespace(session, emu, shell) -> None:
    p = make(session, emu, shell=shell)
    p.out_name.value = "answer"
    send(p)
    assert shell.user_ns["answer"] is p.last_result is shell.user_ns["_deepseek"]
    p.out_name.value = "not a name"
    p.send_button.click()
    assert not p.running and "not a valid Python name" in p.status.value
    assert len(emu.requests) == 1


def test_copied_cell_sends_the_same_body_through_the_magic(session, emu, shell) -> None:
    p = make(session, emu, prompt="Say 'hi'\nin two lines.", shell=shell)
    p.controls["temperature"].value = 0.35
    p.controls["frequency_penalty"].value = -0.5
    p.controls["stop"].value = ["###", "it's over", "--x"]
    p.controls["seed"].value = 12
    p.controls["reasoning_effort"].value = "low"
    p.controls["include_reasoning"].value = False
    p.model.value = "deepseek-r1"
    p.system.value = 'You are "terse"; answer in French.'
    p.out_name.value = "answer"
    send(p)
    p.copy_button.click()
    cell = p.copy_area.value
    assert p.copy_area.layout.display != "none"
    assert cell.startswith("%%deepseek ") and "--stop '###'" in cell and "-o answer" in cell
    run = run_cell(shell, cell)
    assert run.success, run.error
    assert len(emu.requests) == 2
    assert emu.requests[1] == emu.requests[0]
    assert shell.user_ns["answer"].params == p.last_result.params


def test_tool_picker_offers_notebook_functions(session, emu, shell) -> None:
    run_cell(
        shell,
        'def get_weather(city: str) -> str:\n    """Weather for a city."""\n    return "sunny"\n',
    )
    p = make(session, emu, shell=shell)
    picker = p.controls["tools"]
    assert "get_weather" in [name for name, _ in picker.options]
    picker.value = (shell.user_ns["get_weather"],)
    p.controls["tool_choice"].value = "get_weather"
    send(p)
    body = emu.requests[-1]
    assert body["tools"][0]["function"]["name"] == "get_weather"
    assert body["tool_choice"] == {"type": "function", "function": {"name": "get_weather"}}
    p.copy_button.click()
    assert "--tools get_weather" in p.copy_area.value
    assert run_cell(shell, p.copy_area.value).success
    assert emu.requests[-1] == body


def test_seed_random_button_draws_and_ticks(session) -> None:
    p = Panel(session=session, shell=None)
    dice = p.option_controls["seed"].extra[0]
    dice.click()
    assert p.send_boxes["seed"].value is True
    assert p.values()["seed"] == p.controls["seed"].value


# ---------------------------------------------------------------- errors
def test_an_http_error_is_one_line_in_the_panel(session, sentinel_key) -> None:
    with Emulator(replies=[Fault("status", status=401)]) as emu:
        session.config["api_key"] = sentinel_key
        p = make(session, emu)
        send(p)
    status = p.status.value
    assert "dsm-status-error" in status and "401" in status
    assert "\n" not in status and "Traceback" not in status and sentinel_key not in status
    assert "401" in plain(p.output) and "Traceback" not in plain(p.output)
    assert isinstance(p.last_error, deepseek_magic.AuthenticationError)
    assert not p.send_button.disabled, "the panel can be used again"


@pytest.mark.parametrize(
    "setup, message",
    [
        (lambda p: setattr(p.controls["stop"], "value", ["a", "b", "c", "d", "e"]), "--stop"),
        (
            lambda p: setattr(p.controls["tool_choice"], "value", "get_weather"),
            "no tools are offered",
        ),
    ],
)
def test_invalid_values_are_not_sent(session, emu, setup, message) -> None:
    p = make(session, emu)
    p.controls["tool_choice"].options = [*p.controls["tool_choice"].options, "get_weather"]
    setup(p)
    assert message in p.status.value, "the message shows as soon as the value is set"
    p.send_button.click()
    assert not p.running
    assert "dsm-status-error" in p.status.value and message in p.status.value
    assert emu.requests == []


def test_a_bug_in_a_thread_is_one_line_not_a_traceback(session, emu, monkeypatch) -> None:
    import deepseek_magic.notebook._panel as panel_module

    def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(panel_module, "run_points", broken)
    p = make(session, emu)
    send(p)
    assert "RuntimeError: boom" in p.status.value and not p.send_button.disabled


# ---------------------------------------------------------------- lazy import
def test_import_and_load_ext_do_not_import_ipywidgets() -> None:
    code = (
        "import sys, deepseek_magic\n"
        "from IPython.core.interactiveshell import InteractiveShell\n"
        "ip = InteractiveShell.instance()\n"
        "ip.run_line_magic('load_ext', 'deepseek_magic')\n"
        "assert 'deepseek' in ip.magics_manager.magics['cell']\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'ipywidgets' or 'panel' in m))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_without_ipywidgets_the_panel_says_how_to_install_it(session, monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "ipywidgets", None)
    with pytest.raises(ImportError, match="pip install ipywidgets") as info:
        deepseek_magic.panel("q", session=session)
    assert isinstance(info.value, deepseek_magic.DeepSeekError)
    # A fresh import (a kernel that never had ipywidgets) fails the same way.
    for name in ("deepseek_magic.notebook._panel", "deepseek_magic.notebook._panel_controls"):
        monkeypatch.delitem(sys.modules, name)
    import importlib

    with pytest.raises(ImportError, match="pip install ipywidgets"):
        importlib.import_module("deepseek_magic.notebook._panel")


def test_deepseek_panel_magic_opens_the_panel(session, shell) -> None:
    p = shell.run_line_magic("deepseek_panel", "Why is the sky blue?")
    assert isinstance(p, Panel) and p.prompt.value == "Why is the sky blue?"
    assert p.session is session and p.shell is shell


def test_an_empty_prompt_is_not_sent(session, emu) -> None:
    p = make(session, emu, prompt="   ")
    p.send_button.click()
    assert not p.running and "prompt is empty" in p.status.value
    assert emu.requests == []


def test_cell_magic_panel_flag_opens_the_panel_with_its_values(session, shell) -> None:
    run = run_cell(
        shell, "%%deepseek --panel --temperature 0.6 --stop '###' --top-k 5\nWhy is the sky blue?"
    )
    assert run.success, run.error
    p = shell.user_ns["_"]
    assert isinstance(p, Panel) and p.prompt.value == "Why is the sky blue?"
    assert p.values() == {"temperature": 0.6, "top_k": 5, "stop": ("###",)}


def test_cell_magic_panel_flag_keeps_the_magics_session_and_flags(session, shell) -> None:
    run = run_cell(shell, "%%deepseek --panel -m deepseek-r1 -s terse -o answer\nWhy?")
    assert run.success, run.error
    p = shell.user_ns["_"]
    assert p.session is session
    assert (p.model.value, p.system.value, p.out_name.value) == ("deepseek-r1", "terse", "answer")


def test_a_yes_no_option_is_one_honest_control(session, emu) -> None:
    p = make(session, emu)
    menu = p.controls["include_reasoning"]
    # one control (its send box hidden), and it does not look on while nothing is sent
    assert p.send_boxes["include_reasoning"].layout.visibility == "hidden"
    assert menu.label == "not sent (server default: yes)"
    assert p.controls["thinking"].label == "not sent (server default)"
    assert "include_reasoning" not in p.values()
    menu.value = False
    assert p.values()["include_reasoning"] is False
    menu.index = 0  # back to "not sent"
    assert "include_reasoning" not in p.values()
    p.controls["thinking"].value = True
    assert p.values()["thinking"] is True and "--thinking true" in p.cell()


# ---------------------------------------------------------------- %config
def _frames(p: Panel) -> list[Any]:
    """Every value the Send output takes (one per live frame, the final one last)."""
    seen: list[Any] = []
    p.output.observe(lambda change: seen.append(change["new"]), names="outputs")
    return seen


def test_the_panel_honours_config_live_rate(shell, session) -> None:
    reply = Reply(reasoning=" ".join(f"w{i}" for i in range(120)), answer="done")
    counts = {}
    for rate in (None, 2):
        if rate is not None:
            shell.run_line_magic("config", f"DeepSeekMagics.live_rate = {rate}")
        with Emulator(replies=[reply], token_delay=0.01) as emu:
            p = make(session, emu)
            assert p.live_rate == (rate or p.live_rate)
            frames = _frames(p)
            send(p)
        counts[rate] = len(frames)
    # 1.2 s of tokens: at 2 frames a second a handful of frames, far fewer than by default
    assert counts[2] < counts[None] and counts[2] <= 8


def test_the_panel_honours_config_show_reasoning(shell, session) -> None:
    reply = Reply(reasoning="SECRET-THOUGHTS here", answer="the answer")
    shown = {}
    for value in (True, False):
        shell.run_line_magic("config", f"DeepSeekMagics.show_reasoning = {value}")
        with Emulator(replies=[reply]) as emu:
            p = make(session, emu)
            send(p)
        final = p.output.outputs[-1]["data"]
        assert "the answer" in final["text/plain"]
        shown[value] = "SECRET-THOUGHTS" in final["text/html"]
        assert p.last_result is not None and p.last_result.reasoning  # kept in the Result
    assert shown == {True: True, False: False}
