"""Interrupted training resumes bit for bit (issue 5).

A ``fem-mnn spring train`` subprocess is interrupted twice (SIGKILL, then Ctrl-C),
each time right after a new checkpoint appears (the test waits for the checkpoint file, never for a fixed
time), and resumed with ``--resume``; the final widths, the history (JSON and
CSV), the trained design and the optimiser state must be bitwise identical to an
uninterrupted run. Damaged or foreign checkpoints are refused in one line.
"""

from __future__ import annotations

import json
import signal
import subprocess
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
from conftest import child_env, cli_command, need_dolfinx, run_cli

from fem_mnn.cli import main
from fem_mnn.core.errors import InputError
from fem_mnn.design import paper_sample

training = pytest.importorskip("fem_mnn.learn.training", reason="fem_mnn/training.py (training engine) has not landed")
pytest.importorskip(
    "fem_mnn.commands.train", reason="fem_mnn/commands/train.py (`fem-mnn spring train`) has not landed"
)

#: A small run with shuffled mini-batches (so the generator state matters): 150 epochs of
#: the paper's regression task, a checkpoint every 5 epochs.
ARGS = ["--task", "regression", "--epochs", "150", "--checkpoint-every", "5", "--seed", "3", "--quiet"]


def _argv(design: Path, out: Path, *extra: str) -> list[str]:
    return ["spring", "train", str(design), *ARGS, "--out", str(out), *extra]


