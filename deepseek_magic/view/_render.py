"""Pure rendering of a :class:`Result` to Jupyter mimebundles.

No I/O, no display calls, no environment: each function maps values to strings.

* :func:`render_result`: the final view, ``(bundle, metadata)`` with ``text/html``,
  ``text/markdown`` and ``text/plain``.
* ``_live_state.render_live``: the view while streaming; cheap and bounded in size, however
  long the stream (it is redrawn about ten times a second).
* :func:`render_plain_final`: the terminal form; :func:`render_error`: one clear line.
* small helpers the magic, panel and live view reuse: :func:`format_cost`,
  :func:`format_tokens`, :func:`format_footer`, :func:`escape`.

Model output (answer, reasoning, tool arguments and outputs, even tool names and
error text) is untrusted and never becomes live HTML: markdown goes through
:mod:`._markdown`, everything else is escaped. Elements that hold non-math text
carry ``tex2jax_ignore mathjax_ignore`` so MathJax cannot pair a stray ``$``
there (see :mod:`._markdown` for why). Styles are inline (no ``<style>`` that
would leak into the page) and use ``currentColor``-relative opacity and
``var(--jp-...)`` with fallbacks so they read in light and dark themes.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from . import _style as style
from ._style import OFFLINE_NOTE

if TYPE_CHECKING:  # a Result renders itself (_repr_mimebundle_): no import back at run time
    from ..core._result import Result, ToolCall, Usage
from ..features._schema_view import data_html, data_plain, schema_footer
from ._markdown import IGNORE_MATH_CLASS, escape, markdown_to_html, render_markdown, scrub

__all__ = [
    "escape",
    "format_cost",
    "format_footer",
    "format_tokens",
    "markdown_to_html",
    "render_error",
    "render_plain_final",
    "render_result",
    "render_sweep",
    "render_progress",
]
#: Tool arguments/outputs longer than this are cut in the view (the Result keeps all).
TOOL_TEXT_LIMIT = 20_000
#: Longest error message shown (a server may send a whole HTML page).
ERROR_TEXT_LIMIT = 1_000

# ---------------------------------------------------------------- styles
_ROOT = "line-height:1.5;"
_SUMMARY = "cursor:pointer;opacity:0.75;"
_MUTED = "opacity:0.7;"
_BOX = f"border-left:3px solid {style.BORDER_ACCENT};padding:0.25em 0.75em;margin:0.25em 0 0.5em 0;"
_PRE_WRAP = "white-space:pre-wrap;overflow-wrap:anywhere;"
_PRE = _PRE_WRAP + "margin:0;font-family:var(--jp-code-font-family,monospace);font-size:0.9em;"
_NOTE = (
    "border:1px solid rgba(230,160,0,0.75);background:rgba(230,160,0,0.12);"
    "border-radius:3px;padding:0.2em 0.6em;margin:0 0 0.4em 0;font-weight:600;"
)
_WARN = f"color:{style.ERROR};font-weight:600;margin:0.4em 0;"
_FOOTER = "opacity:0.65;font-size:0.85em;margin-top:0.4em;"


# ---------------------------------------------------------------- helpers
def format_cost(cost: float | None, source: str | None = None) -> str:
    """``$0.000123`` (``≈$0.000123`` for an estimate), ``–`` when unknown, ``free (local)``
    for a local server."""
    if cost is None:
        return "–"
    if source == "free":
        return "free (local)"
    if cost == 0:
        text = "$0.00"
    elif cost >= 1:
        text = f"${cost:,.2f}"
    elif cost >= 0.01:
        text = f"${cost:.4f}"
    else:
        text = f"${cost:.6f}"
    return ("≈" if source == "estimate" else "") + text


def _n(value: int | None) -> str:
    return "–" if value is None else f"{value:,}"


def format_tokens(usage: Usage) -> str:
    """``12 prompt / 340 reasoning / 56 answer tokens``; ``""`` when nothing is known.

    Without a reasoning count, the completion is shown whole rather than
    pretending it was all answer.
    """
    if usage.prompt_tokens is None and usage.completion_tokens is None:
        return ""
    prompt = _n(usage.prompt_tokens)
    if usage.cached_tokens:
        prompt += f" ({usage.cached_tokens:,} cached)"
    if usage.reasoning_tokens is not None:
        return (
            f"{prompt} prompt / {_n(usage.reasoning_tokens)} reasoning"
            f" / {_n(usage.answer_tokens)} answer tokens"
        )
    return f"{prompt} prompt / {_n(usage.completion_tokens)} completion tokens"


def format_footer(result: Result, note: str | None = None) -> str:
    """model · tokens · cost · seconds · finish reason (plain text, one line); ``note``
    (e.g. the session's spend so far) goes at the end."""
    parts = [_oneline(result.model) or "–"]
    tokens = format_tokens(result.usage)
    if tokens:
        parts.append(tokens)
    cost = format_cost(result.cost, result.cost_source)
    if result.cost_source == "estimate" and result.price_source in ("seed", "snapshot", "user"):
        cost += f" ({result.price_source} prices)"
    if result.cost_source == "estimate" and result.price_note:
        cost += f" ({result.price_note})"
    if result.cache_saved:
        cost += f", cache saved {format_cost(result.cache_saved, 'estimate')}"
    if result.offline and result.cost is not None:
        cost = f"simulated cost {cost} (not charged)"  # the emulator's figure, not a charge
    parts.append(cost)
    parts.append(f"{result.elapsed:.1f} s")
    if result.finish_reason:
        parts.append(f"finish: {_oneline(result.finish_reason)}")
    if result.cached:
        parts.append("replayed from cache")
    if result.options_ignored:
        parts.append("ignored by the server: " + ", ".join(result.options_ignored))
    if result.options_not_sent:
        parts.append("not sent: " + ", ".join(result.options_not_sent))
    parts.extend(f"{name} {change}" for name, change in result.options_remapped.items())
    if result.model_expires:
        parts.append(f"may be removed after {_oneline(result.model_expires)}")
    parts.extend(_oneline(p) for p in schema_footer(result))
    if note:
        parts.append(_oneline(note))
    return " · ".join(parts)


def _oneline(text: str | None, limit: int = 200) -> str:
    """Collapse whitespace and cut: for names and messages shown on one line."""
    flat = " ".join((text or "").split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def _estimate_tokens(text: str) -> int:
    return (len(text) + 3) // 4


def _reasoning_tokens(result: Result) -> str:
    """``812 tokens``, or ``≈203 tokens`` (characters / 4) when the server did not say."""
    if result.usage.reasoning_tokens is not None:
        return f"{result.usage.reasoning_tokens:,} tokens"
    return f"≈{_estimate_tokens(result.reasoning):,} tokens"


def _reasoning_summary(result: Result, *, with_time: bool = True) -> str:
    """``Reasoning · 812 tokens · 9.8 s`` (``≈`` marks estimates)."""
    parts = ["Reasoning", _reasoning_tokens(result)]
    seconds = _reasoning_seconds(result) if with_time else None
    if seconds is not None:
        exact = not result.answer or result.reasoning_elapsed is not None
        parts.append(f"{'' if exact else '≈'}{seconds:.1f} s")
    return " · ".join(parts)


def _reasoning_seconds(result: Result) -> float | None:
    """Seconds until the answer began: measured (``Result.reasoning_elapsed``) when the
    reply streamed; otherwise (non-streamed, replayed from an old cache) an estimate, the
    first-token wait plus the generation time shared by tokens (or characters).
    """
    if result.reasoning_elapsed is not None:
        return result.reasoning_elapsed
    if result.elapsed <= 0:
        return None
    if not result.answer:
        return result.elapsed
    usage = result.usage
    if usage.reasoning_tokens is not None and usage.completion_tokens:
        share = min(1.0, usage.reasoning_tokens / usage.completion_tokens)
    else:
        share = len(result.reasoning) / (len(result.reasoning) + len(result.answer))
    wait = min(result.time_to_first_token or 0.0, result.elapsed)
    return wait + (result.elapsed - wait) * share


def _status_line(result: Result) -> str:
    """The warning for an unfinished reply, or ``""``."""
    if result.interrupted:
        return "⚠ Interrupted — partial result kept"
    if result.error:
        return f"⚠ {_oneline(result.error, ERROR_TEXT_LIMIT)} — partial result kept"
    if result.finish_reason == "length":
        return (
            "⚠ Stopped at the token limit (finish: length) — raise max_completion_tokens for more"
        )
    return ""


def _clip(text: str, limit: int = TOOL_TEXT_LIMIT) -> str:
    if len(text) <= limit:
        return text
    return f"{text[:limit]}\n… ({len(text) - limit:,} more characters)"


def _pretty_arguments(arguments: str) -> str:
    """Pretty JSON when the model wrote valid JSON, else its text as written."""
    if not arguments.strip():
        return "{}"
    try:
        return json.dumps(json.loads(arguments), indent=2, ensure_ascii=False)
    except (ValueError, RecursionError):
        return arguments


def _tool_summary(call: ToolCall) -> str:
    state = (
        "error" if call.error is not None else ("done" if call.output is not None else "not run")
    )
    parts = [f"Tool · {_oneline(call.name, 80) or '?'}", state]
    if call.elapsed is not None:
        parts.append(f"{call.elapsed:.2f} s")
    return " · ".join(parts)


# Control characters a terminal would act on (ESC sequences, carriage returns).
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def _terminal_safe(text: str) -> str:
    """Model text for a terminal: control characters shown, not obeyed."""
    text = text.replace("\r\n", "\n")
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group(0)):02x}", scrub(text))


