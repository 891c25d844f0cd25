"""Writing ``BENCHMARKS.md`` and ``results.json`` from one run's figures.

The tables and numbers come from the run; the prose that explains them (why a goal
is missed and what would close it, what was changed because of these measurements)
is kept here, keyed by figure id, so a rerun keeps it next to fresh numbers.
"""

from __future__ import annotations

import importlib
import json
import re
from pathlib import Path
from typing import Any

from ._common import Figure

__all__ = ["CHANGES", "OBSERVATIONS", "WHY_MISSED", "write"]

SECTION_TITLES = {
    "streaming": "1. Streaming overhead (and 2. traffic of that stream)",
    "traffic": "2. Frontend traffic",
    "concurrency": "3. Concurrency",
    "loadtime": "4. Load time",
    "memory": "5. Memory",
    "batch": "6. Batch runs (map)",
    "browser": "7. The live view in Chromium",
    "schema": "8. Typed answers (map with a schema)",
    "samples": "9. Self-consistency at scale (map samples)",
}

#: For a figure that misses its goal: why, and what would close it.
WHY_MISSED: dict[str, str] = {
    "traffic.rate40.fps": (
        "The byte budget binds: frames cost more than 19x the final output of the text they "
        "carry. What would close it: smaller frames (a shorter reasoning tail, a smaller answer "
        "window). See Observations."
    ),
    "browser.fps": (
        "Frames are paced at `max_rate` (8.5/s) and sent by the timer when due; fewer DOM updates "
        "mean the kernel or the page fell behind (a busy machine: see the load average)."
    ),
    "browser.p95_gap_ms": (
        "Frames are 1/8.5 s apart when the budget does not bind; longer gaps mean the kernel or "
        "the page fell behind (a busy machine: see the load average)."
    ),
    "browser.off_screen_ms": (
        "A token that arrives just after a frame waits one frame interval (118 ms at 8.5 frames "
        "a second) for the next, then the trip to the page (kernel, server, websocket, "
        "JupyterLab's render); the worst waits cluster in a second or two where the whole "
        "machine was slow "
        "(see `off_screen_worst` in results.json and the load average). What would close it: "
        "more frames a second (the 10-messages-a-second traffic goal allows no more than 9 live "
        "frames plus the final one)."
    ),
    "traffic.stall.max_wait": (
        "The byte budget binds: a token waits for the frame its text pays for. What would close "
        "it: smaller frames. See Observations."
    ),
    "browser.busy_points": (
        "Most of it is JupyterLab's own cost of a running cell that updates an output 9 times a "
        "second, whatever the output: the `bare` cell (a few bytes per update, as often) costs "
        "the figure in the next row, and it moves by about a point from run to run with the "
        "machine's load. The magic's own share (frames of ~330-900 B, MathJax on the inline "
        "math of the answer's last completed block) is the difference between the two rows."
    ),
    "samples.map": (
        "Not map()'s own cost: in the same run the naive gather of as many aask() calls takes "
        "about as long (see the rows above), and map()'s client CPU per token is within 1.2x of "
        "the gather's. The server's floor row (a bare asyncio client, no HTTP library) shows "
        "what the emulator itself allows on this machine, whose two cores it shares with the "
        "client; the rest is the HTTP stack's per-chunk cost (httpx, httpcore, h11, anyio: over "
        "two fifths of the client's CPU in a profile, our pipeline one tenth), paid for "
        "10,000 chunks in the one second the replies stream. What would close it: fewer "
        "cores shared with the server, or an HTTP stack that costs less per chunk."
    ),
    "samples.samples": (
        "As for map() above: the same requests, the same cost (samples are rows of the run)."
    ),
    "browser.final_task_ms": (
        "MathJax typesets the answer's display math in the final view at once; its one-time "
        "setup is done while the reply starts (a hidden formula with the stylesheet), but "
        "constructs met for the first time still cost there."
    ),
    "browser.height_answer_start_pct": (
        'While thinking, a "Reasoning" line and a four-line box; when the answer starts, the '
        "line stays and \"Answer\" and the answer's body (at least three lines) take the box's "
        "room. A first block taller than that moves the output."
    ),
    "browser.height_end_pct": (
        "The room kept for the blocks above the live window is an estimate (lines of 150 "
        "characters, headings, tables, display math); its error shows when they come back."
    ),
    "traffic.rate10.bytes_ratio": (
        "The final output is estimated while streaming (2 bytes per character of reasoning, 4 of "
        "answer); the estimate runs a little high for this corpus. A byte_factor of 17 would "
        "close it."
    ),
    "traffic.rate40.bytes_ratio": (
        "As at 10 tokens/s: the final-output estimate runs a little high for this corpus."
    ),
    "streaming.ask.cpu_ratio": (
        "Per chunk, `ask()` runs an incremental SSE decoder on bytes (CR/LF/CRLF only, comments "
        "counted), JSON (json's own C scanner), a dialect-aware chunk parser (reasoning / "
        "reasoning_content / reasoning_details / `<think>` tags, tool calls, usage, errors) with "
        "a shortcut for the usual one-text chunk, and the accumulator, where the baseline does "
        "`iter_lines` + `json.loads` + two dict lookups. On 2026-12-08 it was 1.07x-1.17x; a "
        "busy machine moves it by +-0.05. What is left is mostly the JSON scan itself."
    ),
    "streaming.magic.cpu_ratio": (
        "The magic adds to `ask()` the final markdown render (markdown-it over the whole answer, "
        "about 20 ms for 20k tokens), up to 9 live frames a second, and one `event()` per event "
        "(~0.35 us each)."
    ),
    "concurrency.gather_ratio": (
        "What the concurrent run adds to one request is CPU work squeezed into the same second: 16 "
        "connections opened, 16 streams parsed on one event loop, and 16 emulator handler threads, "
        "on 2 cores; it grows when other processes hold the cores (see the load average). The two "
        "avoidable causes were fixed (see Changes: the emulator's listen backlog, a TLS context "
        "per `aask()`); passing one `AsyncClient` to every call (`aask(..., client=c)`) also saves "
        "each call's client setup."
    ),
    "load.load_ext_ms": (
        "See the heaviest imports below. httpx and the emulator are no longer imported at load; "
        "what is left is the package's own modules (`_tools`, `_cache`, `_magic_args`, ...), about "
        "60 ms of CPU. The wall figure doubles or triples when other processes hold the cores: "
        "compare it with the CPU figure and the load average."
    ),
    "load.added_process_ms": (
        "Whole-process times include interpreter start and exit and swing by tens of ms on a busy "
        "machine; the in-process CPU figure is the reliable one."
    ),
    "batch.scale.cpu_ratio": (
        "Per row, `map()` adds to `aask()` the run file (a `sending` row, then the answer: "
        "two SQLite commits, about 0.15 ms of CPU measured alone, plus the kernel's time to "
        "write them), "
        "the request's key (a canonical JSON and its sha256), the gate, and one wake-up of the "
        "calling thread. Without a run file (`run_file=None`) `map()` costs about what `aask()` "
        "does; the figure also swings by +-0.3x when other processes hold the cores. What would "
        "close it: writing finished rows in small batches (one commit for the rows that finished "
        "in the same 50 ms), at the price of losing up to that many rows in a crash."
    ),
    "batch.scale.longest_gap_s": (
        "The calling thread waits for finished rows with a 0.2 s timeout and updates the bar; a "
        "longer gap is the GIL held elsewhere in the process: mostly a full (generation 2) garbage "
        "collection, which walks every object of the process (0.17 s at most with `map()` alone; "
        "longer here, where the heap still holds the earlier benchmarks' objects), or both cores "
        "busy with other processes (see the load average). The stop button itself is measured "
        "above: the longest time from the interrupt to the partial DataFrame. What would close "
        "it: fewer objects per row (the flat row dict instead of a Result kept until the row is "
        "written)."
    ),
    "batch.map_share": (
        "Check the gate's decrease (`_ratelimit.RateGate.throttled`) and its probe hold."
    ),
    "memory.ask_peak_ratio": (
        "Check that `_accumulate._Text` still joins the streamed pieces in blocks."
    ),
    "traffic.long.bytes_ratio": (
        "The live frames' byte budget (40 B per received character + 16 KB) is the bound; for a "
        "short reply the 16 KB allowance dominates."
    ),
    "traffic.simulated_short.bytes_ratio": (
        "The live view keeps its frames within 40 B per received character plus a fixed 16 KB "
        "allowance (it was 16 B + 96 KB, which gave 34.8x here: the allowance alone dwarfed a "
        "short reply's final output). If it misses again, shrink the allowance or the frames."
    ),
}

