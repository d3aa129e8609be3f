"""Spring network against closed forms, equilibrium and the paper's simulations."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
from _bounds import assert_solutions_agree, operator_norm, spring_fields, spring_system

from fem_mnn.contract import backprop
from fem_mnn.design import Design, Material, triangular_strip
from fem_mnn.design.rigidity import compatibility_matrix, zero_modes
from fem_mnn.learn.losses import MSE, CrossEntropy
from fem_mnn.spring.network import SpringModel

G = 9.8e-3  # N per gram, as in the paper


def test_single_bar_is_hookes_law():
    # two-bar truss: node 1 hangs from two clamped nodes at 60 deg each side
    L, E, t, w, F = 16.0, 0.55, 2.0, 2.0, 0.1
    d = Design(
        nodes=[[0, 0], [L, 0], [L / 2, -L * np.sqrt(3) / 2]],
        bonds=[[0, 2], [1, 2]],
        widths=[w, w],
        thickness=t,
        material=Material(E=E),
        fixed=(0, 1),
    )
    s = SpringModel(d).solve(np.array([[0, 0], [0, 0], [0, -F]]))
    k = E * t * w / L
    # each bar carries F / (2 cos 30deg) and stretches by that over k
    np.testing.assert_allclose(s.elongation[0], F / (2 * np.cos(np.pi / 6)) / k, rtol=1e-12)
    np.testing.assert_allclose(s.u[0, 2, 1], -F / (2 * k * np.cos(np.pi / 6) ** 2), rtol=1e-12)


def test_bond_forces_balance_the_loads():
    d = triangular_strip(5, 3, width=np.linspace(1.5, 2.5, 30))
    rng = np.random.default_rng(1)
    f = rng.normal(size=(3, d.n_nodes, 2))
    f[:, list(d.fixed)] = 0
    op = SpringModel(d).operator()
    s = op.solve(f)
    C = compatibility_matrix(d)
    for c in range(3):
        internal = (C.T @ (op.k * s.elongation[c])).reshape(-1, 2)
        free = [i for i in range(d.n_nodes) if i not in d.fixed]
        np.testing.assert_allclose(internal[free], f[c, free], atol=1e-12)


def test_batch_equals_single_solves():
    d = triangular_strip(4, 3)
    op = SpringModel(d).operator()
    f = np.random.default_rng(0).normal(size=(5, d.n_nodes, 2))
    batch = op.solve(f)
    # one multi-column triangular solve vs one per case: two computations with the same
    # factor, each within its forward error of the exact solution (tests/_bounds.py)
    K, F, free = spring_system(op, f)
    single = np.concatenate([spring_fields(op.solve(f[c]), free) for c in range(5)], axis=1)
    assert_solutions_agree(K, spring_fields(batch, free), single, F)


def test_paper_sample_is_rigid_and_a_free_one_is_not(paper):
    assert zero_modes(paper).shape[1] == 0
    free = Design(paper.nodes, paper.bonds, paper.widths, fixed=(0,))
    # one pinned node leaves the rotation about it
    assert zero_modes(free).shape[1] == 1


def test_figure2_uniform_output_is_reproduced(paper, shared_data):
    rows = list(csv.DictReader(open(shared_data / "figure2.csv")))
    f = np.zeros((paper.n_nodes, 2))
    f[10, 1] = -5 * G  # 5 g at paper node 11
    u = SpringModel(paper).solve(f).u[0]
    np.testing.assert_allclose(u[[12, 13], 1], [float(r["u1"]) for r in rows], rtol=1e-8)


def test_figure1_simulated_gradient_is_reproduced(paper, shared_data):
    """10 g at paper node 13, adjoint 5 g at node 14: e * e_adj (m^2) vs grad_sim."""
    rows = list(csv.DictReader(open(shared_data / "figure1.csv")))
    order = json.loads((shared_data / "bond-order-figure1.json").read_text())["paper_bond_index_to_nodes_1based"]
    bond_id = {tuple(sorted(b)): n for n, b in enumerate(paper.bonds.tolist())}
    op = SpringModel(paper).operator()
    f = np.zeros((2, paper.n_nodes, 2))
    f[0, 12, 1] = -10 * G
    f[1, 13, 1] = -5 * G
    e = op.solve(f).elongation
    ours = e[0] * e[1] * 1e-6  # mm^2 -> m^2
    paper_sim = np.zeros(28)
    for (_, n1, n2), r in zip(order, rows, strict=False):
        paper_sim[bond_id[tuple(sorted((n1 - 1, n2 - 1)))]] = float(r["grad_sim"])
    # the published values carry 3 significant digits
    np.testing.assert_allclose(ours, paper_sim, atol=1e-3 * np.abs(paper_sim).max())


@pytest.mark.parametrize("loss_kind", ["mse", "ce"])
def test_backprop_matches_central_differences_on_k(loss_kind):
    d = triangular_strip(5, 3, width=np.random.default_rng(2).uniform(1.5, 2.5, 30))
    rng = np.random.default_rng(3)
    f = np.zeros((2, d.n_nodes, 2))
    f[:, 7] = rng.normal(size=(2, 2)) * 0.05
    f[:, 11, 1] = -0.05
    if loss_kind == "mse":
        t = np.full((2, d.n_nodes, 2), np.nan)
        t[:, 13] = rng.normal(size=(2, 2))
        loss = MSE(t)
    else:
        loss = CrossEntropy([(12, 0), (13, 1), (14, 1)], [0, 2])
    model = SpringModel(d)
    bp = backprop(model, d.widths, f, loss)
    h = 1e-6
    for b in range(0, d.n_bonds, 5):
        wp, wm = d.widths.copy(), d.widths.copy()
        wp[b] += h
        wm[b] -= h
        lp = np.mean(loss(model.solve(f, wp).u)[0])
        lm = np.mean(loss(model.solve(f, wm).u)[0])
        np.testing.assert_allclose(bp.grad_w[b], (lp - lm) / (2 * h), rtol=1e-6, atol=1e-9 * np.abs(bp.grad_w).max())


@pytest.mark.parametrize("design", [triangular_strip(5, 3), triangular_strip(30, 12)], ids=["small", "large"])
def test_dense_and_sparse_paths_agree(design):
    rng = np.random.default_rng(0)
    g = design.geometry
    w = rng.uniform(g.width_min, g.width_max, design.n_bonds)
    f = rng.normal(scale=0.05, size=(4, design.n_nodes, 2))
    dense = SpringModel(design, solver="dense").operator(w)
    sparse = SpringModel(design, solver="sparse").operator(w)
    assert dense.dense and not sparse.dense
    a, b = dense.solve(f), sparse.solve(f)
    # dense Cholesky vs sparse LU (another ordering): agreement derived from each
    # solution's backward error and K's condition (tests/_bounds.py)
    K, F, free = spring_system(sparse, f)
    agree = assert_solutions_agree(K, spring_fields(a, free), spring_fields(b, free), F)
    print("dense vs sparse: diff", agree.diff, "bound", agree.bound, "kappa", agree.kappa)
    # elongations are C u: within ||C||_inf times that bound
    c_norm = operator_norm(compatibility_matrix(design))
    assert np.all(np.abs(a.elongation - b.elongation).max(axis=1) <= c_norm * agree.bound)
    # "auto" picks dense for the small lattice only
    assert SpringModel(design).operator(w).dense == (design.n_nodes * 2 - 4 <= 600)


def test_gradient_json_documents_every_key_with_its_unit(paper_file, tmp_path):
    """Issue 12: grad_w is mm (not N), grad_k mm^3/N (not mm^2), e_adj mm^2/N (a length applied as a force)."""
    import json

    from conftest import run_cli

    out = tmp_path / "g.json"
    r = run_cli("spring", "gradient", paper_file, "--load", "12:0,-0.098", "--target", "13:_,-25", "--out", out)
    assert r.returncode == 0, r.stderr
    data = json.loads(out.read_text())
    units = data["units"]
    for key in ("loss", "u", "elongation", "adjoint_elongation", "grad_k", "grad_w", "loads", "targets"):
        assert key in units, key
    assert units["grad_w"].startswith("mm ") and units["grad_k"].startswith("mm^3/N")
    assert units["adjoint_elongation"].startswith("mm^2/N") and "force" in units["adjoint_elongation"]
    r = run_cli("spring", "gradient", paper_file, "--load", "12:0,-0.098", "--target", "13:_,-25")
    assert "dL/dw (mm)" in r.stdout and "e_adj (mm^2/N)" in r.stdout and "dL/dw (N)" not in r.stdout
