"""grade(): every extractor and comparison on a table of hand-made answers (bold, math,
boxed, choices, thousands separators, negatives, units, no answer at all), the Wilson
interval and pass@k against their formulas on known inputs, Grades' figures, by(), its
display (wrong rows first, model text escaped), the inputs it takes (map()'s DataFrame,
Results, a sweep) and the one-line errors for bad input."""

from __future__ import annotations

import math
from dataclasses import dataclass
from itertools import combinations
from typing import Any

import pytest

import deepseek_magic as dm
from deepseek_magic import OptionError, Result, Usage
from deepseek_magic.eval._extract import boxed, choice, number, text
from deepseek_magic.eval._stats import majority, pass_at_k, wilson

pd = pytest.importorskip("pandas")

# ------------------------------------------------------------------ the table of cases
NUMBER_CASES = [
    ("Answer: 180", 180),
    ("So the answer is **1,234** pencils.", 1234),
    ("The bill is 1,234,567 dollars in total.", 1234567),
    ("First $x = 5$, so the total is $42$.", 42),
    ("Thus $\\boxed{-3}$.", -3),
    ("\\boxed{42 \\text{ cm}^2}", 42),
    ("\\boxed{x = 17}", 17),
    ("\\boxed{1{,}000}", 1000),
    ("\\boxed{\\frac{3}{4}}", 0.75),
    ("The area is 72 cm.", 72),
    ("It costs $12.50.", 12.5),
    ("Answer: −7", -7),  # U+2212
    ("It fell to -12 degrees, then rose by 5 to -7.", -7),
    ("Answer: 1\u2009234\u2009567", 1234567),
    ("Answer: 3/4", 0.75),
    ("About 45% of them.", 45),
    ("Steps 1-5 are done. Answer: **16**", 16),
    ("From 9:40 to 13:05 is **205 minutes**.", 205),
    ("I tried 3 and 4; the final answer is 12, not 13.", 12),
    ("**Answer:** 0.5", 0.5),
    ("no number here at all", None),
    ("", None),
]
CHOICE_CASES = [
    ("Answer: B", "B"),
    ("The answer is (C).", "C"),
    ("After all that, **D**", "D"),
    ("$\\boxed{E}$", "E"),
    ("\\boxed{\\text{A}}", "A"),
    ("I think A is wrong.\n\nB", "B"),
    ("(A) is tempting but (C) is right: the answer is (C)", "C"),
    ("A cat is an animal.", None),
    ("", None),
]
TEXT_CASES = [
    ("Answer: The Eiffel Tower.", "eiffel tower"),
    ("**Paris**", "paris"),
    ("It is  a  Dog!", "it is dog"),
    ("", None),
]


@pytest.mark.parametrize(("answer", "expected"), NUMBER_CASES)
def test_the_number_extractor_reads_the_final_number(answer: str, expected: Any) -> None:
    got = number(answer)
    if expected is None:
        assert got is None
    else:
        assert got is not None and math.isclose(got, expected), (answer, got)


@pytest.mark.parametrize(("answer", "expected"), CHOICE_CASES)
def test_the_choice_extractor_reads_the_option_label(answer: str, expected: Any) -> None:
    assert choice(answer) == expected


@pytest.mark.parametrize(("answer", "expected"), TEXT_CASES)
def test_the_text_extractor_normalises(answer: str, expected: Any) -> None:
    assert text(answer) == expected


def test_boxed_takes_the_last_box_with_nested_braces() -> None:
    assert boxed("first \\boxed{1} then \\boxed{\\frac{a}{b}}") == "\\frac{a}{b}"
    assert boxed("no box") is None
    assert boxed("\\boxed{unclosed") is None


def frame_of(answers: list[str], expected: list[Any], **extra: Any) -> Any:
    return pd.DataFrame({"answer": answers, "truth": expected, **extra})


