"""The fault matrix: every way a server or the network can fail, against the emulator
over loopback, asserting what the user sees and what is kept.

For each fault: retried only when it is safe (requests counted in the emulator's log),
a bounded total wait (the retry sleeps are recorded, not slept), one clear line that
names the status or the cause, the partial Result kept (``exc.partial`` is
``session.history.last``), the connection closed, no thread or socket left behind,
and the next request on the same client works.

The leak and wait helpers (:class:`Footprint`, :func:`settle`, :class:`Sleeps`) are in
``tests/helpers/faults.py``, shared with test_interrupt.py and test_concurrency.py.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

import deepseek_magic as dm
from deepseek_magic.client._http import DEFAULT_MAX_REPLY_CHARS, AsyncClient, Client
from deepseek_magic.client._retry import RetryPolicy
from deepseek_magic.emulator import FAULT_KINDS, Emulator, Fault, Reply
from tests.helpers.cells import run_cell
from tests.helpers.faults import STATUS_ERRORS, Footprint, Sleeps, settle

# ====================================================================== helpers of the matrix


def closed_port() -> int:
    """A loopback port with nothing listening (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def dns_fails_fast(host: str = "nonexistent.invalid") -> bool:
    """True when resolving ``host`` fails within a second here (no resolver to wait for)."""
    outcome: list[BaseException | None] = []

    def resolve() -> None:
        try:
            socket.getaddrinfo(host, 80)
            outcome.append(None)
        except OSError as exc:
            outcome.append(exc)

    thread = threading.Thread(target=resolve, daemon=True)
    thread.start()
    thread.join(1.0)
    return bool(outcome) and outcome[0] is not None


def test_footprint_notices_a_leaked_socket_and_thread() -> None:
    footprint = Footprint()
    stop = threading.Event()
    thread = threading.Thread(target=stop.wait, daemon=True)
    with socket.socket(), pytest.raises(AssertionError, match="socket"):
        footprint.assert_back(timeout=0.05)
    thread.start()
    with pytest.raises(AssertionError, match="thread"):
        footprint.assert_back(timeout=0.05)
    stop.set()
    thread.join()
    footprint.assert_back()


# ====================================================================== the matrix

# words of at most six letters: the emulator's tokens are words, so "after N tokens" is N words
REASONING = "alpha beta gamma delta omega sigma kappa theta iota zeta"
ANSWER = "The answer is forty two, as the emulator says."
SCRIPTED = Reply(reasoning=REASONING, answer=ANSWER)
POLICY = RetryPolicy()  # the defaults every user gets: 2 retries


@dataclass
class Case:
    """One fault: what to script, how to ask, and what the user must see."""

    id: str
    faults: list[Fault] = field(default_factory=list)
    error: type[dm.DeepSeekError] = dm.DeepSeekError
    #: requests the emulator must log (the retries included)
    requests: int = 1
    #: words the one-line message must contain (the status or the cause)
    mentions: tuple[str, ...] = ()
    #: the partial reasoning: exactly what arrived before the fault (None: nothing did)
    partial: str | None = None
    ask: dict[str, Any] = field(default_factory=dict)
    #: base URL to use instead of the emulator's ({port} = the emulator's port)
    url: str | None = None
    #: exact retry sleeps, when the server dictates them (Retry-After)
    sleeps: list[float] | None = None
    #: the body was read to its end, so its connection may rightly stay in the pool
    body_complete: bool = False


RETRYABLE = {408, 409, 429, 500, 502, 503}
ELSEWHERE = "https://elsewhere.example/v1/chat/completions"
REDIRECT_PAGE = "<html><body><h1>307 Temporary Redirect</h1></body></html>"
HTML = (
    "<html><head><title>Oops</title></head>\n"
    "<body><h1>Bad gateway</h1><p>cloudflare</p></body></html>"
)


def _status_cases() -> Iterator[Case]:
    for status, cls in STATUS_ERRORS.items():
        attempts = 1 + POLICY.max_retries if status in RETRYABLE else 1
        bodies = {
            # a provider message with a line break: it must arrive as one line
            "json": (
                Fault(
                    "status",
                    status=status,
                    body={
                        "error": {
                            "code": status,
                            "message": "Provider said no\n(upstream detail).",
                            "metadata": {"error_type": "x"},
                        }
                    },
                ),
                ("Provider said no (upstream detail)",),
            ),
            "html": (
                Fault("status", status=status, body=HTML, content_type="text/html"),
                ("HTML page",),
            ),
            "empty": (Fault("status", status=status, body="", content_type="application/json"), ()),
        }
        for kind, (fault, words) in bodies.items():
            yield Case(
                f"{status}-{kind}", [fault] * attempts, cls, attempts, (f"HTTP {status}", *words)
            )


CASES: list[Case] = [
    *_status_cases(),
    Case(
        "429-retry-after",
        [Fault("status", status=429, headers={"Retry-After": "7"})] * 3,
        dm.RateLimitError,
        3,
        ("HTTP 429",),
        sleeps=[7.0, 7.0],
    ),
    Case(
        "503-retry-after-date-in-the-past",
        [Fault("status", status=503, headers={"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"})] * 3,
        dm.ServerError,
        3,
        ("HTTP 503",),
        sleeps=[0.0, 0.0],
    ),
    # a server that asks for an hour is not waited on silently: the user hears at once
    Case(
        "429-retry-after-too-long",
        [Fault("status", status=429, headers={"Retry-After": "3600"})],
        dm.RateLimitError,
        1,
        ("HTTP 429", "3600 s"),
    ),
    # OpenRouter's availability shape has no error.code: the status stands in for it
    Case(
        "429-availability-no-code",
        [
            Fault(
                "status",
                status=429,
                body={
                    "error": {
                        "message": "Model capacity exhausted",
                        "error_type": "capacity_exhausted",
                        "http_status": 429,
                        "availability": {
                            "code": "capacity_exhausted",
                            "retryable": True,
                            "retry_after": 4,
                        },
                    }
                },
                headers={"Retry-After": "4"},
            )
        ]
        * 3,
        dm.RateLimitError,
        3,
        ("HTTP 429", "capacity exhausted"),
        sleeps=[4.0, 4.0],
    ),
    Case(
        "connection-refused",
        [],
        dm.APIConnectionError,
        0,
        ("refused",),
        url="http://127.0.0.1:{closed}/v1",
    ),
    Case(
        "dns-failure",
        [],
        dm.APIConnectionError,
        0,
        ("nonexistent.invalid",),
        url="http://nonexistent.invalid/v1",
        ask={"api_key": "sk-dns-test-key-000000"},
    ),
    Case(
        "tls-to-plain-http",
        [],
        dm.APIConnectionError,
        0,
        ("SSL",),
        url="https://127.0.0.1:{port}/v1",
    ),
    # a stall before the first byte: a timeout, retried (nothing was shown yet)
    Case(
        "stall-before-first-byte",
        [Fault("stall", before_headers=True, seconds=None, reply=SCRIPTED)] * 2,
        dm.APITimeoutError,
        2,
        ("0.5 s", "timeout"),
        ask={"timeout": 0.5, "max_retries": 1},
    ),
    # after the first byte nothing is ever retried: the text shown would repeat and bill twice
    Case(
        "stall-mid-stream",
        [Fault("stall", after_tokens=4, seconds=None, reply=SCRIPTED)],
        dm.APITimeoutError,
        1,
        ("silent", "0.5 s"),
        partial="alpha beta gamma delta",
        ask={"timeout": 0.5},
    ),
    Case(
        "dropped-after-5-tokens",
        [Fault("drop", after_tokens=5, reply=SCRIPTED)],
        dm.StreamError,
        1,
        ("cut",),
        partial="alpha beta gamma delta omega",
    ),
    Case(
        "in-stream-error",
        [
            Fault(
                "midstream_error",
                after_tokens=3,
                reply=SCRIPTED,
                message="Provider disconnected\nunexpectedly",
            )
        ],
        dm.StreamError,
        1,
        ("mid-stream", "502", "Provider disconnected unexpectedly"),
        partial="alpha beta gamma",
    ),
    Case(
        "in-stream-error-no-choices",
        [
            Fault(
                "midstream_error",
                after_tokens=3,
                reply=SCRIPTED,
                with_choices=False,
                done=False,
                code="server_error",
            )
        ],
        dm.StreamError,
        1,
        ("mid-stream", "server_error"),
        partial="alpha beta gamma",
    ),
    Case(
        "malformed-chunk",
        [Fault("malformed", after_tokens=2, reply=SCRIPTED)],
        dm.StreamError,
        1,
        ("malformed",),
        partial="alpha beta",
    ),
    # a clean end of the body with no [DONE] and no finish_reason: truncation, not success
    Case(
        "ends-without-done-or-finish",
        [Fault("keepalive_forever", seconds=0.1, interval=0.02)],
        dm.StreamError,
        1,
        ("ended before",),
        body_complete=True,
    ),
    Case(
        "endless-keepalives",
        [Fault("keepalive_forever", interval=0.02, reply=SCRIPTED)],
        dm.APITimeoutError,
        1,
        ("No token", "0.3 s"),
        ask={"first_token_timeout": 0.3, "timeout": 5},
    ),
    Case(
        "huge-stream",
        [Fault("huge", size=2_000_000, reply=Reply(reasoning="r"))],
        dm.StreamError,
        1,
        ("20,000 characters",),
        partial="r",
        ask={"max_reply_chars": 20_000},
    ),
    Case(
        "huge-non-streamed",
        [Fault("huge", size=2_000_000, reply=Reply(reasoning="r"))],
        dm.StreamError,
        1,
        ("bytes", "cut off"),
        ask={"max_reply_chars": 20_000, "stream": False},
    ),
    # a redirect is never followed (the key would go with it): the user is told where to point
    Case(
        "redirect-307-html",
        [
            Fault(
                "redirect",
                status=307,
                location=ELSEWHERE,
                body=REDIRECT_PAGE,
                content_type="text/html",
            )
        ],
        dm.APIStatusError,
        1,
        ("HTTP 307", f"redirected to {ELSEWHERE}"),
    ),
    Case(
        "redirect-308-json",
        [Fault.redirect(ELSEWHERE, status=308)],
        dm.APIStatusError,
        1,
        ("HTTP 308",),
    ),
]

#: faults after which the reply is complete (nothing to report): tested below the matrix
RECOVERED: list[Fault] = [
    Fault("no_done", reply=SCRIPTED),
    Fault("after_done", size=10**12, reply=SCRIPTED),  # junk after [DONE], without end
]


def test_the_matrix_covers_the_issue() -> None:
    ids = {c.id for c in CASES}
    for status in STATUS_ERRORS:
        assert {f"{status}-json", f"{status}-html", f"{status}-empty"} <= ids
    assert len(CASES) >= 40


def test_the_matrix_covers_every_fault_kind_the_emulator_has() -> None:
    """A fault kind added to the emulator must be added here too (or to RECOVERED)."""
    covered = {fault.kind for case in CASES for fault in case.faults}
    covered |= {fault.kind for fault in RECOVERED}
    assert covered == set(FAULT_KINDS), sorted(set(FAULT_KINDS) - covered)


def _url(case: Case, emu: Emulator) -> str:
    if case.url is None:
        return emu.base_url
    return case.url.format(port=emu.port, closed=closed_port())


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_fault(case: Case, emu: Emulator, session) -> None:
    if case.id == "dns-failure" and not dns_fails_fast():
        pytest.skip("DNS lookups hang on this machine; see test_dns_failure_through_a_transport")
    footprint = Footprint()
    sleeps = Sleeps()
    client = Client(sleep=sleeps)
    emu.queue(*case.faults)
    with pytest.raises(case.error) as info:
        dm.ask(
            "Which is larger, 9.11 or 9.9?",
            base_url=_url(case, emu),
            session=session,
            client=client,
            **case.ask,
        )
    exc = info.value

    # --- what the user sees: one line that names the status or the cause
    message = str(exc)
    assert message and "\n" not in message and len(message) < 500, message
    for word in case.mentions:
        assert word.lower() in message.lower(), (word, message)
    assert "<" not in message  # no HTML page pasted into the message
    first = exc._render_traceback_()[0]
    assert "\n" not in first and type(exc).__name__ in first

    # --- retried only when safe, with a bounded total wait
    assert len(emu.request_log) == case.requests
    if case.url is not None:  # nothing reached the emulator: connection failures are retried
        assert len(sleeps) == POLICY.max_retries
    else:
        assert len(sleeps) == case.requests - 1
    if case.sleeps is not None:
        assert sleeps == case.sleeps
    else:
        assert all(0 <= s <= POLICY.max_delay for s in sleeps)
    assert sum(sleeps) <= POLICY.worst_case_wait()

    # --- the partial Result is kept, on the exception and in the history
    partial = exc.partial
    assert partial is not None and session.history.last is partial
    assert partial.error and not partial.ok and not partial.interrupted
    assert partial.reasoning == (case.partial or "")
    if case.id == "huge-stream":
        assert 0 < len(partial.answer) <= 20_000 + 100  # the limit, give or take the last chunk
    else:
        assert ANSWER.startswith(partial.answer) and partial.answer != ANSWER

    # --- the connection is closed: a failed stream is never returned to the pool
    # (a status error's connection, fully read, may wait in the pool for the next request)
    assert emu.wait_idle(5)
    assert settle(lambda: emu.active_connections <= 1)
    if not isinstance(exc, dm.APIStatusError) and not case.body_complete:
        assert settle(lambda: emu.active_connections == 0)
        assert all(r.completed or r.disconnected for r in emu.request_log)

    # --- and the next request on the same client works
    emu.queue(Reply(reasoning="fine", answer="after the fault"))
    after = dm.ask("again", base_url=emu.base_url, session=session, client=client)
    assert after.answer == "after the fault" and after.ok
    assert session.history.last is after and len(session.history) == 2

    client.close()
    assert settle(lambda: emu.active_connections == 0)
    footprint.assert_back()


def test_dns_failure_through_a_transport(session) -> None:
    """The same failure where a resolver would hang: httpx's ConnectError from the transport."""
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        raise httpx.ConnectError("[Errno -2] Name or service not known")

    sleeps = Sleeps()
    client = Client(transport=httpx.MockTransport(handler), sleep=sleeps)
    with pytest.raises(dm.APIConnectionError) as info:
        dm.ask(
            "q",
            base_url="http://nonexistent.invalid/v1",
            api_key="sk-dns-test-key-000000",
            session=session,
            client=client,
        )
    assert "Name or service not known" in str(info.value) and "nonexistent.invalid" in str(
        info.value
    )
    assert len(seen) == 1 + POLICY.max_retries == len(sleeps) + 1
    assert session.history.last is info.value.partial
    client.close()


def test_retry_recovers_and_says_nothing(emu: Emulator, session) -> None:
    """503 then 429 then a reply: the user gets the reply; the waits were the server's."""
    sleeps = Sleeps()
    client = Client(sleep=sleeps)
    emu.queue(
        Fault("status", status=503),
        Fault("status", status=429, headers={"Retry-After": "2"}),
        SCRIPTED,
    )
    result = dm.ask("q", base_url=emu.base_url, session=session, client=client)
    assert (result.reasoning, result.answer) == (REASONING, ANSWER) and result.ok
    assert len(emu.request_log) == 3 and sleeps[1] == 2.0 and len(sleeps) == 2
    assert [r.status for r in emu.request_log] == [503, 429, 200]
    assert len(session.history) == 1  # the failed attempts are not separate results
    client.close()


@pytest.mark.parametrize("fault", RECOVERED, ids=lambda f: f.kind)
def test_stream_ending_without_done_after_finish_is_complete(
    emu: Emulator, session, fault: Fault
) -> None:
    """Everything but ``[DONE]``, or endless junk after it: the finish_reason and usage
    arrived, so nothing is lost."""
    emu.queue(fault)
    client = Client(sleep=Sleeps())
    result = dm.ask("q", base_url=emu.base_url, session=session, client=client)
    assert (result.reasoning, result.answer, result.finish_reason) == (REASONING, ANSWER, "stop")
    assert result.ok and result.usage.completion_tokens
    client.close()


def test_a_line_that_never_ends_is_cut_off(session) -> None:
    """A hostile server streaming one endless line: memory stays bounded by the reply limit."""
    sent = 0

    def endless() -> Iterator[bytes]:
        nonlocal sent
        yield b'data: {"choices":[{"delta":{"content":"ok"}}]}\n\n'
        while sent < 50_000_000:  # the client must stop reading long before this
            sent += 65536
            yield b"x" * 65536

    transport = httpx.MockTransport(
        lambda request: httpx.Response(
            200, headers={"content-type": "text/event-stream"}, content=endless()
        )
    )
    client = Client(transport=transport)
    with pytest.raises(dm.StreamError, match="without completing an event") as info:
        dm.ask(
            "q",
            base_url="http://127.0.0.1:9/v1",
            session=session,
            client=client,
            max_reply_chars=10_000,
        )
    client.close()
    assert sent <= 8 * 10_000 + 2 * 65536 + 65536
    assert info.value.partial.answer == "ok" and session.history.last is info.value.partial


def test_first_token_timeout_from_the_session_config(emu: Emulator, session) -> None:
    """The first-token wait is a session setting too (argument > session config > 900 s)."""
    session.config["first_token_timeout"] = 0.3
    emu.queue(Fault("keepalive_forever", interval=0.02))
    client = Client(sleep=Sleeps())
    with pytest.raises(dm.APITimeoutError, match="No token arrived in 0.3 s"):
        dm.ask("q", base_url=emu.base_url, session=session, client=client)
    assert len(emu.request_log) == 1  # a stream that started is never retried
    client.close()
    assert dm.resolve_settings(base_url=emu.base_url).first_token_timeout == 900.0
    with pytest.raises(dm.ConfigError, match="first_token_timeout"):
        dm.resolve_settings(base_url=emu.base_url, first_token_timeout=float("nan"))


def test_default_reply_limit_is_far_above_r1s_context() -> None:
    # 64K tokens of R1 is about 256K characters: the default only stops runaways.
    assert DEFAULT_MAX_REPLY_CHARS >= 20 * 256_000


@pytest.mark.parametrize(
    "fault,error,attempts",
    [
        (Fault("status", status=502), dm.ServerError, 3),
        (Fault("status", status=401), dm.AuthenticationError, 1),
        (Fault("drop", after_tokens=3, reply=SCRIPTED), dm.StreamError, 1),
        (Fault("midstream_error", after_tokens=3, reply=SCRIPTED), dm.StreamError, 1),
        (Fault("stall", after_tokens=3, seconds=None, reply=SCRIPTED), dm.APITimeoutError, 1),
    ],
    ids=["502", "401", "drop", "in-stream-error", "stall"],
)
def test_async_twin_handles_faults_the_same(
    emu: Emulator, session, fault: Fault, error: type, attempts: int
) -> None:
    footprint = Footprint()
    sleeps = Sleeps()
    emu.queue(*[fault] * attempts)

    async def main() -> dm.Result:
        client = AsyncClient(sleep=sleeps.asleep)
        try:
            with pytest.raises(error) as info:
                await dm.aask(
                    "q", base_url=emu.base_url, session=session, client=client, timeout=0.5
                )
            assert "\n" not in str(info.value)
            assert session.history.last is info.value.partial
            emu.queue(Reply(answer="after"))
            return await dm.aask("again", base_url=emu.base_url, session=session, client=client)
        finally:
            await client.aclose()

    after = asyncio.run(main())
    assert after.answer == "after"
    assert len(emu.request_log) == attempts + 1 and len(sleeps) == attempts - 1
    if fault.kind != "status":
        assert session.history[0].reasoning.startswith("alpha beta gamma")
    assert settle(lambda: emu.active_connections == 0)
    footprint.assert_back()


def test_status_error_bodies_never_grow_memory(emu: Emulator, session) -> None:
    """A 500 with a 5 MB body: only the first 64 KiB is read, and the message stays short."""
    emu.queue(Fault("status", status=500, body="<p>" + "x" * 5_000_000, content_type="text/html"))
    client = Client(sleep=Sleeps())
    with pytest.raises(dm.ServerError) as info:
        dm.ask("q", base_url=emu.base_url, session=session, client=client, max_retries=0)
    assert len(str(info.value)) < 500 and len(str(info.value.body)) <= 64 * 1024
    client.close()


# ====================================================================== what the notebook shows
@pytest.mark.parametrize(
    "fault,flags,words",
    [
        (Fault("status", status=429, headers={"Retry-After": "3600"}), "", ("HTTP 429", "3600 s")),
        (
            Fault("status", status=401, body="<html><h1>401</h1></html>", content_type="text/html"),
            "",
            ("HTTP 401",),
        ),
        (Fault("drop", after_tokens=4, reply=SCRIPTED), "", ("cut",)),
        (
            Fault("stall", after_tokens=4, seconds=None, reply=SCRIPTED),
            "--timeout 0.5",
            ("silent",),
        ),
        (Fault("midstream_error", after_tokens=4, reply=SCRIPTED), "", ("mid-stream", "502")),
    ],
    ids=["429-too-long", "401-html", "drop", "stall", "in-stream-error"],
)
def test_the_cell_shows_one_line_and_keeps_the_partial(
    shell, emu: Emulator, session, fault: Fault, flags: str, words: tuple[str, ...]
) -> None:
    footprint = Footprint()
    emu.queue(fault)
    run = run_cell(shell, f"%%deepseek --base-url {emu.base_url} {flags} -o part\nWhich is larger?")
    assert not run.success and isinstance(run.error, dm.DeepSeekError)  # "Run all" stops here
    shown = "".join(run.error._render_traceback_())  # what IPython prints instead of a traceback
    assert "Traceback" not in shown and all(w in shown for w in words)
    assert "\n" not in str(run.error)
    part = shell.user_ns["part"]
    assert part is session.history.last and part.error and not part.ok
    if fault.kind != "status":
        assert part.reasoning == "alpha beta gamma delta"
        assert (
            "alpha beta gamma delta" in run.final["text/html"]
            and "partial result kept" in run.final["text/html"]
        )
    assert emu.wait_idle(5)
    emu.queue(Reply(answer="after"))
    assert run_cell(shell, f"%%deepseek --base-url {emu.base_url} -o ok\nAgain").success
    assert shell.user_ns["ok"].answer == "after"
    session.client().close()
    assert settle(lambda: emu.active_connections == 0)
    footprint.assert_back()