# ---------------------------------------------------------------- final view: HTML
#: said in a folded block's summary: static views (nbconvert's classic template, GitHub)
#: draw no disclosure arrow, and nothing else would say the block opens
OPEN_HINT = " (click to show)"


def _details(cls: str, summary: str, body: str, *, open_: bool = False) -> str:
    hint = "" if open_ else OPEN_HINT
    return (
        f'<details class="{cls}"{" open" if open_ else ""}>'
        f'<summary class="{IGNORE_MATH_CLASS}" style="{_SUMMARY}">'
        f"{escape(summary + hint)}</summary>"
        f"{body}</details>"
    )


def _reasoning_html(result: Result) -> str:
    if not result.reasoning:
        return ""
    body = (
        f'<div class="dsm-reasoning-body {IGNORE_MATH_CLASS}" style="{_BOX}{_PRE_WRAP}{_MUTED}">'
        f"{escape(result.reasoning)}</div>"
    )
    return _details("dsm-reasoning", _reasoning_summary(result), body)


def _pre(label: str, text: str) -> str:
    return (
        f'<div style="{_MUTED}">{escape(label)}</div>'
        f'<pre style="{_PRE}">{escape(_clip(text))}</pre>'
    )


def _tool_html(call: ToolCall) -> str:
    body = _pre("Arguments", _pretty_arguments(call.arguments))
    if call.error is not None:
        body += _pre("Error", call.error)
    elif call.output is not None:
        body += _pre("Output", call.output)
    body = f'<div class="{IGNORE_MATH_CLASS}" style="{_BOX}">{body}</div>'
    return _details("dsm-tool", _tool_summary(call), body)


