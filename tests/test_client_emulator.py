"""Our client against the emulator over real loopback sockets, in every dialect, and
against the official ``openai`` package on the same streams."""

from __future__ import annotations

import asyncio

import pytest

import deepseek_magic as dm
from deepseek_magic.core._providers import provider_for_dialect
from deepseek_magic.emulator import DIALECTS, Emulator, Fault, Reply, ToolCallSpec

REASONING = "First, 9.11 vs 9.9: compare tenths. 数学 🙂 Ünïcödé."
ANSWER = "**9.9** is larger.\n\n```python\nprint(9.9 > 9.11)\n```\n\nAnd $x^2$ costs $5."


@pytest.mark.parametrize("dialect", [d for d in DIALECTS if d != "openai"])
def test_every_dialect_gives_the_same_result(session, dialect: str) -> None:
    with Emulator(replies=[Reply(reasoning=REASONING, answer=ANSWER)], dialect=dialect) as emu:
        # a server of that kind at the emulator's address: its provider's rules apply
        result = dm.ask(
            "Which is larger?",
            base_url=emu.base_url,
            provider=provider_for_dialect(dialect).name,
            session=session,
        )
    assert result.reasoning == REASONING
    assert result.answer == ANSWER
    assert result.finish_reason == "stop" and result.ok


@pytest.mark.parametrize("dialect", ["think", "think-noopen"])
def test_think_tags_split_across_chunks(session, dialect: str) -> None:
    with Emulator(
        replies=[Reply(reasoning=REASONING, answer=ANSWER, split_think_tags=True)], dialect=dialect
    ) as emu:
        result = dm.ask("q", base_url=emu.base_url, session=session)
    assert (result.reasoning, result.answer) == (REASONING, ANSWER)


def test_empty_think_block(session) -> None:
    with Emulator(replies=[Reply(answer=ANSWER, empty_think=True)], dialect="think") as emu:
        result = dm.ask("q", base_url=emu.base_url, session=session)
    assert (result.reasoning, result.answer) == ("", ANSWER)


@pytest.mark.parametrize("dialect", ["openrouter", "deepseek"])
def test_openai_package_reads_the_same_stream(session, dialect: str) -> None:
    openai = pytest.importorskip("openai")
    with Emulator(replies=[Reply(reasoning=REASONING, answer=ANSWER)] * 2, dialect=dialect) as emu:
        ours = dm.ask("q", base_url=emu.base_url, provider=dialect, session=session)
        client = openai.OpenAI(base_url=emu.base_url, api_key="sk-test", max_retries=0)
        stream = client.chat.completions.create(
            model=ours.model, stream=True, messages=[{"role": "user", "content": "q"}]
        )
        answer, reasoning = [], []
        for chunk in stream:
            if not chunk.choices:
                continue
            delta = chunk.choices[0].delta
            answer.append(delta.content or "")
            extra = delta.model_extra or {}
            reasoning.append(extra.get("reasoning") or extra.get("reasoning_content") or "")
        client.close()
    assert "".join(answer) == ours.answer
    assert "".join(reasoning) == ours.reasoning


def test_non_streamed_reply_in_each_reasoning_dialect(session) -> None:
    for dialect in ("openrouter", "deepseek", "think", "vllm"):
        with Emulator(replies=[Reply(reasoning=REASONING, answer=ANSWER)], dialect=dialect) as emu:
            result = dm.ask(
                "q",
                base_url=emu.base_url,
                provider=provider_for_dialect(dialect).name,
                stream=False,
                session=session,
            )
        assert (result.reasoning, result.answer) == (REASONING, ANSWER), dialect
        assert emu.requests[-1]["stream"] is False


def test_usage_and_server_cost(session) -> None:
    with Emulator(replies=[Reply(reasoning="a b c", answer="d e", cost=0.0042)]) as emu:
        result = dm.ask("q", base_url=emu.base_url, session=session)
    assert result.cost == pytest.approx(0.0042) and result.cost_source == "server"
    assert result.usage.completion_tokens and result.usage.reasoning_tokens
    assert result.model and result.provider == "Emulator" and result.id


