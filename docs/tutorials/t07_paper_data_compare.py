# ---
# jupyter:
#   jupytext:
#     formats: py:light
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# # The paper's measured data, and `compare`
#
# Li & Mao published the numbers behind their figures (Source Data, MIT licence). They
# ship with the package in `fem_mnn/data/li-mao-2024/` with the authors' workbook, a README
# of every column and SHA-256 sums that the readers check. This tutorial reads them,
# reproduces the paper's simulated values with our spring model (to the digits they were
# published with), puts the measurements beside the spring and FE models with
# `fem-mnn compare`, and writes a measurement of your own in the CSV format `compare`
# reads. Units mm, N, MPa; ids 0-based (paper node n = id n − 1). About 30 s;
# `FEM_MNN_QUICK=1` uses P1 elements for the FE model.

# +
import json
import os
import tempfile
from pathlib import Path

import numpy as np

from fem_mnn import SpringModel, paper_sample
from fem_mnn.cli import main as fem_mnn_cli
from fem_mnn.design import save_design
from fem_mnn.io.measured import G, read_displacements
from fem_mnn.io.paper_data import default_data_dir, load_figure1, load_figure2

QUICK = os.environ.get("FEM_MNN_QUICK", "") not in ("", "0")
work = Path(tempfile.mkdtemp(prefix="fem-mnn-t07-"))
print(sorted(p.name for p in default_data_dir().iterdir()))
# -

# ## Figure 2: the uniform network, simulated and measured
#
# Figure 2's first network has every width at 2 mm; 5 g hang at paper node 11 (id 10) and
# the outputs are u_y of paper nodes 13 and 14 (ids 12, 13). The record holds the paper's
# simulated outputs `u1` and the measured ones `u1_exp` with their spread (min to max over
# three repeats), converted from m to mm. The paper's simulation is the spring model
# k = E t w / L with E = 0.55 MPa and g = 9.8 m/s²: ours must give the same numbers, to the
# eight significant digits they were published with.

# +
fig2 = load_figure2()
design = paper_sample()
springs = SpringModel(design)
load = np.zeros((1, design.n_nodes, 2))
load[0, 10, 1] = -5.0 * G * 1e-3  # 5 g, N
ours = springs.operator().solve(load).u[0, [12, 13], 1]
print(f"u1 published {fig2.u1}, ours {ours}, measured {fig2.u1_exp} ± {fig2.u1_spread} mm")
assert np.all(np.abs(ours - fig2.u1) <= 5e-9 * np.abs(fig2.u1))  # half a unit in the 8th digit
# -

# ## Figure 1: the in situ gradient
#
# Figure 1's case: 10 g at paper node 13 (id 12); the loss on u_y of paper node 14 (id 13),
# whose adjoint load the experiment applies as a 5 g weight at id 13. The gradient of each
# bond is the product of its elongations under the two loads, e e_adj (mm²). `grad_sim` is
# the paper's simulation of it, published with three significant digits; `grad_exp` the
# mean of the measurements, in the paper's bond order (`by_bond` reorders to ours).

# +
fig1 = load_figure1()
op = springs.operator()
fwd = np.zeros((1, design.n_nodes, 2))
fwd[0, 12, 1] = -10.0 * G * 1e-3
adj = np.zeros((1, design.n_nodes, 2))
adj[0, 13, 1] = -5.0 * G * 1e-3
grad = op.solve(fwd).elongation[0] * op.solve(adj).elongation[0]  # mm², our bond order
sim = fig1.by_bond(fig1.grad_sim)
exp = fig1.by_bond(fig1.grad_exp)
# three significant digits: each published value is within half a unit of its third digit
half_unit = 0.5 * 10.0 ** (np.floor(np.log10(np.abs(sim))) - 2)
print(f"largest |ours - grad_sim| / half a unit of the 3rd digit: {np.max(np.abs(grad - sim) / half_unit):.2f}")
assert np.all(np.abs(grad - sim) <= half_unit * (1 + 1e-9))
# -

# The measurement is not the simulation: beams are not springs, the weights and the photo
# tracking have errors. The paper gives a per-trial "normalised error" `err_exp` without its
# definition, so we do not compare with it; instead the numbers themselves. The claim the
# in situ method needs is that the measurement gets the direction right where the
# gradient is large: the bonds above 10 % of the largest |g| are what a training step
# mostly changes.

# +
error = np.linalg.norm(exp - grad) / np.linalg.norm(grad)
corr = np.corrcoef(exp, grad)[0, 1]
spread = fig1.by_bond(fig1.grad_exp_spread)
large = np.abs(grad) > 0.1 * np.abs(grad).max()
within = np.mean(np.abs(exp - grad) <= spread)
print(f"measured vs ours: normalised error {error:.3f}, correlation {corr:.4f}")
print(f"bonds whose measurement is within its spread of ours: {within:.0%}")
print(
    f"large-gradient bonds {np.flatnonzero(large).tolist()}: signs agree {np.all(np.sign(exp[large]) == np.sign(grad[large]))}"
)
assert np.all(np.sign(exp[large]) == np.sign(grad[large]))
# -

