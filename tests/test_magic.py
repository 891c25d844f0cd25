"""The %%deepseek magic driven through a real InteractiveShell against the emulator."""

from __future__ import annotations

import time

import pytest

from deepseek_magic.core._options import OPTIONS
from deepseek_magic.emulator import Emulator, Fault, Reply
from deepseek_magic.notebook._magic import DeepSeekMagics, interpolate, protect_question_marks
from tests.helpers.cells import interrupt_while_streaming, run_cell

# One sample per option: (flag text, expected body fragment). A new option in the
# table fails test_every_option_has_a_sample until it gets one here.
SAMPLES = {
    "temperature": ("--temperature 0.6", {"temperature": 0.6}),
    "top_p": ("--top-p 0.9", {"top_p": 0.9}),
    "top_k": ("--top-k 40", {"top_k": 40}),
    "frequency_penalty": ("--frequency-penalty -0.5", {"frequency_penalty": -0.5}),
    "presence_penalty": ("--presence-penalty 1.5", {"presence_penalty": 1.5}),
    "repetition_penalty": ("--repetition-penalty 1.1", {"repetition_penalty": 1.1}),
    "seed": ("--seed 42", {"seed": 42}),
    "stop": ("--stop END --stop '###'", {"stop": ["END", "###"]}),
    "max_completion_tokens": ("--max-completion-tokens 512", {"max_completion_tokens": 512}),
    "max_tokens": ("--max-tokens 256", {"max_completion_tokens": 256}),
    "include_reasoning": ("--include-reasoning false", {"reasoning": {"exclude": True}}),
    # R1 reasons always (its catalogue says mandatory): a hybrid model can switch off
    "thinking": (
        "-m deepseek/deepseek-v4.1-flash --thinking off",
        {"reasoning": {"effort": "none"}},
    ),
    "reasoning_effort": ("--reasoning-effort high", {"reasoning": {"effort": "high"}}),
    "reasoning_max_tokens": ("--reasoning-max-tokens 2000", {"reasoning": {"max_tokens": 2000}}),
    "reasoning_exclude": ("--reasoning-exclude", {"reasoning": {"exclude": True}}),
    "reasoning_enabled": ("--reasoning-enabled true", {"reasoning": {"enabled": True}}),
    "tools": (
        "--tools get_weather",
        {
            "tools": [
                {
                    "type": "function",
                    "function": {
                        "name": "get_weather",
                        "description": "Weather for a city.",
                        "parameters": {
                            "type": "object",
                            "properties": {"city": {"type": "string"}},
                            "required": ["city"],
                        },
                    },
                }
            ]
        },
    ),
    "tool_choice": (
        "--tools get_weather --tool-choice get_weather",
        {"tool_choice": {"type": "function", "function": {"name": "get_weather"}}},
    ),
}
SAMPLES["tool_choice"][1].update(SAMPLES["tools"][1])

BAD = {
    "temperature": "--temperature 2.5",
    "top_p": "--top-p 0",
    "top_k": "--top-k -3",
    "frequency_penalty": "--frequency-penalty 9",
    "presence_penalty": "--presence-penalty -2.1",
    "repetition_penalty": "--repetition-penalty 0",
    "seed": "--seed 1.5",
    "stop": "--stop a --stop b --stop c --stop d --stop e",
    "max_completion_tokens": "--max-completion-tokens 0",
    "max_tokens": "--max-tokens -1",
    "include_reasoning": "--include-reasoning perhaps",
    "reasoning_effort": "--reasoning-effort extreme",
    "thinking": "--thinking sometimes",
    "reasoning_max_tokens": "--reasoning-max-tokens 0",
    "reasoning_exclude": "--reasoning-exclude maybe",
    "reasoning_enabled": "--reasoning-enabled 2",
    "tools": "--tools not_defined_anywhere",
    "tool_choice": "--tool-choice 'bad name'",
}


def get_weather(city: str) -> str:
    """Weather for a city."""
    return f"Sunny in {city}"


def test_every_option_has_a_sample() -> None:
    assert set(SAMPLES) == {o.name for o in OPTIONS} == set(BAD)