def test_tool_call_deltas_from_the_wire(session) -> None:
    reply = Reply(
        reasoning="I should look it up.",
        tool_calls=[
            ToolCallSpec("weather", '{"city": "Oslo", "unit": "celsius"}'),
            ToolCallSpec("clock", "{}"),
        ],
    )
    with Emulator(replies=[reply]) as emu:
        result = dm.ask("q", base_url=emu.base_url, session=session)
    assert [(c.name, c.args) for c in result.tool_calls] == [
        ("weather", {"city": "Oslo", "unit": "celsius"}),
        ("clock", {}),
    ]
    assert result.finish_reason == "tool_calls"


def test_keepalives_before_first_token_do_not_trip_the_read_timeout(session) -> None:
    with Emulator(
        replies=[Reply(answer="late but fine")], first_token_latency=1.2, keepalive_interval=0.2
    ) as emu:
        result = dm.ask("q", base_url=emu.base_url, timeout=0.6, session=session)
    assert result.answer == "late but fine"


def test_silent_server_trips_the_read_timeout_and_keeps_partial(session) -> None:
    with Emulator(
        replies=[Fault("stall", after_tokens=3, reply=Reply(reasoning="one two three four five"))]
    ) as emu:
        with pytest.raises(dm.APITimeoutError) as info:
            dm.ask("q", base_url=emu.base_url, timeout=0.4, session=session, max_retries=0)
        assert info.value.partial is not None and info.value.partial.reasoning.startswith("one")
        assert emu.wait_idle(5)


def test_stream_without_done_is_reported_not_treated_as_success(session) -> None:
    with Emulator(
        replies=[Fault("drop", after_tokens=4, reply=Reply(answer="a b c d e f g h"))]
    ) as emu:
        with pytest.raises(dm.StreamError) as info:
            dm.ask("q", base_url=emu.base_url, session=session)
    assert info.value.partial.answer and not info.value.partial.ok


def test_bad_input_never_reaches_the_network(session) -> None:
    with Emulator() as emu:
        for bad in (
            {"temperature": 3},
            {"top_p": 0},
            {"stop": ["a"] * 5},
            {"seed": "x"},
            {"reasoning": {"effort": "huge"}},
            {"max_completion_tokens": 0},
            {"nonsense": 1},
        ):
            with pytest.raises(dm.OptionError):
                dm.ask("q", base_url=emu.base_url, session=session, **bad)
        with pytest.raises(dm.OptionError):
            dm.ask("   ", base_url=emu.base_url, session=session)
        assert emu.requests == [] and emu.request_log == []


def test_async_twin_runs_requests_concurrently(session) -> None:
    finished_when_arriving: list[int] = []

    def responder(body):
        # How many replies had already finished when this request arrived: all zero
        # when the six are in flight together, 0,1,2,... when they run one by one.
        finished_when_arriving.append(sum(r.completed for r in emu.request_log))
        return Reply(answer="echo: " + body["messages"][-1]["content"])

    with Emulator(responder=responder, first_token_latency=0.5) as emu:

        async def main():
            return await asyncio.gather(
                *(dm.aask(f"q{i}", base_url=emu.base_url, session=session) for i in range(6))
            )

        results = asyncio.run(main())
    assert finished_when_arriving == [0] * 6
    assert [r.answer for r in results] == [f"echo: q{i}" for i in range(6)]
    assert len(session.history) == 6


@pytest.mark.parametrize("dialect", ["vllm", "ollama", "llamacpp"])
def test_local_servers_report_usage_because_we_ask(session, dialect: str) -> None:
    with Emulator(replies=[Reply(reasoning="a b c", answer="d e")], dialect=dialect) as emu:
        result = dm.ask("q", base_url=emu.base_url, session=session)
    assert emu.requests[-1]["stream_options"] == {"include_usage": True}
    # A local server costs nothing: no estimated dollar figure from someone else's prices.
    assert result.usage.completion_tokens and (result.cost, result.cost_source) == (0.0, "free")
