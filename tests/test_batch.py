"""map(): R1 over a dataset. Templates and budgets checked before sending, the shared
back-off under a 429 storm (requests counted in the emulator's log), resuming after an
interrupt at every stage, failed rows never stored as answers, the key never in the run
file, the magic's --over, and terminal IPython."""

from __future__ import annotations

import _thread
import asyncio
import sqlite3
import threading
from pathlib import Path
from typing import Any

import pytest

import deepseek_magic as dm
from deepseek_magic import BudgetError, OptionError
from deepseek_magic.batch._batch import amap_rows, map_rows
from deepseek_magic.batch._ratelimit import RateGate
from deepseek_magic.batch._runfile import RunFile
from deepseek_magic.emulator import Emulator, Fault, Reply
from tests.helpers.cells import run_cell, run_terminal_ipython

pd = pytest.importorskip("pandas")


def echo(body: dict[str, Any]) -> Reply:
    """Answer with the question, so each row can be matched to its reply."""
    question = body["messages"][-1]["content"]
    return Reply(reasoning="thinking " * 5, answer=f"A:{question}")


@pytest.fixture
def run_file(tmp_path: Path) -> Path:
    return tmp_path / "runs.sqlite"


@pytest.fixture
def frame() -> Any:
    return pd.DataFrame(
        {"question": [f"q{i}" for i in range(12)], "truth": list(range(12))},
        index=[f"row{i}" for i in range(12)],
    )


def statuses(path: Path) -> dict[str, int]:
    with RunFile(path) as store:
        return store.counts()


def go(data: Any, prompt: Any, emu: Emulator, session: Any, **kwargs: Any) -> Any:
    kwargs.setdefault("progress", False)
    return map_rows(data, prompt, base_url=emu.base_url, session=session, **kwargs)


def priced(data: Any, prompt: Any, emu: Emulator, session: Any, **kwargs: Any) -> Any:
    """As ``go``, with OpenRouter's rules and R1's price (a bare loopback URL is a free
    local server)."""
    return go(data, prompt, emu, session, provider="openrouter", **kwargs)


# ---------------------------------------------------------------------- before sending
def test_template_errors_are_refused_before_anything_is_sent(session, frame, run_file) -> None:
    with Emulator(responder=echo) as emu:
        with pytest.raises(
            OptionError, match=r"\{questoin\}, which is not a column.*Did you mean 'question'"
        ):
            go(frame, "Solve: {questoin}", emu, session, run_file=run_file)
        with pytest.raises(OptionError, match="name a column"):
            go(frame, "Solve: {}", emu, session, run_file=run_file)
        with pytest.raises(OptionError, match="cannot be read"):
            go(frame, "Solve: {question", emu, session, run_file=run_file)

        def bad(row: dict[str, Any]) -> str:
            if row["truth"] == 7:
                raise KeyError("oops")
            return f"Solve {row['question']}"

        with pytest.raises(OptionError, match="Row 'row7'.*KeyError"):
            go(frame, bad, emu, session, run_file=run_file)
        with pytest.raises(OptionError, match="prompt is empty"):
            go(frame, lambda row: "" if row["truth"] == 3 else "x", emu, session, run_file=run_file)
        with pytest.raises(OptionError, match="out of range"):
            go(frame, "{question}", emu, session, run_file=run_file, temperature=9)
        with pytest.raises(OptionError, match="keep"):
            go(frame, "{question}", emu, session, run_file=run_file, keep=["nope"])
        with pytest.raises(OptionError, match="conversation"):
            go(frame, "{question}", emu, session, run_file=run_file, conversation="c")
        for bad_concurrency in (0, -3, True, "8", 2.0, 10_001):
            with pytest.raises(OptionError, match=r"concurrency=.*from 1 to 10,000"):
                go(
                    frame,
                    "{question}",
                    emu,
                    session,
                    run_file=run_file,
                    concurrency=bad_concurrency,
                )
        assert emu.request_log == []


