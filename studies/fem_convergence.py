"""Fidelity study 1: mesh convergence of elongations and gradients, P1 vs P2 (paper sample).

Case: the Figure 1 experiment (10 g at id 12, loss 1/2 (u_y(id 13) + 25 mm)^2).
Meshes: the geometry's uniform size h = thinnest thin end / 3 / refinement; P1 at
refinements 1, 2, 4 and P2 at 0.5, 1, 2; reference P2 at refinement 3.

Quantities: bond elongations (junction averages), the node-centre variant, the
exact discrete gradient w.r.t. per-bond stiffness factors (``dL/dtheta``, no
remeshing), the in situ estimate k'(w) e e_adj (nominal law) and the beam-aware
estimate (frame, calibrated axial law, junction rotations); plus the exact dL/dw
by finite differences with remeshing (delta = 0.05 mm) on two bonds.

Run: ``python studies/fem_convergence.py [--quick] [--out DIR]``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import matplotlib  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from fem_mnn.contract import (
    elongations,  # noqa: E402
    nominal_stiffness,  # noqa: E402
)
from fem_mnn.design import paper_sample  # noqa: E402
from fem_mnn.fem.calibration import calibrated_law  # noqa: E402
from fem_mnn.fem.linear import FemModel, FemOptions, fd_width_gradient, stiffness_factor_gradient  # noqa: E402
from fem_mnn.fidelity.compare import rel_l2  # noqa: E402
from fem_mnn.geometry.build import MeshOptions  # noqa: E402
from fem_mnn.io.paper_data import G  # noqa: E402
from fem_mnn.io.report import StudyReport  # noqa: E402
from fem_mnn.learn.losses import MSE  # noqa: E402
from fem_mnn.spring.frame import beam_gradient  # noqa: E402

FD_BONDS = (1, 13)


def log(msg: str) -> None:
    print(f"[fem_convergence {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def run(design, law, degree: int, refinement: float, F, loss, fd: bool) -> dict:
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


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=ROOT / "studies" / "results" / "fem_convergence")
    ap.add_argument("--quick", action="store_true", help="two meshes per degree, coarser reference, no FD")
    args = ap.parse_args(argv)
    rep = StudyReport("fem_convergence", "Mesh convergence: elongations and gradients, P1 vs P2", out_dir=args.out)
    design = paper_sample()
    law = calibrated_law(design)
    F = np.zeros((1, design.n_nodes, 2))
    F[0, 12, 1] = -10 * G * 1e-3
    T = np.full((1, design.n_nodes, 2), np.nan)
    T[0, 13, 1] = -25.0
    loss = MSE(T)

    if args.quick:
        plan = [(1, 1.0), (1, 2.0), (2, 0.5), (2, 1.0)]
        ref_plan = (2, 2.0)
    else:
        plan = [(1, 1.0), (1, 2.0), (1, 4.0), (2, 0.5), (2, 1.0), (2, 2.0)]
        ref_plan = (2, 3.0)
    log(f"reference P{ref_plan[0]} r{ref_plan[1]:g}")
    ref = run(design, law, *ref_plan, F, loss, fd=False)
    runs = []
    for deg, r in plan:
        log(f"P{deg} r{r:g}")
        runs.append(run(design, law, deg, r, F, loss, fd=not args.quick))

    keys = ("elong", "elong_centre", "grad_theta", "insitu_nominal", "beam_cal")
    rows = []
    for res in runs:
        rows.append(
            [f"P{res['degree']}", res["refinement"], res["h_mm"], res["n_dofs"], res["t_s"]]
            + [rel_l2(res[k], ref[k]) for k in keys]
            + [abs(res["loss"] / ref["loss"] - 1)]
        )
    rep.text(
        f"Reference: P{ref_plan[0]} at refinement {ref_plan[1]:g} (h = {ref['h_mm']:.3f} mm, {ref['n_dofs']} dofs). "
        "Errors are relative L2 norms over the 28 bonds against the reference. t = mesh + assemble + factorise + "
        "forward + adjoint + extraction (s, shared 2-core machine)."
    )
    rep.table(
        "Convergence against the reference",
        [
            "element",
            "refinement",
            "h (mm)",
            "dofs",
            "t (s)",
            "elongation",
            "elong. (centre)",
            "dL/dtheta",
            "in situ (nominal)",
            "beam-aware",
            "loss",
        ],
        rows,
    )
    if not args.quick:
        frows = []
        for res in runs:
            frows.append([f"P{res['degree']}", res["refinement"], *[res["fd"][b] for b in FD_BONDS]])
        rep.table(
            f"Exact dL/dw by FD with remeshing (delta 0.05 mm) on bonds {FD_BONDS} (N)",
            ["element", "refinement", *[f"bond {b}" for b in FD_BONDS]],
            frows,
        )

    fig, ax = plt.subplots(1, 2, figsize=(10, 4))
    for deg, mk in ((1, "o-"), (2, "s-")):
        sel = [r for r in runs if r["degree"] == deg]
        n = [r["n_dofs"] for r in sel]
        ax[0].loglog(n, [rel_l2(r["elong"], ref["elong"]) for r in sel], mk, label=f"P{deg} elongation")
        ax[0].loglog(
            n,
            [rel_l2(r["grad_theta"], ref["grad_theta"]) for r in sel],
            mk.replace("-", "--"),
            label=f"P{deg} dL/dtheta",
        )
        ax[1].loglog(
            [r["h_mm"] for r in sel],
            [rel_l2(r["beam_cal"], ref["beam_cal"]) for r in sel],
            mk,
            label=f"P{deg} beam-aware",
        )
        ax[1].loglog(
            [r["h_mm"] for r in sel],
            [rel_l2(r["insitu_nominal"], ref["insitu_nominal"]) for r in sel],
            mk.replace("-", ":"),
            label=f"P{deg} in situ nominal",
        )
    ax[0].set_xlabel("dofs")
    ax[0].set_ylabel("rel. error vs reference")
    ax[1].set_xlabel("h (mm)")
    ax[0].legend(fontsize=7)
    ax[1].legend(fontsize=7)
    fig.tight_layout()
    rep.figure(fig, "convergence.png", "Relative error against the reference mesh.")
    plt.close(fig)

    def js(r: dict) -> dict:
        return {k: (v.tolist() if isinstance(v, np.ndarray) else v) for k, v in r.items()}

    rep.data = {"reference": js(ref), "runs": [js(r) for r in runs], "fd_bonds": list(FD_BONDS)}
    rep.write()
    log(f"wrote {rep.out_dir}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
