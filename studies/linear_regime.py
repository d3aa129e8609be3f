"""Where the linear regime of the paper's sample ends.

Study on :func:`fem_mnn.design.paper_sample` (P2 plane stress, default mesh),
comparing the neo-Hookean large-deformation solution (:mod:`fem_mnn.fem.nonlinear`)
with the linear solver (:mod:`fem_mnn.fem`) on the same mesh, loads and clamp:

A. Forward load sweep, the Figure 1 gradient experiment scaled: a hanging weight of
   m = 0.25 ... 20 g (g = 9.8 m/s^2) at paper node 13 (id 12), loss
   L = (u_y,14 + 25 mm)^2 in SI (paper node 14 = id 13), adjoint load -dL/du in N.
   Relative deviation (2-norm over nodes / bonds) of node displacements, elongations
   (projected and true length change) and of the in situ gradient e * e_adj, with
   e_adj on the nonlinear tangent (exact adjoint of the nonlinear model) and by the
   two physical protocols (adjoint weight alone; adjoint weight added to the forward
   weight and the difference taken), each against the linear prediction. Loads at
   which each deviation first exceeds 1 % and 5 % (linear interpolation in m).
B. Adjoint-size sweep at the Figure 1 forward load (10 g at id 12): offset c of the
   loss L = (u_y,14 + c)^2 from 0.5 to 25 mm, as the paper's ``adjoint`` column;
   error of the physically measured in situ gradient against the exact (tangent)
   gradient of the nonlinear model, beside the paper's ``error_adj`` (read from the
   paper's data folder: ``--data``, else ``$FEM_MNN_PAPER_DATA``, else the shipped copy).
C. The paper's own load cases: deviation of the nonlinear from the linear model.

Run: ``python studies/linear_regime.py [--quick] [--data DIR] [--out DIR] [--refinement-check R]``;
``compute(quick, data_dir)`` returns the numbers, ``render(results, out)`` writes the report.
"""

from __future__ import annotations

# _common first: importing it pins the BLAS threads before numpy loads
from _common import figure, log, paper_data_dir, save_figure, study_main, table, write_report

# isort: split

import os

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):  # before numpy loads
    os.environ.setdefault(_v, "1")

import argparse
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from fem_mnn.design import paper_sample
from fem_mnn.io.paper_data import G, load_figure1
from fem_mnn.io.report import fmt
from fem_mnn.learn.losses import OffsetLoss

if TYPE_CHECKING:
    from fem_mnn.fem.nonlinear import NonlinearModel

NAME = "linear_regime"
FWD_NODE = 12  # paper node 13
OUT_NODE = 13  # paper node 14
MASSES_G = [0.25, 0.5, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0, 12.0, 14.0, 16.0, 18.0, 20.0]
OFFSETS_MM = [0.5, 1.0, 2.5, 5.0, 10.0, 15.0, 20.0, 25.0]
QUICK_MASSES_G = [1.0, 5.0, 10.0, 20.0]
QUICK_OFFSETS_MM = [1.0, 10.0, 25.0]


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b)))


def crossing(x: list[float], y: list[float], level: float) -> float | None:
    """First x where y crosses ``level`` (linear interpolation); None if it never does."""
    for k in range(len(x)):
        if y[k] > level:
            if k == 0:
                return float(x[0] * level / y[0])  # deviation ~ linear in the load below the first point
            x0, x1, y0, y1 = x[k - 1], x[k], y[k - 1], y[k]
            return float(x0 + (level - y0) * (x1 - x0) / (y1 - y0))
    return None


def sweep_forward(nl: NonlinearModel, masses: list[float], protocols: bool) -> dict[str, Any]:
    """Sweep A: deviation from linear of u, e, e_adj and the in situ gradient under growing hanging weights."""
    from fem_mnn.fem.nonlinear import relative_deviation

    d = nl.design
    unit = np.zeros((d.n_nodes, 2))
    unit[FWD_NODE, 1] = -G * 1e-3  # 1 g downward (N)
    op = nl.linear_operator()
    lin1 = op.solve(unit)
    loss = OffsetLoss(OUT_NODE, 25.0)
    rows = []
    path = nl.solve_path(unit, masses)
    for m, sol in zip(masses, path, strict=True):
        t0 = time.perf_counter()
        u_lin = m * lin1.u[0]
        e_lin = m * lin1.elongation[0]
        _, dl = loss(u_lin[None])
        adj_lin = op.solve(-dl[0])
        g_lin = e_lin * adj_lin.elongation[0]
        bp = nl.backprop(unit * m, loss, adjoint="tangent", state=sol)
        row = {
            "mass_g": m,
            "force_N": m * G * 1e-3,
            "u_max_mm": float(np.abs(sol.u).max()),
            "u_y_out_mm": float(sol.u[OUT_NODE, 1]),
            "adjoint_force_N": float(bp.adjoint_load[OUT_NODE, 1]),
            "newton_iterations": sol.newton_iterations,
            "dev_u": relative_deviation(sol.u, u_lin),
            "dev_e": relative_deviation(sol.elongation, e_lin),
            "dev_e_true": relative_deviation(sol.true_elongation, e_lin),
            "dev_e_adj_tangent": relative_deviation(bp.adjoint_elongation, adj_lin.elongation[0]),
            "dev_grad_tangent": relative_deviation(bp.grad_k, g_lin),
            "cos_grad_tangent": cosine(bp.grad_k, g_lin),
        }
        if protocols:
            sep = nl.backprop(unit * m, loss, adjoint="separate", state=sol)
            sup = nl.backprop(unit * m, loss, adjoint="superposed", state=sol)
            row["dev_grad_separate"] = relative_deviation(sep.grad_k, g_lin)
            row["dev_grad_superposed"] = relative_deviation(sup.grad_k, g_lin)
            row["err_separate_vs_tangent"] = relative_deviation(sep.grad_k, bp.grad_k)
            row["err_superposed_vs_tangent"] = relative_deviation(sup.grad_k, bp.grad_k)
        row["seconds"] = time.perf_counter() - t0
        rows.append(row)
        log(
            NAME,
            f"[A] {m:5.2f} g  dev_u {row['dev_u']:.4f}  dev_e {row['dev_e']:.4f}  dev_g {row['dev_grad_tangent']:.4f}",
        )
    return {"rows": rows, "linear_u_per_g": lin1.u[0].tolist(), "linear_e_per_g": lin1.elongation[0].tolist()}


def sweep_adjoint(nl: NonlinearModel, mass_g: float, offsets: list[float]) -> list[dict[str, Any]]:
    """Sweep B: error of the measured in situ gradients against the tangent gradient, per loss offset."""
    from fem_mnn.fem.nonlinear import relative_deviation

    d = nl.design
    F = np.zeros((d.n_nodes, 2))
    F[FWD_NODE, 1] = -G * 1e-3 * mass_g
    fwd = nl.solve(F)
    op = nl.linear_operator()
    lin = op.solve(F)
    tan = nl.tangent(fwd)
    rows = []
    for c in offsets:
        loss = OffsetLoss(OUT_NODE, c)
        _, dl = loss(fwd.u[None])
        f_adj = -dl[0]
        e_adj_t = tan.solve(f_adj).elongation[0]
        g_exact = fwd.elongation * e_adj_t
        sep = nl.backprop(F, loss, adjoint="separate", state=fwd)
        sup = nl.backprop(F, loss, adjoint="superposed", state=fwd)
        _, dl_lin = loss(lin.u)
        g_lin = lin.elongation[0] * op.solve(-dl_lin[0]).elongation[0]
        row = {
            "offset_mm": c,
            "adjoint_force_N": float(f_adj[OUT_NODE, 1]),
            "adjoint_mass_g": float(-f_adj[OUT_NODE, 1] / G * 1e3),
        }
        for name, g in (("separate", sep.grad_k), ("superposed", sup.grad_k), ("linear", g_lin)):
            row[f"rel_{name}"] = relative_deviation(g, g_exact)
            row[f"one_minus_cos_{name}"] = 1.0 - cosine(g, g_exact)
        rows.append(row)
        log(
            NAME,
            f"[B] c {c:5.1f} mm  rel_sup {row['rel_superposed']:.3e}  1-cos_sup {row['one_minus_cos_superposed']:.3e}",
        )
    tan.destroy()
    return rows


