"""The lessons in ``notebooks/`` as committed files, and the nbval setup that runs them.

nbval (``notebooks`` is a test path, see ``pyproject.toml``) re-runs every lesson against
the offline emulator and compares each output with the stored one. That only means
something if the stored notebooks were executed, top to bottom, without a key, and if
the sanitize rules mask only what really varies. This module checks those things, the
display-update shim in ``tests/helpers/nbval_lessons.py``, and (in a scratch project with the same
pytest configuration) that a changed answer fails nbval while ``.ipynb`` files under
``tests/`` are never collected.
"""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path
from queue import Empty
from typing import Any

import nbformat
import pytest

from deepseek_magic.emulator import load_script

ROOT = Path(__file__).resolve().parent.parent
LESSON_DIR = ROOT / "notebooks"
LESSONS = [
    "01-quick-start.ipynb",
    "02-parameters.ipynb",
    "03-results-as-data.ipynb",
    "04-conversations-and-tools.ipynb",
    "05-bring-your-own-server.ipynb",
    "06-evaluate-on-a-dataset.ipynb",
    "07-answers-as-data.ipynb",
    "08-how-r1-thinks.ipynb",
]
HELPERS = ROOT / "tests" / "helpers"
SANITIZE = HELPERS / "nbval-sanitize.cfg"

# Things that look like credentials: OpenRouter / DeepSeek / OpenAI-style keys, bearer tokens.
KEY_PATTERNS = [
    re.compile(r"sk-or-v1-[0-9a-f]{16,}"),
    re.compile(r"\bsk-[A-Za-z0-9_-]{20,}"),
    re.compile(r"Bearer\s+(?!\*\*\*)[A-Za-z0-9._~+/-]{12,}"),
]


def _read(name: str) -> Any:
    return nbformat.read(LESSON_DIR / name, as_version=4)


def _code(nb: Any) -> list[Any]:
    return [c for c in nb.cells if c.cell_type == "code"]


def _texts(output: Any) -> list[str]:
    """Every text an output carries (stream text, text/* data, error lines)."""
    texts = [output.get("text", "")] if output.get("output_type") == "stream" else []
    for mime, value in output.get("data", {}).items():
        if mime.startswith("text/"):
            texts.append(value if isinstance(value, str) else "".join(value))
    texts += [output.get("evalue", ""), *output.get("traceback", [])]
    return [t for t in texts if t]


def _tags(cell: Any) -> list[str]:
    return list(cell.get("metadata", {}).get("tags", []))


# ------------------------------------------------------------------ the committed lessons
def test_the_lessons_are_there() -> None:
    assert sorted(p.name for p in LESSON_DIR.glob("*.ipynb")) == LESSONS


@pytest.mark.parametrize("name", LESSONS)
def test_lesson_starts_by_loading_and_choosing_offline_automatically(name: str) -> None:
    first = _code(_read(name))[0].source.splitlines()
    assert first[0] == "%load_ext deepseek_magic"
    assert first[1] == "%deepseek_offline auto" or first[1].startswith("%deepseek_offline auto ")


@pytest.mark.parametrize("name", LESSONS)
def test_lesson_is_stored_executed_top_to_bottom(name: str) -> None:
    cells = _code(_read(name))
    counts = [c.execution_count for c in cells]
    # One run, in order: nbval never compares a cell without a count, so none may lack one.
    assert counts == list(range(1, len(cells) + 1)), counts
    empty = [i for i, c in enumerate(cells) if not c.outputs]
    assert empty == [], f"code cells without stored outputs: {empty}"


