"""The package's import graph: no cycles between its modules (lazy imports count too), the
layers' dependency rule, and the magic and the panel share binding and display through
``notebook/_display``."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "deepseek_magic"


def name_of(path: Path) -> str:
    """``client/_http.py`` -> ``"client._http"``; a package's ``__init__.py`` is the package."""
    parts = list(path.relative_to(PACKAGE).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _resolve(current: str, is_package: bool, level: int, module: str | None) -> str:
    base = current.split(".") if is_package and current else current.split(".")[:-1]
    base = base[: len(base) - (level - 1)] if level > 1 else base
    return ".".join(base + ([module] if module else []))


def imports(path: Path, *, third_party: bool = False) -> set[str]:
    """The package modules ``path`` imports (dotted, relative to the package), at the top or
    inside a function, not the ones under ``if TYPE_CHECKING:``, which never run. With
    ``third_party``, the top-level names of the other modules it imports instead."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    typing_only = {
        id(n)
        for node in ast.walk(tree)
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)
        for n in ast.walk(node)
    }
    current, is_package = name_of(path), path.name == "__init__.py"
    found: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        if isinstance(node, ast.ImportFrom) and node.level >= 1 and not third_party:
            target = _resolve(current, is_package, node.level, node.module)
            found.update(
                [target] if node.module else [f"{target}.{a.name}".lstrip(".") for a in node.names]
            )
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and third_party:
            found.add((node.module or "").split(".")[0])
        elif isinstance(node, ast.Import) and third_party:
            found.update(a.name.split(".")[0] for a in node.names)
    return found


def graph() -> dict[str, set[str]]:
    paths = {name_of(p): p for p in PACKAGE.rglob("*.py")}
    return {name: (imports(path) & set(paths)) - {name} for name, path in paths.items()}


def cycles(edges: dict[str, set[str]]) -> set[frozenset[str]]:
    """Every pair of modules that reach each other."""

    def reach(start: str) -> set[str]:
        seen: set[str] = set()
        todo = [start]
        while todo:
            for nxt in edges.get(todo.pop(), ()):
                if nxt not in seen:
                    seen.add(nxt)
                    todo.append(nxt)
        return seen

    reachable = {m: reach(m) for m in edges}
    return {frozenset({a, b}) for a in edges for b in reachable[a] if a != b and a in reachable[b]}


def test_the_walker_finds_a_cycle() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == {
        frozenset({"a", "b"}),
        frozenset({"b", "c"}),
        frozenset({"a", "c"}),
    }
    assert imports(PACKAGE / "notebook" / "_magic.py") >= {
        "notebook._display",
        "engine._api",
        "core._call",
    }


def test_no_import_cycles_between_the_modules() -> None:
    assert cycles(graph()) == set()


def test_the_magic_and_the_panel_share_display_and_do_not_import_each_other() -> None:
    edges = graph()
    panel, magic = edges["notebook._panel"], edges["notebook._magic"]
    assert "notebook._magic" not in panel and "notebook._display" in panel
    assert "notebook._display" in magic


# ------------------------------------------------------------- the dependency rule
#: third-party packages only the notebook side may import
NOTEBOOK_ONLY = {"IPython", "ipywidgets", "traitlets", "ipykernel"}
#: where httpx may be imported: the client, and the emulator's in-kernel transport (an
#: httpx transport that serves the emulator inside a browser kernel)
HTTPX_IN = ("client.", "emulator._inkernel")


def _modules() -> dict[str, Path]:
    return {name_of(p): p for p in PACKAGE.rglob("*.py")}


def test_ipython_and_ipywidgets_are_imported_only_on_the_notebook_side() -> None:
    offenders = {
        name: sorted(imports(path, third_party=True) & NOTEBOOK_ONLY)
        for name, path in _modules().items()
        if not name.startswith("notebook")
    }
    assert {k: v for k, v in offenders.items() if v} == {}


def test_httpx_is_imported_only_by_the_client() -> None:
    users = {
        name for name, path in _modules().items() if "httpx" in imports(path, third_party=True)
    }
    assert users and all(name.startswith(HTTPX_IN) for name in users), sorted(users)


def test_nothing_below_the_notebook_imports_it_and_the_client_stays_below_the_calls() -> None:
    edges = graph()
    up = {
        (name, target)
        for name, targets in edges.items()
        if name and not name.startswith("notebook")
        for target in targets
        if target.startswith("notebook")
    }
    assert up == set()
    client_up = {
        (name, target)
        for name, targets in edges.items()
        if name.startswith("client")
        for target in targets
        if target.startswith(("batch", "features", "engine", "notebook"))
    }
    assert client_up == set()


def test_a_fresh_interpreter_asks_with_no_ipython_or_ipywidgets(emu, tmp_path: Path) -> None:
    """``import deepseek_magic.client`` and ``ask()`` (a real request, with the cache and
    the spend guard on, then offline mode from the environment) load none of them."""
    script = f"""
import os, sys
import deepseek_magic.client
from deepseek_magic import ask
r = ask("Say hi", base_url={emu.base_url!r}, api_key="sk-test-not-a-key")
assert r.answer, r
os.environ["DEEPSEEK_MAGIC_CACHE"] = "record:" + {str(tmp_path / "c.jsonl")!r}
os.environ["DEEPSEEK_MAGIC_OFFLINE"] = "--token-rate 0"
from deepseek_magic.core._session import Session
r2 = ask("Say hi again", session=Session())
assert r2.answer and r2.offline, r2
print(sorted({{m.split(".")[0] for m in sys.modules}} & set({sorted(NOTEBOOK_ONLY)!r})))
"""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DEEPSEEK")}
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == "[]", done.stdout


def test_the_eval_layer_sits_between_the_engine_and_the_notebook() -> None:
    """``eval/`` (grading, the judge, reasoning stats, the explorer) may use the engine
    and the views; below it, only two lazy doors open into it: ``Result.reasoning_stats``
    / ``.explore()`` and ``map()``'s reasoning columns. The client, the features and the
    emulator never import it, and it never imports the notebook."""
    edges = graph()
    into = {
        (name, target)
        for name, targets in edges.items()
        if not name.startswith(("eval", "notebook")) and name != ""
        for target in targets
        if target.startswith("eval")
    }
    assert into <= {
        ("core._result", "eval._reasoning"),
        ("core._result", "eval._explore"),
        ("batch._output", "eval._reasoning"),
    }, sorted(into)
    out = {t for n, ts in edges.items() if n.startswith("eval") for t in ts}
    assert not {t for t in out if t.startswith("notebook")}


# ---- per-folder import rule (written by layout_move.py) ----
#: what each layer's modules may import of the package (lazy imports count): a layer
#: imports its own folder and the ones listed, never one above it
LAYER_RULE: dict[str, tuple[str, ...]] = {
    "core.": ("core.", "client."),  # the session opens the pooled client, lazily
    "view.": ("core.", "view.", "client._events"),
    "client.": ("", "client.", "core."),  # "": the package itself (its __version__)
    # the engine's default gate is the batch's rate gate
    "engine.": ("core.", "client.", "engine.", "features", "events", "view.", "batch._ratelimit"),
    "features.": ("core.", "client.", "engine.", "features.", "emulator", "view."),
    "batch.": ("core.", "client.", "engine.", "features", "batch.", "view."),
    # grading, the judge (a map() run of its own), reasoning statistics, the explorer
    "eval.": ("core.", "client.", "engine.", "features", "batch.", "view.", "eval.", "events"),
}
#: the few imports across the rule, each with its reason
LAYER_EXCEPTIONS: dict[tuple[str, str], str] = {
    ("core._result", "view._render"): "a Result shows itself in a notebook, lazily",
    ("core._result", "eval._reasoning"): "Result.reasoning_stats, computed lazily",
    ("core._result", "eval._explore"): "Result.explore(), built lazily",
    ("core._result", "features._schema"): "a Result's repr shows its typed data, lazily",
    ("view._render", "features._schema_view"): "the reply view shows the typed data under it",
    ("batch._output", "eval._reasoning"): "map()'s reasoning columns, computed lazily",
}


def test_each_folder_imports_only_the_layers_below_it() -> None:
    edges = graph()
    wrong = {
        (name, target)
        for name, targets in edges.items()
        for prefix, allowed in LAYER_RULE.items()
        if name.startswith(prefix)
        for target in targets
        if not any(target in (a, a.rstrip(".")) or (a and target.startswith(a)) for a in allowed)
    }
    assert wrong - set(LAYER_EXCEPTIONS) == set(), sorted(wrong)


def test_the_top_level_holds_only_a_few_loose_modules() -> None:
    loose = sorted(p.name for p in PACKAGE.glob("*.py"))
    # the public events, and the two commands run with -m (the demo, the snapshot maintainer's)
    assert loose == ["__init__.py", "catalogue.py", "demo.py", "events.py"], loose


# ---- end of the per-folder import rule ----


#: what ``import deepseek_magic`` and ``%load_ext deepseek_magic`` must not load: heavy
#: third-party packages, and our pieces that load on first use (the renderer with
#: markdown-it, the eval package, the client's HTTP stack)
HEAVY_AT_LOAD = (
    "pandas",
    "numpy",
    "matplotlib",
    "pydantic",
    "ipywidgets",
    "jsonschema",
    "markdown_it",
    "httpx",
    "httpcore",
    "deepseek_magic.eval",
    "deepseek_magic.view._markdown",
    "deepseek_magic.view._render",
    "deepseek_magic.client._http",
)


def test_load_ext_in_a_fresh_shell_loads_no_heavy_module() -> None:
    """``%load_ext deepseek_magic`` in a fresh InteractiveShell (a subprocess) registers the
    magics and leaves every module of ``HEAVY_AT_LOAD`` unloaded; the first frame of the
    live view, the first request and ``dm.grade`` load them when used."""
    script = f"""
import sys
from IPython.core.interactiveshell import InteractiveShell
shell = InteractiveShell.instance()
shell.run_line_magic("load_ext", "deepseek_magic")
assert "deepseek" in shell.magics_manager.magics["cell"], "the magic is not registered"
heavy = {HEAVY_AT_LOAD!r}
print(sorted(m for m in sys.modules if any(m == h or m.startswith(h + ".") for h in heavy)))
import deepseek_magic as dm
dm.Grades, dm.SELF_CHECK_PHRASES  # served on first use
print("deepseek_magic.eval._grade" in sys.modules)
"""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DEEPSEEK")}
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines() == ["[]", "True"], done.stdout
