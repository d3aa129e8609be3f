"""Fidelity study 4: spring, frame and FEM models against the paper's measured data.

ONE material calibration for everything: E is the least-squares fit of the FEM
(P2 plane stress, junction-average node displacements, nu = 0.45) to the Figure 2
measurement of the *uniform* network (u_y of ids 12, 13 under 5 g at id 10). FEM
displacements are exactly proportional to 1/E, so ``E = E0 * sum(u0^2) / sum(u0 u_meas)``
with u0 the FEM at E0 = 0.55 MPa. Every model then uses that E (the spring models'
own best E is reported for information only).

* Figure 1: per-bond measured e e_adj (forward 10 g at id 12, adjoint 5 g at id 13)
  vs every model; per bond (with the recovered bond mapping) and per group of bonds
  whose simulated value is equal (mapping-independent).
* Figure 2: the uniform network (the fit: its residual is a consistency check); the
  trained networks' widths are unpublished -> only measured/simulated ratios.
* Figure 3: the printed trained regression network; widths unpublished -> linearity
  of the measured outputs, measured compliance vs the task's target, and the band
  of compliances of uniform networks over the printable widths (spring and FEM).

"Spread" is the paper's published ± of a measurement, used as published (the paper does
not say whether it is a standard deviation or a range).

Run: ``python studies/vs_experiment.py [--quick] [--data DIR] [--out DIR]``; ``compute(quick, data_dir)``
returns the numbers, ``render(results, out)`` writes the report.
"""

from __future__ import annotations

# _common first: importing it pins the BLAS threads before numpy loads
from _common import figure, log, paper_data_dir, save_figure, study_main, table, write_report

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

from fem_mnn.design import paper_sample
from fem_mnn.design.records import Design
from fem_mnn.fidelity.compare import (
    Comparison,
    ErrorSummary,
    compare_displacements,
    compare_gradients,
    error_summary,
    make_predictors,
    parity_figure,
)
from fem_mnn.io.measured import load_cases, paper_records

NAME = "vs_experiment"
MODELS = ("spring", "spring-calibrated", "frame", "fem", "fem-centre")
PAPER_SIM = "paper grad_sim (E=0.55)"
F3_NAMES = ["u_x id 12", "u_y id 12", "u_x id 13", "u_y id 13"]
#: mm/N per N of hanging force X: u = c F_y with F_y = -X (see the Figure 3 text)
F3_TARGET = -np.array([0.0, 16.0, 4.0, 16.0])
HUB_RADII = (1.25, 2.0, 2.75)


def with_E(design: Design, E: float) -> Design:
    return dataclasses.replace(design, material=dataclasses.replace(design.material, E=float(E)))


def tie_groups(values: np.ndarray, rtol: float = 1e-6) -> list[np.ndarray]:
    """Groups of indices whose values are equal within rtol of the largest |value|."""
    tol = rtol * np.max(np.abs(values))
    order = np.argsort(values)
    groups, cur = [], [order[0]]
    for i in order[1:]:
        if abs(values[i] - values[cur[-1]]) <= tol:
            cur.append(i)
        else:
            groups.append(np.array(cur))
            cur = [i]
    groups.append(np.array(cur))
    return groups


# ------------------------------------------------------------------ compute


def _fit_E(base: Design, r2: Any) -> dict[str, Any]:
    """E of each model fitted to the uniform network of Figure 2; the FEM's is the study's E."""
    c2 = load_cases(r2.loads, base.n_nodes)
    meas2 = np.array([r.uy for r in r2.records])
    nodes2 = [r.node for r in r2.records]
    pred0 = make_predictors(base, ("fem", "spring", "spring-calibrated"))
    u0 = {m: p(np.stack([c2["uniform"]]))[0, nodes2, 1] for m, p in pred0.items()}
    E0 = base.material.E
    E_fit = {m: float(E0 * (u0[m] @ u0[m]) / (u0[m] @ meas2)) for m in u0}
    return {"E_fit": E_fit, "E": E_fit["fem"], "E0": E0, "fem_over_spring_uniform": u0["fem"] / u0["spring"]}


