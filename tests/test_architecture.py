"""The shape of the code, checked: no import cycles, no upward imports, small
modules and small constructors (the rules of docs/architecture.md)."""

from __future__ import annotations

import ast
import dataclasses
import importlib
import inspect
from pathlib import Path

import pytest

KIOSK = Path(__file__).resolve().parents[1] / "kiosk"
# Who may import whom: a module may import only modules of its own layer or below.
TOP = {"kiosk.cli", "kiosk.__main__", "kiosk.composition"}
EDGE = ("kiosk.web", "kiosk.fleet", "kiosk.cameras.factory")  # the outside world: pages, the fleet database, hardware choice


def module_name(path: Path) -> str:
    parts = path.relative_to(KIOSK.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path, modules: set[str]) -> set[str]:
    """Every kiosk module ``path`` imports, at the top or inside a function
    (``from package import module`` is an import of that module only)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0 and node.module.startswith("kiosk"):
            for alias in node.names:
                found.add(f"{node.module}.{alias.name}" if f"{node.module}.{alias.name}" in modules else node.module)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("kiosk"))
    return found


def graph() -> dict[str, set[str]]:
    paths = {module_name(p): p for p in KIOSK.rglob("*.py")}
    return {name: {m for m in imports_of(path, set(paths)) if m in paths and m != name} for name, path in paths.items()}


def test_no_import_cycles():
    edges = graph()
    state: dict[str, str] = {}

    def visit(node, trail):
        state[node] = "open"
        for nxt in sorted(edges[node]):
            if state.get(nxt) == "open":
                pytest.fail("import cycle: " + " -> ".join(trail[trail.index(nxt) :] + [nxt]))
            if nxt not in state:
                visit(nxt, trail + [nxt])
        state[node] = "done"

    for start in sorted(edges):
        if start not in state:
            visit(start, [start])


def test_no_upward_imports():
    """Only the composition root builds the world; the core never reaches up to pages, the fleet or the command line."""
    wrong = []
    for name, targets in graph().items():
        for target in targets:
            if target in TOP and name not in TOP:
                wrong.append(f"{name} imports {target}")
            elif target.startswith(EDGE) and not name.startswith(EDGE) and name not in TOP:
                wrong.append(f"{name} imports {target}")
    assert wrong == []


def test_the_kiosk_never_imports_the_trainer_or_heavy_frameworks():
    heavy = ("trainer", "tensorflow", "keras", "torch", "dlib", "psycopg")
    wrong = []
    for path in KIOSK.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else []
            )
            wrong += [f"{module_name(path)} imports {n}" for n in names if n.split(".")[0] in heavy]
    # psycopg lives behind the fleet's adapter, and only there.
    assert [w for w in wrong if not w.startswith("kiosk.fleet.central imports psycopg")] == []


def test_modules_stay_small():
    sizes = {module_name(p): len(p.read_text().splitlines()) for p in KIOSK.rglob("*.py")}
    assert {m: n for m, n in sizes.items() if n > 400} == {}
    assert sizes["kiosk.cli"] < 320


def test_constructors_take_at_most_six_arguments():
    """Classes with behaviour or shared state get few collaborators; immutable
    records (frozen dataclasses) and validated settings (pydantic) may hold more fields."""
    from pydantic import BaseModel

    wide = []
    for path in KIOSK.rglob("*.py"):
        name = module_name(path)
        if name in ("kiosk.__main__", "kiosk.cameras.picamera"):
            continue
        module = importlib.import_module(name)
        for cls_name, cls in vars(module).items():
            if not inspect.isclass(cls) or cls.__module__ != name or issubclass(cls, (BaseModel, BaseException)):
                continue
            if dataclasses.is_dataclass(cls) and cls.__dataclass_params__.frozen:
                continue
            params = [
                p
                for p in inspect.signature(cls.__init__).parameters.values()
                if p.name != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
            ]
            if len(params) > 6:
                wide.append(f"{name}.{cls_name}: {len(params)}")
    assert wide == []
