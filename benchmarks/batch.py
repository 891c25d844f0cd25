"""6. Batch runs: ``deepseek_magic.map()`` over thousands of rows.

* Throughput: the emulator (its own process) serves at most ``capacity`` requests at
  once and answers one more with an immediate 429 (DeepSeek's dynamic-concurrency limit;
  no Retry-After). Its capacity in rows/s is measured with a client that knows the limit
  (``capacity`` workers, each sending its next row when the last is answered). Then
  ``map()`` at concurrency 32 (four times the limit) over the rows: rows/s as a fraction
  of that capacity (goal >= 0.9), the 429s it met, and the TCP connections it opened
  (the emulator's ``/health`` counts them; goal <= 32: one a worker). Then the naive way,
  over the same rows: ``asyncio.gather`` of one ``aask()`` per row (the client's own
  retries: two, with backoff): its 429s and failed rows. A second ``map()`` run meets 429s
  that carry ``Retry-After: 1`` (the whole run pauses a second at each).
* Exactly-once: an in-process emulator whose replies fail at random (seeded): 8% of
  streams cut after a few tokens, 5% refused with 503 before the first byte, and storms
  of 40 consecutive 500s; ``map()`` is interrupted (``_thread.interrupt_main``, what the
  kernel's stop button does) at a random moment, again and again, and run again until
  every row is answered. Counted from the run file and the emulator's log: rows answered
  (each once: the run file's key is the request), requests sent, and rows whose reply the
  server completed twice (paid twice: goal 0 among the rows that were not in flight at an
  interrupt; a row in flight is cancelled at once, and its reply may have been complete
  on the server's side); and the longest time from an interrupt to the partial DataFrame.
* Scale: ``map()`` over 10,000 rows against the emulator in its own process (four tokens
  a chunk), at concurrency 8: client CPU seconds per row against ``aask()``'s per row (8 at
  a time on one client: the same async stack without the run file, the gate and the
  bookkeeping) measured in the same run (goal <= 1.25x); the growth of resident memory
  per row at the run's peak (sampled every 20 ms; goal <= 4 KB per row: memory grows with
  the rows kept, not with the run's history) and what is kept after it; and the longest
  gap between two updates of the progress bar on the calling thread (what the stop
  button needs: goal <= 0.5 s).
"""

from __future__ import annotations

import _thread
import asyncio
import gc
import os
import random
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from ._common import Figure
from ._emu import served

__all__ = ["run"]

CAPACITY = 8


def _reply(i: int) -> Any:
    from deepseek_magic.emulator import Reply

    return Reply(
        reasoning=f"Row {i}: add the two numbers, check the carry, and state the sum briefly. " * 2,
        answer=f"The answer for row {i} is {i * 7}.",
    )


def _rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _questions(n: int, tag: str) -> list[str]:
    return [f"{tag} question {i}: what is {i} + {i * 6}?" for i in range(n)]


