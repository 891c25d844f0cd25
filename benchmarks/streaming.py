"""1. Streaming overhead: one long reply streamed as fast as the emulator sends it.

Variants, interleaved round by round (the order rotates so none always runs first):

* ``baseline``: :func:`_common.baseline_stream`, plain httpx + ``json.loads``;
* ``ask``: ``deepseek_magic.ask()`` (events, accumulator, Result, history);
* ``magic``: ``%%deepseek`` in a real InteractiveShell with the live view, its display
  messages counted (and JSON-encoded, as a kernel would) instead of printed;
* ``panel``: the ipywidgets panel's Send, when ``deepseek_magic.notebook._panel`` exists.

Each variant's CPU seconds (this process only: the emulator runs in its own process)
and wall seconds are the median over the rounds; the figures are ratios to the
baseline's medians.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx

from ._common import PROMPT, Figure, Timing, baseline_stream, magic_shell, median, run_magic, timed
from ._corpus import make_reply
from ._emu import served

__all__ = ["run"]


def _panel_runner(base_url: str) -> Callable[[], tuple[str, str]] | None:
    """Send from the panel and wait for its reply, or None when there is no panel yet."""
    try:
        from . import _panel_driver
    except ImportError:
        return None
    return _panel_driver.sender(base_url)


def run(tokens: int, rounds: int) -> tuple[list[Figure], dict[str, Any]]:
    import deepseek_magic
    from deepseek_magic.core._session import Session

    reply = make_reply(tokens)
    expected = (len(reply.reasoning.strip()), len(reply.answer.strip()))
    session = Session()
    shell, publisher = magic_shell()
    traffic: list[dict[str, Any]] = []

    def check(reasoning: str, answer: str) -> None:
        # Each request must have streamed the scripted reply, not the emulator's default.
        if (len(reasoning.strip()), len(answer.strip())) != expected:
            raise RuntimeError(
                f"unexpected reply size {(len(reasoning), len(answer))}, wanted {expected}"
            )

    variants: dict[str, Callable[[], Any]] = {}
    with served([reply] * ((rounds + 1) * 4)) as url, httpx.Client() as http:
        variants["baseline"] = lambda: check(*baseline_stream(http, url))

        def ask() -> None:
            r = deepseek_magic.ask(PROMPT, base_url=url, session=session)
            check(r.reasoning, r.answer)

        def magic() -> None:
            from ._common import frames_summary

            publisher.reset()
            r = run_magic(shell, url)
            check(r.reasoning, r.answer)
            traffic.append(frames_summary(publisher.messages, publisher.sheet))

        variants["ask"], variants["magic"] = ask, magic
        panel = _panel_runner(url)
        if panel is not None:
            variants["panel"] = lambda: check(*panel())
        # One warm-up each: imports, connection pools, the renderer's first use.
        for fn in variants.values():
            fn()
        traffic.clear()
        times: dict[str, list[Timing]] = {name: [] for name in variants}
        names = list(variants)
        for i in range(rounds):
            order = names[i % len(names) :] + names[: i % len(names)]
            for name in order:
                timing, _ = timed(variants[name])
                times[name].append(timing)

    med = {
        name: (median(t.cpu for t in ts), median(t.wall for t in ts)) for name, ts in times.items()
    }
    base_cpu, base_wall = med["baseline"]
    base = f"baseline {base_cpu:.3f} s CPU / {base_wall:.3f} s wall"
    figures = [
        Figure(
            "streaming.baseline.cpu_s",
            f"baseline (httpx + json.loads) CPU, {tokens:,} tokens",
            base_cpu,
            "s",
            note="the floor for Python + httpx",
        ),
        Figure("streaming.baseline.wall_s", "baseline wall", base_wall, "s"),
    ]
    goals = {"ask": 1.3, "magic": 2.0, "panel": 2.0}
    labels = {"ask": "ask()", "magic": "%%deepseek (live view)", "panel": "panel Send"}
    for name in ("ask", "magic", "panel"):
        if name not in med:
            for kind in ("cpu", "wall"):
                figures.append(
                    Figure(
                        f"streaming.{name}.{kind}_ratio",
                        f"{labels[name]} {kind.upper()} / baseline",
                        None,
                        "x",
                        base,
                        f"<= {goals[name]}x",
                        goals[name],
                        note="deepseek_magic.notebook._panel is not available",
                    )
                )
            continue
        cpu, wall = med[name]
        figures.append(
            Figure(
                f"streaming.{name}.cpu_ratio",
                f"{labels[name]} CPU / baseline",
                cpu / base_cpu,
                "x",
                base,
                f"<= {goals[name]}x",
                goals[name],
                note=f"{cpu:.3f} s CPU",
            )
        )
        figures.append(
            Figure(
                f"streaming.{name}.wall_ratio",
                f"{labels[name]} wall / baseline",
                wall / base_wall,
                "x",
                base,
                f"<= {goals[name]}x",
                goals[name],
                note=f"{wall:.3f} s wall",
            )
        )
    raw = {
        "tokens": tokens,
        "reply_chars": len(reply.reasoning) + len(reply.answer),
        "rounds": rounds,
        "runs": {name: [{"cpu": t.cpu, "wall": t.wall} for t in ts] for name, ts in times.items()},
        "medians": {name: {"cpu": c, "wall": w} for name, (c, w) in med.items()},
        "magic_traffic": traffic,
    }
    return figures, raw
