"""The browser's fetch transport (JupyterLite), with the JavaScript side faked
(tests/fake_browser.py): chunked streaming, headers a CORS preflight accepts, error
statuses, network failures, timeouts, the stop button and Ctrl-C keeping the partial
result, the async path, and DeepSeek's API refused before anything is sent."""

from __future__ import annotations

import asyncio
import json
import sys

import httpx
import pytest

import deepseek_magic as dm
from deepseek_magic.client._fetch_transport import AsyncFetchTransport, FetchTransport, local_routes
from deepseek_magic.client._http import AsyncClient, Client
from deepseek_magic.client._retry import RetryPolicy
from tests.helpers.fake_browser import HANG, FakeReply, FetchFailed, browser
from tests.helpers.streams import ANSWER, REASONING, openrouter_stream

URL = "http://127.0.0.1:9/v1"
OPENROUTER = "https://openrouter.ai/api/v1"


def cut(data: bytes, size: int) -> list[bytes]:
    """``data`` in pieces of ``size`` bytes: they split JSON, lines and UTF-8 characters."""
    return [data[i : i + size] for i in range(0, len(data), size)]


def sync_client(replies: list[object], retries: int = 0) -> tuple[Client, object]:
    b, js = browser(replies)
    return Client(
        transport=FetchTransport(b), policy=RetryPolicy(max_retries=retries), sleep=lambda s: None
    ), js


def test_a_reply_cut_anywhere_arrives_whole_and_streams(session) -> None:
    body = openrouter_stream()
    pieces = cut(body, 37)
    assert any(b"\xc3" in p[-1:] or b"\xe6" in p[-2:] for p in pieces) or len(pieces) > 20
    client, js = sync_client([FakeReply(chunks=pieces)])
    prep_events: list[int] = []

    def on_event(event: object, stream: object) -> None:
        prep_events.append(len(js.responses[0].reader.chunks))  # pieces not yet read

    r = dm.ask("q", base_url=URL, client=client, session=session, on_event=on_event)
    assert (r.reasoning, r.answer) == (REASONING, ANSWER)
    assert r.usage.reasoning_tokens == 290 and r.cost == pytest.approx(0.0008)
    # Events came while most of the body was still unread: it streamed.
    assert prep_events[0] > len(pieces) // 2
    assert js.responses[0].reader.reads <= len(pieces) + 1
    assert not js.timers  # no timer left armed


def test_only_headers_a_cors_preflight_allows_are_sent(session) -> None:
    client, js = sync_client([FakeReply(chunks=[openrouter_stream()])])
    dm.ask(
        "hi",
        base_url=OPENROUTER,
        api_key="sk-or-v1-abcdefabcdef0123",
        client=client,
        session=session,
        temperature=0.6,
    )
    url, init = js.fetches[0]
    assert url == OPENROUTER + "/chat/completions"
    names = {n.lower() for n in init["headers"]}
    assert names == {"accept", "authorization", "content-type", "http-referer", "x-title"}
    assert init["headers"]["authorization"] == "Bearer sk-or-v1-abcdefabcdef0123"
    assert (
        init["method"] == "POST" and init["redirect"] == "manual" and init["credentials"] == "omit"
    )
    sent = json.loads(init["body"].to_bytes())
    assert sent["temperature"] == 0.6 and sent["stream"] is True
    assert init["signal"] is js.controllers[0]


def test_error_status_becomes_the_clients_error(session) -> None:
    body = json.dumps({"error": {"code": 429, "message": "Rate limit exceeded"}}).encode()
    reply = FakeReply(
        status=429,
        statusText="Too Many Requests",
        chunks=[body],
        headers={"content-type": "application/json", "retry-after": "3"},
    )
    client, js = sync_client([reply])
    with pytest.raises(dm.RateLimitError) as info:
        dm.ask("q", base_url=URL, client=client, session=session)
    assert "HTTP 429" in str(info.value) and "Rate limit exceeded" in str(info.value)
    assert info.value.retry_after == 3


def test_compressed_reply_is_not_decoded_twice(session) -> None:
    headers = {
        "content-type": "text/event-stream",
        "content-encoding": "gzip",
        "content-length": "9",
    }
    client, _ = sync_client([FakeReply(chunks=[openrouter_stream()], headers=headers)])
    assert dm.ask("q", base_url=URL, client=client, session=session).answer == ANSWER


def test_fetch_failure_is_a_connection_error_then_retried(session) -> None:
    client, js = sync_client([FetchFailed(), FakeReply(chunks=[openrouter_stream()])], retries=1)
    assert dm.ask("q", base_url=URL, client=client, session=session).answer == ANSWER
    assert len(js.fetches) == 2

    client, js = sync_client([FetchFailed()])
    with pytest.raises(dm.APIConnectionError) as info:
        dm.ask("q", base_url=URL, client=client, session=session)
    message = str(info.value)
    assert message.startswith("Could not reach 127.0.0.1") and "CORS" in message
    assert "\n" not in message


def test_connect_timeout_aborts_the_fetch(session) -> None:
    client, js = sync_client([HANG])
    with pytest.raises(dm.APITimeoutError) as info:
        dm.ask("q", base_url=URL, client=client, session=session)
    assert "connect timeout" in str(info.value)
    assert js.fired == [10_000]  # the settings' connect timeout, in ms
    assert js.controllers[0].aborted


