"""Pins for ``fem_mnn.tolerance.analysis`` (issue 21, mutation testing): every reported statistic
checked against an independent closed form, so that a swapped operator or constant cannot pass.

The two mutants the issue found surviving the whole fast suite are pinned here: the Wilson
half-width ``z / sqrt(...)`` (for ``z * sqrt(...)``) and the share below the printable feature
with ``thin_end_ratio / widths`` (for ``thin_end_ratio * widths``).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from fem_mnn.design import paper_sample
from fem_mnn.design.records import Geometry
from fem_mnn.learn.robust import WidthNoise
from fem_mnn.learn.taskfile import paper_task
from fem_mnn.spring.network import SpringModel
from fem_mnn.tolerance.analysis import _sampled_statistics, _wilson, tolerance_analysis

Z95 = 1.959963984540054  # the 97.5 % quantile of the standard normal


def score_interval(k: int, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson's interval as the inversion of the score test: the pi with (k/n - pi)^2 = z^2 pi (1 - pi) / n,
    i.e. the roots of (1 + z^2/n) pi^2 - (2p + z^2/n) pi + p^2 = 0 (a different computation from the
    centre +- half-width form of the package)."""
    p = k / n
    roots = np.roots([1 + z * z / n, -(2 * p + z * z / n), p * p])
    lo, hi = sorted(float(r.real) for r in roots)
    return lo, hi


def test_wilson_interval_is_the_score_test_inversion():
    # k = 7 of n = 20: the textbook example value [0.181, 0.567]
    lo, hi = _wilson(7 / 20, 20)
    rlo, rhi = score_interval(7, 20, 1.96)
    assert lo == pytest.approx(rlo, rel=1e-12) and hi == pytest.approx(rhi, rel=1e-12)
    assert (round(lo, 3), round(hi, 3)) == (0.181, 0.567)
    # at the ends the interval touches 0 or 1 and keeps a width of order z^2 / n
    for k, n in ((0, 10), (10, 10), (1, 1000), (999, 1000), (500, 1000)):
        lo, hi = _wilson(k / n, n)
        rlo, rhi = score_interval(k, n, 1.96)
        assert lo == pytest.approx(max(rlo, 0.0), abs=1e-12) and hi == pytest.approx(min(rhi, 1.0), abs=1e-12)
        assert 0.0 <= lo <= k / n <= hi <= 1.0


def test_reported_success_probability_and_its_interval():
    """p_success is the share of metric samples meeting the criterion; its interval is the score inversion
    with the run's own n, its Monte Carlo error sqrt(p (1 - p) / n)."""
    d = paper_sample()
    task = paper_task("behaviour", d)  # one case, a continuous metric (train_rel_error)
    n = 60
    first = tolerance_analysis(SpringModel(d), task, WidthNoise(0.1, 0.05), n, seed=1, linear=False)
    m = np.asarray(first["metric_samples"])
    # a threshold at the 30 % quantile of the samples: 0 < p < 1, p != 1/2 (where p (1 - p) = p^2), and
    # the criterion's direction matters (p about 0.7 for min, 0.3 for max)
    thr = float(np.quantile(m, 0.3))
    for bound in ("min", "max"):
        res = tolerance_analysis(
            SpringModel(d),
            task,
            WidthNoise(0.1, 0.05),
            n,
            seed=1,
            linear=False,
            success={"metric": first["metric"], bound: thr},
        )
        k = int(np.sum(m >= thr)) if bound == "min" else int(np.sum(m <= thr))
        assert 0 < k < n and 2 * k != n
        assert res["p_success"] == pytest.approx(k / n, abs=1e-15)
        assert res["p_success_mc_err"] == pytest.approx(math.sqrt(k / n * (1 - k / n) / n), rel=1e-12)
        lo, hi = score_interval(k, n, 1.96)
        assert res["p_success_ci95"] == pytest.approx([lo, hi], rel=1e-12)


def test_share_below_the_printable_feature_and_outside_the_bounds():
    """Widths on a grid with known shares: thin end = thin_end_ratio * w below min_feature."""
    g = Geometry()  # width 1.5-2.5 mm, thin ends half the width, min feature 0.5 mm
    assert (g.thin_end_ratio, g.min_feature, g.width_min, g.width_max) == (0.5, 0.5, 1.5, 2.5)
    n = 1000
    k = np.arange(n)
    u0 = 0.5 + k / n  # 0.5 .. 1.499 mm: thin end below 0.5 mm for k < 500
    u1 = 0.5 + ((k + 250) % n) / n  # below for k < 250 or k >= 750
    u2 = 1.0 + 2.0 * k / n  # 1.0 .. 2.998: outside 1.5-2.5 for k < 250 or k > 750
    widths = np.stack([u0, u1, np.full(n, 2.0)], axis=1)
    Y = np.zeros((n, 1))
    M = np.zeros(n)
    out = _sampled_statistics(Y, M, widths, None, g, None, n)
    # any bond below: k < 500 or k >= 750 or k < 250 -> 750 of 1000
    assert out["samples_below_min_feature"] == pytest.approx(0.75, abs=1e-15)
    # every row has u0 < 1.5: all outside the bounds; with u2 alone the share is 499 of 1000
    assert out["samples_outside_training_bounds"] == pytest.approx(1.0, abs=1e-15)
    out2 = _sampled_statistics(Y, M, u2[:, None], None, g, None, n)
    outside = int(np.sum((u2 < 1.5) | (u2 > 2.5)))
    assert outside == 250 + 249
    assert out2["samples_outside_training_bounds"] == pytest.approx(outside / n, abs=1e-15)
    assert out2["samples_below_min_feature"] == 0.0  # 0.5 * 1.0 = 0.5 mm is printable (not below)


