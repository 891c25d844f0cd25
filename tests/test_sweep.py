"""Sweeps: the grid, concurrent runs against the emulator, the DataFrame, the view, the magic."""

from __future__ import annotations

import _thread
import threading
from typing import Any

import pytest

import deepseek_magic as dm
from deepseek_magic import BudgetError, OptionError
from deepseek_magic.batch._sweep import MAX_POINTS, grid_points, parse_sweep, sweep, sweep_ask
from deepseek_magic.core._session import Feature
from deepseek_magic.emulator import Emulator, Fault, Reply
from deepseek_magic.engine._api import prepare
from deepseek_magic.view._render import render_sweep
from tests.helpers.cells import run_cell

pd = pytest.importorskip("pandas")


def echo(body: dict[str, Any]) -> Reply:
    """Answer with the options the request carried, so each row can be matched to its point."""
    return Reply(reasoning="r" * 10, answer=f"t={body.get('temperature')} s={body.get('seed')}")


# ---------------------------------------------------------------------- the grid
def test_parse_sweep_checks_and_converts_values() -> None:
    grid = parse_sweep(
        [
            "temperature=0.2, 0.6,1",
            "top-p=0.9",
            "seed=1,2",
            "stop=###,END",
            "max-tokens=64",
            "reasoning-effort=low,HIGH",
            "model=deepseek-r1,other/model",
        ]
    )
    assert grid == {
        "temperature": [0.2, 0.6, 1.0],
        "top_p": [0.9],
        "seed": [1, 2],
        "stop": [("###",), ("END",)],
        "max_completion_tokens": [64],
        "reasoning_effort": ["low", "high"],
        "model": ["deepseek-r1", "other/model"],
    }


@pytest.mark.parametrize(
    "items, words",
    [
        (["temperature"], "write NAME=V1,V2"),
        (["temperature=0.2,,0.6"], "an empty value"),
        (["temperature="], "an empty value"),
        (["temprature=0.2"], "Did you mean temperature?"),
        (["temperature=3"], "--temperature / temperature=3: out of range"),
        (["seed=1.5"], "not an integer"),
        (["tools=f"], "tools cannot be swept"),
        (["seed=1", "seed=2"], "given twice"),
        ([f"seed={','.join(str(i) for i in range(MAX_POINTS + 1))}"], "split the grid"),
    ],
)
def test_parse_sweep_refusals_are_one_line(items: list[str], words: str) -> None:
    with pytest.raises(OptionError) as info:
        parse_sweep(items)
    assert words in str(info.value) and "\n" not in str(info.value)


def test_grid_points_last_name_varies_fastest() -> None:
    assert grid_points({"temperature": [0.2, 0.6], "seed": [1, 2]}) == [
        {"temperature": 0.2, "seed": 1},
        {"temperature": 0.2, "seed": 2},
        {"temperature": 0.6, "seed": 1},
        {"temperature": 0.6, "seed": 2},
    ]


# ---------------------------------------------------------------------- running
def test_sweep_returns_one_row_per_point_with_its_own_answer(session) -> None:
    with Emulator(responder=echo, dialect="openrouter") as emu:
        frame = sweep_ask(
            "Hi",
            {"temperature": [0.2, 0.6], "seed": [1, 2]},
            session=session,
            base_url=emu.base_url,
            provider="openrouter",
            max_completion_tokens=50,
        )
        bodies = emu.requests
    assert len(bodies) == 4
    assert all(
        b["max_completion_tokens"] == 50 and b["messages"] == [{"role": "user", "content": "Hi"}]
        for b in bodies
    )
    assert sorted((b["temperature"], b["seed"]) for b in bodies) == [
        (0.2, 1),
        (0.2, 2),
        (0.6, 1),
        (0.6, 2),
    ]
    assert list(frame.columns[:2]) == ["temperature", "seed"]
    for column in (
        "answer",
        "reasoning_chars",
        "prompt_tokens",
        "reasoning_tokens",
        "answer_tokens",
        "cost",
        "elapsed",
        "finish_reason",
        "error",
        "result",
    ):
        assert column in frame.columns
    assert list(frame["answer"]) == [
        "t=0.2 s=1",
        "t=0.2 s=2",
        "t=0.6 s=1",
        "t=0.6 s=2",
    ]  # grid order
    assert list(frame["reasoning_chars"]) == [10] * 4 and frame["error"].isna().all()
    assert (frame["cost"] > 0).all() and list(frame["finish_reason"]) == ["stop"] * 4
    assert len(session.history) == 4


