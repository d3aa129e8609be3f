"""Comparison metrics and the ``fem-mnn compare`` command on tiny synthetic measurements."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from conftest import need_dolfinx

from fem_mnn.cli import main
from fem_mnn.contract import elongations
from fem_mnn.design import Design, triangular_patch
from fem_mnn.fidelity.compare import bond_rel_error, cosine, error_summary, rel_l2, sign_agreement
from fem_mnn.io import measured as ms
from fem_mnn.spring.network import SpringModel


def test_metrics():
    a = np.array([1.0, -2.0, 3.0, 0.001])
    assert cosine(a, 2 * a) == pytest.approx(1.0)
    assert cosine(a, -a) == pytest.approx(-1.0)
    assert rel_l2(1.1 * a, a) == pytest.approx(0.1)
    b = np.array([1.0, 2.0, 3.0, -0.001])  # one significant sign wrong, one insignificant
    assert sign_agreement(b, a) == pytest.approx(2 / 3)
    med, mx = bond_rel_error(np.array([1.1, -2.0, 3.3, 0.0]), a)
    assert med == pytest.approx(0.1) and mx == pytest.approx(0.1)
    s = error_summary(2 * a, a, spread=np.full(4, 1.5))
    assert s.n == 4 and s.best_scale == pytest.approx(0.5) and s.rel_rms_scaled == pytest.approx(0.0, abs=1e-12)
    assert s.rel_rms == pytest.approx(1.0)
    assert s.within_spread == pytest.approx(0.5)
    s = error_summary(np.array([math.nan, 1.0]), np.array([1.0, 1.0]))
    assert s.n == 1 and s.rms == 0.0


@pytest.fixture
def design() -> Design:
    """The design ``design_file`` writes in this module: 5 nodes, 7 bonds, nodes 0 and 2 clamped."""
    return triangular_patch(3, 2)


@pytest.fixture
def tiny(design, design_file, tmp_path):
    d, path = design, design_file
    F = np.zeros((2, d.n_nodes, 2))
    F[0, 3, 1] = -0.05
    F[1, 4, 0] = 0.02
    u = SpringModel(d).operator().solve(F).u
    recs = [
        ms.Displacement(c, n, float(u[k, n, 0]), float(u[k, n, 1]), 0.01, 0.01)
        for k, c in enumerate(("down", "side"))
        for n in (1, 3, 4)
    ]
    ms.write_displacements(tmp_path / "u.csv", recs)
    ms.write_loads(tmp_path / "loads.csv", [ms.Load("down", 3, 0.0, -0.05), ms.Load("side", 4, 0.02, 0.0)])
    e = elongations(u, d)
    ms.write_gradients(tmp_path / "g.csv", [ms.Gradient(b, float(e[0, b] * e[1, b]), 1e-4) for b in range(d.n_bonds)])
    ms.write_loads(tmp_path / "gl.csv", [ms.Load("forward", 3, 0.0, -0.05), ms.Load("adjoint", 4, 0.02, 0.0)])
    return d, path, tmp_path


def test_compare_spring_on_synthetic_displacements(tiny, capsys):
    d, path, tmp = tiny
    rc = main(
        [
            "compare",
            str(path),
            "--measured",
            str(tmp / "u.csv"),
            "--loads",
            str(tmp / "loads.csv"),
            "--models",
            "spring",
            "--out",
            str(tmp / "out"),
        ]
    )
    assert rc == 0
    res = json.loads((tmp / "out" / "comparison.json").read_text())
    cmp_ = res["comparisons"][0]
    assert cmp_["kind"] == "displacement" and len(cmp_["rows"]) == 12
    s = cmp_["summary"]["spring"]
    assert s["rms"] < 1e-12 and s["best_scale"] == pytest.approx(1.0)
    assert (tmp / "out" / "parity.png").stat().st_size > 1000
    assert "| spring |" in (tmp / "out" / "comparison.md").read_text()
    assert "relative RMS" in capsys.readouterr().err


def test_compare_spring_on_synthetic_gradients(tiny):
    d, path, tmp = tiny
    rc = main(
        [
            "compare",
            str(path),
            "--measured",
            str(tmp / "g.csv"),
            "--loads",
            str(tmp / "gl.csv"),
            "--models",
            "spring",
            "--out",
            str(tmp / "outg"),
        ]
    )
    assert rc == 0
    res = json.loads((tmp / "outg" / "comparison.json").read_text())["comparisons"][0]
    assert res["kind"] == "gradient" and res["unit"] == "mm^2"
    assert res["summary"]["spring"]["rms"] < 1e-15


def test_compare_bad_input(tiny, capsys):
    d, path, tmp = tiny
    out = str(tmp / "bad")
    assert main(["compare", str(path), "--measured", str(tmp / "u.csv"), "--models", "spring", "--out", out]) == 2
    assert "--loads" in capsys.readouterr().err
    ms.write_loads(tmp / "fixed.csv", [ms.Load("down", 0, 0.0, -0.05), ms.Load("side", 4, 0.02, 0.0)])
    assert (
        main(
            [
                "compare",
                str(path),
                "--measured",
                str(tmp / "u.csv"),
                "--loads",
                str(tmp / "fixed.csv"),
                "--models",
                "spring",
                "--out",
                out,
            ]
        )
        == 2
    )
    assert "fixed node" in capsys.readouterr().err
    assert (
        main(
            [
                "compare",
                str(path),
                "--measured",
                str(tmp / "g.csv"),
                "--loads",
                str(tmp / "loads.csv"),
                "--models",
                "spring",
                "--out",
                out,
            ]
        )
        == 2
    )
    assert "'forward' and 'adjoint'" in capsys.readouterr().err
    assert (
        main(
            [
                "compare",
                str(path),
                "--measured",
                str(tmp / "u.csv"),
                "--loads",
                str(tmp / "loads.csv"),
                "--models",
                "bogus",
                "--out",
                out,
            ]
        )
        == 2
    )
    assert not (tmp / "bad").exists()


@pytest.mark.fem
def test_compare_with_fem_on_synthetic_displacements(tiny):
    need_dolfinx()
    d, path, tmp = tiny
    rc = main(
        [
            "compare",
            str(path),
            "--measured",
            str(tmp / "u.csv"),
            "--loads",
            str(tmp / "loads.csv"),
            "--models",
            "spring,frame,fem,fem-centre",
            "--out",
            str(tmp / "outf"),
        ]
    )
    assert rc == 0
    res = json.loads((tmp / "outf" / "comparison.json").read_text())["comparisons"][0]
    for m in ("frame", "fem", "fem-centre"):
        s = res["summary"][m]
        # the synthetic data are the nominal spring model: FEM differs by the bond geometry, 5-40 %
        assert 0.02 < s["rel_rms"] < 0.5, (m, s)
        assert 0.6 < s["best_scale"] < 1.2
    rows = res["rows"]
    assert all(math.isfinite(r["fem"]) for r in rows)


# ------------------------------------------------------------- honest comparisons (issue 12)


def test_paper_figure_refuses_a_design_that_is_not_the_paper_sample(tmp_path):
    from conftest import run_cli

    from fem_mnn.design import paper_sample, save_design, triangular_patch

    patch = save_design(triangular_patch(7, 5), tmp_path / "patch.json")
    r = run_cli("compare", patch, "--paper-figure", "1", "--models", "spring", "--out", tmp_path / "c")
    assert r.returncode == 2 and len(r.stderr.splitlines()) == 1 and "not the paper's sample" in r.stderr, r.stderr
    assert not (tmp_path / "c").exists()
    d = paper_sample()
    from dataclasses import replace

    other = save_design(replace(d, fixed=(0, 3)), tmp_path / "other.json")
    r = run_cli("compare", other, "--paper-figure", "2", "--models", "spring", "--out", tmp_path / "c")
    assert r.returncode == 2 and "clamps" in r.stderr


def test_figure3_says_untrained_model_vs_trained_measurement(paper_file, tmp_path):
    import json

    from conftest import run_cli

    out = tmp_path / "c"
    r = run_cli("compare", paper_file, "--paper-figure", "3", "--models", "spring", "--out", out)
    assert r.returncode == 0, r.stderr
    md = (out / "comparison.md").read_text()
    assert md.startswith("# UNTRAINED model") and "**Measured vs predicted (displacement, mm): UNTRAINED" in md
    assert "TRAINED" in json.loads((out / "comparison.json").read_text())["comparisons"][0]["caveat"]
