# ---
# jupyter:
#   jupytext:
#     formats: py:light
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# # Beyond the linear regime: a load switch, exact gradients through large deformation, buckling
#
# The paper's networks learn in the linear regime: every output is proportional to the
# load. This tutorial asks for something no linear network can do, on the paper's sample:
# one weight, hung light or heavy, and the output that moves most must *change* with the
# weight. We show why a linear lattice cannot, check the exact gradients the package
# computes through large deformation (springs and the neo-Hookean FE model of the printed
# lattice) against finite differences, train the task with nonlinear springs and with the
# FE model, and find that the heavy weight lies beyond the lattice's first buckling load.
# Units mm, N, MPa; ids 0-based (paper node n = id n − 1). About 10 minutes on a busy
# 2-core machine (4–5 of them the FE training); `FEM_MNN_QUICK=1` under a minute: fewer
# spring epochs, P1 elements everywhere, and no FE training (the FE model then evaluates the
# spring-trained widths).

# +
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from fem_mnn import SpringModel, paper_sample
from fem_mnn.core.errors import InputError
from fem_mnn.design.rigidity import compatibility_matrix, free_dofs
from fem_mnn.learn import TrainConfig, train
from fem_mnn.learn.taskfile import paper_task, paper_task_path
from fem_mnn.spring.nonlinear import NonlinearSpringModel, load_sweep
from fem_mnn.viz.figure import subplots
from fem_mnn.viz.training import compare_widths_figure

QUICK = os.environ.get("FEM_MNN_QUICK", "") not in ("", "0")
work = Path(tempfile.mkdtemp(prefix="fem-mnn-t08-"))
t_start = time.perf_counter()
# -

# ## The task: `load-switch`
#
# The package ships the task as a file, `fem_mnn/data/tasks/load-switch.json` (use it with
# `--task load-switch`, or copy it as the start of your own): a weight at paper node 11
# (id 10), light (10 g) or heavy (100 g); outputs u_y of ids 12 and 13. Light: id 12 must
# move more; heavy: id 13. Success is a *contrast* (the dominant |u_y| over the other) of at
# least 1.1 at each level. `"regime": "nonlinear"` says the task needs large deformation.

# +
spec = json.loads(paper_task_path("load-switch").read_text())
print({k: spec[k] for k in ("regime", "inputs", "load_levels", "outputs", "loss", "margin", "success")})
design = paper_sample()
task = paper_task("load-switch", design)
light, heavy = task.train_loads  # (n_nodes, 2) each, in N
print("levels", task.train_levels, "labels (dominant output)", task.train_labels.tolist())
assert np.allclose(heavy, 10 * light)
# -

# ## Why a linear network cannot do it
#
# A linear lattice answers u = C f. The heavy case is the light case times 10, so both
# outputs are multiplied by 10 and their ratio r = |u_12| / |u_13| is the same at both
# levels, *whatever the widths*: the contrasts would have to be r > 1.1 (light) and
# 1/r > 1.1 (heavy) at once, which is impossible. The package does not run such a training to
# a useless result; it refuses it, with the reason:

try:
    train(SpringModel(design), task, TrainConfig(epochs=1), write=False)
except InputError as exc:
    print("refused:", exc)
else:
    raise AssertionError("a nonlinear task must be refused by a linear model")

# The same argument, in numbers: a few random width sets with linear springs give the same
# ratio at both levels, to round-off. The bound for "round-off": the solve is backward
# stable, so each output carries a relative error of at most about n eps κ(K) (n free dofs,
# κ the stiffness's condition number); the two levels' ratios can differ by twice that.
# Nonlinear springs at the same widths move the ratio with the load.

# +
rng = np.random.default_rng(0)
linear_springs, nonlinear_springs = SpringModel(design), NonlinearSpringModel(design)
widths_sets = [design.widths] + [rng.uniform(1.5, 2.5, design.n_bonds) for _ in range(4)]
free = free_dofs(design)
worst, bound = 0.0, 0.0
for w in widths_sets:
    op = linear_springs.operator(w)
    v = task.output_values(op.solve(task.train_loads).u)
    v_nl = task.output_values(nonlinear_springs.operator(w).solve(task.train_loads).u)
    r, r_nl = v[:, 0] / v[:, 1], v_nl[:, 0] / v_nl[:, 1]
    print(f"ratio u12/u13 light, heavy: linear {r[0]:.6f} {r[1]:.6f}   nonlinear springs {r_nl[0]:.4f} {r_nl[1]:.4f}")
    worst = max(worst, abs(r[1] / r[0] - 1))
    C = compatibility_matrix(design).toarray()[:, free]  # bond elongations from the free dofs
    K = C.T @ (op.k[:, None] * C)  # the stiffness the solve factorises
    bound = max(bound, 2 * free.size * np.finfo(float).eps * np.linalg.cond(K))
