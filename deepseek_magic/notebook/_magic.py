"""The ``%%deepseek`` / ``%deepseek`` magic (the helper magics are in ``_helper_magics``).

Only the magics and the panel touch the user namespace and the display (through
``_display``). The work itself is done by ``_api`` (prepare + run) and drawn by
``_render``/``_live``.

Names bound in the user namespace:

* ``-o NAME``: the Result of that cell (the partial one on failure or interrupt);
* ``_deepseek``: always the last Result;
* ``deepseek_magic.history()``: every Result of the session.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Callable
from typing import Any

from IPython.core.error import UsageError
from IPython.core.magic import Magics, line_cell_magic, magics_class, no_var_expand
from traitlets import Any as AnyTrait
from traitlets import Bool, Float, Int, TraitError, Unicode, observe, validate

from ..core._call import SETTING_BY_NAME, SETTINGS, Call, Setting, pick
from ..core._errors import ConfigError, DeepSeekError, Interrupted, OptionError, ToolError
from ..core._options import OPTIONS
from ..core._result import Result
from ..core._session import SESSION, Session
from ..engine._api import Prepared, prepare
from ..engine._dispatch import run_sync
from ..features import start
from ..features._schema import resolve_schema
from ..features._schema_run import dry_run_notes
from ..features._schema_view import data_plain
from ._display import LAST_NAME, bind, displayer, updating
from ._live import LiveView, TerminalView
from ._magic_args import PARSER, call_values, option_values, parse_line, split_line_magic

__all__ = [
    "DeepSeekMagics",
    "magics_markdown",
    "register_magics",
    "load_ipython_extension",
    "unload_ipython_extension",
    "LAST_NAME",
    "interpolate",
]


_VAR = re.compile(r"\{\{\s*([A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*)\s*\}\}")


def interpolate(prompt: str, namespace: dict[str, Any]) -> str:
    """Replace ``{{name}}`` / ``{{name.attr}}`` with notebook values (no expressions are
    evaluated; single braces and code are left untouched)."""

    def value(match: re.Match[str]) -> str:
        first, *rest = match.group(1).split(".")
        if first not in namespace:
            raise UsageError(f"--vars: {{{{{match.group(1)}}}}} is not defined in the notebook.")
        obj = namespace[first]
        for attr in rest:
            if attr.startswith("_") or not hasattr(obj, attr):
                raise UsageError(f"--vars: {{{{{match.group(1)}}}}} has no attribute {attr!r}.")
            obj = getattr(obj, attr)
        return str(obj)

    return _VAR.sub(value, prompt)


_TRAIT_TYPES: dict[str, type] = {
    "seconds": Float,
    "number": Float,
    "count": Int,
    "switch": Bool,
    # a number, "off" or (price) "0.55,2.19" or a pair: checked by the table's coerce
    "dollars": AnyTrait,
    "price": AnyTrait,
}


def _setting_trait(setting: Setting) -> Any:
    """A ``%config`` trait for a call setting; None means "unset: the table's default"."""
    trait_type = _TRAIT_TYPES.get(setting.kind, Unicode)
    default = "" if setting.default is None else f" (default {setting.default})"
    return trait_type(None, allow_none=True, help=setting.help + default).tag(config=True)


# Session defaults, generated from the two tables: every request option
# (`%config DeepSeekMagics.temperature = 0.6`) and every call setting marked `trait`
# (`%config DeepSeekMagics.timeout = 300`).
_DEFAULT_NAMES = [o.name for o in OPTIONS if o.kind != "tools" and not o.alias_of]
#: the settings the magic's traits write into the session's config
_SETTINGS = [s.name for s in SETTINGS if s.trait]
_OptionDefaults: type = type(
    "_OptionDefaults",
    (Magics,),
    {
        **{
            o.name: AnyTrait(None, allow_none=True, help=f"Default {o.flag}: {o.help}").tag(
                config=True
            )
            for o in OPTIONS
            if o.name in _DEFAULT_NAMES
        },
        **{s.name: _setting_trait(s) for s in SETTINGS if s.trait},
    },
)


def _drop_invalid_config(shell: Any) -> None:
    """Remove option defaults the shell's config holds but the table refuses (a value
    `%config` already reported as an error stays in the shell's config): one warning
    each, instead of a TraitError that would stop ``%load_ext`` / ``%reload_ext``."""
    section = getattr(shell, "config", {}).get("DeepSeekMagics") if shell is not None else None
    if not section:
        return
    from ..core._options import OPTION_BY_NAME

    for name in [n for n in list(section) if n in _DEFAULT_NAMES]:
        value = section[name]
        if value is None:
            continue
        try:
            OPTION_BY_NAME[name].coerce(value)
        except OptionError as exc:
            del section[name]
            print(
                f"Warning: ignoring DeepSeekMagics.{name} from the config: {exc}", file=sys.stderr
            )


def _is_terminal(shell: Any) -> bool:
    return any(c.__name__ == "TerminalInteractiveShell" for c in type(shell).__mro__)


@magics_class
class DeepSeekMagics(_OptionDefaults):  # type: ignore[misc]
    """DeepSeek R1 in IPython. Settings: ``%config DeepSeekMagics`` lists them."""

    def __init__(self, shell: Any = None, session: Session | None = None, **kwargs: Any) -> None:
        # Set first: values from ipython_config.py (c.DeepSeekMagics.base_url = ...) arrive
        # during super().__init__ and their observers write to the session.
        self.session = session or SESSION
        _drop_invalid_config(shell)
        super().__init__(shell=shell, **kwargs)
        for name in _SETTINGS:
            value = getattr(self, name)
            if value is not None:
                self.session.config[name] = value

    # ------------------------------------------------------------- traits
    @validate(*_DEFAULT_NAMES)
    def _check_default(self, proposal: Any) -> Any:
        name = proposal["trait"].name
        if proposal["value"] is None:
            return None
        from ..core._options import OPTION_BY_NAME

        try:
            return OPTION_BY_NAME[name].coerce(proposal["value"])
        except OptionError as exc:
            raise TraitError(str(exc)) from None

    @observe(*_DEFAULT_NAMES)
    def _store_default(self, change: Any) -> None:
        if change["new"] is None:
            self.session.defaults.pop(change["name"], None)
        else:
            self.session.defaults[change["name"]] = change["new"]

    @validate(*_SETTINGS)
    def _check_setting(self, proposal: Any) -> Any:
        try:
            return SETTING_BY_NAME[proposal["trait"].name].coerce(proposal["value"])
        except ConfigError as exc:
            raise TraitError(str(exc)) from None

    @observe(*_SETTINGS)
    def _store_setting(self, change: Any) -> None:
        if change["new"] in (None, ""):
            self.session.config.pop(change["name"], None)
        else:
            self.session.config[change["name"]] = change["new"]

    # -------------------------------------------------------------- magic
    @no_var_expand
    @line_cell_magic
    def deepseek(self, line: str, cell: str | None = None) -> Any:
        """Ask DeepSeek R1 (see %deepseek? for every option)."""
        if cell is None:
            opts, prompt = split_line_magic(line)
        else:
            opts, prompt = line, cell
        prompt = prompt.strip()
        args = parse_line(opts)
        if args.panel:
            from ._panel import panel

            given = call_values(args)
            fields = {k: v for k, v in given.items() if SETTING_BY_NAME[k].panel}
            return panel(prompt, session=self.session, **fields, **option_values(args))
        if args.over:
            return self._over(args, prompt)
        from ._magic_over import OVER_ONLY

        for dest, flag in OVER_ONLY:
            if getattr(args, dest) is not None:
                raise UsageError(
                    f"{flag} works with --over DATA (a run over rows); nothing was sent."
                )
        if args.sweep:
            return self._sweep(args, prompt)
        prep = self._prepare(args, prompt)
        if args.dry_run:
            self._show_dry_run(prep)
            return None
        self._run(prep, args)
        return None

    def _prepare(self, args: Any, prompt: str) -> Prepared:
        if args.vars:
            prompt = interpolate(prompt, self.shell.user_ns)
        call, options = self._request_call(args)
        try:
            return prepare(
                prompt,
                session=self.session,
                call=call,
                options=options,
                warn=lambda msg: print(f"Warning: {msg}", file=sys.stderr),
                require_key=not args.dry_run,
            )
        except (OptionError, ConfigError, ToolError) as exc:
            # One line, nothing sent.
            raise UsageError(str(exc)) from None

    def _request_call(self, args: Any) -> tuple[Call, dict[str, Any]]:
        """The line's call settings (every flag of the settings table, checked by it) and
        request options; one line and nothing sent when one is refused."""
        try:
            call = Call(**call_values(args))  # checks --out, --timeout, --over's flags ...
            start(self.session)
        except (ConfigError, DeepSeekError) as exc:
            raise UsageError(str(exc)) from None
        try:  # --schema NAME: the notebook's class or dict; other text is an inline spec
            call = call.replace(schema=resolve_schema(call.given("schema"), self.shell.user_ns))
        except OptionError as exc:
            raise UsageError(str(exc)) from None
        options: dict[str, Any] = option_values(args)
        if "tools" in options:
            options["tools"] = self._resolve_tools(options["tools"])
        return call, options

    def _over(self, args: Any, prompt: str) -> None:
        """``--over DATA``: the cell is a template filled per row (see ``_batch``)."""
        from ._magic_over import run_over

        run_over(self, args, prompt)

    def _sweep(self, args: Any, prompt: str) -> None:
        """``--sweep``: one prompt over a grid of options, concurrently (see ``_sweep``)."""
        from ..batch._sweep import parse_sweep, sweep

        try:
            grid = parse_sweep(args.sweep)
        except (OptionError, ValueError) as exc:
            raise UsageError(str(exc)) from None
        prep = self._prepare(args, prompt)  # validates the shared options; nothing sent yet
        if args.dry_run:
            self._show_dry_run(prep)
            print(f"--sweep grid (not sent): {grid}")
            return None
        try:
            frame = sweep(prep, grid, session=self.session, view=updating())
        except Interrupted as exc:
            if args.out and exc.partial_frame is not None:
                self._bind(args.out, exc.partial_frame, last=False)  # the rows that finished
            raise
        if args.out:
            self._bind(args.out, frame, last=False)
        return None

    def _resolve_tools(self, names: list[str]) -> list[Any]:
        found: list[Any] = []
        for name in names:
            if name not in self.shell.user_ns:
                raise UsageError(
                    f"--tools {name}: no function or variable of that name in the notebook."
                )
            value = self.shell.user_ns[name]
            found.extend(value if isinstance(value, (list, tuple)) else [value])
        return found

    def _show_dry_run(self, prep: Prepared) -> None:
        from IPython.display import display

        body = json.dumps(prep.request.body, indent=2, ensure_ascii=False, default=str)
        notes = [f"{prep.settings.provider.title} rules"] + prep.request.plan.notes()
        notes += dry_run_notes(prep.schema)
        text = f"POST {prep.settings.endpoint}\n{body}\n" + "\n".join(notes)
        markdown = (
            f"```json\n{body}\n```\n"
            + "".join(f"* {_md_escape(n)}\n" for n in notes)
            + "\n*not sent (--dry-run)*"
        )
        bundle = {"text/plain": text, "text/markdown": markdown}
        display(bundle, raw=True)  # type: ignore[no-untyped-call]

    def _run(self, prep: Prepared, args: Any) -> None:
        from ..view._render import render_plain_final, render_result

        show_reasoning = pick(
            "show_reasoning", Call(show_reasoning=args.show_reasoning), self.session.config
        )[0]
        terminal = _is_terminal(self.shell)
        live: LiveView | None = None
        term: TerminalView | None = None
        if terminal:
            term = TerminalView(show_reasoning=show_reasoning, offline=prep.settings.offline)
            on_event: Callable[[Any, Any], None] = lambda event, stream: term.event(event)  # noqa: E731
        else:
            rate = pick("live_rate", None, self.session.config)[0]
            view = live = LiveView(
                displayer(), sheet=displayer(), max_rate=rate, offline=prep.settings.offline
            )
            live.start()

            def on_event(event: Any, stream: Any) -> None:
                view.event(event)

        def finish(result: Result) -> None:
            self._bind(args.out, result)
            shown = result if show_reasoning else result.replace(reasoning="")
            if result.error:
                # The error itself is the cell's one error line, printed right below:
                # the output only says the reply was cut, without repeating the message.
                shown = shown.replace(error="Stopped by the error below")
            note = self._spend_note()
            if live is not None:
                bundle, metadata = render_result(shown, footer_note=note)
                live.finish(bundle, metadata)
            elif term is not None:
                footer = render_plain_final(shown).rsplit("\n", 1)[-1]
                data = "".join(line + "\n" for line in data_plain(shown))  # typed answers
                term.finish(data + footer + (f" · {note}" if note else ""))

        def keep(partial: Result | None) -> None:
            """Show what arrived; when nothing did, the error line alone speaks."""
            if partial is not None and (partial.answer or partial.reasoning or partial.tool_calls):
                finish(partial)
                return
            if partial is not None:
                self._bind(args.out, partial)
            if live is not None:
                live.finish({"text/plain": ""}, {})  # remove the "waiting…" frame

        try:
            try:
                result = run_sync(
                    prep,
                    session=self.session,
                    on_event=on_event,
                    on_stream=None if live is None else lambda stream: live.request_started(),
                )
            except DeepSeekError as exc:  # Interrupted too: the engine kept the partial
                keep(exc.partial)
                raise
            except KeyboardInterrupt as exc:
                partial = getattr(exc, "partial", None)
                keep(partial)
                # One line instead of a traceback through httpx; still a KeyboardInterrupt,
                # so the cell fails and "Run all" stops.
                raise Interrupted("Stopped by the kernel's interrupt.", partial=partial) from None
            finish(result)
        finally:
            if live is not None:
                live.close()  # the timer's thread is stopped and joined, whatever happened

    def _spend_note(self) -> str | None:
        """``session $0.0123`` for the footer, once the session has spent something."""
        from ..features._spend import session_totals
        from ..view._render import format_cost

        totals = session_totals(self.session)
        if totals.requests < 2 or not totals.cost:
            return None
        budget = f" of ${totals.budget:g} budget" if totals.budget is not None else ""
        source = "estimate" if totals.estimated else "server"
        return f"session {format_cost(totals.cost, source)}{budget}"

    def _bind(self, name: str | None, result: Any, *, last: bool = True) -> None:
        bind(self.shell.user_ns, name, result, last=last)


# `%%deepseek?` shows the full help generated from the option table.
DeepSeekMagics.deepseek.__doc__ = PARSER.format_help()


def _md_escape(text: str) -> str:
    return "".join("\\" + c if c in "\\`*_[]<>|#" else c for c in text)


def magics_markdown() -> str:
    """The README's list of magics (generated; a test keeps README in step)."""
    from ._helper_magics import DeepSeekHelperMagics, description

    rows = [
        "| magic | what it does |",
        "| --- | --- |",
        "| `%%deepseek [options]` / `%deepseek [options] PROMPT` "
        "| Ask DeepSeek R1; see the flags below and `%%deepseek?`. |",
    ]
    for name in sorted(DeepSeekHelperMagics.magics["line"]):
        usage, text = description(getattr(DeepSeekHelperMagics, name))
        usage = usage or f"%{name} [PROMPT]"
        cells = (f"`{usage}`", text)
        rows.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return "\n".join(rows)


