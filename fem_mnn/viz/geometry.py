"""Pictures of the printed geometry and of its tagged mesh (PNG, drawn to scale).

:func:`plot_geometry` draws the beam outlines (thin end | bar | thin end) and the
hubs from the design alone, coloured by width (colour bar), with loads and targets
when given; :func:`plot_mesh` meshes the design in 2D with gmsh and
colours every triangle by its physical group (bonds by id, hubs grey, overlaps red),
with the bond and node ids written on them. Both use matplotlib's object API (no global backend).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path

import gmsh
import matplotlib
import numpy as np
from matplotlib.artist import Artist
from matplotlib.axes import Axes
from matplotlib.cm import ScalarMappable
from matplotlib.collections import PolyCollection
from matplotlib.colors import ListedColormap, Normalize
from matplotlib.lines import Line2D
from matplotlib.patches import Circle, Patch, Polygon

from fem_mnn.core.files import atomic_path
from fem_mnn.design.outline import beam_layout, bond_polygon
from fem_mnn.design.records import Design
from fem_mnn.geometry import tags
from fem_mnn.geometry.build import GeometryInfo, MeshOptions, build_model, gmsh_session
from fem_mnn.viz.figure import Figure, subplots

__all__ = ["plot_geometry", "plot_mesh"]


def _bond_colours() -> list[tuple[float, ...]]:
    """tab20 without its greys (the hubs are grey), as RGB tuples."""
    tab20 = matplotlib.colormaps["tab20"]
    assert isinstance(tab20, ListedColormap)  # a qualitative map: a list of colours
    return [tuple(c) for k, c in enumerate(np.asarray(tab20.colors, dtype=float).tolist()) if k not in (14, 15)]


_BOND_COLOURS = _bond_colours()
_NC = len(_BOND_COLOURS)


def _figure(design: Design, scale: float = 0.11) -> tuple[Figure, Axes]:
    """A figure sized to the lattice (``scale`` inch per mm, capped)."""
    R = design.geometry.junction_radius
    span = np.ptp(design.nodes, axis=0) + 2 * R + 8
    k = min(scale, 16.0 / max(span))
    fig, ax = subplots(figsize=(max(span[0] * k, 4.0), max(span[1] * k, 3.0) + 0.6))
    ax.set_aspect("equal")
    ax.set_xlabel("x (mm)")
    ax.set_ylabel("y (mm)")
    lo = design.nodes.min(axis=0) - R - 4
    hi = design.nodes.max(axis=0) + R + 4
    ax.set_xlim(lo[0], hi[0])
    ax.set_ylim(lo[1], hi[1])
    return fig, ax


def _labels(ax: Axes, design: Design, fontsize: float = 7, node_colour: str = "white") -> None:
    mid = 0.5 * (design.nodes[design.bonds[:, 0]] + design.nodes[design.bonds[:, 1]])
    for i, (x, y) in enumerate(mid):
        ax.text(
            x,
            y,
            str(i),
            ha="center",
            va="center",
            fontsize=fontsize,
            color="black",
            clip_on=True,
            bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none", "alpha": 0.8},
        )
    for j, (x, y) in enumerate(design.nodes):
        ax.text(
            x, y, str(j), ha="center", va="center", fontsize=fontsize, color=node_colour, weight="bold", clip_on=True
        )


def _save(fig: Figure, path: str | Path) -> Path:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=150, bbox_inches="tight", format="png")
    return Path(path)


def plot_geometry(
    design: Design,
    path: str | Path,
    *,
    highlight_bonds: Sequence[int] = (),
    highlight_nodes: Sequence[int] = (),
    loads: np.ndarray | None = None,
    targets: np.ndarray | None = None,
    cmap: str = "viridis",
) -> Path:
    """PNG of the beam outlines and hubs, to scale, coloured by width, bonds and nodes labelled by id.

    Every beam is drawn with its real outline (thin end | bar | thin end, mm) and
    coloured by its width on the printable range (colour bar). Clamped nodes are
    hatched; ``highlight_*`` (e.g. the ids of a printability report) are outlined in
    thick red.

    Args:
        design: The lattice.
        path: The PNG to write.
        highlight_bonds: Bond ids outlined in red.
        highlight_nodes: Node ids outlined in red.
        loads: (n_nodes, 2) or (1, n_nodes, 2) forces (N): an arrow on every loaded node.
        targets: (n_nodes, 2) or (1, n_nodes, 2) target displacements (mm, NaN = free):
            a ring on every target node, with the target components written beside it.
        cmap: Matplotlib colour map of the widths.

    Returns:
        ``path``.
    """
    hb, hn = set(highlight_bonds), set(highlight_nodes)
    fig, ax = _figure(design)
    lay = beam_layout(design)
    g = design.geometry
    norm = Normalize(
        vmin=min(g.width_min, float(design.widths.min())), vmax=max(g.width_max, float(design.widths.max()))
    )
    colours = matplotlib.colormaps[cmap]
    for i in range(design.n_bonds):
        red = i in hb
        ax.add_patch(
            Polygon(
                bond_polygon(design, i, lay),
                closed=True,
                fc=colours(norm(design.widths[i])),
                ec="red" if red else "k",
                lw=1.5 if red else 0.4,
                zorder=1.5 if red else 1,  # under the hubs, over the other beams
            )
        )
    for j, (x, y) in enumerate(design.nodes):
        fixed = j in design.fixed
        red = j in hn
        ax.add_patch(
            Circle(
                (x, y),
                lay.radius,
                fc="dimgray",
                ec="red" if red else "k",
                lw=1.5 if red else 0.6,
                hatch="////" if fixed else None,
                zorder=4 if red else 2,
            )
        )
    _labels(ax, design)
    fig.colorbar(ScalarMappable(norm=norm, cmap=colours), ax=ax, label="bond width (mm)", shrink=0.8, pad=0.02)
    handles: list[Artist] = [Patch(fc="dimgray", ec="k", hatch="////", label="clamped node")] if design.fixed else []
    a = float(np.median(design.lengths))
    if loads is not None:
        f = np.asarray(loads, dtype=float).reshape(-1, design.n_nodes, 2)[0]
        mag = np.hypot(f[:, 0], f[:, 1])
        if mag.max() > 0:
            sc = 0.6 * a / mag.max()
            for j in np.nonzero(mag > 0)[0]:
                x, y = design.nodes[j]
                ax.annotate(
                    "",
                    xy=(x + sc * f[j, 0], y + sc * f[j, 1]),
                    xytext=(x, y),
                    arrowprops={"arrowstyle": "-|>", "color": "tab:red", "lw": 2.0},
                    zorder=6,
                )
                ax.annotate(
                    f"{mag[j]:.3g} N",
                    (x + sc * f[j, 0], y + sc * f[j, 1]),
                    xytext=(4, -8),
                    textcoords="offset points",
                    color="tab:red",
                    fontsize=7,
                    zorder=6,
                )
            handles.append(Line2D([], [], marker=r"$\rightarrow$", ms=12, ls="", color="tab:red", label="load"))
    if targets is not None:
        t = np.asarray(targets, dtype=float).reshape(-1, design.n_nodes, 2)[0]
        for j in np.nonzero(np.any(~np.isnan(t), axis=1))[0].tolist():
            x, y = design.nodes[j]
            ax.add_patch(Circle((x, y), 1.35 * lay.radius, fill=False, ec="tab:blue", lw=1.8, zorder=5))
            text = ", ".join(f"u{'xy'[c]} {t[j, c]:.3g}" for c in range(2) if not np.isnan(t[j, c]))
            ax.annotate(
                text,
                (x, y - 1.45 * lay.radius),
                ha="center",
                va="top",
                color="tab:blue",
                fontsize=7,
                zorder=6,
                bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none", "alpha": 0.8},
            )
        handles.append(
            Line2D([], [], marker="o", ms=9, ls="", mfc="none", mec="tab:blue", mew=1.8, label="target (mm)")
        )
    if handles:
        ax.legend(handles=handles, loc="lower left", fontsize=7, framealpha=0.85)
    ax.set_title(
        f"{design.name or 'design'}: w {design.widths.min():.2f}-{design.widths.max():.2f} mm (to scale), "
        f"thin ends x{g.thin_end_ratio:g}, bar:thin {g.bar_to_thin_end:g}:1, hub R {g.junction_radius:g} mm, "
        f"t {design.thickness:g} mm",
        fontsize=8,
    )
    return _save(fig, path)


def plot_mesh(
    design: Design, options: MeshOptions | None, path: str | Path, *, zoom_node: int | None = None
) -> GeometryInfo:
    """PNG of the 2D mesh coloured by physical group, bonds and nodes labelled.

    A 3D option set is drawn as its 2D cross-section mesh (same size rule).
    ``zoom_node`` frames the junction of that node (to count elements across the
    thin ends). Runs gmsh on this process.
    """
    opts = dataclasses.replace(options or MeshOptions(), dim=2, order=1)
    with gmsh_session():
        info = build_model(design, opts)
        node_tags, coords, _ = gmsh.model.mesh.getNodes()
        x = np.asarray(coords).reshape(-1, 3)[:, :2]
        index = np.full(int(node_tags.max()) + 1, -1, dtype=np.int64)
        index[node_tags.astype(np.int64)] = np.arange(len(node_tags))
        polys, regions = [], []
        for _, ptag in gmsh.model.getPhysicalGroups(2):
            for ent in gmsh.model.getEntitiesForPhysicalGroup(2, ptag):
                _, _, en = gmsh.model.mesh.getElements(2, int(ent))
                tri = index[np.asarray(en[0], dtype=np.int64)].reshape(-1, 3)
                polys.append(x[tri])
                regions.append(np.full(len(tri), ptag))
    verts = np.concatenate(polys)
    region = np.concatenate(regions)
    colours = []
    for t in region.tolist():
        kind, i = tags.decode(t)
        colours.append(_BOND_COLOURS[i % _NC] if kind == "bond" else ("lightgray" if kind == "node" else "red"))
    fig, ax = _figure(design)
    if zoom_node is not None:
        fig.set_size_inches(7, 7)
    ax.add_collection(PolyCollection(verts, facecolors=colours, edgecolors="k", linewidths=0.08))
    _labels(ax, design, node_colour="black")
    if zoom_node is not None:
        c, span = design.nodes[zoom_node], 3 * design.geometry.junction_radius
        ax.set_xlim(c[0] - span, c[0] + span)
        ax.set_ylim(c[1] - span, c[1] + span)
    extra = f", overlaps at nodes {list(info.overlap_nodes)} (red)" if info.overlap_nodes else ""
    ax.set_title(
        f"{design.name or 'design'}: {info.n_cells} triangles, h = {info.mesh_size:.3g} mm "
        f"({opts.elements_across} across the thinnest thin end, refinement {opts.refinement:g}); "
        f"bond_i 10000+i (colours), node_j 20000+j (grey){extra}",
        fontsize=8,
    )
    _save(fig, path)
    return info
