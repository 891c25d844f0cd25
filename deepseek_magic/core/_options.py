"""The one table of request options.

Every request option is declared once, here, as an :class:`Option`. From that one
declaration come:

* its validation and coercion (``Option.coerce``: a clear one-line error *before*
  anything is sent),
* its key in the JSON body (``_providers.plan_options``: options the user did not set are
  not sent),
* its keyword argument of ``ask()``,
* its ``%%deepseek`` flag (``Option.flag``, ``Option.metavar``; argparse is built from
  the table in ``_magic.py``),
* its panel control (``Option.widget``, ``Option.step``, ``Option.label``),
* its row in the README's options table (``notebook/_docs.options_markdown``).

A test checks that all these views agree with the table, so no option name is
typed twice anywhere in the package.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from ._errors import DeprecatedOptionWarning, OptionError

__all__ = [
    "DeprecatedOptionWarning",
    "Option",
    "OPTIONS",
    "OPTION_BY_NAME",
    "validate_options",
    "REASONING_EFFORTS",
    "TOOL_CHOICES",
]

Kind = Literal["float", "int", "bool", "choice", "strings", "tools", "tool_choice"]
Widget = Literal[
    "slider", "int_slider", "int_text", "seed", "dropdown", "toggle", "tags", "tools", "tool_choice"
]


REASONING_EFFORTS = ("minimal", "low", "medium", "high", "xhigh", "max", "none")
TOOL_CHOICES = ("none", "auto", "required")


@dataclass(frozen=True)
class Option:
    """One request option: how it is named, checked, sent, flagged and shown."""

    #: the keyword of ``ask()`` and the attribute of parsed magic arguments
    name: str
    kind: Kind
    help: str
    #: where the value goes in the JSON body (``("reasoning", "effort")`` for nested ones)
    path: tuple[str, ...] = ()
    minimum: float | None = None
    maximum: float | None = None
    min_exclusive: bool = False
    max_exclusive: bool = False
    choices: tuple[str, ...] = ()
    max_items: int | None = None
    #: the server's documented default: shown in help and the panel's start value; never sent
    default: Any = None
    #: panel hints
    widget: Widget | None = None
    step: float | None = None
    #: for sliders of unbounded options: the range the panel offers
    panel_range: tuple[float, float] | None = None
    #: the panel's starting value when the option has no documented default (never sent
    #: unless the user ticks it)
    suggested: Any = None
    #: set for deprecated aliases: the option to send instead
    alias_of: str | None = None
    deprecated: str | None = None
    #: short flag (``-t``) in addition to the long one
    short: str | None = None

    # ----------------------------------------------------------- derived names
    @property
    def key(self) -> str:
        """The name in the JSON body (the last element of the path)."""
        return self.path[-1] if self.path else self.name

    @property
    def flag(self) -> str:
        """The magic flag: dashes for underscores (``--top-p``)."""
        return "--" + self.name.replace("_", "-")

    @property
    def label(self) -> str:
        """The panel's control description: the name in words (``top p``)."""
        return self.name.replace("_", " ")

    @property
    def metavar(self) -> str:
        if self.kind == "bool" and self.widget == "toggle" and self.default is None:
            return "on|off"  # a switch (--thinking off) rather than a flag with a value
        return {
            "float": "X",
            "int": "N",
            "bool": "BOOL",
            "choice": "|".join(self.choices),
            "strings": "TEXT",
            "tools": "FUNC",
            "tool_choice": "|".join(TOOL_CHOICES) + "|NAME",
        }[self.kind]

    def range_text(self) -> str:
        """The allowed values in words, for help and error messages."""
        if self.kind == "choice":
            return "one of " + ", ".join(self.choices)
        if self.kind == "bool":
            return "true or false"
        if self.kind == "strings":
            return f"at most {self.max_items} strings" if self.max_items else "strings"
        if self.kind == "tool_choice":
            return "none, auto, required, or the name of an offered tool"
        if self.kind == "tools":
            return "Python functions or OpenAI tool specs"
        kind = "an integer" if self.kind == "int" else "a number"
        lo, hi = self.minimum, self.maximum
        if lo is not None and hi is not None:
            left = "<" if self.min_exclusive else "<="
            right = "<" if self.max_exclusive else "<="
            return f"{kind} with {_fmt(lo)} {left} {self.name} {right} {_fmt(hi)}"
        if lo is not None:
            return f"{kind} {'>' if self.min_exclusive else '>='} {_fmt(lo)}"
        if hi is not None:
            return f"{kind} {'<' if self.max_exclusive else '<='} {_fmt(hi)}"
        return kind

    # -------------------------------------------------------------- validation
    def _refuse(self, value: Any, why: str) -> OptionError:
        return OptionError(
            f"{self.flag} / {self.name}={_show(value)}: {why}; allowed: {self.range_text()}.",
            option=self.name,
            value=value,
        )

    def coerce(self, value: Any) -> Any:
        """Check ``value`` and return it in its canonical type.

        Accepts Python values (``ask()``, the panel) and strings (magic flags, ``%config``).
        Raises :class:`OptionError` with a one-line message naming the flag, the value and
        the allowed range.
        """
        if self.kind == "float":
            number = self._number(value, float)
            return self._in_range(value, number)
        if self.kind == "int":
            number = self._number(value, int)
            return self._in_range(value, number)
        if self.kind == "bool":
            return self._bool(value)
        if self.kind == "choice":
            text = str(value).strip().lower() if isinstance(value, str) else value
            if text not in self.choices:
                raise self._refuse(value, "not a known value")
            return text
        if self.kind == "strings":
            return self._strings(value)
        if self.kind == "tool_choice":
            if isinstance(value, Mapping):
                name = (
                    value.get("function", {}).get("name")
                    if isinstance(value.get("function"), Mapping)
                    else None
                )
                if value.get("type") == "function" and isinstance(name, str) and name:
                    return name
                raise self._refuse(value, "not a tool choice")
            if not isinstance(value, str) or not value.strip():
                raise self._refuse(value, "not a tool choice")
            text = value.strip()
            if not text.isidentifier() and text not in TOOL_CHOICES:
                raise self._refuse(value, "not a function name")
            return text
        if self.kind == "tools":
            items = list(value) if isinstance(value, (list, tuple)) else [value]
            if not items:
                raise self._refuse(value, "empty")
            for item in items:
                if not (callable(item) or isinstance(item, Mapping)):
                    raise self._refuse(item, "not a function or a tool spec")
            return tuple(items)
        raise AssertionError(self.kind)  # pragma: no cover

    def _number(self, value: Any, typ: type) -> Any:
        if isinstance(value, bool):
            raise self._refuse(value, "not a number")
        if isinstance(value, str):
            text = value.strip()
            try:
                number: Any = int(text) if typ is int else float(text)
            except ValueError:
                raise self._refuse(
                    value, f"not {'an integer' if typ is int else 'a number'}"
                ) from None
        elif typ is int:
            if isinstance(value, float) and value.is_integer():
                number = int(value)
            elif isinstance(value, int):
                number = value
            else:
                raise self._refuse(value, "not an integer")
        elif isinstance(value, (int, float)):
            number = float(value)
        else:
            raise self._refuse(value, "not a number")
        if typ is float and not math.isfinite(number):
            raise self._refuse(value, "not a finite number")
        return number

    def _in_range(self, raw: Any, number: Any) -> Any:
        lo, hi = self.minimum, self.maximum
        if lo is not None and (number < lo or (self.min_exclusive and number == lo)):
            raise self._refuse(raw, "out of range")
        if hi is not None and (number > hi or (self.max_exclusive and number == hi)):
            raise self._refuse(raw, "out of range")
        return number

    def _bool(self, value: Any) -> bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str):
            text = value.strip().lower()
            if text in ("true", "yes", "on", "1"):
                return True
            if text in ("false", "no", "off", "0"):
                return False
        if isinstance(value, int) and value in (0, 1):
            return bool(value)
        raise self._refuse(value, "not a boolean")

    def _strings(self, value: Any) -> tuple[str, ...]:
        items = [value] if isinstance(value, str) else value
        if not isinstance(items, (list, tuple)):
            raise self._refuse(value, "not a string or a list of strings")
        out = []
        for item in items:
            if not isinstance(item, str):
                raise self._refuse(item, "not a string")
            if item == "":
                raise self._refuse(item, "an empty string never matches")
            out.append(item)
        if self.max_items is not None and len(out) > self.max_items:
            raise self._refuse(value, f"{len(out)} given")
        return tuple(out)


