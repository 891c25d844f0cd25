"""What the emulator answers on the catalogue endpoints, per dialect.

``GET /models`` as each server gives it today (``docs/wire-format.md`` section 11):
OpenRouter's entries with pricing, context length, supported parameters, the ``reasoning``
object (``mandatory``, ``supported_efforts``, ``default_effort``, ``supports_max_tokens``),
``expiration_date`` and ``top_provider``; DeepSeek's ids with ``context_window``,
``max_output_tokens`` and ``effort.supported_levels`` (no prices); a local server's loaded
model, llama-server's with its ``meta.n_ctx_train``. ``GET /props`` is llama-server's:
``default_generation_settings.n_ctx``, the per-slot context. :func:`openrouter_model` is
what the OpenRouter dialect's refusals read, so the emulator refuses what it publishes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ._script import DEEPSEEK_SERVED, DEFAULT_MODEL

__all__ = [
    "LLAMACPP_SLOT_CONTEXT",
    "LLAMACPP_TRAIN_CONTEXT",
    "OPENROUTER_MODELS",
    "models_body",
    "openrouter_model",
    "props_body",
]

#: OpenRouter's R1 endpoints advertise these (``GET /api/v1/models``)
OPENROUTER_R1_PARAMETERS = (
    "frequency_penalty",
    "include_reasoning",
    "max_tokens",
    "min_p",
    "presence_penalty",
    "reasoning",
    "repetition_penalty",
    "seed",
    "stop",
    "temperature",
    "tool_choice",
    "tools",
    "top_k",
    "top_p",
)
_HYBRID_PARAMETERS = tuple(p for p in OPENROUTER_R1_PARAMETERS if p not in ("min_p", "seed"))


def _openrouter(
    ident: str,
    name: str,
    prices: tuple[str, str],
    *,
    mandatory: bool,
    efforts: tuple[str, ...],
    budget: bool,
    context: int = 163840,
    most: int = 163840,
    expires: str | None = None,
    parameters: tuple[str, ...] = OPENROUTER_R1_PARAMETERS,
) -> dict[str, Any]:
    return {
        "id": ident,
        "name": f"{name} (offline emulator)",
        "object": "model",
        "context_length": context,
        "pricing": {"prompt": prices[0], "completion": prices[1]},
        "supported_parameters": list(parameters),
        "reasoning": {
            "mandatory": mandatory,
            "supported_efforts": list(efforts),
            "default_effort": "medium" if "medium" in efforts else efforts[-1],
            "default_enabled": mandatory,
            "supports_max_tokens": budget,
        },
        "expiration_date": expires,
        "top_provider": {"context_length": context, "max_completion_tokens": most},
        "description": "The deepseek-magic offline emulator; no model is running.",
    }


#: OpenRouter's DeepSeek models as the emulator lists them: R1 and R1 0528 reason always
#: (``mandatory``; 0528 takes no token budget and may be removed after its expiration
#: date), V4.1 Flash is hybrid (thinking can be off)
OPENROUTER_MODELS: tuple[dict[str, Any], ...] = (
    _openrouter(
        DEFAULT_MODEL,
        "DeepSeek: R1",
        ("0.0000007", "0.0000025"),
        mandatory=True,
        efforts=("low", "medium", "high"),
        budget=True,
    ),
    _openrouter(
        "deepseek/deepseek-r1-0528",
        "DeepSeek: R1 0528",
        ("0.0000005", "0.00000215"),
        mandatory=True,
        efforts=("low", "medium", "high"),
        budget=False,
        expires="2027-01-15",
    ),
    _openrouter(
        "deepseek/deepseek-v4.1-flash",
        "DeepSeek: V4.1 Flash",
        ("0.0000003", "0.0000012"),
        mandatory=False,
        efforts=("none", "low", "medium", "high", "xhigh"),
        budget=False,
        context=1048576,
        most=393216,
        parameters=_HYBRID_PARAMETERS,
    ),
)
_OPENROUTER_BY_ID = {m["id"]: m for m in OPENROUTER_MODELS}

#: llama-server's per-slot context (``/props``) and its model's training context
LLAMACPP_SLOT_CONTEXT = 4096
LLAMACPP_TRAIN_CONTEXT = 131072
_OWNER = {"vllm": "vllm", "llamacpp": "llamacpp", "ollama": "library", "sglang": "sglang"}


def openrouter_model(model: Any) -> Mapping[str, Any] | None:
    """The emulator's OpenRouter catalogue entry for ``model``, if it lists one."""
    return _OPENROUTER_BY_ID.get(model) if isinstance(model, str) else None


def models_body(dialect: str) -> dict[str, Any]:
    """``GET /models`` in the dialect's shape (see the module docstring)."""
    if dialect == "openrouter":
        data = [dict(m) for m in OPENROUTER_MODELS]
    elif dialect == "deepseek":
        data = [
            {
                "id": m,
                "object": "model",
                "owned_by": "deepseek",
                "context_window": 1048576,
                "max_output_tokens": 393216,
                "effort": {"supported_levels": ["low", "high", "max"]},
            }
            for m in DEEPSEEK_SERVED
        ]
    else:
        entry: dict[str, Any] = {
            "id": DEFAULT_MODEL,
            "object": "model",
            "owned_by": _OWNER.get(dialect, "emulator"),
        }
        if dialect == "llamacpp":
            entry["meta"] = {"n_ctx_train": LLAMACPP_TRAIN_CONTEXT, "n_vocab": 129280}
        data = [entry]
    return {"object": "list", "data": data}


def props_body(dialect: str) -> dict[str, Any] | None:
    """llama-server's ``GET /props`` (None for the dialects that have no such route)."""
    if dialect != "llamacpp":
        return None
    return {
        "default_generation_settings": {"n_ctx": LLAMACPP_SLOT_CONTEXT, "params": {}},
        "total_slots": 1,
        "model_path": "emulator.gguf",
    }
