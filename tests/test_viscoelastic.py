"""Prony series: exact creep compliance, protocols by superposition, design-file and CSV input.

Tolerances, where two different computations are compared:

* Standard linear solid (SLS), closed form vs the general root/residue computation. Both
  are exact formulas evaluated in floating point; they differ by rounding only. The closed
  form J = 1/E_inf - E_1/(E_inf E_0) e^(-t/tau_c) subtracts two numbers of size 1/E_inf to
  get 1/E_0 at t = 0, so its relative rounding error is a few eps * (1 + E_0/E_inf); the
  general form (all terms >= 0) has a few eps; an error eps*t/tau_c in the exponent's
  argument changes the term by at most eps/e of J. So the two agree to
  C eps (1 + E_0/E_inf) with C of order 10: we assert 16 eps (1 + E_0/E_inf) (measured worst
  0.75 on the grid below) and the issue's target 1e-6, which is 1e9 times the rounding level
  for E_0/E_inf up to 1e5, so it is met by exact arithmetic, not by a loose tolerance.
* Interconversion identity E(t) J(0) + int_0^t E(t - s) J'(s) ds = 1 by composite Simpson:
  the error bound of each panel [a, b] is (b - a)^5 / 2880 max |f''''|, and f is a sum of
  exponentials A e^(k s), whose fourth derivative k^4 A e^(k s) peaks at a panel end, so the
  bound is computed, not chosen; rounding adds at most (number of terms) eps per evaluation
  of an integrand whose integral is <= 1 (all terms positive).
* Volterra reference: product-trapezoid time stepping of the same identity is second order;
  the exact J must lie within the Richardson estimate |J_2h - J_h| / 3 (times 2 for the
  pre-asymptotic regime) of J_2h, and the observed order must be 2.
"""

from __future__ import annotations

import json
import math
import re

import numpy as np
import pytest

from fem_mnn.core.errors import InputError
from fem_mnn.design import files as design_files
from fem_mnn.design.builders import paper_sample
from fem_mnn.design.viscoelastic import (
    Prony,
    ProtocolEvent,
    check_protocol,
    parse_prony,
    protocol_delays,
    protocol_extrapolation,
    protocol_response,
)
from fem_mnn.io.protocol import read_protocol, write_protocol

EPS = np.finfo(float).eps


def sls_creep(E_inf: float, E1: float, tau: float, t: np.ndarray) -> np.ndarray:
    """Closed-form creep compliance of the standard linear solid."""
    E0 = E_inf + E1
    tau_c = tau * E0 / E_inf
    return np.where(t < 0, 0.0, 1 / E_inf - E1 / (E_inf * E0) * np.exp(-np.maximum(t, 0) / tau_c))


# ---------------------------------------------------------------------- standard linear solid


@pytest.mark.parametrize("E_inf", [0.01, 1.3, 100.0])
@pytest.mark.parametrize("ratio", [1e-3, 1.0, 2000.0, 1e5])
@pytest.mark.parametrize("tau", [1e-6, 10.0, 1e4])
def test_sls_creep_matches_closed_form(E_inf, ratio, tau):
    E1 = ratio * E_inf
    E0 = E_inf + E1
    p = Prony(E_inf, ((E1, tau),))
    t = np.logspace(-4, 4, 200) * tau * E0 / E_inf
    t = np.concatenate([[0.0], t])
    exact = sls_creep(E_inf, E1, tau, t)
    rel = np.max(np.abs(p.creep(t) / exact - 1))
    assert rel <= 1e-6  # the target
    assert rel <= 16 * EPS * (1 + E0 / E_inf)  # the rounding level (module docstring)
    r = p.retardation
    assert r.lambdas[0] == pytest.approx(tau * E0 / E_inf, rel=16 * EPS * (1 + E0 / E_inf))
    assert p.creep(0.0) == pytest.approx(1 / E0, rel=4 * EPS)