#: Changes made in the package because of these measurements (with before -> after).
CHANGES = """\
2026-12-08, the hot path (`ask()` CPU / baseline 1.43x -> 1.07x-1.17x, `%%deepseek` 2.03x
-> 1.74x, panel Send 2.06x -> 1.78x; the pure pipeline on 20k recorded reads 8.3 -> ~4.5 us
a token):

* `client/_sse.py`: the SSE parser works on bytes (lines split on CR, LF, CRLF before
  decoding; only kept values decoded; one step for the usual whole `data:` read), and
  `SSEEvent` is a NamedTuple (a frozen dataclass cost ~0.45 us per event); httpx-sse is
  no longer a dependency;
* `client/_events.py`: `ChunkParser` answers the usual chunk (one choice, one text, no
  finish/usage/error/tool call) in a few lookups, else the full reading;
* `client/_pipeline.py`: json's C scanner directly (the long way for what it does not
  take whole), `client/_accumulate.py`: `text_size` kept as text arrives.

2026-12-08, many streams at once (benchmark 9: a gather of 500 `aask()` 2.06x -> 1.41x one
request; `map()` at 500, refused before, 1.47x): the emulator's listen backlog 4096 (128
dropped SYNs: a 1 s retransmit), tokens on a schedule, no scan of every handler thread per
request; `client/_pools.py`: several small httpx pools (httpcore scans every connection
per request and close).

Measured while working on this issue (20,000-token reply, CPU of the client process;
the machine was shared, so the numbers are indicative):

* `deepseek_magic/client/_events.py`: `collections.abc.Mapping` instead of `typing.Mapping`
  (whose `isinstance` goes through `typing`'s Python-level `__instancecheck__`, several
  times per chunk), `dict` checked first (`_MAPPING = (dict, Mapping)`), and a one-step
  fast path in `_partial_suffix` (it ran up to 7 `endswith` per answer delta looking for a
  split `</think>`), and one in `ThinkSplitter.feed` for a delta with no `<` (the answer
  text as it is, instead of the tag search). Pure pipeline: 0.22 s -> 0.15 s.
  `deepseek_magic/client/_accumulate.py`: `Accumulator.add` tests `time_to_first_token is None`
  before the `isinstance`.
* `deepseek_magic/client/_http.py`: the per-chunk `isinstance(chunk, Mapping)` became
  `isinstance(chunk, dict)` (`json.loads` only makes dicts); and one TLS context per
  process (`_tls()`, cached), because every `httpx.Client`/`AsyncClient` otherwise loads
  the CA bundle again (~20 ms of CPU): 16 `aask()` calls paid it one after another on the
  event loop (0.31 s of the 16-prompt gather).
* `deepseek_magic/client/_sse.py`: the WHATWG field handling done inline instead of with
  httpx-sse's `SSEDecoder`, which built a second event object per chunk. SSE stage:
  0.066 s -> 0.046 s.
  With these three, `ask()` went from 1.53x to about 1.25x the baseline's CPU.
* `deepseek_magic/client/_accumulate.py`: `_Text` joins the streamed pieces in blocks of 256:
  a list of one-token strings costs ~60 bytes per token. `ask()` peak while streaming a
  64k-token reply: 14.8x -> 2.1x the reply's size.
* `deepseek_magic/emulator/_server.py`: `request_queue_size = 128`. socketserver's
  default listen backlog of 5 dropped the 6th..16th simultaneous connections, which then
  waited for a 1 s TCP SYN retransmit: 16 concurrent prompts took 2.9x one request
  (1.14x after both fixes).
* `deepseek_magic/_api.py`: `client/_http.py` (and with it httpx, ssl, httpx-sse) imported when
  the first request is sent, not at import (type-only imports under `TYPE_CHECKING`).
  `deepseek_magic/features/_offline.py`: the emulator (http.server, email, ...) imported when
  offline mode is used, not when `%load_ext` checks `DEEPSEEK_MAGIC_OFFLINE`. CPU time of
  `%load_ext`: about 110 ms -> 60 ms; the first call pays the ~30 ms of httpx instead.
* `deepseek_magic/notebook/_live.py`, `_live_state.py` (issue 13): the live frames' styles
  sent once (a `<style>` in an output of its own) instead of inline in every frame, a
  smaller answer window (a block with display math or over 300 B leaves it when it
  completes), table markup compacted, 8.5 frames a second instead of 8, a "Reasoning" line
  that stays when the answer starts, MathJax set up while the reply starts. Chromium,
  2,400 tokens at 40/s with a 2 s stall: 7.05 -> ~8.3 DOM updates a second, p95 gap
  253 -> ~120 ms, longest time text stays off screen 382 -> ~130 ms, busy +4.2..7.1 ->
  ~+4.5 points (JupyterLab alone at that rate ~+3.6; at 9 frames a second it was
  +4.7..5.1, one run over the goal, hence 8.5), height change at the
  answer's start 17.3% -> 0%; simulated bytes/final at 40 tokens/s 18.3x -> ~18x.
"""

