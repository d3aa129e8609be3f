# ---
# jupyter:
#   jupytext:
#     formats: py:light
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# # Will it survive the printer? Tolerance analysis and tolerance-aware training
#
# A printer does not print the widths it is given: each beam comes out a little wider or
# narrower, and the material's modulus varies from batch to batch. This tutorial asks, for
# the paper's Iris classifier trained on springs, how likely the printed lattice still
# meets its success criterion (test accuracy ≥ 90 %), checks the two answers the package
# gives (linearised and sampled) against each other and against a closed form, and trains
# the widths for the expected loss under the noise instead. Spring model throughout (1000
# samples in a few seconds); `fem-mnn tolerance --model fem` asks the same of the FE model.
# Units mm, N, MPa; ids 0-based. About two minutes; `FEM_MNN_QUICK=1` draws fewer samples
# and skips the control run (about one).

# +
import os
import tempfile
from pathlib import Path

import numpy as np

from fem_mnn import SpringModel, paper_sample
from fem_mnn.learn import RobustModel, WidthNoise, paper_config, paper_task, train
from fem_mnn.tolerance import analyse, tolerance_figure

QUICK = os.environ.get("FEM_MNN_QUICK", "") not in ("", "0")
n_samples = 300 if QUICK else 1000
work = Path(tempfile.mkdtemp(prefix="fem-mnn-t04-"))
# -

# ## The nominal design
#
# Iris on the paper's sample: four flower measurements are four forces on ids 10–13,
# the class is the largest of three output displacements, trained with the authors'
# recipe (cross-entropy, Adam, mini-batches of 16) for 100 epochs on the split of seed 0.

# +
design = paper_sample()
springs = SpringModel(design)
task = paper_task("iris", design, seed=0)
nominal = design.with_widths(train(springs, task, paper_config("iris", epochs=100), write=False).widths)
print("success criterion:", task.success)
# -

# ## The noise model, and a closed form to check against
#
# `WidthNoise(S, R)`: every bond's width independently w + S z (z standard normal, the thin
# ends follow the width), and one common modulus factor 1 + R ξ. `analyse` gives two
# answers for the outputs of the test cases: **linearised** (the sd of each output from its
# exact gradient with respect to the widths and E) and **sampled** (N perturbed designs
# solved one by one), plus the probability of success by the task's own criterion.
#
# First a check with modulus noise only. Displacements scale as 1/E, so to first order an
# output y moves by −y R ξ: its linearised sd must be exactly |y| R, for every output.

# +
R = 0.05
modulus_only = analyse(nominal, task, WidthNoise(0.0, R), n_samples=0)
y = np.asarray(modulus_only["nominal"])
print(
    f"{y.size} outputs; largest |linear sd - |y| R| = {np.max(np.abs(np.asarray(modulus_only['linear_sd']) - np.abs(y) * R)):.2e} mm"
)
assert np.allclose(modulus_only["linear_sd"], np.abs(y) * R, rtol=1e-9, atol=1e-15)
# -

# Accuracy is a comparison of outputs, and a common factor scales them all alike: modulus
# noise alone cannot change a single prediction. It matters for raw displacements (a
# regression), not for a classifier.
#
# ## Linearised against sampled
#
# At small noise the two answers must agree: the outputs are smooth in the widths, so the
# linearisation error is second order in S, and the sampled sd of N draws has a relative
# Monte Carlo error of about 1/√(2(N − 1)). At S = 0.02 mm the median ratio over all
# outputs should be within three such errors of 1.

# +
small = analyse(nominal, task, WidthNoise(0.02, 0.0), n_samples=n_samples, seed=0)
ratio = np.median(np.asarray(small["sampled_sd"]) / np.asarray(small["linear_sd"]))
mc = 1 / np.sqrt(2 * (n_samples - 1))
print(f"S = 0.02 mm: median sampled / linearised sd = {ratio:.3f} (Monte Carlo error {mc:.3f})")
assert abs(ratio - 1) < 3 * mc
# -

# ## The probability of success at S = 0.1 mm, R = 5 %
#
# A PolyJet printer holds a few hundredths of a millimetre; 0.1 mm is a pessimistic
# printer, or a design at the edge of its resolution. `p_success` is the fraction of
# perturbed designs whose test accuracy is still ≥ 90 %, with its Monte Carlo error
# √(p(1 − p)/N) and a 95 % Wilson interval. (A noise level that would take a thin end below
# the printable 0.5 mm at −4 S is refused before sampling.)

