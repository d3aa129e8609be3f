"""Figure 4 of Li & Mao (2024): Iris classification on the spring network.

10 random 70/30 splits (seeds 0-9), 100 epochs, Adam step 6e-3, batch 16, the
paper's inputs (features / max * 5 g at paper nodes 14, 12, 13, 10) and outputs
(|u_x| of paper nodes 8, 2, 3). Variants: the authors' code (dL/dk in SI fed to
the latent variable), the correct sigmoid chain rule, a larger step, and a
softmax normalisation; the fully converged optimum of each loss (L-BFGS-B) shows
what the loss itself allows. Compared with figure4.csv (paper: 94.95 % train,
96.44 % test at epoch 100).

Run: ``python studies/fig4_iris.py [--data DIR] [--out DIR] [--quick]``.
"""

from __future__ import annotations

import os

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
for _p in (str(ROOT), str(ROOT / "studies")):
    if _p not in sys.path:
        sys.path.insert(0, _p)

from _training_runs import Run, Variant, iris_task, log, run_many, run_task, summarise  # noqa: E402

from fem_mnn.design import paper_sample  # noqa: E402
from fem_mnn.io.paper_data import load_figure4  # noqa: E402
from fem_mnn.io.report import StudyReport, paper_study_main  # noqa: E402
from fem_mnn.learn.insitu import backprop_operator  # noqa: E402
from fem_mnn.learn.tasks import IRIS_CLASSES, regression  # noqa: E402
from fem_mnn.spring.network import SpringModel  # noqa: E402

NAME = "fig4_iris"
SOFTMAX_SCALE = 0.05  # mm: outputs |u_x| are ~0.03-0.06 mm under the 5 g inputs

VARIANTS = (
    Variant("faithful", "authors' code: dL/dk (SI) fed to z, linear CE, step 6e-3", {"paper_gradient": True}),
    Variant("chain", "correct chain rule dL/dz, linear CE, step 6e-3", {}),
    Variant("faithful_lr2e-2", "authors' code, step 2e-2", {"paper_gradient": True, "lr": 2e-2}),
    Variant("chain_lr2e-2", "chain rule, linear CE, step 2e-2", {"lr": 2e-2}),
    Variant("softmax", "chain rule, softmax CE (scale 0.05 mm), step 6e-3", {}, "softmax", SOFTMAX_SCALE),
    Variant(
        "softmax_lr2e-2", "chain rule, softmax CE (scale 0.05 mm), step 2e-2", {"lr": 2e-2}, "softmax", SOFTMAX_SCALE
    ),
)
BEST = "softmax_lr2e-2"


# ----------------------------------------------------------------------- workers


def _train_job(job: tuple[Variant, int, int]) -> Run:
    variant, split, epochs = job
    d = paper_sample()
    task = iris_task(d, split, variant)
    return run_task(SpringModel(d), task, variant.train_config(split, epochs=epochs), variant.key, split)


def _optimum_job(job: tuple[str, int] | tuple[str, int, int]) -> dict[str, float]:
    """Converged optimum of the loss (bounded L-BFGS-B on all training cases) from 2 mm, or the best of
    that and ``extra`` random starts (uniform widths, seeded by the split)."""
    from scipy.optimize import minimize

    norm, split = job[0], job[1]
    extra = job[2] if len(job) > 2 else 0
    d = paper_sample()
    v = Variant("opt", "", {}, norm, SOFTMAX_SCALE)
    task = iris_task(d, split, v)
    model = SpringModel(d)
    idx = np.arange(task.train_loads.shape[0])
    loss = task.loss("train", idx)

    def fg(w: np.ndarray) -> tuple[float, np.ndarray]:
        bp = backprop_operator(model.operator(w), task.train_loads, loss)
        return bp.loss, bp.grad_w

    g = d.geometry
    rng = np.random.default_rng(1000 + split)
    starts = [d.widths.copy()] + [rng.uniform(g.width_min, g.width_max, d.n_bonds) for _ in range(extra)]
    r = min(
        (
            minimize(
                fg,
                w0,
                jac=True,
                method="L-BFGS-B",
                bounds=[(g.width_min, g.width_max)] * d.n_bonds,
                options={"maxiter": 5000, "ftol": 1e-12, "gtol": 1e-10},
            )
            for w0 in starts
        ),
        key=lambda res: res.fun,
    )
    op = model.operator(r.x)
    tr = task.metrics("train", op.solve(task.train_loads).u)["accuracy"]
    te = task.metrics("test", op.solve(task.test_loads).u)["accuracy"]
    at_bound = int(np.sum((r.x <= g.width_min + 1e-6) | (r.x >= g.width_max - 1e-6)))
    return {
        "split": split,
        "loss": float(r.fun),
        "train": tr,
        "test": te,
        "iterations": int(r.nit),
        "at_bound": at_bound,
    }


