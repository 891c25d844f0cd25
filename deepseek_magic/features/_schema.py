"""What a ``schema=`` is: any of the shapes a user may give, turned into one :class:`Schema`.

A schema may be a pydantic model class, a dataclass, a ``TypedDict``, a JSON Schema dict,
or a short inline spec (``"city: str, population: int, tags: list[str]"``); ``list[S]``
asks for several. :func:`to_schema` turns each into the JSON Schema we send or describe
(the subset :mod:`._schema_check` validates) and a builder that turns validated JSON into
the user's value: an instance of the model or dataclass, a dict for a TypedDict, a JSON
Schema or a spec, a list of them for ``list[S]``. pydantic is used only when the user
gives a pydantic model (it is never imported otherwise: the core works without it).

The spec's grammar, documented in the README: fields separated by commas, each
``name: type`` where a type is ``str``, ``int``, ``float``, ``bool``, ``list[T]``,
``dict[str, T]``, ``T | None`` (or ``T?``: may be null), or quoted choices
``'a' | 'b' | 'c'``.
"""

from __future__ import annotations

import dataclasses
import enum
import json
import re
import sys
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, get_args, get_origin

from ..core._errors import OptionError

__all__ = [
    "Schema",
    "Field",
    "to_schema",
    "parse_spec",
    "plain_data",
    "resolve_schema",
    "schema_label",
    "resolve_field",
]

Source = Literal["pydantic", "dataclass", "typeddict", "json schema", "spec"]


@dataclass(frozen=True)
class Field:
    """One top-level field: its name and JSON Schema (``map()`` makes a column of it)."""

    name: str
    schema: Mapping[str, Any]
    required: bool = True


@dataclass(frozen=True)
class Schema:
    """A user's schema, normalised."""

    #: the JSON Schema of one value (an array of them when ``many``)
    json: Mapping[str, Any]
    #: a short name for ``response_format.json_schema.name`` and messages
    name: str
    source: Source
    #: validated JSON -> the user's value (may raise ValueError: its own validation)
    build: Callable[[Any], Any] = dataclasses.field(repr=False, compare=False)
    #: the top-level fields of one item (empty when an item is not an object)
    fields: tuple[Field, ...] = ()
    many: bool = False

    @property
    def wire(self) -> dict[str, Any]:
        """The schema sent to a server that enforces one: servers want an object at the
        top, so ``list[S]`` is wrapped as ``{"items": [...]}`` (unwrapped on the way back)."""
        if self.many:
            return {
                "type": "object",
                "properties": {"items": dict(self.json)},
                "required": ["items"],
                "additionalProperties": False,
            }
        return dict(self.json)

    def unwrap(self, value: Any) -> Any:
        """A ``list[S]`` reply given as ``{"items": [...]}`` (what ``wire`` asks) -> the list."""
        if self.many and isinstance(value, dict) and set(value) == {"items"}:
            return value["items"]
        return value


# ----------------------------------------------------------------------- entry point
def to_schema(given: Any) -> Schema:
    """``given`` (see the module docstring) as a :class:`Schema`; an OptionError in one
    line for anything else."""
    if isinstance(given, Schema):
        return given
    origin = get_origin(given)
    if origin is list:
        (item,) = get_args(given) or (None,)
        if item is None:
            raise _refuse(given, "list[S] needs an item schema")
        inner = to_schema(item)
        if inner.many:
            raise _refuse(given, "a list of lists is not supported")
        build = inner.build
        return Schema(
            {"type": "array", "items": dict(inner.json)},
            inner.name + "_list",
            inner.source,
            lambda value: [build(v) for v in value],
            inner.fields,
            many=True,
        )
    if isinstance(given, str):
        return _from_spec(given)
    if isinstance(given, Mapping):
        return _from_json_schema(given)
    if isinstance(given, type) and _is_pydantic(given):
        return _from_pydantic(given)
    if isinstance(given, type) and dataclasses.is_dataclass(given):
        return _from_class(given, "dataclass")
    if isinstance(given, type) and typing.is_typeddict(given):
        return _from_class(given, "typeddict")
    raise _refuse(
        given,
        "expected a pydantic model, a dataclass, a TypedDict, a JSON Schema dict "
        'or a spec such as "city: str, population: int"',
    )


