"""7. The live view in a real browser: JupyterLab 4 in Chromium, against a naive cell.

One R1-shaped reply (three quarters reasoning, then a markdown answer with headings, a
table, code and math) streamed by the in-process emulator at ``rate`` tokens a second
with a 2-second stall in the middle of the reasoning, twice, in the same JupyterLab:

* ``magic``: a ``%%deepseek`` cell (the live view);
* ``naive``: a cell that reads the same stream with httpx and re-renders the whole
  markdown (reasoning as a quote, then the answer) with ``update_display`` on every chunk;
* ``bare``: a cell that updates a display with a few bytes as often as the live view
  may (its ``max_rate``) for as long: what JupyterLab itself costs at that rate.

In the page, a MutationObserver installed before the cell runs records every DOM update
of the cell's output (time, height, the end of the live text); Chromium's own counter of
main-thread task time (CDP ``Performance.getMetrics``, ``TaskDuration``) gives the busy
fraction while streaming, against the same page idle for as long; a ``longtask``
observer gives the final render's task. The emulator's writes are timed in this process
(the same clock as the page's ``Date.now()``), so "how long received text stays off
screen" is the time from the write of a piece of reasoning to the first DOM update whose
text ends at or past it (measured over the reasoning, shown as text by the magic).
Needs ``/usr/bin/chromium`` and Playwright; skipped with a line otherwise.
"""

from __future__ import annotations

import bisect
import contextlib
import json
import statistics
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ._common import Figure

__all__ = ["run"]

CHROMIUM = Path("/usr/bin/chromium")

NAIVE = """import httpx, json, os
from IPython.display import Markdown, display
handle = display(Markdown("…"), display_id=True)
reasoning, answer = "", ""
body = {"model": "deepseek/deepseek-r1", "stream": True,
        "messages": [{"role": "user", "content": "Explain the variance."}]}
url = os.environ["DEEPSEEK_MAGIC_BASE_URL"] + "/chat/completions"
with httpx.stream("POST", url, json=body, timeout=60) as r:
    for line in r.iter_lines():
        if not line.startswith("data: ") or line == "data: [DONE]":
            continue
        for choice in json.loads(line[6:]).get("choices") or ():
            delta = choice.get("delta") or {}
            reasoning += delta.get("reasoning") or ""
            answer += delta.get("content") or ""
        quoted = "> " + reasoning.replace("\\n", "\\n> ")
        handle.update(Markdown(quoted + "\\n\\n" + answer))"""

# JupyterLab's own cost of a running cell that updates a display as often as the live view
# does, with a few bytes each time: the floor under the magic's busy figure.
BARE = """import time
from IPython.display import display, update_display
display({{"text/html": "<div>frame 0</div>"}}, raw=True, display_id="bare")
t0, n = time.time(), 0
while time.time() - t0 < {seconds}:
    n += 1
    time.sleep(1 / {rate})
    update_display({{"text/html": f"<div>frame {{n}}</div>"}}, raw=True, display_id="bare")"""

WATCH_JS = r"""(cell) => {
    const rec = window.__bench = {updates: [], longtasks: []};
    const area = cell.querySelector('.jp-Cell-outputWrapper') || cell;
    let pending = false;
    const snap = () => {
        pending = false;
        const live = cell.querySelector('.jp-OutputArea .dsm-live');
        const final = cell.querySelector('.jp-OutputArea .dsm-footer') !== null;
        const tail = live ? live.querySelector('.dsm-reasoning-tail') : null;
        const quote = cell.querySelector('.jp-OutputArea blockquote');
        const text = tail ? tail.textContent : (quote ? quote.textContent : '');
        rec.updates.push({
            t: Date.now(), h: Math.round(area.getBoundingClientRect().height),
            phase: final ? 'final' : (live ? (live.querySelector('.dsm-answer-tail') ? 'answer'
                : (tail ? 'reasoning' : 'waiting')) : 'other'),
            end: text.slice(-40),
        });
    };
    new MutationObserver(() => { if (!pending) { pending = true; queueMicrotask(snap); } })
        .observe(cell, {subtree: true, childList: true, characterData: true});
    new PerformanceObserver((list) => {
        for (const e of list.getEntries())
            rec.longtasks.push({t: performance.timeOrigin + e.startTime, d: e.duration});
    }).observe({type: 'longtask'});
}"""


