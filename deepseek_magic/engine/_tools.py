"""Python functions as tools: JSON schemas from signatures, and running the model's calls.

* :func:`tool_spec` builds an OpenAI-style tool spec from a function's signature, its type
  hints (``str``, ``int``, ``float``, ``bool``, ``Literal``, ``Enum``, ``list``/``tuple``/
  ``set``, ``dict``, ``Optional``/unions, ``Annotated[T, "description"]``, dataclasses,
  ``TypedDict``, ``datetime``/``date``, pydantic models) and its docstring (the summary, and
  per-parameter descriptions in Google, NumPy or Sphinx style). ``*args``/``**kwargs`` are
  left out; lambdas are refused (a tool needs a name and a description).
* :func:`prepare_tools` accepts functions and raw OpenAI tool specs (a raw spec and a
  function of the same name pair up: the spec is sent, the function runs).
* :func:`run_tool_call` runs one call and never raises for the model's mistakes or the
  function's exceptions: invalid JSON, an unknown tool, missing/unknown/wrongly typed
  arguments (checked against the schema's basic types before calling) and exceptions
  become an error text that goes back to the model.
* :func:`run_pending` runs the calls a Result holds that were not run (``--run-tools`` off).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import inspect
import json
import re
import threading
import time
import types
import typing
from collections import abc
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ..core._errors import ToolError
from ..core._result import Result, ToolCall

__all__ = [
    "check_arguments",
    "json_schema_for",
    "parse_docstring",
    "prepare_tools",
    "run_pending",
    "run_tool_call",
    "tool_spec",
]

_MAX_OUTPUT_CHARS = 20_000
#: what OpenAI (and so OpenRouter and DeepSeek) accept as a function name
_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")
_NoneType = type(None)
#: ``Required[...]`` / ``NotRequired[...]`` wrap TypedDict fields (typing has them from 3.11)
_REQUIRED_MARKS = tuple(
    getattr(typing, n) for n in ("Required", "NotRequired") if hasattr(typing, n)
)

# ---------------------------------------------------------------------- docstrings
_PARAM_SECTIONS = (
    "args",
    "arguments",
    "parameters",
    "params",
    "keyword args",
    "keyword arguments",
    "other parameters",
    "kwargs",
)
_GOOGLE_HEAD = re.compile(r"^(\s*)([A-Za-z][A-Za-z ]*?)\s*:\s*$")
_GOOGLE_ITEM = re.compile(r"^\*{0,2}(\w+)\s*(?:\(([^)]*)\))?\s*:\s*(.*)$")
_NUMPY_ITEM = re.compile(r"^\*{0,2}(\w+(?:\s*,\s*\*{0,2}\w+)*)\s*(?::.*)?$")
_SPHINX_FIELD = re.compile(
    r"^\s*:(?:param|parameter|arg|argument|key|keyword)\s+([^:]*?)\s*:\s*(.*)$"
)
_DASHES = re.compile(r"^\s*-{3,}\s*$")


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def _is_numpy_head(lines: list[str], i: int) -> bool:
    return i + 1 < len(lines) and bool(lines[i].strip()) and bool(_DASHES.match(lines[i + 1]))


def parse_docstring(doc: str | None) -> tuple[str, dict[str, str]]:
    """The summary and the per-parameter descriptions of a docstring.

    Understands Google (``Args:`` + ``name (type): text``), NumPy (``Parameters`` +
    dashes + ``name : type`` with the text indented below) and Sphinx (``:param [type]
    name: text``) styles, including descriptions continued on indented lines.
    """
    if not doc:
        return "", {}
    lines = inspect.cleandoc(doc).splitlines()
    summary: list[str] = []
    for i, line in enumerate(lines):
        head = _GOOGLE_HEAD.match(line)
        if (
            not line.strip()
            or line.lstrip().startswith(":")
            or _is_numpy_head(lines, i)
            or (head and head.group(2).lower() in _PARAM_SECTIONS + ("returns", "raises", "yields"))
        ):
            break
        summary.append(line.strip())
    params: dict[str, str] = {}
    _sphinx(lines, params)
    _sections(lines, params)
    return " ".join(summary), params


def _continued(lines: list[str], start: int, deeper_than: int) -> tuple[list[str], int]:
    """Lines after ``start`` indented more than ``deeper_than`` (blank lines allowed between)."""
    out: list[str] = []
    i = start
    while i < len(lines):
        line = lines[i]
        if line.strip():
            if _indent(line) <= deeper_than or line.lstrip().startswith(":"):
                break
            out.append(line.strip())
        elif i + 1 < len(lines) and lines[i + 1].strip() and _indent(lines[i + 1]) <= deeper_than:
            break
        i += 1
    return out, i


def _sphinx(lines: list[str], params: dict[str, str]) -> None:
    i = 0
    while i < len(lines):
        match = _SPHINX_FIELD.match(lines[i])
        if not match:
            i += 1
            continue
        name = match.group(1).split()[-1].lstrip("*") if match.group(1).split() else ""
        more, i = _continued(lines, i + 1, _indent(lines[i]))
        if name:
            params.setdefault(name, " ".join([match.group(2).strip(), *more]).strip())


def _sections(lines: list[str], params: dict[str, str]) -> None:
    i = 0
    while i < len(lines):
        line = lines[i]
        head = _GOOGLE_HEAD.match(line)
        if head and head.group(2).lower() in _PARAM_SECTIONS:
            i = _google_section(lines, i + 1, _indent(line), params)
        elif _is_numpy_head(lines, i) and line.strip().lower() in _PARAM_SECTIONS:
            i = _numpy_section(lines, i + 2, _indent(line), params)
        else:
            i += 1


def _google_section(lines: list[str], i: int, head_indent: int, params: dict[str, str]) -> int:
    item_indent: int | None = None
    while i < len(lines):
        line = lines[i]
        if not line.strip():
            i += 1
            continue
        if _indent(line) <= head_indent:
            break
        item_indent = _indent(line) if item_indent is None else item_indent
        match = _GOOGLE_ITEM.match(line.strip()) if _indent(line) == item_indent else None
        more, i = _continued(lines, i + 1, _indent(line))
        if match:
            params.setdefault(match.group(1), " ".join([match.group(3).strip(), *more]).strip())
    return i


def _numpy_section(lines: list[str], i: int, head_indent: int, params: dict[str, str]) -> int:
    while i < len(lines):
        line = lines[i]
        if not line.strip():
            i += 1
            continue
        if _indent(line) < head_indent or _is_numpy_head(lines, i):
            break
        match = _NUMPY_ITEM.match(line.strip()) if _indent(line) == head_indent else None
        more, i = _continued(lines, i + 1, _indent(line))
        if match:
            for name in match.group(1).split(","):  # "x, y : float" describes both
                params.setdefault(name.strip().lstrip("*"), " ".join(more))
    return i


# ---------------------------------------------------------------------- schemas
_ARRAYS = (
    list,
    set,
    frozenset,
    abc.Sequence,
    abc.MutableSequence,
    abc.Set,
    abc.MutableSet,
    abc.Collection,
    abc.Iterable,
)
_OBJECTS = (dict, abc.Mapping, abc.MutableMapping)
_SCALARS = {bool: "boolean", int: "integer", float: "number", str: "string"}


def _is_union(origin: Any) -> bool:
    return origin is typing.Union or origin is types.UnionType


def _json_scalar(value: Any) -> bool:
    return value is None or isinstance(value, (str, int, float, bool))


def _enum_values(cls: type[enum.Enum]) -> list[Any]:
    """What the model writes for an Enum: its values when they are JSON scalars, else names."""
    values = [m.value for m in cls]
    return values if all(_json_scalar(v) for v in values) else [m.name for m in cls]


def _typed_enum(values: list[Any]) -> dict[str, Any]:
    schema: dict[str, Any] = {"enum": values}
    kinds = {type(v) for v in values}
    if len(kinds) == 1 and next(iter(kinds)) in _SCALARS:
        schema["type"] = _SCALARS[next(iter(kinds))]
    return schema


def json_schema_for(hint: Any, _seen: frozenset[Any] = frozenset()) -> dict[str, Any]:
    """The JSON schema for a type hint; ``{}`` (anything) for what JSON cannot describe."""
    if (
        hint is inspect.Parameter.empty
        or hint is Any
        or hint is object
        or isinstance(hint, (str, typing.ForwardRef))
    ):
        return {}
    if hint is None or hint is _NoneType:
        return {"type": "null"}
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is typing.Annotated:
        schema = json_schema_for(args[0], _seen)
        text = next((m for m in args[1:] if isinstance(m, str)), None)
        return {**schema, "description": text} if text else schema
    if origin in _REQUIRED_MARKS:
        return json_schema_for(args[0], _seen)
    if _is_union(origin):
        rest = [a for a in args if a is not _NoneType]
        if len(rest) == 1:
            return json_schema_for(rest[0], _seen)  # Optional[X]: X, and not required
        arms = [json_schema_for(a, _seen) for a in rest]
        return {} if any(not a for a in arms) else {"anyOf": arms}
    if origin is typing.Literal:
        return _typed_enum(list(args))
    base = origin or hint
    if base is tuple:
        if not args or (len(args) == 2 and args[1] is Ellipsis):
            items = json_schema_for(args[0], _seen) if args else {}
            return {"type": "array", **({"items": items} if items else {})}
        return {
            "type": "array",
            "prefixItems": [json_schema_for(a, _seen) for a in args],
            "minItems": len(args),
            "maxItems": len(args),
        }
    if base in _ARRAYS:
        items = json_schema_for(args[0], _seen) if args else {}
        schema = {"type": "array", **({"items": items} if items else {})}
        if base in (set, frozenset, abc.Set, abc.MutableSet):
            schema["uniqueItems"] = True
        return schema
    if base in _OBJECTS:
        values = json_schema_for(args[1], _seen) if len(args) == 2 else {}
        return {"type": "object", **({"additionalProperties": values} if values else {})}
    if not isinstance(hint, type):
        return {}
    if hint in _seen:  # a recursive type: describe the inner occurrence as "any object"
        return {"type": "object"}
    if issubclass(hint, enum.Enum):  # before int/str: IntEnum and str-Enums are enums
        return _typed_enum(_enum_values(hint))
    for scalar, name in _SCALARS.items():  # bool first: it is an int too
        if issubclass(hint, scalar):
            return {"type": name}
    if issubclass(hint, dt.datetime):
        return {"type": "string", "format": "date-time"}
    if issubclass(hint, dt.date):
        return {"type": "string", "format": "date"}
    if dataclasses.is_dataclass(hint):
        hints = _hints(hint)
        fields = [f for f in dataclasses.fields(hint) if f.init]
        return _object(
            {f.name: json_schema_for(hints.get(f.name, Any), _seen | {hint}) for f in fields},
            [
                f.name
                for f in fields
                if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
            ],
        )
    if typing.is_typeddict(hint):
        hints = _hints(hint)
        required = getattr(hint, "__required_keys__", frozenset(hints))
        return _object(
            {k: json_schema_for(v, _seen | {hint}) for k, v in hints.items()},
            [k for k in hints if k in required],
        )
    schema_of = getattr(hint, "model_json_schema", None)  # pydantic v2 models describe themselves
    if callable(schema_of):
        try:
            return dict(schema_of())
        except Exception:  # a model pydantic cannot describe: leave it unconstrained  # noqa: BLE001
            return {"type": "object"}
    return {}


def _object(properties: dict[str, Any], required: list[str]) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "object", "properties": properties}
    if required:
        schema["required"] = required
    return schema


def _hints(obj: Any) -> dict[str, Any]:
    """Type hints with ``Annotated`` kept; unresolvable forward references fall back to
    the annotations that are real types (a string annotation describes nothing)."""
    try:
        return typing.get_type_hints(obj, include_extras=True)
    except Exception:  # noqa: BLE001  (NameError, TypeError ...: any unresolvable hint)
        raw = getattr(obj, "__annotations__", {}) or {}
        return {k: v for k, v in raw.items() if not isinstance(v, str)}


def _default(value: Any) -> tuple[bool, Any]:
    """Whether a parameter default can be shown in the schema, and as what."""
    if isinstance(value, enum.Enum):
        return True, value.value if _json_scalar(value.value) else value.name
    if _json_scalar(value):
        return True, value
    if isinstance(value, (list, tuple, dict)):
        try:
            return True, json.loads(json.dumps(value))
        except (TypeError, ValueError):
            return False, None
    return False, None


def _signature(fn: Callable[..., Any], name: str) -> inspect.Signature:
    try:
        return inspect.signature(fn)
    except (TypeError, ValueError):
        raise ToolError(
            f"Cannot read the parameters of {name}; wrap it in a def with named parameters."
        ) from None


def tool_spec(fn: Callable[..., Any]) -> dict[str, Any]:
    """The OpenAI tool spec for a Python function (see the module docstring)."""
    if isinstance(fn, type) or not callable(fn):
        raise ToolError(f"{fn!r:.60} cannot be a tool: give a function (def name(...): ...).")
    name = getattr(fn, "__name__", None)
    if name == "<lambda>":
        raise ToolError(
            "A lambda cannot be a tool: the model needs a name and a description; "
            "define it with def name(...) and a docstring."
        )
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise ToolError(
            f"{fn!r:.60} cannot be a tool: give a named function whose name uses only "
            "letters, digits, _ and - (at most 64)."
        )
    summary, described = parse_docstring(inspect.getdoc(fn))
    hints = _hints(fn)
    properties: dict[str, Any] = {}
    required: list[str] = []
    for pname, param in _signature(fn, name).parameters.items():
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            continue  # the model can only send named arguments the schema describes
        hint = hints.get(pname, param.annotation if not isinstance(param.annotation, str) else Any)
        schema = json_schema_for(hint)
        if described.get(pname):
            schema["description"] = described[pname]
        if param.default is param.empty:
            required.append(pname)
        else:
            ok, value = _default(param.default)
            if ok:
                schema["default"] = value
        properties[pname] = schema
    parameters: dict[str, Any] = {"type": "object", "properties": properties}
    if required:
        parameters["required"] = required
    return {
        "type": "function",
        "function": {"name": name, "description": summary or name, "parameters": parameters},
    }


def prepare_tools(
    items: Sequence[Any],
) -> tuple[list[dict[str, Any]], dict[str, Callable[..., Any]]]:
    """Functions and raw specs -> (specs for the body, functions by name).

    A raw spec and a function with the same name pair up: the spec is what the model
    sees, the function is what runs. Two functions or two specs with one name are refused.
    """
    raw: dict[str, dict[str, Any]] = {}
    built: dict[str, dict[str, Any]] = {}
    functions: dict[str, Callable[..., Any]] = {}
    order: list[str] = []

    def add(item: Any) -> None:
        if isinstance(item, Mapping):
            fn_part = item.get("function") if item.get("type") == "function" else None
            if not isinstance(fn_part, Mapping) or not isinstance(fn_part.get("name"), str):
                raise ToolError(
                    "Not an OpenAI tool spec (needs type 'function' and function.name): "
                    f"{item!r:.80}"
                )
            name = fn_part["name"]
            if name in raw:
                raise ToolError(f"Two tool specs share the name {name}.")
            raw[name] = dict(item)
        elif isinstance(item, (list, tuple)):
            for inner in item:
                add(inner)
            return
        else:
            spec = tool_spec(item)
            name = spec["function"]["name"]
            if name in functions and functions[name] is not item:
                raise ToolError(f"Two functions share the name {name}; rename one.")
            functions[name] = item
            built[name] = spec
        if name not in order:
            order.append(name)

    add(list(items))
    specs = [raw.get(name) or built[name] for name in order]
    return specs, functions


# ---------------------------------------------------------------------- checking arguments
_TYPE_WORDS = {
    "string": "a string",
    "integer": "an integer",
    "number": "a number",
    "boolean": "true or false",
    "array": "a list",
    "object": "an object",
    "null": "null",
}


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object" if isinstance(value, dict) else type(value).__name__


def _has_type(value: Any, kind: str) -> bool:
    actual = _json_type(value)
    if kind == "number":
        return actual in ("integer", "number")
    if kind == "integer":  # 3.0 is an integer in JSON Schema
        return actual == "integer" or (actual == "number" and float(value).is_integer())
    return actual == kind


def _short(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= 40 else text[:37] + "..."


def _check(value: Any, schema: Mapping[str, Any], where: str, problems: list[str]) -> None:
    if not isinstance(schema, Mapping) or not schema:
        return
    if "anyOf" in schema:
        if not any(
            not check_arguments(value, arm, where)
            for arm in schema["anyOf"]
            if isinstance(arm, Mapping)
        ):
            problems.append(f"{where} = {_short(value)} matches none of the allowed types")
        return
    kind = schema.get("type")
    kinds = kind if isinstance(kind, list) else [kind] if isinstance(kind, str) else []
    if kinds and not any(_has_type(value, k) for k in kinds):
        words = " or ".join(_TYPE_WORDS.get(k, k) for k in kinds)
        problems.append(
            f"{where} must be {words}, not {_TYPE_WORDS.get(_json_type(value), _json_type(value))} "
            f"{_short(value)}"
        )
        return
    choices = schema.get("enum")
    # bool/int care: True == 1 in Python, but not in JSON
    if isinstance(choices, list) and not any(
        value == c
        and type(value) is type(c)
        or (_json_type(value) == "integer" and type(c) is float and value == c)
        for c in choices
    ):
        problems.append(
            f"{where} must be one of {', '.join(_short(c) for c in choices)}, not {_short(value)}"
        )
        return
    if isinstance(value, list):
        prefix = schema.get("prefixItems")
        if isinstance(prefix, list):
            if len(value) != len(prefix):
                problems.append(f"{where} must have {len(prefix)} items, not {len(value)}")
                return
            for i, (item, sub) in enumerate(zip(value, prefix, strict=True)):
                _check(item, sub, f"{where}[{i}]", problems)
        elif isinstance(schema.get("items"), Mapping):
            for i, item in enumerate(value):
                _check(item, schema["items"], f"{where}[{i}]", problems)
    elif isinstance(value, dict):
        props = schema.get("properties")
        props = props if isinstance(props, Mapping) else {}
        for name in schema.get("required", ()) or ():
            if name not in value:
                problems.append(f"{where}.{name} is missing" if where else f"{name} is missing")
        extra = schema.get("additionalProperties")
        for name, item in value.items():
            path = f"{where}.{name}" if where else str(name)
            if name in props:
                _check(item, props[name], path, problems)
            elif isinstance(extra, Mapping):
                _check(item, extra, path, problems)
            elif extra is False or (props and "additionalProperties" not in schema and where):
                problems.append(f"{path} is not a known field")


def check_arguments(value: Any, schema: Mapping[str, Any], where: str = "") -> list[str]:
    """What is wrong with ``value`` for ``schema``'s basic types (type, enum, required,
    items, properties, anyOf): one short sentence per problem, empty when it fits."""
    problems: list[str] = []
    _check(value, schema, where, problems)
    return problems


# ---------------------------------------------------------------------- converting arguments
def _convert(value: Any, hint: Any) -> Any:
    """JSON values -> what the function's hints ask for (Enum members, dataclasses,
    tuples, sets, dates); anything else passes through. Raises ValueError/TypeError."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is typing.Annotated or origin in _REQUIRED_MARKS:
        return _convert(value, args[0])
    if value is None:
        return None
    if _is_union(origin):
        rest = [a for a in args if a is not _NoneType]
        return _convert(value, rest[0]) if len(rest) == 1 else value
    base = origin or hint
    if isinstance(value, list) and base in (tuple,) + _ARRAYS:
        if base is tuple and args and not (len(args) == 2 and args[1] is Ellipsis):
            return tuple(_convert(v, a) for v, a in zip(value, args, strict=False))
        items = [_convert(v, args[0]) for v in value] if args else list(value)
        if base is tuple:
            return tuple(items)
        return (
            set(items)
            if base in (set, abc.Set, abc.MutableSet)
            else frozenset(items)
            if base is frozenset
            else items
        )
    if isinstance(value, dict) and base in _OBJECTS:
        return {k: _convert(v, args[1]) for k, v in value.items()} if len(args) == 2 else value
    if not isinstance(hint, type):
        return value
    if issubclass(hint, enum.Enum):
        for member in hint:
            if member.value == value and type(member.value) is type(value) or member.name == value:
                return member
        raise ValueError(f"{value!r} is not a {hint.__name__}")
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if hint is int and isinstance(value, float) and value.is_integer():
        return int(value)
    if issubclass(hint, dt.datetime) and isinstance(value, str):
        return hint.fromisoformat(value)
    if issubclass(hint, dt.date) and isinstance(value, str):
        return hint.fromisoformat(value)
    if dataclasses.is_dataclass(hint) and isinstance(value, dict):
        hints = _hints(hint)
        return hint(**{k: _convert(v, hints.get(k, Any)) for k, v in value.items()})
    validate = getattr(hint, "model_validate", None)
    if callable(validate) and isinstance(value, dict):
        return validate(value)
    return value


