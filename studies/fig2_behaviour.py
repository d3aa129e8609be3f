"""Figure 2 of Li & Mao (2024): behaviour learning on the spring network.

5 g hangs on paper node 11 (id 10); the outputs are u_y of paper nodes 13 and 14
(ids 12, 13), -0.5243 mm each on the uniform 2 mm network. Trained:

* cross-entropy (p = |u| / sum |u|), node 13 dominant (the paper's u2) and its
  mirror, node 14 dominant (u3), with the authors' settings (Adam step 5e-3,
  sigmoid beta 10, stop when the relative change of k per iteration <= 1e-8,
  at most 10000 iterations), both with the authors' gradient (dL/dk in SI fed to
  the latent variable) and with the exact chain rule;
* MSE with the targets of the authors' script (u_y = -0.5 / -0.8 mm, stop at 1e-3
  relative error or k change <= 1e-8, at most 30000 iterations), and MSE aimed at
  the paper's u2 outputs (a reachable target).

Run: ``python studies/fig2_behaviour.py [--out DIR] [--quick] [--data DIR]``; ``compute(quick, data_dir)``
returns the numbers, ``render(results, out)`` writes the report.
"""

from __future__ import annotations

# _common first: importing it pins the BLAS threads before numpy loads
from _common import (
    curves_figure,
    figure,
    paper_data_dir,
    sampled_curve,
    save_figure,
    study_main,
    table,
    write_report,
)

# isort: split

import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from scipy.optimize import minimize

from fem_mnn.contract import backprop
from fem_mnn.design import paper_sample
from fem_mnn.io.paper_data import load_figure2
from fem_mnn.learn import TrainResult, paper_config, train
from fem_mnn.learn.tasks import behaviour_cross_entropy, behaviour_mse
from fem_mnn.spring.network import SpringModel

NAME = "fig2_behaviour"
MSE_SCRIPT = "script targets (-0.5, -0.8)"
MSE_U2 = "targets = paper u2"


def outputs(res) -> tuple[float, float]:
    m = res.final.metrics
    return m["train_u_12y"], m["train_u_13y"]


def bounded_optimum(model: SpringModel, task, starts: int = 8) -> tuple[float, np.ndarray, np.ndarray]:
    """Global reference: L-BFGS-B on the widths in [w_min, w_max] from several starts -> (loss, outputs, widths)."""
    g = model.design.geometry

    def fun(w):
        bp = backprop(model, w, task.train_loads, task.loss("train", [0]))
        return bp.loss, bp.grad_w

    best = None
    for s in range(starts):
        w0 = np.random.default_rng(s).uniform(g.width_min, g.width_max, model.design.n_bonds)
        r = minimize(
            fun,
            w0,
            jac=True,
            method="L-BFGS-B",
            bounds=[(g.width_min, g.width_max)] * model.design.n_bonds,
            options={"ftol": 1e-15, "gtol": 1e-12, "maxiter": 5000},
        )
        if best is None or r.fun < best.fun:
            best = r
    u = model.operator(best.x).solve(task.train_loads).u
    return float(best.fun), task.output_values(u)[0], best.x


def f6(x: float) -> str:
    return f"{x:.6f}"


# ------------------------------------------------------------------ compute


def _ce_record(r: TrainResult, paper: np.ndarray) -> dict[str, Any]:
    return {
        "paper": paper.tolist(),
        "ours": list(outputs(r)),
        "iterations": r.epochs,
        "stop_reason": r.stop_reason,
        "final_loss": r.final.loss,
        "widths": r.widths.tolist(),
        "config": r.config.to_dict(),
        "curve": sampled_curve(r, ("loss", "train_u_12y", "train_u_13y")),
    }


