"""The helper magics: ``%deepseek_config``, ``_models``, ``_key``, ``_history``, ``_panel``,
``_offline``, ``_cache``, ``_spend``, ``_grade``, ``_explore`` and ``_chat``.

Each declares its arguments with IPython's ``magic_arguments`` decorators, as IPython's
own ``storemagic`` does, and parses its line the same way (``_magic_args.parse_magic_line``:
shell quoting, as ``%%deepseek``; a bad line is one ``UsageError`` naming the magic). The
offline, cache and spend magics take their declarations from the feature module that owns
them (``arguments()``, plain :class:`~deepseek_magic.core._argline.Arg` data), which parses its
own line without IPython; its ``LineError`` is shown as the same one-line ``UsageError``.
The work is done by the feature modules (``_offline``, ``_cache``, ``_spend``,
``_catalogue``); these methods only parse, call and print.
"""

from __future__ import annotations

import argparse
import functools
import sys
from collections.abc import Callable
from typing import Any, TypeVar, cast

from IPython.core import magic_arguments as _arguments
from IPython.core.error import UsageError
from IPython.core.magic import Magics, line_magic, magics_class

from ..core._argline import Arg, LineError
from ..core._errors import ConfigError
from ..core._session import SESSION, Session
from ..features import _cache, _offline, _spend
from ._magic_args import parse_magic_line

__all__ = ["DeepSeekHelperMagics"]

F = TypeVar("F", bound=Callable[..., Any])


def magic_arguments() -> Callable[[F], F]:
    """IPython's decorator, typed (it builds the magic's parser from its ``argument``s)."""
    return _arguments.magic_arguments()  # type: ignore[no-untyped-call]


def argument(*names: str, **kwargs: Any) -> Callable[[F], F]:
    """IPython's ``argument`` decorator, typed: one argparse argument of the magic."""
    return cast("Callable[[F], F]", _arguments.argument(*names, **kwargs))  # type: ignore[no-untyped-call]


def with_arguments(arguments: tuple[Arg, ...], description: str) -> Callable[[F], F]:
    """``magic_arguments`` for arguments declared in a feature module (``_offline``,
    ``_cache``, ``_spend``): the same declarations its own parser is built from. The
    feature parses its line itself; a :class:`LineError` it raises is shown as IPython's
    one-line ``UsageError``."""

    def apply(func: F) -> F:
        @functools.wraps(func)
        def run(*args: Any, **kwargs: Any) -> Any:
            try:
                return func(*args, **kwargs)
            except LineError as exc:
                raise UsageError(str(exc)) from None

        for declaration in reversed(arguments):
            run = argument(*declaration.names, **declaration.kwargs)(run)
        run.__doc__ = description
        return cast(F, magic_arguments()(run))

    return apply


def _config_rows(session: Session) -> dict[str, Any]:
    """For %deepseek_config: the resolved settings (key masked), the session's default
    options, and what those become on this provider."""
    from ..core._errors import OptionError
    from ..core._options import validate_options
    from ..core._providers import plan_options, provider_for_dialect
    from ..core._settings import resolve_settings

    offline = session.offline
    settings = resolve_settings(
        config=session.config,
        require_key=False,
        base_url=offline.base_url if offline else None,
        provider=provider_for_dialect(offline.dialect).name if offline else None,
    )
    if offline is not None:
        settings = settings.with_(offline=True)
    rows = settings.describe()
    rows["defaults"] = dict(session.defaults) or "(none)"
    rows["thinking switch"] = "yes" if settings.provider.thinking else "not sendable here"
    try:
        values = validate_options(dict(session.defaults), warn=lambda msg: None)
    except OptionError as exc:
        return {**rows, "options": f"refused: {exc}"}
    implied = settings.provider.alias_options if settings.short_name_used else None
    from ..client._catalogue import known_catalogue

    catalogue = known_catalogue(session, settings)  # the model's own rules, as a request
    rules = catalogue.rules(settings.model) if catalogue is not None else None
    plan = plan_options(values, settings.provider, implied=implied, rules=rules)
    if implied:
        rows["implied"] = ", ".join(f"{k}={v}" for k, v in implied.items())
    for note in plan.notes():
        head, _, rest = note.partition(": ")
        rows[head] = rest or note
    return rows


