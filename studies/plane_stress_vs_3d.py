"""Plane stress vs 3D solid on the paper's sample and one trained design (issue 11).

The default FE model is 2D plane stress with the thickness t = 2 mm, though the beams are as thick
as they are wide (t = w = 2 mm). Here the same lattice is solved as a 3D solid (tetrahedra, the
extruded geometry, clamped junction cylinders, loads as body forces over junction cylinders,
junction-volume averages), and compared with plane stress:

* outputs: u_y of ids 12, 13 under 5 g at id 10 (Figure 2's load case);
* elongations of all 28 bonds under 10 g at id 12 (Figure 1's forward case);
* the exact width gradient of the main job's loss (1/2 (u_y13 + 25 mm)^2 under 10 g at id 12):
  the adjoint shape derivative (``fem_mnn.fem.shape``) in 2D and in 3D, the 3D one checked against
  central finite differences with remeshing (delta 0.2 mm) on two bonds (full mode).

Designs: the paper's sample (uniform 2 mm) and the behaviour cross-entropy design trained on springs
with the authors' recipe (the Figure 2 u2 network, widths on the bounds 1.5 / 2.5 mm).
Mesh convergence (paper sample): each model at its default resolution and one refinement; the
resolution used is the coarsest whose outputs change by < 1 % under one more refinement.

Run: ``python studies/plane_stress_vs_3d.py [--quick] [--out DIR]``.
"""

from __future__ import annotations

import os

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):  # before numpy loads
    os.environ.setdefault(_v, "1")

import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
for _p in (str(ROOT), str(ROOT / "studies")):
    if _p not in sys.path:
        sys.path.insert(0, _p)

from _common import figure, log, save_figure, study_main, table, write_report  # noqa: E402

from fem_mnn.core.metrics import cosine  # noqa: E402
from fem_mnn.design import paper_sample  # noqa: E402
from fem_mnn.learn import paper_config, train  # noqa: E402
from fem_mnn.learn.losses import MSE  # noqa: E402
from fem_mnn.learn.tasks import behaviour_cross_entropy, gram_force  # noqa: E402
from fem_mnn.spring.network import SpringModel  # noqa: E402

NAME = "plane_stress_vs_3d"
FD_BONDS = (1, 13)
FD_DELTA = 0.2


def levels(quick: bool) -> dict[str, list[dict[str, Any]]]:
    """Resolutions per model: the first is the one used, the second its refinement (full mode)."""
    if quick:
        return {
            "2d": [{"degree": 1, "elements_across": 2, "refinement": 1.0}],
            "3d": [{"degree": 1, "elements_across": 1, "refinement": 1.0}],
        }
    return {
        "2d": [
            {"degree": 2, "elements_across": 3, "refinement": 1.0},
            {"degree": 2, "elements_across": 3, "refinement": 2.0},
        ],
        "3d": [
            {"degree": 2, "elements_across": 1, "refinement": 1.0},
            {"degree": 2, "elements_across": 2, "refinement": 1.0},
        ],
    }


def cases(design: Any) -> dict[str, np.ndarray]:
    n = design.n_nodes
    f2 = np.zeros((1, n, 2))
    f2[0, 10, 1] = -gram_force(5.0)
    f1 = np.zeros((1, n, 2))
    f1[0, 12, 1] = -gram_force(10.0)
    t1 = np.full((1, n, 2), np.nan)
    t1[0, 13, 1] = -25.0
    return {"fig2": f2, "fig1": f1, "target": t1}


