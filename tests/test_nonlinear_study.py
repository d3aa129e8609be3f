"""Quick-mode numbers of ``studies/nonlinear_training.py`` (issue 23, item 4, parts (i)-(v)).

The quick compute trains nonlinear FE models (P1, one element across, a few epochs) and takes
about 3-4 minutes on one core, hence ``slow``; it runs once per test run (this file holds every
test of it, the committed-results check included). The check of the committed full run reads
files only and is in the fast suite. The committed quick results are compared at
1e-6 relative (gmsh, a sparse direct solver and Newton converged far below it). The other asserts
state what the quick numbers show, with the bound each claim needs.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from _studies import committed_quick, quick_results, study

NAME = "nonlinear_training"


def _results() -> dict:
    pytest.importorskip("fem_mnn.fem.linear", reason="DOLFINx is not installed")
    return quick_results(NAME, None)


@pytest.mark.fem
@pytest.mark.slow
def test_quick_headline_matches_committed():
    now = study(NAME).headline(_results())
    then = study(NAME).headline(committed_quick(NAME))
    assert set(now) == set(then)
    for k in now:
        assert now[k] == pytest.approx(then[k], rel=1e-6, abs=1e-12), k


@pytest.mark.fem
@pytest.mark.slow
def test_transfer_of_the_spring_design_and_fine_tuning():
    r = _results()["part_iii"]
    assert "failed" not in r
    before, after = r["fem_before"], r["fem_after"]
    assert set(before["per_level"]) == set(after["per_level"]) == {"light", "heavy"}
    # the spring-trained widths do not carry their (weak) switch into FE: the heavy level's dominant output
    # is the wrong one there (contrast < 1), whatever the springs said
    assert r["springs"]["per_level"]["heavy"] > 1.0
    assert before["per_level"]["heavy"] < 1.0
    # fine-tuning keeps the best epoch by the training loss: never above where it started
    assert after["loss"] <= before["loss"] * (1 + 1e-12)
    assert after["epochs"] == r["fine_tune_epochs"]


@pytest.mark.fem
@pytest.mark.slow
def test_insitu_rule_at_a_loaded_state():
    r = _results()["part_iv"]
    c = r["cases"]["100 g"]
    m = c["metrics"]
    # the chosen load is beyond the linear regime: linear and nonlinear exact gradients differ by > 10 %
    assert m["FE linear exact"]["rel_l2"] > 0.1
    # the spring finite increment (eps = 1: the loss's own few-gram adjoint weight) is the spring tangent
    # rule to O(eps): within 1 % of it in relative L2
    e, f = (np.array(c["estimates"][k]) for k in ("springs exact (tangent)", "springs finite increment"))
    assert np.linalg.norm(f - e) / np.linalg.norm(e) < 0.01
    # every metric is a number, and the tangent protocol points the right way overall
    for k, v in m.items():
        assert math.isfinite(v["cosine"]) and math.isfinite(v["rel_l2"]), k
    assert m["FE tangent (in situ)"]["cosine"] > 0
    assert 0 <= m["FE tangent (in situ)"]["worst_bond"] < 28


@pytest.mark.fem
@pytest.mark.slow
def test_buckling_of_the_fe_trained_designs():
    r = _results()["part_v"]
    assert set(r) == {"load-switch", "load-and"}
    for name, x in r.items():
        lam = x["first_buckling_load_factor"]
        # the task's largest load passes the first (linear) buckling load, and one bond bows in that mode
        assert lam is not None and 0 < lam < 1, name
        assert len(x["buckled_bonds"]) >= 1, name
        # the nonlinear path from zero reaches the full load through it
        assert x["path"] == "reached every load factor", name
        assert x["path_factors"][0] == pytest.approx(0.1) and x["path_factors"][-1] == pytest.approx(1.0)
        assert x["factor_below_buckling"] < lam
        # the check on a mesh generated for the widths answers too (a number, compared with the training mesh's)
        assert math.isfinite(x["contrast_full_load_remeshed"]), name
    # load-switch: below buckling the heavy case's output ratio is the light level's (no switch: a linear
    # response would keep it); the change comes past the first buckling load
    ls = r["load-switch"]
    assert abs(ls["contrast_below_buckling"] - ls["contrast_lightest"]) < 1e-3
    assert abs(ls["contrast_full_load"] - ls["contrast_lightest"]) > 10 * abs(
        ls["contrast_below_buckling"] - ls["contrast_lightest"]
    )


@pytest.mark.fem
@pytest.mark.slow
def test_render_writes_the_tables_and_figures(tmp_path: Path):
    """``render`` of the quick results (as JSON gives them back): results.md shows every figure and table."""
    out = tmp_path / NAME
    study(NAME).render(_results(), out)
    md = (out / "results.md").read_text()
    data = json.loads((out / "results.json").read_text())
    assert data["quick"] is True and {"version", "commit", "clean", "libraries"} <= set(data["provenance"])
    pngs = sorted(p.name for p in out.glob("*.png"))
    assert pngs == ["behaviour_vs_load.png", "buckling_path.png", "insitu_large_deformation.png"]
    for p in pngs:
        assert p in md
    for part in ("(i)", "(ii)", "(iii) Transfer", "(iv) The in situ rule", "(v) Buckling as activation"):
        assert part in md, part


def test_committed_full_results_answer_item_4():
    """The committed full run (no compute): load-switch succeeds in FE, and only past buckling."""
    r = json.loads((Path(__file__).resolve().parents[1] / "studies/results" / NAME / "results.json").read_text())
    assert r["quick"] is False and r["provenance"]["clean"] is True
    h = study(NAME).headline(r)
    assert h["ii_load-switch_fem_contrast"] >= 1.1 > h["ii_load-switch_springs_contrast"]
    assert h["iii_spring_design_fem_contrast"] < 1.0
    assert h["iv_100g_linear_exact_rel_l2"] > 0.1 and h["iv_10g_tangent_cosine"] > 0.99
    v = r["part_v"]["load-switch"]
    assert v["first_buckling_load_factor"] < v["label_dominant_from"] <= 1.0
    assert v["contrast_full_load"] >= 1.1 and v["contrast_full_load_remeshed"] >= 1.1


def test_committed_full_p2_check_of_the_switch():
    """The committed full run's P2 check (no compute): the light case keeps its contrast; the heavy case
    switches past buckling and its path ends at a limit point short of the full load (docs/nonlinear.md 7)."""
    r = json.loads((Path(__file__).resolve().parents[1] / "studies/results" / NAME / "results.json").read_text())
    p2 = r["part_v"]["load-switch"]["p2_check"]
    light, heavy = p2["cases"]
    assert light["factors"][-1] == 1.0 and light["stopped"] is None and light["contrast"][-1] >= 1.1
    assert heavy["stopped"] and heavy["factors"][-1] < 1.0
    lam = r["part_v"]["load-switch"]["first_buckling_load_factor"]
    below = [k for f, k in zip(heavy["factors"], heavy["contrast"], strict=True) if f < lam]
    past = [k for f, k in zip(heavy["factors"], heavy["contrast"], strict=True) if f >= 0.4]
    assert max(below) < 1.0 and min(past) >= 1.1
