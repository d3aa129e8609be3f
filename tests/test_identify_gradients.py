"""``identify --gradients``: Figure-1-style per-bond gradients e e_adj as calibration data.

* the gradient rows' Jacobian (E and widths) against central differences (springs);
* E from noise-free gradients alone is exact (g scales as 1/E^2);
* on the paper's Figure 1 (and Figure 2's uniform outputs), ``identify --fit E --model spring``
  gives the E of the study's calibration (:func:`fem_mnn.fidelity.forecast.calibrate`): the same
  least squares solved by the same solver, from another assembly of the rows;
* refusals: a gradient without a spread, no forward/adjoint case, gradients with a protocol.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from conftest import run_cli

from fem_mnn.core.errors import InputError
from fem_mnn.design import paper_sample, save_design
from fem_mnn.fidelity.forecast import CalibrationBlock, bond_products, calibrate
from fem_mnn.fidelity.identify import (
    _Problem,
    gradient_observations,
    identify,
    no_observations,
    spring_response,
)
from fem_mnn.io import measured as ms

G = 9.8e-3  # N per g


def _fig1_loads(n_nodes: int) -> np.ndarray:
    F = np.zeros((2, n_nodes, 2))
    F[0, 12, 1] = -10 * G
    F[1, 13, 1] = -5 * G
    return F


def _free_dofs(d):
    return np.array([(n, c) for n in range(d.n_nodes) if n not in d.fixed for c in (0, 1)], dtype=np.int64)


def test_gradient_rows_jacobian_against_central_differences():
    d = paper_sample()
    F = _fig1_loads(d.n_nodes)
    resp = spring_response(d)
    g0, _ = bond_products(d, _free_dofs(d), *resp(d.widths, F, _free_dofs(d), True), 0, 1)
    recs = [ms.Gradient(b, float(g0[b]) * 1.1, 1e-3) for b in range(d.n_bonds)]
    gr = gradient_observations(d, recs, ["forward", "adjoint"], "synthetic")
    pb = _Problem(d, no_observations(2), F, resp, ("E", "widths"), 0.3, gr)
    th = pb.start()
    th[0] = 0.9
    th[1:] += np.linspace(-0.2, 0.2, d.n_bonds)
    _, _, J = pb.evaluate(th, True)
    h = 1e-6
    fd = np.stack(
        [(pb.evaluate(th + h * e, False)[1] - pb.evaluate(th - h * e, False)[1]) / (2 * h) for e in np.eye(th.size)],
        axis=1,
    )
    # central differences of a smooth function at h = 1e-6: truncation ~1e-12, round-off ~1e-16 |r| / h
    assert np.abs(fd - J).max() < 1e-6 * np.abs(J).max()


def test_e_from_noise_free_gradients_is_exact():
    d = paper_sample()
    F = _fig1_loads(d.n_nodes)
    resp = spring_response(d)
    dofs = _free_dofs(d)
    g0, _ = bond_products(d, dofs, *resp(d.widths, F, dofs, False), 0, 1)
    s_true = 0.8
    recs = [ms.Gradient(b, float(g0[b]) / s_true**2, 1e-3) for b in range(d.n_bonds)]
    gr = gradient_observations(d, recs, ["forward", "adjoint"], "synthetic")
    res = identify(d, no_observations(2), F, resp, ["E"], None, gradients=gr)
    assert res.value("E")[0] == pytest.approx(s_true, rel=1e-10)
    assert res.chi2 < 1e-16
    assert res.dof == d.n_bonds - 1


def test_cli_on_figure1_matches_the_study_calibration(tmp_path, shared_data):
    d = paper_sample()
    r1 = ms.paper_records(1, shared_data)
    r2 = ms.paper_records(2, shared_data)
    design = save_design(d, tmp_path / "paper.json")
    loads = ms.write_loads(tmp_path / "loads.csv", [*r1.loads, *r2.loads])
    grads = ms.write_gradients(tmp_path / "g.csv", r1.records)
    meas = ms.write_displacements(tmp_path / "m.csv", r2.records)
    out = tmp_path / "out"
    r = run_cli(
        "identify", design, "--measured", meas, "--gradients", grads, "--loads", loads, "--fit", "E",
        "--model", "spring", "--out", out,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr[-2000:]
    data = json.loads((out / "identified.json").read_text())
    assert len(data["residuals_gradients"]) == d.n_bonds and len(data["residuals"]) == 2
    assert data["dof"] == d.n_bonds + 2 - 1
    # the study's calibration of the same rows (Figure 1 gradients, power 2; Figure 2 uniform, power 1)
    labels = ["forward", "adjoint", "uniform"]
    cases = ms.load_cases([*r1.loads, *r2.loads], d.n_nodes)
    F = np.stack([cases[k] for k in labels])
    dofs = _free_dofs(d)
    resp = spring_response(d)
    bonds = np.array([rec.bond for rec in r1.records])
    rows2 = sorted(r2.records, key=lambda rec: rec.node)
    idx = [int(np.flatnonzero((dofs == (rec.node, 1)).all(1))[0]) for rec in rows2]

    def fig1(w):
        U, dU = resp(w, F, dofs, True)
        g, dg = bond_products(d, dofs, U, dU, 0, 1)
        return g[bonds], dg[bonds]

    def fig2(w):
        U, dU = resp(w, F, dofs, True)
        return U[2, idx], dU[2, idx]

    blocks = [
        CalibrationBlock("f1", np.array([rec.grad for rec in r1.records]), np.array([rec.spread for rec in r1.records]), 2, fig1),
        CalibrationBlock("f2", np.array([rec.uy for rec in rows2]), np.array([rec.spread_uy for rec in rows2]), 1, fig2),
    ]  # fmt: skip
    c = calibrate(blocks, np.asarray(d.widths, float), ("s",))
    print(f"E from identify --gradients {data['E']:.10g} MPa, from the study's calibrate {c.s * d.material.E:.10g} MPa")
    # the same minimum of the same chi2 (one solver): both stop within 1e-6 of the sd of E, which is ~3 % of E
    assert data["E"] == pytest.approx(c.s * d.material.E, rel=1e-6)
    assert data["chi2"] == pytest.approx(c.chi2, rel=1e-9)


def test_gradient_refusals(tmp_path):
    d = paper_sample()
    with pytest.raises(InputError, match="spread > 0"):
        gradient_observations(d, [ms.Gradient(0, 0.1, math.nan)], ["forward", "adjoint"], "g.csv")
    with pytest.raises(InputError, match="'forward' and 'adjoint'"):
        gradient_observations(d, [ms.Gradient(0, 0.1, 0.01)], ["uniform"], "g.csv")
    with pytest.raises(InputError, match="unknown bond"):
        gradient_observations(d, [ms.Gradient(99, 0.1, 0.01)], ["forward", "adjoint"], "g.csv")
    design = save_design(d, tmp_path / "d.json")
    loads = ms.write_loads(tmp_path / "l.csv", [ms.Load("forward", 12, 0, -0.098), ms.Load("adjoint", 13, 0, -0.049)])
    grads = ms.write_gradients(tmp_path / "g.csv", [ms.Gradient(0, 0.1, 0.01)])
    (tmp_path / "p.csv").write_text("time_s,event,load_case\n0,apply,forward\n10,measure,m\n")
    r = run_cli(
        "identify", design, "--gradients", grads, "--loads", loads, "--protocol", tmp_path / "p.csv",
        "--fit", "E", "--out", tmp_path / "out",
    )  # fmt: skip
    assert r.returncode == 2 and "--gradients" in r.stderr and r.stderr.strip().count("\n") == 0
    assert not (tmp_path / "out").exists()
