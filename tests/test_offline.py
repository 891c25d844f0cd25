"""Offline mode: the explicit switch that runs the bundled emulator and says so everywhere."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from deepseek_magic import ConfigError, ask
from deepseek_magic.core._argline import LineError
from deepseek_magic.features._offline import (
    ENV_OFFLINE,
    _stop_all,
    offline_from_env,
    offline_magic,
    offline_status,
    parse_offline_args,
    start_offline,
    stop_offline,
)
from deepseek_magic.view._render import render_result
from deepseek_magic.view._style import OFFLINE_NOTE
from tests.helpers.cells import run_cell


@pytest.fixture
def offline_session(session):
    yield session
    stop_offline(session)


def _threads() -> set[threading.Thread]:
    return set(threading.enumerate())


# ----------------------------------------------------------------- arguments
@pytest.mark.parametrize(
    "line,action,kwargs",
    [
        ("", "on", {}),
        ("on", "on", {}),
        ("off", "off", {}),
        ("status", "status", {}),
        ("--token-rate 40", "on", {"token_delay": 0.025}),
        ("on --token-rate 0", "on", {"token_delay": 0.0}),
        (
            "on --dialect deepseek --latency 0.5",
            "on",
            {"dialect": "deepseek", "first_token_latency": 0.5},
        ),
    ],
)
def test_arguments_map_onto_the_emulator(line: str, action: str, kwargs: dict) -> None:
    assert parse_offline_args(line) == (action, kwargs)


@pytest.mark.parametrize(
    "line,needle",
    [
        ("maybe", "maybe"),
        ("on --dialect klingon", "klingon"),
        ("on --token-rate fast", "fast"),
        ("on --token-rate -5", "--token-rate"),
        ("on --latency -1", "--latency"),
        ("off --token-rate 40", "off"),
        ("on --script /nonexistent/replies.json", "/nonexistent/replies.json"),
        ("on --bogus", "--bogus"),
        ("on 'unclosed", "%deepseek_offline"),
    ],
)
def test_bad_arguments_are_one_usage_line(line: str, needle: str) -> None:
    """The feature parses its own line (no IPython): one LineError, which the magic shows
    as IPython's UsageError (``test_magic_bad_option_is_a_usage_error_and_changes_nothing``)."""
    with pytest.raises(LineError) as info:
        parse_offline_args(line)
    message = str(info.value)
    assert needle in message and "\n" not in message


def test_a_broken_script_file_is_refused_with_its_name(tmp_path: Path) -> None:
    bad = tmp_path / "replies.json"
    bad.write_text("[{not json", encoding="utf-8")
    with pytest.raises(LineError, match="replies.json: cannot use it"):
        parse_offline_args(f"on --script {bad}")


# ----------------------------------------------------------------- the switch
def test_start_points_the_session_at_the_emulator_and_marks_every_output(offline_session) -> None:
    emu = start_offline(offline_session)
    assert offline_session.offline is emu and emu.base_url.startswith("http://127.0.0.1:")
    result = ask("Is this real?", session=offline_session)  # no key, no base URL given
    assert emu.requests[-1]["messages"][-1]["content"] == "Is this real?"
    assert result.offline and result.base_url == emu.base_url
    assert "offline emulator" in result.answer
    bundle, metadata = render_result(result)
    assert OFFLINE_NOTE in bundle["text/html"] and OFFLINE_NOTE in bundle["text/plain"]
    assert metadata["deepseek_magic"]["offline"] is True


def test_an_explicit_base_url_still_wins_and_is_not_marked_offline(offline_session, emu) -> None:
    start_offline(offline_session)
    result = ask("Hi", session=offline_session, base_url=emu.base_url)
    assert len(emu.requests) == 1 and offline_session.offline.requests == []
    assert not result.offline


def test_stop_leaves_no_threads_behind(session) -> None:
    before = _threads()
    emu = start_offline(session)
    ask("warm up a connection", session=session)
    assert len(_threads()) > len(before)
    assert stop_offline(session) is True
    session.close()  # the pooled HTTP client holds sockets, not threads; close it anyway
    assert _threads() - before == set()
    assert session.offline is None and repr(emu).startswith("<Emulator openrouter stopped")
    assert stop_offline(session) is False


def test_starting_again_replaces_the_running_emulator(offline_session) -> None:
    before = _threads()
    first = start_offline(offline_session)
    second = start_offline(offline_session, dialect="deepseek")
    assert offline_session.offline is second and second is not first
    assert "stopped" in repr(first) and second.dialect == "deepseek"
    stop_offline(offline_session)
    assert _threads() - before == set()


