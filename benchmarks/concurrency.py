"""3. Concurrency: many prompts against a server whose first token takes a while.

The emulator waits ``latency`` seconds before each reply's first token (as R1 does
while it queues and starts thinking) and then streams a short reply at full speed.
Compared: one ``ask()``; the same prompts one after the other with ``ask()``; all at
once with ``asyncio.gather(*(aask(p) for p in prompts))``; and the panel's compare
when ``deepseek_magic.notebook._panel`` exists. Goal: the concurrent wall time within 1.3x of
one request's.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from ._common import PROMPT, Figure, median
from ._corpus import make_reply
from ._emu import served

__all__ = ["run"]


def run(
    prompts: int, latency: float, tokens: int, singles: int = 3
) -> tuple[list[Figure], dict[str, Any]]:
    import deepseek_magic
    from deepseek_magic.core._session import Session

    session = Session()
    questions = [f"{PROMPT} (variant {i})" for i in range(prompts)]
    reply = make_reply(tokens)
    compare = None
    try:
        from . import _panel_driver

        compare = _panel_driver.comparer
    except ImportError:
        pass
    count = 1 + singles + prompts + prompts + (prompts if compare else 0)
    with served([reply] * count, first_token_latency=latency) as url:
        deepseek_magic.ask("warm-up", base_url=url, session=session)  # pool, imports
        one = []
        for _ in range(singles):
            t = time.perf_counter()
            deepseek_magic.ask(PROMPT, base_url=url, session=session)
            one.append(time.perf_counter() - t)
        t = time.perf_counter()
        for q in questions:
            deepseek_magic.ask(q, base_url=url, session=session)
        sequential = time.perf_counter() - t

        async def together() -> list[Any]:
            return await asyncio.gather(
                *(deepseek_magic.aask(q, base_url=url, session=session) for q in questions)
            )

        t = time.perf_counter()
        results = asyncio.run(together())
        gathered = time.perf_counter() - t
        if len(results) != prompts or any(
            len(r.answer.strip()) != len(reply.answer.strip()) for r in results
        ):
            raise RuntimeError("the concurrent replies are not the scripted ones")
        panel_s, panel_runs = None, 0
        if compare is not None:
            t = time.perf_counter()
            panel_runs = compare(url, questions)
            panel_s = time.perf_counter() - t

    single = median(one)
    base = f"one request {single:.2f} s"
    figures = [
        Figure("concurrency.one_s", f"one request (first token after {latency:g} s)", single, "s"),
        Figure(
            "concurrency.sequential_s",
            f"{prompts} prompts one after the other",
            sequential,
            "s",
            base,
            note=f"{sequential / single:.1f}x one request",
        ),
        Figure(
            "concurrency.gather_s",
            f"{prompts} prompts, asyncio.gather(aask(...))",
            gathered,
            "s",
            base,
        ),
        Figure(
            "concurrency.gather_ratio",
            "concurrent / one request",
            gathered / single,
            "x",
            base,
            "<= 1.3x",
            1.3,
        ),
        Figure(
            "concurrency.panel_ratio",
            f"panel Compare of {panel_runs or '-'} runs / one request",
            None if panel_s is None else panel_s / single,
            "x",
            base,
            "<= 1.3x",
            1.3,
            note=(
                f"{panel_s:.2f} s; the panel compares at most {panel_runs} settings at once"
                if panel_s is not None
                else "deepseek_magic.notebook._panel is not available"
            ),
        ),
    ]
    return figures, {
        "prompts": prompts,
        "latency": latency,
        "tokens": tokens,
        "one": one,
        "sequential": sequential,
        "gather": gathered,
        "panel": panel_s,
        "panel_runs": panel_runs,
    }