@pytest.mark.parametrize("name", [o.name for o in OPTIONS])
def test_every_flag_reaches_the_body_exactly(shell, emu, name: str) -> None:
    shell.user_ns["get_weather"] = get_weather
    flags, expected = SAMPLES[name]
    # the emulator speaks OpenRouter's format: tell the magic so (a loopback URL alone
    # means a local server, whose field names differ: see the test below)
    run = run_cell(
        shell, f"%%deepseek --base-url {emu.base_url} --provider openrouter {flags}\nHello"
    )
    assert run.success, run.error
    body = emu.requests[-1]
    sent = {k: v for k, v in body.items() if k not in ("model", "messages", "stream")}
    assert sent == expected
    assert body["messages"] == [{"role": "user", "content": "Hello"}] and body["stream"] is True


@pytest.mark.parametrize("name", [o.name for o in OPTIONS])
def test_every_bad_value_is_one_usage_error_and_nothing_is_sent(shell, emu, name: str) -> None:
    run = run_cell(shell, f"%%deepseek --base-url {emu.base_url} {BAD[name]}\nHello")
    assert not run.success
    assert type(run.error).__name__ == "UsageError"
    message = str(run.error)
    assert "\n" not in message and message
    option = next(o for o in OPTIONS if o.name == name)
    assert option.flag in message or name in message or "--tools" in message
    time.sleep(0.05)
    assert emu.requests == []


def test_local_servers_get_their_field_names(shell, emu) -> None:
    run = run_cell(
        shell,
        f"%%deepseek --base-url {emu.base_url} --max-completion-tokens 9 --reasoning-effort "
        "low\nHi",
    )
    assert run.success
    body = emu.requests[-1]
    assert (
        body["max_tokens"] == 9
        and body["reasoning_effort"] == "low"
        and body["model"] == "deepseek-r1"
    )
    assert body["stream_options"] == {"include_usage": True}  # else vLLM/Ollama report no usage


def test_unknown_flag_is_refused(shell, emu) -> None:
    run = run_cell(shell, f"%%deepseek --base-url {emu.base_url} --temprature 1\nHi")
    assert type(run.error).__name__ == "UsageError" and emu.requests == []
    assert "(did you mean --temperature?)" in str(run.error) and "\n" not in str(run.error)
    line = run_cell(shell, f"%deepseek --base-url {emu.base_url} --sed 3 Hi")
    assert "(did you mean --seed?)" in str(line.error) and emu.requests == []
    far = run_cell(shell, f"%%deepseek --base-url {emu.base_url} --zzzz 1\nHi")
    assert "did you mean" not in str(far.error)  # nothing close: no guess


def test_quoted_values_follow_shell_rules(shell, emu) -> None:
    run = run_cell(
        shell,
        f"%%deepseek --base-url {emu.base_url} "
        """--stop "two words" --stop '#' -s 'Be brief.'\nHi""",
    )
    assert run.success
    assert emu.requests[-1]["stop"] == ["two words", "#"]
    assert emu.requests[-1]["messages"][0] == {"role": "system", "content": "Be brief."}


def test_out_binds_last_and_history(shell, emu, session) -> None:
    emu.queue(Reply(reasoning="r1", answer="first"), Reply(reasoning="r2", answer="second"))
    run_cell(shell, f"%%deepseek --base-url {emu.base_url} -o a\nQ1")
    run_cell(shell, f"%%deepseek --base-url {emu.base_url} --out b\nQ2")
    assert shell.user_ns["a"].answer == "first" and shell.user_ns["b"].answer == "second"
    assert shell.user_ns["_deepseek"] is shell.user_ns["b"]
    assert [r.answer for r in session.history] == ["first", "second"]
    frame = session.history.to_dataframe()
    assert list(frame["answer"]) == ["first", "second"] and "reasoning_tokens" in frame.columns


def test_magic_returns_nothing_so_no_out_prompt(shell, emu) -> None:
    emu.queue(Reply(answer="once"))
    before = len(shell.user_ns.get("Out", {}))
    run = run_cell(shell, f"%%deepseek --base-url {emu.base_url}\nQ")
    assert run.success and len(shell.user_ns.get("Out", {})) == before


