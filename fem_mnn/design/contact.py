"""Self-contact of a deformed lattice: do beams or hubs that are not joined touch (pure geometry, no FE)?

The printed lattice is split into parts: every hub (the disc of radius R around a node) and every
beam outside its two hubs (thin end | bar | thin end, the outline of
:mod:`fem_mnn.design.outline` cut where its edges meet the hub circles). Each part's outline is
sampled (:func:`part_outlines`); a model moves the samples (e.g. the FE displacement field at
large deformation, :mod:`fem_mnn.fem.mechanical_checks`) and :func:`find_contacts` checks the
moved outlines pairwise: two parts *touch* when their deformed outlines overlap (signed distance
< 0: an edge of one crosses an edge of the other, or one holds a vertex of the other). Parts that
are joined in the print are not pairs: a beam and the two hubs it ends in. Two beams that share a
hub are a pair (folding onto each other is contact), and so are any two hubs.

The answer is at the resolution of the samples (``spacing``, 0.25 mm by default: deformed beams
curve between them) and of the displacement field; a penetration is the largest distance of a
vertex of one part inside the other.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import numpy as np

from fem_mnn.design.outline import beam_layout
from fem_mnn.design.records import Design

__all__ = ["ContactReport", "Part", "find_contacts", "part_outlines"]


class Part(NamedTuple):
    """One part of the printed lattice."""

    name: str
    """``bond i`` or ``hub j``."""
    nodes: tuple[int, ...]
    """The nodes it is joined to (a bond: its two; a hub: its own)."""
    outline: np.ndarray
    """(k, 2) reference outline, counter-clockwise, closed implicitly (mm)."""
    probe: np.ndarray
    """(k, 2) where to read the displacement of each outline point, a little inside the part (mm)."""


class ContactReport(NamedTuple):
    """Pairs of parts whose deformed outlines overlap, and the nearest pair that does not."""

    touching: list[dict[str, Any]]
    """``[{"parts": [a, b], "penetration_mm": d}, ...]``, deepest first."""
    min_gap_mm: float
    """Smallest distance between two parts that do not touch (inf when no pair was within ``near``)."""
    closest: list[str]
    """The two parts at ``min_gap_mm`` (empty if none)."""
    n_pairs: int
    """Pairs checked."""


def _resample(poly: np.ndarray, spacing: float) -> np.ndarray:
    """Points along the closed polygon's edges, no edge longer than ``spacing``."""
    out = []
    for a, b in zip(poly, np.roll(poly, -1, axis=0), strict=True):
        n = max(1, math.ceil(float(np.hypot(*(b - a))) / spacing))
        out.append(a + np.outer(np.arange(n) / n, b - a))
    return np.concatenate(out)


def part_outlines(
    design: Design, spacing: float = 0.25, inset: float = 0.02, hub_inset: float = 0.25, hub_points: int = 48
) -> list[Part]:
    """The parts of ``design`` (hubs first, then bonds) with sampled outlines.

    Args:
        design: The lattice at its widths.
        spacing: Largest distance between outline samples (mm).
        inset: How far inside a beam the displacement of an outline point is read (mm): the
            outline itself is the mesh boundary (straight there).
        hub_inset: The same for a hub, whose circle the mesh approximates by chords: 0.25 mm holds
            chords up to 2 mm long (sagitta h^2 / (8 R) at R = 2 mm), where the hub is nearly rigid.
        hub_points: Samples on each hub circle.
    """
    lay = beam_layout(design)
    R = lay.radius
    parts = []
    ang = 2 * np.pi * np.arange(hub_points) / hub_points
    ring = np.stack([np.cos(ang), np.sin(ang)], axis=1)
    for j, x in enumerate(design.nodes):
        parts.append(Part(f"hub {j}", (j,), x + R * ring, x + (R - hub_inset) * ring))
    for i, (a, b) in enumerate(design.bonds):
        L, lt = lay.length[i], lay.thin_length[i]
        hb, ht = lay.width[i] / 2, lay.thin_width[i] / 2
        s0 = math.sqrt(max(R**2 - ht**2, 0.0))  # where the thin end's edges meet the hub circle
        s1, s2, s3 = R + lt, L - R - lt, L - s0
        loc = np.array(
            [[s0, -ht], [s1, -ht], [s1, -hb], [s2, -hb], [s2, -ht], [s3, -ht],
             [s3, ht], [s2, ht], [s2, hb], [s1, hb], [s1, ht], [s0, ht]]
        )  # fmt: skip
        loc = _resample(loc, spacing)
        probe = loc.copy()
        probe[:, 1] -= np.sign(probe[:, 1]) * inset
        probe[:, 0] = np.clip(probe[:, 0], s0 + inset, s3 - inset)
        n = design.directions[i]
        rot = np.array([[n[0], -n[1]], [n[1], n[0]]])
        x0 = design.nodes[a]
        parts.append(Part(f"bond {i}", (int(a), int(b)), x0 + loc @ rot.T, x0 + probe @ rot.T))
    return parts


