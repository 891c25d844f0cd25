"""``python -m benchmarks``: run every benchmark, print the figures, write the report.

Writes ``BENCHMARKS.md`` (method, machine, one table of figures with baseline, goal
and PASS/MISS, the details) and ``results.json`` (the same, machine-readable) into
``--out`` (default: this folder). ``--smoke`` runs everything at a toy size (seconds,
for the test that keeps the harness from rotting; its figures mean nothing) and
writes into a temporary folder unless ``--out`` is given.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ._common import Figure

__all__ = ["SIZES", "machine", "main"]

HERE = Path(__file__).resolve().parent
COMMAND = ".venv/bin/python -m benchmarks"

#: the sizes of a real run and of the smoke run
SIZES: dict[str, dict[str, Any]] = {
    "full": {
        "stream_tokens": 20_000,
        "rounds": 7,
        "sweep": [1000, 2000, 4000, 8000, 16000, 32000, 64000],
        "realistic_rate": 200.0,
        "realistic_tokens": 1000,
        "sustained_tokens": 4000,
        "simulated": (40.0, 4000),
        "prompts": 16,
        "latency": 1.0,
        "conc_tokens": 200,
        "load_samples": 15,
        "call_samples": 5,
        "memory_tokens": 64_000,
        "batch_rows": 2000,
        "once_rows": 300,
        "scale_rows": 10_000,
        "batch_latency": 0.1,
        "browser_tokens": 2400,
        "browser_rate": 40.0,
        "schema_rows": 1000,
        "samples": {"rows": 500, "k": 4, "latency": 1.0, "rate": 20.0, "tokens": 20},
    },
    "smoke": {
        "stream_tokens": 600,
        "rounds": 1,
        "sweep": [200, 400],
        "realistic_rate": 2000.0,
        "realistic_tokens": 200,
        "sustained_tokens": 400,
        "simulated": (40.0, 400),
        "prompts": 3,
        "latency": 0.2,
        "conc_tokens": 40,
        "load_samples": 1,
        "call_samples": 1,
        "memory_tokens": 600,
        "batch_rows": 40,
        "once_rows": 30,
        "scale_rows": 200,
        "batch_latency": 0.05,
        "browser_tokens": 0,
        "browser_rate": 40.0,
        "schema_rows": 40,
        "samples": {"rows": 8, "k": 2, "latency": 0.1, "rate": 200.0, "tokens": 10},
    },
}

BENCHMARKS = (
    "streaming",
    "traffic",
    "concurrency",
    "loadtime",
    "memory",
    "batch",
    "browser",
    "schema",
    "samples",
)


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _git_commit() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=HERE.parent,
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=HERE.parent,
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        ).stdout.strip()
        return (
            out.stdout.strip() + (" (with uncommitted changes)" if dirty else "")
            if out.returncode == 0
            else "?"
        )
    except (OSError, subprocess.SubprocessError):
        return "?"


def machine() -> dict[str, Any]:
    import httpx
    import IPython

    try:
        nproc = len(os.sched_getaffinity(0))
    except AttributeError:
        nproc = os.cpu_count() or 0
    return {
        "nproc": nproc,
        "cpu": _cpu_model(),
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "httpx": httpx.__version__,
        "ipython": IPython.__version__,
        "platform": platform.platform(),
        "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "commit": _git_commit(),
        "load_average_start": os.getloadavg() if hasattr(os, "getloadavg") else None,
    }


def _runners(size: dict[str, Any]) -> dict[str, Callable[[], tuple[list[Figure], dict[str, Any]]]]:
    from . import batch, browser, concurrency, loadtime, memory, samples, schema, streaming, traffic

    def stream_and_traffic() -> tuple[list[Figure], dict[str, Any]]:
        figures, raw = streaming.run(size["stream_tokens"], size["rounds"])
        return figures + traffic.from_streaming(raw), raw

    return {
        "streaming": stream_and_traffic,
        "traffic": lambda: traffic.run(
            size["sweep"],
            size["realistic_rate"],
            size["realistic_tokens"],
            size["sustained_tokens"],
            size["simulated"],
        ),
        "concurrency": lambda: concurrency.run(
            size["prompts"], size["latency"], size["conc_tokens"]
        ),
        "loadtime": lambda: loadtime.run(size["load_samples"], size["call_samples"]),
        "memory": lambda: memory.run(size["memory_tokens"]),
        "batch": lambda: batch.run(
            size["batch_rows"], size["once_rows"], size["scale_rows"], size["batch_latency"]
        ),
        "samples": lambda: samples.run(**size["samples"]),
        # A real browser and a 60 s reply: not in the smoke run.
        "browser": (lambda: browser.run(size["browser_tokens"], size["browser_rate"]))
        if size["browser_tokens"]
        else (lambda: ([], {"skipped": "smoke run"})),
        "schema": lambda: schema.run(size["schema_rows"]),
    }


def _show(fig: Figure) -> str:
    value = (
        "n/a"
        if fig.value is None
        else (f"{fig.value:,.0f}" if abs(fig.value) >= 1000 else f"{fig.value:.3g}")
    )
    goal = ("goal " + fig.goal) if fig.goal else ""
    return f"  {fig.status:<4}  {fig.label}: {value} {fig.unit}  {goal}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument(
        "--smoke", action="store_true", help="toy sizes: checks the harness, not the speed"
    )
    parser.add_argument("--out", type=Path, help="folder for BENCHMARKS.md and results.json")
    parser.add_argument("--only", nargs="+", choices=BENCHMARKS, help="run only these benchmarks")
    args = parser.parse_args(argv)
    mode = "smoke" if args.smoke else "full"
    out = args.out or (Path(tempfile.mkdtemp(prefix="dsm-bench-smoke-")) if args.smoke else HERE)
    out.mkdir(parents=True, exist_ok=True)
    size = SIZES[mode]
    info = machine()
    print(
        f"deepseek-magic benchmarks ({mode}) on {info['nproc']} cores, {info['cpu']}, Python "
        f"{info['python']}, "
        f"httpx {info['httpx']}",
        flush=True,
    )
    started = time.perf_counter()
    sections: dict[str, dict[str, Any]] = {}
    for name, fn in _runners(size).items():
        if args.only and name not in args.only:
            continue
        t = time.perf_counter()
        print(f"\n[{name}]", flush=True)
        figures, raw = fn()
        for fig in figures:
            print(_show(fig), flush=True)
        sections[name] = {"seconds": time.perf_counter() - t, "figures": figures, "raw": raw}
    info["load_average_end"] = os.getloadavg() if hasattr(os, "getloadavg") else None
    info["seconds"] = time.perf_counter() - started
    from .report import write

    write(out, mode=mode, size=size, machine=info, sections=sections, command=COMMAND)
    print(f"\nwrote {out / 'BENCHMARKS.md'} and {out / 'results.json'} in {info['seconds']:.0f} s")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
