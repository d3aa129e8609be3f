"""The gmsh -> DOLFINx import (fem/gmsh_import.py): the same mesh and tags as DOLFINx's
``model_to_mesh`` on one rank, the same tagged areas and lengths on two, clear refusals."""

from __future__ import annotations

import json

import gmsh
import numpy as np
import pytest
from conftest import need_dolfinx, run_python

from fem_mnn.core.errors import EngineError
from fem_mnn.design import paper_sample, triangular_patch
from fem_mnn.geometry.build import MeshOptions, build_model, gmsh_session

need_dolfinx()

from mpi4py import MPI  # noqa: E402

from fem_mnn.fem import gmsh_import  # noqa: E402

pytestmark = pytest.mark.fem


@pytest.mark.parametrize(
    ("design", "options"),
    [
        (paper_sample(), MeshOptions(dim=2)),
        (paper_sample(), MeshOptions(dim=2, order=2)),  # 6-node triangles: DOLFINx's node permutation
        (triangular_patch(3, 2), MeshOptions(dim=3, elements_across=1)),
    ],
    ids=["2d", "2d-curved", "3d"],
)
def test_one_rank_gives_dolfinx_model_to_mesh(design, options):
    """Independent reference: DOLFINx's own importer, on the same gmsh model."""
    from dolfinx.io import gmsh as dgmsh

    with gmsh_session():
        build_model(design, options)
        arrays = gmsh_import.extract(gmsh.model, options.dim)
        mesh, cell_tags, facet_tags = gmsh_import.to_dolfinx(MPI.COMM_SELF, arrays, options.dim)
        ref = dgmsh.model_to_mesh(gmsh.model, MPI.COMM_SELF, 0, gdim=options.dim)
    assert np.array_equal(mesh.geometry.x, ref.mesh.geometry.x)
    assert np.array_equal(mesh.geometry.dofmaps[0], ref.mesh.geometry.dofmaps[0])
    for ours, theirs in ((cell_tags, ref.cell_tags), (facet_tags, ref.facet_tags)):
        assert np.array_equal(ours.indices, theirs.indices)
        assert np.array_equal(ours.values, theirs.values)
    assert len(np.unique(cell_tags.values)) > design.n_bonds  # bonds and hubs, not one group


_MEASURES = """
import json, sys
import numpy as np
from mpi4py import MPI
import dolfinx, ufl
from fem_mnn.design import paper_sample
from fem_mnn.geometry.build import MeshOptions
from fem_mnn.fem.meshing import generate_mesh

md = generate_mesh(paper_sample(), MeshOptions(dim=2))
comm = md.mesh.comm
out = {"cells_local": int(md.mesh.topology.index_map(2).size_local)}
dx = ufl.Measure("dx", domain=md.mesh, subdomain_data=md.cell_tags)
ds = ufl.Measure("ds", domain=md.mesh, subdomain_data=md.facet_tags)
tags = sorted(set(sum(comm.allgather(md.cell_tags.values.tolist()), [])))
ftags = sorted(set(sum(comm.allgather(md.facet_tags.values.tolist()), [])))
out["area"] = {t: comm.allreduce(dolfinx.fem.assemble_scalar(dolfinx.fem.form(1.0 * dx(t)))) for t in tags}
out["length"] = {t: comm.allreduce(dolfinx.fem.assemble_scalar(dolfinx.fem.form(1.0 * ds(t)))) for t in ftags}
out["cells"] = comm.allreduce(out["cells_local"])
out["groups"] = len(md.info.cell_groups)
if comm.rank == 0:
    with open(sys.argv[1], "w") as f:
        json.dump(out, f)
print("local", comm.rank, out["cells_local"])
"""


@pytest.mark.mpi
def test_two_ranks_tag_the_same_regions(tmp_path):
    """Every bond, hub and boundary tag measures the same on 2 ranks (scattered input) as on 1."""
    script = tmp_path / "measures.py"
    script.write_text(_MEASURES)
    res = {}
    for ranks in (1, 2):
        out = tmp_path / f"{ranks}.json"
        r = run_python(script, out, ranks=ranks, timeout=180)
        assert r.returncode == 0, r.stderr
        res[ranks] = json.loads(out.read_text())
        assert r.stdout.count("local") == ranks
    one, two = res[1], res[2]
    assert two["cells"] == one["cells"] and 0 < two["cells_local"] < two["cells"]
    assert one["area"].keys() == two["area"].keys() and len(one["area"]) == one["groups"]
    assert one["length"].keys() == two["length"].keys() and len(one["length"]) > 0
    for kind in ("area", "length"):
        for t, v in one[kind].items():
            assert two[kind][t] == pytest.approx(v, rel=1e-12), (kind, t)


def _two_squares(tag_second: int | None, tag_first_twice: bool = False) -> None:
    gmsh.model.add("squares")
    a = gmsh.model.occ.addRectangle(0, 0, 0, 1, 1)
    b = gmsh.model.occ.addRectangle(2, 0, 0, 1, 1)
    gmsh.model.occ.synchronize()
    gmsh.model.addPhysicalGroup(2, [a], tag=1)
    if tag_first_twice:
        gmsh.model.addPhysicalGroup(2, [a], tag=3)
    if tag_second is not None:
        gmsh.model.addPhysicalGroup(2, [b], tag=tag_second)
    gmsh.model.mesh.generate(2)


@pytest.mark.parametrize(
    ("tag_second", "twice", "message"),
    [(None, False, r"gmsh entity \(2, 2\) is in no physical group"), (2, True, r"\(2, 1\) is in 2 physical groups")],
)
def test_untagged_or_twice_tagged_cells_are_refused(tag_second, twice, message):
    with gmsh_session():
        _two_squares(tag_second, twice)
        with pytest.raises(EngineError, match=message):
            gmsh_import.extract(gmsh.model, 2)


def test_extract_reads_every_cell_once():
    with gmsh_session():
        _two_squares(2)
        arrays = gmsh_import.extract(gmsh.model, 2)
        n_cells = sum(len(t) for t in gmsh.model.mesh.getElements(2)[1])
        n_nodes = len(gmsh.model.mesh.getNodes()[0])
    assert arrays.cells.shape == (n_cells, 3) and len(arrays.cell_values) == n_cells
    assert set(arrays.cell_values.tolist()) == {1, 2}
    assert arrays.x.shape == (n_nodes, 3) and arrays.cells.min() == 0 and arrays.cells.max() == n_nodes - 1
    assert arrays.facet_type is None and arrays.facets.shape[0] == 0  # no facet group
