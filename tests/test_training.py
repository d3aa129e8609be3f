"""Training engine: Adam, the width parametrisation, checkpoints and the paper's behaviour result."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from fem_mnn.contract import backprop
from fem_mnn.core.errors import InputError
from fem_mnn.learn import Adam, TrainConfig, load_checkpoint, paper_config, train
from fem_mnn.learn.config import latent_from_widths, latent_gradient, sigmoid_widths
from fem_mnn.learn.tasks import behaviour_cross_entropy, behaviour_mse, iris, regression
from fem_mnn.spring.network import SpringModel

EPS = math.sqrt(np.finfo(float).eps)


# ------------------------------------------------------------------------- Adam


def test_adam_first_two_steps_closed_form():
    # f(x) = 1/2 a x^2, gradient a x; the two steps written out by hand
    a, x0, lr, b1, b2 = np.array([3.0, 0.5]), np.array([1.0, -2.0]), 0.1, 0.9, 0.999
    adam = Adam(lr, b1, b2, EPS)
    st = Adam.init(2)
    g0 = a * x0
    x1, st = adam.step(x0, g0, st)
    np.testing.assert_allclose(x1, x0 - lr * g0 / (np.abs(g0) + EPS), rtol=0, atol=1e-15)
    g1 = a * x1
    m = (1 - b1) * (b1 * g0 + g1)
    v = (1 - b2) * (b2 * g0**2 + g1**2)
    x2_expected = x1 - lr * (m / (1 - b1**2)) / (np.sqrt(v / (1 - b2**2)) + EPS)
    x2, st = adam.step(x1, g1, st)
    np.testing.assert_allclose(x2, x2_expected, rtol=1e-14)
    assert st.t == 2


def test_adam_constant_gradient_moves_lr_per_step():
    # with a constant gradient m_hat = g and v_hat = g^2 exactly: x_t = x0 - t lr g / (|g| + eps)
    adam = Adam(0.01, eps=1e-12)
    st = Adam.init(3)
    g = np.array([2.0, -0.5, 1e-3])
    x = np.zeros(3)
    for _ in range(50):
        x, st = adam.step(x, g, st)
    np.testing.assert_allclose(x, -50 * 0.01 * g / (np.abs(g) + 1e-12), rtol=1e-12)


def test_adam_minimises_a_quadratic():
    a = np.array([1.0, 10.0, 100.0])
    adam = Adam(0.05)
    st = Adam.init(3)
    x = np.array([1.0, 1.0, 1.0])
    for _ in range(2000):
        x, st = adam.step(x, a * x, st)
    assert np.max(np.abs(x)) < 1e-3


# ---------------------------------------------------------------- parametrisation


def test_sigmoid_widths_bounds_inverse_and_derivative():
    z = np.linspace(-1.5, 1.5, 31)
    w, dw = sigmoid_widths(z, 1.5, 2.5, 10.0)
    assert np.all((w >= 1.5) & (w <= 2.5))
    np.testing.assert_allclose(latent_from_widths(w, 1.5, 2.5, 10.0), z, atol=1e-9)
    h = 1e-6
    fd = (sigmoid_widths(z + h, 1.5, 2.5, 10.0)[0] - sigmoid_widths(z - h, 1.5, 2.5, 10.0)[0]) / (2 * h)
    np.testing.assert_allclose(dw, fd, rtol=1e-6, atol=1e-9)  # FD loses digits next to a bound
    # no overflow far out
    w_far, dw_far = sigmoid_widths(np.array([-1e4, 1e4]), 1.5, 2.5, 10.0)
    assert np.all(np.isfinite(w_far)) and np.all(dw_far == 0)
    assert sigmoid_widths(np.zeros(1), 1.5, 2.5, 10.0)[0][0] == 2.0


@pytest.mark.parametrize("make_task", [behaviour_mse, behaviour_cross_entropy])
def test_chain_rule_of_the_latent_gradient_matches_finite_differences(paper, make_task):
    model = SpringModel(paper)
    task = make_task(paper)
    cfg = TrainConfig(beta=10.0)
    z = np.random.default_rng(3).normal(0, 0.1, paper.n_bonds)

    def loss(zz):
        w = sigmoid_widths(zz, 1.5, 2.5, cfg.beta)[0]
        return backprop(model, w, task.train_loads, task.loss("train", [0])).loss

    w = sigmoid_widths(z, 1.5, 2.5, cfg.beta)[0]
    bp = backprop(model, w, task.train_loads, task.loss("train", [0]))
    g = latent_gradient(cfg, bp, z, 1.5, 2.5, task.loss_si_scale)
    h = 1e-6
    fd = np.array([(loss(z + h * e) - loss(z - h * e)) / (2 * h) for e in np.eye(paper.n_bonds)])
    np.testing.assert_allclose(g, fd, rtol=1e-5, atol=1e-8 * np.max(np.abs(fd)))


def test_paper_gradient_is_dl_dk_in_si_units(paper):
    # L in m^2 as a function of k in N/m, by central differences
    model = SpringModel(paper)
    task = behaviour_mse(paper)
    w = np.random.default_rng(1).uniform(1.6, 2.4, paper.n_bonds)
    dk_dw = paper.material.E * paper.thickness / paper.lengths  # N/mm per mm
    bp = backprop(model, w, task.train_loads, task.loss("train", [0]))
    g = latent_gradient(TrainConfig(paper_gradient=True), bp, np.zeros(paper.n_bonds), 1.5, 2.5, task.loss_si_scale)

    def loss_si(k_si):
        w_k = (k_si / 1e3) / dk_dw
        return 1e-6 * backprop(model, w_k, task.train_loads, task.loss("train", [0])).loss

    k_si = 1e3 * dk_dw * w
    h = 1e-4 * k_si
    fd = np.array(
        [(loss_si(k_si + hb * e) - loss_si(k_si - hb * e)) / (2 * hb) for hb, e in zip(h, np.eye(28), strict=True)]
    )
    np.testing.assert_allclose(g, fd, rtol=1e-5, atol=1e-6 * np.max(np.abs(fd)))


def test_config_refuses_bad_values():
    with pytest.raises(InputError):
        TrainConfig(lr=0)
    with pytest.raises(InputError):
        TrainConfig(parametrisation="tanh")
    with pytest.raises(InputError):
        TrainConfig(parametrisation="clip", paper_gradient=True)


# ---------------------------------------------------------------------- training


@pytest.mark.parametrize("param", ["sigmoid", "clip"])
def test_training_decreases_the_behaviour_loss(paper, param):
    model = SpringModel(paper)
    task = behaviour_cross_entropy(paper)
    res = train(model, task, TrainConfig(epochs=150, lr=5e-3 if param == "sigmoid" else 0.02, parametrisation=param))
    loss = res.series("loss")
    assert loss[-1] < 0.95 * loss[0]
    assert np.all(res.widths >= 1.5) and np.all(res.widths <= 2.5)
    u = res.final.metrics
    assert u["train_u_12y"] < u["train_u_13y"] < 0  # node 13 (id 12) now dominates


def test_paper_gradient_reproduces_figure2_u2(paper, shared_data):
    """The authors' settings give the paper's simulated u2 (-0.62533 / -0.47997 mm)."""
    import csv

    rows = list(csv.DictReader(open(shared_data / "figure2.csv")))
    u1 = [float(r["u1"]) for r in rows]
    u2 = [float(r["u2"]) for r in rows]
    model = SpringModel(paper)
    task = behaviour_cross_entropy(paper)
    u0 = model.operator().solve(task.train_loads).u[0, [12, 13], 1]
    np.testing.assert_allclose(u0, u1, atol=1e-8)
    res = train(model, task, paper_config("behaviour-ce", paper_gradient=True))
    assert res.stop_reason == "step_tol"
    got = [res.final.metrics["train_u_12y"], res.final.metrics["train_u_13y"]]
    np.testing.assert_allclose(got, u2, atol=1e-6)


def test_minibatch_loss_matches_the_mean_case_loss(paper):
    # with lr tiny the epoch's batch losses are the full-set loss at the start widths
    model = SpringModel(paper)
    task = regression(paper, seed=2)
    res = train(model, task, TrainConfig(epochs=1, lr=1e-12, batch_size=16, eps=1.0))
    full = backprop(model, paper.widths, task.train_loads, task.loss("train", np.arange(70))).loss
    assert res.history[0].loss == pytest.approx(full, rel=1e-9)
    # the authors log sum/16 per batch, in m^2: 70 cases in batches 16,16,16,16,6
    assert res.history[0].loss_paper == pytest.approx(1e-6 * full * 70 / 16 / 5, rel=1e-6)


def test_stopping_rules(paper):
    model = SpringModel(paper)
    task = behaviour_cross_entropy(paper)
    r = train(model, task, TrainConfig(epochs=500, lr=5e-3, loss_tol=0.6))
    assert r.stop_reason == "loss_tol" and r.history[-1].loss <= 0.6 < r.history[-2].loss
    r = train(model, task, TrainConfig(epochs=500, lr=5e-3, patience=3, min_delta=0.5))
    assert r.stop_reason == "patience" and r.epochs == 4
    r = train(model, task, TrainConfig(epochs=500, lr=5e-3, metric_tol=("train_u_12y", -0.6)))
    assert r.stop_reason == "metric_tol" and r.final.metrics["train_u_12y"] <= -0.6


# ------------------------------------------------------------------- checkpoints


def _same_history(a, b):
    assert len(a) == len(b)
    for ra, rb in zip(a, b, strict=True):
        assert json.dumps(ra.to_dict()) == json.dumps(rb.to_dict())


def test_stop_and_resume_is_bitwise_identical(paper, tmp_path):
    model = SpringModel(paper)
    task = iris(paper, seed=4)
    cfg = TrainConfig(epochs=12, lr=6e-3, batch_size=16, beta=5.0, seed=7, checkpoint_every=4)
    full = train(model, task, cfg, out_dir=tmp_path / "a")

    part = train(model, task, cfg, out_dir=tmp_path / "b", stop_after=8)
    assert part.stop_reason == "interrupted" and part.epochs == 8
    state, header = load_checkpoint(tmp_path / "b" / "checkpoint.npz")
    assert state.epoch == 8 and state.adam.t == 8 * 7 and header["design_hash"] == paper.hash()
    # a killed run may have written history lines past its checkpoint: resume must drop them
    with open(tmp_path / "b" / "history.csv", "a") as fh:
        fh.write("9,garbage\n")
    res = train(model, task, cfg, out_dir=tmp_path / "b", resume=True)
    assert res.resumed_from == 8
    assert res.widths.tobytes() == full.widths.tobytes()
    _same_history(res.history, full.history)
    for name in ("history.csv", "history.json"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    assert json.loads((tmp_path / "b" / "result.json").read_text())["widths"] == full.widths.tolist()


def test_resume_refuses_another_run(paper, tmp_path):
    model = SpringModel(paper)
    task = behaviour_cross_entropy(paper)
    train(model, task, TrainConfig(epochs=3, checkpoint_every=1), out_dir=tmp_path)
    with pytest.raises(InputError, match="another run"):
        train(model, task, TrainConfig(epochs=3, lr=0.5), out_dir=tmp_path, resume=True)
    # more epochs is allowed and continues the same run
    r = train(model, task, TrainConfig(epochs=5, checkpoint_every=1), out_dir=tmp_path, resume=True)
    ref = train(model, task, TrainConfig(epochs=5))
    assert r.widths.tobytes() == ref.widths.tobytes()


def test_resume_refuses_other_task_data(paper, tmp_path):
    model = SpringModel(paper)
    cfg = TrainConfig(epochs=2, batch_size=16, checkpoint_every=1)
    train(model, regression(paper, seed=0), cfg, out_dir=tmp_path)
    with pytest.raises(InputError, match="task_hash"):
        train(model, regression(paper, seed=1), cfg, out_dir=tmp_path, resume=True)


# -------------------------------------------------------------------- best epoch

#: Iris, full batch, step 0.1 (17x the paper's 6e-3): too large, the training loss falls to
#: an epoch in the middle of the run and rises after it, so the last epoch is not the best.
OVERSHOOT = {"epochs": 10, "lr": 0.1, "batch_size": 0, "beta": 5.0, "seed": 0}


def _split_losses(res, split="train"):
    """The split's loss at the start (epoch 0) and at the end of every epoch."""
    return np.r_[res.initial_metrics[f"{split}_loss"], res.series(f"{split}_loss")]


