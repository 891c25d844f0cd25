"""The offline emulator, tested on the raw wire (httpx, SSE parsed by hand) and with the
official ``openai`` client, over loopback only."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
import threading
import time
import tracemalloc
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import deepseek_magic.emulator as emulator_pkg
from deepseek_magic.emulator import (
    DIALECTS,
    Emulator,
    Fault,
    Reply,
    ToolCallSpec,
    load_script,
    tokenize,
)

REASONING = "Compare the tenths: 9 against 1. 比较 ✅ so 9.9 wins."
ANSWER = "**9.9** is larger than 9.11 — 数字 🎉."
MESSAGES = [{"role": "user", "content": "Is 9.11 > 9.9?"}]
FIELD_DIALECTS = ("openrouter", "deepseek", "vllm", "ollama", "llamacpp")
REASONING_FIELD = {
    "openrouter": "reasoning",
    "deepseek": "reasoning_content",
    "vllm": "reasoning",
    "ollama": "reasoning",
    "llamacpp": "reasoning_content",
    "sglang": "reasoning_content",
}


# --------------------------------------------------------------------------- helpers


def body(stream: bool = True, **extra: Any) -> dict[str, Any]:
    return {"model": "deepseek/deepseek-r1", "messages": MESSAGES, "stream": stream, **extra}


def post(emu: Emulator, payload: Any = None, **kw: Any) -> httpx.Response:
    payload = body() if payload is None else payload
    if (
        emu.dialect == "deepseek"
        and isinstance(payload, dict)
        and payload.get("model") == "deepseek/deepseek-r1"
    ):
        # Today's DeepSeek API serves no R1 and refuses that name (tested below).
        payload = {**payload, "model": "deepseek-flash"}
    kw.setdefault("timeout", 5)
    return httpx.post(f"{emu.base_url}/chat/completions", json=payload, **kw)


def events(text: str) -> list[tuple[str, str]]:
    """SSE events as ("comment" | "data", value), split on blank lines by hand."""
    out = []
    for block in text.split("\n\n"):
        for line in block.split("\n"):
            if line.startswith(":"):
                out.append(("comment", line[1:].strip()))
            elif line.startswith("data:"):
                out.append(("data", line[5:].strip()))
    return out


def chunks(text: str) -> list[dict[str, Any]]:
    return [json.loads(v) for k, v in events(text) if k == "data" and v != "[DONE]"]


def deltas(text: str) -> list[dict[str, Any]]:
    return [c["choices"][0]["delta"] for c in chunks(text) if c.get("choices")]


def reassemble(text: str, dialect: str) -> tuple[str, str]:
    """(reasoning, answer) as a careful client would read them for this dialect."""
    reasoning, answer = "", ""
    for d in deltas(text):
        reasoning += d.get(REASONING_FIELD.get(dialect, "-")) or ""
        answer += d.get("content") or ""
    if dialect in ("think", "think-noopen"):
        inline = answer.removeprefix("<think>\n")
        reasoning, _, answer = inline.partition("\n</think>\n\n")
    return reasoning, answer


def tool_calls(text: str) -> dict[int, dict[str, str]]:
    calls: dict[int, dict[str, str]] = {}
    for d in deltas(text):
        for frag in d.get("tool_calls") or ():
            call = calls.setdefault(frag["index"], {"id": "", "name": "", "arguments": ""})
            call["id"] += frag.get("id") or ""
            call["name"] += (frag.get("function") or {}).get("name") or ""
            call["arguments"] += (frag.get("function") or {}).get("arguments") or ""
    return calls


# --------------------------------------------------------------------------- tokenising


@settings(max_examples=200, deadline=None)
@given(st.text())
def test_tokens_join_back_to_the_text(text: str) -> None:
    assert "".join(tokenize(text)) == text


def test_tokens_are_roughly_words() -> None:
    expected = ["Let", " me", " think", ",", " 世界", " 🎉"]
    assert tokenize("Let me think, 世界 🎉") == expected


# --------------------------------------------------------------------------- dialects


@pytest.mark.parametrize("dialect", DIALECTS)
def test_every_dialect_streams_back_the_scripted_text(dialect: str) -> None:
    with Emulator([Reply(reasoning=REASONING, answer=ANSWER)], dialect=dialect) as emu:
        r = post(emu, body(stream_options={"include_usage": True}))
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
    evs = events(r.text)
    assert evs[-1] == ("data", "[DONE]")
    reasoning, answer = reassemble(r.text, dialect)
    assert answer == ANSWER
    assert reasoning == ("" if dialect == "openai" else REASONING)
    last = chunks(r.text)[-1]
    assert last["choices"] == [] and last["usage"]["completion_tokens"] > 0
    finish = [c for c in chunks(r.text) if c["choices"] and c["choices"][0]["finish_reason"]]
    assert [c["choices"][0]["finish_reason"] for c in finish] == ["stop"]


@pytest.mark.parametrize("dialect", ["openai", "vllm", "ollama", "llamacpp", "think"])
def test_openai_style_servers_send_usage_only_when_asked(dialect: str) -> None:
    with Emulator([Reply(answer="hi")], dialect=dialect) as emu:
        r = post(emu)
    assert all("usage" not in c for c in chunks(r.text))


def test_openrouter_chunks_repeat_identity_and_duplicate_reasoning(emu: Emulator) -> None:
    emu.queue(Reply(reasoning=REASONING, answer=ANSWER, provider="DeepInfra"))
    r = post(emu)
    cs = chunks(r.text)
    assert r.headers["x-generation-id"] == cs[0]["id"] == "gen-emu-1"
    for c in cs:
        assert c["id"] == "gen-emu-1" and c["provider"] == "DeepInfra"
        assert c["object"] == "chat.completion.chunk" and c["model"] == "deepseek/deepseek-r1"
        assert isinstance(c["created"], int)
    first = cs[0]["choices"][0]["delta"]
    assert first["role"] == "assistant" and first["content"] == "" and first["reasoning"]
    for d in deltas(r.text):
        if d.get("reasoning"):
            assert [x["text"] for x in d["reasoning_details"]] == [d["reasoning"]]
            assert d["reasoning_details"][0]["type"] == "reasoning.text"
    finish = cs[-2]["choices"][0]
    assert finish["finish_reason"] == finish["native_finish_reason"] == "stop"
    usage = cs[-1]["usage"]
    assert cs[-1]["choices"] == [] and usage["is_byok"] is False
    expected = usage["prompt_tokens"] * 0.7e-6 + usage["completion_tokens"] * 2.5e-6
    assert usage["cost"] == pytest.approx(expected)
    assert usage["completion_tokens_details"]["reasoning_tokens"] == len(tokenize(REASONING))


def test_deepseek_nulls_and_usage(emu: Emulator) -> None:
    emu.dialect = "deepseek"
    emu.queue(Reply(reasoning="a b", answer="c d"))
    ds = deltas(post(emu).text)
    assert ds[0] == {"role": "assistant", "content": None, "reasoning_content": ""}
    assert all(d["content"] is None for d in ds[1:3]) and ds[1]["reasoning_content"] == "a"
    assert ds[3] == {"content": "c", "reasoning_content": None}
    usage = chunks(post(emu).text)[-1]["usage"]
    assert (
        usage["prompt_tokens"]
        == usage["prompt_cache_hit_tokens"] + usage["prompt_cache_miss_tokens"]
    )
    assert usage["completion_tokens_details"]["reasoning_tokens"] > 0


def test_keepalive_comments_before_the_first_chunk() -> None:
    for dialect, text in (("openrouter", "OPENROUTER PROCESSING"), ("deepseek", "keep-alive")):
        with Emulator(
            [Reply(answer="ok")], dialect=dialect, first_token_latency=0.2, keepalive_interval=0.05
        ) as emu:
            evs = events(post(emu).text)
        first_data = next(i for i, (k, _) in enumerate(evs) if k == "data")
        assert first_data >= 2 and all(e == ("comment", text) for e in evs[:first_data])


def test_think_dialect_can_split_the_closing_tag(emu: Emulator) -> None:
    emu.dialect = "think"
    emu.queue(Reply(reasoning="r1 r2", answer="a1 a2", split_think_tags=True))
    contents = [d.get("content") or "" for d in deltas(post(emu).text)]
    cut = next(i for i, c in enumerate(contents) if c.endswith("</thi"))
    assert contents[cut + 1].startswith("nk>")
    assert "".join(contents) == "<think>\nr1 r2\n</think>\n\na1 a2"


def test_think_noopen_and_empty_think(emu: Emulator) -> None:
    emu.queue(
        Reply(reasoning="why", answer="so", dialect="think-noopen"),
        Reply(reasoning="ignored", answer="so", dialect="think", empty_think=True),
    )
    assert "".join(d.get("content") or "" for d in deltas(post(emu).text)) == "why\n</think>\n\nso"
    assert (
        "".join(d.get("content") or "" for d in deltas(post(emu).text))
        == "<think>\n\n</think>\n\nso"
    )


def test_ollama_finishes_with_an_empty_delta_and_openai_hides_reasoning(emu: Emulator) -> None:
    emu.queue(
        Reply(reasoning="r", answer="a", dialect="ollama"),
        Reply(reasoning="secret", answer="a", dialect="openai"),
    )
    ollama = chunks(post(emu).text)
    assert ollama[-1]["choices"][0] == {"index": 0, "delta": {}, "finish_reason": "stop"}
    assert ollama[0]["choices"][0]["delta"] == {
        "role": "assistant",
        "content": "",
        "reasoning": "r",
    }
    openai_text = post(emu).text
    assert "secret" not in openai_text and "reasoning" not in openai_text.replace(
        "reasoning_tokens", ""
    )


def test_tokens_per_chunk_groups_tokens(emu: Emulator) -> None:
    emu.tokens_per_chunk = 3
    emu.queue(Reply(answer="one two three four five six seven"))
    contents = [d["content"] for d in deltas(post(emu).text) if d.get("content")]
    assert contents == ["one two three", " four five six", " seven"]


# --------------------------------------------------------------------------- tool calls

CALLS = [
    ToolCallSpec("get_weather", json.dumps({"city": "Paris", "unit": "celsius"})),
    ToolCallSpec("add", {"a": 1, "b": 2}, id="call_fixed"),
]


@pytest.mark.parametrize("dialect", ["openrouter", "deepseek", "vllm", "ollama"])
def test_tool_call_fragments_reassemble(dialect: str) -> None:
    with Emulator([Reply(reasoning="use tools", tool_calls=CALLS)], dialect=dialect) as emu:
        text = post(emu).text
    calls = tool_calls(text)
    assert [calls[i]["name"] for i in (0, 1)] == ["get_weather", "add"]
    assert [json.loads(calls[i]["arguments"]) for i in (0, 1)] == [
        {"city": "Paris", "unit": "celsius"},
        {"a": 1, "b": 2},
    ]
    assert calls[1]["id"] == "call_fixed" and calls[0]["id"]
    frags = [f for d in deltas(text) for f in d.get("tool_calls") or ()]
    if dialect != "ollama":  # id and name only on the first fragment of each call
        assert len(frags) > 4 and sum("id" in f for f in frags) == 2
    finish = [c["choices"][0]["finish_reason"] for c in chunks(text) if c["choices"]]
    assert finish[-1] == "tool_calls"


def test_openai_client_reads_reasoning_answer_and_tools(emu: Emulator) -> None:
    emu.queue(Reply(reasoning=REASONING, answer=ANSWER), Reply(tool_calls=CALLS[:1]))
    client = openai.OpenAI(base_url=emu.base_url, api_key="sk-test", max_retries=0)
    reasoning, answer, usage = "", "", None
    for chunk in client.chat.completions.create(
        model="deepseek/deepseek-r1", messages=MESSAGES, stream=True
    ):
        usage = chunk.usage or usage
        if chunk.choices:
            delta = chunk.choices[0].delta
            reasoning += getattr(delta, "reasoning", None) or ""
            answer += delta.content or ""
    assert (reasoning, answer) == (REASONING, ANSWER) and usage is not None
    args = ""
    for chunk in client.chat.completions.create(model="m", messages=MESSAGES, stream=True):
        for call in (chunk.choices[0].delta.tool_calls or []) if chunk.choices else []:
            args += call.function.arguments or ""
    assert json.loads(args) == {"city": "Paris", "unit": "celsius"}
    client.close()


def test_openai_client_reads_deepseek_reasoning_content() -> None:
    with Emulator([Reply(reasoning=REASONING, answer=ANSWER)], dialect="deepseek") as emu:
        client = openai.OpenAI(base_url=emu.base_url, api_key="sk-test", max_retries=0)
        reasoning = answer = ""
        for chunk in client.chat.completions.create(
            model="deepseek-flash", messages=MESSAGES, stream=True
        ):
            if chunk.choices:
                delta = chunk.choices[0].delta
                reasoning += (delta.model_extra or {}).get("reasoning_content") or ""
                answer += delta.content or ""
        client.close()
    assert (reasoning, answer) == (REASONING, ANSWER)


# --------------------------------------------------------------------------- non-streaming


@pytest.mark.parametrize("dialect", DIALECTS)
def test_non_streaming_bodies(dialect: str) -> None:
    with Emulator(
        [Reply(reasoning=REASONING, answer=ANSWER, tool_calls=CALLS[:1])], dialect=dialect
    ) as emu:
        r = post(emu, body(stream=False))
    if dialect == "deepseek":
        assert r.text.startswith("\n")  # DeepSeek's keep-alive blank lines
    data = json.loads(r.text)
    assert data["object"] == "chat.completion"
    message = data["choices"][0]["message"]
    assert data["choices"][0]["finish_reason"] == "tool_calls"
    assert message["tool_calls"][0]["function"]["name"] == "get_weather"
    if dialect in ("think", "think-noopen"):
        assert message["content"].endswith(f"{REASONING}\n</think>\n\n{ANSWER}")
    else:
        assert message["content"] == ANSWER
        field = REASONING_FIELD.get(dialect)
        assert message.get(field) == REASONING if field else "reasoning" not in message
    assert data["usage"]["total_tokens"] > 0


# --------------------------------------------------------------------------- faults


def test_status_fault_with_retry_after_and_body_types(emu: Emulator) -> None:
    emu.queue(
        Fault("status", status=429, headers={"Retry-After": "2"}),
        Fault("status", status=502, body="<html>Bad gateway</html>", content_type="text/html"),
        Fault("status", status=503, body="", content_type="text/plain"),
        Fault("status", status=402, body={"error": {"code": 402, "message": "no credits"}}),
    )
    r = post(emu)
    assert r.status_code == 429 and r.headers["retry-after"] == "2"
    assert r.json()["error"]["code"] == 429 and r.json()["error"]["message"]
    r = post(emu)
    assert (r.status_code, r.headers["content-type"], r.text) == (
        502,
        "text/html",
        "<html>Bad gateway</html>",
    )
    r = post(emu)
    assert (r.status_code, r.content) == (503, b"")
    assert post(emu).json() == {"error": {"code": 402, "message": "no credits"}}


@pytest.mark.parametrize("with_choices", [True, False])
def test_midstream_error_event(emu: Emulator, with_choices: bool) -> None:
    emu.queue(
        Fault(
            "midstream_error",
            after_tokens=3,
            with_choices=with_choices,
            code="server_error",
            reply=Reply(answer="one two three four five"),
        )
    )
    r = post(emu)
    assert r.status_code == 200
    cs = chunks(r.text)
    assert (
        "".join(d.get("content") or "" for d in deltas(r.text)[: -1 if with_choices else None])
        == "one two three"
    )
    error = cs[-1]
    assert error["error"]["code"] == "server_error" and error["object"] == "chat.completion.chunk"
    assert error["error"]["metadata"] == {"error_type": "provider_unavailable"}
    if with_choices:
        assert error["choices"] == [
            {"index": 0, "delta": {"content": ""}, "finish_reason": "error"}
        ]
    else:
        assert error["choices"] == []
    assert events(r.text)[-1] == ("data", "[DONE]")


def test_midstream_error_without_done(emu: Emulator) -> None:
    emu.queue(Fault("midstream_error", after_tokens=1, done=False))
    evs = events(post(emu).text)
    assert ("data", "[DONE]") not in evs and json.loads(evs[-1][1])["error"]["code"] == 502


def test_drop_breaks_the_connection_after_n_tokens(emu: Emulator) -> None:
    emu.queue(Fault("drop", after_tokens=2, reply=Reply(answer="alpha beta gamma delta")))
    got = []
    url = f"{emu.base_url}/chat/completions"
    with (
        pytest.raises(httpx.RemoteProtocolError),
        httpx.stream("POST", url, json=body(), timeout=5) as r,
    ):
        for line in r.iter_lines():
            if line.startswith("data: "):
                got.append(json.loads(line[6:])["choices"][0]["delta"]["content"])
    assert "".join(got) == "alpha beta"
    assert emu.wait_idle()
    record = emu.request_log[0]
    assert record.completed and not record.disconnected


def test_stall_is_seen_as_a_read_timeout(emu: Emulator) -> None:
    emu.queue(
        Fault("stall", after_tokens=1, reply=Reply(answer="first second")),
        Fault("stall", before_headers=True),
    )
    got: list[str] = []
    with (
        pytest.raises(httpx.ReadTimeout),
        httpx.stream(
            "POST",
            f"{emu.base_url}/chat/completions",
            json=body(),
            timeout=httpx.Timeout(5, read=0.3),
        ) as r,
    ):
        got.extend(r.iter_lines())
    assert any('"first"' in line for line in got) and not any("second" in line for line in got)
    with pytest.raises(httpx.ReadTimeout):
        post(emu, timeout=httpx.Timeout(5, read=0.3))
    assert len(emu.request_log) == 2  # the stall before the headers held the second request
    assert emu.wait_idle(), "the stalled handlers notice the client left"
    assert all(r.disconnected for r in emu.request_log)


def test_a_timed_stall_then_the_rest(emu: Emulator) -> None:
    emu.queue(Fault("stall", after_tokens=1, seconds=0.2, reply=Reply(answer="first second")))
    r = post(emu)
    assert reassemble(r.text, "openrouter")[1] == "first second"
    assert events(r.text)[-1] == ("data", "[DONE]")


@pytest.mark.parametrize("then", ["continue", "end"])
def test_malformed_chunk(emu: Emulator, then: str) -> None:
    emu.queue(Fault("malformed", after_tokens=1, then=then, reply=Reply(answer="a b")))
    evs = events(post(emu).text)
    assert ("data", "{not json") in evs
    assert (evs[-1] == ("data", "[DONE]")) == (then == "continue")


def test_no_done(emu: Emulator) -> None:
    emu.queue(Fault("no_done", reply=Reply(answer="a b")))
    r = post(emu)
    assert r.headers["connection"] == "close"
    evs = events(r.text)
    assert ("data", "[DONE]") not in evs and json.loads(evs[-1][1])["choices"] == []


def test_after_done_sends_junk_then_ends_the_body(emu: Emulator) -> None:
    emu.queue(Fault("after_done", size=1000, reply=Reply(answer="a b")))
    text = post(emu).text
    done = text.index("data: [DONE]\n\n") + len("data: [DONE]\n\n")
    assert text[done:] == ("data: junk after [DONE]\n\n" * 50)[:1000]
    assert emu.wait_idle(5) and emu.request_log[0].completed


def test_connections_accepted_counts_tcp_connections(emu: Emulator) -> None:
    with httpx.Client() as client:  # one keep-alive connection for three requests
        for _ in range(3):
            assert client.post(f"{emu.base_url}/chat/completions", json=body(False)).is_success
    assert emu.connections_accepted == 1
    health = httpx.get(emu.base_url.replace("/v1", "/health")).json()  # a second connection
    assert health["connections"] == 2 == emu.connections_accepted


def test_keepalive_forever(emu: Emulator) -> None:
    emu.queue(Fault("keepalive_forever", interval=0.05, seconds=0.3))
    evs = events(post(emu).text)
    assert len(evs) >= 3 and all(e == ("comment", "OPENROUTER PROCESSING") for e in evs)


def test_huge_reply_is_generated_while_streaming(emu: Emulator) -> None:
    size = 1_500_000
    # Chunks 2 ms apart: the server is still generating when the first one arrives
    # (without a delay, loopback socket buffers could swallow the whole reply at once).
    emu.tokens_per_chunk, emu.token_delay = 1000, 0.002
    post(emu)  # warm up, so lazy imports inside httpx do not count as memory use
    emu.reset()
    emu.queue(Fault("huge", size=size))
    tracemalloc.start()
    try:
        total, completed_at_first = 0, None
        with httpx.stream("POST", f"{emu.base_url}/chat/completions", json=body(), timeout=10) as r:
            for line in r.iter_lines():
                if line.startswith("data: {"):
                    delta = (json.loads(line[6:])["choices"] or [{"delta": {}}])[0]["delta"]
                    if completed_at_first is None:
                        completed_at_first = emu.request_log[0].completed
                    total += len((delta.get("content") or "").encode())
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert total == size and completed_at_first is False
    assert peak < size / 3, "neither side held the whole answer"


def test_huge_non_streaming_body(emu: Emulator) -> None:
    emu.queue(Fault("huge", size=100_000))
    data = post(emu, body(stream=False)).json()
    assert len(data["choices"][0]["message"]["content"]) == 100_000


def test_redirect_lets_clients_drop_authorization() -> None:
    with Emulator() as target, Emulator() as first:
        elsewhere = target.base_url.replace("127.0.0.1", "localhost") + "/chat/completions"
        first.queue(Fault.redirect(elsewhere))
        r = post(first, headers={"Authorization": "Bearer sk-secret"}, follow_redirects=False)
        assert r.status_code == 307 and r.headers["location"] == elsewhere
        first.queue(Fault.redirect(elsewhere))
        r = post(first, headers={"Authorization": "Bearer sk-secret"}, follow_redirects=True)
        assert r.status_code == 200
        assert first.request_log[-1].authorization == "Bearer sk-secret"
        assert not target.request_log[0].had_auth  # httpx dropped it for another host


# --------------------------------------------------------------------------- requests and lifecycle


def test_requests_are_logged_with_masked_auth(emu: Emulator) -> None:
    post(emu, body(temperature=0.6), headers={"Authorization": "Bearer sk-secret"})
    assert emu.wait_for_requests(1) and emu.wait_idle()  # the handler may still be finishing
    assert emu.requests == [body(temperature=0.6)]
    record = emu.request_log[0]
    assert record.headers["authorization"] == "Bearer ***" and "sk-secret" not in repr(record)
    assert record.had_auth and record.authorization == "Bearer sk-secret"
    assert (record.path, record.status, record.completed) == ("/v1/chat/completions", 200, True)
    emu.reset()
    assert emu.requests == [] and emu.request_log == []


def test_bad_requests_get_400_and_do_not_consume_the_queue(emu: Emulator) -> None:
    emu.queue(Reply(answer="kept"))
    r = httpx.post(f"{emu.base_url}/chat/completions", content=b"{nope", timeout=5)
    assert r.status_code == 400 and r.json()["error"]["code"] == 400
    assert post(emu, {"model": "m"}).status_code == 400
    r = httpx.post(
        emu.base_url.replace("/v1", "/api/v1") + "/chat/completions",
        json=body(stream=False),
        timeout=5,
    )
    assert r.json()["choices"][0]["message"]["content"] == "kept"
    assert [rec.status for rec in emu.request_log] == [400, 400, 200]
    assert emu.requests == [{"model": "m"}, body(stream=False)]
    assert httpx.post(f"{emu.base_url}/completions", json={}).status_code == 404


def test_default_reply_says_it_is_the_emulator(emu: Emulator) -> None:
    r = post(emu, body(stream=False, messages=[{"role": "user", "content": "What is 2+2?"}]))
    message = r.json()["choices"][0]["message"]
    assert "offline emulator, not from DeepSeek R1" in message["content"]
    assert "> What is 2+2?" in message["content"] and "emulator" in message["reasoning"]
    again = post(emu, body(stream=False, messages=[{"role": "user", "content": "What is 2+2?"}]))
    assert again.json()["choices"][0]["message"] == message


def test_responder_drives_a_tool_loop(emu: Emulator) -> None:
    def responder(request: dict[str, Any]) -> Reply:
        results = [m["content"] for m in request["messages"] if m["role"] == "tool"]
        if not results:
            return Reply(tool_calls=[ToolCallSpec("add", {"a": 2, "b": 2})])
        return Reply(answer=f"The sum is {results[-1]}.")

    emu.responder = responder
    first = tool_calls(post(emu).text)[0]
    follow_up = MESSAGES + [
        {
            "role": "assistant",
            "tool_calls": [
                {
                    "id": first["id"],
                    "type": "function",
                    "function": {"name": "add", "arguments": first["arguments"]},
                }
            ],
        },
        {"role": "tool", "tool_call_id": first["id"], "content": "4"},
    ]
    assert reassemble(post(emu, body(messages=follow_up)).text, "openrouter")[1] == "The sum is 4."


def test_models_and_health(emu: Emulator) -> None:
    models = httpx.get(f"{emu.base_url}/models").json()["data"]
    assert [m["id"] for m in models] == [
        "deepseek/deepseek-r1",
        "deepseek/deepseek-r1-0528",
        "deepseek/deepseek-v4.1-flash",
    ]
    assert models[0]["reasoning"]["mandatory"] is True
    assert models[0]["context_length"] == 163840
    assert models[0]["pricing"] == {"prompt": "0.0000007", "completion": "0.0000025"}
    assert "max_tokens" in models[0]["supported_parameters"]
    assert httpx.get(emu.base_url.replace("/v1", "/health")).json()["status"] == "ok"


@pytest.mark.parametrize("dialect", ["deepseek", "vllm", "ollama", "llamacpp"])
def test_models_in_each_dialect(dialect: str) -> None:
    with Emulator(dialect=dialect) as emu:
        models = httpx.get(f"{emu.base_url}/models").json()["data"]
    ids = [m["id"] for m in models]
    if dialect == "deepseek":  # ids only, no R1: deepseek-flash is the current model
        assert (
            ids[0] == "deepseek-flash"
            and "deepseek-reasoner" not in ids
            and "pricing" not in models[0]
        )
    else:
        assert ids == ["deepseek/deepseek-r1"] and models[0]["object"] == "model"


def test_deepseek_refuses_a_retired_name_with_its_error_body() -> None:
    with Emulator([Reply(answer="never")], dialect="deepseek") as emu:
        r = post(emu, body(model="deepseek-reasoner"))
        assert r.status_code == 400
        assert r.json() == {
            "error": {
                "message": "Model Not Exist",
                "type": "invalid_request_error",
                "param": None,
                "code": "invalid_request_error",
            }
        }
        assert (
            post(emu, body(model="deepseek-flash")).status_code == 200
        )  # the reply was not used up


def test_deepseek_wants_reasoning_content_back_after_a_tool_call() -> None:
    turn = {
        "role": "assistant",
        "content": "",
        "tool_calls": [
            {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}
        ],
    }
    tool = {"role": "tool", "tool_call_id": "c1", "content": "42"}
    with Emulator(dialect="deepseek") as emu:
        missing = post(emu, body(messages=MESSAGES + [turn, tool]))
        given = post(emu, body(messages=MESSAGES + [{**turn, "reasoning_content": "r"}, tool]))
        off = post(emu, body(messages=MESSAGES + [turn, tool], thinking={"type": "disabled"}))
    assert missing.status_code == 400 and "reasoning_content" in missing.json()["error"]["message"]
    assert given.status_code == 200 and off.status_code == 200


@pytest.mark.parametrize(
    "dialect,switch",
    [
        ("openrouter", {"reasoning": {"effort": "none"}}),
        ("deepseek", {"thinking": {"type": "disabled"}}),
        ("ollama", {"reasoning_effort": "none"}),  # its /v1 has no `think` (section 11)
        ("vllm", {"chat_template_kwargs": {"enable_thinking": False}}),
        ("llamacpp", {"chat_template_kwargs": {"enable_thinking": False}}),
        ("llamacpp", {"reasoning_effort": "none"}),
        ("sglang", {"chat_template_kwargs": {"thinking": False}}),
    ],
)
def test_each_dialect_honours_its_thinking_switch(dialect: str, switch: dict[str, Any]) -> None:
    # OpenRouter's R1 reasons always (mandatory): its hybrid model switches off
    model = {"openrouter": "deepseek/deepseek-v4.1-flash"}.get(dialect)
    chosen = {"model": model} if model else {}
    with Emulator([Reply(reasoning=REASONING, answer=ANSWER)] * 2, dialect=dialect) as emu:
        on = post(emu, body(stream=False, **chosen))
        off = post(emu, body(stream=False, **switch, **chosen))
    message_on, message_off = (r.json()["choices"][0]["message"] for r in (on, off))
    field = {"openrouter": "reasoning", "ollama": "reasoning", "vllm": "reasoning"}.get(
        dialect, "reasoning_content"
    )
    assert message_on[field] == REASONING and not message_off.get(field)
    assert message_off["content"] == ANSWER


def test_streams_arrive_incrementally(emu: Emulator) -> None:
    emu.token_delay = 0.05
    emu.queue(Reply(answer="one two three four five six"))
    stamps = []
    with httpx.stream("POST", f"{emu.base_url}/chat/completions", json=body(), timeout=5) as r:
        for line in r.iter_lines():
            if line.startswith("data: "):
                stamps.append(time.monotonic())
    gaps = [b - a for a, b in itertools.pairwise(stamps)]
    assert len(stamps) >= 8
    assert stamps[-1] - stamps[0] > 5 * 0.5 * 0.05, "chunks are spread out, not sent at once"
    assert sum(g > 0.02 for g in gaps) >= 5


def test_client_that_leaves_early_is_recorded_as_disconnected(emu: Emulator) -> None:
    emu.token_delay = 0.02
    emu.queue(Reply(answer="word " * 200))
    with httpx.stream("POST", f"{emu.base_url}/chat/completions", json=body(), timeout=5) as r:
        lines = r.iter_lines()
        for _ in range(3):
            next(lines)
    assert emu.wait_idle(timeout=3)
    record = emu.request_log[0]
    assert record.disconnected and not record.completed


def test_stop_ends_stalled_and_idle_connections_and_leaves_no_threads() -> None:
    before = set(threading.enumerate())
    emu = Emulator([Fault("stall", after_tokens=1)]).start()
    outcome: list[BaseException | str] = []

    def client() -> None:
        try:
            with httpx.stream(
                "POST", f"{emu.base_url}/chat/completions", json=body(), timeout=30
            ) as r:
                for _ in r.iter_lines():
                    pass
            outcome.append("finished")
        except Exception as exc:  # noqa: BLE001 - the test asserts on whatever ended the stream
            outcome.append(exc)

    idle = httpx.Client(timeout=30)  # keeps an idle keep-alive connection open
    assert idle.get(f"{emu.base_url}/models").status_code == 200
    thread = threading.Thread(target=client)
    thread.start()
    assert emu.wait_for_requests(1)
    time.sleep(0.1)
    assert emu.active_connections == 2
    emu.stop()
    # stop() ended the stalled and the idle connection itself (the stall alone would
    # have held the client for its 30 s timeout)
    assert emu.active_connections == 0
    thread.join(5)
    assert not thread.is_alive()
    idle.close()
    assert outcome and outcome[0] != "finished"
    assert set(threading.enumerate()) - before == set()
    assert not emu.request_log[0].completed


# --------------------------------------------------------------------------- scripts and CLI


def test_load_script_json_and_yaml(tmp_path: Path) -> None:
    items = [
        {"reasoning": "r", "answer": "a"},
        {"tool_calls": [{"name": "f", "arguments": {"x": 1}}]},
        {"answer": "partial", "fault": {"kind": "drop", "after_tokens": 1}},
        {"fault": {"kind": "status", "status": 429, "headers": {"Retry-After": "2"}}},
    ]
    path = tmp_path / "script.json"
    path.write_text(json.dumps(items))
    loaded = load_script(path)
    assert loaded[0] == Reply(reasoning="r", answer="a")
    assert loaded[1].tool_calls == (ToolCallSpec("f", '{"x": 1}'),)
    assert loaded[2] == Fault("drop", after_tokens=1, reply=Reply(answer="partial"))
    assert loaded[3].status == 429 and loaded[3].headers == {"Retry-After": "2"}
    yaml = pytest.importorskip("yaml")
    ypath = tmp_path / "script.yaml"
    ypath.write_text(yaml.safe_dump(items))
    assert load_script(ypath) == loaded
    path.write_text(json.dumps([{"answr": "typo"}]))
    with pytest.raises(ValueError, match="answr"):
        load_script(path)


def test_public_api_is_exported() -> None:
    for name in emulator_pkg.__all__:
        assert hasattr(emulator_pkg, name)


def test_cli_help() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "deepseek_magic.emulator", "--help"],
        capture_output=True,
        text=True,
        timeout=20,
        check=True,
    ).stdout
    for flag in (
        "--host",
        "--port",
        "--dialect",
        "--script",
        "--token-rate",
        "--first-token-latency",
        "--keepalive",
        "DEEPSEEK_MAGIC_BASE_URL",
    ):
        assert flag in out


def test_cli_serves_and_prints_its_url(tmp_path: Path) -> None:
    script = tmp_path / "s.json"
    script.write_text(json.dumps([{"reasoning": "r", "answer": "from the script"}]))
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "deepseek_magic.emulator",
            "--port",
            "0",
            "--script",
            str(script),
            "--dialect",
            "deepseek",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = proc.stdout.readline().strip()
        prefix = "deepseek-magic offline emulator listening on http://127.0.0.1:"
        assert line.startswith(prefix) and line.endswith("/v1")
        base = line.split(" on ", 1)[1]
        r = httpx.post(
            f"{base}/chat/completions", json=body(stream=False, model="deepseek-flash"), timeout=5
        )
        assert r.json()["choices"][0]["message"]["content"] == "from the script"
    finally:
        proc.terminate()
        assert proc.wait(timeout=10) == 0


def test_cors_option_answers_pages_like_openrouter() -> None:
    """With cors=True a browser page on another origin may POST with OpenRouter's allowed
    headers; a preflight asking for any other header is refused (no CORS headers)."""
    import httpx

    with Emulator(cors=True) as emu:
        ok = httpx.request(
            "OPTIONS",
            emu.base_url + "/chat/completions",
            headers={
                "Origin": "http://127.0.0.1:1",
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "authorization,content-type,x-title",
            },
        )
        assert ok.status_code == 204 and ok.headers["access-control-allow-origin"] == "*"
        assert "authorization" in ok.headers["access-control-allow-headers"]
        bad = httpx.request(
            "OPTIONS",
            emu.base_url + "/chat/completions",
            headers={
                "Origin": "http://127.0.0.1:1",
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "content-type,user-agent",
            },
        )
        assert bad.status_code == 403
        reply = httpx.post(
            emu.base_url + "/chat/completions",
            json={"messages": [{"role": "user", "content": "q"}]},
        )
        assert reply.headers["access-control-allow-origin"] == "*"
    with Emulator() as plain:
        question = {"messages": [{"role": "user", "content": "q"}]}
        reply = httpx.post(plain.base_url + "/chat/completions", json=question)
        assert "access-control-allow-origin" not in reply.headers
