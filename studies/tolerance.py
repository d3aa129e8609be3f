"""Print tolerance (issue 16): does a tolerance-aware design survive the printer better, and at what nominal cost?

For the paper's behaviour (Figure 2, cross-entropy: node 13 dominant), regression (Figure 3) and
Iris (Figure 4) tasks on the paper's lattice, these designs:

* ``nominal``: spring model, the authors' settings (the shipped task file's), from uniform 2 mm;
* ``robust``: the same settings and epochs with tolerance-aware training at S = 0.1 mm
  (:class:`fem_mnn.learn.robust.RobustModel`: every step averages the exact gradient over K
  perturbed copies of the widths, in antithetic pairs), from uniform 2 mm (a sigmoid-parametrised
  width on a bound cannot leave it, and the behaviour and regression designs end on the bounds);
* ``fe``: FE-trained, the exact-gradient FE fine-tuning of ``studies/transfer.py`` (its workflow
  (b), same optimiser: Adam on the widths, clip parametrisation, step 0.02 mm, the task's batch)
  from the ``nominal`` design. Fine-tuning for every task because FE training from 2 mm does not
  reach the Iris criterion in affordable epochs (transfer (c): 38 % test accuracy after 3 epochs),
  and for behaviour and regression (b) and (c) end at the same FE loss (transfer results);
* Iris only, to tell tolerance-aware training from more training (the 100-epoch recipe is still
  climbing): ``nominal_long`` (``nominal`` trained 100 more epochs without noise) and
  ``robust_warm`` (``nominal`` trained 100 more epochs with the noise).

Each design: the probability of success at S = 0.05 and 0.1 mm with R = 5 % by the task file's
own success criterion, with the spring model (N samples, seed 0) for every design, and with the
FE model (P2 plane stress, mesh morphed per sample; fewer samples, same seed) for ``nominal``,
``fe`` and ``robust`` (quick: ``nominal`` and ``fe``, P1, 8 samples at S = 0.1 mm); every row says which model; all rows share the draws of their seed
(paired comparisons). Plus where linearised and sampled standard deviations part as S grows
(spring, S = 0.02, 0.05, 0.1 mm).

Run: ``python studies/tolerance.py [--quick] [--out DIR]``.
"""

from __future__ import annotations

# _common first: importing it pins the BLAS threads before numpy loads
from _common import figure, log, save_figure, study_main, table, write_report

# isort: split

import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from _training_runs import fe_config, fe_models

from fem_mnn.design import paper_sample
from fem_mnn.learn import paper_config, train
from fem_mnn.learn.robust import RobustModel, WidthNoise
from fem_mnn.learn.taskfile import paper_task
from fem_mnn.spring.network import SpringModel
from fem_mnn.tolerance.analysis import tolerance_analysis

NAME = "tolerance"
ROBUST_S = 0.1
S_LEVELS = (0.05, 0.1)
S_AGREEMENT = (0.02, 0.05, 0.1)
E_SD = 0.05
#: task -> (epochs full, epochs quick, study criterion or None to use the task file's own). The
#: shipped criteria are reachable in the printable range (the reason is in each task file), so
#: the study uses them as they are.
TASKS = {
    "behaviour-ce": (5000, 300, None),
    "regression": (1000, 100, None),
    "iris": (100, 30, None),
}
#: Designs in table order; ``LONGER`` only for the tasks in ``LONGER_TASKS``.
DESIGNS = ("nominal", "robust", "nominal_long", "robust_warm", "fe")
LONGER_TASKS = ("iris",)
LABELS = {
    "nominal": "nominal (spring)",
    "robust": "tolerance-aware (spring, S 0.1)",
    "nominal_long": "nominal, trained twice as long (spring)",
    "robust_warm": "nominal + as many tolerance-aware epochs (spring)",
    "fe": "FE-trained (exact gradient, fine-tuned)",
}
#: Keys of :func:`tolerance_analysis` kept per (design, model, S).
KEEP = (
    "metric_nominal", "metric_mean", "metric_sd", "p_success", "p_success_mc_err", "p_success_ci95",
    "success_nominal", "dominant_bond", "dominant_bond_share", "modulus_share_total", "sd_ratio_summary",
)  # fmt: skip