def test_best_epoch_is_the_lowest_training_loss_not_the_last(paper):
    res = train(SpringModel(paper), iris(paper, seed=0), TrainConfig(**OVERSHOOT))
    losses = _split_losses(res)
    k = int(np.argmin(losses))
    assert 0 < k < res.epochs and losses[-1] > losses[k]  # the scenario: the loss went up at the end
    assert res.best_epoch == k and res.best_value == losses[k]
    assert res.best_widths.tobytes() == np.array(res.history[k - 1].widths).tobytes()
    assert res.widths.tobytes() == np.array(res.history[-1].widths).tobytes()  # `widths` stays the last
    d = res.to_dict()
    assert d["widths"] == d["widths_last"] == res.widths.tolist() and d["last_epoch"] == res.epochs
    assert d["widths_best"] == res.best_widths.tolist() and d["best_epoch"] == k
    assert d["best"]["criterion"] == "train_loss" and d["best"]["split"] == "train"
    assert d["best"]["epoch"] == k and d["best"]["metrics"] == res.history[k - 1].metrics


def test_the_test_split_never_chooses_the_best_epoch(paper):
    import dataclasses

    task = iris(paper, seed=0)
    # other test data: labels rotated, loads halved (the training split is untouched)
    other = dataclasses.replace(task, test_labels=(task.test_labels + 1) % 3, test_loads=0.5 * task.test_loads)
    a = train(SpringModel(paper), task, TrainConfig(**OVERSHOOT))
    b = train(SpringModel(paper), other, TrainConfig(**OVERSHOOT))
    assert not np.array_equal(_split_losses(a, "test"), _split_losses(b, "test"))
    assert a.best_epoch == b.best_epoch and a.best_widths.tobytes() == b.best_widths.tobytes()
    # and the choice is not the test split's: its loss is lowest at another epoch in both runs
    assert int(np.argmin(_split_losses(a, "test"))) != a.best_epoch
    assert int(np.argmin(_split_losses(b, "test"))) != b.best_epoch


