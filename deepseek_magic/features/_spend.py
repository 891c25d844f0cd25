"""Spend and context: session totals, budgets, and the context-length guard.

:func:`install_spend` (idempotent) gives a :class:`~._session.Session`

* an observer that adds every recorded Result to the session's totals
  (:func:`session_totals` -> :class:`Totals`; ``%deepseek_spend`` shows them);
* a ``before_request`` hook (``_session.Feature``) that, before anything is sent,

  - refuses with :class:`~deepseek_magic.BudgetError` a request whose worst-case cost
    would exceed the per-call budget (the ``call_budget`` setting) or what is left of the
    session budget (``session_budget``), both in US dollars;
  - warns (one line on stderr) when the conversation is longer than the model's context
    (``context_tokens``, else the catalogue's, else 64K tokens, DeepSeek R1's).

These settings are entries of the settings table (``core/_call.py``): ``%deepseek_spend``
sets them (``--budget``, ``--call-budget``, ``--context-tokens``, ``--price``), and so does
``%config DeepSeekMagics.call_budget = 0.05``; :func:`_setting` is the one way they are read.

The worst case is estimated from the request alone: prompt tokens as characters / 4 at
$0.70 per million, plus the output bound (``max_completion_tokens``, else an assumed
:data:`DEFAULT_OUTPUT_TOKENS`, or the ``assumed_output_tokens`` setting) at $2.50
per million (the seed's R1 prices, ``_result.PRICE_*``). Costs in the totals are what the
server reported when it did, else the estimate from its token counts. Replies replayed from
the cache and replies of the offline emulator cost nothing and are not charged.

The budget is checked against what was *recorded* before the request: requests in flight
at the same time (a sweep, the panel) do not see each other, so a sweep checks its whole
grid up front (:func:`check_budget`).
"""

from __future__ import annotations

import math
import sys
import threading
import weakref
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from ..client._request import Request
from ..core._argline import Arg, LineError, arg, parse_line_of
from ..core._call import SETTING_BY_NAME, pick
from ..core._errors import BudgetError, ConfigError
from ..core._result import PRICE_IN_PER_M, PRICE_OUT_PER_M, Result
from ..core._session import Feature, Session

__all__ = [
    "DEFAULT_CONTEXT_TOKENS",
    "DEFAULT_OUTPUT_TOKENS",
    "Estimate",
    "Totals",
    "check_budget",
    "check_context",
    "estimate_request",
    "install_spend",
    "session_totals",
    "spend_magic",
]

#: DeepSeek R1's context (the seed's figure); the ``context_tokens`` setting overrides it
DEFAULT_CONTEXT_TOKENS = 65_536
#: output assumed for the worst-case estimate when the request sets no output bound: R1
#: often reasons for several thousand tokens; set ``max_completion_tokens`` for a hard bound
DEFAULT_OUTPUT_TOKENS: int = SETTING_BY_NAME["assumed_output_tokens"].default

Warn = Callable[[str], None]


def _usd(amount: float) -> str:
    """A budget as the user typed it: ``$0.50``, ``$0.05``, ``$0.0106``, ``$12.00``."""
    text = f"{amount:.6f}".rstrip("0")
    whole, _, cents = text.partition(".")
    return f"${whole}.{cents.ljust(2, '0')}"


def _stderr(message: str) -> None:
    print(f"Warning: {message}", file=sys.stderr)