#: The paper's other load cases (ids 0-based; paper node n = id n - 1), hanging weights in g.
PAPER_CASES = [
    ("Fig. 2 behaviour: 5 g at node 11", {10: 5.0}),
    ("Fig. 3 regression: 12 g at node 11 (largest)", {10: 12.0}),
    ("Fig. 1 gradient: 10 g at node 13", {12: 10.0}),
    ("Fig. 1 + adjoint: 10 g at node 13 and 4.9 g at node 14", {12: 10.0, 13: 4.917}),
    ("Supplement: 20 g at node 13", {12: 20.0}),
    ("Fig. 4 Iris, every feature at its maximum: 5 g at nodes 14, 12, 13, 10", {13: 5.0, 11: 5.0, 12: 5.0, 9: 5.0}),
]


def paper_cases(nl: NonlinearModel) -> list[dict[str, Any]]:
    """Deviation from linear for the load cases of the paper's experiments (downward weights)."""
    from fem_mnn.fem.nonlinear import relative_deviation

    d = nl.design
    op = nl.linear_operator()
    rows = []
    for label, weights in PAPER_CASES:
        F = np.zeros((d.n_nodes, 2))
        for j, m in weights.items():
            F[j, 1] = -G * 1e-3 * m
        sol = nl.solve(F, steps=2)
        lin = op.solve(F)
        rows.append(
            {
                "case": label,
                "total_g": float(sum(weights.values())),
                "u_max_mm": float(np.abs(sol.u).max()),
                "dev_u": relative_deviation(sol.u, lin.u[0]),
                "dev_e": relative_deviation(sol.elongation, lin.elongation[0]),
                "dev_e_true": relative_deviation(sol.true_elongation, lin.elongation[0]),
            }
        )
        log(NAME, f"[C] {label}: dev_u {rows[-1]['dev_u']:.4f} dev_e {rows[-1]['dev_e']:.4f}")
    return rows


def mesh_check(masses: list[float], refinement: float) -> dict[str, Any]:
    """Deviations at the largest loads on a finer mesh (is the study mesh converged?)."""
    from fem_mnn.fem.linear import FemOptions
    from fem_mnn.fem.nonlinear import NonlinearModel, relative_deviation
    from fem_mnn.geometry.build import MeshOptions

    d = paper_sample()
    nl = NonlinearModel(d, FemOptions(mesh=MeshOptions(refinement=refinement)))
    unit = np.zeros((d.n_nodes, 2))
    unit[FWD_NODE, 1] = -G * 1e-3
    lin1 = nl.linear_operator().solve(unit)
    path = nl.solve_path(unit, masses)
    return {
        "refinement": refinement,
        "n_dofs": nl.linear_operator().n_dofs,
        "rows": [
            {
                "mass_g": m,
                "dev_u": relative_deviation(s.u, m * lin1.u[0]),
                "dev_e": relative_deviation(s.elongation, m * lin1.elongation[0]),
            }
            for m, s in zip(masses, path, strict=True)
        ],
    }


