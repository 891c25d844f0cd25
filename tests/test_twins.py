"""The sync/async twins agree: the same parameters, name for name (``ask``/``aask``,
``map``/``amap``, ``stream``/``astream``, the clients' ``stream``, the engine's runs), and
the same behaviour, each test run over both."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable
from typing import Any

import pytest

import deepseek_magic as dm
from deepseek_magic.client._events import ReasoningDelta
from deepseek_magic.client._http import AsyncChatStream, AsyncClient, ChatStream, Client
from deepseek_magic.emulator import Fault, Reply
from deepseek_magic.engine import _dispatch

PAIRS = [
    (dm.ask, dm.aask),
    (dm.map, dm.amap),
    (dm.stream, dm.astream),
    (Client.stream, AsyncClient.stream),
    (Client.__init__, AsyncClient.__init__),
    (ChatStream.__init__, AsyncChatStream.__init__),
    (_dispatch.run_sync, _dispatch.run),
    (_dispatch.Run.__init__, _dispatch.ARun.__init__),
]


def _params(fn: Callable[..., Any]) -> list[tuple[str, Any, Any]]:
    return [(p.name, p.kind, p.default) for p in inspect.signature(fn).parameters.values()]


@pytest.mark.parametrize("sync,twin", PAIRS, ids=lambda f: getattr(f, "__qualname__", "?"))
def test_the_twins_take_the_same_parameters(sync: Any, twin: Any) -> None:
    ours, theirs = _params(sync), _params(twin)
    if sync is _dispatch.Run.__init__:  # the async run alone can go through a gate
        theirs = [p for p in theirs if p[0] != "gate"]
    if sync is _dispatch.run_sync:
        theirs = [p for p in theirs if p[0] != "gate"]
    assert [p[:2] for p in ours] == [p[:2] for p in theirs]
    assert [p[2] for p in ours] == [p[2] for p in theirs]


def test_the_async_twins_are_awaitable() -> None:
    assert inspect.iscoroutinefunction(dm.aask) and inspect.iscoroutinefunction(dm.amap)
    assert not inspect.iscoroutinefunction(dm.astream)  # it returns the stream at once


# ---------------------------------------------------------------- the same behaviour
def call_ask(twin: str, prompt: str, **kwargs: Any) -> dm.Result:
    if twin == "sync":
        return dm.ask(prompt, **kwargs)
    return asyncio.run(dm.aask(prompt, **kwargs))


def call_stream(twin: str, prompt: str, **kwargs: Any) -> dm.Result:
    if twin == "sync":
        with dm.stream(prompt, **kwargs) as s:
            for _ in s:
                pass
        return s.result

    async def read() -> dm.Result:
        async with dm.astream(prompt, **kwargs) as s:
            async for _ in s:
                pass
        return s.result

    return asyncio.run(read())


TWINS = pytest.mark.parametrize("twin", ["sync", "async"])
CALLS = pytest.mark.parametrize("call", [call_ask, call_stream], ids=["ask", "stream"])


@TWINS
@CALLS
def test_both_answer_and_record(session, emu, twin: str, call: Any) -> None:
    emu.queue(Reply(reasoning="because", answer="blue"))
    result = call(twin, "sky?", base_url=emu.base_url, session=session, temperature=0.3)
    assert result.answer == "blue" and result.reasoning == "because" and result.ok
    assert emu.requests[0]["temperature"] == 0.3 and session.history.last is result


@TWINS
@CALLS
def test_both_keep_the_partial_on_a_failure(session, emu, twin: str, call: Any) -> None:
    emu.queue(Fault("midstream_error", after_tokens=3))
    with pytest.raises(dm.StreamError) as info:
        call(twin, "q", base_url=emu.base_url, session=session)
    assert info.value.partial is not None and info.value.partial.error
    assert session.history.last is info.value.partial


@TWINS
def test_both_raise_interrupted_with_the_partial(session, emu, twin: str) -> None:
    emu.queue(Reply(reasoning=" ".join(f"w{i}" for i in range(50)), answer="x"))
    seen: list[Any] = []

    def stop(event: Any, stream: Any) -> None:
        seen.append(event)
        if sum(isinstance(e, ReasoningDelta) for e in seen) == 3:
            raise KeyboardInterrupt

    with pytest.raises(dm.Interrupted) as info:
        call_ask(twin, "q", base_url=emu.base_url, session=session, on_event=stop)
    partial = info.value.partial
    assert isinstance(info.value, KeyboardInterrupt) and partial is not None
    assert partial.interrupted and partial.reasoning.split() == ["w0", "w1", "w2"]
    assert session.history.last is partial


@TWINS
def test_both_refuse_a_bad_option_before_sending(session, emu, twin: str) -> None:
    with pytest.raises(dm.OptionError):
        call_ask(twin, "q", base_url=emu.base_url, session=session, top_p=0)
    assert emu.requests == []


@TWINS
def test_map_and_amap_return_the_same_frame(session, emu, twin: str) -> None:
    pytest.importorskip("pandas")
    emu.queue(Reply(answer="A"), Reply(answer="B"))
    kwargs: dict[str, Any] = {
        "base_url": emu.base_url,
        "session": session,
        "run_file": None,
        "progress": False,
    }
    data = ["one", "two"]
    if twin == "sync":
        frame = dm.map(data, "Say {text}", **kwargs)
    else:
        frame = asyncio.run(dm.amap(data, "Say {text}", **kwargs))
    assert sorted(frame["answer"]) == ["A", "B"] and list(frame.index) == [0, 1]
    assert sorted(m["messages"][-1]["content"] for m in emu.requests) == ["Say one", "Say two"]