def test_zero_epochs_evaluates_the_start_and_keeps_it_as_best(paper, tmp_path):
    from fem_mnn.learn.evaluate import evaluate
    from fem_mnn.learn.taskfile import paper_task

    model, task = SpringModel(paper), paper_task("behaviour-ce", paper)
    res = train(model, task, TrainConfig(epochs=0), out_dir=tmp_path)
    assert res.epochs == 0 and res.history == () and res.final is None
    assert res.best_epoch == 0 and res.best_widths.tobytes() == res.widths.tobytes()
    assert np.array_equal(res.widths, paper.widths)  # 2 mm is the sigmoid's midpoint: exact
    ev = evaluate(model, task)
    assert res.initial_metrics == ev.metrics  # the start, evaluated by the same code
    assert res.success == ev.success and res.success is not None
    d = json.loads((tmp_path / "result.json").read_text())
    assert d["best_epoch"] == 0 and d["widths_best"] == d["widths"] == paper.widths.tolist()
    assert d["initial_metrics"] == ev.metrics and d["best"]["metrics"] == ev.metrics


def test_resume_keeps_the_best_epoch(paper, tmp_path):
    task = iris(paper, seed=0)
    cfg = TrainConfig(**OVERSHOOT, checkpoint_every=1)
    full = train(SpringModel(paper), task, cfg)
    stop = full.best_epoch + 1  # past the best: the checkpoint must carry it
    part = train(SpringModel(paper), task, cfg, out_dir=tmp_path, stop_after=stop)
    assert part.epochs == stop and part.best_epoch == full.best_epoch
    res = train(SpringModel(paper), task, cfg, out_dir=tmp_path, resume=True)
    assert res.best_epoch == full.best_epoch and res.best_widths.tobytes() == full.best_widths.tobytes()
    assert res.initial_metrics == full.initial_metrics and res.best_value == full.best_value


