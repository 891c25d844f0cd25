"""The one table of call settings, beside the option table.

A request *option* goes into the JSON body (``_options.OPTIONS``); a call *setting*
decides everything else about a call: where it goes (``base_url``, ``provider``), with
which model and system prompt, how long to wait, whether tools run, where the Result is
bound. Each setting is declared once, here, as a :class:`Setting`, with the places it may
come from. From that one declaration come:

* its ``%%deepseek`` flag and help (``_magic_args.build_parser``),
* its keyword of ``ask()`` / ``aask()`` / ``sweep_ask()`` / ``map()``, gathered into one
  frozen :class:`Call` that is passed down (``split_keywords``),
* its ``%config DeepSeekMagics.<name>`` trait (``_magic.DeepSeekMagics``),
* its panel field and its part of the panel's "copy as cell" line,
* its row in the README's settings table (``settings_markdown``),
* its validation (``Setting.coerce``: one line naming the flag, the value and the range),
* its precedence: :func:`pick`, the one rule every setting follows (DESIGN.md):
  argument > ``%config`` (typed in this session) > environment > default.

A new setting is one entry in :data:`SETTINGS` (``tests/test_call.py`` adds a made-up one).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Literal

from ._errors import ConfigError

__all__ = [
    "Setting",
    "SETTINGS",
    "SETTING_BY_NAME",
    "Call",
    "pick",
    "split_keywords",
    "settings_markdown",
    "MAX_TIMEOUT",
]

Kind = Literal[
    "text",
    "provider",
    "name",
    "json",
    "seconds",
    "number",
    "dollars",
    "price",
    "count",
    "switch",
    "grid",
    "value",
]

#: the longest timeout accepted (a week): sockets refuse inf, NaN and huge values with
#: ValueError/OverflowError deep inside httpx, so they are refused here, in one line
MAX_TIMEOUT = 7 * 24 * 3600.0

_TRUE = ("true", "yes", "on", "1")
_FALSE = ("false", "no", "off", "0")
_OFF = ("", "off", "none")


@dataclass(frozen=True)
class Setting:
    """One call setting: its name, type, range, default, help, and where it may come from."""

    #: the keyword of ``ask()``, the trait of ``%config`` and the attribute of a :class:`Call`
    name: str
    kind: Kind
    help: str
    #: what applies when no source gives a value (None: decided downstream, e.g. per provider)
    default: Any = None
    #: for ``count``: the smallest value accepted
    minimum: int = 0
    #: the magic's flags (``("-m", "--model")``); a ``switch`` whose default is True
    #: is turned off by its flag (``--no-stream``, ``--hide-reasoning``)
    flags: tuple[str, ...] = ()
    metavar: str | None = None
    #: a keyword of ``ask()`` / ``aask()`` / ``sweep_ask()`` / ``map()``
    keyword: bool = True
    #: ``%config DeepSeekMagics.<name>`` (a session default)
    trait: bool = False
    #: an environment variable, read when neither an argument nor ``%config`` gives a value
    #: (DESIGN.md: CI, Binder images point every notebook somewhere)
    env: str | None = None
    #: a field of the panel (``Panel.fields``); every setting with a flag is part of the
    #: panel's "copy as cell" line, and every keyword one is a keyword of ``panel()``
    panel: bool = False

    @property
    def flag(self) -> str | None:
        """The long flag, or None for a setting without one."""
        return self.flags[-1] if self.flags else None

    @property
    def label(self) -> str:
        return f"{self.flag} / {self.name}" if self.flag else self.name

    def range_text(self) -> str:
        if self.kind == "provider":
            from ._providers import PROVIDERS

            return "one of " + ", ".join(PROVIDERS)
        return {
            "text": "text",
            "name": "a Python name",
            "json": "a JSON object",
            "seconds": f"seconds above 0 and at most {MAX_TIMEOUT:g}",
            "number": "a number above 0",
            "dollars": "US dollars, zero or more (e.g. 0.50), or off",
            "price": "IN,OUT in US dollars per million prompt and completion tokens "
            "(e.g. 0.55,2.19), or off",
            "count": f"an integer >= {self.minimum}",
            "switch": "true or false",
            "grid": "NAME=V1,V2,...",
            "value": "a Python value or text",
        }[self.kind]

    def _refuse(self, value: Any) -> ConfigError:
        if self.kind == "provider":  # the message resolve_settings gives too
            return ConfigError(f"Unknown provider {value!r}; choose {self.range_text()}.")
        return ConfigError(f"{self.label} {value!r}: expected {self.range_text()}.")

    def coerce(self, value: Any) -> Any:
        """``value`` checked and in its canonical type (text from a flag, the environment or
        ``%config`` is accepted as well as Python values); None stays None (unset)."""
        if value is None:
            return None
        try:
            return self._coerce(value)
        except (TypeError, ValueError, OverflowError):  # argparse reads "--timeout=--" as []
            raise self._refuse(value) from None

    def _coerce(self, value: Any) -> Any:
        kind = self.kind
        if kind == "value":  # checked where it is used (a schema: features/_schema.py)
            return (value.strip() or None) if isinstance(value, str) else value
        if kind in ("text", "provider", "name"):
            if not isinstance(value, str):
                raise TypeError
            text = value.strip()
            if kind == "provider" and text not in _providers():
                raise ValueError
            if kind == "name" and not text.isidentifier():
                raise ValueError
            return text or None
        if kind == "json":
            data = json.loads(value) if isinstance(value, str) else value
            if not isinstance(data, Mapping):
                raise TypeError
            return dict(data)
        if kind == "switch":
            if isinstance(value, bool):
                return value
            text = str(value).strip().lower()
            if text in _TRUE or text in _FALSE:
                return text in _TRUE
            raise ValueError
        if kind in ("dollars", "price") and (
            value is False or (isinstance(value, str) and value.strip().lower() in _OFF)
        ):
            return None  # no budget, no price of one's own
        if kind == "price":
            pair = value.split(",") if isinstance(value, str) else list(value)
            if len(pair) != 2 or any(isinstance(v, bool) for v in pair):
                raise ValueError
            prompt, completion = (float(v) for v in pair)
            if not all(0 <= v < math.inf for v in (prompt, completion)):
                raise ValueError
            return (prompt, completion)
        if kind == "grid":
            items = [value] if isinstance(value, str) else list(value)
            if not all(isinstance(i, str) for i in items):
                raise TypeError
            return tuple(items)
        if isinstance(value, bool):
            raise TypeError
        if kind == "count":
            number = int(value.strip()) if isinstance(value, str) else value
            if not isinstance(number, int) and not (
                isinstance(number, float) and number.is_integer()
            ):
                raise TypeError
            if int(number) < self.minimum:
                raise ValueError
            return int(number)
        if kind == "dollars":
            dollars = float(value)
            if not 0 <= dollars < math.inf:  # also False for NaN
                raise ValueError
            return dollars
        seconds = float(value)
        limit = MAX_TIMEOUT if kind == "seconds" else math.inf
        if not 0 < seconds <= limit:  # also False for NaN
            raise ValueError
        return seconds


def _providers() -> tuple[str, ...]:
    from ._providers import PROVIDERS

    return tuple(PROVIDERS)


#: The table. Order is the order of the magic's flags, the README and the copied cell.
SETTINGS: tuple[Setting, ...] = (
    Setting(
        "model",
        "text",
        "Model id; 'deepseek-r1' resolves per provider (default deepseek/deepseek-r1).",
        flags=("-m", "--model"),
        metavar="MODEL",
        trait=True,
        env="DEEPSEEK_MAGIC_MODEL",
        panel=True,
    ),
    Setting(
        "system",
        "text",
        "A system prompt (DeepSeek advises putting instructions in the prompt instead).",
        flags=("-s", "--system"),
        metavar="TEXT",
        trait=True,
        panel=True,
    ),
    Setting(
        "out",
        "name",
        "Bind the Result to this variable (also on failure: the partial Result).",
        flags=("-o", "--out"),
        metavar="NAME",
        keyword=False,
        panel=True,
    ),
    Setting(
        "conversation",
        "text",
        "Continue the named conversation (earlier turns are sent).",
        flags=("-c", "--chat"),
        metavar="NAME",
    ),
    Setting(
        "vars",
        "switch",
        "Fill {{name}} in the prompt with notebook variables (off unless given).",
        default=False,
        flags=("--vars",),
        keyword=False,
    ),
    Setting(
        "extra",
        "json",
        'Extra JSON fields for the body, e.g. \'{"provider": {"order": ["deepseek"]}}\'.',
        flags=("--extra",),
        metavar="JSON",
    ),
    Setting(
        "base_url",
        "text",
        "Send to this OpenAI-compatible base URL (e.g. a local server's http://localhost:PORT/v1).",
        flags=("--base-url",),
        metavar="URL",
        trait=True,
        env="DEEPSEEK_MAGIC_BASE_URL",
    ),
    Setting(
        "provider",
        "provider",
        "That provider's base URL and rules (with --base-url: a "
        "server of that kind at that address).",
        flags=("--provider",),
        metavar="NAME",
        trait=True,
    ),
    Setting(
        "strict",
        "switch",
        "Refuse (send nothing) when an option would be ignored by the "
        "server or cannot be sent to it, or a --schema it cannot enforce.",
        default=False,
        flags=("--strict",),
        trait=True,
    ),
    Setting(
        "schema",
        "value",
        "Typed answer (Result.data): a pydantic model, dataclass, TypedDict or JSON Schema "
        "(a notebook name), or a spec 'city: str, population: int, tags: list[str]'.",
        flags=("--schema",),
        metavar="S",
        panel=True,
    ),
    Setting(
        "repair",
        "count",
        "With --schema: at most this many repair rounds (0 to 3) when the data does not validate.",
        default=1,
        flags=("--repair",),
        metavar="N",
    ),
    Setting(
        "stream",
        "switch",
        "Stream the reply; --no-stream asks for one non-streamed reply.",
        default=True,
        flags=("--no-stream",),
    ),
    Setting(
        "run_tools",
        "switch",
        "Run the tools the model calls and send back their results.",
        default=False,
        flags=("--run-tools",),
        panel=True,
    ),
    Setting(
        "max_tool_rounds",
        "count",
        "At most this many tool rounds.",
        default=8,
        flags=("--max-tool-rounds",),
        metavar="N",
    ),
    Setting(
        "timeout",
        "seconds",
        "Seconds of server silence tolerated.",
        default=120.0,
        flags=("--timeout",),
        metavar="SECONDS",
        trait=True,
    ),
    Setting(
        "show_reasoning",
        "switch",
        "Show the reasoning (collapsed); --hide-reasoning keeps it in the Result only.",
        default=True,
        flags=("--hide-reasoning",),
        keyword=False,
        trait=True,
    ),
    Setting(
        "dry_run",
        "switch",
        "Show the JSON body that would be sent, and send nothing.",
        default=False,
        flags=("--dry-run",),
        keyword=False,
    ),
    Setting(
        "panel",
        "switch",
        "Open the tuning panel with this cell's text as the prompt.",
        default=False,
        flags=("--panel",),
        keyword=False,
    ),
    Setting(
        "sweep",
        "grid",
        "Run over a grid: --sweep temperature=0.2,0.6,1.0 --sweep seed=1,2 "
        "(concurrently; -o gets a DataFrame).",
        flags=("--sweep",),
        metavar="NAME=V1,V2",
        keyword=False,
    ),
    Setting(
        "over",
        "name",
        "Run the cell once per row of this DataFrame (or list): {{column}} is filled per row; "
        "resumable, see deepseek_magic.map (-o gets a DataFrame).",
        flags=("--over",),
        metavar="DATA",
        keyword=False,
    ),
    Setting(
        "concurrency",
        "count",
        "With --over: requests in flight at most.",
        default=8,
        minimum=1,
        flags=("--concurrency",),
        metavar="N",
        keyword=False,
    ),
    Setting(
        "budget",
        "dollars",
        "With --over: refuse a run whose estimate can exceed USD; stop at it.",
        flags=("--budget",),
        metavar="USD",
        keyword=False,
    ),
    Setting(
        "run_file",
        "text",
        "With --over: the run file (default deepseek-runs.sqlite; 'none' for none).",
        flags=("--run-file",),
        metavar="PATH",
        keyword=False,
    ),
    Setting(
        "api_key",
        "text",
        "The API key (never shown; %deepseek_key enters one privately).",
        env="DEEPSEEK_MAGIC_API_KEY",
    ),
    Setting(
        "first_token_timeout",
        "seconds",
        "Seconds to wait for the first token while only keep-alives arrive.",
        default=900.0,
        trait=True,
    ),
    Setting("max_retries", "count", "Retries before the first byte.", default=2, trait=True),
    # R1's 64K-token limit is about 256K characters: this only stops a runaway or hostile
    # server from filling the kernel's memory
    Setting(
        "max_reply_chars",
        "count",
        "Cut off a reply longer than this many characters.",
        default=8_000_000,
        minimum=1,
    ),
    Setting("keep_chunks", "switch", "Keep the raw chunks in Result.chunks.", default=False),
    Setting(
        "verify_tls",
        "switch",
        "Verify TLS certificates (turn off only for a local test server).",
        default=True,
        keyword=False,
        trait=True,
    ),
    Setting(
        "live_rate",
        "number",
        "Most live-view updates per second.",
        default=8.5,  # notebook._live.DEFAULT_MAX_RATE (tests/test_live.py checks they agree)
        keyword=False,
        trait=True,
    ),
    # the spend guard's (features/_spend.py): %deepseek_spend sets them, %config too
    Setting(
        "session_budget",
        "dollars",
        "The session's spending limit in USD: a call that could pass it is not sent "
        "(%deepseek_spend --budget).",
        keyword=False,
        trait=True,
    ),
    Setting(
        "call_budget",
        "dollars",
        "The most one call may cost in USD: a call that could cost more is not sent "
        "(%deepseek_spend --call-budget).",
        keyword=False,
        trait=True,
    ),
    Setting(
        "price",
        "price",
        "Your own price (IN,OUT, USD per million tokens) over the catalogue's "
        "(%deepseek_spend --price).",
        keyword=False,
        trait=True,
    ),
    Setting(
        "context_tokens",
        "count",
        "The model's context in tokens for the too-long warning (default: the "
        "catalogue's; %deepseek_spend --context-tokens).",
        minimum=1,
        keyword=False,
        trait=True,
    ),
    Setting(
        "assumed_output_tokens",
        "count",
        "Completion tokens a cost estimate assumes when a request sets no limit.",
        default=8_192,
        minimum=1,
        keyword=False,
        trait=True,
    ),
)

SETTING_BY_NAME: Mapping[str, Setting] = MappingProxyType({s.name: s for s in SETTINGS})
#: the keywords ``ask()`` takes besides the request options
KEYWORDS = frozenset(s.name for s in SETTINGS if s.keyword)


class Call:
    """One call's settings: a frozen value, checked against :data:`SETTINGS` when made.

    ``Call(model="deepseek-r1", timeout=30)``; ``call.timeout`` is the value given, else
    the table's default (``call.given(name)`` is the value given, or None). Use
    :func:`pick` for a value the environment and ``%config`` may also set.
    """

    __slots__ = ("_values",)

    def __init__(self, **values: Any) -> None:
        checked: dict[str, Any] = {}
        for name, value in values.items():
            setting = SETTING_BY_NAME.get(name)
            if setting is None:
                raise ConfigError(f"Unknown setting {name!r}.")
            value = setting.coerce(value)
            if value is not None:
                checked[name] = value
        object.__setattr__(self, "_values", MappingProxyType(checked))

    def __getattr__(self, name: str) -> Any:
        setting = SETTING_BY_NAME.get(name)
        if setting is None:
            raise AttributeError(name)
        return self._values.get(name, setting.default)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("Call is frozen; use .replace(...)")

    def given(self, name: str) -> Any:
        return self._values.get(name)

    def items(self) -> Iterable[tuple[str, Any]]:
        values: Mapping[str, Any] = self._values
        return values.items()

    def replace(self, **changes: Any) -> Call:
        return Call(**{**self._values, **changes})

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Call) and dict(self._values) == dict(other._values)

    def __hash__(self) -> int:
        return hash(tuple(sorted((k, repr(v)) for k, v in self._values.items())))

    def __repr__(self) -> str:
        shown = {k: ("***" if k == "api_key" else v) for k, v in self._values.items()}
        return "Call(" + ", ".join(f"{k}={v!r}" for k, v in shown.items()) + ")"


def split_keywords(keywords: Mapping[str, Any]) -> tuple[Call, dict[str, Any]]:
    """``ask()``'s keywords as (the call settings, the request options)."""
    call = {k: v for k, v in keywords.items() if k in KEYWORDS}
    options = {k: v for k, v in keywords.items() if k not in KEYWORDS}
    return Call(**call), options