def test_line_magic_keeps_the_prompt_verbatim(shell, emu) -> None:
    run = run_cell(
        shell, f"%deepseek --base-url {emu.base_url} --seed 3 What's {{x}} in Python's f-strings?"
    )
    assert run.success, run.error
    body = emu.requests[-1]
    assert (
        body["messages"][-1]["content"] == "What's {x} in Python's f-strings?" and body["seed"] == 3
    )


def test_line_magic_help_still_works(shell) -> None:
    assert protect_question_marks(["%deepseek?\n"]) == ["%deepseek?\n"]
    assert "run_line_magic" in protect_question_marks(["%deepseek Why is the sky blue?\n"])[0]


def test_interpolation_is_opt_in_and_brace_safe(shell, emu) -> None:
    shell.user_ns["n_rows"] = 1234
    run_cell(shell, f"%%deepseek --base-url {emu.base_url}\nRows: {{{{n_rows}}}} in {{d: 1}}")
    assert emu.requests[-1]["messages"][-1]["content"] == "Rows: {{n_rows}} in {d: 1}"
    run_cell(
        shell,
        f"%%deepseek --base-url {emu.base_url} --vars\nRows: {{{{n_rows}}}} in {{d: 1}} and {{x}}",
    )
    assert emu.requests[-1]["messages"][-1]["content"] == "Rows: 1234 in {d: 1} and {x}"
    count = len(emu.requests)
    run = run_cell(shell, f"%%deepseek --base-url {emu.base_url} --vars\nUse {{{{missing_name}}}}")
    assert type(run.error).__name__ == "UsageError" and "missing_name" in str(run.error)
    assert len(emu.requests) == count


def test_interpolate_refuses_private_attributes() -> None:
    from IPython.core.error import UsageError

    with pytest.raises(UsageError):
        interpolate("{{x.__class__}}", {"x": 1})


@pytest.mark.parametrize(
    "provider,field,sent_back",
    [
        ("openrouter", "reasoning", True),
        ("deepseek", "reasoning_content", False),
        ("local", "reasoning", False),
    ],
)
def test_conversation_sends_earlier_turns_per_provider(
    shell, emu, provider, field, sent_back
) -> None:
    emu.queue(
        Reply(reasoning="thought one", answer="answer one"),
        Reply(reasoning="t2", answer="answer two"),
    )
    base = f"%%deepseek --base-url {emu.base_url} --provider {provider} --chat c1"
    assert run_cell(shell, f"{base}\nFirst question").success
    assert run_cell(shell, f"{base}\nSecond question").success
    messages = emu.requests[-1]["messages"]
    assert [m["role"] for m in messages] == ["user", "assistant", "user"]
    assert messages[1]["content"] == "answer one"
    assert (messages[1].get(field) == "thought one") is sent_back
    assert "reasoning_content" not in messages[1] or provider != "deepseek"


def test_chat_list_and_reset(shell, emu, session) -> None:
    run_cell(shell, f"%%deepseek --base-url {emu.base_url} --chat demo\nHi")
    listing = run_cell(shell, "%deepseek_chat")
    assert "demo: 1 replies, 2 messages" in listing.stdout
    run_cell(shell, "%deepseek_chat reset demo")
    assert "demo" not in session.conversations


def test_extra_json_fields_are_sent(shell, emu) -> None:
    run = run_cell(
        shell,
        f"%%deepseek --base-url {emu.base_url} "
        """--extra '{"provider": {"order": ["deepseek"]}}'\nHi""",
    )
    assert run.success and emu.requests[-1]["provider"] == {"order": ["deepseek"]}
    bad = run_cell(shell, f'%%deepseek --base-url {emu.base_url} --extra \'{{"model": "x"}}\'\nHi')
    assert type(bad.error).__name__ == "UsageError"


def test_no_stream_asks_for_one_reply(shell, emu) -> None:
    emu.queue(Reply(reasoning="r", answer="whole"))
    run = run_cell(shell, f"%%deepseek --base-url {emu.base_url} --no-stream -o r\nHi")
    assert (
        run.success and emu.requests[-1]["stream"] is False and shell.user_ns["r"].answer == "whole"
    )


