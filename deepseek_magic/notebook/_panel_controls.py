"""The panel's option controls, generated from the option table, and the pure helpers
that read them: the ``%%deepseek`` cell for the current values. (The Compare box's grid
is read by ``batch._grid``, the parser sweeps use.)

One :class:`OptionControl` per request option of the table (a deprecated alias gets
none: its target has one). The widget follows the option's panel hint
(``Option.widget``) or, when there is none, its kind, with the option's own range and
step; so an option added to the table appears in the panel with nothing changed here.

Every control starts *unset*: its "send" box is clear and the option is left out of
the request (the server's default applies). Touching the control ticks the box, so
the body carries exactly the values the user set and nothing else. A yes/no option is
one control, not two boxes: a menu of "not sent (server default)", "yes" and "no", so
it never looks on while nothing is sent (its send box is kept, hidden, for the same
API as the others).

Imported only by ``_panel`` (ipywidgets is loaded only when the panel is used).
"""

from __future__ import annotations

import json
import random
import shlex
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import ipywidgets as W

from ..core._call import SETTINGS, Call
from ..core._errors import OptionError
from ..core._options import TOOL_CHOICES, Option, validate_options

__all__ = [
    "ControlSet",
    "OptionControl",
    "build_controls",
    "button_layout",
    "cell_text",
    "field_layout",
    "namespace_functions",
]

#: the largest value an unbounded integer field accepts (the API's int32)
_INT_LIMIT = 2**31 - 1
_DESCRIPTION = {"description_width": "170px"}
#: a yes/no menu's "not sent" entry (ipywidgets shows no label for a None value)
_UNSET = "not sent"


# Layout. A widget set to width 100% is 100% *plus* its margin: that is how fields ran
# past the cell's right edge. So: a field in a row fills what the row leaves (flex
# "1 1 <basis>", width "auto", min_width 0: never wider than the row), and a button is
# as wide as its text and icon (flex "0 0 auto": never squeezed into "rand…").
def field_layout(basis: str = "auto") -> W.Layout:
    """The layout of a field that takes the room its row leaves."""
    return W.Layout(width="auto", flex=f"1 1 {basis}", min_width="0")


def button_layout() -> W.Layout:
    """The layout of a button (or checkbox) shown whole, as wide as its text."""
    return W.Layout(width="auto", flex="0 0 auto")


def _decimals(step: float) -> int:
    """Digits after the point in ``step`` (0.05 -> 2): slider values are rounded to it,
    since a browser's slider may send 0.6000000000000001 for 0.6."""
    text = f"{step:.10f}".rstrip("0")
    return len(text.split(".")[1]) if "." in text else 0


def _bounds(option: Option) -> tuple[float | None, float | None]:
    """The range a control offers: the option's own range, else its panel range."""
    lo, hi = option.minimum, option.maximum
    if option.panel_range is not None:
        lo = option.panel_range[0] if lo is None else lo
        hi = option.panel_range[1] if hi is None else hi
    return lo, hi


def _widget_kind(option: Option) -> str:
    """The option's widget hint, or the natural one for its kind when it has none."""
    if option.widget is not None:
        return option.widget
    lo, hi = _bounds(option)
    return {
        "float": "slider" if lo is not None and hi is not None else "float_text",
        "int": "int_text",
        "bool": "toggle",
        "choice": "dropdown",
        "strings": "tags",
        "tools": "tools",
        "tool_choice": "tool_choice",
    }[option.kind]


