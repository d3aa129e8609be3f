"""Design records: the paper's sample, generators, JSON round trip, validation."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from fem_mnn.core.errors import InputError
from fem_mnn.design import design_from_dict, load_design, paper_sample, save_design, triangular_patch, triangular_strip


def test_paper_sample_matches_the_published_construction(paper):
    assert (paper.n_nodes, paper.n_bonds) == (14, 28)
    a = 16.0
    # paper node n (1-based) at -j*a1 - i*a2: node 6 is the first of row 2, node 14 the last
    np.testing.assert_allclose(paper.nodes[0], [0, 0])
    np.testing.assert_allclose(paper.nodes[4], [-4 * a, 0])
    np.testing.assert_allclose(paper.nodes[5], [-a / 2, -a * math.sqrt(3) / 2])
    np.testing.assert_allclose(paper.nodes[13], [-a / 2 * 3 - a, -3 * a * math.sqrt(3) / 2])
    np.testing.assert_allclose(paper.lengths, a)
    assert paper.fixed == (0, 4)
    assert paper.thickness == 2.0 and paper.material.E == 0.55
    assert (paper.geometry.width_min, paper.geometry.width_max) == (1.5, 2.5)
    np.testing.assert_allclose(paper.widths, 2.0)
    # every node has between 2 and 6 neighbours, interior node 7 (id 6) has 6
    deg = np.bincount(paper.bonds.ravel(), minlength=14)
    assert deg[6] == 6 and deg.min() == 2


@pytest.mark.parametrize("top,rows", [(2, 1), (3, 2), (5, 4), (7, 5), (8, 8)])
def test_patches_have_the_triangular_counts(top, rows):
    d = triangular_patch(top, rows)
    n_nodes = sum(top - i for i in range(rows))
    horiz = sum(top - i - 1 for i in range(rows))
    diag = sum(2 * (top - i) for i in range(1, rows))
    assert d.n_nodes == n_nodes and d.n_bonds == horiz + diag


@pytest.mark.parametrize("cols,rows", [(2, 2), (6, 2), (4, 5)])
def test_strips_are_rigid_and_counted(cols, rows):
    d = triangular_strip(cols, rows)
    assert d.n_nodes == cols * rows
    # horizontal (cols-1)*rows, between rows 2*cols-1 per row gap
    assert d.n_bonds == (cols - 1) * rows + (2 * cols - 1) * (rows - 1)


def test_round_trip_keeps_everything(tmp_path, paper):
    p = save_design(paper.with_widths(np.linspace(1.5, 2.5, 28)), tmp_path / "d.json")
    back = load_design(p)
    assert back.hash() == paper.with_widths(np.linspace(1.5, 2.5, 28)).hash()
    np.testing.assert_array_equal(back.widths, np.linspace(1.5, 2.5, 28))
    assert back.fixed == paper.fixed and back.geometry == paper.geometry


def test_hash_changes_with_widths_only_when_they_change(paper):
    assert paper.hash() == paper_sample().hash()
    w = paper.widths.copy()
    w[3] = 2.1
    assert paper.with_widths(w).hash() != paper.hash()


def test_negative_zero_is_never_written_and_does_not_change_the_hash(tmp_path, paper):
    # The builders mirror coordinates (x = -16 * col), which gives -0.0 in numpy.
    text = save_design(paper, tmp_path / "d.json").read_text()
    assert "-0.0" not in text
    signed = paper.to_dict()
    signed["nodes"] = [[x if x else -0.0, y if y else -0.0] for x, y in signed["nodes"]]
    assert "-0.0" in json.dumps(signed)
    assert design_from_dict(signed).hash() == paper.hash()
    for build in (lambda: triangular_patch(4), lambda: triangular_strip(5, 3)):
        assert "-0.0" not in json.dumps(build().to_dict())


def _broken(mutate):
    d = paper_sample().to_dict()
    mutate(d)
    return d


BAD = {
    "unknown node": (lambda d: d["bonds"].__setitem__(3, [0, 99]), "bonds[3][1]"),
    "self bond": (lambda d: d["bonds"].__setitem__(3, [2, 2]), "bonds[3]"),
    "duplicate bond": (lambda d: d["bonds"].__setitem__(3, list(reversed(d["bonds"][2]))), "bonds[3]"),
    "nan node": (lambda d: d["nodes"][2].__setitem__(0, math.nan), "nodes[2][0]"),
    "string width": (lambda d: d["widths"].__setitem__(5, "2"), "widths[5]"),
    "zero width": (lambda d: d["widths"].__setitem__(5, 0.0), "widths[5]"),
    "too wide": (lambda d: d["widths"].__setitem__(5, 2.6), "widths[5]"),
    "too narrow": (lambda d: d["widths"].__setitem__(5, 1.4), "widths[5]"),
    "missing key": (lambda d: d.pop("fixed"), "fixed"),
    "unknown key": (lambda d: d.__setitem__("widht", 1), "widht"),
    "bad E": (lambda d: d["material"].__setitem__("E", -1), "material.E"),
    "bad nu": (lambda d: d["material"].__setitem__("nu", 0.5), "material.nu"),
    "coincident nodes": (lambda d: d["nodes"].__setitem__(3, list(d["nodes"][2])), "nodes[3]"),
    "one fixed node": (lambda d: d.__setitem__("fixed", [0]), "fixed"),
    "no fixed node": (lambda d: d.__setitem__("fixed", []), "fixed"),
    "unknown fixed": (lambda d: d.__setitem__("fixed", [0, 40]), "fixed[1]"),
    "wrong width count": (lambda d: d["widths"].pop(), "widths"),
    "thickness": (lambda d: d.__setitem__("thickness", 0), "thickness"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_designs_are_refused_naming_file_field_and_value(tmp_path, case):
    mutate, field = BAD[case]
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(_broken(mutate)))
    with pytest.raises(InputError) as exc:
        load_design(path)
    msg = str(exc.value)
    assert str(path) in msg and field in msg, msg
    assert "\n" not in msg


def test_a_mechanism_is_refused():
    # a square without its diagonal is floppy even with two corners clamped
    d = {
        "nodes": [[0, 0], [10, 0], [10, 10], [0, 10]],
        "bonds": [[0, 1], [1, 2], [2, 3], [3, 0]],
        "widths": [2, 2, 2, 2],
        "thickness": 2,
        "material": {"E": 1},
        "fixed": [0, 1],
    }
    with pytest.raises(InputError, match="zero-energy mode"):
        design_from_dict(d)
    d["bonds"].append([0, 2])
    d["widths"].append(2)
    assert design_from_dict(d).n_bonds == 5


def test_crossing_bonds_are_refused():
    d = {
        "nodes": [[0, 0], [10, 0], [10, 10], [0, 10]],
        "bonds": [[0, 1], [1, 2], [2, 3], [3, 0], [0, 2], [1, 3]],
        "widths": [2] * 6,
        "thickness": 2,
        "material": {"E": 1},
        "fixed": [0, 1],
    }
    with pytest.raises(InputError, match=r"bonds\[4\].*crosses bonds\[5\]"):
        design_from_dict(d)


def test_malformed_json_names_the_file(tmp_path):
    p = tmp_path / "x.json"
    p.write_text('{"nodes": [1, 2,')
    with pytest.raises(InputError, match="x.json: not valid JSON"):
        load_design(p)


def test_a_repeated_key_is_refused(tmp_path):
    p = tmp_path / "twice.json"
    text = json.dumps(paper_sample().to_dict())
    p.write_text(text[:-1] + ', "thickness": 3}')
    with pytest.raises(InputError, match=r"twice.json: thickness: key given twice"):
        load_design(p)


# --------------------------------------------------------- editing designs (issue 12)


def test_design_command_sets_fixed_widths_thickness_and_E(tmp_path):
    from conftest import run_cli

    from fem_mnn.design import load_design

    out = tmp_path / "d.json"
    csv = tmp_path / "w.csv"
    csv.write_text("bond,width\n3,1.7\n4,1.8\n")
    r = run_cli("design", "strip", "--size", "6", "4", "--fixed", "0", "2", "5", "--width", "2.2", "--width",
                "10=2.5", "--width", str(csv), "--thickness", "3", "--E", "1.2", "-o", out)  # fmt: skip
    assert r.returncode == 0, r.stderr
    d = load_design(out)
    assert d.fixed == (0, 2, 5) and d.thickness == 3.0 and d.material.E == 1.2
    assert d.widths[10] == 2.5 and d.widths[3] == 1.7 and d.widths[4] == 1.8 and d.widths[0] == 2.2
    text = out.read_text()
    assert len(text.splitlines()) < 60  # compact: 24 nodes, 53 bonds
    # the old form still works
    assert run_cli("design", "paper", "--width", "2.1", "-o", out).returncode == 0
    assert set(load_design(out).widths) == {2.1}


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["--width", "99=2"], "unknown bond id"),
        (["--width", "0"], "> 0"),
        (["--width", "3.5"], "--width"),
        (["--fixed", "0"], "--fixed"),
        (["--fixed", "77"], "unknown node id"),
    ],
)
def test_design_command_refuses_bad_edits_in_one_line(tmp_path, argv, needle):
    from conftest import run_cli

    r = run_cli("design", "paper", *argv, "-o", tmp_path / "d.json")
    assert r.returncode == 2 and len(r.stderr.splitlines()) == 1 and needle in r.stderr, r.stderr
    assert not (tmp_path / "d.json").exists()


def test_validate_runs_the_loading_checks(paper_file, tmp_path):
    import json

    from conftest import run_cli

    base = json.loads(paper_file.read_text())
    cases = [
        ({**base, "fixed": []}, "no fixed node"),
        ({**base, "fixed": [0]}, "do not pin"),
        ({**base, "widths": [0.0] + base["widths"][1:]}, "widths[0]"),
    ]
    typo = dict(base)
    typo["widht"] = typo.pop("widths")
    cases.append((typo, "widht: unknown key (did you mean 'widths'?)"))
    for data, needle in cases:
        f = tmp_path / "v.json"
        f.write_text(json.dumps(data))
        r = run_cli("validate", f)
        assert r.returncode == 2 and needle in r.stderr and len(r.stderr.splitlines()) == 1, r.stderr
    # outside the printable range: every command refuses it, validate too (exit 2 after its report)
    f.write_text(json.dumps({**base, "widths": [3.0] + base["widths"][1:]}))
    r = run_cli("validate", f)
    assert r.returncode == 2 and "widths[0]" in r.stderr and len(r.stderr.splitlines()) == 1, r.stderr
    assert "bond 0: width 3 mm outside" in r.stdout
