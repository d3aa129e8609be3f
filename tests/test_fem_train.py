"""FEM-driven training: the same engine as the spring model, serial and under mpiexec."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import need_dolfinx, run_cli

from fem_mnn.cli import main

pytestmark = pytest.mark.fem

need_dolfinx()

ARGS = ["--task", "behaviour-ce", "--epochs", "3", "--degree", "1", "--quiet"]


def test_fem_training_lowers_the_loss(design_file, tmp_path):
    out = tmp_path / "serial"
    assert main(["fem", "train", str(design_file), *ARGS, "--out", str(out)]) == 0
    history = json.loads((out / "history.json").read_text())
    losses = [r["loss"] for r in history]
    assert len(losses) == 3 and losses[2] < losses[1] < losses[0]
    widths = json.loads((out / "result.json").read_text())["widths"]
    assert np.ptp(widths) > 0  # the bonds were told apart
    for name in ("history.csv", "checkpoint.npz", "design_trained.json", "lattice.png", "training.png"):
        assert (out / name).stat().st_size > 0


@pytest.mark.mpi
def test_fem_training_on_two_ranks_equals_serial_and_writes_once(design_file, tmp_path):
    serial, par = tmp_path / "serial", tmp_path / "par"
    assert run_cli("fem", "train", design_file, *ARGS, "--out", serial).returncode == 0
    r = run_cli("fem", "train", design_file, *ARGS, "--out", par, ranks=2)
    assert r.returncode == 0, r.stderr[-2000:]
    w_s = np.array(json.loads((serial / "result.json").read_text())["widths"])
    w_p = np.array(json.loads((par / "result.json").read_text())["widths"])
    np.testing.assert_allclose(w_p, w_s, rtol=1e-10)
    # one writer: the CSV has a header and one line per epoch, the summary is printed once
    assert len((par / "history.csv").read_text().splitlines()) == 4
    assert r.stdout.count("wrote ") == 1
