"""Assemble the JupyterLite site: the lessons in a browser tab, nothing to install.

Everything comes from PyPI and npm (see ``shared/docs/jupyterlite.md``): the pinned
``jupyterlite-core`` / ``jupyterlite-pyodide-kernel`` (installed in the build's Python),
the pyodide runtime from the npm ``pyodide`` package, pure wheels of the exact versions
its lock names, our wheel and our dependencies. The lock is rewritten to list only what
the site holds (with their sha256, and httpx's missing ``depends``), and the kernel is
configured never to fall back to a public index or CDN. Downloads are cached under the
user's cache folder, so a rebuild takes seconds.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from . import _lessons

__all__ = ["PYODIDE_VERSION", "JUPYTERLITE_VERSION", "BuildReport", "build", "cache_dir"]

PYODIDE_VERSION = "314.0.6"
JUPYTERLITE_VERSION = "0.8.6"
PYTHON_VERSION = "3.14"
#: the runtime files taken from the npm package
RUNTIME_FILES = (
    "pyodide.mjs",
    "pyodide.asm.mjs",
    "pyodide.asm.wasm",
    "python_stdlib.zip",
    "pyodide-lock.json",
    "pyodide.js",
)
#: loaded when the kernel starts (our package and what it imports; the kernel's own
#: ipython, jedi, comm and micropip come with it)
ROOTS = ("micropip", "deepseek-magic")
#: what the kernel itself installs at start (pyodide-kernel's worker), from the lock
KERNEL_NEEDS = ("micropip", "packaging", "ipython", "jedi", "comm")
#: packages not in pyodide's lock that the site adds: name -> (import names, depends)
EXTRA: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "comm": (("comm",), ("traitlets",)),
    "mdurl": (("mdurl",), ()),
    "markdown-it-py": (("markdown_it",), ("mdurl",)),
    "mdit-py-plugins": (("mdit_py_plugins",), ("markdown-it-py",)),
    # widgetsnbextension / jupyterlab_widgets are the frontend's: the site has them built in
    "ipywidgets": (("ipywidgets",), ("comm", "ipython", "traitlets")),
}
OUR_DEPENDS = (
    "httpx",
    "markdown-it-py",
    "mdit-py-plugins",
    "ipython",
    "traitlets",
    "ipywidgets",
)
#: pyodide 314.0.6's lock lists httpx with ``depends: []`` (import fails on idna)
DEPENDS_FIXES = {"httpx": ("anyio", "certifi", "httpcore", "idna", "sniffio")}
KERNEL_PLUGIN = "@jupyterlite/pyodide-kernel-extension:kernel"


def cache_dir() -> Path:
    """Where downloads are kept between builds (``$XDG_CACHE_HOME`` or ``~/.cache``)."""
    root = (
        os.environ.get("DEEPSEEK_MAGIC_CACHE_DIR")
        or os.environ.get("XDG_CACHE_HOME")
        or os.path.join(os.path.expanduser("~"), ".cache")
    )
    return Path(root) / "deepseek-magic" / "lite"


@dataclass
class BuildReport:
    output: Path
    seconds: float = 0.0
    bytes: int = 0
    files: int = 0
    wheels: list[str] = field(default_factory=list)
    downloaded: list[str] = field(default_factory=list)
    skipped_cells: dict[str, int] = field(default_factory=dict)

    def summary(self) -> str:
        fetched = (
            f", downloaded {len(self.downloaded)}" if self.downloaded else ", all from the cache"
        )
        return (
            f"Built {self.output} in {self.seconds:.1f} s: {self.files} files, "
            f"{self.bytes / 1e6:.1f} MB, {len(self.wheels)} wheels{fetched}."
        )


class BuildError(RuntimeError):
    """One line saying what failed and what to do."""


def _run(cmd: list[str], cwd: Path | None = None) -> str:
    done = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, stdin=subprocess.DEVNULL)
    if done.returncode != 0:
        tail = " ".join((done.stderr or done.stdout).strip().splitlines()[-3:])[:400]
        raise BuildError(f"{' '.join(cmd[:4])} ... failed: {tail}")
    return done.stdout


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _runtime(cache: Path, say: Callable[[str], None], report: BuildReport) -> Path:
    """The npm package's files, unpacked once into the cache."""
    folder = cache / f"pyodide-{PYODIDE_VERSION}"
    if (folder / "pyodide-lock.json").exists():
        return folder
    npm = shutil.which("npm")
    if npm is None:
        raise BuildError("npm is needed once to fetch the pyodide runtime (apt-get install npm).")
    say(f"fetching the pyodide {PYODIDE_VERSION} runtime from npm")
    with tempfile.TemporaryDirectory() as tmp:
        out = _run([npm, "pack", f"pyodide@{PYODIDE_VERSION}", "--silent"], cwd=Path(tmp)).strip()
        tarball = Path(tmp) / out.splitlines()[-1]
        staging = Path(tmp) / "unpacked"
        with tarfile.open(tarball) as tar:
            members = [
                m
                for m in tar.getmembers()
                if m.isfile()
                and m.name.startswith("package/")
                and m.name.split("/", 1)[1] in RUNTIME_FILES
            ]
            tar.extractall(staging, members=members)  # noqa: S202 - names checked above
        shutil.rmtree(folder, ignore_errors=True)
        shutil.move(str(staging / "package"), folder)
    report.downloaded.append(f"pyodide@{PYODIDE_VERSION}")
    return folder


