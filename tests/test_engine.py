"""The engine (``engine/_dispatch``): the one module that sends requests.

Its extra-round hook (rounds counted, tokens and cost summed, the conversation kept), the
one order of the features' hooks, ``run_many`` (gate, ``on_done``, one failing item does
not stop the others), the "not served" line the same from both twins, and the proof that
no other module of the package calls a client's ``stream()``.
"""

from __future__ import annotations

import ast
import asyncio
import dataclasses
from pathlib import Path
from typing import Any

import pytest

import deepseek_magic as dm
from deepseek_magic.core._session import Feature
from deepseek_magic.emulator import Emulator, Fault, Reply
from deepseek_magic.engine._api import prepare
from deepseek_magic.engine._dispatch import Lane, Limit, run, run_many, run_sync
from deepseek_magic.engine._rounds import ExtraRound, Outcome, Round

PACKAGE = Path(dm.__file__).parent


def _prep(session: Any, emu: Emulator, prompt: str = "q", **given: Any) -> Any:
    return prepare(prompt, session=session, options={}, base_url=emu.base_url, **given)


# ---------------------------------------------------------------- one module sends
def test_only_the_engine_calls_a_clients_stream() -> None:
    callers = set()
    for path in PACKAGE.rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "stream"
                and "http" not in ast.unparse(node.func.value)  # httpx's own stream()
            ):
                callers.add(str(path.relative_to(PACKAGE)))
    assert callers == {"engine/_dispatch.py"}


# ---------------------------------------------------------------- extra rounds
def test_an_extra_round_hook_asks_once_more_and_the_rounds_add_up(session, emu) -> None:
    emu.queue(Reply(reasoning="r1", answer="not json"), Reply(reasoning="r2", answer='{"a": 1}'))
    asked: list[str] = []

    def repair(round: Round) -> Outcome | None:
        asked.append(round.result.answer)
        if round.result.answer.startswith("{"):
            return None
        return round.again({"role": "user", "content": "Return JSON only."})

    prep = dataclasses.replace(_prep(session, emu), extra_rounds=(ExtraRound("json", repair),))
    result = run_sync(prep, session=session)

    assert result.answer == '{"a": 1}' and asked == ["not json", '{"a": 1}']
    assert len(result.rounds) == 1 and result.rounds[0].answer == "not json"
    second = emu.requests[1]["messages"]
    assert [m["role"] for m in second] == ["user", "assistant", "user"]
    assert second[1]["content"] == "not json" and second[2]["content"] == "Return JSON only."
    first, last = result.rounds[0].usage, result.usage
    assert result.total_usage.completion_tokens == first.completion_tokens + last.completion_tokens
    assert result.cost == pytest.approx(result.rounds[0].cost + emu_cost(last, result))
    assert session.history.last is result and len(session.history) == 1


def emu_cost(usage: Any, result: dm.Result) -> float:
    """The last round's own cost: the combined cost minus the earlier rounds'."""
    return (result.cost or 0.0) - sum(r.cost or 0.0 for r in result.rounds)


def _again_unless(done: str | None = None, ask: str = "again") -> Any:
    """A hook that asks once more (``ask``) until the answer is ``done``."""

    def decide(round: Round) -> Outcome | None:
        if round.result.answer == done:
            return None
        return round.again({"role": "user", "content": ask})

    return decide


def test_extra_rounds_stop_at_the_limit(session, emu) -> None:
    emu.queue(*[Reply(answer=f"try {i}") for i in range(5)])
    prep = dataclasses.replace(
        _prep(session, emu),
        extra_rounds=(ExtraRound("again", _again_unless(), budget=2),),
    )
    result = run_sync(prep, session=session)
    assert len(emu.requests) == 3 and result.answer == "try 2" and len(result.rounds) == 2


def test_an_extra_round_in_a_conversation_is_kept_in_it(session, emu) -> None:
    emu.queue(Reply(answer="bad"), Reply(answer="good"))
    hook = (ExtraRound("fix", _again_unless("good", "fix")),)
    prep = dataclasses.replace(_prep(session, emu, conversation="c"), extra_rounds=hook)
    run_sync(prep, session=session)
    roles = [(m["role"], m["content"]) for m in session.conversation("c").messages]
    assert roles == [("user", "q"), ("assistant", "bad"), ("user", "fix"), ("assistant", "good")]


def test_the_async_twin_runs_the_same_extra_rounds(session, emu) -> None:
    emu.queue(Reply(answer="x"), Reply(answer="y"))
    hook = (ExtraRound("more", _again_unless("y", "more")),)
    prep = dataclasses.replace(_prep(session, emu), extra_rounds=hook)
    result = asyncio.run(run(prep, session=session))
    assert result.answer == "y" and [r.answer for r in result.rounds] == ["x"]


