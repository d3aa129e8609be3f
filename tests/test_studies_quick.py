"""The studies' headline numbers, asserted on ``compute`` (as scikit-fem's examples do), and their command line.

Each study is ``compute(quick, data_dir) -> dict`` (numbers only) plus ``render(results, out)``;
``headline(results)`` picks the numbers asserted here. Tolerances are stated beside each
assert: the paper's published precision where we compare with the paper, a convergence
tolerance where an optimiser's converged result is compared, and a few units of the last
printed digit for numbers of our own (deterministic given the code).
Quick computes take about 1-20 s each (spring studies, spring_vs_fem, vs_experiment, geometry_refinement);
FE studies are marked ``fem``, and those over ~15 s (insitu_vs_exact ~30 s, linear_regime ~2 min) ``slow``.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from _studies import committed_quick, quick_results, study

ROOT = Path(__file__).resolve().parents[1]
_HAS_DOLFINX = importlib.util.find_spec("dolfinx") is not None


# ----------------------------------------------------------------------------- Figure 1


def test_fig1_adjoint_of_5_grams_reproduces_grad_sim(shared_data: Path):
    r = quick_results("fig1_gradient", shared_data)
    h = study("fig1_gradient").headline(r)
    # forward case: u_y of paper node 14 under 10 g at node 13 (our number, to 1e-9 mm)
    assert h["u_y14_mm"] == pytest.approx(-0.805212121212, abs=1e-9)
    # the exact adjoint -dL/du is 4.94 g (1e-4 g) and does NOT reproduce grad_sim (>1 % of the largest value)...
    assert h["exact_adjoint_grams"] == pytest.approx(4.93771, abs=1e-4)
    exact = r["grad_sim_comparison"]["exact adjoint -dL/du"]
    assert exact["max_dev_rel_to_largest"] > 1e-2
    # ...an adjoint of 5 g does, to the published 3-digit rounding (README: 6e-4 of the largest value)
    assert h["max_dev_rel_to_largest_5g"] < 6e-4
    # and the least-squares adjoint is 5 g within that rounding (0.1 % = 0.005 g)
    assert h["best_fit_adjoint_grams"] == pytest.approx(5.0, abs=5e-3)
    # finite differences agree with the in situ gradient to ~1e-9 at their best step (round-off/truncation)
    assert h["fd_best_central_error"] < 1e-8


# ----------------------------------------------------------------------------- Figure 2


def test_fig2_outputs_are_the_papers(shared_data: Path):
    r = quick_results("fig2_behaviour", shared_data)
    h = study("fig2_behaviour").headline(r)
    paper_u2 = (-0.6253, -0.4800)  # mm, 4 decimals in the paper: compare to half a unit, 5e-5 mm
    # the bounded optimum (L-BFGS-B over widths in 1.5-2.5 mm, same in quick and full mode)
    assert h["optimum_node13_mm"] == pytest.approx(paper_u2[0], abs=5e-5)
    assert h["optimum_node14_mm"] == pytest.approx(paper_u2[1], abs=5e-5)
    # our converged value (full runs give -0.625333 / -0.479973): L-BFGS-B converged to 1e-6 mm
    assert h["optimum_node13_mm"] == pytest.approx(-0.625333, abs=1e-6)
    assert h["optimum_node14_mm"] == pytest.approx(-0.479973, abs=1e-6)
    # the authors' recipe, capped at 300 iterations in quick mode, is already there to the paper's precision
    assert h["u2_node13_mm"] == pytest.approx(paper_u2[0], abs=5e-5)
    assert h["u2_node14_mm"] == pytest.approx(paper_u2[1], abs=5e-5)
    # uniform 2 mm network: the paper's u1 = -0.524292929 mm (9 decimals published)
    assert h["uniform_node13_mm"] == pytest.approx(-0.524292929, abs=1e-9)
    # the MSE script's targets are out of reach: floor 14.46 % (converged optimiser, 1e-4 absolute)
    assert h["mse_script_floor_rel_error"] == pytest.approx(0.14463, abs=1e-4)


@pytest.mark.slow
def test_fig2_full_run_stops_where_the_paper_does(shared_data: Path):
    """Full mode: the authors' stopping rule ends after 334 iterations at -0.625333 / -0.479973 mm (1e-6 mm)."""
    h = study("fig2_behaviour").headline(study("fig2_behaviour").compute(False, shared_data))
    assert h["u2_iterations"] == 334
    assert h["u2_node13_mm"] == pytest.approx(-0.625333, abs=1e-6)
    assert h["u2_node14_mm"] == pytest.approx(-0.479973, abs=1e-6)


