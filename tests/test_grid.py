"""The one grid parser (``batch/_grid.py``) that sweeps and the panel's Compare share: good
and bad grids in both syntaxes, refused from every surface with nothing sent; the one
limit (``MAX_POINTS``) at N and N+1; the one concurrency default, on both surfaces."""

from __future__ import annotations

import shlex
import threading
from typing import Any

import pytest

import deepseek_magic as dm
from deepseek_magic import OptionError
from deepseek_magic.batch._grid import MAX_POINTS, parse_grid, point_label
from deepseek_magic.batch._sweep import DEFAULT_CONCURRENCY
from deepseek_magic.core._session import Feature
from deepseek_magic.emulator import Emulator, Reply
from tests.helpers.cells import run_cell

pd = pytest.importorskip("pandas")
ipywidgets = pytest.importorskip("ipywidgets")

from deepseek_magic.notebook._panel import panel  # noqa: E402  (needs ipywidgets)


def echo(body: dict[str, Any]) -> Reply:
    return Reply(reasoning="r", answer=f"t={body.get('temperature')} s={body.get('seed')}")


def make_panel(session: Any, emu: Emulator, **kw: Any) -> Any:
    session.config["base_url"] = emu.base_url
    return panel("Hi", session=session, shell=None, **kw)


def compare(p: Any, spec: str, timeout: float = 60) -> None:
    p.compare_spec.value = spec
    p.compare_button.click()
    assert p.wait(timeout), "the Compare did not finish"


def items(spec: str) -> list[str]:
    """The compare box's text as the magic's --sweep items (one axis each)."""
    return [part for part in spec.split(";") if part.strip()]


def seeds(n: int) -> str:
    return "seed = " + ", ".join(str(i) for i in range(1, n + 1))


# ---------------------------------------------------------------------- good grids
GOOD = [
    ("temperature = 0.2, 0.6, 1", {"temperature": [0.2, 0.6, 1.0]}),
    ("temperature=0.2,0.6;seed=1,2", {"temperature": [0.2, 0.6], "seed": [1, 2]}),
    ("top p = 0.5, 0.9; --seed = 1, 2;", {"top_p": [0.5, 0.9], "seed": [1, 2]}),
    ("Top-P = 0.9", {"top_p": [0.9]}),
    ("max-tokens = 64", {"max_completion_tokens": [64]}),  # an alias: swept as its target
    ("reasoning-effort = low, HIGH", {"reasoning_effort": ["low", "high"]}),
    ("include reasoning = true, false", {"include_reasoning": [True, False]}),
    ("stop = ###, END", {"stop": [("###",), ("END",)]}),
    ("model = deepseek-r1, other/model", {"model": ["deepseek-r1", "other/model"]}),
]


@pytest.mark.parametrize("surface", ["sweep", "compare"])
@pytest.mark.parametrize("spec, grid", GOOD)
def test_both_syntaxes_give_the_same_checked_grid(
    spec: str, grid: dict[str, list[Any]], surface: str
) -> None:
    assert parse_grid(spec, surface=surface) == grid  # the compare box's text
    assert parse_grid(items(spec), surface=surface) == grid  # the magic's --sweep items


def test_a_sweep_item_keeps_its_semicolons() -> None:
    # one axis per --sweep item, so a stop sequence may hold a ";" (as it always could)
    assert parse_grid(["stop=a;b,END"]) == {"stop": [("a;b",), ("END",)]}


def test_point_labels_name_each_value() -> None:
    assert (
        point_label({"temperature": 0.2, "stop": ("a", "b")}) == "temperature = 0.2, stop = a | b"
    )


# ---------------------------------------------------------------------- bad grids
BAD = [
    ("temperature 0.2", "write NAME"),
    ("temperature = 0.2,,0.6", "an empty value"),
    ("temperature = 0.2,", "an empty value"),
    ("temperature =", "an empty value"),
    ("temprature = 0.2", "Did you mean temperature?"),
    ("temperature = 0.5, 3", "temperature=3: out of range"),
    ("seed = 1.5", "--seed / seed=1.5: not an integer"),
    ("reasoning effort = low, extreme", "reasoning_effort=extreme: not a known value"),
    ("tools = f", "tools cannot be"),
    ("seed = 1; --Seed = 2", "given twice"),
    ("max-tokens = 1; max_completion_tokens = 2", "given twice"),
    ("model = a, ", "an empty value"),
]


@pytest.mark.parametrize("spec, words", BAD)
def test_a_bad_grid_is_one_line_and_nothing_is_sent_from_any_surface(
    spec: str, words: str, session: Any, shell: Any
) -> None:
    with Emulator(responder=echo) as emu:
        # the magic
        flags = " ".join(f"--sweep {shlex.quote(item)}" for item in items(spec))
        run = run_cell(shell, f"%%deepseek --base-url {emu.base_url} {flags}\nHi")
        assert type(run.error).__name__ == "UsageError", run.error
        assert words in str(run.error) and "\n" not in str(run.error)
        # Python: the grid as the compare box writes it
        with pytest.raises(OptionError) as info:
            dm.sweep("Hi", spec, base_url=emu.base_url, session=session)
        assert words in str(info.value) and "\n" not in str(info.value)
        # the panel's Compare
        p = make_panel(session, emu)
        p.compare_spec.value = spec
        p.compare_button.click()
        assert not p.running
        assert "dsm-status-error" in p.status.value and words in p.status.value
        assert emu.request_log == []


