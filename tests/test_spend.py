"""Spend: session totals, the budgets that refuse before sending, and the context guard."""

from __future__ import annotations

import pytest

from deepseek_magic import BudgetError, ask
from deepseek_magic.core._result import Result, Usage
from deepseek_magic.core._session import Feature
from deepseek_magic.emulator import Emulator, Reply, ToolCallSpec
from deepseek_magic.engine._api import prepare
from deepseek_magic.features._spend import (
    DEFAULT_OUTPUT_TOKENS,
    check_context,
    estimate_request,
    install_spend,
    session_totals,
)
from tests.helpers.cells import run_cell


def request_for(session, emu, prompt: str = "x" * 400, **options):
    return prepare(
        prompt, session=session, base_url=emu.base_url, provider="openrouter", options=options
    ).request


# The emulator speaks OpenRouter's dialect: its rules (and R1's price) apply. A bare
# loopback URL would be a local server, which costs nothing (tests/test_providers.py).


# ---------------------------------------------------------------------- estimates
def test_estimate_is_chars_over_four_plus_the_output_bound(session, emu) -> None:
    est = estimate_request(request_for(session, emu, "x" * 401, max_completion_tokens=1000))
    assert (est.prompt_tokens, est.output_tokens, est.output_assumed) == (101, 1000, False)
    assert est.cost == pytest.approx((101 * 0.70 + 1000 * 2.50) / 1e6)
    assumed = estimate_request(request_for(session, emu, "x" * 400))
    assert (assumed.output_tokens, assumed.output_assumed) == (DEFAULT_OUTPUT_TOKENS, True)
    assert "assumed without --max-completion-tokens" in assumed.describe()


def test_estimate_counts_tool_specs_and_every_message(session, emu) -> None:
    def get_weather(city: str) -> str:
        """Weather for a city, described at some length to weigh something."""
        return city

    bare = estimate_request(request_for(session, emu, "hello" * 40)).prompt_tokens
    with_tools = estimate_request(
        request_for(session, emu, "hello" * 40, tools=[get_weather])
    ).prompt_tokens
    assert with_tools > bare
    messages = [
        {"role": "user", "content": "a" * 100},
        {"role": "assistant", "content": "b" * 100},
        {"role": "user", "content": "c" * 100},
    ]
    assert (
        estimate_request(
            prepare(
                messages, session=session, base_url=emu.base_url, provider="openrouter", options={}
            ).request
        ).prompt_tokens
        == 75
    )


# ---------------------------------------------------------------------- budgets
def test_call_budget_refuses_and_nothing_is_sent(session, emu) -> None:
    install_spend(session)
    session.config["call_budget"] = 0.001  # the assumed 8,192 output tokens alone cost $0.02
    with pytest.raises(BudgetError) as info:
        ask("Hello", base_url=emu.base_url, provider="openrouter", session=session)
    message = str(info.value)
    assert "per-call budget of $0.001" in message and "8,192 output tokens assumed" in message
    assert "\n" not in message
    assert emu.request_log == []
    # within the budget once the output is bounded
    result = ask(
        "Hello",
        base_url=emu.base_url,
        provider="openrouter",
        session=session,
        max_completion_tokens=100,
    )
    assert result.ok and len(emu.request_log) == 1


def test_session_budget_counts_what_was_spent(session, emu) -> None:
    install_spend(session)
    emu.queue(Reply(answer="ok", cost=0.0105))
    ask(
        "First",
        base_url=emu.base_url,
        provider="openrouter",
        session=session,
        max_completion_tokens=100,
    )
    assert session_totals(session).cost == pytest.approx(0.0105)
    session.config["session_budget"] = 0.0106  # $0.0001 left; the next could cost up to ~$0.00025
    with pytest.raises(BudgetError, match=r"session budget is \$0\.0106, \$0\.0105 is spent"):
        ask(
            "Second",
            base_url=emu.base_url,
            provider="openrouter",
            session=session,
            max_completion_tokens=100,
        )
    assert len(emu.request_log) == 1
    session.config["session_budget"] = 1.0
    assert ask(
        "Second",
        base_url=emu.base_url,
        provider="openrouter",
        session=session,
        max_completion_tokens=100,
    ).ok


def test_offline_requests_cost_nothing_and_pass_the_budget(session, emu) -> None:
    install_spend(session)
    session.offline = emu
    session.config["session_budget"] = 0.0
    result = ask("Hello", session=session)
    assert result.offline and len(emu.request_log) == 1
    assert session_totals(session).cost == 0 and session_totals(session).requests == 1