def _download(dest: Path, specs: list[str], *, pure: bool = True) -> None:
    """``pip download`` the ``name==version`` specs into ``dest``, without their
    dependencies; ``pure``: only wheels that run in pyodide (any platform, pure Python)."""
    target = [
        "--only-binary=:all:",
        "--python-version",
        PYTHON_VERSION,
        "--platform",
        "any",
        "--implementation",
        "py",
    ]
    pip = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps"]
    _run([*pip, *(target if pure else []), "--dest", str(dest), *specs])


def _wheels(
    cache: Path, wanted: list[tuple[str, str]], say: Callable[[str], None], report: BuildReport
) -> dict[str, Path]:
    """The pure wheels ``wanted`` (name, version), from the cache; the missing ones are
    downloaded from PyPI with ONE pip call (one resolver start, not 30)."""
    folder = cache / "wheels"
    folder.mkdir(parents=True, exist_ok=True)
    missing = [f"{n}=={v}" for n, v in wanted if _cached(folder, n, v) is None]
    if missing:
        say(f"downloading {len(missing)} wheels from PyPI")
        _download(folder, missing)
        report.downloaded.extend(missing)
    found: dict[str, Path] = {}
    for name, version in wanted:
        path = _cached(folder, name, version)
        if path is None:
            raise BuildError(f"pip download {name}=={version} gave no wheel.")
        found[name] = path
    return found


