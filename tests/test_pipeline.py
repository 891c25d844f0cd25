"""bytes -> SSE -> chunks -> events -> Result, at every chunk boundary and in every dialect."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from deepseek_magic.client._accumulate import Accumulator
from deepseek_magic.client._events import (
    ChunkParser,
    ContentDelta,
    ContentWasReasoning,
    ErrorEvent,
    FinishEvent,
    MetaEvent,
    ReasoningDelta,
    ThinkSplitter,
    ToolCallDelta,
    UsageEvent,
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


# ------------------------------------------- the per-token shortcuts agree with the long way
# SSEParser works on bytes and ChunkParser answers the usual chunk in a few lookups
# (benchmarks/BENCHMARKS.md, streaming overhead); these tests hold both to the plain
# reading: a reference SSE decoder, and ChunkParser's full field reading (``_feed``).


def _reference_sse(data: bytes) -> tuple[list[tuple[str, str, str]], int]:
    """The WHATWG algorithm on the whole stream at once, written for clarity, not speed."""
    import re

    text = data.decode("utf-8", "replace").lstrip("\ufeff")
    out, buf, event, last_id, comments = [], [], "", "", 0
    for line in [*re.split("\r\n|\r|\n", text), ""]:
        if line == "":
            if buf or event:
                joined = "\n".join(buf)
                if joined or event:
                    out.append((joined, event, last_id))
            buf, event = [], ""
        elif line.startswith(":"):
            comments += 1
        else:
            name, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if name == "data":
                buf.append(value)
            elif name == "event":
                event = value
            elif name == "id" and "\0" not in value:
                last_id = value
    return out, comments


_SSE_BITS = [
    b"data:",
    b"data: ",
    b'data: {"k": "\xe6\x95\xb0"}\n\n',
    b"event: x",
    b"id: 7",
    b"id: \x00",
    b": keep-alive",
    b"\n",
    b"\r\n",
    b"\r",
    b"\n\n",
    b"\xef\xbb\xbf",
    b"\xe6\x95",
    b"\xb0",
    b"\xf0\x9f\x99\x82",
    b"\xff",
    "\u2028".encode(),
    b"x",
    b" ",
    b":",
]


@settings(max_examples=400, deadline=None)
@given(
    parts=st.lists(st.one_of(st.sampled_from(_SSE_BITS), st.binary(max_size=4)), max_size=30),
    cuts=st.lists(st.integers(0, 400), max_size=6),
    byte_by_byte=st.booleans(),
)
@example(parts=[b"\xef\xbb", b"\xbfdata: x\r", b"\n\r\n"], cuts=[1, 3, 12], byte_by_byte=False)
@example(parts=[b"data: \n\n", b'data: {"a": 1}\n\n'], cuts=[8], byte_by_byte=False)
def test_sse_parser_agrees_with_a_reference_decoder_at_any_cut(
    parts: list[bytes], cuts: list[int], byte_by_byte: bool
) -> None:
    data = b"".join(parts)
    if byte_by_byte:
        pieces = [data[i : i + 1] for i in range(len(data))]
    else:
        bounds = [0, *sorted(c for c in cuts if c < len(data)), len(data)]
        pieces = [data[a:b] for a, b in zip(bounds, bounds[1:], strict=False)]
    parser = SSEParser()
    events = [e for piece in pieces for e in parser.feed(piece)] + parser.flush()
    assert ([tuple(e) for e in events], parser.comments) == _reference_sse(data)


def test_sse_crlf_split_and_a_character_split_across_reads() -> None:
    parser = SSEParser()
    events = []
    for piece in (b"data: \xe6", b"\x95\xb0\r", b"\ndata: b\r", b"\n\r", b"\n"):
        events += parser.feed(piece)
    assert [e.data for e in events] == ["数\nb"]


def _events_both_ways(chunks: list[Any], think: bool = True) -> tuple[list[Any], list[Any]]:
    fast, slow = ChunkParser(parse_think_tags=think), ChunkParser(parse_think_tags=think)
    got = [e for c in chunks for e in fast.feed(c)] + fast.flush()
    want = [e for c in chunks for e in slow._feed(c)] + slow.flush()
    return got, want


def _delta(delta: dict[str, Any], **choice: Any) -> dict[str, Any]:
    return {"id": "gen-1", "choices": [{"index": 0, "delta": delta, **choice}]}


@pytest.mark.parametrize(
    "chunk,expected",
    [
        # two choices: only the first (index 0) is the reply
        (
            {
                "choices": [
                    {"index": 0, "delta": {"content": "a"}},
                    {"index": 1, "delta": {"content": "b"}},
                ]
            },
            [ContentDelta("a")],
        ),
        ({"choices": [{"index": 1, "delta": {"content": "b"}}]}, []),
        # a tool-call delta beside text
        (
            _delta({"content": "a", "tool_calls": [{"index": 0, "function": {"name": "f"}}]}),
            [ContentDelta("a"), ToolCallDelta(0, None, "f", "")],
        ),
        # both texts in one delta
        (_delta({"reasoning": "r", "content": "a"}), [ReasoningDelta("r"), ContentDelta("a")]),
        # DeepSeek's field behind an empty OpenRouter one
        (_delta({"reasoning": "", "reasoning_content": "r"}), [ReasoningDelta("r")]),
        # reasoning_details read only when neither reasoning field is there
        (
            _delta({"content": "a", "reasoning_details": [{"text": "d"}]}),
            [ReasoningDelta("d"), ContentDelta("a")],
        ),
        (
            _delta({"content": "a", "reasoning": None, "reasoning_details": [{"text": "d"}]}),
            [ContentDelta("a")],
        ),
        # a finish, usage and an error on a text chunk are not lost
        (_delta({"content": "a"}, finish_reason="stop"), [ContentDelta("a"), FinishEvent("stop")]),
        (
            {**_delta({"content": "a"}), "usage": {"completion_tokens": 3}},
            [ContentDelta("a"), UsageEvent({"completion_tokens": 3})],
        ),
        (
            {**_delta({"content": "a"}), "error": {"message": "m"}},
            [ContentDelta("a"), ErrorEvent("m")],
        ),
        # odd types are read as the long way reads them
        (_delta({"content": 5, "reasoning": "r"}), [ReasoningDelta("r")]),
        (_delta({"reasoning": 5, "reasoning_content": "r"}), [ReasoningDelta("r")]),
    ],
)
def test_chunks_off_the_shortcut_give_every_event(chunk: Any, expected: list[Any]) -> None:
    parser = ChunkParser()
    # the meta event out of the way, and plain answer text seen: the shortcut is open
    assert parser.feed({"id": "gen-1", "model": "m", "choices": []})
    assert parser.feed(_delta({"content": "warm"})) == [ContentDelta("warm")]
    assert parser.feed(chunk) == expected


def test_the_shortcut_still_sees_a_closing_think_tag_and_the_first_meta() -> None:
    chunks = [
        _delta({"content": "plan "}),
        _delta({"content": "more"}),  # plain answer text so far: the shortcut takes it
        _delta({"content": " end</think>\n\nanswer"}),  # ... until a tag may start
        _delta({"content": " and </think> kept"}),
    ]
    got, want = _events_both_ways(chunks)
    assert got == want
    assert isinstance(got[0], MetaEvent) and got[0].id == "gen-1"
    acc = Accumulator()
    for e in got:
        acc.add(e)
    result = acc.snapshot(elapsed=0)
    assert (result.reasoning, result.answer) == ("plan more end", "answer and </think> kept")


_DELTA_VALUES = st.sampled_from(
    [None, "", "x", " ", "<think>", "</think>", "a<b", "\n", 5, [], [{"text": "d"}]]
    + [[{"index": 0, "function": {"name": "f", "arguments": "{"}}]] * 3
)
_DELTAS = st.dictionaries(
    st.sampled_from(
        ["content", "reasoning", "reasoning_content", "reasoning_details", "tool_calls", "role"]
    ),
    _DELTA_VALUES,
    max_size=4,
)
_CHOICES = st.fixed_dictionaries(
    {"delta": _DELTAS},
    optional={
        "index": st.sampled_from([0, 1, None, "0", False]),
        "finish_reason": st.sampled_from([None, "", "stop", 1]),
    },
)
_NEAR_USUAL = st.fixed_dictionaries(
    {"choices": st.lists(_CHOICES, min_size=0, max_size=2)},
    optional={
        "id": st.sampled_from(["gen-1", "", None]),
        "model": st.sampled_from(["m", None]),
        "usage": st.sampled_from([None, {}, {"completion_tokens": 1}]),
        "error": st.sampled_from([None, "boom", {"message": "m"}]),
    },
)


@settings(max_examples=400, deadline=None)
@given(chunks=st.lists(_NEAR_USUAL, max_size=8), think=st.booleans())
def test_the_chunk_shortcut_gives_exactly_the_events_of_the_full_reading(
    chunks: list[dict[str, Any]], think: bool
) -> None:
    warm = [{"id": "gen-1", "choices": [{"delta": {"content": "warm"}}]}]  # the shortcut open
    got, want = _events_both_ways(warm + chunks, think)
    assert got == want


@pytest.mark.parametrize(
    "data, error",
    [
        ('{"choices": [{"delta": {"content": "kept"}}]}  ', None),  # trailing space: still JSON
        ('{"choices": []}{"choices": []}', "malformed chunk"),  # extra data after the object
        ('{"choices": [{"delta": {"content": "x"}}', "malformed chunk"),  # cut short
        ("{" * 100_000, "malformed chunk"),  # hostile nesting
        ('{"choices": [], "usage": {"cost": NaN}}', None),  # json.loads's constants
    ],
)
def test_chunks_the_fast_json_scan_does_not_take_whole_go_the_long_way(
    data: str, error: str | None
) -> None:
    from deepseek_magic import StreamError

    pipe = _pipeline()
    if error is None:
        pipe.feed(f"data: {data}\n\ndata: [DONE]\n\n".encode())
        assert pipe.done and pipe.error is None
        assert pipe.result().answer == ("kept" if "kept" in data else "")
    else:
        with pytest.raises(StreamError, match=error):
            pipe.feed(f"data: {data}\n\n".encode())