def test_a_missing_key_alone_never_turns_it_on(session) -> None:
    with pytest.raises(ConfigError) as info:
        ask("Hi", session=session)
    assert "%deepseek_offline" in str(info.value)
    assert session.offline is None
    assert offline_from_env(session, env={}) is False and session.offline is None


def test_prepare_is_pure_and_features_plug_in_where_a_call_starts(
    offline_session, monkeypatch
) -> None:
    """prepare() starts no emulator and plugs nothing in; _features.start() (run by ask(),
    the magic, the panel and %load_ext) applies the environment, once."""
    from deepseek_magic.engine._api import prepare
    from deepseek_magic.features import start

    monkeypatch.setenv(ENV_OFFLINE, "1")
    prep = prepare("Hi", session=offline_session, base_url="http://127.0.0.1:9/v1", options={})
    assert prep.request.body["messages"] == [{"role": "user", "content": "Hi"}]
    assert offline_session.offline is None and offline_session.features == []
    assert offline_session.env_applied == set()
    start(offline_session)
    assert offline_session.offline is not None and offline_session.env_applied == {
        "offline",
        "cache",
    }
    assert [type(f).__name__ for f in offline_session.features] == ["_Tracker"]
    assert ask("Hi", session=offline_session).offline


def test_scripted_answers_then_the_default_reply(offline_session, tmp_path: Path) -> None:
    script = tmp_path / "lesson.json"
    script.write_text(
        json.dumps([{"reasoning": "Tenths first.", "answer": "9.9 is larger."}]), encoding="utf-8"
    )
    offline_magic(offline_session, f"on --script {script}", out=lambda line: None)
    first = ask("Which is larger, 9.9 or 9.11?", session=offline_session)
    second = ask("And now?", session=offline_session)
    assert (first.answer, first.reasoning) == ("9.9 is larger.", "Tenths first.")
    assert "offline emulator" in second.answer and first.offline and second.offline


def test_atexit_hook_stops_whatever_is_running(session) -> None:
    before = _threads()
    emu = start_offline(session)
    _stop_all()
    assert "stopped" in repr(emu) and _threads() - before == set()
    session.offline = None


