"""The ``%%deepseek`` argument parser, generated from the option table, and the line
splitting that goes with it.

Every request option of ``_options.OPTIONS`` and every call setting of
``_call.SETTINGS`` that has flags becomes a flag here, with no name typed twice.
``%%deepseek?`` shows the parser's help.

Quoting follows the shell (``--stop '###'`` gives ``###``): IPython's own
``parse_argstring`` splits without POSIX quoting and would keep the quotes.
"""

from __future__ import annotations

import argparse
import difflib
import re
import shlex
from typing import Any

from IPython.core.error import UsageError
from IPython.core.magic_arguments import MagicArgumentParser, MagicHelpFormatter

from ..core._call import SETTINGS, Setting
from ..core._options import OPTIONS, Option

__all__ = [
    "build_parser",
    "parse_line",
    "split_line_magic",
    "MAGIC_FLAGS",
    "option_values",
    "call_values",
    "PARSER",
    "parse_magic_line",
    "did_you_mean",
]


#: the settings that are flags of the magic (model, system, output variable ...)
MAGIC_FLAGS: tuple[Setting, ...] = tuple(s for s in SETTINGS if s.flags)


_DESCRIPTION = """Ask DeepSeek R1. The cell body (or the rest of the line) is the prompt.

Watch the reasoning stream live; the answer is rendered as markdown and the
Result is kept: `-o NAME` binds it, `_deepseek` is always the last one, and
`deepseek_magic.history().to_dataframe()` gives every request as a table.

Examples:
  %%deepseek --temperature 0.6 --reasoning-effort high -o r
  %%deepseek --stop END --stop '###' --max-completion-tokens 512
  %%deepseek --provider deepseek --thinking off
  %deepseek -m deepseek-r1 What is 17 * 23?
"""


def _add_option(parser: argparse.ArgumentParser, option: Option) -> None:
    help_text = f"{option.help} ({option.range_text()}"
    if option.default is not None:
        help_text += f"; server default {option.default}"
    help_text += ")"
    if option.deprecated:
        help_text = (
            f"Deprecated: use --{option.alias_of.replace('_', '-') if option.alias_of else ''}."
        )
    names = [option.flag] + ([f"-{option.short}"] if option.short else [])
    # Values arrive as text and are checked by Option.coerce, which names the flag,
    # the value and the allowed range in its message.
    if option.kind == "bool":
        parser.add_argument(
            *names,
            dest=option.name,
            nargs="?",
            const="true",
            metavar=option.metavar,
            help=help_text,
        )
    elif option.kind == "strings":
        parser.add_argument(
            *names, dest=option.name, action="append", metavar=option.metavar, help=help_text
        )
    elif option.kind == "tools":
        parser.add_argument(
            *names,
            dest=option.name,
            nargs="+",
            action="extend",
            metavar=option.metavar,
            help=help_text + ". Names of functions, or a variable holding tool specs",
        )
    else:
        parser.add_argument(*names, dest=option.name, metavar=option.metavar, help=help_text)


def build_parser(
    options: tuple[Option, ...] = OPTIONS, settings: tuple[Setting, ...] = SETTINGS
) -> MagicArgumentParser:
    """The magic's parser: request options from their table, then the call settings'
    flags from theirs."""
    # MagicHelpFormatter adds one "%" to the usage line.
    parser = MagicArgumentParser(
        prog="%deepseek",  # type: ignore[no-untyped-call]
        description=_DESCRIPTION,
        formatter_class=MagicHelpFormatter,
    )
    parser.allow_abbrev = False  # `--temp` must not silently mean --temperature
    group = parser.add_argument_group("request options (sent to the API)")
    for option in options:
        _add_option(group, option)  # type: ignore[arg-type]
    own = parser.add_argument_group("magic options")
    for setting in settings:
        if setting.flags:
            _add_setting(own, setting)  # type: ignore[arg-type]
    return parser


def _add_setting(parser: argparse.ArgumentParser, setting: Setting) -> None:
    """A settings-table flag; values stay text here and are checked by ``Setting.coerce``
    (``Call``), which names the flag, the value and the range in one line."""
    help_text = setting.help
    if setting.kind == "provider":
        help_text += f" ({setting.range_text()})"
    if setting.kind not in ("switch", "grid") and setting.default is not None:
        help_text += (
            f" (default {setting.default:g})"
            if isinstance(setting.default, float)
            else f" (default {setting.default})"
        )
    if setting.kind == "switch":  # a switch flag flips the default; unset stays None
        parser.add_argument(
            *setting.flags,
            dest=setting.name,
            action="store_const",
            const=not setting.default,
            default=None,
            help=help_text,
        )
    elif setting.kind == "grid":
        parser.add_argument(
            *setting.flags,
            dest=setting.name,
            action="append",
            metavar=setting.metavar,
            help=help_text,
        )
    else:
        parser.add_argument(
            *setting.flags, dest=setting.name, metavar=setting.metavar, help=help_text
        )