def _wait_for_checkpoint(ckpt: Path, proc: subprocess.Popen, after_epoch: int, timeout: float = 120.0) -> int:
    """Poll until the checkpoint holds an epoch > after_epoch; return that epoch."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if proc.poll() is not None:
            pytest.fail(f"training ended (rc {proc.returncode}) before it could be killed: {proc.stderr.read()}")
        if ckpt.exists():
            state, _ = training.load_checkpoint(ckpt)  # replaced atomically: never torn
            if state.epoch > after_epoch:
                return state.epoch
        time.sleep(0.002)
    pytest.fail(f"no checkpoint after epoch {after_epoch} within {timeout} s")


def _kill_after_next_checkpoint(design: Path, out: Path, after_epoch: int, *extra: str, sig=signal.SIGKILL) -> int:
    proc = subprocess.Popen(
        cli_command(*_argv(design, out, *extra)),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=child_env(),
    )
    try:
        epoch = _wait_for_checkpoint(out / "checkpoint.npz", proc, after_epoch)
    finally:
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=60)
    if sig == signal.SIGKILL:
        assert proc.returncode == -signal.SIGKILL
    else:  # Ctrl-C: the run stops after the current epoch, checkpoints, says where in one line, exits 130
        state, _ = training.load_checkpoint(out / "checkpoint.npz")
        assert state.epoch >= epoch
        epoch = state.epoch
        lines = err.splitlines()
        assert proc.returncode == 130 and len(lines) == 1, (proc.returncode, err)
        assert f"after epoch {epoch}" in lines[0] and str(out / "checkpoint.npz") in lines[0], err
    assert not (out / "result.json").exists(), "the run finished before the kill: make it longer"
    return epoch


@pytest.fixture(scope="module")
def reference(paper_file, tmp_path_factory) -> Path:
    """The uninterrupted run (in process)."""
    out = tmp_path_factory.mktemp("reference") / "run"
    assert main(_argv(paper_file, out)) == 0
    return out


def _bits(values) -> np.ndarray:
    return np.asarray(values, dtype=np.float64).view(np.uint64)


def test_sigkilled_training_resumes_bitwise_identical(paper_file, reference, tmp_path):
    run = tmp_path / "run"
    e1 = _kill_after_next_checkpoint(paper_file, run, 0)
    e2 = _kill_after_next_checkpoint(paper_file, run, e1, "--resume", sig=signal.SIGINT)
    assert e2 > e1
    r = run_cli(*_argv(paper_file, run, "--resume"), process=True)
    assert r.returncode == 0, r.stderr

    ref = json.loads((reference / "result.json").read_text())
    res = json.loads((run / "result.json").read_text())
    assert res["resumed_from"] == e2 and ref["resumed_from"] is None
    np.testing.assert_array_equal(_bits(res["widths"]), _bits(ref["widths"]))
    # provenance records the command line, which differs by --resume
    run_keys = ("resumed_from", "provenance")
    assert {k: v for k, v in res.items() if k not in run_keys} == {k: v for k, v in ref.items() if k not in run_keys}
    assert "--resume" in res["provenance"]["command"] and "--resume" not in ref["provenance"]["command"]
    for name in ("history.json", "history.csv", "design_trained.json"):
        assert (run / name).read_bytes() == (reference / name).read_bytes(), name
    history = json.loads((run / "history.json").read_text())
    assert [h["epoch"] for h in history] == list(range(1, 151))

    # the final optimiser state too (latent variable, Adam moments, generator)
    s_run, h_run = training.load_checkpoint(run / "checkpoint.npz")
    s_ref, h_ref = training.load_checkpoint(reference / "checkpoint.npz")
    for name in ("latent", "widths"):
        np.testing.assert_array_equal(_bits(getattr(s_run, name)), _bits(getattr(s_ref, name)))
    np.testing.assert_array_equal(_bits(s_run.adam.m), _bits(s_ref.adam.m))
    np.testing.assert_array_equal(_bits(s_run.adam.v), _bits(s_ref.adam.v))
    assert s_run.adam.t == s_ref.adam.t and s_run.rng_state == s_ref.rng_state


def _one_line_refusal(argv: list[str], capsys, needle: str) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and needle in err, err


def _partial_run(paper_file: Path, out: Path) -> None:
    from fem_mnn.learn.tasks import build_task
    from fem_mnn.spring.network import SpringModel

    design = paper_sample()
    config = training.paper_config("regression", epochs=150, checkpoint_every=5, seed=3)
    training.train(SpringModel(design), build_task("regression", design, seed=3), config, out_dir=out, stop_after=5)


def test_a_folder_with_a_checkpoint_needs_resume(paper_file, tmp_path, capsys):
    run = tmp_path / "run"
    _partial_run(paper_file, run)
    _one_line_refusal(_argv(paper_file, run), capsys, "--resume")


def test_resume_refuses_a_checkpoint_of_another_run(paper_file, tmp_path, capsys):
    run = tmp_path / "run"
    _partial_run(paper_file, run)
    argv = _argv(paper_file, run, "--resume")
    argv[argv.index("--seed") + 1] = "4"
    _one_line_refusal(argv, capsys, "another run")


@pytest.mark.parametrize("damage", ["truncated", "garbage", "empty", "bad-header", "no-history"])
def test_resume_refuses_a_damaged_checkpoint_in_one_line(paper_file, tmp_path, capsys, damage):
    run = tmp_path / "run"
    _partial_run(paper_file, run)
    ckpt = run / "checkpoint.npz"
    data = ckpt.read_bytes()
    if damage == "truncated":
        ckpt.write_bytes(data[: len(data) // 2])
    elif damage == "garbage":
        ckpt.write_bytes(b"\x93NUMPY" + bytes(range(256)) * 4)
    elif damage == "empty":
        ckpt.write_bytes(b"")
    else:
        with zipfile.ZipFile(ckpt) as z:
            members = {n: z.read(n) for n in z.namelist()}
        if damage == "bad-header":
            members["header.npy"] = _npy(json.dumps(["not", "a", "header"]))
        else:
            del members["history.npy"]
        with zipfile.ZipFile(ckpt, "w") as z:
            for n, b in members.items():
                z.writestr(n, b)
    with pytest.raises(InputError, match="checkpoint"):
        training.load_checkpoint(ckpt)
    _one_line_refusal(_argv(paper_file, run, "--resume"), capsys, str(ckpt))


def _npy(text: str) -> bytes:
    import io

    buf = io.BytesIO()
    np.save(buf, np.array(text))
    return buf.getvalue()


@pytest.mark.fem
def test_fem_driven_training_resumes_within_1e_10(tmp_path):
    """The same checkpoint serves FEM-driven training (issue 5: within 1e-10; in practice bitwise)."""
    need_dolfinx()
    from fem_mnn.fem.linear import FemModel, FemOptions
    from fem_mnn.geometry.build import MeshOptions
    from fem_mnn.learn.tasks import build_task

    design = paper_sample()
    options = FemOptions(degree=1, mesh=MeshOptions(elements_across=1))
    task = build_task("behaviour", design)
    config = training.paper_config("behaviour", epochs=3, checkpoint_every=1, lr=5e-2)
    ref = training.train(FemModel(design, options), task, config, out_dir=tmp_path / "ref")
    first = training.train(FemModel(design, options), task, config, out_dir=tmp_path / "run", stop_after=1)
    assert first.stop_reason == "interrupted" and len(first.history) == 1
    res = training.train(FemModel(design, options), task, config, out_dir=tmp_path / "run", resume=True)
    assert res.resumed_from == 1 and len(res.history) == len(ref.history) == 3
    assert np.max(np.abs(res.widths - ref.widths)) <= 1e-10
    assert ref.history[-1].loss < ref.history[0].loss  # it trained: the widths moved
    for a, b in zip(res.history, ref.history, strict=True):
        assert abs(a.loss - b.loss) <= 1e-10 * abs(b.loss)
        assert np.max(np.abs(np.subtract(a.widths, b.widths))) <= 1e-10


@pytest.mark.fem
def test_sigkilled_fem_training_resumes_from_the_command_line(paper_file, tmp_path):
    """`fem-mnn fem train`, killed with SIGKILL after its first checkpoint, resumed: same widths (1e-10)."""
    need_dolfinx()
    args = ["--task", "behaviour-ce", "--epochs", "6", "--degree", "1", "--elements-across", "1"]
    args += ["--checkpoint-every", "1", "--quiet"]
    ref, run = tmp_path / "ref", tmp_path / "run"
    assert main(["fem", "train", str(paper_file), *args, "--out", str(ref)]) == 0
    argv = ["fem", "train", paper_file, *args, "--out", run]
    proc = subprocess.Popen(
        cli_command(*argv), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=child_env()
    )
    try:
        killed_at = _wait_for_checkpoint(run / "checkpoint.npz", proc, 0)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGKILL and not (run / "result.json").exists()
    r = run_cli(*argv, "--resume", process=True)
    assert r.returncode == 0, r.stderr
    a = json.loads((run / "result.json").read_text())
    b = json.loads((ref / "result.json").read_text())
    assert a["resumed_from"] >= killed_at
    np.testing.assert_allclose(a["widths"], b["widths"], rtol=0, atol=1e-10)
    ha = json.loads((run / "history.json").read_text())
    hb = json.loads((ref / "history.json").read_text())
    assert [h["epoch"] for h in ha] == list(range(1, 7))
    np.testing.assert_allclose([h["loss"] for h in ha], [h["loss"] for h in hb], rtol=1e-10)