def test_dry_run_sends_nothing(shell, emu) -> None:
    run = run_cell(shell, f"%%deepseek --base-url {emu.base_url} --dry-run --temperature 0.3\nHi")
    assert run.success and '"temperature": 0.3' in run.final["text/plain"]
    time.sleep(0.05)
    assert emu.requests == []


def test_dry_run_needs_no_key_but_a_real_request_does(shell) -> None:
    # --dry-run shows what would be sent to DeepSeek's API before a key is set up;
    # the same cell without --dry-run stops at the missing key, nothing sent.
    run = run_cell(shell, "%%deepseek --provider deepseek --dry-run --temperature 0.3\nHi")
    assert run.success, run.error
    assert (
        "api.deepseek.com" in run.final["text/plain"]
        and '"model": "deepseek-flash"' in run.final["text/plain"]
    )
    bad = run_cell(shell, "%%deepseek --provider deepseek --temperature 0.3\nHi")
    assert type(bad.error).__name__ == "UsageError" and "No API key" in str(bad.error)


def test_final_output_has_collapsed_reasoning_and_metadata(shell, emu) -> None:
    emu.queue(Reply(reasoning="Let me think.", answer="# Title\n\n- a\n- b"))
    run = run_cell(shell, f"%%deepseek --base-url {emu.base_url} --temperature 0.2\nHi")
    html = run.final["text/html"]
    assert '<details class="dsm-reasoning">' in html and "<h1>Title</h1>" in html
    assert set(run.final) >= {"text/html", "text/markdown", "text/plain"}
    meta = run.final_metadata["deepseek_magic"]
    assert meta["params"]["temperature"] == 0.2 and meta["finish_reason"] == "stop"


def test_hostile_answer_is_inert_in_the_cell_output(shell, emu) -> None:
    emu.queue(
        Reply(
            reasoning="<script>alert(1)</script>",
            answer='<img src=x onerror="alert(1)"> [x](javascript:alert(1))',
        )
    )
    run = run_cell(shell, f"%%deepseek --base-url {emu.base_url}\nHi")
    for frame in run.outputs:
        html = frame.data["text/html"]
        assert "<script" not in html and "<img" not in html and 'href="javascript' not in html


def test_midstream_error_keeps_partial_and_fails_the_cell(shell, emu, session) -> None:
    emu.queue(
        Fault(
            "midstream_error",
            after_tokens=6,
            reply=Reply(reasoning="one two three four five six seven", answer="never"),
        )
    )
    run = run_cell(shell, f"%%deepseek --base-url {emu.base_url} -o part\nHi")
    assert not run.success and "mid-stream" in str(run.error)
    part = shell.user_ns["part"]
    assert part.reasoning.startswith("one two") and part.error and not part.ok
    assert session.history.last is part
    assert "partial result kept" in run.final["text/html"]
    assert emu.wait_idle(5)
    assert run_cell(shell, f"%%deepseek --base-url {emu.base_url}\nagain").success


def test_missing_key_is_one_clear_line(shell) -> None:
    run = run_cell(shell, "%%deepseek --provider openrouter\nHi")
    assert type(run.error).__name__ == "UsageError"
    assert "DEEPSEEK_MAGIC_API_KEY" in str(run.error) and "%deepseek_offline" in str(run.error)


def test_keyboard_interrupt_keeps_partial_and_closes(shell, session) -> None:
    words = " ".join(f"w{i}" for i in range(400))
    with Emulator(replies=[Reply(reasoning=words, answer="late")], token_delay=0.01) as emu:
        run = interrupt_while_streaming(
            shell, emu, f"%%deepseek --base-url {emu.base_url} -o cut\nHi"
        )
        assert isinstance(run.error, KeyboardInterrupt)
        cut = shell.user_ns["cut"]
        assert (
            cut.interrupted
            and cut.reasoning.startswith("w0 w1")
            and len(cut.reasoning) < len(words)
        )
        assert "Interrupted" in run.final["text/html"]
        assert emu.wait_idle(5)
        assert emu.request_log[-1].disconnected
        emu.queue(Reply(answer="after"))
        assert run_cell(shell, f"%%deepseek --base-url {emu.base_url} -o ok\nHi").success
        assert shell.user_ns["ok"].answer == "after"


