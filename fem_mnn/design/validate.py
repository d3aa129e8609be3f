"""Validation of a design: ids, geometry, crossings, connectivity and rigidity.

Every check that compares elements with each other (coincident nodes, crossing
bonds) goes through a spatial index, so validation costs O(n log n) for lattices
of any size.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree

from fem_mnn.core.errors import InputError
from fem_mnn.design.records import _COORD_MAX, Design, check_widths
from fem_mnn.design.rigidity import zero_modes

__all__ = ["box_pairs", "components", "crossing_bonds", "validate"]

#: Candidate pairs handled at once by :func:`crossing_bonds` (bounds its memory).
_PAIR_CHUNK = 250_000
#: Box entries per bond the grid of :func:`box_pairs` may hold on average.
_GRID_LOAD = 8


# --------------------------------------------------------------------------- spatial index


def _grid_cells(lo: np.ndarray, hi: np.ndarray, pad: float) -> tuple[np.ndarray, np.ndarray]:
    """Cell ranges (n, 4: ix0, iy0, ix1, iy1) of the padded boxes on a uniform grid.

    The cell size starts at the median box size and doubles until the grid holds
    at most ``_GRID_LOAD`` entries per box, so memory stays O(n).
    """
    lo, hi = lo - pad, hi + pad
    origin = lo.min(axis=0)
    span = float(np.max(hi.max(axis=0) - origin))
    h = max(float(np.median(np.max(hi - lo, axis=1))), span / len(lo), 1e-300)  # at most n + 1 cells a side
    while True:
        i0 = np.floor((lo - origin) / h).astype(np.int64)
        i1 = np.floor((hi - origin) / h).astype(np.int64)
        count = np.prod(i1 - i0 + 1, axis=1)
        if count.sum() <= _GRID_LOAD * len(lo) or h > span:
            return np.hstack([i0, i1]), count
        h *= 2


def _box_pair_chunks(lo: np.ndarray, hi: np.ndarray, pad: float) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Yield (first, second) arrays of box pairs that may overlap within ``pad``.

    Every pair of boxes whose padded copies overlap is yielded exactly once
    (first < second); a few more pairs may be yielded. Order is arbitrary.
    """
    n = len(lo)
    if n < 2:
        return
    if not (np.all(np.isfinite(lo)) and np.all(np.isfinite(hi))):  # no grid: every pair
        i, j = np.triu_indices(n, 1)
        yield i.astype(np.int64), j.astype(np.int64)
        return
    cells, count = _grid_cells(lo, hi, pad)
    # one entry per (box, cell it covers)
    box = np.repeat(np.arange(n), count)
    k = np.arange(count.sum()) - np.repeat(np.cumsum(count) - count, count)
    nx = np.repeat(cells[:, 2] - cells[:, 0] + 1, count)
    cx = np.repeat(cells[:, 0], count) + k % nx
    cy = np.repeat(cells[:, 1], count) + k // nx
    order = np.lexsort((box, cy, cx))
    box, cx, cy = box[order], cx[order], cy[order]
    starts = np.nonzero(np.r_[True, (cx[1:] != cx[:-1]) | (cy[1:] != cy[:-1])])[0]
    ends = np.r_[starts[1:], box.size]
    stop = np.repeat(ends, ends - starts)  # end of the cell of every entry
    later = stop - np.arange(box.size) - 1  # entries after this one in its cell
    cum = np.cumsum(later)
    pos = 0
    while pos < box.size:
        # a run of entries whose pairs fit in one chunk (a chunk may split a cell: each
        # entry pairs with the later entries of its own cell)
        top = int(np.searchsorted(cum, (cum[pos - 1] if pos else 0) + _PAIR_CHUNK, side="right"))
        top = max(top, pos + 1)
        idx = np.arange(pos, top)
        m = later[idx]
        p = np.repeat(idx, m)
        q = p + 1 + (np.arange(m.sum()) - np.repeat(np.cumsum(m) - m, m))
        a, c = box[p], box[q]
        # report a pair only in the lowest cell both boxes cover (no duplicates)
        keep = (cx[p] == np.maximum(cells[a, 0], cells[c, 0])) & (cy[p] == np.maximum(cells[a, 1], cells[c, 1]))
        a, c = a[keep], c[keep]
        yield np.minimum(a, c), np.maximum(a, c)
        pos = top


def box_pairs(lo: np.ndarray, hi: np.ndarray, pad: float) -> np.ndarray:
    """(m, 2) pairs i < j of axis-aligned boxes that may overlap within ``pad``, sorted.

    A uniform grid of the boxes: every pair whose boxes, each grown by ``pad``,
    overlap is included; callers apply their exact test to the candidates.
    O(n) for boxes of similar size.
    """
    parts = [np.stack(ac, axis=1) for ac in _box_pair_chunks(np.asarray(lo), np.asarray(hi), pad)]
    if not parts:
        return np.zeros((0, 2), dtype=np.int64)
    out = np.concatenate(parts)
    return out[np.lexsort((out[:, 1], out[:, 0]))]


