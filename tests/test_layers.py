"""The package's layers: lower rooms never import the ones above them, and no module imports
itself through others (no cycle)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

ABOVE = ("wattbench.report", "wattbench.plugin", "wattbench.session", "wattbench.judge.phase")


@pytest.mark.parametrize(
    "module",
    ["wattbench.backends.protocol", "wattbench.monitors", "wattbench.scorers", "wattbench.records.results",
     "wattbench.settings", "wattbench.cases", "wattbench.option", "wattbench.records.machine",
     "wattbench.scale.workers"],
)
def test_a_lower_room_pulls_in_nothing_above_it(module: str) -> None:
    code = (
        f"import json, sys; import {module}; "
        "print(json.dumps(sorted(m for m in sys.modules if m.startswith('wattbench'))))"
    )
    loaded = json.loads(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                       check=True).stdout)
    above = [m for m in loaded if any(m == a or m.startswith(a + ".") for a in ABOVE)]
    assert above == [], f"importing {module} loads {above}"


def _module_imports() -> dict[str, set[str]]:
    """wattbench module -> the wattbench modules it imports at import time (module level, outside
    ``if TYPE_CHECKING``); ``from pkg import sub`` counts as an import of the submodule."""
    import ast
    from pathlib import Path

    import wattbench

    root = Path(wattbench.__file__).parent
    names = {
        ".".join(("wattbench", *p.relative_to(root).with_suffix("").parts)).removesuffix(".__init__"): p
        for p in root.rglob("*.py")
    }
    graph: dict[str, set[str]] = {}
    for name, path in names.items():
        edges: set[str] = set()
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            if isinstance(node, ast.Import):
                edges |= {a.name for a in node.names if a.name in names}
            elif isinstance(node, ast.ImportFrom) and node.module and node.module in names:
                subs = {f"{node.module}.{a.name}" for a in node.names} & names.keys()
                edges |= subs or {node.module}
                if not subs or len(subs) < len(node.names):
                    edges.add(node.module)
        graph[name] = edges - {name}
    return graph


def test_the_import_graph_has_no_cycle() -> None:
    graph = _module_imports()
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    cycles: list[list[str]] = []

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                cycles.append([*path[path.index(nxt):], nxt])
            elif nxt not in state:
                visit(nxt, [*path, nxt])
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    assert cycles == [], "import cycles: " + "; ".join(" -> ".join(c) for c in cycles)


# The rooms, lowest first: a module may import (at import time) modules of its own room and of the
# rooms before it, never of a room after it. A room is a subpackage (wattbench.<room>.*); a loose
# module is a room of its own ("wattbench": the package's __init__). An import a type needs alone
# goes under ``if TYPE_CHECKING`` (records.record's Resident, finetune.front's Settings).
ROOMS = (
    "wattbench", "errors", "option", "ids", "metrics", "data", "axes", "floors",
    "monitors", "knobs", "backends", "cases", "scorers", "records", "rating", "scale",
    "run", "serving", "finetune",
    "settings",  # plain data, but it holds each room's options object, so it sits above them all
    "report", "judge", "terminal", "options", "hookspec", "session", "plugin",
)


def _room(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "wattbench"


def test_no_module_imports_a_room_above_its_own() -> None:
    graph = _module_imports()
    unplaced = sorted({_room(m) for m in graph} - set(ROOMS))
    assert unplaced == [], f"rooms missing from ROOMS in tests/test_layers.py: {unplaced}; place each"
    rank = {room: i for i, room in enumerate(ROOMS)}
    upward = sorted(
        f"{module} ({_room(module)}) -> {target} ({_room(target)})"
        for module, targets in graph.items() for target in targets
        if rank[_room(target)] > rank[_room(module)]
    )
    assert upward == [], (
        "imports of a higher room (order, lowest first: " + " < ".join(ROOMS) + "):\n  "
        + "\n  ".join(upward)
        + "\nmove the helper down, import a type-only name under TYPE_CHECKING, or pass the value in"
    )