def test_live_view_is_throttled_and_traffic_linear(shell) -> None:
    """A fast 20,000-token stream: few frames, bytes linear in the reply, not quadratic."""

    def traffic(n_tokens: int) -> tuple[int, int, int, float]:
        words = "word " * (n_tokens // 2)
        with Emulator(replies=[Reply(reasoning=words, answer=words)], tokens_per_chunk=1) as emu:
            run = run_cell(shell, f"%%deepseek --base-url {emu.base_url}\nGo")
        assert run.success
        final = (
            len(run.final["text/html"])
            + len(run.final["text/markdown"])
            + len(run.final["text/plain"])
        )
        return run.frames, run.bytes_sent, final

    frames, sent, final = traffic(20_000)
    # throttled: 20,000 one-token chunks, a hundred times fewer frames (the frames-a-second
    # goal, live_rate, is measured by the benchmarks, not timed here)
    assert frames <= 20_000 // 100
    assert sent <= 20 * final
    small = traffic(2_000)
    # 10x the tokens may cost at most ~10x the bytes (linear), never ~100x (quadratic)
    assert sent <= 15 * small[1]


def test_load_and_unload_extension() -> None:
    from IPython.core.interactiveshell import InteractiveShell

    ip = InteractiveShell.instance()
    ip.run_line_magic("load_ext", "deepseek_magic")
    assert (
        "deepseek" in ip.magics_manager.magics["cell"]
        and "deepseek_panel" in ip.magics_manager.magics["line"]
    )
    assert protect_question_marks in ip.input_transformers_cleanup
    ip.run_line_magic("unload_ext", "deepseek_magic")
    assert "deepseek" not in ip.magics_manager.magics["cell"]
    assert "deepseek_config" not in ip.magics_manager.magics["line"]
    assert protect_question_marks not in ip.input_transformers_cleanup
    ip.run_line_magic("load_ext", "deepseek_magic")  # loads again cleanly
    assert "deepseek" in ip.magics_manager.magics["cell"]


def test_cell_magic_help_is_generated_from_the_table(shell) -> None:
    doc = shell.find_cell_magic("deepseek").__doc__
    for option in OPTIONS:
        assert option.flag in doc
    assert "--out" in doc and "--chat" in doc


def test_config_sets_validated_session_defaults(shell, emu, session, caplog) -> None:
    import copy

    magics = shell.magics_manager.registry["DeepSeekMagics"]
    saved = copy.deepcopy(shell.config.get("DeepSeekMagics"))  # %config writes to the shared shell
    try:
        assert run_cell(shell, "%config DeepSeekMagics.temperature = 0.6").success
        assert run_cell(shell, "%config DeepSeekMagics.stop = ['###']").success
        run_cell(shell, f"%%deepseek --base-url {emu.base_url}\nHi")
        assert emu.requests[-1]["temperature"] == 0.6 and emu.requests[-1]["stop"] == ["###"]
        run_cell(shell, f"%%deepseek --base-url {emu.base_url} --temperature 0.1\nHi")
        assert emu.requests[-1]["temperature"] == 0.1  # a flag wins over the session default
        # IPython's %config reports a refused value as one logged error line
        run_cell(shell, "%config DeepSeekMagics.temperature = 5")
        assert any("0 <= temperature <= 2" in r.getMessage() for r in caplog.records)
        assert magics.temperature == 0.6 and session.defaults["temperature"] == 0.6
        # IPython keeps the refused value in the shell's config: loading the magics again
        # drops it with a warning instead of failing
        assert shell.config["DeepSeekMagics"]["temperature"] == 5
        DeepSeekMagics(shell=shell, session=session)
        assert "temperature" not in shell.config["DeepSeekMagics"]
    finally:
        magics.temperature = None
        magics.stop = None
        shell.config.pop("DeepSeekMagics", None)
        if saved is not None:
            shell.config["DeepSeekMagics"] = saved
    assert "temperature" not in session.defaults