def test_limits_and_interlacing_many_terms():
    rng = np.random.default_rng(7)
    taus = np.logspace(-9, 4, 27)
    E = rng.uniform(0.01, 300.0, taus.size)
    p = Prony(1.3, tuple(zip(E, taus, strict=True)))
    r = p.retardation
    assert np.all(r.c > 0)
    # tau_j < lambda_j < tau_{j+1}: one retardation time per interval between relaxation times
    assert np.all(r.lambdas > taus) and np.all(r.lambdas[:-1] < taus[1:])
    # J(infinity) = 1/E_inf: J0 + sum c_j (positive terms; each c_j a few eps accurate)
    assert r.J0 + math.fsum(r.c) == pytest.approx(1 / 1.3, rel=8 * taus.size * EPS)
    assert p.creep(1e9) == pytest.approx(1 / 1.3, rel=8 * taus.size * EPS)
    assert p.creep(0.0) == 1 / p.E0
    # an independent computation of the roots: eigenvalues of the symmetric diag(a) - w w^T,
    # accurate to eps * ||M|| absolute, so compare 1/lambda_j with that absolute tolerance
    a = 1 / taus
    w = np.sqrt(E * a / p.E0)
    mu = np.sort(np.linalg.eigvalsh(np.diag(a) - np.outer(w, w)))
    assert np.allclose(np.sort(1 / r.lambdas), mu, rtol=0, atol=64 * EPS * np.linalg.norm(a, np.inf) * taus.size)


def _simpson_identity(p: Prony, t: float, per_side: int = 2000) -> tuple[float, float]:
    """(E(t) J(0) + int_0^t E(t-s) J'(s) ds, its quadrature error bound) by graded composite Simpson."""
    r = p.retardation
    g = 0.5 * t * np.geomspace(1e-15, 1.0, per_side)
    x = np.unique(np.concatenate([[0.0], g, t - g, [t]]))
    # f(s) = sum_terms A exp(k s + b); terms from E_inf and from each E_i, times each c_j / lambda_j
    A = np.concatenate([[p.E_inf], p.moduli])[:, None] * (r.c / r.lambdas)[None, :]
    inv_tau = np.concatenate([[0.0], 1 / p.taus])[:, None]
    k = inv_tau - 1 / r.lambdas[None, :]  # rate in s
    b = -t * inv_tau + 0 * k  # offset of the exponent

    def f(s: np.ndarray) -> np.ndarray:
        return np.sum(A[None] * np.exp(k[None] * s[:, None, None] + b[None]), axis=(1, 2))

    lo, hi = x[:-1], x[1:]
    mid = 0.5 * (lo + hi)
    h = hi - lo
    panels = h / 6 * (f(lo) + 4 * f(mid) + f(hi))
    integral = math.fsum(panels) + p.relaxation(t) * p.creep(0.0)
    # Simpson on [a, b]: |error| <= (b - a)^5 / 2880 max |f''''|; each term's |f''''| peaks at an end
    ends = np.maximum(np.exp(k[None] * lo[:, None, None] + b[None]), np.exp(k[None] * hi[:, None, None] + b[None]))
    d4 = np.sum(np.abs(A)[None] * k[None] ** 4 * ends, axis=(1, 2))
    bound = float(np.sum(h**5 / 2880 * d4))
    return float(integral), bound


@pytest.mark.parametrize("t", [1e-3, 0.05, 1.0, 30.0, 500.0])
def test_interconversion_identity_by_convolution(t):
    p = Prony(0.8, ((40.0, 0.01), (6.0, 0.3), (3.0, 5.0), (1.5, 60.0)))
    value, bound = _simpson_identity(p, t)
    n_terms = (len(p.terms) + 1) * len(p.terms)
    tol = bound + (n_terms + 10) * EPS
    assert bound < 1e-9  # the graded mesh resolves every exponential
    assert abs(value - 1) <= tol
    # the check can fail: a compliance increment off by 1e-6 is seen
    r = p.retardation
    c_bad = r.c.copy()
    c_bad[-1] *= 1 + 1e-6
    bad = Prony(p.E_inf, p.terms)
    object.__setattr__(bad, "retardation", r._replace(c=c_bad))
    if t > 1.0:  # the slowest term has had time to act
        assert abs(_simpson_identity(bad, t)[0] - 1) > tol