# --------------------------------------------------------------------------- crossings


def _orient(a: np.ndarray, b: np.ndarray, c: np.ndarray) -> np.ndarray:
    return (b[:, 0] - a[:, 0]) * (c[:, 1] - a[:, 1]) - (b[:, 1] - a[:, 1]) * (c[:, 0] - a[:, 0])


def _segments_cross(p1: np.ndarray, p2: np.ndarray, q1: np.ndarray, q2: np.ndarray) -> np.ndarray:
    """Row by row: True when segments p1p2 and q1q2 share a point other than a common end."""
    xs = np.stack([p1[:, 0], p2[:, 0], q1[:, 0], q2[:, 0]])
    ys = np.stack([p1[:, 1], p2[:, 1], q1[:, 1], q2[:, 1]])
    scale = np.maximum(np.maximum(np.ptp(xs, axis=0), np.ptp(ys, axis=0)), 1.0)
    eps = 1e-12 * scale * scale
    d1, d2 = _orient(q1, q2, p1), _orient(q1, q2, p2)
    d3, d4 = _orient(p1, p2, q1), _orient(p1, p2, q2)
    proper = (((d1 > eps) & (d2 < -eps)) | ((d1 < -eps) & (d2 > eps))) & (
        ((d3 > eps) & (d4 < -eps)) | ((d3 < -eps) & (d4 > eps))
    )

    def on_seg(a: np.ndarray, b: np.ndarray, c: np.ndarray, d: np.ndarray) -> np.ndarray:  # c on segment ab
        return (
            (np.abs(d) <= eps)
            & (np.minimum(a[:, 0], b[:, 0]) - 1e-12 <= c[:, 0])
            & (c[:, 0] <= np.maximum(a[:, 0], b[:, 0]) + 1e-12)
            & (np.minimum(a[:, 1], b[:, 1]) - 1e-12 <= c[:, 1])
            & (c[:, 1] <= np.maximum(a[:, 1], b[:, 1]) + 1e-12)
        )

    return proper | on_seg(q1, q2, p1, d1) | on_seg(q1, q2, p2, d2) | on_seg(p1, p2, q1, d3) | on_seg(p1, p2, q2, d4)


def _overlap_at_shared_node(nodes: np.ndarray, ba: np.ndarray, bc: np.ndarray) -> np.ndarray:
    """Row by row, for bonds sharing a node: True when they are collinear and overlap."""
    s = np.where((ba[:, 0] == bc[:, 0]) | (ba[:, 0] == bc[:, 1]), ba[:, 0], ba[:, 1])
    oa = np.where(ba[:, 0] == s, ba[:, 1], ba[:, 0])
    oc = np.where(bc[:, 0] == s, bc[:, 1], bc[:, 0])
    u, v = nodes[oa] - nodes[s], nodes[oc] - nodes[s]
    cross = u[:, 0] * v[:, 1] - u[:, 1] * v[:, 0]
    uu = u[:, 0] * u[:, 0] + u[:, 1] * u[:, 1]
    vv = v[:, 0] * v[:, 0] + v[:, 1] * v[:, 1]
    uv = u[:, 0] * v[:, 0] + u[:, 1] * v[:, 1]
    return (np.abs(cross) <= 1e-12 * uu**0.5 * vv**0.5) & (uv > 0)


def crossing_bonds(design: Design) -> list[tuple[int, int]]:
    """Pairs of bonds whose centre lines meet other than at a shared node.

    Sorted by first then second bond. Bonds that share a node only clash when they
    are collinear and overlap. Candidates come from a grid of the bonds' bounding
    boxes, so the cost is O(n) for lattices.
    """
    nodes, bonds = design.nodes, design.bonds
    lo = np.minimum(nodes[bonds[:, 0]], nodes[bonds[:, 1]])
    hi = np.maximum(nodes[bonds[:, 0]], nodes[bonds[:, 1]])
    found = []
    for a, c in _box_pair_chunks(lo, hi, 2e-9):
        box = np.all(lo[c] <= hi[a] + 1e-9, axis=1) & np.all(hi[c] >= lo[a] - 1e-9, axis=1)
        a, c = a[box], c[box]
        ba, bc = bonds[a], bonds[c]
        shared = (ba[:, :, None] == bc[:, None, :]).any(axis=(1, 2))
        hit = np.zeros(a.size, dtype=bool)
        hit[shared] = _overlap_at_shared_node(nodes, ba[shared], bc[shared])
        apart = ~shared
        hit[apart] = _segments_cross(nodes[ba[apart, 0]], nodes[ba[apart, 1]], nodes[bc[apart, 0]], nodes[bc[apart, 1]])
        found.append(np.stack([a[hit], c[hit]], axis=1))
    if not found:
        return []
    pairs = np.concatenate(found)
    pairs = pairs[np.lexsort((pairs[:, 1], pairs[:, 0]))]
    return [(int(a), int(c)) for a, c in pairs]


