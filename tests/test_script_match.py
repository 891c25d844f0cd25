"""Scripted replies chosen by the request (``emulator/_match.py``): by the prompt and the
options that change a reply, never by the request's turn; samples; the labelled default
reply; and the recorder (``%deepseek_cache record`` files served as scripts)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from deepseek_magic import ask
from deepseek_magic.core._session import Session
from deepseek_magic.emulator import DEFAULT_REPLY_LABEL, Emulator, Matched, Reply, load_script
from deepseek_magic.emulator._match import Rule, facts_of
from deepseek_magic.features._cache import enable_cache

ROOT = Path(__file__).resolve().parent.parent


def _body(prompt: str, **options: object) -> dict[str, object]:
    return {
        "model": "deepseek/deepseek-r1",
        "messages": [{"role": "user", "content": prompt}],
        **options,
    }


def _write(tmp_path: Path, entries: list[dict[str, object]]) -> Path:
    path = tmp_path / "script.json"
    path.write_text(json.dumps({"about": "test", "replies": entries}), encoding="utf-8")
    return path


def _ask(emu: Emulator, prompt: str, **options: object) -> str:
    return ask(prompt, base_url=emu.base_url, session=Session(), **options).answer


LESSON = [
    {"prompt": "What is 17 * 23?", "reasoning": "17 × 23.", "answer": "391"},
    {"prompt_contains": "larger than 9.9", "reasoning": "Tenths.", "answer": "9.9 is larger."},
    {"prompt_contains": "primes", "answer": "[2, 3, 5]"},
]


def test_each_prompt_gets_its_own_reply_in_any_order_and_when_asked_again(tmp_path) -> None:
    with Emulator(replies=load_script(_write(tmp_path, LESSON))) as emu:
        # a re-run cell, then cells out of order: each its own reply, every time
        assert _ask(emu, "Is 9.11 larger than 9.9? Explain briefly.") == "9.9 is larger."
        assert _ask(emu, "Is 9.11 larger than 9.9? Explain briefly.") == "9.9 is larger."
        assert _ask(emu, "List three primes as JSON.") == "[2, 3, 5]"
        assert _ask(emu, "  What is 17 * 23?\n") == "391"  # the whole prompt, whitespace aside
        assert _ask(emu, "Is 9.11 larger than 9.9? Explain briefly.") == "9.9 is larger."


def test_an_unmatched_prompt_gets_the_labelled_default_never_another_reply(tmp_path) -> None:
    with Emulator(replies=load_script(_write(tmp_path, LESSON))) as emu:
        r = ask("What is 17 * 24?", base_url=emu.base_url, session=Session())
    assert r.answer.startswith(DEFAULT_REPLY_LABEL)
    assert "not from DeepSeek R1" in r.answer and "> What is 17 * 24?" in r.answer
    assert "What is 17 * 24?" in r.reasoning and "emulator" in r.reasoning  # R1-shaped
    assert all(entry["answer"] not in r.answer for entry in LESSON)


def test_options_choose_the_reply_first_match_wins(tmp_path) -> None:
    script = [
        {"prompt_contains": "café", "when": {"top_k": 1}, "answer": "greedy"},
        {"prompt_contains": "café", "when": {"temperature": "<= 0.3"}, "answer": "cold"},
        {
            "prompt_contains": "café",
            "when": {"temperature": ">= 1", "effort": "high"},
            "answer": "hot+high",
        },
        {"prompt_contains": "café", "when": {"temperature": [0.6, 0.7]}, "answer": "recommended"},
        {"prompt_contains": "café", "when": {"thinking": False}, "answer": "no thinking"},
        {"prompt_contains": "café", "when": {"stop": "4."}, "answer": "stopped"},
        {"prompt_contains": "café", "when": {"temperature": None}, "answer": "server default"},
        {"prompt_contains": "café", "answer": "anything else"},
    ]
    with Emulator(replies=load_script(_write(tmp_path, script))) as emu:
        q = "Name a café."
        assert _ask(emu, q, temperature=1.3, top_k=1) == "greedy"
        assert _ask(emu, q, temperature=0.0) == "cold"
        assert _ask(emu, q, temperature=1.3, reasoning_effort="high") == "hot+high"
        assert _ask(emu, q, temperature=1.3) == "anything else"
        assert _ask(emu, q, temperature=0.7) == "recommended"
        assert _ask(emu, q, temperature=0.8, thinking=False) == "no thinking"
        assert _ask(emu, q, temperature=0.8, stop=["4."]) == "stopped"
        assert _ask(emu, q) == "server default"


def test_samples_in_turn_and_the_seed_picks_one(tmp_path) -> None:
    names = ["Byte & Brew", "The Gear Grind", "Circuit Grounds"]
    script = [{"prompt_contains": "café", "samples": [{"answer": n} for n in names]}]
    replies = load_script(_write(tmp_path, script))
    with Emulator(replies=replies) as emu:
        assert [_ask(emu, "café?", temperature=1.3) for _ in range(4)] == [*names, names[0]]
        by_seed = {seed: _ask(emu, "café?", temperature=1.3, seed=seed) for seed in (7, 8, 7, 8)}
        assert by_seed[7] == _ask(emu, "café?", seed=7) and by_seed[7] != by_seed[8]
    # a fresh emulator (the lesson run again from the top, nbval) starts from the first
    with Emulator(replies=load_script(_write(tmp_path, script))) as emu:
        assert _ask(emu, "café?") == names[0]


def test_a_tool_round_and_a_conversation_turn_get_their_own_replies() -> None:
    rule_after = Rule(
        (Reply(answer="after the tools"),), contains="days", when={"after_tools": True}
    )
    rule_first = Rule((Reply(answer="calling"),), contains="days")
    tool_turn = {
        "messages": [
            {"role": "user", "content": "How many days?"},
            {"role": "assistant", "content": "", "tool_calls": [{"id": "c", "type": "function"}]},
            {"role": "tool", "tool_call_id": "c", "content": "359"},
        ]
    }
    assert rule_after.matches(tool_turn) and not rule_after.matches(_body("How many days?"))
    assert rule_first.matches(tool_turn)  # so the after_tools rule must come first
    second = {"messages": [*tool_turn["messages"], {"role": "user", "content": "And weeks?"}]}
    assert facts_of(second)["after_tools"] is False and facts_of(second)["turn"] == 2


def test_the_prompt_contains_form_still_works_in_files_and_objects(tmp_path) -> None:
    path = _write(tmp_path, [{"prompt_contains": "apples", "answer": "About apples."}])
    with Emulator(replies=[*load_script(path), Matched("pears", Reply(answer="Pears."))]) as emu:
        assert _ask(emu, "Tell me about pears") == "Pears."
        assert _ask(emu, "Tell me about apples") == "About apples."


def test_unkeyed_items_are_still_handed_out_in_turn_after_the_rules() -> None:
    replies = [
        Rule((Reply(answer="ruled"),), contains="rule"),
        Reply(answer="first"),
        Reply(answer="second"),
    ]
    with Emulator(replies=replies) as emu:
        assert [_ask(emu, q) for q in ("a", "the rule", "b")] == ["first", "ruled", "second"]


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"prompt": "x", "when": {"temprature": 1}, "answer": "a"}, "unknown when keys"),
        ({"prompt": "x", "when": {"temperature": "<= warm"}, "answer": "a"}, "expected a number"),
        ({"prompt": "x", "samples": [], "answer": "a"}, "samples must be a non-empty list"),
        ({"prompt": "x", "samples": [{"answer": "a"}], "answer": "b"}, "inside each sample"),
        ({"prompt": "", "answer": "a"}, "prompt must be a non-empty string"),
        ({"prompt": "x", "answr": "a"}, "unknown reply keys"),
    ],
)
def test_a_bad_entry_is_one_clear_line(tmp_path, entry, message) -> None:
    with pytest.raises(ValueError, match=message) as info:
        load_script(_write(tmp_path, [entry]))
    assert "\n" not in str(info.value)


def test_every_lesson_script_chooses_by_the_request() -> None:
    # A lesson's replies never depend on the order the cells run in: no entry of theirs
    # is handed out in turn.
    for path in sorted((ROOT / "notebooks" / "replies").glob("*.json")):
        items = load_script(path)
        assert items and all(isinstance(i, (Rule, Matched)) for i in items), path.name


# ------------------------------------------------------------------ the recorder
def _record(tmp_path: Path) -> Path:
    """A lesson recorded with ``%deepseek_cache record`` against a "real" provider (an
    emulator with its own replies, in turn), through the magic's session."""
    recording = tmp_path / "deepseek-cache.jsonl"
    real = [
        Reply(reasoning="Tenths decide.", answer="9.9 is larger."),
        Reply(reasoning="17 × 20 + 17 × 3.", answer="391"),
        Reply(reasoning="Hot.", answer="Neon Bean"),
        Reply(reasoning="Hot again.", answer="Latte-Matic"),
    ]
    session = Session()
    with Emulator(replies=real) as provider:
        enable_cache(session, recording, "record")
        ask("Is 9.11 larger than 9.9?", session=session, base_url=provider.base_url)
        ask("What is 17 * 23?", session=session, base_url=provider.base_url, temperature=0.6)
        for _ in range(2):
            ask("Name a café.", session=session, base_url=provider.base_url, temperature=1.3)
    return recording