# ----------------------------------------------------------------------------- Figure 3


def test_fig3_floor_of_the_printable_range(shared_data: Path):
    r = quick_results("fig3_regression", shared_data)
    h = study("fig3_regression").headline(r)
    # the floor (best relative error any widths in 1.5-2.5 mm give) is an optimum: 13.95 % in quick AND full
    # mode (2 vs 6 L-BFGS-B starts find the same minimum), to 1e-5 absolute (0.001 percentage point)
    assert h["floor_rel_error_nominal"] == pytest.approx(0.139530, abs=1e-5)
    assert h["floor_rel_error_thin_end"] == pytest.approx(0.024994, abs=1e-5)
    # training (300 epochs in quick mode) ends just above it: 14.04 % (full, 5000 epochs: 13.95 %)
    assert h["clean_nominal_paper_train_rel_error"] == pytest.approx(0.14040, abs=5e-5)
    assert h["clean_nominal_paper_train_rel_error"] > h["floor_rel_error_nominal"]
    # what reaching the paper's loss would need: bonds softer by 1.292 (brentq, xtol 2e-2 quick / 1e-3 full)
    assert h["softening_needed"] == pytest.approx(1.292, abs=2e-2)
    # the printed sample's measured outputs miss the targets (mean relative error, data only: 1e-9)
    assert h["measured_mean_rel_error"] == pytest.approx(r["measured"]["mean_rel_error"], abs=0)
    assert 0.05 < h["measured_mean_rel_error"] < 0.5


# ----------------------------------------------------------------------------- Figures 4 and 5


def test_fig4_quick_runs(shared_data: Path):
    r = quick_results("fig4_iris", shared_data)
    h = study("fig4_iris").headline(r)
    assert r["splits"] == [0, 1] and r["epochs"] == 8
    # the converged optimum of the paper's linear loss classifies 90.48 % of the training flowers on splits 0-1
    # (95/105 on both; a count, so exact up to float rounding)
    assert h["optimum_linear_train_mean"] == pytest.approx(95 / 105, abs=1e-12)
    for k, v in h.items():
        assert 0.0 <= v <= 1.0, k


def test_fig5_quick_runs(shared_data: Path):
    r = quick_results("fig5_retraining", shared_data)
    assert r["damage"]["floppy_single_cuts"] == study("fig5_retraining")._single_cuts()[1]
    assert len(r["damage"]["rigid_single_cuts"]) + len(r["damage"]["floppy_single_cuts"]) == 28
    assert set(r["task_switching"]) == {"faithful", "clip+softmax"}


# ----------------------------------------------------------------------------- FE mesh convergence


@pytest.mark.fem
def test_fem_convergence_orders():
    pytest.importorskip("fem_mnn.fem.linear", reason="DOLFINx is not installed")
    r = quick_results("fem_convergence", None)
    h = study("fem_convergence").headline(r)
    # observed orders in h of the bond elongations and of dL/dtheta between refinements 1 and 2 (P1) and
    # 0.5 and 1 (P2), against the P2 r2 reference. Deterministic for a given gmsh; the tolerance (0.05)
    # covers mesh differences between gmsh versions, not a change of behaviour. P1 converges at about first
    # order, P2 faster (about 1.7: the re-entrant corners of the junctions limit it below 2).
    assert h["P1_elong_order"] == pytest.approx(1.113, abs=0.05)
    assert h["P1_grad_theta_order"] == pytest.approx(1.194, abs=0.05)
    assert h["P2_elong_order"] == pytest.approx(1.672, abs=0.05)
    assert h["P2_grad_theta_order"] == pytest.approx(1.809, abs=0.05)
    assert h["P2_elong_order"] > h["P1_elong_order"] + 0.4