def components(design: Design) -> np.ndarray:
    """(n_nodes,) label of the connected part (joined by bonds) each node belongs to.

    Works on any design, valid or not, as long as the bond ids are in range.
    """
    n = design.n_nodes
    b = design.bonds.reshape(-1, 2)
    graph = coo_matrix((np.ones(len(b)), (b[:, 0], b[:, 1])), shape=(n, n))
    return connected_components(graph, directed=False)[1]


# --------------------------------------------------------------------------- the checks, in order


def _check_shapes(design: Design) -> None:
    if design.nodes.ndim != 2 or design.nodes.shape[1] != 2:
        raise InputError("must be a list of [x, y]", field="nodes")
    if design.n_nodes < 2:
        raise InputError("a lattice needs at least two nodes", field="nodes", value=design.n_nodes)
    if design.n_bonds < 1:
        raise InputError("a lattice needs at least one bond", field="bonds", value=0, has_value=True)


def _check_coordinates(design: Design) -> None:
    if not np.all(np.isfinite(design.nodes)):
        i = int(np.argwhere(~np.isfinite(design.nodes))[0][0])
        raise InputError("must be finite", field=f"nodes[{i}]", value=design.nodes[i].tolist())
    if np.any(np.abs(design.nodes) > _COORD_MAX):  # the geometric tests below would overflow
        i = int(np.argwhere(np.abs(design.nodes) > _COORD_MAX)[0][0])
        raise InputError(
            f"coordinates must lie within +-{_COORD_MAX:g} mm", field=f"nodes[{i}]", value=design.nodes[i].tolist()
        )


def _check_geometry(design: Design) -> None:
    g = design.geometry
    if g.width_min > g.width_max:
        raise InputError("must not exceed geometry.width_max", field="geometry.width_min", value=g.width_min)
    if not 0 < g.thin_end_ratio <= 1:
        raise InputError("must lie in (0, 1]", field="geometry.thin_end_ratio", value=g.thin_end_ratio)


def _check_bond_ids(design: Design) -> None:
    """Node ids in range, then no bond from a node to itself, bond by bond."""
    n, bonds = design.n_nodes, design.bonds
    unknown = (bonds < 0) | (bonds >= n)
    bad = unknown.any(axis=1) | (bonds[:, 0] == bonds[:, 1])
    if not bad.any():
        return
    b = int(np.argmax(bad))
    i, j = bonds[b].tolist()
    for k, v in enumerate((i, j)):
        if unknown[b, k]:
            raise InputError(f"unknown node id (nodes are 0..{n - 1})", field=f"bonds[{b}][{k}]", value=v)
    raise InputError("a bond joins a node to itself", field=f"bonds[{b}]", value=[i, j])


def _node_tolerance(design: Design) -> float:
    """Distance below which two nodes coincide (and a bond has zero length)."""
    return 1e-9 * max(float(np.ptp(design.nodes[:, 0])), float(np.ptp(design.nodes[:, 1])), 1.0)


def _check_coincident_nodes(design: Design) -> None:
    """Nodes closer than the tolerance in x and in y.

    Nodes are ranked by x then y; the pair reported is the first one in that
    ranking (lowest-ranked node, then its lowest-ranked partner), found with a
    k-d tree (O(n log n)).
    """
    x, tol = design.nodes, _node_tolerance(design)
    tree = cKDTree(x)
    r = tol * (1 + 1e-6) + 1e-300  # a superset; the exact test follows
    dist = tree.query(x, k=2, p=np.inf, distance_upper_bound=r)[0][:, 1]
    near = np.nonzero(dist <= r)[0]
    if not near.size:
        return
    order = np.lexsort((x[:, 1], x[:, 0]))
    rank = np.empty_like(order)
    rank[order] = np.arange(order.size)
    for a in near[np.argsort(rank[near])].tolist():
        partners = np.array(tree.query_ball_point(x[a], r, p=np.inf), dtype=np.int64)
        partners = partners[rank[partners] > rank[a]]
        ok = (x[partners, 0] - x[a, 0] <= tol) & (np.abs(x[partners, 1] - x[a, 1]) <= tol)
        if ok.any():
            b = int(partners[ok][np.argmin(rank[partners[ok]])])
            i, j = sorted((int(a), b))
            raise InputError(f"coincides with node {i}", field=f"nodes[{j}]", value=x[j].tolist())


