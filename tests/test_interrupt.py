"""KeyboardInterrupt at every point of a request: before connecting, while waiting for the
first byte, mid-reasoning, mid-answer, mid-tool-call, and while waiting to retry.

Each time: the interrupt carries the partial Result (``.partial``, ``interrupted=True``),
the history has that same Result, the connection is closed (the emulator sees the
client leave), no thread or socket is left behind, and the session's next request works.

Two ways to interrupt: the ``on_event`` hook raising at a chosen event (deterministic),
and a real interrupt from another thread while the main thread is inside ``ask()``
(``_thread.interrupt_main()`` while tokens flow; a real SIGINT to the main thread while
it is blocked in a socket read, which ``interrupt_main`` alone would not wake).
"""

from __future__ import annotations

import _thread
import asyncio
import signal
import threading
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest

import deepseek_magic as dm
from deepseek_magic.client._events import ContentDelta, ReasoningDelta, ToolCallDelta
from deepseek_magic.client._http import AsyncClient, Client
from deepseek_magic.emulator import Emulator, Fault, Reply, ToolCallSpec
from tests.helpers.cells import run_cell
from tests.helpers.faults import Footprint, Sleeps, settle

# 80 tokens per part at 5 ms a token: each phase lasts long enough to be interrupted in
WORDS = " ".join(f"w{i}" for i in range(80))
LONG = Reply(
    reasoning=WORDS,
    answer=" ".join(f"a{i}" for i in range(80)),
    tool_calls=[ToolCallSpec("lookup", {"query": " ".join(f"q{i}" for i in range(80))})],
)


# a token every 5 ms: the emulator is still writing when the client leaves
pytestmark = pytest.mark.emulator(token_delay=0.005)


def interrupt_at(kind: type, n: int, seen: list[Any]) -> Callable[[Any, Any], None]:
    """An ``on_event`` hook that raises KeyboardInterrupt at the n-th event of ``kind``."""

    def hook(event: Any, stream: Any) -> None:
        seen.append(event)
        if isinstance(event, kind) and sum(isinstance(e, kind) for e in seen) == n:
            raise KeyboardInterrupt

    return hook


def assert_clean_after(
    emu: Emulator,
    session: Any,
    client: Client,
    footprint: Footprint,
    partial: dm.Result,
    *,
    sent: int = 1,
) -> None:
    """The checks every interrupt shares: kept, recorded, closed, usable, nothing left."""
    assert partial.interrupted and not partial.ok
    assert session.history.last is partial
    assert emu.wait_idle(5)
    assert len(emu.request_log) == sent
    if sent:
        assert emu.request_log[-1].disconnected, "the emulator should see the client leave"
    assert settle(lambda: emu.active_connections == 0)
    emu.queue(Reply(reasoning="fine", answer="next one works"))
    after = dm.ask("again", base_url=emu.base_url, session=session, client=client)
    assert after.answer == "next one works" and after.ok and session.history.last is after
    client.close()
    assert settle(lambda: emu.active_connections == 0)
    footprint.assert_back()


# ====================================================================== deterministic: on_event
@pytest.mark.parametrize(
    "kind,n,phase",
    [
        (ReasoningDelta, 5, "reasoning"),
        (ContentDelta, 4, "answer"),
        (ToolCallDelta, 6, "tool call"),
    ],
    ids=["mid-reasoning", "mid-answer", "mid-tool-call"],
)
def test_interrupt_at_an_event(emu: Emulator, session, kind: type, n: int, phase: str) -> None:
    footprint = Footprint()
    client = Client(sleep=Sleeps())
    emu.queue(LONG)
    seen: list[Any] = []
    with pytest.raises(KeyboardInterrupt) as info:
        dm.ask(
            "q",
            base_url=emu.base_url,
            session=session,
            client=client,
            on_event=interrupt_at(kind, n, seen),
        )
    partial = info.value.partial  # type: ignore[attr-defined]

    # exactly what was delivered before the interrupt, nothing more, nothing lost
    delivered_reasoning = "".join(e.text for e in seen if isinstance(e, ReasoningDelta)).strip()
    delivered_answer = "".join(e.text for e in seen if isinstance(e, ContentDelta)).strip()
    assert partial.reasoning == delivered_reasoning and WORDS.startswith(partial.reasoning)
    assert partial.answer == delivered_answer
    if phase == "reasoning":
        assert partial.reasoning.split() == [f"w{i}" for i in range(n)] and partial.answer == ""
    if phase == "answer":
        assert partial.reasoning == WORDS and partial.answer.split() == [f"a{i}" for i in range(n)]
    if phase == "tool call":
        (call,) = partial.tool_calls
        full = LONG.tool_calls[0].arguments
        arguments = "".join(e.arguments for e in seen if isinstance(e, ToolCallDelta))
        assert call.name == "lookup" and call.arguments == arguments and full.startswith(arguments)
        assert 0 < len(call.arguments) < len(full)
    assert partial.finish_reason is None
    assert_clean_after(emu, session, client, footprint, partial)


