"""Printed shape of each beam, as numbers (no gmsh).

Shared by the Gmsh geometry, the STL and the printability checks.

A bond ``i`` between nodes ``a`` and ``b`` (centre distance ``L``) is, along its
centre line from ``a``::

    hub a (radius R) | thin end | bar | thin end | hub b (radius R)
    0 ............ R   R + l_t    ...   L - R - l_t ... L - R ....... L

The free length ``L - 2R`` between the hub circles is split
``1 : bar_to_thin_end : 1`` (thin : bar : thin). The bar has the bond width ``w``,
the thin ends ``thin_end_ratio * w``. The beam outline starts at the node centre
and is cut by the hub circle, so the beam meets its hub along an arc (no gap, no
sliver); all lengths are measured on the centre line.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fem_mnn.design.records import Design

__all__ = ["BeamLayout", "beam_layout", "bond_polygon", "bond_rectangles"]


@dataclass(frozen=True)
class BeamLayout:
    """Per-bond dimensions (arrays of length n_bonds, mm).

    Attributes:
        length: Node-to-node length L.
        free_length: Length between the two hub circles, ``L - 2R``.
        thin_length: Length of each thin end (centre line).
        bar_length: Length of the bar.
        width: Bar width w.
        thin_width: Thin-end width ``thin_end_ratio * w``.
        radius: Hub radius R (scalar).
    """

    length: np.ndarray
    free_length: np.ndarray
    thin_length: np.ndarray
    bar_length: np.ndarray
    width: np.ndarray
    thin_width: np.ndarray
    radius: float


def beam_layout(design: Design) -> BeamLayout:
    """Dimensions of every beam of ``design`` (no validity check)."""
    g = design.geometry
    L = design.lengths
    R = float(g.junction_radius)
    free = L - 2.0 * R
    thin = free / (g.bar_to_thin_end + 2.0)
    w = np.asarray(design.widths, dtype=float)
    return BeamLayout(
        length=L,
        free_length=free,
        thin_length=thin,
        bar_length=g.bar_to_thin_end * thin,
        width=w,
        thin_width=g.thin_end_ratio * w,
        radius=R,
    )


def _local_to_global(design: Design, i: int, pts: np.ndarray) -> np.ndarray:
    a = design.nodes[design.bonds[i, 0]]
    d = design.nodes[design.bonds[i, 1]] - a  # bond i only: Design.directions is every bond's (O(n) per call)
    u = d / np.hypot(d[0], d[1])
    n = np.array([-u[1], u[0]])
    return a + pts[:, :1] * u + pts[:, 1:] * n


def bond_polygon(design: Design, i: int, layout: BeamLayout | None = None) -> np.ndarray:
    """Outline of bond ``i`` from node centre to node centre, counter-clockwise.

    Returns a (k, 2) array (k = 12, or 4 when the thin ends are as wide as the bar).
    The part inside the hub disks is cut away by the geometry.
    """
    lay = layout or beam_layout(design)
    L, R, lt = lay.length[i], lay.radius, lay.thin_length[i]
    hb, ht = lay.width[i] / 2, lay.thin_width[i] / 2
    if np.isclose(hb, ht):
        loc = np.array([[0, -hb], [L, -hb], [L, hb], [0, hb]], dtype=float)
    else:
        s1, s2 = R + lt, L - R - lt
        loc = np.array(
            [
                [0, -ht],
                [s1, -ht],
                [s1, -hb],
                [s2, -hb],
                [s2, -ht],
                [L, -ht],
                [L, ht],
                [s2, ht],
                [s2, hb],
                [s1, hb],
                [s1, ht],
                [0, ht],
            ],
            dtype=float,
        )
    return _local_to_global(design, i, loc)


def bond_rectangles(design: Design, i: int, layout: BeamLayout | None = None) -> list[np.ndarray]:
    """Bond ``i`` as convex pieces (thin end at a, bar, thin end at b).

    Each is a (4, 2) counter-clockwise rectangle, node centre to node centre.
    """
    lay = layout or beam_layout(design)
    L, R, lt = lay.length[i], lay.radius, lay.thin_length[i]
    hb, ht = lay.width[i] / 2, lay.thin_width[i] / 2
    s1, s2 = R + lt, L - R - lt

    def rect(s0: float, s3: float, h: float) -> np.ndarray:
        return _local_to_global(design, i, np.array([[s0, -h], [s3, -h], [s3, h], [s0, h]], dtype=float))

    return [rect(0.0, s1, ht), rect(s1, s2, hb), rect(s2, L, ht)]