@pytest.mark.parametrize("name", LESSONS)
def test_lesson_outputs_have_no_traceback(name: str) -> None:
    for i, cell in enumerate(_code(_read(name))):
        for output in cell.outputs:
            assert not (output.output_type == "stream" and output.name == "stderr"), (
                f"cell {i} wrote to stderr: {output.text[:300]!r}"
            )
            if output.output_type == "error":
                # Only a deliberate error, and then our one-line message, never a traceback.
                assert "raises-exception" in _tags(cell), (
                    f"cell {i}: {output.ename}: {output.evalue}"
                )
                assert len(output.traceback) == 1, (
                    f"cell {i}: a {len(output.traceback)}-line traceback"
                )
            assert not any("Traceback (most recent call last)" in t for t in _texts(output)), (
                f"cell {i}"
            )


@pytest.mark.parametrize("name", LESSONS)
def test_lesson_outputs_came_from_the_offline_emulator(name: str) -> None:
    cells = _code(_read(name))
    first = "".join(o.get("text", "") for o in cells[0].outputs)
    assert first.startswith("Offline mode ON: answers come from the bundled emulator"), first
    labelled = 0
    for i, cell in enumerate(cells):
        for output in cell.outputs:
            plain = output.get("data", {}).get("text/plain", "")
            if "\n-- " in plain and "finish:" in plain:  # a rendered reply: its footer line
                assert "offline emulator" in plain.lower(), (
                    f"cell {i} shows a reply not labelled offline"
                )
            labelled += "[Offline emulator — not DeepSeek R1]" in plain
    assert labelled >= 1, "no output says it comes from the offline emulator"


@pytest.mark.parametrize("name", LESSONS)
def test_lesson_holds_nothing_like_a_key(name: str) -> None:
    text = (LESSON_DIR / name).read_text(encoding="utf-8")
    for pattern in KEY_PATTERNS:
        assert not pattern.search(text), f"{name}: {pattern.pattern} matches"
    for var in ("OPENROUTER_API_KEY", "DEEPSEEK_API_KEY", "DEEPSEEK_MAGIC_API_KEY"):
        value = os.environ.get(var, "")
        if len(value) >= 8:
            assert value not in text, f"{name} contains the value of ${var}"


def test_scripted_replies_exist_load_and_hold_no_keys() -> None:
    used = set()
    for name in LESSONS:
        for cell in _code(_read(name)):
            used.update(re.findall(r"--script\s+(\S+)", cell.source))
    assert used, "the lessons script the emulator's replies"
    for relative in sorted(used):
        path = LESSON_DIR / relative
        assert path.is_file(), f"{relative} is used by a lesson but missing"
        assert load_script(path), f"{relative} holds no replies"
        text = path.read_text(encoding="utf-8")
        assert not any(p.search(text) for p in KEY_PATTERNS), relative


def test_outputs_are_compared_not_skipped() -> None:
    tagged = {
        (name, i): tags
        for name in LESSONS
        for i, cell in enumerate(_code(_read(name)))
        if (tags := [t for t in _tags(cell) if t.startswith("nbval-") or t == "raises-exception"])
    }
    assert not any("nbval-skip" in tags for tags in tagged.values()), tagged
    # Sanitizing beats ignoring: a lesson may exclude at most a couple of cells from comparison.
    for name in LESSONS:
        assert (
            sum(1 for (n, _), tags in tagged.items() if n == name and "nbval-ignore-output" in tags)
            <= 2
        )


# ------------------------------------------------------------------ sanitize rules
def _sanitize(text: str) -> str:
    from nbval.plugin import get_sanitize_patterns

    for regex, replace in get_sanitize_patterns(SANITIZE.read_text(encoding="utf-8")):
        text = re.sub(regex, replace, text)
    return text