def test_grade_uses_each_extractor_and_its_comparison() -> None:
    answers = [a for a, _ in NUMBER_CASES]
    truth = [e if e is not None else 0 for _, e in NUMBER_CASES]
    g = dm.grade(frame_of(answers, truth), "truth", extract="number")
    wanted = [e is not None for _, e in NUMBER_CASES]
    assert list(g.frame["correct"]) == wanted
    assert g.correct == sum(wanted) and g.n == len(NUMBER_CASES)
    # the expected column as text with a thousands separator compares as its number
    g = dm.grade(frame_of(["Answer: 1234"], ["1,234"]), "truth")
    assert g.accuracy == 1.0
    # choices: the expected value normalised ("(c)" is C)
    g = dm.grade(frame_of(["The answer is (C).", "**D**"], ["(c)", "B"]), "truth", extract="choice")
    assert list(g.frame["correct"]) == [True, False]
    g = dm.grade(frame_of(["Answer: The Eiffel Tower."], ["eiffel tower"]), "truth", extract="text")
    assert g.accuracy == 1.0
    g = dm.grade(
        frame_of(["\\boxed{x+1}", "\\boxed{x + 1}"], ["x+1", "x+1"]), "truth", extract="boxed"
    )
    assert list(g.frame["correct"]) == [True, False]


def test_numeric_tolerance_exact_set_and_callable_comparisons() -> None:
    df = frame_of(["Answer: 3.1416", "Answer: 3.2"], [math.pi, math.pi])
    assert dm.grade(df, "truth", tolerance=1e-3).frame["correct"].tolist() == [True, False]
    assert dm.grade(df, "truth").frame["correct"].tolist() == [False, False]
    assert dm.grade(df, "truth", compare="exact").frame["correct"].tolist() == [False, False]
    sets = frame_of(["Answer: Rome, Paris and London", "Answer: Rome, Paris"], [None, None])
    expected = [["paris", "london", "rome"], ["paris", "london", "rome"]]
    g = dm.grade(sets, expected, extract=r"Answer:\s*(.+)", compare="set")
    assert g.frame["correct"].tolist() == [True, False]
    g = dm.grade(df, "truth", compare=lambda got, want: got is not None and abs(got - want) < 0.1)
    assert g.frame["correct"].tolist() == [True, True]


def test_regex_callable_and_typed_field_extractors() -> None:
    df = frame_of(["Result = 7; later Result = 9", "nothing"], [9, 9])
    g = dm.grade(df, "truth", extract=r"Result = (\d+)")
    assert g.frame["extracted"].tolist() == ["9", None] and g.frame["correct"].tolist() == [
        True,
        False,
    ]
    g = dm.grade(df, "truth", extract=lambda a: len(a.split()))
    assert g.frame["extracted"].tolist() == [7, 1]

    @dataclass
    class Review:
        rating: int

    typed = [Result(answer="{}"), Result(answer="{}")]
    # Result.data is added by the schema branch; read with getattr, so set it the same way
    object.__setattr__(typed[0], "data", Review(rating=4))
    object.__setattr__(typed[1], "data", {"rating": 2})
    g = dm.grade(typed, [4, 3], extract="data.rating")
    assert g.frame["extracted"].tolist() == [4, 2] and g.frame["correct"].tolist() == [True, False]
    # a map(schema=...) frame: the typed field is a column of its own
    g = dm.grade(
        pd.DataFrame({"answer": ["{}", "{}"], "rating": [5, 1]}), [5, 5], extract="data.rating"
    )
    assert g.frame["correct"].tolist() == [True, False]


def test_failed_rows_and_missing_answers_are_graded_wrong() -> None:
    df = frame_of(["Answer: 1", "", "Answer: 3"], [1, 2, 3], error=["", "", "timeout"])
    g = dm.grade(df, "truth")
    assert g.frame["correct"].tolist() == [True, False, False]
    assert g.frame["extracted"].tolist()[1:] == [None, None]
    assert g.errors == 1 and "1 row failed" in g.summary()