PARSER = build_parser()

_TOKEN = re.compile(r"""(?:[^\s"']+|"(?:\\.|[^"\\])*"|'[^']*')+""")


def _split(text: str) -> list[str]:
    try:
        return shlex.split(text, posix=True)
    except ValueError as exc:
        raise UsageError(f"Cannot read the options: {exc} (check the quotes).") from None


def did_you_mean(flag: str, parser: argparse.ArgumentParser) -> str:
    """`` (did you mean --temperature?)`` for a mistyped flag, or ``""`` when nothing is close."""
    name = flag.partition("=")[0]
    known = [f for f in parser._option_string_actions if f.startswith("--")]
    close = difflib.get_close_matches(name, known, n=1, cutoff=0.75)
    return f" (did you mean {close[0]}?)" if close else ""


def _with_suggestion(
    exc: UsageError, words: list[str], parser: argparse.ArgumentParser
) -> UsageError:
    """The parser's error, with a "did you mean" for the first unknown flag among ``words``."""
    message = str(exc)
    if "unrecognized arguments" in message:
        actions = parser._option_string_actions
        for word in words:
            if word.startswith("--") and word.partition("=")[0] not in actions:
                message += did_you_mean(word, parser)
                break
    return UsageError(message)


def parse_magic_line(parser: argparse.ArgumentParser, line: str) -> argparse.Namespace:
    """A helper magic's line, split with shell quoting (as ``%%deepseek``; IPython's
    ``parse_argstring`` would keep the quotes) and parsed; errors are one line naming it."""
    try:
        words = shlex.split(line, posix=True)
    except ValueError as exc:  # an unclosed quote
        raise UsageError(f"%{parser.prog}: {exc} (check the quotes).") from None
    try:
        return parser.parse_args(words)
    except UsageError as exc:
        raise UsageError(f"%{parser.prog}: {_with_suggestion(exc, words, parser)}") from None


def parse_line(line: str, parser: MagicArgumentParser = PARSER) -> argparse.Namespace:
    """Parse a ``%%deepseek`` line (options only) with shell quoting; a mistyped flag gets
    a "did you mean"."""
    words = _split(line)
    try:
        return parser.parse_args(words)
    except UsageError as exc:
        raise _with_suggestion(exc, words, parser) from None


def split_line_magic(line: str, parser: MagicArgumentParser = PARSER) -> tuple[str, str]:
    """Split a ``%deepseek`` line into (options, prompt).

    Options come first; the prompt is the rest of the line, kept exactly as typed
    (apostrophes and braces included). ``--`` ends the options explicitly. An option
    that takes several values (``--tools f g``) takes one in a line magic unless
    ``--`` follows its values.
    """
    if " -- " in f" {line} ":
        head, _, tail = f" {line} ".partition(" -- ")
        return head.strip(), tail.strip()
    pos = 0
    actions = parser._option_string_actions
    while True:
        match = _TOKEN.search(line, pos)
        if match is None or not match.group().startswith("-") or match.group() in ("-",):
            return line[:pos].strip(), line[pos:].strip()
        flag, _, inline_value = match.group().partition("=")
        action = actions.get(flag)
        if action is None:
            raise UsageError(
                f"Unknown option {flag}{did_you_mean(flag, parser)}; see %deepseek? for the list."
            )
        pos = match.end()
        wants = action.nargs
        if inline_value or wants == 0 or action.const is not None and wants is None:
            continue
        if wants == "?":
            peek = _TOKEN.search(line, pos)
            if peek and peek.group().lower() in (
                "true",
                "false",
                "yes",
                "no",
                "on",
                "off",
                "1",
                "0",
            ):
                pos = peek.end()
            continue
        value = _TOKEN.search(line, pos)
        if value is None:
            raise UsageError(f"{flag} needs a value.")
        pos = value.end()


def option_values(
    args: argparse.Namespace, options: tuple[Option, ...] = OPTIONS
) -> dict[str, Any]:
    """The request options the user gave (raw text, to be checked by validate_options)."""
    return {
        o.name: getattr(args, o.name) for o in options if getattr(args, o.name, None) is not None
    }


def call_values(
    args: argparse.Namespace, settings: tuple[Setting, ...] = SETTINGS
) -> dict[str, Any]:
    """The call settings the user gave as flags (raw text, to be checked by ``Call``)."""
    return {
        s.name: getattr(args, s.name)
        for s in settings
        if s.flags and getattr(args, s.name, None) is not None
    }