def solve(design: Any, dim: int, lev: dict[str, Any], gradient: bool, fd: bool) -> dict[str, Any]:
    from mpi4py import MPI

    from fem_mnn.fem.linear import FemModel, FemOptions, fd_width_gradient
    from fem_mnn.fem.shape import shape_width_gradient
    from fem_mnn.geometry.build import MeshOptions

    mo = MeshOptions(dim=dim, elements_across=lev["elements_across"], refinement=lev["refinement"])
    model = FemModel(design, FemOptions(dim=dim, degree=lev["degree"], mesh=mo), MPI.COMM_SELF)
    c = cases(design)
    t0 = time.perf_counter()
    op = model.operator()
    sol = op.solve(np.concatenate([c["fig2"], c["fig1"]]))
    out: dict[str, Any] = {
        "dim": dim,
        **lev,
        "n_dofs": int(op.n_dofs),
        "outputs": sol.u[0, [12, 13], 1].tolist(),
        "elongation": sol.elongation[1].tolist(),
        "u_fig1": sol.u[1].tolist(),
    }
    loss = MSE(c["target"])
    out["loss"] = float(loss(sol.u[1:2])[0][0])
    out["solve_s"] = time.perf_counter() - t0
    if gradient:
        t0 = time.perf_counter()
        out["grad_w"] = shape_width_gradient(op, c["fig1"], loss).grad_w.tolist()
        out["grad_s"] = time.perf_counter() - t0
    if fd:
        t0 = time.perf_counter()
        g = fd_width_gradient(model, c["fig1"], loss, delta=FD_DELTA, bonds=list(FD_BONDS))
        out["grad_fd"] = {str(b): float(g[b]) for b in FD_BONDS}
        out["fd_s"] = time.perf_counter() - t0
    op.destroy()
    return out


def compute(quick: bool, data_dir: str | Path | None = None) -> dict[str, Any]:
    """All numbers (no files). ``quick``: P1 in 2D and 3D, no refinement, no finite differences."""
    base = paper_sample()
    res = train(
        SpringModel(base),
        behaviour_cross_entropy(base),
        paper_config("behaviour-ce", paper_gradient=True, record_widths=False),
    )
    designs = {
        "paper sample (uniform 2 mm)": base,
        "trained (behaviour-ce u2, spring recipe)": base.with_widths(res.widths),
    }
    lv = levels(quick)
    runs = []
    for dname, d in designs.items():
        first = dname.startswith("paper")
        for key, dim in (("2d", 2), ("3d", 3)):
            for k, lev in enumerate(lv[key]):
                if k > 0 and not first:
                    continue  # convergence on the paper sample only
                log(NAME, f"{dname}: {key} {lev}")
                r = solve(d, dim, lev, gradient=(k == 0), fd=(not quick and dim == 3 and k == 0 and first))
                r["design"] = dname
                r["level"] = k
                runs.append(r)
    return {
        "quick": quick,
        "levels": lv,
        "trained_widths": res.widths.tolist(),
        "runs": runs,
        "comparison": compare(runs),
    }


def _pick(runs, design, dim, level):
    return next(r for r in runs if r["design"] == design and r["dim"] == dim and r["level"] == level)


