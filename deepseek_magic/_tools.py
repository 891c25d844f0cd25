"""Python functions as tools: JSON schema from signatures, and running the calls.

``tool_spec(fn)`` builds an OpenAI-style tool spec from the function's signature, type
hints and docstring; ``prepare_tools(items)`` accepts functions and raw specs;
``run_tool_call(call, functions)`` runs one call the model asked for and never raises:
bad JSON, unknown tools, wrong arguments and exceptions become an error text that goes
back to the model.
"""

from __future__ import annotations

import dataclasses
import enum
import inspect
import json
import re
import time
import types
import typing
from typing import Any, Callable, Mapping, Sequence

from ._errors import ToolError
from ._result import ToolCall

__all__ = ["tool_spec", "prepare_tools", "run_tool_call", "json_schema_for", "parse_docstring"]

_MAX_OUTPUT_CHARS = 20_000


def parse_docstring(doc: str | None) -> tuple[str, dict[str, str]]:
    """Summary and per-parameter descriptions (Google, NumPy and Sphinx styles)."""
    if not doc:
        return "", {}
    doc = inspect.cleandoc(doc)
    summary = doc.split("\n\n", 1)[0].replace("\n", " ").strip()
    params: dict[str, str] = {}
    for m in re.finditer(r"^\s*:param\s+(?:[\w\[\], ]+\s+)?(\w+):\s*(.+)$", doc, re.M):
        params[m.group(1)] = m.group(2).strip()
    section = re.search(r"^(Args|Arguments|Parameters)\s*:?\s*\n(?:-+\n)?(.*?)(?:\n\s*\n[A-Z]\w*\s*:?\s*\n|\Z)",
                        doc, re.S | re.M)
    if section:
        current = None
        for line in section.group(2).splitlines():
            m = re.match(r"^\s{0,8}(\w+)\s*(?:\(([^)]*)\))?\s*(?::\s*(.*))?$", line)
            if m and (m.group(3) is not None or m.group(2) is not None or line.strip() == m.group(1)) \
                    and not line.startswith(" " * 9):
                current = m.group(1)
                text = (m.group(3) or "").strip()
                # NumPy style: "name : type" puts the type after the colon; the text follows.
                params.setdefault(current, "" if " : " in line else text)
            elif current and line.strip():
                params[current] = (params.get(current, "") + " " + line.strip()).strip()
    return summary, params


def json_schema_for(hint: Any) -> dict[str, Any]:
    """The JSON schema for a type hint (the common cases; anything else is unconstrained)."""
    if hint is inspect.Parameter.empty or hint is Any:
        return {}
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin is typing.Union or (hasattr(types, "UnionType") and origin is types.UnionType):
        rest = [a for a in args if a is not type(None)]
        if len(rest) == 1:
            return json_schema_for(rest[0])
        return {"anyOf": [json_schema_for(a) for a in rest]}
    if origin is typing.Literal:
        values = list(args)
        schema: dict[str, Any] = {"enum": values}
        kinds = {type(v) for v in values}
        if kinds == {str}:
            schema["type"] = "string"
        elif kinds == {int}:
            schema["type"] = "integer"
        return schema
    if origin in (list, Sequence, tuple, set, frozenset) or hint in (list, tuple, set):
        item = args[0] if args else Any
        return {"type": "array", "items": json_schema_for(item)}
    if origin in (dict, Mapping) or hint is dict:
        return {"type": "object"}
    if isinstance(hint, type):
        if issubclass(hint, bool):
            return {"type": "boolean"}
        if issubclass(hint, enum.Enum):
            return {"enum": [m.value for m in hint]}
        if issubclass(hint, int):
            return {"type": "integer"}
        if issubclass(hint, float):
            return {"type": "number"}
        if issubclass(hint, str):
            return {"type": "string"}
        if dataclasses.is_dataclass(hint):
            hints = typing.get_type_hints(hint)
            fields = dataclasses.fields(hint)
            return {
                "type": "object",
                "properties": {f.name: json_schema_for(hints.get(f.name, Any)) for f in fields},
                "required": [f.name for f in fields if f.default is dataclasses.MISSING
                             and f.default_factory is dataclasses.MISSING],
            }
        if typing.is_typeddict(hint):
            hints = typing.get_type_hints(hint)
            return {"type": "object", "properties": {k: json_schema_for(v) for k, v in hints.items()},
                    "required": sorted(getattr(hint, "__required_keys__", hints))}
    return {}


