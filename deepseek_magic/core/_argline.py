"""A helper magic's arguments, declared once as plain data, and its line parsed.

The offline, cache and spend features each own the arguments of their magic
(``%deepseek_offline``, ``%deepseek_cache``, ``%deepseek_spend``) and read the same line
outside a notebook too (``DEEPSEEK_MAGIC_OFFLINE="--token-rate 40"``), so the parsing
lives here, on the standard library's argparse, not on IPython: the features import no
IPython. ``notebook/_helper_magics`` turns the same :class:`Arg` declarations into IPython's
``magic_arguments`` decorators (the ``%name?`` help) and shows a :class:`LineError` as
IPython's one-line ``UsageError``.
"""

from __future__ import annotations

import argparse
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ._errors import LineError

__all__ = ["Arg", "arg", "LineError", "parse_line_of"]


@dataclass(frozen=True)
class Arg:
    """One argparse argument: the names and keywords of ``add_argument``."""

    names: tuple[str, ...]
    kwargs: Mapping[str, Any] = field(default_factory=dict)


def arg(*names: str, **kwargs: Any) -> Arg:
    """``arg("--latency", metavar="SECONDS", help=...)``, as ``add_argument`` takes them."""
    return Arg(names, kwargs)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:  # argparse would print and exit
        raise LineError(message)


def parser_for(name: str, description: str, arguments: Sequence[Arg]) -> argparse.ArgumentParser:
    """The parser of magic ``name`` (no ``-h``: ``%name?`` shows the help, as in IPython)."""
    parser = _Parser(prog=name, description=description, add_help=False)
    for argument in arguments:
        parser.add_argument(*argument.names, **argument.kwargs)
    return parser


def parse_line_of(
    name: str, description: str, arguments: Sequence[Arg], line: str
) -> argparse.Namespace:
    """Magic ``name``'s line, split with shell quoting (as ``%%deepseek``) and parsed;
    an unclosed quote or a bad option is one :class:`LineError` naming the magic."""
    try:
        words = shlex.split(line, posix=True)
    except ValueError as exc:  # an unclosed quote
        raise LineError(f"%{name}: {exc} (check the quotes).") from None
    try:
        return parser_for(name, description, arguments).parse_args(words)
    except LineError as exc:
        raise LineError(f"%{name}: {exc}") from None
