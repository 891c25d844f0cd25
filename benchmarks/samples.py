"""8. Self-consistency at scale: many requests at once, as ``map(samples=k)`` sends them.

The emulator (its own process) streams each reply at ``rate`` tokens a second after a
``latency`` first-token wait, as R1 does, and takes every request at once (no limit).
Measured in the same run: one request (``aask()``); the naive way, ``asyncio.gather`` of
``rows`` ``aask()`` calls; ``map()`` over ``rows`` rows at concurrency ``rows`` (capped
at map's own limit); and ``map(samples=k)`` over ``rows / k`` rows (the same number of
requests). Wall times are ratios to one request's; client CPU (this process only) per
streamed token is a ratio to the gather's. Goals (issue 24): ``map()`` within 1.3x of one
request when the server takes them all, client CPU per token within 1.2x of ``aask()``'s.

What it found on 2026-12-07 (2 cores, load ~6 from the other sessions): the gather of 256
took 1.9x one request, ``map()`` 5.2x at 4.9 s of client CPU against the gather's 1.4 s.
Swapping the run's gate for a plain semaphore changed nothing (5.9x); giving ``map()`` a
client whose pool has no connection cap (``client=``) took it to 3.6x: the session's
``AsyncClient`` caps its pool at 64 connections (``client/_http.py``), so 256 rows run in
four waves; and a profile puts most of the remaining CPU in httpcore's pool
(``_assign_requests_to_connections`` scans every connection for every request: ~4 million
``is_idle`` calls for 256 rows), a cost the gather avoids because each ``aask()`` has a
client of its own. Both are the engine's (issue 20), not the gate's. Later that day the
session's ``AsyncClient`` lost its connection cap (a gather of 100 ``aask()`` calls is now
all in flight at once: ``tests/test_concurrency.py``); this benchmark has not been run
again since, and httpcore's pool scan remains.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from ._common import PROMPT, Figure, median
from ._corpus import make_reply
from ._emu import served

__all__ = ["run"]

#: map()'s own cap on concurrency today (batch/_batch.py)
MAP_CAP = 256


def _timed(action: Any) -> tuple[float, float, Any]:
    wall, cpu = time.perf_counter(), time.process_time()
    value = action()
    return time.perf_counter() - wall, time.process_time() - cpu, value


def run(
    rows: int, k: int, latency: float, rate: float, tokens: int, singles: int = 3
) -> tuple[list[Figure], dict[str, Any]]:
    import pandas as pd

    import deepseek_magic as dm
    from deepseek_magic.core._session import Session

    session = Session()
    concurrency = min(rows, MAP_CAP)
    count = 2 + singles + rows * 3
    reply = make_reply(tokens)
    with served([reply] * count, token_rate=rate, first_token_latency=latency) as url:
        dm.ask("warm-up", base_url=url, session=session)
        warm = pd.DataFrame({"question": ["warm-up map"]})  # imports, the loop thread
        dm.map(warm, "{question}", base_url=url, session=session, run_file=None, progress=False)
        one = [
            _timed(lambda: asyncio.run(dm.aask(PROMPT, base_url=url, session=session)))[0]
            for _ in range(singles)
        ]
        single = median(one)
        questions = [f"{PROMPT} (row {i})" for i in range(rows)]

        async def gathered() -> list[Any]:
            return await asyncio.gather(
                *(dm.aask(q, base_url=url, session=session) for q in questions)
            )

        g_wall, g_cpu, g_results = _timed(lambda: asyncio.run(gathered()))
        frame = pd.DataFrame({"question": questions})
        m_wall, m_cpu, m_out = _timed(
            lambda: dm.map(
                frame, "{question}", base_url=url, session=session, concurrency=concurrency,
                run_file=None, progress=False,
            )
        )  # fmt: skip
        few = pd.DataFrame({"question": [f"{PROMPT} (sampled {i})" for i in range(rows // k)]})
        s_wall, s_cpu, s_out = _timed(
            lambda: dm.map(
                few, "{question}", base_url=url, session=session, concurrency=concurrency,
                run_file=None, progress=False, samples=k,
            )
        )  # fmt: skip
    streamed = rows * tokens
    ok = (
        sum(1 for r in g_results if r.ok),
        int((m_out["error"] == "").sum()),
        int((s_out["error"] == "").sum()),
    )
    raw = {
        "rows": rows,
        "k": k,
        "latency": latency,
        "rate": rate,
        "tokens": tokens,
        "one_request_s": single,
        "gather_s": g_wall,
        "map_s": m_wall,
        "samples_s": s_wall,
        "cpu_gather_s": g_cpu,
        "cpu_map_s": m_cpu,
        "cpu_samples_s": s_cpu,
        "answered": ok,
        "map_concurrency": concurrency,
    }
    base = f"one request {single:.2f} s"
    figures = [
        Figure(
            "samples.gather",
            f"asyncio.gather of {rows} aask() / one request",
            g_wall / single,
            "x",
            base,
        ),
        Figure(
            "samples.map",
            f"map() over {rows} rows at concurrency {concurrency} / one request",
            m_wall / single,
            "x",
            base,
            "<= 1.3x",
            1.3,
        ),
        Figure(
            "samples.samples",
            f"map(samples={k}) over {rows // k} rows ({rows} requests) / one request",
            s_wall / single,
            "x",
            base,
            "<= 1.3x",
            1.3,
        ),
        Figure(
            "samples.cpu",
            "map() client CPU per streamed token / the gather's",
            (m_cpu / streamed) / (g_cpu / streamed) if g_cpu else None,
            "x",
            f"gather {g_cpu / streamed * 1e6:.0f} µs per token",
            "<= 1.2x",
            1.2,
        ),
        Figure(
            "samples.cpu_samples",
            f"map(samples={k}) client CPU per streamed token / the gather's",
            (s_cpu / streamed) / (g_cpu / streamed) if g_cpu else None,
            "x",
            f"gather {g_cpu / streamed * 1e6:.0f} µs per token",
            "<= 1.2x",
            1.2,
        ),
    ]
    return figures, raw
