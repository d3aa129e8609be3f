"""``fem-mnn identify``: what was printed, from synthetic measurements made by the model itself.

* the spring Jacobian dU/dw is exact (Taylor remainders fall as h^2);
* noise-free spring data, no prior: the hidden widths come back to 1e-6 mm; an E-only fit is exact;
* noisy data (12 single-node 10 g cases, both components of every free node, 0.005 mm, widths
  within +-0.35 mm of the design's, prior sd 0.3 mm): mean squared z-score in [0.3, 3], RMS error
  <= 0.05 mm on the bonds with reported sd <= 0.05 mm;
* the reported covariance against the scatter of many noisy identifications (no prior: the
  estimator's covariance is then the reported one);
* refusals: one line, exit 2, nothing written;
* --plan: greedy D-optimal choices against brute force on a tiny lattice;
* FE: the output Jacobian against central differences on morphed meshes, and recovery of
  hidden widths from noise-free FE data.
"""

from __future__ import annotations

import itertools
import json
import math
from pathlib import Path

import numpy as np
import pytest
from conftest import need_dolfinx, run_cli
from scipy import stats

from fem_mnn.core.errors import InputError
from fem_mnn.design import Design, paper_sample, save_design, triangular_strip
from fem_mnn.fidelity.identify import identify, observations, plan, spring_response
from fem_mnn.io import measured as ms

G10 = 10 * 9.8e-3  # N: 10 g
NOISE = 0.005  # mm


def _free(d: Design) -> list[int]:
    return [n for n in range(d.n_nodes) if n not in d.fixed]


def _down_cases(d: Design) -> tuple[list[str], np.ndarray]:
    """One 10 g load hung at each free node: the issue's 12 single-node cases for the paper sample."""
    free = _free(d)
    F = np.zeros((len(free), d.n_nodes, 2))
    for c, n in enumerate(free):
        F[c, n, 1] = -G10
    return [f"n{n}" for n in free], F


def _records(d: Design, U: np.ndarray, labels: list[str], noise: float, rng: np.random.Generator) -> list:
    """Displacement records of both components of every free node (U from the model), plus noise."""
    free = _free(d)
    return [
        ms.Displacement(
            lab,
            n,
            U[c, 2 * i] + noise * rng.standard_normal(),
            U[c, 2 * i + 1] + noise * rng.standard_normal(),
            math.nan,
            math.nan,
        )
        for c, lab in enumerate(labels)
        for i, n in enumerate(free)
    ]


def _all_dofs(d: Design) -> np.ndarray:
    return np.array([(n, k) for n in _free(d) for k in (0, 1)], dtype=np.int64)


def _hidden(d: Design, seed: int) -> np.ndarray:
    return d.widths + np.random.default_rng(seed).uniform(-0.35, 0.35, d.n_bonds)


# --------------------------------------------------------------------------- spring numerics


def test_spring_jacobian_taylor():
    d = triangular_strip(4, 2, width=np.linspace(1.6, 2.4, 13))
    rng = np.random.default_rng(0)
    labels, F = _down_cases(d)
    dofs = _all_dofs(d)
    resp = spring_response(d)
    U0, dU = resp(d.widths, F, dofs, True)
    dw = rng.normal(size=d.n_bonds)
    slope = np.einsum("cdb,b->cd", dU, dw)
    hs = 0.02 * 0.5 ** np.arange(5)
    rem = np.array([np.abs(resp(d.widths + h * dw, F, dofs, False)[0] - U0 - h * slope).max() for h in hs])
    rates = np.log2(rem[:-1] / rem[1:])
    print("Taylor remainders", rem, "rates", rates)
    assert np.all(np.abs(rates - 2) < 0.1)


def test_noise_free_springs_recover_hidden_widths_without_prior():
    d = paper_sample()
    labels, F = _down_cases(d)
    w_true = _hidden(d, 1)
    U, _ = spring_response(d)(w_true, F, _all_dofs(d), False)
    obs = observations(d, _records(d, U, labels, 0.0, np.random.default_rng(0)), labels, NOISE, "synthetic")
    res = identify(d, obs, F, spring_response(d), ["widths"], None)
    err = np.abs(res.widths_eff - w_true).max()
    print(f"noise-free spring recovery: max width error {err:.2e} mm in {res.iterations} iterations")
    assert res.converged
    assert err < 1e-6


