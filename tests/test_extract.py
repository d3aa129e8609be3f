"""The reduced-order extractor on fields whose node values are known exactly."""

from __future__ import annotations

import numpy as np
import pytest
from _bounds import gamma
from conftest import need_dolfinx

need_dolfinx()

from mpi4py import MPI  # noqa: E402

from fem_mnn.contract import elongations  # noqa: E402
from fem_mnn.design import paper_sample  # noqa: E402
from fem_mnn.fem.extract import centre_values, region_average, rotation  # noqa: E402
from fem_mnn.fem.linear import FemModel, FemOptions  # noqa: E402
from fem_mnn.geometry.build import MeshOptions  # noqa: E402

pytestmark = pytest.mark.fem


@pytest.fixture(scope="module")
def op():
    d = paper_sample()
    return FemModel(d, FemOptions(mesh=MeshOptions(elements_across=2)), comm=MPI.COMM_SELF).operator()


def _field(op, fn):
    import dolfinx.fem

    u = dolfinx.fem.Function(op.V)
    u.interpolate(lambda x: fn(x))
    return u


def _centroids(op):
    ux = _field(op, lambda x: np.stack([x[0], x[1]]))
    return op.extractor.node_quantities(ux)[0]


def test_region_measure_is_the_hub_area(op):
    import dolfinx.fem
    import ufl

    from fem_mnn.geometry import tags

    # independently: integrate 1 over the tagged cells with a subdomain measure
    dx = ufl.Measure("dx", domain=op.mesh, subdomain_data=op.cell_tags)
    one = dolfinx.fem.Constant(op.mesh, 1.0)
    direct = [
        dolfinx.fem.assemble_scalar(dolfinx.fem.form(one * dx(tags.node_tag(j)))) for j in range(op.design.n_nodes)
    ]
    # two sums of the same positive cell areas in different orders: each within
    # gamma_(N+4) of the exact sum (N cells, |det J| a few flops per cell; Higham eq. 4.3)
    n_cells = max(int(np.sum(op.cell_tags.values == tags.node_tag(j))) for j in range(op.design.n_nodes))
    np.testing.assert_allclose(op.region_measure, direct, rtol=2 * gamma(n_cells + 4), atol=0)
    # straight-sided triangles inscribe the circle: slightly less than pi R^2
    R = op.design.geometry.junction_radius
    assert np.all(op.region_measure < np.pi * R**2)
    np.testing.assert_allclose(op.region_measure, np.pi * R**2, rtol=1.5e-2)


def test_rigid_motions_have_no_elongation_and_the_right_rotation(op):
    d = op.design
    w, a, b = 0.01, 0.3, -0.2
    u = _field(op, lambda x: np.stack([a - w * x[1], b + w * x[0]]))
    avg, rot = op.extractor.node_quantities(u)
    np.testing.assert_allclose(rot, w, rtol=1e-12)
    c = _centroids(op)
    np.testing.assert_allclose(avg, np.stack([a - w * c[:, 1], b + w * c[:, 0]], axis=1), rtol=1e-12, atol=1e-14)
    # centre values of a P2 field that is affine are exact at the node centres
    cv = op.extractor.centre_values(u)
    np.testing.assert_allclose(cv, np.stack([a - w * d.nodes[:, 1], b + w * d.nodes[:, 0]], axis=1), atol=1e-13)
    # a translation has no elongation (a rotation only to first order in w)
    t = _field(op, lambda x: np.stack([np.full_like(x[0], a), np.full_like(x[0], b)]))
    assert np.abs(elongations(op.extractor.node_quantities(t)[0], d)).max() < 1e-14


def test_uniform_stretch_elongates_every_bond_by_strain_times_length(op):
    d = op.design
    eps = 1e-3
    u = _field(op, lambda x: np.stack([eps * x[0], eps * x[1]]))
    e_centre = elongations(op.extractor.centre_values(u), d)
    np.testing.assert_allclose(e_centre, eps * d.lengths, rtol=1e-11)
    # averages sit at the region centroids, which are the node centres up to the mesh
    e_avg = elongations(op.extractor.node_quantities(u)[0], d)
    np.testing.assert_allclose(e_avg, eps * d.lengths, rtol=1e-3)
    c = _centroids(op)
    assert np.abs(c - d.nodes).max() < 0.02


def test_module_functions_match_the_extractor(op):
    u = _field(op, lambda x: np.stack([np.sin(x[0] / 7), x[0] * x[1] / 100]))
    avg, rot = op.extractor.node_quantities(u)
    # (a) the module functions build an Extractor and run the same code: same computation
    np.testing.assert_allclose(region_average(u, op.cell_tags, op.design.n_nodes), avg, rtol=1e-13)
    np.testing.assert_allclose(rotation(u, op.cell_tags, op.design.n_nodes), rot, rtol=1e-13)
    np.testing.assert_allclose(centre_values(u, op.design.nodes), op.extractor.centre_values(u), rtol=1e-13)


def test_elongation_sign_convention():
    d = paper_sample()
    u = np.zeros((d.n_nodes, 2))
    a, b = d.bonds[0]
    u[b] = d.directions[0] * 0.1  # move the second node away from the first
    assert elongations(u, d)[0] == pytest.approx(0.1)
    assert elongations(u[None], d).shape == (1, d.n_bonds)
