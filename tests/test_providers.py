"""Providers in one table, the model catalogue, thinking mode, and no option ignored in
silence (issue 12), against the emulator in each dialect."""

from __future__ import annotations

import ast
import json
from pathlib import Path
from typing import Any

import pytest

import deepseek_magic as dm
from deepseek_magic.core import _providers
from deepseek_magic.core._errors import BudgetError, ConfigError, OptionError
from deepseek_magic.core._providers import PROVIDERS, Provider, plan_options, provider_for_dialect
from deepseek_magic.emulator import Emulator, Reply, ToolCallSpec
from tests.helpers.cells import run_cell

PACKAGE = Path(dm.__file__).parent
REASONING = "Compare the tenths first."
ANSWER = "9.9 is larger."


def reply(**kw: Any) -> Reply:
    return Reply(reasoning=REASONING, answer=ANSWER, **kw)


# ---------------------------------------------------------------- one table
def _code_strings(path: Path) -> list[tuple[int, str]]:
    """String constants of a module that are code, not docstrings or comments."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    docstrings = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            body = getattr(node, "body", [])
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                docstrings.add(id(body[0].value))
    return [
        (n.lineno, n.value)
        for n in ast.walk(tree)
        if isinstance(n, ast.Constant) and isinstance(n.value, str) and id(n) not in docstrings
    ]


def test_only_the_provider_table_names_a_provider() -> None:
    # The emulator plays the servers (it must speak their dialects) and imports nothing
    # from the package, so it is the one other place allowed to name them.
    names = {p.name for p in PROVIDERS.values()}
    marks = {h for p in PROVIDERS.values() for h in p.hosts}  # openrouter.ai, deepseek.com ...
    marks |= {f":{port}/" for p in PROVIDERS.values() for port in p.ports}  # a local flavour's port
    marks |= {p.key_env for p in PROVIDERS.values() if p.key_env}
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE).as_posix()
        if rel == "core/_providers.py" or rel.startswith("emulator/"):
            continue
        for line, text in _code_strings(path):
            # (the magic itself is called "deepseek", like one provider)
            magic_name = text == "deepseek" and rel in ("_magic.py", "_magic_args.py")
            if (text in names and not magic_name) or any(m in text for m in marks):
                found.append(f"{rel}:{line}: {text!r}")
    # ... and no provider is recognised by an `if` on its name
    for path in sorted(PACKAGE.rglob("*.py")):
        if path.name != "_providers.py":
            assert "provider.name ==" not in path.read_text(encoding="utf-8"), path
    assert found == []


def test_every_provider_resolves_the_short_name_and_spells_every_option() -> None:
    from deepseek_magic.core._options import OPTIONS, validate_options

    for provider in PROVIDERS.values():
        values = validate_options(
            {
                o.name: {
                    "float": 0.5,
                    "int": 3,
                    "bool": True,
                    "choice": o.choices[0] if o.choices else None,
                    "strings": ["x"],
                }.get(o.kind)
                for o in OPTIONS
                if not o.alias_of
                and o.kind not in ("tools", "tool_choice")
                and o.name != "reasoning_max_tokens"
            }
        )
        plan = plan_options(values, provider)
        # every option the user set is accounted for, exactly once
        accounted = set(plan.sent) | set(plan.ignored) | set(plan.not_sent)
        assert accounted == set(values), provider.name
        assert not set(plan.sent) & set(plan.not_sent)


# ---------------------------------------------------------------- a made-up provider
def acme(base_url: str) -> Provider:
    """A provider no code knows: everything it differs in comes from its entry."""
    return Provider(
        "acme",
        "Acme Inference",
        base_url,
        key_env=None,
        needs_key=False,
        aliases={"deepseek-r1": "acme/r1-large"},
        spell={"max_completion_tokens": ("max_new_tokens",), "reasoning_effort": ("effort",)},
        not_sendable={
            "top_k": "Acme samples with top_p only",
            "reasoning_max_tokens": "no budgets",
        },
        ignored={"seed": "Acme is not deterministic"},
        thinking={True: {"acme": {"think": "yes"}}, False: {"acme": {"think": "no"}}},
        effort_map={"medium": "normal"},
        headers={"X-Acme-Client": "deepseek-magic"},
        resend_reasoning="always",
        reasoning_field="acme_reasoning",
    )


def test_a_made_up_provider_works_in_ask_the_magic_and_the_panel(
    monkeypatch, session, shell
) -> None:
    with Emulator(replies=[reply()] * 4) as emu:
        monkeypatch.setitem(PROVIDERS, "acme", acme(emu.base_url))
        r = dm.ask(
            "q",
            provider="acme",
            session=session,
            max_completion_tokens=50,
            top_k=5,
            seed=1,
            reasoning_effort="medium",
            thinking=False,
            conversation="c",
        )
        dm.ask("again", provider="acme", session=session, conversation="c")
        body, second = emu.requests[0], emu.requests[1]
        headers = emu.request_log[0].headers
        assert (
            body["model"] == "acme/r1-large"
            and body["max_new_tokens"] == 50
            and body["effort"] == "normal"
        )
        assert body["acme"] == {"think": "no"} and body["seed"] == 1 and "top_k" not in body
        assert headers["x-acme-client"] == "deepseek-magic"
        assert second["messages"][1]["acme_reasoning"] == r.reasoning  # resent on every turn
        assert r.options_ignored == {"seed": "Acme is not deterministic"}
        assert r.options_not_sent == {"top_k": "Acme samples with top_p only"}
        assert r.options_remapped["reasoning_effort"].startswith("medium sent as normal")
        assert "top_k" not in r.params and r.params["max_new_tokens"] == 50

        run = run_cell(shell, "%%deepseek --provider acme --top-k 3 --seed 2\nHello")
        assert run.success, run.error
        footer = run.final["text/plain"]
        assert "ignored by the server: seed" in footer and "not sent: top_k" in footer

        from deepseek_magic.notebook._panel import panel

        p = panel("q", session=session, shell=None, provider="acme")
        top_k = p.option_controls["top_k"]
        assert top_k.widget.disabled and "Acme samples with top_p only" in top_k.widget.tooltip
        assert not p.option_controls["temperature"].widget.disabled
        p.send_button.click()
        assert p.wait(20) and p.last_result is not None and p.last_result.answer == ANSWER
    assert "acme" not in PROVIDERS or PROVIDERS["acme"].base_url == emu.base_url


# ---------------------------------------------------------------- DeepSeek today
def test_provider_deepseek_sends_the_current_model_with_thinking_on(session) -> None:
    with Emulator(replies=[reply()], dialect="deepseek") as emu:
        r = dm.ask("q", base_url=emu.base_url, provider="deepseek", session=session)
    body = emu.requests[0]
    assert body["model"] == "deepseek-flash" and body["thinking"] == {"type": "enabled"}
    assert (r.reasoning, r.answer) == (REASONING, ANSWER)
    assert r.options_sent == () and r.options_ignored == {}  # thinking was implied, not set


def test_the_default_models_openrouter_id_also_means_todays_model_on_deepseek() -> None:
    from deepseek_magic.core._settings import resolve_settings

    for name in ("deepseek-r1", "deepseek/deepseek-r1"):
        s = resolve_settings(provider="deepseek", model=name, require_key=False, env={})
        assert s.model == "deepseek-flash" and s.short_name_used
    assert (
        resolve_settings(
            provider="deepseek", model="deepseek-v4-pro", require_key=False, env={}
        ).model
        == "deepseek-v4-pro"
    )


def test_the_footer_shows_the_model_the_server_says_it_used(shell) -> None:
    with Emulator(replies=[reply()], dialect="deepseek") as emu:
        run = run_cell(
            shell,
            f"%%deepseek --base-url {emu.base_url} --provider deepseek -m deepseek-v4-flash "
            "-o r\nq",
        )
    assert run.success, run.error
    assert emu.requests[0]["model"] == "deepseek-v4-flash"
    assert shell.user_ns["r"].model == "deepseek-flash"
    assert run.final["text/plain"].rsplit("\n", 1)[-1].startswith("-- deepseek-flash ·")


def test_a_retired_name_is_one_line_and_nothing_is_sent(shell) -> None:
    with Emulator(replies=[reply()], dialect="deepseek") as emu:
        run = run_cell(
            shell,
            f"%%deepseek --base-url {emu.base_url} --provider deepseek -m deepseek-reasoner\nq",
        )
        assert emu.requests == []
    message = str(run.error)
    assert type(run.error).__name__ == "UsageError" and "\n" not in message
    assert "'deepseek-reasoner'" in message and "retired on 2026-07-24" in message
    assert "closest it serves: deepseek-flash" in message and "%deepseek_models" in message


def test_a_typo_refused_by_the_server_is_one_line_with_the_closest_model(session) -> None:
    with Emulator(replies=[reply()], dialect="deepseek") as emu:
        with pytest.raises(dm.BadRequestError) as info:
            dm.ask(
                "q",
                base_url=emu.base_url,
                provider="deepseek",
                model="deepseek-flsh",
                session=session,
            )
        assert len(emu.requests) == 1  # DeepSeek's own 400 "Model Not Exist" came back
    message = str(info.value)
    assert message == (
        "Model 'deepseek-flsh' is not served by DeepSeek; closest it serves: deepseek-flash. "
        "%deepseek_models lists what it serves."
    )


def test_deepseek_ignores_sampling_in_thinking_mode_and_remaps_efforts(session) -> None:
    with Emulator(replies=[reply()] * 2, dialect="deepseek") as emu:
        r = dm.ask(
            "q",
            base_url=emu.base_url,
            provider="deepseek",
            session=session,
            temperature=0.5,
            reasoning_effort="medium",
            reasoning_max_tokens=None,
            top_k=4,
        )
        off = dm.ask(
            "q",
            base_url=emu.base_url,
            provider="deepseek",
            session=session,
            temperature=0.5,
            thinking=False,
        )
    body = emu.requests[0]
    assert body["temperature"] == 0.5 and body["reasoning_effort"] == "high" and "top_k" not in body
    assert set(r.options_ignored) == {"temperature"} and set(r.options_not_sent) == {"top_k"}
    assert r.options_remapped == {
        "reasoning_effort": "medium sent as high (the levels this server has)"
    }
    # thinking off: temperature counts again, and no reasoning comes back
    assert (
        off.options_ignored == {}
        and set(off.options_sent) == {"temperature", "thinking"}
        and off.reasoning == ""
    )
    assert emu.requests[1]["thinking"] == {"type": "disabled"}


def test_deepseek_tool_rounds_pass_reasoning_content_back(session) -> None:
    def get_weather(city: str) -> str:
        """Weather."""
        return "cold"

    script = [
        Reply(
            reasoning="Use the tool.", tool_calls=[ToolCallSpec("get_weather", {"city": "Oslo"})]
        ),
        reply(),
    ]
    with Emulator(replies=script, dialect="deepseek") as emu:
        r = dm.ask(
            "Weather?",
            base_url=emu.base_url,
            provider="deepseek",
            session=session,
            tools=[get_weather],
            run_tools=True,
        )
    # the emulator refuses (400) a tool turn without it, as today's API does
    assert r.ok and emu.requests[1]["messages"][1]["reasoning_content"] == "Use the tool."


# ---------------------------------------------------------------- thinking
@pytest.mark.parametrize(
    "dialect", ["openrouter", "deepseek", "vllm", "llamacpp", "ollama", "sglang"]
)
def test_thinking_off_turns_reasoning_off_on_every_provider_that_can(session, dialect: str) -> None:
    provider = provider_for_dialect(dialect)
    # R1 reasons always on OpenRouter (its catalogue says mandatory): a hybrid model there
    model = {"openrouter": "deepseek/deepseek-v4.1-flash"}.get(dialect, "deepseek-r1")
    with Emulator(replies=[reply()] * 2, dialect=dialect) as emu:
        kw = {"base_url": emu.base_url, "provider": provider.name, "model": model}
        on = dm.ask("q", session=session, thinking=True, **kw)
        off = dm.ask("q", session=session, thinking=False, **kw)
    assert on.reasoning == REASONING and off.reasoning == "" and off.answer == ANSWER
    sent = {
        k: v
        for k, v in emu.requests[1].items()
        if k not in ("model", "messages", "stream", "stream_options")
    }
    assert sent == dict(provider.thinking[False])
    assert off.options_sent == ("thinking",)


def test_a_provider_without_a_thinking_switch_says_so(session) -> None:
    with Emulator(replies=[reply()]) as emu:
        r = dm.ask("q", base_url=emu.base_url, provider="lmstudio", session=session, thinking=False)
    assert "thinking" in r.options_not_sent and "thinking" not in json.dumps(emu.requests[0])


# ---------------------------------------------------------------- nothing in silence
ISSUE_LINE = (
    "--reasoning-max-tokens 100 --reasoning-exclude true --include-reasoning false "
    "--temperature 0.5"
)


@pytest.mark.parametrize("dialect", ["deepseek", "vllm", "ollama", "llamacpp"])
def test_dropped_and_ignored_options_show_in_dry_run_footer_and_result(shell, dialect: str) -> None:
    provider = provider_for_dialect(dialect)
    with Emulator(replies=[reply()], dialect=dialect) as emu:
        base = f"%deepseek --base-url {emu.base_url} --provider {provider.name}"
        dry = run_cell(shell, f"{base} --dry-run {ISSUE_LINE} hi")
        assert dry.success and emu.requests == []
        text = dry.final["text/plain"]
        for name in ("reasoning_max_tokens", "reasoning_exclude", "include_reasoning"):
            assert name in text.split("not sent: ", 1)[1], (dialect, text)
        if dialect == "deepseek":
            assert "ignored by the server: temperature" in text
        run = run_cell(shell, f"{base} -o r {ISSUE_LINE} hi")
        assert run.success, run.error
    r = shell.user_ns["r"]
    assert set(r.options_not_sent) == {
        "reasoning_max_tokens",
        "reasoning_exclude",
        "include_reasoning",
    }
    assert ("temperature" in r.options_ignored) == (dialect == "deepseek")
    assert r.params == {
        k: v for k, v in emu.requests[0].items() if k != "messages"
    }  # exactly what was sent
    footer = run.final["text/plain"].rsplit("\n", 1)[-1]
    assert (
        "not sent: include_reasoning, reasoning_max_tokens, reasoning_exclude" in footer
        or "not sent: reasoning_max_tokens" in footer
    )


@pytest.mark.parametrize("dialect", ["deepseek", "ollama"])
def test_strict_refuses_before_sending(shell, session, dialect: str) -> None:
    provider = provider_for_dialect(dialect)
    option = {"deepseek": "--temperature 0.3", "ollama": "--top-k 3"}[dialect]
    with Emulator(replies=[reply()], dialect=dialect) as emu:
        run = run_cell(
            shell,
            f"%deepseek --base-url {emu.base_url} --provider {provider.name} --strict {option} hi",
        )
        with pytest.raises(OptionError, match="strict"):
            dm.ask(
                "hi",
                base_url=emu.base_url,
                provider=provider.name,
                session=session,
                strict=True,
                reasoning_exclude=True,
            )
        assert emu.request_log == []  # nothing reached the server
        fine = run_cell(
            shell, f"%deepseek --base-url {emu.base_url} --provider {provider.name} --strict hi"
        )
        assert fine.success and len(emu.requests) == 1
    assert type(run.error).__name__ == "UsageError" and "\n" not in str(run.error)
    assert "ignored by the server" in str(run.error)


def test_strict_can_be_the_session_default(shell) -> None:
    with Emulator(replies=[reply()], dialect="deepseek") as emu:
        shell.run_line_magic("config", "DeepSeekMagics.strict = True")
        try:
            run = run_cell(
                shell,
                f"%deepseek --base-url {emu.base_url} --provider deepseek --temperature 0.3 hi",
            )
        finally:
            shell.run_line_magic("config", "DeepSeekMagics.strict = None")
        assert "Not sent (strict)" in str(run.error) and emu.request_log == []


def test_offline_openrouter_format_sends_the_reasoning_options(shell) -> None:
    # The issue's example: offline mode says "openrouter format", so OpenRouter's rules apply.
    from deepseek_magic.features._offline import start_offline, stop_offline

    session = shell.magics_manager.registry["DeepSeekMagics"].session
    start_offline(session)
    try:
        run = run_cell(shell, f"%deepseek --dry-run {ISSUE_LINE} hi")
    finally:
        stop_offline(session)
    body = json.loads(run.final["text/plain"].split("\n", 1)[1].rsplit("}", 1)[0] + "}")
    assert body["reasoning"] == {"max_tokens": 100, "exclude": True} and body["temperature"] == 0.5


def test_config_lists_what_the_defaults_become(shell) -> None:
    shell.run_line_magic("config", "DeepSeekMagics.provider = 'deepseek'")
    shell.run_line_magic("config", "DeepSeekMagics.temperature = 0.4")
    shell.run_line_magic("config", "DeepSeekMagics.top_k = 7")
    try:
        run = run_cell(shell, "%deepseek_config")
    finally:
        shell.run_line_magic("config", "DeepSeekMagics.provider = None")
        shell.run_line_magic("config", "DeepSeekMagics.temperature = None")
        shell.run_line_magic("config", "DeepSeekMagics.top_k = None")
    assert "deepseek-flash" in run.stdout and "thinking=True" in run.stdout
    assert "temperature (DeepSeek ignores it in thinking mode)" in run.stdout
    assert "top_k (not a DeepSeek API parameter)" in run.stdout


def test_deprecated_fields_are_never_sent(session) -> None:
    extra = {"usage": {"include": True}, "stream_options": {"include_usage": True}}
    for name, provider in PROVIDERS.items():
        if not provider.base_url:
            continue
        with Emulator(replies=[reply()], dialect=provider.dialect or "openai") as emu:
            r = dm.ask("q", base_url=emu.base_url, provider=name, session=session, extra=extra)
        body = emu.requests[0]
        for field in provider.deprecated_fields:
            assert field not in body, (name, field)
            assert f"extra.{field}" in r.options_not_sent
        if name == "openrouter":  # never asked for: it is always reported
            assert "usage" not in body and "stream_options" not in body and r.cost is not None


# ---------------------------------------------------------------- the catalogue
def test_models_online_shaped_cached_and_filterable(session, shell) -> None:
    with Emulator() as emu:
        session.config["base_url"] = emu.base_url
        session.config["provider"] = "openrouter"
        frame = dm.models(session=session)
        assert list(frame["id"]) == [
            "deepseek/deepseek-r1",
            "deepseek/deepseek-r1-0528",
            "deepseek/deepseek-v4.1-flash",
        ]
        assert frame.attrs["source"].startswith(f"live from {emu.base_url}/models")
        assert frame.loc[0, "prompt_usd_per_m"] == 0.7 and frame.loc[0, "context_length"] == 163840
        assert "max_tokens" in frame.loc[0, "supported_parameters"]
    # The emulator is gone: the list read once this session still answers.
    again = dm.models("0528", session=session)
    assert list(again["id"]) == ["deepseek/deepseek-r1-0528"] and again.attrs["source"].startswith(
        "live"
    )
    run = run_cell(shell, "%deepseek_models --snapshot")
    assert run.success and "snapshot of 2026-12-07" in run.stdout


def test_the_live_catalogue_feeds_spelling_and_supported_parameters(session) -> None:
    with Emulator(replies=[reply()] * 2) as emu:
        before = dm.ask(
            "q",
            base_url=emu.base_url,
            provider="openrouter",
            session=session,
            max_completion_tokens=64,
        )
        dm.models(base_url=emu.base_url, provider="openrouter", session=session)
        after = dm.ask(
            "q",
            base_url=emu.base_url,
            provider="openrouter",
            session=session,
            max_completion_tokens=64,
        )
    assert emu.requests[0]["max_completion_tokens"] == 64 and before.options_sent == (
        "max_completion_tokens",
    )
    # R1's endpoints advertise max_tokens, not max_completion_tokens (wire-format.md section 10)
    assert emu.requests[1]["max_tokens"] == 64 and "max_completion_tokens" not in emu.requests[1]
    assert after.options_sent == ("max_completion_tokens",)


def test_models_offline_is_the_dated_snapshot(session, shell) -> None:
    session.config["base_url"] = "http://127.0.0.1:9/v1"  # nothing listens there
    session.config["provider"] = "deepseek"
    frame = dm.models("flash", session=session)
    assert list(frame["id"]) == ["deepseek-flash", "deepseek-v4-flash"]
    assert (
        frame.attrs["source"].startswith("snapshot of 2026-12-07")
        and "could not reach" in frame.attrs["source"]
    )
    assert set(frame["source"]) == {"snapshot 2026-12-07"}
    # the snapshot holds what DeepSeek's GET /models gives: efforts, context, output limit
    assert set(frame["supported_efforts"]) == {"low, high, max"}
    assert set(frame["context_length"]) == {1048576}
    assert set(frame["max_completion_tokens"]) == {393216}


# ---------------------------------------------------------------- cost
def test_local_servers_cost_nothing_and_budgets_let_them_through(session, shell) -> None:
    with Emulator(replies=[reply()] * 3, dialect="llamacpp") as emu:
        run_cell(shell, "%deepseek_spend --call-budget 0.00001")
        r = dm.ask("q", base_url=emu.base_url, session=session)
        assert (r.cost, r.cost_source) == (0.0, "free")
        from deepseek_magic.view._render import format_footer

        assert "free (local)" in format_footer(r) and "≈$" not in format_footer(r)
        session.config["call_budget"] = 0.00001
        dm.ask("q", base_url=emu.base_url, session=session)  # not refused
        session.config["price"] = (1000.0, 1000.0)  # the user's own price: now it counts
        with pytest.raises(BudgetError):
            dm.ask("q", base_url=emu.base_url, session=session)
        assert len(emu.requests) == 2


def test_estimates_use_the_catalogue_price_of_the_model_that_answered(session, monkeypatch) -> None:
    from datetime import datetime, timezone

    from deepseek_magic.view._render import format_footer

    usage = {"prompt_tokens": 1000, "completion_tokens": 2000, "total_tokens": 3000}
    # Tuesday 07:00 UTC is peak on DeepSeek's pricing page; Saturday is off-peak all day
    peak = datetime(2026, 12, 8, 7, 0, tzinfo=timezone.utc)
    monkeypatch.setattr(dm.engine._api, "now_utc", lambda: peak)
    with Emulator(replies=[reply(usage=usage)] * 2, dialect="deepseek") as emu:
        kw = {"base_url": emu.base_url, "provider": "deepseek", "session": session}
        r = dm.ask("q", model="deepseek-v4-flash", **kw)
        monkeypatch.setattr(dm.engine._api, "now_utc", lambda: peak.replace(day=12))
        pro = dm.ask("q", model="deepseek-v4-pro", **kw)
    assert (
        r.model == "deepseek-flash" and r.cost_source == "estimate" and r.price_source == "snapshot"
    )
    assert r.cost == pytest.approx((1000 * 0.30 + 2000 * 1.20) / 1e6)  # USD, peak
    assert "(snapshot prices) (peak price)" in format_footer(r)
    # v4-pro is served at its own prices, here off-peak (half), and the footer says so
    assert pro.model == "deepseek-v4-pro" and pro.price_note == "off-peak price"
    assert pro.cost == pytest.approx((1000 * 0.66 + 2000 * 1.98) / 1e6)
    assert "(off-peak price)" in format_footer(pro)


def test_reported_cost_wins_with_cost_details_and_cache_writes(session) -> None:
    usage = {
        "prompt_tokens": 10,
        "completion_tokens": 5,
        "total_tokens": 15,
        "cost": 0.0042,
        "cost_details": {"upstream_inference_cost": 0.004},
        "prompt_tokens_details": {"cached_tokens": 4, "cache_write_tokens": 6},
    }
    with Emulator(replies=[reply(usage=usage)]) as emu:
        r = dm.ask("q", base_url=emu.base_url, provider="openrouter", session=session)
    assert (r.cost, r.cost_source) == (0.0042, "server")
    assert r.usage.cached_tokens == 4 and r.usage.cache_write_tokens == 6
    assert r.usage.cost_details == {"upstream_inference_cost": 0.004}
    assert dm.Result.from_dict(json.loads(json.dumps(r.to_dict()))) == r


def test_the_context_guard_uses_the_models_own_context(session) -> None:
    from deepseek_magic.features._spend import check_context

    warnings: list[str] = []
    long = "word " * 300_000  # ~375K tokens: over R1's 164K, under deepseek-flash's 1M
    for provider, warned in (("openrouter", True), ("deepseek", False)):
        with Emulator(dialect=provider) as emu:
            prep = dm.engine._api.prepare(
                long, session=session, base_url=emu.base_url, provider=provider, options={}
            )
        assert check_context(session, prep.request, warn=warnings.append) is warned
    assert "163,840" in warnings[0]


def test_a_missing_name_in_a_live_catalogue_is_refused_before_sending(session) -> None:
    with Emulator(replies=[reply()], dialect="deepseek") as emu:
        dm.models(base_url=emu.base_url, provider="deepseek", session=session)
        with pytest.raises(ConfigError, match="closest it serves: deepseek-v4-pro"):
            dm.ask(
                "q",
                base_url=emu.base_url,
                provider="deepseek",
                model="deepseek-v4-pr0",
                session=session,
            )
        assert emu.requests == []


def test_the_snapshot_is_valid_and_dated() -> None:
    from deepseek_magic.client._catalogue import SNAPSHOT_PATH, snapshot_catalogue

    data = json.loads(SNAPSHOT_PATH.read_text(encoding="utf-8"))
    assert data["date"] == "2026-12-07" and set(data["providers"]) <= set(_providers.PROVIDERS)
    for entry in data["providers"].values():  # each says where it comes from and when
        assert entry["source"] and entry["checked"] == "2026-12-07"
    ds = snapshot_catalogue(PROVIDERS["deepseek"])
    assert ds is not None and ds.ids[0] == PROVIDERS["deepseek"].reasoning_models[0]
    assert "deepseek-reasoner" not in ds.ids


@pytest.mark.parametrize(
    "entry, context",
    [
        ({"id": "m", "context_length": 163840}, 163840),  # OpenRouter
        ({"id": "m", "max_model_len": 32768}, 32768),  # vLLM
        (
            {"id": "m", "meta": {"n_ctx": 1024, "n_ctx_train": 8192}},
            1024,
        ),  # llama-server (one slot)
        ({"id": "m", "meta": "not a mapping"}, None),
        ({"id": "m"}, None),
    ],
)
def test_context_length_is_read_from_each_servers_catalogue_shape(entry, context) -> None:
    from deepseek_magic.client._catalogue import ModelInfo

    info = ModelInfo.from_wire(entry)
    assert info is not None and info.context_length == context
