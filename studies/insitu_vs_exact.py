"""Fidelity study 3: in situ gradient estimates vs the exact FEM gradient dL/dw.

Case: the Figure 1 experiment -- 10 g at paper node 13 (id 12), loss
L = 1/2 (u_y(id 13) + 25 mm)^2 (the paper's L = (u_y14 + 0.025 m)^2 up to a factor).
Exact gradient: central finite differences of the FEM loss with remeshing
(:func:`fem_mnn.fem.fd_width_gradient`), at delta = 0.025 / 0.05 / 0.1 mm on the
paper's sample (their spread is the noise of the ground truth), delta = 0.05 mm
elsewhere.

Estimates, all from ONE FEM forward + adjoint pair (what a camera could measure):

* ``nominal``: (E t / L) e e_adj with e from junction-average displacements;
* ``calibrated``: k_cal'(w) e e_adj (:mod:`fem_mnn.fem.calibration`);
* ``beam``: the frame estimate from node displacements AND junction rotations,
  axial part from beam theory + bending part (:func:`fem_mnn.spring.frame.beam_gradient`);
* ``beam-cal``: the same with the calibrated axial law;
* ``energy/w``: the exact per-bond energy product (dL/dtheta, stiffness-factor
  gradient) divided by w -- exact if a bond's stiffness were proportional to w; a
  continuum diagnostic, not measurable by a camera.

Model gradients for reference (not in situ): the spring model's own gradient
(``spring-model``, what the paper trains with) and the frame model's own
(``frame-model``, calibrated axial law).

Designs: paper sample (2 mm), a random design, uniform 1.25 and 3 mm (slenderness).

Run: ``python studies/insitu_vs_exact.py [--quick] [--out DIR]``.
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

from fem_mnn.contract import nominal_stiffness  # noqa: E402
from fem_mnn.design import paper_sample  # noqa: E402
from fem_mnn.fem.calibration import calibrated_law  # noqa: E402
from fem_mnn.fem.linear import FemModel, FemOptions, fd_width_gradient, stiffness_factor_gradient  # noqa: E402
from fem_mnn.fidelity.compare import bond_rel_error, cosine, rel_l2, sign_agreement  # noqa: E402
from fem_mnn.io.paper_data import G  # noqa: E402
from fem_mnn.io.report import StudyReport  # noqa: E402
from fem_mnn.learn.insitu import backprop  # noqa: E402
from fem_mnn.learn.losses import MSE  # noqa: E402
from fem_mnn.spring.frame import FrameModel, beam_gradient  # noqa: E402
from fem_mnn.spring.network import SpringModel

GRAM = G * 1e-3
ESTIMATES = ("nominal", "calibrated", "beam", "beam-cal", "energy/w", "spring-model", "frame-model")


def log(msg: str) -> None:
    print(f"[insitu_vs_exact {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def case(n_nodes: int) -> tuple[np.ndarray, MSE]:
    F = np.zeros((1, n_nodes, 2))
    F[0, 12, 1] = -10 * GRAM
    T = np.full((1, n_nodes, 2), np.nan)
    T[0, 13, 1] = -25.0
    return F, MSE(T)


def estimates(design, law, F, loss) -> tuple[dict, float]:
    """Every estimate from one FEM forward + adjoint pair."""
    model = FemModel(design, FemOptions())
    op = model.operator()
    th = stiffness_factor_gradient(op, F, loss)
    fw, ad = th.forward, th.adjoint
    w = design.widths
    eea = (fw.elongation * ad.elongation).mean(0)
    _, dk_nom = nominal_stiffness(design, w)
    _, dk_cal = law(design, w)
    b0 = beam_gradient(design, w, fw.u, fw.rotation, ad.u, ad.rotation)
    b1 = beam_gradient(design, w, fw.u, fw.rotation, ad.u, ad.rotation, law=law)
    spring = backprop(SpringModel(design), w, F, loss).grad_w
    _, fg, _, _ = FrameModel(design, law=law).operator().gradient(F, loss)
    op.destroy()
    out = {
        "nominal": dk_nom * eea,
        "calibrated": dk_cal * eea,
        "beam": b0.total,
        "beam-cal": b1.total,
        "beam-cal axial part": b1.axial,
        "beam-cal bending part": b1.bending,
        "energy/w": th.bond / w,
        "spring-model": spring,
        "frame-model": fg.total,
    }
    return out, th.loss


def metrics(est: dict, exact: np.ndarray) -> dict:
    sel = np.isfinite(exact)
    res = {}
    for name in ESTIMATES:
        g = est[name][sel]
        x = exact[sel]
        med, mx = bond_rel_error(g, x)
        res[name] = {
            "cosine": cosine(g, x),
            "rel_l2": rel_l2(g, x),
            "sign": sign_agreement(g, x),
            "median_rel": med,
            "max_rel": mx,
            "scale": float(g @ x / (g @ g)),
        }
    return res


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=ROOT / "studies" / "results" / "insitu_vs_exact")
    ap.add_argument("--quick", action="store_true", help="7 bonds, two steps, paper sample only")
    args = ap.parse_args(argv)
    rep = StudyReport("insitu_vs_exact", "In situ gradient estimates vs the exact FEM gradient", out_dir=args.out)

    base = paper_sample()
    law = calibrated_law(base)
    F, loss = case(base.n_nodes)
    bonds = list(range(0, base.n_bonds, 4)) if args.quick else None
    deltas = (0.05, 0.1) if args.quick else (0.025, 0.05, 0.1)

    wide = dataclasses.replace(base, geometry=dataclasses.replace(base.geometry, width_min=0.8, width_max=4.4))
    rng = np.random.default_rng(7)
    designs = {"paper 2 mm": base}
    if not args.quick:
        designs["random"] = base.with_widths(rng.uniform(1.5, 2.5, base.n_bonds))
        designs["uniform 1.25"] = dataclasses.replace(wide, widths=np.full(base.n_bonds, 1.25))
        designs["uniform 3"] = dataclasses.replace(wide, widths=np.full(base.n_bonds, 3.0))

    data: dict = {"designs": {}}
    for name, d in designs.items():
        log(f"{name}: estimates")
        est, L0 = estimates(d, law, F, loss)
        fds = {}
        for delta in deltas if name == "paper 2 mm" else (0.05,):
            t0 = time.perf_counter()
            fds[delta] = fd_width_gradient(FemModel(d, FemOptions()), F, loss, delta=delta, bonds=bonds)
            log(f"{name}: FD delta {delta} in {time.perf_counter() - t0:.0f} s")
        exact = fds[0.05]
        entry = {
            "widths": d.widths.tolist(),
            "loss": L0,
            "fd": {str(k): v.tolist() for k, v in fds.items()},
            "estimates": {k: v.tolist() for k, v in est.items()},
            "metrics": metrics(est, exact),
        }
        if len(fds) > 1:
            ref = np.nanmax(np.abs(exact))
            entry["fd_noise"] = {
                f"{a} vs {b}": {
                    "rel_l2": rel_l2(fds[a], fds[b]),
                    "max_abs_over_max": float(np.nanmax(np.abs(fds[a] - fds[b])) / ref),
                }
                for a, b in ((0.025, 0.05), (0.1, 0.05), (0.025, 0.1))
                if a in fds and b in fds
            }
        data["designs"][name] = entry

    # ---- tables
    rep.text(
        "Exact = central finite differences of the FEM loss with remeshing at delta = 0.05 mm. "
        "cosine, relative L2 error, sign agreement and per-bond relative errors are over the bonds with "
        "|exact| > 5 % of the largest (sign, per-bond) or all computed bonds (cosine, L2). `scale` = least-squares "
        "factor s with s * estimate ~ exact."
    )
    for name, entry in data["designs"].items():
        rows = [
            [e, m["cosine"], m["rel_l2"], m["sign"], m["median_rel"], m["max_rel"], m["scale"]]
            for e, m in entry["metrics"].items()
        ]
        rep.table(
            f"{name}: estimates vs exact dL/dw",
            [
                "estimate",
                "cosine",
                "rel. L2 error",
                "sign agreement",
                "median bond rel. err",
                "max bond rel. err",
                "scale",
            ],
            rows,
        )
    noise = data["designs"]["paper 2 mm"].get("fd_noise", {})
    if noise:
        rep.table(
            "Noise of the exact gradient (FD with remeshing), paper sample",
            ["steps", "rel. L2 difference", "max |difference| / max |g|"],
            [[k, v["rel_l2"], v["max_abs_over_max"]] for k, v in noise.items()],
        )

    # ---- plots
    e0 = data["designs"]["paper 2 mm"]
    exact = np.array(e0["fd"]["0.05"], float)
    sel = np.nonzero(np.isfinite(exact))[0]
    fig, ax = plt.subplots(figsize=(11, 4))
    width = 0.8 / 5
    for k, name in enumerate(("nominal", "calibrated", "beam-cal", "energy/w")):
        ax.bar(sel + (k - 2) * width, np.array(e0["estimates"][name])[sel], width, label=name)
    ax.plot(sel, exact[sel], "k_", ms=12, mew=2, label="exact (FD, 0.05 mm)")
    if "0.025" in e0["fd"]:
        ax.plot(sel, np.array(e0["fd"]["0.025"])[sel], "r.", label="FD 0.025 mm")
        ax.plot(sel, np.array(e0["fd"]["0.1"])[sel], "b.", label="FD 0.1 mm")
    ax.set_xlabel("bond id")
    ax.set_ylabel("dL/dw (N)")
    ax.legend(fontsize=7, ncol=3)
    rep.figure(fig, "gradient_bars.png", "Paper sample: per-bond estimates vs the exact gradient.")
    plt.close(fig)

    names = [n for n in data["designs"] if n.startswith(("uniform", "paper"))]
    if len(names) > 1:
        wl = [float(np.mean(data["designs"][n]["widths"])) / 16.0 for n in names]
        order = np.argsort(wl)
        fig, ax = plt.subplots(1, 2, figsize=(10, 4))
        for est in ("nominal", "calibrated", "beam", "beam-cal", "energy/w"):
            ax[0].plot(
                np.array(wl)[order],
                [data["designs"][names[i]]["metrics"][est]["cosine"] for i in order],
                "o-",
                label=est,
            )
            ax[1].plot(
                np.array(wl)[order],
                [data["designs"][names[i]]["metrics"][est]["rel_l2"] for i in order],
                "o-",
                label=est,
            )
        ax[0].set_xlabel("w / L")
        ax[0].set_ylabel("cosine to exact")
        ax[1].set_xlabel("w / L")
        ax[1].set_ylabel("rel. L2 error")
        ax[0].legend(fontsize=7)
        fig.tight_layout()
        rep.figure(fig, "vs_slenderness.png", "Estimates vs exact against slenderness (uniform widths).")
        plt.close(fig)

    rep.data = data
    rep.write()
    log(f"wrote {rep.out_dir}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
