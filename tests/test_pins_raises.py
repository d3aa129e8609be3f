"""Every ``raise`` a user can hit is reached by a test (issue 21): the refusals that the fast suite
did not reach when measured with coverage (docs/reliability.md, "Raise coverage"), each checked
for its exit code 2 (command line) or its InputError, and for naming the option or field."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import run_cli

from fem_mnn.core.errors import InputError
from fem_mnn.design import paper_sample
from fem_mnn.design.files import save_design

FIXED = paper_sample().fixed[0]
FREE = next(i for i in range(paper_sample().n_nodes) if i not in paper_sample().fixed)


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["spring", "gradient", "{d}", "--load", "x:0,1", "--target", f"{FREE}:0,0"], "node id must be an integer"),
        (["spring", "gradient", "{d}", "--load", f"{FREE}:0,-1", "--target", f"{FIXED}:0,0"], "target on a fixed"),
        (["design", "paper", "--width", "{csv_bad_row}", "-o", "{out}.json"], "a row is bond,width"),
        (["design", "paper", "--width", "{csv_bad_id}", "-o", "{out}.json"], "bond id must be an integer"),
        (["design", "paper", "--width", "{missing}.csv", "-o", "{out}.json"], "cannot read the file"),
        (["stl", "{d}", "-o", "{out}.step", "--ascii"], "--ascii applies to STL only"),
        (["tolerance", "{d}", "--task", "iris", "--out", "{out}.txt"], "must end in .json"),
        (["tolerance", "{d}", "--task", "iris", "--width-sd", "-1", "--out", "{out}.json"], "expected a number >= 0"),
        (["tolerance", "{d}", "--task", "iris", "--width-sd", "abc", "--out", "{out}.json"], "expected a number >= 0"),
        (["tolerance", "{d}", "--task", "iris", "--E-sd", "0.3", "--out", "{out}.json"], "modulus would turn"),
        (["validate", "{d}", "--tolerance", "0.05"], "--tolerance needs --task"),
        (["compare", "{d}", "--paper-figure", "2", "--measured", "{out}.csv", "--out", "{out}"], "not both"),
        (["compare", "{d}", "--out", "{out}"], "--measured"),
        (["spring", "train", "{d}", "--task", "iris", "--out", "{file}"], "is not a folder"),
    ],
)
def test_command_line_refusals(argv, needle, tmp_path):
    d = save_design(paper_sample(), tmp_path / "paper.json")
    (tmp_path / "bad_row.csv").write_text("bond,width\n0,2.0,9\n")
    (tmp_path / "bad_id.csv").write_text("zero,2.0\n")
    (tmp_path / "file").write_text("not a folder\n")
    subs = {
        "d": str(d),
        "out": str(tmp_path / "out"),
        "csv_bad_row": str(tmp_path / "bad_row.csv"),
        "csv_bad_id": str(tmp_path / "bad_id.csv"),
        "missing": str(tmp_path / "missing"),
        "file": str(tmp_path / "file"),
    }
    r = run_cli(*[a.format(**subs) for a in argv])
    assert r.returncode == 2, (r.returncode, r.stderr)
    assert needle in r.stderr and "Traceback" not in r.stderr
    # one error line (progress lines such as "building the solid" may precede it)
    assert [ln for ln in r.stderr.splitlines() if "error" in ln] == [r.stderr.strip().splitlines()[-1]], r.stderr
    assert not list(tmp_path.glob("out*")), "nothing written on a refusal"


def test_api_refusals_name_their_field():
    from fem_mnn.learn.losses import MSE, CrossEntropy
    from fem_mnn.learn.robust import RobustModel, WidthNoise
    from fem_mnn.learn.taskfile import paper_task, paper_task_path
    from fem_mnn.learn.training import TrainConfig
    from fem_mnn.spring.network import SpringModel
    from fem_mnn.tolerance.analysis import tolerance_analysis
    from fem_mnn.tolerance.run import analyse

    d = paper_sample()
    cases = [
        (lambda: WidthNoise(float("nan")), "--width-sd"),
        (lambda: WidthNoise(0.1, -0.1), "--E-sd"),
        (lambda: RobustModel(SpringModel(d), 0.1, n_samples=0), "--robust-samples"),
        (lambda: paper_task_path("nope"), "--task"),
        (lambda: SpringModel(d).operator(np.ones(3)), "widths"),
        (lambda: SpringModel(d, solver="lu").operator(), "solver"),
        (lambda: SpringModel(d).operator(np.where(np.arange(d.n_bonds) == 4, -1.0, 2.0)), "k[4]"),
        (lambda: TrainConfig(epochs=-1), "epochs"),
        (lambda: TrainConfig(batch_size=-1), "batch_size"),
        (lambda: TrainConfig(beta=0.0), "beta"),
        (lambda: TrainConfig(beta1=1.0), "beta1/beta2"),
        (lambda: TrainConfig(checkpoint_every=-1), "checkpoint_every"),
        (lambda: tolerance_analysis(SpringModel(d), paper_task("iris", d), WidthNoise(0.0), -1), "--samples"),
        (lambda: analyse(d, paper_task("iris", d), WidthNoise(0.0), 0, 0, model="springs"), "--model"),
        (lambda: MSE(np.full((1, d.n_nodes, 2), np.nan)), "targets"),
        (lambda: CrossEntropy(outputs=[(12, 1)], labels=np.array([0])), "outputs"),
        (lambda: CrossEntropy(outputs=[(12, 1), (13, 1)], labels=np.array([2])), "labels"),
        (lambda: CrossEntropy(outputs=[(12, 1), (13, 1)], labels=np.array([0]), normalisation="max"), "normalisation"),
    ]
    for make, field in cases:
        with pytest.raises(InputError) as info:
            make()
        assert field in str(info.value), (field, str(info.value))


def test_task_file_read_errors(tmp_path):
    from fem_mnn.learn.taskfile import load_task_file

    d = paper_sample()
    with pytest.raises(InputError, match="no such file"):
        load_task_file(tmp_path / "missing.json", d)
    (tmp_path / "bad.json").write_text("{ not json")
    with pytest.raises(InputError, match="not valid JSON"):
        load_task_file(tmp_path / "bad.json", d)
    (tmp_path / "dir.json").mkdir()
    with pytest.raises(InputError, match="cannot read the file"):
        load_task_file(tmp_path / "dir.json", d)


def test_tolerance_metric_and_split_refusals():
    """A success metric the task does not give, and a split without cases."""
    import dataclasses

    from fem_mnn.learn.robust import WidthNoise
    from fem_mnn.learn.taskfile import paper_task
    from fem_mnn.spring.network import SpringModel
    from fem_mnn.tolerance.analysis import tolerance_analysis

    d = paper_sample()
    task = paper_task("behaviour", d)  # one training case, no test case
    with pytest.raises(InputError, match="no test case"):
        tolerance_analysis(SpringModel(d), task, WidthNoise(0.0), 0, success={"metric": "test_rel_error", "max": 1})
    with pytest.raises(InputError, match="no metric 'accuracy'"):
        tolerance_analysis(SpringModel(d), task, WidthNoise(0.0), 2, success={"metric": "train_accuracy", "min": 1})
    assert json.dumps(dataclasses.asdict(WidthNoise(0.0)))  # the noise record stays plain data


def test_the_finite_check_is_a_safety_net():
    """``check_finite`` refuses an overflowed result; the +-1e100 cap on load and target components keeps
    the command line from reaching it (u ~ 1e102 mm, loss ~ 1e204), so it is called directly."""
    from types import SimpleNamespace

    from fem_mnn.commands._common import check_finite

    ok = SimpleNamespace(
        loss=1.0, **{k: np.ones(3) for k in ("u", "elongation", "adjoint_elongation", "grad_k", "grad_w")}
    )
    check_finite(ok)
    for bad in (
        SimpleNamespace(**{**vars(ok), "loss": float("inf")}),
        SimpleNamespace(**{**vars(ok), "grad_w": np.array([np.nan])}),
    ):
        with pytest.raises(InputError, match="not finite"):
            check_finite(bad)


def test_task_builders_and_training_refusals(tmp_path):
    import dataclasses

    from fem_mnn.learn import tasks as T
    from fem_mnn.learn.training import TrainConfig, load_checkpoint, paper_config, train
    from fem_mnn.spring.network import SpringModel

    d = paper_sample()
    task = T.behaviour_mse(d)
    cases = [
        (lambda: T.behaviour_mse(d, targets=(-0.5,)), "targets"),
        (lambda: T.behaviour_mse(d, output_nodes=(12, FIXED)), "is a fixed node"),
        (lambda: T.behaviour_cross_entropy(d, dominant=2), "dominant"),
        (lambda: T.regression(d, compliance=(1.0, 2.0)), "compliance"),
        (lambda: T.regression(d, noise=-1.0), "noise"),
        (lambda: T.iris(d, output_nodes=(7, 1)), "nodes"),
        (lambda: T.build_task("nope", d), "--task"),
        (lambda: dataclasses.replace(task, kind="hinge"), "kind"),
        (lambda: task.metrics("validation", np.zeros((1, d.n_nodes, 2))), "split"),
        (lambda: paper_config("nope"), "task"),
        (lambda: load_checkpoint(tmp_path / "none.npz"), "no checkpoint"),
        (
            lambda: train(
                SpringModel(d), dataclasses.replace(task, train_loads=task.train_loads[:0]), TrainConfig(epochs=1)
            ),
            "no training case",
        ),  # fmt: skip
        (lambda: train(SpringModel(d), task, TrainConfig(epochs=1), widths0=np.ones(3)), "widths0"),
    ]
    for make, needle in cases:
        with pytest.raises(InputError) as info:
            make()
        assert needle in str(info.value), (needle, str(info.value))


def test_design_refusals_reached_only_through_the_api():
    """Checks that the JSON reader's own type checks normally pre-empt (a design built in code meets them)."""
    import dataclasses

    from fem_mnn.design import triangular_patch, triangular_strip
    from fem_mnn.design.files import design_from_dict
    from fem_mnn.design.printability import check_design, check_structure
    from fem_mnn.design.records import check_widths
    from fem_mnn.design.validate import validate

    d = paper_sample()
    nodes_nan = d.nodes.copy()
    nodes_nan[3, 1] = np.nan
    cases = [
        (lambda: triangular_patch(a=float("nan")), "a: the bond length must be finite and > 0"),
        (lambda: triangular_strip(a=-1.0), "a: the bond length must be finite and > 0"),
        (lambda: triangular_patch(width=np.ones(3)), "widths: needs one width or"),
        (
            lambda: check_widths(dataclasses.replace(d, widths=np.where(np.arange(d.n_bonds) == 2, np.inf, 2.0))),
            "widths[2]: must be finite",
        ),  # fmt: skip
        (lambda: validate(dataclasses.replace(d, nodes=d.nodes[:, :1].copy())), "nodes: must be a list of [x, y]"),
        (lambda: validate(dataclasses.replace(d, nodes=nodes_nan)), "nodes[3]: must be finite"),
        (
            lambda: validate(dataclasses.replace(d, geometry=dataclasses.replace(d.geometry, thin_end_ratio=1.5))),
            "geometry.thin_end_ratio: must lie in (0, 1]",
        ),  # fmt: skip
        (lambda: check_structure(dataclasses.replace(d, bonds=d.bonds[:0], widths=d.widths[:0])), "at least one bond"),
        (
            lambda: check_structure(dataclasses.replace(d, bonds=np.array([[1, 1]]), widths=np.array([2.0]))),
            "joins a node to itself",
        ),  # fmt: skip
        (lambda: check_structure(dataclasses.replace(d, nodes=d.nodes * 1e12)), "coordinates must lie within"),
        (lambda: check_design(d, (100.0, 0.0, 10.0)), "build_volume: three positive numbers"),
        (lambda: design_from_dict({**json.loads(json.dumps(d.to_dict())), "fixed": [0, 2**63]}), "out of range"),
    ]
    for make, needle in cases:
        with pytest.raises(InputError) as info:
            make()
        assert needle in str(info.value), (needle, str(info.value))