class OptionControl:
    """One option's row: a "send" box, the value widget, and any helper button.

    ``widget`` is the control a user moves (its ``description`` is ``Option.label``);
    ``send`` says whether the option goes into the request; ``value()`` is what is sent
    (None: not sent).
    """

    def __init__(self, option: Option, *, tool_names: Sequence[str] = ()) -> None:
        self.option = option
        self.kind = _widget_kind(option)
        self._round: int | None = None
        self.widget = self._make(tool_names)
        self.extra: list[W.Widget] = []
        if self.kind == "seed":
            # A Font Awesome icon, not an emoji: emoji fonts are missing on many machines.
            dice = W.Button(
                description="random",
                icon="random",
                tooltip="Draw a new random seed (and send it)",
                layout=button_layout(),
            )
            dice.on_click(lambda _: setattr(self.widget, "value", random.randrange(_INT_LIMIT)))
            self.extra.append(dice)
        self.send = W.Checkbox(
            value=False,
            indent=False,
            description="",
            tooltip=f"Send {option.label} (unticked: the server's default)",
            layout=W.Layout(width="28px", flex="0 0 auto"),
        )
        self.send.add_class("dsm-send-option")
        if self.kind == "toggle":  # the menu itself says whether it is sent: one control
            self.send.layout.visibility = "hidden"
        self.widget.tooltip = self._tooltip = f"{option.help} Allowed: {option.range_text()}."
        # Moving a control means "send this value".
        self.widget.observe(self._touched, names="value")
        # TagsInput draws no description of its own: give it the same label as the others.
        label = (
            [
                W.Label(
                    option.label,
                    layout=W.Layout(width="170px", flex="0 0 auto", justify_content="flex-end"),
                )
            ]
            if self.kind == "tags"
            else []
        )
        # The value widget fills the row (a slider gets a track to move, not 35 px), so
        # the row is exactly as wide as its grid cell.
        self.widget.layout = field_layout()
        # (the tags field draws its own outline: a border of ours made it a box in a box)
        self.row = W.HBox(
            [self.send, *label, self.widget, *self.extra],
            layout=W.Layout(width="auto", min_width="0", align_items="center"),
        )
        self.row.add_class("dsm-option")
        self.row.add_class(f"dsm-option-{option.name.replace('_', '-')}")

    # ------------------------------------------------------------- building
    def _make(self, tool_names: Sequence[str]) -> W.Widget:
        o, kind = self.option, self.kind
        common: dict[str, Any] = {"description": o.label, "style": _DESCRIPTION}
        lo, hi = _bounds(o)
        if kind == "slider":
            step = o.step or ((hi or 1) - (lo or 0)) / 100
            # An exclusive bound is never offered: top_p's slider starts at one step above 0.
            lo_ = (lo or 0) + (step if o.min_exclusive else 0)
            hi_ = (hi if hi is not None else 1) - (step if o.max_exclusive else 0)
            self._round = _decimals(step)
            start = o.default if o.default is not None else lo_
            return W.FloatSlider(
                value=start,
                min=lo_,
                max=hi_,
                step=step,
                readout_format=f".{self._round}f",
                continuous_update=False,
                **common,
            )
        if kind == "int_slider":
            lo_ = int(lo or 0) + (1 if o.min_exclusive else 0)
            hi_ = int(hi if hi is not None else 100) - (1 if o.max_exclusive else 0)
            start = o.default if o.default is not None else lo_
            return W.IntSlider(
                value=start,
                min=lo_,
                max=hi_,
                step=int(o.step or 1),
                continuous_update=False,
                **common,
            )
        if kind in ("int_text", "float_text"):
            number = kind == "int_text"
            lo_ = lo if lo is not None else -_INT_LIMIT
            hi_ = hi if hi is not None else _INT_LIMIT
            if o.min_exclusive:
                lo_ += 1 if number else (o.step or 0.01)
            start = next(
                (v for v in (o.default, o.suggested) if v is not None), max(lo_, min(hi_, 0))
            )
            cls = W.BoundedIntText if number else W.BoundedFloatText
            return cls(
                value=start, min=lo_, max=hi_, step=o.step or (1 if number else 0.1), **common
            )
        if kind == "seed":
            return W.IntText(value=0, **common)
        if kind == "dropdown":
            return W.Dropdown(
                options=list(o.choices),
                value=o.default if o.default in o.choices else None,
                **common,
            )
        if kind == "toggle":
            default = "" if o.default is None else f": {'yes' if o.default else 'no'}"
            return W.Dropdown(
                options=[
                    (f"not sent (server default{default})", _UNSET),
                    ("yes", True),
                    ("no", False),
                ],
                value=_UNSET,
                **common,
            )
        if kind == "tags":
            return W.TagsInput(value=[], allow_duplicates=False, **common)
        if kind == "tools":
            return W.SelectMultiple(options=[], rows=3, **common)
        if kind == "tool_choice":
            return W.Dropdown(options=[*TOOL_CHOICES, *tool_names], value=None, **common)
        raise AssertionError(kind)  # pragma: no cover - every Widget literal is handled

    # ------------------------------------------------------------- state
    def _touched(self, change: Mapping[str, Any]) -> None:
        # a yes/no menu set back to "not sent" is not sent
        self.send.value = self.kind != "toggle" or change.get("new") != _UNSET

    def value(self) -> Any:
        """The value to send, or None when the option is unset (box clear or empty)."""
        if not self.send.value:
            return None
        value = self.widget.value
        if self._round is not None and isinstance(value, float):
            value = round(value, self._round)
        if isinstance(value, (list, tuple)):
            value = tuple(value)
        # An empty stop list or tool selection means "not sent", not "send nothing".
        return None if value == _UNSET or value in (None, "", ()) else value

    def set(self, value: Any) -> None:
        """Show a checked value (from ``Option.coerce``) and mark it to be sent."""
        w = self.widget
        if self.kind in ("slider", "int_slider", "int_text", "float_text"):
            # A given value outside the offered range (top_k=500) widens it rather than
            # being clamped into a different request.
            w.max = max(w.max, value)
            w.min = min(w.min, value)
        if self.kind == "tools":
            known = list(w.options)
            missing = [f for f in value if all(f is not v for _, v in known)]
            w.options = known + [(getattr(f, "__name__", "tool"), f) for f in missing]
            w.value = tuple(value)
        elif self.kind in ("tool_choice", "dropdown") and value not in w.options:
            w.options = [*w.options, value]
            w.value = value
        elif self.kind == "tags":
            w.value = list(value)
        else:
            w.value = value
        self.send.value = True

    def clear(self) -> None:
        """Back to unset (the server's default)."""
        if self.kind == "toggle":
            self.widget.value = _UNSET
        self.send.value = False

    def mark(self, reason: str | None) -> None:
        """Grey the control out when the server would not honour it, the reason in its
        tooltip (``reason`` None: a normal control again)."""
        self.widget.disabled = reason is not None
        note = f"{reason[:1].upper()}{reason[1:]}. " if reason else ""
        self.widget.tooltip = note + self._tooltip
        (self.row.add_class if reason else self.row.remove_class)("dsm-option-unsupported")