# ------------------------------------------------------------------ statistics
def test_the_wilson_interval_matches_its_formula() -> None:
    z = 1.959963984540054
    for k, n in [(0, 10), (7, 10), (10, 10), (22, 30), (1, 1)]:
        p = k / n
        centre = (p + z * z / (2 * n)) / (1 + z * z / n)
        half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
        low, high = wilson(k, n)
        assert math.isclose(low, max(0, centre - half), abs_tol=1e-12)
        assert math.isclose(high, min(1, centre + half), abs_tol=1e-12)
    # a published value: 81 of 263 -> 0.2553 .. 0.3662 (Wilson, Newcombe 1998 table I)
    low, high = wilson(81, 263)
    assert (round(low, 4), round(high, 4)) == (0.2553, 0.3662)
    assert wilson(0, 0) == (0.0, 1.0)


def test_pass_at_k_is_the_unbiased_estimator() -> None:
    # against the definition: the share of k-subsets of the n samples with a correct one
    for n, c in [(5, 0), (5, 1), (5, 3), (6, 6), (10, 2)]:
        samples = [True] * c + [False] * (n - c)
        for k in range(1, n + 1):
            subsets = list(combinations(samples, k))
            exact = sum(any(s) for s in subsets) / len(subsets)
            assert math.isclose(pass_at_k(n, c, k), exact, abs_tol=1e-12), (n, c, k)
    assert math.isclose(pass_at_k(5, 1, 1), 0.2)
    with pytest.raises(ValueError):
        pass_at_k(3, 1, 4)


def test_majority_vote() -> None:
    assert majority([3, 3.0, 5, None]) == (3, 2, 0.5)
    assert majority(["B", "C"]) == ("B", 1, 0.5)  # a tie: the first one seen
    assert majority([None, None]) == (None, 0, 0.0)


def test_grades_figures_by_and_samples() -> None:
    df = pd.DataFrame(
        {
            "answer": [
                "Answer: 1",
                "Answer: 2",
                "Answer: 2",
                "Answer: 5",
                "Answer: 5",
                "Answer: 6",
            ],
            "truth": [2, 2, 2, 5, 5, 5],
            "sample": [0, 1, 2, 0, 1, 2],
            "model": ["a", "a", "a", "b", "b", "b"],
            "cost": [0.01] * 6,
            "reasoning_tokens": [90] * 6,
            "answer_tokens": [10] * 6,
        },
        index=["q1", "q1", "q1", "q2", "q2", "q2"],
    )
    g = dm.grade(df, "truth")
    assert g.correct == 4 and math.isclose(g.accuracy or 0, 4 / 6)
    assert g.interval == wilson(4, 6)
    assert math.isclose(g.cost_per_correct or 0, 0.06 / 4)
    assert math.isclose(g.tokens_per_correct or 0, 600 / 4)
    by = g.by("model")
    assert by.loc["a", "correct"] == 2 and by.loc["b", "accuracy"] == pytest.approx(2 / 3)
    votes = g.votes
    assert votes.loc["q1", "majority"] == 2 and votes.loc["q1", "agreement"] == pytest.approx(2 / 3)
    assert votes.loc["q2", "majority"] == 5 and bool(votes["majority_correct"].all())
    assert g.majority_accuracy == 1.0
    assert g.pass_at(1) == pytest.approx(((2 / 3) + (2 / 3)) / 2)
    assert g.pass_at_k[3] == 1.0
    assert "majority vote 100.0%" in g.summary() and "pass@1" in g.summary()
    with pytest.raises(OptionError):
        g.pass_at(4)
    with pytest.raises(OptionError, match="not a column"):
        g.by("nope")