@contextlib.contextmanager
def _timed_writes() -> Iterator[list[tuple[float, bytes]]]:
    """Every chunk the emulator writes, with its time (``time.time()``, as Date.now())."""
    from deepseek_magic.emulator import _server

    writes: list[tuple[float, bytes]] = []
    original = _server._Handler._write

    def write(self: Any, data: bytes, *, raw: bool = False) -> None:
        original(self, data, raw=raw)
        writes.append((time.time(), data))

    _server._Handler._write = write  # type: ignore[method-assign]
    try:
        yield writes
    finally:
        _server._Handler._write = original  # type: ignore[method-assign]


def _reasoning_times(writes: list[tuple[float, bytes]]) -> list[tuple[float, str]]:
    """(time written, reasoning so far) for each chunk of reasoning."""
    out, text = [], ""
    for t, data in writes:
        for line in data.decode("utf-8", "replace").splitlines():
            if not line.startswith("data: {"):
                continue
            for choice in json.loads(line[6:]).get("choices") or ():
                piece = (choice.get("delta") or {}).get("reasoning")
                if piece:
                    text += piece
                    out.append((t, text))
    return out


def _off_screen(sent: list[tuple[float, str]], updates: list[dict[str, Any]]) -> float | None:
    """Longest time from a reasoning chunk's write to the first DOM update showing it."""
    lags = _lags(sent, updates)
    return max(lag for _, lag in lags) if lags else None


def _lags(
    sent: list[tuple[float, str]], updates: list[dict[str, Any]]
) -> list[tuple[float, float]]:
    """(time written, seconds until a DOM update showed it) for each reasoning chunk."""
    shown = [(u["t"] / 1000, u["end"].rstrip()) for u in updates if u["end"].strip()]
    if not sent or not shown:
        return []
    full = sent[-1][1]
    ends: list[tuple[float, int]] = []
    sent_times = [t for t, _ in sent]
    for t, end in shown:  # where the visible text ends in the whole reasoning
        key = end[-25:]
        # The reasoning repeats its templates: take the last occurrence in what had been
        # written by then (the page cannot show text before it is written).
        i = bisect.bisect_right(sent_times, t)
        written = len(sent[i - 1][1]) if i else 0
        at = full.rfind(key, 0, written + 1)
        if at != -1:
            ends.append((t, at + len(key)))
    lags, j, best = [], 0, 0
    for t, so_far in sent:
        need = len(so_far.rstrip())
        while j < len(ends) and (ends[j][0] < t or max(best, ends[j][1]) < need):
            best = max(best, ends[j][1])
            j += 1
        if j == len(ends):
            break
        lags.append((t, ends[j][0] - t))
    return lags


def _task_seconds(cdp: Any) -> float:
    metrics = cdp.send("Performance.getMetrics")["metrics"]
    return float(next(m["value"] for m in metrics if m["name"] == "TaskDuration"))