def _refuse(given: Any, why: str) -> OptionError:
    shown = given if isinstance(given, str) else getattr(given, "__name__", repr(given))
    return OptionError(f"schema {str(shown)[:80]!r}: {why}.", option="schema")


# ----------------------------------------------------------------------- JSON Schema dicts
def _from_json_schema(given: Mapping[str, Any]) -> Schema:
    schema = dict(given)
    if not schema.get("type") and "properties" not in schema and "$ref" not in schema:
        raise _refuse(given, 'a JSON Schema needs a "type" (or "properties")')
    if "properties" in schema and "type" not in schema:
        schema["type"] = "object"
    many = schema.get("type") == "array" and isinstance(schema.get("items"), Mapping)
    item = schema["items"] if many else schema
    return Schema(
        schema,
        _safe_name(str(schema.get("title") or "answer")),
        "json schema",
        lambda value: value,
        _fields_of(item),
        many=many,
    )


def _fields_of(schema: Mapping[str, Any]) -> tuple[Field, ...]:
    props = schema.get("properties")
    if not isinstance(props, Mapping):
        return ()
    required = set(schema.get("required") or ())
    return tuple(
        Field(str(k), v, k in required) for k, v in props.items() if isinstance(v, Mapping)
    )


def _safe_name(text: str) -> str:
    """``response_format.json_schema.name`` allows ``[a-zA-Z0-9_-]``, at most 64."""
    return re.sub(r"[^A-Za-z0-9_-]", "_", text)[:64] or "answer"


# ----------------------------------------------------------------------- pydantic
def _is_pydantic(cls: type) -> bool:
    # Never imports pydantic: a class is a pydantic model if pydantic is already loaded
    # (it made the class) and the class derives from its BaseModel.
    module = sys.modules.get("pydantic")
    base = getattr(module, "BaseModel", None) if module is not None else None
    return isinstance(base, type) and issubclass(cls, base)


def _from_pydantic(cls: type) -> Schema:
    schema = cls.model_json_schema()  # type: ignore[attr-defined]
    validate = cls.model_validate  # type: ignore[attr-defined]

    def build(value: Any) -> Any:
        try:
            return validate(value)
        except Exception as exc:  # noqa: BLE001  (pydantic.ValidationError: its own checks)
            raise ValueError(_pydantic_errors(exc)) from None

    return Schema(schema, _safe_name(cls.__name__), "pydantic", build, _fields_of(schema))


def _pydantic_errors(exc: Exception) -> str:
    errors = getattr(exc, "errors", None)
    if not callable(errors):
        return str(exc).splitlines()[0]
    parts = []
    for e in errors()[:5]:
        where = ".".join(str(p) for p in e.get("loc", ())) or "(the value)"
        parts.append(f"{where}: {e.get('msg', 'invalid')}")
    return "; ".join(parts)


# ----------------------------------------------------------------------- classes
def _from_class(cls: type, source: Source) -> Schema:
    schema = _class_schema(cls, set())
    return Schema(schema, _safe_name(cls.__name__), source, _builder(cls), _fields_of(schema))


def _hints(cls: type) -> dict[str, Any]:
    try:
        return typing.get_type_hints(cls)
    except Exception as exc:  # noqa: BLE001  (a forward reference that cannot be resolved)
        raise _refuse(cls, f"its type hints cannot be read ({exc})") from None


def _class_schema(cls: type, seen: set[type]) -> dict[str, Any]:
    if cls in seen:
        raise _refuse(cls, "a recursive schema is not supported")
    seen = seen | {cls}
    hints = _hints(cls)
    if dataclasses.is_dataclass(cls):
        names = [f.name for f in dataclasses.fields(cls)]
        required = [
            f.name
            for f in dataclasses.fields(cls)
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        ]
    else:  # a TypedDict
        names = list(hints)
        required = [n for n in names if n in getattr(cls, "__required_keys__", names)]
    props = {name: _type_schema(hints.get(name, Any), seen, cls) for name in names}
    return {
        "title": cls.__name__,
        "type": "object",
        "properties": props,
        "required": required,
        "additionalProperties": False,
    }


_SCALARS: dict[Any, dict[str, Any]] = {
    str: {"type": "string"},
    int: {"type": "integer"},
    float: {"type": "number"},
    bool: {"type": "boolean"},
    type(None): {"type": "null"},
}


