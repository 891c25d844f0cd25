"""What the emulator says, and the pure functions that turn it into wire chunks.

This module owns the values a test scripts (:class:`Reply`, :class:`Fault`,
:class:`ToolCallSpec`), the tokeniser, and the per-dialect JSON shapes of
chat-completion chunks and bodies (see ``docs/wire-format.md`` for where each
shape comes from). Nothing here does I/O except :func:`load_script`, which reads
one file; the server (``_server.py``) only decides *when* to write what these
functions build.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from http import HTTPStatus
from pathlib import Path
from typing import Any, Literal, get_args

from ._match import (
    Rule,
    _text_of,
    is_rule_entry,
    looks_like_recording,
    rule_from_mapping,
    rules_from_recording,
)

__all__ = [
    "DEFAULT_MODEL",
    "DIALECTS",
    "FAULT_KINDS",
    "Chunk",
    "Dialect",
    "Fault",
    "FaultKind",
    "Matched",
    "Reply",
    "Rule",
    "Script",
    "StreamContext",
    "ToolCallSpec",
    "DEFAULT_REPLY_LABEL",
    "default_reply",
    "load_script",
    "tokenize",
]

Dialect = Literal[
    "openrouter",
    "deepseek",
    "think",
    "think-noopen",
    "openai",
    "vllm",
    "ollama",
    "llamacpp",
    "sglang",
]
FaultKind = Literal[
    "status",
    "midstream_error",
    "drop",
    "stall",
    "malformed",
    "no_done",
    "keepalive_forever",
    "huge",
    "redirect",
    "after_done",
]
DIALECTS: tuple[str, ...] = get_args(Dialect)
FAULT_KINDS: tuple[str, ...] = get_args(FaultKind)

DEFAULT_MODEL = "deepseek/deepseek-r1"
#: The seed's R1 prices in US dollars per token (OpenRouter reports ``cost`` in credits = dollars).
PRICE_PROMPT = 0.70 / 1_000_000
PRICE_COMPLETION = 2.50 / 1_000_000

# One "token" = optional leading whitespace + up to six ASCII word characters (about
# a short English word), or up to two other word characters (CJK), or one other
# character (punctuation, emoji). Whitespace stays attached so "".join(tokens) == text
# for any text; a trailing whitespace run is a token of its own.
_TOKEN_RE = re.compile(r"\s*(?:[A-Za-z0-9_]{1,6}|\w{1,2}|[^\w\s])|\s+")


def tokenize(text: str) -> list[str]:
    """Split ``text`` into rough tokens whose concatenation is exactly ``text``."""
    return _TOKEN_RE.findall(text)


# --------------------------------------------------------------------------- values


@dataclass(frozen=True)
class ToolCallSpec:
    """One tool call the scripted model makes. ``arguments`` is JSON text (a dict is dumped)."""

    name: str
    arguments: str = "{}"
    id: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.arguments, str):
            object.__setattr__(self, "arguments", json.dumps(self.arguments, ensure_ascii=False))


@dataclass(frozen=True)
class Reply:
    """A scripted model reply: reasoning, answer and/or tool calls.

    ``finish_reason`` defaults to ``"tool_calls"`` when there are tool calls, else
    ``"stop"``. ``usage=None`` means computed (see :func:`compute_usage`); ``cost``
    overrides the OpenRouter cost; ``model`` defaults to the request's model;
    ``dialect`` overrides the emulator's dialect for this reply only.
    ``split_think_tags`` cuts ``</think>`` across two chunks and ``empty_think``
    emits ``<think>\\n\\n</think>`` (think dialects).
    """

    reasoning: str = ""
    answer: str = ""
    tool_calls: Sequence[ToolCallSpec] = ()
    finish_reason: str | None = None
    usage: Mapping[str, Any] | None = field(default=None, hash=False)
    cost: float | None = None
    model: str | None = None
    provider: str = "Emulator"
    dialect: str | None = None
    split_think_tags: bool = False
    empty_think: bool = False

    def __post_init__(self) -> None:
        calls = tuple(ToolCallSpec(**c) if isinstance(c, Mapping) else c for c in self.tool_calls)
        object.__setattr__(self, "tool_calls", calls)
        if self.dialect is not None and self.dialect not in DIALECTS:
            raise ValueError(f"unknown dialect {self.dialect!r}; choose from {', '.join(DIALECTS)}")

    @property
    def effective_finish_reason(self) -> str:
        if self.finish_reason is not None:
            return self.finish_reason
        return "tool_calls" if self.tool_calls else "stop"


@dataclass(frozen=True)
class Fault:
    """A scripted misbehaviour; ``kind`` says which, the other fields tune it.

    Fields by kind (unused ones are ignored):

    * ``status``: answer ``status`` with ``body`` (str or dict; default an
      OpenRouter-shaped error), ``content_type`` and extra ``headers``.
    * ``midstream_error``: ``after_tokens`` tokens, then an error event with
      ``code``/``message``/``error_type``; ``with_choices=False`` gives ``choices: []``;
      ``done=False`` leaves out ``[DONE]``.
    * ``drop``: ``after_tokens`` tokens, then the socket is shut (no end of body).
    * ``stall``: ``after_tokens`` tokens (or nothing, before the headers, with
      ``before_headers=True``), then silence for ``seconds`` (None = until stop()),
      then the rest of the reply.
    * ``malformed``: ``after_tokens`` tokens, then ``data: {not json``, then the rest
      (``then="continue"``) or the end of the body without ``[DONE]`` (``then="end"``).
    * ``no_done``: the whole reply without ``data: [DONE]``, then the connection closes.
    * ``keepalive_forever``: only comments every ``interval`` s for ``seconds`` (None = until
      the client leaves or stop()).
    * ``huge``: a normal reply whose answer is ``size`` bytes, generated while it is sent.
    * ``redirect``: ``status`` (307) with ``Location: location``; see :meth:`redirect`.
    * ``after_done``: the whole reply and ``[DONE]``, then ``size`` bytes of junk lines
      (a server that keeps sending after the end), then the end of the body.

    ``reply`` chooses the text streamed before the fault (default: the default reply).
    """

    kind: FaultKind
    status: int = 500
    body: str | Mapping[str, Any] | None = field(default=None, hash=False)
    content_type: str = "application/json"
    headers: Mapping[str, str] = field(default_factory=dict, hash=False)
    after_tokens: int = 0
    reply: Reply | None = None
    code: int | str = 502
    message: str | None = None
    error_type: str = "provider_unavailable"
    with_choices: bool = True
    done: bool = True
    seconds: float | None = None
    before_headers: bool = False
    interval: float = 1.0
    size: int = 1_000_000
    then: Literal["continue", "end"] = "continue"
    location: str = ""

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise ValueError(
                f"unknown fault kind {self.kind!r}; choose from {', '.join(FAULT_KINDS)}"
            )
        if isinstance(self.reply, Mapping):
            object.__setattr__(self, "reply", _reply_from_mapping(self.reply))

    @classmethod
    def redirect(cls, location: str, status: int = 307) -> Fault:
        """A redirect to ``location`` (absolute URL or path), to test Authorization handling."""
        return cls("redirect", status=status, location=location)


Script = Reply | Fault


@dataclass(frozen=True)
class Matched:
    """A scripted item chosen by the request's content, not by its turn: it answers every
    request whose last user message contains ``text`` (requests sent concurrently, in any
    order, each get their own reply). In a script file: ``"prompt_contains": "..."``."""

    text: str
    item: Script

    def matches(self, body: Mapping[str, Any]) -> bool:
        for message in reversed(body.get("messages") or []):
            if isinstance(message, Mapping) and message.get("role") == "user":
                return self.text in _text_of(message.get("content"))
        return False


# --------------------------------------------------------------------------- request helpers


def prompt_tokens(body: Mapping[str, Any]) -> int:
    """The emulator's prompt-token estimate: characters of all message text / 4."""
    messages = body.get("messages")
    chars = sum(len(_text_of(m.get("content"))) for m in messages or () if isinstance(m, Mapping))
    return max(1, (chars + 3) // 4)


#: how the default reply's answer starts: a lesson's test (and a reader) can tell it at once
DEFAULT_REPLY_LABEL = "**Offline emulator: no scripted reply for this question.**"


def default_reply(body: Mapping[str, Any]) -> Reply:
    """The reply when nothing scripted answers: shaped like R1's (reasoning, then an answer),
    it restates the question and says plainly that it is the emulator, not DeepSeek R1."""
    question = ""
    for message in reversed(body.get("messages") or []):
        if isinstance(message, Mapping) and message.get("role") == "user":
            question = _text_of(message.get("content")).strip()
            break
    if len(question) > 200:
        question = question[:200].rstrip() + "…"
    one_line = " ".join(question.split()) or "(no question)"
    quoted = "\n".join("> " + line for line in (question or "(no question)").splitlines())
    reasoning = (
        f'Okay, the question is: "{one_line}". Before answering I should say what I am: '
        "the deepseek-magic offline emulator, not DeepSeek R1. No model runs here; I can only "
        "play back replies a script holds, and the script has none for this question (with "
        "these options). So I will not make an answer up. I'll restate the question, say "
        "that it comes from the emulator, and say how to get a real answer."
    )
    answer = (
        f"{DEFAULT_REPLY_LABEL} This reply comes from the deepseek-magic offline emulator, "
        f"not from DeepSeek R1.\n\nYou asked:\n\n{quoted}\n\n"
        "The emulator only plays back scripted replies, and none matches this prompt. "
        "Set an API key (`%deepseek_key`, or `OPENROUTER_API_KEY`) to ask DeepSeek R1, "
        "or add a reply for this prompt to the lesson's script (`--script FILE`)."
    )
    return Reply(reasoning=reasoning, answer=answer)


# --------------------------------------------------------------------------- streaming


@dataclass(frozen=True)
class StreamContext:
    """Per-request facts every chunk repeats."""

    dialect: str
    gen_id: str
    created: int
    model: str
    provider: str
    prompt_tokens: int
    include_usage: bool = False  # the client sent stream_options.include_usage


@dataclass(frozen=True)
class Chunk:
    """One SSE data event and how many content tokens it carries (for fault positions)."""

    payload: Mapping[str, Any]
    tokens: int = 0

    def sse(self) -> bytes:
        return sse_data(self.payload)


def sse_data(payload: Mapping[str, Any]) -> bytes:
    text = json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
    return b"data: " + text.encode("utf-8") + b"\n\n"


_THINK = ("think", "think-noopen")
# The first chunk carries role in the same delta as content (OpenRouter, Ollama >= 0.32.6);
# the others send a role-only chunk first.
_ROLE_MERGED = ("openrouter", "ollama")
_ROLE_DELTA: dict[str, dict[str, Any]] = {
    "openrouter": {"role": "assistant", "content": ""},
    "deepseek": {"role": "assistant", "content": None, "reasoning_content": ""},
    "openai": {"role": "assistant", "content": "", "refusal": None},
    "vllm": {"role": "assistant", "content": ""},
    "ollama": {"role": "assistant", "content": ""},
    "llamacpp": {"role": "assistant", "content": None},
    "sglang": {"role": "assistant", "content": ""},
    "think": {"role": "assistant", "content": ""},
    "think-noopen": {"role": "assistant", "content": ""},
}
_FINISH_DELTA: dict[str, dict[str, Any]] = {
    "openrouter": {"content": ""},
    "deepseek": {"content": "", "reasoning_content": None},
    "vllm": {"content": ""},
    "think": {"content": ""},
    "think-noopen": {"content": ""},
}


#: what the ``after_done`` fault sends after ``[DONE]``, again and again
JUNK_LINE = b"data: junk after [DONE]\n\n"


def junk_pieces(size: int, piece: int = 4096) -> Iterator[bytes]:
    """``size`` bytes of :data:`JUNK_LINE` repeated, in pieces of about ``piece`` bytes."""
    block = JUNK_LINE * max(1, piece // len(JUNK_LINE))
    while size > 0:
        yield block[:size]
        size -= len(block)


def keepalive_comment(dialect: str) -> bytes:
    """The SSE comment a server sends while the model has not produced anything yet."""
    return b": OPENROUTER PROCESSING\n\n" if dialect == "openrouter" else b": keep-alive\n\n"


def _reasoning_delta(dialect: str, text: str) -> dict[str, Any] | None:
    if dialect == "openrouter":
        # The same text in both fields, as OpenRouter sends it: clients must read only one.
        detail = {"type": "reasoning.text", "text": text, "format": "unknown", "index": 0}
        return {"content": "", "reasoning": text, "reasoning_details": [detail]}
    if dialect == "deepseek":
        return {"content": None, "reasoning_content": text}
    if dialect == "vllm":
        return {"reasoning": text}
    if dialect == "ollama":
        return {"content": "", "reasoning": text}
    if dialect in ("llamacpp", "sglang"):
        return {"reasoning_content": text}
    return None  # openai: reasoning is hidden; think dialects put it in content


def _answer_delta(dialect: str, text: str) -> dict[str, Any]:
    if dialect == "deepseek":
        return {"content": text, "reasoning_content": None}
    return {"content": text}


def _tool_delta(dialect: str, fragment: dict[str, Any]) -> dict[str, Any]:
    if dialect == "deepseek":
        return {"content": None, "reasoning_content": None, "tool_calls": [fragment]}
    if dialect in ("openrouter", "ollama"):
        return {"content": "", "tool_calls": [fragment]}
    return {"tool_calls": [fragment]}


def envelope(ctx: StreamContext, choices: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    """A ``chat.completion.chunk`` with the fields this dialect repeats on every chunk."""
    if ctx.dialect == "openrouter":
        out: dict[str, Any] = {
            "id": ctx.gen_id,
            "provider": ctx.provider,
            "model": ctx.model,
            "object": "chat.completion.chunk",
            "created": ctx.created,
        }
    else:
        out = {
            "id": ctx.gen_id,
            "object": "chat.completion.chunk",
            "created": ctx.created,
            "model": ctx.model,
        }
        fingerprint = {"deepseek": "fp_emulator", "ollama": "fp_ollama"}.get(ctx.dialect)
        if fingerprint:
            out["system_fingerprint"] = fingerprint
    out["choices"] = choices
    out.update(extra)
    return out


def _choice(ctx: StreamContext, delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
    choice: dict[str, Any] = {"index": 0, "delta": delta, "finish_reason": finish}
    if ctx.dialect == "openrouter":
        choice["native_finish_reason"] = finish
    if ctx.dialect != "ollama":
        choice["logprobs"] = None
    if ctx.dialect == "vllm":
        choice["stop_reason"] = None
    return choice


class _Grouper:
    """Groups tokens ``per_chunk`` at a time, never straddling ``boundary`` (a fault position)."""

    def __init__(self, per_chunk: int, boundary: int | None) -> None:
        self.per_chunk = max(1, per_chunk)
        self.boundary = boundary
        self.count = 0

    def groups(self, tokens: Iterable[str]) -> Iterator[tuple[str, int]]:
        buf: list[str] = []
        for token in tokens:
            buf.append(token)
            if len(buf) >= self.per_chunk or self.count + len(buf) == self.boundary:
                self.count += len(buf)
                yield "".join(buf), len(buf)
                buf = []
        if buf:
            self.count += len(buf)
            yield "".join(buf), len(buf)


def _think_pieces(
    reply: Reply,
    dialect: str,
    reasoning: list[tuple[str, int]],
) -> tuple[list[tuple[str, int]], str]:
    """Content pieces for the inline ``<think>`` dialects and the text to put before the answer."""
    if not reasoning and not reply.empty_think:
        return [], ""
    pieces = [] if dialect == "think-noopen" else [("<think>\n", 0)]
    pieces += reasoning
    if not reply.split_think_tags:
        return pieces + [("\n</think>\n\n", 0)], ""
    # "…</thi" + "nk>…": a parser must hold back a tail that may start a tag.
    if pieces:
        text, n = pieces[-1]
        pieces[-1] = (text + "\n</thi", n)
    else:
        pieces = [("\n</thi", 0)]
    return pieces, "nk>\n\n"


def content_chunks(
    reply: Reply,
    ctx: StreamContext,
    tokens_per_chunk: int = 1,
    *,
    answer_tokens: Iterable[str] | None = None,
    boundary: int | None = None,
) -> Iterator[Chunk]:
    """The chunks of a reply up to (not including) the finish chunk.

    ``answer_tokens`` replaces the answer's tokens (the huge fault streams a generated
    answer); ``boundary`` is a token count no chunk may straddle, so a fault can cut
    the stream after exactly that many tokens.
    """
    dialect = ctx.dialect
    grouper = _Grouper(tokens_per_chunk, boundary)
    pending_role = True

    def emit(delta: dict[str, Any], tokens: int) -> Chunk:
        nonlocal pending_role
        if pending_role and dialect in _ROLE_MERGED:
            delta = {"role": "assistant", **delta}
        pending_role = False
        return Chunk(envelope(ctx, [_choice(ctx, delta)]), tokens)

    if dialect not in _ROLE_MERGED:
        pending_role = False
        yield Chunk(envelope(ctx, [_choice(ctx, dict(_ROLE_DELTA[dialect]))]), 0)

    reasoning_tokens = [] if reply.empty_think else tokenize(reply.reasoning)
    answer_iter: Iterable[str] = tokenize(reply.answer) if answer_tokens is None else answer_tokens
    if dialect == "openai":
        reasoning_tokens = []  # OpenAI never shows reasoning text

    carry = ""
    if dialect in _THINK:
        pieces, carry = _think_pieces(reply, dialect, list(grouper.groups(reasoning_tokens)))
        for text, n in pieces:
            yield emit({"content": text}, n)
    else:
        for text, n in grouper.groups(reasoning_tokens):
            yield emit(_reasoning_delta(dialect, text) or {}, n)

    for text, n in grouper.groups(answer_iter):
        yield emit(_answer_delta(dialect, carry + text), n)
        carry = ""
    if carry:
        yield emit(_answer_delta(dialect, carry), 0)

    for index, call in enumerate(reply.tool_calls):
        call_id = call.id or f"call_{ctx.gen_id}_{index}"
        head: dict[str, Any] = {
            "index": index,
            "id": call_id,
            "type": "function",
            "function": {"name": call.name, "arguments": ""},
        }
        if dialect == "ollama":  # Ollama sends each call whole, in one delta
            head["function"]["arguments"] = call.arguments
            yield emit(_tool_delta(dialect, head), len(tokenize(call.arguments)))
            continue
        yield emit(_tool_delta(dialect, head), 0)
        for text, n in grouper.groups(tokenize(call.arguments)):
            yield emit(_tool_delta(dialect, {"index": index, "function": {"arguments": text}}), n)

    if pending_role:  # nothing at all was said: still announce the role
        yield emit({"content": ""}, 0)


def finish_chunk(reply: Reply, ctx: StreamContext) -> Chunk:
    delta = dict(_FINISH_DELTA.get(ctx.dialect, {}))
    return Chunk(envelope(ctx, [_choice(ctx, delta, reply.effective_finish_reason)]))


def compute_usage(
    reply: Reply, ctx: StreamContext, answer_count: int | None = None
) -> dict[str, Any]:
    """``usage`` in the dialect's shape; ``reply.usage`` wins if the script gave one."""
    if reply.usage is not None:
        return dict(reply.usage)
    reasoning = 0 if reply.empty_think else len(tokenize(reply.reasoning))
    answer = len(tokenize(reply.answer)) if answer_count is None else answer_count
    prompt, completion = ctx.prompt_tokens, reasoning + answer
    usage: dict[str, Any] = {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }
    if ctx.dialect == "openrouter":
        cost = (
            reply.cost
            if reply.cost is not None
            else round(prompt * PRICE_PROMPT + completion * PRICE_COMPLETION, 10)
        )
        usage.update(
            prompt_tokens_details={"cached_tokens": 0},
            completion_tokens_details={"reasoning_tokens": reasoning},
            cost=cost,
            is_byok=False,
        )
    elif ctx.dialect == "deepseek":
        usage.update(
            prompt_tokens_details={"cached_tokens": 0},
            prompt_cache_hit_tokens=0,
            prompt_cache_miss_tokens=prompt,
            completion_tokens_details={"reasoning_tokens": reasoning},
        )
    elif ctx.dialect == "openai":
        usage["completion_tokens_details"] = {"reasoning_tokens": reasoning}
    return usage


def usage_chunk(reply: Reply, ctx: StreamContext, answer_count: int | None = None) -> Chunk | None:
    """The final ``choices: []`` usage chunk, or None when this dialect would not send one.

    OpenRouter always sends it (documented); DeepSeek is emulated as always sending it;
    the OpenAI-style local servers send it only when the client asked with
    ``stream_options.include_usage``.
    """
    if ctx.dialect not in ("openrouter", "deepseek") and not ctx.include_usage:
        return None
    return Chunk(envelope(ctx, [], usage=compute_usage(reply, ctx, answer_count)))


def error_chunk(fault: Fault, ctx: StreamContext) -> Chunk:
    """OpenRouter's mid-stream error event (HTTP status stays 200)."""
    error = {
        "code": fault.code,
        "message": fault.message or "Provider disconnected unexpectedly",
        "metadata": {"error_type": fault.error_type},
    }
    choices = (
        [{"index": 0, "delta": {"content": ""}, "finish_reason": "error"}]
        if fault.with_choices
        else []
    )
    payload = {
        "id": ctx.gen_id,
        "object": "chat.completion.chunk",
        "created": ctx.created,
        "model": ctx.model,
        "provider": ctx.provider,
        "error": error,
        "choices": choices,
    }
    return Chunk(payload)


# --------------------------------------------------------------------------- non-streaming


def inline_think(reply: Reply, dialect: str) -> str:
    """The content of a think dialect: reasoning inside ``<think>`` tags, then the answer."""
    if not reply.reasoning and not reply.empty_think:
        return reply.answer
    opening = "" if dialect == "think-noopen" else "<think>\n"
    reasoning = "" if reply.empty_think else reply.reasoning
    return f"{opening}{reasoning}\n</think>\n\n{reply.answer}"


def completion_body(
    reply: Reply,
    ctx: StreamContext,
    answer_count: int | None = None,
) -> dict[str, Any]:
    """A whole ``chat.completion`` object (``"stream": false``)."""
    dialect, reasoning = ctx.dialect, ("" if reply.empty_think else reply.reasoning)
    message: dict[str, Any] = {"role": "assistant", "content": reply.answer}
    if dialect in _THINK:
        message["content"] = inline_think(reply, dialect)
    elif dialect == "openrouter":
        message["reasoning"] = reasoning or None
        message["reasoning_details"] = (
            [{"type": "reasoning.text", "text": reasoning, "format": "unknown", "index": 0}]
            if reasoning
            else []
        )
    elif dialect == "deepseek":
        message["reasoning_content"] = reasoning
    elif dialect == "vllm":
        message["content"] = reply.answer or None
        message["reasoning"] = reasoning or None
    elif dialect in ("ollama", "llamacpp", "sglang") and reasoning:
        message["reasoning" if dialect == "ollama" else "reasoning_content"] = reasoning
    elif dialect == "openai":
        message["refusal"] = None
    if reply.tool_calls:
        message["tool_calls"] = [
            {
                "id": c.id or f"call_{ctx.gen_id}_{i}",
                "type": "function",
                "function": {"name": c.name, "arguments": c.arguments},
            }
            for i, c in enumerate(reply.tool_calls)
        ]
    finish = reply.effective_finish_reason
    choice: dict[str, Any] = {
        "index": 0,
        "message": message,
        "logprobs": None,
        "finish_reason": finish,
    }
    body: dict[str, Any] = {"id": ctx.gen_id}
    if dialect == "openrouter":
        choice["native_finish_reason"] = finish
        body["provider"] = ctx.provider
    body.update(model=ctx.model, object="chat.completion", created=ctx.created, choices=[choice])
    body["usage"] = compute_usage(reply, ctx, answer_count)
    return body


def truncate(reply: Reply, n_tokens: int) -> Reply:
    """The reply cut after its first ``n_tokens`` tokens (reasoning first, then answer)."""
    reasoning = tokenize(reply.reasoning)
    answer = tokenize(reply.answer)[: max(0, n_tokens - len(reasoning))]
    return replace(
        reply, reasoning="".join(reasoning[:n_tokens]), answer="".join(answer), tool_calls=()
    )


def error_body(status: int, message: str | None = None) -> dict[str, Any]:
    """An OpenRouter-shaped error body."""
    if message is None:
        try:
            message = HTTPStatus(status).phrase
        except ValueError:
            message = "Error"
    return {"error": {"code": status, "message": message}}


# --------------------------------------------------------------------------- today's servers

#: What DeepSeek's own API serves today (wire-format.md section 10), and the names it
#: retired on 2026-07-24. ``deepseek-v4-flash`` still answers, served by V4.1-Flash.
DEEPSEEK_SERVED = ("deepseek-flash", "deepseek-v4-flash", "deepseek-v4-pro")
DEEPSEEK_ANSWERS_AS = {"deepseek-v4-flash": "deepseek-flash"}
DEEPSEEK_RETIRED = ("deepseek-reasoner", "deepseek-chat")


def deepseek_error(message: str) -> dict[str, Any]:
    """DeepSeek's (OpenAI-style) error body."""
    return {
        "error": {
            "message": message,
            "type": "invalid_request_error",
            "param": None,
            "code": "invalid_request_error",
        }
    }


def thinking_off(body: Mapping[str, Any], dialect: str) -> bool:
    """Whether the request turns thinking off, as this dialect's server reads it."""
    if dialect == "openrouter":
        reasoning = body.get("reasoning")
        return isinstance(reasoning, Mapping) and (
            reasoning.get("effort") == "none" or reasoning.get("enabled") is False
        )
    if dialect == "deepseek":
        thinking = body.get("thinking")
        return isinstance(thinking, Mapping) and thinking.get("type") == "disabled"
    effort = body.get("reasoning_effort")
    if dialect == "ollama":  # /v1 has no `think` field: it is dropped (section 11)
        nested = body.get("reasoning")
        return effort == "none" or (isinstance(nested, Mapping) and nested.get("effort") == "none")
    kwargs = body.get("chat_template_kwargs")
    kwargs = kwargs if isinstance(kwargs, Mapping) else {}
    if dialect == "sglang":  # DeepSeek V3.1/V3.2 templates read `thinking` only
        return kwargs.get("thinking") is False
    if dialect == "llamacpp" and effort == "none":  # off whatever the template
        return True
    return kwargs.get("enable_thinking") is False or kwargs.get("thinking") is False


def refusal(body: Mapping[str, Any], dialect: str) -> tuple[int, dict[str, Any]] | None:
    """The error today's DeepSeek API gives for this request, if any: a model it does not
    serve (retired names included), or a tool turn without ``reasoning_content`` in
    thinking mode (wire-format.md sections 5 and 10)."""
    if dialect != "deepseek":
        return None
    if body.get("model") not in DEEPSEEK_SERVED:
        return 400, deepseek_error("Model Not Exist")
    if not thinking_off(body, dialect):
        for message in body.get("messages") or ():
            if (
                isinstance(message, Mapping)
                and message.get("role") == "assistant"
                and message.get("tool_calls")
                and "reasoning_content" not in message
            ):
                return 400, deepseek_error(
                    "The reasoning_content in the thinking mode must be passed back to the API."
                )
    return None


# --------------------------------------------------------------------------- huge replies

_HUGE_BLOCK = "The offline emulator streams a very long answer to test memory use. "
_HUGE_BLOCK_TOKENS = len(tokenize(_HUGE_BLOCK))


def huge_pieces(size: int) -> Iterator[str]:
    """``size`` bytes of ASCII text, one block at a time (never held whole)."""
    full, rest = divmod(max(0, size), len(_HUGE_BLOCK))
    for _ in range(full):
        yield _HUGE_BLOCK
    if rest:
        yield _HUGE_BLOCK[:rest]


def huge_tokens(size: int) -> Iterator[str]:
    for piece in huge_pieces(size):
        yield from tokenize(piece)


def huge_token_count(size: int) -> int:
    full, rest = divmod(max(0, size), len(_HUGE_BLOCK))
    return full * _HUGE_BLOCK_TOKENS + (len(tokenize(_HUGE_BLOCK[:rest])) if rest else 0)


# --------------------------------------------------------------------------- script files

_REPLY_KEYS = {f.name for f in fields(Reply)}
_FAULT_KEYS = {f.name for f in fields(Fault)}


def _reply_from_mapping(data: Mapping[str, Any]) -> Reply:
    unknown = set(data) - _REPLY_KEYS
    if unknown:
        raise ValueError(f"unknown reply keys {sorted(unknown)}; allowed: {sorted(_REPLY_KEYS)}")
    calls = [
        ToolCallSpec(**c) if isinstance(c, Mapping) else c for c in data.get("tool_calls") or ()
    ]
    return Reply(**{**data, "tool_calls": calls})


def _plain_item(data: Mapping[str, Any]) -> Script:
    """One reply, or a fault with ``"fault": {"kind": ..., ...}`` (the reply keys beside it
    choose the text streamed before the fault)."""
    if not isinstance(data, Mapping):
        raise ValueError(f"each reply must be an object, got {type(data).__name__}")
    reply_part = {k: v for k, v in data.items() if k != "fault"}
    if "fault" not in data:
        return _reply_from_mapping(reply_part)
    spec = dict(data["fault"])
    unknown = set(spec) - _FAULT_KEYS
    if unknown:
        raise ValueError(f"unknown fault keys {sorted(unknown)}; allowed: {sorted(_FAULT_KEYS)}")
    if reply_part and "reply" not in spec:
        spec["reply"] = _reply_from_mapping(reply_part)
    return Fault(**spec)


def script_item(data: Mapping[str, Any]) -> Script | Rule:
    """One script entry: reply keys, optionally with ``"fault": {"kind": ..., ...}``; with
    ``prompt``, ``prompt_contains``, ``when`` or ``samples`` it is a :class:`~._match.Rule`
    (chosen by the request; see ``_match.py``), else an item handed out in turn."""
    if not isinstance(data, Mapping):
        raise ValueError(f"each script entry must be an object, got {type(data).__name__}")
    if is_rule_entry(data):
        return rule_from_mapping(data, _plain_item)
    return _plain_item(data)


def load_script(path: str | Path) -> list[Script | Rule]:
    """Read a script from a JSON file, YAML (``.yaml``/``.yml``) with PyYAML, or a
    ``%deepseek_cache record`` file (JSON lines: one rule per recorded request).

    The file holds a list (or ``{"replies": [...]}``) of objects such as
    ``{"prompt": "What is 17 * 23?", "reasoning": "...", "answer": "391"}`` (a rule: see
    ``_match.py`` and ``notebooks/README.md``), or, for tests, unkeyed replies and faults
    handed out in turn: ``{"fault": {"kind": "status", "status": 429}}``.
    """
    path = Path(path)
    text = path.read_text(encoding="utf-8")
    first = text.lstrip().split("\n", 1)[0]
    if looks_like_recording(first):
        return [script_item(entry) for entry in rules_from_recording(text.splitlines())]
    if path.suffix.lower() in (".yaml", ".yml"):
        try:
            import yaml
        except ImportError:
            raise ImportError(
                f"{path} is YAML but PyYAML is not installed: `pip install pyyaml`, "
                "or write the script as JSON"
            ) from None
        data = yaml.safe_load(text)
    else:
        data = json.loads(text)
    if isinstance(data, Mapping) and "replies" in data:
        data = data["replies"]
    if not isinstance(data, list):
        raise ValueError(f"{path}: expected a list of replies, got {type(data).__name__}")
    return [script_item(item) for item in data]