def test_a_concurrency_above_the_open_file_limit_raises_it_or_says_how(
    session, frame, run_file, monkeypatch
) -> None:
    """Each request in flight is a socket: the soft open-file limit (256 on macOS) is
    raised for this process when the hard limit allows, else a one-line error says how,
    before anything is sent."""
    import resource

    limits = {"soft": 256, "hard": 4096}
    monkeypatch.setattr(resource, "getrlimit", lambda _: (limits["soft"], limits["hard"]))
    monkeypatch.setattr(
        resource, "setrlimit", lambda _, pair: limits.update(soft=pair[0], hard=pair[1])
    )
    with Emulator(responder=echo) as emu:
        out = go(frame, "{question}", emu, session, run_file=run_file, concurrency=1000)
        assert (out["error"] == "").all()
        assert limits == {"soft": 1000 + 256, "hard": 4096}
        sent = len(emu.request_log)
        limits.update(soft=256, hard=512)
        with pytest.raises(OptionError, match=r"about 1,256 open files.*may open 512.*ulimit -n"):
            go(frame, "{question}", emu, session, run_file=None, concurrency=1000)
        assert len(emu.request_log) == sent  # nothing sent
        assert limits["soft"] == 256


def test_above_the_providers_documented_concurrency_it_warns_and_sends(session) -> None:
    """DeepSeek documents 2,500 requests in flight for deepseek-flash: above it map()
    warns (with the source) and runs, since an account's limit can be raised."""
    rows = pd.DataFrame({"question": ["a", "b", "c"]})
    with Emulator(responder=echo, dialect="deepseek") as emu:
        kw = dict(provider="deepseek", run_file=None, api_key="sk-test")
        with pytest.warns(UserWarning) as caught:
            out = go(rows, "{question}", emu, session, concurrency=2501, **kw)
        texts = [str(w.message) for w in caught]
        assert any(
            "concurrency=2,501 is above the 2,500 requests in flight DeepSeek allows for "
            "deepseek-flash (api-docs.deepseek.com/quick_start/rate_limit" in t
            for t in texts
        ), texts
        assert list(out["answer"]) == ["A:a", "A:b", "A:c"]
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("error")  # at the limit: nothing to say
            go(rows, "{question}", emu, session, concurrency=2500, **kw)


def test_the_output_is_aligned_with_the_input_and_kept_columns(session, frame, run_file) -> None:
    with Emulator(responder=echo) as emu:
        out = go(frame, "Solve: {question}", emu, session, run_file=run_file, concurrency=4)
        assert len(emu.requests) == 12
    assert list(out.index) == list(frame.index)
    assert list(out.columns) == [
        "question", "answer", "reasoning", "reasoning_tokens", "answer_tokens", "prompt_tokens",
        "cost", "finish_reason", "model", "elapsed", "error", "row_key",
        "reasoning_steps", "self_checks", "answer_first_at", "reasoning_cut",
    ]  # fmt: skip
    assert all(out["answer"] == "A:Solve: " + out["question"])
    assert (out["error"] == "").all() and (out["finish_reason"] == "stop").all()
    assert (out["reasoning_tokens"] > 0).all()


def test_lists_of_strings_and_dicts_and_duplicate_rows_share_one_request(session, run_file) -> None:
    with Emulator(responder=echo) as emu:
        out = go(["2+2?", "3*3?", "2+2?"], None, emu, session, run_file=run_file)
        assert len(emu.requests) == 2  # the same request twice is asked once
        assert list(out["answer"]) == ["A:2+2?", "A:3*3?", "A:2+2?"] and list(out["text"]) == [
            "2+2?",
            "3*3?",
            "2+2?",
        ]
        out = go(
            [{"a": 1, "b": "x"}, {"a": 2, "b": "y"}],
            "{b}={a}",
            emu,
            session,
            run_file=None,
            keep=True,
        )
    assert list(out["answer"]) == ["A:x=1", "A:y=2"] and list(out.columns[:2]) == ["a", "b"]


