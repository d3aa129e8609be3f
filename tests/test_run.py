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
        # the design pipeline: spring training, transfer to FE, FE fine-tuning, print checks
        "design_spring_trained.json",
        "train_spring.json",
        "transfer.json",
        "design_finetuned.json",
        "finetune.json",
        "widths_before_after.png",
        "validate_finetuned.txt",
        "lattice_finetuned.stl",
    ):
        assert (tmp_path / name).stat().st_size > 0, name
    spring = json.loads((tmp_path / "spring_gradient.json").read_text())
    fem = json.loads((tmp_path / "fem_gradient.json").read_text())
    assert set(spring) & set(fem) >= {"loss", "u", "elongation", "adjoint_elongation", "grad_k", "grad_w"}
    # both models load paper node 13 (id 12) and measure paper node 14 (id 13): same sign of u_y
    assert spring["u"][13][1] < 0 and fem["u"][13][1] < 0
    summary = (tmp_path / "summary.md").read_text()
    assert "printability passes" in summary and "correlation" in summary
    assert "## Transfer gap" in summary and "## Widths (mm) before / after FE fine-tuning" in summary
    # the transfer stage evaluates the spring-trained widths: its spring metrics are the training's
    train_rec = json.loads((tmp_path / "train_spring.json").read_text())
    transfer = json.loads((tmp_path / "transfer.json").read_text())
    assert transfer["widths"] == train_rec["widths"]
    assert transfer["spring"]["metrics"]["train_loss"] == pytest.approx(train_rec["metrics"]["train_loss"], rel=1e-12)
    assert set(transfer["fem"]["metrics"]) == set(train_rec["metrics"])
    # fine-tuning with the exact gradient lowers the FE loss from the transferred design
    tuned = json.loads((tmp_path / "finetune.json").read_text())
    assert tuned["metrics"]["train_loss"] < transfer["fem"]["metrics"]["train_loss"]
    assert tuned["widths_before"] == train_rec["widths"]


def test_main_job_load_and_target_options(tmp_path):
    out = tmp_path / "o"
    args = ["run", "--out", str(out), "--stages", "spring", "--load", "12:0,-0.05", "--target", "13:_,-20"]
    assert main(args) == 0
    sp = json.loads((out / "spring_gradient.json").read_text())
    u = sp["u"][13][1]
    assert sp["loss"] == pytest.approx(0.5 * (u + 20.0) ** 2, rel=1e-12)
    assert "node 12: (0, -0.05) N" in (out / "summary.md").read_text()
    # one without the other is refused, nothing written
    assert main(["run", "--out", str(tmp_path / "p"), "--stages", "spring", "--load", "12:0,-0.05"]) == 2
    assert not (tmp_path / "p").exists()


def test_design_stages_need_the_paper_lattice(tmp_path):
    from fem_mnn.design.builders import triangular_patch
    from fem_mnn.design.files import save_design

    d = save_design(triangular_patch(4, 3), tmp_path / "patch.json")
    assert main(["run", str(d), "--out", str(tmp_path / "o"), "--stages", "train"]) == 2
    assert main(["run", str(d), "--out", str(tmp_path / "s"), "--stages", "spring"]) == 0


def test_main_job_refuses_a_bad_design(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{}")
    assert main(["run", str(bad), "--out", str(tmp_path / "o")]) == 2
    assert not (tmp_path / "o").exists()
