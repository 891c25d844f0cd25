"""4. Load time: what ``%load_ext deepseek_magic`` adds to a fresh IPython process, and
the extra cost of the first ``%%deepseek`` call.

Each sample is a fresh interpreter (``sys.executable -c``) that creates an
``InteractiveShell`` and, for the extension's samples, runs ``%load_ext
deepseek_magic``; the two kinds alternate. Figures: the in-process time of
``%load_ext`` (median, wall and CPU), the median difference of whole-process wall
times (IPython + extension minus IPython alone, each pair run back to back), and, in
separate processes, the first ``%%deepseek`` call minus the second one against the
emulator (the lazily imported pieces: httpx, the renderer, markdown-it, the first
connection). One
``python -X importtime`` run lists what ``%load_ext`` imports, heaviest first.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from typing import Any

from ._common import Figure, median
from ._emu import served

__all__ = ["imports_of_load_ext", "run"]

GOAL_MS = 150.0

_CHILD = r"""
import json, sys, time
t0 = time.perf_counter()
from IPython.core.interactiveshell import InteractiveShell
shell = InteractiveShell.instance()
t1 = time.perf_counter()
out = {"shell": t1 - t0}
mode = sys.argv[1]
if mode != "ipython":
    sys.stderr.write("--load_ext--\n")
    sys.stderr.flush()
    c1 = time.process_time()
    shell.run_line_magic("load_ext", "deepseek_magic")
    out["load_ext"] = time.perf_counter() - t1
    out["load_ext_cpu"] = time.process_time() - c1
if mode == "call":
    from IPython.utils.capture import capture_output
    for name in ("first", "second"):
        with capture_output():
            t = time.perf_counter()
            cell = "%%deepseek --base-url " + sys.argv[2] + "\nHow long is a load?"
            ok = shell.run_cell(cell).success
            out[name] = time.perf_counter() - t
        assert ok, "the magic failed"
print(json.dumps(out))
"""


def _child(mode: str, *args: str, importtime: bool = False) -> tuple[dict[str, float], float, str]:
    cmd = (
        [sys.executable]
        + (["-X", "importtime"] if importtime else [])
        + ["-c", _CHILD, mode, *args]
    )
    t = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
    wall = time.perf_counter() - t
    if proc.returncode != 0:
        raise RuntimeError(f"load-time child failed: {proc.stderr[-800:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1]), wall, proc.stderr


def imports_of_load_ext(stderr: str, top: int = 12) -> list[dict[str, Any]]:
    """The modules ``%load_ext`` imported (after the marker), heaviest cumulative first,
    from ``-X importtime`` output (``import time: self | cumulative | name``)."""
    lines = stderr.split("--load_ext--\n", 1)[-1].splitlines()
    rows: list[dict[str, Any]] = []
    for line in lines:
        parts = line.split(":", 1)[1].split("|") if line.startswith("import time:") else []
        if len(parts) != 3 or not parts[0].strip().isdigit():
            continue  # the header line, or stderr that is not -X importtime's
        self_us, cum_us, name = parts
        depth = (len(name) - len(name.lstrip(" ")) - 1) // 2
        rows.append(
            {
                "module": name.strip(),
                "self_ms": int(self_us) / 1000,
                "cumulative_ms": int(cum_us) / 1000,
                "depth": depth,
            }
        )
    return sorted(rows, key=lambda r: -r["cumulative_ms"])[:top]


def run(samples: int, call_samples: int) -> tuple[list[Figure], dict[str, Any]]:
    alone: list[float] = []
    with_ext: list[float] = []
    load_ext: list[float] = []
    load_cpu: list[float] = []
    for _ in range(samples):
        _, wall, _ = _child("ipython")
        alone.append(wall)
        out, wall, _ = _child("ext")
        with_ext.append(wall)
        load_ext.append(out["load_ext"])
        load_cpu.append(out["load_ext_cpu"])
    firsts: list[float] = []
    seconds: list[float] = []
    with served([]) as url:  # nothing scripted: the emulator's short default reply
        for _ in range(call_samples):
            out, _, _ = _child("call", url)
            firsts.append(out["first"])
            seconds.append(out["second"])
    _, _, stderr = _child("ext", importtime=True)
    heavy = imports_of_load_ext(stderr)

    in_process = median(load_ext) * 1000
    added = (
        median(w - a for w, a in zip(with_ext, alone, strict=True)) * 1000
    )  # pairs run back to back
    first_extra = (median(firsts) - median(seconds)) * 1000
    base = f"IPython alone {median(alone) * 1000:.0f} ms (process)"
    figures = [
        Figure(
            "load.ipython_alone_ms",
            "fresh process: python + InteractiveShell",
            median(alone) * 1000,
            "ms",
        ),
        Figure(
            "load.load_ext_ms",
            "%load_ext deepseek_magic, in process (wall)",
            in_process,
            "ms",
            base,
            f"< {GOAL_MS:g} ms",
            GOAL_MS,
        ),
        Figure(
            "load.load_ext_cpu_ms",
            "%load_ext deepseek_magic, in process (CPU)",
            median(load_cpu) * 1000,
            "ms",
            base,
            f"< {GOAL_MS:g} ms",
            GOAL_MS,
            note="CPU time: what other processes on the machine change least",
        ),
        Figure(
            "load.added_process_ms",
            "fresh process with the extension minus without",
            added,
            "ms",
            base,
            f"< {GOAL_MS:g} ms",
            GOAL_MS,
            note="median of back-to-back pairs of whole processes: "
            "much noisier than the in-process figure",
        ),
        Figure(
            "load.first_call_extra_ms",
            "first %%deepseek call minus the second",
            first_extra,
            "ms",
            f"second call {median(seconds) * 1000:.0f} ms",
            note="lazy imports (httpx, renderer, markdown-it) and the first connection land here",
        ),
    ]
    raw = {
        "samples": samples,
        "ipython_alone_s": alone,
        "with_ext_s": with_ext,
        "load_ext_s": load_ext,
        "load_ext_cpu_s": load_cpu,
        "first_call_s": firsts,
        "second_call_s": seconds,
        "heaviest_imports": heavy,
    }
    return figures, raw
