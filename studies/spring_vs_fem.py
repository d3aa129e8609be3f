"""Fidelity study 2: spring (nominal, calibrated) and frame models vs FEM elongations.

Designs: the paper's sample (uniform 2 mm), random designs (widths uniform in the
printable 1.5-2.5 mm), and a slenderness sweep (uniform widths 1-4 mm on the same
lattice, printable range widened in a copy of the design). Load cases: the Figure 1
forward load (10 g at paper node 13 = id 12) and the Figure 2 input (5 g at paper
node 11 = id 10). FEM: P2 plane stress, default mesh, node displacement = junction
average (the reference); also the node-centre value.

Models against FEM: ``spring`` (E t w / L), ``spring-cal`` (k(w) calibrated,
:mod:`fem_mnn.fem.calibration`), ``frame`` (stepped beams, axial law from beam theory),
``frame-cal`` (stepped beams, calibrated axial law).

Run: ``python studies/spring_vs_fem.py [--quick] [--out DIR]``; ``compute(quick)`` returns the
numbers, ``render(results, out)`` writes the report.
"""

from __future__ import annotations

# _common first: importing it pins the BLAS threads before numpy loads
from _common import figure, log, save_figure, study_main, table, write_report

# isort: split

import os

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):  # before numpy loads
    os.environ.setdefault(_v, "1")

import dataclasses
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from fem_mnn.contract import elongations
from fem_mnn.design import paper_sample
from fem_mnn.design.records import Design
from fem_mnn.fidelity.compare import rel_l2
from fem_mnn.io.paper_data import G
from fem_mnn.spring.frame import FrameModel
from fem_mnn.spring.network import SpringModel

NAME = "spring_vs_fem"
GRAM = G * 1e-3
MODELS = ("spring", "spring-cal", "frame", "frame-cal")
OUTPUT_NODES = [12, 13]
SEED = 2024


def paper_loads(n_nodes: int) -> np.ndarray:
    """The two load cases: 10 g at id 12 (Figure 1 forward) and 5 g at id 10 (Figure 2 input)."""
    F = np.zeros((2, n_nodes, 2))
    F[0, 12, 1] = -10 * GRAM
    F[1, 10, 1] = -5 * GRAM
    return F


def _fem(design: Design, F: np.ndarray) -> dict[str, Any]:
    """FEM elongations (junction average and node centre) and displacements."""
    from fem_mnn.fem.linear import FemModel, FemOptions

    op = FemModel(design, FemOptions()).operator()
    s = op.solve_fields(F)
    centre = np.stack([op.extractor.centre_values(f)[:, :2] for f in s.fields])
    out = {"e": s.elongation, "u": s.u, "e_centre": elongations(centre, design), "n_dofs": int(op.n_dofs)}
    op.destroy()
    return out


def _model_row(sol: Any, fem: dict[str, Any]) -> dict[str, float]:
    """One model's errors against FEM."""
    e_fem, u_fem = fem["e"], fem["u"]
    p = sol.u.ravel()
    scale = float(p @ u_fem.ravel() / (p @ p))
    return {
        "elong_rel_l2": rel_l2(sol.elongation, e_fem),
        "u_rel_l2": rel_l2(sol.u, u_fem),
        "u_best_scale": scale,
        "u_shape_rel_l2": rel_l2(scale * sol.u, u_fem),
        "u_out_ratio": float(np.mean(sol.u[:, OUTPUT_NODES, 1] / u_fem[:, OUTPUT_NODES, 1])),
    }


def run_design(design: Design, law: Any, F: np.ndarray) -> dict[str, Any]:
    """FEM and every model on one design; errors relative to FEM (junction average)."""
    fem = _fem(design, F)
    models = {
        "spring": SpringModel(design),
        "spring-cal": SpringModel(design, law),
        "frame": FrameModel(design),
        "frame-cal": FrameModel(design, law=law),
    }
    sols = {name: m.operator().solve(F) for name, m in models.items()}
    row: dict[str, Any] = {
        "n_dofs": fem["n_dofs"],
        "fem_centre_vs_average_elong": rel_l2(fem["e_centre"], fem["e"]),
    }
    row.update({name: _model_row(sol, fem) for name, sol in sols.items()})
    row["elongations"] = {"fem": fem["e"][0], **{n: s.elongation[0] for n, s in sols.items()}}
    return row


def _designs(base: Design, quick: bool) -> list[tuple[str, Design]]:
    """The paper sample, random printable designs and the uniform-width sweep."""
    designs = [("paper 2 mm", base)]
    rng = np.random.default_rng(SEED)
    for k in range(1 if quick else 3):
        w = rng.uniform(base.geometry.width_min, base.geometry.width_max, base.n_bonds)
        designs.append((f"random {k}", base.with_widths(w)))
    wide = dataclasses.replace(base, geometry=dataclasses.replace(base.geometry, width_min=0.8, width_max=4.4))
    for w in sweep_widths(quick):
        designs.append((f"uniform {w:g}", dataclasses.replace(wide, widths=np.full(base.n_bonds, w))))
    return designs


def sweep_widths(quick: bool) -> list[float]:
    return [1.5, 2.5] if quick else [1.0, 1.5, 2.0, 2.5, 3.0, 4.0]