def _check_bond_lengths(design: Design) -> None:
    short = design.lengths <= _node_tolerance(design)
    if short.any():
        b = int(np.argmax(short))
        raise InputError("zero-length bond", field=f"bonds[{b}]", value=design.bonds[b].tolist())


def _check_duplicate_bonds(design: Design) -> None:
    """The first bond (in file order) that repeats an earlier one, either way round."""
    key = np.sort(design.bonds, axis=1)
    order = np.lexsort((np.arange(len(key)), key[:, 1], key[:, 0]))
    k = key[order]
    same = np.r_[False, np.all(k[1:] == k[:-1], axis=1)]
    if not same.any():
        return
    first = order[np.maximum.accumulate(np.where(~same, np.arange(same.size), 0))]
    repeats = np.nonzero(same)[0]
    pos = repeats[np.argmin(order[repeats])]
    b = int(order[pos])
    raise InputError(f"duplicate of bonds[{int(first[pos])}]", field=f"bonds[{b}]", value=design.bonds[b].tolist())


def _check_fixed(design: Design) -> None:
    n = design.n_nodes
    for k, i in enumerate(design.fixed):
        if not 0 <= i < n:
            raise InputError(f"unknown node id (nodes are 0..{n - 1})", field=f"fixed[{k}]", value=i)
    if len(set(design.fixed)) != len(design.fixed):
        dup = next(i for i in design.fixed if design.fixed.count(i) > 1)
        raise InputError("node listed twice", field="fixed", value=dup)
    if not design.fixed:
        raise InputError("no fixed node: the lattice can move as a rigid body", field="fixed", value=[], has_value=True)


def _check_isolated_nodes(design: Design) -> None:
    used = np.zeros(design.n_nodes, dtype=bool)
    used[design.bonds.ravel()] = True
    if not used.all():
        i = int(np.argmin(used))
        raise InputError("node belongs to no bond", field=f"nodes[{i}]", value=design.nodes[i].tolist())


def crossing_hint(design: Design, a: int, c: int) -> str:
    """What to do about crossing bonds ``a`` and ``c``: where to add the node they lack."""
    p, r = design.nodes[design.bonds[a, 0]], design.nodes[design.bonds[a, 1]] - design.nodes[design.bonds[a, 0]]
    q, s = design.nodes[design.bonds[c, 0]], design.nodes[design.bonds[c, 1]] - design.nodes[design.bonds[c, 0]]
    rxs = r[0] * s[1] - r[1] * s[0]
    qp = q - p
    if abs(rxs) <= 1e-12 * float(np.hypot(*r) * np.hypot(*s)):  # collinear: they overlap along a stretch
        return "add a node where they cross (they overlap: split them at their common stretch, or drop one)"
    x, y = p + (qp[0] * s[1] - qp[1] * s[0]) / rxs * r
    return f"add a node where they cross, at ({x:.6g}, {y:.6g}) mm, and split both bonds there"


def _check_crossings(design: Design) -> None:
    crossing = crossing_bonds(design)
    if crossing:
        a, c = crossing[0]
        raise InputError(
            f"crosses bonds[{c}] away from a shared node: {crossing_hint(design, a, c)}",
            field=f"bonds[{a}]",
            value=design.bonds[a].tolist(),
        )


def _check_rigidity(design: Design) -> None:
    modes = zero_modes(design)
    if modes.shape[1]:
        # name the node that moves most in the first floppy mode
        m = modes[:, 0].reshape(-1, 2)
        i = int(np.argmax(np.hypot(m[:, 0], m[:, 1])))
        raise InputError(
            f"the fixed nodes do not pin the lattice: {modes.shape[1]} zero-energy mode(s), node {i} moves freely",
            field="fixed",
            value=list(design.fixed),
        )


def check_supports(design: Design) -> None:
    """The fixed nodes: known, not repeated, at least one, and pinning the lattice (no zero-energy mode).

    Shared by :func:`validate` (every command that loads a design) and ``fem-mnn validate``.
    """
    _check_fixed(design)
    _check_rigidity(design)


#: The checks :func:`validate` runs, in order; the first defect found is raised.
CHECKS = (
    _check_shapes,
    _check_coordinates,
    _check_geometry,
    _check_bond_ids,
    _check_coincident_nodes,
    _check_bond_lengths,
    _check_duplicate_bonds,
    check_widths,
    _check_fixed,
    _check_isolated_nodes,
    _check_crossings,
    _check_rigidity,
)


def validate(design: Design) -> None:
    """Check a design; raise :class:`InputError` on the first defect found.

    Checks, in this order (:data:`CHECKS`): shapes, finite numbers, node ids,
    coincident nodes, zero-length and duplicate bonds, widths and the printable
    range, fixed nodes, isolated nodes, crossing bonds, and rigidity (no
    zero-energy mode once the fixed nodes are clamped, in the spring model).
    """
    for check in CHECKS:
        check(design)
