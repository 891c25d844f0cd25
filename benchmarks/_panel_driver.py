"""Driving the ipywidgets panel (``deepseek_magic.notebook._panel``) the way a person does: the
prompt is set, Send or Compare is clicked, and the call waits for the panel to finish.

Importing this module raises ImportError when the panel (or ipywidgets) is missing,
which the benchmarks report as "not available".
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from deepseek_magic.batch._sweep import DEFAULT_CONCURRENCY
from deepseek_magic.notebook._panel import Panel  # noqa: F401  (ImportError: no panel here)

from ._common import PROMPT

__all__ = ["comparer", "sender"]


def _panel(base_url: str, prompt: str = PROMPT) -> Any:
    from deepseek_magic.core._session import Session
    from deepseek_magic.notebook._panel import panel

    return panel(prompt, session=Session(), shell=None, base_url=base_url)


def sender(base_url: str) -> Callable[[], tuple[str, str]]:
    """A function that clicks Send on one panel and returns (reasoning, answer)."""
    p = _panel(base_url)

    def send() -> tuple[str, str]:
        p.send_button.click()
        if not p.wait(120):
            raise RuntimeError("the panel's Send did not finish")
        result = p.last_result
        if result is None or p.last_error is not None:
            raise RuntimeError(f"the panel's Send failed: {p.last_error!r}")
        return result.reasoning, result.answer

    return send


def comparer(base_url: str, prompts: Sequence[str]) -> int:
    """Click Compare for one run per seed (the panel's runs share one prompt); returns the
    number of runs, at most what a Compare (as a sweep) sends at once, DEFAULT_CONCURRENCY."""
    runs = min(len(prompts), DEFAULT_CONCURRENCY)
    p = _panel(base_url, prompts[0])
    p.compare_spec.value = "seed = " + ", ".join(str(i + 1) for i in range(runs))
    p.compare_button.click()
    if not p.wait(120):
        raise RuntimeError("the panel's Compare did not finish")
    if len(p.results) != runs or p.last_error is not None:
        raise RuntimeError(f"the panel's Compare gave {len(p.results)} results: {p.last_error!r}")
    return runs