@dataclass(frozen=True)
class Totals:
    """Tokens and dollars so far in a session (since the last ``--reset``)."""

    requests: int = 0
    #: requests that failed or were interrupted (what they used is counted when known)
    failed: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    reasoning_tokens: int = 0
    #: US dollars: server-reported where given, else estimated from the token counts
    cost: float = 0.0
    #: the part of ``cost`` the server reported itself
    server_cost: float = 0.0
    #: requests whose cost is unknown (the server reported no usage)
    unpriced: int = 0
    #: prompt tokens the provider's cache served, and the dollars that saved (hits are
    #: priced at the hit rate: ``Result.cache_saved``)
    cached_tokens: int = 0
    cache_saved: float = 0.0
    budget: float | None = None
    call_budget: float | None = None
    #: US dollars the offline emulator's replies would have cost (never charged, never in
    #: ``cost``): kept apart so a student sees no charge, and what a real run would cost
    simulated: float = 0.0

    @property
    def estimated(self) -> bool:
        """True when part of the cost is an estimate, not the server's figure."""
        return self.cost - self.server_cost > 1e-12

    @property
    def remaining(self) -> float | None:
        """Dollars left in the session budget (None without a budget)."""
        return None if self.budget is None else max(0.0, self.budget - self.cost)

    def __str__(self) -> str:
        from ..view._render import format_cost

        parts = [
            f"{self.requests} request{'s' if self.requests != 1 else ''}"
            + (f" ({self.failed} failed)" if self.failed else ""),
            f"{self.prompt_tokens:,} prompt + {self.completion_tokens:,} completion tokens"
            + (f" ({self.reasoning_tokens:,} reasoning)" if self.reasoning_tokens else ""),
        ]
        cost = format_cost(self.cost) + " spent"
        if self.cost and self.estimated:
            cost += " (server-reported and estimated)" if self.server_cost else " (estimated)"
        elif self.cost:
            cost += " (server-reported)"
        if self.unpriced:
            cost += f", {self.unpriced} without a price"
        if self.simulated:
            cost += f"; {format_cost(self.simulated)} simulated offline (not charged)"
        parts.append(cost)
        if self.cached_tokens:
            parts.append(
                f"{self.cached_tokens:,} prompt tokens from the cache"
                + (
                    f" saved {format_cost(self.cache_saved, 'estimate')}"
                    if self.cache_saved
                    else ""
                )
            )
        if self.budget is not None:
            parts.append(f"budget {_usd(self.budget)} ({format_cost(self.remaining)} left)")
        if self.call_budget is not None:
            parts.append(f"per call at most {_usd(self.call_budget)}")
        return "Session: " + " · ".join(parts)

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(str(self))


class _Tracker(Feature):
    """The running totals of one session, and the hooks that feed and guard them; kept
    on the session as a feature, asked last (a replayed reply is free, never refused)."""

    order = 90

    def __init__(self, session: Session) -> None:
        self._session = weakref.ref(session)
        self._lock = threading.Lock()
        self.totals = Totals()
        self.warn: Warn = _stderr
        for result in session.history:
            self.add(result)

    def recorded(self, result: Result) -> None:
        self.add(result)

    def add(self, result: Result) -> None:
        rounds = [*result.rounds, result]
        prompt = sum(r.usage.prompt_tokens or 0 for r in rounds)
        completion = sum(r.usage.completion_tokens or 0 for r in rounds)
        reasoning = sum(r.usage.reasoning_tokens or 0 for r in rounds)
        hits = sum(r.usage.cached_tokens or 0 for r in rounds)
        saved = sum(r.cache_saved or 0.0 for r in rounds)
        free = result.cached or result.offline  # a replay or the emulator: no money spent
        cost, server, unpriced = (0.0, 0.0, 0) if free else _cost_parts(result)
        if free:
            saved = 0.0
        if result.cached:
            prompt = completion = reasoning = hits = 0  # counted when recorded
        with self._lock:
            t = self.totals
            self.totals = replace(
                t,
                requests=t.requests + 1,
                failed=t.failed + (not result.ok),
                prompt_tokens=t.prompt_tokens + prompt,
                completion_tokens=t.completion_tokens + completion,
                reasoning_tokens=t.reasoning_tokens + reasoning,
                cost=t.cost + cost,
                server_cost=t.server_cost + server,
                unpriced=t.unpriced + unpriced,
                cached_tokens=t.cached_tokens + hits,
                cache_saved=t.cache_saved + saved,
                simulated=t.simulated + ((result.cost or 0.0) if result.offline else 0.0),
            )

    def reset(self) -> None:
        with self._lock:
            self.totals = Totals()

    def before_request(self, request: Request) -> None:
        """Warn about the context, refuse what breaks a budget; it never answers in place
        of the server (returns None)."""
        session = self._session()
        if session is not None:
            check_context(session, request, warn=self.warn)
            check_budget(session, [request])


def _cost_parts(result: Result) -> tuple[float, float, int]:
    """(dollars, of which server-reported, unpriced count) for a Result and its tool rounds.

    A tool loop's final Result carries the sum of every round's cost; the rounds keep
    their own, so the final round's own share is the difference."""
    if result.cost is None:
        return 0.0, 0.0, int(result.ok)  # a failure with nothing known is not "unpriced"
    own = result.cost - sum(r.cost or 0.0 for r in result.rounds)
    server = (own if result.cost_source == "server" else 0.0) + sum(
        r.cost or 0.0 for r in result.rounds if r.cost_source == "server"
    )
    return result.cost, server, 0


