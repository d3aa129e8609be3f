"""Engine failures are caught and explained (issue 5).

Designs built with ``Design(...)`` skip validation, so they reach the engines with
the defects that ``load_design`` refuses: a floppy or unclamped lattice (singular
stiffness), a part with no fixed node, a node gmsh cannot place. Each must end as
:class:`EngineError` or :class:`InputError` with a message that says what went
wrong, never as a solver's own exception or a silently absurd answer.
"""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
from conftest import need_dolfinx

from fem_mnn.core.errors import EngineError, InputError
from fem_mnn.design import Design, paper_sample
from fem_mnn.spring.network import SpringModel

SQUARE = dict(
    nodes=np.array([[0.0, 0.0], [16.0, 0.0], [16.0, 16.0], [0.0, 16.0]]),
    bonds=np.array([[0, 1], [1, 2], [2, 3], [3, 0]]),
    widths=np.full(4, 2.0),
)
P = paper_sample()
TRIANGLE_AND_LOOSE_BAR = dict(
    nodes=np.array([[0.0, 0.0], [16.0, 0.0], [8.0, 13.856], [40.0, 0.0], [56.0, 0.0]]),
    bonds=np.array([[0, 1], [1, 2], [2, 0], [3, 4]]),
    widths=np.full(4, 2.0),
    fixed=(0, 1),
)
SINGULAR = {
    "floppy-square": Design(**SQUARE, fixed=(0, 1)),  # a mechanism as a spring network only
    "unclamped-square": Design(**SQUARE, fixed=()),
    "unclamped-paper": Design(nodes=P.nodes, bonds=P.bonds, widths=P.widths, fixed=()),  # singular up to rounding
    "loose-bar": Design(**TRIANGLE_AND_LOOSE_BAR),
}


def _loads(d: Design) -> np.ndarray:
    return np.tile([0.0, -0.01], (d.n_nodes, 1))


@pytest.mark.parametrize("name", sorted(SINGULAR))
def test_singular_spring_stiffness_is_an_engine_error(name):
    with pytest.raises(EngineError, match="singular spring stiffness.*zero-energy mode"):
        SpringModel(SINGULAR[name]).solve(_loads(SINGULAR[name]))


def test_the_pivot_check_leaves_valid_lattices_alone():
    from fem_mnn.design import triangular_strip

    d = triangular_strip(10, 6)
    d = d.with_widths(np.random.default_rng(0).uniform(1.5, 2.5, d.n_bonds))
    u = SpringModel(d).solve(_loads(d)).u
    assert np.all(np.isfinite(u)) and np.abs(u).max() < 1e3


@pytest.fixture(scope="module")
def fem():
    need_dolfinx()
    import fem_mnn.fem.linear as fem_module
    from fem_mnn.geometry.build import MeshOptions

    def model(design: Design):
        opts = fem_module.FemOptions(degree=1, mesh=MeshOptions(elements_across=1))
        return fem_module.FemModel(design, opts)

    return model


@pytest.mark.fem
@pytest.mark.parametrize(
    "name,match",
    [
        ("unclamped-square", r"fixed: no fixed node: the stiffness is singular"),
        ("unclamped-paper", r"fixed: no fixed node: the stiffness is singular"),
        ("loose-bar", r"nodes\[3\]: the stiffness is singular: this node's part of the lattice holds no fixed node"),
    ],
)
def test_singular_fem_stiffness_is_refused_before_mumps(fem, name, match):
    with pytest.raises(InputError, match=match):
        fem(SINGULAR[name]).solve(_loads(SINGULAR[name]))


@pytest.mark.fem
def test_a_spring_mechanism_is_a_rigid_frame_for_the_fem(fem):
    # the floppy square is singular for springs only: its hubs and beams make a rigid frame
    u = fem(SINGULAR["floppy-square"]).solve(_loads(SINGULAR["floppy-square"])).u
    assert np.all(np.isfinite(u)) and 0 < np.abs(u).max() < 10


@pytest.mark.fem
def test_gmsh_failing_on_a_geometry_is_an_engine_error(fem):
    bad = Design(
        nodes=np.array([[0.0, 0.0], [16.0, 0.0], [np.nan, 13.9]]),
        bonds=np.array([[0, 1], [1, 2], [2, 0]]),
        widths=np.full(3, 2.0),
        fixed=(0, 1),
    )
    with pytest.raises(EngineError, match="gmsh"):
        fem(bad).solve(_loads(bad))


