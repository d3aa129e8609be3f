# ---
# jupyter:
#   jupytext:
#     formats: py:light
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# # Your own lattice and task: squares with a centre node
#
# This tutorial builds a lattice that is not a triangle patch, writes a task for it as a
# task file, trains the widths with springs, checks the trained design in the FE model of
# the printed beams (`fem evaluate`), and asks whether it buckles under the task's
# heaviest load. Units are mm, N and MPa; node and bond ids are 0-based. About a minute;
# `FEM_MNN_QUICK=1` uses a coarser FE mesh (the same code, half the time).

# +
import json
import os
import tempfile
from pathlib import Path

import numpy as np

from fem_mnn import Design, InputError, SpringModel
from fem_mnn.cli import main as fem_mnn_cli
from fem_mnn.design import check_design, crossing_bonds, save_design, validate
from fem_mnn.learn import TrainConfig, load_task_file, train
from fem_mnn.learn.evaluate import evaluate
from fem_mnn.learn.tasks import gram_force
from fem_mnn.viz.training import lattice_figure

QUICK = os.environ.get("FEM_MNN_QUICK", "") not in ("", "0")
work = Path(tempfile.mkdtemp(prefix="fem-mnn-t02-"))  # every file this page writes
# -

# ## A first try: squares with both diagonals
#
# A square of four bonds is a mechanism (it shears into a rhombus at no energy); the
# usual fix is to brace it. A user's first try is often a grid of squares with both
# diagonals: 3 × 2 squares of side a = 24 mm (larger than the paper's 16 mm, so that the
# half-diagonals below stay longer than its bonds). Nodes are numbered row by row from the
# bottom left, so the bottom corners are ids 0–3 and the top ones 8–11.

# +
a = 24.0  # mm, side of a square
nx, ny = 3, 2  # squares along x and y
corners = np.array([[i * a, j * a] for j in range(ny + 1) for i in range(nx + 1)])


def corner(i: int, j: int) -> int:
    """Id of the corner in column i, row j (0-based, row by row from the bottom left)."""
    return j * (nx + 1) + i


edges = [(corner(i, j), corner(i + 1, j)) for j in range(ny + 1) for i in range(nx)]
edges += [(corner(i, j), corner(i, j + 1)) for j in range(ny) for i in range(nx + 1)]
diagonals = [
    pair
    for j in range(ny)
    for i in range(nx)
    for pair in ((corner(i, j), corner(i + 1, j + 1)), (corner(i + 1, j), corner(i, j + 1)))
]
first_try = Design(
    nodes=corners,
    bonds=np.array(edges + diagonals),
    widths=np.full(len(edges) + len(diagonals), 2.0),
    fixed=(8, 9, 10, 11),  # the top row is clamped: the lattice hangs from it
    name="squares with both diagonals",
)
try:
    validate(first_try)
    refused = None
except InputError as err:
    refused = str(err)
print("refused:", refused)
# -

# The two diagonals of a square cross at its centre, where there is no node. Printed, the
# two beams would fuse there into a joint the design does not have, while the spring model
# would let them pass through each other: the models would describe another lattice than
# the printer makes, so every command refuses such a design (`fem-mnn validate` too, with
# exit code 2). The refusal names the first crossing pair and says where the missing node
# goes: the centre of the square.

assert refused is not None and "crosses" in refused and "add a node where they cross, at (12, 12) mm" in refused
assert len(crossing_bonds(first_try)) == nx * ny  # one crossing per square

# ## Squares with a centre node
#
# Following the hint, every square gets a node at its centre (ids 12–17) and four
# "spokes" to its corners instead of two diagonals. Each square is now four triangles,
# so the network is rigid once the top row is clamped; the spokes are a/√2 = 17 mm long.

# +
centres, spokes = [], []
for j in range(ny):
    for i in range(nx):
        c = len(corners) + len(centres)
        centres.append([(i + 0.5) * a, (j + 0.5) * a])
        spokes += [(corner(i, j), c), (corner(i + 1, j), c), (corner(i + 1, j + 1), c), (corner(i, j + 1), c)]
bonds = np.array(edges + spokes)
design = Design(
    nodes=np.vstack([corners, centres]),
    bonds=bonds,
    widths=np.full(len(bonds), 2.0),
    thickness=2.0,
    fixed=(8, 9, 10, 11),
    name="squares with a centre node",
)
validate(design)  # raises InputError on any defect; silent here
printability = check_design(design)
print(f"{design.n_nodes} nodes, {design.n_bonds} bonds; printability findings: {len(printability.findings)}")
design_file = save_design(design, work / "squares.json")
assert (design.n_nodes, design.n_bonds) == (18, 41)
assert not printability.findings  # widths in range, thin ends printable, no beams overlapping outside a hub
# -