def tool_spec(fn: Callable[..., Any]) -> dict[str, Any]:
    """The OpenAI tool spec for a Python function."""
    if not callable(fn) or not getattr(fn, "__name__", None) or fn.__name__ == "<lambda>":
        raise ToolError(f"{fn!r} cannot be a tool: give a named function (def ...).")
    summary, described = parse_docstring(inspect.getdoc(fn))
    try:
        hints = typing.get_type_hints(fn)
    except Exception:  # unresolvable forward references: fall back to no hints
        hints = {}
    properties: dict[str, Any] = {}
    required: list[str] = []
    for name, param in inspect.signature(fn).parameters.items():
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            continue
        schema = json_schema_for(hints.get(name, param.annotation))
        if name in described and described[name]:
            schema["description"] = described[name]
        if param.default is param.empty:
            required.append(name)
        elif isinstance(param.default, (str, int, float, bool)) or param.default is None:
            schema["default"] = param.default
        properties[name] = schema
    parameters: dict[str, Any] = {"type": "object", "properties": properties}
    if required:
        parameters["required"] = required
    return {"type": "function",
            "function": {"name": fn.__name__, "description": summary or fn.__name__, "parameters": parameters}}


def prepare_tools(items: Sequence[Any]) -> tuple[list[dict[str, Any]], dict[str, Callable[..., Any]]]:
    """Functions and raw specs -> (specs for the body, functions by name)."""
    specs: list[dict[str, Any]] = []
    functions: dict[str, Callable[..., Any]] = {}
    for item in items:
        if isinstance(item, Mapping):
            fn_part = item.get("function") if item.get("type") == "function" else None
            if not isinstance(fn_part, Mapping) or not isinstance(fn_part.get("name"), str):
                raise ToolError(f"Not an OpenAI tool spec (needs type 'function' and function.name): {item!r:.80}")
            specs.append(dict(item))
        elif isinstance(item, (list, tuple)):
            more_specs, more_fns = prepare_tools(item)
            specs += more_specs
            functions.update(more_fns)
        else:
            spec = tool_spec(item)
            specs.append(spec)
            functions[spec["function"]["name"]] = item
    names = [s["function"]["name"] for s in specs]
    dupes = {n for n in names if names.count(n) > 1}
    if dupes:
        raise ToolError(f"Two tools share the name {', '.join(sorted(dupes))}.")
    return specs, functions


def run_tool_call(call: ToolCall, functions: Mapping[str, Callable[..., Any]]) -> ToolCall:
    """Run ``call``; the returned ToolCall carries the output or the error text (never raises
    for the model's mistakes or the function's exceptions)."""
    fn = functions.get(call.name)
    if fn is None:
        known = ", ".join(sorted(functions)) or "none"
        return dataclasses.replace(call, error=f"Unknown tool {call.name!r}; available tools: {known}.")
    try:
        args = call.args
    except ValueError as exc:
        return dataclasses.replace(call, error=f"The arguments are not valid JSON ({exc}); send a JSON object.")
    try:
        inspect.signature(fn).bind(**args)
    except TypeError as exc:
        return dataclasses.replace(call, error=f"Wrong arguments for {call.name}: {exc}.")
    started = time.monotonic()
    try:
        value = fn(**args)
    except KeyboardInterrupt:
        raise
    except Exception as exc:  # the model should hear about it, not the user's kernel
        return dataclasses.replace(call, error=f"{type(exc).__name__}: {exc}",
                                   elapsed=time.monotonic() - started)
    return dataclasses.replace(call, output=_to_text(value), elapsed=time.monotonic() - started)


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
