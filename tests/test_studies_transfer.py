"""Headline numbers of the issue-11 studies (transfer, printed_predictions, plane_stress_vs_3d), quick mode.

Each quick compute takes 10-40 s (FE solves), hence ``slow``; the committed quick results are
compared at 1e-6 relative (gmsh + a sparse direct solver, as the FE convergence study).
"""

from __future__ import annotations

import numpy as np
import pytest
from _studies import committed_quick, quick_results, study

pytestmark = [pytest.mark.fem]
slow = pytest.mark.slow


def _need_fem():
    pytest.importorskip("fem_mnn.fem.linear", reason="DOLFINx is not installed")


def _matches_committed(name: str, now: dict) -> None:
    then = study(name).headline(committed_quick(name))
    assert set(now) == set(then)
    for k in now:
        assert now[k] == pytest.approx(then[k], rel=1e-6, abs=1e-12), k


@slow
def test_transfer_gap_and_fine_tuning():
    _need_fem()
    r = quick_results("transfer", None)
    h = study("transfer").headline(r)
    s = study("transfer").summary(r)
    # fine-tuning from the transferred widths never ends above where it started (Adam, 3 steps, FE loss)
    for name in ("behaviour", "behaviour-ce", "regression", "iris"):
        assert s[name]["b"]["train_loss"] <= s[name]["a"]["train_loss"] * (1 + 1e-9), name
    # the cross-entropy design (widths on the bounds) loses contrast in the FE model: a real gap
    assert h["behaviour-ce_a_loss"] > h["behaviour-ce_spring_loss"]
    assert s["behaviour-ce"]["a"]["train_contrast"] < s["behaviour-ce"]["spring"]["train_contrast"]
    _matches_committed("transfer", h)


@slow
def test_transfer_figure5_rows():
    _need_fem()
    r = quick_results("transfer", None)
    s = study("transfer").summary(r)
    # the task switch and damage rows exist, with the spring result, (a) and (b) beside each other
    assert set(s["switch-regression"]) >= {"spring", "a", "b"}
    assert set(s["switch-iris2"]) >= {"spring", "a", "b"}
    assert set(s["damage-iris"]) >= {"spring0", "a0", "spring", "a", "b"}
    dmg = next(x for x in r["runs"] if x["task"] == "damage-iris")
    # the damaged lattice is the design without bond 22 (nodes 9-12): 27 bonds in FE and on springs
    assert dmg["cut_bond"] == 22 and 22 not in dmg["bond_ids"] and len(dmg["bond_ids"]) == 27
    assert all(len(dmg[wf]["widths"]) == 27 for wf in ("spring0", "a0", "spring", "a", "b"))
    # FE retraining of the cut lattice starts at (a0) and lowers its FE loss (7 Adam steps in quick mode)
    assert s["damage-iris"]["b"]["train_loss"] < s["damage-iris"]["a0"]["train_loss"]
    # (a) evaluates the spring widths: same widths, FE metrics
    sw = next(x for x in r["runs"] if x["task"] == "switch-regression")
    assert sw["a"]["widths"] == sw["spring"]["widths"]


def test_transfer_spring_switch_is_fig5s():
    """The spring side of the Figure 5 rows is fig5_retraining's faithful chain (same tasks, configs, order)."""
    tr, f5 = study("transfer"), study("fig5_retraining")
    (r1, r2, r3), _, _ = tr.spring_switch(1, 3, 10)
    a, b, c = f5._switch_job((f5.CHAINS[0], 1, 3, 10))
    for mine, theirs in ((r1, a), (r2, b), (r3, c)):
        assert np.array_equal(mine.widths, theirs.widths)


@slow
def test_printed_predictions_use_one_E_per_model(shared_data):
    _need_fem()
    r = quick_results("printed_predictions", shared_data)
    h = study("printed_predictions").headline(r)
    # the spring model's own fit to the uniform network (vs_experiment: 0.5523 MPa)
    assert h["E_spring"] == pytest.approx(0.55232, abs=1e-4)
    # spring displacements scale as 1/E: the reproduced u2 at the fitted E is the paper's u2 (E = 0.55) rescaled
    u2 = r["figure2"]["u2"]
    assert u2["spring"][0] == pytest.approx(u2["paper_spring_E055"][0] * 0.55 / h["E_spring"], rel=2e-4)
    # every table that predicts a printed sample says the widths are reproductions
    assert "not published" in r["figure2"]["note"] and "not published" in r["figure3"]["note"]
    # the measured compliance of the printed regression sample (issue 11: -18.35 / -18.51 / -3.89 mm/N)
    assert r["figure3"]["measured"]["slope"][1:] == pytest.approx([-18.35, -3.892, -18.51], abs=5e-3)
    _matches_committed("printed_predictions", h)


@slow
def test_plane_stress_is_close_to_the_3d_solid():
    _need_fem()
    r = quick_results("plane_stress_vs_3d", None)
    h = study("plane_stress_vs_3d").headline(r)
    # P1 quick meshes: the 3D solid is a few % stiffer than plane stress; the gradients point the same way
    assert 0.85 < h["paper_output_ratio_3d_2d"] < 1.02
    assert h["paper_grad_cosine"] > 0.99
    _matches_committed("plane_stress_vs_3d", h)


def test_transfer_full_results_iris_trained_and_figure5_rows():
    """The committed full run: Iris FE rows are trained (3 splits, flattened loss), Figure 5 rows are there.

    Thresholds are a little below the measured full-run values (code b8495e3: Iris (c) test accuracy
    0.919, (d) 0.911, train 0.844 / 0.838; largest loss drop over the last 5 epochs 0.28 %; damage (b)
    train accuracy 0.838).
    """
    import json
    from pathlib import Path

    r = json.loads((Path(__file__).resolve().parents[1] / "studies/results/transfer/results.json").read_text())
    assert r["quick"] is False and r["provenance"]["clean"] is True
    assert len(r["plan"]["iris_splits_fe"]) >= 3 and r["plan"]["fe_epochs"]["iris"] >= 25
    s = r["summary"]
    for wf in ("b", "c", "d"):
        assert s["iris"][wf]["n"] == len(r["plan"]["iris_splits_fe"])
        assert s["iris"][wf]["loss_drop_last"] < 5e-3, wf  # the Iris FE loss curves have flattened
    # trained from 2 mm in FE, Iris generalises at least as well as the spring recipe's 86.7 % test accuracy
    assert s["iris"]["c"]["test_accuracy"] > 0.9 and s["iris"]["d"]["test_accuracy"] > 0.9
    assert s["iris"]["c"]["train_accuracy"] > 0.83 and s["iris"]["d"]["train_accuracy"] > 0.83
    # Figure 5: springs, (a) and (b) for the task switch and the cut lattice, on the Figure 5 splits
    for name in ("switch-regression", "switch-iris2", "damage-iris"):
        assert s[name]["b"]["n"] == len(r["plan"]["fig5_splits"]) >= 2, name
    # retraining the cut lattice in FE recovers Iris (before retraining, in FE: 37 % train accuracy)
    assert s["damage-iris"]["a0"]["train_accuracy"] < 0.5 < 0.8 < s["damage-iris"]["b"]["train_accuracy"]
