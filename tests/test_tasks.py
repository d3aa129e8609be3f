"""Tasks build the paper's loads, targets and labels; ``fem-mnn spring train`` runs them."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest

from fem_mnn.cli import main
from fem_mnn.core.errors import InputError
from fem_mnn.design import load_design, triangular_patch
from fem_mnn.learn.tasks import (
    TASK_NAMES,
    behaviour_cross_entropy,
    behaviour_mse,
    build_task,
    gram_force,
    iris,
    load_iris,
    regression,
)

#: SHA-256 of scikit-learn 1.9.1's ``load_iris().data`` as float64 bytes (C order).
SKLEARN_IRIS_DATA_SHA256 = "012f498fe9c8b3b34212c3c5d98e1f03f2f79931cd49349beb1bad64dcf164a7"


def test_gram_force_uses_g_9_8():
    assert gram_force(5) == pytest.approx(0.049)
    np.testing.assert_allclose(gram_force(np.array([1.0, 10.0])), [9.8e-3, 9.8e-2])


def test_behaviour_tasks_load_node_11_with_5_g(paper):
    for task in (behaviour_mse(paper), behaviour_cross_entropy(paper)):
        f = task.train_loads
        assert f.shape == (1, 14, 2) and task.test_loads.shape == (0, 14, 2)
        expected = np.zeros((14, 2))
        expected[10] = (0.0, -0.049)
        np.testing.assert_allclose(f[0], expected, atol=1e-15)
        assert [tuple(o) for o in task.outputs] == [(12, 1), (13, 1)]
    mse = behaviour_mse(paper)
    np.testing.assert_allclose(mse.train_targets, [[-0.5, -0.8]])
    assert mse.loss_si_scale == 1e-6
    ce = behaviour_cross_entropy(paper, dominant=1)
    assert ce.train_labels.tolist() == [1]


@pytest.mark.parametrize("noise", [0.0, 0.1])
def test_regression_data(paper, noise):
    task = regression(paper, noise=noise, seed=3)
    assert task.train_loads.shape == (70, 14, 2) and task.test_loads.shape == (30, 14, 2)
    for f, t in ((task.train_loads, task.train_targets), (task.test_loads, task.test_targets)):
        X = f[:, 10, 1]
        rest = f.copy()
        rest[:, 10, 1] = 0
        assert np.all(rest == 0) and np.all(np.abs(X) <= gram_force(20.0))
        resid = t - X[:, None] * np.array([0.0, 16.0, 4.0, 16.0])
        if noise == 0:
            np.testing.assert_allclose(resid, 0, atol=1e-14)
    if noise:
        resid = np.concatenate([task.train_targets, task.test_targets]) - np.concatenate(
            [task.train_loads[:, 10, 1], task.test_loads[:, 10, 1]]
        )[:, None] * np.array([0.0, 16.0, 4.0, 16.0])
        assert 0.08 < resid.std() < 0.12
    assert [tuple(o) for o in task.outputs] == [(12, 0), (12, 1), (13, 0), (13, 1)]
    # exact outputs give zero loss and zero relative error
    u = np.zeros((70, 14, 2))
    u[:, 12], u[:, 13] = task.train_targets[:, :2], task.train_targets[:, 2:]
    assert np.all(task.loss("train", np.arange(70))(u)[0] == 0)
    assert task.metrics("train", u)["rel_error"] == 0


def test_iris_file_is_sklearns_copy():
    X, y = load_iris()
    assert X.shape == (150, 4) and np.bincount(y).tolist() == [50, 50, 50]
    assert hashlib.sha256(np.ascontiguousarray(X).tobytes()).hexdigest() == SKLEARN_IRIS_DATA_SHA256
    assert y.tolist() == [0] * 50 + [1] * 50 + [2] * 50


def test_iris_task_loads(paper):
    task = iris(paper, seed=5)
    assert task.train_loads.shape == (105, 14, 2) and task.test_loads.shape == (45, 14, 2)
    f = np.concatenate([task.train_loads, task.test_loads])
    assert np.all(f[:, :, 0] == 0)
    loaded = np.nonzero(np.any(f[:, :, 1] != 0, axis=0))[0]
    assert loaded.tolist() == [9, 11, 12, 13]
    assert np.all(f[:, :, 1] <= 0)  # hanging weights pull down
    # each feature's largest value weighs 5 g
    np.testing.assert_allclose(-f[:, [13, 11, 12, 9], 1].min(axis=0), 0.049)
    X, y = load_iris()
    idx = np.array(task.info["train_index"] + task.info["test_index"])
    np.testing.assert_allclose(-f[:, 13, 1], X[idx, 0] / X[:, 0].max() * 0.049)
    np.testing.assert_array_equal(np.concatenate([task.train_labels, task.test_labels]), y[idx])
    assert sorted(idx.tolist()) == list(range(150))
    assert [tuple(o) for o in task.outputs] == [(7, 0), (1, 0), (2, 0)]
    # different seeds give different splits, the same seed the same one
    assert iris(paper, seed=5).info["train_index"] == task.info["train_index"]
    assert iris(paper, seed=6).info["train_index"] != task.info["train_index"]


def test_iris_accuracy_metric(paper):
    task = iris(paper, seed=0)
    u = np.zeros((45, 14, 2))
    u[np.arange(45), [7, 1, 2][0], 0] = 1.0  # every flower predicted setosa
    acc = task.metrics("test", u)["accuracy"]
    assert acc == pytest.approx(np.mean(task.test_labels == 0))


def test_tasks_refuse_missing_nodes():
    small = triangular_patch(3, 2)
    with pytest.raises(InputError, match="unknown node id"):
        behaviour_mse(small)
    for name in TASK_NAMES:
        with pytest.raises(InputError):
            build_task(name, small)


# ------------------------------------------------------------------------- CLI


def test_train_help(capsys):
    assert main(["spring", "train", "--help"]) == 0
    assert "--paper-gradient" in capsys.readouterr().out


def test_train_cli_tiny_run_and_resume(paper, design_file, tmp_path, capsys):
    design = design_file
    out = tmp_path / "run"
    args = ["spring", "train", str(design), "--task", "behaviour-ce", "--epochs", "6", "--out", str(out), "--quiet"]
    assert main([*args, "--checkpoint-every", "3"]) == 0
    for name in ("history.csv", "history.json", "result.json", "checkpoint.npz", "design_trained.json"):
        assert (out / name).exists(), name
    for name in ("lattice.png", "training.png"):
        assert (out / name).read_bytes()[:4] == b"\x89PNG"
    res = json.loads((out / "result.json").read_text())
    assert res["epochs"] == 6 and res["design_hash"] == paper.hash() and res["seed"] == 0
    trained = load_design(out / "design_trained.json")
    np.testing.assert_array_equal(trained.widths, res["widths"])
    # the same folder again without --resume is refused; with --resume and more epochs it continues
    assert main(args) == 2
    assert "--resume" in capsys.readouterr().err
    assert main([*args[:-3], "--epochs", "8", "--out", str(out), "--quiet", "--resume"]) == 0
    assert json.loads((out / "result.json").read_text())["epochs"] == 8


def test_train_cli_bad_input(design_file, tmp_path, capsys):
    design = design_file
    assert main(["spring", "train", str(design), "--task", "nope"]) == 2
    assert (
        main(["spring", "train", str(tmp_path / "missing.json"), "--task", "iris", "--out", str(tmp_path / "o")]) == 2
    )
    err = capsys.readouterr().err
    assert "missing.json" in err and "Traceback" not in err
