"""The JupyterLite site builder without the network: the lessons' rewrite (cells a browser
cannot run say so in one line), the lock rewritten for exactly what the site holds, and a
configuration that never falls back to a public index or CDN. (The whole build, served and
opened in Chromium, is tests/browser/test_lite_ui.py.)"""

from __future__ import annotations

import hashlib
import json
import zipfile
from pathlib import Path

import pytest

from deepseek_magic.lite import _build, _lessons
from deepseek_magic.lite.__main__ import main

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"


def code(source: str) -> dict[str, object]:
    return {
        "cell_type": "code",
        "source": source,
        "metadata": {},
        "outputs": [{"x": 1}],
        "execution_count": 3,
    }


def test_cells_a_browser_cannot_run_are_skipped_with_a_note() -> None:
    nb = {
        "cells": [
            code("%load_ext deepseek_magic"),
            code("import pandas as pd\ndf = pd.DataFrame()"),
            code("df.head()"),
            code("server = Emulator(dialect='vllm').start()"),
            code("print(server.base_url)"),
            code("df = [1, 2]\nprint(df)"),  # redefined here: later cells may use it again
            code("len(df)"),
            {"cell_type": "markdown", "source": "pd. and Emulator( in prose stay", "metadata": {}},
        ]
    }
    assert _lessons.rewrite(nb) == 4
    cells = nb["cells"]
    assert cells[0]["source"] == "%load_ext deepseek_magic" and cells[0]["outputs"]
    note = cells[1]["source"]
    assert note.startswith("# Skipped in the browser version of this lesson: it needs pandas")
    assert "# import pandas as pd\n# df = pd.DataFrame()" in note and note.endswith("')")
    assert cells[1]["outputs"] == [] and cells[1]["execution_count"] is None
    assert "skipped-in-browser" in cells[1]["metadata"]["tags"]
    assert "it uses df, from a cell skipped above" in cells[2]["source"]
    assert "cannot listen on a port" in cells[3]["source"]
    assert "it uses server" in cells[4]["source"]
    assert cells[5]["source"] == "df = [1, 2]\nprint(df)" and cells[6]["source"] == "len(df)"
    assert cells[7]["source"] == "pd. and Emulator( in prose stay"
    compile(note, "cell", "exec")  # the note cell runs: it prints its one line


def test_the_lessons_keep_their_magic_cells(tmp_path: Path) -> None:
    skipped = _lessons.copy_lessons(NOTEBOOKS, tmp_path)
    assert skipped["01-quick-start.ipynb"] == 1  # only the pandas table
    # 02 defines `async def tries` with pandas: every later cell awaiting it is skipped too
    lesson = json.loads((tmp_path / "02-parameters.ipynb").read_text(encoding="utf-8"))
    for cell in lesson["cells"]:
        source = "".join(cell["source"])
        if "tries(" in source or "--sweep" in source:
            assert source.startswith("# Skipped in the browser version"), source
    # 03's sweep (`-o grid`, a DataFrame) is skipped, and so is the cell that reads grid
    lesson = json.loads((tmp_path / "03-results-as-data.ipynb").read_text(encoding="utf-8"))
    using = [
        "".join(c["source"])
        for c in lesson["cells"]
        if c["cell_type"] == "code" and "grid[" in "".join(c["source"])
    ]
    assert using and all("it uses grid, from a cell skipped above" in s for s in using)
    assert (tmp_path / "replies" / "01-quick-start.json").exists()
    for name in skipped:
        original = json.loads((NOTEBOOKS / name).read_text(encoding="utf-8"))
        site = json.loads((tmp_path / name).read_text(encoding="utf-8"))
        for before, after in zip(original["cells"], site["cells"], strict=True):
            source = "".join(before["source"])
            dataframes = "--sweep" in source or "--over" in source  # pandas: skipped
            if source.startswith(("%%deepseek", "%deepseek_offline")) and not dataframes:
                assert "".join(after["source"]) == source, (name, source)


def _wheel(folder: Path, name: str, version: str) -> Path:
    path = folder / f"{name.replace('-', '_')}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr(f"{name}/__init__.py", f"# {name} {version}\n")
    return path


def _entry(name: str, version: str, depends: list[str], wasm: bool = False) -> dict[str, object]:
    tag = "cp314-cp314-pyemscripten_2026_0_wasm32" if wasm else "py3-none-any"
    return {
        "name": name,
        "version": version,
        "depends": depends,
        "file_name": f"{name}-{version}-{tag}.whl",
        "imports": [name],
        "install_dir": "site",
        "package_type": "package",
        "sha256": "npm",
        "unvendored_tests": False,
    }


