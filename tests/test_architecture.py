"""The package's architecture as a test: stage boundaries and an acyclic import graph.

An AST scan of every module of ``fem_mnn`` (imports inside functions included, since a
lazy import is still a dependency) checks that

* ``design/``, ``spring/``, ``learn/`` and ``contract`` import none of dolfinx, gmsh,
  petsc4py, slepc4py, ufl, basix, ffcx (they must run on numpy/scipy alone);
* ``geometry/`` does not import DOLFINx (gmsh only);
* the engines (``spring/``, ``fem/``) do not import the learning stage ``learn/``: what
  both sides need (the contract, in situ backpropagation) sits in ``contract``;
* ``core/`` imports nothing else of the package (every stage may import it);
* nothing below ``commands/`` imports ``commands`` or ``cli``;
* the module graph and the graph of stage folders have no cycle (imports under
  ``if TYPE_CHECKING:`` do not run and are left out of the cycle check only).

The planted-violation tests run the same scan on a copy of the package with one
forbidden import added, and must see it.
"""

from __future__ import annotations

import ast
import shutil
from collections import defaultdict
from pathlib import Path
from typing import NamedTuple

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "fem_mnn"

FE_LIBS = {"dolfinx", "dolfinx_solver", "gmsh", "petsc4py", "slepc4py", "ufl", "basix", "ffcx", "mpi4py"}
DOLFINX_LIBS = {"dolfinx", "dolfinx_solver", "petsc4py", "slepc4py", "ufl", "basix", "ffcx"}
#: stage folder (or top-level module) -> external packages it must never import
FORBIDDEN = {
    "design": FE_LIBS,
    "spring": FE_LIBS,
    "learn": FE_LIBS,
    "contract": FE_LIBS,
    "core": FE_LIBS,
    "io": FE_LIBS,
    "geometry": DOLFINX_LIBS,
}
#: modules held to a stricter rule than their folder (module prefix -> forbidden packages)
FORBIDDEN_MODULES = {"fem_mnn.bench.spring_scaling": FE_LIBS, "fem_mnn.fidelity.identify": FE_LIBS}
ABOVE_ALL = {"commands", "cli", "__main__"}
#: engine stages -> package stages they must never import (lazily or under TYPE_CHECKING included)
ENGINES = {"spring": {"learn"}, "fem": {"learn"}}


class Import(NamedTuple):
    source: str  # importing module, dotted
    target: str  # imported module, dotted (package-internal resolved to a module) or external top name
    line: int
    lazy: bool  # inside a function
    type_only: bool  # under ``if TYPE_CHECKING:``


