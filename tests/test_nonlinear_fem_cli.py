"""``fem gradient | train | evaluate --regime nonlinear`` (issue 23): the neo-Hookean lattice on the load
path from zero, the exact width gradient through it, the small-load limit, serial against 2 ranks, and
training through the one loop with a resume bit for bit. Coarse P1 meshes of the 3x2 patch keep it fast."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import need_dolfinx, run_cli

need_dolfinx()

from fem_mnn.design import save_design, triangular_patch  # noqa: E402
from fem_mnn.learn import TrainConfig, train  # noqa: E402
from fem_mnn.learn.taskfile import task_from_dict  # noqa: E402

pytestmark = pytest.mark.fem

MESH = ("--degree", "1", "--elements-across", "2")
GRAM = 9.8e-3  # N

TASK = {
    "format": "fem_mnn.task/1",
    "name": "patch-switch",
    "regime": "nonlinear",
    "inputs": [{"node": 4, "direction": [0, -1]}],
    "load_levels": [{"name": "light", "grams": 2}, {"name": "heavy", "grams": 20}],
    "outputs": [{"node": 3, "component": "y"}, {"node": 4, "component": "x"}],
    "loss": "contrast-margin",
    "data": {"inputs": [[1.0], [1.0]], "labels": [0, 1], "levels": ["light", "heavy"]},
    "success": {"metric": "train_contrast", "min": 1.1},
}


@pytest.fixture(scope="module")
def patch_file(tmp_path_factory) -> Path:
    d = triangular_patch(top=3, rows=2)
    d = d.with_widths(np.random.default_rng(1).uniform(1.7, 2.3, d.n_bonds))
    return save_design(d, tmp_path_factory.mktemp("nlfem") / "patch.json")


def _case(grams: float) -> tuple[str, ...]:
    return ("--load", f"4:0,{-grams * GRAM!r}", "--target", "3:_,-1")


def _gradient(patch_file: Path, out: Path, grams: float, *extra: str, ranks: int = 1) -> dict:
    r = run_cli("fem", "gradient", patch_file, *_case(grams), *MESH, "--exact", "--out", out, *extra, ranks=ranks)
    assert r.returncode == 0, r.stderr[-2000:]
    return json.loads(out.read_text())


def test_nonlinear_gradient_keys_and_the_small_load_limit(patch_file: Path, tmp_path: Path):
    nl = [_gradient(patch_file, tmp_path / f"nl{k}.json", g, "--regime", "nonlinear") for k, g in enumerate((0.5, 1.0))]
    lin = [_gradient(patch_file, tmp_path / f"lin{k}.json", g) for k, g in enumerate((0.5, 1.0))]
    g = nl[0]
    for key in ("u", "elongation", "adjoint_elongation", "grad_k", "grad_w", "grad_w_exact", "loss", "newton"):
        assert key in g, key
    assert g["regime"]["regime"] == "nonlinear" and g["newton"]["load_factor"] == 1.0
    assert g["exact"]["adjoint_residual"] < 1e-10
    # the exact gradients tend to the linear exact gradient, their difference proportional to the load
    dev = [
        np.linalg.norm(np.subtract(n["grad_w_exact"], li["grad_w_exact"])) / np.linalg.norm(li["grad_w_exact"])
        for n, li in zip(nl, lin, strict=True)
    ]
    print("nonlinear vs linear exact gradient at 0.5 g and 1 g:", dev)
    assert dev[0] < 0.01  # the target at 0.5 g
    # first order in the load: doubling it doubles the difference (second-order terms: ~dev itself, < 1 %)
    assert dev[1] / dev[0] == pytest.approx(2.0, rel=0.05)


@pytest.mark.mpi
def test_nonlinear_gradient_under_mpiexec_matches_serial(patch_file: Path, tmp_path: Path):
    a = _gradient(patch_file, tmp_path / "serial.json", 20.0, "--regime", "nonlinear")
    b = _gradient(patch_file, tmp_path / "par.json", 20.0, "--regime", "nonlinear", ranks=2)
    assert b["fem"]["ranks"] == 2
    for key in ("u", "elongation", "adjoint_elongation", "grad_k", "grad_w", "grad_w_exact"):
        x, y = np.asarray(a[key]), np.asarray(b[key])
        # the bound of tests/test_nonlinear_gradient.py::test_two_ranks_equal_serial (linear spread 1.9e-11
        # measured, bound 1e-10; Newton converges far below its tolerance, adjoints refined to round-off)
        assert np.max(np.abs(x - y)) <= 1e-10 * np.max(np.abs(x)), key


def test_fem_evaluate_and_train_nonlinear_resume_bit_for_bit(patch_file: Path, tmp_path: Path):
    from mpi4py import MPI

    from fem_mnn.design import load_design
    from fem_mnn.fem.linear import FemOptions
    from fem_mnn.fem.nonlinear import NonlinearFemModel
    from fem_mnn.geometry.build import MeshOptions, mesh_plan

    task_file = tmp_path / "task.json"
    task_file.write_text(json.dumps(TASK))
    ev = tmp_path / "ev.json"
    r = run_cli("fem", "evaluate", patch_file, "--task-file", task_file, "--regime", "nonlinear", *MESH, "--out", ev)
    assert r.returncode == 0, r.stderr[-2000:]
    e = json.loads(ev.read_text())
    assert e["regime"]["model"] == "fem" and {"train_contrast_light", "train_contrast_heavy"} <= set(e["metrics"])

    d = load_design(patch_file)
    task = task_from_dict(TASK, d)
    mo = mesh_plan(d, MeshOptions(elements_across=2)).fixed_size()
    cfg = TrainConfig(epochs=2, lr=0.05, beta=5.0, shuffle=False, batch_size=None)

    def model() -> NonlinearFemModel:
        return NonlinearFemModel(d, FemOptions(degree=1, mesh=mo), comm=MPI.COMM_SELF)

    full = train(model(), task, cfg, out_dir=tmp_path / "full")
    # the start metrics are those of fem evaluate (same mesh, same path from zero)
    assert full.initial_metrics["train_loss"] == pytest.approx(e["metrics"]["train_loss"], rel=1e-9)
    train(model(), task, cfg, out_dir=tmp_path / "part", stop_after=1)
    resumed = train(model(), task, cfg, out_dir=tmp_path / "part", resume=True)
    assert resumed.resumed_from == 1
    np.testing.assert_array_equal(resumed.widths, full.widths)
    assert [r.to_dict() for r in resumed.history] == [r.to_dict() for r in full.history]
    assert full.history[-1].metrics["train_loss"] < full.initial_metrics["train_loss"]


def test_continuation_is_recorded_and_refused_where_it_would_be_ignored(patch_file: Path, tmp_path: Path):
    arc = _gradient(patch_file, tmp_path / "arc.json", 1.0, "--regime", "nonlinear", "--continuation", "arclength")
    ref = _gradient(patch_file, tmp_path / "ref.json", 1.0, "--regime", "nonlinear")
    assert arc["regime"]["continuation"] == "arclength" and "continuation" not in ref["regime"]
    # no limit point on this path: the continuation never starts, the numbers are the same bit for bit
    assert arc["grad_w_exact"] == ref["grad_w_exact"] and arc["u"] == ref["u"]
    for argv, why in (
        (("fem", "gradient", patch_file, *_case(1.0), *MESH, "--continuation", "arclength"), "only with --regime"),
        (("spring", "gradient", patch_file, *_case(1.0), "--regime", "nonlinear", "--continuation", "stop"), "FE only"),
    ):
        r = run_cli(*argv)
        assert r.returncode == 2, r.stderr
        lines = r.stderr.strip().splitlines()
        assert len(lines) == 1 and why in lines[0] and "--continuation" in lines[0]