def _one(
    page: Any,
    lab: Any,
    emu: Any,
    name: str,
    cells: list[str],
    reply: Any,
    stall_after: int,
    rate: float,
) -> dict[str, Any]:
    from deepseek_magic.emulator import Fault
    from tests.browser.jupyter import (
        code_cells,
        execution_counts,
        open_notebook,
        run_all,
        wait_cells_done,
    )

    emu.reset()
    emu.token_delay = 1.0 / rate
    emu.queue(Fault("stall", after_tokens=stall_after, seconds=2.0, reply=reply))
    lab.write_notebook(name, cells)
    open_notebook(page, lab, name)
    cdp = page.context.new_cdp_session(page)
    cdp.send("Performance.enable")
    page.wait_for_timeout(1500)
    idle0, w0 = _task_seconds(cdp), time.time()
    page.wait_for_timeout(5000)
    idle = (_task_seconds(cdp) - idle0) / (time.time() - w0)
    code_cells(page).nth(len(cells) - 1).evaluate(WATCH_JS)
    with _timed_writes() as writes:
        busy0, t0 = _task_seconds(cdp), time.time()
        run_all(page)
        # Busy time second by second (where it goes: reasoning, answer, final render).
        samples = [(0.0, busy0)]
        while time.time() - t0 < 300:
            page.wait_for_timeout(1000)
            samples.append((round(time.time() - t0, 2), _task_seconds(cdp)))
            if all(n is not None for n in execution_counts(page)):
                break
        wait_cells_done(page, timeout=1000)
        t1 = time.time()
        busy = (_task_seconds(cdp) - busy0) / (t1 - t0)
    page.wait_for_timeout(1500)  # the final view's MathJax pass
    rec = page.evaluate("() => window.__bench")
    cdp.detach()
    updates = rec["updates"]
    times = [u["t"] / 1000 for u in updates]
    streaming = [t for t, u in zip(times, updates, strict=True) if u["phase"] != "final"]
    gaps = sorted(b - a for a, b in zip(streaming, streaming[1:], strict=False))
    span = (streaming[-1] - streaming[0]) if len(streaming) > 1 else 0.0
    final_at = next((t for t, u in zip(times, updates, strict=True) if u["phase"] == "final"), None)
    final_task = max(
        (lt["d"] for lt in rec["longtasks"] if final_at and lt["t"] / 1000 >= final_at - 0.5),
        default=None,
    )
    reasoning = [u for u in updates if u["phase"] == "reasoning"]
    answer = [u for u in updates if u["phase"] == "answer"]
    final = [u for u in updates if u["phase"] == "final"]
    return {
        "updates": len(streaming),
        "seconds": span,
        "fps": len(streaming) / span if span else None,
        "p95_gap": gaps[int(0.95 * (len(gaps) - 1))] if gaps else None,
        "max_gap": gaps[-1] if gaps else None,
        "busy": busy,
        "idle": idle,
        "off_screen": _off_screen(_reasoning_times(writes), updates),
        # where the longest waits were (seconds after the first write, seconds waited)
        "off_screen_worst": [
            (round(t - writes[0][0], 2), round(lag, 3))
            for t, lag in sorted(_lags(_reasoning_times(writes), updates), key=lambda x: -x[1])[:8]
        ]
        if writes
        else [],
        "final_task_ms": final_task,
        "h_reasoning_end": reasoning[-1]["h"] if reasoning else None,
        "h_answer_start": answer[0]["h"] if answer else None,
        "h_live_end": answer[-1]["h"] if answer else None,
        "h_final": final[-1]["h"] if final else None,
        "heights": [u["h"] for u in updates],
        # (seconds since the run began, main-thread busy % over the second before)
        "timeline": [
            (b[0], round((b[1] - a[1]) / max(b[0] - a[0], 1e-3) * 100, 1))
            for a, b in zip(samples, samples[1:], strict=False)
        ],
    }