def _type_schema(tp: Any, seen: set[type], owner: Any) -> dict[str, Any]:
    """A Python annotation as JSON Schema (the subset we validate)."""
    if tp in _SCALARS:
        return dict(_SCALARS[tp])
    if tp is Any:
        return {}
    origin, args = get_origin(tp), get_args(tp)
    if origin in (list, tuple, set, frozenset) or tp in (list, tuple):
        item = args[0] if args else Any
        return {"type": "array", "items": _type_schema(item, seen, owner)}
    if origin is dict or tp is dict:
        value = args[1] if len(args) == 2 else Any
        return {"type": "object", "additionalProperties": _type_schema(value, seen, owner)}
    if origin is Literal:
        return {"enum": list(args)}
    if origin in (typing.Union, types.UnionType):
        options = [_type_schema(a, seen, owner) for a in args]
        if len(options) == 2 and {"type": "null"} in options:
            other = next(o for o in options if o != {"type": "null"})
            if isinstance(other.get("type"), str):
                return {**other, "type": [other["type"], "null"]}
        return {"anyOf": options}
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return {"enum": [m.value for m in tp]}
    if isinstance(tp, type) and (dataclasses.is_dataclass(tp) or typing.is_typeddict(tp)):
        return _class_schema(tp, seen)
    if isinstance(tp, type) and _is_pydantic(tp):
        return dict(tp.model_json_schema())  # type: ignore[attr-defined]
    raise _refuse(owner, f"the type {getattr(tp, '__name__', tp)!r} has no JSON Schema here")


def _builder(tp: Any) -> Callable[[Any], Any]:
    """validated JSON -> a value of ``tp`` (dataclasses rebuilt, nested ones too)."""
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        hints = _hints(tp)
        parts = {f.name: _builder(hints.get(f.name, Any)) for f in dataclasses.fields(tp)}
        cls = tp

        def build_dc(value: Any) -> Any:
            return cls(**{k: parts[k](v) for k, v in value.items() if k in parts})

        return build_dc
    if isinstance(tp, type) and typing.is_typeddict(tp):
        hints = _hints(tp)
        inner = {k: _builder(v) for k, v in hints.items()}
        return lambda value: {k: inner[k](v) if k in inner else v for k, v in value.items()}
    if isinstance(tp, type) and _is_pydantic(tp):
        return tp.model_validate  # type: ignore[attr-defined,no-any-return]
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return tp
    origin, args = get_origin(tp), get_args(tp)
    if origin in (list, tuple, set, frozenset) and args:
        item = _builder(args[0])
        kind = origin
        return lambda value: kind(item(v) for v in value)
    if origin in (typing.Union, types.UnionType):
        real = [a for a in args if a is not type(None)]
        if len(real) == 1:
            one = _builder(real[0])
            return lambda value: None if value is None else one(value)
    if tp is float:
        return float  # JSON's 3 is a valid number: the dataclass says float
    return lambda value: value


# ----------------------------------------------------------------------- inline spec
_SCALAR_WORDS = {"str": "string", "int": "integer", "float": "number", "bool": "boolean"}


def parse_spec(text: str) -> dict[str, Any]:
    """``"city: str, population: int"`` -> its JSON Schema (an object)."""
    props: dict[str, Any] = {}
    required: list[str] = []
    for part in _split(text, ","):
        if not part.strip():
            continue
        name, sep, kind = part.partition(":")
        name = name.strip()
        if not sep or not name.isidentifier():
            raise _refuse(text, f"{part.strip()!r} is not 'name: type'")
        if name in props:
            raise _refuse(text, f"the field {name!r} is given twice")
        schema, nullable = _spec_type(kind.strip(), text)
        props[name] = schema
        required.append(name)
    if not props:
        raise _refuse(text, "the spec names no field")
    return {
        "type": "object",
        "properties": props,
        "required": required,
        "additionalProperties": False,
    }


def _split(text: str, sep: str) -> list[str]:
    """``text`` split at ``sep`` outside brackets and quotes."""
    parts, depth, quote, start = [], 0, "", 0
    for i, ch in enumerate(text):
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch == "[":
            depth += 1
        elif ch == "]":
            depth -= 1
        elif ch == sep and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    return parts


