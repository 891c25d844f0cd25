"""The ``%%deepseek`` / ``%deepseek`` magics and their helpers.

Only this module (and the panel) touches the user namespace and the display. The
work itself is done by ``_api`` (prepare + run) and drawn by ``_render``/``_live``.

Names bound in the user namespace:

* ``-o NAME``: the Result of that cell (the partial one on failure or interrupt);
* ``_deepseek``: always the last Result;
* ``deepseek_magic.history()``: every Result of the session.
"""

from __future__ import annotations

import json
import re
import sys
import uuid
from typing import Any, Callable

from IPython.core.error import UsageError
from IPython.core.magic import Magics, line_cell_magic, line_magic, magics_class, no_var_expand
from traitlets import Any as AnyTrait
from traitlets import Bool, Float, Int, TraitError, Unicode, observe, validate

from ._api import Prepared, prepare, run_prepared
from ._errors import ConfigError, DeepSeekError, Interrupted, OptionError, ToolError
from ._live import LiveView, TerminalView
from ._magic_args import PARSER, option_values, parse_line, split_line_magic
from ._options import OPTIONS
from ._providers import PROVIDERS
from ._result import Result
from ._session import SESSION, Session
from ._settings import mask_key, resolve_settings

__all__ = ["DeepSeekMagics", "magics_markdown", "load_ipython_extension", "unload_ipython_extension", "LAST_NAME", "interpolate"]

#: the user-namespace name that always holds the last Result
LAST_NAME = "_deepseek"

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


# Session defaults for every request option, generated from the table:
# `%config DeepSeekMagics.temperature = 0.6`.
_OptionDefaults: type = type(
    "_OptionDefaults",
    (Magics,),
    {o.name: AnyTrait(None, allow_none=True, help=f"Default {o.flag}: {o.help}").tag(config=True)
     for o in OPTIONS if o.kind != "tools" and not o.alias_of},
)
_DEFAULT_NAMES = [o.name for o in OPTIONS if o.kind != "tools" and not o.alias_of]


def _drop_invalid_config(shell: Any) -> None:
    """Remove option defaults the shell's config holds but the table refuses (a value
    `%config` already reported as an error stays in the shell's config): one warning
    each, instead of a TraitError that would stop ``%load_ext`` / ``%reload_ext``."""
    section = getattr(shell, "config", {}).get("DeepSeekMagics") if shell is not None else None
    if not section:
        return
    from ._options import OPTION_BY_NAME

    for name in [n for n in list(section) if n in _DEFAULT_NAMES]:
        value = section[name]
        if value is None:
            continue
        try:
            OPTION_BY_NAME[name].coerce(value)
        except OptionError as exc:
            del section[name]
            print(f"Warning: ignoring DeepSeekMagics.{name} from the config: {exc}", file=sys.stderr)


def _config_plan(session: Session, settings: Any) -> dict[str, Any]:
    """For %deepseek_config: what the session's default options become on this provider."""
    from ._options import validate_options
    from ._providers import plan_options

    switch = "yes" if settings.provider.thinking else "not sendable here"
    rows: dict[str, Any] = {"thinking switch": switch}
    try:
        values = validate_options(dict(session.defaults), warn=lambda msg: None)
    except OptionError as exc:
        return {**rows, "options": f"refused: {exc}"}
    implied = settings.provider.alias_options if settings.short_name_used else None
    plan = plan_options(values, settings.provider, implied=implied)
    if implied:
        rows["implied"] = ", ".join(f"{k}={v}" for k, v in implied.items())
    for note in plan.notes():
        head, _, rest = note.partition(": ")
        rows[head] = rest or note
    return rows


#: the settings the magic's traits write into the session's config
_SETTINGS = ("base_url", "provider", "model", "system", "timeout", "max_retries", "verify_tls", "strict")


def _is_terminal(shell: Any) -> bool:
    return any(c.__name__ == "TerminalInteractiveShell" for c in type(shell).__mro__)


