"""The option table: validation, body, flags and README all derived from one declaration."""

from __future__ import annotations

import re

import pytest

from deepseek_magic.core._errors import OptionError
from deepseek_magic.core._options import OPTION_BY_NAME, OPTIONS, validate_options
from deepseek_magic.core._providers import PROVIDERS, plan_options


def build_body(values, provider=None, tool_specs=None):
    """The body fields the options become (for the default provider unless given)."""
    chosen = provider if provider is not None else next(iter(PROVIDERS.values()))
    return dict(plan_options(values, chosen, tool_specs=tool_specs).body)


@pytest.mark.parametrize(
    "name,value",
    [
        ("temperature", 2.01),
        ("temperature", -0.1),
        ("temperature", "hot"),
        ("temperature", float("nan")),
        ("top_p", 0),
        ("top_p", 1.5),
        ("top_k", -1),
        ("top_k", 1.5),
        ("top_k", True),
        ("frequency_penalty", 2.5),
        ("presence_penalty", -3),
        ("repetition_penalty", 0),
        ("repetition_penalty", 2.1),
        ("seed", "abc"),
        ("seed", 1.5),
        ("stop", ["a", "b", "c", "d", "e"]),
        ("stop", [""]),
        ("stop", [1]),
        ("max_completion_tokens", 0),
        ("max_tokens", -5),
        ("include_reasoning", "maybe"),
        ("reasoning_effort", "extreme"),
        ("reasoning_max_tokens", 0),
        ("tool_choice", "not a name!"),
        ("tools", [42]),
    ],
)
def test_bad_values_are_refused_with_one_clear_line(name: str, value: object) -> None:
    with pytest.raises(OptionError) as info:
        validate_options({name: value})
    message = str(info.value)
    option = OPTION_BY_NAME[name]
    assert "\n" not in message
    assert option.flag in message and option.range_text() in message


@pytest.mark.parametrize(
    "name,value,expected",
    [
        ("temperature", "0.6", 0.6),
        ("temperature", 0, 0.0),
        ("temperature", 2, 2.0),
        ("top_p", "1", 1.0),
        ("top_k", "40", 40),
        ("top_k", 40.0, 40),
        ("seed", "-7", -7),
        ("stop", "###", ("###",)),
        ("stop", ["a", "b", "c", "d"], ("a", "b", "c", "d")),
        ("include_reasoning", "false", False),
        ("reasoning_effort", "HIGH", "high"),
        ("repetition_penalty", 2, 2.0),
    ],
)
def test_good_values_are_coerced(name: str, value: object, expected: object) -> None:
    assert validate_options({name: value})[name] == expected


def test_unknown_option_suggests_the_closest() -> None:
    with pytest.raises(OptionError, match="Did you mean temperature"):
        validate_options({"temprature": 1})


def test_unset_options_are_not_sent() -> None:
    assert build_body(validate_options({"temperature": None, "seed": None})) == {}


def test_body_for_openrouter() -> None:
    values = validate_options(
        {
            "temperature": 0.6,
            "stop": ["###"],
            "max_tokens": 100,
            "reasoning": {"effort": "high", "exclude": False},
            "seed": 3,
        },
        warn=lambda m: None,
    )
    assert build_body(values) == {
        "temperature": 0.6,
        "stop": ["###"],
        "max_completion_tokens": 100,
        "reasoning": {"effort": "high", "exclude": False},
        "seed": 3,
    }


def test_max_tokens_warns_and_is_sent_as_max_completion_tokens() -> None:
    warnings: list[str] = []
    values = validate_options({"max_tokens": 64}, warn=warnings.append)
    assert values == {"max_completion_tokens": 64}
    assert warnings and "deprecated" in warnings[0]


def test_include_reasoning_maps_onto_reasoning_object() -> None:
    assert build_body(validate_options({"include_reasoning": False})) == {
        "reasoning": {"exclude": True}
    }
    assert build_body(validate_options({"include_reasoning": True})) == {"reasoning": {}}


def test_deepseek_and_local_styles_rename_fields() -> None:
    values = validate_options({"max_completion_tokens": 10, "reasoning_effort": "high"})
    assert build_body(values, provider=PROVIDERS["deepseek"]) == {
        "max_tokens": 10,
        "reasoning_effort": "high",
    }


def test_effort_and_budget_conflict() -> None:
    with pytest.raises(OptionError, match="cannot be combined"):
        validate_options({"reasoning_effort": "low", "reasoning_max_tokens": 100})


def test_tool_choice_needs_tools() -> None:
    with pytest.raises(OptionError, match="no tools are offered"):
        validate_options({"tool_choice": "weather"})
    assert build_body(validate_options({"tool_choice": "auto"})) == {"tool_choice": "auto"}


def test_every_option_has_a_flag_help_and_range() -> None:
    flags = [o.flag for o in OPTIONS]
    assert len(set(flags)) == len(flags)
    for option in OPTIONS:
        assert option.help and option.range_text()
        assert re.fullmatch(r"--[a-z][a-z-]*", option.flag)
