"""What the benchmarks share: figures, medians, CPU/wall timing, the baseline loop, and a
real InteractiveShell whose display publisher counts what a frontend would receive."""

from __future__ import annotations

import itertools
import json
import statistics
import time
from collections.abc import Callable, Container, Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

import httpx

__all__ = [
    "PROMPT",
    "Figure",
    "Timing",
    "baseline_stream",
    "frames_summary",
    "magic_shell",
    "median",
    "run_magic",
    "timed",
]

PROMPT = "Compute the monthly variance of the sales data and explain it."


@dataclass
class Figure:
    """One reported figure: its value, what it is compared with, and the goal."""

    id: str
    label: str
    value: float | None
    unit: str = ""
    baseline: str = ""
    goal: str = ""
    #: None: informational; else the value passes when ``value <= limit``
    limit: float | None = None
    note: str = ""
    #: the value passes when ``value >= limit`` instead (a share of capacity)
    higher_is_better: bool = False

    @property
    def status(self) -> str:
        if self.value is None:
            return "N/A"
        if self.limit is None:
            return "INFO"
        if self.higher_is_better:
            return "PASS" if self.value >= self.limit else "MISS"
        return "PASS" if self.value <= self.limit else "MISS"

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "status": self.status}


@dataclass
class Timing:
    cpu: float
    wall: float
    extra: dict[str, Any] = field(default_factory=dict)


def timed(fn: Callable[[], Any]) -> tuple[Timing, Any]:
    """CPU seconds of this process (``time.process_time``) and wall seconds of ``fn()``."""
    c0, w0 = time.process_time(), time.perf_counter()
    out = fn()
    return Timing(time.process_time() - c0, time.perf_counter() - w0), out


def median(values: Iterable[float]) -> float:
    return float(statistics.median(list(values)))


def baseline_stream(http: httpx.Client, base_url: str, prompt: str = PROMPT) -> tuple[str, str]:
    """The floor for Python + httpx: read the SSE stream with ``iter_lines``, ``json.loads``
    each ``data:`` line and concatenate the reasoning and answer deltas. No error
    handling, no dialects, no events, no Result."""
    body = {
        "model": "deepseek/deepseek-r1",
        "messages": [{"role": "user", "content": prompt}],
        "stream": True,
    }
    reasoning: list[str] = []
    answer: list[str] = []
    with http.stream("POST", base_url + "/chat/completions", json=body) as response:
        for line in response.iter_lines():
            if not line.startswith("data: "):
                continue
            data = line[6:]
            if data == "[DONE]":
                break
            for choice in json.loads(data).get("choices") or ():
                delta = choice.get("delta") or {}
                if delta.get("reasoning"):
                    reasoning.append(delta["reasoning"])
                if delta.get("content"):
                    answer.append(delta["content"])
    return "".join(reasoning), "".join(answer)


def _publisher_class() -> type:
    from IPython.core.displaypub import DisplayPublisher

    class Counting(DisplayPublisher):
        """Records each display message (time, size, update?) instead of printing it.

        The size is that of the JSON a kernel would send (``data``, ``metadata`` and the
        ``transient`` display id), which is also serialised here, as ipykernel does."""

        def __init__(self, **kwargs: Any) -> None:
            super().__init__(**kwargs)  # type: ignore[no-untyped-call]
            self.reset()

        def reset(self) -> None:
            self.messages: list[tuple[float, int, bool]] = []
            #: indexes into ``messages`` of the live view's stylesheet output (shown at
            #: the start, emptied after the final frame): traffic, but neither a frame
            #: nor the final output
            self.sheet: set[int] = set()
            self.last: dict[str, Any] = {}
            self.last_size = 0

        def publish(
            self,
            data: dict[str, Any],
            metadata: dict[str, Any] | None = None,
            source: Any = None,
            *,
            transient: dict[str, Any] | None = None,
            update: bool = False,
            **kwargs: Any,
        ) -> None:
            msg = {"data": data, "metadata": metadata or {}, "transient": transient or {}}
            size = len(
                json.dumps(msg, default=str, ensure_ascii=False).encode("utf-8")
            )  # as jupyter_client packs it
            html = data.get("text/html")
            if isinstance(html, str) and (html == "" or html.startswith("<style>")):
                self.sheet.add(len(self.messages))
            self.messages.append((time.perf_counter(), size, update))
            if len(self.messages) - 1 not in self.sheet:
                self.last, self.last_size = data, size

        def clear_output(self, wait: bool = False) -> None:
            pass

    return Counting


#: kept so every benchmark in one process shares the one InteractiveShell singleton
_SHELL: Any = None


def magic_shell() -> tuple[Any, Any]:
    """A real (non-terminal) InteractiveShell with ``%load_ext deepseek_magic`` done and a
    counting display publisher; returns ``(shell, publisher)``."""
    global _SHELL
    from IPython.core.interactiveshell import InteractiveShell

    if _SHELL is None:
        shell = InteractiveShell.instance()
        shell.display_pub = _publisher_class()(shell=shell)
        shell.run_line_magic("load_ext", "deepseek_magic")
        _SHELL = shell
    _SHELL.display_pub.reset()
    return _SHELL, _SHELL.display_pub


def run_magic(shell: Any, base_url: str, prompt: str = PROMPT, flags: str = "") -> Any:
    """Run one ``%%deepseek`` cell; returns the Result it bound (raises if the cell failed)."""
    result = shell.run_cell(
        f"%%deepseek --base-url {base_url} {flags}\n{prompt}", store_history=False
    )
    if not result.success:
        raise RuntimeError(
            f"the magic failed: {result.error_in_exec or result.error_before_exec!r}"
        )
    return shell.user_ns["_deepseek"]


def frames_summary(
    messages: list[tuple[float, int, bool]], sheet: Container[int] = ()
) -> dict[str, Any]:
    """Counts, bytes and rates of display messages (the first is display, the rest updates).

    ``sheet`` names the stylesheet output's messages: they count as messages and bytes,
    but the final output is the last message that is not one of them, and the gaps are
    those between live frames."""
    frames = [m for i, m in enumerate(messages) if i not in sheet]
    if not frames:
        return {
            "messages": 0,
            "bytes": 0,
            "seconds": 0.0,
            "peak_per_s": 0,
            "mean_per_s": 0.0,
            "min_gap_s": None,
        }
    times = [t for t, _, _ in messages]
    seconds = times[-1] - times[0]
    # The most messages in any window of one second (a sliding window over the times).
    peak, lo = 0, 0
    for hi, t in enumerate(times):
        while t - times[lo] >= 1.0:
            lo += 1
        peak = max(peak, hi - lo + 1)
    gaps = [
        b - a for a, b in itertools.pairwise([t for t, _, _ in frames[:-1]])
    ]  # live frames only (not the final one)
    return {
        "messages": len(messages),
        "bytes": sum(size for _, size, _ in messages),
        "final_bytes": frames[-1][1],
        "seconds": seconds,
        "peak_per_s": peak,
        "mean_per_s": (len(messages) - 1) / seconds if seconds > 0 else 0.0,
        "min_gap_s": min(gaps) if gaps else None,
    }
