"""Providers as they are in December 2026 (issue 21, wire-format.md section 11): each
provider against the emulator's dialect for it, the catalogue deciding per model, the
DeepSeek tool turn, prices and cache savings, and the snapshot's maintainer command.

Every test reads the emulator's request log: no request goes out that the section says the
server refuses or drops, and what the server cannot take is said before sending."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any

import httpx
import pytest

import deepseek_magic as dm
from deepseek_magic.core._errors import OptionError
from deepseek_magic.core._providers import PROVIDERS, detect_provider
from deepseek_magic.emulator import Emulator, Reply, ToolCallSpec
from deepseek_magic.view._render import format_footer
from tests.helpers.cells import run_cell

REASONING = "Compare the tenths first."
ANSWER = "9.9 is larger."


def reply(**kw: Any) -> Reply:
    return Reply(reasoning=REASONING, answer=ANSWER, **kw)


def post(emu: Emulator, body: dict[str, Any]) -> httpx.Response:
    """A request straight to the emulator, bypassing the client (what a careless one sends)."""
    body = {"messages": [{"role": "user", "content": "q"}], "stream": False, **body}
    return httpx.post(emu.base_url + "/chat/completions", json=body, timeout=10)


def footer(run: Any) -> str:
    return str(run.final["text/plain"]).rsplit("\n", 1)[-1]


# ---------------------------------------------------------------- OpenRouter
def test_openrouter_refuses_thinking_off_for_a_mandatory_model_as_the_real_one_does() -> None:
    with Emulator(replies=[reply()] * 2) as emu:
        refused = post(emu, {"model": "deepseek/deepseek-r1", "reasoning": {"effort": "none"}})
        hybrid = post(
            emu, {"model": "deepseek/deepseek-v4.1-flash", "reasoning": {"effort": "none"}}
        )
    assert refused.status_code == 400
    assert refused.json()["error"]["message"] == (
        "Reasoning is mandatory for this endpoint and cannot be disabled"
    )
    assert hybrid.status_code == 200 and not hybrid.json()["choices"][0]["message"]["reasoning"]


@pytest.mark.parametrize("option, value", [("thinking", False), ("reasoning_effort", "none")])
def test_a_mandatory_model_is_never_sent_thinking_off(session, option: str, value: Any) -> None:
    with Emulator(replies=[reply()]) as emu:
        r = dm.ask(
            "q", base_url=emu.base_url, provider="openrouter", session=session, **{option: value}
        )
        assert r.ok and r.reasoning == REASONING  # it thought, as it always does
        body = emu.requests[0]
        with pytest.raises(OptionError, match="mandatory"):
            dm.ask(
                "q",
                base_url=emu.base_url,
                provider="openrouter",
                session=session,
                strict=True,
                **{option: value},
            )
        assert len(emu.request_log) == 1  # strict sent nothing
    assert "reasoning" not in body or body["reasoning"].get("effort") != "none"
    assert "mandatory" in r.options_not_sent[option]
    assert "snapshot 2026-12-07 for deepseek/deepseek-r1" in r.options_not_sent[option]
    assert f"not sent: {option}" in format_footer(r)


def test_dry_run_says_a_mandatory_model_cannot_switch_off_before_sending(shell) -> None:
    with Emulator() as emu:
        run = run_cell(
            shell,
            f"%deepseek --base-url {emu.base_url} --provider openrouter --dry-run "
            "--thinking off hi",
        )
        assert emu.request_log == []
    text = run.final["text/plain"]
    assert "not sent: thinking (reasoning is mandatory for this model" in text
    assert '"effort": "none"' not in text


def test_an_effort_the_model_lacks_goes_as_the_nearest_one_and_says_so(session) -> None:
    with Emulator(replies=[reply()] * 2) as emu:
        r = dm.ask(
            "q",
            base_url=emu.base_url,
            provider="openrouter",
            session=session,
            reasoning_effort="xhigh",
        )
        low = dm.ask(
            "q",
            base_url=emu.base_url,
            provider="openrouter",
            session=session,
            reasoning_effort="minimal",
        )
    assert [b["reasoning"]["effort"] for b in emu.requests] == ["high", "low"]
    assert r.ok and low.ok  # the emulator refuses an effort outside supported_efforts
    assert r.options_remapped["reasoning_effort"].startswith(
        "xhigh sent as high (the nearest of the model's efforts low, medium, high"
    )
    assert "reasoning_effort xhigh sent as high" in format_footer(r)


def test_the_live_catalogue_decides_budget_output_limit_and_expiry(session, shell) -> None:
    model = "deepseek/deepseek-r1-0528"
    magic_session = shell.magics_manager.registry["DeepSeekMagics"].session
    with Emulator(replies=[reply()] * 3) as emu:
        magic_session.config.update(base_url=emu.base_url, provider="openrouter")
        try:
            listed = shell.run_line_magic("deepseek_models", "0528")  # reads the live list
            run = run_cell(shell, f"%deepseek -m {model} -o r --reasoning-max-tokens 100 hi")
            flash = dm.ask(
                "q",
                session=magic_session,
                model="deepseek/deepseek-v4.1-flash",
                max_completion_tokens=500_000,
            )
        finally:
            magic_session.config.pop("base_url")
            magic_session.config.pop("provider")
    assert run.success, run.error
    r = shell.user_ns["r"]
    # supports_max_tokens false: the budget is not sent (the emulator would refuse it)
    assert "max_tokens" not in emu.requests[0].get("reasoning", {})
    assert "no reasoning token budget (live catalogue" in r.options_not_sent["reasoning_max_tokens"]
    # expiration_date: the footer and %deepseek_models say the model may go
    assert "may be removed after 2027-01-15" in footer(run)
    row = listed.set_index("id").loc[model]
    assert (row["expires"], row["supported_efforts"]) == ("2027-01-15", "low, medium, high")
    # top_provider.max_completion_tokens bounds what is asked
    assert emu.requests[1]["max_tokens"] == 393216 and flash.ok
    assert flash.options_remapped["max_completion_tokens"].startswith("500000 sent as 393216")


def test_models_shows_mandatory_efforts_and_expiry_online_and_from_the_snapshot(session) -> None:
    with Emulator() as emu:
        live = dm.models(base_url=emu.base_url, provider="openrouter", session=session)
    snap = dm.models(provider="openrouter", snapshot=True, session=session)
    for frame in (live, snap):
        rows = frame.set_index("id")
        assert rows.loc["deepseek/deepseek-r1", "reasoning_mandatory"] is True or bool(
            rows.loc["deepseek/deepseek-r1", "reasoning_mandatory"]
        )
        assert not rows.loc["deepseek/deepseek-v4.1-flash", "reasoning_mandatory"]
        assert rows.loc["deepseek/deepseek-r1", "supported_efforts"] == "low, medium, high"
        assert "expires" in frame.columns
    assert live.set_index("id").loc["deepseek/deepseek-r1-0528", "expires"] == "2027-01-15"


# ---------------------------------------------------------------- DeepSeek
def test_deepseek_no_longer_ignores_top_p_in_thinking_mode(session) -> None:
    with Emulator(replies=[reply()], dialect="deepseek") as emu:
        r = dm.ask(
            "q",
            base_url=emu.base_url,
            provider="deepseek",
            session=session,
            top_p=0.9,
            presence_penalty=0.1,
        )
    assert emu.requests[0]["top_p"] == 0.9 and "top_p" in r.options_sent
    assert set(r.options_ignored) == {"presence_penalty"}


def test_deepseek_refuses_a_tool_turn_whose_final_answer_lost_its_reasoning() -> None:
    call = {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}
    turn = [
        {"role": "user", "content": "weather?"},
        {"role": "assistant", "content": "", "tool_calls": [call], "reasoning_content": "r"},
        {"role": "tool", "tool_call_id": "c1", "content": "cold"},
        {"role": "assistant", "content": "It is cold."},  # the final answer, no reasoning
        {"role": "user", "content": "thanks"},
    ]
    with Emulator(replies=[reply()] * 2, dialect="deepseek") as emu:
        refused = post(emu, {"model": "deepseek-flash", "messages": turn})
        turn[3]["reasoning_content"] = "Say it."
        accepted = post(emu, {"model": "deepseek-flash", "messages": turn})
    assert refused.status_code == 400 and "must be passed back" in refused.text
    assert accepted.status_code == 200


def test_deepseek_three_turns_with_a_tool_call_in_the_middle(session) -> None:
    def get_weather(city: str) -> str:
        """Weather."""
        return "cold"

    script = [
        reply(),
        Reply(
            reasoning="Use the tool.", tool_calls=[ToolCallSpec("get_weather", {"city": "Oslo"})]
        ),
        Reply(reasoning="The tool said cold.", answer="It is cold in Oslo."),
        Reply(reasoning="Be kind.", answer="You are welcome."),
    ]
    kw = {"provider": "deepseek", "session": session, "conversation": "trip"}
    with Emulator(replies=script, dialect="deepseek") as emu:
        first = dm.ask("Which is larger, 9.9 or 9.11?", base_url=emu.base_url, **kw)
        second = dm.ask(
            "Weather in Oslo?", base_url=emu.base_url, tools=[get_weather], run_tools=True, **kw
        )
        third = dm.ask("Thanks!", base_url=emu.base_url, **kw)
        statuses = [rec.status for rec in emu.request_log]
    assert first.ok and second.ok and third.ok and statuses == [200, 200, 200, 200]
    last = emu.requests[3]["messages"]
    # turn 1 (no tool): its reasoning is not sent back; turn 2 (a tool turn): all of it is,
    # the final answer included (section 11: "in all subsequent user turns")
    assistants = [m for m in last if m["role"] == "assistant"]
    assert "reasoning_content" not in assistants[0]
    assert [m.get("reasoning_content") for m in assistants[1:]] == [
        "Use the tool.",
        "The tool said cold.",
    ]


def test_deepseek_cache_hits_show_what_they_saved(session, shell, monkeypatch) -> None:
    usage = {
        "prompt_tokens": 10_000,
        "completion_tokens": 100,
        "total_tokens": 10_100,
        "prompt_cache_hit_tokens": 8_000,
        "prompt_cache_miss_tokens": 2_000,
    }
    saturday = datetime(2026, 12, 12, 12, 0, tzinfo=timezone.utc)
    monkeypatch.setattr(dm.engine._api, "now_utc", lambda: saturday)
    with Emulator(replies=[reply(usage=usage)], dialect="deepseek") as emu:
        run = run_cell(shell, f"%deepseek --base-url {emu.base_url} --provider deepseek -o r hi")
    assert run.success, run.error
    r = shell.user_ns["r"]
    # off-peak: miss $0.15, hit $0.003, output $0.60 per million
    assert r.cost == pytest.approx((2000 * 0.15 + 8000 * 0.003 + 100 * 0.60) / 1e6)
    assert r.cache_saved == pytest.approx(8000 * (0.15 - 0.003) / 1e6)
    assert "(8,000 cached)" in footer(run) and "(off-peak price)" in footer(run)
    assert "cache saved ≈$0.001176" in footer(run)
    spend = run_cell(shell, "%deepseek_spend")
    assert "8,000 prompt tokens from the cache saved ≈$0.001176" in spend.stdout


def test_deepseek_prices_follow_the_peak_window_by_the_requests_time() -> None:
    from deepseek_magic.client._catalogue import price_for, snapshot_catalogue

    ds = PROVIDERS["deepseek"]
    cat = snapshot_catalogue(ds)
    at = lambda d, h: datetime(2026, 12, d, h, 30, tzinfo=timezone.utc)  # noqa: E731
    peak = [at(7, 1), at(7, 3), at(8, 6), at(11, 9)]  # Monday..Friday, in the windows
    off = [at(7, 0), at(7, 4), at(7, 5), at(7, 10), at(12, 7), at(13, 2)]  # gaps, weekend
    for when in peak:
        price = price_for("deepseek-flash", ds, cat, when=when)
        assert (price.prompt * 1e6, price.note) == (pytest.approx(0.30), "peak price"), when
    for when in off:
        price = price_for("deepseek-v4-pro", ds, cat, when=when)
        assert (price.completion * 1e6, price.note) == (pytest.approx(1.98), "off-peak price")


# ---------------------------------------------------------------- Ollama
def test_ollama_drops_think_and_takes_reasoning_effort(session) -> None:
    with Emulator(replies=[reply()] * 4, dialect="ollama") as emu:
        dropped = post(emu, {"model": "m", "think": False})  # what we used to send
        off = dm.ask("q", base_url=emu.base_url, provider="ollama", session=session, thinking=False)
        most = dm.ask(
            "q", base_url=emu.base_url, provider="ollama", session=session, reasoning_effort="max"
        )
        xhigh = dm.ask(
            "q",
            base_url=emu.base_url,
            provider="ollama",
            session=session,
            reasoning_effort="xhigh",
        )
    assert dropped.json()["choices"][0]["message"].get("reasoning") == REASONING  # ignored
    assert off.reasoning == "" and emu.requests[1]["reasoning_effort"] == "none"
    assert all("think" not in b for b in emu.requests[1:])
    assert emu.requests[2]["reasoning_effort"] == "max" and most.options_remapped == {}
    assert emu.requests[3]["reasoning_effort"] == "max"
    assert xhigh.options_remapped["reasoning_effort"].startswith("xhigh sent as max")


def test_ollama_says_it_ignores_tool_choice(session) -> None:
    def f() -> str:
        """F."""
        return "x"

    with Emulator(replies=[reply()], dialect="ollama") as emu:
        r = dm.ask(
            "q",
            base_url=emu.base_url,
            provider="ollama",
            session=session,
            tools=[f],
            tool_choice="required",
        )
        with pytest.raises(OptionError, match="tool_choice"):
            dm.ask(
                "q",
                base_url=emu.base_url,
                provider="ollama",
                session=session,
                tools=[f],
                tool_choice="required",
                strict=True,
            )
        assert len(emu.request_log) == 1
    assert "does not support it" in r.options_ignored["tool_choice"]


# ---------------------------------------------------------------- llama.cpp, SGLang, vLLM
def test_local_servers_are_told_by_their_ports() -> None:
    assert [detect_provider(f"http://127.0.0.1:{p}/v1").name for p in (9931, 8080, 30000)] == [
        "llamacpp",
        "llamacpp",
        "sglang",
    ]
    assert PROVIDERS["llamacpp"].base_url == "http://127.0.0.1:9931/v1"


def test_llamacpp_turns_thinking_off_with_reasoning_effort_none_and_reads_props(
    session,
) -> None:
    from deepseek_magic.emulator._catalogues import LLAMACPP_SLOT_CONTEXT
    from deepseek_magic.features._spend import check_context

    with Emulator(replies=[reply()], dialect="llamacpp") as emu:
        off = dm.ask(
            "q", base_url=emu.base_url, provider="llamacpp", session=session, thinking=False
        )
        frame = dm.models(base_url=emu.base_url, provider="llamacpp", session=session)
        prep = dm.engine._api.prepare(
            "word " * 4000,
            session=session,
            base_url=emu.base_url,
            provider="llamacpp",
            model=frame["id"][0],
            options={},
        )
    assert emu.requests[0]["reasoning_effort"] == "none" and off.reasoning == ""
    # the per-slot context from GET /props, not the training context of /v1/models
    assert list(frame["context_length"]) == [LLAMACPP_SLOT_CONTEXT]
    warnings: list[str] = []
    assert check_context(session, prep.request, warn=warnings.append)
    assert f"{LLAMACPP_SLOT_CONTEXT:,}" in warnings[0]


def test_sglang_switches_thinking_with_chat_template_kwargs_thinking(session) -> None:
    with Emulator(replies=[reply()] * 2, dialect="sglang") as emu:
        ignored = post(emu, {"model": "m", "chat_template_kwargs": {"enable_thinking": False}})
        off = dm.ask("q", base_url=emu.base_url, provider="sglang", session=session, thinking=False)
    assert ignored.json()["choices"][0]["message"]["reasoning_content"] == REASONING
    assert emu.requests[1]["chat_template_kwargs"] == {"thinking": False} and off.reasoning == ""


def test_vllm_gets_reasoning_back_never_reasoning_content(session) -> None:
    def get_weather(city: str) -> str:
        """Weather."""
        return "cold"

    script = [
        Reply(
            reasoning="Use the tool.", tool_calls=[ToolCallSpec("get_weather", {"city": "Oslo"})]
        ),
        reply(),
    ]
    with Emulator(replies=script, dialect="vllm") as emu:
        r = dm.ask(
            "w?",
            base_url=emu.base_url,
            provider="vllm",
            session=session,
            tools=[get_weather],
            run_tools=True,
        )
    sent = emu.requests[1]["messages"][1]
    assert r.ok and sent["reasoning"] == "Use the tool." and "reasoning_content" not in sent


# ---------------------------------------------------------------- LM Studio
def test_lmstudio_says_it_ignores_reasoning_effort(session, shell) -> None:
    with Emulator(replies=[reply()]) as emu:
        base = f"%deepseek --base-url {emu.base_url} --provider lmstudio"
        dry = run_cell(shell, f"{base} --dry-run --reasoning-effort high hi")
        strict = run_cell(shell, f"{base} --strict --reasoning-effort high hi")
        assert emu.request_log == []
        r = dm.ask(
            "q",
            base_url=emu.base_url,
            provider="lmstudio",
            session=session,
            reasoning_effort="high",
        )
    assert "lmstudio-bug-tracker#988" in dry.final["text/plain"]
    assert "ignored by the server" in str(strict.error)
    assert "reasoning_effort" in r.options_ignored


# ---------------------------------------------------------------- sources and the snapshot
def test_every_provider_entry_says_its_source_and_check_date() -> None:
    facts = ("thinking", "effort_map", "ignored", "ignored_thinking", "retired", "peak_hours_utc")
    for p in PROVIDERS.values():
        assert p.source and p.checked == "2026-12-07", p.name
        for where in p.fact_sources.values():
            assert "checked 2026-" in where, (p.name, where)
        assert set(p.fact_sources) <= {f.name for f in p.__dataclass_fields__.values()}
    ds = PROVIDERS["deepseek"]
    assert {f for f in facts if getattr(ds, f)} <= set(ds.fact_sources)


def test_the_maintainer_command_rebuilds_the_snapshot_from_the_live_endpoints(tmp_path) -> None:
    from deepseek_magic import catalogue
    from deepseek_magic.client._catalogue import SNAPSHOT_PATH, parse_models

    old = json.loads(SNAPSHOT_PATH.read_text(encoding="utf-8"))
    with Emulator() as router, Emulator(dialect="deepseek") as ds:
        new = catalogue.rebuild_snapshot(
            old,
            base_urls={"openrouter": router.base_url, "deepseek": ds.base_url},
            env={"OPENROUTER_API_KEY": "sk-or-maintainer", "DEEPSEEK_API_KEY": "sk-ds"},
            today="2027-01-02",
        )
        out = tmp_path / "snap.json"
        code = catalogue.main(
            [
                "snapshot",
                "--out",
                str(out),
                "--base-url",
                f"openrouter={router.base_url}",
                "--base-url",
                f"deepseek={ds.base_url}",
            ]
        )
    assert code == 0 and json.loads(out.read_text())["providers"].keys() == new["providers"].keys()
    assert new["date"] == "2027-01-02"
    entry = new["providers"]["openrouter"]
    assert entry["checked"] == "2027-01-02" and entry["source"].startswith("GET http://127.0.0.1")
    r1 = parse_models("x", entry, source="snapshot", date="2027-01-02").get("deepseek/deepseek-r1")
    assert (
        r1 is not None
        and r1.reasoning_mandatory
        and r1.supported_efforts
        == (
            "low",
            "medium",
            "high",
        )
    )
    # DeepSeek's /models has no prices: those of the old snapshot are carried, and it says so
    dsd = new["providers"]["deepseek"]
    assert "prices carried from the snapshot of 2026-12-07" in dsd["source"]
    flash = next(m for m in dsd["data"] if m["id"] == "deepseek-flash")
    assert flash["pricing"]["off_peak"]["prompt"] == "0.00000015"
    assert flash["effort"] == {"supported_levels": ["low", "high", "max"]}
    assert "sk-or-maintainer" not in json.dumps(new)


def test_the_panel_greys_out_what_the_model_cannot_take_and_sends_none_of_it(session) -> None:
    from deepseek_magic.notebook._panel import panel

    with Emulator(replies=[reply()]) as emu:
        dm.models(base_url=emu.base_url, provider="openrouter", session=session)  # live rules
        p = panel(
            "q",
            session=session,
            shell=None,
            base_url=emu.base_url,
            provider="openrouter",
            model="deepseek/deepseek-r1-0528",
        )
        budget = p.option_controls["reasoning_max_tokens"].widget
        assert budget.disabled and "no reasoning token budget" in budget.tooltip
        p.option_controls["thinking"].set(False)
        thinking = p.option_controls["thinking"].widget
        assert thinking.disabled and "reasoning is mandatory" in thinking.tooltip
        p.send_button.click()
        assert p.wait(20) and p.last_result is not None
    assert "thinking" in p.last_result.options_not_sent
    assert emu.requests[0].get("reasoning", {}).get("effort") != "none"
    assert [r.status for r in emu.request_log if r.path.endswith("/completions")] == [200]


def test_a_refusal_the_catalogue_did_not_foresee_names_what_changed(session, monkeypatch) -> None:
    from deepseek_magic.client import _catalogue

    # A stale catalogue: it says R1 can switch off; the server says otherwise
    monkeypatch.setattr(_catalogue.Catalogue, "rules", lambda self, model: None)
    with Emulator(replies=[reply()]) as emu:
        with pytest.raises(dm.BadRequestError) as info:
            dm.ask(
                "q", base_url=emu.base_url, provider="openrouter", session=session, thinking=False
            )
    text = str(info.value)
    assert "Reasoning is mandatory" in text and "%deepseek_models --refresh" in text
    assert "\n" not in text


@pytest.mark.parametrize("dialect", ["ollama", "llamacpp"])
def test_thinking_off_and_an_effort_on_one_field_say_which_won(session, dialect: str) -> None:
    with Emulator(replies=[reply()], dialect=dialect) as emu:
        r = dm.ask(
            "q",
            base_url=emu.base_url,
            provider=dialect,
            session=session,
            reasoning_effort="high",
            thinking=False,
        )
    assert emu.requests[0]["reasoning_effort"] == "none" and r.reasoning == ""
    assert "thinking off is sent as reasoning_effort here" in r.options_not_sent["reasoning_effort"]