# ----------------------------------------------------------------------------- fidelity studies (FE)
# Our numbers on the P2 default mesh of the paper's sample: deterministic for a given gmsh (a re-run gives the
# same digits). The relative tolerance 1e-3 covers mesh differences between gmsh versions, not a change of
# behaviour (a changed model moves these numbers in the 2nd digit).
FE_RTOL = 1e-3


@pytest.mark.fem
def test_spring_vs_fem_errors():
    pytest.importorskip("fem_mnn.fem.linear", reason="DOLFINx is not installed")
    h = study("spring_vs_fem").headline(quick_results("spring_vs_fem", None))
    # elongation errors against FEM on the paper sample (two load cases): nominal spring 15 %, calibrated 6 %
    assert h["paper_spring_elong_rel_l2"] == pytest.approx(0.154312, rel=FE_RTOL)
    assert h["paper_spring-cal_elong_rel_l2"] == pytest.approx(0.0608057, rel=FE_RTOL)
    assert h["paper_frame_elong_rel_l2"] == pytest.approx(0.242102, rel=FE_RTOL)
    assert h["paper_frame-cal_elong_rel_l2"] == pytest.approx(0.0617906, rel=FE_RTOL)
    # the nominal spring model is too stiff: FEM displacements are 1.149 x the spring's; frame-cal 1.007 x
    assert h["paper_spring_u_best_scale"] == pytest.approx(1.14904, rel=FE_RTOL)
    assert h["paper_frame-cal_u_best_scale"] == pytest.approx(1.00730, rel=FE_RTOL)
    # node-centre vs junction-average FEM elongations differ by 0.19 % (a tenth of a percent either way)
    assert h["paper_fem_centre_vs_average_elong"] == pytest.approx(0.00186564, rel=FE_RTOL)


@pytest.mark.fem
def test_vs_experiment_errors(shared_data: Path):
    pytest.importorskip("fem_mnn.fem.linear", reason="DOLFINx is not installed")
    h = study("vs_experiment").headline(quick_results("vs_experiment", shared_data))
    # the one material fit: E = 0.6403 MPa from the FEM and the Figure 2 uniform network (0.5523 for the spring)
    assert h["E_fit_fem_MPa"] == pytest.approx(0.640252, rel=FE_RTOL)
    assert h["E_fit_spring_MPa"] == pytest.approx(0.552321, rel=FE_RTOL)
    # Figure 1 relative RMS errors at that E: frame 12 %, FEM 17 %, spring 23 %; the published spreads are 25 %
    assert h["fig1_frame_rel_rms"] == pytest.approx(0.120888, rel=FE_RTOL)
    assert h["fig1_fem_rel_rms"] == pytest.approx(0.172356, rel=FE_RTOL)
    assert h["fig1_spring_rel_rms"] == pytest.approx(0.233709, rel=FE_RTOL)
    assert h["fig1_fem_best_scale"] == pytest.approx(0.982554, rel=FE_RTOL)
    # data only (the measurements and their published spreads): exact up to the digits written here
    assert h["fig1_noise_floor"] == pytest.approx(0.251738, rel=1e-5)
    assert h["fig3_measured_slope u_y id 12"] == pytest.approx(-18.34636, rel=1e-6)
    assert h["fig3_measured_slope u_y id 13"] == pytest.approx(-18.50644, rel=1e-6)
    # the fit leaves 0.18 % on the two outputs it was made on (a consistency check, 1e-4 absolute)
    assert h["fig2_fem_rel_rms"] == pytest.approx(0.0017961, abs=1e-4)


