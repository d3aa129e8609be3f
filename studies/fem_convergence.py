"""Fidelity study 1: mesh convergence of elongations and gradients, P1 vs P2 (paper sample).

Case: the Figure 1 experiment (10 g at id 12, loss 1/2 (u_y(id 13) + 25 mm)^2).
Meshes: the geometry's uniform size h = thinnest thin end / 3 / refinement; P1 at
refinements 1, 2, 4 and P2 at 0.5, 1, 2; reference P2 at refinement 3.

Quantities: bond elongations (junction averages), the node-centre variant, the
exact discrete gradient w.r.t. per-bond stiffness factors (``dL/dtheta``, no
remeshing), the in situ estimate k'(w) e e_adj (nominal law) and the beam-aware
estimate (frame, calibrated axial law, junction rotations); plus the exact dL/dw
by finite differences with remeshing (delta = 0.05 mm) on two bonds.

Observed orders: p = log(e_1 / e_2) / log(h_1 / h_2) between consecutive meshes of one
degree, e the relative error against the reference.

Run: ``python studies/fem_convergence.py [--quick] [--out DIR]``; ``compute(quick)`` returns the
numbers, ``render(results, out)`` writes the report.
"""

from __future__ import annotations

# _common first: importing it pins the BLAS threads before numpy loads
from _common import figure, save_figure, study_main, table, write_report

# isort: split

import os

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):  # before numpy loads
    os.environ.setdefault(_v, "1")

import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from fem_mnn.contract import elongations, nominal_stiffness
from fem_mnn.design import paper_sample
from fem_mnn.fidelity.compare import rel_l2
from fem_mnn.io.paper_data import G
from fem_mnn.learn.losses import MSE

NAME = "fem_convergence"
FD_BONDS = (1, 13)
KEYS = ("elong", "elong_centre", "grad_theta", "insitu_nominal", "beam_cal")
QUICK_PLAN = ([(1, 1.0), (1, 2.0), (2, 0.5), (2, 1.0)], (2, 2.0))
FULL_PLAN = ([(1, 1.0), (1, 2.0), (1, 4.0), (2, 0.5), (2, 1.0), (2, 2.0)], (2, 3.0))