def test_sanitize_file_is_read_whole_by_nbval() -> None:
    from nbval.plugin import get_sanitize_patterns

    text = SANITIZE.read_text(encoding="utf-8")
    # nbval reads only a "regex: " line directly followed by a "replace: " line: a rule
    # written any other way would be ignored without a word.
    pairs = get_sanitize_patterns(text)
    assert len(pairs) == text.count("\nregex: ") >= 2
    for regex, _ in pairs:
        re.compile(regex)


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        (
            "at http://127.0.0.1:40467/v1 (openrouter format)",
            "at http://127.0.0.1:PORT/v1 (openrouter format, PACE)",
        ),
        (
            "POST http://127.0.0.1:32768/v1/chat/completions",
            "POST http://127.0.0.1:PORT/v1/chat/completions",
        ),
        (
            "deepseek-r1 · 11 prompt / 239 reasoning / 143 answer tokens · $0.000963 · 4.9 s · "
            "finish: stop",
            "deepseek-r1 · 11 prompt / 239 reasoning / 143 answer tokens · $0.000963 · T s · "
            "finish: stop",
        ),
        ("Reasoning · 239 tokens · 2.5 s</summary>", "Reasoning · 239 tokens · T s</summary>"),
        ("Reasoning · ≈33 tokens · ≈0.1 s", "Reasoning · ≈33 tokens · T s"),
        (
            "emulator at http://127.0.0.1:40123/v1 (openrouter format, 40 tokens/s, 0.8 s latency)",
            "emulator at http://127.0.0.1:PORT/v1 (openrouter format, PACE)",
        ),
        ("(think-noopen format), not from", "(think-noopen format, PACE), not from"),
        ("18 / 115 / 9  $0.000323  12.3 s  stop", "18 / 115 / 9  $0.000323  T s  stop"),
    ],
)
def test_sanitize_masks_ports_and_seconds(raw: str, clean: str) -> None:
    assert _sanitize(raw) == clean


@pytest.mark.parametrize(
    "kept",
    [
        "--base-url http://127.0.0.1:8000/v1",
        "http://127.0.0.1:11434/v1",
        "http://127.0.0.1:8080/v1",
        "11 prompt / 239 reasoning / 143 answer tokens",
        "$0.000963",
        "9.9 is larger than 9.11 (0.90 > 0.11)",
        "fib(10) is 55",
        "tokens: 11 prompt, 239 reasoning, 143 answer",
        "98.6 °F",
    ],
)
def test_sanitize_keeps_what_is_deterministic(kept: str) -> None:
    assert _sanitize(kept) == kept


# ------------------------------------------------------------------ pytest configuration
def test_default_test_run_includes_nbval_with_sanitizing(pytestconfig: pytest.Config) -> None:
    assert pytestconfig.getini("testpaths") == ["tests", "notebooks"]
    opts = pytestconfig.getini("addopts")
    assert "--nbval" in opts and "--nbval-current-env" in opts and "--nbval-lax" not in opts
    assert opts[opts.index("--nbval-sanitize-with") + 1] == "tests/helpers/nbval-sanitize.cfg"
    assert opts[opts.index("-p") + 1] == "tests.helpers.nbval_lessons"
    assert "--strict-markers" in opts
    assert {m.split(":")[0] for m in pytestconfig.getini("markers")} >= {"slow", "browser"}


def test_the_lesson_folder_holds_only_lessons_data_and_replies() -> None:
    # what a learner sees in notebooks/: no test configuration among the lessons
    # (run files a lesson writes when it runs are git-ignored, not part of the folder)
    names = {
        p.name
        for p in LESSON_DIR.iterdir()
        if not p.name.startswith(".") and "-run.sqlite" not in p.name
    }
    assert names - {"data", "replies", "README.md"} == set(LESSONS), names