def compare(runs: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {"convergence": {}, "designs": {}}
    for dim in (2, 3):
        sel = [r for r in runs if r["dim"] == dim and r["design"].startswith("paper")]
        if len(sel) > 1:
            a, b = np.array(sel[0]["outputs"]), np.array(sel[1]["outputs"])
            ea, eb = np.array(sel[0]["elongation"]), np.array(sel[1]["elongation"])
            out["convergence"][f"{dim}d"] = {
                "output_change": float(np.max(np.abs(a / b - 1))),
                "elongation_change": float(np.linalg.norm(ea - eb) / np.linalg.norm(eb)),
                "dofs": [sel[0]["n_dofs"], sel[1]["n_dofs"]],
            }
    for design in dict.fromkeys(r["design"] for r in runs):
        p, s = _pick(runs, design, 2, 0), _pick(runs, design, 3, 0)
        o2, o3 = np.array(p["outputs"]), np.array(s["outputs"])
        e2, e3 = np.array(p["elongation"]), np.array(s["elongation"])
        rec: dict[str, Any] = {
            "outputs_2d": o2.tolist(),
            "outputs_3d": o3.tolist(),
            "output_ratio_3d_over_2d": (o3 / o2).tolist(),
            "contrast_2d": float(abs(o2[0] / o2[1])),
            "contrast_3d": float(abs(o3[0] / o3[1])),
            "elongation_rel_l2": float(np.linalg.norm(e3 - e2) / np.linalg.norm(e3)),
            "elongation_scale_3d_over_2d": float(e2 @ e3 / (e2 @ e2)),
            "loss_2d": p["loss"],
            "loss_3d": s["loss"],
        }
        k = rec["elongation_scale_3d_over_2d"]
        rec["elongation_rel_l2_after_scale"] = float(np.linalg.norm(e3 - k * e2) / np.linalg.norm(e3))
        if "grad_w" in p and "grad_w" in s:
            g2, g3 = np.array(p["grad_w"]), np.array(s["grad_w"])
            rec["grad_cosine"] = cosine(g2, g3)
            rec["grad_rel_l2"] = float(np.linalg.norm(g3 - g2) / np.linalg.norm(g3))
            rec["grad_scale_3d_over_2d"] = float(g2 @ g3 / (g2 @ g2))
            rec["grad_max_abs"] = float(np.max(np.abs(g3)))
        if "grad_fd" in s:
            g3 = np.array(s["grad_w"])
            rec["fd_check_3d"] = {
                b: {
                    "shape": float(g3[int(b)]),
                    "fd": v,
                    "diff_rel_to_largest": float(abs(g3[int(b)] - v) / np.max(np.abs(g3))),
                }
                for b, v in s["grad_fd"].items()
            }
        out["designs"][design] = rec
    return out


def headline(results: dict[str, Any]) -> dict[str, float]:
    c = results["comparison"]["designs"]
    p = c["paper sample (uniform 2 mm)"]
    t = c["trained (behaviour-ce u2, spring recipe)"]
    return {
        "paper_output_ratio_3d_2d": p["output_ratio_3d_over_2d"][0],
        "paper_grad_cosine": p.get("grad_cosine", float("nan")),
        "trained_contrast_2d": t["contrast_2d"],
        "trained_contrast_3d": t["contrast_3d"],
    }


def _f(x: float, d: int = 4) -> str:
    return f"{x:.{d}g}"


def render(results: dict[str, Any], out: Path) -> None:
    """results.md from ``studies/templates/plane_stress_vs_3d.md``, and the figure."""
    started = time.time()
    _plot(results, out)
    runs, comp = results["runs"], results["comparison"]
    rows = [
        [r["design"], f"{r['dim']}D P{r['degree']}", r["elements_across"], r["refinement"], r["n_dofs"]]
        + [*(_f(x, 6) for x in r["outputs"]), _f(r["loss"], 6), f"{r['solve_s']:.1f}"]
        + [f"{r['grad_s']:.1f}" if "grad_s" in r else ""]
        for r in runs
    ]
    head = ["design", "model", "elements across", "refinement", "dofs", "u_y id 12", "u_y id 13", "loss", "solve s"]
    conv_rows = [
        [k, f"{v['dofs'][0]}, {v['dofs'][1]}", f"{100 * v['output_change']:.2f} %"]
        + [f"{100 * v['elongation_change']:.2f} %"]
        for k, v in comp["convergence"].items()
    ]
    comp_rows = [
        [
            d,
            " / ".join(_f(x, 4) for x in c["output_ratio_3d_over_2d"]),
            f"{_f(c['contrast_2d'])} / {_f(c['contrast_3d'])}",
        ]
        + [f"{100 * c['elongation_rel_l2']:.2f} %", _f(c["elongation_scale_3d_over_2d"])]
        + [f"{100 * c['elongation_rel_l2_after_scale']:.2f} %", _f(c.get("grad_cosine", float("nan")), 5)]
        + [f"{100 * c.get('grad_rel_l2', float('nan')):.2f} %", _f(c.get("grad_scale_3d_over_2d", float("nan")))]
        for d, c in comp["designs"].items()
    ]
    head_c = ["design", "outputs 3D / 2D", "contrast 2D / 3D", "elongation rel. diff", "elongation scale 3D/2D"]
    head_c += ["elong. diff after scale", "gradient cosine", "gradient rel. diff", "gradient scale 3D/2D"]
    fd = [(d, c["fd_check_3d"]) for d, c in comp["designs"].items() if "fd_check_3d" in c]
    fd_rows = (
        [[b, _f(v["shape"], 6), _f(v["fd"], 6), f"{100 * v['diff_rel_to_largest']:.2f} %"] for b, v in fd[0][1].items()]
        if fd
        else []
    )
    values = {
        "table_runs": table([*head, "shape grad s"], rows),
        "table_convergence": table(["model", "dofs (used, refined)", "output change", "elongation change"], conv_rows),
        "table_comparison": table(head_c, comp_rows),
        "table_fd": table(["bond", "shape (3D)", "FD (3D)", "|diff| / largest |grad|"], fd_rows),
        "fd_design": fd[0][0] if fd else None,
        "fd_delta": FD_DELTA,
        **_choice(results),
    }
    converged = bool(comp["convergence"]) and "paper sample (uniform 2 mm)" in comp["designs"]
    verdicts = {"converged": converged, "fd_check": bool(fd)}
    verdicts["both_converged"] = all(v["output_change"] < 0.01 for v in comp["convergence"].values())
    write_report(NAME, out, results, values, verdicts, started)


def _choice(results: dict[str, Any]) -> dict[str, Any]:
    """The numbers of the choice paragraph (None where the quick run has none)."""
    runs, comp = results["runs"], results["comparison"]
    conv, designs = comp["convergence"], comp["designs"]
    c = designs.get("paper sample (uniform 2 mm)", {})
    used = {dim: [_pick(runs, d, dim, 0) for d in designs] for dim in (2, 3)}
    fd = [v for c2 in designs.values() for v in c2.get("fd_check_3d", {}).values()]
    ratio = [b["n_dofs"] / a["n_dofs"] for a, b in zip(used[2], used[3], strict=True)]
    times = [b["solve_s"] / a["solve_s"] for a, b in zip(used[2], used[3], strict=True)]
    after = [100 * d["elongation_rel_l2_after_scale"] for d in designs.values()]
    return {
        "degree_2d": used[2][0]["degree"],
        "degree_3d": used[3][0]["degree"],
        "across_2d": used[2][0]["elements_across"],
        "across_3d": used[3][0]["elements_across"],
        "conv_2d_pct": 100 * conv["2d"]["output_change"] if conv else None,
        "conv_3d_pct": 100 * conv["3d"]["output_change"] if conv else None,
        "stiffer_pct": 100 * (1 - c["output_ratio_3d_over_2d"][0]) if c else None,
        "after_scale_pct": 100 * c["elongation_rel_l2_after_scale"] if c else None,
        "grad_cosine": c.get("grad_cosine"),
        "contrast_change_pct": max(100 * abs(d["contrast_3d"] / d["contrast_2d"] - 1) for d in designs.values()),
        "max_after_scale_pct": max(after),
        "dofs_ratio_lo": min(ratio),
        "dofs_ratio_hi": max(ratio),
        "time_ratio_lo": min(times),
        "time_ratio_hi": max(times),
        "fd_bonds": len(fd),
        "fd_max_pct": 100 * max((v["diff_rel_to_largest"] for v in fd), default=float("nan")),
    }


def _plot(results: dict[str, Any], out: Path) -> None:
    runs = results["runs"]
    designs = list(dict.fromkeys(r["design"] for r in runs))
    fig = figure(11, 3.6 * len(designs))
    ax = fig.subplots(len(designs), 2, squeeze=False)
    for i, d in enumerate(designs):
        p, s = _pick(runs, d, 2, 0), _pick(runs, d, 3, 0)
        x = np.arange(len(p["elongation"]))
        ax[i, 0].plot(x, p["elongation"], "bo", mfc="none", label="plane stress")
        ax[i, 0].plot(x, s["elongation"], "r.", label="3D solid")
        ax[i, 0].set_title(f"{d}: elongations, 10 g at id 12", fontsize=8)
        ax[i, 0].set_xlabel("bond")
        ax[i, 0].legend(fontsize=7)
        if "grad_w" in p and "grad_w" in s:
            ax[i, 1].plot(x, p["grad_w"], "bo", mfc="none", label="plane stress")
            ax[i, 1].plot(x, s["grad_w"], "r.", label="3D solid")
            ax[i, 1].set_title("exact dL/dw (shape derivative)", fontsize=8)
            ax[i, 1].set_xlabel("bond")
    fig.tight_layout()
    save_figure(fig, out, "plane_stress_vs_3d.png")


def main(argv: list[str] | None = None) -> int:
    return study_main(NAME, __doc__, compute, render, argv, "P1 in 2D and 3D, no refinement, no FD", takes_data=False)


if __name__ == "__main__":
    sys.exit(main())
