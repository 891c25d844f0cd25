"""The ``%%deepseek`` argument parser, generated from the option table, and the line
splitting that goes with it.

Every request option of ``_options.OPTIONS`` becomes a flag here with no name typed
twice; the non-request flags (model, system, output variable, conversation ...) are
declared once in :data:`MAGIC_FLAGS`. ``%%deepseek?`` shows the parser's help.

Quoting follows the shell (``--stop '###'`` gives ``###``): IPython's own
``parse_argstring`` splits without POSIX quoting and would keep the quotes.
"""

from __future__ import annotations

import argparse
import re
import shlex
from dataclasses import dataclass
from typing import Any

from IPython.core.error import UsageError
from IPython.core.magic_arguments import MagicArgumentParser, MagicHelpFormatter

from ._options import OPTIONS, Option
from ._providers import PROVIDERS

__all__ = ["build_parser", "parse_line", "magic_flags_markdown", "split_line_magic", "MAGIC_FLAGS", "option_values", "PARSER"]


@dataclass(frozen=True)
class Flag:
    """A flag of the magic that is not a request option."""

    names: tuple[str, ...]
    dest: str
    help: str
    action: str = "store"
    metavar: str | None = None


MAGIC_FLAGS: tuple[Flag, ...] = (
    Flag(("-m", "--model"), "model", "Model id; 'deepseek-r1' resolves per provider (default deepseek/deepseek-r1).",
         metavar="MODEL"),
    Flag(("-s", "--system"), "system", "A system prompt (DeepSeek advises putting instructions in the prompt instead).",
         metavar="TEXT"),
    Flag(("-o", "--out"), "out", "Bind the Result to this variable (also on failure: the partial Result).",
         metavar="NAME"),
    Flag(("-c", "--chat"), "chat", "Continue the named conversation (earlier turns are sent).", metavar="NAME"),
    Flag(("--vars",), "vars", "Fill {{name}} in the prompt with notebook variables (off unless given).",
         action="store_true"),
    Flag(("--extra",), "extra", "Extra JSON fields for the body, e.g. '{\"provider\": {\"order\": [\"deepseek\"]}}'.",
         metavar="JSON"),
    Flag(("--base-url",), "base_url",
         "Send to this OpenAI-compatible base URL (e.g. a local server's "
         "http://localhost:PORT/v1).",
         metavar="URL"),
    Flag(("--provider",), "provider", f"{', '.join(PROVIDERS)}: that provider's base URL and rules "
         "(with --base-url: a server of that kind at that address).", metavar="NAME"),
    Flag(("--strict",), "strict", "Refuse (send nothing) when an option would be ignored by the "
         "server or cannot be sent to it.", action="store_true"),
    Flag(("--no-stream",), "no_stream", "Ask for one non-streamed reply.", action="store_true"),
    Flag(("--run-tools",), "run_tools", "Run the tools the model calls and send back their results.",
         action="store_true"),
    Flag(("--max-tool-rounds",), "max_tool_rounds", "At most this many tool rounds (default 8).",
         metavar="N"),
    Flag(("--timeout",), "timeout", "Seconds of server silence tolerated (default 120).", metavar="SECONDS"),
    Flag(("--hide-reasoning",), "hide_reasoning", "Do not show the reasoning (it is still kept in the Result).",
         action="store_true"),
    Flag(("--dry-run",), "dry_run", "Show the JSON body that would be sent, and send nothing.",
         action="store_true"),
    Flag(("--panel",), "panel", "Open the tuning panel with this cell's text as the prompt.",
         action="store_true"),
    Flag(("--sweep",), "sweep", "Run over a grid: --sweep temperature=0.2,0.6,1.0 --sweep seed=1,2 "
         "(concurrently; -o gets a DataFrame).", action="append", metavar="NAME=V1,V2"),
    Flag(("--over",), "over", "Run the cell once per row of this DataFrame (or list): "
         "{{column}} is filled per row; resumable, see deepseek_magic.map (-o gets a DataFrame).",
         metavar="DATA"),
    Flag(("--concurrency",), "concurrency", "With --over: requests in flight at most (default 8).",
         metavar="N"),
    Flag(("--budget",), "budget",
         "With --over: refuse a run whose estimate can exceed USD; stop at it.", metavar="USD"),
    Flag(("--run-file",), "run_file",
         "With --over: the run file (default deepseek-runs.sqlite; 'none' for none).",
         metavar="PATH"),
)

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
        help_text = f"Deprecated: use --{option.alias_of.replace('_', '-') if option.alias_of else ''}."
    names = [option.flag] + ([f"-{option.short}"] if option.short else [])
    # Values arrive as text and are checked by Option.coerce, which names the flag,
    # the value and the allowed range in its message.
    if option.kind == "bool":
        parser.add_argument(*names, dest=option.name, nargs="?", const="true", metavar=option.metavar,
                            help=help_text)
    elif option.kind == "strings":
        parser.add_argument(*names, dest=option.name, action="append", metavar=option.metavar, help=help_text)
    elif option.kind == "tools":
        parser.add_argument(*names, dest=option.name, nargs="+", action="extend", metavar=option.metavar,
                            help=help_text + ". Names of functions, or a variable holding tool specs")
    else:
        parser.add_argument(*names, dest=option.name, metavar=option.metavar, help=help_text)


