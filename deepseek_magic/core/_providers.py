"""Every provider in one table: the only module that names a provider or its host.

A :class:`Provider` declares what differs between the servers we talk to: where it
lives and which key it takes, what the short name ``deepseek-r1`` means there, how each
request option is spelled in the JSON body, which options the server honours, ignores
(and in which mode) or cannot be sent at all, how reasoning efforts are remapped, which
headers it wants, how reasoning goes back in later turns, and how usage and cost are
read. Adding a provider is one entry in :data:`PROVIDERS` plus its tests; nothing else in
the package names one (``tests/test_providers.py`` checks).

Sources: ``docs/wire-format.md`` section 11 (checked 2026-12-07) first, then section 10,
then sections 1-7. Each entry says where its facts come from and when they were checked
(``source``, ``checked``, and ``fact_sources`` for a fact with a source of its own); the
README's provider table shows them. What a server publishes per model (reasoning mandatory,
supported efforts, output limits: ``GET /models``) is not in this table: it comes from the
catalogue as :class:`ModelRules` and decides per request.

:func:`plan_options` turns the options a user set into the body fields to send and the
three lists a user is shown: sent, sent but ignored by this server (or mode), not
sendable here. Nothing is dropped or ignored in silence.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal
from urllib.parse import urlsplit

from ._options import OPTION_BY_NAME, TOOL_CHOICES

__all__ = [
    "PROVIDERS",
    "SHORT_NAME",
    "EFFORT_ORDER",
    "ModelRules",
    "OptionPlan",
    "Provider",
    "detect_provider",
    "is_loopback",
    "option_reason",
    "plan_options",
    "provider_for_dialect",
]

#: the seed's short model name, resolved per provider
SHORT_NAME = "deepseek-r1"

ResendReasoning = Literal["always", "tool_turns"]

_EMPTY: Mapping[Any, Any] = MappingProxyType({})


def _frozen(mapping: Mapping[Any, Any] | None = None) -> Mapping[Any, Any]:
    return MappingProxyType(dict(mapping or {}))


@dataclass(frozen=True, eq=False)
class Provider:
    """What differs between the servers we talk to (one entry of :data:`PROVIDERS`)."""

    #: the ``--provider`` name
    name: str
    #: how people call it (README, messages)
    title: str
    #: where requests go when only the provider is chosen ("" = the user must give one)
    base_url: str
    #: host names (and their sub-domains) that mean this provider
    hosts: tuple[str, ...] = ()
    #: loopback ports that mean this local server flavour (its default port)
    ports: tuple[int, ...] = ()
    #: environment variable holding this provider's own key (read only for its hosts)
    key_env: str | None = None
    needs_key: bool = True
    key_url: str = ""
    #: short names mapped to this provider's ids (the catalogue's answer wins, see
    #: ``reasoning_models``)
    aliases: Mapping[str, str] = field(default_factory=lambda: _EMPTY)
    #: for the short name: the provider's current reasoning models, best first; the first
    #: one the catalogue lists is used (else the first here)
    reasoning_models: tuple[str, ...] = ()
    #: options implied when the short name is resolved (e.g. thinking on)
    alias_options: Mapping[str, Any] = field(default_factory=lambda: _EMPTY)
    #: names the provider no longer serves, with the date they stopped working
    retired: Mapping[str, str] = field(default_factory=lambda: _EMPTY)
    #: option name -> body path where it differs from the option table's own path
    spell: Mapping[str, tuple[str, ...]] = field(default_factory=lambda: _EMPTY)
    #: option name -> why it cannot be sent to this server (left out of the body)
    not_sendable: Mapping[str, str] = field(default_factory=lambda: _EMPTY)
    #: option name -> why the server accepts but ignores it (sent all the same)
    ignored: Mapping[str, str] = field(default_factory=lambda: _EMPTY)
    #: as ``ignored``, but only while the model is thinking
    ignored_thinking: Mapping[str, str] = field(default_factory=lambda: _EMPTY)
    #: the body fragment for ``thinking`` on (True) and off (False); empty = not sendable
    thinking: Mapping[bool, Mapping[str, Any]] = field(default_factory=lambda: _EMPTY)
    #: whether the server thinks when ``thinking`` is not set
    thinks_by_default: bool = True
    #: requested effort -> the level this server uses (absent = sent as given)
    effort_map: Mapping[str, str] = field(default_factory=lambda: _EMPTY)
    #: efforts this server cannot take at all, with the reason
    efforts_not_sendable: Mapping[str, str] = field(default_factory=lambda: _EMPTY)
    #: extra request headers
    headers: Mapping[str, str] = field(default_factory=lambda: _EMPTY)
    #: when the reasoning goes back in later requests: always, or only inside tool turns
    resend_reasoning: ResendReasoning = "tool_turns"
    #: the field for reasoning on assistant messages sent back
    reasoning_field: str = "reasoning"
    #: a tool turn's assistant message must carry the field, even empty (else HTTP 400)
    reasoning_required_in_tool_turn: bool = False
    #: a stream reports usage only when asked with ``stream_options.include_usage``
    stream_usage_on_request: bool = False
    #: body fields this provider documents as deprecated: never sent (``--extra`` included)
    deprecated_fields: Mapping[str, str] = field(default_factory=lambda: _EMPTY)
    #: a local server: costs nothing unless the user sets a price
    free: bool = False
    #: the emulator dialect that speaks like this provider (offline mode uses its rules)
    dialect: str | None = None
    #: why a web page (JupyterLite) cannot call it: it sends no CORS headers ("" = it can)
    browser_refusal: str = ""
    #: typed answers (``schema=``, ``features/_schema_run.METHODS``): how a JSON schema is
    #: asked for: "catalogue" (json_schema when the model lists structured outputs),
    #: "json_schema" (constrained decoding), "json_object" (JSON mode), "instructions"
    structured_output: str = "instructions"
    #: one line for the README's provider table
    note: str = ""
    #: where this entry's facts were taken from, and the day they were checked (ISO date)
    source: str = ""
    checked: str = ""
    #: fact (a field of this entry) -> its own "source, checked YYYY-MM-DD", where it
    #: differs from the entry's (every fact no server publishes carries a source)
    fact_sources: Mapping[str, str] = field(default_factory=lambda: _EMPTY)
    #: peak-price hours in UTC on Monday to Friday, as (start, end) pairs; any other time
    #: is off-peak, when the catalogue's ``off_peak`` prices apply (empty = one price)
    peak_hours_utc: tuple[tuple[int, int], ...] = ()
    #: a path on the server's root that reports the context a request can use (llama-server
    #: ``/props``); read with the catalogue
    context_endpoint: str = ""
    #: model id -> requests an account may have in flight at once, as the provider
    #: documents it (past it: 429); ``map()`` warns above it (limits can be raised)
    concurrent_requests: Mapping[str, int] = field(default_factory=lambda: _EMPTY)

    def resolve_model(self, model: str, served: tuple[str, ...] = ()) -> str:
        """``model`` as this provider spells it: the short name becomes the current
        reasoning model (the first of ``reasoning_models`` in ``served``, the ids the
        catalogue lists), an alias its id; any other name passes through."""
        model = self.aliases.get(model, model)
        if model == SHORT_NAME and self.reasoning_models:
            for candidate in self.reasoning_models:
                if candidate in served:
                    return candidate
            return self.reasoning_models[0]
        return model

    def is_short(self, model: str) -> bool:
        return model == SHORT_NAME or model in self.aliases

    def owns(self, base_url: str) -> bool:
        parts = urlsplit(base_url)
        host = (parts.hostname or "").lower()
        if any(host == h or host.endswith("." + h) for h in self.hosts):
            return True
        return bool(self.ports) and is_loopback(base_url) and parts.port in self.ports


# ----------------------------------------------------------------------- the table
_R1_DEEPSEEK_IGNORES = "DeepSeek ignores it in thinking mode"
_LOCAL_OFF = {
    True: {"chat_template_kwargs": {"enable_thinking": True, "thinking": True}},
    False: {"chat_template_kwargs": {"enable_thinking": False, "thinking": False}},
}
_OPENROUTER_ONLY = "an OpenRouter setting; this server has no such field"
_NO_BUDGET = "this server takes no reasoning token budget; use --reasoning-effort"
_WF11 = "wire-format.md section 11"
_CHECKED = "2026-12-07"
_LOCAL_COMMON: dict[str, Any] = dict(
    needs_key=False,
    free=True,
    stream_usage_on_request=True,
    not_sendable=_frozen(
        {
            "include_reasoning": _OPENROUTER_ONLY,
            "reasoning_exclude": _OPENROUTER_ONLY,
            "reasoning_enabled": _OPENROUTER_ONLY + " (use --thinking on)",
            "reasoning_max_tokens": _NO_BUDGET,
        }
    ),
    spell=_frozen(
        {"max_completion_tokens": ("max_tokens",), "reasoning_effort": ("reasoning_effort",)}
    ),
)

#: every provider by ``--provider`` name (a test may add one: ``monkeypatch.setitem``)
PROVIDERS: dict[str, Provider] = {
    p.name: p
    for p in (
        Provider(
            "openrouter",
            "OpenRouter",
            "https://openrouter.ai/api/v1",
            hosts=("openrouter.ai",),
            key_env="OPENROUTER_API_KEY",
            key_url="https://openrouter.ai/keys",
            aliases=_frozen({SHORT_NAME: "deepseek/deepseek-r1"}),
            thinking=_frozen(
                {True: {"reasoning": {"enabled": True}}, False: {"reasoning": {"effort": "none"}}}
            ),
            headers=_frozen(
                {
                    "HTTP-Referer": "https://github.com/deepseek-magic/deepseek-magic",
                    "X-OpenRouter-Title": "deepseek-magic",
                    "X-Title": "deepseek-magic",
                }
            ),
            resend_reasoning="always",
            reasoning_field="reasoning",
            deprecated_fields=_frozen(
                {
                    "usage": "OpenRouter deprecated usage.include: usage and cost always come back",
                    "stream_options": "OpenRouter deprecated stream_options.include_usage: "
                    "usage always comes back",
                }
            ),
            structured_output="catalogue",
            dialect="openrouter",
            note="R1 itself; unsupported parameters are ignored, not refused (see the catalogue's "
            "supported_parameters); per model, the catalogue's reasoning object decides whether "
            "thinking can be switched off and which efforts exist",
            source="openrouter.ai/docs; GET /api/v1/models (" + _WF11 + ")",
            checked=_CHECKED,
            fact_sources=_frozen(
                {
                    "thinking": "OpenRouter reasoning tokens docs (wire-format.md section 10), "
                    "checked 2026-11-30",
                    "deprecated_fields": "openrouter.ai/docs/use-cases/usage-accounting "
                    "(wire-format.md section 10), checked 2026-11-30",
                    "headers": "openrouter.ai/docs app attribution (wire-format.md section 1), "
                    "checked 2026-11-30",
                }
            ),
        ),
        Provider(
            "deepseek",
            "DeepSeek",
            "https://api.deepseek.com",
            hosts=("deepseek.com",),
            browser_refusal="DeepSeek's API does not accept requests from a web page (it sends "
            "no CORS headers), so it cannot be used from JupyterLite: use OpenRouter here "
            "(%deepseek_key, provider openrouter, the same R1), or run the notebook in Jupyter "
            "on a computer.",
            key_env="DEEPSEEK_API_KEY",
            key_url="https://platform.deepseek.com/api_keys",
            # the default model's OpenRouter id means the same here: today's reasoning model
            aliases=_frozen({"deepseek/deepseek-r1": SHORT_NAME}),
            reasoning_models=("deepseek-flash", "deepseek-v4-flash"),
            alias_options=_frozen({"thinking": True}),
            retired=_frozen({"deepseek-reasoner": "2026-07-24", "deepseek-chat": "2026-07-24"}),
            spell=_frozen(
                {
                    "max_completion_tokens": ("max_tokens",),
                    "reasoning_effort": ("reasoning_effort",),
                }
            ),
            not_sendable=_frozen(
                {
                    "include_reasoning": _OPENROUTER_ONLY,
                    "reasoning_exclude": _OPENROUTER_ONLY,
                    "reasoning_enabled": _OPENROUTER_ONLY + " (use --thinking on)",
                    "reasoning_max_tokens": "DeepSeek takes no reasoning token budget; "
                    "use --reasoning-effort",
                    "top_k": "not a DeepSeek API parameter",
                    "repetition_penalty": "not a DeepSeek API parameter",
                    "seed": "not a DeepSeek API parameter",
                }
            ),
            ignored_thinking=_frozen(
                {
                    "temperature": _R1_DEEPSEEK_IGNORES,
                    "presence_penalty": _R1_DEEPSEEK_IGNORES,
                    "frequency_penalty": _R1_DEEPSEEK_IGNORES,
                }
            ),
            thinking=_frozen(
                {True: {"thinking": {"type": "enabled"}}, False: {"thinking": {"type": "disabled"}}}
            ),
            effort_map=_frozen({"minimal": "low", "medium": "high", "xhigh": "high"}),
            efforts_not_sendable=_frozen(
                {"none": "DeepSeek has no effort none; use --thinking off"}
            ),
            resend_reasoning="tool_turns",
            reasoning_field="reasoning_content",
            reasoning_required_in_tool_turn=True,
            structured_output="json_object",
            dialect="deepseek",
            peak_hours_utc=((1, 4), (6, 10)),
            concurrent_requests=_frozen({"deepseek-flash": 2500, "deepseek-v4-pro": 500}),
            note="no R1 any more: deepseek-r1 means deepseek-flash (V4.1) in thinking mode "
            "(deepseek-v4-pro is served too); deepseek-reasoner retired 2026-07-24; USD prices "
            "peak / off-peak by the request's time (Chinese public holidays not applied)",
            source="api-docs.deepseek.com thinking mode, pricing (2026-11-15), updates ("
            + _WF11
            + ")",
            checked=_CHECKED,
            fact_sources=_frozen(
                {
                    "ignored_thinking": "api-docs.deepseek.com/guides/thinking_mode (top_p no "
                    "longer listed), checked 2026-12-07",
                    "effort_map": "api-docs.deepseek.com/guides/thinking_mode, checked 2026-12-07",
                    "thinking": "api-docs.deepseek.com/guides/thinking_mode, checked 2026-12-07",
                    "peak_hours_utc": "api-docs.deepseek.com/quick_start/pricing of 2026-11-15, "
                    "checked 2026-12-07",
                    "concurrent_requests": "api-docs.deepseek.com/quick_start/rate_limit ("
                    + _WF11
                    + "), checked 2026-12-07",
                    "retired": "api-docs.deepseek.com/updates (wire-format.md section 10), "
                    "checked 2026-11-30",
                    "reasoning_required_in_tool_turn": "api-docs.deepseek.com/guides/"
                    "thinking_mode; esengine/DeepSeek-Reasonix#10210, checked 2026-12-07",
                    "browser_refusal": "no CORS headers (wire-format.md section 10), checked "
                    "2026-11-30",
                }
            ),
        ),
        Provider(
            "vllm",
            "vLLM",
            "http://127.0.0.1:8000/v1",
            ports=(8000,),
            thinking=_frozen(_LOCAL_OFF),
            structured_output="json_schema",
            dialect="vllm",
            note="chat_template_kwargs switch thinking (the model's template decides); reasoning "
            "goes back as reasoning (vLLM drops reasoning_content in silence)",
            source="vllm PR #33402, vllm#38488 (" + _WF11 + ")",
            checked=_CHECKED,
            **_LOCAL_COMMON,
        ),
        Provider(
            "llamacpp",
            "llama.cpp llama-server",
            "http://127.0.0.1:9931/v1",
            ports=(9931, 8080),
            # reasoning_effort "none" turns thinking off whatever the template (section 11)
            thinking=_frozen({True: _LOCAL_OFF[True], False: {"reasoning_effort": "none"}}),
            reasoning_field="reasoning_content",
            context_endpoint="/props",
            structured_output="json_schema",
            dialect="llamacpp",
            note="repetition_penalty is spelled repeat_penalty; port 9931 (older builds 8080); "
            "the per-slot context is read from GET /props",
            source="llama.cpp tools/server README; ggml-org/llama.cpp#26508 (" + _WF11 + ")",
            checked=_CHECKED,
            **{
                **_LOCAL_COMMON,
                "spell": _frozen(
                    {**_LOCAL_COMMON["spell"], "repetition_penalty": ("repeat_penalty",)}
                ),
            },
        ),
        Provider(
            "ollama",
            "Ollama",
            "http://127.0.0.1:11434/v1",
            ports=(11434,),
            # /v1 has no `think` field (dropped in silence): thinking is reasoning_effort,
            # "none" turns it off; on is the server's default (nothing to send)
            thinking=_frozen({True: {}, False: {"reasoning_effort": "none"}}),
            # the server maps these itself since v0.32.11; sent mapped, so older ones agree
            effort_map=_frozen({"minimal": "low", "xhigh": "max"}),
            ignored=_frozen(
                {
                    "top_k": "Ollama's /v1 endpoint ignores it",
                    "repetition_penalty": "Ollama's /v1 endpoint ignores it",
                    "tool_choice": "Ollama's /v1 endpoint does not support it (ignored)",
                }
            ),
            structured_output="json_schema",
            dialect="ollama",
            note="/v1: thinking is reasoning_effort (none = off; low, medium, high, max); "
            "no think field there",
            source="ollama openai/openai.go, release notes v0.22.0 and v0.32.11 (" + _WF11 + ")",
            checked=_CHECKED,
            **_LOCAL_COMMON,
        ),
        Provider(
            "lmstudio",
            "LM Studio",
            "http://127.0.0.1:1234/v1",
            ports=(1234,),
            structured_output="json_schema",
            dialect=None,
            ignored=_frozen(
                {
                    "reasoning_effort": "LM Studio's /v1/chat/completions does nothing with it "
                    "(lmstudio-bug-tracker#988)"
                }
            ),
            note="no per-request thinking switch; reasoning_effort is ignored",
            source="lmstudio-ai/lmstudio-bug-tracker#988 (" + _WF11 + ")",
            checked=_CHECKED,
            **_LOCAL_COMMON,
        ),
        Provider(
            "sglang",
            "SGLang",
            "http://127.0.0.1:30000/v1",
            ports=(30000,),
            # DeepSeek V3.1/V3.2 templates read `thinking` (section 11)
            thinking=_frozen(
                {
                    True: {"chat_template_kwargs": {"thinking": True}},
                    False: {"chat_template_kwargs": {"thinking": False}},
                }
            ),
            reasoning_field="reasoning_content",
            dialect="sglang",
            note="reasoning parser deepseek-r1; chat_template_kwargs.thinking switches thinking",
            source="docs.sglang.ai (" + _WF11 + ")",
            checked=_CHECKED,
            **_LOCAL_COMMON,
        ),
        Provider(
            "local",
            "any local server",
            "http://127.0.0.1:8000/v1",
            thinking=_frozen(_LOCAL_OFF),
            note="any loopback URL; an OpenAI-compatible server of unknown flavour",
            source="wire-format.md section 6",
            checked=_CHECKED,
            **_LOCAL_COMMON,
        ),
        Provider(
            "custom",
            "any other server",
            "",
            needs_key=True,
            thinking=_frozen({}),
            spell=_frozen(
                {
                    "max_completion_tokens": ("max_tokens",),
                    "reasoning_effort": ("reasoning_effort",),
                }
            ),
            not_sendable=_LOCAL_COMMON["not_sendable"],
            note="any other OpenAI-compatible URL",
            source="the OpenAI chat-completions API",
            checked=_CHECKED,
        ),
    )
}


def is_loopback(base_url: str) -> bool:
    host = (urlsplit(base_url).hostname or "").strip("[]").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def detect_provider(base_url: str) -> Provider:
    """The provider a base URL belongs to: by host, then a local server by its port, then
    any loopback server, then "custom"."""
    for provider in PROVIDERS.values():
        if provider.owns(base_url):
            return provider
    return PROVIDERS["local" if is_loopback(base_url) else "custom"]


def provider_for_dialect(dialect: str) -> Provider:
    """The provider whose rules an emulator speaking ``dialect`` follows."""
    for provider in PROVIDERS.values():
        if provider.dialect == dialect:
            return provider
    return PROVIDERS["local"]


# ----------------------------------------------------------------------- per model
#: reasoning efforts from none to the most, to find the nearest one a model supports
EFFORT_ORDER = ("none", "minimal", "low", "medium", "high", "xhigh", "max")


@dataclass(frozen=True)
class ModelRules:
    """What a server's catalogue says about one model that decides a request: read from
    ``GET /models`` (OpenRouter's ``reasoning`` object and ``top_provider``, DeepSeek's
    ``effort`` and ``max_output_tokens``), live or from the dated snapshot (``source``)."""

    model: str
    #: where the rules come from ("live catalogue", "snapshot 2026-12-07")
    source: str = "catalogue"
    #: reasoning cannot be switched off (thinking off and effort none are refused)
    reasoning_mandatory: bool = False
    #: the efforts the model takes (None = not published)
    supported_efforts: tuple[str, ...] | None = None
    #: False: the model takes no reasoning token budget
    supports_max_tokens: bool | None = None
    #: the most tokens one reply may have
    max_completion_tokens: int | None = None
    #: the server may remove the model after this date (OpenRouter ``expiration_date``)
    expiration_date: str | None = None


def nearest_effort(effort: str, supported: tuple[str, ...]) -> str | None:
    """The supported effort closest to ``effort`` (ties go to the stronger one); never
    ``none`` for an effort that asked for some reasoning."""
    candidates = [e for e in supported if e in EFFORT_ORDER and e != "none"]
    if effort not in EFFORT_ORDER or not candidates:
        return None
    at = EFFORT_ORDER.index(effort)
    return min(candidates, key=lambda e: (abs(EFFORT_ORDER.index(e) - at), -EFFORT_ORDER.index(e)))


def _model_refusal(name: str, value: Any, rules: ModelRules | None) -> str | None:
    """Why the catalogue says ``name=value`` cannot be sent for this model, or None."""
    if rules is None:
        return None
    where = f"{rules.source} for {rules.model}"
    switching_off = (name == "thinking" and value is False) or (
        name == "reasoning_effort" and value == "none"
    )
    if switching_off and rules.reasoning_mandatory:
        return f"reasoning is mandatory for this model and cannot be switched off ({where})"
    if (
        name == "reasoning_effort"
        and value == "none"
        and rules.supported_efforts is not None
        and "none" not in rules.supported_efforts
    ):
        return f"effort none is not among the model's efforts ({where})"
    if name == "reasoning_max_tokens" and rules.supports_max_tokens is False:
        return f"the model takes no reasoning token budget ({where}); use --reasoning-effort"
    return None


# ----------------------------------------------------------------------- option plan
@dataclass(frozen=True)
class OptionPlan:
    """What happens to each option the user set, for one request."""

    #: the body fields (without messages, model and stream)
    body: Mapping[str, Any]
    #: options sent (and honoured, as far as we know)
    sent: tuple[str, ...] = ()
    #: option -> why the server ignores it (it is sent all the same)
    ignored: Mapping[str, str] = field(default_factory=lambda: _EMPTY)
    #: option -> why it was not sent
    not_sent: Mapping[str, str] = field(default_factory=lambda: _EMPTY)
    #: option -> "asked -> sent" where the value was remapped for this server
    remapped: Mapping[str, str] = field(default_factory=lambda: _EMPTY)
    #: the date after which the server may remove the model (its catalogue says so)
    expires: str | None = None

    def notes(self) -> list[str]:
        """One short line each for what is not simply sent."""
        lines = []
        if self.ignored:
            lines.append(
                "ignored by the server: "
                + ", ".join(f"{name} ({why})" for name, why in self.ignored.items())
            )
        if self.not_sent:
            lines.append(
                "not sent: " + ", ".join(f"{name} ({why})" for name, why in self.not_sent.items())
            )
        for name, change in self.remapped.items():
            lines.append(f"{name} {change}")
        if self.expires:
            lines.append(f"the server may remove this model after {self.expires}")
        return lines

    def short(self) -> str:
        """The footer's line: names only."""
        parts = []
        if self.ignored:
            parts.append("ignored by the server: " + ", ".join(self.ignored))
        if self.not_sent:
            parts.append("not sent: " + ", ".join(self.not_sent))
        parts.extend(f"{name} {change}" for name, change in self.remapped.items())
        return " · ".join(parts)