def test_budget_can_be_set_in_config_as_text(session, emu) -> None:
    install_spend(session)
    session.config["call_budget"] = "0.001"
    with pytest.raises(BudgetError):
        ask("Hello", base_url=emu.base_url, provider="openrouter", session=session)
    session.config["call_budget"] = "off"
    assert ask("Hello", base_url=emu.base_url, provider="openrouter", session=session).ok


def test_every_tool_round_is_checked_and_done_rounds_are_kept(session, emu) -> None:
    install_spend(session)

    def fetch(n: int) -> str:
        """Fetch n characters."""
        return "w" * n

    emu.queue(Reply(tool_calls=[ToolCallSpec("fetch", {"n": 8000})]), Reply(answer="done"))
    first = estimate_request(
        prepare(
            "Fetch.",
            session=session,
            base_url=emu.base_url,
            provider="openrouter",
            options={"tools": [fetch], "max_completion_tokens": 10},
        ).request
    )
    # the first round fits; the second carries 8,000 more characters (~$0.0014) and does not
    session.config["call_budget"] = first.cost + 0.0005
    with pytest.raises(BudgetError, match="per-call budget") as info:
        ask(
            "Fetch.",
            base_url=emu.base_url,
            provider="openrouter",
            session=session,
            tools=[fetch],
            run_tools=True,
            max_completion_tokens=10,
        )
    assert len(emu.request_log) == 1
    partial = info.value.partial  # the round already done (and its tool's output) is kept
    assert partial is not None and partial.tool_calls[0].output == "w" * 8000
    assert session.history.last is partial


# ---------------------------------------------------------------------- totals
def test_totals_sum_tokens_and_server_cost_over_tool_rounds(session, emu) -> None:
    install_spend(session)

    def add(a: int, b: int) -> int:
        """Add."""
        return a + b

    emu.queue(
        Reply(
            reasoning="think",
            tool_calls=[ToolCallSpec("add", {"a": 1, "b": 2})],
            usage={
                "prompt_tokens": 10,
                "completion_tokens": 20,
                "cost": 0.01,
                "completion_tokens_details": {"reasoning_tokens": 5},
            },
        ),
        Reply(answer="3", usage={"prompt_tokens": 30, "completion_tokens": 4, "cost": 0.02}),
        Reply(answer="again", usage={"prompt_tokens": 1, "completion_tokens": 1, "cost": 0.005}),
    )
    ask(
        "1+2?",
        base_url=emu.base_url,
        provider="openrouter",
        session=session,
        tools=[add],
        run_tools=True,
    )
    ask("Again", base_url=emu.base_url, provider="openrouter", session=session)
    t = session_totals(session)
    assert (t.requests, t.prompt_tokens, t.completion_tokens, t.reasoning_tokens) == (2, 41, 25, 5)
    assert (
        t.cost == pytest.approx(0.035) and t.server_cost == pytest.approx(0.035) and not t.estimated
    )
    line = str(t)
    assert line.startswith("Session: 2 requests") and "$0.0350 spent (server-reported)" in line


def test_estimated_costs_are_marked(session) -> None:
    install_spend(session)
    session.record(
        Result(
            usage=Usage(prompt_tokens=1000, completion_tokens=1000),
            cost=0.0032,
            cost_source="estimate",
        )
    )
    t = session_totals(session)
    assert t.estimated and "(estimated)" in str(t)


def test_replays_are_not_charged_and_failures_counted(session) -> None:
    install_spend(session)
    session.record(
        Result(
            usage=Usage(prompt_tokens=5, completion_tokens=5),
            cost=1.0,
            cost_source="server",
            cached=True,
        )
    )
    session.record(Result(error="boom"))
    session.record(Result(usage=Usage(prompt_tokens=5, completion_tokens=5), finish_reason="stop"))
    t = session_totals(session)
    assert (t.requests, t.failed, t.cost, t.prompt_tokens, t.unpriced) == (3, 1, 0, 5, 1)


def test_install_is_idempotent_and_keeps_the_guard_last(session) -> None:
    install_spend(session)
    install_spend(session)
    assert [type(f).__name__ for f in session.features] == ["_Tracker"]

    class Answers(Feature):
        order = 10

    session.plug(Answers())
    install_spend(session)
    assert [type(f).__name__ for f in session.features] == ["Answers", "_Tracker"]


def test_totals_without_install_come_from_the_history_and_reset_zeroes(session, shell) -> None:
    session.record(
        Result(usage=Usage(prompt_tokens=7, completion_tokens=3), cost=0.25, cost_source="server")
    )
    assert session_totals(session).cost == 0.25 and session.features == []
    run = run_cell(shell, "%deepseek_spend --reset")
    assert run.success and "Session: 0 requests" in run.stdout
    assert session_totals(session).cost == 0


