"""Validation of a design: ids, geometry, crossings, connectivity and rigidity."""

from __future__ import annotations

import numpy as np

from fem_mnn.core.errors import InputError
from fem_mnn.design.records import _COORD_MAX, Design, check_widths
from fem_mnn.design.rigidity import zero_modes


def _segments_cross(p1, p2, q1, q2) -> bool:
    """True when segments p1p2 and q1q2 share a point other than a common end."""

    def orient(a, b, c) -> float:
        return (b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0])

    scale = max(np.ptp([p1[0], p2[0], q1[0], q2[0]]), np.ptp([p1[1], p2[1], q1[1], q2[1]]), 1.0)
    eps = 1e-12 * scale * scale
    d1, d2 = orient(q1, q2, p1), orient(q1, q2, p2)
    d3, d4 = orient(p1, p2, q1), orient(p1, p2, q2)
    if ((d1 > eps and d2 < -eps) or (d1 < -eps and d2 > eps)) and (
        (d3 > eps and d4 < -eps) or (d3 < -eps and d4 > eps)
    ):
        return True

    def on_seg(a, b, c, d) -> bool:  # c on segment ab (collinear)
        return (
            abs(d) <= eps
            and min(a[0], b[0]) - 1e-12 <= c[0] <= max(a[0], b[0]) + 1e-12
            and min(a[1], b[1]) - 1e-12 <= c[1] <= max(a[1], b[1]) + 1e-12
        )

    return on_seg(q1, q2, p1, d1) or on_seg(q1, q2, p2, d2) or on_seg(p1, p2, q1, d3) or on_seg(p1, p2, q2, d4)


def crossing_bonds(design: Design) -> list[tuple[int, int]]:
    """Pairs of bonds whose centre lines meet other than at a shared node."""
    nodes, bonds = design.nodes, design.bonds
    lo = np.minimum(nodes[bonds[:, 0]], nodes[bonds[:, 1]])
    hi = np.maximum(nodes[bonds[:, 0]], nodes[bonds[:, 1]])
    out = []
    for a in range(design.n_bonds):
        # bounding-box prefilter keeps this near-linear for lattices
        cand = np.nonzero(np.all(lo[a + 1 :] <= hi[a] + 1e-9, axis=1) & np.all(hi[a + 1 :] >= lo[a] - 1e-9, axis=1))[0]
        for c in cand + a + 1:
            shared = set(bonds[a].tolist()) & set(bonds[c].tolist())
            pa, pb = nodes[bonds[a, 0]], nodes[bonds[a, 1]]
            qa, qb = nodes[bonds[c, 0]], nodes[bonds[c, 1]]
            if shared:
                # bonds sharing a node only clash if they are collinear and overlap
                s = shared.pop()
                oa = bonds[a, 1] if bonds[a, 0] == s else bonds[a, 0]
                oc = bonds[c, 1] if bonds[c, 0] == s else bonds[c, 0]
                u, v = nodes[oa] - nodes[s], nodes[oc] - nodes[s]
                cross = u[0] * v[1] - u[1] * v[0]
                if abs(cross) <= 1e-12 * np.dot(u, u) ** 0.5 * np.dot(v, v) ** 0.5 and np.dot(u, v) > 0:
                    out.append((a, int(c)))
            elif _segments_cross(pa, pb, qa, qb):
                out.append((a, int(c)))
    return out


def components(design: Design) -> np.ndarray:
    """(n_nodes,) label of the connected part (joined by bonds) each node belongs to.

    Works on any design, valid or not, as long as the bond ids are in range.
    """
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    n = design.n_nodes
    b = design.bonds.reshape(-1, 2)
    graph = coo_matrix((np.ones(len(b)), (b[:, 0], b[:, 1])), shape=(n, n))
    return connected_components(graph, directed=False)[1]