def test_points_run_at_the_same_time(session) -> None:
    # Every request must be in flight at once for the barrier to open: a sequential
    # sweep would break it (and its points would fail with the responder's error).
    barrier = threading.Barrier(4, timeout=20)

    def together(body: dict[str, Any]) -> Reply:
        barrier.wait()
        return echo(body)

    with Emulator(responder=together) as emu:
        frame = sweep_ask(
            "Hi",
            {"seed": [1, 2, 3, 4]},
            session=session,
            base_url=emu.base_url,
            provider="openrouter",
        )
    assert frame["error"].isna().all(), list(frame["error"])
    assert list(frame["answer"]) == [f"t=None s={i}" for i in (1, 2, 3, 4)]


def test_all_requests_arrive_before_the_first_completes(session) -> None:
    seen: list[int] = []
    emu = Emulator(first_token_latency=0.5)

    def responder(body: dict[str, Any]) -> Reply:
        seen.append(sum(r.completed for r in emu.request_log))  # requests already finished
        return echo(body)

    emu.responder = responder
    with emu:
        sweep_ask(
            "Hi",
            {"seed": [1, 2, 3, 4]},
            session=session,
            base_url=emu.base_url,
            provider="openrouter",
            concurrency=4,
        )
    assert seen == [0, 0, 0, 0]


def test_concurrency_is_bounded(session) -> None:
    lock = threading.Lock()
    state = {"now": 0, "most": 0}

    class Count(Feature):
        def before_request(self, request: Any) -> None:
            with lock:
                state["now"] += 1
                state["most"] = max(state["most"], state["now"])

        def after_reply(self, request: Any, result: Any) -> None:
            with lock:
                state["now"] -= 1

    session.plug(Count())
    # counted on the client side (sent minus received): the emulator marks a request
    # completed a moment after the client has read its end
    with Emulator(responder=echo, first_token_latency=0.2) as emu:
        frame = sweep_ask(
            "Hi",
            {"seed": [1, 2, 3, 4, 5, 6]},
            session=session,
            base_url=emu.base_url,
            provider="openrouter",
            concurrency=2,
        )
        assert len(emu.requests) == 6
    assert len(frame) == 6 and frame["error"].isna().all()
    assert state["most"] == 2 and state["now"] == 0


def test_a_failing_point_is_a_row_not_a_crash(session) -> None:
    def responder(body: dict[str, Any]) -> Any:
        if body["seed"] == 2:
            return Fault("status", status=400, message="seed 2 is cursed")
        if body["seed"] == 3:
            return Fault(
                "midstream_error", after_tokens=3, reply=Reply(answer="half of an answer here")
            )
        return echo(body)

    with Emulator(responder=responder) as emu:
        frame = sweep_ask(
            "Hi", {"seed": [1, 2, 3]}, session=session, base_url=emu.base_url, provider="openrouter"
        )
    assert pd.isna(frame.loc[0, "error"]) and frame.loc[0, "answer"] == "t=None s=1"
    assert (
        "BadRequestError" in frame.loc[1, "error"] and "seed 2 is cursed" in frame.loc[1, "error"]
    )
    assert (
        "StreamError" in frame.loc[2, "error"] and frame.loc[2, "answer"] == "half of an"
    )  # the partial kept
    assert frame.loc[2, "result"].answer == "half of an"


