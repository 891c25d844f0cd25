"""Binder: the lessons run in an environment built from ``binder/`` alone.

repo2docker (mybinder.org) installs ``binder/requirements.txt``, then runs
``binder/postBuild`` from the repository root. This test does exactly that in a fresh
virtual environment, with no other install step, then executes every notebook in
``notebooks/`` headless with nbclient, on that environment's own Python kernel, with no
API key in the environment: a student on Binder without a key must get every lesson to
the end, answered by the offline emulator.

pip downloads from PyPI (its cache, ``PIP_CACHE_DIR`` or pip's default, keeps reruns
fast); the notebooks are executed from a copy, so the committed outputs stay untouched.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BINDER = ROOT / "binder"
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))

#: every variable that could carry a key or send the lessons somewhere else
_SCRUB = (
    "OPENROUTER_API_KEY",
    "DEEPSEEK_API_KEY",
    "VIRTUAL_ENV",
    "PYTHONPATH",
    "PYTHONHOME",
    "CONDA_PREFIX",
    "JUPYTER_PATH",
)

# Run inside the Binder environment: execute each notebook, report per notebook what went
# wrong (cell errors, cells left unexecuted) and what its first cell printed.
_EXECUTE = r"""
import json, sys, time
import nbclient, nbformat

report = {}
for path in sys.argv[1:]:
    started = time.monotonic()
    nb = nbformat.read(path, as_version=4)
    entry = {"errors": [], "unexecuted": 0, "first_output": "", "seconds": 0.0}
    folder = str(__import__("pathlib").Path(path).parent)
    client = nbclient.NotebookClient(nb, timeout=120, kernel_name="python3", allow_errors=True,
                                     resources={"metadata": {"path": folder}})
    try:
        client.execute()
    except Exception as exc:  # the kernel died or a cell timed out
        entry["errors"].append(f"{type(exc).__name__}: {exc}"[:500])
    code = [c for c in nb.cells if c.cell_type == "code"]
    for i, cell in enumerate(code):
        if cell.get("execution_count") is None:
            entry["unexecuted"] += 1
        for out in cell.get("outputs", []):
            if out.get("output_type") == "error":
                error = f"code cell {i}: {out.get('ename')}: {out.get('evalue')}"
                entry["errors"].append(error[:500])
    if code and code[0].get("outputs"):
        entry["first_output"] = "".join(o.get("text", "") for o in code[0].outputs)
    entry["seconds"] = round(time.monotonic() - started, 1)
    report[path] = entry
print(json.dumps(report))
"""


def _env(tmp: Path, venv: Path) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in _SCRUB and not k.startswith("DEEPSEEK_MAGIC_")
    }
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    env["VIRTUAL_ENV"] = str(venv)
    env.setdefault("PIP_CACHE_DIR", str(Path.home() / ".cache" / "pip"))
    env.pop("PIP_NO_CACHE_DIR", None)
    # Nothing of this machine's Jupyter or IPython setup leaks in (and trust lands here).
    for name, sub in (
        ("JUPYTER_CONFIG_DIR", "jupyter-config"),
        ("JUPYTER_DATA_DIR", "jupyter-data"),
        ("JUPYTER_RUNTIME_DIR", "jupyter-runtime"),
        ("IPYTHONDIR", "ipython"),
        ("MPLCONFIGDIR", "matplotlib"),
    ):
        env[name] = str(tmp / sub)
    env["MPLBACKEND"] = "agg"
    return env


def _run(command: list[str], *, env: dict[str, str], timeout: float, cwd: Path = ROOT) -> str:
    done = subprocess.run(
        command, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    assert done.returncode == 0, (
        f"{' '.join(command)} failed "
        f"({done.returncode}):\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    )
    return done.stdout


def test_binder_files_are_what_repo2docker_reads() -> None:
    requirements = (BINDER / "requirements.txt").read_text(encoding="utf-8")
    names = {
        line.split("#")[0].split(">")[0].split("<")[0].split("=")[0].strip().lower()
        for line in requirements.splitlines()
        if line.split("#")[0].strip()
    }
    # What the lessons import besides the package itself, and JupyterLab 4 for ipywidgets 8.
    assert {"jupyterlab", "ipywidgets", "pandas", "matplotlib", "ipykernel"} <= names
    post_build = BINDER / "postBuild"
    assert os.access(post_build, os.X_OK), (
        "binder/postBuild must be executable (repo2docker runs it)"
    )
    text = post_build.read_text(encoding="utf-8")
    assert text.startswith("#!") and "pip install" in text


@pytest.mark.slow
@pytest.mark.timeout(360)
def test_every_lesson_runs_in_an_environment_built_from_binder(tmp_path: Path) -> None:
    assert NOTEBOOKS, "no notebooks in notebooks/"
    started = time.monotonic()
    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", str(venv)], env=dict(os.environ), timeout=120)
    env = _env(tmp_path, venv)
    python = str(venv / "bin" / "python")

    # Exactly what repo2docker does, and nothing else.
    _run(
        [python, "-m", "pip", "install", "--quiet", "-r", str(BINDER / "requirements.txt")],
        env=env,
        timeout=300,
    )
    _run([str(BINDER / "postBuild")], env=env, timeout=180)
    built = time.monotonic() - started

    # The package comes from the environment, not from this checkout.
    where = _run(
        [python, "-c", "import deepseek_magic; print(deepseek_magic.__file__)"],
        env=env,
        timeout=60,
        cwd=tmp_path,
    )
    assert str(venv) in where, where

    lessons = tmp_path / "notebooks"
    shutil.copytree(
        ROOT / "notebooks",
        lessons,
        ignore=shutil.ignore_patterns("__pycache__", ".ipynb_checkpoints"),
    )
    script = tmp_path / "execute.py"
    script.write_text(_EXECUTE, encoding="utf-8")
    out = _run(
        [python, str(script), *[str(lessons / p.name) for p in NOTEBOOKS]],
        env=env,
        timeout=300,
        cwd=tmp_path,
    )
    report = json.loads(out.strip().splitlines()[-1])

    assert len(report) == len(NOTEBOOKS)
    for path, entry in report.items():
        name = Path(path).name
        assert entry["errors"] == [], f"{name}: {entry['errors']}"
        assert entry["unexecuted"] == 0, f"{name}: {entry['unexecuted']} code cells did not run"
        # No key: `%deepseek_offline auto` switched the emulator on, and said so.
        assert "Offline mode ON" in entry["first_output"], f"{name}: {entry['first_output']!r}"
    print(
        f"binder environment built in {built:.0f} s; lessons ran in "
        + ", ".join(f"{Path(p).name} {e['seconds']} s" for p, e in report.items())
    )
