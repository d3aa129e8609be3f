"""Tasks that need the nonlinear regime (issue 23): load levels and the regime in task files, the
contrast-margin loss, the refusal of a nonlinear task with a linear model, and the nonlinear
springs driven through the one training loop (gradient, resume bit for bit)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from fem_mnn.core.errors import InputError
from fem_mnn.design import paper_sample
from fem_mnn.learn import TrainConfig, train
from fem_mnn.learn.evaluate import evaluate
from fem_mnn.learn.losses import ContrastMargin, Output
from fem_mnn.learn.taskfile import NONLINEAR_TASK_NAMES, paper_task, paper_task_path, task_from_dict
from fem_mnn.learn.tasks import gram_force
from fem_mnn.spring.network import SpringModel
from fem_mnn.spring.nonlinear import NewtonOptions, NonlinearSpringModel


def _spec(name: str = "load-switch") -> dict:
    return json.loads(paper_task_path(name).read_text())


# ------------------------------------------------------------------ task files


def test_load_switch_is_one_node_at_two_levels():
    d = paper_sample()
    t = paper_task("load-switch", d)
    assert t.regime == "nonlinear" and t.train_levels == ("light", "heavy")
    f = t.train_loads
    assert f.shape == (2, d.n_nodes, 2)
    # the same node, downward, at 10 g and 100 g: two cases of one pattern
    assert np.count_nonzero(f) == 2
    assert f[0, 10, 1] == -gram_force(10) and f[1, 10, 1] == -gram_force(100)
    assert t.train_labels.tolist() == [0, 1]
    assert t.success == {"metric": "train_contrast", "min": 1.1}


@pytest.mark.parametrize("name", NONLINEAR_TASK_NAMES)
def test_nonlinear_tasks_cannot_be_done_by_any_linear_lattice(name):
    """The comment's argument, on random widths: proportional loads give outputs in the same ratio."""
    d = paper_sample()
    t = paper_task(name, d)
    f = t.train_loads
    # the two cases of one pattern at two scales: light/heavy (load-switch), both-light/both-heavy (load-and)
    a, b = (0, 1) if name == "load-switch" else (0, 3)
    scale = f[b].sum() / f[a].sum()
    np.testing.assert_allclose(f[b], scale * f[a], rtol=1e-14, atol=0)  # the same pattern (to the grams' rounding)
    assert t.train_labels[a] != t.train_labels[b]
    rng = np.random.default_rng(0)
    for _ in range(3):
        w = rng.uniform(1.5, 2.5, d.n_bonds)
        vals = t.output_values(SpringModel(d).operator(w).solve(f).u)
        # the ratio of the outputs is the same at both scales (to round-off), so the dominant is too
        np.testing.assert_allclose(vals[b] / vals[b, 0], vals[a] / vals[a, 0], rtol=1e-12)


def test_level_metrics_and_the_margin_loss_metric():
    d = paper_sample()
    t = paper_task("load-switch", d)
    u = SpringModel(d).operator().solve(t.train_loads).u
    m = t.metrics("train", u)
    assert {"contrast", "contrast_light", "contrast_heavy", "accuracy_light", "accuracy_heavy"} <= set(m)
    assert m["contrast"] == min(m["contrast_light"], m["contrast_heavy"])


def test_fingerprint_sees_the_regime_and_levels():
    d = paper_sample()
    spec = _spec()
    a = task_from_dict(spec, d)
    b = task_from_dict({**spec, "regime": "linear"}, d)
    c = task_from_dict({**spec, "margin": 1.3}, d)
    assert len({a.fingerprint(), b.fingerprint(), c.fingerprint()}) == 3


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"regime": "quadratic"}, "regime"),
        ({"input_scaling": {"grams": 5}}, "load_levels"),
        ({"load_levels": [{"name": "light", "grams": 10}, {"name": "light", "grams": 20}]}, "load_levels[1].name"),
        ({"load_levels": [{"name": "a b", "grams": 10}]}, "load_levels[0].name"),
        ({"load_levels": [{"name": "light"}]}, "load_levels[0]"),
        ({"load_levels": [{"name": "light", "grams": -1}]}, "load_levels[0].grams"),
        ({"data": {"inputs": [[1.0], [1.0]], "labels": [0, 1], "levels": ["light", "medium"]}}, "data.levels"),
        ({"data": {"inputs": [[1.0], [1.0]], "labels": [0, 1], "levels": ["light"]}}, "data.levels"),
        ({"data": {"inputs": [[1.0], [1.0]], "labels": [0, 1]}}, "data.levels"),
        ({"margin": 1.0}, "margin"),
        ({"loss": "linear-cross-entropy"}, "margin"),
    ],
)
def test_bad_levels_regime_and_margin_are_refused_in_one_line(change, field):
    spec = {**_spec(), **change}
    with pytest.raises(InputError) as err:
        task_from_dict(spec, paper_sample(), source="t.json")
    msg = str(err.value)
    assert "\n" not in msg and field in msg and "t.json" in msg