@magics_class
class DeepSeekMagics(_OptionDefaults):  # type: ignore[misc]
    """DeepSeek R1 in IPython. Settings: ``%config DeepSeekMagics`` lists them."""

    base_url = Unicode(None, allow_none=True, help="Base URL of an OpenAI-compatible API.").tag(config=True)
    provider = Unicode(None, allow_none=True, help=f"One of {', '.join(PROVIDERS)}.").tag(
        config=True)
    model = Unicode(None, allow_none=True, help="Model id (default deepseek-r1, resolved per provider).").tag(
        config=True)
    system = Unicode(None, allow_none=True, help="System prompt for every request.").tag(config=True)
    timeout = Float(None, allow_none=True, help="Seconds of server silence tolerated.").tag(config=True)
    max_retries = Int(None, allow_none=True, help="Retries before the first byte (default 2).").tag(config=True)
    show_reasoning = Bool(True, help="Show the reasoning (collapsed) in outputs.").tag(config=True)
    live_rate = Float(8.0, help="Most live-view updates per second.").tag(config=True)
    verify_tls = Bool(True, help="Verify TLS certificates (turn off only for a local test server).").tag(
        config=True)
    strict = Bool(None, allow_none=True, help="Refuse every request with an option the server would "
                  "ignore or cannot take (as --strict).").tag(config=True)

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
        from ._options import OPTION_BY_NAME

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

            return panel(prompt, session=self.session, model=args.model, system=args.system,
                         out=args.out, base_url=args.base_url, provider=args.provider, **option_values(args))
        if args.over:
            return self._over(args, prompt)
        from ._magic_over import OVER_ONLY

        for dest, flag in OVER_ONLY:
            if getattr(args, dest) is not None:
                raise UsageError(f"{flag} works with --over DATA (a run over rows); "
                                 "nothing was sent.")
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
        kwargs = self._request_kwargs(args)
        try:
            return prepare(prompt, session=self.session, conversation=args.chat,
                           run_tools=args.run_tools, require_key=not args.dry_run,
                           warn=lambda msg: print(f"Warning: {msg}", file=sys.stderr), **kwargs)
        except (OptionError, ConfigError, ToolError) as exc:
            # One line, nothing sent.
            raise UsageError(str(exc)) from None

    def _request_kwargs(self, args: Any) -> dict[str, Any]:
        """The line's request settings and options, checked (one line, nothing sent)."""
        if args.out and not args.out.isidentifier():  # refused before sending, not after paying
            raise UsageError(f"--out {args.out}: not a valid Python name.")
        options: dict[str, Any] = option_values(args)
        if "tools" in options:
            options["tools"] = self._resolve_tools(options["tools"])
        extra = None
        if args.extra:
            try:
                extra = json.loads(args.extra)
            except ValueError as exc:
                raise UsageError(f"--extra is not valid JSON: {exc}.") from None
            if not isinstance(extra, dict):
                raise UsageError("--extra must be a JSON object, e.g. '{\"provider\": {\"sort\": \"price\"}}'.")
        number = {"timeout": float, "max_tool_rounds": int}
        numbers: dict[str, Any] = {}
        for name, typ in number.items():
            raw = getattr(args, name)
            if raw is not None:
                try:
                    numbers[name] = typ(raw)
                    if numbers[name] <= 0 and name == "timeout" or numbers[name] < 0:
                        raise ValueError
                except (TypeError, ValueError):  # TypeError: argparse reads "--timeout=--" as []
                    raise UsageError(f"--{name.replace('_', '-')} {raw}: expected a positive number.") from None
        return dict(model=args.model, system=args.system, stream=not args.no_stream,
                    base_url=args.base_url, provider=args.provider, extra=extra, strict=args.strict,
                    options=options, **numbers)

    def _over(self, args: Any, prompt: str) -> None:
        """``--over DATA``: the cell is a template filled per row (see ``_batch``)."""
        from ._magic_over import run_over

        run_over(self, args, prompt)

    def _sweep(self, args: Any, prompt: str) -> None:
        """``--sweep``: one prompt over a grid of options, concurrently (see ``_sweep``)."""
        from ._sweep import parse_sweep, sweep

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
            frame = sweep(prep, grid, session=self.session, display=True)
        except KeyboardInterrupt as exc:
            partial = getattr(exc, "partial", None)
            if args.out and partial is not None:
                self._bind(args.out, partial, last=False)  # the rows that finished
            raise
        if args.out:
            self._bind(args.out, frame, last=False)
        return None

    def _resolve_tools(self, names: list[str]) -> list[Any]:
        found: list[Any] = []
        for name in names:
            if name not in self.shell.user_ns:
                raise UsageError(f"--tools {name}: no function or variable of that name in the notebook.")
            value = self.shell.user_ns[name]
            found.extend(value if isinstance(value, (list, tuple)) else [value])
        return found

    def _show_dry_run(self, prep: Prepared) -> None:
        from IPython.display import display

        body = json.dumps(prep.request.body, indent=2, ensure_ascii=False, default=str)
        notes = [f"{prep.settings.provider.title} rules"] + prep.request.plan.notes()
        text = f"POST {prep.settings.endpoint}\n{body}\n" + "\n".join(notes)
        markdown = f"```json\n{body}\n```\n" + "".join(f"* {_md_escape(n)}\n" for n in notes) \
            + "\n*not sent (--dry-run)*"
        bundle = {"text/plain": text, "text/markdown": markdown}
        display(bundle, raw=True)  # type: ignore[no-untyped-call]

    def _run(self, prep: Prepared, args: Any) -> None:
        from ._render import render_plain_final, render_result

        show_reasoning = self.show_reasoning and not args.hide_reasoning
        terminal = _is_terminal(self.shell)
        live: LiveView | None = None
        term: TerminalView | None = None
        if terminal:
            term = TerminalView(show_reasoning=show_reasoning)
            on_event: Callable[[Any, Any], None] = lambda event, stream: term.event(event)  # noqa: E731
        else:
            view = live = LiveView(_displayer(), max_rate=self.live_rate, offline=prep.settings.offline)
            live.start()

            def on_event(event: Any, stream: Any) -> None:
                view.event(event, stream)

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
                term.finish(render_plain_final(shown).rsplit("\n", 1)[-1] + (f" · {note}" if note else ""))

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
                result = run_prepared(prep, session=self.session, on_event=on_event)
            except DeepSeekError as exc:
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
        from ._render import format_cost
        from ._spend import session_totals

        totals = session_totals(self.session)
        if totals.requests < 2 or not totals.cost:
            return None
        budget = f" of ${totals.budget:g} budget" if totals.budget is not None else ""
        return f"session {format_cost(totals.cost, 'estimate' if totals.estimated else 'server')}{budget}"

    def _bind(self, name: str | None, result: Any, *, last: bool = True) -> None:
        if last:
            self.shell.user_ns[LAST_NAME] = result
        if name:
            if not name.isidentifier():
                raise UsageError(f"--out {name}: not a valid Python name.")
            self.shell.user_ns[name] = result

    # ------------------------------------------------------------ helpers
    @line_magic
    def deepseek_config(self, line: str = "") -> None:
        """Show the settings the next request would use (the key masked)."""
        from ._providers import provider_for_dialect

        offline = self.session.offline
        try:
            settings = resolve_settings(config=self.session.config, require_key=False,
                                        base_url=offline.base_url if offline else None,
                                        provider=provider_for_dialect(offline.dialect).name
                                        if offline else None)
        except ConfigError as exc:
            raise UsageError(str(exc)) from None
        if offline is not None:
            settings = settings.with_(offline=True)
        rows = settings.describe()
        rows["defaults"] = dict(self.session.defaults) or "(none)"
        rows.update(_config_plan(self.session, settings))
        width = max(map(len, rows))
        print("\n".join(f"{k:<{width}}  {v}" for k, v in rows.items()))

    @line_magic
    def deepseek_models(self, line: str = "") -> Any:
        """`%deepseek_models [TEXT] [--refresh] [--snapshot]`: what the configured provider serves
        (GET /models, read once per session; the dated snapshot when it cannot be reached)."""
        from ._catalogue import models

        words = line.split()
        flags = {w for w in words if w.startswith("--")}
        unknown = flags - {"--refresh", "--snapshot"}
        if unknown:
            raise UsageError(f"Unknown option {sorted(unknown)[0]}; use %deepseek_models [TEXT] "
                             "[--refresh] [--snapshot].")
        text = " ".join(w for w in words if not w.startswith("--")) or None
        try:
            frame = models(text, refresh="--refresh" in flags, snapshot="--snapshot" in flags,
                           session=self.session)
        except ConfigError as exc:
            raise UsageError(str(exc)) from None
        source = getattr(frame, "attrs", {}).get("source")
        if source:
            print(f"Catalogue: {source}")
        return frame

    @line_magic
    def deepseek_key(self, line: str = "") -> None:
        """Enter an API key privately (a password prompt): it is kept for this session
        only, never in the notebook, the history or any output."""
        import getpass

        browser = sys.platform == "emscripten"  # JupyterLite: the kernel is this tab
        key = getpass.getpass("API key (hidden, kept in this tab only): " if browser
                              else "API key (hidden): ").strip()
        if not key:
            print("No key entered; nothing changed.")
            return
        self.session.config["api_key"] = key
        if browser:
            print(f"Key stored in this browser tab only ({mask_key(key)}): it is sent only to the "
                  "provider, never saved in the notebook, and gone when the tab is closed or reloaded.")
        else:
            print(f"Key stored for this session ({mask_key(key)}); it is not saved in the notebook.")

    @line_magic
    def deepseek_history(self, line: str = "") -> Any:
        """The session's requests as a table (a pandas DataFrame when pandas is installed)."""
        try:
            return self.session.history.to_dataframe()
        except ImportError:
            for row in self.session.history.to_records():
                print(f"{row['n']:>3}  {row['model']:<24} {row['completion_tokens'] or '-':>6} tok  "
                      f"{row['answer'][:60]!r}")
            return None

    @line_magic
    def deepseek_panel(self, line: str = "") -> Any:
        """Open the tuning panel (sliders for every option, Send / Stop / Compare)."""
        from ._panel import panel

        return panel(line.strip(), session=self.session)

    @line_magic
    def deepseek_offline(self, line: str = "") -> None:
        """`%deepseek_offline [on|off|status|auto]`: answer from the bundled offline emulator
        (no key, no network; every output says it is the emulator, not DeepSeek R1);
        `auto` turns it on only when no API key is set."""
        from ._offline import offline_magic

        offline_magic(self.session, line)

    @line_magic
    def deepseek_cache(self, line: str = "") -> None:
        """`%deepseek_cache [off|record|replay|replay-or-call] [FILE]`: the record/replay cache."""
        from ._cache import cache_magic

        cache_magic(self.session, line)

    @line_magic
    def deepseek_spend(self, line: str = "") -> Any:
        """`%deepseek_spend [--budget USD] [--call-budget USD] [--reset]`: tokens and cost so far."""
        from ._spend import spend_magic

        return spend_magic(self.session, line)

    @line_magic
    def deepseek_chat(self, line: str = "") -> None:
        """List conversations (`%deepseek_chat`), show one (`show NAME`), or reset one
        (`reset NAME`, `reset --all`)."""
        words = line.split()
        chats = self.session.conversations
        if not words or words[0] == "list":
            if not chats:
                print("No conversations yet; start one with %%deepseek --chat NAME.")
            for name, conv in chats.items():
                print(f"{name}: {len(conv.results)} replies, {len(conv.messages)} messages")
            return
        action, rest = words[0], words[1:]
        if action == "reset":
            if rest == ["--all"]:
                chats.clear()
                print("All conversations reset.")
                return
            if len(rest) != 1 or rest[0] not in chats:
                raise UsageError(f"No conversation named {' '.join(rest) or '(none)'}; %deepseek_chat lists them.")
            del chats[rest[0]]
            print(f"Conversation {rest[0]!r} reset.")
            return
        if action == "show" and len(rest) == 1 and rest[0] in chats:
            for message in chats[rest[0]].messages:
                print(f"{message['role']:>9}: {str(message.get('content'))[:200]}")
            return
        raise UsageError("Usage: %deepseek_chat [list | show NAME | reset NAME | reset --all]")


