"""Offline mode inside the kernel (what JupyterLite uses, no sockets there): the same bytes
as the socket emulator for every dialect, paced so the live view streams, the lessons'
recorded replies, faults, and every output still saying it is the offline emulator."""

from __future__ import annotations

import asyncio
import dataclasses
import inspect
import re
import socket
import sys
from pathlib import Path

import httpx
import pytest

import deepseek_magic as dm
from deepseek_magic.client._fetch_transport import local_routes
from deepseek_magic.client._http import AsyncClient, Client
from deepseek_magic.client._retry import RetryPolicy
from deepseek_magic.emulator import DIALECTS, Emulator, Fault, Reply, ToolCallSpec, load_script
from deepseek_magic.emulator._base import ScriptedServer
from deepseek_magic.emulator._inkernel import IN_KERNEL_BASE_URL, InKernelEmulator
from deepseek_magic.emulator._script import DEEPSEEK_SERVED
from deepseek_magic.features._offline import offline_magic, stop_offline
from deepseek_magic.notebook._magic import register_magics
from deepseek_magic.view._style import OFFLINE_NOTE
from tests.helpers.cells import run_cell

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
REPLY = Reply(
    reasoning="Compare tenths: 9 > 1. Émile 数学 🙂",
    answer="**9.9** is larger, $x^2$.",
    tool_calls=[ToolCallSpec("f", {"x": 1})],
)


#: a model each dialect's server accepts (today's DeepSeek API refuses retired names)
MODELS = {"deepseek": sorted(DEEPSEEK_SERVED)[0]}


def _normal(data: bytes) -> bytes:
    return re.sub(rb'"created": ?\d+', b'"created":0', data)


def _post(client: httpx.Client, url: str, stream: bool, model: str = "deepseek-r1") -> bytes:
    body = {"model": model, "stream": stream, "messages": [{"role": "user", "content": "q?"}]}
    with client.stream("POST", url + "/chat/completions", json=body) as response:
        return response.status_code.to_bytes(2, "big") + b"".join(response.iter_bytes())


@pytest.mark.parametrize("dialect", DIALECTS)
@pytest.mark.parametrize("stream", [True, False])
def test_same_bytes_as_the_socket_emulator(dialect: str, stream: bool) -> None:
    kernel = InKernelEmulator(replies=[REPLY], dialect=dialect, tokens_per_chunk=2)  # type: ignore[arg-type]
    with Emulator(replies=[REPLY], dialect=dialect, tokens_per_chunk=2) as emu:  # type: ignore[arg-type]
        over_socket = _post(
            httpx.Client(), emu.base_url, stream, MODELS.get(dialect, "deepseek-r1")
        )
    in_kernel = _post(
        httpx.Client(transport=kernel), kernel.base_url, stream, MODELS.get(dialect, "deepseek-r1")
    )
    assert in_kernel[:2] == b"\x00\xc8"  # 200: a reply, not a refusal
    assert _normal(in_kernel) == _normal(over_socket)
    assert kernel.requests[0]["messages"][0]["content"] == "q?"


def test_pacing_waits_between_chunks_not_before_them() -> None:
    """token_delay is slept between chunks, so a reader sees each chunk before the next wait."""
    log: list[object] = []
    kernel = InKernelEmulator(
        replies=[Reply(reasoning="one two three", answer="four five")],
        token_delay=0.05,
        first_token_latency=0.2,
        sleep=log.append,
    )
    body = {"stream": True, "messages": [{"role": "user", "content": "q"}]}
    with httpx.Client(transport=kernel).stream(
        "POST", kernel.base_url + "/chat/completions", json=body
    ) as response:
        for data in response.iter_bytes():
            log.append(data.count(b"data: "))
    assert log[0] == 0.2  # the latency before the first token
    chunks = [x for x in log if isinstance(x, int)]
    waits = [x for x in log if isinstance(x, float)]
    assert sum(chunks) >= 7 and waits.count(0.05) >= 5
    # waits and chunks alternate: never two waits in a row, so the view updates between them
    assert all(
        not (isinstance(a, float) and isinstance(b, float))
        for a, b in zip(log, log[1:], strict=False)
    )


@pytest.fixture
def browser_session(session, monkeypatch: pytest.MonkeyPatch):
    """A session as in JupyterLite: sys.platform is emscripten and no socket may connect."""
    monkeypatch.setattr(sys, "platform", "emscripten")

    def no_socket(*args: object, **kwargs: object) -> None:
        raise AssertionError("a socket was opened in the browser kernel")

    monkeypatch.setattr(socket.socket, "connect", no_socket)
    monkeypatch.setattr(socket.socket, "bind", no_socket)
    monkeypatch.chdir(NOTEBOOKS)
    yield session
    stop_offline(session)
    assert not local_routes


