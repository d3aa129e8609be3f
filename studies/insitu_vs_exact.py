"""Fidelity study 3: in situ gradient estimates vs the exact FEM gradient dL/dw.

Case: the Figure 1 experiment -- 10 g at paper node 13 (id 12), loss
L = 1/2 (u_y(id 13) + 25 mm)^2 (the paper's L = (u_y14 + 0.025 m)^2 up to a factor).

Reference ("exact"): the adjoint shape derivative of the FE loss
(:func:`fem_mnn.fem.shape.shape_width_gradient`), every bond from one forward + adjoint
pair; it is the exact gradient of the discrete loss on meshes morphed with the widths.
Check: central finite differences of the FE loss with remeshing
(:func:`fem_mnn.fem.linear.fd_width_gradient`) at delta = 0.05, 0.1, 0.2 mm on the paper's
sample and 0.2 mm elsewhere; they carry an O(delta^2) truncation bias (about 1 % of the
largest gradient at 0.2 mm) and remeshing noise that grows as delta shrinks, so their
agreement with the reference is reported as a result, not assumed.

Estimates, all from ONE FEM forward + adjoint pair (what a camera could measure):

* ``nominal`` (the in situ gradient): (E t / L) e e_adj with e from junction-average displacements;
* ``calibrated``: k_cal'(w) e e_adj (:mod:`fem_mnn.fem.calibration`);
* ``beam``: the frame estimate from node displacements AND junction rotations,
  axial part from beam theory + bending part (:func:`fem_mnn.spring.frame.beam_gradient`);
* ``beam-cal`` (beam-aware): the same with the calibrated axial law;
* ``energy/w``: the exact per-bond energy product (dL/dtheta, stiffness-factor
  gradient) divided by w -- exact if a bond's stiffness were proportional to w; a
  continuum diagnostic, not measurable by a camera.

Model gradients for reference (not in situ): the spring model's own gradient
(``spring-model``, what the paper trains with) and the frame model's own
(``frame-model``, calibrated axial law).

Designs: paper sample (2 mm), a random design, uniform 1.25 and 3 mm (slenderness).

Run: ``python studies/insitu_vs_exact.py [--quick] [--out DIR]``; ``compute(quick)`` returns the
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

from fem_mnn.contract import backprop, nominal_stiffness
from fem_mnn.design import paper_sample
from fem_mnn.design.records import Design
from fem_mnn.fidelity.compare import bond_rel_error, cosine, rel_l2, sign_agreement
from fem_mnn.io.paper_data import G
from fem_mnn.learn.losses import MSE
from fem_mnn.spring.frame import FrameModel, beam_gradient
from fem_mnn.spring.network import SpringModel

NAME = "insitu_vs_exact"
GRAM = G * 1e-3
ESTIMATES = ("nominal", "calibrated", "beam", "beam-cal", "energy/w", "spring-model", "frame-model")
REFERENCE = "shape derivative (adjoint, exact for the discrete loss)"
PAPER = "paper 2 mm"
#: remeshed FD steps (mm): on the paper's sample / on the other designs
FULL_DELTAS, OTHER_DELTAS, QUICK_DELTAS = (0.05, 0.1, 0.2), (0.2,), (0.2,)
QUICK_BONDS = tuple(range(0, 28, 4))
SEED = 7


def case(n_nodes: int) -> tuple[np.ndarray, MSE]:
    """The Figure 1 forward load (10 g at id 12) and the loss 1/2 (u_y(id 13) + 25 mm)^2."""
    F = np.zeros((1, n_nodes, 2))
    F[0, 12, 1] = -10 * GRAM
    T = np.full((1, n_nodes, 2), np.nan)
    T[0, 13, 1] = -25.0
    return F, MSE(T)


def designs(quick: bool) -> dict[str, Design]:
    """The paper sample; in full mode also a random printable design and two uniform ones."""
    base = paper_sample()
    out = {PAPER: base}
    if not quick:
        wide = dataclasses.replace(base, geometry=dataclasses.replace(base.geometry, width_min=0.8, width_max=4.4))
        rng = np.random.default_rng(SEED)
        out["random"] = base.with_widths(rng.uniform(1.5, 2.5, base.n_bonds))
        out["uniform 1.25"] = dataclasses.replace(wide, widths=np.full(base.n_bonds, 1.25))
        out["uniform 3"] = dataclasses.replace(wide, widths=np.full(base.n_bonds, 3.0))
    return out


# ------------------------------------------------------------------ compute


def estimates(design: Design, law: Any, F: np.ndarray, loss: MSE) -> dict[str, Any]:
    """The shape gradient and every estimate from one FEM operator (one factorisation)."""
    from fem_mnn.fem.linear import FemModel, FemOptions, stiffness_factor_gradient
    from fem_mnn.fem.shape import shape_width_gradient

    t0 = time.perf_counter()
    op = FemModel(design, FemOptions()).operator()
    t_op = time.perf_counter() - t0
    t0 = time.perf_counter()
    sg = shape_width_gradient(op, F, loss)
    t_shape = time.perf_counter() - t0
    th = stiffness_factor_gradient(op, F, loss)
    fw, ad = th.forward, th.adjoint
    w = design.widths
    eea = (fw.elongation * ad.elongation).mean(0)
    _, dk_nom = nominal_stiffness(design, w)
    _, dk_cal = law(design, w)
    b0 = beam_gradient(design, w, fw.u, fw.rotation, ad.u, ad.rotation)
    b1 = beam_gradient(design, w, fw.u, fw.rotation, ad.u, ad.rotation, law=law)
    _, fg, _, _ = FrameModel(design, law=law).operator().gradient(F, loss)
    n_dofs = int(op.n_dofs)
    op.destroy()
    est = {
        "nominal": dk_nom * eea,
        "calibrated": dk_cal * eea,
        "beam": b0.total,
        "beam-cal": b1.total,
        "beam-cal axial part": b1.axial,
        "beam-cal bending part": b1.bending,
        "energy/w": th.bond / w,
        "spring-model": backprop(SpringModel(design), w, F, loss).grad_w,
        "frame-model": fg.total,
    }
    return {
        "exact": sg.grad_w,
        "loss": th.loss,
        "shape_loss": sg.loss,
        "estimates": est,
        "n_dofs": n_dofs,
        "seconds": {"mesh_and_factorise": t_op, "shape_gradient": t_shape},
    }


def metrics(est: dict[str, np.ndarray], exact: np.ndarray, names: tuple[str, ...] = ESTIMATES) -> dict[str, Any]:
    """Each estimate against the reference: cosine, rel. L2, sign, per-bond rel. errors, best scale."""
    res = {}
    for name in names:
        g = np.asarray(est[name], float)
        sel = np.isfinite(g) & np.isfinite(exact)
        g, x = g[sel], exact[sel]
        med, mx = bond_rel_error(g, x)
        res[name] = {
            "bonds": int(sel.sum()),
            "cosine": cosine(g, x),
            "rel_l2": rel_l2(g, x),
            "sign": sign_agreement(g, x),
            "median_rel": med,
            "max_rel": mx,
            "max_abs_over_max": float(np.max(np.abs(g - x)) / np.max(np.abs(exact))),
            "scale": float(g @ x / (g @ g)),
        }
    return res


def remeshed_fd(design: Design, F: np.ndarray, loss: MSE, deltas: tuple[float, ...], bonds: Any) -> dict[str, Any]:
    """Remeshed central differences at each step, and their wall time."""
    from fem_mnn.fem.linear import FemModel, FemOptions, fd_width_gradient

    out, secs = {}, {}
    for delta in deltas:
        t0 = time.perf_counter()
        out[delta] = fd_width_gradient(FemModel(design, FemOptions()), F, loss, delta=delta, bonds=bonds)
        secs[delta] = time.perf_counter() - t0
        log(NAME, f"{design.name}: remeshed FD, delta {delta} mm, in {secs[delta]:.0f} s")
    return {"fd": out, "seconds": secs}


def _fd_pairs(fds: dict[float, np.ndarray], scale: float) -> dict[str, dict[str, float]]:
    """Differences between the remeshed FD steps (relative to the largest exact gradient)."""
    ds = sorted(fds)
    return {
        f"{a} vs {b}": {
            "rel_l2": rel_l2(fds[a], fds[b]),
            "max_abs_over_max": float(np.nanmax(np.abs(fds[a] - fds[b])) / scale),
        }
        for i, a in enumerate(ds)
        for b in ds[i + 1 :]
    }


def run_design(name: str, design: Design, law: Any, quick: bool) -> dict[str, Any]:
    """Reference, estimates and remeshed FD of one design."""
    F, loss = case(design.n_nodes)
    log(NAME, f"{name}: shape gradient and estimates")
    e = estimates(design, law, F, loss)
    exact = e["exact"]
    deltas = QUICK_DELTAS if quick else (FULL_DELTAS if name == PAPER else OTHER_DELTAS)
    fd = remeshed_fd(design, F, loss, deltas, QUICK_BONDS if quick else None)
    fd_est = {f"remeshed FD {d:g} mm": v for d, v in fd["fd"].items()}
    n_fd = int(np.isfinite(next(iter(fd["fd"].values()))).sum())
    return {
        "widths": design.widths,
        "loss": e["loss"],
        "shape_loss": e["shape_loss"],
        "n_dofs": e["n_dofs"],
        "exact": exact,
        "max_abs_exact": float(np.max(np.abs(exact))),
        "fd": {f"{d:g}": v for d, v in fd["fd"].items()},
        "estimates": e["estimates"],
        "metrics": metrics(e["estimates"], exact),
        "fd_vs_exact": metrics(fd_est, exact, tuple(fd_est)),
        "fd_pairs": _fd_pairs(fd["fd"], float(np.max(np.abs(exact)))) if len(fd["fd"]) > 1 else {},
        "seconds": {
            **e["seconds"],
            **{f"remeshed_fd_{d:g}": s for d, s in fd["seconds"].items()},
            "remeshed_fd_per_bond": float(np.mean(list(fd["seconds"].values())) / max(n_fd, 1)),
        },
    }


def compute(quick: bool, data_dir: str | Path | None = None) -> dict[str, Any]:
    """Reference, estimates and FD check on every design (no files).

    ``quick``: the paper sample only, remeshed FD at 0.2 mm on 7 bonds (the reference and
    the estimates still cover all 28 bonds). ``data_dir`` is not used (the study reads none
    of the paper's data); it keeps the studies' signature.
    """
    from fem_mnn.fem.calibration import calibrated_law

    ds = designs(quick)
    law = calibrated_law(ds[PAPER])
    return {
        "quick": quick,
        "reference": REFERENCE,
        "fd_bonds": list(QUICK_BONDS) if quick else "all",
        "designs": {name: run_design(name, d, law, quick) for name, d in ds.items()},
    }


def headline(results: dict[str, Any]) -> dict[str, float]:
    """Paper sample: the loss, the largest exact gradient, estimates and remeshed FD (0.2 mm) against it."""
    p = results["designs"][PAPER]
    out = {"paper_loss_mm2": p["loss"], "paper_max_abs_exact_N": p["max_abs_exact"]}
    for e in ("nominal", "calibrated", "beam-cal", "energy/w"):
        out[f"{e}_cosine"] = p["metrics"][e]["cosine"]
        out[f"{e}_rel_l2"] = p["metrics"][e]["rel_l2"]
    fd = p["fd_vs_exact"]["remeshed FD 0.2 mm"]
    out["fd_0.2_max_abs_over_max"] = fd["max_abs_over_max"]
    out["fd_0.2_rel_l2"] = fd["rel_l2"]
    return out


# ------------------------------------------------------------------ render

_METRIC_HEADER = [
    "estimate",
    "bonds",
    "cosine",
    "rel. L2 error",
    "max abs error / max abs exact",
    "sign agreement",
    "median bond rel. err",
    "max bond rel. err",
    "scale",
]


def _metric_rows(ms: dict[str, Any]) -> list[list[Any]]:
    keys = ("bonds", "cosine", "rel_l2", "max_abs_over_max", "sign", "median_rel", "max_rel", "scale")
    return [[e, *(m[k] for k in keys)] for e, m in ms.items()]


def _plot_bars(out: Path, r: dict[str, Any]) -> None:
    p = r["designs"][PAPER]
    exact = np.asarray(p["exact"], float)
    idx = np.arange(exact.size)
    fig = figure(11, 4)
    ax = fig.subplots()
    width = 0.8 / 5
    for k, name in enumerate(("nominal", "calibrated", "beam-cal", "energy/w")):
        ax.bar(idx + (k - 2) * width, np.asarray(p["estimates"][name], float), width, label=name)
    ax.plot(idx, exact, "k_", ms=12, mew=2, label="exact (shape derivative)")
    for (key, fd), mk in zip(p["fd"].items(), ("r.", "b.", "g."), strict=False):
        fd = np.asarray(fd, float)
        sel = np.isfinite(fd)
        ax.plot(idx[sel], fd[sel], mk, label=f"remeshed FD {key} mm")
    ax.set_xlabel("bond id")
    ax.set_ylabel("dL/dw (N)")
    ax.legend(fontsize=7, ncol=3)
    save_figure(fig, out, "gradient_bars.png")


def _plot_slenderness(out: Path, r: dict[str, Any]) -> bool:
    """The estimates against w / L over the uniform designs; False (no figure) with fewer than two."""
    names = [n for n in r["designs"] if n.startswith(("uniform", "paper"))]
    if len(names) < 2:
        return False
    wl = np.array([float(np.mean(r["designs"][n]["widths"])) / 16.0 for n in names])
    order = np.argsort(wl)
    fig = figure(10, 4)
    ax = fig.subplots(1, 2)
    for est in ("nominal", "calibrated", "beam", "beam-cal", "energy/w"):
        for a, key in zip(ax, ("cosine", "rel_l2"), strict=True):
            a.plot(wl[order], [r["designs"][names[i]]["metrics"][est][key] for i in order], "o-", label=est)
    ax[0].set_xlabel("w / L")
    ax[0].set_ylabel("cosine to exact")
    ax[1].set_xlabel("w / L")
    ax[1].set_ylabel("rel. L2 error")
    ax[0].legend(fontsize=7)
    fig.tight_layout()
    save_figure(fig, out, "vs_slenderness.png")
    return True


def render(results: dict[str, Any], out: Path) -> None:
    """results.md (``studies/templates/insitu_vs_exact.md``), results.json and the figures in ``out``."""
    started = time.time()
    _plot_bars(out, results)
    slender = _plot_slenderness(out, results)
    ds = results["designs"]
    fd02 = [m["max_abs_over_max"] for d in ds.values() for k, m in d["fd_vs_exact"].items() if k.endswith(" 0.2 mm")]
    pairs = [[n, k, v["rel_l2"], v["max_abs_over_max"]] for n, d in ds.items() for k, v in d["fd_pairs"].items()]
    cost = [
        [n, *(d["seconds"][k] for k in ("mesh_and_factorise", "shape_gradient", "remeshed_fd_per_bond"))]
        for n, d in ds.items()
    ]
    values = {
        "reference": results["reference"],
        "fd_02_error_pct": 100 * max(fd02, default=float("nan")),
        "fd_bonds": results["fd_bonds"],
        "table_designs": table(
            ["design", "loss (mm^2)", "largest |dL/dw| (N)", "dofs"],
            [[n, f"{d['loss']:.5g}", f"{d['max_abs_exact']:.4g}", d["n_dofs"]] for n, d in ds.items()],
        ),
        "table_estimates": table(
            ["design", *_METRIC_HEADER], [[n, *row] for n, d in ds.items() for row in _metric_rows(d["metrics"])]
        ),
        "table_fd": table(
            ["design", *_METRIC_HEADER], [[n, *row] for n, d in ds.items() for row in _metric_rows(d["fd_vs_exact"])]
        ),
        "table_fd_pairs": table(
            ["design", "steps (mm)", "rel. L2 difference", "max abs difference / max abs exact"], pairs
        ),
        "table_cost": table(["design", "mesh + factorise", "shape gradient", "remeshed FD per bond"], cost),
    }
    write_report(NAME, out, results, values, {"has_fd_pairs": bool(pairs), "has_slenderness": slender}, started)


def main(argv: list[str] | None = None) -> int:
    return study_main(
        NAME, __doc__, compute, render, argv, "paper sample only, remeshed FD at 0.2 mm on 7 bonds", takes_data=False
    )


if __name__ == "__main__":
    sys.exit(main())
