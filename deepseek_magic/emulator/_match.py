"""Which scripted reply answers a request: rules chosen by the request, never by its turn.

A lesson's script is a list of :class:`Rule` s. A rule answers a request when its prompt
condition holds for the request's prompt (its last user message) and every condition in
``when`` holds for the request's options; rules are tried top to bottom and the first
that matches answers, so a teacher writes the specific rules first (``temperature <= 0.3``)
and the general one last. A rule holds one reply or several *samples*: with a ``seed`` in
the request the seed picks the sample (the same seed, the same reply; another seed,
usually another), without one the rule hands its samples out in turn, starting from the
first each time the emulator starts (so a lesson run from the top, under nbval too, shows
the same replies every time, and a re-run shows the next ones, as sampling would).

In a script file (JSON; see ``notebooks/README.md`` for a teacher's guide)::

    {"prompt": "What is 17 * 23?", "reasoning": "...", "answer": "391"}
    {"prompt_contains": "café run by robots", "when": {"temperature": "<= 0.3"},
     "reasoning": "...", "answer": "Byte & Brew"}
    {"prompt_contains": "café run by robots",
     "samples": [{"reasoning": "...", "answer": "The Gear Grind"}, {...}]}
    {"prompt": "*", "answer": "..."}                        (any prompt)

``prompt`` is the whole prompt (surrounding whitespace ignored; ``"*"`` is any prompt),
``prompt_contains`` a piece of it (both case-sensitive). ``when`` names what the request
says (:data:`FACTS`); a value is matched exactly, a list is "one of", and a string
starting with ``<``, ``<=``, ``>``, ``>=`` or ``!=`` compares a number; ``null`` means
"not set". A request no rule answers gets the emulator's labelled default reply (see
:func:`~._script.default_reply`), never another prompt's reply.

:func:`rules_from_recording` turns a ``%deepseek_cache record`` file (JSON lines) into
rules, one per recorded request, so a lesson recorded once against a real provider can
be served offline. This module is pure: no I/O.
"""

from __future__ import annotations

import json
import operator
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "FACTS",
    "Rule",
    "facts_of",
    "last_user_text",
    "rule_from_mapping",
    "rules_from_recording",
]

#: what ``when`` may name, and how each is read from a request body (``None`` = not set)
FACTS: dict[str, Callable[[Mapping[str, Any]], Any]] = {}


def _fact(name: str) -> Callable[[Callable[[Mapping[str, Any]], Any]], Any]:
    def register(read: Callable[[Mapping[str, Any]], Any]) -> Any:
        FACTS[name] = read
        return read

    return register


def _text_of(content: Any) -> str:
    """The text of a message ``content``: a string or a list of ``{"type":"text"}`` parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(str(p.get("text", "")) for p in content if isinstance(p, Mapping))
    return ""


def last_user_text(body: Mapping[str, Any]) -> str | None:
    """The text of the request's last user message (the prompt), or None when there is none."""
    for message in reversed(body.get("messages") or []):
        if isinstance(message, Mapping) and message.get("role") == "user":
            return _text_of(message.get("content"))
    return None


def _body_field(name: str) -> Callable[[Mapping[str, Any]], Any]:
    def read(body: Mapping[str, Any]) -> Any:
        return body.get(name)

    return read


for _name in ("temperature", "top_p", "top_k", "seed", "stop", "model"):
    FACTS[_name] = _body_field(_name)


@_fact("max_completion_tokens")
def _max_tokens(body: Mapping[str, Any]) -> Any:
    value = body.get("max_completion_tokens")
    return body.get("max_tokens") if value is None else value


@_fact("effort")
def _effort(body: Mapping[str, Any]) -> Any:
    """``reasoning.effort`` (OpenRouter) or ``reasoning_effort`` (DeepSeek, local servers)."""
    reasoning = body.get("reasoning")
    if isinstance(reasoning, Mapping) and reasoning.get("effort") is not None:
        return reasoning.get("effort")
    return body.get("reasoning_effort")


@_fact("thinking")
def _thinking(body: Mapping[str, Any]) -> Any:
    """False when the request turns thinking off in any provider's spelling, else True."""
    reasoning = body.get("reasoning")
    if isinstance(reasoning, Mapping) and (
        reasoning.get("effort") == "none" or reasoning.get("enabled") is False
    ):
        return False
    thinking = body.get("thinking")
    if isinstance(thinking, Mapping) and thinking.get("type") == "disabled":
        return False
    if body.get("think") is False or body.get("reasoning_effort") == "none":
        return False
    kwargs = body.get("chat_template_kwargs")
    if isinstance(kwargs, Mapping) and (
        kwargs.get("enable_thinking") is False or kwargs.get("thinking") is False
    ):
        return False
    return True


@_fact("after_tools")
def _after_tools(body: Mapping[str, Any]) -> Any:
    """True when tool results follow the last user message (the round after a tool call)."""
    after = False
    for message in body.get("messages") or []:
        if isinstance(message, Mapping):
            if message.get("role") == "user":
                after = False
            elif message.get("role") == "tool":
                after = True
    return after