def _train_cross_entropy(model: SpringModel, fig2: Any, cap: dict[str, int]) -> dict[str, Any]:
    """Cross-entropy runs: u2 (id 12 dominant) and its mirror u3, authors' and exact gradient; u2 without the k stop."""
    design = model.design
    out = {}
    for dominant in (0, 1):
        task = behaviour_cross_entropy(design, dominant=dominant)
        for grad in ("paper", "exact"):
            cfg = paper_config("behaviour-ce", paper_gradient=(grad == "paper"), **cap)
            key = f"{'u2' if dominant == 0 else 'u3'}_{grad}"
            out[key] = _ce_record(train(model, task, cfg, progress=5.0), fig2.u2 if dominant == 0 else fig2.u3)
    # the stopping rule matters: the same run without the k-change rule, to 10000 iterations
    cfg = paper_config("behaviour-ce", paper_gradient=True, step_tol=None, **cap)
    no_stop = train(model, behaviour_cross_entropy(design, dominant=0), cfg, progress=5.0)
    out["no_stop"] = {"ours": list(outputs(no_stop)), "iterations": no_stop.epochs, "stop_reason": no_stop.stop_reason}
    return out


def _train_mse(model: SpringModel, fig2: Any, cap: dict[str, int]) -> dict[str, Any]:
    """MSE runs with the authors' script targets and with the paper's u2 as targets, both gradients."""
    design = model.design
    tasks = (
        (MSE_SCRIPT, behaviour_mse(design)),
        (MSE_U2, behaviour_mse(design, targets=tuple(float(v) for v in fig2.u2))),
    )
    out = {}
    for name, task in tasks:
        for grad in ("paper", "exact"):
            r = train(model, task, paper_config("behaviour", paper_gradient=(grad == "paper"), **cap), progress=5.0)
            out[f"{name} / {grad}"] = {
                "ours": [r.final.metrics["train_u_12y"], r.final.metrics["train_u_13y"]],
                "rel_error": r.final.metrics["train_rel_error"],
                "iterations": r.epochs,
                "stop_reason": r.stop_reason,
                "widths": r.widths.tolist(),
                "curve": sampled_curve(r, ("loss", "train_rel_error")),
            }
    return out


def compute(quick: bool, data_dir: str | Path | None = None) -> dict[str, Any]:
    """All numbers of the study (no files); ``quick`` caps every run at 300 iterations."""
    fig2 = load_figure2(paper_data_dir(data_dir))
    design = paper_sample()
    model = SpringModel(design)
    cap = {"epochs": 300} if quick else {}
    ce13 = behaviour_cross_entropy(design, dominant=0)
    u_uniform = model.operator().solve(ce13.train_loads).u[0, [12, 13], 1]
    ce = _train_cross_entropy(model, fig2, cap)
    mse = _train_mse(model, fig2, cap)
    ce_opt_loss, ce_opt_u, ce_opt_w = bounded_optimum(model, ce13)
    mse_script = behaviour_mse(design)
    mse_floor_loss, mse_floor_u, _ = bounded_optimum(model, mse_script)
    t = mse_script.train_targets[0]
    return {
        "design_hash": design.hash(),
        "quick": quick,
        "uniform": {"paper": fig2.u1.tolist(), "ours": u_uniform.tolist()},
        "cross_entropy": {k: v for k, v in ce.items() if k != "no_stop"},
        "cross_entropy_no_stop": ce["no_stop"],
        "cross_entropy_bounded_optimum": {"loss": ce_opt_loss, "ours": ce_opt_u.tolist(), "widths": ce_opt_w.tolist()},
        "mse_script_targets_bounded_optimum": {
            "loss_mm2": mse_floor_loss,
            "outputs": mse_floor_u.tolist(),
            "rel_error": float(np.linalg.norm(mse_floor_u - t) / np.linalg.norm(t)),
        },
        "paper": {k: getattr(fig2, k).tolist() for k in ("u1", "u2", "u3")},
        "measured": {k: getattr(fig2, k).tolist() for k in ("u1_exp", "u2_exp", "u3_exp")},
        "measured_spread": {k: getattr(fig2, k).tolist() for k in ("u1_spread", "u2_spread", "u3_spread")},
        "mse": mse,
    }


def headline(results: dict[str, Any]) -> dict[str, float]:
    """Figure 2's outputs (mm) of paper nodes 13 and 14 after cross-entropy training (authors' gradient)."""
    u2 = results["cross_entropy"]["u2_paper"]["ours"]
    opt = results["cross_entropy_bounded_optimum"]["ours"]
    return {
        "u2_node13_mm": u2[0],
        "u2_node14_mm": u2[1],
        "u2_iterations": results["cross_entropy"]["u2_paper"]["iterations"],
        "optimum_node13_mm": opt[0],
        "optimum_node14_mm": opt[1],
        "uniform_node13_mm": results["uniform"]["ours"][0],
        "mse_script_floor_rel_error": results["mse_script_targets_bounded_optimum"]["rel_error"],
    }


