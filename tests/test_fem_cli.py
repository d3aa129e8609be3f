"""``fem-mnn fem gradient`` on designs other than the paper's, serial and under mpiexec."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("dolfinx_solver", reason="needs the DOLFINx wheel")

from fem_mnn.cli import main  # noqa: E402
from fem_mnn.design import save_design, triangular_strip  # noqa: E402

pytestmark = pytest.mark.fem

SPRING_KEYS = {"loss", "u", "elongation", "adjoint_elongation", "grad_k", "grad_w"}
CASE = ["--load", "5:0,-0.01", "--target", "6:_,-0.05", "--elements-across", "2"]


@pytest.fixture
def strip(tmp_path: Path) -> Path:
    return save_design(triangular_strip(4, 2, width=np.linspace(1.5, 2.5, 13)), tmp_path / "strip.json")


def test_gradient_writes_the_spring_keys(strip: Path, tmp_path: Path):
    out = tmp_path / "g.json"
    assert main(["fem", "gradient", str(strip), *CASE, "--out", str(out), "--fields", str(tmp_path / "f")]) == 0
    fem = json.loads(out.read_text())
    assert SPRING_KEYS <= set(fem)
    assert fem["model"] == "fem" and fem["fem"]["n_factorisations"] == 1
    assert (tmp_path / "f" / "forward.bp").is_dir() and (tmp_path / "f" / "adjoint.bp").is_dir()
    spr = tmp_path / "s.json"
    assert main(["spring", "gradient", str(strip), *CASE[:4], "--out", str(spr)]) == 0
    spring = json.loads(spr.read_text())
    for key in SPRING_KEYS - {"loss"}:
        assert np.shape(fem[key]) == np.shape(spring[key]), key
    # same physics, different model: elongations correlate closely
    assert np.corrcoef(fem["elongation"], spring["elongation"])[0, 1] > 0.95
    grad_w = np.array(fem["grad_w"])
    np.testing.assert_allclose(grad_w, np.array(fem["grad_k"]) * 0.55 * 2.0 / 16.0, rtol=1e-12)


def test_gradient_prints_a_table(strip: Path, capsys):
    assert main(["fem", "gradient", str(strip), *CASE, "--degree", "1"]) == 0
    assert "loss =" in capsys.readouterr().out


def test_bad_input_exits_2(strip: Path, tmp_path: Path, capsys):
    assert main(["fem", "gradient", str(strip), "--load", "0:0,-0.01", "--target", "6:_,-0.05"]) == 2  # fixed node
    assert main(["fem", "gradient", str(tmp_path / "missing.json"), *CASE]) == 2
    assert main(["fem", "gradient", str(strip), *CASE, "--dim", "4"]) == 2
    assert "--dim" in capsys.readouterr().err


@pytest.mark.slow
def test_exact_gradient_by_finite_differences(strip: Path, tmp_path: Path):
    out = tmp_path / "g.json"
    assert main(["fem", "gradient", str(strip), *CASE, "--exact", "--exact-method", "fd", "--out", str(out)]) == 0
    g = json.loads(out.read_text())
    est, fd = np.array(g["grad_w"]), np.array(g["grad_w_exact"])
    cos = est @ fd / np.linalg.norm(est) / np.linalg.norm(fd)
    print("in situ (nominal k) vs FD with remeshing: cosine", cos)
    assert cos > 0.9


@pytest.mark.mpi
def test_gradient_under_mpiexec_matches_serial(strip: Path, tmp_path: Path, mpiexec: str):
    out1, out2 = tmp_path / "serial.json", tmp_path / "par.json"
    assert main(["fem", "gradient", str(strip), *CASE, "--out", str(out1)]) == 0
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1]))
    subprocess.run(
        [
            str(mpiexec),
            "-n",
            "2",
            sys.executable,
            "-m",
            "fem_mnn",
            "fem",
            "gradient",
            str(strip),
            *CASE,
            "--out",
            str(out2),
        ],
        check=True,
        timeout=300,
        env=env,
    )
    a, b = json.loads(out1.read_text()), json.loads(out2.read_text())
    assert b["fem"]["ranks"] == 2
    for key in SPRING_KEYS | {"grad_theta", "rotation"}:
        x, y = np.asarray(a[key]), np.asarray(b[key])
        assert np.max(np.abs(x - y)) <= 1e-10 * np.max(np.abs(x)), key