# ------------------------------------------------------------------ tests/helpers/nbval_lessons.py
def _shim() -> Any:
    spec = importlib.util.spec_from_file_location("lesson_conftest", HELPERS / "nbval_lessons.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _msg(kind: str, parent: str, **content: Any) -> dict[str, Any]:
    return {"msg_type": kind, "parent_header": {"msg_id": parent}, "content": content}


def _display(parent: str, display_id: str, text: str, kind: str = "display_data") -> dict[str, Any]:
    return _msg(
        kind, parent, data={"text/plain": text}, metadata={}, transient={"display_id": display_id}
    )


def _feed(*messages: dict[str, Any]) -> tuple[Any, list[dict[str, Any]]]:
    queue = list(messages)

    def get(timeout: float | None = None, stream: str = "iopub") -> dict[str, Any]:
        if not queue:
            raise Empty
        message: dict[str, Any] = queue.pop(0)
        return message

    reader = _shim().DisplayUpdates(get)
    out = []
    while True:
        try:
            out.append(reader(timeout=1))
        except Empty:
            return reader, out


def test_shim_folds_updates_into_the_display_they_target() -> None:
    _, out = _feed(
        _msg("status", "P", execution_state="busy"),
        _display("P", "live", "waiting…"),
        _msg("stream", "P", name="stdout", text="between\n"),
        _display("P", "live", "thinking…", kind="update_display_data"),
        _display("P", "live", "the answer", kind="update_display_data"),
        _msg("status", "P", execution_state="idle"),
    )
    assert [m["msg_type"] for m in out] == ["status", "display_data", "stream", "status"]
    assert out[1]["content"]["data"] == {
        "text/plain": "the answer"
    }  # the final frame, where the first was


def test_shim_waits_for_its_own_cell_and_leaves_other_updates_alone() -> None:
    _, out = _feed(
        _display("P", "live", "waiting…"),
        _msg("status", "Q", execution_state="idle"),  # another request's idle: not the cell's end
        _display("P", "live", "done", kind="update_display_data"),
        _display("P", "elsewhere", "x", kind="update_display_data"),  # an earlier cell's display
        _msg("status", "P", execution_state="idle"),
    )
    assert [m["msg_type"] for m in out] == [
        "display_data",
        "status",
        "update_display_data",
        "status",
    ]
    assert out[0]["content"]["data"] == {"text/plain": "done"}


def test_shim_releases_at_an_error_and_when_the_kernel_goes_quiet() -> None:
    _, out = _feed(
        _display("P", "live", "waiting…"), _msg("error", "P", ename="E", evalue="", traceback=[])
    )
    assert [m["msg_type"] for m in out] == [
        "display_data",
        "error",
    ]  # idle is left for nbval to read
    _, out = _feed(
        _display("P", "live", "waiting…"),
        _display("P", "live", "partial", kind="update_display_data"),
    )
    assert [m["content"]["data"]["text/plain"] for m in out] == ["partial"]


def test_shim_passes_other_channels_and_plain_outputs_through() -> None:
    plain = _msg("execute_result", "P", data={"text/plain": "2"}, metadata={})
    _, out = _feed(plain, _msg("status", "P", execution_state="idle"))
    assert out[0] is plain
    calls: list[str] = []

    def get(timeout: float | None = None, stream: str = "iopub") -> dict[str, Any]:
        calls.append(stream)
        return {"x": 1}

    assert _shim().DisplayUpdates(get)(timeout=1, stream="shell") == {"x": 1} and calls == ["shell"]


# ------------------------------------------------------------------ the whole setup, end to end
def _project(tmp: Path) -> Path:
    """A scratch project: this repository's pytest configuration, one lesson whose stored
    answer was changed, a passing .py test, and a broken notebook under tests/."""
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    start = pyproject.index("[tool.pytest.ini_options]")
    end = pyproject.find("\n[", start + 1)
    (tmp / "pyproject.toml").write_text(
        pyproject[start : end if end != -1 else None], encoding="utf-8"
    )
    (tmp / "tests" / "helpers").mkdir(parents=True)
    for name in (
        "__init__.py",
        "helpers/__init__.py",
        "helpers/nbval_lessons.py",
        "helpers/nbval-sanitize.cfg",
    ):
        source = ROOT / "tests" / name
        (tmp / "tests" / name).write_text(source.read_text(encoding="utf-8"), encoding="utf-8")
    (tmp / "tests" / "test_plain.py").write_text(
        "def test_plain():\n    assert True\n", encoding="utf-8"
    )
    broken = nbformat.v4.new_notebook()
    broken.cells = [nbformat.v4.new_code_cell("raise SystemExit('collected by mistake')")]
    nbformat.write(broken, tmp / "tests" / "stray.ipynb")
    lessons = tmp / "notebooks"
    lessons.mkdir()
    (lessons / "replies").mkdir()
    for script in (LESSON_DIR / "replies").glob("04-*"):
        (lessons / "replies" / script.name).write_text(
            script.read_text(encoding="utf-8"), encoding="utf-8"
        )
    nb = _read("04-conversations-and-tools.ipynb")
    changed = 0
    for cell in _code(nb):
        for output in cell.outputs:
            for mime, value in output.get("data", {}).items():
                if isinstance(value, str) and "has 3 r's" in value:
                    output["data"][mime] = value.replace("has 3 r's", "has 2 r's")
                    changed += 1
    assert changed, "lesson 04 no longer shows the tool answer this test edits"
    nbformat.write(nb, lessons / "04-conversations-and-tools.ipynb")
    return tmp


@pytest.mark.slow
def test_nbval_compares_outputs_and_skips_notebooks_under_tests(tmp_path: Path) -> None:
    project = _project(tmp_path)
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("OPENROUTER_API_KEY", "DEEPSEEK_API_KEY")
        and not k.startswith("DEEPSEEK_MAGIC_")
    }
    # The README's test command, with no arguments, in the scratch project.
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-v", "-p", "no:cacheprovider"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    log = done.stdout + done.stderr
    assert "tests/test_plain.py::test_plain PASSED" in log, log[-3000:]
    assert "stray.ipynb" not in log, log[-3000:]
    # (pytest -v spells a notebook's items "04-conversations-and-tools::ipynb::Cell N")
    results = re.findall(
        r"04-conversations-and-tools(?:\.|::)ipynb::Cell (\d+) (PASSED|FAILED)", log
    )
    cells = _code(_read("04-conversations-and-tools.ipynb"))
    assert len(results) == len(cells), log[-3000:]
    failed = [int(n) for n, outcome in results if outcome == "FAILED"]
    # Exactly the cell whose stored answer was changed fails, on that difference.
    assert failed == [i for i, c in enumerate(cells) if "--run-tools" in c.source], log[-3000:]
    assert done.returncode == 1