def _source_hash(source: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted((source / "deepseek_magic").rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts:
            digest.update(str(path.relative_to(source)).encode() + b"\0" + path.read_bytes())
    digest.update((source / "pyproject.toml").read_bytes())
    return digest.hexdigest()[:16]


def _cached(folder: Path, name: str, version: str) -> Path | None:
    pattern = re.sub(r"[-_.]+", "[-_.]", name) + "-" + re.escape(version) + "-"
    for path in folder.glob("*.whl"):
        if re.match(pattern, path.name, re.I):
            return path
    return None


def _our_wheel(source: Path | None, cache: Path) -> Path:
    """Our package as a wheel: built from the source tree when there is one (rebuilt only
    when a file of the package changed), else downloaded from PyPI."""
    from .. import __version__

    out = cache / "ours" / (_source_hash(source) if source is not None else __version__)
    wheels = list(out.glob("deepseek_magic-*.whl"))
    if wheels:
        return wheels[0]
    shutil.rmtree(out.parent, ignore_errors=True)
    out.mkdir(parents=True)
    if source is not None:
        _run(
            [
                sys.executable,
                "-m",
                "pip",
                "wheel",
                "--quiet",
                "--no-deps",
                "-w",
                str(out),
                str(source),
            ]
        )
    else:
        _download(out, [f"deepseek-magic=={__version__}"], pure=False)
    wheels = list(out.glob("deepseek_magic-*.whl"))
    if not wheels:
        raise BuildError("could not build the deepseek-magic wheel.")
    return wheels[0]


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _closure(packages: dict[str, Any], roots: tuple[str, ...]) -> list[str]:
    """The lock's keys that ``roots`` need (the lock spells some depends with ``_``)."""
    keys = {_canonical(k): k for k in packages}
    seen: list[str] = []
    todo = [keys[_canonical(r)] for r in roots]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.append(name)
        for dep in packages[name]["depends"]:
            if _canonical(dep) not in keys:
                raise BuildError(f"the lock's {name} needs {dep}, which it does not list.")
            todo.append(keys[_canonical(dep)])
    return sorted(seen)


def _version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        raise BuildError(
            f"{name} is not installed in this Python; pip install 'deepseek-magic[lite]' first."
        ) from None


def _lock(
    runtime: Path,
    ours: Path,
    cache: Path,
    static: Path,
    say: Callable[[str], None],
    report: BuildReport,
) -> None:
    lock = json.loads((runtime / "pyodide-lock.json").read_text(encoding="utf-8"))
    packages: dict[str, Any] = lock["packages"]
    for name, deps in DEPENDS_FIXES.items():
        packages[name]["depends"] = sorted(set(packages[name]["depends"]) | set(deps))
    for name, (imports, depends) in EXTRA.items():
        packages[name] = {
            "name": name,
            "version": _version(name),
            "file_name": "",
            "install_dir": "site",
            "package_type": "package",
            "imports": list(imports),
            "depends": list(depends),
            "unvendored_tests": False,
            "sha256": "",
        }
    from .. import __version__

    packages["deepseek-magic"] = {
        "name": "deepseek-magic",
        "version": __version__,
        "file_name": ours.name,
        "install_dir": "site",
        "package_type": "package",
        "imports": ["deepseek_magic"],
        "depends": list(OUR_DEPENDS),
        "unvendored_tests": False,
        "sha256": "",
    }
    keep = _closure(packages, ROOTS + KERNEL_NEEDS)
    for name in keep:  # before downloading anything: PyPI has no wasm wheels for pyodide
        file_name = packages[name]["file_name"]
        if file_name and not re.search(r"-(py3|py2\.py3)-none-any\.whl$", file_name):
            raise BuildError(f"{name} has no pure wheel ({file_name}); it cannot be served.")
    wanted = [(n, packages[n]["version"]) for n in keep if n != "deepseek-magic"]
    wheels = {**_wheels(cache, wanted, say, report), "deepseek-magic": ours}
    for name in keep:
        entry, wheel = packages[name], wheels[name]
        shutil.copy2(wheel, static / wheel.name)
        entry["file_name"] = wheel.name
        entry["sha256"] = _sha256(wheel)
        report.wheels.append(wheel.name)
    lock["packages"] = {name: packages[name] for name in keep}
    (static / "pyodide-lock.json").write_text(
        json.dumps(lock, indent=1, sort_keys=True), encoding="utf-8"
    )


#: JupyterLab settings the site starts with: every cell rendered (lessons are short, and
#: a reader scrolling back sees all outputs), no news popup over the lesson
SETTINGS = {
    "@jupyterlab/notebook-extension:tracker": {"windowingMode": "none"},
}


def _config(lite: Path) -> None:
    (lite / "overrides.json").write_text(json.dumps(SETTINGS, indent=1), encoding="utf-8")
    (lite / "jupyter_lite_config.json").write_text(
        json.dumps(
            {
                "LiteBuildConfig": {"apps": ["lab", "notebook", "repl"], "no_sourcemaps": True},
            },
            indent=1,
        ),
        encoding="utf-8",
    )
    (lite / "jupyter-lite.json").write_text(
        json.dumps(
            {
                "jupyter-lite-schema-version": 0,
                "jupyter-config-data": {
                    "appName": "deepseek-magic lessons",
                    "disabledExtensions": ["@jupyterlab/apputils-extension:announcements"],
                    "litePluginSettings": {
                        KERNEL_PLUGIN: {
                            "pyodideUrl": "./static/pyodide/pyodide.mjs",
                            "disablePyPIFallback": True,
                            "loadPyodideOptions": {"packages": ["micropip", "deepseek-magic"]},
                        }
                    },
                },
            },
            indent=1,
        ),
        encoding="utf-8",
    )


def _source_tree() -> Path | None:
    root = Path(__file__).resolve().parents[2]
    return (
        root if (root / "pyproject.toml").exists() and (root / "deepseek_magic").is_dir() else None
    )


def build(
    output: str | Path = "_site",
    *,
    notebooks: str | Path | None = None,
    say: Callable[[str], None] = print,
) -> BuildReport:
    """Build the site into ``output`` (replaced) and return what was built."""
    started = time.perf_counter()
    output = Path(output).resolve()
    report = BuildReport(output)
    source = _source_tree()
    lessons = (
        Path(notebooks) if notebooks is not None else (source / "notebooks" if source else None)
    )
    if lessons is None or not lessons.is_dir():
        raise BuildError("no lessons folder: pass --notebooks DIR (the repository's notebooks/).")
    cache = cache_dir()
    cache.mkdir(parents=True, exist_ok=True)
    runtime = _runtime(cache, say, report)
    with tempfile.TemporaryDirectory(prefix="deepseek-magic-lite-") as tmp:
        lite = Path(tmp)
        static = lite / "static" / "pyodide"
        static.mkdir(parents=True)
        for name in RUNTIME_FILES:
            if (runtime / name).exists() and name != "pyodide-lock.json":
                shutil.copy2(runtime / name, static / name)
        ours = _our_wheel(source, cache)
        _lock(runtime, ours, cache, static, say, report)
        report.skipped_cells = _lessons.copy_lessons(lessons, lite / "files")
        _config(lite)
        if output.exists():
            shutil.rmtree(output)
        say("running jupyter lite build")
        _run(
            [
                sys.executable,
                "-m",
                "jupyterlite_core",
                "build",
                "--lite-dir",
                str(lite),
                "--contents",
                str(lite / "files"),
                "--output-dir",
                str(output),
            ],
            cwd=lite,
        )
    report.seconds = time.perf_counter() - started
    for path in output.rglob("*"):
        if path.is_file():
            report.files += 1
            report.bytes += path.stat().st_size
    return report
