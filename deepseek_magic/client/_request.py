"""One request: messages + validated options + settings -> the JSON body.

Pure: nothing here sends anything. ``build_request`` is where the options, spelled for
the provider by ``_providers.plan_options``, meet the prompt, the model and any extra
JSON fields.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..core._errors import OptionError
from ..core._providers import ModelRules, OptionPlan, plan_options
from ..core._settings import Settings

__all__ = ["Request", "build_request", "normalize_messages", "RESERVED_FIELDS"]

#: body fields that ``extra`` may not override (they are set from their own arguments)
RESERVED_FIELDS = frozenset({"messages", "stream", "model"})

Message = Mapping[str, Any]


@dataclass(frozen=True)
class Request:
    """A ready request: the full JSON body and the settings it goes with."""

    body: Mapping[str, Any]
    settings: Settings = field(repr=False)
    #: the Python functions offered as tools, by name (kept out of the body)
    tool_functions: Mapping[str, Any] = field(default_factory=dict, repr=False)
    #: what happened to each option the user set: sent, ignored by the server, not sent
    plan: OptionPlan = field(default_factory=lambda: OptionPlan({}), repr=False)
    #: dollars per token for estimates (a ``_catalogue.Price``; None = the seed's)
    price: Any = field(default=None, repr=False)

    @property
    def messages(self) -> tuple[Message, ...]:
        return tuple(self.body["messages"])

    @property
    def params(self) -> dict[str, Any]:
        """The body without the messages: what the user would call "the options"."""
        return {k: v for k, v in self.body.items() if k != "messages"}

    @property
    def stream(self) -> bool:
        return bool(self.body.get("stream"))


def normalize_messages(
    prompt: str | Sequence[Message], *, system: str | None = None
) -> list[dict[str, Any]]:
    """A prompt string or a list of chat messages -> a checked list of message dicts."""
    if isinstance(prompt, str):
        if not prompt.strip():
            raise OptionError(
                "The prompt is empty: write the question in the cell (or after %deepseek).",
                option="prompt",
            )
        messages = [{"role": "user", "content": prompt}]
    elif isinstance(prompt, Sequence):
        messages = []
        for i, message in enumerate(prompt):
            if not isinstance(message, Mapping) or "role" not in message:
                raise OptionError(
                    f"Message {i} is not a chat message (a dict with 'role' and 'content').",
                    option="messages",
                )
            messages.append(dict(message))
        if not messages:
            raise OptionError("The message list is empty.", option="messages")
    else:
        raise OptionError(
            f"The prompt must be a string or a list of messages, not {type(prompt).__name__}.",
            option="prompt",
        )
    if system:
        if messages and messages[0].get("role") == "system":
            messages[0] = {"role": "system", "content": system}
        else:
            messages.insert(0, {"role": "system", "content": system})
    return messages


def build_request(
    messages: Sequence[Message],
    settings: Settings,
    options: Mapping[str, Any],
    *,
    stream: bool = True,
    extra: Mapping[str, Any] | None = None,
    tool_specs: list[dict[str, Any]] | None = None,
    tool_functions: Mapping[str, Any] | None = None,
    implied: Mapping[str, Any] | None = None,
    supported: frozenset[str] | None = None,
    price: Any = None,
    rules: ModelRules | None = None,
) -> Request:
    """The body for ``messages`` with validated ``options`` (see ``validate_options``).

    ``extra`` adds fields the option table does not know (OpenRouter's ``provider``
    routing, ``models`` fallbacks, ``plugins`` ...); it may not replace ``model``,
    ``messages`` or ``stream``, nor an option given explicitly; a field the provider
    documents as deprecated is left out and reported (``plan.not_sent``).
    ``implied``, ``supported`` and ``rules`` go to :func:`~._providers.plan_options`.
    """
    provider = settings.provider
    plan = plan_options(
        options,
        provider,
        implied=implied,
        supported=supported,
        tool_specs=tool_specs,
        rules=rules,
    )
    body: dict[str, Any] = {"model": settings.model, "messages": [dict(m) for m in messages]}
    body.update(plan.body)
    if extra:
        clash = sorted(set(extra) & (RESERVED_FIELDS | set(body)))
        if clash:
            raise OptionError(
                f"--extra may not set {', '.join(clash)}; use their own options.", option="extra"
            )
        try:
            json.dumps(dict(extra), allow_nan=False)  # as strict as httpx will be when it sends
        except (TypeError, ValueError) as exc:
            raise OptionError(f"--extra is not JSON-serialisable: {exc}.", option="extra") from None
        deprecated = provider.deprecated_fields
        dropped = {f"extra.{k}": deprecated[k] for k in extra if k in deprecated}
        body.update({k: v for k, v in extra.items() if k not in provider.deprecated_fields})
        if dropped:
            plan = dataclasses.replace(plan, not_sent={**plan.not_sent, **dropped})
    body["stream"] = stream
    if stream and provider.stream_usage_on_request and "stream_options" not in body:
        # Local servers report token usage in a stream only when asked (OpenRouter and
        # DeepSeek always do); --extra may still set it otherwise.
        body["stream_options"] = {"include_usage": True}
    return Request(
        body=body,
        settings=settings,
        tool_functions=dict(tool_functions or {}),
        plan=plan,
        price=price,
    )
