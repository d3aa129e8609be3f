"""The command line: gradient JSON, readable tables, one-line errors with exit code 2."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import run_cli

from fem_mnn.cli import main
from fem_mnn.contract import backprop
from fem_mnn.design import Design, triangular_strip
from fem_mnn.learn.losses import MSE
from fem_mnn.spring.network import SpringModel

KEYS = {"loss", "u", "elongation", "adjoint_elongation", "grad_k", "grad_w"}


@pytest.fixture
def design() -> Design:
    """A 6 x 3 strip with random widths: the design ``design_file`` writes in this module."""
    return triangular_strip(6, 3, width=np.random.default_rng(5).uniform(1.5, 2.5, 37))


@pytest.fixture
def strip_file(design, design_file):
    return design, design_file


def test_spring_gradient_json_on_any_design(tmp_path, strip_file):
    d, path = strip_file
    out = tmp_path / "g.json"
    rc = main(
        [
            "spring",
            "gradient",
            str(path),
            "--load",
            "14:0.01,-0.05",
            "--load",
            "16:0,-0.02",
            "--target",
            "17:_,-2",
            "--target",
            "12:0.5,_",
            "--out",
            str(out),
        ]
    )
    assert rc == 0
    doc = json.loads(out.read_text())
    assert KEYS <= set(doc)
    assert len(doc["u"]) == d.n_nodes and len(doc["grad_w"]) == d.n_bonds
    # the same numbers as the library call
    f = np.zeros((d.n_nodes, 2))
    f[14] = (0.01, -0.05)
    f[16] = (0, -0.02)
    t = np.full((d.n_nodes, 2), np.nan)
    t[17, 1] = -2
    t[12, 0] = 0.5
    bp = backprop(SpringModel(d), d.widths, f, MSE(t))
    np.testing.assert_allclose(doc["grad_w"], bp.grad_w, rtol=1e-12)
    assert doc["loss"] == pytest.approx(bp.loss, rel=1e-12)


def test_table_without_out(capsys, strip_file):
    _, path = strip_file
    assert main(["spring", "gradient", str(path), "--load", "14:0,-0.05", "--target", "17:_,-2"]) == 0
    text = capsys.readouterr().out
    assert "loss =" in text and "dL/dw" in text


@pytest.mark.parametrize(
    "args,needle",
    [
        (["--load", "99:0,1", "--target", "3:_,1"], "unknown node id"),
        (["--load", "0:0,1", "--target", "3:_,1"], "load on a fixed node"),
        (["--load", "3:0,nan", "--target", "7:_,1"], "finite"),
        (["--load", "3:0", "--target", "7:_,1"], "two components"),
        (["--load", "3:0,1", "--target", "7:_,_"], "loss is empty"),
        (["--load", "3:a,1", "--target", "7:_,1"], "must be a number"),
    ],
)
def test_bad_command_lines_exit_2_with_one_line(tmp_path, strip_file, args, needle):
    _, path = strip_file
    out = tmp_path / "never.json"
    r = run_cli("spring", "gradient", path, *args, "--out", out, process=True)
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0] and "Traceback" not in r.stderr
    assert not out.exists()


def test_bad_design_file_exit_2(tmp_path):
    p = tmp_path / "d.json"
    p.write_text('{"nodes": []}')
    r = run_cli("spring", "gradient", p, "--load", "1:0,1", "--target", "1:0,1", process=True)
    assert r.returncode == 2 and str(p) in r.stderr and "Traceback" not in r.stderr


def test_design_command_writes_the_paper_sample(tmp_path):
    out = tmp_path / "paper.json"
    assert main(["design", "paper", "-o", str(out)]) == 0
    from fem_mnn.design import load_design, paper_sample

    assert load_design(out).hash() == paper_sample().hash()


def test_every_command_has_help():
    from fem_mnn.cli import build_parser

    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    for name, p in sub.choices.items():
        assert p.format_help(), name


# ------------------------------------------------------------------ exit codes (issue 21)


def test_help_lists_every_exit_code(capsys):
    from fem_mnn.cli import EXIT_CODES

    assert main(["--help"]) == 0
    text = capsys.readouterr().out
    assert set(EXIT_CODES) == {0, 1, 2, 3, 4, 130}
    for code, meaning in EXIT_CODES.items():
        assert f"  {code:<4d} {meaning}" in text


def _crash(args):
    raise ZeroDivisionError("the\nmessage")


@pytest.mark.parametrize("with_out", [False, True])
def test_unexpected_exception_is_exit_4_with_one_line_and_a_traceback_log(tmp_path, monkeypatch, capsys, with_out):
    """Anything but InputError/EngineError/KeyboardInterrupt is a bug: exit 4, one line, the traceback in a log."""
    import tempfile

    import fem_mnn.commands.spring as spring_cmd

    monkeypatch.setattr(spring_cmd, "_gradient", _crash)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    out = tmp_path / "out"
    out.mkdir()
    argv = ["spring", "gradient", "d.json", "--load", "1:0,1", "--target", "2:0,1"]
    rc = main(argv + (["--out", str(out)] if with_out else []))
    err = capsys.readouterr().err
    assert rc == 4
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    assert lines[0].startswith("fem-mnn: internal error: ZeroDivisionError: the message;"), err
    logs = list((out if with_out else tmp_path / "tmp").glob("fem-mnn-*-traceback.log"))
    assert len(logs) == 1 and str(logs[0]) in lines[0]
    log = logs[0].read_text()
    assert "Traceback (most recent call last)" in log and "in _crash" in log and "ZeroDivisionError" in log
    assert "command: fem-mnn spring gradient d.json" in log


def test_unexpected_exception_when_no_log_can_be_written(tmp_path, monkeypatch, capsys):
    import tempfile

    import fem_mnn.commands.spring as spring_cmd

    monkeypatch.setattr(spring_cmd, "_gradient", _crash)
    blocker = tmp_path / "file"
    blocker.write_text("")
    monkeypatch.setattr(tempfile, "tempdir", str(blocker / "sub"))  # a folder under a file: unwritable
    assert main(["spring", "gradient", "d.json", "--load", "1:0,1", "--target", "2:0,1"]) == 4
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "could not be written" in err[0], err


def test_engine_and_input_errors_keep_their_codes(monkeypatch, capsys):
    import fem_mnn.commands.spring as spring_cmd
    from fem_mnn.core.errors import EngineError

    def engine(args):
        raise EngineError("MUMPS said no")

    monkeypatch.setattr(spring_cmd, "_gradient", engine)
    assert main(["spring", "gradient", "d.json", "--load", "1:0,1", "--target", "2:0,1"]) == 3
    assert capsys.readouterr().err == "fem-mnn: engine failure: MUMPS said no\n"


# ------------------------------------------------------------- reported crashes (issue 21)


def test_tolerance_metric_that_does_not_move_gives_one_bar_and_p_0_or_1(tmp_path, paper_file, capsys):
    """A ratio metric under the common modulus factor alone (no width noise) is constant: no histogram crash."""
    from fem_mnn.tolerance.plot import spreads

    out = tmp_path / "t.json"
    argv = ["tolerance", str(paper_file), "--task", "behaviour-ce", "--width-sd", "0", "--E-sd", "0.05"]
    assert main([*argv, "--samples", "200", "--out", str(out)]) == 0
    res = json.loads(out.read_text())
    ms = np.asarray(res["metric_samples"])
    assert not spreads(float(ms.min()), float(ms.max()), 40)  # numpy could not bin it: the reported crash
    assert res["p_success"] in (0.0, 1.0) and res["p_success_mc_err"] == 0.0
    assert res["dominant_bond"] is None  # no width noise: no bond carries variance
    assert out.with_suffix(".png").read_bytes()[:4] == b"\x89PNG"
    text = capsys.readouterr().out
    assert "no bond carries variance" in text and "probability of success" in text


def test_spreads_is_numpys_own_binning_test():
    from fem_mnn.tolerance.plot import spreads

    for lo, hi in [(1.0, 1.0 + 4.4e-16), (1.0, 1.0), (0.0, 1e-300), (1.0, 1.0 + 1e-9), (-3.0, 2.0)]:
        try:
            np.histogram([lo, hi], bins=40)
            numpy_bins = hi > lo  # numpy widens an empty range itself; ours calls that constant
        except ValueError:
            numpy_bins = False
        assert spreads(lo, hi, 40) == numpy_bins, (lo, hi)


def test_spring_train_zero_epochs_evaluates_the_start(tmp_path, paper_file, paper, capsys):
    from fem_mnn.learn.evaluate import task_metrics
    from fem_mnn.learn.taskfile import paper_task

    out = tmp_path / "tr0"
    assert main(["spring", "train", str(paper_file), "--task", "behaviour", "--epochs", "0", "--out", str(out)]) == 0
    res = json.loads((out / "result.json").read_text())
    task = paper_task("behaviour", paper, seed=0)
    want = task_metrics(SpringModel(paper).operator(paper.widths), task)
    assert res["epochs"] == 0 and res["final"] is None and res["initial_metrics"] == want
    assert res["success"]["value"] == want[task.success["metric"]]
    assert res["widths"] == res["initial_widths"] == paper.widths.tolist()
    for name in ("history.csv", "history.json", "checkpoint.npz", "design_trained.json", "lattice.png", "training.png"):
        assert (out / name).exists(), name
    assert (out / "history.csv").read_text().count("\n") == 1  # the header alone
    assert "no epoch run: the starting widths" in capsys.readouterr().out
    # and the run resumes from it like any other checkpoint
    argv = ["spring", "train", str(paper_file), "--task", "behaviour", "--epochs", "2", "--out", str(out)]
    assert main([*argv, "--resume"]) == 0
    res = json.loads((out / "result.json").read_text())
    assert res["epochs"] == 2 and res["initial_metrics"] == want  # the start stays recorded


def test_fem_train_zero_epochs_evaluates_the_start(tmp_path, paper_file):
    from conftest import need_dolfinx

    need_dolfinx()
    out = tmp_path / "ftr0"
    argv = ["fem", "train", str(paper_file), "--task", "behaviour", "--epochs", "0", "--degree", "1"]
    assert main([*argv, "--elements-across", "1", "--out", str(out), "--quiet"]) == 0
    res = json.loads((out / "result.json").read_text())
    assert res["epochs"] == 0 and res["success"]["value"] == res["initial_metrics"]["train_rel_error"]
    assert (out / "training.png").exists()


CROSSED = {
    "nodes": [[0, 0], [16, 0], [16, -16], [0, -16]],
    "bonds": [[0, 1], [1, 2], [2, 3], [3, 0], [0, 2], [1, 3]],
    "widths": [2] * 6,
    "thickness": 2,
    "material": {"E": 0.55, "nu": 0.45},
    "fixed": [0, 1],
}


@pytest.mark.parametrize(
    "argv",
    [
        ["validate", "{d}"],
        ["validate", "{d}", "--json", "{tmp}/r.json"],
        ["spring", "gradient", "{d}", "--load", "2:0,-1", "--target", "3:_,-1"],
        ["stl", "{d}", "-o", "{tmp}/d.stl"],
        ["tolerance", "{d}", "--task", "behaviour", "--out", "{tmp}/t.json"],
    ],
)
def test_crossing_bonds_are_exit_2_with_a_hint_from_every_command(tmp_path, argv):
    d = tmp_path / "crossed.json"
    d.write_text(json.dumps(CROSSED))
    r = run_cli(*[a.format(d=d, tmp=tmp_path) for a in argv])
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 2 and len(lines) == 1, r.stderr
    assert "bonds[4]: crosses bonds[5]" in lines[0] and "add a node where they cross, at (8, -8) mm" in lines[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["crossed.json"]  # nothing written
    if argv[0] == "validate":  # the report still lists the problem
        assert "beam_intersection: bonds 4 and 5 intersect" in r.stdout
