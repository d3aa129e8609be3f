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