def test_shim_folds_the_emptied_stylesheet_as_a_frontend_does() -> None:
    from deepseek_magic.notebook._live import EMPTY_SHEET, SHEET

    sheet = _msg("display_data", "P", data=SHEET, metadata={}, transient={"display_id": "css"})
    emptied = _msg(
        "update_display_data", "P", data=EMPTY_SHEET, metadata={}, transient={"display_id": "css"}
    )
    _, out = _feed(
        sheet,
        _display("P", "live", "waiting…"),
        _display("P", "live", "the answer", kind="update_display_data"),
        emptied,
        _msg("status", "P", execution_state="idle"),
    )
    assert [m["msg_type"] for m in out] == ["display_data", "display_data", "status"]
    assert out[0]["content"]["data"] == {"text/html": ""} and out[1]["content"]["data"] == {
        "text/plain": "the answer"
    }


@pytest.mark.parametrize("name", LESSONS[:5])
def test_saved_lessons_keep_no_stylesheet_or_hidden_formula(name: str) -> None:
    # After the final frame the live view's stylesheet output is emptied: a lesson saved
    # after a run carries no <style> and no warm-up formula in its cells.
    for cell in _code(_read(name)):
        for output in cell.outputs:
            html = output.get("data", {}).get("text/html", "")
            html = html if isinstance(html, str) else "".join(html)
            assert "<style>.dsm-live" not in html and "<span hidden>" not in html, cell.source