def validate(design: Design) -> None:
    """Check a design; raise :class:`InputError` on the first defect found.

    Checks: shapes, finite numbers, node ids, coincident nodes, zero-length and
    duplicate bonds, widths and the printable range, fixed nodes, crossing bonds,
    isolated nodes, and rigidity (no zero-energy mode once the fixed nodes are
    clamped, in the spring model).
    """
    n = design.n_nodes
    if design.nodes.ndim != 2 or design.nodes.shape[1] != 2:
        raise InputError("must be a list of [x, y]", field="nodes")
    if n < 2:
        raise InputError("a lattice needs at least two nodes", field="nodes", value=n)
    if design.n_bonds < 1:
        raise InputError("a lattice needs at least one bond", field="bonds", value=0, has_value=True)
    if not np.all(np.isfinite(design.nodes)):
        i = int(np.argwhere(~np.isfinite(design.nodes))[0][0])
        raise InputError("must be finite", field=f"nodes[{i}]", value=design.nodes[i].tolist())
    if np.any(np.abs(design.nodes) > _COORD_MAX):  # the geometric tests below would overflow
        i = int(np.argwhere(np.abs(design.nodes) > _COORD_MAX)[0][0])
        raise InputError(
            f"coordinates must lie within +-{_COORD_MAX:g} mm", field=f"nodes[{i}]", value=design.nodes[i].tolist()
        )
    g = design.geometry
    if g.width_min > g.width_max:
        raise InputError("must not exceed geometry.width_max", field="geometry.width_min", value=g.width_min)
    if not 0 < g.thin_end_ratio <= 1:
        raise InputError("must lie in (0, 1]", field="geometry.thin_end_ratio", value=g.thin_end_ratio)
    for b, (i, j) in enumerate(design.bonds.tolist()):
        for k, v in enumerate((i, j)):
            if not 0 <= v < n:
                raise InputError(f"unknown node id (nodes are 0..{n - 1})", field=f"bonds[{b}][{k}]", value=v)
        if i == j:
            raise InputError("a bond joins a node to itself", field=f"bonds[{b}]", value=[i, j])
    # coincident nodes (sort by x then compare neighbours within the tolerance)
    scale = max(float(np.ptp(design.nodes[:, 0])), float(np.ptp(design.nodes[:, 1])), 1.0)
    tol = 1e-9 * scale
    order = np.lexsort((design.nodes[:, 1], design.nodes[:, 0]))
    for a_pos in range(n - 1):
        a = order[a_pos]
        for b_pos in range(a_pos + 1, n):
            b = order[b_pos]
            if design.nodes[b, 0] - design.nodes[a, 0] > tol:
                break
            if abs(design.nodes[b, 1] - design.nodes[a, 1]) <= tol:
                i, j = sorted((int(a), int(b)))
                raise InputError(f"coincides with node {i}", field=f"nodes[{j}]", value=design.nodes[j].tolist())
    lengths = design.lengths
    for b, L in enumerate(lengths):
        if L <= tol:
            raise InputError("zero-length bond", field=f"bonds[{b}]", value=design.bonds[b].tolist())
    seen: dict[tuple[int, int], int] = {}
    for b, (i, j) in enumerate(design.bonds.tolist()):
        key = (min(i, j), max(i, j))
        if key in seen:
            raise InputError(f"duplicate of bonds[{seen[key]}]", field=f"bonds[{b}]", value=[i, j])
        seen[key] = b
    check_widths(design)
    for k, i in enumerate(design.fixed):
        if not 0 <= i < n:
            raise InputError(f"unknown node id (nodes are 0..{n - 1})", field=f"fixed[{k}]", value=i)
    if len(set(design.fixed)) != len(design.fixed):
        dup = next(i for i in design.fixed if design.fixed.count(i) > 1)
        raise InputError("node listed twice", field="fixed", value=dup)
    if not design.fixed:
        raise InputError("no fixed node: the lattice can move as a rigid body", field="fixed", value=[], has_value=True)
    used = np.zeros(n, dtype=bool)
    used[design.bonds.ravel()] = True
    if not used.all():
        i = int(np.argmin(used))
        raise InputError("node belongs to no bond", field=f"nodes[{i}]", value=design.nodes[i].tolist())
    crossing = crossing_bonds(design)
    if crossing:
        a, c = crossing[0]
        raise InputError(
            f"crosses bonds[{c}] away from a shared node", field=f"bonds[{a}]", value=design.bonds[a].tolist()
        )
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
