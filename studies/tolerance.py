"""Print tolerance (issue 16): does a tolerance-aware design survive the printer better, and at what nominal cost?

For the paper's behaviour (Figure 2, cross-entropy: node 13 dominant), regression (Figure 3) and
Iris (Figure 4) tasks on the paper's lattice, three spring-model designs:

* ``nominal``: trained with the authors' settings (the shipped task file's), from uniform 2 mm;
* ``robust``: the same settings with tolerance-aware training at S = 0.1 mm
  (:class:`fem_mnn.learn.robust.RobustModel`: every step averages the exact gradient over K
  perturbed copies of the widths; from uniform 2 mm, since a sigmoid-parametrised width on a
  bound cannot leave it);
* FE-trained designs are not in this study (a full FE training run per task costs hours on the
  shared two cores); the FE side is the tolerance command's ``--model fem`` (tested on the sample).

Each design: the probability of success at S = 0.05 and 0.1 mm with R = 5 % (spring model,
N samples, seed 0), by the task file's own success criterion; plus where
linearised and sampled standard deviations part as S grows (S = 0.02, 0.05, 0.1 mm).

Run: ``python studies/tolerance.py [--quick] [--out DIR]``.
"""

from __future__ import annotations

# _common first: importing it pins the BLAS threads before numpy loads
from _common import figure, log, study_main

# isort: split

import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from fem_mnn.design import paper_sample
from fem_mnn.io.report import StudyReport
from fem_mnn.learn.robust import RobustModel, WidthNoise
from fem_mnn.learn.taskfile import paper_task
from fem_mnn.learn.training import paper_config, train
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
STUDY_CRITERIA_WHY: dict[str, str] = {}


def _train(task: Any, name: str, epochs: int, robust: bool, k: int) -> tuple[np.ndarray, float]:
    d = paper_sample()
    model = SpringModel(d)
    if robust:
        model = RobustModel(model, ROBUST_S, n_samples=k, seed=0)
    t0 = time.perf_counter()
    res = train(model, task, paper_config(name, epochs=epochs, record_widths=False))
    return res.widths, time.perf_counter() - t0


def compute(quick: bool, data_dir: Any = None) -> dict[str, Any]:
    n = 200 if quick else 1000
    k = 4 if quick else 8
    out: dict[str, Any] = {
        "quick": quick,
        "n_samples": n,
        "robust": {"width_sd_mm": ROBUST_S, "samples_per_step": k, "method": "sampled perturbations"},
        "E_sd": E_SD,
        "tasks": {},
    }
    base = paper_sample()
    for name, (ep_full, ep_quick, study_crit) in TASKS.items():
        task = paper_task(name, base)
        epochs = ep_quick if quick else ep_full
        row: dict[str, Any] = {"epochs": epochs, "criterion": task.success, "study_criterion": study_crit}
        for which in ("nominal", "robust"):
            log(NAME, f"{name}: training {which} ({epochs} epochs)")
            w, secs = _train(task, name, epochs, which == "robust", k)
            d = base.with_widths(w)
            t = paper_task(name, d)
            rec: dict[str, Any] = {"widths": w.tolist(), "train_s": secs}
            for S in S_LEVELS:
                for label, crit in (("own", None), ("study", study_crit)):
                    if label == "study" and crit is None:
                        continue
                    r = tolerance_analysis(SpringModel(d), t, WidthNoise(S, E_SD), n, seed=0, success=crit)
                    rec[f"S{S:g}_{label}"] = {
                        k2: r[k2]
                        for k2 in (
                            "metric_nominal",
                            "metric_mean",
                            "metric_sd",
                            "p_success",
                            "p_success_mc_err",
                            "p_success_ci95",
                            "success_nominal",
                            "dominant_bond",
                            "dominant_bond_share",
                            "modulus_share_total",
                            "sd_ratio_summary",
                        )  # fmt: skip
                    }
            agree = {}
            for S in S_AGREEMENT:
                r = tolerance_analysis(SpringModel(d), t, WidthNoise(S, 0.0), 4 * n, seed=1)
                agree[f"{S:g}"] = r["sd_ratio_summary"]
            rec["sd_ratio_width_only"] = agree
            row[which] = rec
        out["tasks"][name] = row
    # 1000 spring samples of the paper's sample (Iris test set, 45 cases): the cost target
    t0 = time.perf_counter()
    tolerance_analysis(SpringModel(base), paper_task("iris", base), WidthNoise(0.05, E_SD), 1000, seed=0)
    out["seconds_1000_spring_samples_iris"] = time.perf_counter() - t0
    return out


