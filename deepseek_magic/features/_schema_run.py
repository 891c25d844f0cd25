"""How a request with a schema is sent and how its answer becomes data: one per request.

* :data:`METHODS`: what each provider can enforce is a field of its entry in the
  provider table (``Provider.structured_output``); this table says how each kind is
  decided, strongest first: the server's JSON schema mode (``response_format:
  json_schema``), JSON output mode (``json_object``: JSON, but not the schema), else
  instructions in the messages. OpenRouter's kind ("catalogue") asks the catalogue:
  only a model whose ``supported_parameters`` list ``structured_outputs`` or
  ``response_format`` gets ``json_schema``, with ``provider.require_parameters`` so no
  endpoint that ignores it is chosen. :func:`choose_method` reads it.
* :class:`SchemaRun`, what ``prepare()`` keeps on the ``Prepared`` request: the request
  additions (:meth:`SchemaRun.apply`, :meth:`SchemaRun.instruct` for rows), and its two
  extra-round hooks (:attr:`SchemaRun.hooks`, the engine's one hook shape): after a
  round, the answer is extracted and validated (whatever the method: a server may accept
  ``response_format`` and ignore it) and the data put on the Result; on failure one
  retry of an empty content in JSON output mode (DeepSeek documents it), else up to
  ``repair`` repair rounds whose message says exactly what failed. It keeps no state (a
  ``Prepared`` is shared by every row of a ``map()``): the engine counts the rounds.
* :func:`plan_schema`, the one call ``prepare()`` makes: the method, ``--strict``'s
  refusal, and the token-budget check before sending.
"""

from __future__ import annotations

import dataclasses
import json
import statistics
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from ..core._errors import OptionError
from ._schema import Schema, to_schema
from ._schema_check import extract

if TYPE_CHECKING:
    from ..client._catalogue import Catalogue
    from ..client._request import Request
    from ..core._session import Session
    from ..core._settings import Settings
    from ..engine._rounds import ExtraRound, Outcome, Round

__all__ = [
    "METHODS",
    "MAX_REPAIR",
    "Method",
    "SchemaRun",
    "choose_method",
    "plan_schema",
    "REPAIR_PREFIX",
    "METHOD_TEXT",
]

MethodName = Literal["json_schema", "json_object", "instructions"]
#: ``repair=`` accepts 0..MAX_REPAIR (each repair round is a paid request)
MAX_REPAIR = 3
#: the start of a repair round's message
REPAIR_PREFIX = "Your previous answer could not be used as data:"
#: the names of its extra-round hooks (the engine counts their rounds under them)
RETRY, REPAIR = "schema retry", "schema repair"
#: what a reasoning model usually writes before answering, when nothing is known yet
ASSUMED_REASONING_TOKENS = 2000
#: the OpenRouter parameters that mean "this model honours response_format"
STRUCTURED = frozenset({"structured_outputs", "response_format"})


#: how each method reads in the footer and dry-run
METHOD_TEXT: Mapping[str, str] = {
    "json_schema": "json_schema, enforced by the server",
    "json_object": "json_object (JSON enforced, the schema validated here)",
    "instructions": "instructions + validation",
}


@dataclass(frozen=True)
class Method:
    """How one request asks for its schema, and whether the server enforces it."""

    name: MethodName
    #: True when the server constrains the output to the schema
    enforced: bool
    #: one line: why this method (shown in dry-run and ``--strict``'s refusal)
    why: str
    #: OpenRouter: route only to endpoints that honour every parameter sent
    require_parameters: bool = False

    def describe(self, repairs: int = 0, retries: int = 0) -> str:
        """``schema: json_schema, enforced by the server`` / ``schema: instructions +
        validation, 1 repair round`` (the footer and dry-run)."""
        text = METHOD_TEXT[self.name]
        if retries:
            text += f", {retries} retry of empty content"
        if repairs:
            text += f", {repairs} repair round{'s' if repairs != 1 else ''}"
        return "schema: " + text


Rule = Callable[["Settings", "Catalogue | None"], Method]


