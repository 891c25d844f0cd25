"""The package's import graph: no cycles between its modules (beyond two lazy ones kept on
purpose), and the magic and the panel share binding and display through ``_display``."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "deepseek_magic"

#: lazy imports both ways, known and kept for now: a Result renders itself
#: (``_repr_mimebundle_``); the option table's README section reads the provider table;
#: ``render_live`` builds a ``LiveState``, which borrows the renderer's offline note and
#: scrubber (the live view, issue 13). A new cycle fails this test.
ALLOWED = {
    frozenset({"_render", "_result"}),
    frozenset({"_options", "_providers"}),
    frozenset({"_render", "_live_state"}),
}


def imports(path: Path) -> set[str]:
    """The package modules ``path`` imports, at the top or inside a function (not the
    ones under ``if TYPE_CHECKING:``, which never run)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    typing_only = {
        id(n)
        for node in ast.walk(tree)
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)
        for n in ast.walk(node)
    }
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level == 1 and id(node) not in typing_only:
            found.update(
                [node.module.split(".")[0]] if node.module else [a.name for a in node.names]
            )
    return found


def graph() -> dict[str, set[str]]:
    modules = {p.stem for p in PACKAGE.glob("*.py")}
    return {p.stem: (imports(p) & modules) - {p.stem} for p in PACKAGE.glob("*.py")}


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
    assert imports(PACKAGE / "_magic.py") >= {"_display", "_api", "_call"}


def _groups(pairs: set[frozenset[str]]) -> list[set[str]]:
    """The allowed pairs merged where they share a module (a cycle through two of them)."""
    groups: list[set[str]] = []
    for pair in pairs:
        touching = [g for g in groups if g & pair]
        merged = set(pair).union(*touching)
        groups = [g for g in groups if not g & pair] + [merged]
    return groups


def test_no_import_cycles_between_the_modules() -> None:
    groups = _groups(ALLOWED)
    new = {pair for pair in cycles(graph()) if not any(pair <= g for g in groups)}
    assert new == set()


def test_the_magic_and_the_panel_share_display_and_do_not_import_each_other() -> None:
    edges = graph()
    assert "_magic" not in edges["_panel"] and "_display" in edges["_panel"]
    assert "_display" in edges["_magic"]
