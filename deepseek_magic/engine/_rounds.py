"""The one shape of a hook that may send one more round after a reply.

After each round whose reply is ok, the dispatcher (:mod:`._dispatch`) calls the hooks
in one order: the tool round (``_dispatch.tool_round``), typed answers' retry of empty content
and repair rounds (``SchemaRun.hooks``), ``Prepared.extra_rounds``, then ``extra_rounds=``.
A hook gets the finished :class:`Round` (its Request and Result, the earlier rounds, how
many rounds it may still ask for) and returns an :class:`Outcome` (the Result to keep,
possibly annotated, and the next Request or None), or None to decline. The annotated
Result goes on to the next hook; the first hook that returns a next Request ends the
round (the later hooks run after that request's reply). Each hook's budget
(``ExtraRound.budget``) is counted here, by the dispatcher, per request: a hook that has
spent it is still called (to annotate), and a next Request it returns is not sent.

Example::

    def repair(round: Round) -> Outcome | None:
        if not valid(round.result.answer):
            return round.again({"role": "user", "content": "Return valid JSON only."})
        return None

    prep = dataclasses.replace(prep, extra_rounds=(ExtraRound("json", repair, budget=2),))
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..client._request import Request
    from ..core._result import Result
    from ..core._settings import Provider
    from ._api import Prepared

__all__ = ["DEFAULT_BUDGET", "ExtraRound", "Outcome", "Round", "assistant_message"]

#: at most this many rounds per hook and request, unless the hook says otherwise
DEFAULT_BUDGET = 3


def assistant_message(
    result: Result, provider: Provider, *, in_tool_turn: bool = False
) -> dict[str, Any]:
    """The assistant turn to send back in a later request, following the provider's rule
    for reasoning (``Provider.resend_reasoning`` / ``reasoning_field``, wire-format.md
    sections 5 and 10): some accept it back on every turn, others want it only inside tool
    turns, and some refuse a tool turn without the field (``reasoning_required_in_tool_turn``)."""
    message: dict[str, Any] = {"role": "assistant", "content": result.answer}
    if result.tool_calls:
        message["tool_calls"] = [c.to_wire() for c in result.tool_calls]
    if result.reasoning and (provider.resend_reasoning == "always" or in_tool_turn):
        message[provider.reasoning_field] = result.reasoning
    elif in_tool_turn and provider.reasoning_required_in_tool_turn:
        # Refused without the field, even when no reasoning came back (section 5).
        message[provider.reasoning_field] = ""
    return message


@dataclass(frozen=True)
class Outcome:
    """What a hook decided: the Result to keep and the next Request (None: no more)."""

    result: Result
    next: Request | None = None
    #: the messages ``next`` adds (a conversation keeps them)
    added: tuple[dict[str, Any], ...] = ()


@dataclass(frozen=True)
class Round:
    """One finished round, as a hook sees it."""

    prep: Prepared
    request: Request
    result: Result
    #: the request's rounds before this one
    earlier: tuple[Result, ...]
    #: rounds each hook has asked for so far in this request, by hook name
    used: Mapping[str, int]
    #: rounds this hook may still ask for (0: annotate only)
    left: int

    def keep(self, result: Result | None = None) -> Outcome:
        """No more rounds: keep ``result`` (default: the round's own)."""
        return Outcome(result or self.result)

    def resend(self, result: Result | None = None) -> Outcome:
        """The same request once more (keeping ``result`` for this round)."""
        return Outcome(result or self.result, self.request)

    def again(
        self,
        *messages: dict[str, Any],
        reply: dict[str, Any] | None = None,
        result: Result | None = None,
    ) -> Outcome:
        """One more round: this request with the reply (default: the assistant turn by
        the provider's rule, :func:`assistant_message`) and ``messages`` appended."""
        kept = result or self.result
        if reply is None:
            reply = assistant_message(kept, self.prep.settings.provider)
        added = (reply, *messages)
        body = dict(self.request.body)
        body["messages"] = [*body["messages"], *added]
        return Outcome(kept, dataclasses.replace(self.request, body=body), added)


@dataclass(frozen=True)
class ExtraRound:
    """One hook: its name (its rounds are counted under it), what it decides, and at most
    how many rounds it may add to one request."""

    name: str
    decide: Callable[[Round], Outcome | None]
    budget: int = DEFAULT_BUDGET
