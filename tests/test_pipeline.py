"""bytes -> SSE -> chunks -> events -> Result, at every chunk boundary and in every dialect."""

from __future__ import annotations

import json

import pytest

from deepseek_magic.client._accumulate import Accumulator
from deepseek_magic.client._events import (
    ChunkParser,
    ContentDelta,
    ContentWasReasoning,
    ReasoningDelta,
    ThinkSplitter,
    ToolCallDelta,
)
from deepseek_magic.client._pipeline import Pipeline
from deepseek_magic.client._sse import SSEParser
from tests.helpers.streams import (
    ANSWER,
    REASONING,
    deepseek_stream,
    openrouter_stream,
    think_stream,
)


def run_bytes(pieces: list[bytes]):
    sse, parser, acc = SSEParser(), ChunkParser(), Accumulator()
    done = False
    for piece in pieces:
        for event in sse.feed(piece):
            if event.data == "[DONE]":
                done = True
                continue
            for e in parser.feed(json.loads(event.data)):
                acc.add(e)
    for event in sse.flush():
        if event.data != "[DONE]":
            for e in parser.feed(json.loads(event.data)):
                acc.add(e)
    for e in parser.flush():
        acc.add(e)
    return acc.snapshot(elapsed=0.0), done


@pytest.mark.parametrize(
    "name,data",
    [
        ("openrouter", openrouter_stream()),
        ("openrouter-crlf", openrouter_stream(crlf=True)),
        ("deepseek", deepseek_stream()),
        ("think", think_stream()),
        ("think-noopen", think_stream(opening=False)),
    ],
)
def test_every_byte_boundary_gives_the_same_result(name: str, data: bytes) -> None:
    whole, done = run_bytes([data])
    assert done
    assert whole.reasoning == REASONING
    assert whole.answer == ANSWER
    assert whole.finish_reason == "stop"
    for cut in range(1, len(data)):
        result, _ = run_bytes([data[:cut], data[cut:]])
        assert (result.reasoning, result.answer) == (REASONING, ANSWER), f"cut at byte {cut}"


def test_byte_by_byte_delivery_keeps_multibyte_characters() -> None:
    data = openrouter_stream()
    result, done = run_bytes([data[i : i + 1] for i in range(len(data))])
    assert done and result.reasoning == REASONING and "\ufffd" not in result.reasoning


def test_reasoning_details_is_never_counted_twice() -> None:
    result, _ = run_bytes([openrouter_stream()])
    assert result.reasoning.count("Compare tenths") == 1


def test_reasoning_details_alone_is_read() -> None:
    parser = ChunkParser()
    events = parser.feed(
        {
            "choices": [
                {
                    "index": 0,
                    "delta": {
                        "reasoning_details": [{"type": "reasoning.text", "text": "only here"}]
                    },
                }
            ]
        }
    )
    assert events == [ReasoningDelta("only here")]


def test_usage_chunk_with_empty_choices_and_cost() -> None:
    result, _ = run_bytes([openrouter_stream()])
    assert result.usage.prompt_tokens == 12 and result.usage.reasoning_tokens == 290
    assert result.cost == pytest.approx(0.0008) and result.cost_source == "server"
    assert (
        result.model == "deepseek/deepseek-r1"
        and result.provider == "DeepSeek"
        and result.id == "gen-1"
    )


def test_deepseek_usage_estimates_cost() -> None:
    result, _ = run_bytes([deepseek_stream()])
    assert result.cost_source == "estimate"
    assert result.cost == pytest.approx((12 * 0.70 + 300 * 2.50) / 1e6)


def test_sse_multiline_data_no_space_and_bare_cr() -> None:
    parser = SSEParser()
    events = parser.feed(b'data:{"a":\rdata: 1}\r\r: comment\r\ndata: x\r\n\r\n')
    assert [e.data for e in events] == ['{"a":\n1}', "x"]
    assert parser.comments == 1


def test_sse_does_not_split_on_unicode_line_separators() -> None:
    text = 'data: {"t": "a\u2028b\u0085c"}\n\n'
    events = SSEParser().feed(text.encode())
    assert json.loads(events[0].data)["t"] == "a\u2028b\u0085c"


def test_sse_event_without_final_blank_line_is_delivered_at_eof() -> None:
    parser = SSEParser()
    assert parser.feed(b"data: last") == []
    assert [e.data for e in parser.flush()] == ["last"]


def split_think(text: str, cuts: list[int]) -> tuple[str, str]:
    splitter = ThinkSplitter()
    reasoning, answer = [], []
    bounds = [0, *cuts, len(text)]
    events = []
    for a, b in zip(bounds, bounds[1:], strict=False):
        events += splitter.feed(text[a:b])
    events += splitter.flush()
    for e in events:
        if isinstance(e, ReasoningDelta):
            reasoning.append(e.text)
        elif isinstance(e, ContentDelta):
            answer.append(e.text)
        elif isinstance(e, ContentWasReasoning):
            reasoning.append("".join(answer))
            answer.clear()
    return "".join(reasoning).strip(), "".join(answer).strip()