def test_the_display_puts_wrong_rows_first_and_escapes_model_text() -> None:
    hostile = "<img src=x onerror=alert(1)> Answer: 9"
    df = frame_of(["Answer: 1", hostile], [1, 2])
    g = dm.grade(df, "truth")
    page = g._repr_html_()
    assert "<img" not in page and "&lt;img" in page
    assert page.index("&lt;img") < page.index("Answer: 1")  # the wrong row comes first
    assert page.count("<tr>") == 3  # the head and two rows
    shown = repr(g)
    assert shown.startswith("Grades: accuracy 50.0% (1 of 2)") and "✗ 1" in shown


def test_inputs_results_one_result_and_a_sweep_frame() -> None:
    results = [
        Result(answer="Answer: 4", usage=Usage(completion_tokens=50), cost=0.002),
        Result(answer="partial", error="timeout"),
    ]
    g = dm.grade(results, [4, 4])
    assert g.frame["correct"].tolist() == [True, False] and g.cost_per_correct == pytest.approx(
        0.002
    )
    assert dm.grade(results[0], "4").accuracy == 1.0
    sweep_like = pd.DataFrame(
        {
            "temperature": [0.2, 1.0],
            "answer": ["\\boxed{7}", "\\boxed{8}"],
            "error": [None, None],
            "result": [None, None],
            "completion_tokens": [10, 20],
            "cost": [0.0, 0.0],
        }
    )
    g = dm.grade(sweep_like, [7, 7])
    assert g.by("temperature")["accuracy"].tolist() == [1.0, 0.0]
    assert g.tokens == 30


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"expected": "nope"}, "is not a column"),
        ({"expected": [1]}, "1 values for 2 rows"),
        ({}, "needs expected="),
        ({"expected": "truth", "extract": "(unclosed"}, "not a valid regular expression"),
        ({"expected": "truth", "extract": 3}, "extract= must be"),
        ({"expected": "truth", "compare": "fuzzy"}, "compare='fuzzy'"),
        ({"expected": "truth", "tolerance": -1}, "tolerance"),
        ({"expected": "truth", "extract": "data.rating"}, "no typed answers"),
    ],
)
def test_bad_input_is_one_clear_line(kwargs: dict[str, Any], message: str) -> None:
    df = frame_of(["Answer: 1", "Answer: 2"], [1, 2])
    with pytest.raises(OptionError, match=message) as info:
        dm.grade(df, **kwargs)
    assert "\n" not in str(info.value)
    with pytest.raises(OptionError, match="no 'answer' column"):
        dm.grade(pd.DataFrame({"x": [1]}), "x")
    with pytest.raises(OptionError, match="not a list of int"):
        dm.grade([1, 2], [1, 2])


def test_grade_keeps_the_input_index_and_a_series_aligns_by_label() -> None:
    df = pd.DataFrame({"answer": ["Answer: 1", "Answer: 2"]}, index=["b", "a"])
    truth = pd.Series({"a": 2, "b": 1})
    g = dm.grade(df, truth)
    assert list(g.frame.index) == ["b", "a"] and g.accuracy == 1.0
    with pytest.raises(OptionError, match="no value for rows"):
        dm.grade(df, pd.Series({"a": 2}))


def test_reasoning_relates_the_reasoning_to_correctness() -> None:
    df = frame_of(
        ["Answer: 1", "Answer: 2", "Answer: 9"],
        [1, 2, 3],
        reasoning_tokens=[100, 300, 800],
        self_checks=[0, 2, 5],
        answer_first_at=[0.5, None, None],
    )
    table = dm.grade(df, "truth").reasoning()
    assert list(table.index) == ["wrong", "correct"] or list(table.index) == ["correct", "wrong"]
    assert table.loc["correct", "n"] == 2 and table.loc["wrong", "n"] == 1
    assert (
        table.loc["correct", "reasoning_tokens"] == 200 and table.loc["wrong", "self_checks"] == 5
    )
    assert table.loc["correct", "answer_first_at"] == 0.5  # the unknown one left out
    with pytest.raises(OptionError, match="no reasoning figures"):
        dm.grade(frame_of(["Answer: 1"], [1]), "truth").reasoning()