def test_gmsh_failing_to_write_a_mesh_is_an_engine_error(tmp_path, monkeypatch):
    geometry = pytest.importorskip("fem_mnn.geometry.build")

    def fail(name):
        raise Exception("Error   : Could not open file")  # what gmsh raises

    monkeypatch.setattr(geometry.gmsh, "write", fail)
    with pytest.raises(EngineError, match="gmsh could not write the mesh"):
        geometry.write_msh(P, geometry.MeshOptions(elements_across=1, max_size=4.0), tmp_path / "m.msh")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.fem
def test_newton_that_does_not_converge_is_an_engine_error():
    need_dolfinx()
    from fem_mnn.design import triangular_patch
    from fem_mnn.fem import nonlinear
    from fem_mnn.fem.linear import FemOptions
    from fem_mnn.geometry.build import MeshOptions

    d = triangular_patch(3, 2)
    model = nonlinear.NonlinearModel(
        d,
        FemOptions(degree=1, mesh=MeshOptions(elements_across=1)),
        nonlinear.NonlinearOptions(steps=1, max_bisections=1, max_it=2),
    )
    f = np.zeros((d.n_nodes, 2))
    f[4] = (0.0, -50.0)  # 50 N on an elastomer lattice: far beyond two Newton steps
    with pytest.raises(EngineError, match="Newton did not converge.*load factor"):
        model.solve(f)


def test_cli_reports_an_engine_error_with_exit_3(design_file, tmp_path, monkeypatch, capsys):
    """An engine failure inside a command: one error line (after any progress lines), exit 3, no output file."""
    geometry = pytest.importorskip("fem_mnn.geometry.build")
    from fem_mnn.cli import main

    monkeypatch.setattr(geometry.gmsh, "write", lambda name: (_ for _ in ()).throw(Exception("Error   : disk")))
    out = tmp_path / "m.msh"
    assert main(["mesh", str(design_file), "-o", str(out), "--elements-across", "1", "--max-size", "4"]) == 3
    err = capsys.readouterr().err
    lines = err.splitlines()
    assert lines[-1].startswith("fem-mnn: engine failure: gmsh could not write") and "Traceback" not in err
    assert all(line.startswith("fem-mnn: ") for line in lines), err
    assert not out.exists()


# ---------------------------------------------- cached meshes that do not match


@pytest.fixture
def cache(tmp_path):
    mesh_cache = pytest.importorskip("fem_mnn.geometry.cache")
    from fem_mnn.design import triangular_patch
    from fem_mnn.geometry.build import MeshOptions

    design, opts = triangular_patch(3, 2), MeshOptions(elements_across=1)
    mesh_cache.ensure_mesh(design, opts, tmp_path)
    return mesh_cache, design, opts, mesh_cache.cache_paths(design, opts, tmp_path)


@pytest.mark.parametrize("damage", ["truncated", "foreign", "other-design"])
def test_a_damaged_or_foreign_cache_record_is_rebuilt(cache, tmp_path, damage):
    mesh_cache, design, opts, paths = cache
    info = json.loads(paths["info"].read_text())
    if damage == "truncated":
        paths["info"].write_text(paths["info"].read_text()[:40])
    elif damage == "foreign":
        paths["info"].write_text(json.dumps({"what": "not a mesh record"}))
    else:  # a record (and mesh) of another design under this design's name
        paths["info"].write_text(json.dumps(dict(info, design_hash="0" * 16)))
    msh, rebuilt = mesh_cache.ensure_mesh(design, opts, tmp_path)
    assert rebuilt.design_hash == design.hash() and rebuilt.n_cells == info["n_cells"]
    assert json.loads(paths["info"].read_text())["design_hash"] == design.hash()


@pytest.mark.fem
def test_a_damaged_cached_mesh_is_an_engine_error_naming_the_file(cache, tmp_path):
    need_dolfinx()
    from fem_mnn.fem import meshing

    _, design, opts, paths = cache
    data = paths["msh"].read_bytes()
    paths["msh"].write_bytes(data[: len(data) // 2])
    with pytest.raises(EngineError, match=re.escape(str(paths["msh"])) + ".*delete it"):
        meshing.load_mesh(design, opts, root=tmp_path)
