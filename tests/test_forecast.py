"""fem_mnn.fidelity.forecast: staircase protocols, derived outputs and their Jacobians, calibration, bands."""

from __future__ import annotations

import math

import numpy as np
import pytest

from fem_mnn.core.errors import InputError
from fem_mnn.design import paper_sample
from fem_mnn.design.viscoelastic import Prony
from fem_mnn.fidelity.forecast import (
    CalibrationBlock,
    bond_products,
    calibrate,
    forecast_band,
    linear_slope,
    normalised_abs,
    staircase_compliance,
    staircase_protocol,
)
from fem_mnn.fidelity.identify import spring_response

EPS = np.finfo(float).eps


def _sls_creep(E_inf: float, E1: float, tau: float, t: np.ndarray) -> np.ndarray:
    """Closed-form creep compliance of the standard linear solid."""
    E0 = E_inf + E1
    return 1.0 / E_inf - E1 / (E_inf * E0) * np.exp(-t / (tau * E0 / E_inf))


def _free_dofs(d):
    fixed = set(int(n) for n in d.fixed)
    return np.array([(n, c) for n in range(d.n_nodes) if n not in fixed for c in (0, 1)])


def test_staircase_protocol_events():
    ev = staircase_protocol(3, 10.0, n_sweeps=2, recovery_s=100.0)
    applies = [e.time_s for e in ev if e.event == "apply"]
    measures = [(e.time_s, e.load_case) for e in ev if e.event == "measure"]
    assert applies == [0, 10, 20, 130, 140, 150]
    assert measures[0] == (10, "sweep0-step1") and measures[-1] == (160, "sweep1-step3")
    assert sum(e.event == "remove" for e in ev) == 6


@pytest.mark.parametrize(
    "args", [(0, 10.0), (3, 0.0), (3, -1.0), (3, math.inf)], ids=["no-step", "zero-dwell", "neg-dwell", "inf"]
)
def test_staircase_protocol_refuses(args):
    with pytest.raises(InputError):
        staircase_protocol(*args)


def test_staircase_protocol_needs_recovery_for_repeats():
    with pytest.raises(InputError, match="recovery"):
        staircase_protocol(3, 10.0, n_sweeps=2)


def test_staircase_elastic_is_linear():
    C = staircase_compliance(lambda t: np.full_like(np.asarray(t, float), 0.5), 6, 60.0)
    np.testing.assert_allclose(C[0], 0.5 * np.arange(1, 7), rtol=4 * EPS)


def test_staircase_matches_sls_closed_form():
    """C_n = sum_{j=1..n} J(j T) with the closed-form SLS compliance (the Prony creep is exact)."""
    E_inf, E1, tau, T = 1.0, 3.0, 40.0, 25.0
    p = Prony(E_inf, ((E1, tau),))
    C = staircase_compliance(p, 6, T)[0]
    J = _sls_creep(E_inf, E1, tau, T * np.arange(1, 7))
    # the Prony creep is exact to round-off in the retardation root: 1e-12 relative covers it
    np.testing.assert_allclose(C, np.cumsum(J), rtol=1e-12)
    apparent = C / (np.arange(1, 7) * J[0])
    assert np.all(np.diff(apparent) > 0)  # the apparent compliance grows with the weights hung


def test_staircase_recovery_leaves_residual_creep():
    p = Prony(1.0, ((3.0, 40.0),))
    rested = staircase_compliance(p, 3, 25.0, n_sweeps=2, recovery_s=1e6)
    quick = staircase_compliance(p, 3, 25.0, n_sweeps=2, recovery_s=0.0)
    np.testing.assert_allclose(rested[1], rested[0], rtol=1e-12)
    assert np.all(quick[1] > quick[0])


def _fd(fun, x, h):
    return (fun(x + h) - fun(x - h)) / (2 * h)


def test_bond_products_jacobian_matches_central_differences():
    d = paper_sample()
    rng = np.random.default_rng(3)
    w = 2.0 + 0.3 * rng.uniform(-1, 1, d.n_bonds)
    resp = spring_response(d)
    dofs = _free_dofs(d)
    F = np.zeros((2, d.n_nodes, 2))
    F[0, 12, 1], F[1, 13, 1] = -0.098, -0.049
    U, dU = resp(w, F, dofs, True)
    g, dg = bond_products(d, dofs, U, dU, 0, 1)
    for b in (0, 7, 19):
        e = np.zeros(d.n_bonds)
        e[b] = 1.0

        def f(t, e=e):
            return bond_products(d, dofs, resp(w + t * e, F, dofs, False)[0], None, 0, 1)[0]

        fd = _fd(f, 0.0, 1e-4)
        # central differences: truncation ~h^2 |g'''| ; 1e-6 of the largest entry bounds it here
        np.testing.assert_allclose(dg[:, b], fd, atol=1e-6 * np.abs(dg).max())


def test_bond_products_need_every_free_node():
    d = paper_sample()
    with pytest.raises(InputError, match="every free node"):
        bond_products(d, np.array([[12, 1]]), np.zeros((2, 1)), None, 0, 1)