@_fact("turn")
def _turn(body: Mapping[str, Any]) -> Any:
    """How many user messages the request holds (1 for a first question)."""
    return sum(
        1 for m in body.get("messages") or [] if isinstance(m, Mapping) and m.get("role") == "user"
    )


def facts_of(body: Mapping[str, Any]) -> dict[str, Any]:
    """Every fact of :data:`FACTS` for this request body."""
    return {name: read(body) for name, read in FACTS.items()}


_COMPARE: tuple[tuple[str, Callable[[Any, Any], bool]], ...] = (
    ("<=", operator.le),
    (">=", operator.ge),
    ("!=", operator.ne),
    ("<", operator.lt),
    (">", operator.gt),
)


def _condition(name: str, expected: Any) -> Callable[[Any], bool]:
    """A test of one fact; raises ValueError for a condition that cannot be read. A fact
    that is a list (``stop``) passes when one of its items does."""
    test = _scalar_condition(name, expected)
    return lambda value: (
        any(test(v) for v in value) if isinstance(value, list) and value else test(value)
    )


def _scalar_condition(name: str, expected: Any) -> Callable[[Any], bool]:
    if isinstance(expected, list):
        tests = [_condition(name, e) for e in expected]
        return lambda value: any(t(value) for t in tests)
    if isinstance(expected, str):
        for symbol, compare in _COMPARE:
            if expected.startswith(symbol):
                text = expected[len(symbol) :].strip()
                try:
                    bound = float(text)
                except ValueError:
                    if symbol == "!=":
                        return lambda value: value != text
                    raise ValueError(
                        f"when.{name}: {expected!r}: expected a number after {symbol!r}"
                    ) from None
                return lambda value: (
                    isinstance(value, (int, float))
                    and not isinstance(value, bool)
                    and compare(float(value), bound)
                )
    if isinstance(expected, bool) or expected is None:
        return lambda value: value is expected
    if isinstance(expected, (int, float)):
        return lambda value: (
            isinstance(value, (int, float)) and not isinstance(value, bool) and value == expected
        )
    return lambda value: value == expected


@dataclass(frozen=True, eq=False)
class Rule:
    """Scripted replies for the requests that match; see the module docstring.

    ``samples`` holds one or more scripted items (replies or faults); ``prompt`` the whole
    prompt (``"*"``: any), ``contains`` a piece of it; ``when`` conditions on
    :data:`FACTS`.
    """

    samples: tuple[Any, ...]
    prompt: str | None = None
    contains: str | None = None
    when: Mapping[str, Any] = field(default_factory=dict)
    _tests: dict[str, Callable[[Any], bool]] = field(
        init=False, repr=False, compare=False, default_factory=dict
    )

    def __post_init__(self) -> None:
        if not self.samples:
            raise ValueError("a rule needs at least one reply")
        unknown = set(self.when) - set(FACTS)
        if unknown:
            raise ValueError(
                f"unknown when keys {sorted(unknown)}; allowed: {', '.join(sorted(FACTS))}"
            )
        tests = {name: _condition(name, value) for name, value in self.when.items()}
        object.__setattr__(self, "_tests", tests)

    def matches(self, body: Mapping[str, Any]) -> bool:
        """Whether this rule answers the request ``body``."""
        if self.prompt is not None or self.contains is not None:
            text = last_user_text(body)
            if text is None:
                return False
            if self.prompt is not None and self.prompt != "*" and text.strip() != self.prompt:
                return False
            if self.contains is not None and self.contains not in text:
                return False
        return all(test(FACTS[name](body)) for name, test in self._tests.items())

    def pick(self, body: Mapping[str, Any], turn: int) -> Any:
        """The sample for this request: chosen by its seed, else the ``turn``-th in rotation."""
        seed = body.get("seed")
        if isinstance(seed, int) and not isinstance(seed, bool):
            return self.samples[seed % len(self.samples)]
        return self.samples[turn % len(self.samples)]

    def describe(self) -> str:
        """One line naming the rule, for messages and the recorder."""
        what = (
            "any prompt"
            if self.prompt in (None, "*") and self.contains is None
            else (
                f"prompt {self.prompt!r}" if self.prompt else f"prompt containing {self.contains!r}"
            )
        )
        when = ", ".join(f"{k} {v}" for k, v in self.when.items())
        return what + (f" when {when}" if when else "")


#: the keys of a rule entry in a script file; the rest are reply (or fault) keys
RULE_KEYS = ("prompt", "prompt_contains", "when", "samples")


def is_rule_entry(data: Mapping[str, Any]) -> bool:
    """Whether a script-file entry is a rule (it names a prompt, a condition or samples)."""
    return any(key in data for key in RULE_KEYS)