# ------------------------------------------------------------------ render


def _tables(r: dict[str, Any]) -> dict[str, str]:
    ce, p, ns, opt = r["cross_entropy"], r["paper"], r["cross_entropy_no_stop"], r["cross_entropy_bounded_optimum"]
    rows = [["u1 (uniform 2 mm)", *map(f6, p["u1"]), *map(f6, r["uniform"]["ours"]), "-", "-"]]
    for key in ("u2", "u3"):
        for grad in ("paper", "exact"):
            c = ce[f"{key}_{grad}"]
            rows.append([f"{key} ({grad} gradient)", *map(f6, p[key]), *map(f6, c["ours"])])
            rows[-1] += [c["iterations"], c["stop_reason"]]
    rows.append(["u2, paper gradient, no k-change stop", *map(f6, p["u2"]), *map(f6, ns["ours"])])
    rows[-1] += [ns["iterations"], ns["stop_reason"]]
    rows.append(["u2, bounded optimum (L-BFGS-B)", *map(f6, p["u2"]), *map(f6, opt["ours"]), "-", "-"])
    meas = []
    for key in ("u1", "u2", "u3"):
        sim, exp, spread = p[key], r["measured"][f"{key}_exp"], r["measured_spread"][f"{key}_spread"]
        ours = r["uniform"]["ours"] if key == "u1" else ce[f"{key}_paper"]["ours"]
        for n in range(2):
            meas.append([f"{key} node {13 + n}", sim[n], ours[n], exp[n], spread[n], ours[n] - exp[n]])
    mse = [
        [*key.split(" / "), *m["ours"], m["rel_error"], m["iterations"], m["stop_reason"]]
        for key, m in r["mse"].items()
    ]
    head = ["case", "paper node 13", "paper node 14", "ours node 13", "ours node 14", "iterations", "stopped by"]
    return {
        "table_outputs": table(head, rows),
        "table_measured": table(
            ["case", "paper sim", "ours (paper gradient)", "measured", "±", "ours - measured"], meas
        ),
        "table_mse": table(
            ["targets", "gradient", "u node 13", "u node 14", "relative error", "iterations", "stopped by"], mse
        ),
    }


def _numbers(r: dict[str, Any]) -> dict[str, Any]:
    ce, p, ns = r["cross_entropy"], r["paper"], r["cross_entropy_no_stop"]
    r2, rx, mse = ce["u2_paper"], ce["u2_exact"], r["mse"]
    u2, w = np.array(p["u2"]), np.array(r["cross_entropy_bounded_optimum"]["widths"])
    fl = r["mse_script_targets_bounded_optimum"]
    pe, xe = mse[f"{MSE_SCRIPT} / paper"], mse[f"{MSE_SCRIPT} / exact"]
    pu, xu = mse[f"{MSE_U2} / paper"], mse[f"{MSE_U2} / exact"]
    return {
        "ce_iterations": r2["iterations"],
        "err_u2": float(np.max(np.abs(np.array(r2["ours"]) - u2))),
        "n_bound": int(np.sum((w <= 1.5 + 1e-6) | (w >= 2.5 - 1e-6))),
        "no_stop_iterations": ns["iterations"],
        "moved": float(np.max(np.abs(np.array(ns["ours"]) - np.array(r2["ours"])))),
        "exact_iterations": rx["iterations"],
        "err_exact": float(np.max(np.abs(np.array(rx["ours"]) - u2))),
        "floor_u13": fl["outputs"][0],
        "floor_u14": fl["outputs"][1],
        "floor_pct": 100 * fl["rel_error"],
        "script_exact_pct": 100 * xe["rel_error"],
        "script_exact_iterations": xe["iterations"],
        "script_paper_pct": 100 * pe["rel_error"],
        "script_paper_iterations": pe["iterations"],
        "u2_exact_pct": 100 * xu["rel_error"],
        "u2_exact_iterations": xu["iterations"],
        "u2_paper_pct": 100 * pu["rel_error"],
        "u2_paper_iterations": pu["iterations"],
    }


