"""2. Frontend traffic of ``%%deepseek``: display messages and bytes sent to the frontend.

What a kernel would send is counted by the shell's display publisher (one message per
``display``/``update_display``, its size the JSON of data + metadata + display id). The
live view (``deepseek_magic/notebook/_live.py``) throttles to at most 9 frames a second, each
frame bounded in size (the reasoning's and the answer's tails), and keeps the live
frames within DEFAULT_BYTE_FACTOR bytes per received character plus DEFAULT_BYTE_ALLOWANCE
(see deepseek_magic/notebook/_live.py); one final frame
replaces them with the rendered result.

Four measurements: the long reply of benchmark 1 (figures from its magic runs),
the reply growing from 1k to 64k tokens as fast as the emulator sends it (total bytes
must grow linearly: the least-squares slope of log(bytes) on log(tokens)), one reply
at a realistic 200 tokens a second for about 5 s (updates per second stay at most 10),
and a longer one at the same rate, to see the update rate once the live view's byte
budget binds (early seconds against late seconds). Last, a simulation at a typical R1
speed (40 tokens a second for 100 s) that would take too long in real time: the same
``LiveView`` and renderer fed the same events, with a fake clock; and one of a short
reply from a slow server (300 tokens at 10 a second), the worst case for the bytes.
"""

from __future__ import annotations

import json
import math
from typing import Any

from deepseek_magic.notebook._live import DEFAULT_BYTE_ALLOWANCE, DEFAULT_BYTE_FACTOR

from ._common import Figure, frames_summary, magic_shell, run_magic
from ._corpus import make_reply
from ._emu import served

__all__ = ["from_streaming", "run", "slope"]

RATE_LIMIT = 10  # display messages in any one second


def slope(xs: list[float], ys: list[float]) -> float:
    """Least-squares slope of log(y) on log(x): 1 for linear growth, 2 for quadratic."""
    lx, ly = [math.log(x) for x in xs], [math.log(y) for y in ys]
    mx, my = sum(lx) / len(lx), sum(ly) / len(ly)
    return sum((a - mx) * (b - my) for a, b in zip(lx, ly, strict=True)) / sum(
        (a - mx) ** 2 for a in lx
    )