def _figure1(design: Design, r1: Any, pred: dict[str, Any]) -> tuple[Comparison, list[list[Any]], float]:
    """Per-bond e e_adj of every model vs the measurement; per tie group; the noise floor."""
    c1 = load_cases(r1.loads, design.n_nodes)
    cmp1 = compare_gradients(design, r1.records, c1["forward"], c1["adjoint"], pred)
    sim = r1.simulated["grad_sim"]  # paper's spring model, E = 0.55
    bonds = np.array([r.bond for r in r1.records])
    cmp1.predictions[PAPER_SIM] = sim[bonds]
    cmp1.summary[PAPER_SIM] = error_summary(sim[bonds], cmp1.measured, cmp1.spread)
    groups = tie_groups(sim[bonds])
    gm = np.array([cmp1.measured[g].mean() for g in groups])
    grows = []
    for m, p in cmp1.predictions.items():
        s = error_summary(np.array([p[g].mean() for g in groups]), gm)
        grows.append([m, len(groups), s.rms, s.rel_rms, s.best_scale, s.rel_rms_scaled])
    floor = float(np.sqrt(np.mean(cmp1.spread**2)) / np.sqrt(np.mean(cmp1.measured**2)))
    return cmp1, grows, floor


def _hub_radius(design: Design, r1: Any, pred: dict[str, Any]) -> list[list[float]]:
    """FEM's Figure 1 errors for other (unpublished) hub radii, E fixed."""
    c1 = load_cases(r1.loads, design.n_nodes)
    rows = []
    for R in HUB_RADII:
        log(NAME, f"hub radius {R} mm")
        d_R = dataclasses.replace(design, geometry=dataclasses.replace(design.geometry, junction_radius=R))
        p_R = pred if R == design.geometry.junction_radius else make_predictors(d_R, ("fem",))
        s = compare_gradients(d_R, r1.records, c1["forward"], c1["adjoint"], {"fem": p_R["fem"]}).summary["fem"]
        rows.append([R, s.rel_rms, s.best_scale, s.rel_rms_scaled])
    return rows


def _figure2_ratios(r2: Any) -> list[list[Any]]:
    f2 = r2.simulated
    meas2 = np.array([r.uy for r in r2.records])
    return [
        ["uniform (u1)", *(meas2 / f2["u1"]).tolist()],
        ["trained, node 13 dominant (u2)", *(f2["u2_exp"] / f2["u2"]).tolist()],
        ["trained, node 14 dominant (u3)", *(f2["u3_exp"] / f2["u3"]).tolist()],
    ]


def _figure3(design: Design, r3: Any, pred: dict[str, Any], quick: bool) -> dict[str, Any]:
    """Measured compliance of the printed trained network, its linearity, and the uniform-network band."""
    mass = r3.simulated["mass_g"]
    u_raw = r3.simulated["u_exp_raw"] - r3.simulated["u_exp_raw"][0]
    X = mass * 9.8e-3  # hanging force magnitude (N)
    unit = np.zeros((1, design.n_nodes, 2))
    unit[0, 10, 1] = -1.0  # 1 N down at id 10
    widths = [2.0] if quick else [1.5, 2.0, 2.5]
    band: dict[str, dict[str, list[float]]] = {}
    for w in widths:
        d_w = design if w == 2.0 else dataclasses.replace(design, widths=np.full(design.n_bonds, w))
        p_w = pred if w == 2.0 else make_predictors(d_w, ("spring", "fem"))
        for m in ("spring", "fem"):
            u = p_w[m](unit)[0]
            band.setdefault(m, {})[f"{w:g}"] = [u[12, 0], u[12, 1], u[13, 0], u[13, 1]]
    rows, fits = [], {}
    A = np.stack([X, np.ones_like(X)], 1)
    for k, name in enumerate(F3_NAMES):
        coef, *_ = np.linalg.lstsq(A, u_raw[:, k], rcond=None)
        resid = u_raw[:, k] - A @ coef
        r2_ = 1 - resid @ resid / np.sum((u_raw[:, k] - u_raw[:, k].mean()) ** 2)
        lo = np.polyfit(X[(mass > 0) & (mass <= 6)], u_raw[(mass > 0) & (mass <= 6), k], 1)[0]
        hi = np.polyfit(X[mass >= 8], u_raw[mass >= 8, k], 1)[0]
        fits[name] = coef.tolist()
        rows.append(
            [name, float(coef[0]), float(r2_), float(lo), float(hi), float(F3_TARGET[k])]
            + [band[m][f"{w:g}"][k] for m in ("spring", "fem") for w in widths]
        )
    return {"rows": rows, "band": band, "widths": widths, "fits": fits, "force_N": X, "u_measured": u_raw}