print(f"largest relative change of the linear ratio between the levels: {worst:.1e} (round-off bound {bound:.1e})")
assert worst <= bound
# -

# The uniform sample is mirror-symmetric about the vertical through id 10, so its two
# outputs are equal (ratio 1) in both models; random widths break the symmetry, and only the
# nonlinear springs let the ratio move with the load, by up to 1 % here. The training must
# make that small effect large.

# ## The exact gradient in large deformation: springs
#
# `NonlinearSpringModel` solves geometrically exact central-force springs (the same
# k = E t w / L) by Newton with load stepping from zero. The in situ rule survives large
# deformation: with e = l − L and e_adj the elongation, along the *deformed* bond, of the
# tangent response to the adjoint load −∂L/∂u at the loaded state, dL/dk_i = e_i e_adj,i
# exactly (physically: keep the weight on, add a small adjoint weight, measure the
# increment). We check it against central differences of the task's own loss (both levels),
# on the bonds with the largest gradients, at widths off the symmetric point. The heavy level
# is far from linear: on the uniform sample u_y of id 12 is −8.2 mm there, against −10.5 mm
# with linear springs.

# +
loss = task.loss("train", [0, 1])  # the contrast-margin loss of both levels


def spring_loss(w: np.ndarray) -> float:
    """The task's mean loss at widths w, nonlinear springs."""
    return float(np.mean(loss(nonlinear_springs.operator(w).solve(task.train_loads).u)[0]))


w0 = design.widths + rng.uniform(-0.3, 0.3, design.n_bonds)  # off the symmetric point: every bond matters
exact = nonlinear_springs.operator(w0).backprop(task.train_loads, loss)
errors = {}
for h in (1e-3, 1e-4):
    diffs = []
    for b in np.argsort(-np.abs(exact.grad_w))[:4]:
        e = np.zeros(design.n_bonds)
        e[b] = h
        fd = (spring_loss(w0 + e) - spring_loss(w0 - e)) / (2 * h)
        diffs.append(abs(fd - exact.grad_w[b]) / abs(exact.grad_w[b]))
    errors[h] = max(diffs)
    print(f"h = {h:g} mm: largest relative difference, exact vs central differences, {errors[h]:.1e}")
# -

# The differences fall by about 100 when h falls by 10: they are the central differences'
# own h² truncation error, not an error of the gradient. Issue 23's target is 1e-6.

assert errors[1e-4] < 1e-6
assert errors[1e-4] < errors[1e-3] / 10  # shrinking with h: the exact gradient is the limit

# ## Training `load-switch` with nonlinear springs
#
# The task's loss is a smooth hinge on the log-contrast of each case (`contrast-margin`:
# margin 1.05, sharpness 100), trained with the task file's settings (Adam, step 0.05,
# sigmoid parametrisation into the printable 1.5–2.5 mm) from the uniform 2 mm sample.

# +
settings = dict(task.train_settings) | {"epochs": 200 if QUICK else 600}
t0 = time.perf_counter()
spring_run = train(nonlinear_springs, task, TrainConfig(**settings), write=False)
sm = spring_run.best_metrics
print(
    f"nonlinear springs, {spring_run.epochs} epochs ({time.perf_counter() - t0:.0f} s): contrast light "
    f"{sm['train_contrast_light']:.4f}, heavy {sm['train_contrast_heavy']:.4f}; accuracy {sm['train_accuracy']:.2f} "
    f"(best epoch {spring_run.best_epoch})"
)
w_spring = spring_run.best_widths
# -

# The switch happens (each level's intended output dominates: accuracy 1) but only barely:
# contrasts of 1.016 (light) and 1.029 (heavy), measured, the same with 200 and 600 epochs
# (the lowest loss is reached early). An independent try with another loss and optimiser
# found at best 1.03 and 1.06 at 10 / 200 g (`docs/training.md`). **The springs fail the criterion.** Central-force springs have no
# bending and cannot buckle; their only nonlinearity is the rotation of the bonds, and on
# this lattice it moves the ratio by a few per cent at most.