def test_callable_prompts_may_return_messages(session, run_file) -> None:
    with Emulator(responder=echo) as emu:
        out = go(
            ["one", "two"],
            lambda row: [
                {"role": "system", "content": "Be brief."},
                {"role": "user", "content": row["text"].upper()},
            ],
            emu,
            session,
            run_file=run_file,
        )
        assert emu.requests[0]["messages"][0] == {"role": "system", "content": "Be brief."}
    assert sorted(out["answer"]) == ["A:ONE", "A:TWO"]


def test_dry_run_estimates_and_sends_nothing(session, frame, run_file) -> None:
    with Emulator(responder=echo) as emu:
        est = priced(frame, "Solve: {question}", emu, session, run_file=run_file, dry_run=True)
        assert emu.request_log == []
        assert est.requests == 12 and est.prompt_tokens > 0 and 0 < est.cost_low < est.cost_high
        assert "assumed" in est.output_basis and "12 requests to send" in str(est)
        bounded = priced(
            frame,
            "Solve: {question}",
            emu,
            session,
            run_file=run_file,
            dry_run=True,
            max_completion_tokens=300,
        )
        assert bounded.output_high == 300
        priced(frame.iloc[:4], "Solve: {question}", emu, session, run_file=run_file)
        later = priced(frame, "Solve: {question}", emu, session, run_file=run_file, dry_run=True)
        free = go(frame, "Solve: {question}", emu, session, run_file=None, dry_run=True)
    # Rows already answered are not counted; the range now comes from the replies seen.
    assert later.requests == 8 and later.resumed == 4 and "earlier replies" in later.output_basis
    assert later.output_high < est.output_high
    assert free.cost_high == 0 and "local server" in str(free)  # a local server costs nothing


# ---------------------------------------------------------------------- budgets
def test_a_run_whose_estimate_can_exceed_the_budget_is_refused(session, frame, run_file) -> None:
    with Emulator(responder=echo) as emu:
        with pytest.raises(
            BudgetError, match=r"Not sent: this run could cost up to \$.*over its budget of \$0.01"
        ):
            priced(frame, "Solve: {question}", emu, session, run_file=run_file, budget=0.01)
        assert emu.request_log == []


def test_a_run_that_reaches_its_budget_stops_and_keeps_what_is_done(
    session, frame, run_file
) -> None:
    # Each reply reports $0.001; the estimate (50 tokens at most per row) lets the run start.
    with Emulator(responder=lambda body: Reply(reasoning="r", answer="ok", cost=0.001)) as emu:
        out = priced(
            frame,
            "Solve: {question}",
            emu,
            session,
            run_file=run_file,
            budget=0.003,
            max_completion_tokens=50,
            concurrency=1,
        )
        sent = len(emu.requests)
    assert sent == 3  # $0.003 spent: a fourth row could pass the budget, so it was not sent
    assert (out["answer"] == "ok").sum() == 3
    assert out["error"].iloc[3:].str.contains("budget").all()
    assert out.attrs["stopped"].startswith("the budget of $0.003")
    assert statuses(run_file) == {"done": 3}


# ---------------------------------------------------------------------- rate limits
def test_a_429_storm_slows_the_whole_run_instead_of_every_row_retrying(session, run_file) -> None:
    rows = [f"q{i}" for i in range(40)]
    with Emulator(responder=echo, max_concurrent=2, first_token_latency=0.05) as emu:
        out = go(rows, None, emu, session, run_file=run_file, concurrency=8)
        log = emu.request_log
    refused = sum(r.status == 429 for r in log)
    assert (out["error"] == "").all() and len(log) == 40 + refused
    # The first burst of 8 meets 6 refusals; after that the whole run holds at 2 in flight
    # and probes for more at most once a second: far from one retry storm per row.
    assert 6 <= refused <= 12, refused


