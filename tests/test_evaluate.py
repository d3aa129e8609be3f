"""``fem-mnn fem evaluate`` / ``spring evaluate`` and :mod:`fem_mnn.learn.evaluate`.

Checks: the evaluation's metrics are training's end-of-epoch metrics (one implementation);
a spring-trained design evaluated in the FE model gives the displacements ``fem gradient``
gives for the same load; and an independent reference, a statically determinate two-bar
truss whose apex deflection is computed by hand (the spring model exactly, the FE model of
the printed bars within the slender-limit error).
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import need_dolfinx, run_cli

from fem_mnn.design.files import save_design
from fem_mnn.design.records import Design, Geometry, Material
from fem_mnn.learn import paper_config, train
from fem_mnn.learn.evaluate import evaluate
from fem_mnn.learn.taskfile import paper_task
from fem_mnn.learn.tasks import gram_force
from fem_mnn.spring.network import SpringModel

# two bars from clamped feet (+-B, 0) to the apex (0, H): slender (L / w = 41), straight (no thin ends)
B, H, W, E, T = 10.0, 60.0, 1.5, 0.55, 2.0
F = 0.02  # N, down at the apex


def truss() -> Design:
    return Design(
        nodes=np.array([[-B, 0.0], [B, 0.0], [0.0, H]]),
        bonds=np.array([[0, 2], [1, 2]]),
        widths=np.full(2, W),
        thickness=T,
        material=Material(E=E, nu=0.45),
        fixed=(0, 1),
        geometry=Geometry(thin_end_ratio=1.0, junction_radius=1.0),
        name="two-bar-truss",
    )


def hand_deflection() -> float:
    """Apex u_y of the pin-jointed truss: each bar carries F / (2 cos a), u_y = -F / (2 k cos^2 a)."""
    L = np.hypot(B, H)
    k = E * T * W / L
    cos_a = H / L
    return -F / (2.0 * k * cos_a**2)


def truss_task_file(path) -> None:
    path.write_text(
        json.dumps(
            {
                "format": "fem_mnn.task/1",
                "name": "apex",
                "inputs": [{"node": 2, "direction": [0, -1]}],
                "input_scaling": {"force_N": F},
                "outputs": [{"node": 2, "component": "y"}],
                "loss": "mse",
                "data": {"inputs": [[1.0]], "targets": [[-1.0]]},
                "success": {"metric": "train_rel_error", "max": 0.05},
            }
        )
    )


def test_evaluation_metrics_are_trainings_metrics(paper):
    task = paper_task("behaviour-ce", paper)
    model = SpringModel(paper)
    res = train(model, task, paper_config("behaviour-ce", epochs=20))
    ev = evaluate(model, task, res.widths)
    assert ev.metrics == res.final.metrics  # the same code: bit for bit
    assert ev.outputs["train"].shape == (1, 2)
    assert ev.outputs["train"][0, 0] == res.final.metrics["train_u_12y"]
    assert ev.success is not None and ev.success["metric"] == "train_contrast"
    d = ev.to_dict()
    assert set(d) >= {"task", "metrics", "success", "outputs", "u", "output_names"}
    assert d["output_names"] == ["u_12y", "u_13y"]


def test_spring_evaluate_matches_the_hand_computed_truss(tmp_path):
    design_file = save_design(truss(), tmp_path / "truss.json")
    task_file = tmp_path / "apex.json"
    truss_task_file(task_file)
    out = tmp_path / "ev.json"
    r = run_cli("spring", "evaluate", design_file, "--task-file", task_file, "--out", out)
    assert r.returncode == 0, r.stderr
    ev = json.loads(out.read_text())
    u = ev["outputs"]["train"][0][0]
    assert u == pytest.approx(hand_deflection(), rel=1e-10)
    assert ev["metrics"]["train_rel_error"] == pytest.approx(abs(u + 1.0), rel=1e-10)
    # each case's target and error beside its output: the target of the task file, |u - t| / |t|
    assert ev["targets"]["train"] == [[-1.0]]
    assert ev["case_error"]["train"] == [pytest.approx(abs(u + 1.0), rel=1e-12)]


def test_evaluation_writes_each_case_target_and_error(paper):
    # MSE: the per-case errors average to the metric; classes: wrong-class flags average to 1 - accuracy
    for name in ("regression", "iris"):
        task = paper_task(name, paper)
        ev = evaluate(SpringModel(paper), task)
        for split in ("train", "test"):
            err = ev.case_error[split]
            assert err.shape == (ev.outputs[split].shape[0],)
            if task.kind == "mse":
                assert np.array_equal(ev.targets[split], getattr(task, f"{split}_targets"))
                assert np.mean(err) == pytest.approx(ev.metrics[f"{split}_rel_error"], rel=1e-12)
            else:
                assert np.array_equal(ev.targets[split], getattr(task, f"{split}_labels"))
                assert set(np.unique(err)) <= {0.0, 1.0}
                assert 1.0 - np.mean(err) == pytest.approx(ev.metrics[f"{split}_accuracy"], abs=1e-15)
        d = ev.to_dict()
        assert len(d["case_error"]["test"]) == len(d["outputs"]["test"]) == len(d["targets"]["test"])


@pytest.mark.fem
def test_fem_evaluate_matches_the_hand_computed_truss_in_the_slender_limit(tmp_path):
    need_dolfinx()
    design_file = save_design(truss(), tmp_path / "truss.json")
    task_file = tmp_path / "apex.json"
    truss_task_file(task_file)
    out = tmp_path / "ev.json"
    r = run_cli("fem", "evaluate", design_file, "--task-file", task_file, "--out", out)
    assert r.returncode == 0, r.stderr
    u = json.loads(out.read_text())["outputs"]["train"][0][0]
    # slender (L/w = 41) bars: the continuum differs from the pin-jointed truss by the rigid hubs
    # (2R/L = 3 % stiffer), plane-stress end effects and joint bending: within 5 %, and stiffer
    ratio = u / hand_deflection()
    assert 0.95 < ratio < 1.0, ratio


@pytest.mark.fem
def test_spring_trained_design_in_fem_evaluate_matches_fem_gradient(paper, tmp_path):
    need_dolfinx()
    task = paper_task("behaviour-ce", paper)
    res = train(SpringModel(paper), task, paper_config("behaviour-ce", paper_gradient=True, epochs=60))
    trained = save_design(paper.with_widths(res.widths), tmp_path / "trained.json")
    ev_path, grad_path = tmp_path / "ev.json", tmp_path / "grad.json"
    r = run_cli("fem", "evaluate", trained, "--task", "behaviour-ce", "--out", ev_path)
    assert r.returncode == 0, r.stderr
    assert "success: train_contrast" in r.stdout
    # the task's load: 5 g down at id 10; any target (it does not change the forward solve)
    fy = -gram_force(5.0)
    r = run_cli("fem", "gradient", trained, "--load", f"10:0,{fy!r}", "--target", "12:_,-0.5", "--out", grad_path)
    assert r.returncode == 0, r.stderr
    ev, grad = json.loads(ev_path.read_text()), json.loads(grad_path.read_text())
    u_ev = np.array(ev["u"]["train"][0])
    u_grad = np.array(grad["u"])
    # the same mesh and solver: equal to round-off
    assert np.max(np.abs(u_ev - u_grad)) < 1e-10 * np.max(np.abs(u_grad))
    assert ev["outputs"]["train"][0] == pytest.approx([u_grad[12, 1], u_grad[13, 1]], rel=1e-10)
    # the metrics have training's keys; the FE outputs differ from the spring model's (the transfer gap)
    assert set(ev["metrics"]) == {"train_loss", "train_accuracy", "train_contrast", "train_u_12y", "train_u_13y"}
    spring_u = evaluate(SpringModel(paper), task, res.widths).outputs["train"][0]
    assert not np.allclose(spring_u, ev["outputs"]["train"][0], rtol=1e-3)


@pytest.mark.fem
def test_fem_evaluate_on_two_ranks_matches_serial(paper_file, tmp_path):
    need_dolfinx()
    outs = []
    for ranks in (1, 2):
        out = tmp_path / f"ev{ranks}.json"
        r = run_cli("fem", "evaluate", paper_file, "--task", "behaviour", "--degree", "1", "--out", out, ranks=ranks)
        assert r.returncode == 0, r.stderr
        outs.append(json.loads(out.read_text()))
    assert outs[1]["outputs"]["train"][0] == pytest.approx(outs[0]["outputs"]["train"][0], rel=1e-10)
    assert outs[1]["fem"]["ranks"] == 2
