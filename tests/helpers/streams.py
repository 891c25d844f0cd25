"""Recorded-style streams of each dialect, shared by the parser and client tests."""

from __future__ import annotations

import json
from typing import Any

REASONING = "Compare tenths: 9 vs 1. Émile écrit 数学 🙂 — so"
ANSWER = "**9.9** is larger than 9.11.\n\n| a | b |\n|---|---|\n| 1 | 2 |"


def sse(obj: Any) -> str:
    return (
        "data: " + (obj if isinstance(obj, str) else json.dumps(obj, ensure_ascii=False)) + "\n\n"
    )


def pieces(text: str, size: int = 7) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)]


def openrouter_stream(
    reasoning: str = REASONING, answer: str = ANSWER, *, crlf: bool = False
) -> bytes:
    base = {
        "id": "gen-1",
        "provider": "DeepSeek",
        "model": "deepseek/deepseek-r1",
        "object": "chat.completion.chunk",
        "created": 1,
    }
    out = [": OPENROUTER PROCESSING\n\n"]
    first = True
    for part in pieces(reasoning):
        delta: dict[str, Any] = {
            "content": "",
            "reasoning": part,
            "reasoning_details": [{"type": "reasoning.text", "text": part, "index": 0}],
        }
        if first:
            delta["role"] = "assistant"
            first = False
        out.append(sse({**base, "choices": [{"index": 0, "delta": delta, "finish_reason": None}]}))
        out.append(": OPENROUTER PROCESSING\n\n")
    for part in pieces(answer):
        out.append(
            sse(
                {
                    **base,
                    "choices": [
                        {
                            "index": 0,
                            "delta": {"content": part, "reasoning": None, "reasoning_details": []},
                        }
                    ],
                }
            )
        )
    out.append(
        sse(
            {
                **base,
                "choices": [
                    {
                        "index": 0,
                        "delta": {"content": ""},
                        "finish_reason": "stop",
                        "native_finish_reason": "stop",
                    }
                ],
            }
        )
    )
    out.append(
        sse(
            {
                **base,
                "choices": [],
                "usage": {
                    "prompt_tokens": 12,
                    "completion_tokens": 300,
                    "total_tokens": 312,
                    "completion_tokens_details": {"reasoning_tokens": 290},
                    "cost": 0.0008,
                },
            }
        )
    )
    out.append(sse("[DONE]"))
    text = "".join(out)
    if crlf:
        text = text.replace("\n", "\r\n")
    return text.encode("utf-8")


def deepseek_stream(reasoning: str = REASONING, answer: str = ANSWER) -> bytes:
    base = {"id": "x", "model": "deepseek-reasoner", "object": "chat.completion.chunk"}
    out = [
        ": keep-alive\n\n",
        sse(
            {
                **base,
                "choices": [
                    {
                        "index": 0,
                        "delta": {"role": "assistant", "content": None, "reasoning_content": ""},
                    }
                ],
            }
        ),
    ]
    for part in pieces(reasoning):
        out.append(
            sse(
                {
                    **base,
                    "choices": [
                        {"index": 0, "delta": {"content": None, "reasoning_content": part}}
                    ],
                }
            )
        )
    for part in pieces(answer):
        out.append(
            sse(
                {
                    **base,
                    "choices": [
                        {"index": 0, "delta": {"content": part, "reasoning_content": None}}
                    ],
                }
            )
        )
    out.append(
        sse({**base, "choices": [{"index": 0, "delta": {"content": ""}, "finish_reason": "stop"}]})
    )
    out.append(
        sse(
            {
                **base,
                "choices": [],
                "usage": {
                    "prompt_tokens": 12,
                    "completion_tokens": 300,
                    "prompt_cache_hit_tokens": 0,
                    "prompt_cache_miss_tokens": 12,
                    "completion_tokens_details": {"reasoning_tokens": 290},
                },
            }
        )
    )
    out.append(sse("[DONE]"))
    return "".join(out).encode("utf-8")


def think_stream(
    reasoning: str = REASONING, answer: str = ANSWER, *, opening: bool = True, size: int = 5
) -> bytes:
    text = ("<think>\n" if opening else "") + reasoning + "\n</think>\n\n" + answer
    base = {"id": "x", "model": "r1-distill", "object": "chat.completion.chunk"}
    out = [
        sse({**base, "choices": [{"index": 0, "delta": {"content": part}}]})
        for part in pieces(text, size)
    ]
    out.append(sse({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}))
    out.append(sse("[DONE]"))
    return "".join(out).encode("utf-8")