def _fmt(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else str(x)


def _show(value: Any) -> str:
    text = repr(value) if not isinstance(value, str) else value
    return text if len(text) <= 40 else text[:37] + "..."


# ------------------------------------------------------------------ the table
# Ranges follow OpenRouter's documented ones (wire-format.md section 1), taking the
# stricter bound where its two documents differ.
OPTIONS: tuple[Option, ...] = (
    Option(
        "temperature",
        "float",
        "Sampling temperature; DeepSeek recommends 0.6 for R1.",
        minimum=0,
        maximum=2,
        default=1.0,
        widget="slider",
        step=0.05,
        short="t",
    ),
    Option(
        "top_p",
        "float",
        "Nucleus sampling: keep the smallest set of tokens whose probability adds up to top_p.",
        minimum=0,
        maximum=1,
        min_exclusive=True,
        default=1.0,
        widget="slider",
        step=0.01,
    ),
    Option(
        "top_k",
        "int",
        "Sample only from the k most likely tokens (0 = off).",
        minimum=0,
        default=0,
        widget="int_slider",
        step=1,
        panel_range=(0, 200),
    ),
    Option(
        "frequency_penalty",
        "float",
        "Penalise tokens by how often they already appeared.",
        minimum=-2,
        maximum=2,
        default=0.0,
        widget="slider",
        step=0.05,
    ),
    Option(
        "presence_penalty",
        "float",
        "Penalise tokens that already appeared at all.",
        minimum=-2,
        maximum=2,
        default=0.0,
        widget="slider",
        step=0.05,
    ),
    Option(
        "repetition_penalty",
        "float",
        "Multiplicative penalty on repeated tokens (1 = off).",
        minimum=0,
        maximum=2,
        min_exclusive=True,
        default=1.0,
        widget="slider",
        step=0.01,
    ),
    Option(
        "seed",
        "int",
        "Seed for sampling; the same seed and options usually repeat the reply.",
        widget="seed",
    ),
    Option(
        "stop",
        "strings",
        "Stop generating at this text (repeat the flag for up to 4).",
        max_items=4,
        widget="tags",
    ),
    Option(
        "max_completion_tokens",
        "int",
        "Upper bound on generated tokens, reasoning included.",
        minimum=1,
        widget="int_text",
        step=1,
        panel_range=(1, 65536),
        suggested=4096,
    ),
    Option(
        "max_tokens",
        "int",
        "Deprecated name of max_completion_tokens.",
        minimum=1,
        alias_of="max_completion_tokens",
        deprecated="--max-tokens is deprecated; "
        "use --max-completion-tokens (max_completion_tokens=) instead.",
    ),
    Option(
        "include_reasoning",
        "bool",
        "Legacy switch: false asks the server to leave the reasoning out.",
        widget="toggle",
        default=True,
    ),
    Option(
        "thinking",
        "bool",
        "Thinking mode on or off (spelled per provider; see the provider table).",
        widget="toggle",
    ),
    Option(
        "reasoning_effort",
        "choice",
        "How hard the model should think.",
        path=("reasoning", "effort"),
        choices=REASONING_EFFORTS,
        widget="dropdown",
    ),
    Option(
        "reasoning_max_tokens",
        "int",
        "Token budget for the reasoning (instead of an effort).",
        path=("reasoning", "max_tokens"),
        minimum=1,
        suggested=2048,
    ),
    Option(
        "reasoning_exclude",
        "bool",
        "Reason, but do not return the reasoning.",
        path=("reasoning", "exclude"),
    ),
    Option(
        "reasoning_enabled",
        "bool",
        "Turn reasoning on with the provider's default settings.",
        path=("reasoning", "enabled"),
    ),
    Option(
        "tools",
        "tools",
        "Python functions (or OpenAI tool specs) the model may call.",
        widget="tools",
    ),
    Option(
        "tool_choice",
        "tool_choice",
        "Whether and which tool the model must call.",
        widget="tool_choice",
    ),
)

OPTION_BY_NAME: dict[str, Option] = {o.name: o for o in OPTIONS}

#: the sub-fields of the API's ``reasoning`` object, mapped to their option names
_REASONING_FIELDS = {o.path[1]: o.name for o in OPTIONS if o.path[:1] == ("reasoning",)}


def validate_options(
    raw: Mapping[str, Any], *, warn: Callable[[str], None] | None = None
) -> dict[str, Any]:
    """Check every option in ``raw`` and return them canonical, unset ones (None) dropped.

    Accepts the API's own nested ``reasoning={"effort": ...}`` as well as the flat
    ``reasoning_effort=...``. Unknown names and conflicting combinations raise
    :class:`OptionError`. ``warn`` receives deprecation notices (default: ``warnings.warn``).
    """
    warn = warn or (lambda msg: warnings.warn(msg, DeprecatedOptionWarning, stacklevel=4))
    values: dict[str, Any] = {}
    for name, value in raw.items():
        if value is None:
            continue
        if name == "reasoning":
            values.update(_flatten_reasoning(value))
            continue
        option = OPTION_BY_NAME.get(name)
        if option is None:
            close = _closest(name, OPTION_BY_NAME)
            hint = f" Did you mean {close}?" if close else ""
            raise OptionError(f"Unknown option {name!r}.{hint}", option=name, value=value)
        values[name] = option.coerce(value)
    for name in list(values):
        option = OPTION_BY_NAME[name]
        if option.alias_of:
            if option.alias_of in values and values[option.alias_of] != values[name]:
                raise OptionError(
                    f"{option.flag} and {OPTION_BY_NAME[option.alias_of].flag} disagree; give only "
                    f"{OPTION_BY_NAME[option.alias_of].flag}.",
                    option=name,
                )
            if option.deprecated:
                warn(option.deprecated)
            values[option.alias_of] = values.pop(name)
    if "reasoning_effort" in values and "reasoning_max_tokens" in values:
        raise OptionError(
            "--reasoning-effort and --reasoning-max-tokens cannot be combined; give one of them.",
            option="reasoning_effort",
        )
    choice = values.get("tool_choice")
    if choice is not None and choice not in TOOL_CHOICES and "tools" not in values:
        raise OptionError(
            f"--tool-choice {choice}: no tools are offered; add --tools {choice}.",
            option="tool_choice",
        )
    return values


def _flatten_reasoning(value: Any) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        raise OptionError(
            f"reasoning={_show(value)}: expected an object such as {{'effort': 'high'}}.",
            option="reasoning",
            value=value,
        )
    out = {}
    for key, sub in value.items():
        name = _REASONING_FIELDS.get(key)
        if name is None:
            raise OptionError(
                f"reasoning.{key} is not a reasoning setting; known: "
                f"{', '.join(_REASONING_FIELDS)}.",
                option="reasoning",
                value=value,
            )
        if sub is not None:
            out[name] = OPTION_BY_NAME[name].coerce(sub)
    if not out:
        out["reasoning_enabled"] = True  # {} means "reasoning with defaults" in OpenRouter's API
    return out


def _closest(name: str, names: Iterable[str]) -> str | None:
    import difflib

    found = difflib.get_close_matches(name, list(names), n=1)
    return found[0] if found else None