def _round_html(result: Result, answer_html: str | None) -> str:
    """One round of the tool loop: reasoning, text, tool calls; the final round
    (``answer_html`` given) ends with the answer instead of its raw text."""
    parts = [_reasoning_html(result)]
    if answer_html is None and result.answer:
        parts.append(f'<div class="dsm-round-text">{markdown_to_html(result.answer)}</div>')
    parts.extend(_tool_html(call) for call in result.tool_calls)
    if answer_html is not None:
        parts.append(answer_html)
    return "".join(parts)


def _html(result: Result, answer_html: str, offline: bool, note: str | None = None) -> str:
    parts = []
    if offline:
        parts.append(f'<div class="dsm-offline" style="{_NOTE}">{escape(OFFLINE_NOTE)}</div>')
    parts.extend(_round_html(r, None) for r in result.rounds)
    if result.answer:
        answer = _details(
            "dsm-answer",
            "Answer",
            f'<div class="dsm-answer-body">{answer_html}</div>',
            open_=result.data is None,  # with data, the raw text is collapsed under it
        )
    else:
        answer = f'<div class="dsm-answer dsm-empty" style="{_MUTED}">(no answer)</div>'
    parts.append(_round_html(result, answer))
    parts.append(data_html(result))
    status = _status_line(result)
    if status:
        parts.append(
            f'<div class="dsm-warning {IGNORE_MATH_CLASS}" style="{_WARN}">{escape(status)}</div>'
        )
    parts.append(
        f'<div class="dsm-footer {IGNORE_MATH_CLASS}" '
        f'style="{_FOOTER}">{escape(format_footer(result, note))}</div>'
    )
    return f'<div class="deepseek-magic" style="{_ROOT}">{"".join(parts)}</div>'


