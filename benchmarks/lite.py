"""``python -m benchmarks.lite``: the JupyterLite site's build time, size and kernel start.

Builds the site twice with ``python -m deepseek_magic.lite build`` (first with an empty
download cache, as a teacher's first build, unless ``--warm-only``; then again with the
cache filled), serves it on 127.0.0.1 and opens ``01-quick-start.ipynb`` in Debian's
Chromium: the seconds until the kernel is idle (a student's wait), the bytes the page
fetched by then (the first visit's download), and the seconds to run the lesson's first
``%%deepseek`` cell. It writes its section into ``BENCHMARKS.md`` between the
``lite`` markers (``python -m benchmarks`` keeps that section) and ``lite.json``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import functools
import http.server
import json
import os
import re
import shutil
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
START, END = "<!-- lite:start -->", "<!-- lite:end -->"


class _Quiet(http.server.SimpleHTTPRequestHandler):
    served: list[int] = []  # bytes of every file sent (what a first visit downloads)

    def log_message(self, format: str, *args: object) -> None:
        pass

    def copyfile(self, source: Any, outputfile: Any) -> None:
        self.served.append(os.fstat(source.fileno()).st_size)
        super().copyfile(source, outputfile)


def _build(folder: Path, cache: Path | None) -> dict[str, Any]:
    from deepseek_magic.lite import build

    old = os.environ.get("DEEPSEEK_MAGIC_CACHE_DIR")
    if cache is not None:
        os.environ["DEEPSEEK_MAGIC_CACHE_DIR"] = str(cache)
    try:
        report = build(folder, say=lambda line: None)
    finally:
        if cache is not None:
            if old is None:
                os.environ.pop("DEEPSEEK_MAGIC_CACHE_DIR", None)
            else:
                os.environ["DEEPSEEK_MAGIC_CACHE_DIR"] = old
    return {
        "seconds": report.seconds,
        "bytes": report.bytes,
        "files": report.files,
        "wheels": len(report.wheels),
        "downloaded": len(report.downloaded),
    }


def _browser(folder: Path) -> dict[str, Any]:
    from playwright.sync_api import sync_playwright

    from tests.browser.conftest import CHROMIUM, LAUNCH_ARGS

    handler = functools.partial(_Quiet, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/lab/index.html?path=01-quick-start.ipynb"
    fetched = _Quiet.served
    fetched.clear()
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=LAUNCH_ARGS)
            page = browser.new_context().new_page()
            started = time.perf_counter()
            page.goto(url)
            page.locator(
                ".jp-StatusBar-Widget .jp-StatusBar-TextItem", has_text=re.compile(r"\|\s*Idle\s*$")
            ).first.wait_for(timeout=300_000)
            kernel = time.perf_counter() - started
            first_visit = sum(fetched)
            cell = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-CodeCell")
            t = time.perf_counter()
            for index in (0, 1):  # %load_ext + %deepseek_offline, then the first %%deepseek
                cell.nth(index).click()
                page.keyboard.press("Shift+Enter")
            cell.nth(1).locator("details.dsm-reasoning").wait_for(timeout=120_000)
            first_answer = time.perf_counter() - t
            browser.close()
    finally:
        server.shutdown()
        server.server_close()
    return {
        "kernel_idle_seconds": kernel,
        "first_visit_bytes": first_visit,
        "first_answer_seconds": first_answer,
    }


def run(warm_only: bool = False) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="dsm-bench-lite-"))
    try:
        cold = None if warm_only else _build(work / "site", work / "cache")
        warm = _build(work / "site", None if warm_only else work / "cache")
        return {
            "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "nproc": len(os.sched_getaffinity(0)),
            "cold": cold,
            "warm": warm,
            "browser": _browser(work / "site"),
        }
    finally:
        shutil.rmtree(work, ignore_errors=True)


def section(r: dict[str, Any]) -> str:
    warm, cold, b = r["warm"], r["cold"], r["browser"]
    rows = [
        (
            "first build, empty download cache (npm + PyPI)",
            f"{cold['seconds']:.0f} s ({cold['downloaded']} downloads)" if cold else "not measured",
        ),
        ("rebuild, cache filled", f"{warm['seconds']:.1f} s"),
        (
            "site size",
            f"{warm['bytes'] / 1e6:.1f} MB in {warm['files']} files ({warm['wheels']} wheels)",
        ),
        (
            "first visit: bytes fetched until the kernel is idle",
            f"{b['first_visit_bytes'] / 1e6:.1f} MB",
        ),
        (
            "kernel start: page opened -> kernel idle (Chromium, headless)",
            f"{b['kernel_idle_seconds']:.1f} s",
        ),
        (
            "first `%%deepseek` of 01-quick-start (offline, in-kernel, 100 tokens/s)",
            f"{b['first_answer_seconds']:.1f} s",
        ),
    ]
    lines = [
        START,
        "## JupyterLite site (issue 16)",
        "",
        "Measured with `python -m benchmarks.lite` (separate from the run above: it needs npm, "
        f"PyPI and Chromium), {r['date']}, {r['nproc']} cores. Wall-clock figures of one run; "
        "the kernel start is what a student waits for after opening the link.",
        "",
        "| figure | value |",
        "| --- | ---: |",
    ]
    lines += [f"| {label} | {value} |" for label, value in rows]
    lines += ["", END]
    return "\n".join(lines)


def write(r: dict[str, Any], out: Path = HERE) -> None:
    (out / "lite.json").write_text(json.dumps(r, indent=1) + "\n", encoding="utf-8")
    path = out / "BENCHMARKS.md"
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    text = re.sub(
        re.escape(START) + r".*?" + re.escape(END) + r"\n?", "", text, flags=re.S
    ).rstrip()
    path.write_text(text + "\n\n" + section(r) + "\n", encoding="utf-8")


def kept_section(path: Path) -> str:
    """The lite section of an existing BENCHMARKS.md (for ``python -m benchmarks``)."""
    if not path.exists():
        return ""
    match = re.search(
        re.escape(START) + r".*?" + re.escape(END), path.read_text(encoding="utf-8"), re.S
    )
    return match.group(0) if match else ""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.lite", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument(
        "--warm-only", action="store_true", help="skip the build with an empty cache"
    )
    args = parser.parse_args(argv)
    result = run(args.warm_only)
    print(section(result))
    write(result)
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
