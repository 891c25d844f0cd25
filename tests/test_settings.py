"""Settings precedence, providers, model names and key masking."""

from __future__ import annotations

import pytest

from deepseek_magic.core._errors import ConfigError
from deepseek_magic.core._settings import (
    DEFAULT_BASE_URL,
    DEFAULT_MODEL,
    mask_key,
    resolve_settings,
)


def test_defaults_are_openrouter_and_r1() -> None:
    s = resolve_settings(env={"OPENROUTER_API_KEY": "k" * 20})
    assert s.base_url == "https://openrouter.ai/api/v1"
    assert s.model == "deepseek/deepseek-r1"
    assert s.endpoint == "https://openrouter.ai/api/v1/chat/completions"
    assert s.key_source == "$OPENROUTER_API_KEY"


def test_missing_key_says_how_to_set_one() -> None:
    with pytest.raises(ConfigError) as info:
        resolve_settings(env={})
    message = str(info.value)
    assert (
        "DEEPSEEK_MAGIC_API_KEY" in message
        and "%deepseek_key" in message
        and "%deepseek_offline" in message
    )


def test_loopback_needs_no_key() -> None:
    # A local server's flavour is told by its default port; any other loopback port is "local".
    for url, name in (
        ("http://127.0.0.1:8000/v1", "vllm"),
        ("http://localhost:11434/v1", "ollama"),
        ("http://[::1]:8080/v1", "llamacpp"),
        ("http://127.0.0.1:5123/v1", "local"),
    ):
        s = resolve_settings(base_url=url, env={})
        assert s.api_key is None and s.provider.name == name and s.provider.free
        assert s.model == "deepseek-r1"  # passed through to local servers


def test_deepseek_provider() -> None:
    s = resolve_settings(
        provider="deepseek", env={"DEEPSEEK_API_KEY": "d" * 20, "OPENROUTER_API_KEY": "o" * 20}
    )
    # deepseek-reasoner was retired on 2026-07-24: the short name means today's reasoning model
    assert s.base_url == "https://api.deepseek.com" and s.model == "deepseek-flash"
    assert s.api_key == "d" * 20  # each provider's key goes only to its own host


def test_provider_keys_are_not_sent_to_other_hosts() -> None:
    with pytest.raises(ConfigError):
        resolve_settings(
            base_url="https://llm.example.com/v1", env={"OPENROUTER_API_KEY": "o" * 20}
        )


def test_precedence_argument_config_env_default() -> None:
    """DESIGN.md: a flag or keyword > %config typed in this session > the environment >
    the default (what the notebook says wins over what the machine was started with)."""
    env = {"DEEPSEEK_MAGIC_BASE_URL": "http://127.0.0.1:1/v1", "DEEPSEEK_MAGIC_MODEL": "env-model"}
    config = {"base_url": "http://127.0.0.1:2/v1", "model": "config-model"}
    s = resolve_settings(env=env, config=config)
    assert (s.base_url, s.model) == ("http://127.0.0.1:2/v1", "config-model")
    s = resolve_settings(env=env, config={})
    assert (s.base_url, s.model) == ("http://127.0.0.1:1/v1", "env-model")
    s = resolve_settings(env={}, config={}, require_key=False)
    assert s.base_url == DEFAULT_BASE_URL and s.requested_model == DEFAULT_MODEL
    s = resolve_settings(
        base_url="http://127.0.0.1:3/v1", model="arg-model", env=env, config=config
    )
    assert (s.base_url, s.model) == ("http://127.0.0.1:3/v1", "arg-model")


def test_bad_base_url() -> None:
    with pytest.raises(ConfigError, match="not an http"):
        resolve_settings(base_url="openrouter.ai", env={})


def test_chat_completions_suffix_is_tolerated() -> None:
    s = resolve_settings(base_url="http://127.0.0.1:9/v1/chat/completions", env={})
    assert s.endpoint == "http://127.0.0.1:9/v1/chat/completions"


def test_key_never_in_repr(sentinel_key: str) -> None:
    s = resolve_settings(api_key=sentinel_key, env={})
    assert sentinel_key not in repr(s) and sentinel_key not in str(s.describe())
    assert mask_key(sentinel_key) in repr(s)
    assert sentinel_key not in mask_key(sentinel_key)


def test_a_key_typed_in_the_session_wins_over_the_environment_one() -> None:
    """%deepseek_key (session config) beats DEEPSEEK_MAGIC_API_KEY, which beats the
    provider's own variable; the source says which one was used."""
    env = {"DEEPSEEK_MAGIC_API_KEY": "e" * 24, "OPENROUTER_API_KEY": "o" * 24}
    s = resolve_settings(env=env, config={"api_key": "c" * 24})
    assert (s.api_key, s.key_source) == ("c" * 24, "%config")
    s = resolve_settings(env=env, config={})
    assert (s.api_key, s.key_source) == ("e" * 24, "$DEEPSEEK_MAGIC_API_KEY")
    s = resolve_settings(env={"OPENROUTER_API_KEY": "o" * 24}, config={})
    assert (s.api_key, s.key_source) == ("o" * 24, "$OPENROUTER_API_KEY")
