"""Pre-print mechanical checks: floppy, slender and the paper's sample."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from conftest import need_dolfinx

need_dolfinx()

from fem_mnn.design import Design, Geometry, Material  # noqa: E402
from fem_mnn.fem.mechanical_checks import CheckOptions, MaterialLimits, rigidity_check  # noqa: E402

pytestmark = pytest.mark.fem

SQUARE = Design(
    nodes=np.array([[0.0, 0.0], [16.0, 0.0], [16.0, 16.0], [0.0, 16.0]]),
    bonds=np.array([[0, 1], [1, 2], [2, 3], [3, 0]]),
    widths=np.full(4, 2.0),
    thickness=2.0,
    fixed=(0, 1),
    name="floppy-square",
)


def slender_tower() -> Design:
    """Two 60 mm bars (w 1.5 mm) from two clamped feet to a loaded apex: rigid as a truss, slender in compression."""
    return Design(
        nodes=np.array([[0.0, 0.0], [10.0, 0.0], [5.0, 60.0]]),
        bonds=np.array([[0, 2], [1, 2]]),
        widths=np.full(2, 1.5),
        thickness=2.0,
        material=Material(E=0.55, nu=0.45),
        fixed=(0, 1),
        geometry=Geometry(thin_end_ratio=1.0),
        name="slender-tower",
    )


def test_floppy_design_is_flagged_without_fe():
    c = rigidity_check(SQUARE)
    assert c.status == "fail"
    assert c.values["zero_modes"] == 1
    assert set(c.values["moving_nodes_first_mode"]) == {2, 3}


def test_rigid_designs_pass_rigidity(paper):
    assert rigidity_check(paper).status == "pass"
    assert rigidity_check(slender_tower()).status == "pass"


def test_report_of_floppy_design_skips_fe(tmp_path):
    from fem_mnn.fem.mechanical_checks import mechanical_report

    F = np.zeros((4, 2))
    F[2, 0] = 0.01
    rep = mechanical_report(SQUARE, F, out_dir=tmp_path)
    assert not rep.ok and rep.status == "fail"
    assert [c.status for c in rep.checks] == ["fail", "skipped", "skipped", "skipped"]
    data = json.loads((tmp_path / "mechanical.json").read_text())
    assert data["status"] == "fail" and data["checks"][0]["values"]["zero_modes"] == 1


def test_slender_compressed_design_is_flagged_by_buckling(tmp_path):
    from fem_mnn.fem.linear import FemOptions
    from fem_mnn.fem.mechanical_checks import mechanical_report
    from fem_mnn.geometry.build import MeshOptions

    d = slender_tower()
    F = np.zeros((3, 2))
    F[2, 1] = -2e-3 * 9.8  # 2 g on the apex
    opts = CheckOptions(fem=FemOptions(mesh=MeshOptions(elements_across=2)), nonlinear=False, n_modes=2)
    rep = mechanical_report(d, F, opts, out_dir=tmp_path)
    b = rep.check("buckling")
    assert b.status == "fail", b.summary
    lf = b.values["load_factors"][0]
    # each bar: about Euler's clamped-guided sway load pi^2 EI / l^2 shared by two bars;
    # a generous bracket: between the clamped-free and the clamped-clamped bar
    EI = 0.55 * 2.0 * 1.5**3 / 12
    ell = math.hypot(5.0, 60.0) - 4.0
    p = lf * 2e-3 * 9.8 / 2 * 60.0 / math.hypot(5.0, 60.0)  # axial force per bar at buckling
    assert math.pi**2 * EI / (4 * ell**2) < p < 4 * math.pi**2 * EI / ell**2
    assert rep.check("rigidity").status == "pass"
    assert not rep.ok
    assert (tmp_path / "buckling_mode.png").stat().st_size > 1000


def test_paper_sample_passes_under_the_figure1_load(paper, tmp_path):
    from fem_mnn.fem.linear import FemOptions
    from fem_mnn.fem.mechanical_checks import mechanical_report
    from fem_mnn.geometry.build import MeshOptions

    F = np.zeros((paper.n_nodes, 2))
    F[12, 1] = -10e-3 * 9.8
    opts = CheckOptions(fem=FemOptions(mesh=MeshOptions(elements_across=2)), margin_factors=(0.5, 1.0, 2.0), n_modes=2)
    rep = mechanical_report(paper, F, opts, out_dir=tmp_path)
    assert rep.status == "pass", rep.to_text()
    s = rep.check("strain").values
    # the peak is in a bond (the thin ends next to the clamps), between 1 % and the working limit
    assert s["peak_tensile_at"]["region"].startswith("bond") and "thin end" in s["peak_tensile_at"]["region"]
    assert 0.01 < max(s["peak_tensile_strain"], -s["peak_compressive_strain"]) < MaterialLimits().working_strain
    lr = rep.check("linear regime").values
    assert 1.0 < lr["margin_load_factor"] < 2.0  # 5 % departure between 10 and 20 g
    for f in ("mechanical.json", "mechanical.md", "deformed.png", "strain.png", "buckling_mode.png"):
        assert (tmp_path / f).exists()


def test_validate_command_with_loads_flags_a_floppy_design(tmp_path, capsys):
    from fem_mnn.cli import main
    from fem_mnn.design import save_design
    from fem_mnn.fem.mechanical_checks import mechanical_report

    path = tmp_path / "square.json"
    save_design(SQUARE, path)
    out = tmp_path / "report.json"
    # the command refuses a mechanism as bad input, as loading a design does (issue 12: same structural checks)
    code = main(
        ["validate", str(path), "--loads", "2:0.01,0", "--json", str(out), "--mech-dir", str(tmp_path / "mech")]
    )
    captured = capsys.readouterr()
    assert code == 2
    assert "zero-energy mode" in captured.err and not out.exists()
    # the mechanical report itself still names the failed rigidity check (no FE solve of a mechanism)
    loads = np.zeros((SQUARE.n_nodes, 2))
    loads[2] = (0.01, 0.0)
    rep = mechanical_report(SQUARE, loads, out_dir=tmp_path / "mech")
    assert rep.status == "fail" and rep.check("rigidity").status == "fail"
    assert "[FAIL] rigidity" in rep.to_text()
    assert (tmp_path / "mech" / "mechanical.md").exists()
    # a load on a clamped node is refused as bad input
    assert main(["validate", str(path), "--loads", "0:0.01,0"]) == 2


def _patch_model():
    from fem_mnn.design import triangular_patch
    from fem_mnn.fem.linear import FemOptions
    from fem_mnn.fem.nonlinear import NonlinearModel
    from fem_mnn.geometry.build import MeshOptions

    d = triangular_patch(top=3, rows=2)
    F = np.zeros((d.n_nodes, 2))
    F[4, 1] = -0.098  # 10 g
    return NonlinearModel(d, FemOptions(mesh=MeshOptions(elements_across=2))), F


@pytest.mark.parametrize("first_buckling", [1.5, 0.5, math.inf])
def test_linear_regime_path_stops_short_of_the_first_buckling_factor(first_buckling, capsys):
    from fem_mnn.fem.mechanical_checks import BUCKLING_FRACTION, linear_regime_check

    nl, F = _patch_model()
    factors = (0.5, 1.0, 2.0)
    check, at_one, _ = linear_regime_check(nl, F, factors, 0.05, first_buckling=first_buckling)
    v = check.values
    probed = [p["load_factor"] for p in v["probed"]]
    cap = BUCKLING_FRACTION * first_buckling
    assert max(probed) <= cap and v["path_limit"] == min(cap, max(factors))
    assert probed == sorted(probed) and v["reached_load_factor"] == probed[-1]
    err = capsys.readouterr().err
    progress = [line for line in err.splitlines() if "linear regime: load factor" in line]
    # one line per Newton solve: every probed factor was announced as reached (and failed tries as halvings)
    assert all("Newton iterations" in line and "elapsed" in line for line in progress)
    assert [line.split("load factor ")[1].split(" ")[0] for line in progress if " reached" in line] == [
        f"{f:.4g}" for f in probed
    ]
    if first_buckling == 0.5:  # buckling comes before the design loads: fail with what was reached
        assert check.status == "fail" and at_one is None and v["stop_reason"] == "buckling"
        assert probed == [0.45] and "comes before the design loads" in check.summary
    else:
        assert check.status in ("pass", "warn") and at_one is not None and v["stop_reason"] is None
        expect = [f for f in factors if f < cap] + ([cap] if cap < max(factors) else [])
        assert probed == pytest.approx(expect, rel=1e-12)


def test_spent_budget_fails_the_linear_regime_check_with_the_load_factor_reached():
    from fem_mnn.fem.mechanical_checks import linear_regime_check

    nl, F = _patch_model()
    # a clock that runs out after a fixed number of polls (one poll per Newton iteration):
    # deterministic, unlike a wall-clock budget
    full, _, _ = linear_regime_check(nl, F, (0.25, 0.5, 1.0), 0.05)
    first = full.values["probed"][0]["newton_iterations"] + 1
    polls = iter(range(10_000))
    check, at_one, _ = linear_regime_check(
        nl, F, (0.25, 0.5, 1.0), 0.05, should_stop=lambda: "time budget of 1 s spent" if next(polls) > first else None
    )
    v = check.values
    assert check.status == "fail" and at_one is None and v["stop_reason"] == "budget"
    assert 0 < v["reached_load_factor"] < 1 and v["reached_load_factor"] >= 0.25
    assert v["newton_iterations"] > full.values["probed"][0]["newton_iterations"]
    assert v["deviation_at_reached"]["dev_e"] == v["probed"][-1]["dev_e"] > 0
    assert "time budget of 1 s spent before the design loads" in check.summary
    assert f"reached load factor {v['reached_load_factor']:.4g}" in check.summary


def test_check_options_refuse_a_bad_budget_or_fraction():
    from fem_mnn.core.errors import InputError

    for kw in ({"budget": 0.0}, {"budget": math.inf}, {"budget": math.nan}, {"buckling_fraction": 1.0}):
        with pytest.raises(InputError):
            CheckOptions(**kw)