def _volterra(p: Prony, grid: np.ndarray) -> np.ndarray:
    """J on ``grid`` (grid[0] = 0) from E(t_n) J_0 + sum_k E-average (J_k - J_{k-1}) = 1 (product trapezoid)."""
    J = np.empty_like(grid)
    J[0] = 1 / p.relaxation(0.0)
    for n in range(1, grid.size):
        Ek = p.relaxation(grid[n] - grid[: n + 1])  # E(t_n - t_k), k = 0..n
        w = 0.5 * (Ek[1:] + Ek[:-1])
        known = Ek[0] * J[0] + np.dot(w[:-1], np.diff(J[:n]))
        J[n] = J[n - 1] + (1 - known) / w[-1]
    return J


def test_creep_against_volterra_inversion():
    p = Prony(1.0, ((5.0, 0.1), (3.0, 1.0), (2.0, 10.0)))
    coarse = np.concatenate([[0.0], np.geomspace(1e-3, 100.0, 800)])
    fine = np.sort(np.concatenate([coarse, 0.5 * (coarse[1:] + coarse[:-1])]))
    Jc, Jf = _volterra(p, coarse), _volterra(p, fine)
    exact = p.creep(coarse)
    err_c = np.abs(Jc - exact)
    err_f = np.abs(Jf[::2] - exact)
    estimate = np.abs(Jf[::2] - Jc) / 3  # Richardson for a second-order method
    assert np.all(err_f <= 2 * estimate + 64 * EPS * exact)
    big = err_c > 1e-4 * err_c.max()
    order = np.log2(np.median(err_c[big] / err_f[big]))
    assert 1.8 < order < 2.2


# ---------------------------------------------------------------------- protocols


def test_staircase_equals_superposition_by_hand():
    E_inf, E1, tau = 0.6, 1.4, 40.0
    p = Prony(E_inf, ((E1, tau),))
    ua = np.array([[0.0, -1.0], [0.3, -2.0]])  # unit-modulus displacements (mm MPa) of two load cases
    ub = np.array([[0.5, 0.0], [0.0, 0.25]])
    events = [
        ProtocolEvent(0.0, "apply", "a"),
        ProtocolEvent(60.0, "measure", "m1"),
        ProtocolEvent(60.0, "apply", "a"),
        ProtocolEvent(60.0, "measure", "m2_instant"),
        ProtocolEvent(120.0, "measure", "m2"),
        ProtocolEvent(150.0, "apply", "b"),
        ProtocolEvent(200.0, "remove", "a"),
        ProtocolEvent(260.0, "measure", "m3"),
        ProtocolEvent(400.0, "remove", "a"),
        ProtocolEvent(400.0, "remove", "b"),
        ProtocolEvent(1000.0, "measure", "recovered"),
    ]
    out = protocol_response(p, {"a": ua, "b": ub}, events)
    assert [m.label for m in out] == ["m1", "m2_instant", "m2", "m3", "recovered"]

    def J(t):
        return float(sls_creep(E_inf, E1, tau, np.array(t)))

    E0 = E_inf + E1
    hand = {
        "m1": ua * J(60),
        "m2_instant": ua * (J(60) + J(0)),
        "m2": ua * (J(120) + J(60)),
        "m3": ua * (J(260) + J(200) - J(60)) + ub * J(110),
        "recovered": ua * (J(1000) + J(940) - J(800) - J(600)) + ub * (J(850) - J(600)),
    }
    tol = 16 * EPS * (1 + E0 / E_inf) * 4  # four superposed terms, each at the SLS rounding level
    for m in out:
        assert np.allclose(m.u, hand[m.label], rtol=max(tol, 0), atol=tol * np.abs(ua).max() / E_inf)
        assert np.allclose(m.u, hand[m.label], rtol=1e-6, atol=0)


