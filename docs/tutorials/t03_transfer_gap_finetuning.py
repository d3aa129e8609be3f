# ---
# jupyter:
#   jupytext:
#     formats: py:light
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# # The transfer gap, and fine-tuning in the FE model with the exact shape gradient
#
# Widths trained on springs do their task in the spring model. Printed, the beams have
# thin ends, hubs and welded joints, and the lattice responds differently: the *transfer
# gap*. This tutorial measures it on the paper's sample with the FE model of the printed
# lattice, checks the FE model's exact width gradient (the adjoint shape derivative) with
# a Taylor test, shows that the in situ rule k'(w) e e_adj is only an estimate of it, and
# fine-tunes the spring-trained widths in the FE model. Units mm, N, MPa; ids 0-based.
# About a minute; `FEM_MNN_QUICK=1` uses P1 elements and fewer epochs (about 20 s).

# +
import dataclasses
import os
import tempfile
from pathlib import Path

import numpy as np

from fem_mnn import SpringModel, backprop, paper_sample
from fem_mnn.learn import TrainConfig, behaviour_mse, paper_config, train
from fem_mnn.learn.evaluate import evaluate
from fem_mnn.viz.training import compare_widths_figure

QUICK = os.environ.get("FEM_MNN_QUICK", "") not in ("", "0")
work = Path(tempfile.mkdtemp(prefix="fem-mnn-t03-"))
# -

# ## Train on springs
#
# The Figure 2 behaviour task of the first tutorial: 5 g at paper node 11 (id 10), outputs
# u_y of ids 12 and 13, MSE to the reachable targets −0.625333 and −0.479973 mm, with the
# authors' recipe for 300 epochs.

# +
design = paper_sample()
springs = SpringModel(design)
task = behaviour_mse(design, targets=(-0.625333, -0.479973))
spring_run = train(springs, task, paper_config("behaviour", epochs=300), write=False)
w_spring = spring_run.widths
on_springs = evaluate(springs, task, w_spring)
print(
    f"springs: loss {on_springs.metrics['train_loss']:.2e} mm², relative error {on_springs.metrics['train_rel_error']:.3f}"
)
assert on_springs.metrics["train_rel_error"] < 0.02  # within 2 % of the targets (t01: within 0.007 mm)
# -

# ## The same widths in the FE model of the printed lattice
#
# `MorphingFemModel` is the FE model used for training: plane stress, meshed once at the
# design's widths with a fixed element size, then *moved* with the widths (the exact width
# map) instead of remeshed, so the loss is a smooth function of the widths and the matrix,
# compiled forms and MUMPS's symbolic analysis are reused. Quick mode: P1 triangles, one
# element across the thinnest thin end; full: P2, two across.

# +
from fem_mnn.fem import FemOptions, MorphingFemModel  # noqa: E402  (imports DOLFINx)
from fem_mnn.geometry.build import MeshOptions, mesh_size  # noqa: E402

degree, across = (1, 1) if QUICK else (2, 2)
mesh = MeshOptions(elements_across=across)
mesh = dataclasses.replace(mesh, size=mesh_size(design, mesh))  # fixed size: a remesh keeps the resolution
options = FemOptions(degree=degree, mesh=mesh)
fem = MorphingFemModel(design, options)

in_fem = evaluate(fem, task, w_spring)
u_s, u_f = on_springs.outputs["train"][0], in_fem.outputs["train"][0]
print(
    f"FE (P{degree}): loss {in_fem.metrics['train_loss']:.2e} mm², relative error {in_fem.metrics['train_rel_error']:.3f}"
)
print(
    f"outputs u_y of ids 12, 13 (mm): springs {np.round(u_s, 4)}, FE {np.round(u_f, 4)}; ratio {np.round(u_f / u_s, 3)}"
)
# -

# The FE lattice is softer: both outputs are 6–17 % larger than in the springs (measured),
# so the loss grows by a factor of 60 (P1) to 200 (P2) and the relative error from 1 % to
# 8–14 %. We expect the printed lattice to be softer than the nominal springs by about what
# the paper's own measurements show: the FE model needs E = 0.640 MPa where the springs
# need 0.552 MPa to match them (16 % softer at equal E, `studies/printed_predictions.py`).

assert np.all((u_f / u_s > 1.0) & (u_f / u_s < 1.3)), u_f / u_s
assert in_fem.metrics["train_loss"] > 10 * on_springs.metrics["train_loss"]