# ---------------------------------------------------------------------- context guard
def test_context_guard_warns_before_sending_and_still_sends(session, emu, capsys) -> None:
    install_spend(session)
    session.config["context_tokens"] = 50
    ask("y" * 400, base_url=emu.base_url, provider="openrouter", session=session)
    err = capsys.readouterr().err
    assert "about 100 tokens, longer than the model's context of 50" in err
    assert "%deepseek_chat reset NAME" in err and len(emu.request_log) == 1
    ask("short", base_url=emu.base_url, provider="openrouter", session=session)
    assert capsys.readouterr().err == ""


def test_context_guard_default_is_64k(session) -> None:
    # A model the catalogue does not know (a local server's) falls back on R1's 64K.
    with Emulator(dialect="vllm") as local:

        def request(prompt: str):  # noqa: ANN202
            return prepare(prompt, session=session, base_url=local.base_url, options={}).request

        seen: list[str] = []
        assert not check_context(session, request("z" * (65_536 * 4)), warn=seen.append)
        assert check_context(session, request("z" * (65_537 * 4)), warn=seen.append)
    assert len(seen) == 1


def test_context_guard_uses_the_catalogue_context(session, emu) -> None:
    # deepseek/deepseek-r1 has 163,840 tokens (snapshot; the emulator's /models agrees)
    seen: list[str] = []
    assert not check_context(
        session, request_for(session, emu, "z" * (163_840 * 4)), warn=seen.append
    )
    assert check_context(session, request_for(session, emu, "z" * (163_841 * 4)), warn=seen.append)
    assert "context of 163,840" in seen[0]


# ---------------------------------------------------------------------- the magic
def test_spend_magic_sets_budgets_and_shows_one_line(shell, session, emu) -> None:
    run = run_cell(shell, "%deepseek_spend --budget 0.50 --call-budget 0.01")
    assert run.success, run.error
    assert session.config["session_budget"] == 0.5 and session.config["call_budget"] == 0.01
    assert run.stdout.strip() == (
        "Session: 0 requests · 0 prompt + 0 completion tokens · $0.00 spent · "
        "budget $0.50 ($0.5000 left) · per call at most $0.01"
    )
    # installed by the magic: the next over-budget call is refused, nothing sent
    run = run_cell(shell, f"%%deepseek --base-url {emu.base_url} --provider openrouter\nHello")
    assert type(run.error).__name__ == "BudgetError" and emu.request_log == []
    run = run_cell(shell, "%deepseek_spend --call-budget off")
    assert "call_budget" not in session.config and "per call" not in run.stdout
    run = run_cell(shell, f"%%deepseek --base-url {emu.base_url} --provider openrouter\nHello")
    assert run.success and len(emu.request_log) == 1


@pytest.mark.parametrize(
    "line",
    ["--budget lots", "--budget -1", "--call-budget nan", "--context-tokens 0", "--nonsense"],
)
def test_spend_magic_refuses_bad_values_in_one_line(shell, session, line: str) -> None:
    run = run_cell(shell, f"%deepseek_spend {line}")
    assert type(run.error).__name__ == "UsageError" and "\n" not in str(run.error)
    assert "session_budget" not in session.config


def test_the_spend_settings_are_entries_of_the_settings_table(shell, session, emu, caplog) -> None:
    """Declared once (core/_call.py), so %config sets them as %deepseek_spend does, checked
    by the same table, and the README's settings table lists them."""
    from deepseek_magic.core._call import SETTING_BY_NAME, settings_markdown

    names = ("session_budget", "call_budget", "price", "context_tokens", "assumed_output_tokens")
    for name in names:
        assert SETTING_BY_NAME[name].trait and f"`{name}`" in settings_markdown()
    run = run_cell(shell, "%config DeepSeekMagics.call_budget = '0.001'")
    assert run.success, run.error
    assert session.config["call_budget"] == 0.001
    run = run_cell(shell, f"%%deepseek --base-url {emu.base_url} --provider openrouter\nHello")
    assert type(run.error).__name__ == "BudgetError" and emu.request_log == []
    run = run_cell(shell, "%config DeepSeekMagics.call_budget = 'off'")
    assert run.success and "call_budget" not in session.config
    run = run_cell(shell, "%config DeepSeekMagics.price = '0.5,2'")
    assert run.success and session.config["price"] == (0.5, 2.0)
    run_cell(shell, "%config DeepSeekMagics.price = 'cheap'")  # IPython logs the refusal
    assert session.config["price"] == (0.5, 2.0)  # a refused value changes nothing
    assert "price 'cheap': expected IN,OUT" in caplog.text
    run = run_cell(shell, "%deepseek_spend --price 1,x")
    assert type(run.error).__name__ == "UsageError"
    assert str(run.error).startswith("--price 1,x: expected IN,OUT")