def build_controls(
    options: Sequence[Option], *, tool_names: Sequence[str] = ()
) -> dict[str, OptionControl]:
    """One control per option of ``options`` (deprecated aliases left out), in table order."""
    return {o.name: OptionControl(o, tool_names=tool_names) for o in options if o.alias_of is None}


class ControlSet:
    """Every option's control, built from one option table: what the panel shows and sends.

    ``controls[name]`` is an :class:`OptionControl`; ``values()`` the options to send.
    """

    def __init__(
        self, options: Sequence[Option], *, functions: Mapping[str, Callable[..., Any]]
    ) -> None:
        self.options = tuple(options)
        self.controls = build_controls(self.options, tool_names=list(functions))
        self.set_tools(functions)

    def values(self) -> dict[str, Any]:
        """The options the user set (ticked), as the controls hold them (not yet checked)."""
        out = {}
        for name, control in self.controls.items():
            value = control.value()
            if value is not None:
                out[name] = value
        return out

    def give(self, name: str, raw: Any, namespace: Mapping[str, Any] | None) -> None:
        """A value given when the panel opens (``%%deepseek --panel --temperature 0.6``):
        checked like a flag, then shown ticked. Raises OptionError for a bad one."""
        option = next((o for o in self.options if o.name == name), None)
        if option is None:
            validate_options(
                {name: raw}
            )  # raises the table's "Unknown option ... Did you mean" error
            raise OptionError(f"Unknown option {name!r}.", option=name)
        if option.kind == "tools":
            raw = _resolve_tools(raw, namespace or {})
        self.controls[option.alias_of or name].set(option.coerce(raw))

    def set_tools(self, functions: Mapping[str, Callable[..., Any]]) -> None:
        """Offer ``functions`` (by name) in the tool picker and the tool-choice menu."""
        if "tools" in self.controls:
            picker = self.controls["tools"].widget
            chosen = picker.value
            picker.options = list(functions.items())
            picker.value = tuple(f for f in chosen if any(f is g for g in functions.values()))
        if "tool_choice" in self.controls:
            menu = self.controls["tool_choice"].widget
            keep = menu.value
            menu.options = [*TOOL_CHOICES, *functions]
            menu.value = keep if keep in menu.options else None

    def tool_names(self) -> dict[int, str]:
        """``id(function) -> name`` for the functions the picker offers."""
        picker = self.controls.get("tools")
        return {id(f): n for n, f in picker.widget.options} if picker is not None else {}

    def grid(self) -> W.GridBox:
        # Two columns where a row fits in half the width (a 1280 px window), one below
        # that (900 px); never a row wider than the cell.
        columns = "repeat(auto-fill, minmax(min(100%, 400px), 1fr))"
        layout = W.Layout(grid_template_columns=columns, grid_gap="2px 16px", width="auto")
        grid = W.GridBox([c.row for c in self.controls.values()], layout=layout)
        grid.add_class("dsm-options")
        return grid