def build_parser(options: tuple[Option, ...] = OPTIONS) -> MagicArgumentParser:
    """The magic's parser: request options from the table, then the magic's own flags."""
    # MagicHelpFormatter adds one "%" to the usage line.
    parser = MagicArgumentParser(prog="%deepseek",  # type: ignore[no-untyped-call]
                                 description=_DESCRIPTION, formatter_class=MagicHelpFormatter)
    parser.allow_abbrev = False  # `--temp` must not silently mean --temperature
    group = parser.add_argument_group("request options (sent to the API)")
    for option in options:
        _add_option(group, option)  # type: ignore[arg-type]
    own = parser.add_argument_group("magic options")
    for flag in MAGIC_FLAGS:
        kwargs: dict[str, Any] = {"dest": flag.dest, "help": flag.help, "action": flag.action}
        if flag.metavar:
            kwargs["metavar"] = flag.metavar
        own.add_argument(*flag.names, **kwargs)
    return parser


PARSER = build_parser()

_TOKEN = re.compile(r"""(?:[^\s"']+|"(?:\\.|[^"\\])*"|'[^']*')+""")


def _split(text: str) -> list[str]:
    try:
        return shlex.split(text, posix=True)
    except ValueError as exc:
        raise UsageError(f"Cannot read the options: {exc} (check the quotes).") from None


def parse_line(line: str, parser: MagicArgumentParser = PARSER) -> argparse.Namespace:
    """Parse a ``%%deepseek`` line (options only) with shell quoting."""
    return parser.parse_args(_split(line))


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
            raise UsageError(f"Unknown option {flag}; see %deepseek? for the list.")
        pos = match.end()
        wants = action.nargs
        if inline_value or wants == 0 or action.const is not None and wants is None:
            continue
        if wants == "?":
            peek = _TOKEN.search(line, pos)
            if peek and peek.group().lower() in ("true", "false", "yes", "no", "on", "off", "1", "0"):
                pos = peek.end()
            continue
        value = _TOKEN.search(line, pos)
        if value is None:
            raise UsageError(f"{flag} needs a value.")
        pos = value.end()


def magic_flags_markdown() -> str:
    """The README's table of the magic's own flags (generated; a test keeps README in step)."""
    rows = ["| flag | meaning |", "| --- | --- |"]
    for flag in MAGIC_FLAGS:
        names = ", ".join(f"`{n}{' ' + flag.metavar if flag.metavar else ''}`" for n in flag.names)
        rows.append(f"| {names} | {flag.help} |")
    return "\n".join(rows)


def option_values(args: argparse.Namespace, options: tuple[Option, ...] = OPTIONS) -> dict[str, Any]:
    """The request options the user gave (raw text, to be checked by validate_options)."""
    return {o.name: getattr(args, o.name) for o in options if getattr(args, o.name, None) is not None}