def test_staircase_apparent_compliance_grows():
    """Equal weights, each measured after the same hold: the apparent compliance grows with the count."""
    p = Prony(1.3, ((1.2, 30.0), (0.8, 300.0)))
    events, hold = [], 60.0
    for n in range(6):
        events += [ProtocolEvent(n * hold, "apply", "w"), ProtocolEvent((n + 1) * hold, "measure", f"{n + 1}")]
    out = protocol_response(p, {"w": np.array([-1.0])}, events)
    per_weight = np.array([-m.u[0] / (k + 1) for k, m in enumerate(out)])
    assert np.all(np.diff(per_weight) > 0)
    assert per_weight[0] == pytest.approx(float(p.creep(hold)), rel=4 * EPS)


def test_elastic_protocol_is_the_elastic_solution():
    events = [ProtocolEvent(0.0, "apply", "a"), ProtocolEvent(5.0, "measure", "m")]
    out = protocol_response(lambda t: np.full_like(np.asarray(t, float), 1 / 0.64), {"a": np.array([2.0])}, events)
    assert out[0].u[0] == 2.0 / 0.64


def test_protocol_checks():
    ok = [ProtocolEvent(0, "apply", "a"), ProtocolEvent(1, "measure", "m")]
    check_protocol(ok, ["a"])
    with pytest.raises(InputError, match="not applied"):
        check_protocol([ProtocolEvent(0, "remove", "a"), *ok], ["a"])
    with pytest.raises(InputError, match="goes back"):
        check_protocol([*ok, ProtocolEvent(0.5, "measure", "m2")], ["a"])
    with pytest.raises(InputError, match="unknown load case"):
        check_protocol(ok, ["b"])
    with pytest.raises(InputError, match="no measure"):
        check_protocol(ok[:1], ["a"])
    assert protocol_delays(ok) == (1, 1)


def test_extrapolation_flag():
    p = Prony(1.0, ((1.0, 1.0),), range_s=(1e-3, 700.0))
    inside = [ProtocolEvent(0, "apply", "a"), ProtocolEvent(60, "measure", "m")]
    assert protocol_extrapolation(p, inside) is None
    long = [*inside, ProtocolEvent(3600, "measure", "m2")]
    msg = protocol_extrapolation(p, long)
    assert msg and "3.6e+03 s is beyond" in msg and "extrapolation" in msg
    instant = [ProtocolEvent(0, "apply", "a"), ProtocolEvent(0, "measure", "m")]
    assert "below" in protocol_extrapolation(p, instant)
    assert protocol_extrapolation(Prony(1.0, ((1.0, 1.0),)), long) is None  # no fitted range recorded


def test_protocol_csv(tmp_path):
    events = [
        ProtocolEvent(0.0, "apply", "w2g"),
        ProtocolEvent(60.0, "measure", "m02g"),
        ProtocolEvent(60.0, "apply", "w2g"),
        ProtocolEvent(120.0, "measure", "m04g"),
    ]
    path = write_protocol(tmp_path / "p.csv", events, comment="two weights")
    assert read_protocol(path, ["w2g"]) == events

    def bad(text: str, needle: str, field: str) -> None:
        f = tmp_path / "bad.csv"
        f.write_text("time_s,event,load_case\n" + text)
        with pytest.raises(InputError, match=needle) as exc:
            read_protocol(f, ["w2g"])
        assert str(f) in str(exc.value) and field in str(exc.value)

    bad("0,apply,w2g\n1,remove,w2g\n2,remove,w2g\n3,measure,m\n", "not applied", "row 4, load_case")
    bad("5,apply,w2g\n1,measure,m\n", "time goes back", "row 3, time_s")
    bad("0,hang,w2g\n1,measure,m\n", "event must be one of", "row 2, event")
    bad("0,apply,w3g\n1,measure,m\n", "unknown load case", "row 2, load_case")
    bad("0,apply,w2g\n", "no measure", "")
    bad("x,apply,w2g\n", "must be a number", "row 2, time_s")
    bad("nan,apply,w2g\n", "must be finite", "row 2, time_s")


# ---------------------------------------------------------------------- records and design files


