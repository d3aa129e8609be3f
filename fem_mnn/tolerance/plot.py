"""The tolerance figure: output distributions against the nominal values, and the bond shares on the lattice."""

from __future__ import annotations

from typing import Any

import numpy as np

from fem_mnn.design.records import Design
from fem_mnn.viz.figure import subplots
from fem_mnn.viz.training import draw_lattice

__all__ = ["spreads", "tolerance_figure"]

#: Outputs drawn at most (the first ones, in output order).
MAX_OUTPUTS = 24
#: Bins of the metric's histogram.
METRIC_BINS = 40


def spreads(lo: float, hi: float, bins: int) -> bool:
    """Whether the range ``lo..hi`` splits into ``bins`` bins of distinct floating-point edges.

    numpy's own test (``np.histogram`` refuses such a range): False when the values do not
    spread beyond a few units of rounding, and a histogram of them would only show round-off.
    """
    edges = np.linspace(lo, hi, bins + 1)
    return bool(hi > lo and np.all(edges[:-1] < edges[1:]))


def tolerance_figure(design: Design, result: dict[str, Any], samples: np.ndarray | None = None) -> Any:
    """Three panels: output distributions, the task metric's histogram, and the variance per bond.

    Sampled output distributions (violins) with the nominal value and the linearised
    +-1 sd; the task metric's histogram with the success bound; the lattice with every bond coloured
    by its share of the outputs' variance (linearised).
    """
    fig, axes = subplots(1, 3, figsize=(17, 4.8), gridspec_kw={"width_ratios": [1.6, 1, 1.3]})
    ax = axes[0]
    names = list(result["outputs"])[:MAX_OUTPUTS]
    n = len(names)
    x = np.arange(n)
    nominal = np.asarray(result["nominal"])[:n]
    if samples is not None and len(samples):
        dev = np.asarray(samples)[:, :n] - nominal[None, :]
        parts = ax.violinplot([dev[:, i] for i in range(n)], positions=x, showextrema=False, widths=0.8)
        for b in parts["bodies"]:
            b.set_alpha(0.45)
    if "linear_sd" in result:
        sd = np.asarray(result["linear_sd"])[:n]
        ax.errorbar(x, np.zeros(n), yerr=sd, fmt="none", ecolor="k", capsize=3, label="linearised +-1 sd")
    if "sampled_mean" in result:
        ax.plot(x, np.asarray(result["sampled_mean"])[:n] - nominal, "o", color="tab:red", ms=4, label="sampled mean")
    ax.axhline(0.0, color="k", lw=0.6)
    ax.set_xticks(x)
    ax.set_xticklabels(names, rotation=60, ha="right", fontsize=7)
    ax.set_ylabel("output - nominal (mm)")
    more = f" (first {n} of {len(result['outputs'])})" if len(result["outputs"]) > n else ""
    noise = result["noise"]
    ax.set_title(f"outputs{more}: S = {noise['width_sd_mm']:g} mm, R = {100 * noise['E_rel_sd']:g} %", fontsize=9)
    ax.legend(fontsize=7)

    ax = axes[1]
    ms = result.get("metric_samples")
    ms = np.asarray(ms if ms is not None else [], dtype=float)
    ms = ms[np.isfinite(ms)]
    note = ""
    if ms.size:
        lo, hi = float(ms.min()), float(ms.max())
        if spreads(lo, hi, METRIC_BINS):
            ax.hist(ms, bins=METRIC_BINS, color="0.6")
        else:
            # the metric does not move under this noise (e.g. a ratio of outputs under the common
            # modulus factor alone): one bar, wide enough to be seen, and p_success is 0 or 1
            half = 0.5 * max(hi - lo, 0.01 * max(abs(lo), abs(hi)), np.finfo(float).tiny)
            ax.hist(ms, bins=1, range=(lo - half, hi + half), color="0.6")
            note = f" (constant under this noise: spread {hi - lo:.2g})"
    ax.axvline(result["metric_nominal"], color="k", lw=1.2, label="nominal")
    crit = result.get("success")
    if crit:
        bound = crit.get("min", crit.get("max"))
        ax.axvline(bound, color="tab:red", ls="--", label=f"success {'>=' if 'min' in crit else '<='} {bound:g}")
    p = result.get("p_success")
    err = result.get("p_success_mc_err")
    ttl = result["metric"] + (f": p_success {p:.3f} +- {err:.3f}" if p is not None else "") + note
    ax.set_title(ttl, fontsize=9)
    ax.set_xlabel(result["metric"])
    ax.set_ylabel("samples")
    ax.legend(fontsize=7)

    ax = axes[2]
    share = np.asarray(result.get("bond_share_total", np.zeros(design.n_bonds)))
    coll = draw_lattice(ax, design, design.widths, label_nodes=False, label_bonds=True, cmap="magma_r", vmin=0.0,
                        vmax=max(float(share.max()), 1e-12))  # fmt: skip
    coll.set_array(share)
    fig.colorbar(coll, ax=ax, label="share of the outputs' variance (linearised)", shrink=0.8)
    dom = result.get("dominant_bond")
    ax.set_title(
        f"bond shares (dominant: bond {dom}, {100 * share.max():.0f} %)" if dom is not None else "", fontsize=9
    )
    fig.tight_layout()
    return fig