# ---------------------------------------------------------------- the hooks' order
class Tracer(Feature):
    def __init__(self, seen: list[str]) -> None:
        self.seen = seen

    def before_request(self, request: Any) -> None:
        self.seen.append("before")

    def after_reply(self, request: Any, result: dm.Result) -> None:
        self.seen.append("after")

    def recorded(self, result: dm.Result) -> None:
        self.seen.append("recorded")


@pytest.mark.parametrize("how", ["ask", "aask", "map", "sweep"])
def test_every_entry_point_runs_the_features_in_one_order(session, emu, how: str) -> None:
    pytest.importorskip("pandas")
    seen: list[str] = []
    session.plug(Tracer(seen))
    common = {"base_url": emu.base_url, "session": session}
    if how == "ask":
        dm.ask("q", **common)
    elif how == "aask":
        asyncio.run(dm.aask("q", **common))
    elif how == "map":
        dm.map(["q"], "{text}", run_file=None, progress=False, **common)
    else:
        dm.sweep("q", {"seed": [1]}, **common)
    assert seen == ["before", "after", "recorded"]


# ---------------------------------------------------------------- run_many
def test_run_many_reports_each_outcome_and_a_failure_stops_nothing(session, emu) -> None:
    emu.queue(Reply(answer="one"), Fault("status", status=400), Reply(answer="three"))
    preps = [_prep(session, emu, f"p{i}") for i in range(3)]
    seen: dict[int, Any] = {}

    class Watch(Lane):
        def sending(self, i: int, request: Any) -> None:
            seen.setdefault(f"sent{i}", 0)

    outcomes = asyncio.run(
        run_many(
            preps,
            session=session,
            gate=Limit(1),
            concurrency=1,
            lane=Watch(),
            on_done=lambda i, outcome: seen.__setitem__(i, outcome),
        )
    )
    assert [type(o).__name__ for o in outcomes] == ["Result", "BadRequestError", "Result"]
    assert seen[0].answer == "one" and seen[2].answer == "three"
    assert isinstance(seen[1], dm.BadRequestError) and {"sent0", "sent1", "sent2"} <= set(seen)


def test_run_many_retries_a_server_error_before_the_first_byte(session, emu) -> None:
    emu.queue(Fault("status", status=502), Reply(answer="second try"))
    prep = _prep(session, emu, max_retries=2)
    retries: list[int] = []

    class Count(Lane):
        def retrying(self, i: int) -> None:
            retries.append(i)

    (outcome,) = asyncio.run(run_many([prep], session=session, gate=Limit(1), lane=Count()))
    assert isinstance(outcome, dm.Result) and outcome.answer == "second try"
    assert retries == [0] and len(emu.requests) == 2


# ---------------------------------------------------------------- "not served"
def test_not_served_reads_the_same_from_both_twins(session) -> None:
    messages = []
    for twin in ("ask", "aask"):
        with Emulator(replies=[Reply(answer="x")], dialect="deepseek") as emu:
            kwargs = {
                "base_url": emu.base_url,
                "provider": "deepseek",
                "model": "deepseek-flsh",
                "session": session,
            }
            with pytest.raises(dm.BadRequestError) as info:
                if twin == "ask":
                    dm.ask("q", **kwargs)
                else:
                    asyncio.run(dm.aask("q", **kwargs))
            messages.append(str(info.value))
            assert info.value.partial is not None and info.value.status_code == 400
    assert messages[0] == messages[1] and "closest it serves: deepseek-flash" in messages[0]


# ---------------------------------------------------------------- one AsyncClient per loop
def test_aask_reuses_one_async_client_per_event_loop(session, emu) -> None:
    emu.queue(Reply(answer="a"), Reply(answer="b"), Reply(answer="c"))

    async def two() -> tuple[Any, Any]:
        await dm.aask("1", base_url=emu.base_url, session=session)
        first = session.aclient()
        await dm.aask("2", base_url=emu.base_url, session=session)
        return first, session.aclient()

    first, second = asyncio.run(two())
    assert first is second

    async def other() -> Any:
        await dm.aask("3", base_url=emu.base_url, session=session)
        return session.aclient()

    assert asyncio.run(other()) is not first


class Refuser(Feature):
    def before_request(self, request: Any) -> None:
        raise dm.BudgetError("Not sent: over the budget.")


@pytest.mark.parametrize("how", ["ask", "aask", "stream"])
def test_a_request_refused_before_sending_records_nothing(session, emu, how: str) -> None:
    session.plug(Refuser())
    common = {"base_url": emu.base_url, "session": session}
    with pytest.raises(dm.BudgetError):
        if how == "ask":
            dm.ask("q", **common)
        elif how == "aask":
            asyncio.run(dm.aask("q", **common))
        else:
            with dm.stream("q", **common) as s:
                list(s)
    assert emu.requests == [] and len(session.history) == 0