def test_sweeping_the_model(session) -> None:
    with Emulator(responder=echo) as emu:
        frame = sweep_ask(
            "Hi",
            {"model": ["a/one", "b/two"]},
            session=session,
            base_url=emu.base_url,
            provider="openrouter",
        )
        models = sorted(b["model"] for b in emu.requests)
    assert models == ["a/one", "b/two"] and list(frame["model"]) == ["a/one", "b/two"]


def test_extra_fields_and_tools_are_kept_for_every_point(session) -> None:
    def get_weather(city: str) -> str:
        """Weather."""
        return city

    with Emulator(responder=echo) as emu:
        sweep_ask(
            "Hi",
            {"temperature": [0.1, 0.2]},
            session=session,
            base_url=emu.base_url,
            provider="openrouter",
            extra={"provider": {"sort": "price"}},
            tools=[get_weather],
            tool_choice="auto",
        )
        bodies = emu.requests
    assert all(
        b["provider"] == {"sort": "price"}
        and b["tool_choice"] == "auto"
        and b["tools"][0]["function"]["name"] == "get_weather"
        for b in bodies
    )


def test_points_are_validated_together_before_anything_is_sent(session) -> None:
    with Emulator(responder=echo) as emu:
        with pytest.raises(OptionError, match="cannot be combined"):
            sweep_ask(
                "Hi",
                {"reasoning_max_tokens": [100, 200]},
                session=session,
                base_url=emu.base_url,
                provider="openrouter",
                reasoning_effort="high",
            )
        with pytest.raises(OptionError, match="concurrency"):
            sweep_ask(
                "Hi",
                {"seed": [1]},
                session=session,
                base_url=emu.base_url,
                provider="openrouter",
                concurrency=0,
            )
        assert emu.request_log == []


def test_the_budget_covers_the_whole_grid(session) -> None:
    from deepseek_magic.features._spend import install_spend

    install_spend(session)
    session.config["session_budget"] = (
        0.05  # one point may cost $0.02 (8,192 assumed output tokens): 4 may not
    )
    with Emulator(responder=echo) as emu:
        with pytest.raises(BudgetError, match="these 4 requests"):
            sweep_ask(
                "Hi",
                {"seed": [1, 2, 3, 4]},
                session=session,
                base_url=emu.base_url,
                provider="openrouter",
            )
        assert emu.request_log == []


def test_a_sweep_does_not_extend_the_conversation(session) -> None:
    with Emulator(responder=echo) as emu:
        from deepseek_magic import ask

        ask(
            "Remember 7.",
            base_url=emu.base_url,
            provider="openrouter",
            session=session,
            conversation="c",
        )
        sweep_ask(
            "What number?",
            {"seed": [1, 2]},
            session=session,
            base_url=emu.base_url,
            provider="openrouter",
            conversation="c",
        )
        bodies = emu.requests
    assert bodies[1]["messages"][0]["content"] == "Remember 7."  # the chat so far is sent
    assert len(session.conversations["c"].results) == 1


def test_interrupt_cancels_what_is_in_flight(session) -> None:
    with Emulator(
        replies=[], responder=lambda body: Fault("stall", after_tokens=2, seconds=30)
    ) as emu:
        prep = prepare(
            "Hi", session=session, base_url=emu.base_url, provider="openrouter", options={}
        )

        def interrupt() -> None:
            emu.wait_for_requests(2, timeout=10)
            _thread.interrupt_main()

        threading.Thread(target=interrupt, daemon=True).start()
        with pytest.raises(dm.Interrupted) as info:
            sweep(prep, {"seed": [1, 2]}, session=session)
        assert emu.wait_idle(timeout=10)  # the stalled streams were closed, not left hanging
        assert all(r.disconnected for r in emu.request_log)
    partial = info.value.partial_frame  # type: ignore[attr-defined]
    assert len(partial) == 2 and all("interrupted" in e for e in partial["error"])