def test_naive_gather_of_aask_meets_the_same_limit_with_failures(session) -> None:
    # The baseline the benchmark compares with: per-request retries, no shared limiter.
    with Emulator(responder=echo, max_concurrent=2, first_token_latency=0.2) as emu:

        async def naive() -> list[Any]:
            return await asyncio.gather(
                *(dm.aask(f"q{i}", base_url=emu.base_url, session=session) for i in range(12)),
                return_exceptions=True,
            )

        results = asyncio.run(naive())
        refused = sum(r.status == 429 for r in emu.request_log)
    failed = sum(isinstance(r, Exception) for r in results)
    assert refused >= 10 and failed >= 1


def test_the_gate_lowers_the_limit_for_everyone_and_pauses_on_retry_after() -> None:
    now = [100.0]

    async def scenario() -> tuple[int, float, bool]:
        gate = RateGate(4, clock=lambda: now[0])
        tickets = [await gate.acquire() for _ in range(4)]
        await gate.throttled(tickets[0], None)  # refused with 4 in flight: the server took 3
        await gate.release(ok=False)
        limit_after = gate.allowed
        await gate.throttled(tickets[1], 2.0)  # Retry-After: 2 s for the whole run
        await gate.release(ok=False)
        blocked = False
        try:
            await asyncio.wait_for(gate.acquire(), timeout=0.05)
        except asyncio.TimeoutError:
            blocked = True
        return limit_after, gate.limit, blocked

    limit_after, limit, blocked = asyncio.run(scenario())
    assert limit_after == 3 and limit == 2.0 and blocked


def test_the_gate_probes_back_up_after_successes() -> None:
    now = [0.0]

    async def scenario() -> list[int]:
        gate = RateGate(4, clock=lambda: now[0])
        ticket = await gate.acquire()
        await gate.acquire()
        await gate.throttled(ticket, None)
        await gate.release(ok=False)
        seen = [gate.allowed]
        now[0] += 5.0  # past the probe hold
        for _ in range(12):
            await gate.release(ok=True)
            await gate.acquire()
            seen.append(gate.allowed)
        return seen

    seen = asyncio.run(scenario())
    assert seen[0] == 1 and seen[-1] == 4 and seen == sorted(seen)


def test_5xx_before_the_first_byte_is_retried_but_a_started_stream_never(session, run_file) -> None:
    with Emulator(responder=echo) as emu:
        emu.queue(Fault("status", status=502))
        out = go(["a"], None, emu, session, run_file=run_file, concurrency=1)
        assert out["answer"].iloc[0] == "A:a" and len(emu.requests) == 2
        emu.reset()
        emu.queue(Fault("drop", after_tokens=3))
        out = go(["b"], None, emu, session, run_file=run_file, concurrency=1)
        assert len(emu.requests) == 1  # cut mid-stream: not replayed
    assert out["answer"].iloc[0] == "" and out["error"].iloc[0].startswith("StreamError")


def test_a_retry_after_beyond_the_cap_fails_the_row_with_its_reason(session, run_file) -> None:
    with Emulator(responder=echo) as emu:
        emu.queue(Fault("status", status=429, headers={"Retry-After": "600"}))
        out = go(["a"], None, emu, session, run_file=run_file)
        assert len(emu.requests) == 1
    assert "asked to wait 600 s" in out["error"].iloc[0]


# ---------------------------------------------------------------------- the run file
def test_failed_rows_are_never_stored_as_answers_and_are_sent_again(
    session, frame, run_file
) -> None:
    def flaky(body: dict[str, Any]) -> Any:
        q = body["messages"][-1]["content"]
        return Fault("midstream_error", after_tokens=2) if q in ("q3", "q5") else echo(body)

    with Emulator(responder=flaky) as emu:
        out = go(frame, "{question}", emu, session, run_file=run_file)
        assert list(out.index[out["error"] != ""]) == ["row3", "row5"]
        assert (out.loc[["row3", "row5"], "answer"] == "").all()
        with sqlite3.connect(run_file) as db:
            rows = db.execute(
                "SELECT status, answer, error FROM rows WHERE status != 'done'"
            ).fetchall()
        assert [(s, a) for s, a, _ in rows] == [("failed", None), ("failed", None)]
        assert all("mid-stream" in e for _, _, e in rows)
        emu.reset()
        emu.responder = echo  # the same server (the run file's keys include its URL)
        again = go(frame, "{question}", emu, session, run_file=run_file)
        assert sorted(b["messages"][-1]["content"] for b in emu.requests) == ["q3", "q5"]
    assert (again["error"] == "").all() and statuses(run_file) == {"done": 12}