def test_interrupt_leaves_the_conversation_as_it_was(emu: Emulator, session) -> None:
    """An interrupted turn is in the history but not in the conversation: the next turn
    does not send a half answer back to the model."""
    client = Client(sleep=Sleeps())
    emu.queue(Reply(reasoning="r", answer="first answer"), LONG)
    dm.ask("first", base_url=emu.base_url, session=session, client=client, conversation="c")
    with pytest.raises(KeyboardInterrupt):
        dm.ask(
            "second",
            base_url=emu.base_url,
            session=session,
            client=client,
            conversation="c",
            on_event=interrupt_at(ReasoningDelta, 3, []),
        )
    assert [m["content"] for m in session.conversations["c"].messages] == ["first", "first answer"]
    emu.queue(Reply(answer="third answer"))
    dm.ask("third", base_url=emu.base_url, session=session, client=client, conversation="c")
    assert [m["content"] for m in emu.requests[-1]["messages"]] == [
        "first",
        "first answer",
        "third",
    ]
    client.close()


def test_interrupt_while_a_tool_runs(emu: Emulator, session) -> None:
    """Ctrl-C inside a tool the model called: the reply that called it is kept."""
    footprint = Footprint()
    client = Client(sleep=Sleeps())

    def lookup(query: str) -> str:
        """Look something up."""
        raise KeyboardInterrupt  # the user stops a slow tool

    emu.queue(
        Reply(reasoning="I should look it up", tool_calls=[ToolCallSpec("lookup", {"query": "x"})])
    )
    with pytest.raises(KeyboardInterrupt) as info:
        dm.ask(
            "q",
            base_url=emu.base_url,
            session=session,
            client=client,
            tools=[lookup],
            run_tools=True,
        )
    partial = info.value.partial  # type: ignore[attr-defined]
    assert partial.reasoning == "I should look it up" and partial.tool_calls[0].name == "lookup"
    assert partial.interrupted and session.history.last is partial
    assert len(emu.request_log) == 1  # the tool never finished, so nothing went back
    emu.queue(Reply(answer="next one works"))
    assert (
        dm.ask("again", base_url=emu.base_url, session=session, client=client).answer
        == "next one works"
    )
    client.close()
    assert settle(lambda: emu.active_connections == 0)
    footprint.assert_back()


# ====================================================================== before the first byte
class _InterruptedTransport(httpx.BaseTransport):
    """Ctrl-C while connecting: the interrupt arrives before anything is sent."""

    def __init__(self) -> None:
        self.calls = 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.calls += 1
        raise KeyboardInterrupt


def test_interrupt_before_connecting(emu: Emulator, session) -> None:
    footprint = Footprint()
    transport = _InterruptedTransport()
    with pytest.raises(KeyboardInterrupt) as info:
        dm.ask("q", base_url=emu.base_url, session=session, client=Client(transport=transport))
    partial = info.value.partial  # type: ignore[attr-defined]
    assert transport.calls == 1  # an interrupt is never retried
    assert (partial.reasoning, partial.answer) == ("", "")
    assert_clean_after(emu, session, Client(sleep=Sleeps()), footprint, partial, sent=0)


def test_interrupt_while_waiting_to_retry(emu: Emulator, session) -> None:
    footprint = Footprint()

    def sleep(seconds: float) -> None:
        raise KeyboardInterrupt  # Ctrl-C during the back-off after a 503

    emu.queue(Fault("status", status=503))
    client = Client(sleep=sleep)
    with pytest.raises(KeyboardInterrupt) as info:
        dm.ask("q", base_url=emu.base_url, session=session, client=client)
    partial = info.value.partial  # type: ignore[attr-defined]
    assert len(emu.request_log) == 1 and partial.interrupted and session.history.last is partial
    client.close()
    assert settle(lambda: emu.active_connections == 0)
    footprint.assert_back()


def _when(condition: Callable[[], bool], then: Callable[[], None]) -> threading.Thread:
    """Run ``then`` in a thread once ``condition`` holds (or after 10 s, to never hang)."""

    def wait() -> None:
        deadline = time.monotonic() + 10
        while not condition() and time.monotonic() < deadline:
            time.sleep(0.005)
        then()

    thread = threading.Thread(target=wait, daemon=True)
    thread.start()
    return thread


def _sigint_main() -> None:
    # A real SIGINT, aimed at the main thread: it wakes a blocking socket read (EINTR),
    # as the kernel's stop button does. interrupt_main() would only set a flag.
    signal.pthread_kill(threading.main_thread().ident or 0, signal.SIGINT)