def _bind(
    fn: Callable[..., Any], sig: inspect.Signature, args: dict[str, Any]
) -> inspect.BoundArguments:
    """Bind JSON arguments, positional-only parameters by position (the model names them)."""
    hints = _hints(fn)
    positional: list[Any] = []
    named: dict[str, Any] = {}
    rest = dict(args)
    for name, param in sig.parameters.items():
        if param.kind is param.POSITIONAL_ONLY:
            if name not in rest:
                break
            positional.append(_convert(rest.pop(name), hints.get(name, Any)))
    for name, value in rest.items():
        named[name] = _convert(value, hints.get(name, Any)) if name in sig.parameters else value
    return sig.bind(*positional, **named)


def _await(awaitable: Any) -> Any:
    """The value of an ``async def`` tool. Run in a thread of its own: the caller may be
    inside a running event loop (Jupyter, a sweep), where ``asyncio.run`` is refused."""
    import asyncio

    box: dict[str, Any] = {}

    async def wrap() -> Any:
        return await awaitable

    def target() -> None:
        try:
            box["value"] = asyncio.run(wrap())
        except BaseException as exc:  # handed to the caller's thread below  # noqa: BLE001
            box["error"] = exc

    thread = threading.Thread(target=target, name="deepseek-magic-async-tool", daemon=True)
    thread.start()
    thread.join()
    if "error" in box:
        raise box["error"]
    return box.get("value")