@pytest.mark.fem
@pytest.mark.slow
def test_insitu_vs_exact_against_the_shape_gradient():
    """Quick mode takes about 30 s (remeshed FD on 7 bonds: 14 meshes)."""
    pytest.importorskip("fem_mnn.fem.shape", reason="DOLFINx is not installed")
    r = quick_results("insitu_vs_exact", None)
    h = study("insitu_vs_exact").headline(r)
    assert r["reference"].startswith("shape derivative")
    assert h["paper_loss_mm2"] == pytest.approx(289.936, rel=FE_RTOL)
    assert h["paper_max_abs_exact_N"] == pytest.approx(2.52809, rel=FE_RTOL)
    # against the exact gradient (all 28 bonds): the in situ (nominal) estimate points the right way
    # (cosine 0.9955) but is 34 % off in size; the calibrated law brings it to 9.4 %, beam-aware to 8.4 %
    assert h["nominal_cosine"] == pytest.approx(0.995545, abs=1e-4)
    assert h["nominal_rel_l2"] == pytest.approx(0.342334, rel=FE_RTOL)
    assert h["calibrated_rel_l2"] == pytest.approx(0.0944390, rel=FE_RTOL)
    assert h["beam-cal_cosine"] == pytest.approx(0.996492, abs=1e-4)
    assert h["beam-cal_rel_l2"] == pytest.approx(0.0836925, rel=FE_RTOL)
    assert h["energy/w_rel_l2"] == pytest.approx(0.0453614, rel=FE_RTOL)
    # remeshed FD at 0.2 mm agree with it within 2 % of the largest gradient (the errata's criterion for the
    # remeshed comparison); here 0.65 % on bonds 0, 4, ..., 24 (remeshing noise: 1e-3 absolute). It was
    # 0.44 % with the global-fragment geometry (GEOMETRY_VERSION 2): the hub arcs are split elsewhere now,
    # and a remesh moves more nodes.
    assert h["fd_0.2_max_abs_over_max"] < 0.02
    assert h["fd_0.2_max_abs_over_max"] == pytest.approx(0.00653, abs=1e-3)


@pytest.mark.fem
@pytest.mark.slow
def test_linear_regime_deviations(shared_data: Path):
    """Quick mode takes about 2 minutes (neo-Hookean solves at 4 loads, 3 offsets, 6 paper cases)."""
    pytest.importorskip("fem_mnn.fem.nonlinear", reason="DOLFINx is not installed")
    h = study("linear_regime").headline(quick_results("linear_regime", shared_data))
    # at the Figure 1 load (10 g) the nonlinear lattice departs from the linear one by 2.3 % (displacements),
    # 3.9 % (elongations), 5.3 % (in situ gradient); full runs give the same digits (Newton converged)
    assert h["10g_dev_u"] == pytest.approx(0.0229309, rel=FE_RTOL)
    assert h["10g_dev_e"] == pytest.approx(0.0390704, rel=FE_RTOL)
    assert h["10g_dev_grad_tangent"] == pytest.approx(0.0531191, rel=FE_RTOL)
    # the paper's own load cases reach 4.4 % (u) and 7.4 % (e)
    assert h["paper_cases_max_dev_u"] == pytest.approx(0.0442022, rel=FE_RTOL)
    assert h["paper_cases_max_dev_e"] == pytest.approx(0.0735100, rel=FE_RTOL)
    # the adjoint's own size is the smaller effect: 0.76 % at c = 25 mm (1 - cos 2.3e-5)
    assert h["offset25_rel_superposed"] == pytest.approx(0.00762395, rel=FE_RTOL)
    assert h["offset25_one_minus_cos_superposed"] == pytest.approx(2.25786e-5, rel=1e-2)
    # the paper's error_adj grows as the square of the offset (data only: 1e-9)
    assert h["paper_error_adj_loglog_slope"] == pytest.approx(1.94878, abs=1e-5)
    # 1 % deviation of u at 4.18 g on the quick load grid (1, 5, 10, 20 g; full grid: 4.16 g)
    assert h["dev_u_1pct_load_g"] == pytest.approx(4.1841, rel=FE_RTOL)