def test_normalised_abs_jacobian():
    rng = np.random.default_rng(0)
    A = rng.normal(size=(3, 4))  # outputs linear in 4 parameters

    def p_of(x):
        return normalised_abs(A @ x, None)[0]

    x = rng.normal(size=4)
    p, dp = normalised_abs(A @ x, A)
    np.testing.assert_allclose(p.sum(), 1.0, rtol=4 * EPS)
    fd = np.stack([_fd(lambda t, k=k: p_of(x + t * np.eye(4)[k]), 0.0, 1e-6) for k in range(4)], axis=1)
    np.testing.assert_allclose(dp, fd, atol=1e-8)
    with pytest.raises(InputError):
        normalised_abs(np.array([1.0, 0.0]), None)


def _spring_blocks(d, data_U, sd):
    resp = spring_response(d)
    dofs = np.array([[12, 1], [13, 1], [7, 0]])
    F = np.zeros((1, d.n_nodes, 2))
    F[0, 10, 1] = -0.049

    def model(w):
        U, dU = resp(w, F, dofs, True)
        return U[0], dU[0]

    return [CalibrationBlock("u", data_U, np.full(len(data_U), sd), 1, model)], model


def test_calibrate_recovers_s_and_delta_from_noise_free_data():
    d = paper_sample()
    rng = np.random.default_rng(1)
    w0 = 2.0 + 0.4 * rng.uniform(-1, 1, d.n_bonds)  # unequal widths: s and delta are separable
    _, model = _spring_blocks(d, np.zeros(3), 1.0)
    s_true, delta_true = 1.3, -0.12
    y = model(w0 + delta_true)[0] / s_true
    blocks, _ = _spring_blocks(d, y, 1e-3)
    c = calibrate(blocks, w0, ("s", "delta"))
    assert c.converged
    assert c.s == pytest.approx(s_true, rel=1e-9)
    assert c.delta == pytest.approx(delta_true, abs=1e-9)
    assert c.chi2 < 1e-12
    assert c.correlation().shape == (2, 2)


def test_calibrate_s_only_is_exact_and_gradients_scale_with_s_squared():
    d = paper_sample()
    w0 = np.asarray(d.widths, float)
    blocks, model = _spring_blocks(d, np.zeros(3), 1.0)
    y = model(w0)[0] / 0.8
    blocks = [CalibrationBlock("u", y, np.full(3, 0.01), 1, model)]
    assert calibrate(blocks, w0, ("s",)).s == pytest.approx(0.8, rel=1e-12)

    def sq(w):
        U, dU = model(w)
        return U**2, 2 * U[:, None] * dU

    blocks = [CalibrationBlock("g", sq(w0)[0] / 0.8**2, np.full(3, 0.01), 2, sq)]
    assert calibrate(blocks, w0, ("s",)).s == pytest.approx(0.8, rel=1e-12)


def test_calibrate_covariance_matches_scatter():
    """The reported sd of s and delta against the scatter of repeated noisy calibrations (linear regime)."""
    d = paper_sample()
    rng = np.random.default_rng(2)
    w0 = 2.0 + 0.4 * rng.uniform(-1, 1, d.n_bonds)
    _, model = _spring_blocks(d, np.zeros(3), 1.0)
    y = model(w0)[0]
    sd = 1e-4 * np.abs(y).max()
    fits, covs = [], []
    for _ in range(200):
        blocks, _ = _spring_blocks(d, y + sd * rng.standard_normal(3), sd)
        c = calibrate(blocks, w0, ("s", "delta"))
        fits.append([c.s, c.delta])
        covs.append(c.cov)
    fits = np.array(fits)
    emp = np.cov(fits.T)
    rep = np.mean(covs, axis=0)
    # 200 samples: the sample variance's relative sd is sqrt(2/199) = 0.10; 4 of those
    np.testing.assert_allclose(np.diag(emp), np.diag(rep), rtol=0.4)


def test_calibrate_refuses():
    d = paper_sample()
    blocks, _ = _spring_blocks(d, np.zeros(3), 1.0)
    with pytest.raises(InputError):
        calibrate(blocks, np.asarray(d.widths, float), ())
    bad = [CalibrationBlock("u", np.zeros(3), np.zeros(3), 1, blocks[0].model)]
    with pytest.raises(InputError, match="positive"):
        calibrate(bad, np.asarray(d.widths, float), ("s",))


def test_birge_inflation():
    d = paper_sample()
    w0 = np.asarray(d.widths, float)
    blocks, model = _spring_blocks(d, np.zeros(3), 1.0)
    y = model(w0)[0]
    blocks = [CalibrationBlock("u", y * np.array([1.0, 1.2, 0.9]), np.full(3, 1e-3), 1, model)]
    c = calibrate(blocks, w0, ("s",))
    assert c.birge > 1
    np.testing.assert_allclose(c.cov_inflated, c.cov * c.birge, rtol=4 * EPS)


def test_forecast_band_linear_propagation():
    G = np.array([[1.0, 0.0], [1.0, 1.0], [2.0, -1.0]])
    C = np.array([[0.04, 0.01], [0.01, 0.09]])
    expect = np.sqrt([0.04, 0.04 + 0.09 + 0.02, 4 * 0.04 + 0.09 - 4 * 0.01])
    np.testing.assert_allclose(forecast_band(G, C), expect, rtol=4 * EPS)
    with pytest.raises(InputError):
        forecast_band(G, np.eye(3))


def test_linear_slope():
    x = np.array([0.0, 1.0, 2.0, 3.0])
    assert linear_slope(x, 3 * x + 2) == pytest.approx(3.0, rel=4 * EPS)