# `%%deepseek?` shows the full help generated from the option table.
DeepSeekMagics.deepseek.__doc__ = PARSER.format_help()


def _md_escape(text: str) -> str:
    return "".join("\\" + c if c in "\\`*_[]<>|#" else c for c in text)


def magics_markdown() -> str:
    """The README's list of magics (generated; a test keeps README in step)."""
    rows = ["| magic | what it does |", "| --- | --- |", "| `%%deepseek [options]` / `%deepseek [options] PROMPT` "
            "| Ask DeepSeek R1; see the flags below and `%%deepseek?`. |"]
    for name in sorted(DeepSeekMagics.magics["line"]):
        if name == "deepseek":
            continue
        doc = (getattr(DeepSeekMagics, name).__doc__ or "").strip().split("\n\n")[0]
        rows.append(f"| `%{name}` | {' '.join(doc.split()).replace('|', chr(92) + '|')} |")
    return "\n".join(rows)


def _displayer() -> Callable[[dict[str, Any], dict[str, Any], bool], None]:
    """display() the first frame, update_display() after: one output, updated in place."""
    from IPython.display import display, update_display

    display_id = uuid.uuid4().hex

    def show(bundle: dict[str, Any], metadata: dict[str, Any], update: bool) -> None:
        if update:
            update_display(bundle, raw=True, metadata=metadata, display_id=display_id)  # type: ignore[no-untyped-call]
        else:
            display(bundle, raw=True, metadata=metadata, display_id=display_id)  # type: ignore[no-untyped-call]

    return show


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


def load_ipython_extension(ipython: Any) -> None:
    from ._cache import cache_from_env
    from ._offline import offline_from_env

    if protect_question_marks not in ipython.input_transformers_cleanup:
        ipython.input_transformers_cleanup.append(protect_question_marks)
    magics = DeepSeekMagics(shell=ipython)
    ipython.register_magics(magics)
    # The explicit switches DEEPSEEK_MAGIC_OFFLINE / DEEPSEEK_MAGIC_CACHE, each announced
    # with a visible line when it takes effect.
    offline_from_env(magics.session)
    try:
        cache_from_env(magics.session)
    except DeepSeekError as exc:
        print(f"Warning: {exc}", file=sys.stderr)


def unload_ipython_extension(ipython: Any) -> None:
    if protect_question_marks in ipython.input_transformers_cleanup:
        ipython.input_transformers_cleanup.remove(protect_question_marks)
    manager = ipython.magics_manager
    for kind, names in DeepSeekMagics.magics.items():
        for name in names:
            manager.magics[kind].pop(name, None)
    manager.registry.pop(DeepSeekMagics.__name__, None)