assert sm["train_accuracy"] == 1.0
assert sm["train_contrast"] < task.success["min"]

# What the spring-trained design does between the two levels: `load_sweep` follows the
# load path from zero and reads the outputs at each load, with linear springs beside.

# +
factors = np.linspace(0.1, 1.0, 19)  # x 100 g
sweep = load_sweep(nonlinear_springs, heavy, factors, task.outputs, widths=w_spring)
fig, ax = subplots(figsize=(6.0, 3.6))
ratio_nl = sweep.values[:, 0, 0] / sweep.values[:, 0, 1]
ratio_lin = sweep.linear_values[:, 0, 0] / sweep.linear_values[:, 0, 1]
ax.plot(100 * factors, ratio_nl, "o-", label="nonlinear springs")
ax.plot(100 * factors, ratio_lin, "--", label="linear springs")
ax.axhline(1.0, color="k", lw=0.5)
ax.axhline(1.1, color="g", lw=0.5, ls=":")
ax.axhline(1 / 1.1, color="g", lw=0.5, ls=":", label="success: 1.1 either way")
ax.set_xlabel("weight at id 10 (g)")
ax.set_ylabel("|u_y(12)| / |u_y(13)|")
ax.set_title("spring-trained load switch")
ax.legend(fontsize=8)
fig.tight_layout()
fig.savefig(work / "switch_springs.png", dpi=100)
fig  # noqa: B018  (the rendered page shows the figure)
# -

# ## The exact gradient through the neo-Hookean FE solve
#
# The printed lattice is not springs. `NonlinearModel` solves the FE lattice in large
# deformation (compressible neo-Hookean, exact plane stress, load stepping), on a
# `MorphingFemModel` mesh that moves with the widths, and `width_gradient` gives the exact
# dL/dw: the tangent adjoint at the loaded state, then the shape derivative of the
# nonlinear residual through the same width map as the linear exact gradient. Two checks.
#
# *The small-load limit.* As the load goes to zero the nonlinear gradient must become the
# linear exact gradient (`shape_width_gradient`), with a difference proportional to the
# load: halving the load halves it (a ratio of 2, against 1 if the models differed at zero
# load and 4 if the difference were second order). The loss is Figure 1's, ½ (u_y,13 + 25 mm)²,
# with the weight at id 12. Quick mode: P1 elements, one across the thinnest thin end (4.7k
# dofs); full: P2, two across.

# +
from mpi4py import MPI  # noqa: E402

from fem_mnn.fem import (  # noqa: E402  (imports DOLFINx)
    FemOptions,
    MorphingFemModel,
    NonlinearModel,
    NonlinearOptions,
    buckling_analysis,
    shape_width_gradient,
)
from fem_mnn.geometry.build import MeshOptions  # noqa: E402
from fem_mnn.learn.losses import MSE  # noqa: E402
from fem_mnn.learn.tasks import gram_force  # noqa: E402

degree, across = (1, 1) if QUICK else (2, 2)
fem_options = FemOptions(degree=degree, mesh=MeshOptions(elements_across=across))
morph = MorphingFemModel(design, fem_options, comm=MPI.COMM_SELF)
fe_nl = NonlinearModel(design, fem=morph)
target = np.full((1, design.n_nodes, 2), np.nan)
target[0, 13, 1] = -25.0
fig1_loss = MSE(target)


def weight_at_12(grams: float) -> np.ndarray:
    """One load case: a weight of ``grams`` at id 12 (N)."""
    f = np.zeros((1, design.n_nodes, 2))
    f[0, 12, 1] = -gram_force(grams)
    return f


def rel(a: np.ndarray, b: np.ndarray) -> float:
    """Relative L2 difference of a from b."""
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


linear_op = morph.operator(design.widths)
diff = {}
for grams in (0.5, 1.0, 30.0):
    g_nl = fe_nl.width_gradient(weight_at_12(grams), fig1_loss, widths=design.widths, steps=1 if grams < 5 else 4)
    g_lin = shape_width_gradient(linear_op, weight_at_12(grams), fig1_loss)
    diff[grams] = rel(g_nl.grad_w, g_lin.grad_w)
    print(f"{grams:5.1f} g: nonlinear vs linear exact gradient, relative L2 difference {diff[grams]:.4f}")
print(f"ratio of the differences at 1 g and 0.5 g: {diff[1.0] / diff[0.5]:.3f}")
# -

