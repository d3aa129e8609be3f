"""One design file gives one mesh whichever command meshes it (issue 21, item 3).

Reported: on a 4x3 squares-with-centre-node lattice, ``fem evaluate`` meshed the design
into 80,261 cells and ``fem train`` into 80,101. ``fem train`` fixed its element size from
the design's raw widths, every other path from the widths rounded to the geometry
resolution (1e-6 mm); the two sizes differed by ~1e-7 relatively, and a mesh is a
discontinuous function of the size. Now :func:`fem_mnn.geometry.build.mesh_plan` is the
one place that derives the geometry widths, the element size and the key.

The lattice here is the reported kind, 2x2 squares each with a centre node, with widths
of full double precision (as a trained design has them); with the old code its
``fem train`` mesh at one element across had 4261 cells against 4243 for ``fem evaluate``.
"""

from __future__ import annotations

import dataclasses
import json
import re

import numpy as np
import pytest
from conftest import need_dolfinx, run_cli

from fem_mnn.design.files import design_from_dict, load_design
from fem_mnn.geometry.build import (
    GEOMETRY_DECIMALS,
    MeshOptions,
    build_model,
    geometry_widths,
    gmsh_session,
    mesh_plan,
    mesh_size,
)
from fem_mnn.geometry.cache import cache_paths

#: Coarse: one element across the thinnest thin end (about 4e3 triangles here).
ACROSS = 1


def squares_with_centres(nx: int, ny: int, a: float = 16.0, seed: int = 0) -> dict:
    """Design JSON of nx x ny squares of side ``a`` (mm), each with a node at its centre bonded to its corners.

    Widths uniform in [1.5, 2.5) mm at full double precision; the top row's two ends are clamped.
    """
    nodes = [[i * a, -j * a] for j in range(ny + 1) for i in range(nx + 1)]
    corner = lambda i, j: j * (nx + 1) + i  # noqa: E731
    bonds = [[corner(i, j), corner(i + 1, j)] for j in range(ny + 1) for i in range(nx)]
    bonds += [[corner(i, j), corner(i, j + 1)] for j in range(ny) for i in range(nx + 1)]
    for j in range(ny):
        for i in range(nx):
            c = len(nodes)
            nodes.append([(i + 0.5) * a, -(j + 0.5) * a])
            bonds += [[corner(p, q), c] for p, q in ((i, j), (i + 1, j), (i, j + 1), (i + 1, j + 1))]
    widths = 1.5 + np.random.default_rng(seed).random(len(bonds))
    return {
        "name": f"squares-{nx}x{ny}-centred",
        "nodes": nodes,
        "bonds": bonds,
        "widths": widths.tolist(),
        "thickness": 2.0,
        "material": {"E": 0.55, "nu": 0.45},
        "fixed": [0, nx],
    }


@pytest.fixture
def lattice_file(tmp_path):
    path = tmp_path / "squares.json"
    path.write_text(json.dumps(squares_with_centres(2, 2)))
    return path


def test_the_lattice_is_the_reported_kind():
    d = design_from_dict(squares_with_centres(4, 3))
    assert (d.n_nodes, d.n_bonds) == (32, 79)  # the user's lattice
    small = design_from_dict(squares_with_centres(2, 2))
    assert (small.n_nodes, small.n_bonds) == (13, 28)
    # widths finer than the geometry resolution: the case that split the meshes
    assert np.any(geometry_widths(small.widths) != small.widths)


