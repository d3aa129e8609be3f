"""The main job (what ``./run`` calls) writes every stage's files."""

from __future__ import annotations

import json

import pytest
from conftest import need_dolfinx

from fem_mnn.cli import main

pytestmark = pytest.mark.fem


def test_main_job_on_the_paper_sample(tmp_path):
    need_dolfinx()
    assert main(["run", "--out", str(tmp_path), "--quick"]) == 0
    for name in (
        "design.json",
        "spring_gradient.json",
        "validate.json",
        "lattice.msh",
        "lattice.stl",
        "fem_gradient.json",
        "spring_vs_fem.png",
        "geometry.png",
        "summary.md",
    ):
        assert (tmp_path / name).stat().st_size > 0, name
    spring = json.loads((tmp_path / "spring_gradient.json").read_text())
    fem = json.loads((tmp_path / "fem_gradient.json").read_text())
    assert set(spring) & set(fem) >= {"loss", "u", "elongation", "adjoint_elongation", "grad_k", "grad_w"}
    # both models load paper node 13 (id 12) and measure paper node 14 (id 13): same sign of u_y
    assert spring["u"][13][1] < 0 and fem["u"][13][1] < 0
    summary = (tmp_path / "summary.md").read_text()
    assert "printability passes" in summary and "correlation" in summary


def test_main_job_refuses_a_bad_design(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{}")
    assert main(["run", str(bad), "--out", str(tmp_path / "o")]) == 2
    assert not (tmp_path / "o").exists()
