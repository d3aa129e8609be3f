"""Models beside measurements: spring (nominal, calibrated), frame and FEM predictions, errors, plots.

Two kinds of measurement (formats in :mod:`fem_mnn.io.measured`):

* node displacements under load cases -> every model solves the load cases and
  predicts the measured components;
* per-bond gradients ``e_i e_adj,i`` (mm^2) of a forward and an adjoint load case ->
  every model predicts its elongation product.

:func:`compare_displacements` / :func:`compare_gradients` return a
:class:`Comparison` (rows + per-model :class:`ErrorSummary`);
:func:`write_comparison` writes ``comparison.md``, ``comparison.json`` and
``parity.png`` (rank 0 only). The metrics used by the fidelity studies
(:func:`cosine`, :func:`rel_l2`, :func:`sign_agreement`, :func:`bond_rel_error`)
live here too.

Model names: ``spring`` (k = E t w / L), ``spring-calibrated`` (k(w) from
:mod:`fem_mnn.fem.calibration`), ``frame`` (:class:`fem_mnn.spring.frame.FrameModel` with the
calibrated axial law), ``fem`` (DOLFINx, node displacement = junction average),
``fem-centre`` (FEM, node displacement = value at the node centre: what a marker
sees). FEM-based models are collective over MPI.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from fem_mnn.contract import LinearOperator, elongations
from fem_mnn.core.errors import InputError
from fem_mnn.core.files import atomic_path, atomic_write_json, atomic_write_text
from fem_mnn.core.metrics import cosine, rel_l2, sign_agreement, significant
from fem_mnn.design.records import Design
from fem_mnn.io.report import markdown_table
from fem_mnn.spring.frame import FrameModel
from fem_mnn.spring.network import SpringModel
from fem_mnn.viz.figure import subplots

__all__ = [
    "ALL_MODELS",
    "Comparison",
    "ErrorSummary",
    "Predictor",
    "bond_rel_error",
    "compare_displacements",
    "compare_gradients",
    "cosine",
    "error_summary",
    "make_predictors",
    "parity_figure",
    "rel_l2",
    "sign_agreement",
    "write_comparison",
]

#: Every model ``fem-mnn compare`` can run, in report order.
ALL_MODELS = ("spring", "spring-calibrated", "frame", "fem", "fem-centre")


# ---------------------------------------------------------------------- metrics


def bond_rel_error(a: np.ndarray, ref: np.ndarray, floor: float = 0.05) -> tuple[float, float]:
    """(median, max) of ``|a - ref| / |ref|`` over entries with ``|ref| > floor max|ref|``."""
    sel = significant(ref, floor)
    if not sel.any():
        return math.nan, math.nan
    r = np.abs(np.asarray(a, float)[sel] - np.asarray(ref, float)[sel]) / np.abs(np.asarray(ref, float)[sel])
    return float(np.median(r)), float(np.max(r))


class ErrorSummary(NamedTuple):
    """Errors of one model against the measurements (units of the measured quantity)."""

    n: int
    rms: float
    max_abs: float
    rel_rms: float
    """RMS error / RMS of the measured values."""
    bias: float
    """Mean of (prediction - measurement)."""
    within_spread: float
    """Fraction of rows whose error is within the measured spread (NaN if no spreads)."""
    best_scale: float
    """Least-squares factor s minimising |s pred - meas| (1 = right overall stiffness)."""
    rel_rms_scaled: float
    """rel_rms after that scaling (the shape error)."""


def error_summary(pred: np.ndarray, meas: np.ndarray, spread: np.ndarray | None = None) -> ErrorSummary:
    """RMS, max, relative errors of ``pred`` against ``meas`` (NaN rows dropped)."""
    p, m = np.asarray(pred, float).ravel(), np.asarray(meas, float).ravel()
    ok = np.isfinite(p) & np.isfinite(m)
    p, m = p[ok], m[ok]
    if p.size == 0:
        return ErrorSummary(0, *(math.nan,) * 7)
    r = p - m
    rms_m = float(np.sqrt(np.mean(m * m)))
    within = math.nan
    if spread is not None:
        s = np.asarray(spread, float).ravel()[ok]
        if np.all(np.isfinite(s)):
            within = float(np.mean(np.abs(r) <= np.abs(s)))
    s_best = float(p @ m / (p @ p)) if p @ p > 0 else math.nan
    rs = s_best * p - m
    return ErrorSummary(
        n=int(p.size),
        rms=float(np.sqrt(np.mean(r * r))),
        max_abs=float(np.max(np.abs(r))),
        rel_rms=float(np.sqrt(np.mean(r * r)) / rms_m) if rms_m > 0 else math.nan,
        bias=float(np.mean(r)),
        within_spread=within,
        best_scale=s_best,
        rel_rms_scaled=float(np.sqrt(np.mean(rs * rs)) / rms_m) if rms_m > 0 else math.nan,
    )


# ---------------------------------------------------------------------- models

#: A predictor maps loads (n_cases, n_nodes, 2) to node displacements (n_cases, n_nodes, 2).
Predictor = Callable[[np.ndarray], np.ndarray]


def make_predictors(
    design: Design,
    models: Sequence[str] = ALL_MODELS,
    fem_options: Any = None,
    comm: Any = None,
    calibration_cache: str | Path | None = None,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Predictor]:
    """Predictors of node displacements for the named models at the design's widths (collective if FEM).

    The calibrated law is computed (or read from the cache) when a model needs it.
    """
    unknown = [m for m in models if m not in ALL_MODELS]
    if unknown:
        raise InputError(f"unknown model (choose from {', '.join(ALL_MODELS)})", field="models", value=unknown[0])
    say = progress or (lambda _m: None)
    out: dict[str, Predictor] = {}
    law = None
    if "spring-calibrated" in models or "frame" in models:
        from fem_mnn.fem.calibration import calibrated_law

        say("calibrating k(w) (cached)")
        law = calibrated_law(design, options=fem_options, cache=calibration_cache, comm=comm)
    if "spring" in models:
        out["spring"] = _displacements(SpringModel(design).operator())
    if "spring-calibrated" in models:
        assert law is not None  # calibrated above
        out["spring-calibrated"] = _displacements(SpringModel(design, law).operator())
    if "frame" in models:
        out["frame"] = _displacements(FrameModel(design, law=law).operator())
    if "fem" in models or "fem-centre" in models:
        from fem_mnn.fem.linear import FemModel, FemOptions

        say("meshing and factorising the FEM model")
        opts = fem_options or FemOptions()
        fop = FemModel(design, opts, comm=comm).operator()
        cache: dict[bytes, Any] = {}

        def fem_solve(f: np.ndarray, centre: bool) -> np.ndarray:
            key = np.ascontiguousarray(f).tobytes()
            if key not in cache:
                s = fop.solve_fields(f)
                cache[key] = (s.u_average, np.stack([fop.extractor.centre_values(x)[:, :2] for x in s.fields]))
            return cache[key][1 if centre else 0]

        if "fem" in models:
            out["fem"] = lambda f: fem_solve(f, False)
        if "fem-centre" in models:
            out["fem-centre"] = lambda f: fem_solve(f, True)
    return {m: out[m] for m in models}


def _displacements(op: LinearOperator) -> Predictor:
    """The predictor of one operator: forces (n_cases, n_nodes, 2) (N) -> displacements (mm)."""
    return lambda f: op.solve(f).u


# ---------------------------------------------------------------------- comparisons


@dataclass
class Comparison:
    """Measured values beside model predictions.

    Attributes:
        kind: ``"displacement"`` (mm) or ``"gradient"`` (e e_adj, mm^2).
        labels: One label per row (load case, node, component or bond).
        measured: (n_rows,) measured values.
        spread: (n_rows,) measured spreads (NaN when unknown).
        predictions: Model name -> (n_rows,) predictions.
        summary: Model name -> error summary.
        unit: Unit of the values.
        notes: Free text (how the comparison was made).
        caveat: What the comparison is not (e.g. "UNTRAINED model vs TRAINED network's measurement"):
            shown in the table header, the plot title and the JSON; empty when none.
    """

    kind: str
    labels: list[str]
    measured: np.ndarray
    spread: np.ndarray
    predictions: dict[str, np.ndarray]
    unit: str
    notes: list[str] = field(default_factory=list)
    summary: dict[str, ErrorSummary] = field(default_factory=dict)
    caveat: str = ""

    def __post_init__(self) -> None:
        if not self.summary:
            self.summary = {m: error_summary(p, self.measured, self.spread) for m, p in self.predictions.items()}

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready record."""
        return {
            "kind": self.kind,
            "unit": self.unit,
            "caveat": self.caveat or None,
            "notes": self.notes,
            "rows": [
                {
                    "label": lab,
                    "measured": float(self.measured[r]),
                    "spread": float(self.spread[r]),
                    **{m: float(p[r]) for m, p in self.predictions.items()},
                }
                for r, lab in enumerate(self.labels)
            ],
            "summary": {m: s._asdict() for m, s in self.summary.items()},
        }

    def markdown(self) -> str:
        """Tables: the rows, then the error summary."""
        models = list(self.predictions)
        rows = [
            [lab, float(self.measured[r]), float(self.spread[r]), *[float(self.predictions[m][r]) for m in models]]
            for r, lab in enumerate(self.labels)
        ]
        text = f"**Measured vs predicted ({self.kind}, {self.unit})**\n\n"
        if self.caveat:
            text = f"**Measured vs predicted ({self.kind}, {self.unit}): {self.caveat}**\n\n"
        text += markdown_table(["row", "measured", "spread", *models], rows)
        srows = [
            [m, s.n, s.rms, s.max_abs, s.rel_rms, s.bias, s.within_spread, s.best_scale, s.rel_rms_scaled]
            for m, s in self.summary.items()
        ]
        text += f"\n**Errors against the measurement ({self.unit})**\n\n"
        text += markdown_table(
            ["model", "n", "RMS", "max abs err", "rel. RMS", "bias", "within spread", "best scale", "rel. RMS scaled"],
            srows,
        )
        for n in self.notes:
            text += f"\n{n}\n"
        return text


