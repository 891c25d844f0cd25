"""The README's generated sections agree with the code (options, magics, flags)."""

from __future__ import annotations

import re
from pathlib import Path

from deepseek_magic.notebook._docs import render_readme, sections

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_generated_sections_are_current() -> None:
    assert render_readme(README) == README, "run: python -m deepseek_magic.notebook._docs README.md"


def test_every_option_flag_and_magic_is_documented() -> None:
    from deepseek_magic.core._options import OPTIONS
    from deepseek_magic.notebook._helper_magics import DeepSeekHelperMagics
    from deepseek_magic.notebook._magic_args import MAGIC_FLAGS

    for option in OPTIONS:
        assert f"`{option.flag}`" in README
    for setting in MAGIC_FLAGS:
        assert f"`{setting.flag}" in README
    for name in DeepSeekHelperMagics.magics["line"]:
        assert f"%{name}" in README
    assert set(sections()) == {"options", "magics", "settings", "providers"}


def test_readme_has_two_commands_and_ci_runs_the_test_one() -> None:
    commands = re.findall(r"```bash\n(.*?)\n```", README, re.S)
    assert len(commands) >= 2
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert commands[1].strip() in ci, ".ci/run must run the README's test command exactly"


def test_readme_and_ci_build_the_llama_tier_with_the_same_command() -> None:
    from tests.helpers.llama_build import BUILD_COMMAND
    from tests.helpers.llama_server import SKIP_REASON

    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert f"```bash\n{BUILD_COMMAND}\n```" in README
    assert f"\n{BUILD_COMMAND}\n" in ci
    assert ci.index(BUILD_COMMAND) < ci.index("pytest")  # built before the tests run
    assert BUILD_COMMAND in SKIP_REASON and "\n" not in SKIP_REASON


def test_the_tests_readme_names_every_module_and_every_test_file() -> None:
    """tests/README.md is where a newcomer looks up which file tests a module."""
    index = (ROOT / "tests" / "README.md").read_text(encoding="utf-8")
    package = ROOT / "deepseek_magic"
    modules = {
        str(p.relative_to(package))
        for p in package.rglob("*.py")
        if p.name not in ("__init__.py", "__main__.py") and p.parts[-2] not in ("emulator", "lite")
    } | {"emulator/", "lite/"}
    assert [m for m in sorted(modules) if f"`{m}`" not in index] == []
    tests = ROOT / "tests"
    files = {str(p.relative_to(tests)) for p in tests.glob("**/test_*.py")}
    named = set(re.findall(r"`((?:browser/)?test_\w+\.py)`", index))
    assert named == files, (sorted(files - named), sorted(named - files))


def test_ci_runs_ruff_and_mypy_strict_in_the_test_venv() -> None:
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert "bash .ci/style.sh" in ci and "bash .ci/types.sh" in ci
    types = (ROOT / ".ci" / "types.sh").read_text(encoding="utf-8")
    assert ".venv/bin/mypy deepseek_magic" in types
    config = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    assert "[tool.mypy]" in config and "strict = true" in config and '"mypy>=' in config
