"""The settings table (``_call.py``): one declaration per call setting drives the magic's
flags, ``ask()``'s keywords, the ``%config`` traits, the panel's fields and copied cell,
the README table, validation and the one precedence rule."""

from __future__ import annotations

from types import MappingProxyType
from typing import Any

import pytest

import deepseek_magic as dm
from deepseek_magic.core import _call
from deepseek_magic.core._call import (
    SETTINGS,
    Call,
    Setting,
    pick,
    settings_markdown,
    split_keywords,
)
from deepseek_magic.core._errors import ConfigError
from deepseek_magic.emulator import Emulator
from deepseek_magic.notebook._magic_args import build_parser, call_values, parse_line
from tests.helpers.cells import run_cell

#: a setting that does not exist, added the way a real one would be: one table entry
PATIENCE = Setting(
    "patience",
    "seconds",
    "Seconds to wait for a slow tool.",
    default=30.0,
    flags=("--patience",),
    metavar="SECONDS",
    trait=True,
    env="DEEPSEEK_MAGIC_PATIENCE",
)


@pytest.fixture
def with_patience(monkeypatch: pytest.MonkeyPatch) -> tuple[Setting, ...]:
    table = SETTINGS + (PATIENCE,)
    monkeypatch.setattr(_call, "SETTINGS", table)
    monkeypatch.setattr(_call, "SETTING_BY_NAME", MappingProxyType({s.name: s for s in table}))
    monkeypatch.setattr(_call, "KEYWORDS", _call.KEYWORDS | {"patience"})
    return table


def test_a_new_setting_is_one_table_entry(with_patience: tuple[Setting, ...]) -> None:
    parser = build_parser(settings=with_patience)
    assert "--patience SECONDS" in parser.format_help()
    assert "Seconds to wait for a slow tool. (default 30)" in " ".join(parser.format_help().split())
    call = Call(**call_values(parser.parse_args(["--patience", "5"]), with_patience))
    assert call.patience == 5.0 and Call().patience == 30.0
    with pytest.raises(ConfigError, match=r"--patience / patience '-1': expected seconds above 0"):
        Call(**call_values(parser.parse_args(["--patience", "-1"]), with_patience))
    # an ask() keyword, kept apart from the request options
    call, options = split_keywords({"patience": 2, "temperature": 0.2})
    assert call.patience == 2.0 and options == {"temperature": 0.2}
    # the one precedence rule (DESIGN.md): argument > %config > environment > default
    env = {"DEEPSEEK_MAGIC_PATIENCE": "7"}
    assert pick("patience", call, {"patience": 9}, env) == (2.0, "argument")
    assert pick("patience", None, {"patience": 9}, env) == (9.0, "%config")
    assert pick("patience", None, {}, env) == (7.0, "$DEEPSEEK_MAGIC_PATIENCE")
    assert pick("patience", None, {}, {}) == (30.0, "default")
    row = next(r for r in settings_markdown().splitlines() if "`patience`" in r)
    assert "`--patience SECONDS`" in row and "`DEEPSEEK_MAGIC_PATIENCE`" in row
    from deepseek_magic.notebook._magic import _setting_trait

    assert type(_setting_trait(PATIENCE)).__name__ == "Float"


def test_every_setting_is_documented_once_in_the_readme() -> None:
    from pathlib import Path

    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    for setting in SETTINGS:
        assert readme.count(f"| `{setting.name}` |") == 1, setting.name


def test_a_call_is_a_frozen_checked_value() -> None:
    call = Call(model=" deepseek-r1 ", timeout="30", run_tools="yes")
    assert (call.model, call.timeout, call.run_tools) == ("deepseek-r1", 30.0, True)
    assert call.max_tool_rounds == 8 and call.given("max_tool_rounds") is None
    with pytest.raises(AttributeError):
        call.model = "x"  # type: ignore[misc]
    assert call.replace(timeout=5).timeout == 5.0 and call.timeout == 30.0
    assert Call(api_key="sk-" + "x" * 30).__repr__() == "Call(api_key='***')"
    with pytest.raises(ConfigError, match="Unknown setting 'modle'"):
        Call(modle="x")


@pytest.mark.parametrize(
    "name, bad",
    [
        ("timeout", "0"),
        ("timeout", "nan"),
        ("timeout", "inf"),
        ("timeout", []),
        ("max_tool_rounds", "-1"),
        ("max_tool_rounds", "2.5"),
        ("max_retries", True),
        ("out", "not a name"),
        ("extra", "[1]"),
        ("extra", "{oops"),
        ("provider", "acme-nope"),
        ("run_tools", "perhaps"),
    ],
)
def test_bad_values_are_one_line_naming_the_setting(name: str, bad: Any) -> None:
    with pytest.raises(ConfigError) as info:
        Call(**{name: bad})
    message = str(info.value)
    assert "\n" not in message and (name in message or "provider" in message)


def test_the_magic_refuses_bad_settings_in_one_line_and_sends_nothing(shell: Any) -> None:
    with Emulator() as emu:
        for flags, words in (
            ("--timeout 0", "--timeout / timeout '0'"),
            ("--max-tool-rounds -2", "--max-tool-rounds / max_tool_rounds"),
            ("--extra '[1]'", "--extra / extra"),
            ("-o 2x", "--out / out '2x'"),
        ):
            run = run_cell(shell, f"%%deepseek --base-url {emu.base_url} {flags}\nHi")
            assert not run.success and words in str(run.error)
        assert emu.requests == []


def test_session_timeouts_and_retries_follow_the_same_rule(session: Any) -> None:
    settings = dm.resolve_settings(
        base_url="http://127.0.0.1:9/v1", config={"timeout": 5, "max_retries": 0}, env={}
    )
    assert (settings.read_timeout, settings.max_retries, settings.first_token_timeout) == (
        5.0,
        0,
        900.0,
    )
    settings = dm.resolve_settings(
        base_url="http://127.0.0.1:9/v1", timeout=7, config={"timeout": 5, "max_retries": 1}
    )
    assert (settings.read_timeout, settings.max_retries) == (7.0, 1)
    with pytest.raises(ConfigError, match="max_retries"):
        dm.resolve_settings(base_url="http://127.0.0.1:9/v1", config={"max_retries": -1})


def test_ask_keywords_are_the_table(session: Any) -> None:
    with Emulator() as emu:
        r = dm.ask(
            "Hi",
            session=session,
            base_url=emu.base_url,
            system="Be brief.",
            stream=False,
            timeout=30,
            temperature=0.3,
        )
    assert emu.requests[0]["messages"][0] == {"role": "system", "content": "Be brief."}
    assert emu.requests[0]["stream"] is False and r.params["temperature"] == 0.3


def test_the_panel_fields_and_copied_cell_come_from_the_table(session: Any) -> None:
    pytest.importorskip("ipywidgets")
    from deepseek_magic.notebook._panel import panel

    p = panel(
        "q",
        session=session,
        shell=None,
        model="deepseek-r1",
        out="r",
        base_url="http://127.0.0.1:9/v1",
        run_tools=True,
        temperature=0.5,
    )
    assert set(p.fields) == {s.name for s in SETTINGS if s.panel}
    p.system.value = "Be brief."
    cell = p.cell()
    assert cell.splitlines()[0] == (
        "%%deepseek --temperature 0.5 -m deepseek-r1 -s 'Be brief.' -o r "
        "--base-url http://127.0.0.1:9/v1 --run-tools"
    )
    args = parse_line(cell.splitlines()[0].removeprefix("%%deepseek"))
    assert Call(**call_values(args)) == p.current_call()
