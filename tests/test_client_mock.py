"""The client over httpx's MockTransport: status -> exception, retries and their delays,
non-streamed replies, and the key kept out of errors. (Real-socket faults are in
test_client_emulator.py.)"""

from __future__ import annotations

import json

import httpx
import pytest

import deepseek_magic as dm
from deepseek_magic.client._http import Client
from deepseek_magic.client._retry import RetryPolicy
from tests.helpers.streams import ANSWER, REASONING, openrouter_stream

URL = "http://127.0.0.1:9/v1"


def make_client(responses: list[httpx.Response | Exception], seen: list[httpx.Request]) -> Client:
    queue = list(responses)

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        item = queue.pop(0)
        if isinstance(item, Exception):
            raise item
        return item

    return Client(transport=httpx.MockTransport(handler), sleep=lambda seconds: None)


def ok() -> httpx.Response:
    return httpx.Response(
        200, headers={"content-type": "text/event-stream"}, content=openrouter_stream()
    )


def err(status: int, body: object = None, **headers: str) -> httpx.Response:
    content = json.dumps(
        body if body is not None else {"error": {"code": status, "message": "nope"}}
    )
    return httpx.Response(
        status, headers={"content-type": "application/json", **headers}, content=content
    )


@pytest.mark.parametrize(
    "status,cls",
    [
        (400, dm.BadRequestError),
        (401, dm.AuthenticationError),
        (402, dm.PaymentRequiredError),
        (403, dm.PermissionDeniedError),
    ],
)
def test_client_errors_are_never_retried(session, status: int, cls: type) -> None:
    seen: list[httpx.Request] = []
    client = make_client([err(status)], seen)
    with pytest.raises(cls) as info:
        dm.ask("q", base_url=URL, client=client, session=session)
    assert len(seen) == 1
    assert info.value.status == status and f"HTTP {status}" in str(info.value)
    assert isinstance(info.value, dm.DeepSeekError)


def test_retryable_status_then_success_with_delays(session) -> None:
    seen: list[httpx.Request] = []
    sleeps: list[float] = []
    client = make_client([err(503), err(429, **{"Retry-After": "1.5"}), ok()], seen)
    client.policy = RetryPolicy(max_retries=2, initial_delay=0.5)
    client.sleep = sleeps.append
    result = dm.ask("q", base_url=URL, client=client, session=session)
    assert result.answer == ANSWER and result.reasoning == REASONING
    assert len(seen) == 3
    assert 0.375 <= sleeps[0] <= 0.5 and sleeps[1] == 1.5


def test_retries_give_up_after_the_bound(session) -> None:
    seen: list[httpx.Request] = []
    client = make_client([err(502)] * 5, seen)
    client.policy = RetryPolicy(max_retries=2)
    with pytest.raises(dm.ServerError):
        dm.ask("q", base_url=URL, client=client, session=session)
    assert len(seen) == 3


def test_over_long_retry_after_is_not_waited(session) -> None:
    sleeps: list[float] = []
    seen: list[httpx.Request] = []
    client = make_client([err(429, **{"Retry-After": "3600"})], seen)
    client.sleep = sleeps.append
    with pytest.raises(dm.RateLimitError) as info:
        dm.ask("q", base_url=URL, client=client, session=session)
    assert sleeps == [] and len(seen) == 1
    assert "3600" in str(info.value) and info.value.retry_after == 3600


def test_connection_errors_are_retried_then_reported(session) -> None:
    seen: list[httpx.Request] = []
    client = make_client([httpx.ConnectError("refused")] * 3, seen)
    with pytest.raises(dm.APIConnectionError, match="Could not reach 127.0.0.1"):
        dm.ask("q", base_url=URL, client=client, session=session)
    assert len(seen) == 3


def test_availability_error_without_code_uses_the_status(session) -> None:
    body = {
        "error": {
            "message": "No capacity",
            "error_type": "capacity",
            "http_status": 429,
            "availability": {"code": "capacity_exhausted", "retryable": True, "retry_after": 40},
        }
    }
    client = make_client([err(429, body, **{"Retry-After": "40"})], [])
    with pytest.raises(dm.RateLimitError) as info:
        dm.ask("q", base_url=URL, client=client, session=session)
    assert (
        info.value.code == 429
        and info.value.metadata["availability"]["code"] == "capacity_exhausted"
    )


@pytest.mark.parametrize(
    "content_type,content",
    [
        ("text/html", "<html><body><h1>502 Bad Gateway</h1></body></html>"),
        ("application/json", ""),
    ],
)
def test_html_and_empty_error_bodies(session, content_type: str, content: str) -> None:
    response = httpx.Response(400, headers={"content-type": content_type}, content=content)
    with pytest.raises(dm.BadRequestError) as info:
        dm.ask("q", base_url=URL, client=make_client([response], []), session=session)
    message = str(info.value)
    assert "HTTP 400" in message and "<h1>" not in message and "\n" not in message


def test_non_streamed_reply_with_leading_blank_lines(session) -> None:
    body = {
        "id": "x",
        "model": "deepseek-reasoner",
        "choices": [
            {
                "index": 0,
                "finish_reason": "stop",
                "message": {"role": "assistant", "content": "42", "reasoning_content": "think"},
            }
        ],
        "usage": {"prompt_tokens": 3, "completion_tokens": 5},
    }
    response = httpx.Response(
        200,
        headers={"content-type": "application/json"},
        content=b"\n\n\n" + json.dumps(body).encode(),
    )
    seen: list[httpx.Request] = []
    result = dm.ask(
        "q", base_url=URL, stream=False, client=make_client([response], seen), session=session
    )
    assert (result.answer, result.reasoning, result.finish_reason) == ("42", "think", "stop")
    assert json.loads(seen[0].content)["stream"] is False


def test_the_key_goes_in_the_header_and_nowhere_else(session, sentinel_key: str) -> None:
    seen: list[httpx.Request] = []
    body = {"error": {"code": 401, "message": f"Invalid key {sentinel_key}"}}
    client = make_client([err(401, body)], seen)
    with pytest.raises(dm.AuthenticationError) as info:
        dm.ask("q", base_url=URL, api_key=sentinel_key, client=client, session=session)
    assert seen[0].headers["authorization"] == f"Bearer {sentinel_key}"
    exc = info.value
    for text in (
        str(exc),
        repr(exc),
        "".join(exc._render_traceback_()),
        repr(exc.partial),
        str(exc.body),
        repr(exc.partial.to_dict()),
        repr(session.history.to_records()),
    ):
        assert sentinel_key not in text


def test_redirect_is_not_followed(session, sentinel_key: str) -> None:
    seen: list[httpx.Request] = []
    redirect = httpx.Response(307, headers={"location": "https://evil.example/v1/chat/completions"})
    with pytest.raises(dm.APIStatusError, match="redirected"):
        dm.ask(
            "q",
            base_url=URL,
            api_key=sentinel_key,
            client=make_client([redirect], seen),
            session=session,
        )
    assert len(seen) == 1  # the key never travelled to the other host


def test_failure_before_any_token_is_in_history_as_an_error(session) -> None:
    with pytest.raises(dm.AuthenticationError):
        dm.ask("q", base_url=URL, client=make_client([err(401)], []), session=session)
    assert len(session.history) == 1 and session.history.last.error
