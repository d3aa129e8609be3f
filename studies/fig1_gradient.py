"""Figure 1 of Li & Mao (2024): the in situ gradient against finite differences.

The uniform paper sample (all widths 2 mm). Forward: 10 g hung at paper node 13
(id 12). Loss L = (u_y,14 + 0.025 m)^2 on paper node 14 (id 13), adjoint load
f_adj = -dL/du at id 13; the gradient dL/dk_i = e_i e_adj,i (two solves for all
28 bonds). Compared with the paper's simulated ``grad_sim`` and measured
``grad_exp``, with finite differences on k (SI, as the paper) over 14 decades of
step, and with the supplement's same-node case.

Run: ``python studies/fig1_gradient.py [--data DIR] [--out DIR] [--quick]``; ``compute(quick, data_dir)``
returns the numbers, ``render(results, out)`` writes the report.
"""

from __future__ import annotations

# _common first: importing it pins the BLAS threads before numpy loads
from _common import figure, paper_data_dir, save_figure, study_main, table, write_report

# isort: split

import os

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):  # before numpy loads
    os.environ.setdefault(_v, "1")

import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from fem_mnn.design import paper_sample
from fem_mnn.io.paper_data import Figure1, G, load_figure1
from fem_mnn.spring.network import SpringModel
from fem_mnn.spring.si import SISprings

NAME = "fig1_gradient"
GRAM = G * 1e-3  # N per gram
LOAD_NODE, LOSS_NODE = 12, 13  # paper nodes 13, 14
FORWARD_GRAMS = 10.0
OFFSET_M = 0.025  # loss offset (m)


def log(msg: str) -> None:
    print(f"[{NAME}] {msg}", file=sys.stderr, flush=True)


def si_springs() -> SISprings:
    """The paper case in SI units (k N/m, u m): 10 g at id 12, L = (u_y,13 + 0.025 m)^2, for the FD sweeps."""
    d = paper_sample()
    f = np.zeros((d.n_nodes, 2))
    f[LOAD_NODE, 1] = -FORWARD_GRAMS * GRAM
    return SISprings(d, f, (LOSS_NODE, 1), OFFSET_M)


# --------------------------------------------------------------------------- study


def in_situ(adjoint_grams: float | None) -> dict[str, np.ndarray | float]:
    """In situ gradient (mm^2) of the paper case; adjoint = exact -dL/du if None, else that many grams."""
    d = paper_sample()
    op = SpringModel(d).operator()
    f = np.zeros((1, d.n_nodes, 2))
    f[0, LOAD_NODE, 1] = -FORWARD_GRAMS * GRAM
    fwd = op.solve(f)
    uy = float(fwd.u[0, LOSS_NODE, 1])  # mm
    if adjoint_grams is None:
        f_adj = -2.0 * (uy * 1e-3 + OFFSET_M)  # N, from dL/du in SI
    else:
        f_adj = -adjoint_grams * GRAM
    fa = np.zeros((1, d.n_nodes, 2))
    fa[0, LOSS_NODE, 1] = f_adj
    adj = op.solve(fa)
    return {
        "grad": fwd.elongation[0] * adj.elongation[0],
        "u_y14_mm": uy,
        "f_adj_N": f_adj,
        "f_adj_grams": f_adj / -GRAM,
        "e": fwd.elongation[0],
    }


def tie_groups(values: np.ndarray, rtol: float = 1e-9) -> list[list[int]]:
    """Indices grouped by equal value (within rtol of the largest |value|)."""
    tol = rtol * float(np.abs(values).max())
    order = np.argsort(values)
    groups: list[list[int]] = [[int(order[0])]]
    for a, b in zip(order[:-1], order[1:], strict=True):
        if values[b] - values[a] <= tol:
            groups[-1].append(int(b))
        else:
            groups.append([int(b)])
    return groups


# ------------------------------------------------------------------ compute