def _spec_type(kind: str, text: str) -> tuple[dict[str, Any], bool]:
    nullable = False
    if kind.endswith("?"):
        kind, nullable = kind[:-1].strip(), True
    options = [p.strip() for p in _split(kind, "|")]
    if len(options) > 1 and "None" in options:
        options.remove("None")
        nullable = True
    if len(options) > 1 or options[0][:1] in "'\"":
        if not all(len(o) >= 2 and o[0] == o[-1] and o[0] in "'\"" for o in options):
            raise _refuse(text, f"{kind!r}: choices are quoted, 'a' | 'b'")
        choices: list[Any] = [o[1:-1] for o in options]
        return ({"enum": choices + [None]} if nullable else {"enum": choices}), nullable
    word = options[0]
    schema: dict[str, Any]
    if word in _SCALAR_WORDS:
        schema = {"type": _SCALAR_WORDS[word]}
    elif word.startswith("list[") and word.endswith("]"):
        schema = {"type": "array", "items": _spec_type(word[5:-1].strip(), text)[0]}
    elif word.startswith("dict[") and word.endswith("]"):
        key, _, value = word[5:-1].partition(",")
        if key.strip() != "str" or not value.strip():
            raise _refuse(text, f"{word!r}: a dict is dict[str, T]")
        schema = {"type": "object", "additionalProperties": _spec_type(value.strip(), text)[0]}
    else:
        raise _refuse(
            text,
            f"unknown type {word!r} (str, int, float, bool, list[T], dict[str, T], "
            "T | None, 'a' | 'b')",
        )
    if nullable and isinstance(schema.get("type"), str):
        schema["type"] = [schema["type"], "null"]
    return schema, nullable


def _from_spec(text: str) -> Schema:
    stripped = text.strip()
    if stripped.startswith("list[") and stripped.endswith("]"):
        inner = _from_spec(stripped[5:-1])
        return Schema(
            {"type": "array", "items": dict(inner.json)},
            "answer_list",
            "spec",
            lambda value: value,
            inner.fields,
            many=True,
        )
    schema = parse_spec(stripped)
    return Schema(schema, "answer", "spec", lambda value: value, _fields_of(schema))


def plain_data(value: Any) -> Any:
    """Validated data as plain JSON data (a run file, the cache, ``Result.to_dict``)."""
    dump = getattr(value, "model_dump", None)
    if callable(dump) and not isinstance(value, type):  # a pydantic model instance
        return dump(mode="json")
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: plain_data(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {str(k): plain_data(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [plain_data(v) for v in value]
    if isinstance(value, enum.Enum):
        return value.value
    return value


def resolve_schema(value: Any, namespace: Mapping[str, Any]) -> Any:
    """``--schema S`` from a cell: a name in the notebook (``Review``, ``list[Review]``)
    becomes its value; other text is an inline spec. A bare word that names nothing is
    refused in one line (it is not a spec: a spec has ``name: type``)."""
    if not isinstance(value, str):
        return value
    text = value.strip()
    if text.startswith("{"):  # a JSON Schema written out
        try:
            return json.loads(text)
        except ValueError:
            raise _refuse(text, "not valid JSON") from None
    many = text.startswith("list[") and text.endswith("]")
    inner = text[5:-1].strip() if many else text
    if ":" in inner:
        return text
    found: Any = namespace
    for i, part in enumerate(inner.split(".")):
        if not part.isidentifier():
            raise _refuse(text, "not a name in the notebook, nor a spec 'name: type, ...'")
        found = (
            found.get(part) if i == 0 and isinstance(found, Mapping) else getattr(found, part, None)
        )
        if found is None:
            raise _refuse(text, f"no {inner!r} in the notebook (a spec is 'name: type, ...')")
    return list[found] if many else found


def schema_label(value: Any) -> str:
    """How a schema reads in a text field (the panel): a spec as it is, a class by its
    name (found again in the notebook), a JSON Schema as JSON."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, Mapping):
        return json.dumps(value, ensure_ascii=False)
    if get_origin(value) is list and get_args(value):
        return f"list[{schema_label(get_args(value)[0])}]"
    return str(getattr(value, "__name__", value))


def resolve_field(text: str | None, given: Any, namespace: Mapping[str, Any] | None) -> Any:
    """A panel's schema field: the schema it was opened with while its label is unchanged,
    else the text resolved as ``--schema`` resolves it."""
    if not text:
        return None
    if given is not None and not isinstance(given, str) and text == schema_label(given):
        return given
    return resolve_schema(text, namespace or {})
