"""The offline emulator: a real OpenAI-compatible chat-completions server on loopback.

It stands in for OpenRouter, DeepSeek's API and local servers (vLLM, Ollama,
llama.cpp) wherever a real model is not wanted: the test suite, the notebooks
under nbval, the benchmarks, and keyless Binder demos. Every default reply says
plainly that it comes from the deepseek-magic offline emulator, not from
DeepSeek R1. It uses only the standard library and imports nothing else from
``deepseek_magic``.

Wire format (see ``docs/wire-format.md``): ``POST /v1/chat/completions`` (also
``/api/v1/...``) answers with SSE when the body says ``"stream": true`` and with one
``chat.completion`` JSON otherwise; ``GET /v1/models`` lists the models in the dialect's
shape (OpenRouter's with pricing, ``context_length`` and ``supported_parameters``;
DeepSeek's ids; a local server's model);
``GET /health`` says it is up and how many TCP connections it has accepted
(``connections``, as :attr:`Emulator.connections_accepted`). The ``dialect`` chooses where
the reasoning goes:

============== =============================================================
openrouter     ``delta.reasoning`` + the same text in ``reasoning_details``;
               ``: OPENROUTER PROCESSING`` comments; ``cost`` in usage
deepseek       ``delta.reasoning_content`` (``content: null`` meanwhile);
               ``: keep-alive`` comments; cache-hit/miss usage; JSON bodies
               start with blank lines; today's API: serves only ``deepseek-flash``
               & co. (a retired or unknown name gets DeepSeek's 400 error body),
               honours ``thinking``, and refuses a tool turn without
               ``reasoning_content`` in thinking mode
think          inline ``<think>\\n...\\n</think>\\n\\n`` in ``content``
think-noopen   as ``think`` without the opening ``<think>``
openai         no reasoning at all
vllm, ollama   ``delta.reasoning``; Ollama sends ``finish_reason`` with ``delta: {}``
               and drops ``think`` (its ``/v1`` reads only ``reasoning_effort``)
llamacpp       ``delta.reasoning_content``; ``reasoning_effort: none`` turns thinking
               off; ``GET /props`` gives the per-slot context
sglang         ``delta.reasoning_content``; only ``chat_template_kwargs.thinking``
               switches thinking
============== =============================================================

OpenRouter's ``GET /models`` carries each model's ``reasoning`` object and the
emulator refuses, as the real one does, thinking off for a ``mandatory`` model (400),
an effort outside ``supported_efforts`` and a budget for one without
``supports_max_tokens``; DeepSeek's refuses a tool turn any of whose assistant messages
(the final answer included) comes back without ``reasoning_content``
(``_catalogues.py``, ``_dialect_rules.py``; wire-format.md section 11).

Every dialect honours its own thinking switch (``reasoning.effort: none``, ``thinking``,
``think``, ``chat_template_kwargs``): with thinking off the reply has no reasoning.

OpenRouter and DeepSeek always end a stream with a ``choices: []`` usage chunk;
the OpenAI-style servers (openai, vllm, ollama, llamacpp, think*) send it only when
the request asks with ``"stream_options": {"include_usage": true}``, like the real ones.

Usage::

    from deepseek_magic.emulator import Emulator, Reply, Fault, ToolCallSpec

    with Emulator(replies=[Reply(reasoning="Compare tenths.", answer="9.9 is larger.")]) as emu:
        ...  # point a client at emu.base_url
        emu.queue(Fault("status", status=429, headers={"Retry-After": "2"}))
        emu.queue(Fault("midstream_error", after_tokens=3))
        assert emu.requests[0]["messages"]

A :class:`Rule` (a script file's ``prompt`` / ``prompt_contains`` / ``when`` / ``samples``
entries, see ``_match.py``) answers every request it matches, whatever the order; other
items are handed out in turn, one per request (tests script faults that way); when
nothing answers, the ``responder(body)`` callable decides, else a labelled default reply
restates the question and says it is the emulator. From a shell:
``python -m deepseek_magic.emulator --help``.
"""

from __future__ import annotations

from ._base import RequestRecord
from ._match import Rule
from ._script import (
    DEFAULT_REPLY_LABEL,
    DIALECTS,
    FAULT_KINDS,
    Dialect,
    Fault,
    FaultKind,
    Matched,
    Reply,
    Script,
    ToolCallSpec,
    default_reply,
    load_script,
    tokenize,
)
from ._server import Emulator

__all__ = [
    "DEFAULT_REPLY_LABEL",
    "DIALECTS",
    "FAULT_KINDS",
    "Dialect",
    "Emulator",
    "Fault",
    "FaultKind",
    "Matched",
    "Reply",
    "RequestRecord",
    "Rule",
    "Script",
    "ToolCallSpec",
    "default_reply",
    "load_script",
    "tokenize",
]