def test_interpreter_exit_stops_the_emulator() -> None:
    # atexit runs hooks last-registered-first, so a hook registered before start_offline()
    # runs after ours and sees the emulator already stopped.
    code = (
        "import atexit\n"
        "from deepseek_magic.core._session import Session\n"
        "from deepseek_magic.features._offline import start_offline\n"
        "box = []\n"
        "atexit.register(lambda: print('STOPPED' if 'stopped' in repr(box[0]) else 'RUNNING', "
        "flush=True))\n"
        "box.append(start_offline(Session()))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "STOPPED"


# ----------------------------------------------------------------- the magic
def test_magic_on_prints_one_visible_line_and_outputs_say_offline(shell, session) -> None:
    on = run_cell(shell, "%deepseek_offline --token-rate 500")
    assert on.success, on.error
    lines = on.stdout.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("Offline mode ON:") and session.offline.base_url in lines[0]
    assert "not from DeepSeek R1" in lines[0] and "%deepseek_offline off" in lines[0]
    assert session.offline.token_delay == pytest.approx(1 / 500)

    asked = run_cell(shell, "%%deepseek -o r\nWhat is 2+2?")
    assert asked.success, asked.error
    assert OFFLINE_NOTE in asked.final["text/html"] and OFFLINE_NOTE in asked.final["text/plain"]
    assert all("offline emulator" in json.dumps(o.data) for o in asked.outputs)  # live frames too
    assert asked.final_metadata["deepseek_magic"]["offline"] is True
    assert shell.user_ns["r"].offline


def test_magic_status_off_and_back_to_a_missing_key(shell, session) -> None:
    before = _threads()
    assert "OFF" in run_cell(shell, "%deepseek_offline status").stdout
    run_cell(shell, "%deepseek_offline")
    again = run_cell(shell, "%deepseek_offline on")  # already on: same line, same emulator
    assert again.stdout.startswith("Offline mode ON:") and session.offline is not None
    assert run_cell(shell, "%deepseek_offline status").stdout.strip() == offline_status(session)
    off = run_cell(shell, "%deepseek_offline off")
    assert off.success and off.stdout.startswith("Offline mode OFF")
    assert session.offline is None and _threads() - before == set()
    refused = run_cell(shell, "%%deepseek --provider openrouter\nHi")
    assert type(refused.error).__name__ == "UsageError" and "%deepseek_offline" in str(
        refused.error
    )


def test_magic_bad_option_is_a_usage_error_and_changes_nothing(shell, session) -> None:
    run = run_cell(shell, "%deepseek_offline on --token-rate lots")
    assert type(run.error).__name__ == "UsageError" and "--token-rate" in str(run.error)
    assert session.offline is None


# ----------------------------------------------------------------- the environment
@pytest.mark.parametrize("value", ["1", "true", "YES", " on "])
def test_env_turns_it_on_visibly(offline_session, value: str) -> None:
    said: list[str] = []
    assert offline_from_env(offline_session, env={ENV_OFFLINE: value}, out=said.append) is True
    assert offline_session.offline is not None
    assert len(said) == 1 and said[0].startswith("Offline mode ON:")


@pytest.mark.parametrize("value", ["", "0", "false", "off"])
def test_env_off_values_change_nothing(offline_session, value: str) -> None:
    said: list[str] = []
    assert offline_from_env(offline_session, env={ENV_OFFLINE: value}, out=said.append) is False
    assert offline_session.offline is None and said == []


def test_env_options_and_bad_values(offline_session, session) -> None:
    said: list[str] = []
    assert offline_from_env(
        offline_session, env={ENV_OFFLINE: "--token-rate 40 --dialect deepseek"}, out=said.append
    )
    assert offline_session.offline.token_delay == pytest.approx(0.025)
    assert offline_session.offline.dialect == "deepseek"

    from deepseek_magic.core._session import Session

    other = Session()
    assert offline_from_env(other, env={ENV_OFFLINE: "maybe"}, out=said.append) is False
    assert other.offline is None and "not understood" in said[-1] and "\n" not in said[-1]
    third = Session()
    assert offline_from_env(third, env={ENV_OFFLINE: "--dialect klingon"}, out=said.append) is False
    assert third.offline is None and "klingon" in said[-1]


def test_env_applies_once_so_off_sticks(offline_session) -> None:
    env = {ENV_OFFLINE: "1"}
    quiet: list[str] = []
    assert offline_from_env(offline_session, env=env, out=quiet.append)
    assert offline_from_env(
        offline_session, env=env, out=quiet.append
    )  # no second emulator, no second line
    assert len(quiet) == 1
    offline_magic(offline_session, "off", out=quiet.append)
    assert offline_from_env(offline_session, env=env, out=quiet.append) is False
    assert offline_session.offline is None


def test_env_is_read_from_os_environ_by_default(offline_session, monkeypatch) -> None:
    monkeypatch.setenv(ENV_OFFLINE, "1")
    assert offline_from_env(offline_session, out=lambda line: None)
    assert offline_session.offline is not None


# ----------------------------------------------------------------- pace and honesty
def test_the_magic_streams_at_r1_pace_unless_the_test_switch_says_fast(
    shell, session, monkeypatch
) -> None:
    from deepseek_magic.features._offline import ENV_PACE, R1_PACE

    monkeypatch.delenv(ENV_PACE, raising=False)
    on = run_cell(shell, "%deepseek_offline on")
    assert on.success, on.error
    assert session.offline.token_delay == R1_PACE["token_delay"] == 1 / 40
    assert session.offline.first_token_latency == R1_PACE["first_token_latency"]
    assert "40 tokens/s" in on.stdout and "0.8 s latency" in on.stdout
    monkeypatch.setenv(ENV_PACE, "fast")  # what the test configuration sets
    assert run_cell(shell, "%deepseek_offline off").success
    assert run_cell(shell, "%deepseek_offline on").success
    assert session.offline.token_delay == 0 and session.offline.first_token_latency == 0
    # an explicit rate is never overridden by the switch
    assert run_cell(shell, "%deepseek_offline on --token-rate 20").success
    assert session.offline.token_delay == pytest.approx(1 / 20)
    stop_offline(session)


def test_offline_costs_are_simulated_never_a_charge(shell, session) -> None:
    from deepseek_magic.features._spend import session_totals

    assert run_cell(shell, "%deepseek_offline on").success
    asked = run_cell(shell, "%%deepseek -o r\nWhat is 2+2?")
    assert asked.success, asked.error
    r = shell.user_ns["r"]
    assert r.offline and r.cost  # the emulator's OpenRouter-style figure is kept
    for text in (asked.final["text/plain"], asked.final["text/html"]):
        assert "simulated cost $" in text and "(not charged)" in text
    totals = session_totals(session)
    assert totals.cost == 0 and totals.simulated == pytest.approx(r.cost)
    spend = run_cell(shell, "%deepseek_spend")
    assert "$0.00 spent" in spend.stdout and "simulated offline (not charged)" in spend.stdout
    stop_offline(session)
