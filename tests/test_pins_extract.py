"""Pins for ``fem_mnn.fem.extract`` (issue 21, mutation testing): the region map's ids and its -1 for
"no region" (written to the field files), point values in every cell, and the sparse region integrals
against the integral form and a rigid rotation's closed form."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import need_dolfinx

need_dolfinx()

from mpi4py import MPI  # noqa: E402

from fem_mnn.design import paper_sample  # noqa: E402
from fem_mnn.fem.extract import PointEvaluator, region_map  # noqa: E402
from fem_mnn.fem.linear import FemModel, FemOptions  # noqa: E402
from fem_mnn.geometry import tags  # noqa: E402
from fem_mnn.geometry.build import MeshOptions  # noqa: E402

pytestmark = pytest.mark.fem


@pytest.fixture(scope="module")
def op():
    d = paper_sample()
    return FemModel(d, FemOptions(mesh=MeshOptions(elements_across=2)), comm=MPI.COMM_SELF).operator()


def _field(op, fn):
    import dolfinx.fem

    u = dolfinx.fem.Function(op.V)
    u.interpolate(fn)
    return u


def test_region_map_ids_and_none(op):
    d = op.design
    idx = np.asarray(op.cell_tags.indices)
    val = np.asarray(op.cell_tags.values)
    rm = region_map(op.mesh, op.cell_tags, d.n_nodes, d.n_bonds)
    n_cells = op.mesh.topology.index_map(2).size_local
    want_bond = np.full(n_cells, -1)
    for b in range(d.n_bonds):
        want_bond[idx[val == tags.bond_tag(b)]] = b
    assert np.array_equal(rm.bond_of_cell, want_bond)  # -1 (not another negative) marks a junction cell
    assert set(np.unique(rm.node_of_cell)) == {-1, *range(d.n_nodes)}
    # a mesh tagged for more bonds than the design has: the extra ids map to no region
    short = region_map(op.mesh, op.cell_tags, d.n_nodes - 1, d.n_bonds - 1)
    assert np.all(short.bond_of_cell[want_bond == d.n_bonds - 1] == -1)
    assert np.all(short.node_of_cell[rm.node_of_cell == d.n_nodes - 1] == -1)


def test_point_values_in_every_cell(op):
    """An affine field is exact in the FE space: its value at every cell's centroid, cell 0 included."""
    x = op.mesh.geometry.x
    g = op.mesh.geometry
    conn = g.dofmaps[0] if hasattr(g, "dofmaps") else g.dofmap
    n_cells = op.mesh.topology.index_map(2).size_local
    centroids = x[conn[:n_cells]].mean(axis=1)
    pe = PointEvaluator(op.mesh, centroids)
    assert 0 in pe.cells
    u = _field(op, lambda p: np.stack([0.3 + 0.01 * p[0], -0.2 + 0.02 * p[1]]))
    vals = pe.values(u)
    want = np.stack([0.3 + 0.01 * centroids[:, 0], -0.2 + 0.02 * centroids[:, 1]], axis=1)
    np.testing.assert_allclose(vals, want, rtol=0, atol=1e-12)


def test_region_matrices_give_the_integral_form_and_a_rotation(op):
    """Sparse junction integrals of u and of omega = (dv/dx - du/dy)/2: for a rigid rotation by w,
    omega = w everywhere, so the omega row of region j is w times its area; the averages agree with
    the integral form of the extractor."""
    w = 0.01
    u = _field(op, lambda p: np.stack([0.3 - w * p[1], -0.2 + w * p[0]]))
    rm = op._disc.region_matrices()  # the batched path's matrices (affine P2 cells)
    assert rm is not None
    g = 2
    sums = (rm.integrals @ u.x.array).reshape(op.design.n_nodes, g + 1)
    np.testing.assert_allclose(sums[:, g], w * op.region_measure, rtol=1e-10)
    avg, rot = op.extractor.node_quantities(u)
    np.testing.assert_allclose(sums[:, g] / op.region_measure, rot, rtol=1e-10)
    np.testing.assert_allclose(sums[:, :g] / op.region_measure[:, None], avg, rtol=1e-10, atol=1e-14)
