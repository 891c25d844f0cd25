"""The README's generated sections agree with the code (options, magics, flags)."""

from __future__ import annotations

import re
from pathlib import Path

from deepseek_magic._docs import render_readme, sections

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_generated_sections_are_current() -> None:
    assert render_readme(README) == README, "run: python -m deepseek_magic._docs README.md"


def test_every_option_flag_and_magic_is_documented() -> None:
    from deepseek_magic._magic import DeepSeekMagics
    from deepseek_magic._magic_args import MAGIC_FLAGS
    from deepseek_magic._options import OPTIONS

    for option in OPTIONS:
        assert f"`{option.flag}`" in README
    for flag in MAGIC_FLAGS:
        assert flag.names[-1] in README
    for name in DeepSeekMagics.magics["line"]:
        assert f"%{name}" in README
    assert set(sections()) == {"options", "magics", "flags"}


def test_readme_has_two_commands_and_ci_runs_the_test_one() -> None:
    commands = re.findall(r"```bash\n(.*?)\n```", README, re.S)
    assert len(commands) >= 2
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert commands[1].strip() in ci, ".ci/run must run the README's test command exactly"


def test_readme_and_ci_build_the_llama_tier_with_the_same_command() -> None:
    from llama_build import BUILD_COMMAND
    from llama_server import SKIP_REASON

    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert f"```bash\n{BUILD_COMMAND}\n```" in README
    assert f"\n{BUILD_COMMAND}\n" in ci
    assert ci.index(BUILD_COMMAND) < ci.index("pytest")  # built before the tests run
    assert BUILD_COMMAND in SKIP_REASON and "\n" not in SKIP_REASON