def plan(quick: bool) -> dict[str, Any]:
    """What runs: spring samples, robust K, FE discretisation, FE epochs and FE samples per S."""
    if quick:
        # smoke version of the FE side: P1 on a coarse mesh, one fine-tuning epoch, a few samples at S = 0.1
        return {
            "n_samples": 200,
            "robust_k": 4,
            "degree": 1,
            "elements_across": 2,
            "fe_epochs": {"behaviour-ce": 2, "regression": 1, "iris": 1},
            "fe_samples": {"0.1": 8},
            "fe_eval": ["nominal", "fe"],
        }
    # FE epochs: behaviour and regression as transfer's (b) (converged there); Iris measured here: the
    # FE loss of the fine-tuning falls 0.7556 -> 0.7497 in 8 epochs and then moves by < 1e-3 (10.7 s/epoch)
    return {
        "n_samples": 1000,
        "robust_k": 8,
        "degree": 2,
        "elements_across": 3,
        "fe_epochs": {"behaviour-ce": 40, "regression": 6, "iris": 10},
        "fe_samples": {"0.05": 100, "0.1": 200},
        # designs evaluated with the FE model too (the FE samples are the cost of this study)
        "fe_eval": ["nominal", "fe", "robust"],
    }


def _train_spring(
    task: Any, name: str, epochs: int, robust: bool, k: int, w0: np.ndarray | None = None
) -> tuple[np.ndarray, float, dict[str, float]]:
    model = SpringModel(paper_sample())
    if robust:
        model = RobustModel(model, ROBUST_S, n_samples=k, seed=0)
    t0 = time.perf_counter()
    res = train(model, task, paper_config(name, epochs=epochs, record_widths=False), widths0=w0)
    return res.widths, time.perf_counter() - t0, dict(res.final.metrics)


def _train_fe(model: Any, task: Any, name: str, epochs: int, w0: np.ndarray) -> tuple[np.ndarray, float, dict]:
    """Transfer's workflow (b): FE fine-tuning with the exact gradient (its optimiser settings)."""
    t0 = time.perf_counter()
    res = train(model, task, fe_config(name, epochs, 0), widths0=w0)
    extra = {"metrics_fem": dict(res.final.metrics), "loss_curve_fem": [h.metrics["train_loss"] for h in res.history]}
    return res.widths, time.perf_counter() - t0, extra


def _spring_rows(d: Any, name: str, n: int, study_crit: Any, rec: dict[str, Any]) -> None:
    t = paper_task(name, d)
    for S in S_LEVELS:
        for label, crit in (("own", None), ("study", study_crit)):
            if label == "study" and crit is None:
                continue
            r = tolerance_analysis(SpringModel(d), t, WidthNoise(S, E_SD), n, seed=0, success=crit)
            rec[f"S{S:g}_{label}"] = {k2: r[k2] for k2 in KEEP}


def _fem_rows(d: Any, name: str, p: dict[str, Any]) -> dict[str, Any]:
    from fem_mnn.tolerance.run import analyse

    out: dict[str, Any] = {}
    for S, n in p["fe_samples"].items():
        t0 = time.perf_counter()
        # linear=False: the FE rows are for p_success; the linearisation is compared on the spring rows
        r = analyse(d, paper_task(name, d), WidthNoise(float(S), E_SD), n, 0, model="fem", degree=p["degree"],
                    elements_across=p["elements_across"], linear=False)  # fmt: skip
        out[f"S{S}"] = {k2: r[k2] for k2 in KEEP if k2 in r}
        out[f"S{S}"].update(n_samples=n, seconds=time.perf_counter() - t0, per_sample_s=r["timing"]["per_sample_s"])
        out[f"S{S}"]["remeshes"] = r["model"]["remeshes_rank0"]
    return out


