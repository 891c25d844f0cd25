"""map(samples=k): exactly k requests per row with distinct seeds (or the user's
temperatures), one output row per sample, resumed exactly once from the run file,
estimated and budgeted as rows; grade() then reports majority vote and pass@k. The
judge (compare="judge"): its own map() run (resumable, cost apart), verdicts read
tolerantly, the rubric sent, the reasoning kept. The plots, on figure objects."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import deepseek_magic as dm
from deepseek_magic import BudgetError, OptionError
from deepseek_magic.batch._batch import map_rows
from deepseek_magic.emulator import Emulator, Reply
from deepseek_magic.eval._judge import parse_verdict

pd = pytest.importorskip("pandas")


def by_seed(body: dict[str, Any]) -> Reply:
    """Row q1 is right for even seeds only; q2 always right; q3 never."""
    question = body["messages"][-1]["content"]
    seed = body.get("seed")
    truth = {"q1": 10, "q2": 20, "q3": 30}[question[-2:]]
    right = question.endswith("q2") or (
        question.endswith("q1") and seed is not None and seed % 2 == 0
    )
    value = truth if right else truth + 1
    return Reply(reasoning=f"Thinking about {question}. Wait, check it.", answer=f"Answer: {value}")


@pytest.fixture
def problems() -> Any:
    return pd.DataFrame(
        {"question": ["solve q1", "solve q2", "solve q3"], "truth": [10, 20, 30]},
        index=["p1", "p2", "p3"],
    )


def run(data: Any, emu: Emulator, session: Any, **kwargs: Any) -> Any:
    kwargs.setdefault("progress", False)
    return map_rows(data, "{question}", base_url=emu.base_url, session=session, **kwargs)


def test_k_requests_per_row_with_distinct_seeds_and_a_sample_column(
    problems: Any, session: Any, tmp_path: Path
) -> None:
    with Emulator(responder=by_seed) as emu:
        out = run(problems, emu, session, samples=4, run_file=tmp_path / "r.sqlite", keep=True)
        sent = emu.requests
    assert len(sent) == 12
    seeds: dict[str, list[int]] = {}
    for body in sent:
        seeds.setdefault(body["messages"][-1]["content"], []).append(body["seed"])
    assert {q: sorted(s) for q, s in seeds.items()} == {
        f"solve q{i}": [0, 1, 2, 3] for i in (1, 2, 3)
    }
    assert list(out.index) == ["p1"] * 4 + ["p2"] * 4 + ["p3"] * 4
    assert out["sample"].tolist() == [0, 1, 2, 3] * 3
    assert out["row_key"].nunique() == 12
    assert out["self_checks"].tolist() == [1] * 12  # the reasoning's columns are there too

    g = dm.grade(out, "truth")
    assert g.correct == 2 + 4 + 0
    votes = g.votes
    assert votes["samples"].tolist() == [4, 4, 4]
    assert votes.loc["p1", "agreement"] == 0.5 and votes.loc["p2", "majority"] == 20
    # q1: 2 of 4 right -> pass@1 0.5, pass@2 1 - C(2,2)/C(4,2) = 5/6, pass@3 1
    assert g.pass_at(1) == pytest.approx((0.5 + 1 + 0) / 3)
    assert g.pass_at(2) == pytest.approx((5 / 6 + 1 + 0) / 3)
    assert g.pass_at_k[4] == pytest.approx(2 / 3)
    assert g.majority_accuracy == pytest.approx(2 / 3)  # q1's tie goes to the first seen (right)


def test_samples_resume_exactly_once(problems: Any, session: Any, tmp_path: Path) -> None:
    path = tmp_path / "r.sqlite"
    with Emulator(responder=by_seed) as emu:
        first = run(problems.iloc[:2], emu, session, samples=3, run_file=path)
        assert len(emu.requests) == 6
        again = run(problems, emu, session, samples=3, run_file=path)
        assert len(emu.requests) == 6 + 3  # only the new row's samples
        more = run(problems, emu, session, samples=5, run_file=path)
        assert len(emu.requests) == 9 + 3 * 2  # samples 3 and 4 of each row
    assert again["answer"].iloc[:6].tolist() == first["answer"].tolist()
    assert len(more) == 15 and more["error"].eq("").all()


def test_the_users_temperatures_and_seeds(problems: Any, session: Any) -> None:
    with Emulator(responder=by_seed) as emu:
        run(problems.iloc[:1], emu, session, samples=3, temperature=[0.2, 0.7, 1.0], run_file=None)
        assert sorted(b["temperature"] for b in emu.requests) == [0.2, 0.7, 1.0]
        assert all("seed" not in b for b in emu.requests)
        emu.reset()
        run(problems.iloc[:1], emu, session, samples=2, seed=[7, 9], run_file=None)
        assert sorted(b["seed"] for b in emu.requests) == [7, 9]
        emu.reset()
        run(problems.iloc[:1], emu, session, samples=2, seed=100, run_file=None)
        assert sorted(b["seed"] for b in emu.requests) == [100, 101]


def test_samples_are_estimated_and_budgeted_and_bad_values_refused(
    problems: Any, session: Any
) -> None:
    with Emulator(responder=by_seed) as emu:
        estimate = run(problems, emu, session, samples=5, dry_run=True, run_file=None)
        assert estimate.requests == 15
        with pytest.raises(BudgetError, match="15 requests"):
            run(
                problems, emu, session, samples=5, run_file=None, budget=1e-9,
                provider="openrouter", max_completion_tokens=1000,
            )  # fmt: skip
        for bad, message in [
            ({"samples": 0}, "samples=0"),
            ({"samples": True}, "samples=True"),
            ({"samples": 2, "temperature": [0.1, 0.2, 0.3]}, "3 values for samples=2"),
        ]:
            with pytest.raises(OptionError, match=message):
                run(problems, emu, session, run_file=None, **bad)
        with pytest.raises(OptionError, match="already has a 'sample' column"):
            run(problems.assign(sample=1), emu, session, samples=2, run_file=None)
        assert emu.requests == []


# ------------------------------------------------------------------ the judge
@pytest.mark.parametrize(
    ("reply", "verdict"),
    [
        ('{"verdict": "correct", "reason": "same number"}', True),
        ('Sure.\n```json\n{"verdict": "incorrect", "reason": "off by one"}\n```', False),
        ('{"correct": true}', True),
        ("Incorrect: the answer is 11, not 10.", False),
        ("CORRECT. Both say 72.", True),
        ("The answer is not correct.", False),
        ("I cannot tell.", None),
        ("", None),
    ],
)
def test_the_verdict_is_read_tolerantly(reply: str, verdict: bool | None) -> None:
    assert parse_verdict(reply)[0] is verdict


def judge_reply(body: dict[str, Any]) -> Reply:
    prompt = body["messages"][-1]["content"]
    expected = prompt.split("Expected answer: ")[1].split("\n")[0]
    answer = prompt.split("<<<\n")[1].split("\n>>>")[0]
    ok = expected in answer
    verdict = {"verdict": "correct" if ok else "incorrect", "reason": "compared"}
    return Reply(
        reasoning="Judging. " + ("RUBRIC SEEN" if "Be strict" in prompt else ""),
        answer=json.dumps(verdict),
    )


def test_the_judge_is_a_map_run_of_its_own(session: Any, tmp_path: Path) -> None:
    graded = pd.DataFrame(
        {
            "answer": ["It is seventy-two, i.e. 72.", "About 70.", "", "Answer: 5"],
            "truth": ["72", "72", "72", "5"],
            "error": ["", "", "", "timeout"],
            "cost": [0.01, 0.01, 0.0, 0.0],
        }
    )
    path = tmp_path / "judge.sqlite"
    with Emulator(responder=judge_reply) as emu:
        options = {
            "base_url": emu.base_url,
            "session": session,
            "run_file": path,
            "progress": False,
        }
        g = dm.grade(graded, "truth", compare="judge", judge=options, rubric="Be strict.")
        assert len(emu.requests) == 2  # the empty and the failed row are not sent
        assert all("Be strict." in b["messages"][-1]["content"] for b in emu.requests)
        assert g.frame["correct"].tolist() == [True, False, False, False]
        assert g.frame["judge_reasoning"].iloc[0] == "Judging. RUBRIC SEEN"
        assert g.frame["judge_reason"].tolist()[2:] == ["no answer to judge", "the row failed"]
        assert g.judge is not None and g.judge.frame is not None and len(g.judge.frame) == 2
        assert g.cost == pytest.approx(0.02)  # the graded rows' cost, the judge's apart
        again = dm.grade(graded, "truth", compare="judge", judge=options, rubric="Be strict.")
        assert len(emu.requests) == 2  # resumed from the run file: nothing sent twice
    assert again.frame["correct"].tolist() == g.frame["correct"].tolist()
    with pytest.raises(OptionError, match="rubric"):
        dm.grade(graded, "truth", compare="judge", rubric="  ")


# ------------------------------------------------------------------ plots
@pytest.fixture
def grades() -> Any:
    rows = 40
    frame = pd.DataFrame(
        {
            "answer": [f"Answer: {i % 3}" for i in range(rows)],
            "truth": [0] * rows,
            "reasoning_tokens": [100 + 10 * i for i in range(rows)],
            "model": ["a", "b"] * (rows // 2),
            "cost": [0.001] * rows,
            "sample": [i % 4 for i in range(rows)],
        },
        index=[i // 4 for i in range(rows)],
    )
    return dm.grade(frame, "truth")


def _labelled(figure: Any) -> Any:
    (axes,) = figure.axes
    assert axes.get_title() and axes.get_xlabel() and axes.get_ylabel()
    return axes


def test_the_plots_are_figures_with_titles_and_labelled_axes(grades: Any) -> None:
    axes = _labelled(grades.plot_accuracy_by_tokens(bins=4))
    (line,) = axes.lines[:1]
    assert len(line.get_xdata()) == 4
    ys = list(line.get_ydata())
    assert all(0 <= y <= 1 for y in ys) and sum(ys) > 0
    axes = _labelled(grades.plot_length())
    assert [t.get_text() for t in axes.get_xticklabels()][0].startswith("correct (n=")
    axes = _labelled(grades.plot_cost_per_correct("model"))
    heights = [p.get_height() for p in axes.patches]
    assert len(heights) == 2 and all(h > 0 for h in heights)
    axes = _labelled(grades.plot_agreement())
    assert axes.lines
    png = grades.plot_accuracy_by_tokens()._repr_png_()
    assert png.startswith(b"\x89PNG")  # a notebook shows it (once: it is not pyplot's)
    with pytest.raises(OptionError, match="needs the columns"):
        dm.grade(pd.DataFrame({"answer": ["1"]}), [1]).plot_accuracy_by_tokens()


def test_a_server_that_takes_no_seed_still_gets_k_requests_and_says_so(
    problems: Any, session: Any, tmp_path: Path
) -> None:
    path = tmp_path / "r.sqlite"
    with Emulator(responder=by_seed, dialect="deepseek") as emu:
        out = run(
            problems.iloc[:1], emu, session, samples=3, provider="deepseek", run_file=path,
            results=True,
        )  # fmt: skip
        assert len(emu.requests) == 3 and all("seed" not in b for b in emu.requests)
        assert out["row_key"].nunique() == 3
        assert all("seed" in r.options_not_sent for r in out["result"])
        run(problems.iloc[:1], emu, session, samples=3, provider="deepseek", run_file=path)
        assert len(emu.requests) == 3  # resumed: each sample is its own row of the run file