def test_plan_is_the_same_for_raw_and_rounded_widths_and_for_a_fixed_size(lattice_file):
    design = load_design(lattice_file)
    rounded = dataclasses.replace(design, widths=np.round(design.widths, GEOMETRY_DECIMALS))
    asked = MeshOptions(elements_across=ACROSS, refinement=1.5)
    plan = mesh_plan(design, asked)
    # FemModel (fem evaluate, fem gradient, validate) hands the mesher the rounded design;
    # `fem-mnn mesh` the raw one; fem train and finite differences fix h with fixed_size()
    for other in (
        mesh_plan(rounded, asked),
        mesh_plan(design, plan.fixed_size()),
        mesh_plan(rounded, plan.fixed_size()),
        mesh_plan(design, asked, widths=design.widths),
    ):
        assert other.h == plan.h and other.key == plan.key
        assert other.design.hash() == plan.design.hash()
        assert cache_paths(design, other.options) == cache_paths(design, asked)
    assert mesh_size(design, asked) == plan.h
    thinnest = float(np.min(design.geometry.thin_end_ratio * np.round(design.widths, GEOMETRY_DECIMALS)))
    assert plan.h == thinnest / ACROSS / 1.5
    # the key tells sizes apart to the last bit: one ulp more is another mesh
    nudged = mesh_plan(design, dataclasses.replace(plan.fixed_size(), size=np.nextafter(plan.h, 1.0)))
    assert nudged.key != plan.key
    # other widths, another design hash (the key is read beside it)
    wider = mesh_plan(design, plan.fixed_size(), widths=design.widths + 0.01)
    assert wider.key == plan.key and wider.design.hash() != plan.design.hash()


def test_raw_and_rounded_designs_mesh_alike(lattice_file):
    design = load_design(lattice_file)
    rounded = dataclasses.replace(design, widths=geometry_widths(design.widths))
    asked = MeshOptions(elements_across=ACROSS)
    infos = []
    with gmsh_session():
        for d, mo in ((design, asked), (rounded, asked), (design, mesh_plan(design, asked).fixed_size())):
            infos.append(build_model(d, mo))
    assert len({i.n_cells for i in infos}) == 1, [i.n_cells for i in infos]
    assert len({(i.key, i.design_hash, i.mesh_size) for i in infos}) == 1


@pytest.mark.fem
def test_every_command_meshes_the_design_file_alike(lattice_file, tmp_path):
    """fem evaluate, fem gradient, fem train (both gradients) and mesh: same cells, same key.

    ``fem train`` meshes the start widths (the design file's) and then morphs or remeshes
    with that element size; the comparison is on its first mesh, the design file's own.
    """
    need_dolfinx()
    task = tmp_path / "task.json"
    task.write_text(
        json.dumps(
            {
                "format": "fem_mnn.task/1",
                "name": "sag",
                "inputs": [{"node": 7, "direction": [0, -1]}],
                "input_scaling": {"force_N": 0.05},
                "outputs": [{"node": 6, "component": "y"}, {"node": 8, "component": "y"}],
                "loss": "mse",
                "data": {"inputs": [[1.0]], "targets": [[-0.3, -0.2]]},
                "success": {"metric": "train_rel_error", "max": 0.05},
            }
        )
    )
    fe = ["--elements-across", str(ACROSS), "--degree", "1"]
    seen: dict[str, tuple] = {}

    def fem_record(path):
        m = json.loads(path.read_text())["fem"]["mesh"]
        return m["n_cells"], m["design_hash"], m["key"]

    ev = tmp_path / "evaluate.json"
    r = run_cli("fem", "evaluate", lattice_file, "--task-file", task, *fe, "--out", ev)
    assert r.returncode == 0, r.stderr
    seen["fem evaluate"] = fem_record(ev)

    gr = tmp_path / "gradient.json"
    r = run_cli("fem", "gradient", lattice_file, "--load", "7:0,-0.05", "--target", "6:_,-0.3", *fe, "--out", gr)
    assert r.returncode == 0, r.stderr
    seen["fem gradient"] = fem_record(gr)

    for gradient in ("exact", "insitu"):
        out = tmp_path / f"train-{gradient}"
        argv = ["fem", "train", lattice_file, "--task-file", task, "--epochs", "1", "--gradient", gradient]
        r = run_cli(*argv, *fe, "--quiet", "--out", out)
        assert r.returncode == 0, r.stderr
        seen[f"fem train --gradient {gradient}"] = fem_record(out / "result.json")

    msh = tmp_path / "lattice.msh"
    r = run_cli("mesh", lattice_file, "-o", msh, "--elements-across", str(ACROSS))
    assert r.returncode == 0, r.stderr
    cells, key = re.search(r": (\d+) triangles.*mesh key ([0-9a-f]{16}-\S+)\)", r.stdout).groups()
    seen["mesh"] = (int(cells), *key.split("-", 1))

    assert len(set(seen.values())) == 1, seen
    assert seen["mesh"][0] > 1000  # a real mesh, not an empty record