# Measured: 0.2 % at 0.5 g and 0.4 % at 1 g (the target of issue 23: within 1 % at 0.5 g),
# first order in the load; at 30 g the gradients differ by 11 % (P1) to 12 % (P2): the regime
# where the linear gradient would mislead a training. The ratio's tolerance: d(s) = a s + b s², so
# d(2s)/d(s) = 2 (1 + b s / a); the second-order share was 1.5 % at 0.25 g in the tests'
# patch, so 5 % separates first order (2) from 1 and 4.

assert diff[0.5] < 0.01
assert abs(diff[1.0] / diff[0.5] - 2.0) < 0.1
assert diff[30.0] > 0.10

# *Central differences at 30 g*, on the same morphed mesh (the discrete loss the gradient
# differentiates), for the three bonds with the largest gradients. Their error is
# h² L'''/6 (about 1e-10 relative at h = 1e-4 mm on mm-sized bars) plus Newton's stopping
# error over 2h (relative residual 1e-10: about 1e-7 of the gradient at most): the bound
# 1e-6 of the largest entry covers both.

# +
f30 = weight_at_12(30.0)
g30 = fe_nl.width_gradient(f30, fig1_loss, widths=design.widths, steps=4)


def fe_loss(w: np.ndarray) -> float:
    """Figure 1's loss at 30 g, nonlinear FE on the mesh morphed to w."""
    fe_nl.set_widths(w)
    return float(fig1_loss(fe_nl.solve(f30[0], steps=4).u[None])[0][0])


h = 1e-4
worst_fd = 0.0
for b in np.argsort(-np.abs(g30.grad_w))[:3]:
    e = np.zeros(design.n_bonds)
    e[b] = h
    fd = (fe_loss(design.widths + e) - fe_loss(design.widths - e)) / (2 * h)
    worst_fd = max(worst_fd, abs(fd - g30.grad_w[b]) / np.max(np.abs(g30.grad_w)))
    print(f"bond {b:2d}: exact {g30.grad_w[b]: .6e}, central differences {fd: .6e}")
print(f"largest difference / largest gradient: {worst_fd:.1e}; remeshes {morph.n_remeshes}")
assert worst_fd < 1e-6
# -

# ## The FE model on the load switch
#
# The same FE model on the task: the spring-trained widths first. The FE model used for
# training is `NonlinearFemModel`, the FE lattice whose equilibrium is always the state on
# the load path followed from zero (10 increments, bisected when Newton fails), so the same
# widths give the same state and a resumed training repeats the uninterrupted one. On this
# coarse P1 mesh (one element across the thin ends) the 100 g path takes a few hundred
# Newton iterations: the uniform sample is near a limit point there (its path from zero ends
# at 148.5 g), and the increments are bisected on the way.

# +
from fem_mnn.fem.nonlinear import NonlinearFemModel  # noqa: E402

switch_options = FemOptions(degree=1, mesh=MeshOptions(elements_across=1))
fe_switch = NonlinearFemModel(design, switch_options, NonlinearOptions(steps=10), MPI.COMM_SELF)


def fe_contrasts(w: np.ndarray) -> dict[str, float]:
    """The load switch's contrast per level and accuracy in the nonlinear FE model."""
    m = task.metrics("train", fe_switch.operator(w).solve(task.train_loads).u)
    return {k: m[f"contrast_{k}"] for k in ("light", "heavy")} | {"accuracy": m["accuracy"]}


t0 = time.perf_counter()
on_fe = fe_contrasts(w_spring)
print(f"spring-trained widths in the FE model ({time.perf_counter() - t0:.0f} s): {on_fe}")
assert on_fe["heavy"] < 1.0  # the heavy case does not switch in the FE lattice
# -

# The spring-trained widths do not transfer: in the FE lattice the heavy case does not switch
# (measured: contrast 1.009 light, 0.60 heavy; below 1 means the wrong output dominates).
# Training in the FE model itself (full mode: 20 epochs from the uniform sample, about 15 s
# each on a busy machine) is what succeeds:

# +
w_fe, fig_training, fig_widths = None, None, None
if not QUICK:
    t0 = time.perf_counter()
    fe_run = train(fe_switch, task, TrainConfig(**(dict(task.train_settings) | {"epochs": 20})), write=False)
    fm = fe_run.best_metrics
    w_fe = fe_run.best_widths
    print(
        f"nonlinear FE, {fe_run.epochs} epochs ({time.perf_counter() - t0:.0f} s): contrast light "
        f"{fm['train_contrast_light']:.4f}, heavy {fm['train_contrast_heavy']:.4f}; "
        f"widths {w_fe.min():.2f}-{w_fe.max():.2f} mm"
    )
    assert fm["train_contrast"] >= task.success["min"]  # success, each level
    met = [r.epoch for r in fe_run.history if r.metrics["train_contrast"] >= task.success["min"]]
    print(f"first epoch meeting the criterion: {met[0] if met else None}")
    fig, ax = subplots(figsize=(6.0, 3.4))
    for level in ("light", "heavy"):
        ax.plot(
            [r.epoch for r in fe_run.history],
            [r.metrics[f"train_contrast_{level}"] for r in fe_run.history],
            "o-",
            label=f"{level} ({'id 12' if level == 'light' else 'id 13'} should dominate)",
        )
    ax.axhline(task.success["min"], color="g", ls=":", label="success: 1.1")
    ax.axhline(1.0, color="k", lw=0.5)
    ax.set_xlabel("epoch (nonlinear FE, P1)")
    ax.set_ylabel("contrast")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(work / "fe_training.png", dpi=100)
    fig_training = fig
    fig_widths = compare_widths_figure(
        design, w_spring, w_fe, titles=("nonlinear springs", "nonlinear FE (P1)"), suptitle="load-switch widths"
    )
    fig_widths.savefig(work / "widths.png", dpi=100)
else:
    print("quick mode: no FE training")
fig_training  # noqa: B018  (the rendered page shows the figure; None in quick mode)
# -

# Measured (full mode): contrasts 1.111 (light) and 1.217 (heavy) after 20 epochs, the
# criterion first met at epoch 16: it is met, in the FE model of the printed lattice, where the springs could not.
# The beams bend, and the printed lattice has more ways than bond rotation to let the load
# decide which output moves most. **What this does not show:** this is the coarse P1 mesh
# (4.7k dofs); whether the default P2 mesh confirms the contrasts is open (it costs minutes
# per evaluation at 100 g), and nothing here was printed. The two designs side by side:

fig_widths  # noqa: B018  (None in quick mode)

# ## Buckling: the heavy weight is beyond it
#
# `buckling_analysis` gives the linearised first buckling load factor λ₁ of a lattice under
# a load (P2, one element across the thinnest thin end, as the package's buckling check of
# every linear run): the load buckles the lattice (in linear theory) when λ₁ < 1. For the
# heavy case (100 g at id 10):

# +
buckle_options = FemOptions(degree=2, mesh=MeshOptions(elements_across=1))
lams = {}
for name, w in [("uniform 2 mm", design.widths), ("spring-trained", w_spring)] + (
    [] if w_fe is None else [("FE-trained", w_fe)]
):
    lams[name] = buckling_analysis(design.with_widths(w), heavy, buckle_options, comm=MPI.COMM_SELF).first
    print(f"{name:15s}: first buckling load factor {lams[name]:.3f} under 100 g = buckling at {100 * lams[name]:.0f} g")
print(f"total {time.perf_counter() - t_start:.0f} s")
# -

# Measured: the uniform sample buckles (in linear theory) at 27 g, the spring-trained design
# at 12 g, the FE-trained one at 18 g. Every design buckles between the two levels: λ₁ × 100 g
# is above the light 10 g and below the heavy 100 g. So the light case is a small-deformation response
# and the heavy case a post-buckling one: the load switch works *through* buckling, the
# "mechanical activation function" that springs do not have. This is also why the training
# defines the state as the path from zero load: past a bifurcation, a Newton solve started
# elsewhere could land on another branch. `validate --task-file … --regime nonlinear`
# checks strain, buckling and self-contact of a design at the task's largest load before
# you print it.

for lam in lams.values():
    assert 0.1 < lam < 1.0  # 10 g < buckling load < 100 g

# ## From the command line
#
# ```
# fem-mnn spring train paper.json --task load-switch --regime nonlinear --out runs/ls-springs
# fem-mnn fem train paper.json --task load-switch --regime nonlinear --load-steps 10 \
#     --degree 1 --elements-across 1 --out runs/ls-fem
# fem-mnn fem gradient paper.json --load 12:0,-0.294 --target 13:_,-25 --regime nonlinear --exact
# ```
#
# `studies/nonlinear_training.py` runs both nonlinear tasks (`load-switch`, `load-and`) with
# both models and the linear-trained behaviour design at growing loads; `docs/training.md`
# has the measured contrasts and `docs/nonlinear.md` the solvers.
