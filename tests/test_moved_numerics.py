"""Numerics that lived in the studies, tested where they now live in the package.

* :mod:`fem_mnn.fem.load_basis`: superposition of unit loads, u(sum_d f_d e_d) = sum_d f_d u(e_d);
* :func:`fem_mnn.design.without_bonds`: the damaged lattice of Figure 5;
* :class:`fem_mnn.learn.losses.OffsetLoss`: the paper's Figure 1 loss in SI units;
* :class:`fem_mnn.spring.si.SISprings`: the spring network in SI units for finite-difference sweeps.

Tolerances between two computations are derived from the conditioning of the reduced
stiffness: both sides solve the same system, so they differ by at most about
cond(K) * eps * (terms summed) relative to the solution.
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import need_dolfinx

from fem_mnn.contract import backprop_operator
from fem_mnn.core.errors import InputError
from fem_mnn.design import paper_sample, without_bonds
from fem_mnn.design.rigidity import compatibility_matrix, free_dofs
from fem_mnn.fem.load_basis import LoadBasisModel, solve_by_load_basis
from fem_mnn.learn.losses import OffsetLoss
from fem_mnn.learn.taskfile import paper_task
from fem_mnn.spring.network import SpringModel
from fem_mnn.spring.si import SISprings

EPS = np.finfo(float).eps


def _cond(design, widths) -> float:
    """Condition number of the clamped spring stiffness at ``widths``."""
    op = SpringModel(design).operator(widths)
    C = compatibility_matrix(design).toarray()[:, free_dofs(design)]
    K = C.T @ np.diag(op.k) @ C
    return float(np.linalg.cond(K))


class _Counting:
    """An operator that records how many cases each solve got."""

    def __init__(self, op):
        self.op, self.calls = op, []

    def solve(self, loads):
        f = np.asarray(loads)
        self.calls.append(1 if f.ndim == 2 else f.shape[0])
        return self.op.solve(loads)


@pytest.fixture(scope="module")
def iris():
    d = paper_sample()
    w = d.widths + np.linspace(-0.3, 0.3, d.n_bonds)
    return d, w, paper_task("iris", d, seed=0)


# ------------------------------------------------------------------ load basis


def test_superposition_of_unit_loads_is_the_direct_solve(iris):
    d, w, task = iris
    op = _Counting(SpringModel(d).operator(w))
    loads = task.train_loads
    loaded = np.flatnonzero(np.any(loads.reshape(len(loads), -1) != 0, axis=0))
    assert len(loads) > loaded.size  # the case the basis is for: more cases than loaded dofs
    basis = solve_by_load_basis(op, d, loads)
    assert op.calls == [loaded.size]  # one solve, of the unit loads only
    direct = op.op.solve(loads)
    tol = _cond(d, w) * EPS * (loaded.size + 1)
    assert np.abs(basis.u - direct.u).max() <= tol * np.abs(direct.u).max()
    assert np.abs(basis.elongation - direct.elongation).max() <= tol * np.abs(direct.elongation).max()
    # and it is a superposition: the solution of a sum of loads is the sum of the solutions
    s = solve_by_load_basis(op, d, loads[:1] + loads[1:2])
    assert np.abs(s.u[0] - (direct.u[0] + direct.u[1])).max() <= 2 * tol * np.abs(direct.u[:2]).max()


def test_few_cases_are_solved_directly(iris):
    d, w, task = iris
    op = _Counting(SpringModel(d).operator(w))
    loads = task.train_loads[:2]  # 2 cases on 4 loaded dofs: the basis would cost more solves
    s = solve_by_load_basis(op, d, loads)
    assert op.calls == [2]
    assert np.array_equal(s.u, op.op.solve(loads).u)


def test_in_situ_gradient_through_the_basis(iris):
    d, w, task = iris
    idx = np.arange(16)
    loads, loss = task.train_loads[idx], task.loss("train", idx)
    model = LoadBasisModel(SpringModel(d))
    op = model.operator(w)
    assert model.design is d and op.k is op.op.k  # attributes not defined by the wrappers are the wrapped ones
    g = model.backprop_operator(op, loads, loss)  # the spring model has no own gradient: the in situ rule
    ref = backprop_operator(op.op, loads, loss)
    tol = _cond(d, w) * EPS * 5
    bound = 2 * tol * np.mean(np.abs(ref.elongation).max(axis=1) * np.abs(ref.adjoint_elongation).max(axis=1))
    assert np.abs(g.grad_k - ref.grad_k).max() <= bound
    assert g.loss == pytest.approx(ref.loss, rel=2 * tol)


@pytest.mark.fem
def test_fe_morphing_model_through_the_basis():
    """The exact gradient gets the wrapped FE operator (fields); the in situ one solves by the basis."""
    need_dolfinx()
    from mpi4py import MPI

    from fem_mnn.fem.linear import FemOptions
    from fem_mnn.fem.morph import MorphingFemModel
    from fem_mnn.geometry.build import MeshOptions

    d = paper_sample()
    task = paper_task("iris", d, seed=0)
    w = d.widths + np.linspace(-0.3, 0.3, d.n_bonds)
    opts = FemOptions(dim=2, degree=1, mesh=MeshOptions(dim=2, elements_across=2))
    ins = LoadBasisModel(MorphingFemModel(d, opts, MPI.COMM_SELF, gradient="insitu"))
    op = ins.operator(w)
    basis, direct = op.solve(task.train_loads), op.op.solve(task.train_loads)
    # round-off of a sparse direct solve and a 4-term sum (measured ~1e-15)
    assert np.abs(basis.u - direct.u).max() < 1e-12 * np.abs(direct.u).max()
    idx = np.arange(16)
    g_basis = ins.backprop_operator(op, task.train_loads[idx], task.loss("train", idx)).grad_w
    g_direct = ins.model.backprop_operator(op.op, task.train_loads[idx], task.loss("train", idx)).grad_w
    assert np.abs(g_basis - g_direct).max() < 1e-10 * np.abs(g_direct).max()
    exact = LoadBasisModel(MorphingFemModel(d, opts, MPI.COMM_SELF, gradient="exact"))
    eop = exact.operator(w)
    seen = []
    inner = exact.model.backprop_operator
    exact.model.backprop_operator = lambda o, f, loss: seen.append(o) or inner(o, f, loss)
    exact.backprop_operator(eop, task.train_loads[idx], task.loss("train", idx))
    assert seen == [eop.op]


# ------------------------------------------------------------------ damaged lattice


def test_without_bonds_removes_the_cut_and_keeps_the_rest():
    d = paper_sample()
    d = d.with_widths(d.widths + 0.01 * np.arange(d.n_bonds))
    cut, keep = without_bonds(d, (22,))
    assert cut.n_bonds == d.n_bonds - 1 and 22 not in keep and keep.tolist() == sorted(set(range(28)) - {22})
    assert np.array_equal(cut.bonds, d.bonds[keep]) and np.array_equal(cut.widths, d.widths[keep])
    assert cut.fixed == d.fixed and np.array_equal(cut.nodes, d.nodes) and cut.name.endswith("-cut-22")


def test_without_bonds_refuses_a_floppy_cut_and_an_unknown_bond():
    d = paper_sample()
    with pytest.raises(InputError, match="zero-energy mode"):
        without_bonds(d, (1,))  # bond 0-5: the lattice gets a mechanism
    with pytest.raises(InputError, match="belongs to no bond"):
        without_bonds(d, (0, 1))  # both bonds of node 0
    with pytest.raises(InputError, match="no such bond"):
        without_bonds(d, (28,))


# ------------------------------------------------------------------ Figure 1 in SI units


def test_offset_loss_is_the_papers_in_si():
    loss = OffsetLoss(13, 25.0)
    u = np.zeros((2, 15, 2))
    u[:, 13, 1] = [-4.0, 1.0]  # mm
    L, g = loss(u)
    assert L.tolist() == pytest.approx([(21e-3) ** 2, (26e-3) ** 2], rel=1e-15)
    # the adjoint force -dL/du is the authors' -2 (u_y + c) / 1000 N, on that dof only
    assert (-g[:, 13, 1]).tolist() == pytest.approx([-2 * 21e-3, -2 * 26e-3], rel=1e-15)
    assert np.count_nonzero(g) == 2


def test_si_springs_are_the_spring_model_in_si_units():
    d = paper_sample()
    f = np.zeros((d.n_nodes, 2))
    f[12, 1] = -0.098  # 10 g
    si = SISprings(d, f, (13, 1), 0.025)
    tol = _cond(d, d.widths) * EPS * 4
    op = SpringModel(d).operator()
    u_mm = op.solve(f).u[0].reshape(-1)
    u_m = si.solve(si.k0, si.f)
    assert np.abs(u_m - 1e-3 * u_mm).max() <= tol * np.abs(u_m).max()
    # the exact gradient: e e_adj in m^2 per N/m is 1e-6 times the mm-unit in situ gradient under the same adjoint force
    g_si, L = si.exact_gradient()
    ref = backprop_operator(op, f, OffsetLoss(13, 25.0))
    assert L == pytest.approx(ref.loss, rel=2 * tol)
    assert np.abs(g_si - 1e-6 * ref.grad_k).max() <= 2 * tol * np.abs(g_si).max()
    # a stack of stiffness sets is solved set by set
    ks = np.stack([si.k0, 1.1 * si.k0])
    assert np.array_equal(si.loss(ks)[0], si.loss(si.k0[None])[0])
    assert si.loss(ks)[1] == pytest.approx(float(si.loss((1.1 * si.k0)[None])[0]), rel=tol)
