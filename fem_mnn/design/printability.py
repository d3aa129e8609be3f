"""Geometric printability checks of a lattice design (``fem-mnn validate``).

Each check works on a :class:`~fem_mnn.design.Design` as built (not necessarily
valid: build it with the ``Design`` constructor or
:func:`fem_mnn.design.parse_design`) and returns findings; :func:`check_design` runs
them all and returns a :class:`PrintabilityReport` naming every offending bond and
node with the measured number and the limit. Nothing stops at the first problem.

Checks (``Finding.check``):

``width_range``
    bond width outside ``[geometry.width_min, geometry.width_max]``.
``thin_end_width``
    thin-end width ``thin_end_ratio * w`` below ``geometry.min_feature``.
``junction_swallows_beam``
    the two hubs of a bond leave no free length (``L - 2R <= 0``).
``thin_end_length``
    a thin end shorter than ``geometry.min_feature`` along the beam.
``hub_narrower_than_beam``
    the hub radius is not larger than half the thin-end width: the beam end is
    not held by its hub.
``hubs_overlap``
    the hubs of two nodes that are not bonded overlap.
``beam_intersection``
    the outlines (width included) of two beams without a common node intersect.
``beam_overlap_outside_hub``
    two beams of a common node overlap outside that node's hub (they fuse into an
    unplanned, stiffer joint; the mesh tags such pieces ``overlap_{j}``).
``beam_crosses_hub``
    a beam outline enters the hub of a node that is not one of its ends.
``build_volume``
    the lattice's bounding box (hubs and beams, thickness) does not fit the build
    volume in either in-plane orientation. Default 490 x 390 x 200 mm, the tray of
    a Stratasys J8-series PolyJet printer (the Agilus30 printers of the paper's
    kind); pass your printer's.
``disconnected``
    the bonds do not join all nodes into one part.

Structural problems that make the geometry meaningless (bond ids out of range, a
bond joining a node to itself, zero-length bonds, width count) raise
:class:`~fem_mnn.core.errors.InputError` from :func:`check_structure` instead.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
from scipy.spatial import cKDTree

from fem_mnn.core.errors import InputError
from fem_mnn.design.files import parse_design, read_design_json
from fem_mnn.design.outline import beam_layout, bond_rectangles
from fem_mnn.design.records import _COORD_MAX, Design
from fem_mnn.design.validate import box_pairs, check_supports, components

__all__ = [
    "DEFAULT_BUILD_VOLUME",
    "Finding",
    "PrintabilityReport",
    "check_build_volume",
    "check_connected",
    "check_design",
    "check_intersections",
    "check_junctions",
    "check_structure",
    "check_thin_ends",
    "check_widths",
    "lattice_extent",
    "read_design_lenient",
]

#: Build volume (x, y, z) in mm: Stratasys J8-series PolyJet tray (490 x 390 x 200).
DEFAULT_BUILD_VOLUME: tuple[float, float, float] = (490.0, 390.0, 200.0)

#: Geometric tolerance (mm) below which an overlap is treated as touching.
_TOL = 1e-6


@dataclass(frozen=True)
class Finding:
    """One printability problem.

    Attributes:
        check: Name of the check (see the module docstring).
        message: One readable line.
        bonds: Offending bond ids.
        nodes: Offending node ids.
        value: The measured number(s) (mm).
        limit: The limit it breaks (mm).
        severity: ``"error"`` (fails validation) or ``"warning"``.
    """

    check: str
    message: str
    bonds: tuple[int, ...] = ()
    nodes: tuple[int, ...] = ()
    value: float | tuple[float, ...] | None = None
    limit: float | tuple[float, ...] | None = None
    severity: Literal["error", "warning"] = "error"

    def to_dict(self) -> dict[str, Any]:
        """The finding as a JSON-ready dict (the keys of ``validate.json``'s findings)."""
        return {
            "check": self.check,
            "severity": self.severity,
            "message": self.message,
            "bonds": list(self.bonds),
            "nodes": list(self.nodes),
            "value": list(self.value) if isinstance(self.value, tuple) else self.value,
            "limit": list(self.limit) if isinstance(self.limit, tuple) else self.limit,
        }


@dataclass(frozen=True)
class PrintabilityReport:
    """Result of :func:`check_design`.

    Attributes:
        design_name: ``design.name``.
        design_hash: ``design.hash()``.
        checks: Names of the checks that ran.
        findings: Every problem found, in check order.
        extent: Bounding box size (x, y, z) of the printed lattice (mm).
        build_volume: The build volume checked against (mm).
    """

    design_name: str
    design_hash: str
    checks: tuple[str, ...]
    findings: tuple[Finding, ...] = ()
    extent: tuple[float, float, float] = (0.0, 0.0, 0.0)
    build_volume: tuple[float, float, float] = DEFAULT_BUILD_VOLUME
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """True when no finding is an error."""
        return not any(f.severity == "error" for f in self.findings)

    def by_check(self, check: str) -> list[Finding]:
        """Findings of one check."""
        return [f for f in self.findings if f.check == check]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready report."""
        return {
            "design": self.design_name,
            "design_hash": self.design_hash,
            "passed": self.ok,
            "checks": list(self.checks),
            "extent_mm": list(self.extent),
            "build_volume_mm": list(self.build_volume),
            "n_errors": sum(f.severity == "error" for f in self.findings),
            "n_warnings": sum(f.severity == "warning" for f in self.findings),
            "findings": [f.to_dict() for f in self.findings],
            **self.extra,
        }

    def to_text(self) -> str:
        """Readable report, one finding a line."""
        head = f"design {self.design_name or '(unnamed)'} [{self.design_hash}]: "
        head += "PASS" if self.ok else "FAIL"
        ex = " x ".join(f"{v:.1f}" for v in self.extent)
        bv = " x ".join(f"{v:g}" for v in self.build_volume)
        lines = [head, f"  size {ex} mm (build volume {bv} mm); checks: {', '.join(self.checks)}"]
        if not self.findings:
            lines.append("  no problems found")
        for f in self.findings:
            lines.append(f"  {f.severity}: {f.check}: {f.message}")
        return "\n".join(lines) + "\n"


# ------------------------------------------------------------------------- helpers


def _sat_overlap(p: np.ndarray, q: np.ndarray) -> bool:
    """True when convex polygons p and q overlap by more than the tolerance."""
    for poly in (p, q):
        e = np.roll(poly, -1, axis=0) - poly
        normals = np.stack([e[:, 1], -e[:, 0]], axis=1)
        normals /= np.maximum(np.linalg.norm(normals, axis=1, keepdims=True), 1e-300)
        pp, qq = p @ normals.T, q @ normals.T
        if np.any((pp.max(axis=0) <= qq.min(axis=0) + _TOL) | (qq.max(axis=0) <= pp.min(axis=0) + _TOL)):
            return False
    return True


def _clip(subject: np.ndarray, clip: np.ndarray) -> np.ndarray:
    """Sutherland-Hodgman: intersection of two convex counter-clockwise polygons."""
    out = [tuple(v) for v in subject]
    for k in range(len(clip)):
        a, b = clip[k], clip[(k + 1) % len(clip)]
        inp, out = out, []
        if not inp:
            break

        def side(v: np.ndarray, a: np.ndarray = a, b: np.ndarray = b) -> float:
            return (b[0] - a[0]) * (v[1] - a[1]) - (b[1] - a[1]) * (v[0] - a[0])

        for m in range(len(inp)):
            cur, prev = np.array(inp[m]), np.array(inp[m - 1])
            sc, sp = side(cur), side(prev)
            if sc >= 0:
                if sp < 0:
                    out.append(tuple(prev + (cur - prev) * sp / (sp - sc)))
                out.append(tuple(cur))
            elif sp >= 0:
                out.append(tuple(prev + (cur - prev) * sp / (sp - sc)))
    return np.array(out, dtype=float).reshape(-1, 2)


def _polygon_area(p: np.ndarray) -> float:
    if len(p) < 3:
        return 0.0
    x, y = p[:, 0], p[:, 1]
    return 0.5 * float(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1)))


def _point_polygon_distance(c: np.ndarray, poly: np.ndarray) -> float:
    """Distance from point c to a convex counter-clockwise polygon (0 inside)."""
    e = np.roll(poly, -1, axis=0) - poly
    rel = c - poly
    if np.all(e[:, 0] * rel[:, 1] - e[:, 1] * rel[:, 0] >= 0):
        return 0.0
    t = np.clip(np.einsum("ij,ij->i", rel, e) / np.maximum(np.einsum("ij,ij->i", e, e), 1e-300), 0, 1)
    return float(np.min(np.linalg.norm(rel - t[:, None] * e, axis=1)))


#: Widths above this (mm) are reported by ``width_range`` only: their outlines would
#: overflow the geometric tests.
_ABSURD_WIDTH = 1e6


def _usable_bonds(design: Design) -> np.ndarray:
    """Bonds whose outline can be drawn (sane positive width, positive free length)."""
    lay = beam_layout(design)
    return np.nonzero((design.widths > 0) & (design.widths <= _ABSURD_WIDTH) & (lay.free_length > 0))[0]


# -------------------------------------------------------------------------- checks


def check_structure(design: Design) -> None:
    """Raise :class:`InputError` for problems that make the geometry meaningless."""
    n = design.n_nodes
    if n < 1:
        raise InputError("a lattice needs nodes", field="nodes", value=n)
    if np.any(np.abs(design.nodes) > _COORD_MAX):  # the geometric checks would overflow
        i = int(np.argwhere(np.abs(design.nodes) > _COORD_MAX)[0][0])
        raise InputError(
            f"coordinates must lie within +-{_COORD_MAX:g} mm", field=f"nodes[{i}]", value=design.nodes[i].tolist()
        )
    if design.n_bonds < 1:
        raise InputError("a lattice needs at least one bond", field="bonds", value=0, has_value=True)
    if design.widths.shape != (design.n_bonds,):
        raise InputError(f"needs one width per bond ({design.n_bonds})", field="widths", value=int(design.widths.size))
    for b, (i, j) in enumerate(design.bonds.tolist()):
        for k, v in enumerate((i, j)):
            if not 0 <= v < n:
                raise InputError(f"unknown node id (nodes are 0..{n - 1})", field=f"bonds[{b}][{k}]", value=v)
        if i == j:
            raise InputError("a bond joins a node to itself", field=f"bonds[{b}]", value=[i, j])
    if np.any(design.lengths <= 1e-9):
        b = int(np.argmin(design.lengths))
        raise InputError("zero-length bond (its nodes coincide)", field=f"bonds[{b}]", value=design.bonds[b].tolist())
    g = design.geometry
    if g.width_min > g.width_max:
        raise InputError("must not exceed geometry.width_max", field="geometry.width_min", value=g.width_min)
    if not 0 < g.thin_end_ratio <= 1:
        raise InputError("must lie in (0, 1]", field="geometry.thin_end_ratio", value=g.thin_end_ratio)
    for k, i in enumerate(design.fixed):
        if not 0 <= i < n:
            raise InputError(f"unknown node id (nodes are 0..{n - 1})", field=f"fixed[{k}]", value=i)


def check_widths(design: Design) -> list[Finding]:
    """Bond widths outside the printable range."""
    g = design.geometry
    tol = 1e-9 * g.width_max
    out = []
    for b, w in enumerate(design.widths.tolist()):
        if w < g.width_min - tol or w > g.width_max + tol:
            out.append(
                Finding(
                    "width_range",
                    f"bond {b}: width {w:.4g} mm outside [{g.width_min:g}, {g.width_max:g}] mm",
                    bonds=(b,),
                    nodes=tuple(int(v) for v in design.bonds[b]),
                    value=float(w),
                    limit=(g.width_min, g.width_max),
                )
            )
    return out


def check_thin_ends(design: Design) -> list[Finding]:
    """Thin ends narrower or shorter than the smallest printable feature."""
    g = design.geometry
    lay = beam_layout(design)
    out = []
    for b in range(design.n_bonds):
        ends = tuple(int(v) for v in design.bonds[b])
        if 0 < lay.thin_width[b] < g.min_feature - 1e-12:
            out.append(
                Finding(
                    "thin_end_width",
                    f"bond {b}: thin ends {lay.thin_width[b]:.4g} mm wide, below the minimum feature {g.min_feature:g} mm",
                    bonds=(b,),
                    nodes=ends,
                    value=float(lay.thin_width[b]),
                    limit=g.min_feature,
                )
            )
        if 0 < lay.thin_length[b] < g.min_feature - 1e-12:
            out.append(
                Finding(
                    "thin_end_length",
                    f"bond {b}: thin ends {lay.thin_length[b]:.4g} mm long, below the minimum feature {g.min_feature:g} mm",
                    bonds=(b,),
                    nodes=ends,
                    value=float(lay.thin_length[b]),
                    limit=g.min_feature,
                )
            )
    return out


def check_junctions(design: Design) -> list[Finding]:
    """Hubs that swallow a beam, hubs too small to hold a beam, overlapping hubs."""
    lay = beam_layout(design)
    R = lay.radius
    out = []
    for b in range(design.n_bonds):
        ends = tuple(int(v) for v in design.bonds[b])
        if lay.free_length[b] <= 0:
            out.append(
                Finding(
                    "junction_swallows_beam",
                    f"bond {b}: hubs of radius {R:g} mm at nodes {ends[0]} and {ends[1]} leave no free length "
                    f"(L - 2R = {lay.free_length[b]:.4g} mm)",
                    bonds=(b,),
                    nodes=ends,
                    value=float(lay.free_length[b]),
                    limit=0.0,
                )
            )
        if lay.thin_width[b] / 2 >= R:
            out.append(
                Finding(
                    "hub_narrower_than_beam",
                    f"bond {b}: thin end {lay.thin_width[b]:.4g} mm wide is not held by hubs of diameter {2 * R:g} mm",
                    bonds=(b,),
                    nodes=ends,
                    value=float(lay.thin_width[b]),
                    limit=2 * R,
                )
            )
    bonded = {tuple(sorted(p)) for p in design.bonds.tolist()}
    x = design.nodes
    pairs = _node_pairs_closer_than(x, 2 * R - _TOL)
    dist = np.hypot(*(x[pairs[:, 1]] - x[pairs[:, 0]]).T)
    for (i, j), d in zip(pairs.tolist(), dist.tolist(), strict=True):
        if (i, j) in bonded:
            continue  # reported as junction_swallows_beam
        out.append(
            Finding(
                "hubs_overlap",
                f"nodes {i} and {j}: hubs overlap (centres {d:.4g} mm apart, hub diameter {2 * R:g} mm)",
                nodes=(i, j),
                value=float(d),
                limit=2 * R,
            )
        )
    return out


def _node_pairs_closer_than(x: np.ndarray, limit: float) -> np.ndarray:
    """(m, 2) node pairs i < j whose centres are less than ``limit`` apart, sorted.

    A k-d tree gives the candidates (O(n log n)); the distance test is the exact one.
    """
    n = len(x)
    if not limit > 0 or n < 2:  # NaN or non-positive: no pair
        return np.zeros((0, 2), dtype=np.int64)
    if not np.isfinite(limit):
        pairs = np.stack(np.triu_indices(n, 1), axis=1)
    else:
        pairs = cKDTree(x).query_pairs(limit * (1 + 1e-9), output_type="ndarray").reshape(-1, 2)
    pairs = np.sort(pairs.astype(np.int64), axis=1)
    pairs = pairs[np.hypot(*(x[pairs[:, 1]] - x[pairs[:, 0]]).T) < limit]
    return pairs[np.lexsort((pairs[:, 1], pairs[:, 0]))]


def check_intersections(design: Design) -> list[Finding]:
    """Beam outlines that meet other beams or foreign hubs away from a shared hub."""
    lay = beam_layout(design)
    R = lay.radius
    usable = _usable_bonds(design)
    rects = {int(b): bond_rectangles(design, int(b), lay) for b in usable}
    lo = {b: np.min([r.min(axis=0) for r in rs], axis=0) for b, rs in rects.items()}
    hi = {b: np.max([r.max(axis=0) for r in rs], axis=0) for b, rs in rects.items()}
    out: list[Finding] = []
    ids = sorted(rects)
    for a, c in _outline_box_pairs(ids, lo, hi):
        if np.any(lo[c] > hi[a] + _TOL) or np.any(lo[a] > hi[c] + _TOL):
            continue
        shared = set(design.bonds[a].tolist()) & set(design.bonds[c].tolist())
        if not shared:
            if any(_sat_overlap(p, q) for p in rects[a] for q in rects[c]):
                out.append(
                    Finding(
                        "beam_intersection",
                        f"bonds {a} and {c} intersect (no common node)",
                        bonds=(a, c),
                        nodes=tuple(sorted({*design.bonds[a].tolist(), *design.bonds[c].tolist()})),
                    )
                )
            continue
        s = shared.pop()
        worst = 0.0
        for p in rects[a]:
            for q in rects[c]:
                piece = _clip(p, q)
                if _polygon_area(piece) <= _TOL**2:
                    continue
                worst = max(worst, float(np.max(np.hypot(*(piece - design.nodes[s]).T))))
        if worst > R + _TOL:
            out.append(
                Finding(
                    "beam_overlap_outside_hub",
                    f"bonds {a} and {c} overlap up to {worst:.4g} mm from node {s}, outside its hub (radius {R:g} mm)",
                    bonds=(a, c),
                    nodes=(s,),
                    value=worst,
                    limit=R,
                )
            )
    tree = cKDTree(design.nodes) if ids and np.isfinite(R) else None
    for b in ids:
        ends = set(design.bonds[b].tolist())
        near = _nodes_in_box(design.nodes, tree, lo[b] - R, hi[b] + R)
        for k in near.tolist():
            if k in ends:
                continue
            dist = min(_point_polygon_distance(design.nodes[k], r) for r in rects[b])
            if dist < R - _TOL:
                out.append(
                    Finding(
                        "beam_crosses_hub",
                        f"bond {b} enters the hub of node {k} (distance {dist:.4g} mm < radius {R:g} mm)",
                        bonds=(b,),
                        nodes=(k,),
                        value=dist,
                        limit=R,
                    )
                )
    return out


def _outline_box_pairs(ids: list[int], lo: dict[int, np.ndarray], hi: dict[int, np.ndarray]) -> list[tuple[int, int]]:
    """Pairs (a, c) of bonds in ``ids`` (a < c, sorted) whose outline boxes may meet within _TOL.

    A grid of the boxes (:func:`~fem_mnn.design.validate.box_pairs`) instead of all pairs;
    the caller keeps its exact box test.
    """
    if len(ids) < 2:
        return []
    pos = box_pairs(np.array([lo[b] for b in ids]), np.array([hi[b] for b in ids]), _TOL)
    return [(ids[i], ids[j]) for i, j in pos.tolist()]


def _nodes_in_box(x: np.ndarray, tree: cKDTree | None, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Ids (ascending) of the nodes inside the closed box [lo, hi], found with a k-d tree."""
    if tree is None or not (np.all(np.isfinite(lo)) and np.all(np.isfinite(hi))):
        return np.nonzero(np.all(x >= lo, axis=1) & np.all(x <= hi, axis=1))[0]
    centre, half = (lo + hi) / 2, float(np.max(hi - lo)) / 2
    cand = np.array(sorted(tree.query_ball_point(centre, half * (1 + 1e-9) + 1e-12, p=np.inf)), dtype=np.int64)
    if not cand.size:
        return cand
    return cand[np.all(x[cand] >= lo, axis=1) & np.all(x[cand] <= hi, axis=1)]


def lattice_extent(design: Design) -> tuple[np.ndarray, np.ndarray]:
    """Lower and upper corner (x, y, z) of the printed lattice's bounding box."""
    R = design.geometry.junction_radius
    lo = design.nodes.min(axis=0) - R
    hi = design.nodes.max(axis=0) + R
    lay = beam_layout(design)
    for b in _usable_bonds(design):
        for r in bond_rectangles(design, int(b), lay):
            lo, hi = np.minimum(lo, r.min(axis=0)), np.maximum(hi, r.max(axis=0))
    return np.r_[lo, 0.0], np.r_[hi, design.thickness]


def check_build_volume(design: Design, build_volume: Sequence[float] = DEFAULT_BUILD_VOLUME) -> list[Finding]:
    """The lattice must fit the build volume, turned by 90 degrees in plane if needed."""
    X, Y, Z = (float(v) for v in build_volume)
    lo, hi = lattice_extent(design)
    dx, dy, dz = (float(v) for v in hi - lo)
    fits_plane = (dx <= X and dy <= Y) or (dx <= Y and dy <= X)
    if fits_plane and dz <= Z:
        return []
    return [
        Finding(
            "build_volume",
            f"lattice {dx:.1f} x {dy:.1f} x {dz:.1f} mm does not fit the build volume {X:g} x {Y:g} x {Z:g} mm",
            value=(dx, dy, dz),
            limit=(X, Y, Z),
        )
    ]


def check_connected(design: Design) -> list[Finding]:
    """All nodes must be joined by bonds into one printed part."""
    parts: dict[int, list[int]] = {}
    for i, label in enumerate(components(design).tolist()):
        parts.setdefault(label, []).append(i)
    if len(parts) <= 1:
        return []
    groups = sorted(parts.values(), key=lambda g: (-len(g), g[0]))
    stray = tuple(i for g in groups[1:] for i in g)
    return [
        Finding(
            "disconnected",
            f"the lattice falls into {len(groups)} parts; nodes {list(stray)} are not joined to the main part "
            f"({len(groups[0])} nodes)",
            nodes=stray,
            value=float(len(groups)),
            limit=1.0,
        )
    ]


def check_design(design: Design, build_volume: Sequence[float] = DEFAULT_BUILD_VOLUME) -> PrintabilityReport:
    """Run every geometric printability check and collect all findings.

    Raises:
        InputError: structural problems (see :func:`check_structure`).
    """
    check_structure(design)
    bv = tuple(float(v) for v in build_volume)
    if len(bv) != 3 or not all(np.isfinite(v) and v > 0 for v in bv):
        raise InputError("three positive numbers X Y Z (mm)", field="build_volume", value=list(build_volume))
    checks = (
        ("width_range", check_widths),
        ("thin_ends", check_thin_ends),
        ("junctions", check_junctions),
        ("intersections", check_intersections),
        ("build_volume", lambda d: check_build_volume(d, bv)),
        ("connected", check_connected),
    )
    findings: list[Finding] = []
    for _, fn in checks:
        findings += fn(design)
    lo, hi = lattice_extent(design)
    return PrintabilityReport(
        design_name=design.name,
        design_hash=design.hash(),
        checks=tuple(name for name, _ in checks),
        findings=tuple(findings),
        extent=(float(hi[0] - lo[0]), float(hi[1] - lo[1]), float(hi[2] - lo[2])),
        build_volume=bv,
    )


def read_design_lenient(path: str | Path) -> Design:
    """Read a design JSON file for ``fem-mnn validate``, leaving the geometric problems to the report.

    Types, keys, structure, positive widths and the supports (fixed nodes that pin the lattice)
    as loading checks them; the geometric problems (ranges, crossings, overlaps) are left to the
    report.

    Raises:
        InputError: the file is missing, not JSON or not structurally a design.
    """
    path = Path(path)
    data = read_design_json(path)  # the same file errors as load_design (deep nesting, huge numbers, OS errors)
    design = parse_design(data, source=str(path))
    try:
        check_structure(design)
        # what every other command refuses is bad input here too (exit 2), not a printability finding:
        # widths that are not positive, no fixed node or a repeated one, a lattice the fixed nodes do not pin
        for b, w in enumerate(design.widths.tolist()):
            if not w > 0:
                raise InputError("must be > 0", field=f"widths[{b}]", value=w)
        check_supports(design)
    except InputError as err:
        raise err.with_source(str(path)) from None
    return design