def _verdicts(r: dict[str, Any]) -> dict[str, bool]:
    """The wording the numbers choose (the words are in the template)."""
    ce, mse, fl = r["cross_entropy"], r["mse"], r["mse_script_targets_bounded_optimum"]
    return {
        "ce_stopped": ce["u2_paper"]["stop_reason"] == "step_tol",
        "exact_stopped": ce["u2_exact"]["stop_reason"] == "step_tol",
        "exact_reaches_floor": abs(mse[f"{MSE_SCRIPT} / exact"]["rel_error"] - fl["rel_error"]) < 1e-3,
        "u2_targets_reached": mse[f"{MSE_U2} / exact"]["stop_reason"] == "metric_tol",
    }


def _plot_training(out: Path, r: dict[str, Any]) -> None:
    ce = r["cross_entropy"]
    fig = curves_figure(
        [("u2, authors' gradient", ce["u2_paper"]["curve"]), ("u2, exact gradient", ce["u2_exact"]["curve"])],
        loss_key="loss",
        metric_keys=("train_u_12y", "train_u_13y"),
        loss_label="cross-entropy loss",
        metric_label="u_y (mm) of ids 12, 13 (paper nodes 13, 14)",
        title="Figure 2: cross-entropy behaviour learning (u3 is the mirror image)",
        logx=True,
    )
    for v in r["paper"]["u2"]:
        fig.axes[1].axhline(v, color="k", ls="--", lw=0.8)
    save_figure(fig, out, "training_ce.png")
    fig = curves_figure(
        [(key, m["curve"]) for key, m in r["mse"].items()],
        loss_key="loss",
        metric_keys=("train_rel_error",),
        loss_label="MSE loss (mm^2)",
        metric_label="relative error",
        title="Figure 2: MSE behaviour learning",
        logx=True,
    )
    save_figure(fig, out, "training_mse.png")


def _plot_lattices(out: Path, r: dict[str, Any]) -> None:
    from fem_mnn.viz.training import compare_widths_figure, draw_lattice

    design = paper_sample()
    model = SpringModel(design)
    ce13 = behaviour_cross_entropy(design, dominant=0)
    ce = r["cross_entropy"]
    w_u2, w_u3 = np.array(ce["u2_paper"]["widths"]), np.array(ce["u3_paper"]["widths"])
    kw = {"loads": ce13.train_loads[0], "outputs": [tuple(o) for o in ce13.outputs]}
    fig = compare_widths_figure(
        design,
        w_u2,
        w_u3,
        titles=("trained for u2 (node 13 = id 12 dominant)", "trained for u3 (node 14 = id 13 dominant)"),
        suptitle="Cross-entropy, authors' gradient: trained widths to scale",
        **kw,
    )
    save_figure(fig, out, "lattice_ce_paper.png")
    fig = figure(12, 4.8)
    axes = fig.subplots(1, 2)
    coll = None
    for ax, (w, t) in zip(axes, ((design.widths, "uniform 2 mm"), (w_u2, "trained (u2)")), strict=True):
        u = model.operator(w).solve(ce13.train_loads).u[0]
        coll = draw_lattice(ax, design, w, displacement=u, disp_scale=10.0, **kw)
        ax.set_title(f"{t}: deformed x10 (dashed)")
    fig.colorbar(coll, ax=list(axes), label="bond width (mm)", shrink=0.8)
    save_figure(fig, out, "deformed.png")


def render(results: dict[str, Any], out: Path) -> None:
    """results.md (``studies/templates/fig2_behaviour.md``), results.json and the figures in ``out``."""
    started = time.time()
    _plot_training(out, results)
    _plot_lattices(out, results)
    write_report(NAME, out, results, {**_tables(results), **_numbers(results)}, _verdicts(results), started)


def main(argv: list[str] | None = None) -> int:
    return study_main(NAME, __doc__, compute, render, argv, quick_help="every run capped at 300 iterations")


if __name__ == "__main__":
    sys.exit(main())
