"""What a batch run decides before its first request: the rows, one request per row (each
built and validated), the run file's answered rows (not sent again), the cost estimate
(:mod:`._runcost`) and the budget it is held to. :func:`plan_run` and
:func:`check_plan_budget` raise (one line, nothing sent) for anything wrong.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..client._request import Request
from ..core._errors import BudgetError, DeepSeekError, OptionError
from ..core._session import Session
from ..engine._api import Prepared, prepare
from ..features._cache import cache_key
from ..features._schema_batch import schema_rows
from ._output import OUTPUT_COLUMNS, REASONING_COLUMNS
from ._rows import Rows, compile_template, read_rows, row_requests, template_columns
from ._runcost import RunEstimate, estimate_run
from ._runfile import DEFAULT_RUN_FILE, RunFile
from ._samples import (
    SAMPLE_COLUMN,
    check_samples,
    expand_rows,
    interleave,
    sample_key,
    sample_options,
)

__all__ = ["Plan", "check_plan_budget", "plan_run"]


@dataclass
class Plan:
    """Everything decided before the first request."""

    rows: Rows
    keep: list[str]
    requests: list[Request]
    keys: list[str]
    #: unique keys still to send, in row order
    todo: list[str]
    #: answered rows from the run file, key -> flat row
    resumed: dict[str, dict[str, Any]]
    estimate: RunEstimate
    budget: float | None
    prep: Prepared
    run_file: RunFile | None
    keep_reasoning: bool
    results: bool
    #: rows a crash left in flight last time (sent again now)
    crashed: int = 0


def _history_tokens(session: Session, model: str, run_file: RunFile | None) -> list[int]:
    tokens = [
        r.usage.completion_tokens
        for r in session.history
        if r.ok and r.model == model and r.usage.completion_tokens is not None and not r.cached
    ]
    out = [int(t) for t in tokens if t is not None]
    if run_file is not None:
        out += run_file.completion_tokens(model)
    return out


def _money(value: Any) -> float | None:
    if value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise OptionError(
            f"budget={value!r}: expected US dollars, e.g. 0.50.", option="budget"
        ) from None
    if not math.isfinite(number) or number < 0:
        raise OptionError(f"budget={value!r}: expected zero or more US dollars.", option="budget")
    return number


def plan_run(
    data: Any,
    prompt: Any,
    *,
    session: Session,
    options: Mapping[str, Any],
    style: str = "format",
    namespace: Mapping[str, Any] | None = None,
    keep: Any = None,
    budget: Any = None,
    run_file: Any = DEFAULT_RUN_FILE,
    keep_reasoning: bool = True,
    results: bool = False,
    settings: Mapping[str, Any] | None = None,
    dry_run: bool = False,
    samples: Any = None,
) -> Plan:
    """Read the rows, build and validate every request, read the run file, estimate the
    cost and check the budget. Raises before anything is sent."""
    rows = read_rows(data)
    if not rows.records:
        raise OptionError("The data has no rows; nothing to send.", option="data")
    fill = compile_template(prompt, rows.columns, style=style, namespace=namespace)
    settings = dict(settings or {})
    for name in ("conversation", "run_tools", "max_tool_rounds"):
        if options.get(name) or settings.get(name):
            raise OptionError(
                f"map() does not take {name}=: each row is one independent request.", option=name
            )
    system = settings.pop("system", None)
    k = check_samples(samples)
    variants = sample_options(options, k) if k else [dict(options)]
    try:
        # Validates the options and settings once (once per sample's options with
        # samples=); each row's request is this one with the row's messages
        # (row_requests checks every row's prompt).
        preps = [
            prepare(
                "(the rows' prompts)",
                session=session,
                options=variant,
                require_key=not dry_run,
                **settings,
            )
            for variant in variants
        ]
    except TypeError as exc:
        raise OptionError(f"map(): {exc}.", option="options") from None
    prep = preps[0]
    system = system or session.config.get("system")
    keep_cols = _kept_columns(keep, prompt, rows)
    if k:
        requests = interleave(
            [
                schema_rows(
                    p.schema,
                    row_requests(p, rows, fill, system),
                    (*OUTPUT_COLUMNS, *REASONING_COLUMNS),
                )
                for p in preps
            ]
        )
        keys = [sample_key(cache_key(r), i % k) for i, r in enumerate(requests)]
        rows = expand_rows(rows, k)
        keep_cols = [c for c in keep_cols if c != SAMPLE_COLUMN] + [SAMPLE_COLUMN]
    else:
        requests = schema_rows(
            prep.schema,
            row_requests(prep, rows, fill, system),
            (*OUTPUT_COLUMNS, *REASONING_COLUMNS),
        )
        keys = [cache_key(r) for r in requests]
    store: RunFile | None = None
    if run_file not in (None, False):
        store = RunFile(run_file, secret=prep.settings.api_key)
    unique = list(dict.fromkeys(keys))
    resumed: dict[str, dict[str, Any]] = {}
    crashed = 0
    if store is not None:
        resumed = store.done_rows(unique, reasoning=keep_reasoning)
        crashed = sum(1 for s in store.states(unique).values() if s == "sending")
    todo = [k for k in unique if k not in resumed]
    first_of: dict[str, Request] = {}
    for key, request in zip(keys, requests, strict=True):
        first_of.setdefault(key, request)
    model = str(prep.request.body.get("model", prep.settings.model))
    estimate = estimate_run(
        prep.request,
        [first_of[k] for k in todo],
        rows=len(rows.records),
        resumed=sum(1 for k in keys if k in resumed),
        history=_history_tokens(session, model, store),
    )
    return Plan(
        rows=rows,
        keep=keep_cols,
        requests=requests,
        keys=keys,
        todo=todo,
        resumed=resumed,
        estimate=estimate,
        budget=_effective_budget(session, _money(budget)),
        prep=prep,
        run_file=store,
        keep_reasoning=keep_reasoning,
        results=results,
        crashed=crashed,
    )


def _kept_columns(keep: Any, prompt: Any, rows: Rows) -> list[str]:
    """The input columns the output keeps: ``keep=`` (None: those the template uses)."""
    if keep is None:
        kept = template_columns(prompt, rows.columns)
    elif isinstance(keep, bool):
        kept = list(rows.columns) if keep else []
    else:
        kept = [keep] if isinstance(keep, str) else list(keep)
        unknown = [c for c in kept if c not in rows.columns]
        if unknown:
            raise OptionError(
                f"keep={unknown}: not columns of the data ({', '.join(rows.columns)}).",
                option="keep",
            )
    clash = [c for c in kept if c in (*OUTPUT_COLUMNS, *REASONING_COLUMNS, "result")]
    if clash:
        raise OptionError(
            f"keep={clash}: the output has columns of those names; rename them in the input.",
            option="keep",
        )
    return kept


def _effective_budget(session: Session, budget: float | None) -> float | None:
    """The run's budget: ``budget=``, or what is left of the session's, whichever is less."""
    from ..features._spend import session_totals

    try:
        left = session_totals(session).remaining
    except DeepSeekError:
        left = None
    candidates = [b for b in (budget, left) if b is not None]
    return min(candidates) if candidates else None


def check_plan_budget(plan: Plan) -> None:
    """Refuse, before the first request, a run whose estimate can exceed its budget."""
    from ..view._render import format_cost

    if plan.budget is None or plan.estimate.requests == 0:
        return
    if plan.estimate.cost_high > plan.budget:
        raise BudgetError(
            f"Not sent: this run could cost up to {format_cost(plan.estimate.cost_high)} "
            f"({plan.estimate.requests:,} requests, {plan.estimate.output_high:,} completion "
            f"tokens each at most, {plan.estimate.output_basis}), over its budget of "
            f"${plan.budget:g}. Raise budget=, set "
            "max_completion_tokens, or run fewer rows (nothing was sent)."
        )
