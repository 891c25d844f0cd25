"""Where requests go and with which key: providers and the one settings resolver.

Precedence, for every setting (one rule, ``_call.pick``, used by :func:`resolve_settings`):

1. an explicit argument (a magic flag, an ``ask()`` keyword);
2. session config, typed in this session (``%config DeepSeekMagics.base_url = ...``);
3. the setting's environment variable (``DEEPSEEK_MAGIC_BASE_URL`` / ``_API_KEY`` /
   ``_MODEL``: CI or a Binder image points every notebook somewhere, and a notebook's
   own ``%config`` still wins);
4. for the key only: the provider's own key variable, sent only to that provider's host
   (``Provider.key_env``, see ``_providers.py``);
5. the table's defaults (``_call.SETTINGS``): OpenRouter, ``deepseek/deepseek-r1``,
   120 s of silence, 900 s to the first token, 2 retries.

A loopback base URL (a local server, or the emulator) needs no key. The key is kept in
:class:`Settings` but never shown: its ``repr`` masks it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import urlsplit

from ._call import Call, pick
from ._errors import ConfigError
from ._providers import PROVIDERS, SHORT_NAME, Provider, detect_provider, is_loopback

__all__ = [
    "Provider",
    "PROVIDERS",
    "Settings",
    "resolve_settings",
    "detect_provider",
    "resolve_model",
    "mask_key",
    "is_loopback",
    "DEFAULT_BASE_URL",
    "DEFAULT_MODEL",
]

#: the default provider (DESIGN.md: OpenRouter) and its base URL
DEFAULT_PROVIDER = next(iter(PROVIDERS))
DEFAULT_BASE_URL = PROVIDERS[DEFAULT_PROVIDER].base_url
DEFAULT_MODEL = SHORT_NAME  # the seed's short name, resolved per provider


def resolve_model(model: str, provider: Provider, served: tuple[str, ...] = ()) -> str:
    """The seed's short name ``deepseek-r1`` as this provider spells it; others pass through."""
    return provider.resolve_model(model, served)


def mask_key(key: str | None) -> str:
    """``sk-or-…a1b2`` style: enough to tell keys apart, never enough to use one."""
    if not key:
        return "(none)"
    if len(key) <= 12:
        return "***"
    return f"{key[:5]}…{key[-4:]}"


@dataclass(frozen=True)
class Settings:
    """Resolved connection settings for one request. ``repr`` never shows the key."""

    base_url: str
    model: str
    provider: Provider = field(repr=False)
    api_key: str | None = field(default=None, repr=False)
    #: seconds to establish a connection
    connect_timeout: float = 10.0
    #: seconds of total silence tolerated mid-stream (keep-alive comments count as activity)
    read_timeout: float = 120.0
    #: seconds to wait for the first token while only keep-alives arrive
    first_token_timeout: float = 900.0
    max_retries: int = 2
    #: where the key came from, for %deepseek_config (never the key itself)
    key_source: str = "none"
    offline: bool = False
    #: the model name as the user gave it (``deepseek-r1``), before the provider resolved it
    requested_model: str = ""

    @property
    def short_name_used(self) -> bool:
        """True when the model came from the provider's short name (its implied options apply)."""
        return self.provider.is_short(self.requested_model) and self.model != self.requested_model

    @property
    def endpoint(self) -> str:
        return self.base_url.rstrip("/") + "/chat/completions"

    @property
    def masked_key(self) -> str:
        return mask_key(self.api_key)

    def __repr__(self) -> str:
        return (
            f"Settings(base_url={self.base_url!r}, model={self.model!r}, "
            f"provider={self.provider.name!r}, "
            f"api_key={self.masked_key!r}, key_source={self.key_source!r})"
        )

    def describe(self) -> dict[str, Any]:
        """Key-free summary for display."""
        return {
            "base_url": self.base_url,
            "provider": self.provider.name,
            "model": self.model,
            "api_key": self.masked_key,
            "key_source": self.key_source,
            "connect_timeout": self.connect_timeout,
            "read_timeout": self.read_timeout,
            "first_token_timeout": self.first_token_timeout,
            "max_retries": self.max_retries,
            "offline": self.offline,
        }

    def with_(self, **changes: Any) -> Settings:
        return replace(self, **changes)


def resolve_settings(
    call: Call | None = None,
    *,
    config: Mapping[str, Any] | None = None,
    env: Mapping[str, str] | None = None,
    require_key: bool = True,
    served: tuple[str, ...] = (),
    **given: Any,
) -> Settings:
    """Resolve base URL, key, model, timeouts and retries with the one precedence rule
    (``_call.pick``: argument > ``%config`` > environment > default).

    ``call`` holds the arguments (``given`` keywords are added to it: ``base_url=``,
    ``model=``, ``timeout=`` ...); ``config`` the session's ``%config`` values; ``env``
    defaults to ``os.environ``. ``provider`` (a name in ``_providers.PROVIDERS``) picks that
    provider's base URL when no base URL is given. Raises :class:`ConfigError` with one
    sentence on how to fix it when a key is needed and none is found (unless
    ``require_key`` is False).
    """
    env = os.environ if env is None else env
    config = config or {}
    call = (call or Call()).replace(**given) if given else call or Call()

    def value(name: str) -> tuple[Any, str]:
        return pick(name, call, config, env)

    provider = call.given("provider")
    base_url = call.given("base_url")
    if base_url is not None:
        url: Any = base_url
    elif provider is not None:
        url = PROVIDERS[provider].base_url
    else:
        url = value("base_url")[0]
    conf_provider = value("provider")[0]
    if url is None:
        url = PROVIDERS[conf_provider or DEFAULT_PROVIDER].base_url
    if not url:
        raise ConfigError(
            f"Provider {provider or conf_provider!r} has no address of its "
            "own; give the server's base URL with --base-url (base_url=)."
        )
    url = str(url).strip().rstrip("/")
    if url.endswith("/chat/completions"):
        url = url[: -len("/chat/completions")]
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"Base URL {url!r} is not an http(s) URL; use e.g. {DEFAULT_BASE_URL}.")
    # An explicit provider with an explicit base URL means "a server of that kind at this
    # address" (e.g. a DeepSeek-compatible gateway): its rules apply, the URL is kept.
    # A %config provider gives its rules to the %config / environment base URL too.
    if provider is None and base_url is None:
        provider = conf_provider
    prov = PROVIDERS[provider] if provider is not None else detect_provider(url)

    key, key_source = value("api_key")
    if key is None and prov.key_env and env.get(prov.key_env) and detect_provider(url) is prov:
        key, key_source = env[prov.key_env], f"${prov.key_env}"
    if key is not None:
        key = str(key).strip()
    if key is None and require_key and prov.needs_key and not is_loopback(url):
        where = f" or {prov.key_env}" if prov.key_env else ""
        raise ConfigError(
            f"No API key for {parts.hostname}: set DEEPSEEK_MAGIC_API_KEY{where}, or run "
            "%deepseek_key "
            f"to enter one privately, or %deepseek_offline to use the offline emulator."
            + (f" Get a key at {prov.key_url}." if prov.key_url else "")
        )

    name = str(value("model")[0] or DEFAULT_MODEL)
    return Settings(
        base_url=url,
        model=resolve_model(name, prov, served),
        requested_model=name,
        provider=prov,
        api_key=key,
        # Keep-alive comments reset the read timeout, so a provider stuck in its queue is
        # caught only by the first-token one.
        read_timeout=value("timeout")[0],
        first_token_timeout=value("first_token_timeout")[0],
        max_retries=value("max_retries")[0],
        key_source=key_source if key is not None else "none",
    )
