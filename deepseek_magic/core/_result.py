"""The values a request produces: :class:`Result`, :class:`Usage`, :class:`ToolCall`.

They are frozen dataclasses: the accumulator (``_accumulate.py``) builds them, the
renderer (``_render.py``) draws them, and the user analyses them. ``Result.to_row()`` is
the one flat row of scalars (the history's DataFrame, a sweep's and a batch's rows, the
output metadata); ``Result.to_dict()`` is the whole of it as plain JSON-able data (the
record/replay cache, a run file).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Literal

__all__ = ["Result", "Usage", "ToolCall", "PRICE_IN_PER_M", "PRICE_OUT_PER_M", "estimate_cost"]

#: The seed's prices for DeepSeek R1 (US dollars per million tokens): the last fallback
#: when neither the server's cost nor the catalogue's prices are known.
PRICE_IN_PER_M = 0.70
PRICE_OUT_PER_M = 2.50


@dataclass(frozen=True)
class Usage:
    """Token counts as the server reported them (None where it did not)."""

    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    reasoning_tokens: int | None = None
    total_tokens: int | None = None
    cached_tokens: int | None = None
    #: prompt tokens written to the provider's cache (OpenRouter ``cache_write_tokens``)
    cache_write_tokens: int | None = None
    #: OpenRouter's ``cost_details`` (``upstream_inference_cost`` ...), as reported
    cost_details: Mapping[str, float] | None = field(default=None, hash=False)

    @property
    def answer_tokens(self) -> int | None:
        """Completion tokens that are not reasoning (the visible answer)."""
        if self.completion_tokens is None:
            return None
        return max(0, self.completion_tokens - (self.reasoning_tokens or 0))

    def to_dict(self) -> dict[str, Any]:
        """The counts as plain data, ``answer_tokens`` included."""
        data = asdict(self)
        data["answer_tokens"] = self.answer_tokens
        return data

    @classmethod
    def from_wire(cls, usage: Mapping[str, Any] | None) -> Usage:
        """Read an OpenAI/OpenRouter/DeepSeek ``usage`` object leniently."""
        if not isinstance(usage, Mapping):
            return cls()

        def num(value: Any) -> int | None:
            if isinstance(value, float) and not math.isfinite(value):
                return None  # JSON's 1e999 / NaN / Infinity: int() would raise
            return (
                int(value)
                if isinstance(value, (int, float)) and not isinstance(value, bool)
                else None
            )

        details = usage.get("completion_tokens_details")
        details = details if isinstance(details, Mapping) else {}
        prompt_details = usage.get("prompt_tokens_details")
        prompt_details = prompt_details if isinstance(prompt_details, Mapping) else {}
        cached = num(prompt_details.get("cached_tokens"))
        if cached is None:
            cached = num(usage.get("prompt_cache_hit_tokens"))
        written = num(prompt_details.get("cache_write_tokens"))
        if written is None:
            written = num(usage.get("cache_write_tokens"))
        raw_details = usage.get("cost_details")
        cost_details = None
        if isinstance(raw_details, Mapping):
            cost_details = {
                str(k): float(v)
                for k, v in raw_details.items()
                if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
            }
        return cls(
            prompt_tokens=num(usage.get("prompt_tokens")),
            completion_tokens=num(usage.get("completion_tokens")),
            reasoning_tokens=num(details.get("reasoning_tokens")),
            total_tokens=num(usage.get("total_tokens")),
            cached_tokens=cached,
            cache_write_tokens=written,
            cost_details=cost_details or None,
        )


@dataclass(frozen=True)
class ToolCall:
    """One function call the model asked for, and (once run) what it returned."""

    id: str
    name: str
    #: the arguments exactly as the model wrote them (a JSON text, possibly invalid)
    arguments: str = ""
    #: set when the tool was run: its return value as sent back to the model
    output: str | None = None
    #: set when running it failed (bad JSON, unknown tool, an exception)
    error: str | None = None
    #: seconds the function ran
    elapsed: float | None = None

    @property
    def args(self) -> dict[str, Any]:
        """The arguments parsed as JSON (raises ``ValueError`` when the model wrote bad JSON)."""
        if not self.arguments.strip():
            return {}
        value = json.loads(self.arguments)
        if not isinstance(value, dict):
            raise ValueError(f"tool arguments are not a JSON object: {self.arguments[:80]!r}")
        return value

    def to_wire(self) -> dict[str, Any]:
        """The ``tool_calls`` item to send back in an assistant message."""
        return {
            "id": self.id,
            "type": "function",
            "function": {"name": self.name, "arguments": self.arguments},
        }


Phase = Literal["waiting", "thinking", "answering", "tool_calls", "done"]


@dataclass(frozen=True)
class Result:
    """What DeepSeek R1 returned for one request (or, when ``error`` is set, what had
    arrived before it failed or was interrupted).

    The fields a notebook user reaches for: ``answer`` and ``reasoning`` (text),
    ``usage`` (token counts), ``cost`` (US dollars), ``elapsed`` (seconds), and
    ``params`` (exactly what was sent, never the key).
    """

    answer: str = ""
    reasoning: str = ""
    tool_calls: tuple[ToolCall, ...] = ()
    finish_reason: str | None = None
    usage: Usage = field(default_factory=Usage)
    #: US dollars: what the server reported, else an estimate from the model's prices
    #: (``price_source`` says whose), and 0 for a local server
    cost: float | None = None
    cost_source: Literal["server", "estimate", "free"] | None = None
    #: the model that actually answered (as the server said), else the one requested
    model: str = ""
    #: the request options that were sent (the JSON body without ``messages``)
    params: Mapping[str, Any] = field(default_factory=dict)
    #: the messages that were sent
    messages: tuple[Mapping[str, Any], ...] = ()
    #: seconds from sending the request to the end of the reply
    elapsed: float = 0.0
    #: seconds from sending the request to the first reasoning or answer token
    time_to_first_token: float | None = None
    #: seconds from sending the request to the first answer token (how long it thought)
    reasoning_elapsed: float | None = None
    #: the generation id (``gen-...``) and the provider that served it, when given
    id: str | None = None
    provider: str | None = None
    #: the base URL the request went to (never the key)
    base_url: str = ""
    #: the raw chunks, kept only when asked for (``keep_chunks=True``) to keep memory linear
    chunks: tuple[Mapping[str, Any], ...] = ()
    chunk_count: int = 0
    #: set when the request failed or was interrupted after something arrived
    error: str | None = None
    #: the failure's exception class name (``"RateLimitError"``) and HTTP status, if any
    error_type: str | None = None
    error_status: int | None = None
    interrupted: bool = False
    #: True when the reply came from the bundled offline emulator
    offline: bool = False
    #: True when the reply was replayed from the record/replay cache
    cached: bool = False
    #: earlier rounds of a tool loop (each a Result), oldest first
    rounds: tuple[Result, ...] = ()
    #: the conversation this request continued, if any
    conversation: str | None = None
    #: for an estimate: whose prices ("catalogue", "snapshot", "user", "seed")
    price_source: str | None = None
    #: the options the user set that were sent (``params`` has their wire spelling)
    options_sent: tuple[str, ...] = ()
    #: option -> why the server ignores it (it was sent all the same)
    options_ignored: Mapping[str, str] = field(default_factory=dict)
    #: option -> why it was not sent to this server
    options_not_sent: Mapping[str, str] = field(default_factory=dict)
    #: option -> how its value was remapped for this server
    options_remapped: Mapping[str, str] = field(default_factory=dict)
    #: which of the provider's time-of-day prices an estimate used ("off-peak price")
    price_note: str = ""
    #: US dollars the provider's prompt cache saved (hits priced at the hit rate), if known
    cache_saved: float | None = None
    #: the date after which the server may remove the model (its catalogue says so)
    model_expires: str | None = None
    #: typed answers (``schema=``, ``features/_schema_run.py``): the validated value (an
    #: instance of the model or dataclass; a dict for a JSON Schema or a spec), else None
    data: Any = None
    #: one line when the data could not be had (``data`` is then None)
    data_error: str | None = None
    #: how the schema was asked for: "json_schema", "json_object" or "instructions"
    data_method: str | None = None
    #: the repair rounds sent for this answer, and the retries of an empty content
    data_repairs: int = 0
    data_retries: int = 0
    #: (reasoning characters so far, seconds since sending) as the reasoning streamed,
    #: a few a second: when each step of the reasoning arrived (``explore()``'s time strip)
    reasoning_times: tuple[tuple[int, float], ...] = ()

    # ----------------------------------------------------------------- derived
    @property
    def ok(self) -> bool:
        """True when the reply ended normally (no error, not interrupted)."""
        return self.error is None and not self.interrupted

    @property
    def total_usage(self) -> Usage:
        """The token counts of every round (tool and extra rounds, then this one) summed;
        a count no round reported stays None."""
        rounds = [*self.rounds, self]
        if len(rounds) == 1:
            return self.usage

        def total(name: str) -> int | None:
            given = [getattr(r.usage, name) for r in rounds if getattr(r.usage, name) is not None]
            return sum(given) if given else None

        return Usage(
            prompt_tokens=total("prompt_tokens"),
            completion_tokens=total("completion_tokens"),
            reasoning_tokens=total("reasoning_tokens"),
            total_tokens=total("total_tokens"),
        )

    @property
    def phase(self) -> Phase:
        if self.finish_reason is not None or self.error is not None or self.interrupted:
            return "done"
        if self.tool_calls:
            return "tool_calls"
        if self.answer:
            return "answering"
        if self.reasoning:
            return "thinking"
        return "waiting"

    @property
    def text(self) -> str:
        """Alias of ``answer`` (so ``str(result)`` and f-strings read naturally)."""
        return self.answer

    def __str__(self) -> str:
        return self.answer

    def __repr__(self) -> str:
        answer = self.answer if len(self.answer) <= 60 else self.answer[:57] + "..."
        parts = [
            f"answer={answer!r}",
            f"reasoning={len(self.reasoning)} chars",
            f"finish_reason={self.finish_reason!r}",
            f"model={self.model!r}",
        ]
        if self.tool_calls:
            parts.append(f"tool_calls={len(self.tool_calls)}")
        if self.usage.completion_tokens is not None:
            parts.append(f"tokens={self.usage.prompt_tokens}+{self.usage.completion_tokens}")
        if self.cost is not None:
            parts.append(f"cost=${self.cost:.6f}")
        if self.error:
            parts.append(f"error={self.error!r}")
        if self.data_method is not None:  # typed answers
            shown = repr(self.data) if self.data_error is None else f"None ({self.data_error})"
            parts.append(f"data={shown if len(shown) <= 80 else shown[:77] + '...'}")
        if self.interrupted:
            parts.append("interrupted=True")
        return f"Result({', '.join(parts)})"

    # ------------------------------------------------------------- rendering
    def _repr_mimebundle_(
        self, include: Any = None, exclude: Any = None
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        from ..view._render import render_result

        return render_result(self)

    def _repr_markdown_(self) -> str:
        from ..view._render import render_result

        bundle, _ = render_result(self)
        return str(bundle.get("text/markdown", self.answer))

    # ------------------------------------------------------------- conversion
    def to_row(self) -> dict[str, Any]:
        """One flat row of scalars: the history's DataFrame, a sweep's or a batch's rows and
        the output metadata all take their columns from it (``to_dict`` is the full data)."""
        u = self.usage
        return {
            "model": self.model,
            "answer": self.answer,
            "reasoning": self.reasoning,
            "reasoning_chars": len(self.reasoning),
            "answer_chars": len(self.answer),
            "prompt_tokens": u.prompt_tokens,
            "completion_tokens": u.completion_tokens,
            "reasoning_tokens": u.reasoning_tokens,
            "answer_tokens": u.answer_tokens,
            "cost": self.cost,
            "cost_source": self.cost_source,
            "elapsed": self.elapsed,
            "time_to_first_token": self.time_to_first_token,
            "finish_reason": self.finish_reason,
            "tool_calls": len(self.tool_calls),
            "error": self.error,
            "interrupted": self.interrupted,
            "offline": self.offline,
            "cached": self.cached,
            "conversation": self.conversation,
        }

    def to_dict(self) -> dict[str, Any]:
        """Plain, JSON-able data (no key is ever part of a Result)."""
        data = asdict(self)
        data["usage"] = self.usage.to_dict()
        data["params"] = dict(self.params)
        data["messages"] = [dict(m) for m in self.messages]
        data["chunks"] = [dict(c) for c in self.chunks]
        for name in ("options_ignored", "options_not_sent", "options_remapped"):
            data[name] = dict(getattr(self, name))
        if self.data is not None:
            from ..features._schema import plain_data

            data["data"] = plain_data(self.data)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Result:
        """Rebuild a Result from :meth:`to_dict` output (used by the replay cache)."""
        d = dict(data)
        usage = dict(d.pop("usage", {}) or {})
        usage.pop("answer_tokens", None)
        d["usage"] = Usage(**usage)
        d["tool_calls"] = tuple(ToolCall(**t) for t in d.get("tool_calls", ()))
        d["rounds"] = tuple(cls.from_dict(r) for r in d.get("rounds", ()))
        d["messages"] = tuple(d.get("messages", ()))
        d["chunks"] = tuple(d.get("chunks", ()))
        d["options_sent"] = tuple(d.get("options_sent", ()))
        d["reasoning_times"] = tuple(tuple(m) for m in d.get("reasoning_times", ()))
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in d.items() if k in known})

    def replace(self, **changes: Any) -> Result:
        return replace(self, **changes)

    @property
    def reasoning_stats(self) -> Any:
        """The reasoning's structure: tokens, characters, steps, self-checks, thinking time,
        where the final answer first appears, whether it was cut
        (:class:`~deepseek_magic.eval._reasoning.ReasoningStats`)."""
        from ..eval._reasoning import reasoning_stats

        return reasoning_stats(self)

    def explore(self) -> Any:
        """The reasoning explorer: numbered steps, self-corrections and the answer's first
        appearance marked, a time strip, the answer beside it (static, safe HTML)."""
        from ..eval._explore import explore

        return explore(self)


def estimate_cost(usage: Usage) -> float | None:
    """Dollars for ``usage`` at the seed's R1 prices, or None if the counts are unknown."""
    if usage.prompt_tokens is None and usage.completion_tokens is None:
        return None
    return (
        (usage.prompt_tokens or 0) * PRICE_IN_PER_M
        + (usage.completion_tokens or 0) * PRICE_OUT_PER_M
    ) / 1e6
