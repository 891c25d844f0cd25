"""What a batch run tells its user: a progress bar while it runs (``tqdm.auto``: a widget
in a notebook, text in a terminal; imported when a run starts) and, when it ends, one
summary line with the first few errors. Both read the runner's :class:`~._runner.Progress`.
"""

from __future__ import annotations

import time
from typing import Any

from ..view import _style as style
from ..view._render import format_cost
from ..view._style import OFFLINE_NOTE
from ._plan import Plan
from ._runner import Progress, Runner

__all__ = ["SHOWN_ERRORS", "Bar", "summary"]

#: errors shown under the summary line
SHOWN_ERRORS = 3


def summary(plan: Plan, runner: Runner | None, seconds: float, *, interrupted: bool = False) -> str:
    """One line, then the first few errors (row labels, one line each)."""
    p = runner.progress if runner is not None else Progress(total=0)
    rows = len(plan.keys)
    answered = sum(
        1
        for k in plan.keys
        if k in plan.resumed
        or (runner is not None and runner.outcomes.get(k, {}).get("error") == "")
    )
    failed_rows = sum(
        1 for k in plan.keys if runner is not None and runner.outcomes.get(k, {}).get("error")
    )
    resumed = sum(1 for k in plan.keys if k in plan.resumed)
    parts = [
        f"{answered:,}/{rows:,} rows answered"
        + (f" ({resumed:,} from the run file)" if resumed else "")
    ]
    if failed_rows:
        parts.append(f"{failed_rows:,} failed")
    missing = rows - answered - failed_rows
    if missing:
        parts.append(f"{missing:,} not answered")
    parts.append(f"{p.requests:,} requests" + (f" ({p.retries:,} retried)" if p.retries else ""))
    if runner is not None and runner.gate.stats.throttles:
        parts.append(f"{runner.gate.stats.throttles:,} throttled")
    parts.append(f"{p.tokens:,} completion tokens")
    parts.append(
        format_cost(p.cost) + (" (simulated, not charged)" if plan.estimate.offline else "")
    )
    parts.append(f"{seconds:.1f} s")
    head = "Interrupted: " if interrupted else ("Stopped: " + p.stopped + ". " if p.stopped else "")
    line = "map: " + head + " · ".join(parts)
    if plan.estimate.offline:
        line = f"[{OFFLINE_NOTE}] {line}"
    if plan.run_file is not None:
        line += f" · run file {plan.run_file.name}"
    if plan.crashed:
        line += f" · {plan.crashed} rows an earlier run left unfinished (a crash?) were sent again"
    label = {k: i for k, i in reversed(list(zip(plan.keys, plan.rows.index, strict=True)))}
    shown = [f"  row {label.get(k)!r}: {e}" for k, e in p.errors[:SHOWN_ERRORS]]
    if len(p.errors) > SHOWN_ERRORS:
        shown.append(f"  … and {failed_rows - SHOWN_ERRORS} more (the error column has them all)")
    return "\n".join([line, *shown])


class Bar:
    """A tqdm.auto bar (a widget in notebooks, text in a terminal), or nothing."""

    def __init__(self, plan: Plan, enabled: bool) -> None:
        self.bar: Any = None
        self.seen = 0
        #: the emulator answers: the bar says so, and its cost is simulated, not a charge
        self.offline = plan.estimate.offline
        if not enabled:
            return
        from tqdm.auto import tqdm

        rows = len(plan.todo) + len(plan.resumed)
        self.bar = tqdm(
            total=rows,
            initial=len(plan.resumed),
            unit="row",
            desc="map (offline emulator)" if self.offline else "map",
            dynamic_ncols=True,
            smoothing=0.1,
        )

    def update(self, runner: Runner, *, force: bool = False) -> None:
        if self.bar is None:
            return
        p = runner.progress
        elapsed = max(1e-9, time.monotonic() - p.started)
        cost = ("simulated " if self.offline else "") + format_cost(p.cost)
        self.bar.set_postfix_str(
            f"failed {p.failed} · {p.tokens / elapsed:,.0f} tok/s · {cost}", refresh=False
        )
        step = p.done - self.seen
        self.seen = p.done
        if step or force:
            self.bar.update(step)
        if force:
            self.bar.refresh()

    def close(self, ok: bool) -> None:
        if self.bar is None:
            return
        if not ok:  # a notebook bar turns red when rows failed; text ignores it
            self.bar.colour = style.ERROR_PLAIN
        self.bar.close()