def test_levels_without_load_levels_and_scaling_missing_are_refused():
    spec = _spec()
    del spec["load_levels"]
    with pytest.raises(InputError, match="input_scaling"):
        task_from_dict(spec, paper_sample())
    spec["input_scaling"] = {"grams": 10}
    with pytest.raises(InputError, match="data.levels"):
        task_from_dict(spec, paper_sample())


# ------------------------------------------------------------------ the loss


def test_contrast_margin_gradient_equals_central_differences():
    rng = np.random.default_rng(1)
    u = rng.normal(size=(3, 5, 2))
    loss = ContrastMargin([Output(1, 1), Output(2, 0), Output(4, 1)], [0, 2, 1], margin=1.3, sharpness=7.0)
    val, grad = loss(u)
    h = 1e-6
    fd = np.zeros_like(u)
    for idx in np.ndindex(u.shape):
        up, um = u.copy(), u.copy()
        up[idx] += h
        um[idx] -= h
        fd[idx] = (loss(up)[0].sum() - loss(um)[0].sum()) / (2 * h)
    # central differences: truncation O(h^2 |L'''|) and rounding eps |L| / h, both < 1e-8 for these O(1) values
    np.testing.assert_allclose(grad, fd, atol=1e-8)
    # below the margin the hinge is about log(margin) - log-contrast, above it decays to 0
    strong = np.zeros((1, 5, 2))
    strong[0, 1, 1], strong[0, 2, 0], strong[0, 4, 1] = 10.0, 1.0, 1.0
    assert ContrastMargin([Output(1, 1), Output(2, 0), Output(4, 1)], [0], margin=1.3)(strong)[0][0] < 1e-15


# ------------------------------------------------------------------ the refusal


def test_a_nonlinear_task_is_refused_with_the_linear_model(tmp_path: Path):
    d = paper_sample()
    t = paper_task("load-switch", d)
    with pytest.raises(InputError, match="needs the nonlinear regime") as err:
        train(SpringModel(d), t, TrainConfig(epochs=1), out_dir=tmp_path / "run")
    assert "\n" not in str(err.value) and "--regime nonlinear" in str(err.value)
    assert not (tmp_path / "run").exists()  # nothing written
    with pytest.raises(InputError, match="needs the nonlinear regime"):
        evaluate(SpringModel(d), t)


# ------------------------------------------------------------------ training through the same loop


def test_nonlinear_springs_train_through_the_same_loop_and_resume_bit_for_bit(tmp_path: Path):
    d = paper_sample()
    t = paper_task("load-switch", d)
    cfg = TrainConfig(epochs=6, lr=0.05, beta=5.0, shuffle=False, batch_size=None)

    def model() -> NonlinearSpringModel:
        return NonlinearSpringModel(d, options=NewtonOptions(steps=10))

    full = train(model(), t, cfg, out_dir=tmp_path / "full")
    train(model(), t, cfg, out_dir=tmp_path / "part", stop_after=3)
    resumed = train(model(), t, cfg, out_dir=tmp_path / "part", resume=True)
    assert resumed.resumed_from == 3
    np.testing.assert_array_equal(resumed.widths, full.widths)
    assert [r.to_dict() for r in resumed.history] == [r.to_dict() for r in full.history]
    # the loss went down and the metrics are the nonlinear ones (the contrast moves off its linear value)
    assert full.history[-1].metrics["train_loss"] < full.initial_metrics["train_loss"]
    # a checkpoint of another load stepping belongs to another run
    with pytest.raises(InputError, match="regime"):
        train(NonlinearSpringModel(d, options=NewtonOptions(steps=7)), t, cfg, out_dir=tmp_path / "part", resume=True)