#: What the numbers show beyond PASS/MISS.
OBSERVATIONS = """\
* **The live view** (`deepseek_magic/notebook/_live.py`, `_live_state.py`, issue 13): at
  most 8.5 frames a second; a frame that is due is sent by a timer when no further event
  comes (so a stall never hides text that arrived before it); frames are bounded: a
  "Reasoning" line and the last 200 characters of reasoning in a four-line box of fixed
  height, then the answer's last rendered blocks (~300 B; a bigger block, or one with
  display math, is not kept) with the room of the earlier ones kept, the block still
  growing, and a one-line
  status. Frames carry text and class names only; their stylesheet is sent once per live
  view, in an output of its own. The budget is 19x an estimate of the final output of
  what arrived (messages counted whole), plus 8 KB; past it a frame goes when the text
  since the last one pays for it, or when the stream has been quiet for twice the usual
  gap between events. Wire bytes are counted as UTF-8, as jupyter_client packs messages.
* **Why the stylesheet.** The final output costs ~2 bytes per character of reasoning
  (escaped HTML and a markdown fence) and ~4 per character of answer. The emulator's
  tokens of this corpus are ~3 characters, so at 40 tokens/s the 20x goal allows ~4.7 KB
  of live frames a second while reasoning: ~550 B a frame at 8.5 frames a second, envelope
  included. With inline styles a reasoning frame was ~720 B (~300 B of style), so frames
  came ~7 a second and a token waited up to ~0.4 s for the frame that paid for it. With
  the styles sent once, a reasoning frame is ~330 B of HTML and the budget does not bind
  at 40 tokens/s (~17x in the simulation); at 10 tokens/s it still does (~2.5 frames a
  second, within 20x).
* **In Chromium** (benchmark 7): the naive cell falls tens of seconds behind and keeps the
  main thread ~90% busy; the magic stays a few points above idle, most of them
  JupyterLab's own cost of updating an output 9 times a second (the `bare` row: as many
  updates of a few bytes each; `timeline` in results.json gives the busy time second by
  second). MathJax typesets only the inline math of the answer's last completed block in
  each frame: display math typeset again 9 times a second cost ~10 points while it was
  in view, so a block with display math leaves the window when it completes, and a
  hidden formula shown with the stylesheet has MathJax set itself up while the reply
  starts (without it the final render, typesetting all the display math at once, took
  57-70 ms). DOM updates are counted as mutation batches, so a frame whose math MathJax
  then typesets counts twice (a few while answering). The height figures: the reasoning
  box keeps one height for every reasoning frame; the answer's start and the final render
  move the output by a few percent; the room kept for blocks above the live window is an
  estimate made for a 1280-pixel window, so at other widths the final render moves the
  text by the estimate's error.
* **Short replies streamed slowly** are the worst case for the bytes ratio: the fixed
  allowance is large next to a final output of a few KB (simulated above: 300 tokens at
  10 tokens/s).
* **Memory of the final render**: rendering the whole answer with markdown-it builds its
  token tree, ~35x the reply's size for a moment (6 MB for a 64k-token reply); it is freed
  once the output is built. The stream itself stays at ~2x.
* **Wall-clock figures** at full speed are bounded by how fast the emulator (one Python
  process, one HTTP chunk per token) can write; CPU seconds of the client process are the
  meaningful overhead figures. The load average at the start and the end of the run is in
  the machine table: the machine may be shared, so ratios (measured side by side,
  interleaved, medians) are more stable than absolute times.
"""