_INSTALL_LOCK = threading.Lock()


def install_spend(session: Session, *, warn: Warn | None = None) -> None:
    """Track the session's spend and guard its requests (idempotent).

    The tracker is a feature of the session, asked after any feature that answers without
    sending (the replay cache, ``_Tracker.order``): a cached reply costs nothing and is
    never refused.
    """
    with _INSTALL_LOCK:
        tracker = session.feature(_Tracker)
        if tracker is None:
            tracker = _Tracker(session)
            session.plug(tracker)
        if warn is not None:
            tracker.warn = warn


def session_totals(session: Session) -> Totals:
    """Tokens and dollars so far (since ``%deepseek_spend --reset``), with the budgets set.

    Without :func:`install_spend` the totals are computed from the session history."""
    tracker = session.feature(_Tracker) or _Tracker(session)  # a throwaway one sums the history
    totals = tracker.totals
    return replace(
        totals,
        budget=_setting(session, "session_budget"),
        call_budget=_setting(session, "call_budget"),
    )


def _setting(session: Session, name: str) -> Any:
    """The spend guard's settings, declared in the settings table (``core/_call.py``) and
    resolved by its one precedence (``%config`` or ``%deepseek_spend``, then the default)."""
    return pick(name, None, session.config)[0]


# ---------------------------------------------------------------------- estimates
@dataclass(frozen=True)
class Estimate:
    """The worst-case size and cost of a request, judged before sending it."""

    prompt_tokens: int
    output_tokens: int
    #: True when the output bound is the assumption, not the request's own limit
    output_assumed: bool
    #: dollars per token (a ``_catalogue.Price``); None = the seed's R1 prices
    price: Any = None

    @property
    def cost(self) -> float:
        if self.price is not None:
            return float(self.price.cost(self.prompt_tokens, self.output_tokens))
        return (self.prompt_tokens * PRICE_IN_PER_M + self.output_tokens * PRICE_OUT_PER_M) / 1e6

    def describe(self) -> str:
        out = f"{self.output_tokens:,} output tokens"
        if self.output_assumed:
            out += " assumed without --max-completion-tokens"
        return f"about {self.prompt_tokens:,} prompt tokens + {out}"


def _text_chars(value: Any) -> int:
    """Characters of model-visible text in a message part (strings, lists of parts)."""
    if isinstance(value, str):
        return len(value)
    if isinstance(value, Mapping):
        return sum(
            _text_chars(v)
            for k, v in value.items()
            if k not in ("role", "type", "id", "tool_call_id")
        )
    if isinstance(value, (list, tuple)):
        return sum(_text_chars(v) for v in value)
    return 0


def estimate_request(request: Request, *, assumed_output: int | None = None) -> Estimate:
    """Prompt tokens as characters / 4 (messages, tool calls and tool specs), and the
    output bound the request sets, else ``assumed_output`` (default
    :data:`DEFAULT_OUTPUT_TOKENS`)."""
    body = request.body
    chars = _text_chars(body.get("messages", ())) + _text_chars(body.get("tools", ()))
    bound = body.get("max_completion_tokens", body.get("max_tokens"))
    price = request.price(request.settings.model) if request.price is not None else None
    if isinstance(bound, int) and not isinstance(bound, bool) and bound > 0:
        return Estimate(math.ceil(chars / 4), bound, False, price)
    return Estimate(math.ceil(chars / 4), assumed_output or DEFAULT_OUTPUT_TOKENS, True, price)


def _assumed_output(session: Session) -> int:
    return int(_setting(session, "assumed_output_tokens"))