def pick(
    name: str,
    call: Call | None = None,
    config: Mapping[str, Any] | None = None,
    env: Mapping[str, str] | None = None,
) -> tuple[Any, str]:
    """The one precedence rule, for every setting: (value, where it came from).

    An argument (a flag, a keyword) > the session's ``%config`` (typed in this session) >
    the setting's environment variable > the table's default (DESIGN.md, "settings"). What
    a user types in the notebook wins over what the machine was started with. Values from
    ``%config`` and the environment are checked like arguments (a bad one is one line
    naming it).
    """
    import os

    setting = SETTING_BY_NAME[name]
    if call is not None and call.given(name) is not None:
        return call.given(name), "argument"
    if config is not None and config.get(name) not in (None, ""):
        return setting.coerce(config[name]), "%config"
    env = os.environ if env is None else env
    if setting.env and env.get(setting.env):
        return setting.coerce(env[setting.env]), f"${setting.env}"
    return setting.default, "default"


def _cell(setting: Setting) -> str:
    return f"`{setting.flag}`" if setting.flag else "–"


def settings_markdown() -> str:
    """The README's settings table (generated; a test keeps README in step)."""
    rows = [
        "| flag | setting | `ask()` | `%config` | environment | panel | default | meaning |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for s in SETTINGS:
        flags = ", ".join(f"`{f}{' ' + s.metavar if s.metavar else ''}`" for f in s.flags) or "–"
        rows.append(
            f"| {flags} | `{s.name}` | {'yes' if s.keyword else '–'} | {'yes' if s.trait else '–'} "
            f"| {f'`{s.env}`' if s.env else '–'} | {'yes' if s.panel else '–'} "
            f"| {'–' if s.default is None else f'`{s.default}`'} | {s.help} |"
        )
    return "\n".join(rows)