def _fmt(value: Any, unit: str = "") -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        if unit in ("B", "B/s") or abs(value) >= 1000:
            text = f"{value:,.0f}"
        elif abs(value) >= 10:
            text = f"{value:.1f}"
        else:
            text = f"{value:.3g}" if unit not in ("x",) else f"{value:.2f}"
    elif isinstance(value, int):
        text = f"{value:,}"
    else:
        text = str(value)
    return (
        f"{text} {unit}".strip() if unit and unit != "x" else (text + "x" if unit == "x" else text)
    )


def _table(rows: list[list[str]], header: list[str], align: str = "") -> str:
    align = align or "l" * len(header)
    marks = ["---:" if a == "r" else "---" for a in align]
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join(marks) + " |"]
    lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def _busy_warning(machine: dict[str, Any]) -> list[str]:
    """A caveat when other processes kept the machine's cores busy during the run."""
    loads = [
        v[0] for v in (machine.get("load_average_start"), machine.get("load_average_end")) if v
    ]
    if not loads or max(loads) <= machine["nproc"]:
        return []
    return [
        (
            f"**The machine was busy** (load average up to {max(loads):.1f} on {machine['nproc']} "
            "cores): "
            "wall-clock figures (load time, concurrency) are inflated; CPU-time ratios much less "
            "so."
        ),
        "",
    ]