def check_budget(session: Session, requests: Iterable[Request]) -> None:
    """Raise :class:`BudgetError` (nothing sent) if any request could cost more than the
    per-call budget, or all of them together more than is left of the session budget.
    Offline (emulator) requests cost nothing and pass."""
    budget = _setting(session, "session_budget")
    call_budget = _setting(session, "call_budget")
    if budget is None and call_budget is None:
        return
    from ..view._render import format_cost

    assumed = _assumed_output(session)
    estimates = [
        estimate_request(r, assumed_output=assumed) for r in requests if not r.settings.offline
    ]
    # A local server costs nothing (unless the user set a price: %deepseek_spend --price).
    estimates = [e for e in estimates if e.price is None or e.price.source != "free"]
    if call_budget is not None:
        for est in estimates:
            if est.cost > call_budget:
                raise BudgetError(
                    f"Not sent: this request could cost up to {format_cost(est.cost)} "
                    f"({est.describe()}), over "
                    f"the per-call budget of {_usd(call_budget)}. Lower --max-completion-tokens, "
                    "or change "
                    f"the limit with %deepseek_spend --call-budget USD (or off)."
                )
    if budget is not None and estimates:
        spent = session_totals(session).cost
        total = sum(e.cost for e in estimates)
        if spent + total > budget:
            what = "this request" if len(estimates) == 1 else f"these {len(estimates)} requests"
            raise BudgetError(
                f"Not sent: the session budget is {_usd(budget)}, "
                f"{format_cost(spent)} is spent and "
                f"{what} could cost up to {format_cost(total)}"
                + (f" ({estimates[0].describe()})" if len(estimates) == 1 else "")
                + ". Raise it with %deepseek_spend --budget USD (or off), "
                "or lower --max-completion-tokens."
            )


def _context_limit(session: Session, request: Request) -> int:
    """The ``context_tokens`` setting, else the catalogue's context length for the
    model (live, else the snapshot), else the seed's R1 figure."""
    from ..client._catalogue import context_for, known_catalogue

    try:
        own = _setting(session, "context_tokens")
    except ConfigError:  # a bad setting must not stop the request
        own = None
    if own is not None:
        return int(own)
    return context_for(request.settings.model, known_catalogue(session, request.settings))[0]


def check_context(session: Session, request: Request, *, warn: Warn = _stderr) -> bool:
    """Warn (and return True) when the request's messages are longer than the model's
    context (the ``context_tokens`` setting, else the model's own from the catalogue,
    else :data:`DEFAULT_CONTEXT_TOKENS`)."""
    limit = _context_limit(session, request)
    est = estimate_request(request)
    if est.prompt_tokens <= limit:
        return False
    warn(
        f"This conversation is about {est.prompt_tokens:,} tokens, longer than the model's "
        "context of "
        f"{limit:,}; the server may refuse or cut it. Reset the chat with %deepseek_chat reset "
        "NAME, or "
        "shorten the prompt (a model with a larger context: %deepseek_spend --context-tokens N)."
    )
    return True


# ---------------------------------------------------------------------- the magic
def arguments() -> tuple[Arg, ...]:
    """The arguments of ``%deepseek_spend``, declared once (the magic's help and its parser)."""
    return (
        arg("--budget", metavar="USD", help="Refuse requests once the session would spend more."),
        arg("--call-budget", metavar="USD", help="Refuse a single request that could cost more."),
        arg(
            "--context-tokens",
            metavar="N",
            help="The model's context in tokens, for the length warning (default 65536).",
        ),
        arg(
            "--price",
            metavar="IN,OUT",
            help="Your own price in dollars per million prompt and completion tokens, "
            "for estimates and budgets (a local server is free unless you set "
            "one); off removes it.",
        ),
        arg("--reset", action="store_true", help="Start the totals again from zero."),
    )


DESCRIPTION = (
    "Tokens and cost so far in this session, and the spend budgets (US dollars; 'off' removes one)."
)


#: the magic's flags (their argparse names) and the settings they set
_FLAG_SETTINGS = {
    "budget": "session_budget",
    "call_budget": "call_budget",
    "context_tokens": "context_tokens",
    "price": "price",
}


def spend_magic(session: Session, line: str) -> None:
    """``%deepseek_spend [--budget USD|off] [--call-budget USD|off] [--context-tokens N]
    [--price IN,OUT] [--reset]``:
    set what is given, then print the session totals on one line."""
    args = parse_line_of("deepseek_spend", DESCRIPTION, arguments(), line)
    install_spend(session)
    checked = {}
    for dest, name in _FLAG_SETTINGS.items():  # all checked before any is set
        raw = getattr(args, dest)
        if raw is None:
            continue
        setting = SETTING_BY_NAME[name]
        try:
            checked[name] = setting.coerce(raw)
        except ConfigError:
            flag = "--" + dest.replace("_", "-")
            raise LineError(f"{flag} {raw}: expected {setting.range_text()}.") from None
    for name, value in checked.items():
        if value is None:
            session.config.pop(name, None)
        else:
            session.config[name] = value
    if args.reset:
        tracker = session.feature(_Tracker)
        if tracker is not None:
            tracker.reset()
    print(session_totals(session))