def run_tool_call(call: ToolCall, functions: Mapping[str, Callable[..., Any]]) -> ToolCall:
    """Run ``call``; the returned ToolCall carries the output or the error text (it never
    raises for the model's mistakes or the function's exceptions; KeyboardInterrupt passes)."""
    fn = functions.get(call.name)
    if fn is None:
        known = ", ".join(sorted(functions)) or "none"
        return dataclasses.replace(
            call, error=f"Unknown tool {call.name!r}; available tools: {known}."
        )
    try:
        args = call.args
    except (ValueError, RecursionError) as exc:
        return dataclasses.replace(
            call, error=f"The arguments are not valid JSON ({exc}); send a JSON object."
        )
    try:
        schema = tool_spec(fn)["function"]["parameters"]
        sig = inspect.signature(fn)
    except ToolError:  # e.g. a lambda in a mapping given to run_pending: binding still checks
        schema, sig = {"type": "object", "properties": {}}, None
    problems = check_arguments(args, schema)
    if sig is not None and not any(p.kind is p.VAR_KEYWORD for p in sig.parameters.values()):
        problems += [
            f"{name} is not a parameter" for name in args if name not in schema["properties"]
        ]
    if problems:
        params = ", ".join(schema["properties"]) or "none"
        return dataclasses.replace(
            call,
            error=f"Wrong arguments for {call.name}: {'; '.join(problems)} (parameters: {params}).",
        )
    try:
        bound = _bind(fn, sig or inspect.signature(fn), args)
    except (TypeError, ValueError) as exc:
        return dataclasses.replace(call, error=f"Wrong arguments for {call.name}: {exc}.")
    started = time.monotonic()
    try:
        value = fn(*bound.args, **bound.kwargs)
        if inspect.isawaitable(value):
            value = _await(value)
    except KeyboardInterrupt:
        raise
    except Exception as exc:  # the model should hear about it, not the user's kernel  # noqa: BLE001
        return dataclasses.replace(
            call, error=f"{type(exc).__name__}: {exc}", elapsed=time.monotonic() - started
        )
    return dataclasses.replace(call, output=_to_text(value), elapsed=time.monotonic() - started)


def run_pending(
    result: Result,
    functions: Mapping[str, Callable[..., Any]] | Sequence[Callable[..., Any]] | Callable[..., Any],
) -> list[ToolCall]:
    """Run the tool calls ``result`` holds that were not run (``--run-tools`` was off, or
    the round limit was reached) and return all its calls, the pending ones with their
    output or error filled in. ``functions`` is a list of functions or a name -> function
    mapping. Calls already run are returned unchanged; nothing is sent to the model."""
    if isinstance(functions, Mapping):
        table = dict(functions)
    else:
        table = prepare_tools(
            list(functions) if isinstance(functions, (list, tuple)) else [functions]
        )[1]
    return [
        run_tool_call(c, table) if c.output is None and c.error is None else c
        for c in result.tool_calls
    ]


def _to_text(value: Any) -> str:
    if isinstance(value, str):
        text = value
    else:
        try:
            text = json.dumps(value, ensure_ascii=False, default=str)
        except (TypeError, ValueError):
            text = repr(value)
    if len(text) > _MAX_OUTPUT_CHARS:
        text = text[:_MAX_OUTPUT_CHARS] + f"… [cut at {_MAX_OUTPUT_CHARS} characters]"
    return text
