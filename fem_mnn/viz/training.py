"""Figures: the lattice drawn to scale with its widths, and training curves.

Every function returns a :class:`matplotlib.figure.Figure` made through
:func:`fem_mnn.viz.figure.subplots` (object API: no pyplot, no global backend switch);
save it with ``fig.savefig``.
Bonds are drawn as rectangles of their real width (mm) along the node-to-node
line, coloured by width on the printable range; node ids are 0-based.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from matplotlib.collections import PatchCollection
from matplotlib.lines import Line2D
from matplotlib.patches import Polygon

from fem_mnn.design.records import Design
from fem_mnn.viz.figure import subplots

__all__ = ["compare_widths_figure", "draw_lattice", "lattice_figure", "training_curves_figure"]


def _bond_polygons(design: Design, widths: np.ndarray) -> list[np.ndarray]:
    p0 = design.nodes[design.bonds[:, 0]]
    p1 = design.nodes[design.bonds[:, 1]]
    n = design.directions
    normal = np.stack([-n[:, 1], n[:, 0]], axis=1) * (0.5 * np.asarray(widths))[:, None]
    return [np.array([a + h, b + h, b - h, a - h]) for a, b, h in zip(p0, p1, normal, strict=True)]


def draw_lattice(
    ax: Any,
    design: Design,
    widths: np.ndarray | None = None,
    *,
    loads: np.ndarray | None = None,
    outputs: Sequence[tuple[int, int]] = (),
    displacement: np.ndarray | None = None,
    disp_scale: float = 1.0,
    label_nodes: bool = True,
    label_bonds: bool = False,
    cmap: str = "viridis",
    vmin: float | None = None,
    vmax: float | None = None,
    arrow_scale: float | None = None,
    legend: bool = True,
) -> Any:
    """Draw the lattice to scale on ``ax``; returns the bonds' collection (for a colour bar).

    Args:
        ax: Matplotlib axes.
        design: The lattice.
        widths: Bond widths (mm), default the design's.
        loads: (n_nodes, 2) forces (N) drawn as red arrows.
        outputs: (node, component) pairs marked in blue.
        displacement: (n_nodes, 2) displacements (mm) drawn as a grey deformed outline.
        disp_scale: Magnification of ``displacement``.
        label_nodes: Write node ids.
        label_bonds: Write bond ids at bond midpoints.
        cmap: Colour map of the widths.
        vmin: Lower end of the colour scale (default geometry.width_min).
        vmax: Upper end (default geometry.width_max).
        arrow_scale: Arrow length per N (mm/N); default makes the largest 0.6 a.
        legend: Explain the marks (fixed nodes, loads, outputs, deformed shape) in a legend.
    """
    w = np.asarray(design.widths if widths is None else widths, dtype=float)
    vmin = design.geometry.width_min if vmin is None else vmin
    vmax = design.geometry.width_max if vmax is None else vmax
    coll = PatchCollection([Polygon(p, closed=True) for p in _bond_polygons(design, w)], cmap=cmap, zorder=2)
    coll.set_array(w)
    coll.set_clim(vmin, vmax)
    coll.set_edgecolor("k")
    coll.set_linewidth(0.3)
    ax.add_collection(coll)
    a = float(np.median(design.lengths))
    if displacement is not None:
        x = design.nodes + disp_scale * np.asarray(displacement)
        for i, j in design.bonds:
            ax.plot(*x[[i, j]].T, color="0.5", lw=0.6, ls="--", zorder=1)
    ax.scatter(*design.nodes.T, s=12, color="k", zorder=3)
    if design.fixed:
        fx = design.nodes[list(design.fixed)]
        ax.scatter(fx[:, 0], fx[:, 1] + 0.25 * a, marker="v", s=90, color="tab:green", zorder=4)
    if label_nodes:
        for i, (x, y) in enumerate(design.nodes):
            ax.annotate(str(i), (x, y), xytext=(4, 4), textcoords="offset points", fontsize=7, zorder=5)
    if label_bonds:
        mid = 0.5 * (design.nodes[design.bonds[:, 0]] + design.nodes[design.bonds[:, 1]])
        for b, (x, y) in enumerate(mid):
            ax.text(x, y, str(b), fontsize=5, ha="center", va="center", color="w", zorder=5)
    if loads is not None:
        f = np.asarray(loads, dtype=float)
        mag = np.hypot(f[:, 0], f[:, 1])
        if mag.max() > 0:
            sc = arrow_scale if arrow_scale is not None else 0.6 * a / mag.max()
            for i in np.nonzero(mag > 0)[0]:
                x, y = design.nodes[i]
                ax.annotate(
                    "",
                    xy=(x + sc * f[i, 0], y + sc * f[i, 1]),
                    xytext=(x, y),
                    arrowprops={"arrowstyle": "-|>", "color": "tab:red", "lw": 1.5},
                    zorder=6,
                )
    for node, comp in outputs:
        x, y = design.nodes[node]
        ax.scatter([x], [y], s=80, facecolors="none", edgecolors="tab:blue", linewidths=1.5, zorder=6)
        ax.annotate("xy"[comp], (x, y), xytext=(-10, -10), textcoords="offset points", color="tab:blue", fontsize=7)
    if legend:
        handles = []
        if design.fixed:
            handles.append(Line2D([], [], marker="v", ms=9, ls="", color="tab:green", label="fixed node"))
        if loads is not None and np.any(np.asarray(loads) != 0):
            handles.append(Line2D([], [], marker=r"$\rightarrow$", ms=12, ls="", color="tab:red", label="load"))
        if len(outputs):
            handles.append(
                Line2D([], [], marker="o", ms=8, ls="", mfc="none", mec="tab:blue", mew=1.5, label="output (x/y)")
            )
        if displacement is not None:
            handles.append(Line2D([], [], ls="--", color="0.5", label=f"deformed (x{disp_scale:g})"))
        if handles:
            ax.legend(handles=handles, loc="lower left", fontsize=7, framealpha=0.85)
    ax.set_aspect("equal")
    lo = design.nodes.min(axis=0) - 0.8 * a
    hi = design.nodes.max(axis=0) + 0.5 * a
    ax.set_xlim(lo[0], hi[0])
    ax.set_ylim(lo[1], hi[1])
    ax.set_xlabel("x (mm)")
    ax.set_ylabel("y (mm)")
    return coll


def lattice_figure(design: Design, widths: np.ndarray | None = None, title: str = "", **kwargs: Any) -> Any:
    """One lattice panel with a width colour bar; ``kwargs`` go to :func:`draw_lattice`."""
    fig, ax = subplots(figsize=(6.5, 4.8))
    coll = draw_lattice(ax, design, widths, **kwargs)
    fig.colorbar(coll, ax=ax, label="bond width (mm)", shrink=0.8)
    ax.set_title(title)
    fig.tight_layout()
    return fig


def compare_widths_figure(
    design: Design,
    before: np.ndarray,
    after: np.ndarray,
    titles: tuple[str, str] = ("before", "after"),
    suptitle: str = "",
    **kwargs: Any,
) -> Any:
    """Two lattices side by side on one colour scale (e.g. before/after training)."""
    fig, axes = subplots(1, 2, figsize=(12, 4.8))
    colls = []
    for ax, w, t in zip(axes, (before, after), titles, strict=True):
        colls.append(draw_lattice(ax, design, w, **kwargs))
        ax.set_title(t)
    fig.colorbar(colls[-1], ax=list(axes), label="bond width (mm)", shrink=0.8)
    if suptitle:
        fig.suptitle(suptitle)
    return fig


def training_curves_figure(
    runs: Sequence[tuple[str, Any]],
    loss_key: str = "loss",
    metric_keys: Sequence[str] = (),
    loss_label: str = "loss",
    metric_label: str = "",
    paper: Sequence[tuple[str, np.ndarray, np.ndarray]] = (),
    title: str = "",
    logx: bool = False,
    outputs: Sequence[tuple[str, float, str]] = (),
) -> Any:
    """Loss (log scale) and metrics against epoch for one or more runs; outputs against their targets.

    Args:
        runs: ``(label, result)`` pairs; ``result`` is a :class:`~fem_mnn.learn.training.TrainResult`.
        loss_key: History key plotted on the log axis (``loss``, ``loss_paper``,
            ``train_loss``...).
        metric_keys: Metrics plotted on a second panel (``train_accuracy``...).
        loss_label: y label of the loss panel.
        metric_label: y label of the metric panel.
        paper: ``(label, epoch, value)`` curves of the paper drawn dashed on the loss panel.
        title: Figure title.
        logx: Epochs on a log scale.
        outputs: ``(history key, target, label)`` of output displacements (mm), e.g.
            ``("train_u_12y", -0.6, "u_12y")``: a panel of each output (solid) against its
            target (dashed, same colour), for single-case (behaviour) tasks.
    """
    n = 1 + bool(metric_keys) + bool(outputs)
    fig, axes = subplots(1, n, figsize=(6 * n, 4.2), squeeze=False)
    ax = axes[0, 0]
    for label, res in runs:
        y = res.series(loss_key)
        ax.semilogy(np.arange(1, len(y) + 1), y, label=label)
    styles = [("k", "--"), ("0.45", "--"), ("k", ":"), ("0.45", ":")]
    for n, (label, ep, val) in enumerate(paper):
        color, ls = styles[n % len(styles)]
        ax.semilogy(ep, val, ls, color=color, lw=1.2, label=label)
    ax.set_xlabel("epoch")
    ax.set_ylabel(loss_label)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    if metric_keys:
        ax2 = axes[0, 1]
        for label, res in runs:
            for key in metric_keys:
                y = res.series(key)
                ax2.plot(np.arange(1, len(y) + 1), y, label=f"{label} {key}" if len(runs) > 1 else key)
        ax2.set_xlabel("epoch")
        ax2.set_ylabel(metric_label or ", ".join(metric_keys))
        ax2.grid(True, alpha=0.3)
        ax2.legend(fontsize=8)
    if outputs:
        ax3 = axes[0, -1]
        for k, (key, target, label) in enumerate(outputs):
            colour = f"C{k % 10}"
            for _, res in runs:
                y = res.series(key)
                final = f" (final {y[-1]:.3g})" if len(y) else ""  # no epoch ran (epochs 0): no curve
                ax3.plot(np.arange(1, len(y) + 1), y, color=colour, label=f"{label}{final}")
            ax3.axhline(target, color=colour, ls="--", lw=1.2, label=f"{label} target {target:.3g}")
        ax3.set_xlabel("epoch")
        ax3.set_ylabel("output displacement (mm)")
        ax3.set_title("outputs (solid) and targets (dashed)", fontsize=9)
        ax3.grid(True, alpha=0.3)
        ax3.legend(fontsize=8)
    if logx:
        for a in axes.ravel():
            a.set_xscale("log")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig
