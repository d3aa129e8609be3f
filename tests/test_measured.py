"""Measured-data CSV formats: round trips, bad input, the paper's data as records."""

from __future__ import annotations

import math

import numpy as np
import pytest

from fem_mnn.core.errors import InputError
from fem_mnn.io import measured as ms


def test_displacements_round_trip(tmp_path):
    recs = [
        ms.Displacement("uniform", 12, math.nan, -0.521, math.nan, 0.04),
        ms.Displacement("uniform", 13, 0.1, -0.523, 0.01, 0.011),
        ms.Displacement("m02g", 12, 0.0225, -0.39, 0.0, math.nan),
    ]
    p = ms.write_displacements(tmp_path / "u.csv", recs, comment="test data\nmm")
    text = p.read_text()
    assert text.startswith("# test data\n# mm\nload_case,node,ux,uy,spread_ux,spread_uy\n")
    back = ms.read_displacements(p)
    assert len(back) == 3
    for a, b in zip(recs, back, strict=True):
        assert a.load_case == b.load_case and a.node == b.node
        for x, y in zip(a[2:], b[2:], strict=True):
            assert (math.isnan(x) and math.isnan(y)) or x == y
    assert ms.sniff(p) == "displacement"


def test_loads_and_gradients_round_trip(tmp_path):
    loads = [
        ms.Load("forward", 12, 0.0, -0.098),
        ms.Load("adjoint", 13, 0.0, -0.049),
        ms.Load("forward", 12, 0.01, 0.0),
    ]
    p = ms.write_loads(tmp_path / "l.csv", loads)
    back = ms.read_loads(p)
    assert back == loads
    cases = ms.load_cases(back, 14)
    assert list(cases) == ["forward", "adjoint"]
    assert cases["forward"][12].tolist() == [0.01, -0.098]
    grads = [ms.Gradient(0, -0.002, 0.0006), ms.Gradient(5, 0.07, math.nan)]
    pg = ms.write_gradients(tmp_path / "g.csv", grads)
    g2 = ms.read_gradients(pg)
    assert g2[0] == grads[0] and g2[1].bond == 5 and math.isnan(g2[1].spread)
    assert ms.sniff(pg) == "gradient" and ms.sniff(p) == "load"


@pytest.mark.parametrize(
    "body, match",
    [
        ("load_case,node,ux,uy\nA,1,0,0\n", "header must be"),
        ("load_case,node,ux,uy,spread_ux,spread_uy\nA,x,0,0,,\n", r"row 2, node.*'x'"),
        ("load_case,node,ux,uy,spread_ux,spread_uy\nA,-1,0,0,,\n", r"row 2, node.*0-based"),
        ("load_case,node,ux,uy,spread_ux,spread_uy\nA,1,abc,0,,\n", r"row 2, ux: must be a number.*'abc'"),
        ("load_case,node,ux,uy,spread_ux,spread_uy\nA,1,nan,0,,\n", r"row 2, ux: must be finite"),
        ("load_case,node,ux,uy,spread_ux,spread_uy\nA,1,,,,\n", r"row 2, ux: ux and uy are both empty"),
        ("load_case,node,ux,uy,spread_ux,spread_uy\nA,1,0,0,-1,\n", r"row 2, spread_ux: must be >= 0"),
        ("load_case,node,ux,uy,spread_ux,spread_uy\n,1,0,0,,\n", r"row 2, load_case: must not be empty"),
        ("load_case,node,ux,uy,spread_ux,spread_uy\nA,1,0,0\n", r"row 2: expected 6 cells"),
        (
            "# only a comment\nload_case,node,ux,uy,spread_ux,spread_uy\nA,1,0,0,,\nA,1,0,1,,\n",
            r"row 4, node: node measured twice",
        ),
        ("load_case,node,ux,uy,spread_ux,spread_uy\n", "no data rows"),
        ("", "empty file"),
    ],
)
def test_bad_displacements(tmp_path, body, match):
    p = tmp_path / "bad.csv"
    p.write_text(body)
    with pytest.raises(InputError, match=match) as exc:
        ms.read_displacements(p)
    assert str(p) in str(exc.value)


def test_bad_gradients_and_loads(tmp_path):
    p = tmp_path / "g.csv"
    p.write_text("bond,grad,spread\n1,0.1,\n1,0.2,\n")
    with pytest.raises(InputError, match="row 3, bond: bond listed twice"):
        ms.read_gradients(p)
    p.write_text("load_case,node,fx,fy\nf,1,,0\n")
    with pytest.raises(InputError, match="row 2, fx: must be a number"):
        ms.read_loads(p)
    with pytest.raises(InputError, match="no such file"):
        ms.read_loads(tmp_path / "missing.csv")
    p.write_text("a,b\n1,2\n")
    with pytest.raises(InputError, match="unknown header"):
        ms.sniff(p)
    with pytest.raises(InputError, match="unknown node id"):
        ms.load_cases([ms.Load("f", 20, 0.0, 1.0)], 14)


def test_check_against_design(paper):
    ms.check_against_design(paper, [ms.Displacement("a", 13, 0.0, 0.0)])
    with pytest.raises(InputError, match="unknown node id"):
        ms.check_against_design(paper, [ms.Displacement("a", 14, 0.0, 0.0)])
    with pytest.raises(InputError, match="unknown bond id"):
        ms.check_against_design(paper, [ms.Gradient(28, 0.0)])


def test_paper_records(shared_data, tmp_path):
    r1 = ms.paper_records(1, shared_data)
    assert r1.kind == "gradient" and len(r1.records) == 28
    assert sorted(r.bond for r in r1.records) == list(range(28))
    assert {ld.load_case for ld in r1.loads} == {"forward", "adjoint"}
    # e e_adj in mm^2: the largest measured value is ~0.075 mm^2 (7.5e-8 m^2)
    assert max(abs(r.grad) for r in r1.records) == pytest.approx(0.0752, rel=0.01)
    r2 = ms.paper_records(2, shared_data)
    assert [r.node for r in r2.records] == [12, 13]
    assert r2.records[0].uy == pytest.approx(-0.5212, abs=1e-3)
    r3 = ms.paper_records(3, shared_data)
    assert len(r3.loads) == 6 and len(r3.records) == 12
    # through the CSV formats and back
    ms.write_displacements(tmp_path / "f3.csv", r3.records)
    ms.write_loads(tmp_path / "f3_loads.csv", r3.loads)
    back = ms.read_displacements(tmp_path / "f3.csv")
    assert np.allclose([b.uy for b in back], [r.uy for r in r3.records])
    with pytest.raises(InputError):
        ms.paper_records(4, shared_data)