def _inside(points: np.ndarray, poly: np.ndarray) -> np.ndarray:
    """Even-odd point-in-polygon for (m, 2) points."""
    x, y = points[:, 0][:, None], points[:, 1][:, None]
    a, b = poly, np.roll(poly, -1, axis=0)
    cond = (a[:, 1] > y) != (b[:, 1] > y)
    with np.errstate(divide="ignore", invalid="ignore"):
        xc = a[:, 0] + (y - a[:, 1]) * (b[:, 0] - a[:, 0]) / (b[:, 1] - a[:, 1])
    return np.count_nonzero(cond & (x < xc), axis=1) % 2 == 1


def _point_segment_distance(points: np.ndarray, poly: np.ndarray) -> np.ndarray:
    """(m,) distance of each point to the closed polygon's boundary."""
    a, b = poly, np.roll(poly, -1, axis=0)
    ab = b - a
    ap = points[:, None, :] - a[None]
    t = np.clip(np.einsum("mkd,kd->mk", ap, ab) / np.maximum(np.einsum("kd,kd->k", ab, ab), 1e-300), 0.0, 1.0)
    d = ap - t[..., None] * ab[None]
    return np.sqrt(np.einsum("mkd,mkd->mk", d, d)).min(axis=1)


def _crossing(p: np.ndarray, q: np.ndarray) -> bool:
    """Any edge of closed polygon p properly crosses an edge of q."""
    a, b = p, np.roll(p, -1, axis=0)
    c, d = q, np.roll(q, -1, axis=0)

    def orient(u: np.ndarray, v: np.ndarray, w: np.ndarray) -> np.ndarray:
        return (v[..., 0] - u[..., 0]) * (w[..., 1] - u[..., 1]) - (v[..., 1] - u[..., 1]) * (w[..., 0] - u[..., 0])

    A, B = a[:, None], b[:, None]
    C, D = c[None], d[None]
    o1, o2 = orient(A, B, C), orient(A, B, D)
    o3, o4 = orient(C, D, A), orient(C, D, B)
    return bool(np.any((o1 * o2 < 0) & (o3 * o4 < 0)))


def find_contacts(parts: list[Part], deformed: list[np.ndarray], near: float = 2.0) -> ContactReport:
    """Which parts touch once every outline point has moved to ``deformed[k]`` ((k_i, 2) per part, mm).

    Args:
        parts: From :func:`part_outlines`.
        deformed: Deformed outlines, one per part, same order and shape as ``part.outline``.
        near: Gaps are measured only between parts whose bounding boxes come closer than this (mm).
    """
    boxes = np.array([[*d.min(axis=0), *d.max(axis=0)] for d in deformed])
    touching: list[dict[str, Any]] = []
    closest: list[str] = []
    best, n_pairs = math.inf, 0
    for i in range(len(parts)):
        for k in range(i + 1, len(parts)):
            pi, pk = parts[i], parts[k]
            hub_i, hub_k = pi.name.startswith("hub"), pk.name.startswith("hub")
            if hub_i != hub_k and set(pi.nodes) & set(pk.nodes):
                continue  # a beam and a hub it is printed into
            n_pairs += 1
            bi, bk = boxes[i], boxes[k]
            if bi[0] - bk[2] > near or bk[0] - bi[2] > near or bi[1] - bk[3] > near or bk[1] - bi[3] > near:
                continue
            P, Q = deformed[i], deformed[k]
            in_q, in_p = _inside(P, Q), _inside(Q, P)
            if in_q.any() or in_p.any() or _crossing(P, Q):
                depth = 0.0
                if in_q.any():
                    depth = max(depth, float(_point_segment_distance(P[in_q], Q).max()))
                if in_p.any():
                    depth = max(depth, float(_point_segment_distance(Q[in_p], P).max()))
                touching.append({"parts": [pi.name, pk.name], "penetration_mm": depth})
                continue
            gap = min(float(_point_segment_distance(P, Q).min()), float(_point_segment_distance(Q, P).min()))
            if gap < best:
                best, closest = gap, [pi.name, pk.name]
    touching.sort(key=lambda t: -float(t["penetration_mm"]))
    return ContactReport(touching=touching, min_gap_mm=best, closest=closest, n_pairs=n_pairs)