def test_sampled_moments_and_their_monte_carlo_errors():
    """Mean, sd (n - 1), the errors sd / sqrt(n) and sd / sqrt(2 (n - 1)), quantiles, against numbers
    computed here from their definitions."""
    rng = np.random.default_rng(7)
    n = 400
    Y = rng.normal([1.0, -2.0], [0.5, 0.1], size=(n, 2))
    M = rng.uniform(0, 1, n)
    widths = np.full((n, 2), 2.0)
    lin = {"linear_sd": np.array([0.25, 0.0])}
    out = _sampled_statistics(Y, M, widths, {"metric": "train_loss", "max": 0.3}, Geometry(), lin, n)
    mean = Y.sum(axis=0) / n
    sd = np.sqrt(((Y - mean) ** 2).sum(axis=0) / (n - 1))
    assert out["sampled_mean"] == pytest.approx(mean, rel=1e-12)
    assert out["sampled_sd"] == pytest.approx(sd, rel=1e-12)
    assert out["sampled_mean_mc_err"] == pytest.approx(sd / 20.0, rel=1e-12)  # sqrt(400)
    assert out["sampled_sd_mc_err"] == pytest.approx(sd / math.sqrt(798.0), rel=1e-12)
    msd = math.sqrt(((M - M.mean()) ** 2).sum() / (n - 1))
    assert out["metric_mean"] == pytest.approx(M.sum() / n, rel=1e-12)
    assert out["metric_sd"] == pytest.approx(msd, rel=1e-12)
    assert out["metric_mean_mc_err"] == pytest.approx(msd / 20.0, rel=1e-12)
    s = np.sort(M)
    # numpy's default (linear) quantile of 400 points: position q (n - 1)
    for q in (0.05, 0.5, 0.95):
        pos = q * (n - 1)
        i = int(math.floor(pos))
        want = s[i] + (pos - i) * (s[i + 1] - s[i])
        assert out["metric_quantiles"][str(q)] == pytest.approx(want, rel=1e-12)
    assert out["p_success"] == pytest.approx(np.sum(M <= 0.3) / n, abs=1e-15)
    # sampled over linear sd: the ratio where the linear sd is positive, NaN where it is zero
    ratio = out["sd_ratio_sampled_over_linear"]
    assert ratio[0] == pytest.approx(sd[0] / 0.25, rel=1e-12) and math.isnan(ratio[1])
    assert out["sd_ratio_summary"]["max_abs_dev"] == pytest.approx(abs(sd[0] / 0.25 - 1), rel=1e-12)


def test_one_sample_has_no_spread():
    Y = np.array([[1.0, 2.0]])
    out = _sampled_statistics(Y, np.array([0.5]), np.full((1, 2), 2.0), None, Geometry(), None, 1)
    assert list(out["sampled_sd"]) == [0.0, 0.0] and out["metric_sd"] == 0.0 and out["metric_mean_mc_err"] == 0.0
    assert out["p_success"] is None and out["p_success_ci95"] is None


def test_task_metric_is_the_named_metric():
    """``task_metric`` returns the metric it is asked for: accuracy and contrast of a cross-entropy task,
    rel_error of an MSE task, and "loss" the mean case loss (1/2 sum of squared target misses)."""
    from fem_mnn.tolerance.analysis import task_metric

    d = paper_sample()
    ce = paper_task("behaviour-ce", d)
    u = SpringModel(d).solve(ce.train_loads).u
    vals = ce.metrics("train", u)
    for base in ("accuracy", "contrast"):
        assert task_metric(ce, "train", base, u) == vals[base]
    mse = paper_task("behaviour", d)
    u = SpringModel(d).solve(mse.train_loads).u
    miss = np.array([u[0, 12, 1] + 0.5, u[0, 13, 1] + 0.8])  # targets -0.5 and -0.8 mm (task file)
    assert task_metric(mse, "train", "loss", u) == pytest.approx(0.5 * np.sum(miss**2), rel=1e-12)
    rel = np.linalg.norm(miss) / np.linalg.norm([-0.5, -0.8])
    assert task_metric(mse, "train", "rel_error", u) == pytest.approx(rel, rel=1e-12)


def test_reported_timings_lie_within_the_call():
    """Every reported duration is >= 0 and at most the wall time of the whole call."""
    import time

    d = paper_sample()
    t0 = time.perf_counter()
    res = tolerance_analysis(SpringModel(d), paper_task("behaviour", d), WidthNoise(0.02, 0.01), 5, seed=0)
    wall = time.perf_counter() - t0
    # a spring model of 28 bonds takes milliseconds: a ratio of clocks (~1 s) instead of a difference shows
    t = res["timing"]
    assert 0 <= t["linearised_s"] <= wall
    assert all(0 <= s <= wall for s in t["samples_s_per_rank"])
    assert 0 <= t["per_sample_s"]["total"] <= wall


def test_sampled_outputs_scale_as_one_over_the_modulus():
    """No width noise, modulus factors 1 + R xi: a linear model's displacements are u0 / (1 + R xi),
    with xi from the documented generator (seeded, drawn after the width changes)."""
    d = paper_sample()
    task = paper_task("behaviour", d)
    noise = WidthNoise(0.0, 0.1)
    n = 8
    res = tolerance_analysis(SpringModel(d), task, noise, n, seed=4, linear=False)
    _, factors = noise.draw(np.random.default_rng(4), n, d.n_bonds)
    assert np.ptp(factors) > 0.1  # the factors differ: u * f and u / f cannot agree
    y0 = np.asarray(res["nominal"])
    assert np.asarray(res["samples"]["outputs"]) == pytest.approx(y0[None, :] / factors[:, None], rel=1e-12)