def test_geometry_refinement_counts():
    pytest.importorskip("gmsh", reason="gmsh is not installed")
    r = quick_results("geometry_refinement", None)
    h = study("geometry_refinement").headline(r)
    # element and node counts of the paper sample's meshes: exact for the gmsh of requirements.lock; another
    # gmsh may mesh differently (0.5 % covers it), so this checks the mesh size rule, not gmsh
    expected = {
        "2D_n3_r1_cells": 20429,
        "2D_n3_r1_vertices": 11549,
        "2D_n3_r2_cells": 73706,
        "2D_n3_r2_vertices": 39454,
        "3D_n1_r1_cells": 18979,
        "3D_n1_r1_vertices": 7002,
    }
    assert set(h) == set(expected)
    for k, v in expected.items():
        assert h[k] == pytest.approx(v, rel=5e-3), k
    for row in r["rows"]:  # DOLFINx gets the cells gmsh made
        if row.get("dolfinx_cells") is not None:
            assert row["dolfinx_cells"] == row["cells"]


# ----------------------------------------------------------------------------- print tolerance


@pytest.mark.slow
@pytest.mark.fem
def test_tolerance_quick_headline():
    """(About 35 s: trains eight spring and three FE designs.) Spring model, 200 samples (MC error of p <= 0.035),
    800 for the sd ratios (MC error of a sd 2.5 %); FE model P1 on a coarse mesh, 8 samples at S = 0.1 mm."""
    pytest.importorskip("fem_mnn.fem.linear", reason="DOLFINx is not installed")
    h = study("tolerance").headline(quick_results("tolerance", None))
    # linearised and sampled sds agree within 10 % at S = 0.02 mm (targets of issue 16) on every task and design
    for k, v in h.items():
        if k.endswith("sd_ratio_median_S0.02"):
            assert abs(v - 1) < 0.10, k
    # the behaviour design sits on the bounds (bang-bang): its contrast 1.30 keeps >= 1.2 in every sample
    assert h["behaviour-ce_nominal_metric_nominal"] == pytest.approx(1.2975, abs=1e-3)
    assert h["behaviour-ce_nominal_p_success_S0.1"] == 1.0
    # regression at its floor (13.95 %, quick training 100 epochs: 1e-3): p(rel. error <= 16 %) about 3/4
    assert h["regression_nominal_metric_nominal"] == pytest.approx(0.1395, abs=1e-3)
    assert 0.6 < h["regression_nominal_p_success_S0.1"] < 0.85
    # every task has its FE-trained design, and the nominal and FE-trained designs have FE-model rows
    for name in ("behaviour-ce", "regression", "iris"):
        for key in ("fe_p_success_S0.1", "fe_fem_p_success_S0.1", "nominal_fem_p_success_S0.1"):
            assert f"{name}_{key}" in h, (name, key)
    # at equal E the FE lattice is softer than the springs, which suits the regression targets: the spring design
    # has 9.0 % error in the FE model (P1, coarse; 13.95 % in springs); one FE fine-tuning epoch lowers it (8.3 %)
    assert h["regression_nominal_fem_metric_nominal"] == pytest.approx(0.08914, rel=1e-3)
    assert h["regression_fe_fem_metric_nominal"] < h["regression_nominal_fem_metric_nominal"] - 0.005
    # Iris after 30 epochs is still in the early plateau (46.7 %); trained twice as long it reaches 93.3 %, with
    # or without the noise in the extra epochs (antithetic pairs: the robust steps train too)
    assert h["iris_nominal_metric_nominal"] < 0.5
    assert h["iris_nominal_long_metric_nominal"] == pytest.approx(0.9333, abs=1e-3)
    assert h["iris_robust_warm_metric_nominal"] == pytest.approx(0.9333, abs=1e-3)
    for k, v in h.items():
        if "p_success" in k:
            assert 0.0 <= v <= 1.0


# ----------------------------------------------------------------------------- command line


