"""What each emulated server refuses, on top of ``_script.refusal`` (a model DeepSeek does
not serve): the requests ``docs/wire-format.md`` section 11 says the real one refuses.

* OpenRouter: a model whose catalogue entry says ``reasoning.mandatory`` refuses thinking
  off or effort ``none`` with ``400 "Reasoning is mandatory for this endpoint and cannot be
  disabled"``; an effort outside ``supported_efforts`` and a reasoning token budget for a
  model with ``supports_max_tokens: false`` are refused as well (the client must never
  send them: a 400 makes a test that sends one fail).
* DeepSeek (thinking mode): every assistant message of a turn that called a tool, the
  final answer of that turn included, must carry ``reasoning_content`` in later requests,
  else ``400 "The reasoning_content in the thinking mode must be passed back to the API."``

What a server drops in silence (Ollama's ``/v1`` has no ``think`` field) is played by
``_script.thinking_off``, which reads only the switches each server honours.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ._catalogues import openrouter_model
from ._script import deepseek_error, error_body, refusal, thinking_off

__all__ = ["MANDATORY_MESSAGE", "REASONING_BACK_MESSAGE", "dialect_refusal"]

MANDATORY_MESSAGE = "Reasoning is mandatory for this endpoint and cannot be disabled"
REASONING_BACK_MESSAGE = (
    "The reasoning_content in the thinking mode must be passed back to the API."
)


def dialect_refusal(body: Mapping[str, Any], dialect: str) -> tuple[int, dict[str, Any]] | None:
    """The error this dialect's server gives for ``body``, or None when it accepts it."""
    refused = refusal(body, dialect)
    if refused is not None:
        return refused
    if dialect == "openrouter":
        return _openrouter(body)
    if dialect == "deepseek" and not thinking_off(body, dialect):
        return _deepseek_turns(body)
    return None


def _openrouter(body: Mapping[str, Any]) -> tuple[int, dict[str, Any]] | None:
    entry = openrouter_model(body.get("model"))
    if entry is None:
        return None
    rules = entry["reasoning"]
    reasoning = body.get("reasoning")
    reasoning = reasoning if isinstance(reasoning, Mapping) else {}
    effort = reasoning.get("effort", body.get("reasoning_effort"))
    if rules["mandatory"] and thinking_off(body, "openrouter"):
        return 400, error_body(400, MANDATORY_MESSAGE)
    if effort is not None and effort not in rules["supported_efforts"]:
        return 400, error_body(400, f"Reasoning effort {effort!r} is not supported by this model")
    if "max_tokens" in reasoning and not rules["supports_max_tokens"]:
        return 400, error_body(400, "reasoning.max_tokens is not supported by this model")
    return None


def _deepseek_turns(body: Mapping[str, Any]) -> tuple[int, dict[str, Any]] | None:
    turn: list[Mapping[str, Any]] = []
    for message in [*(body.get("messages") or ()), {"role": "user"}]:
        if not isinstance(message, Mapping):
            continue
        if message.get("role") == "user":
            called = any(m.get("tool_calls") for m in turn)
            if called and any("reasoning_content" not in m for m in turn):
                return 400, deepseek_error(REASONING_BACK_MESSAGE)
            turn = []
        elif message.get("role") == "assistant":
            turn.append(message)
    return None
