"""The ipywidgets panel: ``%deepseek_panel`` / ``deepseek_magic.panel()``.

A prompt, one control per request option (generated from the option table by
``_panel_controls``), model / system prompt / "store as" fields, and four buttons:

* **Send** streams the reply into the panel's own output area with the magic's live
  view, on the panel's one worker (a thread with an event loop; in a browser kernel, a
  task), so other cells keep running meanwhile; every request goes through the engine
  (``engine._dispatch.run_many``);
* **Stop** closes the connection at once; the partial Result is kept (interrupted);
* **Compare** runs the prompt under several settings at once (``temperature = 0.2,
  0.6, 1.0``), concurrently on the same worker, shown side by side: a sweep with a
  widget view (``batch._sweep``'s grid parser, limit, requests and concurrency);
* **Copy as %%deepseek cell** shows the magic cell that sends exactly the same body.

Every run is a Result in the session history and is bound to the "store as" name.
Errors are one line in the status bar, never a traceback. This module (with the
magic) is the only one that touches the user namespace and the display; ipywidgets
is imported here, so only when the panel is used.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..batch._grid import parse_grid, point_label
from ..batch._sweep import DEFAULT_CONCURRENCY, plan_points, run_points
from ..core._call import Call, pick, split_keywords
from ..core._errors import ConfigError, DeepSeekError, OptionError, PanelUnavailableError
from ..core._options import OPTIONS, Option, validate_options
from ..core._result import Result
from ..core._session import SESSION, Session
from ..engine._api import Prepared, prepare
from ..engine._dispatch import Lane
from ..features import start
from ..features._schema import resolve_field, schema_label
from ..view import _style as style
from ..view._render import escape, render_error, render_result
from ._display import Show, bind
from ._live import DEFAULT_MAX_RATE, LiveView

__all__ = ["Panel", "PanelUnavailableError", "panel"]


def _require_ipywidgets() -> Any:
    try:
        import ipywidgets
    except ImportError:
        raise PanelUnavailableError(
            "The panel needs ipywidgets: pip install ipywidgets (or pip install "
            "'deepseek-magic[panel]')."
        ) from None
    if not hasattr(ipywidgets, "TagsInput"):
        raise PanelUnavailableError(
            f"The panel needs ipywidgets 8 (found {getattr(ipywidgets, '__version__', '?')}): "
            "pip install -U ipywidgets."
        )
    return ipywidgets


# Importing this module is using the panel: without ipywidgets it fails here with the
# install hint (and panel() checks again, for a kernel where ipywidgets went away).
W = _require_ipywidgets()

from ._panel_controls import (
    ControlSet,
    button_layout,
    cell_text,
    field_layout,
    namespace_functions,
)

#: "find the IPython shell myself" (``shell=None`` means: no namespace to bind into)
_AUTO: Any = object()
# Layout (see _panel_controls): blocks take width "auto", so the VBox stretches them to
# the panel; rows of fields and buttons wrap rather than run past the cell's edge.
_BLOCK = {"width": "auto"}
_ROW = {"width": "auto", "flex_flow": "row wrap", "align_items": "center"}
_STATUS_STYLE = {
    "ready": "opacity:0.7;",
    "running": "opacity:0.85;",
    "done": "opacity:0.85;",
    "stopped": f"color:{style.WARN};font-weight:600;",
    "error": f"color:{style.ERROR};font-weight:600;",
}


@dataclass
class _Run:
    """One request of a Send or a Compare, and where it is shown."""

    prep: Prepared
    view: Any  # the Output widget it streams into
    label: str = ""
    footer: Any = None  # a Compare column's footer (HTML widget)
    result: Result | None = None
    error: BaseException | None = None
    stopped: bool = False
    streams: list[Any] = field(default_factory=list)


def _display_into(output: Any) -> tuple[Show, Show]:
    """LiveView display functions that write into an Output widget: the frames (each
    replacing the previous one: one output, updated in place) and, above them while the
    view is live, its stylesheet (gone with the final frame, the first with ``text/plain``:
    live frames are ``text/html`` only)."""
    slots: dict[str, dict[str, Any] | None] = {"sheet": None, "frame": None}

    def put(slot: str, bundle: dict[str, Any], metadata: dict[str, Any]) -> None:
        shown = any(bundle.values())  # an empty bundle removes the output
        slots[slot] = (
            {"output_type": "display_data", "data": bundle, "metadata": metadata} if shown else None
        )
        output.outputs = tuple(o for o in (slots["sheet"], slots["frame"]) if o is not None)

    def show(bundle: dict[str, Any], metadata: dict[str, Any], update: bool) -> None:
        if "text/plain" in bundle:  # the final frame: the stylesheet goes with it
            slots["sheet"] = None
        put("frame", bundle, metadata)

    def sheet(bundle: dict[str, Any], metadata: dict[str, Any], update: bool) -> None:
        put("sheet", bundle, metadata)

    return show, sheet


class Panel(W.VBox):  # type: ignore[misc, name-defined]
    """The tuning panel (an ipywidgets ``VBox``); see the module docstring.

    Sub-widgets for tests and scripts: ``prompt``, ``model``, ``system``, ``out_name``,
    ``controls[name]`` (each option's widget), ``send_boxes[name]`` (its "send" box),
    ``send_button``, ``stop_button``, ``compare_spec``, ``compare_button``,
    ``compare_box``, ``copy_button``, ``copy_area``, ``output``, ``status``; results in
    ``last_result`` / ``results``; ``wait(timeout)`` joins the running requests.
    ``options`` is the option table to build from (default: :data:`OPTIONS`).
    """

    def __init__(
        self,
        prompt: str = "",
        *,
        session: Session | None = None,
        shell: Any = _AUTO,
        options: Sequence[Option] = OPTIONS,
        values: Mapping[str, Any] | None = None,
        call: Call | None = None,
        live_rate: float | None = None,
    ) -> None:
        super().__init__()
        self.session = session or SESSION
        if shell is _AUTO:
            from IPython import get_ipython

            shell = get_ipython()
        self.shell = shell
        self.options = tuple(options)
        #: the call settings given when the panel was made; its fields (``fields``) change
        #: the ones marked ``panel`` in the settings table
        self.call = call or Call()
        #: live frames a second: the argument, else ``%config DeepSeekMagics.live_rate``
        self.live_rate: float = (
            live_rate
            if live_rate is not None
            else pick("live_rate", None, self.session.config)[0] or DEFAULT_MAX_RATE
        )
        self.base_url, self.provider = self.call.given("base_url"), self.call.given("provider")
        model, system, out = (self.call.given(n) for n in ("model", "system", "out"))

        self.prompt = W.Textarea(
            value=prompt,
            placeholder="Ask DeepSeek R1… (Send streams the reply below)",
            rows=5,
            layout=W.Layout(**_BLOCK),
        )
        self.model = W.Text(
            value=model or "",
            description="model",
            placeholder="deepseek-r1 (default)",
            layout=field_layout("20em"),
        )
        self.system = W.Text(
            value=system or "",
            description="system",
            placeholder="(none)",
            layout=W.Layout(**_BLOCK),
        )
        self.out_name = W.Text(
            value=out or "",
            description="store as",
            placeholder="variable name",
            layout=field_layout("14em"),
        )
        self.schema_field = W.Text(  # typed answers: a notebook name or an inline spec
            value=schema_label(self.call.given("schema")),
            description="schema",
            placeholder="Name or 'city: str, population: int'",
            layout=field_layout("24em"),
        )
        self.option_set = ControlSet(self.options, functions=namespace_functions(self._namespace()))
        self.option_controls = self.option_set.controls
        self.controls = {name: c.widget for name, c in self.option_controls.items()}
        self.send_boxes = {name: c.send for name, c in self.option_controls.items()}
        self.run_tools = W.Checkbox(
            value=self.call.run_tools,
            description="run tools",
            indent=False,
            layout=button_layout(),
            tooltip="Run the tools the model calls and send back their results",
        )
        #: the panel's fields, by setting name (``Setting.panel`` in the settings table)
        self.fields = {
            "model": self.model,
            "system": self.system,
            "out": self.out_name,
            "run_tools": self.run_tools,
            "schema": self.schema_field,
        }
        self.send_button = W.Button(
            description="Send", button_style="primary", icon="paper-plane", layout=button_layout()
        )
        self.stop_button = W.Button(
            description="Stop", icon="stop", disabled=True, layout=button_layout()
        )
        self.compare_spec = W.Text(
            placeholder="temperature = 0.2, 0.6, 1.0",
            description="compare",
            layout=field_layout("18em"),
        )
        self.compare_button = W.Button(
            description="Compare",
            icon="columns",
            tooltip="Run the prompt once per value, side by side",
            layout=button_layout(),
        )
        self.copy_button = W.Button(
            description="Copy as %%deepseek cell", icon="copy", layout=button_layout()
        )
        self.copy_area = W.Textarea(rows=4, layout=W.Layout(width="auto", display="none"))
        self.status = W.HTML(layout=W.Layout(**_BLOCK))
        self.output = W.Output()
        self.compare_box = W.GridBox([], layout=W.Layout(grid_gap="8px", width="auto"))
        for widget, css in (
            (self, "dsm-panel"),
            (self.send_button, "dsm-send"),
            (self.stop_button, "dsm-stop"),
            (self.compare_button, "dsm-compare"),
            (self.prompt, "dsm-prompt"),
            (self.output, "dsm-output"),
            (self.status, "dsm-status"),
            (self.copy_button, "dsm-copy"),
            (self.copy_area, "dsm-copy-text"),
            (self.compare_spec, "dsm-compare-spec"),
            (self.compare_box, "dsm-compare-grid"),
            (self.model, "dsm-model"),
            (self.system, "dsm-system"),
            (self.out_name, "dsm-out-name"),
        ):
            widget.add_class(css)

        #: this panel's Results, in the order they finished
        self.results: list[Result] = []
        self.last_result: Result | None = None
        #: the exception behind the last error shown in the status line
        self.last_error: BaseException | None = None
        #: the requests of the current (or last) Send / Compare
        self.runs: list[_Run] = []
        #: the task of the current Send / Compare (on the worker's loop; in a browser
        #: kernel, on the page's: it has no threads)
        self.tasks: list[Any] = []
        self._worker: _Worker | None = None
        self._lock = threading.Lock()
        self._idle = threading.Event()
        self._idle.set()
        self._busy = False
        self._invalid = False

        for name, raw in (values or {}).items():
            self.option_set.give(name, raw, self._namespace())
        self.children = self._arrange()
        self.send_button.on_click(lambda _: self._on_send())
        self.stop_button.on_click(lambda _: self.stop())
        self.compare_button.on_click(lambda _: self._on_compare())
        self.copy_button.on_click(lambda _: self._on_copy())
        for control in self.option_controls.values():
            control.widget.observe(self._changed, names="value")
            control.send.observe(self._changed, names="value")
        if "thinking" in self.option_controls:
            self.option_controls["thinking"].send.observe(
                lambda _: self.mark_unsupported(), names="value"
            )
        self.mark_unsupported()
        self._say("ready", "Ready. Ticked options are sent; the rest keep the server's default.")

    # ------------------------------------------------------------------ layout
    def _arrange(self) -> tuple[Any, ...]:
        grid = self.option_set.grid()
        if "tools" in self.option_controls:
            refresh = W.Button(
                description="",
                icon="refresh",
                tooltip="Look for new functions in the notebook",
                layout=button_layout(),
            )
            refresh.on_click(lambda _: self.refresh_tools())
            self.option_controls["tools"].row.children += (refresh, self.run_tools)
        buttons = W.HBox(
            [
                self.send_button,
                self.stop_button,
                self.compare_spec,
                self.compare_button,
                self.copy_button,
            ],
            layout=W.Layout(**_ROW),
        )
        names = W.HBox([self.model, self.out_name, self.schema_field], layout=W.Layout(**_ROW))
        return (
            self.prompt,
            names,
            self.system,
            grid,
            buttons,
            self.status,
            self.copy_area,
            self.output,
            self.compare_box,
        )

    def __repr__(self) -> str:
        state = "running" if self.running else "idle"
        return f"<deepseek_magic Panel ({state}, {len(self.results)} results)>"

    # ------------------------------------------------------------------ values
    def _namespace(self) -> dict[str, Any] | None:
        return getattr(self.shell, "user_ns", None)

    def refresh_tools(self) -> None:
        """Offer the functions the notebook defines now."""
        self.option_set.set_tools(namespace_functions(self._namespace()))

    def values(self) -> dict[str, Any]:
        """The options the user set (ticked), as the controls hold them (not yet checked)."""
        return self.option_set.values()

    def _changed(self, change: Any) -> None:
        # Say at once when a control holds a value that cannot be sent.
        if self.running:
            return
        if change.get("owner") is getattr(self.option_controls.get("thinking"), "widget", None):
            self.mark_unsupported()
        try:
            validate_options(self.values())
        except OptionError as exc:
            self._invalid = True
            self._fail(exc)
            return
        if self._invalid:
            self._invalid = False
            self._say("ready", "Ready.")

    def mark_unsupported(self) -> None:
        """Grey out the controls this provider would ignore (in the current thinking mode) or
        cannot send, with the reason in the tooltip (``_providers.option_reason``)."""
        from ..client._catalogue import model_rules
        from ..core._errors import ConfigError
        from ..core._providers import option_reason, provider_for_dialect
        from ..core._settings import resolve_settings

        base_url, provider = self.base_url, self.provider
        offline = self.session.offline
        if offline is not None and base_url is None and provider is None:
            base_url, provider = offline.base_url, provider_for_dialect(offline.dialect).name
        try:
            settings = resolve_settings(
                base_url=base_url,
                provider=provider,
                model=self._text(self.model),
                config=self.session.config,
                require_key=False,
            )
        except ConfigError:
            return
        chosen = settings.provider
        thinking = self.option_controls.get("thinking")
        mode = thinking.value() if thinking is not None else None
        rules = model_rules(self.session, settings)  # what the catalogue says of the model
        for name, control in self.option_controls.items():
            control.mark(option_reason(name, chosen, thinking=mode, rules=rules))

    def _text(self, widget: Any) -> str | None:
        return widget.value.strip() or None

    def _prepare(self, overrides: Mapping[str, Any] | None = None) -> Prepared:
        """Check everything and build the request; raises before anything is sent."""
        prompt = self.prompt.value.strip()
        if not prompt:
            raise OptionError(
                "The prompt is empty: type a question in the prompt box.", option="prompt"
            )
        name = self._text(self.out_name)
        if name is not None and not name.isidentifier():
            raise OptionError(f"store as {name!r}: not a valid Python name.", option="out")
        # The magic strips the cell the same way, so a copied cell sends the same body.
        call = self.current_call()
        schema = resolve_field(call.given("schema"), self.call.given("schema"), self._namespace())
        call = call.replace(schema=schema)
        start(self.session)
        return prepare(
            prompt,
            session=self.session,
            call=call.replace(out=None),
            options={**self.values(), **(overrides or {})},
            warn=lambda msg: None,
        )

    def current_call(self) -> Call:
        """The call settings as the fields show them now (checked by the settings table)."""

        def value(widget: Any) -> Any:
            return widget.value if isinstance(widget.value, bool) else self._text(widget)

        try:
            return self.call.replace(**{name: value(w) for name, w in self.fields.items()})
        except ConfigError as exc:
            raise OptionError(str(exc)) from None

    def cell(self) -> str:
        """The ``%%deepseek`` cell that sends exactly what Send would."""
        return cell_text(
            self.prompt.value.strip(),
            validate_options(self.values()),
            self.options,
            self.current_call(),
            tool_names=self.option_set.tool_names(),
        )

    # ------------------------------------------------------------------ buttons
    @property
    def running(self) -> bool:
        """True from Send / Compare until its last request has finished."""
        return self._busy

    def _on_send(self) -> None:
        if self.running:
            self._say("running", "Still running: press Stop first.")
            return
        try:
            prep = self._prepare()
        except DeepSeekError as exc:  # OptionError, ConfigError, ToolError: nothing was sent
            self._fail(exc)
            return
        self.compare_box.children = ()
        self._start([_Run(prep, self.output)], "send")

    def _on_compare(self) -> None:
        if self.running:
            self._say("running", "Still running: press Stop first.")
            return
        try:
            # A sweep with a widget view: the sweep's grid parser and limit, its requests
            # (every point checked, and the whole grid against the budget, before any is
            # sent), and below its run function and concurrency.
            grid = parse_grid(self.compare_spec.value, options=self.options, surface="compare")
            points, preps = plan_points(self._prepare(), grid, session=self.session)
        except DeepSeekError as exc:
            self._fail(exc)
            return
        runs, columns = [], []
        for point, prep in zip(points, preps, strict=True):
            label = point_label(point)
            view, footer = W.Output(), W.HTML()
            column = W.VBox(
                [W.HTML(f"<b>{escape(label)}</b>"), view, footer],
                layout=W.Layout(
                    min_width="0", border=f"1px solid {style.BORDER_SOFT}", padding="4px"
                ),
            )
            column.add_class("dsm-column")
            columns.append(column)
            runs.append(_Run(prep, view, label=label, footer=footer))
        self.output.outputs = ()
        self.compare_box.layout.grid_template_columns = (
            f"repeat({min(len(runs), 4)}, minmax(0, 1fr))"
        )
        self.compare_box.children = tuple(columns)
        self._start(runs, "compare")

    def _on_copy(self) -> None:
        try:
            text = self.cell()
        except DeepSeekError as exc:
            self._fail(exc)
            return
        self.copy_area.value = text
        self.copy_area.layout.display = ""
        self._say("ready", "The cell below sends the same request: copy it into a new cell.")

    def stop(self) -> None:
        """Stop every running request now; what arrived is kept (interrupted Results)."""
        with self._lock:
            # Under the lock: the final status (written with _busy cleared) always wins.
            if self._busy:
                self._say("stopped", "Stopping…")
            tasks = list(self.tasks)
        for task in tasks:
            task.cancel()  # closes every connection at once; the partials are kept

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for the running Send / Compare to finish; True when it has."""
        self._idle.wait(timeout)
        return not self.running

    # ------------------------------------------------------------------ running
    def _start(self, runs: list[_Run], kind: str) -> None:
        self.runs = runs
        self._busy = True
        self._idle.clear()
        self.send_button.disabled = self.compare_button.disabled = True
        self.stop_button.disabled = False
        self._say("running", f"Sending {len(runs)} requests…" if len(runs) > 1 else "Sending…")
        if sys.platform == "emscripten":
            # A browser kernel (JupyterLite) has no threads, and a click handler cannot wait
            # on fetch: the requests run as one task on the page's event loop instead.
            import asyncio

            self.tasks = [asyncio.ensure_future(self._work(runs, kind))]
            return
        if self._worker is None:
            self._worker = _Worker()
        self.tasks = [self._worker.submit(self._work(runs, kind))]

    async def _work(self, runs: list[_Run], kind: str) -> None:
        """Every request of a Send / Compare through the sweep's run function (the
        engine's ``run_many``), :data:`DEFAULT_CONCURRENCY` at a time as a sweep's, each
        into its own live view; the last to end writes the final status."""
        import asyncio

        lane = _PanelLane(self, runs)
        try:
            await run_points(
                [run.prep for run in runs],
                session=self.session,
                concurrency=DEFAULT_CONCURRENCY,
                lane=lane,
            )
        except asyncio.CancelledError:
            pass  # Stop: every run's partial was kept (see _PanelLane.done)
        except BaseException as exc:  # noqa: BLE001 - a worker must never print a traceback into a cell
            for run in runs:
                if run.result is None and run.error is None:
                    run.error = exc
        finally:
            lane.close()
            self._finish_all(runs, kind)

    def _finish_all(self, runs: list[_Run], kind: str) -> None:
        """The Send / Compare ended: bind the Results, write the final status."""
        try:
            state, text = self._finished(runs, kind)
        except BaseException as exc:  # noqa: BLE001
            self.last_error = exc
            state, text = "error", "⚠ " + _describe(exc)
        with self._lock:
            self._busy = False
            self._say(state, text)
        self.send_button.disabled = self.compare_button.disabled = False
        self.stop_button.disabled = True
        self._idle.set()

    def _live(self, run: _Run) -> LiveView:
        show, sheet = _display_into(run.view)
        live = LiveView(
            show, sheet=sheet, max_rate=self.live_rate, offline=run.prep.settings.offline
        )
        live.start()
        return live

    def _show(self, run: _Run, live: LiveView, result: Result | None) -> None:
        run.result = result
        if result is not None:
            with self._lock:
                self.results.append(result)
                self.last_result = result
        if run.error is not None and (
            result is None or not (result.answer or result.reasoning or result.tool_calls)
        ):
            live.finish(render_error(str(run.error)), {})
        elif result is not None:
            # ``%config DeepSeekMagics.show_reasoning = False`` hides it here as in the magic.
            shown = result if self._show_reasoning() else result.replace(reasoning="")
            live.finish(*render_result(shown))
        live.close()  # (a no-op after finish) the timer's thread is stopped and joined
        if run.footer is not None:
            state, text = self._summary(run)
            # A finished column's view ends with the result's footer: only news goes here.
            run.footer.value = self._status_html(state, text) if text and state != "done" else ""

    def _show_reasoning(self) -> bool:
        return bool(pick("show_reasoning", self.call, self.session.config)[0])

    def _summary(self, run: _Run) -> tuple[str, str]:
        if run.error is not None:
            kept = (
                " — partial result kept"
                if run.result is not None and (run.result.answer or run.result.reasoning)
                else ""
            )
            return "error", f"⚠ {_describe(run.error)}{kept}"
        if run.stopped:
            # A Result shown says "⚠ Interrupted — partial result kept" in its own banner
            # (as in the magic and ask()): the panel does not say it a second time.
            shown = run.result is not None
            return "stopped", "" if shown else "■ Stopped before any reply arrived"
        assert run.result is not None
        return "done", "✓ Done"

    def _finished(self, runs: list[_Run], kind: str) -> tuple[str, str]:
        """Bind the Results in the notebook; returns the final status line."""
        results = [run.result for run in runs]
        namespace = self._namespace()
        bound: list[str] = []
        if namespace is not None and any(r is not None for r in results):
            bound = bind(
                namespace,
                self._text(self.out_name),
                results[0] if kind == "send" else results,
                last=self.last_result,
            )
        failed = [run for run in runs if run.error is not None]
        if failed:
            self.last_error = failed[0].error
        if kind == "send":
            # The footer under the answer already gives tokens, cost and time; the status
            # line says what it alone knows: where the Result went.
            state, text = self._summary(runs[0])
            where = " and ".join(bound) if bound else "panel.last_result"
            if state == "done":
                text = f"✓ Done: the Result is in {where}."
            elif state == "stopped" and runs[0].result is not None:
                text = f"■ The Result so far is in {where}."  # the banner says it stopped
            return state, text
        stopped = sum(run.stopped for run in runs)
        if failed:
            state, text = (
                "error",
                f"{len(runs) - len(failed)} of {len(runs)} runs done; {_describe(failed[0].error)}",
            )
        elif stopped:
            state, text = (
                "stopped",
                f"■ {stopped} of {len(runs)} runs stopped",  # each column's banner says the rest
            )
        else:
            state, text = "done", f"✓ Compared {len(runs)} settings side by side"
        return state, text

    # ------------------------------------------------------------------ status line
    def _status_html(self, state: str, text: str) -> str:
        flat = " ".join(text.split())
        flat = flat if len(flat) <= 400 else flat[:399] + "…"
        return (
            f'<span class="dsm-status-{state}" style="{_STATUS_STYLE[state]}">{escape(flat)}</span>'
        )

    def _say(self, state: str, text: str) -> None:
        self.status.value = self._status_html(state, text)

    def _fail(self, exc: BaseException) -> None:
        self.last_error = exc
        self._say("error", "⚠ " + _describe(exc))

    def close(self) -> None:
        """Stop any running request and the worker, then close the widgets."""
        if hasattr(self, "_idle"):  # also called by __del__ of a half-built panel
            self.stop()
            if self._worker is not None:
                self._worker.close()
                self._worker = None
        super().close()


class _PanelLane(Lane):
    """The panel's side of the engine's ``run_many``: each request's live view, fed its
    events, finished with its Result (or its one-line error)."""

    def __init__(self, panel: Panel, runs: list[_Run]) -> None:
        self.panel, self.runs = panel, runs
        self.views: dict[int, LiveView] = {}

    def view(self, i: int) -> LiveView:
        if i not in self.views:
            self.views[i] = self.panel._live(self.runs[i])
        return self.views[i]

    def stream(self, i: int, stream: Any) -> None:
        self.view(i).request_started()
        self.runs[i].streams.append(stream)

    def event(self, i: int, event: Any, stream: Any) -> None:
        self.views[i].event(event)

    def done(self, i: int, outcome: Result | BaseException | None) -> None:
        run = self.runs[i]
        result: Result | None = None
        if isinstance(outcome, Result):
            result = outcome
        elif isinstance(outcome, KeyboardInterrupt):  # Stop: the partial is kept
            run.stopped = True
            result = getattr(outcome, "partial", None)
        elif isinstance(outcome, DeepSeekError):
            run.error, result = outcome, outcome.partial
        elif outcome is not None:
            run.error = outcome
        self.panel._show(run, self.view(i), result)

    def close(self) -> None:
        for live in self.views.values():
            live.close()  # no timer thread left behind


class _Worker:
    """The panel's one worker: a daemon thread running an event loop, on which every Send
    and Compare runs (its requests concurrent on one ``AsyncClient``), so other cells keep
    running meanwhile and Stop cancels them from the kernel's thread."""

    def __init__(self) -> None:
        import asyncio

        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(
            target=self.loop.run_forever, daemon=True, name="deepseek-panel"
        )
        self.thread.start()

    def submit(self, work: Any) -> Any:
        import asyncio

        return asyncio.run_coroutine_threadsafe(work, self.loop)

    def close(self) -> None:
        if self.loop.is_closed():
            return
        self.loop.call_soon_threadsafe(self.loop.stop)
        if threading.current_thread() is not self.thread:
            self.thread.join(5)
        if not self.thread.is_alive() and not self.loop.is_running():
            self.loop.close()


def _describe(exc: BaseException | None) -> str:
    """One line for an error: our own messages as they are, anything else with its type."""
    if isinstance(exc, DeepSeekError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def panel(
    prompt: str = "",
    *,
    session: Session | None = None,
    shell: Any = _AUTO,
    out: str | None = None,
    **keywords: Any,
) -> Panel:
    """The tuning panel for ``prompt``, with ``keywords`` already set: the call settings
    of ``ask()`` (``model=``, ``system=``, ``base_url=``, ``provider=`` ...) and request
    options (API names; Python values or the magic's flag text). Needs ipywidgets; raises
    :class:`OptionError` for a bad value before showing anything."""
    _require_ipywidgets()
    try:
        call, options = split_keywords(keywords)
        call = call.replace(out=out)
    except ConfigError as exc:
        raise OptionError(str(exc)) from None
    return Panel(prompt, session=session, shell=shell, values=options, call=call)