FE = (pytest.mark.fem, pytest.mark.skipif(not _HAS_DOLFINX, reason="DOLFINx is not installed"))
#: (study, plots it writes) of the fast suite: their quick results are computed once per test run
#: (tests/_studies.py) and rendered here; the command line itself runs for the first one only, the
#: others' in the slow suite (each would compute its quick results a second time: ~55 s in all)
RENDERED = [
    pytest.param("fig1_gradient", 3, id="fig1_gradient"),
    pytest.param("fig4_iris", 4, id="fig4_iris"),
    pytest.param("fig5_retraining", 3, id="fig5_retraining"),
    pytest.param("spring_vs_fem", 2, id="spring_vs_fem", marks=FE),
    pytest.param("vs_experiment", 2, id="vs_experiment", marks=FE),
    pytest.param("geometry_refinement", 0, id="geometry_refinement"),
]
STUDIES = [
    pytest.param("fig1_gradient", 3, 120, id="fig1_gradient"),
    pytest.param("fig4_iris", 4, 120, id="fig4_iris", marks=pytest.mark.slow),
    pytest.param("fig5_retraining", 3, 120, id="fig5_retraining", marks=pytest.mark.slow),
    pytest.param("fig2_behaviour", 4, 900, id="fig2_behaviour", marks=pytest.mark.slow),
    pytest.param("fig3_regression", 3, 900, id="fig3_regression", marks=pytest.mark.slow),
    pytest.param("spring_vs_fem", 2, 300, id="spring_vs_fem", marks=(*FE, pytest.mark.slow)),
    pytest.param("vs_experiment", 2, 300, id="vs_experiment", marks=(*FE, pytest.mark.slow)),
    pytest.param("geometry_refinement", 0, 300, id="geometry_refinement", marks=pytest.mark.slow),
    pytest.param("tolerance", 1, 300, id="tolerance", marks=(*FE, pytest.mark.slow)),
    pytest.param("insitu_vs_exact", 1, 600, id="insitu_vs_exact", marks=(*FE, pytest.mark.slow)),
    pytest.param("linear_regime", 2, 900, id="linear_regime", marks=(*FE, pytest.mark.slow)),
]
#: studies that read none of the paper's data (no ``--data`` option)
NO_DATA = {"spring_vs_fem", "geometry_refinement", "insitu_vs_exact", "fem_convergence", "tolerance"}


def _check_written(name: str, out: Path, n_plots: int) -> dict:
    """results.md and results.json (with provenance) and the figures, each figure shown in results.md."""
    md = (out / "results.md").read_text()
    data = json.loads((out / "results.json").read_text())
    assert data["meta"]["study"] == name and data["quick"] is True
    assert {"version", "commit", "clean", "libraries"} <= set(data["provenance"])
    pngs = sorted(p.name for p in out.glob("*.png"))
    assert len(pngs) == n_plots, pngs
    for p in pngs:
        assert p in md
    assert "paper" in md
    return data


@pytest.mark.parametrize("name,n_plots", RENDERED)
def test_study_renders_its_quick_results(name: str, n_plots: int, tmp_path: Path, shared_data: Path):
    """``render`` of the quick results (as JSON gives them back) writes the files a reader opens."""
    out = tmp_path / name
    study(name).render(quick_results(name, None if name in NO_DATA else shared_data), out)
    _check_written(name, out, n_plots)


@pytest.mark.parametrize("name,n_plots,timeout", STUDIES)
def test_study_command_line(name: str, n_plots: int, timeout: int, tmp_path: Path, shared_data: Path):
    """``main --quick --out [--data]`` computes, then writes what render writes, with the compute time."""
    out = tmp_path / name
    env = dict(os.environ, FEM_MNN_WORKERS="1")
    cmd = [sys.executable, str(ROOT / "studies" / f"{name}.py"), "--quick", "--out", str(out)]
    if name not in NO_DATA:
        cmd += ["--data", str(shared_data)]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert _check_written(name, out, n_plots)["timing"]["compute_s"] > 0