def compute(quick: bool, data_dir: str | Path | None = None) -> dict[str, Any]:
    """Every comparison with the measurements (no files); ``quick``: no hub-radius sweep, no width band."""
    data = paper_data_dir(data_dir)
    r1, r2, r3 = (paper_records(f, data) for f in (1, 2, 3))
    base = paper_sample()
    log(NAME, "fitting E to the Figure 2 uniform measurement (FEM)")
    fit = _fit_E(base, r2)
    design = with_E(base, fit["E"])
    log(NAME, "models at the fitted E")
    pred = make_predictors(design, MODELS)
    cmp1, grows, floor = _figure1(design, r1, pred)
    cmp2 = compare_displacements(design, r2.records, load_cases(r2.loads, design.n_nodes), pred)
    # Figure 3: untrained models vs the trained measurement, a reference, not an error
    cmp3 = compare_displacements(design, r3.records, load_cases(r3.loads, design.n_nodes), pred)
    return {
        "quick": quick,
        "E_fit": fit["E_fit"],
        "E": fit["E"],
        "E0": fit["E0"],
        "nu": design.material.nu,
        "figure1": cmp1.to_dict(),
        "figure1_groups": grows,
        "figure1_noise_floor": floor,
        "figure1_hub_radius": [] if quick else _hub_radius(design, r1, pred),
        "figure2": cmp2.to_dict(),
        "figure2_ratios": _figure2_ratios(r2),
        "figure2_fem_over_spring_uniform": fit["fem_over_spring_uniform"],
        "figure3": _figure3(design, r3, pred, quick),
        "figure3_untrained_vs_trained": cmp3.to_dict(),
    }


def headline(results: dict[str, Any]) -> dict[str, float]:
    """The fitted E, the FEM's and spring model's Figure 1 errors, the noise floor, the Figure 3 slopes."""
    s1 = results["figure1"]["summary"]
    out = {"E_fit_fem_MPa": results["E"], "E_fit_spring_MPa": results["E_fit"]["spring"]}
    for m in ("fem", "spring", "frame"):
        out[f"fig1_{m}_rel_rms"] = s1[m]["rel_rms"]
        out[f"fig1_{m}_best_scale"] = s1[m]["best_scale"]
    out["fig1_noise_floor"] = results["figure1_noise_floor"]
    out["fig2_fem_rel_rms"] = results["figure2"]["summary"]["fem"]["rel_rms"]
    for row in results["figure3"]["rows"]:
        out[f"fig3_measured_slope {row[0]}"] = row[1]
    return out


# ------------------------------------------------------------------ render


def comparison(d: dict[str, Any]) -> Comparison:
    """A :class:`~fem_mnn.fidelity.compare.Comparison` back from its ``to_dict`` record."""
    rows = d["rows"]
    models = [k for k in rows[0] if k not in ("label", "measured", "spread")]
    return Comparison(
        kind=d["kind"],
        labels=[r["label"] for r in rows],
        measured=np.array([r["measured"] for r in rows], float),
        spread=np.array([np.nan if r["spread"] is None else r["spread"] for r in rows], float),
        predictions={m: np.array([r[m] for r in rows], float) for m in models},
        unit=d["unit"],
        notes=list(d["notes"]),
        summary={m: ErrorSummary(**s) for m, s in d["summary"].items()},
    )