def _thresholds(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per quantity of sweep A: the load of 1 % and 5 % deviation, the deviation at 10 g and at the largest load."""
    ms = [r["mass_g"] for r in rows]
    series = dict(SERIES)
    if "dev_grad_separate" in rows[0]:
        series.update(PROTOCOL_SERIES)
    out = []
    for label, key in series.items():
        y = [r[key] for r in rows]
        out.append(
            {
                "quantity": label,
                "key": key,
                "load_1pct_g": crossing(ms, y, 0.01),
                "load_5pct_g": crossing(ms, y, 0.05),
                "dev_10g": y[ms.index(10.0)] if 10.0 in ms else None,
                "dev_max": y[-1],
            }
        )
    return out


def _paper_adjoint(fig1: Any, B: list[dict[str, Any]]) -> dict[str, Any]:
    """The paper's error_adj at our offsets and the log-log slopes of both against the offset."""
    off_p = np.asarray(fig1.adjoint_offset)
    err_p = np.asarray(fig1.adjoint_error)
    order = np.argsort(off_p)
    paper_at = np.interp([r["offset_mm"] for r in B], off_p[order], err_p[order])
    sel = off_p > 0.1
    offs = np.array([r["offset_mm"] for r in B])
    fits = {}
    for key in ("rel_superposed", "one_minus_cos_superposed", "rel_separate", "one_minus_cos_separate"):
        y = np.array([r[key] for r in B])
        ok = (offs >= 2.5) & (y > 0)
        fits[key] = float(np.polyfit(np.log(offs[ok]), np.log(y[ok]), 1)[0]) if ok.sum() >= 2 else None
    return {
        "paper_error_adj_at_offsets": paper_at,
        "paper_error_adj_loglog_slope": float(np.polyfit(np.log(off_p[sel]), np.log(err_p[sel]), 1)[0]),
        "paper_curve": {"offset_mm": off_p[sel], "error_adj": err_p[sel]},
        "fem_loglog_slopes": fits,
    }


def compute(quick: bool, data_dir: str | Path | None = None, refinement_check: float = 2.0) -> dict[str, Any]:
    """Sweeps A and B, the paper's load cases and (full mode) a finer-mesh check; no files.

    ``quick``: 4 loads and 3 offsets, no physical protocols in sweep A, no mesh check.
    ``refinement_check``: refinement of the mesh check (0: skip).
    """
    from fem_mnn.fem.nonlinear import NonlinearModel

    fig1 = load_figure1(paper_data_dir(data_dir))
    design = paper_sample()
    t0 = time.perf_counter()
    nl = NonlinearModel(design)
    n_dofs = nl.linear_operator().n_dofs
    A = sweep_forward(nl, QUICK_MASSES_G if quick else MASSES_G, protocols=not quick)
    B = sweep_adjoint(nl, 10.0, QUICK_OFFSETS_MM if quick else OFFSETS_MM)
    C = paper_cases(nl)
    mc = None
    if not quick and refinement_check > 0:
        log(NAME, f"mesh check at refinement {refinement_check:g}")
        mc = mesh_check([10.0, 20.0], refinement_check)
    return {
        "quick": quick,
        "design": {
            "name": design.name,
            "hash": design.hash(),
            "n_nodes": design.n_nodes,
            "n_bonds": design.n_bonds,
            "E": design.material.E,
            "nu": design.material.nu,
        },
        "design_hash": design.hash(),
        "n_dofs": n_dofs,
        "forward_node": FWD_NODE,
        "output_node": OUT_NODE,
        "g": G,
        "sweep_forward": A,
        "thresholds": _thresholds(A["rows"]),
        "sweep_adjoint": B,
        "paper_cases": C,
        **_paper_adjoint(fig1, B),
        "mesh_check": mc,
        "seconds": time.perf_counter() - t0,
    }


def headline(results: dict[str, Any]) -> dict[str, float]:
    """Deviations from linear at the Figure 1 load (10 g), the paper's cases, and the adjoint-size error at 25 mm."""
    rows = {r["mass_g"]: r for r in results["sweep_forward"]["rows"]}
    out = {f"10g_{k}": rows[10.0][k] for k in ("dev_u", "dev_e", "dev_grad_tangent")}
    out["20g_dev_u"] = rows[20.0]["dev_u"]
    C = results["paper_cases"]
    out["paper_cases_max_dev_u"] = max(r["dev_u"] for r in C)
    out["paper_cases_max_dev_e"] = max(r["dev_e"] for r in C)
    b = next(r for r in results["sweep_adjoint"] if r["offset_mm"] == 25.0)
    out["offset25_rel_superposed"] = b["rel_superposed"]
    out["offset25_one_minus_cos_superposed"] = b["one_minus_cos_superposed"]
    out["paper_error_adj_loglog_slope"] = results["paper_error_adj_loglog_slope"]
    for t in results["thresholds"]:
        if t["key"] in ("dev_u", "dev_e") and t["load_1pct_g"] is not None:
            out[f"{t['key']}_1pct_load_g"] = t["load_1pct_g"]
    return out


SERIES = {
    "node displacements": "dev_u",
    "elongations (projected)": "dev_e",
    "elongations (true length change)": "dev_e_true",
    "adjoint elongations (tangent)": "dev_e_adj_tangent",
    "in situ gradient e*e_adj (tangent adjoint)": "dev_grad_tangent",
}
PROTOCOL_SERIES = {
    "in situ gradient, adjoint weight alone": "dev_grad_separate",
    "in situ gradient, adjoint weight added": "dev_grad_superposed",
}


# ------------------------------------------------------------------ render


def _plot_sweep_forward(out: Path, r: dict[str, Any]) -> None:
    rows = r["sweep_forward"]["rows"]
    ms = [x["mass_g"] for x in rows]
    series = dict(SERIES)
    if "dev_grad_separate" in rows[0]:
        series.update(PROTOCOL_SERIES)
    fig = figure(6.4, 4.4)
    ax = fig.subplots()
    for label, key in series.items():
        ax.loglog(ms, [max(x[key], 1e-8) for x in rows], "o-", ms=3, label=label)
    ax.axhline(0.01, color="k", lw=0.6, ls=":")
    ax.axhline(0.05, color="k", lw=0.6, ls="--")
    ax.set_xlabel("hanging weight at node 13 (g)")
    ax.set_ylabel("relative deviation from linear")
    ax.legend(fontsize=7)
    ax.grid(True, which="both", lw=0.3)
    save_figure(fig, out, "deviation_vs_load.png")


def _plot_sweep_adjoint(out: Path, r: dict[str, Any]) -> None:
    B, pc, fits = r["sweep_adjoint"], r["paper_curve"], r["fem_loglog_slopes"]
    offs = [x["offset_mm"] for x in B]
    fig = figure(6.4, 4.4)
    ax = fig.subplots()
    slope_p = r["paper_error_adj_loglog_slope"]
    ax.loglog(pc["offset_mm"], pc["error_adj"], "k-", lw=2, label=f"paper error_adj (slope {slope_p:.2f})")
    for key, lab in (
        ("rel_superposed", "rel. error, adjoint added"),
        ("one_minus_cos_superposed", "1 - cos, adjoint added"),
        ("rel_separate", "rel. error, adjoint alone"),
        ("one_minus_cos_separate", "1 - cos, adjoint alone"),
    ):
        ax.loglog(offs, [max(x[key], 1e-12) for x in B], "o-", ms=3, label=f"{lab} (slope {fmt(fits[key], 3)})")
    ax.set_xlabel("loss offset c = adjoint size (mm)")
    ax.set_ylabel("error of the in situ gradient")
    ax.legend(fontsize=7)
    ax.grid(True, which="both", lw=0.3)
    save_figure(fig, out, "adjoint_error_vs_paper.png")


def render(results: dict[str, Any], out: Path) -> None:
    """results.md (``studies/templates/linear_regime.md``), results.json and the figures in ``out``."""
    started = time.time()
    _plot_sweep_forward(out, results)
    _plot_sweep_adjoint(out, results)
    values = {**_tables(results), **_numbers(results)}
    rows, C, B = results["sweep_forward"]["rows"], results["paper_cases"], results["sweep_adjoint"]
    f1 = next((x for x in rows if x["mass_g"] == 10.0), rows[-1])
    verdicts = {
        "has_protocols": "dev_grad_separate" in rows[0],
        "has_mesh_check": results["mesh_check"] is not None,
        "outside_1pct": min(x["dev_u"] for x in C) > 0.01,
        "beyond_5pct": max(x["dev_e"] for x in C) > 0.05,
        "adjoint_smaller": B[-1]["rel_superposed"] < f1["dev_grad_tangent"],
    }
    write_report(NAME, out, results, values, verdicts, started)


def _tables(r: dict[str, Any]) -> dict[str, str]:
    rows = r["sweep_forward"]["rows"]
    last = rows[-1]["mass_g"]
    at = lambda x: f"> {last:g}" if x is None else x  # noqa: E731
    thresholds = [
        [t["quantity"], at(t["load_1pct_g"]), at(t["load_5pct_g"]), t["dev_10g"], t["dev_max"]] for t in r["thresholds"]
    ]
    keys = ["mass_g", "u_max_mm", "u_y_out_mm", "adjoint_force_N", "dev_u", "dev_e", "dev_e_true"]
    keys += ["dev_e_adj_tangent", "dev_grad_tangent", "cos_grad_tangent", "newton_iterations"]
    pkeys = ["mass_g", "err_separate_vs_tangent", "err_superposed_vs_tangent", "dev_grad_separate"]
    pkeys += ["dev_grad_superposed"]
    bkeys = ["offset_mm", "adjoint_mass_g", "rel_superposed", "one_minus_cos_superposed", "rel_separate"]
    bkeys += ["one_minus_cos_separate", "rel_linear"]
    adj = [
        [x[k] for k in bkeys] + [p] for x, p in zip(r["sweep_adjoint"], r["paper_error_adj_at_offsets"], strict=True)
    ]
    mc, by_mass = r["mesh_check"], {x["mass_g"]: x for x in rows}
    mesh = [
        [m["mass_g"], by_mass[m["mass_g"]]["dev_u"], m["dev_u"], by_mass[m["mass_g"]]["dev_e"], m["dev_e"]]
        for m in (mc["rows"] if mc else [])
    ]
    cases = [
        [x["case"], x["total_g"], x["u_max_mm"], x["dev_u"], x["dev_e"], x["dev_e_true"]] for x in r["paper_cases"]
    ]
    return {
        "table_thresholds": table(
            ["quantity", "1 % at (g)", "5 % at (g)", "deviation at 10 g", f"deviation at {last:g} g"], thresholds
        ),
        "table_sweep": table(
            ["m (g)", "max abs u (mm)", "u_y out (mm)", "f_adj (N)", "dev u", "dev e", "dev e true", "dev e_adj"]
            + ["dev grad", "cos grad", "Newton its"],
            [[x[k] for k in keys] for x in rows],
        ),
        "table_protocols": table(
            ["m (g)", "adjoint alone vs tangent", "adjoint added vs tangent", "adjoint alone vs linear"]
            + ["adjoint added vs linear"],
            [[x[k] for k in pkeys] for x in rows] if "dev_grad_separate" in rows[0] else [],
        ),
        "table_paper_cases": table(["case", "total (g)", "max abs u (mm)", "dev u", "dev e", "dev e true"], cases),
        "table_sweep_adjoint": table(
            ["offset c (mm)", "adjoint (g)", "rel, added", "1-cos, added", "rel, alone", "1-cos, alone"]
            + ["rel, linear model", "paper error_adj"],
            adj,
        ),
        "table_mesh_check": table(["m (g)", "dev u (study)", "dev u (fine)", "dev e (study)", "dev e (fine)"], mesh),
    }


def _numbers(r: dict[str, Any]) -> dict[str, Any]:
    d, rows, B, C, mc = r["design"], r["sweep_forward"]["rows"], r["sweep_adjoint"], r["paper_cases"], r["mesh_check"]
    f1 = next((x for x in rows if x["mass_g"] == 10.0), rows[-1])
    worst = max(C, key=lambda x: x["dev_e"])
    return {
        "n_nodes": d["n_nodes"],
        "n_bonds": d["n_bonds"],
        "E": d["E"],
        "nu": d["nu"],
        "n_dofs": r["n_dofs"],
        "mesh_refinement": mc and mc["refinement"],
        "mesh_dofs": mc and mc["n_dofs"],
        "f1_mass": f1["mass_g"],
        "f1_dev_u": 100 * f1["dev_u"],
        "f1_dev_e": 100 * f1["dev_e"],
        "f1_dev_grad": 100 * f1["dev_grad_tangent"],
        "cases_dev_u_lo": 100 * min(x["dev_u"] for x in C),
        "cases_dev_u_hi": 100 * max(x["dev_u"] for x in C),
        "cases_dev_e_lo": 100 * min(x["dev_e"] for x in C),
        "cases_dev_e_hi": 100 * worst["dev_e"],
        "worst_case": worst["case"],
        "adj_rel": 100 * B[-1]["rel_superposed"],
        "adj_cos": B[-1]["one_minus_cos_superposed"],
        "adj_offset": B[-1]["offset_mm"],
        "paper_error_adj": r["paper_error_adj_at_offsets"][-1],
    }


def _options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--refinement-check", type=float, default=2.0, help="refinement of the full run's mesh check (0: skip)"
    )


def main(argv: list[str] | None = None) -> int:
    return study_main(
        NAME, __doc__, compute, render, argv, "4 loads, 3 offsets, no protocols, no mesh check", extra=_options
    )


if __name__ == "__main__":
    sys.exit(main())
