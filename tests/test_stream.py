"""The public stream: ``deepseek_magic.stream()`` / ``astream()``.

A context manager, iterable for the public events of ``deepseek_magic.events``, with
``.result`` at any time; closed in ``finally``; the partial kept (and recorded) when the
caller stops early, the server fails, or another thread closes it; ``ask()`` is the same
stream run to its end.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest

import deepseek_magic as dm
from deepseek_magic.emulator import Emulator, Fault, Reply
from deepseek_magic.events import (
    ContentEvent,
    FinishEvent,
    ReasoningEvent,
    ToolCallEvent,
    UsageEvent,
)

WORDS = " ".join(f"w{i}" for i in range(60))
ANSWER = " ".join(f"a{i}" for i in range(60))


def test_a_stream_yields_public_events_that_add_up_to_its_result(session, emu) -> None:
    emu.queue(Reply(reasoning="think it over", answer="The answer is 4."))
    with dm.stream("2+2?", base_url=emu.base_url, session=session) as s:
        assert emu.requests == []  # nothing is sent until it is iterated
        events = list(s)
    kinds = {type(e) for e in events}
    assert {ReasoningEvent, ContentEvent, UsageEvent, FinishEvent} <= kinds
    assert all(type(e).__module__ == "deepseek_magic.events" for e in events)
    reasoning = "".join(e.text for e in events if isinstance(e, ReasoningEvent))
    answer = "".join(e.text for e in events if isinstance(e, ContentEvent))
    result = s.result
    assert result.ok and result.answer == answer.strip() == "The answer is 4."
    assert result.reasoning == reasoning.strip() == "think it over"
    (finish,) = [e for e in events if isinstance(e, FinishEvent)]  # usage may come after it
    assert finish.reason == "stop" == result.finish_reason
    (usage,) = [e for e in events if isinstance(e, UsageEvent)]
    assert usage.usage.completion_tokens == result.usage.completion_tokens
    assert session.history.last is result and len(session.history) == 1 and s.done


def test_result_grows_while_the_stream_is_read(session, emu) -> None:
    emu.queue(Reply(reasoning=WORDS, answer=ANSWER))
    seen = []
    with dm.stream("q", base_url=emu.base_url, session=session) as s:
        for event in s:
            if isinstance(event, ContentEvent):
                seen.append(len(s.result.answer))
    assert seen == sorted(seen) and seen[0] < seen[-1] == len(ANSWER)


@pytest.mark.emulator(token_delay=0.005)
def test_stopping_early_keeps_the_partial_and_closes_the_connection(session, emu) -> None:
    emu.queue(Reply(reasoning=WORDS, answer=ANSWER))
    with dm.stream("q", base_url=emu.base_url, session=session) as s:
        for n, _event in enumerate(s):
            if n == 5:
                break
    partial = s.result
    assert partial.interrupted and not partial.ok and WORDS.startswith(partial.reasoning)
    assert 0 < len(partial.reasoning) < len(WORDS) and partial.answer == ""
    assert session.history.last is partial
    assert emu.wait_idle(5) and emu.request_log[-1].disconnected


def test_a_failure_mid_stream_raises_with_the_partial_kept(session, emu) -> None:
    emu.queue(Fault("midstream_error", after_tokens=4, message="overloaded"))
    with pytest.raises(dm.StreamError) as info:
        with dm.stream("q", base_url=emu.base_url, session=session) as s:
            for _ in s:
                pass
    assert info.value.partial is s.result and s.result.error and s.done
    assert s.result.reasoning or s.result.answer
    assert session.history.last is s.result


@pytest.mark.emulator(token_delay=0.02)
def test_another_thread_can_close_a_stream_being_read(session, emu) -> None:
    emu.queue(Reply(reasoning=WORDS, answer=ANSWER))
    with dm.stream("q", base_url=emu.base_url, session=session) as s:
        first = threading.Event()
        closer = threading.Thread(target=lambda: (first.wait(5), s.close()))
        closer.start()
        with pytest.raises(dm.Interrupted) as info:
            for _ in s:
                first.set()
        closer.join(5)
    assert info.value.partial is s.result and s.result.interrupted
    assert len(s.result.reasoning) < len(WORDS)


def test_bad_options_fail_when_the_stream_is_made_and_nothing_is_sent(session, emu) -> None:
    with pytest.raises(dm.OptionError):
        dm.stream("q", base_url=emu.base_url, session=session, temperature=9)
    with pytest.raises(dm.OptionError):
        dm.astream("q", base_url=emu.base_url, session=session, temperature=9)
    assert emu.requests == []


def test_ask_is_the_stream_run_to_its_end(session, emu) -> None:
    emu.queue(Reply(reasoning="r", answer="same"), Reply(reasoning="r", answer="same"))
    asked = dm.ask("q", base_url=emu.base_url, session=session, seed=3)
    with dm.stream("q", base_url=emu.base_url, session=session, seed=3) as s:
        for _ in s:
            pass
    streamed = s.result
    for name in ("answer", "reasoning", "finish_reason", "usage", "params", "messages", "model"):
        assert getattr(asked, name) == getattr(streamed, name), name
    assert emu.requests[0] == emu.requests[1]


def test_tool_calls_stream_as_public_events(session, emu) -> None:
    from deepseek_magic.emulator import ToolCallSpec

    emu.queue(Reply(tool_calls=[ToolCallSpec("lookup", {"q": "x"})]))
    spec = [{"type": "function", "function": {"name": "lookup", "parameters": {}}}]
    with dm.stream("q", base_url=emu.base_url, session=session, tools=spec) as s:
        calls = [e for e in s if isinstance(e, ToolCallEvent)]
    assert calls[0].name == "lookup" and "".join(c.arguments for c in calls) == '{"q": "x"}'
    assert s.result.tool_calls[0].name == "lookup"


# ---------------------------------------------------------------- the async twin
def test_astream_yields_the_same_events(session, emu) -> None:
    emu.queue(Reply(reasoning="think", answer="four"), Reply(reasoning="think", answer="four"))

    async def read() -> tuple[list[Any], dm.Result]:
        async with dm.astream("q", base_url=emu.base_url, session=session) as s:
            events = [e async for e in s]
        return events, s.result

    async_events, result = asyncio.run(read())
    with dm.stream("q", base_url=emu.base_url, session=session) as s:
        sync_events = list(s)
    assert [type(e) for e in async_events] == [type(e) for e in sync_events]
    assert result.answer == s.result.answer == "four" and result.ok


@pytest.mark.emulator(token_delay=0.005)
def test_astream_stopped_early_keeps_the_partial(session, emu) -> None:
    emu.queue(Reply(reasoning=WORDS, answer=ANSWER))

    async def read() -> dm.Result:
        async with dm.astream("q", base_url=emu.base_url, session=session) as s:
            n = 0
            async for _ in s:
                n += 1
                if n == 5:
                    break
        return s.result

    partial = asyncio.run(read())
    assert partial.interrupted and 0 < len(partial.reasoning) < len(WORDS)
    assert session.history.last is partial


def test_a_stream_never_read_sends_and_records_nothing(session, emu) -> None:
    with dm.stream("q", base_url=emu.base_url, session=session) as s:
        pass
    assert emu.requests == [] and len(session.history) == 0 and not s.done


def test_events_are_exported_and_documented() -> None:
    import deepseek_magic.events as ev

    for name in ev.__all__:
        obj = getattr(ev, name)
        assert name == "public_event" or name == "Event" or obj.__doc__
    assert dm.events is ev and Emulator  # the module is reachable from the package
