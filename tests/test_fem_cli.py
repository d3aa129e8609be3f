"""``fem-mnn fem gradient`` on designs other than the paper's, serial and under mpiexec."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import need_dolfinx, run_cli

need_dolfinx()

from fem_mnn.cli import main  # noqa: E402
from fem_mnn.design import Design, triangular_strip  # noqa: E402

pytestmark = pytest.mark.fem

SPRING_KEYS = {"loss", "u", "elongation", "adjoint_elongation", "grad_k", "grad_w"}
CASE = ["--load", "5:0,-0.01", "--target", "6:_,-0.05", "--elements-across", "2"]


@pytest.fixture
def design() -> Design:
    """A 4 x 2 strip with graded widths: the design ``design_file`` writes in this module."""
    return triangular_strip(4, 2, width=np.linspace(1.5, 2.5, 13))


def test_gradient_writes_the_spring_keys(design_file: Path, tmp_path: Path):
    out = tmp_path / "g.json"
    assert main(["fem", "gradient", str(design_file), *CASE, "--out", str(out), "--fields", str(tmp_path / "f")]) == 0
    fem = json.loads(out.read_text())
    assert SPRING_KEYS <= set(fem)
    assert fem["model"] == "fem" and fem["fem"]["n_factorisations"] == 1
    assert (tmp_path / "f" / "forward.bp").is_dir() and (tmp_path / "f" / "adjoint.bp").is_dir()
    spr = tmp_path / "s.json"
    assert main(["spring", "gradient", str(design_file), *CASE[:4], "--out", str(spr)]) == 0
    spring = json.loads(spr.read_text())
    for key in SPRING_KEYS - {"loss"}:
        assert np.shape(fem[key]) == np.shape(spring[key]), key
    # same physics, different model: elongations correlate closely
    assert np.corrcoef(fem["elongation"], spring["elongation"])[0, 1] > 0.95
    grad_w = np.array(fem["grad_w"])
    np.testing.assert_allclose(grad_w, np.array(fem["grad_k"]) * 0.55 * 2.0 / 16.0, rtol=1e-12)


def test_gradient_prints_a_table(design_file: Path, capsys):
    assert main(["fem", "gradient", str(design_file), *CASE, "--degree", "1"]) == 0
    assert "loss =" in capsys.readouterr().out


def test_bad_input_exits_2(design_file: Path, tmp_path: Path, capsys):
    assert (
        main(["fem", "gradient", str(design_file), "--load", "0:0,-0.01", "--target", "6:_,-0.05"]) == 2
    )  # fixed node
    assert main(["fem", "gradient", str(tmp_path / "missing.json"), *CASE]) == 2
    assert main(["fem", "gradient", str(design_file), *CASE, "--dim", "4"]) == 2
    assert "--dim" in capsys.readouterr().err


@pytest.mark.slow
def test_exact_gradient_by_finite_differences(design_file: Path, tmp_path: Path):
    out = tmp_path / "g.json"
    assert main(["fem", "gradient", str(design_file), *CASE, "--exact", "--exact-method", "fd", "--out", str(out)]) == 0
    g = json.loads(out.read_text())
    est, fd = np.array(g["grad_w"]), np.array(g["grad_w_exact"])
    cos = est @ fd / np.linalg.norm(est) / np.linalg.norm(fd)
    print("in situ (nominal k) vs FD with remeshing: cosine", cos)
    assert cos > 0.9


@pytest.mark.mpi
def test_gradient_under_mpiexec_matches_serial(design_file: Path, tmp_path: Path):
    out1, out2 = tmp_path / "serial.json", tmp_path / "par.json"
    assert run_cli("fem", "gradient", design_file, *CASE, "--out", out1).returncode == 0
    r = run_cli("fem", "gradient", design_file, *CASE, "--out", out2, ranks=2)
    assert r.returncode == 0, r.stderr[-2000:]
    a, b = json.loads(out1.read_text()), json.loads(out2.read_text())
    assert b["fem"]["ranks"] == 2
    for key in SPRING_KEYS | {"grad_theta", "rotation"}:
        x, y = np.asarray(a[key]), np.asarray(b[key])
        # two computations: 5x the measured serial-vs-ranks spread (docs/reliability.md, Tolerances)
        assert np.max(np.abs(x - y)) <= 1e-10 * np.max(np.abs(x)), key