def test_an_empty_grid_is_refused(session: Any, emu: Emulator) -> None:
    for spec in ("", " ; "):
        with pytest.raises(OptionError, match="no options given"):
            parse_grid(spec)
        p = make_panel(session, emu)
        p.compare_spec.value = spec
        p.compare_button.click()
        assert "write which option to vary" in p.status.value
    assert emu.request_log == []


def test_an_unknown_surface_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="surface"):
        parse_grid("seed = 1", surface="map")


# ---------------------------------------------------------------------- the one limit
def test_the_limit_is_a_product_of_the_axes() -> None:
    assert len(parse_grid(seeds(MAX_POINTS))["seed"]) == MAX_POINTS
    ten = ", ".join(str(i) for i in range(10))
    parse_grid(f"seed = {ten}; top_k = {ten}")  # 10 x 10 = MAX_POINTS
    with pytest.raises(OptionError) as info:
        parse_grid(f"seed = {ten}, 10; top_k = {ten}")  # 11 x 10
    message = str(info.value)
    assert f"110 points is more than {MAX_POINTS}" in message and "\n" not in message
    assert "map([prompt], samples=k)" in message  # how to run it instead


def test_n_points_run_and_n_plus_one_are_refused_from_the_magic(shell: Any) -> None:
    many = ",".join(str(i) for i in range(1, MAX_POINTS + 2))
    fewer = ",".join(str(i) for i in range(1, MAX_POINTS + 1))
    with Emulator(responder=echo) as emu:
        run = run_cell(shell, f"%%deepseek --base-url {emu.base_url} --sweep seed={many}\nHi")
        assert type(run.error).__name__ == "UsageError"
        assert f"{MAX_POINTS + 1} points is more than {MAX_POINTS}" in str(run.error)
        assert emu.request_log == []
        run = run_cell(
            shell, f"%%deepseek --base-url {emu.base_url} --sweep seed={fewer} -o df\nHi"
        )
        assert run.success, run.error
        assert len(emu.requests) == MAX_POINTS
    df = shell.user_ns["df"]
    assert list(df["seed"]) == list(range(1, MAX_POINTS + 1)) and df["error"].isna().all()


def test_n_points_run_and_n_plus_one_are_refused_from_the_panel(session: Any) -> None:
    with Emulator(responder=echo) as emu:
        p = make_panel(session, emu)
        p.compare_spec.value = seeds(MAX_POINTS + 1)
        p.compare_button.click()
        assert not p.running
        assert f"{MAX_POINTS + 1} points is more than {MAX_POINTS}" in p.status.value
        assert emu.request_log == []
        compare(p, seeds(MAX_POINTS))
        assert sorted(b["seed"] for b in emu.requests) == list(range(1, MAX_POINTS + 1))
    assert len(p.compare_box.children) == MAX_POINTS and len(p.results) == MAX_POINTS
    assert f"Compared {MAX_POINTS} settings" in p.status.value


# ---------------------------------------------------------------------- the one concurrency
class _InFlight(Feature):
    """Requests in flight, counted on the client side (sent minus answered)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.now = self.most = 0

    def before_request(self, request: Any) -> None:
        with self.lock:
            self.now += 1
            self.most = max(self.most, self.now)

    def after_reply(self, request: Any, result: Any) -> None:
        with self.lock:
            self.now -= 1


def test_sweep_and_compare_share_one_concurrency_default(session: Any, shell: Any) -> None:
    n = DEFAULT_CONCURRENCY + 4
    counts = []
    with Emulator(responder=echo, first_token_latency=0.4) as emu:
        for surface in ("sweep", "compare"):
            count = _InFlight()
            session.plug(count)  # (replaces the previous surface's counter)
            if surface == "sweep":
                frame = dm.sweep("Hi", seeds(n), base_url=emu.base_url, session=session)
                assert frame["error"].isna().all()
            else:
                p = make_panel(session, emu)
                compare(p, seeds(n))
                assert len(p.results) == n and p.last_error is None
            counts.append((count.most, count.now))
        assert len(emu.requests) == 2 * n
    assert counts == [(DEFAULT_CONCURRENCY, 0), (DEFAULT_CONCURRENCY, 0)]


# ---------------------------------------------------------------------- Compare is a sweep
def test_compare_can_vary_the_model_as_a_sweep_can(session: Any, emu: Emulator) -> None:
    p = make_panel(session, emu)
    compare(p, "model = a/one, b/two")
    assert sorted(b["model"] for b in emu.requests) == ["a/one", "b/two"]
    headers = [column.children[0].value for column in p.compare_box.children]
    assert ["model = a/one" in headers[0], "model = b/two" in headers[1]] == [True, True]


def test_compare_is_held_to_the_budget_for_the_whole_grid(session: Any) -> None:
    from deepseek_magic.features._spend import install_spend

    install_spend(session)
    session.config["session_budget"] = (
        0.05  # one run may cost $0.02 (8,192 assumed tokens): 4 may not
    )
    with Emulator(responder=echo) as emu:
        p = make_panel(session, emu, provider="openrouter", base_url=emu.base_url)
        p.compare_spec.value = "seed = 1, 2, 3, 4"
        p.compare_button.click()
        assert not p.running
        assert "these 4 requests" in p.status.value
        assert emu.request_log == []