def test_offline_magic_in_the_browser_answers_in_kernel(browser_session) -> None:
    said: list[str] = []
    offline_magic(
        browser_session, "on --script replies/01-quick-start.json --token-rate 100", out=said.append
    )
    assert isinstance(browser_session.offline, InKernelEmulator)
    assert "inside this kernel" in said[0] and "not from DeepSeek R1" in said[0]
    rule = load_script(NOTEBOOKS / "replies" / "01-quick-start.json")[0]
    recorded = rule.samples[0]
    r = dm.ask("Is 9.11 larger than 9.9?", session=browser_session)
    assert r.offline and r.base_url == IN_KERNEL_BASE_URL
    assert isinstance(recorded, Reply) and (r.reasoning, r.answer) == (
        recorded.reasoning,
        recorded.answer,
    )
    assert browser_session.offline.token_delay == pytest.approx(0.01)


def test_the_magic_output_says_offline_emulator(browser_session) -> None:
    from IPython.core.interactiveshell import InteractiveShell

    ip = InteractiveShell.instance()
    register_magics(ip, browser_session)
    first = run_cell(ip, "%deepseek_offline on")
    assert first.success and "inside this kernel" in first.stdout
    cell = run_cell(ip, "%%deepseek -o r_lite\nWhat is 2+2?")
    assert cell.success, cell.error
    assert OFFLINE_NOTE in cell.final["text/plain"] and OFFLINE_NOTE in cell.final["text/html"]
    assert ip.user_ns["r_lite"].offline and "offline emulator" in ip.user_ns["r_lite"].answer


def test_faults_keep_the_partial_as_over_a_socket(session) -> None:
    kernel = InKernelEmulator(
        replies=[
            Fault("status", status=429, headers={"Retry-After": "2"}),
            Fault("midstream_error", after_tokens=3, message="Provider disconnected"),
            Fault("drop", after_tokens=4),
            Fault("stall", after_tokens=2, seconds=None),
        ],
        sleep=lambda s: None,
    ).start()
    client = Client(transport=kernel, policy=RetryPolicy(max_retries=0))
    try:
        with pytest.raises(dm.RateLimitError):
            dm.ask("q", base_url=kernel.base_url, client=client, session=session)
        with pytest.raises(dm.StreamError, match="Provider disconnected") as mid:
            dm.ask("q", base_url=kernel.base_url, client=client, session=session)
        assert mid.value.partial is not None and mid.value.partial.reasoning
        with pytest.raises(dm.StreamError, match="cut mid-stream") as drop:
            dm.ask("q", base_url=kernel.base_url, client=client, session=session)
        assert drop.value.partial.reasoning
        with pytest.raises(dm.APITimeoutError) as stall:
            dm.ask("q", base_url=kernel.base_url, client=client, session=session, timeout=5)
        assert stall.value.partial.reasoning
    finally:
        kernel.stop()


def test_junk_after_done_is_read_within_bounds_as_over_a_socket(session) -> None:
    """A reply followed by endless junk: complete, and the transport's stream is closed."""
    kernel = InKernelEmulator(replies=[Fault("after_done", size=10**12, reply=REPLY)]).start()
    client = Client(transport=kernel)
    try:
        result = dm.ask("q", base_url=kernel.base_url, client=client, session=session)
        assert result.answer == REPLY.answer and result.ok
    finally:
        kernel.stop()


def test_interrupt_while_paced_keeps_what_arrived(session) -> None:
    waits = []

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        if len(waits) == 5:
            raise KeyboardInterrupt

    kernel = InKernelEmulator(token_delay=0.02, sleep=sleep)
    with pytest.raises(KeyboardInterrupt) as info:
        dm.ask("q", base_url=kernel.base_url, client=Client(transport=kernel), session=session)
    partial = info.value.partial  # type: ignore[attr-defined]
    assert partial.interrupted and partial.reasoning and not partial.answer


def test_async_path_streams_in_kernel(session) -> None:
    waits: list[float] = []

    async def asleep(seconds: float) -> None:
        waits.append(seconds)

    kernel = InKernelEmulator(replies=[REPLY], token_delay=0.01, async_sleep=asleep)
    client = AsyncClient(transport=kernel)
    r = asyncio.run(dm.aask("q", base_url=kernel.base_url, client=client, session=session))
    assert r.reasoning == REPLY.reasoning and r.answer == REPLY.answer and len(waits) > 5


def test_bad_requests_are_refused_like_the_server() -> None:
    kernel = InKernelEmulator()
    client = httpx.Client(transport=kernel)
    assert client.post(kernel.base_url + "/chat/completions", content=b"{nope").status_code == 400
    assert (
        client.post(kernel.base_url + "/chat/completions", json={"messages": []}).status_code == 400
    )
    assert client.get(kernel.base_url + "/models").json()["data"][0]["id"] == "deepseek/deepseek-r1"
    assert client.get(kernel.base_url + "/nowhere").status_code == 404