def _catalogue_decides(settings: Settings, catalogue: Catalogue | None) -> Method:
    info = catalogue.get(settings.model) if catalogue is not None else None
    listed = info.supported_parameters if info is not None else None
    if listed is not None and listed & STRUCTURED:
        return Method("json_schema", True, f"{settings.model} lists structured outputs", True)
    source = (
        "its catalogue entry is unknown"
        if listed is None
        else "it lists no structured_outputs / response_format"
    )
    return Method("instructions", False, f"{settings.model} on {settings.provider.title}: {source}")


def _constrained(settings: Settings, catalogue: Catalogue | None) -> Method:
    return Method(
        "json_schema", True, f"{settings.provider.title} constrains output to a JSON schema"
    )


def _json_mode(settings: Settings, catalogue: Catalogue | None) -> Method:
    return Method(
        "json_object",
        False,
        f"{settings.provider.title} has JSON output mode only (json_object; the schema goes "
        "in the messages)",
    )


def _instructions(settings: Settings, catalogue: Catalogue | None) -> Method:
    return Method(
        "instructions", False, f"{settings.provider.title} is not known to enforce a schema"
    )


#: ``Provider.structured_output`` (the provider table says what each server can do:
#: wire-format.md section 11 and the servers' docs) -> how the method is decided. A new
#: kind of support is one entry here; a new provider is one field in its table entry.
METHODS: Mapping[str, Rule] = {
    "catalogue": _catalogue_decides,
    "json_schema": _constrained,
    "json_object": _json_mode,
    "instructions": _instructions,
}


def choose_method(settings: Settings, catalogue: Catalogue | None) -> Method:
    """The strongest method this provider and model support (see :data:`METHODS`)."""
    rule = METHODS.get(settings.provider.structured_output, _instructions)
    return rule(settings, catalogue)


