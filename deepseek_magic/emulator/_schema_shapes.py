"""Typed answers as servers and R1 give them: a responder for the emulator.

:class:`SchemaResponder` answers a request for JSON the way the real peers do
(wire-format.md section 11, issue 23):

* a server that enforces ``response_format: {"type": "json_schema"}`` (vLLM, llama.cpp,
  a structured-outputs model on OpenRouter): clean JSON, every time;
* DeepSeek's JSON output mode (``json_object``): JSON, but now and then an empty content
  (``empty_every``), as DeepSeek warns;
* R1 in the wild (instructions only): JSON in prose, in a fence, with a wrong type, with
  a missing field, or cut by the token limit (``finish_reason: length``), by ``shape``.

A repair round (a last user message that starts "Your previous answer could not be
used") is answered with the clean JSON. ``truth(prompt)`` gives the record for a prompt
(the first user message's text). Standard library only, like the rest of the emulator::

    Emulator(responder=SchemaResponder(lambda prompt: {"city": "Paris", "population": 2}))
"""

from __future__ import annotations

import json
import threading
import zlib
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal

from ._match import _text_of
from ._script import Reply

__all__ = ["SHAPES", "Shape", "SchemaResponder", "wild_reply"]

Shape = Literal["clean", "prose", "fence", "wrong_type", "missing", "cut"]
SHAPES: tuple[Shape, ...] = ("clean", "prose", "fence", "wrong_type", "missing", "cut")
REPAIR_START = "Your previous answer could not be used"
REASONING = (
    "The user wants the fields as JSON. Let me read the text carefully and pick out each "
    "value, then write the object."
)


def _user_texts(body: Mapping[str, Any]) -> list[str]:
    return [
        _text_of(m.get("content"))
        for m in body.get("messages") or ()
        if isinstance(m, Mapping) and m.get("role") == "user"
    ]


def wild_reply(record: Mapping[str, Any], shape: Shape, reasoning: str = REASONING) -> Reply:
    """``record`` written as R1 sometimes writes it."""
    clean = json.dumps(record, ensure_ascii=False)
    if shape == "prose":
        return Reply(reasoning, f"Here is what I found in the text: {clean} I hope this helps.")
    if shape == "fence":
        return Reply(reasoning, f"Sure.\n\n```json\n{json.dumps(record, indent=2)}\n```\n")
    if shape == "wrong_type":
        changed = dict(record)
        for key, value in changed.items():
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                changed[key] = f"about {value}"
                break
        return Reply(reasoning, json.dumps(changed, ensure_ascii=False))
    if shape == "missing":
        changed = dict(record)
        if changed:
            changed.pop(list(changed)[-1])
        return Reply(reasoning, json.dumps(changed, ensure_ascii=False))
    if shape == "cut":
        return Reply(reasoning * 3, clean[: max(1, len(clean) // 2)], finish_reason="length")
    return Reply(reasoning, clean)


class SchemaResponder:
    """An emulator ``responder`` for requests that ask for JSON (see the module docstring).

    ``shape``: the shape of an instructions-only reply, a fixed one or a function of the
    prompt (e.g. by a row's number); ``empty_every``: every n-th ``json_object`` request
    gets an empty content (0: never)."""

    def __init__(
        self,
        truth: Callable[[str], Mapping[str, Any]],
        shape: Shape | Callable[[str], Shape] = "clean",
        *,
        empty_every: int = 0,
        reasoning: str = REASONING,
    ) -> None:
        self.truth = truth
        self.shape = shape
        self.empty_every = empty_every
        self.reasoning = reasoning
        self._lock = threading.Lock()
        self._json_object = 0

    def _shape(self, prompt: str) -> Shape:
        return self.shape(prompt) if callable(self.shape) else self.shape

    def __call__(self, body: Mapping[str, Any]) -> Reply:
        texts = _user_texts(body)
        prompt = texts[0] if texts else ""
        record = self.truth(prompt)
        fmt = body.get("response_format")
        kind = fmt.get("type") if isinstance(fmt, Mapping) else None
        if texts and texts[-1].startswith(REPAIR_START):
            return Reply(self.reasoning, json.dumps(record, ensure_ascii=False))
        if kind == "json_schema":
            schema = (
                fmt.get("json_schema", {}).get("schema", {}) if isinstance(fmt, Mapping) else {}
            )
            wrapped = (
                isinstance(schema, Mapping)
                and set(schema.get("properties") or {}) == {"items"}
                and isinstance(record, Sequence)
            )
            value = {"items": record} if wrapped else record
            return Reply(self.reasoning, json.dumps(value, ensure_ascii=False))
        if kind == "json_object":
            with self._lock:
                self._json_object += 1
                n = self._json_object
            if self.empty_every and n % self.empty_every == 0:
                return Reply(self.reasoning, "")
            shape = self._shape(prompt)
            # JSON mode gives JSON: no prose or fence, but types and fields are not enforced
            shape = "clean" if shape in ("prose", "fence") else shape
            return wild_reply(record, shape, self.reasoning)
        return wild_reply(record, self._shape(prompt), self.reasoning)


def shape_by_hash(prompt: str, weights: Sequence[tuple[Shape, int]]) -> Shape:
    """A shape chosen from ``prompt`` alone (the same prompt gets the same shape): ``weights``
    in percent, e.g. ``[("clean", 60), ("prose", 30), ("wrong_type", 10)]``."""
    point = zlib.crc32(prompt.encode("utf-8")) % 100
    total = 0
    for shape, weight in weights:
        total += weight
        if point < total:
            return shape
    return "clean"