# ## The exact gradient, and a Taylor test
#
# `fem.backprop_operator` returns the exact derivative of the FE model's loss with
# respect to the widths: an adjoint solve, then the shape derivative of the discrete
# Lagrangian contracted with the width map's mesh velocity (`fem_mnn.fem.shape`). The in
# situ rule, dL/dw ≈ k'(w) e e_adj with the FE elongations, is what a physical lattice
# can measure (`fem_mnn.backprop` on the same operator). A Taylor test tells them apart:
# the remainder |L(w + h d) − L(w) − h g·d| shrinks as h² (rate 2) for the true gradient g
# and only as h (rate 1) for anything else. Steps of at most 0.04 mm keep the mesh
# morphed (no remesh, which would add a jump to L).

# +
loss = task.loss("train", np.arange(task.train_loads.shape[0]))
op = fem.operator(w_spring)
exact = fem.backprop_operator(op, task.train_loads, loss)
insitu = backprop(fem, w_spring, task.train_loads, loss)
g, g_in = exact.grad_w, insitu.grad_w
cosine = g @ g_in / np.linalg.norm(g) / np.linalg.norm(g_in)
print(
    f"in situ vs exact: cosine {cosine:.4f}, relative L2 difference {np.linalg.norm(g_in - g) / np.linalg.norm(g):.3f}"
)

rng = np.random.default_rng(0)
direction = rng.uniform(-1.0, 1.0, design.n_bonds)
steps = 0.04 * 0.5 ** np.arange(4)  # mm
losses = np.array([evaluate(fem, task, w_spring + h * direction).metrics["train_loss"] for h in steps])
rem_exact = np.abs(losses - exact.loss - steps * (g @ direction))
rem_insitu = np.abs(losses - exact.loss - steps * (g_in @ direction))
rate_exact = np.log2(rem_exact[:-1] / rem_exact[1:])
rate_insitu = np.log2(rem_insitu[:-1] / rem_insitu[1:])
print("rates, exact gradient:  ", np.round(rate_exact, 3))
print("rates, in situ estimate:", np.round(rate_insitu, 3))
assert fem.n_remeshes == 0
assert np.all(np.abs(rate_exact - 2.0) < 0.1), rate_exact  # exact: 2 up to the O(h) next term
assert rate_insitu[-1] < 1.5, rate_insitu  # an estimate: tends to 1 as h -> 0
# -

# The in situ rule points the right way (cosine above 0.99 here) but is 20–30 % off in
# size; the remainder with it tends to rate 1. For designing a printed lattice, follow the
# exact gradient; the in situ rule is what the physical experiment can do.

# ## Fine-tuning in the FE model
#
# Starting from the spring-trained widths, Adam on the widths themselves (`clip`
# parametrisation: projected onto the printable 1.5–2.5 mm; the sigmoid cannot move a
# width off a bound, where the spring recipe puts many), step 0.02 mm, with the exact
# gradient: every epoch morphs the mesh, refactorises numerically and solves forward and
# adjoint.

# +
epochs = 20 if QUICK else 40
config = TrainConfig(epochs=epochs, lr=0.02, batch_size=0, parametrisation="clip", shuffle=False)
tuned = train(fem, task, config, widths0=w_spring, write=False)
after = evaluate(fem, task, tuned.widths)
drop = in_fem.metrics["train_loss"] / after.metrics["train_loss"]
print(
    f"{epochs} FE epochs: loss {in_fem.metrics['train_loss']:.2e} -> {after.metrics['train_loss']:.2e} mm² ({drop:.1f}x), "
    f"relative error {in_fem.metrics['train_rel_error']:.3f} -> {after.metrics['train_rel_error']:.3f}"
)
print(f"largest width change {np.max(np.abs(tuned.widths - w_spring)):.3f} mm; remeshes {fem.n_remeshes}")
# -

# Measured here: 20 P1 epochs divide the FE loss by 4.4 (relative error 7.8 % → 3.7 %), 40
# P2 epochs by 7.4 (14 % → 5.2 %), without a remesh. The widths stay printable by
# construction.

assert np.all((tuned.widths >= 1.5) & (tuned.widths <= 2.5))
assert drop > (4.0 if QUICK else 6.0), drop
assert after.metrics["train_rel_error"] < in_fem.metrics["train_rel_error"] / 2

fig = compare_widths_figure(design, w_spring, tuned.widths, titles=("spring-trained", "FE fine-tuned"))
fig.savefig(work / "widths_before_after.png", dpi=100)
fig  # noqa: B018  (the rendered page shows the figure)

# ## From the command line
#
# `fem-mnn run` does this pipeline on the paper's sample (spring training, transfer,
# fine-tuning, print checks); `fem-mnn fem train DESIGN --task-file F --gradient exact`
# fine-tunes any design (`--gradient insitu` follows the in situ rule instead, remeshing
# every step). `studies/transfer.py` runs all five paper tasks: the gap is +17 % loss for
# the behaviour task at P2 with three elements across, 8 points of Iris accuracy, and FE
# fine-tuning closes it.
