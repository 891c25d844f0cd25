"""The benchmark harness at toy size, so it cannot rot.

``python -m benchmarks --smoke`` runs every benchmark (emulator in its own process,
the magic in a real InteractiveShell, the panel, subprocess load timing, tracemalloc)
at a few hundred tokens and writes its report. This test checks that every figure is
there with a number, a goal where it has one, and a status; never the speed (these
machines are noisy, and at toy sizes the figures mean nothing).
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

#: Every figure the report must carry; a benchmark that stops producing one fails here.
FIGURES = {
    "schema.rows_validated",
    "schema.requests_per_row",
    "schema.cpu_ratio",
    "streaming.baseline.cpu_s",
    "streaming.baseline.wall_s",
    "streaming.ask.cpu_ratio",
    "streaming.ask.wall_ratio",
    "streaming.magic.cpu_ratio",
    "streaming.magic.wall_ratio",
    "streaming.panel.cpu_ratio",
    "streaming.panel.wall_ratio",
    "traffic.long.messages",
    "traffic.long.peak_per_s",
    "traffic.long.bytes",
    "traffic.long.bytes_ratio",
    "traffic.long.bytes_per_s",
    "traffic.sweep.slope",
    "traffic.sweep.worst_bytes_ratio",
    "traffic.sweep.worst_peak_per_s",
    "traffic.sweep.live_budget_use",
    "traffic.realistic.peak_per_s",
    "traffic.realistic.mean_per_s",
    "traffic.realistic.bytes_ratio",
    "traffic.sustained.peak_per_s",
    "traffic.sustained.early_per_s",
    "traffic.sustained.late_per_s",
    "traffic.sustained.bytes_ratio",
    "traffic.simulated.late_per_s",
    "traffic.simulated.bytes_ratio",
    "traffic.simulated_short.bytes_ratio",
    "traffic.rate10.bytes_ratio",
    "traffic.rate40.bytes_ratio",
    "traffic.rate200.bytes_ratio",
    "traffic.rate10.fps",
    "traffic.rate40.fps",
    "traffic.rate200.fps",
    "traffic.stall.max_wait",
    "concurrency.one_s",
    "concurrency.sequential_s",
    "concurrency.gather_s",
    "concurrency.gather_ratio",
    "concurrency.panel_ratio",
    "load.ipython_alone_ms",
    "load.load_ext_ms",
    "load.load_ext_cpu_ms",
    "load.added_process_ms",
    "load.first_call_extra_ms",
    "memory.reply_bytes",
    "memory.ask_peak_ratio",
    "memory.magic_stream_peak_ratio",
    "batch.capacity_rows_s",
    "batch.map_share",
    "batch.map_connections",
    "batch.naive_share",
    "batch.naive_failed",
    "batch.map_retry_after_share",
    "batch.once.unanswered",
    "batch.once.requests_per_row",
    "batch.once.paid_twice",
    "batch.once.stop_s",
    "batch.scale.cpu_ms_per_row",
    "batch.scale.cpu_ratio",
    "batch.scale.memory_per_row",
    "batch.scale.memory_peak_per_row",
    "batch.scale.longest_gap_s",
    "memory.magic_render_peak_ratio",
    "samples.gather_small",
    "samples.gather",
    "samples.floor",
    "samples.map",
    "samples.samples",
    "samples.lag_p99_ms",
    "samples.cpu",
    "samples.cpu_samples",
}
#: The figures the issue sets a goal for (they must say PASS or MISS, never just INFO).
WITH_GOALS = {
    "streaming.ask.cpu_ratio",
    "streaming.magic.cpu_ratio",
    "traffic.long.peak_per_s",
    "traffic.long.bytes_ratio",
    "traffic.sweep.slope",
    "traffic.realistic.peak_per_s",
    "traffic.rate40.bytes_ratio",
    "traffic.rate40.fps",
    "traffic.stall.max_wait",
    "concurrency.gather_ratio",
    "load.load_ext_ms",
    "memory.ask_peak_ratio",
    "memory.magic_stream_peak_ratio",
    "samples.map",
    "samples.samples",
    "samples.lag_p99_ms",
    "samples.cpu",
    "samples.cpu_samples",
}
PANEL = {"streaming.panel.cpu_ratio", "streaming.panel.wall_ratio", "concurrency.panel_ratio"}


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, str, str]:
    out = tmp_path_factory.mktemp("bench")
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--smoke", "--out", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    data = json.loads((out / "results.json").read_text(encoding="utf-8"))
    return data, (out / "BENCHMARKS.md").read_text(encoding="utf-8"), proc.stdout


def test_every_figure_is_reported_with_a_number(report: tuple[dict, str, str]) -> None:
    data, _, _ = report
    figures = data["figures"]
    assert set(figures) == FIGURES
    try:
        import ipywidgets  # noqa: F401

        has_panel = True
    except ImportError:
        has_panel = False
    for fid, fig in figures.items():
        if fid in PANEL and not has_panel:
            assert fig["value"] is None and fig["status"] == "N/A", fid
            continue
        assert isinstance(fig["value"], (int, float)) and math.isfinite(fig["value"]), fid
        assert fig["value"] >= 0 or fid == "load.added_process_ms", (fid, fig["value"])
        assert fig["status"] in ("PASS", "MISS", "INFO"), fid


def test_goals_are_judged(report: tuple[dict, str, str]) -> None:
    figures = report[0]["figures"]
    for fid in WITH_GOALS:
        fig = figures[fid]
        assert fig["goal"] and fig["limit"] is not None, fid
        ok = (
            fig["value"] >= fig["limit"]
            if fig.get("higher_is_better")
            else fig["value"] <= fig["limit"]
        )
        assert fig["status"] == ("PASS" if ok else "MISS"), fid


def test_machine_and_method_are_recorded(report: tuple[dict, str, str]) -> None:
    data, markdown, stdout = report
    machine = data["machine"]
    assert (
        machine["nproc"] >= 1
        and machine["cpu"]
        and machine["python"]
        and machine["httpx"]
        and machine["date"]
    )
    assert data["mode"] == "smoke" and data["command"] in markdown
    for heading in ("## Machine", "## Results", "## Goals missed", "## Method and details"):
        assert heading in markdown
    assert "| figure | value | baseline | goal | status |" in markdown
    for fig in data["figures"].values():
        assert fig["label"] in markdown and fig["label"] in stdout
    # The streaming runs really streamed the scripted replies through each path.
    runs = data["sections"]["streaming"]["raw"]["runs"]
    assert {"baseline", "ask", "magic"} <= set(runs) and all(runs.values())
    assert (
        data["sections"]["traffic"]["raw"]["sweep"][-1]["messages"] >= 2
    )  # live frame(s) + the final one