def _pct(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None or not b else abs(a - b) / b * 100


def run(tokens: int, rate: float) -> tuple[list[Figure], dict[str, Any]]:
    if not CHROMIUM.exists():
        print("  (skipped: no /usr/bin/chromium)")
        return [], {"skipped": "no chromium"}
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        return [], {"skipped": "no playwright"}
    from deepseek_magic.emulator import Emulator, Reply, tokenize
    from deepseek_magic.notebook._live import DEFAULT_MAX_RATE
    from tests.browser.conftest import LAUNCH_ARGS, REPO_ROOT, SCRUBBED_ENV
    from tests.browser.jupyter import JupyterLab

    from ._corpus import answer_text, reasoning_text

    answer_tokens = tokens // 4
    reply = Reply(
        reasoning=reasoning_text(tokens - answer_tokens), answer=answer_text(answer_tokens)
    )
    stall_after = len(tokenize(reply.reasoning)) // 2
    raw: dict[str, Any] = {"tokens": tokens, "rate": rate}
    with Emulator() as emu:
        env = {"PYTHONPATH": str(REPO_ROOT), "DEEPSEEK_MAGIC_BASE_URL": emu.base_url}
        with JupyterLab(env=env, unset_env=SCRUBBED_ENV) as lab, sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=LAUNCH_ARGS)
            try:
                page = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
                cells = {
                    "magic": ["%load_ext deepseek_magic", "%%deepseek\nExplain the variance."],
                    "naive": [NAIVE],
                    "bare": [BARE.format(seconds=tokens / rate, rate=DEFAULT_MAX_RATE)],
                }
                for name, source in cells.items():
                    raw[name] = _one(
                        page, lab, emu, f"bench_{name}.ipynb", source, reply, stall_after, rate
                    )
            finally:
                browser.close()
    m, n, bare = raw["magic"], raw["naive"], raw["bare"]
    base = f"naive {n['fps']:.1f}/s" if n.get("fps") else "naive"
    ms = lambda v: None if v is None else v * 1000  # noqa: E731
    secs = f"{tokens:,} tokens at {rate:g}/s"
    figures = [
        Figure(
            "browser.fps",
            f"Chromium, {secs} with a 2 s stall: DOM updates per second",
            m["fps"],
            "/s",
            base,
            ">= 8",
            8.0,
            higher_is_better=True,
        ),
        Figure(
            "browser.p95_gap_ms",
            "95th-percentile gap between DOM updates",
            ms(m["p95_gap"]),
            "ms",
            f"naive {ms(n['p95_gap']) or 0:.0f} ms",
            "<= 200 ms",
            200.0,
            note=f"longest {ms(m['max_gap']) or 0:.0f} ms (the stall)",
        ),
        Figure(
            "browser.off_screen_ms",
            "longest time received reasoning stays off screen (stall included)",
            ms(m["off_screen"]),
            "ms",
            f"naive {ms(n['off_screen']) or 0:.0f} ms",
            "<= 150 ms",
            150.0,
        ),
        Figure(
            "browser.busy_points",
            "main-thread busy minus idle while streaming",
            (m["busy"] - m["idle"]) * 100,
            "points",
            f"naive {(n['busy'] - n['idle']) * 100:.0f} points",
            "<= +5 points",
            5.0,
            note=f"idle {m['idle'] * 100:.1f}%",
        ),
        Figure(
            "browser.busy_floor_points",
            "the same for JupyterLab alone: bare updates as often (a few bytes each)",
            (bare["busy"] - bare["idle"]) * 100,
            "points",
            f"{bare['fps'] or 0:.1f} updates/s",
            note="the floor under the figure above: what any live view at this rate costs",
        ),
        Figure(
            "browser.height_answer_start_pct",
            "output height change when the answer starts",
            _pct(m["h_answer_start"], m["h_reasoning_end"]),
            "%",
            f"{m['h_reasoning_end']} -> {m['h_answer_start']} px",
            "<= 10%",
            10.0,
        ),
        Figure(
            "browser.height_end_pct",
            "output height change at the final render",
            _pct(m["h_final"], m["h_live_end"]),
            "%",
            f"{m['h_live_end']} -> {m['h_final']} px",
            "<= 10%",
            10.0,
        ),
        Figure(
            "browser.final_task_ms",
            "final render: longest main-thread task",
            m["final_task_ms"] or 0.0,
            "ms",
            f"naive {n['final_task_ms'] or 0:.0f} ms",
            "<= 50 ms",
            50.0,
            note="0 = no task of 50 ms or more (Chromium reports only those)",
        ),
    ]
    raw["median_height"] = statistics.median(m["heights"]) if m["heights"] else None
    return figures, raw