def _load(values: Any) -> str:
    return "n/a" if not values else " / ".join(f"{x:.2f}" for x in values)


def _status(fig: Figure) -> str:
    if fig.status == "MISS" and fig.value is not None and fig.limit:
        return f"**MISS** ({(fig.value / fig.limit - 1) * 100:+.0f}%)"
    return {"PASS": "PASS", "INFO": "", "N/A": "n/a"}.get(fig.status, fig.status)


def _method(name: str) -> str:
    """The benchmark module's docstring (after its title line) as markdown: paragraphs
    and bullet items unwrapped, reST literals and roles made markdown."""
    doc = importlib.import_module(f"benchmarks.{name}").__doc__ or ""
    doc = re.sub(r":\w+:`~?([^`]+)`", r"`\1`", doc).replace("``", "`")
    blocks = []
    for para in doc.strip().split("\n\n")[1:]:
        items: list[str] = []
        for line in para.splitlines():
            if line.lstrip().startswith("* ") or not items:
                items.append(line.strip())
            else:
                items[-1] += " " + line.strip()
        blocks.append("\n".join(items))
    return "\n\n".join(blocks)


def _details(name: str, raw: dict[str, Any]) -> str:
    if name == "streaming":
        med = raw["medians"]
        base = med["baseline"]
        rows = [
            [
                n,
                str(len(raw["runs"][n])),
                f"{m['cpu']:.3f}",
                f"{m['cpu'] / base['cpu']:.2f}x",
                f"{m['wall']:.3f}",
                f"{m['wall'] / base['wall']:.2f}x",
            ]
            for n, m in med.items()
        ]
        return (
            f"{raw['tokens']:,} tokens ({raw['reply_chars']:,} characters), medians of "
            "interleaved rounds:\n\n"
            + _table(
                rows, ["variant", "runs", "CPU s", "CPU ratio", "wall s", "wall ratio"], "lrrrrr"
            )
        )
    if name == "traffic":
        rows = []
        paced = [
            dict(raw[k], label=f"{raw[k]['rate']:g} tok/s") for k in ("realistic", "sustained")
        ]
        for s in raw["sweep"] + paced:
            rows.append(
                [
                    s.get("label", "full speed"),
                    f"{s['tokens']:,}",
                    f"{s['reply_chars']:,}",
                    str(s["messages"]),
                    f"{s['seconds']:.2f}",
                    str(s["peak_per_s"]),
                    f"{s['bytes']:,}",
                    f"{s['final_bytes']:,}",
                    f"{s['bytes'] / s['final_bytes']:.2f}x",
                    f"{s['bytes'] / s['reply_chars']:.1f}",
                ]
            )
        table = _table(
            rows,
            [
                "rate",
                "tokens",
                "chars",
                "messages",
                "seconds",
                "peak msg/s",
                "total bytes",
                "final bytes",
                "total/final",
                "bytes/char",
            ],
            "lrrrrrrrrr",
        )
        times = raw["sustained"]["live_times"]
        buckets = [sum(int(t) == i for t in times) for i in range(int(max(times, default=0)) + 1)]
        sim, short = raw["simulated"], raw["simulated_short"]
        return (
            table + "\n\nLive frames in each second of the "
            f"{raw['sustained']['tokens']:,}-token reply at "
            f"{raw['sustained']['rate']:g} tokens/s: {' '.join(map(str, buckets))}.\n\n"
            f"Simulated at {sim['rate']:g} tokens/s ({sim['tokens']:,} tokens, "
            f"{sim['seconds']:.0f} s, "
            f"{sim['frames']} frames, {sim['bytes']:,} bytes for a final output of "
            f"{sim['final_bytes']:,}); "
            f"frames in each second: {' '.join(map(str, sim['per_second']))}.\n\n"
            f"Simulated short reply: {short['tokens']} tokens at {short['rate']:g} tokens/s, "
            f"{short['frames']} "
            f"frames, {short['bytes']:,} bytes for a final output of {short['final_bytes']:,}."
        )
    if name == "concurrency":
        rows = [
            [
                "one request (median)",
                f"{sum(raw['one']) / len(raw['one']):.2f}" if raw["one"] else "n/a",
            ],
            [f"{raw['prompts']} one after the other", f"{raw['sequential']:.2f}"],
            [f"{raw['prompts']} with asyncio.gather(aask)", f"{raw['gather']:.2f}"],
            [
                f"panel Compare ({raw.get('panel_runs') or '-'} runs)",
                "n/a" if raw["panel"] is None else f"{raw['panel']:.2f}",
            ],
        ]
        return (
            f"First token after {raw['latency']:g} s, then {raw['tokens']} tokens at full "
            "speed.\n\n" + _table(rows, ["what", "wall s"], "lr")
        )
    if name == "loadtime":
        rows = [
            [
                ("&nbsp;&nbsp;" * r["depth"]) + f"`{r['module']}`",
                f"{r['cumulative_ms']:.1f}",
                f"{r['self_ms']:.1f}",
            ]
            for r in raw["heaviest_imports"]
        ]
        return (
            "What `%load_ext deepseek_magic` imports (one `python -X importtime` run, which "
            "inflates times; heaviest cumulative first, indented by depth; the package's own "
            "`__init__` is imported by IPython through `importlib`, which `-X importtime` does not "
            "list):\n\n" + _table(rows, ["module", "cumulative ms", "self ms"], "lrr")
        )
    if name == "memory":
        rows = [
            ["reply (reasoning + answer)", f"{raw['reply_bytes']:,}"],
            ["ask(): peak while streaming", f"{raw['ask_peak']:,}"],
            ["ask(): still traced after (the Result)", f"{raw['ask_retained']:,}"],
            ["%%deepseek: peak while streaming", f"{raw['magic_stream_peak']:,}"],
            ["%%deepseek: peak of the final render", f"{raw['magic_render_peak']:,}"],
            ["%%deepseek: still traced after (Result + output)", f"{raw['magic_retained']:,}"],
        ]
        return _table(rows, ["what", "bytes"], "lr")
    if name == "batch":
        return _batch_details(raw)
    if name == "browser":
        if "skipped" in raw:
            return f"Skipped: {raw['skipped']}."
        keys = [
            ("fps", "DOM updates / s", "{:.1f}"),
            ("p95_gap", "p95 gap, s", "{:.3f}"),
            ("max_gap", "longest gap, s", "{:.3f}"),
            ("off_screen", "longest off screen, s", "{:.3f}"),
            ("busy", "main thread busy", "{:.1%}"),
            ("idle", "idle page busy", "{:.1%}"),
            ("final_task_ms", "final render task, ms (0: none >= 50)", "{:.0f}"),
            ("h_reasoning_end", "height, last reasoning frame (px)", "{}"),
            ("h_answer_start", "height, first answer frame (px)", "{}"),
            ("h_live_end", "height, last live frame (px)", "{}"),
            ("h_final", "height, final (px)", "{}"),
        ]
        rows = [
            [
                label,
                *(
                    fmt.format(raw[v][k] or 0) if raw[v].get(k) is not None else "–"
                    for v in ("magic", "naive")
                ),
            ]
            for k, label, fmt in keys
        ]
        return (
            f"{raw['tokens']:,} tokens at {raw['rate']:g} tokens/s, three quarters reasoning, a 2 "
            "s "
            "stall in the middle of the reasoning; the same page, one after the other:\n\n"
            + _table(rows, ["", "%%deepseek", "naive re-render"], "lrr")
        )
    return ""


