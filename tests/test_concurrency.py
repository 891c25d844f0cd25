"""Requests at the same time on one session: ``ask()`` in threads and ``aask()`` gathered,
all in flight together against one emulator whose replies depend on the prompt.

Nothing may mix: each call gets its own stream (its events, its text), its own Result,
its own history entry and conversation turns, and a failure in one leaves the others
whole.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from typing import Any

import pytest

import deepseek_magic as dm
from deepseek_magic.client._events import ContentDelta, ReasoningDelta
from deepseek_magic.client._http import AsyncClient
from deepseek_magic.emulator import Emulator, Fault, Reply, tokenize
from tests.helpers.faults import Footprint, settle


def words(name: str, n: int = 30) -> str:
    return " ".join(f"{name}{i}" for i in range(n))


def reply_for(prompt: str) -> Reply | Fault:
    if prompt.startswith("fail"):
        return Fault("midstream_error", after_tokens=5, reply=Reply(reasoning=words(prompt)))
    return Reply(reasoning=words(prompt), answer=f"answer to {prompt}: " + words(prompt[:1], 10))


class Arrivals:
    """The responder: replies keyed on the prompt, and how many replies had finished when
    each request arrived (all zero when they are truly in flight together)."""

    def __init__(self) -> None:
        self.emu: Emulator | None = None
        self.finished_at_arrival: list[int] = []
        self.lock = threading.Lock()

    def __call__(self, body: dict[str, Any]) -> Reply | Fault:
        assert self.emu is not None
        with self.lock:
            self.finished_at_arrival.append(sum(r.completed for r in self.emu.request_log))
        return reply_for(body["messages"][-1]["content"])


@pytest.fixture
def arrivals() -> Iterator[Arrivals]:
    responder = Arrivals()
    # first token after 0.5 s (time for all four to arrive, even on a busy machine), then a
    # token every 3 ms: the four streams interleave
    with Emulator(responder=responder, first_token_latency=0.5, token_delay=0.003) as emu:
        responder.emu = emu
        yield responder


def test_threads_and_gather_at_once_do_not_mix(session, arrivals: Arrivals) -> None:
    emu = arrivals.emu
    assert emu is not None
    footprint = Footprint()
    results: dict[str, dm.Result] = {}
    events: dict[str, list[Any]] = {"alpha": [], "beta": []}
    start = threading.Barrier(3)

    def in_thread(prompt: str) -> None:
        start.wait()
        results[prompt] = dm.ask(
            prompt,
            base_url=emu.base_url,
            session=session,
            conversation=f"c-{prompt}",
            on_event=lambda event, stream: events[prompt].append(event),
        )

    threads = [threading.Thread(target=in_thread, args=(p,)) for p in ("alpha", "beta")]
    for t in threads:
        t.start()

    async def gathered() -> list[dm.Result]:
        client = AsyncClient()
        try:
            return list(
                await asyncio.gather(
                    *(
                        dm.aask(
                            p,
                            base_url=emu.base_url,
                            session=session,
                            client=client,
                            conversation=f"c-{p}",
                        )
                        for p in ("gamma", "delta")
                    )
                )
            )
        finally:
            await client.aclose()

    start.wait()
    results.update(zip(("gamma", "delta"), asyncio.run(gathered()), strict=True))
    for t in threads:
        t.join(20)

    # all four were in flight together
    assert arrivals.finished_at_arrival == [0, 0, 0, 0]
    # each call has exactly its own text: not a token of another stream
    for prompt, result in results.items():
        assert result.reasoning == words(prompt)
        assert result.answer == f"answer to {prompt}: " + words(prompt[:1], 10)
        assert result.messages[-1]["content"] == prompt and result.ok
        assert result.conversation == f"c-{prompt}"
    for prompt in ("alpha", "beta"):  # the events a call's hook saw are its own stream's
        seen = events[prompt]
        assert "".join(e.text for e in seen if isinstance(e, ReasoningDelta)).strip() == words(
            prompt
        )
        assert (
            "".join(e.text for e in seen if isinstance(e, ContentDelta)).strip()
            == results[prompt].answer
        )
    # one history entry each, each the very Result its caller got
    assert sorted(r.messages[-1]["content"] for r in session.history) == sorted(results)
    assert all(any(r is h for h in session.history) for r in results.values())
    for prompt, result in results.items():  # each conversation holds its own two messages
        assert [m["content"] for m in session.conversations[f"c-{prompt}"].messages] == [
            prompt,
            result.answer,
        ]
    assert emu.wait_idle(5)
    session.client().close()
    assert settle(lambda: emu.active_connections == 0)
    footprint.assert_back()


def test_conversations_in_parallel_threads_keep_their_own_turns(
    session, arrivals: Arrivals
) -> None:
    emu = arrivals.emu
    assert emu is not None

    def chat(name: str) -> None:
        for turn in range(3):
            dm.ask(f"{name}-turn{turn}", base_url=emu.base_url, session=session, conversation=name)

    threads = [threading.Thread(target=chat, args=(n,)) for n in ("left", "right")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    for name in ("left", "right"):
        sent = [m["content"] for m in session.conversations[name].messages if m["role"] == "user"]
        assert sent == [f"{name}-turn{i}" for i in range(3)]
    # every request carried only its own conversation's earlier turns
    for body in emu.requests:
        name = body["messages"][-1]["content"].split("-")[0]
        assert all(m["content"].startswith((name, f"answer to {name}")) for m in body["messages"])
    assert len(session.history) == 6
    session.client().close()


def test_a_failure_in_one_stream_leaves_the_others_whole(session, arrivals: Arrivals) -> None:
    emu = arrivals.emu
    assert emu is not None
    outcome: dict[str, Any] = {}

    def call(prompt: str) -> None:
        try:
            outcome[prompt] = dm.ask(prompt, base_url=emu.base_url, session=session)
        except dm.DeepSeekError as exc:
            outcome[prompt] = exc

    threads = [threading.Thread(target=call, args=(p,)) for p in ("fail-one", "ok-two", "ok-three")]
    for t in threads:
        t.start()

    async def one() -> dm.Result:
        client = AsyncClient()
        try:
            return await dm.aask("ok-four", base_url=emu.base_url, session=session, client=client)
        finally:
            await client.aclose()

    outcome["ok-four"] = asyncio.run(one())
    for t in threads:
        t.join(20)
    failed = outcome.pop("fail-one")
    assert isinstance(failed, dm.StreamError)
    assert (
        failed.partial.reasoning == "".join(tokenize(words("fail-one"))[:5]).strip()
    )  # its own 5 tokens
    for prompt, result in outcome.items():
        assert isinstance(result, dm.Result) and result.ok and result.reasoning == words(prompt)
    assert [r.ok for r in session.history].count(False) == 1
    session.client().close()


def test_a_hundred_gathered_aasks_are_all_in_flight_at_once(session) -> None:
    """The session shares one AsyncClient per loop: it must not cap its connections (a
    cap of 64 made the 65th call wait for a free connection, and fail with a pool timeout
    while R1 thinks). Every request arrives before any reply has finished."""
    responder = Arrivals()
    n = 100
    with Emulator(responder=responder, first_token_latency=3.0, token_delay=0.001) as emu:
        responder.emu = emu

        async def gathered() -> list[dm.Result]:
            return await asyncio.gather(
                *(
                    dm.aask(f"q{i}", session=session, base_url=emu.base_url, max_retries=0)
                    for i in range(n)
                )
            )

        results = asyncio.run(gathered())
    assert len(responder.finished_at_arrival) == n
    assert max(responder.finished_at_arrival) == 0  # all in flight together
    assert [r.answer.split(":")[0] for r in results] == [f"answer to q{i}" for i in range(n)]


def test_hundreds_of_streams_are_spread_over_small_pools(session) -> None:
    """One httpcore pool scans all its connections for every request and every close
    (O(n^2) at hundreds of streams): the session's AsyncClient spreads requests over pools
    of at most SHARD_SIZE in flight, and every slot comes back when its stream ends, a
    failed one included."""
    from deepseek_magic.client._pools import SHARD_SIZE

    n = 3 * SHARD_SIZE + 5
    responder = Arrivals()
    with Emulator(responder=responder, first_token_latency=1.0, token_delay=0.001) as emu:
        responder.emu = emu

        async def gathered() -> tuple[list[Any], Any]:
            prompts = [f"fail{i}" if i % 10 == 0 else f"q{i}" for i in range(n)]
            results = await asyncio.gather(
                *(
                    dm.aask(p, session=session, base_url=emu.base_url, max_retries=0)
                    for p in prompts
                ),
                return_exceptions=True,
            )
            return results, session.aclient().pools

        results, pools = asyncio.run(gathered())
    assert max(responder.finished_at_arrival) == 0  # all in flight together
    assert pools is not None and pools.pools == 4  # 101 requests: four pools of <= 32
    assert [s.busy for s in pools._shards] == [0, 0, 0, 0]  # every slot given back
    failed = [r for r in results if isinstance(r, Exception)]
    assert len(failed) == 11 and all(isinstance(e, dm.APIError) for e in failed)
    assert sum(1 for r in results if isinstance(r, dm.Result) and r.ok) == n - 11


def test_a_proxy_from_the_environment_keeps_httpx_own_transport(monkeypatch) -> None:
    """httpx reads HTTPS_PROXY only for the transport it builds itself: with a proxy set,
    the client must not hand it a transport (which would switch the proxy off)."""
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.invalid:3128")
    client = AsyncClient()
    assert client.pools is None
    monkeypatch.delenv("HTTPS_PROXY")
    for name in ("https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    assert AsyncClient().pools is not None