def test_e_only_fit_is_exact():
    d = paper_sample(2.1)
    labels, F = _down_cases(d)
    E_true = 0.7
    U, _ = spring_response(d)(d.widths, F, _all_dofs(d), False)
    U = U * d.material.E / E_true  # displacements scale with 1/E exactly
    obs = observations(d, _records(d, U, labels, 0.0, np.random.default_rng(0)), labels, NOISE, "synthetic")
    res = identify(d, obs, F, spring_response(d), ["E"], 0.3)
    E, E_sd = res.value("E")[0] * d.material.E, res.sd("E")[0] * d.material.E
    print(f"E-only: {E!r} vs {E_true} (sd {E_sd:.2e})")
    # the iteration stops when its last step is below 1e-6 sd; Gauss-Newton converges quadratically beyond
    assert abs(E - E_true) <= 1e-6 * E_sd
    assert res.chi2 < 1e-12 * obs.n


def test_noisy_springs_within_reported_uncertainty():
    d = paper_sample()
    labels, F = _down_cases(d)
    z2, rms, n_det = [], [], []
    for seed in range(5):
        w_true = _hidden(d, 100 + seed)
        U, _ = spring_response(d)(w_true, F, _all_dofs(d), False)
        obs = observations(d, _records(d, U, labels, NOISE, np.random.default_rng(seed)), labels, NOISE, "synthetic")
        res = identify(d, obs, F, spring_response(d), ["widths"], 0.3)
        sd = res.sd("widths")
        err = res.widths_eff - w_true
        det = sd <= 0.05
        z2.append(np.mean((err / sd) ** 2))
        rms.append(math.sqrt(np.mean(err[det] ** 2)))
        n_det.append(int(det.sum()))
        assert res.converged
    print("mean squared z", np.round(z2, 3), "RMS error on determined bonds (mm)", np.round(rms, 4), "n", n_det)
    assert all(0.3 <= z <= 3 for z in z2)
    assert all(r <= 0.05 for r in rms)


def test_covariance_matches_scatter_of_repeated_identifications():
    """Without a prior the estimator's covariance is (J^T J)^-1, the reported one: check it on 300 seeds."""
    d = paper_sample()
    labels, F = _down_cases(d)
    w_true = _hidden(d, 7)
    resp = spring_response(d)
    U, _ = resp(w_true, F, _all_dofs(d), False)
    n = 300
    est, covs = [], []
    for seed in range(n):
        obs = observations(d, _records(d, U, labels, NOISE, np.random.default_rng(seed)), labels, NOISE, "synthetic")
        res = identify(d, obs, F, resp, ["widths"], None)
        est.append(res.widths_eff)
        covs.append(res.cov)
    err = np.array(est) - w_true
    C = np.mean(covs, axis=0)
    # per bond: (n - 1) s^2 / sigma^2 ~ chi2(n - 1) (the mean is known: use n and the truth)
    ratio = np.sum(err**2, axis=0) / np.diag(C)
    lo, hi = stats.chi2.ppf([1e-4 / d.n_bonds, 1 - 1e-4 / d.n_bonds], n)  # two-sided 1e-4 overall (Bonferroni)
    print("scatter / reported variance per bond:", np.round(ratio / n, 3))
    assert np.all((ratio >= lo) & (ratio <= hi))
    # the whole matrix: the Mahalanobis distance of the error has mean p and sd sqrt(2p) per seed
    m = np.einsum("sb,bc,sc->s", err, np.linalg.inv(C), err)
    p = d.n_bonds
    print(f"mean Mahalanobis distance {m.mean():.2f} (expected {p}, sd of the mean {math.sqrt(2 * p / n):.2f})")
    assert abs(m.mean() - p) <= 4 * math.sqrt(2 * p / n)


def test_e_and_width_offset_degenerate_for_uniform_springs():
    """k = E t (w + delta) / L with uniform widths: E and a common offset are one parameter; the output says so."""
    d = paper_sample()
    labels, F = _down_cases(d)
    U, _ = spring_response(d)(d.widths + 0.1, F, _all_dofs(d), False)
    obs = observations(d, _records(d, U, labels, 0.0, np.random.default_rng(0)), labels, NOISE, "synthetic")
    res = identify(d, obs, F, spring_response(d), ["E", "width-offset"], None)
    corr = res.correlation()[0, 1]
    S = res.singular_values
    print("E, offset correlation", corr, "singular values", S)
    assert S[-1] / S[0] < 1e-6
    assert not np.isfinite(corr) or abs(corr) > 0.999