def test_read_timeout_mid_stream_keeps_the_partial_result(session) -> None:
    body = openrouter_stream()
    head = body[:600]
    client, js = sync_client([FakeReply(chunks=[head, HANG])])
    with pytest.raises(dm.APITimeoutError) as info:
        dm.ask("q", base_url=URL, client=client, session=session, timeout=7)
    assert "silent mid-stream for 7 s" in str(info.value)
    assert js.fired == [7000] and js.controllers[0].aborted
    partial = info.value.partial
    assert partial is not None and partial.reasoning and REASONING.startswith(partial.reasoning)
    assert session.history.last.reasoning == partial.reasoning


def test_ctrl_c_aborts_the_fetch_and_keeps_what_arrived(session) -> None:
    body = openrouter_stream()
    client, js = sync_client([FakeReply(chunks=[body[:600], KeyboardInterrupt, body[600:]])])
    with pytest.raises(KeyboardInterrupt) as info:
        dm.ask("q", base_url=URL, client=client, session=session)
    partial = info.value.partial  # type: ignore[attr-defined]
    assert partial.interrupted and partial.reasoning and REASONING.startswith(partial.reasoning)
    assert js.controllers[0].aborted and js.responses[0].reader.cancelled
    assert not js.timers


def test_stop_closes_the_stream_mid_read(session) -> None:
    """The panel's Stop calls ChatStream.close(): the fetch is aborted, the partial kept."""
    body = openrouter_stream()
    client, js = sync_client([FakeReply(chunks=cut(body, 200))])
    seen = []

    def on_event(event: object, stream: object) -> None:
        seen.append(event)
        if len(seen) == 2:
            stream.close()  # type: ignore[attr-defined]

    with pytest.raises(KeyboardInterrupt) as info:
        dm.ask("q", base_url=URL, client=client, session=session, on_event=on_event)
    assert info.value.partial.interrupted  # type: ignore[attr-defined]
    reader = js.responses[0].reader
    assert (
        js.controllers[0].aborted and reader.cancelled and reader.chunks
    )  # the rest was never read


def test_deepseek_api_is_refused_before_sending(session, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "platform", "emscripten")
    client, js = sync_client([])
    with pytest.raises(dm.ConfigError) as info:
        dm.ask(
            "q", provider="deepseek", api_key="sk-test-abcdefabcdef", client=client, session=session
        )
    assert "DeepSeek's API does not accept requests from a web page" in str(info.value)
    assert "OpenRouter" in str(info.value) and "\n" not in str(info.value)
    assert js.fetches == []
    # httpx used directly is refused by the transport too, still without a fetch
    with pytest.raises(httpx.ConnectError, match="CORS"):
        httpx.Client(transport=FetchTransport(browser([])[0])).post("https://api.deepseek.com/x")


def test_without_jspi_the_sync_path_says_to_await(session) -> None:
    b, js = browser([], sync=False)
    client = Client(transport=FetchTransport(b), policy=RetryPolicy(max_retries=0))
    with pytest.raises(dm.APIConnectionError, match=r"await deepseek_magic\.aask"):
        dm.ask("q", base_url=URL, client=client, session=session)
    assert js.fetches == []


def test_async_path_streams_and_times_out(session) -> None:
    body = openrouter_stream()
    b, js = browser(
        [FakeReply(chunks=cut(body, 53)), FakeReply(chunks=[body[:500], HANG])], sync=False
    )
    client = AsyncClient(transport=AsyncFetchTransport(b), policy=RetryPolicy(max_retries=0))

    async def both() -> tuple[object, BaseException]:
        first = await dm.aask("q", base_url=URL, client=client, session=session)
        try:
            await dm.aask("q", base_url=URL, client=client, session=session, timeout=3)
        except dm.APITimeoutError as exc:
            return first, exc
        raise AssertionError("no timeout")

    first, exc = asyncio.run(both())
    assert first.answer == ANSWER  # type: ignore[attr-defined]
    assert exc.partial is not None and exc.partial.reasoning  # type: ignore[attr-defined]
    assert js.fired == [3000] and js.controllers[1].aborted


def test_client_picks_fetch_in_pyodide(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "platform", "emscripten")
    assert isinstance(Client().http._transport, FetchTransport)
    assert isinstance(AsyncClient().http._transport, AsyncFetchTransport)
    monkeypatch.setattr(sys, "platform", "linux")
    assert not isinstance(Client().http._transport, FetchTransport)


def test_local_routes_answer_without_fetch(session) -> None:
    answered = []

    def handler(request: httpx.Request) -> httpx.Response:
        answered.append(str(request.url))
        return httpx.Response(
            200, headers={"content-type": "text/event-stream"}, content=openrouter_stream()
        )

    client, js = sync_client([])
    local_routes["http://127.0.0.1/in-kernel/v1"] = httpx.MockTransport(handler)
    try:
        r = dm.ask("q", base_url="http://127.0.0.1/in-kernel/v1", client=client, session=session)
    finally:
        local_routes.clear()
    assert r.answer == ANSWER and js.fetches == [] and len(answered) == 1
