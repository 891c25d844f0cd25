"""Reading typed data out of an answer: tolerant extraction, then validation.

:func:`extract` finds the JSON a model wrote in its answer (never in its reasoning): the
whole text, a fenced block (```json ... ```), or the outermost JSON value in prose. The
candidates are tried in that order and the first that validates wins; when none does,
the errors of the best one are kept, so a repair round can say exactly what failed.

:func:`validate` is a small validator for the JSON Schema subset :mod:`._schema` emits
and users write for flat records (``type`` incl. lists of types, ``properties``,
``required``, ``additionalProperties``, ``items``, ``enum``, ``const``, ``anyOf`` /
``oneOf`` / ``allOf``, ``$ref`` into ``$defs``/``definitions``, ``minimum`` /
``maximum`` / ``exclusiveMinimum`` / ``exclusiveMaximum``, ``minLength`` / ``maxLength``,
``minItems`` / ``maxItems``, ``pattern``). It is ours rather than ``jsonschema``
because that needs ``rpds-py`` (a compiled wheel), which a JupyterLite kernel cannot
install; keywords outside the subset are not checked (``unchecked`` lists them).
Extra keys where ``additionalProperties`` is false are dropped, not refused: a model
adding a field is noise, not a failure worth a paid repair round.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["Extracted", "extract", "validate", "unchecked"]

_FENCE = re.compile(r"```[ \t]*([A-Za-z0-9_-]*)[^\n]*\n(.*?)(?:```|\Z)", re.S)
_DECODER = json.JSONDecoder()
_CHECKED = frozenset(
    "type properties required additionalProperties items enum const anyOf oneOf allOf $ref "
    "$defs definitions minimum maximum exclusiveMinimum exclusiveMaximum minLength maxLength "
    "minItems maxItems pattern title description default examples format $schema".split()
)


@dataclass(frozen=True)
class Extracted:
    """What :func:`extract` found: the value (cleaned: extra keys dropped) or why not."""

    value: Any = None
    ok: bool = False
    #: where the JSON was: "whole", "fence", "prose"; "" when none was found
    where: str = ""
    #: the validation errors of the best candidate (empty when ``ok``)
    errors: tuple[str, ...] = ()
    #: True when no JSON value could be parsed at all
    no_json: bool = False


def _candidates(text: str) -> Iterator[tuple[str, Any]]:
    stripped = text.strip()
    try:
        yield "whole", json.loads(stripped)
        return
    except ValueError:
        pass
    for match in _FENCE.finditer(text):
        body = match.group(2).strip()
        try:
            yield "fence", json.loads(body)
        except ValueError:
            continue
    i = 0
    while True:
        starts = [p for p in (text.find("{", i), text.find("[", i)) if p >= 0]
        if not starts:
            return
        start = min(starts)
        try:
            value, end = _DECODER.raw_decode(text, start)
        except ValueError:
            i = start + 1
            continue
        if isinstance(value, (dict, list)):
            yield "prose", value
        i = end


def extract(text: str, schema: Mapping[str, Any], unwrap: Any = None) -> Extracted:
    """The first JSON value in ``text`` that validates against ``schema``. ``unwrap`` maps
    a parsed value first (``Schema.unwrap``: ``{"items": [...]}`` -> the list)."""
    best: Extracted | None = None
    for where, value in _candidates(text):
        if unwrap is not None:
            value = unwrap(value)
        errors, clean = _check(value, schema, schema, "")
        if not errors:
            return Extracted(clean, True, where)
        if best is None or len(errors) < len(best.errors):
            best = Extracted(value, False, where, tuple(errors))
    return best or Extracted(no_json=True)


def validate(value: Any, schema: Mapping[str, Any]) -> list[str]:
    """The ways ``value`` breaks ``schema`` (each "path: what"), empty when it is valid."""
    return _check(value, schema, schema, "")[0]


def unchecked(schema: Any) -> set[str]:
    """The keywords in ``schema`` that :func:`validate` does not check."""
    found: set[str] = set()
    if isinstance(schema, Mapping):
        for key, value in schema.items():
            if key not in _CHECKED:
                found.add(str(key))
            if key in ("properties", "$defs", "definitions") and isinstance(value, Mapping):
                for sub in value.values():
                    found |= unchecked(sub)
            elif key in ("items", "additionalProperties"):
                found |= unchecked(value)
            elif key in ("anyOf", "oneOf", "allOf") and isinstance(value, list):
                for sub in value:
                    found |= unchecked(sub)
    return found


_TYPES = {
    "string": lambda v: isinstance(v, str),
    "integer": lambda v: (
        (isinstance(v, int) and not isinstance(v, bool))
        or (isinstance(v, float) and v.is_integer())
    ),
    "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
    "array": lambda v: isinstance(v, list),
    "object": lambda v: isinstance(v, dict),
}
_NAMES = {
    "string": "a string",
    "integer": "an integer",
    "number": "a number",
    "boolean": "true or false",
    "null": "null",
    "array": "a list",
    "object": "an object",
}


_BOUNDS = (
    ("minimum", "at least"),
    ("maximum", "at most"),
    ("exclusiveMinimum", "above"),
    ("exclusiveMaximum", "below"),
)


def _within(key: str, value: float, bound: float) -> bool:
    if key == "minimum":
        return value >= bound
    if key == "maximum":
        return value <= bound
    if key == "exclusiveMinimum":
        return value > bound
    return value < bound


def _shown(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 40 else text[:37] + "..."


def _resolve(schema: Mapping[str, Any], root: Mapping[str, Any]) -> Mapping[str, Any]:
    ref = schema.get("$ref")
    for _ in range(32):  # a chain of refs, not a loop
        if not isinstance(ref, str) or not ref.startswith("#/"):
            return schema
        target: Any = root
        for part in ref[2:].split("/"):
            target = target.get(part) if isinstance(target, Mapping) else None
        if not isinstance(target, Mapping):
            return schema
        schema = {**target, **{k: v for k, v in schema.items() if k != "$ref"}}
        ref = target.get("$ref")
    return schema


def _check(value: Any, schema: Any, root: Mapping[str, Any], path: str) -> tuple[list[str], Any]:
    """(errors, the value with dropped extras) for ``value`` against ``schema``."""
    if not isinstance(schema, Mapping):
        return [], value  # true / {} / anything not a schema: accepted
    schema = _resolve(schema, root)
    where = path or "(the value)"
    errors: list[str] = []
    if "const" in schema and value != schema["const"]:
        return [f"{where}: expected {_shown(schema['const'])}, got {_shown(value)}"], value
    if "enum" in schema and value not in schema["enum"]:
        choices = ", ".join(_shown(c) for c in schema["enum"][:8])
        return [f"{where}: expected one of {choices}; got {_shown(value)}"], value
    for key in ("anyOf", "oneOf"):
        options = schema.get(key)
        if isinstance(options, list) and options:
            for option in options:
                errs, clean = _check(value, option, root, path)
                if not errs:
                    value = clean
                    break
            else:
                return [f"{where}: matches none of the allowed shapes ({_shown(value)})"], value
    for option in schema.get("allOf") or ():
        errs, value = _check(value, option, root, path)
        errors += errs
    kind = schema.get("type")
    kinds = [kind] if isinstance(kind, str) else list(kind) if isinstance(kind, list) else []
    if kinds and not any(_TYPES.get(k, lambda v: True)(value) for k in kinds):
        wanted = " or ".join(_NAMES.get(k, k) for k in kinds)
        return [*errors, f"{where}: expected {wanted}, got {_shown(value)}"], value
    if (
        "integer" in kinds
        and isinstance(value, float)
        and value.is_integer()
        and "number" not in kinds
    ):
        value = int(value)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        for key, word in _BOUNDS:
            bound = schema.get(key)
            if isinstance(bound, (int, float)) and not _within(key, value, bound):
                errors.append(f"{where}: expected {word} {bound:g}, got {_shown(value)}")
    if isinstance(value, str):
        low, high = schema.get("minLength"), schema.get("maxLength")
        if isinstance(low, int) and len(value) < low:
            errors.append(f"{where}: expected at least {low} characters")
        if isinstance(high, int) and len(value) > high:
            errors.append(f"{where}: expected at most {high} characters")
        pattern = schema.get("pattern")
        if isinstance(pattern, str) and re.search(pattern, value) is None:
            errors.append(f"{where}: does not match the pattern {pattern!r}")
    if isinstance(value, list):
        low, high = schema.get("minItems"), schema.get("maxItems")
        if isinstance(low, int) and len(value) < low:
            errors.append(f"{where}: expected at least {low} items, got {len(value)}")
        if isinstance(high, int) and len(value) > high:
            errors.append(f"{where}: expected at most {high} items, got {len(value)}")
        items = schema.get("items")
        if isinstance(items, Mapping):
            clean_items = []
            for i, item in enumerate(value):
                errs, clean = _check(item, items, root, f"{path}[{i}]")
                errors += errs
                clean_items.append(clean)
            value = clean_items
    if isinstance(value, dict):
        value = _check_object(value, schema, root, path, errors)
    return errors, value


def _check_object(
    value: dict[str, Any],
    schema: Mapping[str, Any],
    root: Mapping[str, Any],
    path: str,
    errors: list[str],
) -> dict[str, Any]:
    props = schema.get("properties")
    props = props if isinstance(props, Mapping) else {}
    for name in schema.get("required") or ():
        if name not in value:
            errors.append(f"{path + '.' if path else ''}{name}: missing")
    extra = schema.get("additionalProperties", True)
    clean: dict[str, Any] = {}
    for key, item in value.items():
        sub = f"{path}.{key}" if path else str(key)
        if key in props:
            errs, clean[key] = _check(item, props[key], root, sub)
            errors += errs
        elif extra is False:
            continue  # dropped (see the module docstring)
        else:
            errs, clean[key] = _check(item, extra, root, sub)
            errors += errs
    return clean