def _grad_sim_comparison(f1: Figure1) -> tuple[dict[str, Any], float]:
    """Our in situ gradient (exact adjoint and 5 g adjoint) against the paper's ``grad_sim``."""
    cases = {"exact adjoint -dL/du": in_situ(None), "5 g adjoint": in_situ(5.0)}
    scale = float(np.abs(f1.grad_sim).max())
    out = {}
    for label, c in cases.items():
        ours_paper_order = c["grad"][f1.bond]
        dev = np.abs(ours_paper_order - f1.grad_sim)
        best = float(ours_paper_order @ f1.grad_sim / (ours_paper_order @ ours_paper_order))
        out[label] = {
            "adjoint_load_N": c["f_adj_N"],
            "adjoint_grams": c["f_adj_grams"],
            "max_abs_dev_mm2": float(dev.max()),
            "max_dev_rel_to_largest": float(dev.max() / scale),
            "sorted_max_dev_rel": float(np.abs(np.sort(ours_paper_order) - np.sort(f1.grad_sim)).max() / scale),
            "best_fit_adjoint_grams": best * c["f_adj_grams"],
            "grad_mm2_by_bond": c["grad"],
        }
    return out, float(cases["5 g adjoint"]["u_y14_mm"])


def _measurement(f1: Figure1, ours: np.ndarray) -> dict[str, Any]:
    """Measured gradient ``grad_exp`` against ours: per bond, per tie group, sorted."""
    groups = tie_groups(ours)
    exp_by_bond = f1.by_bond(f1.grad_exp)
    spread_by_bond = f1.by_bond(f1.grad_exp_spread)
    grp_rows = [
        {
            "bonds": g,
            "ours": float(ours[g[0]]),
            "grad_sim_mean": float(np.mean(f1.grad_sim[np.isin(f1.bond, g)])),
            "grad_exp_mean": float(np.mean(exp_by_bond[g])),
            "grad_exp_spread_rss_over_n": float(np.sqrt(np.sum(spread_by_bond[g] ** 2)) / len(g)),
        }
        for g in groups
    ]
    grp_rows.sort(key=lambda r: -abs(r["ours"]))
    norm = float(np.linalg.norm(ours))
    grp_mean_exp = np.array([np.mean(exp_by_bond[g]) for g in groups])
    grp_ours = np.array([ours[g[0]] for g in groups])
    sizes = np.array([len(g) for g in groups])
    return {
        "tie_groups": groups,
        "group_rows": grp_rows,
        "rel_error_mapped": float(np.linalg.norm(exp_by_bond - ours) / norm),
        "rel_error_group_means": float(np.sqrt(np.sum(sizes * (grp_mean_exp - grp_ours) ** 2)) / norm),
        "rel_error_sorted": float(np.linalg.norm(np.sort(f1.grad_exp) - np.sort(ours)) / norm),
        "correlation": float(np.corrcoef(exp_by_bond, ours)[0, 1]),
        "one_minus_cos": float(1.0 - exp_by_bond @ ours / (np.linalg.norm(exp_by_bond) * np.linalg.norm(ours))),
        "sign_agreement": float(np.mean(np.sign(exp_by_bond) == np.sign(ours))),
        "within_spread": float(np.mean(np.abs(exp_by_bond - ours) <= spread_by_bond)),
        "paper_err_exp": f1.err_exp,
    }


def _same_node(f1: Figure1) -> list[dict[str, float]]:
    """The supplement's same-node case: sorted e^2 (f_adj / f) against sorted ``grad_sim_SI``, adjoint fitted."""
    d = paper_sample()
    op = SpringModel(d).operator()
    rows = []
    for node in (12, 13):
        f = np.zeros((1, d.n_nodes, 2))
        f[0, node, 1] = -20 * GRAM
        e = op.solve(f).elongation[0]
        a, b = np.sort(e * e), np.sort(f1.same_node_sim)
        s = float(a @ b / (a @ a))
        rows.append(
            {
                "id": node,
                "paper_node": node + 1,
                "adjoint_g": s * 20,
                "max_dev_rel": float(np.abs(s * a - b).max() / b.max()),
            }
        )
    return rows