def test_a_checkpoint_without_a_best_resumes_with_the_best_recorded_epoch(paper, tmp_path):
    # checkpoints of 0.4.0 hold no best: the best of the epochs they recorded is taken
    task = iris(paper, seed=0)
    cfg = TrainConfig(**OVERSHOOT, checkpoint_every=1)
    full = train(SpringModel(paper), task, cfg)
    train(SpringModel(paper), task, cfg, out_dir=tmp_path, stop_after=full.best_epoch + 1)
    ckpt = tmp_path / "checkpoint.npz"
    with np.load(ckpt) as z:
        arrays = {k: z[k] for k in z.files if k != "best_widths"}
    header = json.loads(str(arrays["header"]))
    for key in ("best_epoch", "best_value", "initial_metrics"):
        del header[key]
    arrays["header"] = np.array(json.dumps(header))
    with open(ckpt, "wb") as fh:
        np.savez(fh, **arrays)
    res = train(SpringModel(paper), task, cfg, out_dir=tmp_path, resume=True)
    assert res.best_epoch == full.best_epoch and res.best_widths.tobytes() == full.best_widths.tobytes()
    assert res.initial_metrics is None


def test_spring_train_writes_the_best_beside_the_last_and_says_which(paper_file, tmp_path, capsys):
    from fem_mnn.cli import main
    from fem_mnn.design.files import load_design

    out = tmp_path / "run"
    argv = ["spring", "train", str(paper_file), "--task", "iris", "--epochs", "10", "--lr", "0.1"]
    argv += ["--batch", "0", "--beta", "5", "--seed", "0", "--quiet", "--out", str(out)]
    assert main(argv) == 0
    d = json.loads((out / "result.json").read_text())
    k = d["best_epoch"]
    history = json.loads((out / "history.json").read_text())
    losses = [d["initial_metrics"]["train_loss"]] + [r["metrics"]["train_loss"] for r in history]
    assert k == int(np.argmin(losses)) and 0 < k < len(history)
    assert load_design(out / "design_best.json").widths.tolist() == d["widths_best"] == history[k - 1]["widths"]
    assert load_design(out / "design_trained.json").widths.tolist() == d["widths_last"] == history[-1]["widths"]
    said = capsys.readouterr().out
    assert f"best: epoch {k} by train_loss (training split)" in said
    assert f"last epoch (10) in design_trained.json, best epoch ({k}) in design_best.json" in said