def test_sigint_while_waiting_for_the_first_byte(emu: Emulator, session) -> None:
    footprint = Footprint()
    client = Client(sleep=Sleeps())
    emu.queue(Fault("stall", before_headers=True, seconds=None, reply=LONG))
    with pytest.raises(KeyboardInterrupt) as info:
        timer = _when(lambda: len(emu.request_log) == 1, _sigint_main)
        try:
            dm.ask("q", base_url=emu.base_url, session=session, client=client)  # would wait 120 s
        finally:
            timer.join()
    partial = info.value.partial  # type: ignore[attr-defined]
    assert (partial.reasoning, partial.answer) == ("", "")
    assert_clean_after(emu, session, client, footprint, partial)


def test_sigint_while_only_keepalives_arrive(session) -> None:
    with Emulator(replies=[Fault("keepalive_forever", interval=0.05)]) as emu:
        footprint = Footprint()
        client = Client(sleep=Sleeps())
        with pytest.raises(KeyboardInterrupt) as info:
            timer = _when(lambda: len(emu.request_log) == 1, _sigint_main)
            try:
                dm.ask("q", base_url=emu.base_url, session=session, client=client)
            finally:
                timer.join()
        assert_clean_after(emu, session, client, footprint, info.value.partial)  # type: ignore[attr-defined]


# ====================================================================== interrupt_main mid-stream
@pytest.mark.parametrize(
    "kind,phase",
    [(ReasoningDelta, "reasoning"), (ContentDelta, "answer"), (ToolCallDelta, "tool call")],
    ids=["mid-reasoning", "mid-answer", "mid-tool-call"],
)
def test_interrupt_main_mid_stream(emu: Emulator, session, kind: type, phase: str) -> None:
    footprint = Footprint()
    client = Client(sleep=Sleeps())
    emu.queue(LONG)
    seen: list[Any] = []
    with pytest.raises(KeyboardInterrupt) as info:
        timer = _when(
            lambda: sum(isinstance(e, kind) for e in list(seen)) >= 3, _thread.interrupt_main
        )
        try:
            dm.ask(
                "q",
                base_url=emu.base_url,
                session=session,
                client=client,
                on_event=lambda event, stream: seen.append(event),
            )
        finally:
            timer.join()
    partial = info.value.partial  # type: ignore[attr-defined]
    assert WORDS.startswith(partial.reasoning) and partial.reasoning
    if phase == "reasoning":
        assert len(partial.reasoning) < len(WORDS) and not partial.answer
    elif phase == "answer":
        assert partial.reasoning == WORDS and partial.answer and not partial.tool_calls
    else:
        assert partial.tool_calls and partial.tool_calls[0].name == "lookup"
    assert_clean_after(emu, session, client, footprint, partial)


# ================================================================== the magic and the async twin
def test_magic_interrupted_before_the_first_byte_keeps_and_shows(
    shell, emu: Emulator, session
) -> None:
    footprint = Footprint()
    emu.queue(Fault("stall", before_headers=True, seconds=None, reply=LONG))
    timer = _when(lambda: len(emu.request_log) == 1, _sigint_main)
    run = run_cell(shell, f"%%deepseek --base-url {emu.base_url} -o cut\nHi")
    timer.join()
    assert isinstance(run.error, KeyboardInterrupt)
    cut = shell.user_ns["cut"]
    assert cut.interrupted and session.history.last is cut
    # nothing had arrived: the waiting frame is cleared and the one error line says it all
    assert run.final == {"text/plain": ""}
    assert "".join(run.error._render_traceback_()).count("\n") <= 1 and "Interrupted" in "".join(
        run.error._render_traceback_()
    )
    assert emu.wait_idle(5) and emu.request_log[-1].disconnected
    emu.queue(Reply(answer="after"))
    assert run_cell(shell, f"%%deepseek --base-url {emu.base_url} -o ok\nHi").success
    assert shell.user_ns["ok"].answer == "after"
    session.client().close()
    assert settle(lambda: emu.active_connections == 0)
    footprint.assert_back()


def test_cancelled_aask_keeps_partial_and_closes(emu: Emulator, session) -> None:
    """The async twin's interrupt is cancellation: the partial is in the history."""
    footprint = Footprint()
    emu.queue(LONG)

    async def main() -> None:
        client = AsyncClient()
        task = asyncio.ensure_future(
            dm.aask("q", base_url=emu.base_url, session=session, client=client)
        )
        while not emu.request_log or emu.request_log[-1].script is None:
            await asyncio.sleep(0.005)
        await asyncio.sleep(0.1)  # some reasoning has streamed
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        emu.queue(Reply(answer="after"))
        after = await dm.aask("again", base_url=emu.base_url, session=session, client=client)
        assert after.answer == "after"
        await client.aclose()

    asyncio.run(main())
    cut = session.history[0]
    assert (
        cut.interrupted and WORDS.startswith(cut.reasoning) and 0 < len(cut.reasoning) < len(WORDS)
    )
    assert emu.wait_idle(5) and emu.request_log[0].disconnected
    assert settle(lambda: emu.active_connections == 0)
    footprint.assert_back()