# +
noise = WidthNoise(0.1, 0.05)
before = analyse(nominal, task, noise, n_samples=n_samples, seed=1)
print(
    f"nominal design: accuracy {before['metric_nominal']:.3f}, mean under noise {before['metric_mean']:.3f}, "
    f"p_success {before['p_success']:.3f} ± {before['p_success_mc_err']:.3f} (95 % {np.round(before['p_success_ci95'], 3).tolist()})"
)
print(f"the bond whose scatter moves the outputs most: {before['dominant_bond']}")
fig = tolerance_figure(nominal, before)
fig.savefig(work / "tolerance_nominal.png", dpi=90)
fig  # noqa: B018  (the rendered page shows the figure)
# -

# ## Tolerance-aware training
#
# `RobustModel` wraps the spring model so that every training step follows the gradient
# of the *expected* loss E_z[L(w + S z)], averaged over K = 8 perturbed copies of the
# widths drawn in antithetic pairs (+S z, −S z; a pair cancels the part of the sampling
# noise linear in S). Same recipe, same 100 epochs, from the same 2 mm start; about 8
# times the cost of nominal training.

# +
robust_run = train(RobustModel(springs, 0.1, n_samples=8, seed=0), task, paper_config("iris", epochs=100), write=False)
robust = design.with_widths(robust_run.widths)
after = analyse(robust, task, noise, n_samples=n_samples, seed=1)  # the same draws as for the nominal design
# the two analyses share their draws (seed 1), so compare them sample by sample: the
# paired difference of the success indicators has a smaller error than the two p's apart
ok_before = np.asarray(before["metric_samples"]) >= task.success["min"]
ok_after = np.asarray(after["metric_samples"]) >= task.success["min"]
paired = ok_after.astype(float) - ok_before
gain, err = paired.mean(), paired.std(ddof=1) / np.sqrt(n_samples)
print(
    f"tolerance-aware: accuracy {after['metric_nominal']:.3f}, p_success {after['p_success']:.3f} ± {after['p_success_mc_err']:.3f}"
)
print(f"gain {gain:+.3f} ± {err:.3f} (paired); designs that fail where the nominal one succeeds: {np.sum(paired < 0)}")
# -

# Measured here: p rises from 0.67 to 0.76 (300 samples and 1000 alike) at the same
# nominal test accuracy (93.3 %), a gain of 5 to 10 paired Monte Carlo errors.

assert after["metric_nominal"] >= 0.9  # still meets the criterion without noise
assert gain > 3 * err, (gain, err)

# Is the noise what helped, or only the different path? The nominal recipe is still
# improving at 100 epochs. Trained for 200 epochs without any noise, the nominal design
# reaches p = 0.87 here (full version, 1000 samples), more than the tolerance-aware 100
# epochs; `studies/tolerance.py` found the same on its draws (0.959 after 200 nominal
# epochs, 0.956 after 100 nominal + 100 tolerance-aware ones): at equal training, no
# robustness gain from the noise. The control, run in the full version:

if not QUICK:
    longer = design.with_widths(train(springs, task, paper_config("iris", epochs=200), write=False).widths)
    control = analyse(longer, task, noise, n_samples=n_samples, seed=1)
    print(f"nominal, 200 epochs: accuracy {control['metric_nominal']:.3f}, p_success {control['p_success']:.3f}")
    paired_control = (np.asarray(control["metric_samples"]) >= task.success["min"]).astype(float) - ok_before
    assert paired_control.mean() > 3 * paired_control.std(ddof=1) / np.sqrt(n_samples)  # longer training helps

# ## From the command line
#
# `fem-mnn tolerance DESIGN --task iris --width-sd 0.1 --E-sd 0.05 --out tol.json` writes
# the same result as JSON with the figure beside it (`--model fem` for the FE model, where
# each sample morphs one mesh; `mpiexec -n 2` spreads the samples);
# `fem-mnn spring train DESIGN --task iris --robust 0.1` trains tolerance-aware;
# `fem-mnn validate DESIGN --task iris --tolerance 0.1` prints p_success beside the
# printability checks.
