"""Printability checks and ``fem-mnn validate`` (issue 3): every defect is caught by
a design built for it, and the paper's sample passes."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from fem_mnn.cli import main
from fem_mnn.core.errors import InputError
from fem_mnn.design import Design, Geometry, Material, paper_sample, triangular_patch
from fem_mnn.design.printability import DEFAULT_BUILD_VOLUME, check_design, lattice_extent


def raw(nodes, bonds, widths, geometry=None, thickness=2.0, fixed=(0,)) -> Design:
    """A design built without validation (the constructor does not check)."""
    return Design(
        nodes=np.asarray(nodes, float),
        bonds=np.asarray(bonds),
        widths=np.asarray(widths, float),
        thickness=thickness,
        material=Material(),
        fixed=fixed,
        geometry=geometry or Geometry(),
        name="test",
    )


def checks_of(report) -> set[str]:
    return {f.check for f in report.findings}


def test_paper_sample_passes():
    rep = check_design(paper_sample())
    assert rep.ok and rep.findings == ()
    assert rep.extent[0] == pytest.approx(64 + 4) and rep.extent[2] == 2.0


@pytest.mark.parametrize("width", [1.5, 2.5])
def test_paper_sample_at_the_ends_of_the_range_passes(width):
    assert check_design(paper_sample(width)).ok


def test_width_outside_range_names_the_bond():
    d = paper_sample()
    w = d.widths.copy()
    w[3], w[17] = 1.2, 2.6
    rep = check_design(dataclasses.replace(d, widths=w))
    found = rep.by_check("width_range")
    assert [f.bonds for f in found] == [(3,), (17,)]
    assert found[0].value == 1.2 and found[0].limit == (1.5, 2.5)
    assert not rep.ok


def test_thin_end_below_minimum_feature():
    d = dataclasses.replace(paper_sample(), geometry=Geometry(width_min=1.0, min_feature=0.8))
    w = d.widths.copy()
    w[5] = 1.5  # thin end 0.75 < 0.8; the others 1.0
    rep = check_design(dataclasses.replace(d, widths=w))
    found = rep.by_check("thin_end_width")
    assert [f.bonds for f in found] == [(5,)]
    assert found[0].value == pytest.approx(0.75) and found[0].limit == 0.8
    assert rep.by_check("width_range") == []


def test_crossing_beams_are_reported():
    # square with both diagonals: the diagonals cross away from any node
    s = 16.0
    d = raw([[0, 0], [s, 0], [s, s], [0, s]], [[0, 1], [1, 2], [2, 3], [3, 0], [0, 2], [1, 3]], [2.0] * 6)
    found = check_design(d).by_check("beam_intersection")
    assert [f.bonds for f in found] == [(4, 5)]


def test_parallel_beams_whose_outlines_touch_are_reported():
    # staggered parallel beams, centre lines 1.8 mm apart, never cross (load_design
    # accepts that), but the 2 mm wide bars overlap by 0.2 mm over ~11 mm
    d = raw([[0, 0], [40, 0], [20, 1.8], [60, 1.8]], [[0, 1], [2, 3]], [2.0, 2.0])
    rep = check_design(d)
    assert [f.bonds for f in rep.by_check("beam_intersection")] == [(0, 1)]
    far = raw([[0, 0], [40, 0], [20, 2.1], [60, 2.1]], [[0, 1], [2, 3]], [2.0, 2.0])
    assert check_design(far).by_check("beam_intersection") == []


def test_wide_beams_overlapping_outside_a_small_hub():
    geo = Geometry(thin_end_ratio=1.0, junction_radius=1.5)
    rep = check_design(dataclasses.replace(triangular_patch(3, 2, width=2.5), geometry=geo))
    found = rep.by_check("beam_overlap_outside_hub")
    # one pair of beams at each of the 9 corners of the 3 triangles (at 120 and 180
    # degrees the beams stay inside the hub: 1.25 / sin(60 deg) = 1.44 < 1.5)
    assert len(found) == 9
    assert {f.nodes for f in found} == {(j,) for j in range(5)}
    # two 2.5 mm beams at 60 degrees overlap out to 1.25 / sin(30 deg) from the node
    assert all(f.value == pytest.approx(2.5) and f.limit == 1.5 for f in found)
    # the default hub holds them
    assert check_design(triangular_patch(3, 2, width=2.5)).ok


def test_beam_through_a_foreign_hub():
    # node 2 sits 1 mm off the beam 0-1: its hub (R = 2) swallows part of the beam
    d = raw([[0, 0], [30, 0], [15, 1.0], [15, 20]], [[0, 1], [2, 3]], [2.0, 2.0])
    found = check_design(d).by_check("beam_crosses_hub")
    assert [(f.bonds, f.nodes) for f in found] == [((0,), (2,))]


def test_junction_swallows_beam_and_overlapping_hubs():
    d = dataclasses.replace(triangular_patch(3, 2), geometry=Geometry(junction_radius=8.5))
    rep = check_design(d)
    found = rep.by_check("junction_swallows_beam")
    assert len(found) == d.n_bonds
    assert found[0].value == pytest.approx(16 - 17) and found[0].limit == 0.0
    # unbonded nodes 3 mm apart: hubs (R = 2) overlap
    e = raw([[0, 0], [16, 0], [19, 0], [35, 0]], [[0, 1], [2, 3]], [2.0, 2.0])
    found = check_design(e).by_check("hubs_overlap")
    assert [f.nodes for f in found] == [(1, 2)]


def test_hub_narrower_than_the_thin_end():
    d = dataclasses.replace(triangular_patch(3, 2), geometry=Geometry(junction_radius=0.5))
    w = d.widths.copy()
    w[2] = 1.9  # thin end 0.95 < hub diameter 1.0: held
    found = check_design(dataclasses.replace(d, widths=w)).by_check("hub_narrower_than_beam")
    assert sorted(f.bonds for f in found) == [(i,) for i in range(d.n_bonds) if i != 2]
    assert found[0].value == pytest.approx(1.0) and found[0].limit == pytest.approx(1.0)


def test_thin_ends_too_short():
    # 6 mm bonds with R = 2: free length 2 mm, thin ends 0.2 mm < 0.5 mm
    d = raw([[0, 0], [6, 0]], [[0, 1]], [2.0])
    found = check_design(d).by_check("thin_end_length")
    assert [f.bonds for f in found] == [(0,)] and found[0].value == pytest.approx(0.2)


def test_lattice_larger_than_build_volume():
    d = paper_sample()
    assert check_design(d, (70, 46, 2)).ok  # 68 x 45.6 x 2 fits
    assert check_design(d, (46, 70, 2)).ok  # turned by 90 degrees
    found = check_design(d, (50, 50, 200)).by_check("build_volume")
    assert len(found) == 1 and found[0].value[0] == pytest.approx(68.0)
    assert check_design(d, (490, 390, 1.5)).by_check("build_volume")
    lo, hi = lattice_extent(d)
    assert hi[2] - lo[2] == d.thickness
    assert DEFAULT_BUILD_VOLUME == (490.0, 390.0, 200.0)


def test_disconnected_parts():
    a = triangular_patch(3, 2)
    nodes = np.vstack([a.nodes, a.nodes + [100.0, 0.0]])
    bonds = np.vstack([a.bonds, a.bonds + a.n_nodes])
    d = raw(nodes, bonds, [2.0] * len(bonds))
    found = check_design(d).by_check("disconnected")
    assert len(found) == 1 and found[0].nodes == (5, 6, 7, 8, 9)


def test_all_defects_reported_together_not_only_the_first():
    d = paper_sample()
    w = d.widths.copy()
    w[0] = 3.0
    # R = 14: swallows the 16 mm bonds, and unbonded nodes 27.7 mm apart overlap
    d = dataclasses.replace(d, widths=w, geometry=Geometry(junction_radius=14.0))
    assert {"width_range", "junction_swallows_beam", "hubs_overlap"} <= checks_of(check_design(d))


def test_structural_problems_are_input_errors():
    with pytest.raises(InputError, match="unknown node id"):
        check_design(raw([[0, 0], [16, 0]], [[0, 2]], [2.0]))
    with pytest.raises(InputError, match="one width per bond"):
        check_design(raw([[0, 0], [16, 0]], [[0, 1]], [2.0, 2.0]))


# ----------------------------------------------------------------------------- CLI


def test_validate_command_exit_codes_and_json(design_file, tmp_path, capsys):
    good = design_file
    assert main(["validate", str(good), "--json", str(tmp_path / "good-report.json")]) == 0
    assert "PASS" in capsys.readouterr().out
    assert json.loads((tmp_path / "good-report.json").read_text())["passed"] is True

    # a design that loads but fails a check (hubs that swallow the beams): reported, exit 1
    doc = paper_sample().to_dict()
    doc["geometry"]["junction_radius"] = 8.5
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(doc))
    assert main(["validate", str(bad), "--json", str(tmp_path / "bad-report.json")]) == 1
    out = capsys.readouterr().out
    assert "FAIL" in out and "junction_swallows_beam" in out
    rep = json.loads((tmp_path / "bad-report.json").read_text())
    assert rep["passed"] is False
    assert "junction_swallows_beam" in {f["check"] for f in rep["findings"]}

    # a design every other command refuses (width outside the range): the report, then exit 2, nothing written
    doc["widths"][4] = 2.9
    refused = tmp_path / "refused.json"
    refused.write_text(json.dumps(doc))
    assert main(["validate", str(refused), "--json", str(tmp_path / "refused-report.json")]) == 2
    cap = capsys.readouterr()
    assert "FAIL" in cap.out and "bond 4: width 2.9" in cap.out and "width_range" in cap.out
    err = cap.err.strip().splitlines()
    assert len(err) == 1 and "widths[4]" in err[0] and "2.9" in err[0], cap.err
    assert not (tmp_path / "refused-report.json").exists()

    assert main(["validate", str(good), "--build-volume", "50", "50", "200"]) == 1
    capsys.readouterr()
    assert main(["validate", str(bad), "--png", str(tmp_path / "bad.png")]) == 1
    assert (tmp_path / "bad.png").read_bytes()[:4] == b"\x89PNG"
    capsys.readouterr()

    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    assert main(["validate", str(broken)]) == 2
    assert "not valid JSON" in capsys.readouterr().err
    doc = paper_sample().to_dict()
    doc["bonds"][0] = [0, 99]
    (tmp_path / "ids.json").write_text(json.dumps(doc))
    assert main(["validate", str(tmp_path / "ids.json")]) == 2
    assert "unknown node id" in capsys.readouterr().err