# ----------------------------------------------------------------------- analysis


def normalised_outputs(widths: np.ndarray) -> np.ndarray:
    """(150, 3) p = |u_x| / sum |u_x| of the outputs for every flower, on a network with ``widths``."""
    d = paper_sample()
    task = iris_task(d, 0, VARIANTS[0])
    loads = np.concatenate([task.train_loads, task.test_loads])
    order = np.argsort(np.concatenate([task.info["train_index"], task.info["test_index"]]))
    u = SpringModel(d).operator(widths).solve(loads[order]).u
    m = np.abs(task.output_values(u))
    return m / m.sum(axis=1, keepdims=True)


def gradient_sizes() -> dict[str, float]:
    """Size of what the authors' code feeds Adam (SI) at the start, against Adam's eps."""
    d = paper_sample()
    model = SpringModel(d)
    out = {"adam_eps": float(np.sqrt(np.finfo(float).eps))}
    t = iris_task(d, 0, VARIANTS[0])
    idx = np.arange(16)
    bp = backprop_operator(model.operator(d.widths), t.train_loads[idx], t.loss("train", idx))
    g = np.abs(bp.grad_k * t.loss_si_scale * 1e-3)
    out["iris_median_abs_dLdk_SI"] = float(np.median(g))
    out["iris_min_abs_dLdk_SI"] = float(g.min())
    r = regression(d, seed=0)
    idx = np.arange(16)
    bp = backprop_operator(model.operator(d.widths), r.train_loads[idx], r.loss("train", idx))
    g = np.abs(bp.grad_k * r.loss_si_scale * 1e-3)
    out["regression_median_abs_dLdk_SI"] = float(np.median(g))
    out["regression_max_abs_dLdk_SI"] = float(g.max())
    return out


def stack(runs: list[Run], attr: str) -> np.ndarray:
    return np.array([getattr(r, attr) for r in runs])


# --------------------------------------------------------------------------- study


