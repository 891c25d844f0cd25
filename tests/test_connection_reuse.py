"""Connections kept for the next request (``client/_http.py``): after ``[DONE]`` a stream
reads on to the end of the body, so its connection goes back to the pool; the emulator
counts the TCP connections it accepts. A server that keeps sending after ``[DONE]`` is
read for at most ``DRAIN_LIMIT`` bytes and then loses its connection; a stop mid-stream
still closes the connection, and a server silent after ``[DONE]`` costs at most a read
timeout, never the result."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator

import httpx
import pytest

import deepseek_magic as dm
from deepseek_magic.client._http import DRAIN_LIMIT, AsyncClient, Client
from deepseek_magic.client._request import Request
from deepseek_magic.core._session import Session
from deepseek_magic.emulator import Emulator, Fault, Reply
from deepseek_magic.engine._api import prepare
from tests.helpers.faults import Sleeps, settle
from tests.helpers.streams import ANSWER as STREAM_ANSWER
from tests.helpers.streams import REASONING as STREAM_REASONING
from tests.helpers.streams import openrouter_stream

pytestmark = pytest.mark.emulator(tokens_per_chunk=2)

N = 6
REPLY = Reply(reasoning="Compare tenths: 9 against 1.", answer="9.9 is larger.")
#: far more than a client may read after [DONE]: one that read it all would not return
ENDLESS = 10**12
#: the mock transport's address (nothing listens there; no request leaves the process)
MOCK_URL = "http://127.0.0.1:9/v1"


def _request(emu: Emulator, session: Session) -> Request:
    return prepare("q", session=session, options={}, base_url=emu.base_url).request


@pytest.mark.parametrize("stream", [True, False], ids=["streamed", "whole"])
def test_sequential_asks_share_one_connection(emu: Emulator, session, stream: bool) -> None:
    emu.queue(*[REPLY] * N)
    results = [
        dm.ask(f"q{i}", base_url=emu.base_url, session=session, stream=stream) for i in range(N)
    ]
    assert [r.answer for r in results] == [REPLY.answer] * N
    assert len(emu.request_log) == N
    assert emu.connections_accepted == 1


def test_sequential_aasks_share_one_connection(emu: Emulator, session) -> None:
    emu.queue(*[REPLY] * N)

    async def run() -> list[dm.Result]:
        client = AsyncClient()
        try:
            return [
                await dm.aask(f"q{i}", base_url=emu.base_url, session=session, client=client)
                for i in range(N)
            ]
        finally:
            await client.aclose()

    results = asyncio.run(run())
    assert [r.answer for r in results] == [REPLY.answer] * N
    assert emu.connections_accepted == 1


@pytest.mark.parametrize("concurrency", [1, 3])
def test_map_opens_one_connection_per_worker(
    emu: Emulator, session, tmp_path, concurrency: int
) -> None:
    rows = 4 * concurrency + 2
    emu.queue(*[REPLY] * rows)
    out = dm.map(
        [f"row {i}" for i in range(rows)],
        base_url=emu.base_url,
        session=session,
        concurrency=concurrency,
        run_file=tmp_path / "run.sqlite",
        progress=False,
    )
    assert list(out["answer"]) == [REPLY.answer] * rows
    assert len(emu.request_log) == rows
    assert 1 <= emu.connections_accepted <= concurrency


def test_a_retried_status_error_keeps_the_connection(emu: Emulator, session) -> None:
    """An error body is read to its end too: the retry goes out on the same connection."""
    emu.queue(Fault("status", status=503), REPLY)
    client = Client(sleep=Sleeps())
    result = dm.ask("q", base_url=emu.base_url, session=session, client=client)
    client.close()
    assert result.answer == REPLY.answer
    assert [r.status for r in emu.request_log] == [503, 200]
    assert emu.connections_accepted == 1


def test_a_little_junk_after_done_is_read_and_the_connection_kept(emu: Emulator, session) -> None:
    emu.queue(Fault("after_done", size=300, reply=REPLY), REPLY)
    first = dm.ask("q", base_url=emu.base_url, session=session)
    second = dm.ask("q", base_url=emu.base_url, session=session)
    assert (first.answer, second.answer) == (REPLY.answer, REPLY.answer)
    assert first.ok and not first.error
    assert emu.connections_accepted == 1


def test_a_server_that_keeps_sending_after_done_loses_its_connection(
    emu: Emulator, session
) -> None:
    """The reply is complete; the client reads a bounded tail, then hangs up."""
    emu.queue(Fault("after_done", size=ENDLESS, reply=REPLY), REPLY)
    first = dm.ask("q", base_url=emu.base_url, session=session)
    assert first.answer == REPLY.answer and first.ok and not first.interrupted
    assert emu.wait_idle(5)
    assert emu.request_log[0].disconnected  # the client left; the server was still sending
    second = dm.ask("q", base_url=emu.base_url, session=session)
    assert second.answer == REPLY.answer
    assert emu.connections_accepted == 2


def test_async_twin_with_a_server_that_keeps_sending_after_done(emu: Emulator, session) -> None:
    emu.queue(Fault("after_done", size=ENDLESS, reply=REPLY), Fault("after_done", size=300), REPLY)

    async def run() -> list[dm.Result]:
        client = AsyncClient()
        try:
            return [
                await dm.aask("q", base_url=emu.base_url, session=session, client=client)
                for _ in range(3)
            ]
        finally:
            await client.aclose()

    results = asyncio.run(run())
    assert [r.ok for r in results] == [True] * 3
    assert results[0].answer == REPLY.answer
    assert emu.request_log[0].disconnected
    assert emu.connections_accepted == 2  # the endless one lost its connection; 2 and 3 shared


def test_drain_reads_a_bounded_tail(emu: Emulator, session) -> None:
    """The bytes read after [DONE] stay within DRAIN_LIMIT (give or take one read)."""
    emu.queue(Fault("after_done", size=ENDLESS, reply=REPLY))
    client = Client()
    stream = client.stream(_request(emu, session))
    read: list[int] = []
    drain = stream._drain

    def counted(chunks: Iterator[bytes]) -> None:
        def tail() -> Iterator[bytes]:
            for data in chunks:
                read.append(len(data))
                yield data

        drain(tail())

    stream._drain = counted  # type: ignore[method-assign]
    result = stream.run()
    client.close()
    assert result.answer == REPLY.answer and stream.closed
    assert read and DRAIN_LIMIT <= sum(read) <= DRAIN_LIMIT + max(read)


def test_a_stop_mid_stream_still_closes_the_connection(session) -> None:
    """The panel's Stop (``close()`` from another thread) cuts the stream; the connection is
    not returned to the pool, and the next request opens a new one."""
    slow = Reply(reasoning="step " * 400, answer="done")
    with Emulator(replies=[slow, REPLY], token_delay=0.005) as emu:
        client = Client()
        stream = client.stream(_request(emu, session))
        events = 0
        with pytest.raises(KeyboardInterrupt):
            for _ in stream:
                events += 1
                if events == 5:
                    threading.Thread(target=stream.close).start()
        assert stream.result.interrupted
        assert emu.wait_idle(5) and emu.request_log[0].disconnected
        assert settle(lambda: emu.active_connections == 0)
        after = dm.ask("again", base_url=emu.base_url, session=session, client=client)
        client.close()
        assert after.answer == REPLY.answer
        assert emu.connections_accepted == 2


class _SilentAfterDone(httpx.SyncByteStream):
    """A whole stream with ``[DONE]``, then a body that never ends: the next read fails as
    ``fail`` says (a read timeout), or waits until the response is closed (a Stop)."""

    def __init__(self, fail: Exception | None = None) -> None:
        self.fail = fail
        self.tail_reached = threading.Event()
        self.closed = threading.Event()

    def __iter__(self) -> Iterator[bytes]:
        yield openrouter_stream()
        self.tail_reached.set()
        if self.fail is not None:
            raise self.fail
        self.closed.wait(30)
        raise httpx.ReadError("closed while read")

    def close(self) -> None:
        self.closed.set()


def _mock_client(body: httpx.SyncByteStream) -> Client:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers={"content-type": "text/event-stream"}, stream=body)

    return Client(transport=httpx.MockTransport(handler))


def test_a_server_silent_after_done_costs_one_read_timeout_not_the_result(session) -> None:
    body = _SilentAfterDone(fail=httpx.ReadTimeout("silent after [DONE]"))
    result = dm.ask("q", base_url=MOCK_URL, session=session, client=_mock_client(body))
    assert body.tail_reached.is_set()
    assert (result.reasoning, result.answer) == (STREAM_REASONING, STREAM_ANSWER)
    assert result.ok and not result.error and not result.interrupted


def test_a_stop_while_the_tail_is_read_keeps_the_complete_result(session) -> None:
    body = _SilentAfterDone()
    client = _mock_client(body)
    stream = client.stream(prepare("q", session=session, options={}, base_url=MOCK_URL).request)
    stopper = threading.Thread(target=lambda: body.tail_reached.wait(10) and stream.close())
    stopper.start()
    result = stream.run()  # returns once the Stop closes the response
    stopper.join()
    assert body.tail_reached.is_set() and body.closed.is_set() and stream.closed
    assert result.answer == STREAM_ANSWER and result.ok and not result.interrupted