def test_the_key_never_appears_in_the_run_file(session, sentinel_key, run_file) -> None:
    with Emulator(
        responder=lambda body: Reply(
            reasoning=f"I saw {sentinel_key}", answer=f"key {sentinel_key}"
        )
    ) as emu:
        out = go(
            [f"my key is {sentinel_key}", "plain"],
            None,
            emu,
            session,
            run_file=run_file,
            api_key=sentinel_key,
        )
        assert emu.request_log[0].had_auth  # the key was sent, to the server only
    assert (out["error"] == "").all()
    data = b"".join(
        p.read_bytes() for p in run_file.parent.iterdir() if p.name.startswith(run_file.name)
    )
    assert b"SENTINEL" not in data and b"7f3e9a1c5b2d4e6f" not in data


def test_resume_after_an_interrupt_while_the_first_rows_are_in_flight(
    session, frame, run_file
) -> None:
    with Emulator(responder=lambda body: Fault("stall", after_tokens=1, seconds=30)) as emu:

        def interrupt() -> None:
            emu.wait_for_requests(4, timeout=10)
            _thread.interrupt_main()

        threading.Thread(target=interrupt, daemon=True).start()
        with pytest.raises(dm.Interrupted) as info:
            go(frame, "{question}", emu, session, run_file=run_file, concurrency=4)
        assert emu.wait_idle(timeout=10)
        partial = info.value.partial_frame  # type: ignore[attr-defined]
        assert (partial["error"] == "interrupted").sum() == 4
        assert (partial["error"] == "not sent (interrupted)").sum() == 8
        assert statuses(run_file) == {"interrupted": 4}
        emu.reset()
        emu.responder = echo
        out = go(frame, "{question}", emu, session, run_file=run_file)
        assert len(emu.requests) == 12
    assert (out["error"] == "").all() and statuses(run_file) == {"done": 12}


def test_resume_after_an_interrupt_midway_sends_only_the_missing_rows(
    session, frame, run_file
) -> None:
    def half(body: dict[str, Any]) -> Any:
        q = body["messages"][-1]["content"]
        return Fault("stall", after_tokens=1, seconds=30) if int(q[1:]) >= 6 else echo(body)

    with Emulator(responder=half) as emu:

        def interrupt() -> None:
            emu.wait_for_requests(8, timeout=10)  # six answered, two stalled in flight
            _thread.interrupt_main()

        threading.Thread(target=interrupt, daemon=True).start()
        with pytest.raises(dm.Interrupted) as info:
            go(frame, "{question}", emu, session, run_file=run_file, concurrency=2)
        partial = info.value.partial_frame  # type: ignore[attr-defined]
        kept = partial.index[partial["error"] == ""]
        assert list(kept) == [f"row{i}" for i in range(6)]
        emu.reset()
        emu.responder = echo
        out = go(frame, "{question}", emu, session, run_file=run_file)
        resent = sorted(
            (b["messages"][-1]["content"] for b in emu.requests), key=lambda q: int(q[1:])
        )
    assert resent == [f"q{i}" for i in range(6, 12)]  # nothing answered is paid for twice
    assert (out["error"] == "").all() and list(out["answer"]) == [f"A:q{i}" for i in range(12)]


def test_resume_after_a_crash_sends_the_rows_left_in_flight(session, frame, run_file) -> None:
    with Emulator(responder=echo) as emu:
        go(frame.iloc[:3], "{question}", emu, session, run_file=run_file)
        keys = go(frame, "{question}", emu, session, run_file=None)["row_key"]
        with RunFile(run_file) as store:  # a crash leaves the rows in flight marked "sending"
            store.sending(keys.iloc[5], {"messages": []})
        emu.reset()
        out = go(frame, "{question}", emu, session, run_file=run_file, progress=True)
        assert len(emu.requests) == 9
    assert (out["error"] == "").all() and statuses(run_file) == {"done": 12}