# ## A task written from Python
#
# The lattice should act as a linear regression from two weights to three displacements:
# weights x1, x2 ∈ [0, 1] × 10 g hung at the bottom corners 1 and 2, outputs u_x of the
# bottom corners 0 and 3 and u_y of corner 0. So that an exact fit exists, the targets come
# from a "teacher": the same lattice with other (random, printable) widths. Its compliance
# matrix (mm/N, one row per output, one column per input) is the response to a unit force
# along each input's direction, which the task file's `generate` block multiplies by the
# drawn forces. 40 samples, 75 % for training, seeded.

# +
rng = np.random.default_rng(1)
teacher_widths = rng.uniform(1.5, 2.5, design.n_bonds)  # mm
springs = SpringModel(design)
inputs = [1, 2]  # node ids, force direction (0, -1): hung weights
outputs = [(0, "x"), (3, "x"), (0, "y")]
unit = np.zeros((len(inputs), design.n_nodes, 2))
for c, node in enumerate(inputs):
    unit[c, node, 1] = -1.0  # 1 N down
u_teacher = springs.operator(teacher_widths).solve(unit).u
compliance = [[float(u_teacher[c, node, "xy".index(comp)]) for c in range(len(inputs))] for node, comp in outputs]

task_dict = {
    "format": "fem_mnn.task/1",
    "name": "squares-regression",
    "comment": "two hung weights -> three corner displacements; targets from a teacher lattice",
    "inputs": [{"node": n, "direction": [0, -1]} for n in inputs],
    "input_scaling": {"grams": 10},
    "outputs": [{"node": n, "component": comp} for n, comp in outputs],
    "loss": "mse",
    "data": {"generate": {"n_samples": 40, "range": [0, 1], "compliance": compliance, "noise": 0.0}},
    "split": {"train_fraction": 0.75, "seed": 0},
    "success": {"metric": "test_rel_error", "max": 0.05},
    "train": {"epochs": 200, "lr": 0.05, "batch_size": 0, "beta": 5.0, "shuffle": False},
}
task_file = work / "squares-regression.json"
task_file.write_text(json.dumps(task_dict, indent=1))
task = load_task_file(task_file, design)
print(f"{task.train_loads.shape[0]} training and {task.test_loads.shape[0]} test cases")
print("compliance of the teacher (mm/N):", np.round(compliance, 3).tolist())
# -

# A task file is checked against the design when it is read: an input or output on a
# clamped node, an unknown node, a compliance of the wrong shape are refused in one line
# naming the file and the field. For instance an output on the clamped node 8:

try:
    bad_dict = {**task_dict, "outputs": [{"node": 8, "component": "x"}] + task_dict["outputs"][1:]}
    (work / "bad.json").write_text(json.dumps(bad_dict))
    load_task_file(work / "bad.json", design)
    bad = None
except InputError as err:
    bad = str(err)
print("refused:", bad)
assert bad is not None and "outputs[0]" in bad

# ## Training with springs
#
# The `train` block of the task file gives the training settings (Adam, step 0.05, the
# sigmoid parametrisation that keeps widths inside 1.5–2.5 mm). The spring model is the
# paper's: k = E t w / L, one factorisation per epoch for all 30 training cases. Since the
# teacher is a spring lattice of the same shape, the student can reach it exactly, so the
# test error must fall well below the 5 % criterion.

# +
before = evaluate(springs, task)
result = train(springs, task, TrainConfig(**task.train_settings), write=False)
after = evaluate(springs, task, result.widths)
print(f"test relative error: {before.metrics['test_rel_error']:.4f} -> {after.metrics['test_rel_error']:.2e}")
print(f"success under springs: {after.success['met']}; widths {result.widths.min():.2f}-{result.widths.max():.2f} mm")
trained = design.with_widths(result.widths)
trained_file = save_design(trained, work / "squares-trained.json")
assert before.metrics["test_rel_error"] > 0.05  # the uniform lattice does not do the task ...
assert after.success["met"] and after.metrics["test_rel_error"] < 1e-3  # ... the trained one does, nearly exactly
# -

fig = lattice_figure(trained, result.widths, title="spring-trained widths (mm)")
fig.savefig(work / "trained.png", dpi=100)
fig  # noqa: B018  (the rendered page shows the figure)

# The trained widths are not the teacher's: three outputs and two inputs give six
# compliances to match with 41 widths, so many width sets do the task equally well.

# ## The printed lattice: `fem evaluate`
#
# The springs know nothing of the printed shape: beams with thin ends, 2 mm hubs at the
# nodes, bending at the joints. `fem-mnn fem evaluate` solves the task's load cases in a
# plane-stress FE model of the printed lattice (DOLFINx) and reports the same metrics. Here
# it is called from Python through the command-line entry point, on the files written above.
# A coarse mesh keeps it quick (P1 or P2 triangles, one or two elements across the thinnest
# thin end).