def _slope(x: np.ndarray, y: np.ndarray, lo: float, hi: float) -> float:
    """Least-squares log-log slope of y(x) over lo <= x <= hi."""
    m = (x >= lo) & (x <= hi) & (y > 0)
    return float(np.polyfit(np.log10(x[m]), np.log10(y[m]), 1)[0])


def _fd_sweep(si: SISprings, quick: bool) -> dict[str, Any]:
    """Central and forward FD on k (SI) over 14 decades of step; relative-norm error against the exact gradient."""
    g_exact, L0 = si.exact_gradient()
    steps = np.logspace(-12, 2, 29 if quick else 141)
    err_c, err_f = [], []
    tic = time.perf_counter()
    for h in steps:
        for central, acc in ((True, err_c), (False, err_f)):
            acc.append(float(np.linalg.norm(si.fd(h, central) - g_exact) / np.linalg.norm(g_exact)))
    log(f"FD sweep: {len(steps)} steps in {time.perf_counter() - tic:.1f} s")
    err_c, err_f = np.array(err_c), np.array(err_f)
    ic, iff = int(np.argmin(err_c)), int(np.argmin(err_f))
    return {
        "k0_N_per_m": float(si.k0[0]),
        "L0_m2": L0,
        "steps_N_per_m": steps,
        "error_central": err_c,
        "error_forward": err_f,
        "best_central": [float(steps[ic]), float(err_c[ic])],
        "best_forward": [float(steps[iff]), float(err_f[iff])],
        "eps": float(np.finfo(float).eps),
    }


def _paper_fd_curve(si: SISprings, f1: Figure1, quick: bool) -> dict[str, Any]:
    """The paper's definition: forward FD on the widths (mm), error 1 - cos(g_FD, g), at the published steps."""
    g_exact, _ = si.exact_gradient()
    d = si.design
    dk_dw = d.material.E * 1e6 * (d.thickness * 1e-3) / (d.lengths * 1e-3) * 1e-3
    g_w = g_exact * dk_dw
    sub = np.arange(0, len(f1.fd_step), 50 if quick else 1)
    if sub[-1] != len(f1.fd_step) - 1:
        sub = np.append(sub, len(f1.fd_step) - 1)
    psteps = f1.fd_step[sub]
    tic = time.perf_counter()
    err_cos = []
    for h in psteps:
        gf = si.fd_width_forward(float(h))
        err_cos.append(float(1.0 - gf @ g_w / (np.linalg.norm(gf) * np.linalg.norm(g_w))))
    err_cos = np.array(err_cos)
    log(f"paper-definition FD curve: {len(psteps)} steps in {time.perf_counter() - tic:.1f} s")
    perr = f1.fd_error[sub]
    valid = (err_cos > 0) & (perr > 0)
    ratio = np.log10(err_cos[valid] / perr[valid])
    trunc = valid & (psteps >= 1e-5)
    rtrunc = np.log10(err_cos[trunc] / perr[trunc])
    roff = valid & (psteps <= 1e-7)
    rroff = np.log10(err_cos[roff] / perr[roff])
    return {
        "step": "forward difference, step h on every width in mm",
        "error": "1 - cos(g_FD, g)",
        "dk_dw_N_per_m_per_mm": float(dk_dw[0]),
        "steps": psteps,
        "ours": err_cos,
        "paper": perr,
        "n_valid": int(valid.sum()),
        "log10_ratio_median": float(np.median(ratio)),
        "log10_ratio_abs_q90": float(np.quantile(np.abs(ratio), 0.9)),
        "log10_ratio_truncation_side_median": float(np.median(rtrunc)),
        "log10_ratio_truncation_side_max_abs": float(np.max(np.abs(rtrunc))),
        "log10_ratio_roundoff_side_median": float(np.median(rroff)),
    }