def run(data: str | None, out: Path, quick: bool) -> Path:
    import matplotlib.pyplot as plt

    from fem_mnn.viz.training import compare_widths_figure

    t0 = time.time()
    paper = load_figure4(data)
    rep = StudyReport(NAME, "Figure 4: Iris classification (spring network, 10 random 70/30 splits)", out_dir=out)
    splits = list(range(2 if quick else 10))
    epochs = 8 if quick else 100
    variants = [v for v in VARIANTS if not quick or v.key in ("faithful", BEST)]
    jobs = [(v, s, epochs) for v in variants for s in splits]
    extra_splits = [] if quick else list(range(10, 20))
    best = next(v for v in VARIANTS if v.key == BEST)
    jobs += [(best, s, epochs) for s in extra_splits]
    log(NAME, f"{len(jobs)} training runs ({epochs} epochs each)")
    tic = time.time()
    runs: list[Run] = run_many(_train_job, jobs)
    log(NAME, f"training done in {time.time() - tic:.1f} s")
    opt_jobs = [(n, s, 0) for n in ("linear", "softmax") for s in splits] + [("linear", s, 3) for s in splits]
    tic = time.time()
    optima = run_many(_optimum_job, opt_jobs)
    log(NAME, f"converged optima done in {time.time() - tic:.1f} s")

    by_var: dict[str, list[Run]] = {
        v.key: [r for r in runs if r.variant == v.key and r.split in splits] for v in variants
    }
    p_tr, p_te = float(paper.acc_train.mean[-1]), float(paper.acc_test.mean[-1])
    ep = min(epochs, len(paper.epoch)) - 1

    # ------------------------------------------------------------------ main table
    rows, results = [], {}
    for v in variants:
        rs = by_var[v.key]
        tr, te = stack(rs, "train_acc")[:, -1], stack(rs, "test_acc")[:, -1]
        s_tr, s_te = summarise(tr), summarise(te)
        stuck = int(np.sum(tr < 0.6))
        rows.append(
            [
                v.key,
                v.label,
                f"{100 * s_tr['mean']:.2f} ± {100 * s_tr['std']:.2f}",
                f"{100 * s_tr['min']:.2f}-{100 * s_tr['max']:.2f}",
                f"{100 * s_te['mean']:.2f} ± {100 * s_te['std']:.2f}",
                f"{100 * s_te['min']:.2f}-{100 * s_te['max']:.2f}",
                stuck,
                float(np.mean(stack(rs, "loss_paper")[:, -1])),
            ]
        )
        results[v.key] = {
            "label": v.label,
            "config": v.train_config(0, epochs=epochs).to_dict(),
            "normalisation": v.normalisation,
            "softmax_scale": v.softmax_scale if v.normalisation == "softmax" else None,
            "train_acc": s_tr,
            "test_acc": s_te,
            "per_split_train": tr,
            "per_split_test": te,
            "stuck_below_60pct": stuck,
            "final_loss_paper_mean": float(np.mean(stack(rs, "loss_paper")[:, -1])),
        }
    rows.append(
        [
            "paper",
            "figure4.csv, epoch 100 (mean; min-max over its runs)",
            f"{100 * p_tr:.2f}",
            f"{100 * paper.acc_train.lower[-1]:.2f}-{100 * paper.acc_train.upper[-1]:.2f}",
            f"{100 * p_te:.2f}",
            f"{100 * paper.acc_test.lower[-1]:.2f}-{100 * paper.acc_test.upper[-1]:.2f}",
            "-",
            float(paper.loss.mean[-1]),
        ]
    )
    rep.text(
        f"Splits: seeds {splits[0]}-{splits[-1]} of numpy's PCG64 (the paper's MATLAB randperm splits are not "
        f"published), {epochs} epochs, batch 16 (105 training / 45 test flowers, 7 batches per epoch), Adam "
        "(0.9, 0.999, eps = sqrt(machine eps)), widths 1.5-2.5 mm through the sigmoid with beta = 5, starting "
        "at 2 mm (z = 0) as the authors' code. Accuracy at the last epoch; ± is the standard deviation over "
        "splits, min-max as the paper's bands (which are the min and max over its runs: 98/105-101/105 train, "
        "42/45-45/45 test at epoch 100); 'stuck' counts runs with training accuracy < 60 %."
    )
    rep.table(
        "Iris accuracy at the last epoch, ours vs the paper",
        [
            "variant",
            "what",
            "train acc (%)",
            "train min-max",
            "test acc (%)",
            "test min-max",
            "stuck",
            "final logged loss",
        ],
        rows,
    )
    ok = results["faithful"]["per_split_train"] >= 0.6
    if 0 < ok.sum() < len(ok):
        ftr, fte = results["faithful"]["per_split_train"][ok], results["faithful"]["per_split_test"][ok]
        rep.text(
            f"The authors' code run by the data README (Octave, 10 seeds): 87 ± 13 % / 87 ± 13 %, one run stuck at "
            f"51 %, the other nine 91 ± 2 % / 91 ± 3 %. Ours (faithful): {len(ok) - ok.sum()} run(s) stuck "
            f"(train {100 * np.min(results['faithful']['per_split_train']):.1f} %); the other {ok.sum()}: "
            f"{100 * ftr.mean():.2f} ± {100 * ftr.std():.2f} % / {100 * fte.mean():.2f} ± {100 * fte.std():.2f} %."
        )
        results["faithful"]["without_stuck"] = {"train": summarise(ftr), "test": summarise(fte)}
    if extra_splits:
        ex = [r for r in runs if r.variant == BEST and r.split in extra_splits]
        etr, ete = stack(ex, "train_acc")[:, -1], stack(ex, "test_acc")[:, -1]
        both_tr = np.concatenate([results[BEST]["per_split_train"], etr])
        both_te = np.concatenate([results[BEST]["per_split_test"], ete])
        rep.table(
            f"Split-to-split noise: '{BEST}' on ten more splits",
            ["splits", "train acc (%)", "test acc (%)"],
            [
                [
                    "0-9",
                    f"{100 * results[BEST]['train_acc']['mean']:.2f} ± {100 * results[BEST]['train_acc']['std']:.2f}",
                    f"{100 * results[BEST]['test_acc']['mean']:.2f} ± {100 * results[BEST]['test_acc']['std']:.2f}",
                ],
                [
                    "10-19",
                    f"{100 * etr.mean():.2f} ± {100 * etr.std():.2f}",
                    f"{100 * ete.mean():.2f} ± {100 * ete.std():.2f}",
                ],
                [
                    "0-19",
                    f"{100 * both_tr.mean():.2f} ± {100 * both_tr.std():.2f}",
                    f"{100 * both_te.mean():.2f} ± {100 * both_te.std():.2f}",
                ],
            ],
        )
        results["split_noise"] = {
            "variant": BEST,
            "splits_10_19": {"train": summarise(etr), "test": summarise(ete)},
            "splits_0_19": {"train": summarise(both_tr), "test": summarise(both_te)},
        }

    # ------------------------------------------------------------------ optimum of the losses
    opt_rows = []
    for norm, extra in (("linear", 0), ("softmax", 0), ("linear", 3)):
        o = [x for (n, _, e), x in zip(opt_jobs, optima, strict=True) if n == norm and e == extra]
        tr = np.array([x["train"] for x in o])
        te = np.array([x["test"] for x in o])
        opt_rows.append(
            [
                f"{norm} CE"
                + (f" (scale {SOFTMAX_SCALE} mm)" if norm == "softmax" else " (paper)")
                + (f", best of 2 mm and {extra} random starts" if extra else ", from 2 mm"),
                f"{100 * tr.mean():.2f} ± {100 * tr.std():.2f}",
                f"{100 * te.mean():.2f} ± {100 * te.std():.2f}",
                float(np.mean([x["loss"] for x in o])),
                float(np.mean([x["at_bound"] for x in o])),
            ]
        )
        results[f"optimum_{norm}" + (f"_best_of_{extra + 1}" if extra else "")] = {
            "train": summarise(tr),
            "test": summarise(te),
            "per_split": o,
        }
    rep.table(
        "The converged optimum of each loss (bounded L-BFGS-B on all training flowers; same splits)",
        ["loss", "train acc (%)", "test acc (%)", "mean loss", "widths on a bound (of 28)"],
        opt_rows,
    )

    lin = results["optimum_linear"]
    lin_loss = float(np.mean([x["loss"] for x in lin["per_split"]]))
    logged_floor = lin_loss * 105 / 112  # the authors' log divides the 9-flower last batch by 16
    ends = [
        results[k]["final_loss_paper_mean"]
        for k in results
        if isinstance(results[k], dict)
        and "final_loss_paper_mean" in results[k]
        and results[k].get("normalisation") == "linear"
    ]
    lin_tr = np.array([x["train"] for x in lin["per_split"]])
    text = (
        "Reading: with the paper's linear normalisation p = |u| / sum |u| the converged optimum of the loss "
        f"classifies {100 * lin['train']['mean']:.1f} % / {100 * lin['test']['mean']:.1f} % (train / test), "
        f"below the paper's {100 * p_tr:.2f} / {100 * p_te:.2f} % (best of four starts per split: "
        f"{100 * results['optimum_linear_best_of_4']['train']['mean']:.1f} % / "
        f"{100 * results['optimum_linear_best_of_4']['test']['mean']:.1f} %): better optimisation of this loss "
        "does not close the gap. "
    )
    stuck = {k: results[k]["stuck_below_60pct"] for k in ("faithful", "chain") if k in results}
    if stuck:
        text += f"Runs stuck below 60 % after {epochs} epochs at step 6e-3: {stuck}. "
    if "chain_lr2e-2" in results:
        gap = np.abs(results["chain_lr2e-2"]["per_split_train"] - lin_tr)
        text += (
            f"At step 2e-2 the chain-rule runs end within {gap.max() * 105:.0f} training flower(s) of the optimum "
            "in every split. "
        )
    text += (
        f"The paper's final logged loss is {float(paper.loss.mean[-1]):.3f} (min-max "
        f"{float(paper.loss.lower[-1]):.3f}-{float(paper.loss.upper[-1]):.3f}); this model's optimum, in the "
        f"same logged units (mean loss x 105/112), is {logged_floor:.3f} and our linear runs end at "
        f"{min(ends):.3f}-{max(ends):.3f}. The published curve is therefore unlikely to come from exactly this "
        "model and loss; we did not find which change (inputs, outputs, bounds) gives it. "
    )
    if BEST in results:
        bt = results[BEST]
        close = (
            abs(bt["train_acc"]["mean"] - p_tr) <= bt["train_acc"]["std"]
            and abs(bt["test_acc"]["mean"] - p_te) <= bt["test_acc"]["std"]
        )
        text += (
            f"With a softmax normalisation (scale {SOFTMAX_SCALE} mm) at step 2e-2: {100 * bt['train_acc']['mean']:.2f} % / "
            f"{100 * bt['test_acc']['mean']:.2f} %"
            + (", within one split-to-split standard deviation of the paper's numbers." if close else ".")
        )
    rep.text(text)

    # ------------------------------------------------------------------ loss curves vs paper
    curve_rows = []
    pick = [e for e in (0, 1, 4, 19, 99) if e <= ep]
    for v in variants:
        lp = stack(by_var[v.key], "loss_paper").mean(axis=0)
        curve_rows.append([v.key] + [float(lp[e]) for e in pick])
    curve_rows.append(["paper"] + [float(paper.loss.mean[e]) for e in pick])
    rep.table(
        "Logged loss (authors' definition: batch sum / 16, mean over the epoch's batches) at epochs "
        + ", ".join(str(e + 1) for e in pick),
        ["variant"] + [f"epoch {e + 1}" for e in pick],
        curve_rows,
    )

    # ------------------------------------------------------------------ Adam eps
    gs = gradient_sizes()
    results["gradient_sizes"] = gs
    rep.text(
        f"Adam's eps = {gs['adam_eps']:.2e}. What the authors' code feeds Adam at the start: Iris |dL/dk| (SI, "
        f"1/(N/m)) median {gs['iris_median_abs_dLdk_SI']:.2e}, smallest {gs['iris_min_abs_dLdk_SI']:.2e}, so eps "
        f"plays no role for Iris; regression (MSE in m^2) median {gs['regression_median_abs_dLdk_SI']:.2e}, "
        f"largest {gs['regression_max_abs_dLdk_SI']:.2e}: there sqrt(v) << eps and Adam becomes momentum descent "
        "with step lr * m / eps (relevant to Figures 3 and 5, not to this one)."
    )

    # ------------------------------------------------------------------ sim/exp normalised outputs
    species_of_case = [int(np.argmax(paper.sim[k])) for k in range(3)]
    sx_rows, sx = [], {}
    for key in [v.key for v in variants if v.key in ("faithful", BEST)]:
        P = np.array([normalised_outputs(r.widths) for r in by_var[key]])  # (nets, 150, 3)
        from fem_mnn.learn.tasks import load_iris

        _, labels = load_iris()
        for k in range(3):
            sp = species_of_case[k]
            mean_p = P[:, labels == sp].mean(axis=(0, 1))
            dist = np.linalg.norm(P - paper.sim[k], axis=2)  # (nets, 150)
            n_i, f_i = np.unravel_index(np.argmin(dist), dist.shape)
            sx_rows.append(
                [
                    k + 1,
                    IRIS_CLASSES[sp],
                    key,
                    np.array2string(paper.sim[k], precision=3),
                    np.array2string(paper.exp[k], precision=3),
                    np.array2string(mean_p, precision=3),
                    float(np.linalg.norm(mean_p - paper.sim[k])),
                    f"#{f_i} ({IRIS_CLASSES[labels[f_i]]})",
                    float(dist[n_i, f_i]),
                ]
            )
            sx[f"{key}_case{k + 1}"] = {
                "species": IRIS_CLASSES[sp],
                "paper_sim": paper.sim[k],
                "paper_exp": paper.exp[k],
                "ours_species_mean": mean_p,
                "closest_flower": int(f_i),
                "closest_distance": float(dist[n_i, f_i]),
            }
    results["normalised_outputs"] = sx
    rep.text(
        "Normalised outputs p = |u_x| / sum |u_x| (setosa, versicolor, virginica outputs) of the paper's three "
        "physical tests. The trained widths and flowers are not published, so each case's species is taken as "
        "the largest simulated output, and we give our networks' mean p over that species and the closest p of "
        "any flower on any of our ten networks."
    )
    rep.table(
        "Normalised outputs: paper's three test cases vs our trained networks",
        [
            "case",
            "species",
            "ours",
            "paper sim",
            "paper exp",
            "ours: species mean",
            "|diff|",
            "closest flower (0-based)",
            "|diff|",
        ],
        sx_rows,
    )

    # ------------------------------------------------------------------ plots
    e_ours = np.arange(1, epochs + 1)
    fig, axes = plt.subplots(1, 3, figsize=(16, 4.3))
    for ax, attr, band, ylab in (
        (axes[0], "loss_paper", paper.loss, "logged loss"),
        (axes[1], "train_acc", paper.acc_train, "train accuracy"),
        (axes[2], "test_acc", paper.acc_test, "test accuracy"),
    ):
        ax.fill_between(paper.epoch, band.lower, band.upper, color="k", alpha=0.15, label="paper (band)")
        ax.plot(paper.epoch, band.mean, "k--", lw=1.2, label="paper")
        for v in variants:
            y = stack(by_var[v.key], attr)
            ax.plot(e_ours, y.mean(axis=0), lw=1.3, label=v.key)
        ax.set_xlabel("epoch")
        ax.set_ylabel(ylab)
        ax.grid(alpha=0.3)
    axes[0].set_yscale("log")
    axes[2].legend(fontsize=7, loc="lower right")
    fig.suptitle(f"Iris: mean over {len(splits)} splits")
    fig.tight_layout()
    rep.figure(fig, "iris_curves.png", "Loss and accuracies (mean over splits) vs the paper's curves.")
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(9, 4))
    for i, v in enumerate(variants):
        r = results[v.key]
        ax.scatter(
            np.full(len(splits), i - 0.1),
            100 * r["per_split_train"],
            s=14,
            color="tab:blue",
            label="train" if i == 0 else None,
        )
        ax.scatter(
            np.full(len(splits), i + 0.1),
            100 * r["per_split_test"],
            s=14,
            color="tab:orange",
            label="test" if i == 0 else None,
        )
    ax.axhline(100 * p_tr, color="tab:blue", ls="--", lw=1, label="paper train")
    ax.axhline(100 * p_te, color="tab:orange", ls="--", lw=1, label="paper test")
    ax.set_xticks(range(len(variants)))
    ax.set_xticklabels([v.key for v in variants], fontsize=8, rotation=15)
    ax.set_ylabel("accuracy at the last epoch (%)")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    rep.figure(fig, "iris_final_accuracy.png", "Final accuracy of every split, per variant.")
    plt.close(fig)

    d = paper_sample()
    w_a = by_var["faithful"][0].widths
    w_b = by_var[BEST][0].widths
    fig = compare_widths_figure(
        d, w_a, w_b, titles=("faithful, split 0", f"{BEST}, split 0"), suptitle="Trained widths (to scale)"
    )
    rep.figure(fig, "iris_widths.png", "Trained widths of split 0 (inputs ids 13, 11, 12, 9; outputs ids 7, 1, 2).")
    plt.close(fig)

    if sx_rows:
        fig, axes = plt.subplots(1, 3, figsize=(13, 3.6), sharey=True)
        xs = np.arange(3)
        for k in range(3):
            ax = axes[k]
            ax.bar(xs - 0.3, paper.sim[k], 0.2, label="paper sim")
            ax.bar(xs - 0.1, paper.exp[k], 0.2, yerr=paper.exp_spread[k], capsize=2, label="paper exp")
            for j, key in enumerate(k2 for k2 in ("faithful", BEST) if f"{k2}_case{k + 1}" in sx):
                ax.bar(
                    xs + 0.1 + 0.2 * j,
                    sx[f"{key}_case{k + 1}"]["ours_species_mean"],
                    0.2,
                    label=f"ours {key} (species mean)",
                )
            ax.set_xticks(xs)
            ax.set_xticklabels(IRIS_CLASSES)
            ax.set_title(f"case {k + 1} ({IRIS_CLASSES[species_of_case[k]]})")
        axes[0].set_ylabel("normalised output p")
        axes[-1].legend(fontsize=7)
        fig.tight_layout()
        rep.figure(fig, "iris_normalised_outputs.png", "Normalised outputs of the paper's three test cases vs ours.")
        plt.close(fig)

    rep.data.update(
        {
            "quick": quick,
            "splits": splits,
            "epochs": epochs,
            "paper": {"train": p_tr, "test": p_te, "loss": float(paper.loss.mean[-1])},
            "variants": results,
        }
    )
    path = rep.write()
    log(NAME, f"wrote {path} in {time.time() - t0:.1f} s")
    return path


def main(argv: list[str] | None = None) -> int:
    return paper_study_main(NAME, __doc__, run, argv, quick_help="2 splits, 8 epochs, 2 variants (seconds)")


if __name__ == "__main__":
    sys.exit(main())