def test_a_recording_is_a_script_the_emulator_serves_in_any_order(tmp_path) -> None:
    recording = _record(tmp_path)
    with Emulator(replies=load_script(recording)) as emu:
        assert _ask(emu, "What is 17 * 23?", temperature=0.6) == "391"
        assert _ask(emu, "Is 9.11 larger than 9.9?") == "9.9 is larger."
        assert _ask(emu, "What is 17 * 23?", temperature=0.6) == "391"
        # the same request recorded twice: two samples, in turn
        assert [_ask(emu, "Name a café.", temperature=1.3) for _ in range(3)] == [
            "Neon Bean",
            "Latte-Matic",
            "Neon Bean",
        ]
        # another setting was not recorded: the labelled default, not a recorded reply
        assert _ask(emu, "What is 17 * 23?", temperature=1.0).startswith(DEFAULT_REPLY_LABEL)


def test_the_command_line_prints_a_recording_as_a_readable_script(tmp_path) -> None:
    recording = _record(tmp_path)
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "deepseek_magic.emulator",
            "--script-from-recording",
            str(recording),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    script = json.loads(done.stdout)
    entries = {e["prompt"]: e for e in script["replies"]}
    assert entries["What is 17 * 23?"]["when"] == {"temperature": 0.6}
    assert entries["What is 17 * 23?"]["answer"] == "391"
    assert [s["answer"] for s in entries["Name a café."]["samples"]] == ["Neon Bean", "Latte-Matic"]
    # and the printed script, saved, is served like the recording
    path = tmp_path / "replies.json"
    path.write_text(done.stdout, encoding="utf-8")
    with Emulator(replies=load_script(path)) as emu:
        assert _ask(emu, "Is 9.11 larger than 9.9?") == "9.9 is larger."