@pytest.mark.parametrize(
    "text,expected",
    [
        ("<think>\nplan\n</think>\n\nanswer", ("plan", "answer")),
        ("plan without opening tag</think>answer", ("plan without opening tag", "answer")),
        ("<think>\n\n</think>\n\nonly answer", ("", "only answer")),
        ("plain answer, no tags at all", ("", "plain answer, no tags at all")),
        ("  \n<think>x</think>y", ("x", "y")),
        (
            "<think>a < b and </thinking> is not a tag</think>ok",
            ("a < b and </thinking> is not a tag", "ok"),
        ),
        (
            "<think>r</think>answer mentions </think> literally",
            ("r", "answer mentions </think> literally"),
        ),
    ],
)
def test_think_tags_at_every_split(text: str, expected: tuple[str, str]) -> None:
    for cut in range(len(text) + 1):
        assert split_think(text, [cut]) == expected, f"cut at {cut}"
    for a in range(len(text)):
        for b in range(a, len(text)):
            assert split_think(text, [a, b]) == expected


def test_llamacpp_legacy_inline_tags_with_reasoning_field_are_not_doubled() -> None:
    parser = ChunkParser()
    events = []
    events += parser.feed(
        {"choices": [{"delta": {"reasoning_content": "plan", "content": "<think>plan"}}]}
    )
    events += parser.feed(
        {"choices": [{"delta": {"content": "</think>answer"}, "finish_reason": "stop"}]}
    )
    acc = Accumulator()
    for e in events:
        acc.add(e)
    result = acc.snapshot(elapsed=0)
    assert (result.reasoning, result.answer) == ("plan", "answer")


def test_tool_call_fragments_merge_by_index() -> None:
    acc = Accumulator()
    parser = ChunkParser()
    chunks = [
        {
            "choices": [
                {
                    "delta": {
                        "tool_calls": [
                            {
                                "index": 0,
                                "id": "call_a",
                                "type": "function",
                                "function": {"name": "weather", "arguments": ""},
                            }
                        ]
                    }
                }
            ]
        },
        {"choices": [{"delta": {"tool_calls": [{"index": 0, "function": {"arguments": '{"ci'}}]}}]},
        {
            "choices": [
                {
                    "delta": {
                        "tool_calls": [
                            {
                                "index": 1,
                                "id": "call_b",
                                "function": {"name": "time", "arguments": "{}"},
                            }
                        ]
                    }
                }
            ]
        },
        {
            "choices": [
                {"delta": {"tool_calls": [{"index": 0, "function": {"arguments": 'ty": "Oslo"}'}}]}}
            ]
        },
        {"choices": [{"delta": {}, "finish_reason": "tool_calls"}]},
    ]
    for chunk in chunks:
        for e in parser.feed(chunk):
            acc.add(e)
    result = acc.snapshot(elapsed=0)
    assert [(c.id, c.name, c.args) for c in result.tool_calls] == [
        ("call_a", "weather", {"city": "Oslo"}),
        ("call_b", "time", {}),
    ]
    assert result.finish_reason == "tool_calls"


def test_servers_reusing_index_zero_for_parallel_calls() -> None:
    acc = Accumulator()
    for delta in [ToolCallDelta(0, "c1", "f", '{"x":1}'), ToolCallDelta(0, "c2", "g", '{"y":2}')]:
        acc.add(delta)
    calls = acc.tool_calls()
    assert [(c.id, c.name, c.arguments) for c in calls] == [
        ("c1", "f", '{"x":1}'),
        ("c2", "g", '{"y":2}'),
    ]


def test_in_stream_error_event_is_parsed_with_or_without_choices() -> None:
    from deepseek_magic.client._events import ErrorEvent

    for choices in ([{"index": 0, "delta": {"content": ""}, "finish_reason": "error"}], [], None):
        chunk = {"error": {"code": "server_error", "message": "Provider disconnected"}}
        if choices is not None:
            chunk["choices"] = choices
        errors = [e for e in ChunkParser().feed(chunk) if isinstance(e, ErrorEvent)]
        assert (
            errors
            and errors[0].message == "Provider disconnected"
            and errors[0].code == "server_error"
        )


# ---------------------------------------------------------------- the public pipeline
def _pipeline() -> Pipeline:
    from deepseek_magic.client._request import build_request
    from deepseek_magic.core._settings import resolve_settings

    request = build_request(
        [{"role": "user", "content": "q"}],
        resolve_settings(base_url="http://127.0.0.1:9/v1", env={}),
        {},
    )
    ticks = iter(range(100))
    return Pipeline(
        request,
        started=0.0,
        clock=lambda: float(next(ticks)),
        keep_chunks=False,
        max_reply_chars=1_000,
    )


def test_a_whole_json_reply_is_fed_in_one_call() -> None:
    body = {
        "choices": [
            {
                "message": {"role": "assistant", "content": "42", "reasoning_content": "6 * 7"},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 3, "completion_tokens": 5},
        "model": "m",
    }
    pipe = _pipeline()
    events = pipe.feed_json(b"\n\n" + json.dumps(body).encode())  # DeepSeek's blank keep-alives
    result = pipe.result()
    assert events and (result.answer, result.reasoning, result.finish_reason) == (
        "42",
        "6 * 7",
        "stop",
    )
    assert result.usage.completion_tokens == 5


@pytest.mark.parametrize(
    "raw, words",
    [
        (b"<html>busy</html>", "not JSON"),
        (b"[1, 2]", "not a JSON object"),
        (b"{}", "no choices"),
        (b"x" * 80_000, "cut off"),
    ],
)
def test_a_bad_json_reply_is_one_stream_error_with_the_partial_result(
    raw: bytes, words: str
) -> None:
    from deepseek_magic import StreamError

    with pytest.raises(StreamError, match=words) as info:
        _pipeline().feed_json(raw)
    assert info.value.partial is not None and "\n" not in str(info.value)