def _cost(quick: bool) -> dict[str, Any]:
    """Wall time of one in situ gradient and of one central-difference gradient (28 bonds)."""
    d = paper_sample()
    d_model = SpringModel(d)
    n_rep = 20 if quick else 200
    tic = time.perf_counter()
    for _ in range(n_rep):
        in_situ(5.0)
    t_insitu = (time.perf_counter() - tic) / n_rep
    n_fd = max(2, n_rep // 20)
    tic = time.perf_counter()
    for _ in range(n_fd):
        for b in range(d.n_bonds):
            for s in (1, -1):
                w = d.widths.copy()
                w[b] += s * 1e-4
                d_model.solve(np.zeros((1, d.n_nodes, 2)), w)
    t_fd = (time.perf_counter() - tic) / n_fd
    nb = d.n_bonds
    return {
        "in_situ_solves": 2,
        "central_fd_solves": 2 * nb,
        "forward_fd_solves": nb + 1,
        "in_situ_ms": 1e3 * t_insitu,
        "central_fd_ms": 1e3 * t_fd,
    }


def compute(quick: bool, data_dir: str | Path | None = None) -> dict[str, Any]:
    """All numbers of the study (no files); ``quick`` samples the FD sweeps coarsely."""
    f1 = load_figure1(paper_data_dir(data_dir))
    comparison, u_y14 = _grad_sim_comparison(f1)
    ours = np.asarray(comparison["5 g adjoint"]["grad_mm2_by_bond"])
    si = si_springs()
    fd = _fd_sweep(si, quick)
    ip = int(np.argmin(f1.fd_error))
    fd["paper_best"] = [float(f1.fd_step[ip]), float(f1.fd_error[ip])]
    paper_def = _paper_fd_curve(si, f1, quick)
    steps, err_c, err_f = fd["steps_N_per_m"], fd["error_central"], fd["error_forward"]
    psteps, err_cos = paper_def["steps"], paper_def["ours"]
    fd["slopes"] = [
        [
            "ours: ||g_FD - g|| / ||g||, central, step on k (N/m)",
            _slope(steps, err_c, 1e-12, 1e-9),
            _slope(steps, err_c, 1e-1, 10),
        ],
        [
            "ours: ||g_FD - g|| / ||g||, forward, step on k (N/m)",
            _slope(steps, err_f, 1e-12, 1e-9),
            _slope(steps, err_f, 1e-2, 1),
        ],
        [
            "ours: 1 - cos, forward, step on w (mm)",
            _slope(psteps, err_cos, 1e-11, 1e-9),
            _slope(psteps, err_cos, 1e-3, 1e-1),
        ],
        [
            "paper (figure1.csv)",
            _slope(f1.fd_step, f1.fd_error, 1e-11, 1e-9),
            _slope(f1.fd_step, f1.fd_error, 1e-3, 1e-1),
        ],
    ]
    measurement = _measurement(f1, ours)
    return {
        "quick": quick,
        "case": {
            "forward": {"node": LOAD_NODE, "grams": FORWARD_GRAMS},
            "loss_node": LOSS_NODE,
            "offset_m": OFFSET_M,
            "u_y14_mm": u_y14,
        },
        "grad_sim_comparison": comparison,
        "reproducing_adjoint": "5 g",
        "bond_map_paper_index_to_bond": dict(zip(f1.paper_index.tolist(), f1.bond.tolist(), strict=True)),
        "tie_groups": measurement.pop("tie_groups"),
        "tie_group_rows": measurement.pop("group_rows"),
        "measurement": measurement,
        "same_node": _same_node(f1),
        "fd": fd,
        "fd_at_paper_optimum_central": float(
            np.interp(np.log10(f1.fd_step[ip] * paper_def["dk_dw_N_per_m_per_mm"]), np.log10(steps), err_c)
        ),
        "paper_fd_definition": paper_def,
        "paper_curves": {
            "bond": f1.bond,
            "grad_sim": f1.grad_sim,
            "grad_exp": f1.grad_exp,
            "grad_exp_spread": f1.grad_exp_spread,
            "fd_step": f1.fd_step,
            "fd_error": f1.fd_error,
            "adjoint_offset": f1.adjoint_offset,
            "adjoint_error": f1.adjoint_error,
        },
        "cost": _cost(quick),
    }


def headline(results: dict[str, Any]) -> dict[str, float]:
    """The numbers the tests assert: the adjoint that reproduces grad_sim and its agreement, the FD optimum."""
    c5 = results["grad_sim_comparison"]["5 g adjoint"]
    return {
        "u_y14_mm": results["case"]["u_y14_mm"],
        "exact_adjoint_grams": results["grad_sim_comparison"]["exact adjoint -dL/du"]["adjoint_grams"],
        "best_fit_adjoint_grams": c5["best_fit_adjoint_grams"],
        "max_dev_rel_to_largest_5g": c5["max_dev_rel_to_largest"],
        "rel_error_mapped": results["measurement"]["rel_error_mapped"],
        "fd_best_central_error": results["fd"]["best_central"][1],
    }


# ------------------------------------------------------------------ render


def _grad_sim_tables(r: dict[str, Any]) -> dict[str, str]:
    keys = ("adjoint_load_N", "adjoint_grams", "max_abs_dev_mm2", "max_dev_rel_to_largest", "sorted_max_dev_rel")
    rows = [
        [label, *(c[k] for k in keys), c["best_fit_adjoint_grams"]] for label, c in r["grad_sim_comparison"].items()
    ]
    head = ["adjoint", "f_adj (N)", "f_adj (g)", "max |dev| (mm^2)", "max |dev| rel", "sorted max |dev| rel"]
    m = r["measurement"]
    err_exp = np.asarray(m["paper_err_exp"])
    meas = [
        ["rel. error, per bond (JSON mapping)", m["rel_error_mapped"], "-"],
        ["rel. error, tie-group means (mapping-free)", m["rel_error_group_means"], "-"],
        ["rel. error, sorted values (mapping-free)", m["rel_error_sorted"], "-"],
        ["1 - cos(exp, ours), per bond (the paper's FD metric, see below)", m["one_minus_cos"], "-"],
        ["correlation exp vs ours (per bond)", m["correlation"], "-"],
        ["sign agreement (per bond)", m["sign_agreement"], "-"],
        ["share of bonds with |exp - ours| <= spread", m["within_spread"], "-"],
        ["paper's err_exp, per trial (mean, min-max of its trials; definition not given)", "-"]
        + [f"{np.mean(err_exp):.4f} (min-max {err_exp.min():.4f}-{err_exp.max():.4f})"],
    ]
    gkeys = ("ours", "grad_sim_mean", "grad_exp_mean", "grad_exp_spread_rss_over_n")
    groups = [
        [", ".join(str(b) for b in g["bonds"]), len(g["bonds"]), *(g[k] for k in gkeys)] for g in r["tie_group_rows"]
    ]
    same = [[s["id"], s["paper_node"], s["adjoint_g"], s["max_dev_rel"]] for s in r["same_node"]]
    return {
        "table_grad_sim": table([*head, "best-fit adjoint (g)"], rows),
        "table_measurement": table(["comparison", "ours", "paper"], meas),
        "table_tie_groups": table(
            ["bonds", "n", "ours", "grad_sim mean", "grad_exp mean", "grad_exp ± rss / n"], groups
        ),
        "table_same_node": table(["id", "paper node", "fitted adjoint (g)", "max |dev| rel. to largest"], same),
    }


def _fd_tables(r: dict[str, Any]) -> dict[str, str]:
    fd, pd, pc = r["fd"], r["paper_fd_definition"], r["paper_curves"]
    err_c, err_f = (np.asarray(fd[k]) for k in ("error_central", "error_forward"))
    psteps, err_cos, perr = (np.asarray(pd[k]) for k in ("steps", "ours", "paper"))
    fd_error = np.asarray(pc["fd_error"])
    rows = [
        ["ours, central", *fd["best_central"], float(err_c[0]), float(err_c[-1])],
        ["ours, forward", *fd["best_forward"], float(err_f[0]), float(err_f[-1])],
        ["paper (figure1.csv; step on w in mm, error 1 - cos: see below)", *fd["paper_best"]]
        + [float(fd_error[0]), float(fd_error[-1])],
    ]
    rows_p = []
    for h in (1e-11, 1e-9, 1e-7, 1e-6, 1e-5, 1e-3, 1e-1, 1.0, 10.0, 100.0):
        i = int(np.argmin(np.abs(np.log10(psteps) - np.log10(h))))
        rows_p.append([float(psteps[i]), float(err_cos[i]), float(perr[i]), float(err_cos[i] / perr[i])])
    c = r["cost"]
    cost = [
        ["in situ (forward + adjoint)", 2, 1, c["in_situ_ms"]],
        ["central differences", c["central_fd_solves"], c["central_fd_solves"], c["central_fd_ms"]],
        ["forward differences", c["forward_fd_solves"], c["forward_fd_solves"], "-"],
    ]
    head = ["curve", "best step (N/m)", "smallest error", "error at h = 1e-12", "error at h = 100"]
    return {
        "table_fd": table(head, rows),
        "table_slopes": table(["curve", "round-off arm", "truncation arm"], fd["slopes"]),
        "table_paper_fd": table(["step h (mm of width)", "ours", "paper", "ours / paper"], rows_p),
        "table_cost": table(["method", "linear solves (experiments)", "factorisations", "wall time here (ms)"], cost),
    }


def _numbers(r: dict[str, Any]) -> dict[str, Any]:
    fd, pd, pc, gs = r["fd"], r["paper_fd_definition"], r["paper_curves"], r["grad_sim_comparison"]
    sizes = sorted((len(g) for g in r["tie_groups"]), reverse=True)
    ae, ao = pc["adjoint_error"], pc["adjoint_offset"]
    return {
        "forward_grams": FORWARD_GRAMS,
        "forward_N": FORWARD_GRAMS * GRAM,
        "offset_m": OFFSET_M,
        "u_y14_mm": r["case"]["u_y14_mm"],
        "exact_adjoint_g": gs["exact adjoint -dL/du"]["adjoint_grams"],
        "five_g_N": abs(gs["5 g adjoint"]["adjoint_load_N"]),
        "five_g_dev_rel": gs["5 g adjoint"]["max_dev_rel_to_largest"],
        "n_tie_groups": len(sizes),
        "tie_sizes": str(sizes),
        "k0": fd["k0_N_per_m"],
        "L0": fd["L0_m2"],
        "dk_dw": pd["dk_dw_N_per_m_per_mm"],
        "n_valid": pd["n_valid"],
        "ratio_median": pd["log10_ratio_median"],
        "ratio_q90": pd["log10_ratio_abs_q90"],
        "trunc_median": pd["log10_ratio_truncation_side_median"],
        "trunc_max": pd["log10_ratio_truncation_side_max_abs"],
        "roundoff_median": pd["log10_ratio_roundoff_side_median"],
        "ours_last": pd["ours"][-1],
        "paper_last": pd["paper"][-1],
        "best_central_step": fd["best_central"][0],
        "best_central_error": fd["best_central"][1],
        "best_forward_step": fd["best_forward"][0],
        "best_forward_error": fd["best_forward"][1],
        "paper_step": fd["paper_best"][0],
        "paper_step_k": fd["paper_best"][0] * pd["dk_dw_N_per_m_per_mm"],
        "central_at_paper_step": r["fd_at_paper_optimum_central"],
        "adj_err_lo": ae[-1],
        "adj_err_hi": ae[0],
        "offset_lo": ao[-1],
        "offset_hi": ao[0],
    }


def _plot_gradient_bars(out: Path, r: dict[str, Any]) -> None:
    pc = r["paper_curves"]
    bond = np.asarray(pc["bond"])
    ours_p = np.asarray(r["grad_sim_comparison"]["5 g adjoint"]["grad_mm2_by_bond"])[bond]
    idx = np.arange(1, len(bond) + 1)
    fig = figure(11, 4.2)
    ax = fig.subplots()
    ax.bar(idx - 0.27, ours_p, 0.27, label="ours, in situ (5 g adjoint)")
    ax.bar(idx, pc["grad_sim"], 0.27, label="paper grad_sim")
    ax.bar(
        idx + 0.27,
        pc["grad_exp"],
        0.27,
        yerr=pc["grad_exp_spread"],
        capsize=2,
        label="paper grad_exp (± published spread)",
    )
    ax.set_xticks(idx)
    ax.set_xticklabels([f"{i}\n{b}" for i, b in zip(idx, bond, strict=True)], fontsize=6)
    ax.set_xlabel("paper bond index (1-based) / our bond id")
    ax.set_ylabel("dL/dk = e * e_adj (mm^2)")
    ax.axhline(0, color="k", lw=0.5)
    ax.legend(fontsize=8)
    ax.set_title("In situ gradient per bond (paper's bond order)")
    fig.tight_layout()
    save_figure(fig, out, "gradient_bars.png")


def _plot_fd(out: Path, r: dict[str, Any]) -> None:
    fd, pd, pc = r["fd"], r["paper_fd_definition"], r["paper_curves"]
    fig = figure(6.5, 4.5)
    ax = fig.subplots()
    ax.loglog(pc["fd_step"], pc["fd_error"], "k-", lw=2.5, alpha=0.4, label="paper (figure1.csv): step on w (mm)")
    ax.loglog(pd["steps"], pd["ours"], "-", color="tab:red", lw=1, label="ours: forward on w (mm), 1 - cos")
    ax.loglog(fd["steps_N_per_m"], fd["error_central"], "o-", ms=3, label="ours: central on k (N/m), rel. norm")
    ax.loglog(fd["steps_N_per_m"], fd["error_forward"], "s-", ms=3, label="ours: forward on k (N/m), rel. norm")
    ax.set_xlabel("FD step (see legend for its variable and unit)")
    ax.set_ylabel("error of the FD gradient")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title("Finite differences: round-off vs truncation")
    fig.tight_layout()
    save_figure(fig, out, "fd_error_vs_step.png")


def _plot_lattice(out: Path, r: dict[str, Any]) -> None:
    from fem_mnn.viz.training import draw_lattice

    d = paper_sample()
    ours = np.asarray(r["grad_sim_comparison"]["5 g adjoint"]["grad_mm2_by_bond"])
    fig = figure(7, 5)
    ax = fig.subplots()
    fa = np.zeros((d.n_nodes, 2))
    fa[LOAD_NODE, 1] = -FORWARD_GRAMS * GRAM
    fa[LOSS_NODE, 1] = -5 * GRAM
    coll = draw_lattice(ax, d, d.widths, loads=fa, label_bonds=True, cmap="coolwarm")
    m = float(np.abs(ours).max())
    coll.set_array(ours)
    coll.set_clim(-m, m)
    ax.annotate("forward 10 g", d.nodes[LOAD_NODE], xytext=(8, -30), textcoords="offset points", fontsize=8)
    ax.annotate("adjoint 5 g", d.nodes[LOSS_NODE], xytext=(-62, -30), textcoords="offset points", fontsize=8)
    fig.colorbar(coll, ax=ax, label="dL/dk = e e_adj (mm^2)", shrink=0.8)
    ax.set_title("In situ gradient on the lattice (bond ids in white)")
    fig.tight_layout()
    save_figure(fig, out, "lattice_gradient.png")


def render(results: dict[str, Any], out: Path) -> None:
    """results.md (``studies/templates/fig1_gradient.md``), results.json and the figures in ``out``."""
    started = time.time()
    for plot in (_plot_gradient_bars, _plot_fd, _plot_lattice):
        plot(out, results)
    values = {**_grad_sim_tables(results), **_fd_tables(results), **_numbers(results)}
    gs, pd = results["grad_sim_comparison"]["5 g adjoint"], results["paper_fd_definition"]
    verdicts = {
        "five_grams_reproduces": gs["max_dev_rel_to_largest"] < 6e-4,
        "ours_lower_at_largest": pd["ours"][-1] < pd["paper"][-1],
    }
    write_report(NAME, out, results, values, verdicts, started)


def main(argv: list[str] | None = None) -> int:
    return study_main(NAME, __doc__, compute, render, argv, quick_help="coarse FD sweep (seconds)")


if __name__ == "__main__":
    sys.exit(main())