def _resolve_tools(raw: Any, namespace: Mapping[str, Any]) -> list[Any]:
    """Tool names (from a flag) -> the notebook's functions or tool-spec lists."""
    items = list(raw) if isinstance(raw, (list, tuple)) else [raw]
    found: list[Any] = []
    for item in items:
        if isinstance(item, str):
            if item not in namespace:
                raise OptionError(
                    f"--tools {item}: no function or variable of that name in the notebook.",
                    option="tools",
                )
            value = namespace[item]
            found.extend(value if isinstance(value, (list, tuple)) else [value])
        else:
            found.append(item)
    return found


def namespace_functions(namespace: Mapping[str, Any] | None) -> dict[str, Callable[..., Any]]:
    """The functions a notebook defined (``__main__``), by name: what the tool picker offers."""
    if not namespace:
        return {}
    import inspect

    return {
        name: obj
        for name, obj in namespace.items()
        if not name.startswith("_") and inspect.isfunction(obj) and obj.__module__ == "__main__"
    }


# ------------------------------------------------------------------ copy as cell
def _arg(flag: str, text: str) -> str:
    # "--frequency-penalty -0.5" would read -0.5 as a flag; the "=" form cannot.
    return f"{flag}={shlex.quote(text)}" if text.startswith("-") else f"{flag} {shlex.quote(text)}"


def _tool_name(tool: Any, names: Mapping[int, str]) -> str:
    if id(tool) in names:
        return names[id(tool)]
    if isinstance(tool, Mapping):
        return str(tool.get("function", {}).get("name", "tool"))
    return str(getattr(tool, "__name__", "tool"))


def cell_text(
    prompt: str,
    values: Mapping[str, Any],
    options: Sequence[Option],
    call: Call | None = None,
    *,
    tool_names: Mapping[int, str] | None = None,
) -> str:
    """The ``%%deepseek`` cell that sends what the panel would: the options' flags
    (``Option.flag``), then the call settings' (``Setting.flag``), values shell-quoted, then
    the prompt. ``values`` are checked ones; ``tool_names`` maps ``id(function)`` to its
    name in the notebook."""
    call = call or Call()
    system = call.given("system")
    if system and "\n" in system:
        raise OptionError(
            "The system prompt has line breaks, which a %%deepseek line cannot hold.",
            option="system",
        )
    parts = ["%%deepseek"]
    for option in options:
        value = values.get(option.name)
        if value is None:
            continue
        if option.kind == "strings":
            parts.extend(_arg(option.flag, item) for item in value)
        elif option.kind == "tools":
            parts.append(
                " ".join(
                    [option.flag, *(shlex.quote(_tool_name(t, tool_names or {})) for t in value)]
                )
            )
        elif option.kind == "bool":
            parts.append(f"{option.flag} {'true' if value else 'false'}")
        else:
            parts.append(_arg(option.flag, str(value)))
    for setting in SETTINGS:
        value = call.given(setting.name)
        if setting.flag is None or value is None:
            continue
        if setting.kind == "switch":
            if value != setting.default:
                parts.append(setting.flag)
        elif setting.kind == "json":
            parts.append(_arg(setting.flag, json.dumps(value)))
        elif setting.kind != "grid":
            parts.append(_arg(setting.flags[0], str(value)))
    return " ".join(parts) + "\n" + prompt