def rule_from_mapping(data: Mapping[str, Any], item: Callable[[Mapping[str, Any]], Any]) -> Rule:
    """A :class:`Rule` from a script-file entry; ``item`` builds one reply or fault from
    the entry's other keys (or from each of ``samples``)."""
    prompt, contains = data.get("prompt"), data.get("prompt_contains")
    for key, value in (("prompt", prompt), ("prompt_contains", contains)):
        if value is not None and (not isinstance(value, str) or not value):
            raise ValueError(f"{key} must be a non-empty string")
    when = data.get("when") or {}
    if not isinstance(when, Mapping):
        raise ValueError(f"when must be an object of conditions, got {type(when).__name__}")
    rest = {k: v for k, v in data.items() if k not in RULE_KEYS}
    if "samples" in data:
        samples = data["samples"]
        if not isinstance(samples, list) or not samples:
            raise ValueError("samples must be a non-empty list of replies")
        if rest:
            raise ValueError(
                f"with samples, the reply keys go inside each sample (found {sorted(rest)})"
            )
        items = tuple(item(s) for s in samples)
    else:
        items = (item(rest),)
    return Rule(items, prompt=prompt, contains=contains, when=dict(when))


# ------------------------------------------------------------------ the recorder's files

#: the options of a recorded request that become ``when`` conditions, and their fact names
_RECORDED_OPTIONS: tuple[tuple[str, str], ...] = (
    ("temperature", "temperature"),
    ("top_p", "top_p"),
    ("top_k", "top_k"),
    ("seed", "seed"),
)


def entry_from_record(record: Mapping[str, Any]) -> dict[str, Any] | None:
    """One script entry (a plain dict, as a teacher would write it) from one line of a
    ``%deepseek_cache`` recording, or None when the line is not a usable recording."""
    request, result = record.get("request"), record.get("result")
    if not isinstance(request, Mapping) or not isinstance(result, Mapping):
        return None
    body = {"messages": request.get("messages") or [], **dict(request.get("options") or {})}
    prompt = last_user_text(body)
    if prompt is None or not prompt.strip():
        return None
    entry: dict[str, Any] = {"prompt": prompt.strip()}
    facts = facts_of(body)
    when: dict[str, Any] = {
        fact: facts[fact] for option, fact in _RECORDED_OPTIONS if facts[fact] is not None
    }
    if facts["effort"] is not None:
        when["effort"] = facts["effort"]
    if facts["thinking"] is False:
        when["thinking"] = False
    if facts["after_tools"]:
        when["after_tools"] = True
    if facts["turn"] > 1:
        when["turn"] = facts["turn"]
    if when:
        entry["when"] = when
    entry["reasoning"] = str(result.get("reasoning") or "")
    entry["answer"] = str(result.get("answer") or "")
    calls = [
        {"name": c.get("name"), "arguments": c.get("arguments") or "{}"}
        for c in result.get("tool_calls") or ()
        if isinstance(c, Mapping) and c.get("name")
    ]
    if calls:
        entry["tool_calls"] = calls
    finish = result.get("finish_reason")
    if finish not in (None, "stop", "tool_calls"):
        entry["finish_reason"] = finish
    return entry


def rules_from_recording(lines: Iterable[str]) -> list[dict[str, Any]]:
    """Script entries from the lines of a recording: one per distinct request (a request
    recorded again with another reply becomes one more sample of the same entry), with
    the most specific entries (those with conditions) first."""
    merged: dict[str, dict[str, Any]] = {}
    for line in lines:
        line = line.strip()
        if not line:
            continue
        try:
            record = json.loads(line)
        except ValueError:
            continue  # a damaged line (the cache itself warns about it)
        if not isinstance(record, Mapping):
            continue
        entry = entry_from_record(record)
        if entry is None:
            continue
        key = json.dumps([entry["prompt"], entry.get("when")], sort_keys=True)
        reply = {k: v for k, v in entry.items() if k not in RULE_KEYS}
        if key not in merged:
            merged[key] = {k: v for k, v in entry.items() if k in ("prompt", "when")} | {
                "samples": []
            }
        if reply not in merged[key]["samples"]:
            merged[key]["samples"].append(reply)
    out: list[dict[str, Any]] = []
    for entry in merged.values():
        samples = entry.pop("samples")
        out.append({**entry, "samples": samples} if len(samples) > 1 else {**entry, **samples[0]})
    # the more conditions, the earlier: an entry for "temperature 0" must come before
    # the same prompt without conditions (first match wins)
    return sorted(out, key=lambda e: -len(e.get("when") or {}))


def looks_like_recording(first_line: str) -> bool:
    """Whether a file's first line is a ``%deepseek_cache`` entry (JSON lines)."""
    try:
        data = json.loads(first_line)
    except ValueError:
        return False
    return isinstance(data, Mapping) and "request" in data and "result" in data


def sample_answers(rules: Sequence[Rule]) -> list[str]:
    """Every answer the rules can give (for tests and checks)."""
    return [getattr(s, "answer", "") for rule in rules for s in rule.samples]