def compute(quick: bool, data_dir: Any = None) -> dict[str, Any]:
    p = plan(quick)
    n, k = p["n_samples"], p["robust_k"]
    out: dict[str, Any] = {
        "quick": quick,
        "n_samples": n,
        "plan": p,
        "robust": {
            "width_sd_mm": ROBUST_S,
            "samples_per_step": k,
            "method": "sampled perturbations, antithetic pairs",
        },
        "E_sd": E_SD,
        "tasks": {},
    }
    base = paper_sample()
    fe_model = None
    for name, (ep_full, ep_quick, study_crit) in TASKS.items():
        task = paper_task(name, base)
        epochs = ep_quick if quick else ep_full
        row: dict[str, Any] = {"epochs": epochs, "criterion": task.success, "study_criterion": study_crit}
        for which in DESIGNS:
            if which in ("nominal_long", "robust_warm") and name not in LONGER_TASKS:
                continue
            log(NAME, f"{name}: training {which}")
            if which == "fe":
                if fe_model is None:  # transfer's morphing FE model of the paper's sample, one for every task
                    fe_model = fe_models(base, p["degree"], p["elements_across"])["exact"]
                w0 = np.array(row["nominal"]["widths"])
                w, secs, extra = _train_fe(fe_model, task, name, p["fe_epochs"][name], w0)
            else:
                warm = which in ("nominal_long", "robust_warm")
                w0 = np.array(row["nominal"]["widths"]) if warm else None
                w, secs, metrics = _train_spring(task, name, epochs, which.startswith("robust"), k, w0)
                extra = {"train_metrics": metrics}
            d = base.with_widths(w)
            rec: dict[str, Any] = {"widths": w.tolist(), "train_s": secs, **extra}
            _spring_rows(d, name, n, study_crit, rec)
            if which in ("nominal", "robust"):
                agree = {}
                for S in S_AGREEMENT:
                    r = tolerance_analysis(SpringModel(d), paper_task(name, d), WidthNoise(S, 0.0), 4 * n, seed=1)
                    agree[f"{S:g}"] = r["sd_ratio_summary"]
                rec["sd_ratio_width_only"] = agree
            if which in p["fe_eval"]:
                log(NAME, f"{name}: FE samples of {which}")
                rec["fem"] = _fem_rows(d, name, p)
            row[which] = rec
        out["tasks"][name] = row
    # 1000 spring samples of the paper's sample (Iris test set, 45 cases): the cost target
    t0 = time.perf_counter()
    tolerance_analysis(SpringModel(base), paper_task("iris", base), WidthNoise(0.05, E_SD), 1000, seed=0)
    out["seconds_1000_spring_samples_iris"] = time.perf_counter() - t0
    return out


def _designs(row: dict[str, Any]) -> list[str]:
    return [w for w in DESIGNS if w in row]


def _label(row: dict[str, Any]) -> str:
    return "study" if row["study_criterion"] else "own"


def headline(results: dict[str, Any]) -> dict[str, float]:
    """p_success at S = 0.1 mm and the nominal metric of every design and model; the sd ratios at S = 0.02 mm.

    Keys of FE-derived numbers (FE-trained design, or the FE model) contain ``_fe_`` or ``_fem_``.
    """
    h: dict[str, float] = {}
    for name, row in results["tasks"].items():
        label = _label(row)
        for which in _designs(row):
            r = row[which]
            h[f"{name}_{which}_p_success_S0.1"] = r[f"S0.1_{label}"]["p_success"]
            h[f"{name}_{which}_metric_nominal"] = r[f"S0.1_{label}"]["metric_nominal"]
            if "sd_ratio_width_only" in r:
                h[f"{name}_{which}_sd_ratio_median_S0.02"] = r["sd_ratio_width_only"]["0.02"]["median"]
            if "fem" in r:
                h[f"{name}_{which}_fem_p_success_S0.1"] = r["fem"]["S0.1"]["p_success"]
                h[f"{name}_{which}_fem_metric_nominal"] = r["fem"]["S0.1"]["metric_nominal"]
    return h


def is_fe_key(key: str) -> bool:
    """A headline number that went through the FE model (gmsh and MUMPS: compare to 1e-6, not 1e-9)."""
    return "_fe_" in key or "_fem_" in key


def _p(r: dict[str, Any] | None) -> str:
    return "" if r is None else f"{r['p_success']:.3f} +- {r['p_success_mc_err']:.3f}"


def _rows(results: dict[str, Any]) -> list[list[Any]]:
    rows = []
    for name, row in results["tasks"].items():
        for label in ("own", "study"):
            if label == "study" and not row["study_criterion"]:
                continue
            crit = row["criterion"] if label == "own" else row["study_criterion"]
            bound = f"{crit['metric']} {'>=' if 'min' in crit else '<='} {crit.get('min', crit.get('max')):g}"
            ref = {"spring": row["nominal"][f"S0.1_{label}"]["metric_nominal"]}
            if "fem" in row["nominal"]:
                ref["fem"] = row["nominal"]["fem"]["S0.1"]["metric_nominal"]
            for which in _designs(row):
                r = row[which]
                models = [("spring", results["n_samples"], r.get(f"S0.05_{label}"), r[f"S0.1_{label}"])]
                if "fem" in r and label == "own":
                    fe = r["fem"]
                    ns = "/".join(str(fe[f"S{S:g}"]["n_samples"]) for S in S_LEVELS if f"S{S:g}" in fe)
                    models.append(("fem", ns, fe.get("S0.05"), fe["S0.1"]))
                for model, ns, a, b in models:
                    rows.append([
                        name, LABELS[which], model, bound, ns, b["metric_nominal"],
                        f"{b['metric_nominal'] - ref[model]:+.4f}", _p(a), _p(b), b["metric_mean"], b["metric_sd"],
                        b.get("dominant_bond", ""),
                    ])  # fmt: skip
    return rows