def compute(quick: bool, data_dir: str | Path | None = None) -> dict[str, Any]:
    """FEM and the four models on every design (no files); ``quick``: one random design, two sweep widths.

    ``data_dir`` is not used (the study reads none of the paper's data); it keeps the studies' signature.
    """
    from fem_mnn.fem.calibration import calibrated_law

    base = paper_sample()
    law = calibrated_law(base)
    F = paper_loads(base.n_nodes)
    results = {}
    for name, d in _designs(base, quick):
        log(NAME, name)
        results[name] = run_design(d, law, F)
    sw = sweep_widths(quick)
    return {
        "quick": quick,
        "results": results,
        "sweep_widths": sw,
        "L": float(base.lengths[0]),
        "k_cal_over_nominal": [float(law.ratio_to_nominal(base, np.full(base.n_bonds, w))[0]) for w in sw],
    }


def headline(results: dict[str, Any]) -> dict[str, float]:
    """Elongation errors against FEM of every model on the paper sample, and the best displacement scales."""
    r = results["results"]["paper 2 mm"]
    out = {f"paper_{m}_elong_rel_l2": r[m]["elong_rel_l2"] for m in MODELS}
    out["paper_spring_u_best_scale"] = r["spring"]["u_best_scale"]
    out["paper_frame-cal_u_best_scale"] = r["frame-cal"]["u_best_scale"]
    out["paper_fem_centre_vs_average_elong"] = r["fem_centre_vs_average_elong"]
    return out


def _plot_slenderness(out: Path, r: dict[str, Any]) -> None:
    sw = r["sweep_widths"]
    sweep = [r["results"][f"uniform {w:g}"] for w in sw]
    fig = figure(10, 4)
    ax = fig.subplots(1, 2)
    x = np.array(sw) / r["L"]
    for m in MODELS:
        ax[0].plot(x, [s[m]["elong_rel_l2"] for s in sweep], "o-", label=m)
        ax[1].plot(x, [s[m]["u_best_scale"] for s in sweep], "o-", label=m)
    ax[0].set_xlabel("w / L")
    ax[0].set_ylabel("elongation rel. L2 error vs FEM")
    ax[1].set_xlabel("w / L")
    ax[1].set_ylabel("best scale s (s * model = FEM)")
    ax[0].legend()
    ax[1].axhline(1.0, color="k", lw=0.6)
    fig.tight_layout()
    save_figure(fig, out, "error_vs_slenderness.png")


def _plot_parity(out: Path, r: dict[str, Any]) -> None:
    e = r["results"]["paper 2 mm"]["elongations"]
    fig = figure(5, 5)
    ax = fig.subplots()
    for m in MODELS:
        ax.scatter(e["fem"], e[m], s=14, label=m)
    lim = max(float(np.abs(np.asarray(e["fem"])).max()), 1e-9) * 1.1
    ax.plot([-lim, lim], [-lim, lim], "k-", lw=0.6)
    ax.set_xlabel("FEM elongation (mm)")
    ax.set_ylabel("model elongation (mm)")
    ax.set_title("paper sample, 10 g at id 12")
    ax.legend()
    save_figure(fig, out, "parity_paper.png")


def render(results: dict[str, Any], out: Path) -> None:
    """results.md (``studies/templates/spring_vs_fem.md``), results.json and the figures in ``out``."""
    started = time.time()
    _plot_slenderness(out, results)
    _plot_parity(out, results)
    res, L, sw = results["results"], results["L"], results["sweep_widths"]
    rows = [
        [name, x["n_dofs"], *(x[m]["elong_rel_l2"] for m in MODELS)]
        + [x["spring"]["u_out_ratio"], x["spring-cal"]["u_out_ratio"], x["fem_centre_vs_average_elong"]]
        for name, x in res.items()
    ]
    scale = [
        [name] + [v for m in MODELS for v in (x[m]["u_best_scale"], x[m]["u_shape_rel_l2"])] for name, x in res.items()
    ]
    # w = 2R: beams overlap outside the hubs (R = the junction radius of the paper sample)
    overlap = 2 * paper_sample().geometry.junction_radius
    has_overlap = overlap in sw and sw.index(overlap) > 0
    prev = sw[sw.index(overlap) - 1] if has_overlap else None
    changes = (
        ", ".join(
            f"{m} {_f(res[f'uniform {prev:g}'][m]['elong_rel_l2'])} -> {_f(res[f'uniform {overlap:g}'][m]['elong_rel_l2'])}"
            for m in MODELS
        )
        if has_overlap
        else None
    )
    values = {
        "overlap_w": overlap,
        "previous_w": prev,
        "overlap_changes": changes,
        "table_elongation": table(
            ["design", "FEM dofs", *[f"{m} e err" for m in MODELS], "spring u ratio", "spring-cal u ratio"]
            + ["centre vs avg"],
            rows,
        ),
        "table_scale": table(["design"] + [f"{m} {q}" for m in MODELS for q in ("scale", "shape err")], scale),
        "table_calibration": table(
            ["w (mm)", "w/L", "k_cal / k_nom"],
            [[w, w / L, k] for w, k in zip(sw, results["k_cal_over_nominal"], strict=True)],
        ),
    }
    write_report(NAME, out, results, values, {"has_overlap": has_overlap}, started)


def _f(x: float) -> str:
    return f"{x:.3g}"


def main(argv: list[str] | None = None) -> int:
    return study_main(
        NAME, __doc__, compute, render, argv, "one random design, two sweep widths (about a minute)", takes_data=False
    )


if __name__ == "__main__":
    sys.exit(main())
