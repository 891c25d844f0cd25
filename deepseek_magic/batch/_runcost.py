"""What a batch run will cost, said before anything is sent.

:func:`estimate_run` gives a :class:`RunEstimate`: the requests still to send (rows the
run file already answered are not counted), their prompt tokens (characters / 4, as
``_spend.estimate_request``), and a cost range from the model's prices and a range of
completion tokens (reasoning included) per request:

* from the history of that model (this session's replies and the run file's answered
  rows): the 10th to 90th percentile, or lowest to highest with fewer than 10 replies;
* else a stated assumption (:data:`ASSUMED_LOW` to ``_spend.DEFAULT_OUTPUT_TOKENS``);
* never above the request's own ``max_completion_tokens``.

Prices come from :func:`model_prices`, the one seam for prices: the catalogue's lookup
that the request carries (``_catalogue.price_for``), else the seed's R1 prices.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from ..client._request import Request
from ..core._result import PRICE_IN_PER_M, PRICE_OUT_PER_M
from ..features._spend import DEFAULT_OUTPUT_TOKENS, estimate_request

__all__ = ["ASSUMED_LOW", "Prices", "RunEstimate", "estimate_run", "model_prices"]

#: the low end of the assumed completion tokens per request when there is no history
ASSUMED_LOW = 1_000


@dataclass(frozen=True)
class Prices:
    """US dollars per million tokens, and where the figures come from."""

    prompt_per_m: float
    completion_per_m: float
    source: str


_SOURCES = {
    "catalogue": "the provider's /models catalogue",
    "snapshot": "the shipped /models snapshot",
    "seed": "the seed's DeepSeek R1 prices",
    "user": "your %deepseek_spend --price",
    "free": "a local server: free",
}


def model_prices(request: Request) -> Prices:
    """The prices of the model ``request`` goes to: the one seam for prices. The request
    carries the catalogue's lookup (``_catalogue.price_for``: your ``--price``, a local
    server's nothing, the live or shipped ``/models`` figures, else the seed's R1 prices)."""
    lookup = getattr(request, "price", None)
    model = str(request.body.get("model", request.settings.model))
    if callable(lookup):
        price = lookup(model)
        return Prices(
            price.prompt * 1e6, price.completion * 1e6, _SOURCES.get(price.source, price.source)
        )
    return Prices(PRICE_IN_PER_M, PRICE_OUT_PER_M, _SOURCES["seed"])


@dataclass(frozen=True)
class RunEstimate:
    """The size and cost range of a run, before sending (``str()`` for the summary)."""

    rows: int
    requests: int
    resumed: int
    prompt_tokens: int
    output_low: int
    output_high: int
    output_basis: str
    prices: Prices
    offline: bool = False

    @property
    def cost_low(self) -> float:
        return self._cost(self.output_low)

    @property
    def cost_high(self) -> float:
        return self._cost(self.output_high)

    def _cost(self, per_request: int) -> float:
        p = self.prices
        return (
            self.prompt_tokens * p.prompt_per_m + self.requests * per_request * p.completion_per_m
        ) / 1e6

    def __str__(self) -> str:
        from ..view._render import format_cost

        done = (
            f" ({self.resumed:,} of {self.rows:,} rows already answered in the run file)"
            if self.resumed
            else ""
        )
        lines = [
            f"{self.requests:,} requests to send{done}",
            f"prompt tokens: about {self.prompt_tokens:,} (characters / 4)",
            "completion tokens per request (reasoning included): "
            f"{self.output_low:,} to {self.output_high:,}, "
            f"{self.output_basis}",
            f"cost: {format_cost(self.cost_low)} to {format_cost(self.cost_high)} at "
            f"${self.prices.prompt_per_m:g} / ${self.prices.completion_per_m:g} per million "
            "prompt / completion "
            f"tokens ({self.prices.source})",
        ]
        if self.offline:
            from ..view._style import OFFLINE_NOTE

            lines.append(
                f"[{OFFLINE_NOTE}]: nothing is charged (its replies carry simulated costs at these "
                "prices)"
            )
        return "Estimate: " + "\n  ".join(lines)

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(str(self))

    def line(self) -> str:
        """The estimate in one line (printed as a run starts)."""
        from ..view._render import format_cost
        from ..view._style import OFFLINE_NOTE

        done = f", {self.resumed:,} already answered" if self.resumed else ""
        free = " (simulated, not charged)" if self.offline else ""
        note = f"[{OFFLINE_NOTE}] " if self.offline else ""
        return (
            f"{note}map: {self.rows:,} rows, {self.requests:,} to send{done} · "
            f"about {self.prompt_tokens:,} prompt tokens · "
            f"estimated {format_cost(self.cost_low)} to {format_cost(self.cost_high)}{free}"
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "rows": self.rows,
            "requests": self.requests,
            "resumed": self.resumed,
            "prompt_tokens": self.prompt_tokens,
            "output_low": self.output_low,
            "output_high": self.output_high,
            "cost_low": self.cost_low,
            "cost_high": self.cost_high,
            "basis": self.output_basis,
            "prices": self.prices.source,
        }


def _percentile(values: Sequence[int], q: float) -> int:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


def output_range(history: Sequence[int], bound: int | None, model: str) -> tuple[int, int, str]:
    """(low, high, basis) of completion tokens per request; see the module docstring."""
    if history:
        if len(history) >= 10:
            low, high = _percentile(history, 0.1), _percentile(history, 0.9)
            basis = f"10th-90th percentile of {len(history):,} earlier replies of {model}"
        else:
            low, high = min(history), max(history)
            basis = f"lowest-highest of {len(history)} earlier replies of {model}"
    else:
        low, high = ASSUMED_LOW, DEFAULT_OUTPUT_TOKENS
        basis = f"assumed (no earlier replies of {model} in this session or the run file)"
    if bound is not None:
        low, high = min(low, bound), min(high, bound)
        basis += f", at most max_completion_tokens={bound:,}"
    return low, high, basis


def estimate_run(
    base: Request, requests: Sequence[Request], *, rows: int, resumed: int, history: Iterable[int]
) -> RunEstimate:
    """The estimate for the ``requests`` still to send, all built like ``base`` but for
    their messages."""
    settings = base.settings
    model = str(base.body.get("model", settings.model))
    prompt = sum(estimate_request(r).prompt_tokens for r in requests)
    raw = base.body.get("max_completion_tokens", base.body.get("max_tokens"))
    bound = raw if isinstance(raw, int) and not isinstance(raw, bool) and raw > 0 else None
    low, high, basis = output_range(list(history), bound, model)
    return RunEstimate(
        rows=rows,
        requests=len(requests),
        resumed=resumed,
        prompt_tokens=prompt,
        output_low=low,
        output_high=high,
        output_basis=basis,
        prices=model_prices(base),
        offline=settings.offline,
    )