def test_after_a_finished_run_the_same_call_sends_nothing(session, frame, run_file, capsys) -> None:
    with Emulator(responder=echo) as emu:
        first = go(frame, "{question}", emu, session, run_file=run_file)
        second = go(frame, "{question}", emu, session, run_file=run_file)
        assert len(emu.requests) == 12
    pd.testing.assert_frame_equal(
        first.drop(columns=["elapsed"]), second.drop(columns=["elapsed"]), check_dtype=False
    )
    assert "12 from the run file" in capsys.readouterr().out


def test_reasoning_on_disk_only_and_results_on_demand(session, frame, run_file) -> None:
    with Emulator(responder=echo) as emu:
        out = go(
            frame, "{question}", emu, session, run_file=run_file, keep_reasoning=False, results=True
        )
    assert (out["reasoning"] == "").all()
    with dm.open_run(run_file) as store:
        assert store.reasoning(out["row_key"].iloc[0]).startswith("thinking")
        assert store.result(out["row_key"].iloc[1]).answer == "A:q1"
    assert out["result"].iloc[2].answer == "A:q2" and out["result"].iloc[2].reasoning.startswith(
        "thinking"
    )


def test_rows_count_in_the_session_spend_but_not_its_history(session, frame, run_file) -> None:
    from deepseek_magic.features._spend import install_spend, session_totals

    install_spend(session)
    with Emulator(responder=echo) as emu:
        go(frame, "{question}", emu, session, run_file=run_file)
    assert session_totals(session).requests == 12 and len(session.history) == 0


def test_the_async_twin(session, frame, run_file) -> None:
    with Emulator(responder=echo) as emu:
        out = asyncio.run(
            amap_rows(
                frame,
                "{question}",
                base_url=emu.base_url,
                session=session,
                run_file=run_file,
                progress=False,
            )
        )
        assert len(emu.requests) == 12
    assert list(out["answer"]) == [f"A:q{i}" for i in range(12)]


def test_map_is_served_without_shadowing_the_builtin() -> None:
    assert dm.map is map_rows and "map" not in dm.__all__
    namespace: dict[str, Any] = {}
    exec("from deepseek_magic import *", namespace)
    assert "map" not in namespace and namespace["amap"] is dm.amap


# ---------------------------------------------------------------------- the magic
@pytest.fixture
def notebook_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The working folder, as a notebook's: the default run file goes beside it."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture
def over_shell(shell: Any, notebook_dir: Path) -> Any:
    """The shared ``shell`` fixture (its cleanup included), run from ``notebook_dir``."""
    return shell


def test_magic_over_binds_the_dataframe_and_writes_the_run_file(
    over_shell, frame, tmp_path
) -> None:
    over_shell.user_ns["data"] = frame
    over_shell.user_ns.pop("out", None)
    with Emulator(responder=echo) as emu:
        run = run_cell(
            over_shell,
            f"%%deepseek --over data --base-url {emu.base_url} --concurrency 3 -o out\n"
            "Solve {{question}}",
        )
        assert len(emu.requests) == 12
    assert run.success, run.error
    out = over_shell.user_ns["out"]
    assert list(out.index) == list(frame.index) and list(out["answer"]) == [
        f"A:Solve q{i}" for i in range(12)
    ]
    assert (tmp_path / "deepseek-runs.sqlite").exists()
    assert "12/12 rows answered" in run.stdout