def _batch_details(raw: dict[str, Any]) -> str:
    t, o, sc = raw["throughput"], raw["exactly_once"], raw["scale"]
    rows = [
        [
            f"a client that knows the limit ({t['capacity_limit']} at once)",
            f"{t['capacity_rows_s']:.1f}",
            "",
            "",
        ],
        [
            f"map(), concurrency 32, {t['rows']:,} rows",
            f"{t['map_rows_s']:.1f}",
            str(t["map_429"]),
            str(t["map_failed"]),
        ],
        [
            f"asyncio.gather(aask()), {t['rows']:,} rows",
            f"{t['naive_rows_s']:.1f}",
            str(t["naive_429"]),
            str(t["naive_failed"]),
        ],
        [
            f"map(), 429 with Retry-After: 1, {t['ra_rows']:,} rows",
            f"{t['ra_rows_s']:.1f}",
            str(t["ra_429"]),
            str(t["ra_failed"]),
        ],
    ]
    stops = ", ".join(f"{x:.2f}" for x in o["stop_s"])
    return (
        f"First token after {t['latency']:g} s.\n\n"
        + _table(rows, ["client", "answered rows/s", "429s met", "rows failed"], "lrrr")
        + f"\n\nExactly-once: {o['rows']} rows, {o['runs']} runs ({o['interrupts']} "
        f"interrupted), {o['requests']:,} requests, {o['completed_replies']:,} replies "
        f"completed by the server, run file {o['run_file']}; {o['in_flight_at_interrupts']} "
        f"rows in flight at an interrupt, {o['paid_twice']} rows paid twice "
        f"({o['paid_twice_unexplained']} of them not in flight); stops took {stops} s."
        + f"\n\nScale: {sc['rows']:,} rows in {sc['wall_s']:.0f} s; CPU "
        f"{sc['map_cpu_ms']:.2f} ms per row (aask(): {sc['aask_cpu_ms']:.2f} ms); "
        f"{sc['kept_bytes'] / 1e6:.1f} MB kept; {sc['bar_updates']:,} progress updates, "
        f"longest gap {sc['longest_gap_s']:.2f} s."
    )