def test_prony_validation():
    with pytest.raises(InputError, match="prony.E_inf.*> 0"):
        Prony(0.0, ((1.0, 1.0),))
    with pytest.raises(InputError, match=r"prony.terms\[1\]\[0\]"):
        Prony(1.0, ((1.0, 1.0), (-2.0, 3.0)))
    with pytest.raises(InputError, match=r"prony.terms\[0\]\[1\].*finite"):
        Prony(1.0, ((1.0, math.inf),))
    with pytest.raises(InputError, match="repeats"):
        Prony(1.0, ((1.0, 2.0), (1.0, 2.0)))
    p = Prony(1.0, ((1.0, 5.0), (2.0, 0.5)))
    assert p.terms == ((2.0, 0.5), (1.0, 5.0))  # canonical order
    assert p.scaled(2.0).E0 == 2 * p.E0 and p.scaled(2.0).creep(3.0) == pytest.approx(p.creep(3.0) / 2, rel=4 * EPS)


def _paper_dict() -> dict:
    return json.loads(json.dumps(paper_sample().to_dict()))


def test_design_file_with_prony_round_trips(tmp_path):
    d = _paper_dict()
    plain = design_files.design_from_dict(d)
    assert plain.material.prony is None and "prony" not in plain.to_dict()["material"]
    assert plain.hash() == paper_sample().hash()  # elastic designs hash as before
    d["material"]["prony"] = {"E_inf": 1.3, "terms": [[2.0, 10.0], [5.0, 0.1]], "range_s": [1e-3, 700]}
    v = design_files.design_from_dict(d, "v.json")
    assert v.material.E == plain.material.E  # E keeps its meaning
    assert v.material.prony.terms == ((5.0, 0.1), (2.0, 10.0))
    assert v.hash() != plain.hash()
    path = design_files.save_design(v, tmp_path / "v.json")
    back = design_files.load_design(path)
    assert back.material == v.material and back.hash() == v.hash()


@pytest.mark.parametrize(
    ("prony", "field", "needle"),
    [
        ({"E_inf": 1.3}, "material.prony.terms", "missing"),
        ({"E_inf": 1.3, "terms": [[1, 1]], "tau": 3}, "material.prony.tau", "unknown key"),
        ({"E_inf": -1, "terms": [[1, 1]]}, "material.prony.E_inf", "> 0"),
        ({"E_inf": 1, "terms": [[1, 0]]}, r"material.prony.terms\[0\]\[1\]", "> 0"),
        ({"E_inf": 1, "terms": [[1, 2], [3, 2]]}, r"material.prony.terms\[1\]\[1\]", "repeats"),
        ({"E_inf": 1, "terms": [[1]]}, r"material.prony.terms\[0\]", "a term is"),
        ({"E_inf": 1, "terms": []}, "material.prony.terms", "non-empty"),
        ({"E_inf": "1", "terms": [[1, 1]]}, "material.prony.E_inf", "number"),
        ({"E_inf": 1, "terms": [[1, 1]], "range_s": [5, 1]}, "material.prony.range_s", "t_min < t_max"),
        ("no-such-material", "material.prony", "unknown material name"),
        (3, "material.prony", "material name or an object"),
    ],
)
def test_design_file_prony_errors(prony, field, needle):
    d = _paper_dict()
    d["material"]["prony"] = prony
    with pytest.raises(InputError, match=needle) as exc:
        design_files.design_from_dict(d, "bad.json")
    assert str(exc.value).startswith("bad.json: ")
    assert re.search(field, str(exc.value))


def test_parse_prony_direct():
    p = parse_prony({"E_inf": 2, "terms": [[1, 3]], "name": "x"})
    assert p.name == "x" and p.E_inf == 2.0


# ---------------------------------------------------------------------- named materials and fitting