# ----------------------------------------------------------------------- the run
@dataclass(frozen=True)
class SchemaRun:
    """The schema part of one prepared request (see the module docstring)."""

    schema: Schema
    method: Method
    repair: int = 1
    #: the request's ``max_completion_tokens`` (for the cut-JSON message)
    max_tokens: int | None = None

    @property
    def extra_rounds(self) -> int:
        """The most rounds this may add: the repairs, and one retry of empty content."""
        return self.repair + (1 if self.method.name == "json_object" else 0)

    # ------------------------------------------------------------- the request
    def instruction(self) -> str:
        schema = json.dumps(self.schema.json, ensure_ascii=False, separators=(",", ":"))
        many = "a JSON array of values" if self.schema.many else "one JSON value"
        return (
            f"\n\nAnswer with {many} matching this JSON Schema, and nothing else "
            f"(no prose around it):\n{schema}"
        )

    def instruct(self, messages: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
        """``messages`` with the schema described in the last user message (every method:
        DeepSeek's JSON mode needs it there, and it helps an enforcing server's model)."""
        out = [dict(m) for m in messages]
        for message in reversed(out):
            if message.get("role") == "user":
                content = message.get("content")
                if isinstance(content, list):
                    message["content"] = [*content, {"type": "text", "text": self.instruction()}]
                else:
                    message["content"] = f"{content or ''}{self.instruction()}"
                break
        return out

    def body_additions(self, body: Mapping[str, Any]) -> dict[str, Any]:
        if self.method.name == "json_schema":
            wire = self.schema.wire
            extra: dict[str, Any] = {
                "response_format": {
                    "type": "json_schema",
                    "json_schema": {
                        "name": self.schema.name,
                        "strict": _strict_ok(wire),
                        "schema": wire,
                    },
                }
            }
            if self.method.require_parameters:
                routing = body.get("provider")
                routing = dict(routing) if isinstance(routing, Mapping) else {}
                extra["provider"] = {**routing, "require_parameters": True}
            return extra
        if self.method.name == "json_object":
            return {"response_format": {"type": "json_object"}}
        return {}

    def apply(self, request: Request) -> Request:
        """``request`` asking for the schema: the body additions and the instruction."""
        body = {**request.body, **self.body_additions(request.body)}
        body["messages"] = self.instruct(request.body["messages"])
        return dataclasses.replace(request, body=body)

    # ------------------------------------------------------------- after a round
    @property
    def hooks(self) -> tuple[ExtraRound, ...]:
        """Its extra-round hooks (``engine._rounds``), run in this order after a reply:
        one retry of empty content (JSON output mode only: DeepSeek documents it), then
        up to ``repair`` repair rounds. The engine counts each one's rounds."""
        from ..engine._rounds import ExtraRound  # lazily: a Result's view imports this module

        retry = (ExtraRound(RETRY, self._retry, 1),) if self.method.name == "json_object" else ()
        return (*retry, ExtraRound(REPAIR, self._repair, self.repair))

    def _marks(self, round: Round) -> dict[str, Any]:
        return {
            "data_method": self.method.name,
            "data_repairs": round.used.get(REPAIR, 0),
            "data_retries": round.used.get(RETRY, 0),
        }

    def _retry(self, round: Round) -> Outcome | None:
        """An empty content in JSON output mode (not cut by the token limit): sent again."""
        result = round.result
        if result.answer.strip() or result.finish_reason == "length" or round.left <= 0:
            return None
        why = "the server sent empty content (JSON output mode): retried once"
        return round.resend(result.replace(data_error=why, **self._marks(round)))

    def _repair(self, round: Round) -> Outcome | None:
        """The round's data (or its one-line ``data_error``), and a repair round when the
        data is not valid and the budget allows (the message says exactly what failed)."""
        result, marks = round.result, self._marks(round)
        repairs = marks["data_repairs"]
        empty = not result.answer.strip()
        found = extract(result.answer, self.schema.json, self.schema.unwrap)
        errors = found.errors
        if found.ok:
            try:
                return round.keep(
                    result.replace(data=self.schema.build(found.value), data_error=None, **marks)
                )
            except (ValueError, TypeError) as exc:
                errors = (str(exc) or type(exc).__name__,)
        if result.finish_reason == "length":
            started = found.no_json and ("{" in result.answer or "[" in result.answer)
            return round.keep(
                result.replace(data_error=self._cut(found.no_json and not started), **marks)
            )
        what = (
            "the answer was empty"
            if empty
            else ("the answer holds no JSON value" if found.no_json else "; ".join(errors[:5]))
        )
        if round.left > 0:
            # the data's text only: the reasoning is not needed to fix it (and not paid again)
            return round.again(
                {"role": "user", "content": self._repair_text(what)},
                reply={"role": "assistant", "content": result.answer},
                result=result.replace(data_error=what, **marks),
            )
        after = f" after {repairs} repair round{'s' if repairs != 1 else ''}" if repairs else ""
        more = f" (+{len(errors) - 1} more)" if len(errors) > 1 and not empty else ""
        first = errors[0] if errors and not empty and not found.no_json else what
        return round.keep(
            result.replace(data_error=f"no valid data{after}: {first}{more}", **marks)
        )

    def _repair_text(self, what: str) -> str:
        schema = json.dumps(self.schema.json, ensure_ascii=False, separators=(",", ":"))
        return (
            f"{REPAIR_PREFIX} {what}. Reply with only the corrected JSON value (no prose, no "
            f"code fence), matching this JSON Schema:\n{schema}"
        )

    def _cut(self, no_json: bool) -> str:
        where = "before any JSON" if no_json else "inside the JSON"
        limit = self.max_tokens
        if limit is None:
            return (
                f"the reply was cut at the server's token limit {where} (finish_reason: "
                "length): set max_completion_tokens higher"
            )
        return (
            f"the reply was cut at max_completion_tokens={limit} {where} (finish_reason: "
            f"length): raise max_completion_tokens to about {2 * limit}"
        )


def _strict_ok(schema: Any) -> bool:
    """OpenAI-style ``strict: true`` needs every object closed with all fields required."""
    if isinstance(schema, Mapping):
        if schema.get("type") == "object" or "properties" in schema:
            props = schema.get("properties") or {}
            if schema.get("additionalProperties") is not False:
                return False
            if set(schema.get("required") or ()) != set(props):
                return False
        return all(_strict_ok(v) for k, v in schema.items() if k != "enum")
    if isinstance(schema, list):
        return all(_strict_ok(v) for v in schema)
    return True


# ----------------------------------------------------------------------- prepare()
def check_repair(value: Any) -> int:
    if value is None:
        return 1
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_REPAIR:
        raise OptionError(
            f"repair={value!r}: expected 0 to {MAX_REPAIR} repair rounds.", option="repair"
        )
    return value


def plan_schema(
    request: Request,
    *,
    given: Any,
    repair: Any,
    strict: bool,
    settings: Settings,
    catalogue: Catalogue | None,
    session: Session | None = None,
    warn: Callable[[str], None] | None = None,
    conversation: bool = False,
) -> tuple[Request, SchemaRun | None]:
    """The one call ``prepare()`` makes: ``request`` asking for the schema and the
    :class:`SchemaRun` (``(request, None)`` without a schema). Raises before sending: a
    bad schema or ``repair``, and under ``strict`` a server that cannot enforce it or a
    token limit too small for the reasoning plus the JSON."""
    if given is None:
        if repair is not None:
            raise OptionError(
                "repair= needs a schema= (the rounds repair its data).", option="repair"
            )
        return request, None
    schema = to_schema(given)
    rounds = check_repair(repair)
    if "response_format" in request.body:
        raise OptionError(
            "schema= sets response_format itself: remove response_format from extra=.",
            option="schema",
        )
    if conversation:
        raise OptionError(
            "schema= does not continue a conversation yet (its repair rounds would not be "
            "kept in the chat): ask without conversation=/--chat.",
            option="schema",
        )
    method = choose_method(settings, catalogue)
    if strict and not method.enforced:
        raise OptionError(
            f"Not sent (strict): the server cannot enforce the schema ({method.why}). "
            "Send without --strict to validate it here (and repair).",
            option="strict",
        )
    limit = request.body.get("max_completion_tokens", request.body.get("max_tokens"))
    limit = limit if isinstance(limit, int) and not isinstance(limit, bool) else None
    run = SchemaRun(schema, method, rounds, limit)
    if limit is not None:
        problem = budget_problem(limit, schema, str(request.body.get("model", "")), session)
        if problem is not None and strict:
            raise OptionError(f"Not sent (strict): {problem}.", option="strict")
        if problem is not None:
            (warn or _warn)(problem + ".")
    return run.apply(request), run


def _warn(text: str) -> None:
    warnings.warn(text, UserWarning, stacklevel=4)


def json_tokens(schema: Schema) -> int:
    """A generous guess of the JSON's tokens: about 30 a field, 5 items for a list."""
    fields = max(1, len(schema.fields))
    return (20 + 30 * fields) * (5 if schema.many else 1)


def budget_problem(limit: int, schema: Schema, model: str, session: Session | None) -> str | None:
    """One line when ``limit`` cannot hold what this model usually reasons plus the JSON
    (the session's earlier replies of the model, else a stated assumption), else None."""
    seen = [
        r.usage.reasoning_tokens
        for r in (session.history if session is not None else ())
        if r.model == model and r.usage.reasoning_tokens
    ]
    if seen:
        reasoning = int(statistics.median(seen))
        source = f"the median of {len(seen)} earlier replies of {model} in this session"
    else:
        reasoning = ASSUMED_REASONING_TOKENS
        source = f"an assumption: no earlier replies of {model} in this session"
    need = reasoning + json_tokens(schema)
    if limit >= need:
        return None
    return (
        f"max_completion_tokens={limit} may not hold the reasoning ({reasoning:,} tokens, "
        f"{source}) plus the JSON (~{json_tokens(schema)}): the JSON may be cut; "
        f"about {need:,} would hold both"
    )


def dry_run_notes(run: SchemaRun | None) -> list[str]:
    """What dry-run says about the schema: the method and why."""
    if run is None:
        return []
    return [
        f"{run.method.describe()}: {run.method.why}; up to {run.repair} repair "
        f"round{'s' if run.repair != 1 else ''}"
    ]
