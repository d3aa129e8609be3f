"""Task files (issue 12): the paper's tasks ship as task files and give the same numbers; a
researcher's own task on a non-paper lattice trains with springs and with the FE model; a
task that does not fit the design is refused in one line; long runs stop cleanly on a signal."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import ROOT, child_env, cli_command, need_dolfinx, run_cli

from fem_mnn.core.errors import InputError
from fem_mnn.design import load_design, paper_sample, save_design, triangular_patch, triangular_strip
from fem_mnn.learn.checkpoint import load_checkpoint
from fem_mnn.learn.config import PAPER_SETTINGS
from fem_mnn.learn.taskfile import PAPER_TASK_FILES, load_task_file, paper_task, paper_task_path, task_from_dict
from fem_mnn.learn.tasks import TASK_NAMES, build_task

EXAMPLES = ROOT / "docs" / "examples"
STRIP_TASK = EXAMPLES / "strip-regression.json"


#: The runs here test task files, not the regime: the buckling check that every linear run makes by default
#: (an FE analysis per width set, seconds each) is tested in test_buckling_check.py.
NO_BUCKLING = ("--no-buckling-check",)


@pytest.fixture
def strip_file(tmp_path: Path) -> Path:
    return save_design(triangular_strip(6, 4), tmp_path / "strip.json")


@pytest.fixture
def strip_task(tmp_path: Path) -> Path:
    """The example task and its table, copied (so tests may edit them)."""
    for name in ("strip-regression.json", "strip-regression.csv"):
        shutil.copy(EXAMPLES / name, tmp_path / name)
    return tmp_path / "strip-regression.json"


def _edit(path: Path, **changes) -> Path:
    data = json.loads(path.read_text())
    data.update(changes)
    path.write_text(json.dumps(data))
    return path


# ------------------------------------------------------------------ the paper's tasks


@pytest.mark.parametrize("name", TASK_NAMES)
@pytest.mark.parametrize("seed", [0, 5])
def test_shipped_task_files_give_the_built_in_numbers(name, seed):
    d = paper_sample()
    a, b = build_task(name, d, seed=seed), paper_task(name, d, seed=seed)
    assert a.fingerprint() == b.fingerprint()  # loads, outputs, targets, labels: bit for bit
    for k in ("train_loads", "test_loads", "train_targets", "test_targets", "train_labels", "test_labels"):
        x, y = getattr(a, k), getattr(b, k)
        assert (x is None) == (y is None)
        if x is not None:
            assert x.tobytes() == y.tobytes(), k
    assert b.success is not None


def test_shipped_task_files_carry_the_paper_settings():
    assert set(PAPER_TASK_FILES) == set(TASK_NAMES)
    for name in TASK_NAMES:
        train = json.loads(paper_task_path(name).read_text())["train"]
        want = {k: (list(v) if isinstance(v, tuple) else v) for k, v in PAPER_SETTINGS[name].items()}
        assert train == want, name


@pytest.mark.parametrize("name", TASK_NAMES)
def test_paper_tasks_refuse_another_lattice(name):
    for other in (triangular_patch(7, 5), paper_sample().with_widths(np.full(28, 2.2))):
        if other.n_nodes == 14:  # same lattice, other widths: accepted
            assert paper_task(name, other).n_nodes == 14
            continue
        with pytest.raises(InputError, match="lattice"):
            paper_task(name, other)
        with pytest.raises(InputError, match="lattice"):
            build_task(name, other)
    moved = paper_sample()
    nodes = moved.nodes.copy()
    nodes[7] += (0.5, 0.0)
    from dataclasses import replace

    with pytest.raises(InputError, match="node 7"):
        paper_task(name, replace(moved, nodes=nodes))
    # a translated copy of the paper's lattice is the paper's lattice
    assert paper_task(name, replace(moved, nodes=moved.nodes + 100.0)).n_nodes == 14


def test_cli_paper_task_on_a_patch_is_refused_in_one_line(tmp_path):
    patch = save_design(triangular_patch(7, 5), tmp_path / "patch.json")
    r = run_cli("spring", "train", patch, "--task", "iris", "--out", tmp_path / "run", "--quiet")
    assert r.returncode == 2 and len(r.stderr.splitlines()) == 1
    assert "lattice" in r.stderr and "--task-file" in r.stderr
    assert not (tmp_path / "run").exists()


# ---------------------------------------------------------------- a researcher's task


def test_strip_task_file_reads(strip_file, strip_task):
    task = load_task_file(strip_task, load_design(strip_file))
    assert task.kind == "mse" and task.train_loads.shape == (12, 24, 2) and task.test_loads.shape == (4, 24, 2)
    assert [tuple(o) for o in task.outputs] == [(12, 0), (17, 0)]
    loaded = np.nonzero(np.any(task.train_loads != 0, axis=(0, 2)))[0].tolist()
    assert loaded == [19, 22]  # the bottom row
    assert np.all(task.train_loads[:, [19, 22], 1] <= 0) and task.success == {"metric": "test_rel_error", "max": 0.1}


@pytest.mark.parametrize(
    "where,typo,hint",
    [
        ((), "sucess", "did you mean 'success'?"),
        (("data",), "input_colums", "did you mean 'input_columns'?"),
        ((), "zzz", "known: "),  # nothing close: the list of known keys
    ],
)
def test_unknown_task_key_gets_a_did_you_mean(strip_file, strip_task, where, typo, hint):
    d = json.loads(strip_task.read_text())
    obj = d
    for k in where:
        obj = obj[k]
    obj[typo] = 1
    with pytest.raises(InputError, match="unknown key") as exc:
        task_from_dict(d, load_design(strip_file), source=str(strip_task), base=strip_task.parent)
    msg = str(exc.value)
    assert hint in msg and ".".join([*where, typo]) in msg, msg


def test_strip_task_trains_with_springs(strip_file, strip_task, tmp_path):
    out = tmp_path / "run"
    r = run_cli("spring", "train", strip_file, "--task-file", strip_task, "--epochs", "120", "--out", out, "--quiet",
                *NO_BUCKLING)  # fmt: skip
    assert r.returncode == 0, r.stderr
    res = json.loads((out / "result.json").read_text())
    hist = json.loads((out / "history.json").read_text())
    assert res["task"] == "strip-regression" and res["epochs"] == 120
    assert hist[-1]["metrics"]["test_rel_error"] < 0.2 * hist[0]["metrics"]["test_rel_error"]
    assert res["success"]["metric"] == "test_rel_error" and res["success"]["met"] is True
    assert "success: test_rel_error" in r.stdout and ": met" in r.stdout


@pytest.mark.fem
def test_strip_task_trains_with_the_fe_model(strip_file, strip_task, tmp_path):
    need_dolfinx()
    out = tmp_path / "run"
    argv = ["fem", "train", strip_file, "--task-file", strip_task, "--epochs", "2", "--degree", "1"]
    r = run_cli(*argv, "--elements-across", "2", "--out", out, "--quiet", *NO_BUCKLING)
    assert r.returncode == 0, r.stderr
    hist = json.loads((out / "history.json").read_text())
    assert len(hist) == 2 and hist[1]["loss"] < hist[0]["loss"]
    assert json.loads((out / "result.json").read_text())["success"]["metric"] == "test_rel_error"


@pytest.mark.parametrize(
    ("change", "needle"),
    [
        ({"inputs": [{"node": 0, "direction": [0, -1]}, {"node": 22, "direction": [0, -1]}]}, "inputs[0].node"),
        ({"inputs": [{"node": 99, "direction": [0, -1]}, {"node": 22, "direction": [0, -1]}]}, "unknown node id"),
        ({"outputs": [{"node": 5, "component": "x"}, {"node": 17, "component": "x"}]}, "outputs[0].node"),
        ({"outputs": [{"node": 12, "component": "z"}, {"node": 17, "component": "x"}]}, "outputs[0].component"),
        ({"loss": "hinge"}, "loss"),
        ({"widht": 3}, "widht"),
        ({"success": {"metric": "test_accuracy", "min": 0.9}}, "success.metric"),
        ({"success": {"metric": "test_rel_error"}}, "success"),
        ({"lattice": "li-mao-2024-sample"}, "lattice"),
        ({"format": "fem_mnn.task/9"}, "format"),
        ({"input_scaling": {"grams": -1}}, "input_scaling.grams"),
        ({"train": {"epochz": 3}}, "train.epochz"),
    ],
)
def test_a_task_that_does_not_fit_is_refused_in_one_line(strip_file, strip_task, tmp_path, change, needle):
    _edit(strip_task, **change)
    r = run_cli("spring", "train", strip_file, "--task-file", strip_task, "--out", tmp_path / "run", "--quiet")
    assert r.returncode == 2, r.stderr
    assert len(r.stderr.splitlines()) == 1 and needle in r.stderr and str(strip_task) in r.stderr, r.stderr


def test_table_errors_name_the_row(strip_file, strip_task):
    csv = strip_task.with_name("strip-regression.csv")
    lines = csv.read_text().splitlines()
    lines[3] = lines[3].replace("train", "trian")
    csv.write_text("\n".join(lines) + "\n")
    with pytest.raises(InputError, match="row 4"):
        load_task_file(strip_task, load_design(strip_file))


def test_inline_classification_with_softmax(strip_file):
    d = load_design(strip_file)
    task = task_from_dict(
        {
            "format": "fem_mnn.task/1",
            "name": "two-class",
            "inputs": [{"node": 20, "direction": [1, 0]}],
            "input_scaling": {"force_N": 0.01},
            "outputs": [{"node": 12, "component": "x"}, {"node": 17, "component": "x"}],
            "loss": "softmax",
            "softmax_scale": 0.05,
            "data": {"inputs": [[1.0], [-1.0], [0.5], [-0.5]], "labels": [0, 1, 0, 1]},
            "split": {"train_fraction": 0.5, "seed": 1},
            "success": {"metric": "test_contrast", "min": 1.5},
        },
        d,
    )
    assert task.kind == "cross_entropy" and task.normalisation == "softmax" and task.softmax_scale == 0.05
    assert task.train_loads.shape[0] == 2 and task.test_loads.shape[0] == 2
    from fem_mnn.spring.network import SpringModel

    u = SpringModel(d).operator(d.widths).solve(task.test_loads).u
    m = task.metrics("test", u)
    assert "contrast" in m and task.success_met({"test_contrast": m["contrast"]})["value"] == m["contrast"]


# -------------------------------------------------------------------- long runs


def test_resume_without_a_checkpoint_is_an_error(strip_file, tmp_path):
    r = run_cli("spring", "train", strip_file, "--task-file", STRIP_TASK, "--out", tmp_path / "x", "--resume")
    assert r.returncode == 2 and "no checkpoint" in r.stderr and len(r.stderr.splitlines()) == 1


def test_progress_shows_time_per_epoch_and_eta(strip_file, tmp_path):
    r = run_cli("spring", "train", strip_file, "--task-file", STRIP_TASK, "--epochs", "3", "--out", tmp_path / "r",
                *NO_BUCKLING)  # fmt: skip
    assert r.returncode == 0
    assert "s/epoch" in r.stderr and "test_rel_error" in r.stderr and "epoch 3/3" in r.stderr
    r = run_cli("spring", "train", strip_file, "--task-file", STRIP_TASK, "--epochs", "5", "--out", tmp_path / "r",
                "--resume", *NO_BUCKLING)  # fmt: skip
    assert r.returncode == 0 and "resuming from epoch 3" in r.stderr and "resumed from epoch 3" in r.stdout


def _interrupt_after_first_epoch(argv: list, out: Path, sig=signal.SIGINT, timeout: float = 240.0):
    proc = subprocess.Popen(cli_command(*argv), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=child_env())  # fmt: skip
    csv = out / "history.csv"
    t0 = time.monotonic()
    try:
        while time.monotonic() - t0 < timeout:
            if proc.poll() is not None:
                pytest.fail(f"training ended (rc {proc.returncode}) before the signal: {proc.stderr.read()}")
            if csv.exists() and len(csv.read_text().splitlines()) >= 2:  # header + epoch 1
                break
            time.sleep(0.01)
        else:
            pytest.fail("no epoch within the timeout")
    finally:
        proc.send_signal(sig)
        out_text, err = proc.communicate(timeout=timeout)
    return proc.returncode, err


def test_sigterm_during_spring_train_checkpoints(strip_file, tmp_path):
    out = tmp_path / "run"
    argv = ["spring", "train", strip_file, "--task-file", STRIP_TASK, "--epochs", "1000000", "--out", out, "--quiet"]
    rc, err = _interrupt_after_first_epoch(argv, out, sig=signal.SIGTERM)
    assert rc == 130, err
    state, _ = load_checkpoint(out / "checkpoint.npz")
    assert f"after epoch {state.epoch} of 1000000" in err and str(out / "checkpoint.npz") in err and "SIGTERM" in err
    assert not (out / "result.json").exists()


@pytest.mark.fem
def test_sigint_during_fem_train_leaves_a_checkpoint_and_resume_continues(paper_file, tmp_path):
    need_dolfinx()
    out = tmp_path / "run"
    argv = ["fem", "train", paper_file, "--task", "behaviour-ce", "--epochs", "400", "--degree", "1"]
    argv += ["--elements-across", "2", "--checkpoint-every", "0", "--out", out, "--quiet"]
    rc, err = _interrupt_after_first_epoch(argv, out)
    assert rc == 130, err
    state, _ = load_checkpoint(out / "checkpoint.npz")
    assert state.epoch >= 1 and f"after epoch {state.epoch}" in err and "--resume" in err
    more = [*argv[:6], str(state.epoch + 1), *argv[7:]]
    r = run_cli(*more, "--resume", *NO_BUCKLING, process=True)
    assert r.returncode == 0, r.stderr
    res = json.loads((out / "result.json").read_text())
    assert res["resumed_from"] == state.epoch and res["epochs"] == state.epoch + 1
    assert f"resumed from epoch {state.epoch}" in r.stdout