def from_streaming(raw: dict[str, Any]) -> list[Figure]:
    """Figures for the long reply, from benchmark 1's magic runs (the median run by bytes)."""
    runs = sorted(raw["magic_traffic"], key=lambda r: r["bytes"])
    r = runs[len(runs) // 2]
    n = raw["tokens"]
    final = f"final output {r['final_bytes']:,} B"
    return [
        Figure(
            "traffic.long.messages",
            f"display messages, {n:,}-token reply at full speed",
            r["messages"],
            "",
            note=f"over {r['seconds']:.2f} s of streaming",
        ),
        Figure(
            "traffic.long.peak_per_s",
            "most display messages in any 1 s",
            r["peak_per_s"],
            "/s",
            "",
            f"<= {RATE_LIMIT}/s",
            RATE_LIMIT,
        ),
        Figure("traffic.long.bytes", "bytes sent to the frontend in total", r["bytes"], "B", final),
        Figure(
            "traffic.long.bytes_ratio",
            "total bytes / final output",
            r["bytes"] / r["final_bytes"],
            "x",
            final,
            "<= 20x",
            20.0,
        ),
        Figure(
            "traffic.long.bytes_per_s",
            "bytes per second of streaming",
            r["bytes"] / r["seconds"] if r["seconds"] else None,
            "B/s",
        ),
    ]


def _one(shell: Any, publisher: Any, url: str, tokens: int) -> dict[str, Any]:
    publisher.reset()
    result = run_magic(shell, url)
    summary = frames_summary(publisher.messages, publisher.sheet)
    frames = [m for i, m in enumerate(publisher.messages) if i not in publisher.sheet]
    times = [t - frames[0][0] for t, _, _ in frames[:-1]]  # live frames
    summary["live_times"] = [round(t, 3) for t in times]
    summary["tokens"] = tokens
    summary["reply_chars"] = len(result.reasoning) + len(result.answer)
    summary["live_bytes"] = summary["bytes"] - summary["final_bytes"]
    summary["live_budget"] = DEFAULT_BYTE_FACTOR * summary["reply_chars"] + DEFAULT_BYTE_ALLOWANCE
    return summary


def _rate(times: list[float], start: float, end: float) -> float:
    """Live frames per second between ``start`` and ``end`` seconds after the first one."""
    return sum(start <= t < end for t in times) / (end - start) if end > start else 0.0


def _wire_size(bundle: dict[str, Any], metadata: dict[str, Any]) -> int:
    msg = {"data": bundle, "metadata": metadata, "transient": {"display_id": "0" * 32}}
    # UTF-8, as jupyter_client packs messages (json.dumps with ensure_ascii=False)
    return len(json.dumps(msg, default=str, ensure_ascii=False).encode("utf-8"))


class _ManualTimer:
    """The live view's trailing-frame timer on the simulation's fake clock."""

    def __init__(self, fire: Any) -> None:
        self.fire, self.due = fire, None

    def arm(self, at: float) -> None:
        if self.due is None or at < self.due:
            self.due = at

    def cancel(self) -> None:
        self.due = None


def simulate(
    rate: float, tokens: int, *, answer_share: float = 0.5, stall: tuple[int, float] | None = None
) -> dict[str, Any]:
    """The live view at ``rate`` tokens a second with a fake clock: frames per second over
    time and total bytes against the final output, without waiting for real time.
    ``stall=(after, seconds)``: the server is silent for that long after ``after`` tokens."""
    from deepseek_magic.client._accumulate import Accumulator
    from deepseek_magic.client._events import ContentDelta, ReasoningDelta
    from deepseek_magic.emulator import tokenize
    from deepseek_magic.notebook._live import LiveView
    from deepseek_magic.view._render import render_result

    from ._corpus import answer_text, reasoning_text

    answer_tokens = int(tokens * answer_share)
    now = [0.0]
    frames: list[tuple[float, int]] = []
    timers: list[_ManualTimer] = []
    sheet: list[int] = []  # the stylesheet's message: bytes, not a frame
    view = LiveView(
        lambda b, m, update: frames.append((now[0], _wire_size(b, m))),
        clock=lambda: now[0],
        timer=lambda fire: timers.append(_ManualTimer(fire)) or timers[-1],
        sheet=lambda b, m, update: sheet.append(_wire_size(b, m)),
    )
    timer = timers[0]
    view.start()
    acc = Accumulator()

    events = [ReasoningDelta(t) for t in tokenize(reasoning_text(tokens - answer_tokens))] + [
        ContentDelta(t) for t in tokenize(answer_text(answer_tokens))
    ]
    arrivals = []
    for i, event in enumerate(events):
        t = i / rate + (stall[1] if stall is not None and i >= stall[0] else 0.0)
        while timer.due is not None and timer.due <= t:
            now[0], timer.due = timer.due, None
            timer.fire()
        now[0] = t
        acc.add(event)
        view.event(event)
        arrivals.append(t)
    while timer.due is not None:
        now[0], timer.due = timer.due, None
        timer.fire()
    span = now[0]
    final = _wire_size(*render_result(acc.snapshot(elapsed=span)))
    times = [t for t, _ in frames]
    # How long each token waited for a frame that shows it.
    waits, j = [], 0
    for a in arrivals:
        while j < len(times) and times[j] < a:
            j += 1
        waits.append((times[j] if j < len(times) else span) - a)
    gaps = sorted(b - a for a, b in zip(times[1:], times[2:], strict=False))
    answer_at = (len(events) - len(tokenize(answer_text(answer_tokens)))) / rate
    return {
        "rate": rate,
        "tokens": tokens,
        "seconds": span,
        "frames": len(frames),
        "bytes": sum(b for _, b in frames) + sum(sheet) + final,
        "final_bytes": final,
        "early_per_s": _rate(times, 0.0, min(4.0, span / 4)),
        "late_per_s": _rate(times, span / 2, span),
        "answer_per_s": _rate(times, answer_at, span),
        "reasoning_per_s": _rate(times, 0.0, answer_at),
        "p95_gap": gaps[int(0.95 * (len(gaps) - 1))] if gaps else None,
        "max_wait": max(waits),
        "trailing": view.trailing,
        "per_second": [sum(int(t) == s for t in times) for s in range(int(span) + 1)],
    }


def run(
    sizes: list[int],
    realistic_rate: float,
    realistic_tokens: int,
    sustained_tokens: int,
    simulated: tuple[float, int] = (40.0, 4000),
    short: tuple[float, int] = (10.0, 300),
) -> tuple[list[Figure], dict[str, Any]]:
    shell, publisher = magic_shell()
    with served([make_reply(n) for n in sizes]) as url:
        sweep = [_one(shell, publisher, url, n) for n in sizes]
    with served([make_reply(realistic_tokens)], token_rate=realistic_rate) as url:
        real = _one(shell, publisher, url, realistic_tokens)
    with served([make_reply(sustained_tokens)], token_rate=realistic_rate) as url:
        long = _one(shell, publisher, url, sustained_tokens)
    span = long["seconds"]
    early = _rate(long["live_times"], 0.0, min(4.0, span / 4))
    late = _rate(long["live_times"], span / 2, span)
    sim = simulate(*simulated)
    slow = simulate(*short)
    # R1's shape: 60 s at 40 tokens/s, three quarters reasoning; at 10, 40 and 200 tokens/s,
    # and at 40 with a 2 s stall in the middle of the reasoning.
    shaped = {r: simulate(r, simulated[1], answer_share=0.25) for r in (10.0, 40.0, 200.0)}
    stalled = simulate(40.0, simulated[1], answer_share=0.25, stall=(simulated[1] // 3, 2.0))

    big = [s for s in sweep if s["tokens"] >= 4000] or sweep
    growth = slope([s["tokens"] for s in big], [s["bytes"] for s in big]) if len(big) > 1 else None
    worst = max(sweep, key=lambda s: s["bytes"] / s["final_bytes"])
    figures = [
        Figure(
            "traffic.sweep.slope",
            f"growth of total bytes, {sizes[0]:,} to {sizes[-1]:,} tokens (log-log slope)",
            growth,
            "",
            "1 = linear, 2 = quadratic",
            "<= 1.1 (linear)",
            1.1,
        ),
        Figure(
            "traffic.sweep.worst_bytes_ratio",
            "worst total bytes / final output over the sweep",
            worst["bytes"] / worst["final_bytes"],
            "x",
            f"at {worst['tokens']:,} tokens",
            "<= 20x",
            20.0,
        ),
        Figure(
            "traffic.sweep.worst_peak_per_s",
            "most display messages in any 1 s over the sweep",
            max(s["peak_per_s"] for s in sweep),
            "/s",
            "",
            f"<= {RATE_LIMIT}/s",
            RATE_LIMIT,
        ),
        Figure(
            "traffic.sweep.live_budget_use",
            "live-frame bytes / the live view's byte budget (worst)",
            max(s["live_bytes"] / s["live_budget"] for s in sweep),
            "x",
            f"{DEFAULT_BYTE_FACTOR} B/char + {DEFAULT_BYTE_ALLOWANCE // 1000} KB",
            "<= 1",
            1.0,
            note="bytes as JSON on the wire, a little more than the view's own count",
        ),
        Figure(
            "traffic.realistic.peak_per_s",
            f"most display messages in any 1 s at {realistic_rate:g} tokens/s",
            real["peak_per_s"],
            "/s",
            "",
            f"<= {RATE_LIMIT}/s",
            RATE_LIMIT,
            note=f"{real['messages']} messages over {real['seconds']:.1f} s",
        ),
        Figure(
            "traffic.realistic.mean_per_s",
            f"display messages per second at {realistic_rate:g} tokens/s",
            real["mean_per_s"],
            "/s",
            note="messages / seconds between the first and the last",
        ),
        Figure(
            "traffic.realistic.bytes_ratio",
            "total bytes / final output at that rate",
            real["bytes"] / real["final_bytes"],
            "x",
            f"final output {real['final_bytes']:,} B",
            "<= 20x",
            20.0,
        ),
        Figure(
            "traffic.sustained.peak_per_s",
            f"{sustained_tokens:,} tokens at {realistic_rate:g} tokens/s: "
            "most display messages in any 1 s",
            long["peak_per_s"],
            "/s",
            "",
            f"<= {RATE_LIMIT}/s",
            RATE_LIMIT,
            note=f"{long['messages']} messages over {span:.1f} s",
        ),
        Figure(
            "traffic.sustained.early_per_s",
            "live updates per second, first seconds",
            early,
            "/s",
            note=f"0 to {min(4.0, span / 4):.1f} s",
        ),
        Figure(
            "traffic.sustained.late_per_s",
            "live updates per second, second half",
            late,
            "/s",
            f"early {early:.1f}/s",
            note="lower once the byte budget binds (see Observations)",
        ),
        Figure(
            "traffic.sustained.bytes_ratio",
            "total bytes / final output, sustained",
            long["bytes"] / long["final_bytes"],
            "x",
            f"final output {long['final_bytes']:,} B",
            "<= 20x",
            20.0,
        ),
    ]
    figures += [
        Figure(
            "traffic.simulated.late_per_s",
            f"simulated {sim['rate']:g} tokens/s for {sim['seconds']:.0f} s: "
            "live updates per second, second half",
            sim["late_per_s"],
            "/s",
            f"early {sim['early_per_s']:.1f}/s",
            note="fake clock; the magic's LiveView and renderer",
        ),
        Figure(
            "traffic.simulated.bytes_ratio",
            "simulated: total bytes / final output",
            sim["bytes"] / sim["final_bytes"],
            "x",
            f"final output {sim['final_bytes']:,} B",
            "<= 20x",
            20.0,
        ),
        Figure(
            "traffic.simulated_short.bytes_ratio",
            f"simulated short reply, {slow['tokens']} tokens at "
            f"{slow['rate']:g} tokens/s: total bytes / final output",
            slow["bytes"] / slow["final_bytes"],
            "x",
            f"final output {slow['final_bytes']:,} B",
            "<= 20x",
            20.0,
            note=f"{slow['frames']} frames over {slow['seconds']:.0f} s",
        ),
    ]
    for r, res in shaped.items():
        figures.append(
            Figure(
                f"traffic.rate{r:g}.bytes_ratio",
                f"simulated {r:g} tokens/s, R1's shape "
                f"({res['tokens']:,} tokens, 3/4 reasoning): total bytes / final output",
                res["bytes"] / res["final_bytes"],
                "x",
                f"final output {res['final_bytes']:,} B",
                "<= 20x",
                20.0,
                note=f"{res['frames']} frames over {res['seconds']:.0f} s",
            )
        )
        figures.append(
            Figure(
                f"traffic.rate{r:g}.fps",
                f"simulated {r:g} tokens/s: frames per second (reasoning / answer)",
                res["frames"] / res["seconds"],
                "/s",
                f"{res['reasoning_per_s']:.1f} / {res['answer_per_s']:.1f}",
                ">= 8" if r == 40.0 else "",
                8.0 if r == 40.0 else None,
                higher_is_better=True,
            )
        )
    figures.append(
        Figure(
            "traffic.stall.max_wait",
            "simulated 40 tokens/s with a 2 s stall: longest a token waits for a frame",
            stalled["max_wait"] * 1000,
            "ms",
            "",
            "<= 150 ms",
            150.0,
            note=f"{stalled['trailing']} frames sent by the timer",
        )
    )
    return figures, {
        "shaped": shaped,
        "stalled": stalled,
        "simulated": sim,
        "simulated_short": slow,
        "sweep": sweep,
        "realistic": {**real, "rate": realistic_rate},
        "sustained": {**long, "rate": realistic_rate, "early_per_s": early, "late_per_s": late},
    }