def _modules(root: Path) -> dict[str, Path]:
    out = {}
    for p in sorted(root.rglob("*.py")):
        parts = list(p.relative_to(root.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = p
    return out


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def scan(root: Path = PACKAGE) -> list[Import]:
    """Every import statement of the package rooted at ``root``, resolved."""
    mods = _modules(root)
    pkg = root.name
    found: list[Import] = []

    for name, path in mods.items():
        is_pkg = path.name == "__init__.py"
        tree = ast.parse(path.read_text(), filename=str(path))

        def visit(node: ast.AST, lazy: bool, type_only: bool, name: str = name, is_pkg: bool = is_pkg) -> None:
            for child in ast.iter_child_nodes(node):
                c_lazy = lazy or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
                c_type = type_only or (isinstance(node, ast.If) and _is_type_checking(node.test) and child in node.body)
                if isinstance(child, ast.Import):
                    for a in child.names:
                        found.append(_resolve(a.name, None, name, mods, pkg, child.lineno, c_lazy, c_type))
                elif isinstance(child, ast.ImportFrom):
                    if child.level:
                        base = name.split(".") if is_pkg else name.split(".")[:-1]
                        base = base[: len(base) - (child.level - 1)]
                        mod = ".".join(base + ([child.module] if child.module else []))
                    else:
                        mod = child.module or ""
                    for a in child.names:
                        found.append(_resolve(mod, a.name, name, mods, pkg, child.lineno, c_lazy, c_type))
                visit(child, c_lazy, c_type)

        visit(tree, False, False)
    return found


def _resolve(mod: str, name: str | None, src: str, mods: dict, pkg: str, line: int, lazy: bool, tc: bool) -> Import:
    if mod.split(".")[0] != pkg:
        return Import(src, mod.split(".")[0], line, lazy, tc)
    if name and f"{mod}.{name}" in mods:  # ``from pkg.sub import module``
        return Import(src, f"{mod}.{name}", line, lazy, tc)
    while mod not in mods and "." in mod:
        mod = mod.rsplit(".", 1)[0]
    return Import(src, mod, line, lazy, tc)


def stage(module: str) -> str:
    """``fem_mnn.fem.linear`` -> ``fem``; ``fem_mnn.contract`` -> ``contract``; ``fem_mnn`` -> ``fem_mnn``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


def find_cycle(edges: dict[str, set[str]]) -> list[str] | None:
    """One cycle of a directed graph (as a path a -> ... -> a), or None."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def dfs(u: str) -> list[str] | None:
        state[u] = 1
        stack.append(u)
        for v in sorted(edges.get(u, ())):
            if state.get(v) == 1:
                return stack[stack.index(v) :] + [v]
            if v not in state and (c := dfs(v)):
                return c
        stack.pop()
        state[u] = 2
        return None

    for u in sorted(edges):
        if u not in state and (c := dfs(u)):
            return c
    return None


def violations(root: Path = PACKAGE) -> list[str]:
    """Every broken rule of the architecture, one line each (empty: the house is in order)."""
    imports = scan(root)
    pkg = root.name
    out = []
    mod_edges: dict[str, set[str]] = defaultdict(set)
    stage_edges: dict[str, set[str]] = defaultdict(set)
    for imp in imports:
        where = f"{imp.source}:{imp.line}{' (lazy)' if imp.lazy else ''}"
        s = stage(imp.source)
        internal = imp.target.split(".")[0] == pkg
        if not internal:
            if imp.target in FORBIDDEN.get(s, ()):
                out.append(f"boundary: {where} imports {imp.target} (forbidden in {s}/)")
            elif imp.target in FORBIDDEN_MODULES.get(imp.source, ()):
                out.append(f"boundary: {where} imports {imp.target} (forbidden in {imp.source})")
            continue
        t = stage(imp.target)
        if t in ABOVE_ALL and s not in ABOVE_ALL:
            out.append(f"upward: {where} imports {imp.target} (nothing below the CLI imports it)")
        if t in ENGINES.get(s, ()):
            out.append(f"engine: {where} imports {imp.target} (the engines never import {t}/)")
        if s == "core" and t != "core":
            out.append(f"layer: {where} imports {imp.target} (core/ sits below every stage)")
        if not imp.type_only and imp.target != imp.source:
            mod_edges[imp.source].add(imp.target)
            if t != s:
                stage_edges[s].add(t)
    if c := find_cycle(mod_edges):
        out.append("module cycle: " + " -> ".join(c))
    if c := find_cycle(stage_edges):
        out.append("stage cycle: " + " -> ".join(c))
    return out


def test_the_package_keeps_its_boundaries_and_has_no_cycle():
    assert violations() == []


def test_the_stage_folders_exist():
    stages = {p.name for p in PACKAGE.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    assert {"core", "design", "spring", "learn", "geometry", "fem", "io", "fidelity", "viz", "commands"} <= stages


def test_scan_sees_lazy_imports():
    lazy = [i for i in scan() if i.lazy and i.target == "dolfinx"]
    assert lazy, "the FE code imports dolfinx lazily somewhere; the scan must see it"


@pytest.fixture
def planted(tmp_path):
    """A copy of the package to plant violations in."""
    dst = tmp_path / "fem_mnn"
    shutil.copytree(PACKAGE, dst, ignore=shutil.ignore_patterns("__pycache__", "data"))

    def plant(rel: str, code: str) -> list[str]:
        p = dst / rel
        p.write_text(p.read_text() + "\n" + code + "\n")
        return violations(dst)

    return plant


def test_planted_lazy_dolfinx_import_in_design_fails(planted):
    v = planted("design/records.py", "def _sneaky():\n    import dolfinx\n    return dolfinx")
    assert any(line.startswith("boundary: fem_mnn.design.records") and "dolfinx" in line for line in v), v


def test_planted_ufl_import_in_learning_fails(planted):
    v = planted("learn/losses.py", "import ufl")
    assert any("boundary: fem_mnn.learn.losses" in line and "ufl" in line for line in v), v


def test_planted_dolfinx_import_in_geometry_fails(planted):
    v = planted("geometry/build.py", "from dolfinx.io import gmsh as _g")
    assert any("boundary: fem_mnn.geometry.build" in line for line in v), v


def test_planted_upward_import_of_the_cli_fails(planted):
    v = planted(
        "fem/extract.py", "def _f():\n    from fem_mnn.commands._common import parse_loads\n    return parse_loads"
    )
    assert any(line.startswith("upward: fem_mnn.fem.extract") for line in v), v


def test_planted_learning_import_in_an_engine_fails(planted):
    v = planted("fem/morph.py", "def _f():\n    from fem_mnn.learn.losses import MSE\n    return MSE")
    assert any(line.startswith("engine: fem_mnn.fem.morph") for line in v), v
    v = planted("spring/network.py", "from fem_mnn.learn import tasks as _tasks")
    assert any(line.startswith("engine: fem_mnn.spring.network") for line in v), v


def test_planted_cycle_fails(planted):
    # design.records -> spring.network -> design.records
    v = planted(
        "design/records.py", "def _f():\n    from fem_mnn.spring.network import SpringModel\n    return SpringModel"
    )
    assert any(line.startswith("module cycle:") for line in v), v
    assert any(line.startswith("stage cycle:") for line in v), v


def test_type_checking_imports_do_not_make_cycles(planted):
    v = planted(
        "design/records.py",
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from fem_mnn.spring.network import SpringModel",
    )
    assert v == []