# ---------------------------------------------------------------------- throughput
def _throughput(rows: int, latency: float) -> tuple[list[Figure], dict[str, Any]]:
    import deepseek_magic as dm
    from deepseek_magic.batch._batch import map_rows
    from deepseek_magic.client._http import AsyncClient
    from deepseek_magic.core._session import Session

    session = Session()
    sample = max(CAPACITY * 4, rows // 5)
    script = [_reply(i) for i in range(sample + 3 * rows + 200)]
    extra = ["--max-concurrent", str(CAPACITY)]
    raw: dict[str, Any] = {"rows": rows, "capacity_limit": CAPACITY, "latency": latency}
    with served(script, token_rate=2000, first_token_latency=latency, extra_args=extra) as url:
        dm.ask("warm-up", base_url=url, session=session)

        async def knows_the_limit() -> float:
            todo = _questions(sample, "capacity")
            client = AsyncClient()

            async def worker() -> None:
                while todo:
                    await dm.aask(todo.pop(), base_url=url, session=session, client=client)

            t = time.perf_counter()
            await asyncio.gather(*(worker() for _ in range(CAPACITY)))
            took = time.perf_counter() - t
            await client.aclose()
            return sample / took

        before = _connections(url)
        capacity = asyncio.run(knows_the_limit())
        capacity_conns = _connections(url) - before - 1
        before = _connections(url)
        with tempfile.TemporaryDirectory() as tmp:
            t = time.perf_counter()
            out = map_rows(
                _questions(rows, "map"),
                None,
                base_url=url,
                session=session,
                concurrency=32,
                run_file=Path(tmp) / "run.sqlite",
                progress=False,
            )
            took = time.perf_counter() - t
        map_conns = _connections(url) - before - 1
        map_rate = rows / took
        map_failed = int((out["error"] != "").sum())
        raw.update(capacity_rows_s=capacity, map_rows_s=map_rate, map_s=took, map_failed=map_failed)
        raw.update(capacity_connections=capacity_conns, map_connections=map_conns)

        async def naive() -> list[Any]:
            return await asyncio.gather(
                *(dm.aask(q, base_url=url, session=session) for q in _questions(rows, "naive")),
                return_exceptions=True,
            )

        from deepseek_magic.client import _http as _client

        statuses: list[int] = []
        original = _client._status_exception

        def counted(
            response: Any, raw: bytes, key: str | None
        ) -> Any:  # every HTTP error the client saw
            statuses.append(response.status_code)
            return original(response, raw, key)

        _client._status_exception = counted  # type: ignore[assignment]
        try:
            t = time.perf_counter()
            results = asyncio.run(naive())
            naive_s = time.perf_counter() - t
        finally:
            _client._status_exception = original  # type: ignore[assignment]
        raw["naive_429"] = statuses.count(429)
        naive_failed = sum(isinstance(r, BaseException) for r in results)
        raw.update(
            naive_s=naive_s, naive_failed=naive_failed, naive_rows_s=(rows - naive_failed) / naive_s
        )
    map_429 = _throttled_in(out)
    raw["map_429"] = map_429
    # The same, with Retry-After: 1 on every 429.
    ra_rows = max(40, rows // 4)
    with served(
        [_reply(i) for i in range(ra_rows * 2 + 50)],
        token_rate=2000,
        first_token_latency=latency,
        extra_args=extra + ["--busy-retry-after", "1"],
    ) as url:
        dm.ask("warm-up", base_url=url, session=session)
        with tempfile.TemporaryDirectory() as tmp:
            t = time.perf_counter()
            out_ra = map_rows(
                _questions(ra_rows, "ra"),
                None,
                base_url=url,
                session=session,
                concurrency=32,
                run_file=Path(tmp) / "run.sqlite",
                progress=False,
            )
            ra_took = time.perf_counter() - t
    raw.update(
        ra_rows=ra_rows,
        ra_rows_s=ra_rows / ra_took,
        ra_failed=int((out_ra["error"] != "").sum()),
        ra_429=_throttled_in(out_ra),
    )
    base = f"capacity {capacity:.1f} rows/s"
    figures = [
        Figure(
            "batch.capacity_rows_s",
            f"emulator capacity ({CAPACITY} at once, a client that knows it)",
            capacity,
            "rows/s",
        ),
        Figure(
            "batch.map_share",
            f"map() over {rows:,} rows at concurrency 32 / capacity",
            map_rate / capacity,
            "x",
            base,
            ">= 0.9x",
            0.9,
            higher_is_better=True,
            note=f"{map_rate:.1f} rows/s, {map_429} refused with 429, {map_failed} rows failed",
        ),
        Figure(
            "batch.map_connections",
            f"TCP connections map() opened for {rows:,} rows at concurrency 32",
            float(map_conns),
            "connections",
            f"{capacity_conns} for the capacity run's {sample:,} rows",
            "<= 32",
            32.0,
            note="a connection is reused once a reply's body has been read to its end",
        ),
        Figure(
            "batch.naive_share",
            "asyncio.gather(aask()) over the same rows / capacity",
            raw["naive_rows_s"] / capacity,
            "x",
            base,
            note=f"{raw['naive_429']:,} refused with 429; {naive_failed:,} of {rows:,} rows failed "
            "(still 429 after the client's two retries)",
        ),
        Figure("batch.naive_failed", "rows the naive gather lost", float(naive_failed), "rows"),
        Figure(
            "batch.map_retry_after_share",
            f"map() over {ra_rows:,} rows, 429s with Retry-After: 1 / capacity",
            raw["ra_rows_s"] / capacity,
            "x",
            base,
            note=f"{raw['ra_429']} refused; the whole run pauses 1 s at each",
        ),
    ]
    return figures, raw


def _connections(url: str) -> int:
    """Connections the emulator has accepted so far (this question opens one more)."""
    import httpx

    return int(httpx.get(url.removesuffix("/v1") + "/health").json()["connections"])


def _throttled_in(frame: Any) -> int:
    """The 429s and 503s the run met (map() keeps its counts in the DataFrame's attrs)."""
    return int(frame.attrs["throttled"])


# ---------------------------------------------------------------------- exactly once
def _exactly_once(rows: int, seed: int = 15) -> tuple[list[Figure], dict[str, Any]]:
    from deepseek_magic.batch._batch import map_rows
    from deepseek_magic.batch._runfile import RunFile
    from deepseek_magic.core._session import Session
    from deepseek_magic.emulator import Emulator, Fault, Reply

    rng = random.Random(seed)
    lock = threading.Lock()
    storm = [0]

    def responder(body: dict[str, Any]) -> Any:
        with lock:
            if storm[0] > 0:
                storm[0] -= 1
                return Fault("status", status=500)
            roll = rng.random()
            if roll < 0.01:
                storm[0] = 40
                return Fault("status", status=500)
            if roll < 0.06:
                return Fault("status", status=503)
            if roll < 0.14:
                return Fault("drop", after_tokens=3)
        return Reply(
            reasoning="Work it out step by step. " * 3,
            answer="done " + body["messages"][-1]["content"],
        )

    session = Session()
    questions = _questions(rows, "once")
    interrupts = runs = 0
    in_flight: set[str] = set()  # rows in flight at an interrupt (their replies may be complete)
    stops: list[float] = []
    fired: list[float] = []

    def interrupt() -> None:
        fired.append(time.perf_counter())
        _thread.interrupt_main()

    with (
        Emulator(responder=responder, first_token_latency=0.01, token_delay=0.001) as emu,
        tempfile.TemporaryDirectory() as tmp,
    ):
        path = Path(tmp) / "run.sqlite"
        while True:
            runs += 1
            if runs == 1:  # the first run always stops midway; later ones at random moments
                timer = threading.Thread(
                    target=lambda: emu.wait_for_requests(rows // 3, 30) and interrupt(), daemon=True
                )
            else:
                timer = threading.Timer(rng.uniform(0.2, 1.2), interrupt)
            timer.start()
            try:
                try:
                    out = map_rows(
                        questions,
                        None,
                        base_url=emu.base_url,
                        session=session,
                        concurrency=8,
                        run_file=path,
                        progress=False,
                    )
                finally:
                    if isinstance(timer, threading.Timer):
                        timer.cancel()
                if (out["error"] == "").all() or runs > 200:
                    break
            except KeyboardInterrupt as exc:
                part = getattr(exc, "partial_frame", None)  # map() raises Interrupted
                if part is None:  # fired before the run started or just as it returned: again
                    continue
                stops.append(time.perf_counter() - fired[-1])
                interrupts += 1
                in_flight.update(
                    q for q, e in zip(questions, part["error"], strict=True) if e == "interrupted"
                )
        try:  # an interrupt that fired just as the last run returned
            time.sleep(0.01)
        except KeyboardInterrupt:
            pass
        emu.wait_idle(timeout=10)
        log = emu.request_log
        with RunFile(path) as store:
            counts = store.counts()
    paid: dict[str, int] = {}
    for record in log:
        if record.status == 200 and record.completed and isinstance(record.script, Reply):
            q = record.body["messages"][-1]["content"]
            paid[q] = paid.get(q, 0) + 1
    twice = [q for q, n in paid.items() if n > 1]
    unexplained = [q for q in twice if q not in in_flight]
    answered = int((out["error"] == "").sum())
    raw = {
        "rows": rows,
        "runs": runs,
        "interrupts": interrupts,
        "requests": len(log),
        "answered": answered,
        "run_file": counts,
        "paid_twice": len(twice),
        "paid_twice_unexplained": len(unexplained),
        "in_flight_at_interrupts": len(in_flight),
        "completed_replies": sum(paid.values()),
        "stop_s": stops,
    }
    figures = [
        Figure(
            "batch.once.unanswered",
            f"rows not answered after {runs} runs ({interrupts} interrupted)",
            float(rows - answered),
            "rows",
            f"{rows} rows",
            "0",
            0.0,
            note=f"run file: {counts}",
        ),
        Figure(
            "batch.once.requests_per_row",
            "requests sent per row (faults and interrupts included)",
            len(log) / rows,
            "x",
            f"{rows} rows",
            note=f"{len(log):,} requests; {sum(paid.values()):,} replies completed by the server",
        ),
        Figure(
            "batch.once.paid_twice",
            "rows paid twice, among those not in flight at an interrupt",
            float(len(unexplained)),
            "rows",
            f"{rows - len(in_flight)} rows",
            "0",
            0.0,
            note=f"{len(twice)} of the {len(in_flight)} rows in flight at an interrupt had a "
            "reply the "
            "server completed just before the stop; they were sent again",
        ),
        Figure(
            "batch.once.stop_s",
            f"longest stop: the interrupt to the partial DataFrame ({interrupts} stops)",
            max(stops, default=None),
            "s",
            "",
            "<= 1 s",
            1.0,
        ),
    ]
    return figures, raw


# ---------------------------------------------------------------------- scale
def _scale(rows: int, ask_rows: int) -> tuple[list[Figure], dict[str, Any]]:
    import deepseek_magic as dm
    from deepseek_magic.batch import _report
    from deepseek_magic.batch._batch import map_rows
    from deepseek_magic.client._http import AsyncClient
    from deepseek_magic.core._session import Session

    session = Session()
    script = [_reply(i) for i in range(rows + ask_rows + 10)]
    text_per_row = sum(len(r.reasoning) + len(r.answer) for r in script[:100]) / 100
    gaps: list[float] = []
    original = _report.Bar.update

    def watched(self: Any, runner: Any, *, force: bool = False) -> None:
        gaps.append(time.perf_counter())
        original(self, runner, force=force)

    with served(script, extra_args=["--tokens-per-chunk", "4"]) as url:
        dm.ask("warm-up", base_url=url, session=session)

        async def gathered() -> None:
            client = AsyncClient()
            gate = asyncio.Semaphore(8)

            async def one(q: str) -> None:
                async with gate:
                    await dm.aask(q, base_url=url, session=session, client=client)

            await asyncio.gather(*(one(q) for q in _questions(ask_rows, "aask")))
            await client.aclose()

        c0 = time.process_time()
        asyncio.run(gathered())
        ask_cpu = (time.process_time() - c0) / ask_rows
        session.history.clear()
        gc.collect()
        before = _rss()
        peak = [before]
        sampling = threading.Event()

        def sample() -> None:  # the resident size while the run goes, every 20 ms
            while not sampling.wait(0.02):
                peak[0] = max(peak[0], _rss())

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        _report.Bar.update = watched  # type: ignore[method-assign]
        try:
            with tempfile.TemporaryDirectory() as tmp:
                c0, t0 = time.process_time(), time.perf_counter()
                frame = map_rows(
                    _questions(rows, "scale"),
                    None,
                    base_url=url,
                    session=session,
                    concurrency=8,
                    run_file=Path(tmp) / "run.sqlite",
                    progress=False,
                )
                map_cpu = (time.process_time() - c0) / rows
                wall = time.perf_counter() - t0
        finally:
            _report.Bar.update = original  # type: ignore[method-assign]
            sampling.set()
            sampler.join()
        gc.collect()
        kept = max(0, _rss() - before)
        grew = max(0, peak[0] - before)
        failed = int((frame["error"] != "").sum())
    longest = max((b - a for a, b in zip(gaps, gaps[1:], strict=False)), default=0.0)
    raw = {
        "rows": rows,
        "ask_rows": ask_rows,
        "aask_cpu_ms": ask_cpu * 1e3,
        "map_cpu_ms": map_cpu * 1e3,
        "wall_s": wall,
        "kept_bytes": kept,
        "text_per_row": text_per_row,
        "failed": failed,
        "bar_updates": len(gaps),
        "longest_gap_s": longest,
        "peak_growth_bytes": grew,
    }
    figures = [
        Figure(
            "batch.scale.cpu_ms_per_row",
            f"map() client CPU per row ({rows:,} rows)",
            map_cpu * 1e3,
            "ms",
            note=f"{wall:.0f} s wall, {rows / wall:.0f} rows/s, {failed} failed",
        ),
        Figure(
            "batch.scale.cpu_ratio",
            "map() CPU per row / aask() CPU per row",
            map_cpu / ask_cpu,
            "x",
            f"aask() {ask_cpu * 1e3:.2f} ms per row",
            "<= 1.25x",
            1.25,
            note="aask(): 8 at a time on one AsyncClient, the same async stack without the "
            "run's bookkeeping",
        ),
        Figure(
            "batch.scale.memory_per_row",
            "resident memory kept per row after the run",
            kept / rows,
            "B",
            f"{text_per_row:.0f} B of text per row",
        ),
        Figure(
            "batch.scale.memory_peak_per_row",
            "resident memory growth per row at the run's peak",
            grew / rows,
            "B",
            f"{text_per_row:.0f} B of text per row",
            "<= 4,096 B",
            4096.0,
            note="sampled every 20 ms; the DataFrame's rows, the requests and what the run "
            "holds meanwhile",
        ),
        Figure(
            "batch.scale.longest_gap_s",
            "longest gap between progress-bar updates",
            longest,
            "s",
            f"{len(gaps):,} updates",
            "<= 0.5 s",
            0.5,
        ),
    ]
    return figures, raw


def run(
    rows: int, once_rows: int, scale_rows: int, latency: float
) -> tuple[list[Figure], dict[str, Any]]:
    figures: list[Figure] = []
    raw: dict[str, Any] = {}
    for name, part in (
        ("throughput", lambda: _throughput(rows, latency)),
        ("exactly_once", lambda: _exactly_once(once_rows)),
        ("scale", lambda: _scale(scale_rows, max(50, scale_rows // 50))),
    ):
        f, r = part()
        figures += f
        raw[name] = r
    return figures, raw