# ---------------------------------------------------------------- final view: markdown
def _md_inert(text: str) -> str:
    """Plain text for an HTML context inside text/markdown (summaries, footer):
    escaped, and with no raw ``$``/``\\`` for JupyterLab's math finder to pair."""
    return escape(text).replace("$", "&#36;").replace("\\", "&#92;")


def _md_details(summary: str, body: str) -> str:
    # A blank line after <summary> ends the HTML block so the body is markdown again.
    return f"<details><summary>{_md_inert(summary + OPEN_HINT)}</summary>\n\n{body}\n\n</details>"


def _md_fence(text: str, info: str = "text") -> str:
    """A code fence longer than any backtick run in ``text``: inert whatever it holds."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    body = text if text.endswith("\n") else text + "\n"
    return f"{fence}{info}\n{body}{fence}"


def _md_round(result: Result, answer_md: str | None) -> list[str]:
    parts = []
    if result.reasoning:
        parts.append(_md_details(_reasoning_summary(result), _md_fence(result.reasoning)))
    if answer_md is None and result.answer:
        parts.append(render_markdown(result.answer)[1])
    for call in result.tool_calls:
        body = "Arguments:\n\n" + _md_fence(_pretty_arguments(call.arguments), "json")
        if call.error is not None:
            body += "\n\nError:\n\n" + _md_fence(_clip(call.error))
        elif call.output is not None:
            body += "\n\nOutput:\n\n" + _md_fence(_clip(call.output))
        parts.append(_md_details(_tool_summary(call), body))
    if answer_md is not None:
        parts.append(answer_md)
    return parts


def _markdown(result: Result, answer_md: str, offline: bool, note: str | None = None) -> str:
    parts = []
    if offline:
        parts.append(f"**{OFFLINE_NOTE}**")
    for r in result.rounds:
        parts.extend(_md_round(r, None))
    parts.extend(_md_round(result, answer_md if result.answer else "*(no answer)*"))
    parts.append(data_html(result, markdown=True))
    status = _status_line(result)
    if status:
        parts.append(f'<div class="{IGNORE_MATH_CLASS}"><strong>{_md_inert(status)}</strong></div>')
    parts.append(
        f'<div class="{IGNORE_MATH_CLASS}">'
        f"<small>{_md_inert(format_footer(result, note))}</small></div>"
    )
    return "\n\n".join(p for p in parts if p)


# ---------------------------------------------------------------- final view
# Belt and braces: ``params`` never holds a key, but metadata is saved in the notebook.
_CREDENTIAL_NAMES = frozenset(
    {"api_key", "apikey", "key", "authorization", "password", "secret", "access_token", "token"}
)


def _params(params: Mapping[str, Any]) -> dict[str, Any]:
    """The request options, minus any top-level entry named like a credential."""
    return {
        str(k): v
        for k, v in params.items()
        if str(k).lower().replace("-", "_") not in _CREDENTIAL_NAMES
    }


def _jsonable(value: Any) -> Any:
    """Plain JSON data (anything else becomes its repr, NaN/inf become null)."""
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if value is None or isinstance(value, (bool, int, str)):
        return scrub(value) if isinstance(value, str) else value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    return scrub(repr(value))


#: the output metadata's fields from ``Result.to_row`` (the text itself stays out)
_METADATA_FIELDS = (
    "model",
    "cost",
    "cost_source",
    "elapsed",
    "time_to_first_token",
    "finish_reason",
    "offline",
    "cached",
    "error",
    "interrupted",
    "conversation",
)


def _metadata(result: Result) -> dict[str, Any]:
    row = result.to_row()
    return {
        "deepseek_magic": _jsonable(
            {
                **{name: row[name] for name in _METADATA_FIELDS},
                "params": _params(result.params),
                "usage": result.usage.to_dict(),
                "id": result.id,
                "provider": result.provider,
                "tool_rounds": len(result.rounds),
            }
        )
    }


def render_result(
    result: Result, *, offline_note: bool | None = None, footer_note: str | None = None
) -> tuple[dict[str, str], dict[str, Any]]:
    """The final view: ``(mimebundle, metadata)``.

    ``offline_note`` forces the "offline emulator" note on or off; by default it
    shows when ``result.offline``. ``footer_note`` ends the footer (the magic puts the
    session's spend there).
    """
    offline = result.offline if offline_note is None else offline_note
    answer_html, answer_md = render_markdown(result.answer) if result.answer else ("", "")
    bundle = {
        "text/html": scrub(_html(result, answer_html, offline, footer_note)),
        "text/markdown": scrub(_markdown(result, answer_md, offline, footer_note)),
        "text/plain": _plain(result, show_reasoning=False, offline=offline, note=footer_note),
    }
    return bundle, _metadata(result)


# ---------------------------------------------------------------- plain text
def _plain_tool(call: ToolCall) -> str:
    args = _oneline(call.arguments, 120)
    line = f"[tool {_oneline(call.name, 80)}({args})"
    if call.error is not None:
        line += f" -> error: {_oneline(call.error, 200)}"
    elif call.output is not None:
        line += f" -> {_oneline(call.output, 200)}"
    return line + "]"


def _plain(result: Result, *, show_reasoning: bool, offline: bool, note: str | None = None) -> str:
    lines: list[str] = []
    if offline:
        lines.append(f"[{OFFLINE_NOTE}]")
    for r in [*result.rounds, result]:
        if r.reasoning:
            if show_reasoning:
                lines += [
                    f"[{_reasoning_summary(r)}]",
                    r.reasoning.rstrip("\n"),
                    "[end of reasoning]",
                ]
            else:
                lines.append(f"[reasoning: {_reasoning_tokens(r)}, hidden]")
        if r is not result and r.answer:
            lines.append(r.answer)
        lines.extend(_plain_tool(call) for call in r.tool_calls)
    lines.append(result.answer if result.answer else "(no answer)")
    lines.extend(data_plain(result))
    status = _status_line(result)
    if status:
        lines.append(status)
    lines.append(f"-- {format_footer(result, note)}")
    return _terminal_safe("\n".join(lines))


def render_plain_final(result: Result, *, show_reasoning: bool = False) -> str:
    """The final view for a terminal (terminal IPython, logs)."""
    return _plain(result, show_reasoning=show_reasoning, offline=result.offline)


# ---------------------------------------------------------------- live view
_ESCAPED_WIDTH = {"&": 5, "<": 4, ">": 4, '"': 6, "'": 6}


def _escaped_tail(text: str, limit: int) -> str:
    """The escaped end of ``text``, at most ``limit`` characters long after escaping
    (so the live view's size is bounded by its limits, whatever the text holds)."""
    if limit <= 0 or not text:
        return ""
    tail = text[-limit:]  # escaping never shrinks: this is all that can fit
    budget, start = limit, len(tail)
    if len(escape(tail)) <= limit:  # the common case: nothing to trim
        start = 0
    while start > 0:
        width = _ESCAPED_WIDTH.get(tail[start - 1], 1)
        if width > budget:
            break
        budget -= width
        start -= 1
    cut = start > 0 or len(text) > len(tail)
    escaped = escape(scrub(tail[start:]))
    if cut and escaped:
        # "…" replaces the first visible character so the bound still holds.
        first = 1
        if escaped[0] == "&":
            first = escaped.index(";") + 1
        escaped = "…" + escaped[first:]
    return escaped


# ---------------------------------------------------------------- errors
def render_error(message: str, *, partial: Result | None = None) -> dict[str, str]:
    """One clear line for a failed request, as an html/plain bundle."""
    line = f"⚠ {_oneline(message, ERROR_TEXT_LIMIT) or 'Request failed'}"
    if partial is not None and (partial.answer or partial.reasoning or partial.tool_calls):
        line += " — partial result kept"
    html = (
        f'<div class="deepseek-magic dsm-error {IGNORE_MATH_CLASS}" style="{_WARN}">'
        f"{escape(scrub(line))}</div>"
    )
    return {"text/html": html, "text/plain": _terminal_safe(line)}


# ---------------------------------------------------------------- tables (sweeps)
_CELL = f"border:1px solid {style.BORDER};padding:0.3em 0.5em;vertical-align:top;"
_ANSWER = "max-height:16em;overflow:auto;min-width:12em;"
_ERROR = f"color:{style.ERROR};"


def render_progress(done: int, total: int) -> dict[str, str]:
    """The one line a sweep shows while it runs."""
    text = f"Sweep: {done}/{total} done…"
    return {"text/html": f"<div>{text}</div>", "text/plain": text}


def render_sweep(rows: Sequence[Mapping[str, Any]], names: Sequence[str]) -> dict[str, str]:
    """The side-by-side view of a sweep: an HTML table (model text rendered by the
    markdown renderer, everything else escaped) and a plain-text twin."""
    offline = any(r.get("result") is not None and r["result"].offline for r in rows)
    head = "".join(
        f'<th style="{_CELL}">{escape(h)}</th>'
        for h in [
            *names,
            "answer",
            "reasoning",
            "tokens (prompt / reasoning / answer)",
            "cost",
            "time",
            "finish",
        ]
    )
    body, plain = [], []
    for r in rows:
        tokens = " / ".join(
            "–" if r.get(k) is None else f"{r[k]:,}"
            for k in ("prompt_tokens", "reasoning_tokens", "answer_tokens")
        )
        result = r.get("result")
        reasoning = result.reasoning if result is not None else ""
        reasoning_html = (
            f"<details><summary>{r['reasoning_chars']:,} chars</summary>"
            f'<div class="{IGNORE_MATH_CLASS}" '
            f'style="white-space:pre-wrap;{_ANSWER}">{escape(reasoning)}</div>'
            f"</details>"
            if reasoning
            else "–"
        )
        finish = escape(r.get("finish_reason") or "–")
        if r.get("error"):
            finish = (
                f'<span class="{IGNORE_MATH_CLASS}" style="{_ERROR}">'
                f"{escape(str(r['error'])[:300])}</span>"
            )
        time = "–" if r.get("elapsed") is None else f"{r['elapsed']:.1f} s"
        answer_html = f'<div style="{_ANSWER}">{markdown_to_html(r["answer"])}</div>'
        cells = [
            *(escape(str(r[n])) for n in names),
            answer_html,
            reasoning_html,
            escape(tokens),
            escape(format_cost(r.get("cost"))),
            escape(time),
            finish,
        ]
        body.append("<tr>" + "".join(f'<td style="{_CELL}">{c}</td>' for c in cells) + "</tr>")
        answer = " ".join(str(r["answer"]).split())
        short = answer[:60] + ("…" if len(answer) > 60 else "")
        plain.append(
            "  ".join(
                [
                    *(f"{n}={r[n]}" for n in names),
                    repr(short),
                    tokens,
                    format_cost(r.get("cost")),
                    time,
                    str(r.get("error") or r.get("finish_reason")),
                ]
            )
        )
    note = f'<div style="font-weight:600">{escape(OFFLINE_NOTE)}</div>' if offline else ""
    html = (
        f'<div class="deepseek-magic dsm-sweep">{note}<table style="border-collapse:collapse">'
        f"<thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table></div>"
    )
    return {
        "text/html": html,
        "text/plain": ("[" + OFFLINE_NOTE + "]\n" if offline else "") + "\n".join(plain),
    }