# +
degree, across = ("1", "1") if QUICK else ("2", "2")
code = fem_mnn_cli(
    ["fem", "evaluate", str(trained_file), "--task-file", str(task_file), "--degree", degree]
    + ["--elements-across", across, "--out", str(work / "fem_evaluate.json")]
)
fe = json.loads((work / "fem_evaluate.json").read_text())
fe_error = fe["metrics"]["test_rel_error"]
spring_out, fe_out = after.outputs["test"], np.asarray(fe["outputs"]["test"])
ratio = np.linalg.norm(fe_out) / np.linalg.norm(spring_out)
print(f"exit code {code}; FE test relative error {fe_error:.3f} (springs {after.metrics['test_rel_error']:.1e})")
print(f"|outputs| FE / springs = {ratio:.3f}")
assert code == 0
# -

# The transfer gap: the design that does the task exactly in springs misses it in the
# model of the printed beams. Measured on this machine: FE test error 0.15 (P1, one element
# across) to 0.17 (P2), against 5 % wanted, with FE outputs about 10 % larger. A printed
# bond is not a pin-jointed spring: its thin ends, its junctions with the hubs and the
# bending of the welded joints all change its stiffness, by different amounts for the
# edges (24 mm) and the spokes (17 mm), so the trained balance of stiffnesses is off. The
# expectation we check: the gap is far above the mesh error (P1 and P2 differ by about 2
# points), and the printed lattice is softer than the nominal springs by roughly what the
# paper's sample shows (there the FE model needs E = 0.640 MPa where the springs need
# 0.552 MPa to match the same measurements, i.e. it is 16 % softer at equal E;
# `studies/printed_predictions.py`).

assert not fe["success"]["met"] and fe_error > 0.05
assert 1.0 < ratio < 1.3, ratio

# Closing this gap is the subject of the next tutorial (fine-tuning in the FE model with
# the exact shape gradient).

# ## Will it buckle under the task's loads?
#
# Central-force springs cannot buckle; printed beams of E = 0.55 MPa can, and easily:
# the Euler load of a 20 mm free length of a 1.5 mm wide, 2 mm thick beam is a few grams.
# `buckling_analysis` solves the linearised eigenproblem (K + λ K_G(σ₀)) φ = 0 for the
# prestress σ₀ of the given loads; λ > 1 means the lattice carries the loads without
# buckling (linear theory). We take the training case with the heaviest weights.

# +
from fem_mnn.fem import FemModel, FemOptions, buckling_analysis  # noqa: E402  (imports DOLFINx)
from fem_mnn.geometry.build import MeshOptions  # noqa: E402

heaviest = int(np.argmax(np.abs(task.train_loads).sum(axis=(1, 2))))
loads = task.train_loads[heaviest]  # (n_nodes, 2) N
fem = FemModel(trained, FemOptions(degree=int(degree), mesh=MeshOptions(elements_across=int(across))))
buckling = buckling_analysis(trained, loads, model=fem)
lam = buckling.first
print(f"weights {(-loads[inputs, 1] / gram_force(1.0)).round(2).tolist()} g: first buckling load factor {lam:.3f}")

# the same model gives the same displacements as `fem evaluate` did for this case (same mesh)
same = evaluate(fem, task).outputs["train"][heaviest]
assert np.allclose(same, np.asarray(fe["outputs"]["train"])[heaviest], rtol=1e-9, atol=1e-12)
# -

# An independent bracket for λ: the most compressed bond as a single column. Its axial
# force N_i = k_i e_i comes from the springs; its Euler load lies between that of a
# pinned–pinned column with the thin ends' bending stiffness EI/8 over the free length
# L − 2R (the softest reading) and a clamped–clamped one with the bar's EI (the stiffest).
# A lattice mode involves neighbours too, but should fall inside this factor-32 bracket when
# one bond's compression drives it.

# +
sol = springs.operator(result.widths).solve(loads[None])
force = design.material.E * design.thickness * result.widths / design.lengths * sol.elongation[0]  # N, < 0 compressed
free = design.lengths - 2 * design.geometry.junction_radius
EI = design.material.E * design.thickness * result.widths**3 / 12  # N mm²
compressed = force < 0
soft = np.pi**2 * (EI / 8) / free**2  # pinned-pinned, thin-end EI
stiff = 4 * np.pi**2 * EI / free**2  # clamped-clamped, bar EI
lo = np.min(soft[compressed] / -force[compressed])
hi = np.min(stiff[compressed] / -force[compressed])
worst = int(np.flatnonzero(compressed)[np.argmin(soft[compressed] / -force[compressed])])
print(f"most compressed bond {worst}: N = {force[worst]:.4f} N; bracket {lo:.2f} <= lambda <= {hi:.2f}; FE {lam:.3f}")
assert lo <= lam <= hi
assert lam > 1.0  # hung weights mostly pull: the heaviest case does not buckle
# -

# Measured here: λ ≈ 1.7 with P2 elements for about 15 g in total (2.2 with P1 at one
# element across: linear triangles one element thick are too stiff in bending, so use P2
# for buckling). The lattice is safe at the task's loads, but only by a factor of 1.7: clamped at the bottom and pushed from the top
# instead, the same lattice buckled at 0.4 of the same loads. `fem-mnn validate DESIGN
# --loads 1:0,-0.0892 ...` runs this check with the strain and linear-regime checks before
# printing (tutorial 5).