# ---------------------------------------------------------------------- the view
def test_the_view_renders_markdown_and_escapes_model_text(session) -> None:
    def responder(body: dict[str, Any]) -> Reply:
        return Reply(
            reasoning="<img src=x onerror=alert(1)>", answer="**bold** <script>alert(1)</script>"
        )

    with Emulator(responder=responder) as emu:
        frame = sweep_ask(
            "Hi", {"seed": [1]}, session=session, base_url=emu.base_url, provider="openrouter"
        )
    bundle = render_sweep(frame.to_dict("records"), ["seed"])
    html = bundle["text/html"]
    assert "<strong>bold</strong>" in html
    assert "<script>" not in html and "<img" not in html and "&lt;img src=x" in html
    assert "seed=1" in bundle["text/plain"] and "**bold**" in bundle["text/plain"]


def test_the_view_gets_the_progress_line_then_the_table(session) -> None:
    shown: list[dict[str, str]] = []
    with Emulator(responder=echo) as emu:
        prep = prepare(
            "Hi", session=session, base_url=emu.base_url, provider="openrouter", options={}
        )
        frame = sweep(prep, {"seed": [1, 2, 3]}, session=session, view=shown.append)
    progress = [b["text/plain"] for b in shown[:-1]]
    assert progress[0] == "Sweep: 0/3 done…" and 1 <= len(progress) <= 4
    assert progress == sorted(progress)  # counts only go up, each shown once
    assert "dsm-sweep" in shown[-1]["text/html"] and shown[-1]["text/html"].count("<tr>") == 4
    assert list(frame["seed"]) == [1, 2, 3]


def test_without_a_view_nothing_is_displayed(session, monkeypatch) -> None:
    import IPython.display

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("a sweep without a view displayed something")

    monkeypatch.setattr(IPython.display, "display", refuse)
    monkeypatch.setattr(IPython.display, "update_display", refuse)
    with Emulator(responder=echo) as emu:
        frame = sweep_ask(
            "Hi", {"seed": [1, 2]}, session=session, base_url=emu.base_url, provider="openrouter"
        )
    assert len(frame) == 2


def test_public_sweep_with_display_shows_one_output_updated_to_the_table(shell) -> None:
    with Emulator(responder=echo) as emu:
        run = run_cell(
            shell,
            "import deepseek_magic as dm\n"
            f"df = dm.sweep('Hi', {{'seed': [1, 2]}}, base_url='{emu.base_url}', display=True)",
        )
    assert run.success, run.error
    assert len(shell.user_ns["df"]) == 2
    first, *rest = run.outputs
    assert "Sweep: 0/2 done" in first.data["text/plain"] and not first.update
    assert rest and all(o.update for o in rest)  # one output, updated in place
    ids = {o.transient["display_id"] for o in run.outputs}
    assert len(ids) == 1
    assert "dsm-sweep" in rest[-1].data["text/html"]


# ---------------------------------------------------------------------- through the magic
def test_magic_sweep_binds_the_dataframe(shell) -> None:
    shell.user_ns.pop("df", None)
    with Emulator(responder=echo) as emu:
        run = run_cell(
            shell,
            f"%%deepseek --base-url {emu.base_url} --sweep temperature=0.2,0.6 --sweep seed=1,2 "
            f"--max-completion-tokens 40 -o df\nHi",
        )
        assert len(emu.requests) == 4
    assert run.success, run.error
    df = shell.user_ns["df"]
    assert isinstance(df, pd.DataFrame) and len(df) == 4
    assert list(df["answer"]) == ["t=0.2 s=1", "t=0.2 s=2", "t=0.6 s=1", "t=0.6 s=2"]
    table = run.outputs[-1].data["text/html"]  # the progress line was replaced by the table
    assert "dsm-sweep" in table and table.count("<tr>") == 5


def test_magic_sweep_refuses_a_bad_grid_and_sends_nothing(shell) -> None:
    with Emulator(responder=echo) as emu:
        run = run_cell(shell, f"%%deepseek --base-url {emu.base_url} --sweep temperature=0.2,9\nHi")
        assert emu.request_log == []
    assert type(run.error).__name__ == "UsageError" and "out of range" in str(run.error)