def test_data_folder_from_the_environment(shared_data: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    """``$FEM_MNN_PAPER_DATA`` is the default data folder of every study (a wrong one is a clean error)."""
    from fem_mnn.core.errors import InputError

    monkeypatch.setenv("FEM_MNN_PAPER_DATA", str(tmp_path / "none"))
    with pytest.raises(InputError, match="paper data folder not found"):
        study("fig1_gradient").compute(True)
    monkeypatch.setenv("FEM_MNN_PAPER_DATA", str(shared_data))
    assert study("fig1_gradient").compute(True)["case"]["u_y14_mm"] == pytest.approx(-0.805212121212, abs=1e-9)


@pytest.mark.parametrize("name", ["fig1_gradient", "vs_experiment", "linear_regime"])
@pytest.mark.parametrize("how", ["argument", "environment"])
def test_missing_data_folder_is_a_clean_error(name: str, how: str, tmp_path: Path):
    """``--data`` and ``$FEM_MNN_PAPER_DATA`` both name the data folder (read before any FE work)."""
    cmd = [sys.executable, str(ROOT / "studies" / f"{name}.py"), "--quick", "--out", str(tmp_path / "o")]
    env = dict(os.environ)
    if how == "argument":
        cmd += ["--data", str(tmp_path / "none")]
    else:
        env["FEM_MNN_PAPER_DATA"] = str(tmp_path / "none")
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=env)
    assert proc.returncode == 2
    assert "paper data folder not found" in proc.stderr and "Traceback" not in proc.stderr
    assert str(tmp_path / "none") in proc.stderr
    assert not (tmp_path / "o").exists()


def test_results_are_json_numbers(shared_data: Path):
    """``compute`` returns plain numbers (after numpy conversion): JSON round-trips them unchanged."""
    from fem_mnn.core.files import to_jsonable

    r = quick_results("fig1_gradient", shared_data)
    back = json.loads(json.dumps(to_jsonable(r)))
    assert np.allclose(back["fd"]["error_central"], r["fd"]["error_central"], rtol=0, atol=0)


# ----------------------------------------------------------------------------- the committed quick results

# The committed quick results (``studies/results/<name>/quick/results.json``, regenerated with
# ``python studies/<name>.py --quick``) are what the code computes. Spring-network studies are
# deterministic arithmetic: their headline numbers agree to 1e-9 relative (room for a different BLAS
# build only). The FE studies go through gmsh and a sparse direct solver (and Newton's method for
# linear_regime, converged far below it): 1e-6 relative. Here, beside the tests of the same quick
# computes, so that each runs once per test run (one file, one pytest-xdist worker).

SPRING_QUICK = ["fig1_gradient", "fig2_behaviour", "fig3_regression", "fig4_iris", "fig5_retraining"]
#: Headline numbers that measure round-off itself: the best central finite-difference error is
#: where truncation meets the rounding of the loss (~u |L| / h), so it moves by its own size with
#: the CPU's kernels (8.43e-10 committed, 8.55e-10 on a Haswell-kernel machine). Such a number is
#: held to the claim it supports (test_studies_quick: below 1e-8), not to 1e-9 relative.
ROUNDING_KEYS = {"fd_best_central_error"}


def _compare(name: str, data_dir: Path | None, rtol: float) -> None:
    mod = study(name)
    now = mod.headline(quick_results(name, data_dir))
    then = mod.headline(committed_quick(name))
    assert set(now) == set(then)
    for k in set(now) - ROUNDING_KEYS:
        assert now[k] == pytest.approx(then[k], rel=rtol, abs=1e-15), k


@pytest.mark.parametrize("name", SPRING_QUICK)
def test_quick_headline_matches_committed(name: str, shared_data: Path):
    _compare(name, shared_data, rtol=1e-9)


FE_QUICK = [
    pytest.param("fem_convergence", False, id="fem_convergence"),
    pytest.param("spring_vs_fem", False, id="spring_vs_fem"),
    pytest.param("vs_experiment", True, id="vs_experiment"),
    pytest.param("geometry_refinement", False, id="geometry_refinement"),
    pytest.param("insitu_vs_exact", False, id="insitu_vs_exact", marks=pytest.mark.slow),
    pytest.param("linear_regime", True, id="linear_regime", marks=pytest.mark.slow),
]
# nonlinear_training: compared in tests/test_nonlinear_study.py, beside the asserts on the same quick compute


@pytest.mark.fem
@pytest.mark.parametrize("name,reads_data", FE_QUICK)
def test_fem_quick_headline_matches_committed(name: str, reads_data: bool, shared_data: Path):
    pytest.importorskip("fem_mnn.fem.linear", reason="DOLFINx is not installed")
    _compare(name, shared_data if reads_data else None, rtol=1e-6)