def headline(results: dict[str, Any]) -> dict[str, float]:
    h: dict[str, float] = {}
    for name, row in results["tasks"].items():
        label = "study" if row["study_criterion"] else "own"
        for which in ("nominal", "robust"):
            r = row[which]
            h[f"{name}_{which}_p_success_S0.1"] = r[f"S0.1_{label}"]["p_success"]
            h[f"{name}_{which}_metric_nominal"] = r[f"S0.1_{label}"]["metric_nominal"]
            h[f"{name}_{which}_sd_ratio_median_S0.02"] = r["sd_ratio_width_only"]["0.02"]["median"]
    return h


def _rows(results: dict[str, Any]) -> list[list[Any]]:
    rows = []
    for name, row in results["tasks"].items():
        for which in ("nominal", "robust"):
            r = row[which]
            for label in ("own", "study"):
                if f"S0.1_{label}" not in r:
                    continue
                crit = row["criterion"] if label == "own" else row["study_criterion"]
                bound = f"{crit['metric']} {'>=' if 'min' in crit else '<='} {crit.get('min', crit.get('max')):g}"
                a, b = r[f"S0.05_{label}"], r[f"S0.1_{label}"]
                rows.append([
                    name, which, bound, a["metric_nominal"],
                    f"{a['p_success']:.3f} +- {a['p_success_mc_err']:.3f}",
                    f"{b['p_success']:.3f} +- {b['p_success_mc_err']:.3f}",
                    b["metric_mean"], b["metric_sd"], b["dominant_bond"], b["modulus_share_total"],
                ])  # fmt: skip
    return rows


def render(results: dict[str, Any], out: Path) -> None:
    rep = StudyReport(
        NAME, "Print tolerance: probability of success of nominal and tolerance-aware designs", out_dir=out
    )
    n = results["n_samples"]
    rep.text(
        f"Spring model, paper's lattice. Noise: each bond's width normal with sd S (thin ends follow), a common "
        f"modulus factor with sd R = {100 * results['E_sd']:g} %, no truncation; N = {n} samples, seed 0 (MC error "
        f"of p: sqrt(p (1 - p) / N)). The paper gives no tolerance numbers: every number here is ours. "
        f"Tolerance-aware training: S = {results['robust']['width_sd_mm']:g} mm, "
        f"{results['robust']['samples_per_step']} sampled perturbations per step, same settings and epochs as the "
        "nominal run. FE-trained designs: not affordable here (hours per task on the shared cores)."
    )
    for name, why in STUDY_CRITERIA_WHY.items():
        rep.text(f"Study criterion for {name}: {why}.")
    rep.table(
        "p_success at S = 0.05 and 0.1 mm (R = 5 %); the metric of the design without noise (what it gives up)",
        ["task", "design", "criterion", "nominal metric", "p (S 0.05)", "p (S 0.1)", "metric mean (S 0.1)",
         "metric sd (S 0.1)", "dominant bond", "modulus share of var"],
        _rows(results),
    )  # fmt: skip
    rows = []
    for name, row in results["tasks"].items():
        for which in ("nominal", "robust"):
            for S, r in row[which]["sd_ratio_width_only"].items():
                rows.append([name, which, float(S), r["median"], r["min"], r["max"]])
    rep.table(
        "Sampled / linearised sd of the outputs (width noise only, R = 0), where they part as S grows "
        f"({4 * n} samples, seed 1; MC error of a sampled sd: {100 / np.sqrt(2 * (4 * n - 1)):.1f} %)",
        ["task", "design", "S (mm)", "median", "min", "max"],
        rows,
    )
    rep.text(f"1000 spring samples of the paper's sample on the Iris test set (45 cases): "
             f"{results['seconds_1000_spring_samples_iris']:.2f} s.")  # fmt: skip
    fig = figure(6 * len(results["tasks"]), 4)
    axes = fig.subplots(1, len(results["tasks"]), squeeze=False)[0]
    for ax, (name, row) in zip(axes, results["tasks"].items(), strict=True):
        label = "study" if row["study_criterion"] else "own"
        for i, which in enumerate(("nominal", "robust")):
            ps = [row[which][f"S{S:g}_{label}"]["p_success"] for S in S_LEVELS]
            es = [row[which][f"S{S:g}_{label}"]["p_success_mc_err"] for S in S_LEVELS]
            ax.errorbar(np.array(S_LEVELS) + 0.003 * (i - 0.5), ps, yerr=es, fmt="o-", capsize=3, label=which)
        ax.set_title(name)
        ax.set_xlabel("width sd S (mm)")
        ax.set_ylabel("p_success")
        ax.set_ylim(-0.05, 1.05)
        ax.legend()
    fig.tight_layout()
    rep.figure(
        fig, "p_success.png", "Probability of success against the width sd, nominal and tolerance-aware designs."
    )
    rep.data.update(results)
    rep.write()


def main(argv: list[str] | None = None) -> int:
    return study_main(NAME, __doc__, compute, render, argv, "fewer epochs and 200 samples", takes_data=False)


if __name__ == "__main__":
    sys.exit(main())