def write(
    out: Path,
    *,
    mode: str,
    size: dict[str, Any],
    machine: dict[str, Any],
    sections: dict[str, dict[str, Any]],
    command: str,
) -> None:
    # in the report's numbering, whatever order they ran in
    order = list(SECTION_TITLES)
    sections = dict(sorted(sections.items(), key=lambda kv: order.index(kv[0])))
    figures = [f for s in sections.values() for f in s["figures"]]
    data = {
        "mode": mode,
        "command": command,
        "machine": machine,
        "sizes": size,
        "figures": {f.id: f.to_json() for f in figures},
        "sections": {
            name: {"seconds": s["seconds"], "raw": s["raw"]} for name, s in sections.items()
        },
    }
    (out / "results.json").write_text(
        json.dumps(data, indent=1, default=str) + "\n", encoding="utf-8"
    )

    m = machine
    md = [
        "# deepseek-magic benchmarks",
        "",
        (
            "Run them all (from the repository root; about "
            f"{max(1, round(m['seconds'] / 60))} min here):"
        ),
        "",
        f"    {command}",
        "",
        (
            "It starts the offline emulator (`python -m deepseek_magic.emulator`, token rate 0 = "
            "as fast "
            "as it can send) in a separate process on 127.0.0.1, measures the client in this "
            "process, "
            "and writes this file and `benchmarks/results.json`. Every ratio compares figures "
            "measured "
            "side by side in the same run. `--smoke` runs the same code at toy sizes (what "
            "`tests/test_benchmarks_smoke.py` does); `--only NAME ...` runs some of them."
        ),
        "",
        f"Mode: **{mode}**"
        + (" (toy sizes: these numbers mean nothing)" if mode != "full" else "")
        + ".",
        "",
        *_busy_warning(m),
        "## Machine",
        "",
        _table(
            [
                ["cores (nproc)", str(m["nproc"])],
                ["CPU", m["cpu"]],
                ["Python", f"{m['python']} ({m['implementation']})"],
                ["httpx", m["httpx"]],
                ["IPython", m["ipython"]],
                ["platform", m["platform"]],
                ["date", m["date"]],
                ["commit", m["commit"]],
                ["load average (1/5/15 min) at start", _load(m.get("load_average_start"))],
                ["load average at end", _load(m.get("load_average_end"))],
                ["run time", f"{m['seconds']:.0f} s"],
            ],
            ["", ""],
        ),
        "",
        "## Results",
        "",
    ]
    rows = []
    for name, s in sections.items():
        rows.append([f"**{SECTION_TITLES[name]}**", "", "", "", ""])
        for f in s["figures"]:
            label = f.label + (f" <br><small>{f.note}</small>" if f.note else "")
            rows.append([label, _fmt(f.value, f.unit), f.baseline, f.goal, _status(f)])
    md += [_table(rows, ["figure", "value", "baseline", "goal", "status"], "lrllr"), ""]

    missed = [f for f in figures if f.status == "MISS"]
    md += ["## Goals missed", ""]
    if not missed:
        md += ["None in this run.", ""]
    for f in missed:
        over = (f.value / f.limit - 1) * 100 if f.value is not None and f.limit else 0.0
        md += [
            f"* **{f.label}**: {_fmt(f.value, f.unit)} against a goal of {f.goal} (over by "
            f"{over:.0f}%). " + WHY_MISSED.get(f.id, "Not analysed yet."),
            "",
        ]
    unavailable = [f for f in figures if f.status == "N/A"]
    for f in unavailable:
        md += [f"* **{f.label}**: not measured ({f.note or 'not available'}).", ""]

    md += ["## Method and details", ""]
    for name, s in sections.items():
        md += [
            f"### {SECTION_TITLES[name]}",
            "",
            _method(name),
            "",
            _details(name, s["raw"]),
            "",
            f"*{s['seconds']:.0f} s.*",
            "",
        ]
    md += [
        "## Changes made because of these measurements",
        "",
        CHANGES,
        "## Observations",
        "",
        OBSERVATIONS,
    ]
    from .lite import kept_section  # measured separately (python -m benchmarks.lite): kept as it is

    lite = kept_section(out / "BENCHMARKS.md")
    if lite:
        md += ["", lite, ""]
    (out / "BENCHMARKS.md").write_text("\n".join(md), encoding="utf-8")