def _put(body: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    target = body
    for key in path[:-1]:
        target = target.setdefault(key, {})
    target[path[-1]] = value


def _merge(body: dict[str, Any], fragment: Mapping[str, Any]) -> None:
    for key, value in fragment.items():
        if isinstance(value, Mapping) and isinstance(body.get(key), dict):
            _merge(body[key], value)
        else:
            body[key] = dict(value) if isinstance(value, Mapping) else value


#: where a server's catalogue lists another spelling of the same field (OpenRouter's
#: DeepSeek endpoints advertise ``max_tokens``, not ``max_completion_tokens``: section 10)
_ALTERNATIVES = {"max_completion_tokens": ("max_tokens",)}


def _path(
    name: str, own: tuple[str, ...], provider: Provider, supported: frozenset[str] | None
) -> tuple[str, ...]:
    path = provider.spell.get(name) or own or (name,)
    alt = _ALTERNATIVES.get(name)
    if supported is not None and path[0] not in supported and alt and alt[0] in supported:
        return alt
    return path


def option_reason(
    name: str,
    provider: Provider,
    *,
    thinking: bool | None = None,
    rules: ModelRules | None = None,
) -> str | None:
    """Why ``name`` would not be honoured by ``provider`` (not sendable, or ignored in
    this mode), or None; what the panel shows on a greyed-out control. ``rules`` (the
    model's, from the catalogue) adds what the model cannot take: thinking off for a
    model that always reasons, a budget for one that takes none."""
    if name in provider.not_sendable:
        return f"not sent to {provider.title}: {provider.not_sendable[name]}"
    if name == "thinking" and not provider.thinking:
        return f"not sent to {provider.title}: it has no per-request thinking switch"
    why_model = None
    if name == "thinking" and thinking is False:
        why_model = _model_refusal(name, False, rules)
    elif name == "reasoning_max_tokens":
        why_model = _model_refusal(name, 1, rules)
    if why_model:
        return f"not sent to {provider.title}: {why_model}"
    thinking = provider.thinks_by_default if thinking is None else thinking
    why = provider.ignored.get(name) or (provider.ignored_thinking.get(name) if thinking else None)
    return f"ignored by {provider.title}: {why}" if why else None


def plan_options(
    values: Mapping[str, Any],
    provider: Provider,
    *,
    implied: Mapping[str, Any] | None = None,
    supported: frozenset[str] | None = None,
    tool_specs: list[dict[str, Any]] | None = None,
    rules: ModelRules | None = None,
) -> OptionPlan:
    """Spell validated option ``values`` for ``provider`` and say what happens to each.

    ``implied`` are options the request carries without the user setting them (thinking on
    for a resolved short name): sent the same way, not reported. ``supported`` is the
    model's ``supported_parameters`` from the catalogue, when the server publishes them:
    an option whose field is missing there is reported as ignored. ``rules`` is what the
    catalogue says about the model (:class:`ModelRules`): a mandatory reasoning model is
    never sent thinking off or effort none, an effort it lacks goes as the nearest one it
    has, a budget it cannot take is not sent, and an output bound over its most is cut.
    """
    body: dict[str, Any] = {}
    sent: list[str] = []
    ignored: dict[str, str] = {}
    not_sent: dict[str, str] = {}
    remapped: dict[str, str] = {}
    user = dict(values)
    merged = {**dict(implied or {}), **user}
    thinking = merged.get("thinking", provider.thinks_by_default)
    # where thinking off is spelled with a field an option also writes (Ollama's and
    # llama.cpp's reasoning_effort "none"), the switch wins and the option is not sent
    off_fields: set[str] = set()
    if (
        merged.get("thinking") is False
        and provider.thinking
        and "thinking" not in (provider.not_sendable)
    ):
        if _model_refusal("thinking", False, rules) is None:
            off_fields = set(provider.thinking[False])
    for name, value in merged.items():
        reported = name in user
        option = OPTION_BY_NAME[name]
        why_not = provider.not_sendable.get(name)
        wire_head = _path(name, option.path, provider, supported)[0]
        if name != "thinking" and wire_head in off_fields:
            why_not = f"thinking off is sent as {wire_head} here, and it wins"
        if name == "thinking" and not provider.thinking:
            why_not = "this server has no per-request thinking switch"
        if name == "reasoning_effort" and value in provider.efforts_not_sendable:
            why_not = provider.efforts_not_sendable[value]
        why_not = why_not or _model_refusal(name, value, rules)
        if why_not:
            if reported:
                not_sent[name] = why_not
            continue
        if option.kind == "tools":
            if tool_specs:
                body["tools"] = tool_specs
        elif option.kind == "tool_choice":
            body["tool_choice"] = (
                value
                if value in TOOL_CHOICES
                else {"type": "function", "function": {"name": value}}
            )
        elif name == "thinking":
            _merge(body, provider.thinking[bool(value)])
        elif name == "include_reasoning":
            # The legacy flag maps onto the reasoning object (wire-format.md section 1).
            _merge(body, {"reasoning": {} if value else {"exclude": True}})
        else:
            if name == "reasoning_effort" and value in provider.effort_map:
                new = provider.effort_map[value]
                if reported:
                    remapped[name] = f"{value} sent as {new} (the levels this server has)"
                value = new
            efforts = rules.supported_efforts if rules is not None else None
            if name == "reasoning_effort" and efforts and value not in efforts:
                near = nearest_effort(value, efforts)
                if near is not None and rules is not None:
                    if reported:
                        remapped[name] = (
                            f"{merged[name]} sent as {near} (the nearest of the model's "
                            f"efforts {', '.join(efforts)}: {rules.source})"
                        )
                    value = near
            most = rules.max_completion_tokens if rules is not None else None
            if name == "max_completion_tokens" and most and value > most and rules is not None:
                if reported:
                    remapped[name] = f"{value} sent as {most} (the most the model writes: "
                    remapped[name] += f"{rules.source})"
                value = most
            _put(
                body,
                _path(name, option.path, provider, supported),
                list(value) if isinstance(value, tuple) else value,
            )
        if not reported:
            continue
        why = provider.ignored.get(name) or (
            provider.ignored_thinking.get(name) if thinking else None
        )
        wire = _path(name, option.path, provider, supported)[0]
        if (
            why is None
            and supported is not None
            and name not in ("thinking", "include_reasoning")
            and wire not in supported
        ):
            why = "not in the model's supported_parameters"
        if why:
            ignored[name] = why
        else:
            sent.append(name)
    return OptionPlan(
        body,
        tuple(sent),
        _frozen(ignored),
        _frozen(not_sent),
        _frozen(remapped),
        rules.expiration_date if rules is not None else None,
    )