def _plot_figure3(out: Path, r: dict[str, Any]) -> None:
    f3 = r["figure3"]
    X, u_raw = np.asarray(f3["force_N"]), np.asarray(f3["u_measured"])
    fig = figure(15, 3.6)
    ax = fig.subplots(1, 4)
    xs = np.linspace(0, X.max(), 20)
    for k, name in enumerate(F3_NAMES):
        a, b = f3["fits"][name]
        ax[k].plot(X, u_raw[:, k], "ko", ms=4, label="measured (trained)")
        ax[k].plot(xs, a * xs + b, "k-", lw=0.8)
        ax[k].plot(xs, F3_TARGET[k] * xs, "r--", label="target")
        for m, st in (("spring", ":"), ("fem", "-.")):
            for w in f3["widths"]:
                ax[k].plot(xs, f3["band"][m][f"{w:g}"][k] * xs, st, lw=0.8, label=f"{m} uniform {w:g}")
        ax[k].set_title(name)
        ax[k].set_xlabel("hanging force (N)")
    ax[0].set_ylabel("displacement (mm)")
    ax[0].legend(fontsize=6)
    fig.tight_layout()
    save_figure(fig, out, "figure3_compliance.png")


def render(results: dict[str, Any], out: Path) -> None:
    """results.md (``studies/templates/vs_experiment.md``), results.json and the figures in ``out``."""
    started = time.time()
    r = results
    fig = parity_figure(
        [comparison(r["figure1"]), comparison(r["figure2"])], f"Models vs measurement, E = {r['E']:.3f} MPa"
    )
    save_figure(fig, out, "parity.png")
    _plot_figure3(out, r)
    rows = [
        [label, m, *(s[k] for k in ("rms", "max_abs", "rel_rms", "within_spread", "best_scale", "rel_rms_scaled"))]
        for label, key in (
            ("Fig. 1 e e_adj (28 bonds)", "figure1"),
            ("Fig. 2 uniform u_y (2 outputs, the E fit)", "figure2"),
        )
        for m, s in r[key]["summary"].items()
    ]
    f3, fos = r["figure3"], r["figure2_fem_over_spring_uniform"]
    w = f3["widths"]
    values = {
        "E": r["E"],
        "nu": r["nu"],
        "E_fit": ", ".join(f"{m} {v:.4f} MPa" for m, v in r["E_fit"].items()),
        "E0": r["E0"],
        "table_errors": table(
            ["data", "model", "RMS", "max abs err", "rel. RMS", "within spread", "best scale", "rel. RMS scaled"], rows
        ),
        "table_groups": table(
            ["model", "groups", "RMS (mm^2)", "rel. RMS", "best scale", "rel. RMS scaled"], r["figure1_groups"]
        ),
        "noise_floor": r["figure1_noise_floor"],
        "table_hub_radius": table(
            ["hub radius (mm)", "rel. RMS", "best scale", "rel. RMS scaled"], r["figure1_hub_radius"]
        ),
        "comparison_figure1": comparison(r["figure1"]).markdown().strip(),
        "table_figure2_ratios": table(["network", "u_y id 12", "u_y id 13"], r["figure2_ratios"]),
        "fem_over_spring_12": fos[0],
        "fem_over_spring_13": fos[1],
        "table_figure3": table(
            ["output", "measured slope", "R^2", "slope 2-6 g", "slope 8-12 g", "target"]
            + [f"{m} uniform {x:g}" for m in ("spring", "fem") for x in w],
            f3["rows"],
        ),
        "uniform_widths": ", ".join(f"{x:g}" for x in w[:-1]) + f" or {w[-1]:g}" if len(w) > 1 else f"{w[0]:g}",
        "comparison_figure3": comparison(r["figure3_untrained_vs_trained"]).markdown().strip(),
    }
    write_report(NAME, out, results, values, {"has_hub_radius": bool(r["figure1_hub_radius"])}, started)


def main(argv: list[str] | None = None) -> int:
    return study_main(NAME, __doc__, compute, render, argv, "no hub-radius sweep, no uniform-width band")


if __name__ == "__main__":
    sys.exit(main())