def log(msg: str) -> None:
    print(f"[fem_convergence {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def solve_case(design, law, degree: int, refinement: float, F, loss, fd: bool) -> dict:
    from fem_mnn.fem.linear import FemModel, FemOptions, fd_width_gradient, stiffness_factor_gradient
    from fem_mnn.geometry.build import MeshOptions
    from fem_mnn.spring.frame import beam_gradient

    opts = FemOptions(degree=degree, mesh=MeshOptions(refinement=refinement))
    model = FemModel(design, opts)
    t0 = time.perf_counter()
    op = model.operator()
    th = stiffness_factor_gradient(op, F, loss)
    t_solve = time.perf_counter() - t0
    fw, ad = th.forward, th.adjoint
    centre = np.stack([op.extractor.centre_values(f)[:, :2] for f in fw.fields])
    w = design.widths
    _, dk = nominal_stiffness(design, w)
    res = {
        "degree": degree,
        "refinement": refinement,
        "h_mm": float(op.mesh_info.mesh_size),
        "n_cells": int(op.mesh_info.n_cells),
        "n_dofs": int(op.n_dofs),
        "t_s": t_solve,
        "loss": th.loss,
        "elong": fw.elongation[0],
        "elong_centre": elongations(centre, design)[0],
        "grad_theta": th.bond,
        "insitu_nominal": dk * (fw.elongation * ad.elongation)[0],
        "beam_cal": beam_gradient(design, w, fw.u, fw.rotation, ad.u, ad.rotation, law=law).total,
    }
    op.destroy()
    if fd:
        res["fd"] = fd_width_gradient(model, F, loss, delta=0.05, bonds=FD_BONDS)
    return res


def _jsonable(r: dict[str, Any]) -> dict[str, Any]:
    return {k: (v.tolist() if isinstance(v, np.ndarray) else v) for k, v in r.items()}


def _errors(runs: list[dict[str, Any]], ref: dict[str, Any]) -> None:
    """Add each run's relative L2 errors against the reference (in place)."""
    for r in runs:
        r["errors"] = {k: rel_l2(np.asarray(r[k]), np.asarray(ref[k])) for k in KEYS}
        r["errors"]["loss"] = abs(r["loss"] / ref["loss"] - 1)


def _orders(runs: list[dict[str, Any]]) -> dict[str, dict[str, list[float]]]:
    """Observed orders in h between consecutive meshes of each degree, per quantity."""
    out: dict[str, dict[str, list[float]]] = {}
    for deg in sorted({r["degree"] for r in runs}):
        sel = sorted((r for r in runs if r["degree"] == deg), key=lambda r: -r["h_mm"])
        out[f"P{deg}"] = {
            k: [
                float(np.log(a["errors"][k] / b["errors"][k]) / np.log(a["h_mm"] / b["h_mm"]))
                for a, b in zip(sel[:-1], sel[1:], strict=True)
            ]
            for k in (*KEYS, "loss")
        }
    return out


def compute(quick: bool, data_dir: str | Path | None = None) -> dict[str, Any]:
    """Solve the Figure 1 case on every mesh of the plan (no files); ``quick``: two meshes per degree, no FD.

    ``data_dir`` is not used (the study reads none of the paper's data); it keeps the studies' signature.
    """
    from fem_mnn.fem.calibration import calibrated_law

    design = paper_sample()
    law = calibrated_law(design)
    F = np.zeros((1, design.n_nodes, 2))
    F[0, 12, 1] = -10 * G * 1e-3
    T = np.full((1, design.n_nodes, 2), np.nan)
    T[0, 13, 1] = -25.0
    loss = MSE(T)
    plan, ref_plan = QUICK_PLAN if quick else FULL_PLAN
    log(f"reference P{ref_plan[0]} r{ref_plan[1]:g}")
    ref = _jsonable(solve_case(design, law, *ref_plan, F, loss, fd=False))
    runs = []
    for deg, r in plan:
        log(f"P{deg} r{r:g}")
        runs.append(_jsonable(solve_case(design, law, deg, r, F, loss, fd=not quick)))
    _errors(runs, ref)
    return {"quick": quick, "reference": ref, "runs": runs, "orders": _orders(runs), "fd_bonds": list(FD_BONDS)}


def headline(results: dict[str, Any]) -> dict[str, float]:
    """Observed orders (finest pair) of the elongations and of dL/dtheta for P1 and P2, and the finest errors."""
    out = {}
    for el, o in results["orders"].items():
        for k in ("elong", "grad_theta"):
            out[f"{el}_{k}_order"] = o[k][-1]
    for r in results["runs"]:
        out[f"P{r['degree']}_r{r['refinement']:g}_elong_error"] = r["errors"]["elong"]
    return out


def _plot(out: Path, r: dict[str, Any]) -> None:
    fig = figure(10, 4)
    ax = fig.subplots(1, 2)
    for deg, mk in ((1, "o-"), (2, "s-")):
        sel = [x for x in r["runs"] if x["degree"] == deg]
        n = [x["n_dofs"] for x in sel]
        h = [x["h_mm"] for x in sel]
        ax[0].loglog(n, [x["errors"]["elong"] for x in sel], mk, label=f"P{deg} elongation")
        ax[0].loglog(n, [x["errors"]["grad_theta"] for x in sel], mk.replace("-", "--"), label=f"P{deg} dL/dtheta")
        ax[1].loglog(h, [x["errors"]["beam_cal"] for x in sel], mk, label=f"P{deg} beam-aware")
        ax[1].loglog(
            h, [x["errors"]["insitu_nominal"] for x in sel], mk.replace("-", ":"), label=f"P{deg} in situ nominal"
        )
    ax[0].set_xlabel("dofs")
    ax[0].set_ylabel("rel. error vs reference")
    ax[1].set_xlabel("h (mm)")
    ax[0].legend(fontsize=7)
    ax[1].legend(fontsize=7)
    fig.tight_layout()
    save_figure(fig, out, "convergence.png")


def render(results: dict[str, Any], out: Path) -> None:
    """results.md (``studies/templates/fem_convergence.md``), results.json and the figure in ``out``."""
    started = time.time()
    _plot(out, results)
    ref, runs = results["reference"], results["runs"]
    conv = [
        [f"P{x['degree']}", x["refinement"], x["h_mm"], x["n_dofs"], x["t_s"]]
        + [x["errors"][k] for k in (*KEYS, "loss")]
        for x in runs
    ]
    orders = [
        [el, i + 1] + [o[k][i] for k in (*KEYS, "loss")]
        for el, o in results["orders"].items()
        for i in range(len(o["elong"]))
    ]
    bonds = results["fd_bonds"]
    fd = [
        [f"P{x['degree']}", x["refinement"], *[x["fd"][str(b)] if str(b) in x["fd"] else x["fd"][b] for b in bonds]]
        for x in runs
        if not results["quick"]
    ]
    errors = ["elongation", "elong. (centre)", "dL/dtheta", "in situ (nominal)", "beam-aware", "loss"]
    values = {
        "ref_degree": ref["degree"],
        "ref_refinement": ref["refinement"],
        "ref_h": ref["h_mm"],
        "ref_dofs": ref["n_dofs"],
        "table_convergence": table(["element", "refinement", "h (mm)", "dofs", "t (s)", *errors], conv),
        "table_orders": table(["element", "pair", *errors], orders),
        "fd_bonds": tuple(bonds),
        "table_fd": table(["element", "refinement", *[f"bond {b}" for b in bonds]], fd),
    }
    write_report(NAME, out, results, values, {"has_fd": not results["quick"]}, started)


def main(argv: list[str] | None = None) -> int:
    return study_main(
        NAME, __doc__, compute, render, argv, "two meshes per degree, coarser reference, no FD", takes_data=False
    )


if __name__ == "__main__":
    sys.exit(main())