@pytest.fixture
def runtime(tmp_path: Path) -> Path:
    folder = tmp_path / "runtime"
    folder.mkdir()
    packages = {
        "micropip": _entry("micropip", "0.11.1", []),
        "packaging": _entry("packaging", "26.1", []),
        "ipython": _entry("ipython", "9.12.0", ["traitlets", "prompt_toolkit"]),
        "prompt-toolkit": _entry("prompt-toolkit", "3.0.52", []),
        "traitlets": _entry("traitlets", "5.14.3", []),
        "jedi": _entry("jedi", "0.19.2", ["parso"]),
        "parso": _entry("parso", "0.8.6", []),
        "httpx": _entry("httpx", "0.28.1", []),
        "anyio": _entry("anyio", "4.13.0", ["sniffio"]),
        "sniffio": _entry("sniffio", "1.3.1", []),
        "certifi": _entry("certifi", "2026.4.22", []),
        "httpcore": _entry("httpcore", "1.0.9", ["h11"]),
        "h11": _entry("h11", "0.16.0", []),
        "idna": _entry("idna", "3.11", []),
        "pandas": _entry("pandas", "3.0.2", ["numpy"], wasm=True),
        "numpy": _entry("numpy", "2.4.6", [], wasm=True),
    }
    (folder / "pyodide-lock.json").write_text(
        json.dumps({"info": {"python": "3.14.2"}, "packages": packages})
    )
    return folder


class FakePip(list[list[str]]):
    """``_build._download`` without the network: writes a stub wheel per spec and records
    each call's specs (a spec named in ``fail`` gives no wheel, as a pip mishap would)."""

    def __init__(self, fail: tuple[str, ...] = ()) -> None:
        super().__init__()
        self.fail = fail

    def __call__(self, dest: Path, specs: list[str], *, pure: bool = True) -> None:
        self.append(list(specs))
        for spec in specs:
            name, version = spec.split("==")
            if name not in self.fail:
                _wheel(dest, name, version)


def _lock(runtime: Path, folder: Path) -> _build.BuildReport:
    """``_build._lock`` with our stub wheel, ``folder`` as both cache and site."""
    report = _build.BuildReport(folder)
    ours = _wheel(folder, "deepseek-magic", "0.1.0")
    _build._lock(runtime, ours, folder, folder, say=lambda line: None, report=report)
    return report


def test_the_lock_lists_exactly_what_the_site_holds(
    runtime: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pip = FakePip()
    monkeypatch.setattr(_build, "_download", pip)  # no network in tests
    static = tmp_path / "static"
    static.mkdir()
    ours = _wheel(tmp_path, "deepseek-magic", "0.1.0")
    report = _build.BuildReport(tmp_path / "out")
    _build._lock(runtime, ours, tmp_path, static, say=lambda line: None, report=report)
    lock = json.loads((static / "pyodide-lock.json").read_text())
    packages = lock["packages"]
    assert "pandas" not in packages and "numpy" not in packages  # nothing the site lacks
    assert sorted(packages["httpx"]["depends"]) == [
        "anyio",
        "certifi",
        "httpcore",
        "idna",
        "sniffio",
    ]
    assert {
        "comm",
        "markdown-it-py",
        "mdit-py-plugins",
        "mdurl",
        "ipywidgets",
        "deepseek-magic",
    } <= set(packages)
    for name, entry in packages.items():
        wheel = static / entry["file_name"]
        assert wheel.exists(), name
        assert entry["sha256"] == hashlib.sha256(wheel.read_bytes()).hexdigest(), name
    assert len(pip) == 1  # every missing wheel in one pip call
    assert "ipython==9.12.0" in pip[0] and "deepseek-magic==0.1.0" not in pip[0]
    assert sorted(report.downloaded) == sorted(pip[0])
    assert len(pip[0]) == len(packages) - 1  # all but ours
    assert packages["deepseek-magic"]["imports"] == ["deepseek_magic"]

    # a second build takes every wheel from the cache: nothing is downloaded
    again = _build.BuildReport(tmp_path / "out")
    _build._lock(runtime, ours, tmp_path, static, say=lambda line: None, report=again)
    assert len(pip) == 1 and again.downloaded == []
    assert sorted(again.wheels) == sorted(report.wheels)


def test_a_wheel_pip_did_not_deliver_is_one_line(
    runtime: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_build, "_download", FakePip(fail=("jedi",)))
    with pytest.raises(_build.BuildError, match=r"^pip download jedi==0\.19\.2 gave no wheel\.$"):
        _lock(runtime, tmp_path)


def test_a_wasm_package_in_the_closure_is_refused(
    runtime: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lock = json.loads((runtime / "pyodide-lock.json").read_text())
    lock["packages"]["traitlets"] = _entry("traitlets", "5.14.3", [], wasm=True)
    (runtime / "pyodide-lock.json").write_text(json.dumps(lock))
    pip = FakePip()
    monkeypatch.setattr(_build, "_download", pip)
    with pytest.raises(_build.BuildError, match="traitlets has no pure wheel"):
        _lock(runtime, tmp_path)
    assert pip == []  # refused before anything is downloaded


def test_the_site_never_falls_back_to_a_public_index(tmp_path: Path) -> None:
    _build._config(tmp_path)
    config = json.loads((tmp_path / "jupyter-lite.json").read_text())["jupyter-config-data"]
    kernel = config["litePluginSettings"]["@jupyterlite/pyodide-kernel-extension:kernel"]
    assert kernel["disablePyPIFallback"] is True
    assert kernel["pyodideUrl"] == "./static/pyodide/pyodide.mjs"  # the site's own copy, no CDN
    assert "deepseek-magic" in kernel["loadPyodideOptions"]["packages"]


def test_serving_a_folder_without_a_site_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["serve", str(tmp_path / "nothing")]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "build it first" in err