def test_the_request_log_reads_as_the_socket_emulators() -> None:
    """Both emulators share their settings and their request log (``_base.ScriptedServer``)."""
    shared = {f.name for f in dataclasses.fields(ScriptedServer)} | {"replies"}
    for cls in (Emulator, InKernelEmulator):
        assert shared <= set(inspect.signature(cls).parameters), cls
    logs = []
    kernel = InKernelEmulator(replies=[Fault("drop", after_tokens=2)])
    with Emulator(replies=[Fault("drop", after_tokens=2)]) as emu:
        for server, transport in ((emu, None), (kernel, kernel)):
            with httpx.Client(transport=transport, headers={"Authorization": "Bearer sk-x"}) as c:
                url = server.base_url + "/chat/completions"
                assert c.post(url, content=b"{nope").status_code == 400
                with pytest.raises(httpx.RemoteProtocolError):
                    c.post(
                        url, json={"stream": True, "messages": [{"role": "user", "content": "q"}]}
                    )
                assert c.post(
                    url, json={"messages": [{"role": "user", "content": "again"}]}
                ).is_success
            logs.append(server.request_log)
        emu.wait_idle(5)
        assert len(emu.requests) == len(kernel.requests) == 2  # the bad JSON is not a body
    for socket_log, kernel_log in zip(*logs, strict=True):
        assert socket_log.status == kernel_log.status
        assert socket_log.json_ok == kernel_log.json_ok
        assert socket_log.completed and kernel_log.completed
        assert socket_log.headers["authorization"] == kernel_log.headers["authorization"]
        assert kernel_log.authorization == "Bearer sk-x" and kernel_log.had_auth
        assert type(socket_log.script) is type(kernel_log.script)
    assert [r.status for r in logs[1]] == [400, 200, 200]


def test_key_prompt_in_the_browser_says_this_tab_only(
    browser_session, monkeypatch: pytest.MonkeyPatch
) -> None:
    from IPython.core.interactiveshell import InteractiveShell

    key = "sk-or-v1-" + "k" * 40
    prompts: list[str] = []
    monkeypatch.setattr("getpass.getpass", lambda prompt="": prompts.append(prompt) or key)
    ip = InteractiveShell.instance()
    register_magics(ip, browser_session)
    cell = run_cell(ip, "%deepseek_key")
    assert cell.success and "this tab only" in prompts[0]
    assert "in this browser tab only" in cell.stdout and key not in cell.all_text()
    assert browser_session.config["api_key"] == key
    browser_session.config.pop("api_key")


def test_panel_send_and_stop_run_as_tasks_in_the_browser(browser_session) -> None:
    """A browser kernel has no threads and a click handler cannot wait on fetch: Send runs
    the request as an asyncio task; Stop cancels it and keeps the partial result."""
    pytest.importorskip("ipywidgets")
    from deepseek_magic.notebook._panel import panel

    async def scenario() -> tuple[object, object]:
        offline_magic(browser_session, "on --token-rate 400", out=lambda line: None)
        p = panel("What is 2+2?", session=browser_session)
        p.send_button.click()
        assert len(p.tasks) == 1 and isinstance(p.tasks[0], asyncio.Task) and p.running
        await asyncio.gather(*p.tasks)
        done = p.last_result
        p.send_button.click()
        while not (p.runs[0].streams and p.runs[0].streams[0].result.reasoning):
            await asyncio.sleep(0.01)  # until some reasoning has arrived
        p.stop()
        await asyncio.gather(*p.tasks, return_exceptions=True)
        return done, p

    done, p = asyncio.run(scenario())
    assert done is not None and done.offline and "offline emulator" in done.answer  # type: ignore[attr-defined]
    stopped = p.last_result  # type: ignore[attr-defined]
    assert stopped.interrupted and stopped.reasoning and not stopped.answer
    # the result's banner says "Interrupted"; the status line only where the Result is
    assert "The Result so far is in" in p.status.value and not p.running  # type: ignore[attr-defined]
    assert "dsm-status-stopped" in p.status.value  # type: ignore[attr-defined]


def test_replies_matched_by_content_as_over_a_socket(session) -> None:
    from deepseek_magic.emulator import Matched

    kernel = InKernelEmulator(
        replies=[Matched("apples", Reply(answer="About apples.")), Reply(answer="In turn.")],
        sleep=lambda s: None,
    )
    client = Client(transport=kernel)
    first = dm.ask("Tell me about pears.", base_url=kernel.base_url, client=client, session=session)
    second = dm.ask("And apples?", base_url=kernel.base_url, client=client, session=session)
    assert (first.answer, second.answer) == ("In turn.", "About apples.")