def test_named_agilus30_material():
    from fem_mnn.design.viscoelastic import named_materials, named_prony

    assert {"agilus30-20C", "agilus30-20C-reduced"} <= set(named_materials())
    full, red = named_prony("agilus30-20C"), named_prony("agilus30-20C-reduced")
    assert full.name == "agilus30-20C" and full.range_s[1] == pytest.approx(701.12, rel=1e-4)
    # the glassy plateau of the curve (2.85 GPa) and its last point (1.33 MPa at 2.3e-4 Hz)
    assert full.E0 == pytest.approx(2850, rel=0.02)
    assert full.storage(2 * np.pi * 2.27e-4) == pytest.approx(1.33, rel=0.01)
    # the reduced series keeps E and J on 1 s..1e4 s within the full fit's error against the data (0.18 %)
    t = np.geomspace(1, 1e4, 200)
    assert np.max(np.abs(red.relaxation(t) / full.relaxation(t) - 1)) < 1.8e-3
    assert np.max(np.abs(red.creep(t) / full.creep(t) - 1)) < 1.8e-3
    d = _paper_dict()
    d["material"]["prony"] = "agilus30-20C"
    design = design_files.design_from_dict(d)
    assert design.material.prony == full and design.material.E == 0.55
    assert design.to_dict()["material"]["prony"]["name"] == "agilus30-20C"  # written out in full


def test_fit_recovers_a_series_exactly():
    from fem_mnn.design.prony_fit import SeriesFit, fit_master_curve, log_spaced_taus, reduce_series

    taus = log_spaced_taus(1e-3, 1e2, 2)
    rng = np.random.default_rng(3)
    true = Prony(0.7, tuple(zip(rng.uniform(0.5, 5, taus.size), taus, strict=True)))
    w = np.geomspace(1e-3, 1e4, 120)
    fit = fit_master_curve(w, true.storage(w), true.loss(w), taus)
    assert fit.rms_log < 1e-8
    assert fit.E_inf == pytest.approx(0.7, rel=1e-6)
    assert np.allclose(fit.moduli, true.moduli, rtol=1e-5)
    held = fit_master_curve(w, true.storage(w), true.loss(w), taus, E_inf=0.3)
    assert held.E_inf == 0.3 and held.rms_log > 1e-3  # a wrong E_inf cannot fit
    red = reduce_series(true, taus, np.geomspace(1e-4, 1e3, 200))
    assert red.rms_log < 1e-8
    # the fit's own E'(omega), E''(omega), and from its JSON record, are the series' (the study plots them)
    assert np.allclose(fit.storage(w), true.storage(w), rtol=1e-8) and np.allclose(fit.loss(w), true.loss(w), rtol=1e-8)
    rec = SeriesFit.from_record(
        {"E_inf": fit.E_inf, "terms": [[e, t] for e, t in zip(fit.moduli, fit.taus, strict=True)]}
    )
    assert np.array_equal(rec.storage(w), fit.storage(w)) and np.array_equal(rec.relaxation(w), fit.relaxation(w))


def test_dma_reader_errors(tmp_path):
    from fem_mnn.io.dma import read_master_curve, read_shift_factors

    f = tmp_path / "mc.tsv"
    f.write_text("1.0\t2.0e6\t1.0e6\n# comment\n2.0\t3.0e6\n")
    with pytest.raises(InputError, match="line 3.*expected 3 columns"):
        read_master_curve(f)
    f.write_text("1.0\t2.0e6\t1.0e6\n2.0\tx\t1e6\n")
    with pytest.raises(InputError, match="line 2, storage_pa.*must be a number"):
        read_master_curve(f)
    f.write_text("1.0\t2.0e6\t-1.0e6\n")
    with pytest.raises(InputError, match="must be > 0"):
        read_master_curve(f)
    f.write_text("1.0\t2.0e6\t1.0e6\n")
    mc = read_master_curve(f)
    assert mc.omega[0] == 2 * np.pi and mc.storage[0] == 2.0 and mc.loss[0] == 1.0
    s = tmp_path / "sf.tsv"
    s.write_text("25\t0.1\n15\t10\n20\t1\n")
    sf = read_shift_factors(s)
    assert sf.temperature_c.tolist() == [15, 20, 25]
    assert sf.temperature_for(0.5) == pytest.approx(17.5) and sf.log_shift(22.5) == pytest.approx(-0.5)