# Measured here: correlation 0.993 and a normalised error of 12.5 %, but only 46 % of the
# bonds within the spread of three repeats of ours: the spread of repeats measures the
# scatter of the experiment, not the difference between a spring model and printed beams.

# ## `compare`: models beside the measurement
#
# `fem-mnn compare DESIGN --paper-figure 2` puts the spring model and the FE model of the
# printed lattice beside Figure 2's measurement and writes a table (`comparison.md`),
# the numbers (`comparison.json`) and a parity plot. Here it runs from Python.

# +
design_file = save_design(design, work / "paper.json")
degree = "1" if QUICK else "2"
code = fem_mnn_cli(
    ["compare", str(design_file), "--paper-figure", "2", "--models", "spring,fem", "--degree", degree]
    + ["--out", str(work / "figure2")]
)
result = json.loads((work / "figure2" / "comparison.json").read_text())
summary = result["comparisons"][0]["summary"]
for model, s in summary.items():
    E_fit = design.material.E / s["best_scale"]  # u ∝ 1/E: scaling the prediction by s is E / s
    print(f"{model:6s}: rel. RMS {s['rel_rms']:.3f}, within spread {s['within_spread']:.0%}, E fitted {E_fit:.3f} MPa")
assert code == 0
# -

# The spring model is the paper's own, with E = 0.55 MPa chosen to match these tests, so it
# falls inside the measurement's spread. The FE model of the printed lattice, at the same E,
# is softer (13 % (P1) to 16 % (P2) larger displacements here, as the thin ends and hubs made it in
# tutorials 2 and 3): it needs a larger E to match, 0.63 (P1) to 0.64 MPa (P2). Which E
# is the material's is a question for another measurement, not for this fit:
# `studies/printed_sample.py` shows E and a common width offset cannot be separated with
# these data.

assert summary["spring"]["within_spread"] == 1.0
assert summary["fem"]["best_scale"] < 1.0  # the printed lattice is softer than the springs at equal E

# ## Your own measurement
#
# `compare --measured FILE.csv --loads FILE.csv` reads any measurement in two small CSV
# files (`fem_mnn.io.measured`): displacements `load_case,node,ux,uy,spread_ux,spread_uy`
# (mm; an empty cell was not measured) and loads `load_case,node,fx,fy` (N; a hanging mass
# m in g pulls fy = −m · 9.8e-3 N). Here Figure 2's uniform test written by hand, as you
# would write your own photos' results; only u_y was tracked.

# +
(work / "measured.csv").write_text(
    "# Figure 2, uniform network: u_y of ids 12, 13 under 5 g at id 10 (mm)\n"
    "load_case,node,ux,uy,spread_ux,spread_uy\n"
    f"uniform,12,,{float(fig2.u1_exp[0])!r},,{float(fig2.u1_spread[0])!r}\n"
    f"uniform,13,,{float(fig2.u1_exp[1])!r},,{float(fig2.u1_spread[1])!r}\n"
)
(work / "loads.csv").write_text(f"load_case,node,fx,fy\nuniform,10,0,{-5 * G * 1e-3!r}\n")
print(read_displacements(work / "measured.csv"))
code = fem_mnn_cli(
    ["compare", str(design_file), "--measured", str(work / "measured.csv"), "--loads", str(work / "loads.csv")]
    + ["--models", "spring", "--out", str(work / "mine")]
)
mine = json.loads((work / "mine" / "comparison.json").read_text())["comparisons"][0]
print(mine["rows"])
assert code == 0
assert np.allclose([r["spring"] for r in mine["rows"]], ours, rtol=1e-12)
assert np.isclose(mine["summary"]["spring"]["rms"], summary["spring"]["rms"], rtol=1e-12)
# -

# A wrong column or a node the design does not have is refused in one line naming the file,
# the row and the value (exit code 2), before any model runs:

(work / "bad.csv").write_text("load_case,node,ux,uy,spread_ux,spread_uy\nuniform,14,,-0.5,,\n")
code = fem_mnn_cli(
    ["compare", str(design_file), "--measured", str(work / "bad.csv"), "--loads", str(work / "loads.csv")]
    + ["--models", "spring", "--out", str(work / "bad")]
)
print("exit code", code)
assert code == 2 and not (work / "bad").exists()

# ## Where next
#
# `studies/vs_experiment.py` fits one E for all figures and compares the spring, frame and
# FE models against every measurement; `studies/printed_predictions.py` asks how well the
# FE model *predicts* the trained networks of Figures 2 and 3 (their widths are not
# published, so `compare` does not convert them).