_LINE_MAGIC = re.compile(r"^(\s*)%deepseek(?=\s|$)(.*)$")


def protect_question_marks(lines: list[str]) -> list[str]:
    """Input transformer: ``%deepseek Why is the sky blue?`` is a question, not a request
    for help on ``blue``. IPython's help syntax would otherwise take the trailing ``?``,
    so a ``%deepseek`` line is turned into its ``run_line_magic`` call before that
    transformer runs (``%deepseek?`` alone still shows help)."""
    out = []
    for line in lines:
        match = _LINE_MAGIC.match(line)
        if match and match.group(2).strip() not in ("", "?", "??") and line.rstrip().endswith("?"):
            indent, rest = match.group(1), match.group(2).rstrip("\n").strip()
            line = f"{indent}get_ipython().run_line_magic('deepseek', {rest!r})\n"
        out.append(line)
    return out


def register_magics(shell: Any, session: Session | None = None) -> DeepSeekMagics:
    """Register the main magic and the helper magics on ``shell``, sharing one session."""
    from ._helper_magics import DeepSeekHelperMagics

    magics = DeepSeekMagics(shell=shell, session=session)
    shell.register_magics(magics)
    shell.register_magics(DeepSeekHelperMagics(shell=shell, session=magics.session))
    return magics


def load_ipython_extension(ipython: Any) -> None:
    if protect_question_marks not in ipython.input_transformers_cleanup:
        ipython.input_transformers_cleanup.append(protect_question_marks)
    magics = register_magics(ipython)
    # The features: DEEPSEEK_MAGIC_OFFLINE / DEEPSEEK_MAGIC_CACHE (each announced with a
    # visible line when it takes effect) and the spend guard.
    try:
        start(magics.session)
    except DeepSeekError as exc:
        print(f"Warning: {exc}", file=sys.stderr)


def unload_ipython_extension(ipython: Any) -> None:
    if protect_question_marks in ipython.input_transformers_cleanup:
        ipython.input_transformers_cleanup.remove(protect_question_marks)
    from ._helper_magics import DeepSeekHelperMagics

    manager = ipython.magics_manager
    for cls in (DeepSeekMagics, DeepSeekHelperMagics):
        for kind, names in cls.magics.items():
            for name in names:
                manager.magics[kind].pop(name, None)
        manager.registry.pop(cls.__name__, None)
