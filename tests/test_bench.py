"""``fem-mnn bench`` on a tiny design (no timing assertions) and ``fem-mnn mesh --size``."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

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


def test_scale_table_and_3d_rows(monkeypatch):
    """``--scale-dim 3``: the 3D rows only (paper sample with both solvers), the table names the preconditioner."""
    from fem_mnn.bench import scale

    specs = []

    def fake_child(spec, ranks, timeout):
        specs.append((spec, ranks))
        it = spec.get("solver") == "iterative" or spec["bonds"] > 28
        return {
            **spec,
            "ranks": ranks,
            "dofs": 1000 * spec["bonds"],
            "solver": "iterative" if it else "direct",
            "iterations": [47, 46] if it else None,
            "preconditioner": "mg" if it else "cholesky",
            **{k: 1.0 for k in ("mesh_s", "gmsh_geometry_fragment_s", "gmsh_mesh_s", "model_to_mesh_s")},
            **{k: 1.0 for k in ("assemble_s", "factorise_or_pc_s", "solves_s", "shape_gradient_s")},
            "gradient_total_s": 5.0,
            "peak_mib": 400.0,
        }

    monkeypatch.setattr(scale, "_run_child", fake_child)
    res = scale.run_scale(dims=(3,))
    assert [(s["dim"], s["bonds"], s.get("solver")) for s, _ in specs] == [
        (3, 28, None),
        (3, 28, "iterative"),
        (3, 103, None),
        (3, 249, None),
    ]
    table = scale.scale_table(res)
    assert "iterative mg (47 it)" in table and "| 3 | 249 | 1 | 249,000 |" in table


def test_scale_2d_plan_and_exponents(monkeypatch):
    """2D rows up to the limit, 981 with both solvers, 2-rank rows only within the limit;
    the exponents fit the ``auto`` rows (the explicit iterative row would bend them)."""
    from fem_mnn.bench import scale

    specs = []

    def fake_child(spec, ranks, timeout):
        specs.append((spec["bonds"], spec.get("solver"), ranks))
        slow = 100.0 if spec.get("solver") == "iterative" else 1.0  # off the bonds^1 line
        row = {"dim": 2, "bonds": spec["bonds"], "ranks": ranks, "dofs": 10 * spec["bonds"]}
        row["requested_solver"] = spec.get("solver", "auto")
        row["gradient_total_s"] = slow * spec["bonds"]
        return row

    monkeypatch.setattr(scale, "_run_child", fake_child)
    res = scale.run_scale(dims=(2,), max_bonds_2d=300)
    assert specs == [(28, None, 1), (103, None, 1), (249, None, 1), (249, None, 2)]
    assert [s["bonds"] for s in res["skipped"]] == [981, 3979]
    specs.clear()
    res = scale.run_scale(dims=(2,))
    assert (981, "iterative", 1) in specs and (981, None, 2) in specs and 3979 not in [b for b, _, _ in specs]
    assert res["exponents_2d_serial_from_250"]["gradient_total_s"] == pytest.approx(1.0)


def test_bench_identify_runs_on_a_tiny_design():
    from fem_mnn.bench.identify import identify_table, run_identify_bench
    from fem_mnn.design import triangular_strip
    from fem_mnn.fem.linear import FemOptions
    from fem_mnn.geometry.build import MeshOptions

    d = triangular_strip(3, 2)
    res = run_identify_bench(d, FemOptions(degree=1, mesh=MeshOptions(elements_across=2, size=0.6)))
    assert res["n_bonds"] == d.n_bonds and res["converged"]
    for key in ("identify_seconds", "morphed_response_with_jacobian_seconds", "mean_z2", "chi2_per_dof"):
        assert math.isfinite(res[key]) and res[key] > 0, key
    assert "identify_seconds" in identify_table(res)


def test_bench_nonlinear_step_on_a_tiny_design(tmp_path, monkeypatch, capsys):
    import functools

    from fem_mnn.bench import fem as fb
    from fem_mnn.cli import main

    case = _tiny_case()
    tiny = functools.partial(fb.nonlinear_step_cost, case.design, case.options, repeats=1)
    monkeypatch.setattr(fb, "nonlinear_step_cost", lambda grams: tiny(grams=grams))
    out = tmp_path / "nl.json"
    assert main(["bench", "--nonlinear", "--nonlinear-grams", "2", "--out", str(out)]) == 0
    res = json.loads(out.read_text())
    med = res["median"]
    # the ratio is the two timed quantities' quotient, the budget the Newton count + 2
    assert res["ratio"] == pytest.approx(med["step"] / med["factorise"])
    assert res["budget"] == med["newton_iterations"] + 2 and med["newton_iterations"] >= 2
    assert res["within_budget"] == (res["ratio"] <= res["budget"]) and res["grams"] == 2
    assert "step / factorisation" in capsys.readouterr().out
    assert main(["bench", "--nonlinear", "--nonlinear-grams", "-1", "--out", str(out)]) == 2
