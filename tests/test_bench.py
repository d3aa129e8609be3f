"""``fem-mnn bench`` on a tiny design (no timing assertions) and ``fem-mnn mesh --size``."""

from __future__ import annotations

import json
import math

import numpy as np

from fem_mnn.fem._dolfinx import import_dolfinx

import_dolfinx()


def _tiny_case():
    from fem_mnn.bench import fem as fb
    from fem_mnn.design import triangular_strip
    from fem_mnn.fem.linear import FemOptions
    from fem_mnn.geometry.build import MeshOptions
    from fem_mnn.learn.losses import MSE

    d = triangular_strip(3, 2)
    n = d.n_nodes
    rng = np.random.default_rng(0)
    f = np.zeros((6, n, 2))
    free = [j for j in range(n) if j not in d.fixed]
    f[:, free[-1]] = rng.normal(scale=0.01, size=(6, 2))
    f[:, free[0]] = rng.normal(scale=0.01, size=(6, 2))
    t = np.full((6, n, 2), np.nan)
    t[:, free[-1], 1] = -0.02

    def make_loss(i):
        return MSE(t[np.asarray(i)])

    return fb.BenchCase(
        name="tiny_strip",
        design=d,
        options=FemOptions(degree=1, mesh=MeshOptions(elements_across=2, size=0.6)),
        loads=f,
        loss=make_loss(np.arange(6)),
        make_loss=make_loss,
    )


def test_bench_quick_writes_every_promised_key(tmp_path, monkeypatch, capsys):
    from fem_mnn.bench import run
    from fem_mnn.cli import main

    monkeypatch.setattr(run, "default_case", _tiny_case)
    out = tmp_path / "bench.json"
    assert main(["bench", "--quick", "--out", str(out)]) == 0
    res = json.loads(out.read_text())
    for key in run.QUICK_KEYS:
        assert math.isfinite(res[key]), key
    assert {"cpu", "cores", "memory_gib", "date"} <= set(res["machine"])
    assert "provenance" in res and res["raw"]["batch"]["repeats"]
    assert "shape_gradient_speedup" in capsys.readouterr().out


def test_bench_mpi_case_matches_its_serial_run(monkeypatch):
    """The full-mode MPI key: the same case function serial and (when available) under mpiexec."""
    from fem_mnn.bench import fem as fb

    monkeypatch.setattr(fb, "paper_case", lambda batch=16: _tiny_case())
    from mpi4py import MPI

    a = fb.mpi_case(MPI.COMM_SELF)
    b = fb.mpi_case(MPI.COMM_SELF)
    assert a == b and all(math.isfinite(v) for v in a["grad0"])


def test_mesh_command_size_option(tmp_path, capsys):
    from fem_mnn.cli import main
    from fem_mnn.design import save_design, triangular_strip

    src = save_design(triangular_strip(2, 2), tmp_path / "s.json")
    out = tmp_path / "s.msh"
    assert main(["mesh", str(src), "-o", str(out), "--size", "0.7"]) == 0
    assert "h = 0.7 mm" in capsys.readouterr().out
    assert main(["mesh", str(src), "-o", str(out), "--size", "0.7", "--refinement", "2"]) == 0
    assert "h = 0.35 mm" in capsys.readouterr().out
    for bad in ("0", "-1", "nan", "x"):
        assert main(["mesh", str(src), "-o", str(out), "--size", bad]) == 2