def compare_displacements(
    design: Design,
    records: Sequence[Any],
    loads: dict[str, np.ndarray],
    predictors: dict[str, Predictor],
) -> Comparison:
    """Predict every measured displacement component (collective if FEM predictors).

    Args:
        design: The lattice.
        records: :class:`fem_mnn.io.measured.Displacement` rows.
        loads: Load case -> (n_nodes, 2) forces (N) (:func:`fem_mnn.io.measured.load_cases`).
        predictors: From :func:`make_predictors`.
    """
    cases = sorted({r.load_case for r in records}, key=lambda c: list(loads).index(c) if c in loads else 1 << 30)
    missing = [c for c in cases if c not in loads]
    if missing:
        raise InputError("measured load case has no row in the load table", field="load_case", value=missing[0])
    F = np.stack([loads[c] for c in cases])
    preds = {m: p(F) for m, p in predictors.items()}
    labels, meas, spread = [], [], []
    vals: dict[str, list[float]] = {m: [] for m in predictors}
    for r in records:
        c = cases.index(r.load_case)
        for comp, name in ((0, "ux"), (1, "uy")):
            v = (r.ux, r.uy)[comp]
            if not math.isfinite(v):
                continue
            labels.append(f"{r.load_case} node {r.node} {name}")
            meas.append(v)
            spread.append((r.spread_ux, r.spread_uy)[comp])
            for m in predictors:
                vals[m].append(float(preds[m][c, r.node, comp]))
    return Comparison(
        kind="displacement",
        labels=labels,
        measured=np.array(meas),
        spread=np.array(spread),
        predictions={m: np.array(v) for m, v in vals.items()},
        unit="mm",
    )


