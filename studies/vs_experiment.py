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

Run: ``python studies/vs_experiment.py [--quick] [--data DIR] [--out DIR]``.
"""

from __future__ import annotations

import argparse
import dataclasses
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

from fem_mnn.design import paper_sample  # noqa: E402
from fem_mnn.fidelity.compare import (
    compare_displacements,
    compare_gradients,
    error_summary,
    make_predictors,
    parity_figure,
)
from fem_mnn.io.measured import load_cases, paper_records  # noqa: E402
from fem_mnn.io.report import StudyReport  # noqa: E402

MODELS = ("spring", "spring-calibrated", "frame", "fem", "fem-centre")


def log(msg: str) -> None:
    print(f"[vs_experiment {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def with_E(design, E: float):
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


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=ROOT / "studies" / "results" / "vs_experiment")
    ap.add_argument("--data", type=Path, default=None, help="folder of the paper's Source Data")
    ap.add_argument("--quick", action="store_true", help="no uniform-width band (fewer FEM solves)")
    args = ap.parse_args(argv)
    rep = StudyReport("vs_experiment", "Models vs the paper's measurements (Li & Mao 2024)", out_dir=args.out)
    base = paper_sample()
    E0 = base.material.E
    r1, r2, r3 = (paper_records(f, args.data) for f in (1, 2, 3))

    # ---------------------------------------------------------------- E, once
    log("fitting E to the Figure 2 uniform measurement (FEM)")
    c2 = load_cases(r2.loads, base.n_nodes)
    meas2 = np.array([r.uy for r in r2.records])
    nodes2 = [r.node for r in r2.records]
    pred0 = make_predictors(base, ("fem", "spring", "spring-calibrated"))
    u0 = {m: p(np.stack([c2["uniform"]]))[0, nodes2, 1] for m, p in pred0.items()}
    E_fit = {m: float(E0 * (u0[m] @ u0[m]) / (u0[m] @ meas2)) for m in u0}
    E = E_fit["fem"]
    rep.text(
        f"**Material.** E = {E:.4f} MPa, chosen once as the least-squares fit of the FEM (P2 plane stress, "
        f"nu = {base.material.nu}, junction-average node displacements) to the two measured outputs of the uniform "
        f"network in Figure 2 (u_y of ids 12, 13 under 5 g at id 10); FEM displacements scale exactly as 1/E. Every "
        f"model below uses this E. For information only, the E each model would need on the same data: "
        + ", ".join(f"{m} {v:.4f} MPa" for m, v in E_fit.items())
        + f" (the paper's spring model uses {E0} MPa)."
    )
    design = with_E(base, E)

    # ---------------------------------------------------------------- predictors at E
    log("models at the fitted E")
    pred = make_predictors(design, MODELS)

    # Figure 1
    c1 = load_cases(r1.loads, design.n_nodes)
    cmp1 = compare_gradients(design, r1.records, c1["forward"], c1["adjoint"], pred)
    sim = r1.simulated["grad_sim"]  # paper's spring model, E = 0.55
    bonds = np.array([r.bond for r in r1.records])
    cmp1.predictions["paper grad_sim (E=0.55)"] = sim[bonds]
    cmp1.summary["paper grad_sim (E=0.55)"] = error_summary(sim[bonds], cmp1.measured, cmp1.spread)
    groups = tie_groups(sim[bonds])
    gm = np.array([cmp1.measured[g].mean() for g in groups])
    grows = []
    for m, p in cmp1.predictions.items():
        gp = np.array([p[g].mean() for g in groups])
        s = error_summary(gp, gm)
        grows.append([m, len(groups), s.rms, s.rel_rms, s.best_scale, s.rel_rms_scaled])
    # Figure 2
    cmp2 = compare_displacements(design, r2.records, c2, pred)
    # Figure 3 (untrained models vs trained measurement: not an error, a reference)
    c3 = load_cases(r3.loads, design.n_nodes)
    cmp3 = compare_displacements(design, r3.records, c3, pred)

    # ---------------------------------------------------------------- error table
    rep.text(
        "**Errors of each model against the measurements** (same E for all). rel. RMS = RMS error / RMS of the "
        "measured values; best scale = the factor s minimising |s * prediction - measurement| (1 = right overall "
        "stiffness; e e_adj scales as 1/E^2, displacements as 1/E); within spread = fraction of rows whose error "
        "is within the measured spread."
    )
    rows = []
    for label, cmp_ in (("Fig. 1 e e_adj (28 bonds)", cmp1), ("Fig. 2 uniform u_y (2 outputs, the E fit)", cmp2)):
        for m, s in cmp_.summary.items():
            rows.append([label, m, s.rms, s.max_abs, s.rel_rms, s.within_spread, s.best_scale, s.rel_rms_scaled])
    rep.table(
        "Errors vs measurement",
        ["data", "model", "RMS", "max |err|", "rel. RMS", "within spread", "best scale", "rel. RMS scaled"],
        rows,
    )
    rep.table(
        "Figure 1 by groups of bonds of equal simulated value (independent of the bond mapping)",
        ["model", "groups", "RMS (mm^2)", "rel. RMS", "best scale", "rel. RMS scaled"],
        grows,
    )
    floor = float(np.sqrt(np.mean(cmp1.spread**2)) / np.sqrt(np.mean(cmp1.measured**2)))
    rep.text(
        f"**Noise floor of Figure 1.** RMS of the published spreads / RMS of the measured values = {floor:.3f}: "
        "shape errors (rel. RMS scaled) below this cannot tell the models apart."
    )
    hub_rows = []
    if not args.quick:
        for R in (1.25, 2.0, 2.75):
            d_R = dataclasses.replace(design, geometry=dataclasses.replace(design.geometry, junction_radius=R))
            p_R = pred if R == design.geometry.junction_radius else make_predictors(d_R, ("fem",))
            c_R = compare_gradients(d_R, r1.records, c1["forward"], c1["adjoint"], {"fem": p_R["fem"]})
            s = c_R.summary["fem"]
            hub_rows.append([R, s.rel_rms, s.best_scale, s.rel_rms_scaled])
        rep.table(
            "Sensitivity of the FEM to the (unpublished) hub radius, Figure 1, E fixed at the fit",
            ["hub radius (mm)", "rel. RMS", "best scale", "rel. RMS scaled"],
            hub_rows,
        )
    rep.text(cmp1.markdown())

    # ---------------------------------------------------------------- Figure 2 trained
    f2 = r2.simulated
    u1_exp = meas2
    ratio_rows = [
        ["uniform (u1)", *(u1_exp / f2["u1"]).tolist()],
        ["trained, node 13 dominant (u2)", *(f2["u2_exp"] / f2["u2"]).tolist()],
        ["trained, node 14 dominant (u3)", *(f2["u3_exp"] / f2["u3"]).tolist()],
    ]
    rep.table(
        "Figure 2: measured / paper-simulated outputs (spring model, E = 0.55 MPa)",
        ["network", "u_y id 12", "u_y id 13"],
        ratio_rows,
    )
    fem_over_spring = u0["fem"] / u0["spring"]
    rep.text(
        "The trained widths of Figure 2 are not published, so no model here can predict u2, u3. What can be said: "
        f"on the uniform network FEM / spring (same E) = {fem_over_spring[0]:.3f}, {fem_over_spring[1]:.3f} for the two "
        "outputs, and the spring model's displacement error against FEM is mostly a global factor (shape error "
        "~2 %, studies/spring_vs_fem). If the trained networks behave like the uniform one, their measured/"
        "simulated ratios should equal the uniform one's; the table shows how far they do."
    )

    # ---------------------------------------------------------------- Figure 3
    mass = r3.simulated["mass_g"]
    u_raw = r3.simulated["u_exp_raw"] - r3.simulated["u_exp_raw"][0]
    X = mass * 9.8e-3  # hanging force magnitude (N)
    names = ["u_x id 12", "u_y id 12", "u_x id 13", "u_y id 13"]
    target = -np.array([0.0, 16.0, 4.0, 16.0])  # mm/N per N of hanging force X: u = c F_y, F_y = -X
    unit = np.zeros((1, design.n_nodes, 2))
    unit[0, 10, 1] = -1.0  # 1 N down at id 10
    band: dict[str, dict[float, np.ndarray]] = {}
    widths_band = [2.0] if args.quick else [1.5, 2.0, 2.5]
    for w in widths_band:
        d_w = design if w == 2.0 else dataclasses.replace(design, widths=np.full(design.n_bonds, w))
        p_w = pred if w == 2.0 else make_predictors(d_w, ("spring", "fem"))
        for m in ("spring", "fem"):
            u = p_w[m](unit)[0]
            band.setdefault(m, {})[w] = np.array([u[12, 0], u[12, 1], u[13, 0], u[13, 1]])
    f3rows = []
    fits = {}
    for k, name in enumerate(names):
        A = np.stack([X, np.ones_like(X)], 1)
        coef, *_ = np.linalg.lstsq(A, u_raw[:, k], rcond=None)
        resid = u_raw[:, k] - A @ coef
        r2_ = 1 - resid @ resid / np.sum((u_raw[:, k] - u_raw[:, k].mean()) ** 2)
        lo = np.polyfit(X[(mass > 0) & (mass <= 6)], u_raw[(mass > 0) & (mass <= 6), k], 1)[0]
        hi = np.polyfit(X[mass >= 8], u_raw[mass >= 8, k], 1)[0]
        fits[name] = coef
        f3rows.append(
            [name, coef[0], r2_, lo, hi, target[k]] + [band[m][w][k] for m in ("spring", "fem") for w in widths_band]
        )
    rep.table(
        "Figure 3: measured compliance of the printed trained network (slope of u vs hanging force, mm/N), "
        "its linearity, the task's target, and uniform (untrained) networks predicted by spring and FEM",
        ["output", "measured slope", "R^2", "slope 2-6 g", "slope 8-12 g", "target"]
        + [f"{m} uniform {w:g}" for m in ("spring", "fem") for w in widths_band],
        f3rows,
    )
    rep.text(
        "Signs: our y points up and a hanging weight of magnitude X pulls with F_y = -X. The published target "
        "(0, 0.016, 0.004, 0.016) m/N relates the outputs to the signed force component, u = c F_y = -c X, so it is "
        "compared here as -(0, 16, 4, 16) mm/N per newton of X (the measured slopes carry that sign, and the "
        "uniform models' u_x of id 13 has it too). The trained widths are not published: spring and FEM "
        "columns are *uniform* networks (all bonds 1.5, 2 or 2.5 mm), the reference band a width-independent "
        "prediction can give; the measured trained network's compliance is compared with that band, not with a "
        "prediction of it."
    )
    rep.text(cmp3.markdown())

    # ---------------------------------------------------------------- plots
    fig = parity_figure([cmp1, cmp2], f"Models vs measurement, E = {E:.3f} MPa")
    rep.figure(fig, "parity.png", "Parity: Figure 1 per-bond e e_adj and Figure 2 uniform outputs.")
    plt.close(fig)
    fig, ax = plt.subplots(1, 4, figsize=(15, 3.6))
    xs = np.linspace(0, X.max(), 20)
    for k, name in enumerate(names):
        ax[k].plot(X, u_raw[:, k], "ko", ms=4, label="measured (trained)")
        ax[k].plot(xs, fits[name][0] * xs + fits[name][1], "k-", lw=0.8)
        ax[k].plot(xs, target[k] * xs, "r--", label="target")
        for m, st in (("spring", ":"), ("fem", "-.")):
            for w in widths_band:
                ax[k].plot(xs, band[m][w][k] * xs, st, lw=0.8, label=f"{m} uniform {w:g}")
        ax[k].set_title(name)
        ax[k].set_xlabel("hanging force (N)")
    ax[0].set_ylabel("displacement (mm)")
    ax[0].legend(fontsize=6)
    fig.tight_layout()
    rep.figure(
        fig,
        "figure3_compliance.png",
        "Figure 3: measured outputs of the trained network vs load, target, uniform-network band.",
    )
    plt.close(fig)

    rep.data = {
        "E_fit": E_fit,
        "E": E,
        "figure1": cmp1.to_dict(),
        "figure1_groups": grows,
        "figure1_noise_floor": floor,
        "figure1_hub_radius": hub_rows,
        "figure2": cmp2.to_dict(),
        "figure2_ratios": ratio_rows,
        "figure3": {"rows": f3rows, "band": {m: {str(w): v for w, v in b.items()} for m, b in band.items()}},
        "figure3_untrained_vs_trained": cmp3.to_dict(),
    }
    rep.write()
    log(f"wrote {rep.out_dir}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