# --------------------------------------------------------------------------- command line


def _write_case(tmp_path: Path, d: Design, w_true: np.ndarray, noise: float, seed: int = 0) -> tuple[Path, Path, Path]:
    labels, F = _down_cases(d)
    U, _ = spring_response(d)(w_true, F, _all_dofs(d), False)
    design_file = save_design(d, tmp_path / "design.json")
    loads = [ms.Load(lab, n, 0.0, -G10) for lab, n in zip(labels, _free(d), strict=True)]
    loads_file = ms.write_loads(tmp_path / "loads.csv", loads)
    meas = ms.write_displacements(tmp_path / "measured.csv", _records(d, U, labels, noise, np.random.default_rng(seed)))
    return design_file, loads_file, meas


def test_cli_writes_every_output(tmp_path):
    d = paper_sample()
    w_true = _hidden(d, 3)
    design_file, loads_file, meas = _write_case(tmp_path, d, w_true, NOISE)
    out = tmp_path / "out"
    r = run_cli(
        "identify", design_file, "--measured", meas, "--loads", loads_file, "--fit", "E,widths",
        "--noise-sd", NOISE, "--out", out,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr[-2000:]
    data = json.loads((out / "identified.json").read_text())
    for key in ("E", "E_sd", "widths", "widths_sd", "correlation", "chi2", "dof", "chi2_per_dof", "singular_values"):
        assert key in data
    assert "width_offset" not in data and "thin_end_offset" not in data
    p = 1 + d.n_bonds
    assert np.array(data["correlation"], dtype=float).shape == (p, p)
    assert data["dof"] == 2 * 12 * 12 + d.n_bonds - p
    assert len(data["residuals"]) == 2 * 12 * 12
    assert len(data["singular_values"]) == p
    assert data["least_determined"]["combination"]
    assert 0.5 < data["chi2_per_dof"] < 1.5  # chi2 on 285 dof: sd of chi2/dof 0.08
    ident = json.loads((out / "design_identified.json").read_text())
    assert np.allclose(ident["widths"], data["widths_identified"])
    assert ident["material"]["E"] == pytest.approx(data["E"])
    assert (out / "identified_widths.png").stat().st_size > 10_000


def test_cli_flags_thin_ends_below_min_feature(tmp_path):
    d = paper_sample()
    w_true = d.widths.copy()
    w_true[5] = 0.8  # thin end 0.4 mm < min_feature 0.5 mm
    design_file, loads_file, meas = _write_case(tmp_path, d, w_true, 0.0)
    out = tmp_path / "out"
    r = run_cli(
        "identify", design_file, "--measured", meas, "--loads", loads_file, "--fit", "widths",
        "--noise-sd", NOISE, "--prior-width-sd", "none", "--out", out,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr[-2000:]
    data = json.loads((out / "identified.json").read_text())
    assert data["widths_identified"][5] == pytest.approx(0.8, abs=1e-6)  # not clipped
    assert any("bond 5: identified thin end" in f for f in data["findings"])
    assert "below min_feature" in r.stderr


@pytest.mark.parametrize(
    "edit, extra, message",
    [
        ("unknown-node", (), "unknown node id"),
        ("fixed-node", (), "measurement at a fixed node"),
        ("unknown-case", (), "load case not in the loads file"),
        ("none", ("--prior-width-sd", "none", "--fit", "E,widths"), "parameters but only"),
        ("none", ("--fit", "thin-end-offset"), "thin-end-offset"),
        ("none", ("--fit", "widths,foo"), "unknown parameter"),
    ],
)
def test_refusals_are_one_line_and_write_nothing(tmp_path, edit, extra, message):
    d = paper_sample()
    design_file, loads_file, meas = _write_case(tmp_path, d, d.widths, NOISE)
    head = "load_case,node,ux,uy,spread_ux,spread_uy\n"
    if edit == "unknown-node":
        meas.write_text(head + "n12,14,0.1,0.1,,\n")
    elif edit == "fixed-node":
        meas.write_text(head + "n12,4,0.1,0.1,,\n")
    elif edit == "unknown-case":
        meas.write_text(head + "heavy,12,0.1,0.1,,\n")
    elif extra[:2] == ("--prior-width-sd", "none"):
        meas.write_text(head + "n12,12,0.1,0.1,,\n")  # 2 numbers, 29 parameters
    fit = () if "--fit" in extra else ("--fit", "widths")
    out = tmp_path / "out"
    r = run_cli(
        "identify", design_file, "--measured", meas, "--loads", loads_file, "--noise-sd", NOISE, "--out", out,
        *fit, *extra,
    )  # fmt: skip
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], r.stderr
    assert not out.exists()


def test_observations_refuse_missing_sd():
    d = paper_sample()
    rec = [ms.Displacement("a", 12, 0.1, math.nan, math.nan, math.nan)]
    with pytest.raises(InputError, match="no spread for ux and no --noise-sd"):
        observations(d, rec, ["a"], None, "m.csv")
    obs = observations(d, [ms.Displacement("a", 12, 0.1, math.nan, 0.02, math.nan)], ["a"], None, "m.csv")
    assert obs.n == 1 and obs.sd[0] == 0.02 and obs.sd_source == ("spread",)


# --------------------------------------------------------------------------- plan


def _plan_problem():
    d = triangular_strip(3, 2, width=np.linspace(1.7, 2.3, 9))
    free = _free(d)
    cand = []
    for n in free:
        for v in ((0.0, -G10), (G10, 0.0)):
            F = np.zeros((d.n_nodes, 2))
            F[n] = v
            cand.append(F)
    return d, np.stack(cand), _all_dofs(d)


def test_plan_matches_brute_force_on_a_tiny_lattice():
    d, cand, dofs = _plan_problem()
    k = 3
    pl = plan(d, cand, dofs, spring_response(d), ["widths"], NOISE, 0.3, k)
    # brute force over every k-subset, the same information matrices
    _, dU = spring_response(d)(d.widths, cand, dofs, True)
    Js = dU / NOISE
    info = np.einsum("cdp,cdq->cpq", Js, Js)
    P = np.eye(d.n_bonds) / 0.3**2
    ld0 = np.linalg.slogdet(P)[1]
    singles = [np.linalg.slogdet(P + info[c])[1] for c in range(len(cand))]
    best_k = max(np.linalg.slogdet(P + info[list(s)].sum(0))[1] for s in itertools.combinations(range(len(cand)), k))
    print("greedy", pl.chosen, pl.logdet, "best single", int(np.argmax(singles)), "best", k, best_k)
    assert pl.chosen[0] == int(np.argmax(singles))
    assert pl.logdet[1] == pytest.approx(max(singles), rel=1e-12)
    assert np.all(np.diff(pl.logdet) > 0)  # every added case shrinks the posterior volume
    # log det gain is monotone submodular: greedy achieves at least (1 - 1/e) of the best gain
    assert pl.logdet[-1] - ld0 >= (1 - 1 / math.e) * (best_k - ld0)
    assert pl.logdet[-1] <= best_k + 1e-9
    # and the reported width sd shrink step by step
    med = [np.median(s) for s in pl.width_sd]
    assert np.all(np.diff(med) < 0)


def test_plan_cli_writes_loads_and_bench_table(tmp_path):
    d = paper_sample()
    design_file = save_design(d, tmp_path / "design.json")
    out = tmp_path / "plan"
    r = run_cli("identify", design_file, "--plan", "4", "--fit", "widths", "--noise-sd", NOISE, "--out", out)
    assert r.returncode == 0, r.stderr[-2000:]
    loads = ms.read_loads(out / "plan_loads.csv")
    assert len(loads) == 4 and all(abs(math.hypot(ld.fx, ld.fy) - G10) < 1e-12 for ld in loads)
    assert "hang 10 g at node" in r.stdout and "photograph nodes" in r.stdout
    data = json.loads((out / "plan.json").read_text())
    assert [s["median_width_sd"] for s in data["steps"]] == sorted(
        [s["median_width_sd"] for s in data["steps"]], reverse=True
    )
    r = run_cli("identify", design_file, "--plan", "4", "--fit", "widths", "--out", tmp_path / "p2")
    assert r.returncode == 2 and "--noise-sd" in r.stderr


# --------------------------------------------------------------------------- FE


@pytest.fixture(scope="module")
def fe_strip():
    need_dolfinx()
    from mpi4py import MPI

    from fem_mnn.fem.linear import FemOptions
    from fem_mnn.fem.morph import MorphingFemModel
    from fem_mnn.geometry.build import MeshOptions

    d = triangular_strip(4, 2, width=np.linspace(1.7, 2.3, 13))
    # a coarse fixed element size: seconds per solve, and one size for every width visited
    model = MorphingFemModel(d, FemOptions(mesh=MeshOptions(elements_across=2, size=0.5)), comm=MPI.COMM_WORLD)
    return d, model


def test_fe_output_jacobian_against_central_differences(fe_strip):
    from fem_mnn.fem.shape import output_jacobian

    d, model = fe_strip
    labels, F = _down_cases(d)
    F = F[[0, 3, 5]]
    dofs = _all_dofs(d)
    w0 = d.widths.copy()
    U, dU = output_jacobian(model.operator(w0), F, dofs)
    # central differences on morphed meshes (the same discrete model): truncation O(h^2)
    fd = {}
    for h in (2e-3, 1e-3):
        cols = []
        for i in range(d.n_bonds):
            e = np.zeros(d.n_bonds)
            e[i] = h
            up = output_jacobian(model.operator(w0 + e), F, dofs, False)[0]
            um = output_jacobian(model.operator(w0 - e), F, dofs, False)[0]
            cols.append((up - um) / (2 * h))
        fd[h] = np.stack(cols, axis=-1)
    scale = np.abs(dU).max()
    err = {h: np.abs(v - dU).max() / scale for h, v in fd.items()}
    rich = np.abs((4 * fd[1e-3] - fd[2e-3]) / 3 - dU).max() / scale
    print(f"FE output Jacobian vs central differences: {err}, Richardson {rich:.2e}")
    # the error of the differences falls as h^2 (ratio 4 when h halves) and Richardson removes it
    assert 3.5 < err[2e-3] / err[1e-3] < 4.5
    assert rich < 0.1 * err[1e-3]
    assert model.n_remeshes == 0


def test_fe_noise_free_recovery(fe_strip):
    from fem_mnn.fem.shape import output_response

    d, model = fe_strip
    labels, F = _down_cases(d)
    resp = output_response(model)
    w_true = _hidden(d, 11)
    U, _ = resp(w_true, F, _all_dofs(d), False)
    obs = observations(d, _records(d, U, labels, 0.0, np.random.default_rng(0)), labels, NOISE, "synthetic")
    res = identify(d, obs, F, resp, ["widths"], None)
    err = np.abs(res.widths_eff - w_true).max()
    print(f"noise-free FE recovery (morphed mesh): max width error {err:.2e} mm, {res.iterations} iterations")
    assert res.converged
    assert err < 1e-3


def test_fe_noisy_recovery_within_reported_uncertainty(fe_strip):
    from fem_mnn.fem.shape import output_response

    d, model = fe_strip
    labels, F = _down_cases(d)
    resp = output_response(model)
    z2 = []
    for seed in (21, 22):
        w_true = _hidden(d, seed)
        U, _ = resp(w_true, F, _all_dofs(d), False)
        obs = observations(d, _records(d, U, labels, NOISE, np.random.default_rng(seed)), labels, NOISE, "synthetic")
        res = identify(d, obs, F, resp, ["widths"], 0.3)
        sd = res.sd("widths")
        err = res.widths_eff - w_true
        det = sd <= 0.05
        z2.append(np.mean((err / sd) ** 2))
        print(
            f"FE noisy: mean z^2 {z2[-1]:.3f}, RMS error {np.sqrt(np.mean(err[det] ** 2)):.4f} mm on {det.sum()} bonds"
        )
        assert res.converged
        assert np.sqrt(np.mean(err[det] ** 2)) <= 0.05
    assert 0.3 <= np.mean(z2) <= 3


def test_fe_cli_on_data_made_by_predict(tmp_path):
    """The whole path: predict --model fem at hidden widths (a fresh mesh), noise, identify --model fem."""
    need_dolfinx()
    d = triangular_strip(4, 2, width=np.linspace(1.7, 2.3, 13))
    w_true = np.clip(_hidden(d, 31), 1.5, 2.5)  # a design file must be printable
    hidden = save_design(d.with_widths(w_true), tmp_path / "hidden.json")
    design_file = save_design(d, tmp_path / "design.json")
    labels, F = _down_cases(d)
    loads = [ms.Load(lab, n, 0.0, -G10) for lab, n in zip(labels, _free(d), strict=True)]
    loads_file = ms.write_loads(tmp_path / "loads.csv", loads)
    coarse = ("--elements-across", "2")
    r = run_cli("predict", hidden, "--loads", loads_file, "--model", "fem", "--out", tmp_path / "p.json", *coarse)
    assert r.returncode == 0, r.stderr[-2000:]
    rng = np.random.default_rng(4)
    recs = [
        ms.Displacement(p.load_case, p.node, p.ux + NOISE * rng.standard_normal(), p.uy + NOISE * rng.standard_normal(),
                        math.nan, math.nan)
        for p in ms.read_displacements(tmp_path / "p.csv")
        if p.node not in d.fixed
    ]  # fmt: skip
    meas = ms.write_displacements(tmp_path / "measured.csv", recs)
    out = tmp_path / "out"
    r = run_cli(
        "identify", design_file, "--measured", meas, "--loads", loads_file, "--fit", "widths", "--model", "fem",
        "--noise-sd", NOISE, "--out", out, *coarse,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr[-2000:]
    data = json.loads((out / "identified.json").read_text())
    sd = np.array(data["widths_sd"])
    err = np.array(data["widths_identified"]) - w_true
    print(f"FE CLI: mean z^2 {np.mean((err / sd) ** 2):.3f}, chi2/dof {data['chi2_per_dof']:.3f}, {data['fem']}")
    assert data["model"] == "fem" and data["fem"]["n_remeshes"] == 0
    assert 0.3 <= np.mean((err / sd) ** 2) <= 3


def test_protocol_e_factor_scales_the_prony_series(tmp_path):
    """Data made by predict along a protocol with the whole series x 1.3: an E fit finds the factor 1.3."""
    import dataclasses

    from fem_mnn.design.records import Material
    from fem_mnn.design.viscoelastic import Prony

    d = paper_sample()
    prony = Prony(0.4, ((0.5, 30.0),))
    base = dataclasses.replace(d, material=Material(E=0.55, nu=d.material.nu, prony=prony))
    stiff = dataclasses.replace(
        d, material=Material(E=0.55 * 1.3, nu=d.material.nu, prony=Prony(0.4 * 1.3, ((0.5 * 1.3, 30.0),)))
    )
    design_file = save_design(base, tmp_path / "design.json")
    stiff_file = save_design(stiff, tmp_path / "stiff.json")
    loads_file = tmp_path / "loads.csv"
    loads_file.write_text("load_case,node,fx,fy\nw10,12,0,-0.098\n")
    protocol = tmp_path / "protocol.csv"
    protocol.write_text(
        "time_s,event,load_case\n0,apply,w10\n10,measure,one\n60,apply,w10\n70,measure,two\n300,measure,late\n"
    )
    r = run_cli("predict", stiff_file, "--loads", loads_file, "--protocol", protocol, "--out", tmp_path / "p.json")
    assert r.returncode == 0, r.stderr[-2000:]
    recs = [p for p in ms.read_displacements(tmp_path / "p.csv") if p.node not in d.fixed]
    meas = ms.write_displacements(tmp_path / "measured.csv", recs)
    out = tmp_path / "out"
    r = run_cli(
        "identify", design_file, "--measured", meas, "--loads", loads_file, "--protocol", protocol, "--fit", "E",
        "--noise-sd", NOISE, "--out", out,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr[-2000:]
    data = json.loads((out / "identified.json").read_text())
    print("E factor", data["E_factor"], "sd", data["E_factor_sd"], data["modulus"])
    assert abs(data["E_factor"] - 1.3) <= 1e-6 * data["E_factor_sd"]
    ident = json.loads((out / "design_identified.json").read_text())
    assert ident["material"]["prony"]["E_inf"] == pytest.approx(0.4 * data["E_factor"], rel=1e-14)