def render(results: dict[str, Any], out: Path) -> None:
    """results.md (``studies/templates/tolerance.md``), results.json and the figure."""
    started = time.time()
    _plot(out, results)
    n, p = results["n_samples"], results["plan"]
    per = [
        (name, which, fe["S0.1"]["per_sample_s"]["total"], fe["S0.1"]["remeshes"])
        for name, row in results["tasks"].items()
        for which in _designs(row)
        if (fe := row[which].get("fem"))
    ]
    head = ["task", "design", "model", "criterion", "N", "nominal metric", "vs nominal", "p (S 0.05)", "p (S 0.1)"]
    head += ["metric mean (S 0.1)", "metric sd (S 0.1)", "dominant bond (spring)"]
    values = {
        "E_sd_pct": 100 * results["E_sd"],
        "n_samples": n,
        "degree": p["degree"],
        "elements_across": p["elements_across"],
        "fe_samples": ", ".join(f"{v} at S = {k} mm" for k, v in p["fe_samples"].items()),
        "robust_S": results["robust"]["width_sd_mm"],
        "robust_samples": results["robust"]["samples_per_step"],
        "fe_epochs": ", ".join(f"{k} {v}" for k, v in p["fe_epochs"].items()),
        "table_p_success": table(head, _rows(results)),
        **_run_tables(results),
        "n_sd_samples": 4 * n,
        "sd_mc_error_pct": 100 / np.sqrt(2 * (4 * n - 1)),
        "seconds_1000_spring": results["seconds_1000_spring_samples_iris"],
        "fe_sample_seconds": ", ".join(f"{a} {b} {c:.2f} s" for a, b, c, _ in per),
        "remeshes": sum(x[3] for x in per),
    }
    write_report(NAME, out, results, values, None, started)


def _run_tables(results: dict[str, Any]) -> dict[str, str]:
    rows, sd_rows = [], []
    for name, row in results["tasks"].items():
        for which in _designs(row):
            r = row[which]
            tm = r.get("train_metrics") or r.get("metrics_fem", {})
            keys = [k for k in ("train_accuracy", "test_accuracy", "train_contrast", "test_rel_error") if k in tm]
            curve = r.get("loss_curve_fem")
            rows.append([name, LABELS[which], "fem" if which == "fe" else "spring", f"{r['train_s']:.1f}"])
            rows[-1] += [", ".join(f"{k} {tm[k]:.4g}" for k in keys)]
            rows[-1] += ["" if not curve else f"{curve[0]:.5g} -> {curve[-1]:.5g} ({len(curve)} epochs)"]
            for S, x in r.get("sd_ratio_width_only", {}).items():
                sd_rows.append([name, which, float(S), x["median"], x["min"], x["max"]])
    head = ["task", "design", "trained with", "seconds", "end metrics", "FE train loss first -> last epoch"]
    return {
        "table_training": table(head, rows),
        "table_sd_ratio": table(["task", "design", "S (mm)", "median", "min", "max"], sd_rows),
    }


def _plot(out: Path, results: dict[str, Any]) -> None:
    fig = figure(6 * len(results["tasks"]), 4)
    axes = fig.subplots(1, len(results["tasks"]), squeeze=False)[0]
    for ax, (name, row) in zip(axes, results["tasks"].items(), strict=True):
        label = _label(row)
        curves = []
        for which in _designs(row):
            curves.append((f"{which} (spring)", [row[which].get(f"S{S:g}_{label}") for S in S_LEVELS], "o-"))
            if "fem" in row[which]:
                curves.append((f"{which} (FE)", [row[which]["fem"].get(f"S{S:g}") for S in S_LEVELS], "s--"))
        for i, (lab, recs, fmt) in enumerate(curves):
            xs = [S + 0.002 * (i - len(curves) / 2) for S, r in zip(S_LEVELS, recs, strict=True) if r]
            ps = [r["p_success"] for r in recs if r]
            es = [r["p_success_mc_err"] for r in recs if r]
            ax.errorbar(xs, ps, yerr=es, fmt=fmt, capsize=3, label=lab)
        ax.set_title(name)
        ax.set_xlabel("width sd S (mm)")
        ax.set_ylabel("p_success")
        ax.set_ylim(-0.05, 1.05)
        ax.legend(fontsize=7)
    fig.tight_layout()
    save_figure(fig, out, "p_success.png")


def main(argv: list[str] | None = None) -> int:
    return study_main(
        NAME, __doc__, compute, render, argv, "fewer epochs, 200 spring samples, a P1 FE smoke run", takes_data=False
    )


if __name__ == "__main__":
    sys.exit(main())