def compare_gradients(
    design: Design,
    records: Sequence[Any],
    forward: np.ndarray,
    adjoint: np.ndarray,
    predictors: dict[str, Predictor],
) -> Comparison:
    """Predict every measured per-bond elongation product e_i e_adj,i (collective if FEM).

    Args:
        design: The lattice.
        records: :class:`fem_mnn.io.measured.Gradient` rows (mm^2).
        forward: (n_nodes, 2) forward load (N).
        adjoint: (n_nodes, 2) adjoint load (N).
        predictors: From :func:`make_predictors`.
    """
    F = np.stack([forward, adjoint])
    preds = {}
    for m, p in predictors.items():
        e = elongations(p(F), design)
        preds[m] = e[0] * e[1]
    bonds = [r.bond for r in records]
    return Comparison(
        kind="gradient",
        labels=[f"bond {b} ({design.bonds[b, 0]}-{design.bonds[b, 1]})" for b in bonds],
        measured=np.array([r.grad for r in records]),
        spread=np.array([r.spread for r in records]),
        predictions={m: v[bonds] for m, v in preds.items()},
        unit="mm^2",
    )


#: Parity plots name this many rows farthest from the identity line.
OUTLIERS_LABELLED = 4


def parity_figure(comparisons: Sequence[Comparison], title: str = "") -> Any:
    """Parity plot (predicted vs measured, one panel per comparison, one colour per model)."""
    n = len(comparisons)
    fig, axes = subplots(1, n, figsize=(4.8 * n, 4.6), squeeze=False)
    markers = {"spring": "o", "spring-calibrated": "s", "frame": "^", "fem": "D", "fem-centre": "v"}
    for ax, cmp_ in zip(axes[0], comparisons, strict=True):
        m = cmp_.measured
        lo = min(np.nanmin(m), *(np.nanmin(p) for p in cmp_.predictions.values()))
        hi = max(np.nanmax(m), *(np.nanmax(p) for p in cmp_.predictions.values()))
        pad = 0.05 * (hi - lo or 1.0)
        ax.plot([lo - pad, hi + pad], [lo - pad, hi + pad], "k-", lw=0.8)
        for name, p in cmp_.predictions.items():
            s = cmp_.summary[name]
            ax.scatter(p, m, s=18, marker=markers.get(name, "o"), alpha=0.75, label=f"{name} (rel RMS {s.rel_rms:.2f})")
        if np.any(np.isfinite(cmp_.spread)):
            ax.errorbar(
                list(cmp_.predictions.values())[0],
                m,
                yerr=np.nan_to_num(np.abs(cmp_.spread)),
                fmt="none",
                ecolor="0.6",
                lw=0.6,
            )
        # name the rows farthest from the identity line (worst model per row)
        worst = np.nanmax(np.abs(np.array([p - m for p in cmp_.predictions.values()])), axis=0)
        first = list(cmp_.predictions.values())[0]
        for r in [r for r in np.argsort(-np.nan_to_num(worst, nan=-1.0))[:OUTLIERS_LABELLED] if np.isfinite(worst[r])]:
            ax.annotate(cmp_.labels[r], (first[r], m[r]), fontsize=6, xytext=(3, 3), textcoords="offset points")
        ax.set_xlabel(f"predicted ({cmp_.unit})")
        ax.set_ylabel(f"measured ({cmp_.unit})")
        ax.set_title(cmp_.kind + (f"\n{cmp_.caveat}" if cmp_.caveat else ""), fontsize=9 if cmp_.caveat else None)
        ax.legend(fontsize=7)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def write_comparison(out: str | Path, comparisons: Sequence[Comparison], meta: dict[str, Any], title: str) -> Path:
    """Write comparison.md, comparison.json and parity.png into ``out`` (call on rank 0 only)."""
    out = Path(out)
    md = f"# {title}\n\n" + "\n".join(f"- {k}: {v}" for k, v in meta.items()) + "\n\n"
    md += "\n".join(c.markdown() for c in comparisons)
    md += "\n![parity](parity.png)\n"
    atomic_write_text(out / "comparison.md", md)
    atomic_write_json(out / "comparison.json", {"meta": meta, "comparisons": [c.to_dict() for c in comparisons]})
    fig = parity_figure(comparisons, title)
    with atomic_path(out / "parity.png") as tmp:
        fig.savefig(tmp, dpi=130, bbox_inches="tight")
    return out