def test_magic_over_refuses_bad_input_in_one_line_and_sends_nothing(over_shell, frame) -> None:
    over_shell.user_ns["data"] = frame
    with Emulator(responder=echo) as emu:
        cases = {
            "--over data\nSolve {{questoin}}": "not a column",
            "--over nowhere\nSolve {{question}}": "no variable",
            "--over data --sweep seed=1,2\nSolve {{question}}": "--sweep cannot be used",
            "--over data --concurrency x\nSolve {{question}}": "--concurrency / concurrency 'x'",
            "--over data --provider openrouter --budget 0.0001\nSolve {{question}}": (
                "Not sent: this run could cost"
            ),
            "--budget 1\nSolve this": "--budget works with --over",
        }
        for line, message in cases.items():
            run = run_cell(over_shell, f"%%deepseek --base-url {emu.base_url} {line}")
            assert not run.success and message in str(run.error), (line, run.error)
        assert emu.request_log == []


def test_magic_over_with_vars_fills_notebook_values_and_dry_run_sends_nothing(
    over_shell, frame
) -> None:
    over_shell.user_ns["data"] = frame
    over_shell.user_ns["style"] = "briefly"
    with Emulator(responder=echo) as emu:
        run = run_cell(
            over_shell,
            f"%%deepseek --over data --vars --base-url {emu.base_url} --dry-run\n"
            "Answer {{style}}: {{question}}",
        )
        assert emu.request_log == [] and run.success
        assert "Estimate: 12 requests to send" in run.stdout
        run = run_cell(
            over_shell,
            f"%%deepseek --over data --vars --base-url {emu.base_url} -o out\n"
            "Answer {{style}}: {{question}}",
        )
        sent = {b["messages"][-1]["content"] for b in emu.requests}
        assert sent == {f"Answer briefly: q{i}" for i in range(12)}


def test_magic_over_interrupted_keeps_the_finished_rows(over_shell, frame) -> None:
    over_shell.user_ns["data"] = frame
    over_shell.user_ns.pop("part", None)

    def half(body: dict[str, Any]) -> Any:
        q = body["messages"][-1]["content"]
        return Fault("stall", after_tokens=1, seconds=30) if int(q[1:]) >= 4 else echo(body)

    with Emulator(responder=half) as emu:

        def interrupt() -> None:
            emu.wait_for_requests(5, timeout=10)
            _thread.interrupt_main()

        threading.Thread(target=interrupt, daemon=True).start()
        run = run_cell(
            over_shell,
            f"%%deepseek --over data --base-url {emu.base_url} --concurrency 1 -o part\n"
            "{{question}}",
        )
    assert (
        not run.success
        and "Stopped by the kernel's interrupt. Finished rows are kept in part" in str(run.error)
    )
    assert (over_shell.user_ns["part"]["error"] == "").sum() == 4


# ---------------------------------------------------------------------- terminal IPython
def test_terminal_ipython_shows_a_text_progress_bar_and_the_summary(tmp_path) -> None:
    with Emulator(responder=echo) as emu:
        script = (
            "%load_ext deepseek_magic\n"
            "qs = ['2+2?', '3*3?', '4*4?']\n"
            f"%deepseek --over qs --base-url {emu.base_url} -o out -- {{{{text}}}}\n"
            "print('ANSWERS=' + '|'.join(out['answer']))\n"
        )
        proc = run_terminal_ipython(script, tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "ANSWERS=A:2+2?|A:3*3?|A:4*4?" in proc.stdout
    assert "3/3 rows answered" in proc.stdout
    assert "map: 100%" in proc.stderr and "3/3" in proc.stderr  # tqdm's text bar, on stderr
    assert "<div" not in proc.stdout + proc.stderr


def test_offline_progress_and_summary_say_emulator_and_simulated(session, frame, capsys) -> None:
    from deepseek_magic.features._offline import start_offline, stop_offline

    start_offline(session)
    try:
        out = map_rows(frame.iloc[:3], "{question}", session=session, run_file=None, progress=True)
    finally:
        stop_offline(session)
    assert (out["error"] == "").all()
    seen = capsys.readouterr()
    bar, summary = seen.err, seen.out
    assert "map (offline emulator)" in bar and "simulated $" in bar  # the progress bar
    assert "Offline emulator" in summary and "(simulated, not charged)" in summary