# ------------------------------------------------------------------ the command line


def test_cli_refuses_a_nonlinear_task_without_the_nonlinear_regime(tmp_path: Path):
    from conftest import run_cli

    from fem_mnn.design import save_design

    design = save_design(paper_sample(), tmp_path / "paper.json")
    for argv in (
        ("spring", "train", design, "--task", "load-switch", "--out", tmp_path / "run"),
        ("spring", "evaluate", design, "--task", "load-and", "--out", tmp_path / "ev.json"),
        ("fem", "evaluate", design, "--task", "load-switch"),  # refused before any meshing
    ):
        res = run_cli(*argv)
        assert res.returncode == 2, res.stderr
        lines = res.stderr.strip().splitlines()
        assert len(lines) == 1 and "needs the nonlinear regime" in lines[0] and "--regime nonlinear" in lines[0]
    assert not (tmp_path / "run").exists() and not (tmp_path / "ev.json").exists()


def test_cli_nonlinear_spring_gradient_equals_central_differences_at_large_load(tmp_path: Path):
    from conftest import run_cli

    from fem_mnn.design import save_design
    from fem_mnn.learn.losses import MSE

    d = paper_sample()
    design = save_design(d, tmp_path / "paper.json")
    out = tmp_path / "g.json"
    # 100 g at id 12: u_y of id 13 is -6.76 mm nonlinear against -8.05 mm linear (a large deformation)
    res = run_cli(
        "spring", "gradient", design, "--load", "12:0,-0.98", "--target", "13:_,-25", "--regime", "nonlinear",
        "--load-steps", "10", "--adjoint-increment", "1e-4", "--out", out,
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    g = json.loads(out.read_text())
    for key in ("u", "elongation", "adjoint_elongation", "grad_k", "grad_w", "loss", "newton", "finite_increment"):
        assert key in g
    assert g["newton"]["converged"] and g["newton"]["increments"] >= 10
    assert g["u"][13][1] == pytest.approx(-6.76, abs=0.01)  # the independent value (forecast-and-nonlinear note)
    model = NonlinearSpringModel(d, options=NewtonOptions(steps=10))
    loads = np.zeros((1, d.n_nodes, 2))
    loads[0, 12, 1] = -0.98
    target = np.full((1, d.n_nodes, 2), np.nan)
    target[0, 13, 1] = -25.0
    loss = MSE(target)
    h = 1e-3  # mm: truncation h^2 |L'''| / 6 and Newton noise (rtol 1e-12) / h are both below 1e-8 relative
    fd = np.empty(d.n_bonds)
    for b in range(d.n_bonds):
        wp, wm = d.widths.copy(), d.widths.copy()
        wp[b] += h
        wm[b] -= h
        fd[b] = (model.backprop(wp, loads, loss).loss - model.backprop(wm, loads, loss).loss) / (2 * h)
    grad = np.array(g["grad_w"])
    assert np.linalg.norm(grad - fd) <= 1e-6 * np.linalg.norm(fd)  # the target
    # the physical protocol: an adjoint increment of 1e-4 x (-dL/du) (about 2.4 mN here) is O(eps) off
    fi = g["finite_increment"]
    assert 0 < fi["relative_l2_error"] < 1e-3 and fi["cosine"] > 0.999999


def test_finite_increment_error_is_first_order_in_eps():
    d = paper_sample()
    t = paper_task("load-switch", d)
    op = NonlinearSpringModel(d).operator()
    loss = t.loss("train", [0, 1])
    exact = op.backprop(t.train_loads, loss).grad_k
    errs = [
        np.linalg.norm(op.finite_increment(t.train_loads, loss, eps).grad_k - exact) / np.linalg.norm(exact)
        for eps in (1e-2, 1e-3)
    ]
    # O(eps): ten times smaller eps, about ten times smaller error (a second-order rule would give 100)
    assert 5 < errs[0] / errs[1] < 20