def description(magic: Callable[..., Any]) -> tuple[str, str]:
    """The magic's usage line and one-paragraph description (the README's list of magics)."""
    parser = getattr(magic, "parser", None)
    text = parser.description if parser is not None else magic.__doc__
    usage = " ".join(parser.format_usage().split()[1:]) if parser is not None else ""
    return usage, " ".join((text or "").strip().split("\n\n")[0].split())


@magics_class
class DeepSeekHelperMagics(Magics):
    """The helper magics; they share the session of the main magic."""

    def __init__(self, shell: Any = None, session: Session | None = None, **kwargs: Any) -> None:
        super().__init__(shell=shell, **kwargs)
        self.session = session or SESSION

    def _user_ns(self) -> Any:
        return self.shell.user_ns if self.shell is not None else {}

    def _parse(self, name: str, line: str) -> argparse.Namespace:
        return parse_magic_line(getattr(type(self), name).parser, line)

    @magic_arguments()
    @line_magic
    def deepseek_config(self, line: str = "") -> None:
        """Show the settings the next request would use (the key masked)."""
        self._parse("deepseek_config", line)
        try:
            rows = _config_rows(self.session)
        except ConfigError as exc:
            raise UsageError(str(exc)) from None
        width = max(map(len, rows))
        print("\n".join(f"{k:<{width}}  {v}" for k, v in rows.items()))

    @magic_arguments()
    @argument(
        "text", nargs="*", metavar="TEXT", help="Only models whose id or name contains this text."
    )
    @argument("--refresh", action="store_true", help="Read the list from the server again.")
    @argument("--snapshot", action="store_true", help="Show the dated snapshot, not the server.")
    @line_magic
    def deepseek_models(self, line: str = "") -> Any:
        """What the configured provider serves (GET /models, read once per session; the
        dated snapshot when it cannot be reached)."""
        from ..client._catalogue import models

        args = self._parse("deepseek_models", line)
        try:
            frame = models(
                " ".join(args.text) or None,
                refresh=args.refresh,
                snapshot=args.snapshot,
                session=self.session,
            )
        except ConfigError as exc:
            raise UsageError(str(exc)) from None
        source = getattr(frame, "attrs", {}).get("source")
        if source:
            print(f"Catalogue: {source}")
        return frame

    @magic_arguments()
    @line_magic
    def deepseek_key(self, line: str = "") -> None:
        """Enter an API key privately (a password prompt): it is kept for this session
        only, never in the notebook, the history or any output."""
        import getpass

        from ..core._settings import mask_key

        self._parse("deepseek_key", line)
        browser = sys.platform == "emscripten"  # JupyterLite: the kernel is this tab
        key = getpass.getpass(
            "API key (hidden, kept in this tab only): " if browser else "API key (hidden): "
        ).strip()
        if not key:
            print("No key entered; nothing changed.")
            return
        self.session.config["api_key"] = key
        if browser:
            print(
                f"Key stored in this browser tab only ({mask_key(key)}): it is sent only to "
                "the provider, never saved in the notebook, and gone when the tab is closed "
                "or reloaded."
            )
        else:
            print(
                f"Key stored for this session ({mask_key(key)}); it is not saved in the notebook."
            )

    @magic_arguments()
    @line_magic
    def deepseek_history(self, line: str = "") -> Any:
        """The session's requests as a table (a pandas DataFrame when pandas is installed)."""
        self._parse("deepseek_history", line)
        try:
            return self.session.history.to_dataframe()
        except ImportError:
            for row in self.session.history.to_records():
                print(
                    f"{row['n']:>3}  {row['model']:<24} {row['completion_tokens'] or '-':>6} tok  "
                    f"{row['answer'][:60]!r}"
                )
            return None

    @line_magic
    def deepseek_panel(self, line: str = "") -> Any:
        """Open the tuning panel (sliders for every option, Send / Stop / Compare); the
        rest of the line, as typed, is the prompt."""
        from ._panel import panel

        return panel(line.strip(), session=self.session)

    @with_arguments(_offline.arguments(), _offline.DESCRIPTION)
    @line_magic
    def deepseek_offline(self, line: str = "") -> None:
        """Answer from the bundled offline emulator (no key, no network; every output says
        it is the emulator, not DeepSeek R1); `auto` turns it on only when no API key is
        set."""
        from ..features._offline import offline_magic

        offline_magic(self.session, line)

    @with_arguments(_cache.arguments(), _cache.DESCRIPTION)
    @line_magic
    def deepseek_cache(self, line: str = "") -> None:
        """The record/replay cache: record replies to a file, replay them with no key and
        no network, or replay what it has and call for the rest."""
        from ..features._cache import cache_magic

        cache_magic(self.session, line)

    @with_arguments(_spend.arguments(), _spend.DESCRIPTION)
    @line_magic
    def deepseek_spend(self, line: str = "") -> Any:
        """Tokens and cost so far in this session, and the spend budgets (US dollars; 'off'
        removes one)."""
        from ..features._spend import spend_magic

        return spend_magic(self.session, line)

    @magic_arguments()
    @argument("results", nargs="?", metavar="OUT", help="A map() DataFrame, a sweep or Results.")
    @argument("--expected", required=True, metavar="COLUMN", help="The column of right answers.")
    @argument(
        "--extract", default="number", metavar="HOW", help="number, choice, boxed, text or a regex."
    )
    @argument("--compare", metavar="HOW", help="exact, numeric, set, auto or judge.")
    @argument("--tolerance", type=float, metavar="T", help="For numeric: absolute and relative.")
    @argument("--rubric", metavar="TEXT", help="For judge: the judge's instructions.")
    @argument("-o", "--output", metavar="NAME", help="Bind the Grades to NAME.")
    @line_magic
    def deepseek_grade(self, line: str = "") -> Any:
        """Grade a map() run against the right answers: accuracy, a 95% interval, cost per
        correct answer, the wrong rows first (majority vote and pass@k with samples)."""
        from ._eval_magics import grade_magic

        return grade_magic(self._user_ns(), self._parse("deepseek_grade", line))

    @magic_arguments()
    @argument("result", nargs="?", metavar="R", help="A Result (default: the last one).")
    @argument("--compare", metavar="R2", help="A second Result, shown side by side.")
    @line_magic
    def deepseek_explore(self, line: str = "") -> Any:
        """The reasoning explorer: numbered steps, self-corrections and the answer's first
        appearance marked, a time strip; --compare shows two runs side by side."""
        from ._eval_magics import explore_magic

        return explore_magic(self._user_ns(), self._parse("deepseek_explore", line))

    @magic_arguments()
    @argument(
        "action",
        nargs="?",
        default="list",
        choices=["list", "show", "reset"],
        metavar="list|show|reset",
        help="list (default), show NAME, reset NAME, or reset --all.",
    )
    @argument("name", nargs="?", metavar="NAME", help="The conversation.")
    @argument("--all", action="store_true", help="With reset: every conversation.")
    @line_magic
    def deepseek_chat(self, line: str = "") -> None:
        """List conversations (`%deepseek_chat`), show one (`show NAME`), or reset one
        (`reset NAME`, `reset --all`)."""
        usage = "Usage: %deepseek_chat [list | show NAME | reset NAME | reset --all]"
        args = self._parse("deepseek_chat", line)
        chats = self.session.conversations
        if args.action == "list" and args.name is None and not args.all:
            if not chats:
                print("No conversations yet; start one with %%deepseek --chat NAME.")
            for name, conv in chats.items():
                print(f"{name}: {len(conv.results)} replies, {len(conv.messages)} messages")
            return
        if args.action == "reset" and args.all and args.name is None:
            chats.clear()
            print("All conversations reset.")
            return
        if args.action in ("reset", "show") and not args.all and args.name is not None:
            if args.name not in chats:
                raise UsageError(f"No conversation named {args.name}; %deepseek_chat lists them.")
            if args.action == "reset":
                del chats[args.name]
                print(f"Conversation {args.name!r} reset.")
                return
            for message in chats[args.name].messages:
                print(f"{message['role']:>9}: {str(message.get('content'))[:200]}")
            return
        raise UsageError(usage)
