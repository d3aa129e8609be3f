"""Width design map of the lattice mesh: move the mesh nodes when bond widths change.

:class:`WidthMap` is an exact, local, explicit map ``X(w)`` of the mesh geometry nodes
from a reference mesh (meshed at widths ``w_ref``) to any widths ``w``; its derivative
``V_i = dX/dw_i`` (the *design velocity*) feeds the shape gradient of
:mod:`fem_mnn.fem.shape`. :class:`~fem_mnn.fem.morph.MorphingFemModel` uses the same map to move the mesh in
place instead of remeshing.

The map, per node (the classification uses coordinates only, so every rank classifies
its owned and ghost copies of a node identically, whatever the partition):

* **bond interior** (a node of bond i outside both hub disks). In the bond's frame
  from hub a (``s`` along the axis, ``n`` across), bar and thin ends have half-widths
  proportional to ``w_i``: ``n -> rho n`` with ``rho = w_i / w_ref,i`` maps every
  lateral edge and step exactly. Near each hub the thin end ends on the hub circle,
  so an axial correction slides it along the circle:
  ``s -> s + phi (sqrt(R^2 - rho^2 n^2) - sqrt(R^2 - n^2))`` with the blend
  ``phi = (s1 - s) / (s1 - sqrt(R^2 - n^2))`` (1 on the arc, 0 at the step
  ``s1 = R + l_thin`` and beyond); mirrored at hub b. The map is exact (not only to
  first order): the morphed mesh's boundary is the geometry of ``w``.
* **hub** (a node within the hub disk of node j, arc nodes included). In polar
  coordinates about the hub centre, relative to the axis of the incident bond i whose
  sector ``|alpha| < Theta`` holds the node (Theta = half the angle to the nearest
  other bond at the hub, at most 90 degrees), the angle is remapped:
  ``f(alpha) = asin(rho sin alpha)`` for ``|alpha| <= alpha_t`` (the thin end's arc:
  the same points as the bond map on the circle) and linearly from ``alpha_t'`` to
  ``Theta`` beyond; ``alpha -> alpha + chi(r) (f(alpha) - alpha)`` with
  ``chi = clip((r - r0) / (R - r0), 0, 1)``, ``r0 = HUB_INNER * R``. Radii do not
  change: nodes on the circle stay on it (the exposed arcs included), the hub centre
  does not move, and the hub cells next to a thin end are not crushed.
* every other node (none in a design without beam overlaps) does not move.

**Thin-end offset.** ``coordinates(w, thin_offset)`` also makes every thin end
``thin_end_ratio * w + thin_offset`` wide while the bars stay ``w`` (printers get the finest
features most wrong). Laterally a bond node moves by ``(rho - 1) n + thin_offset / 2 g(n)``
with ``g = n / t_ref`` in the band ``|n| <= t_ref`` (``t_ref`` the thin end's reference
half-width: the thin ends and the bar's core in line with them) and ``g`` falling linearly
to 0 at the bar's edge: the thin ends' edges and the steps' inner corners move by
``thin_offset / 2``, the steps stay straight, the bar's edges do not move. The axial
correction and the hub map use the thin end's own ratio ``rho_t = (ratio w + thin_offset) /
(ratio w_ref)``. The geometry builder cannot mesh an offset (its thin ends are always
``thin_end_ratio * w``): an offset exists only on a morphed mesh, whose reference is meshed
without one. :meth:`WidthMap.thin_velocity` is its design velocity.

The derivative ``V = dX/dw`` is evaluated by complex-step differentiation of the same
map (exact to round-off, no hand-derived formula to drift from the map).

Mesh quality (:func:`cell_quality`): the scaled quality ``q = c_d |det J| / l_rms^d``
(1 for an equilateral triangle / regular tetrahedron). :class:`MorphingFemModel`
remeshes when a cell's Jacobian determinant changes sign against the reference mesh,
or when ``min_cell q/q_ref < MIN_QUALITY_RATIO`` or ``min q < MIN_QUALITY``.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

import numpy as np

from fem_mnn.core.errors import EngineError
from fem_mnn.design.outline import beam_layout
from fem_mnn.design.records import Design

if TYPE_CHECKING:
    import dolfinx.mesh

__all__ = [
    "HUB_INNER",
    "MIN_QUALITY",
    "MIN_QUALITY_RATIO",
    "WidthMap",
    "cell_quality",
    "geometry_degree",
    "geometry_dofmap",
]

#: Inner radius of the hub blend, as a fraction of the hub radius (nodes closer to the
#: hub centre never move).
HUB_INNER = 0.35
#: Remesh when a cell's scaled quality falls below this fraction of its reference value.
MIN_QUALITY_RATIO = 0.3
#: ... or below this absolute scaled quality.
MIN_QUALITY = 0.1

_KIND_NONE, _KIND_BOND, _KIND_HUB = 0, 1, 2
_COMPLEX_STEP = 1e-30


class WidthMap:
    """The exact width map of one reference mesh (see the module text).

    Args:
        design: The lattice (its widths are ignored: ``widths_ref`` are the mesh's).
        x_ref: (n_local_nodes, >=2) reference coordinates of the geometry nodes on
            this rank (``mesh.geometry.x``, owned and ghost rows).
        widths_ref: (n_bonds,) widths the reference mesh was made for.
        tol: Relative tolerance of the geometric classification (times the hub radius).
        mesh_thin_end_ratio: The thin-end ratio the reference mesh was made with, when it is
            not the design's (a mesh made for a large thin-end offset,
            :class:`~fem_mnn.fem.morph.MorphingFemModel`); the map then still makes thin ends
            ``design thin_end_ratio * w + thin_offset``.

    Raises:
        EngineError: a node lies in no bond and no hub (e.g. a beam-overlap piece).
    """

    def __init__(
        self,
        design: Design,
        x_ref: np.ndarray,
        widths_ref: np.ndarray,
        tol: float = 1e-7,
        mesh_thin_end_ratio: float | None = None,
    ) -> None:
        from scipy.spatial import cKDTree

        self.design = design
        self.x_ref = np.array(np.asarray(x_ref)[:, :2], dtype=float)
        self.widths_ref = np.array(widths_ref, dtype=float)
        lay = beam_layout(dataclasses.replace(design, widths=self.widths_ref))
        R = float(lay.radius)
        self.R = R
        self.s1 = R + lay.thin_length  # (n_bonds,) step positions from each hub centre
        self.length = lay.length
        self.target_ratio = float(design.geometry.thin_end_ratio)
        """The design's thin-end ratio (what :meth:`coordinates` makes)."""
        self.ratio = self.target_ratio if mesh_thin_end_ratio is None else float(mesh_thin_end_ratio)
        """The reference mesh's thin-end ratio (what its thin ends are)."""
        eps = tol * R
        n_nodes_pts = len(self.x_ref)
        nodes = design.nodes
        a, b = design.bonds[:, 0], design.bonds[:, 1]
        u = design.directions
        nrm = np.stack([-u[:, 1], u[:, 0]], axis=1)
        self._a, self._u, self._n = nodes[a], u, nrm

        kind = np.zeros(n_nodes_pts, dtype=np.int8)
        bond = np.full(n_nodes_pts, -1, dtype=np.int64)
        # ---- hub nodes: within R of a node centre
        tree = cKDTree(nodes)
        dist, hub = tree.query(self.x_ref, k=1)
        in_hub = dist <= R + eps
        kind[in_hub] = _KIND_HUB
        # ---- bond interior nodes: inside some bond outline, outside both hubs
        rest = np.nonzero(~in_hub)[0]
        mid = 0.5 * (nodes[a] + nodes[b])
        btree = cKDTree(mid)
        reach = 0.5 * float(np.max(self.length)) + 0.5 * float(np.max(self.widths_ref)) + eps
        cand = btree.query_ball_point(self.x_ref[rest], r=reach)
        s_all = np.zeros(n_nodes_pts)
        n_all = np.zeros(n_nodes_pts)
        for k, p in enumerate(rest):
            for i in cand[k]:
                d = self.x_ref[p] - nodes[a[i]]
                s_p, n_p = float(d @ u[i]), float(d @ nrm[i])  # axial and lateral position of node p in bond i
                if not (0.0 < s_p < self.length[i]):
                    continue
                half = 0.5 * self.widths_ref[i]
                if s_p < self.s1[i] - eps or s_p > self.length[i] - self.s1[i] + eps:
                    half *= self.ratio
                if abs(n_p) <= half + eps:
                    kind[p], bond[p], s_all[p], n_all[p] = _KIND_BOND, i, s_p, n_p
                    break
        lost = np.nonzero(kind == _KIND_NONE)[0]
        if lost.size:
            raise EngineError(
                f"{lost.size} mesh node(s) lie in no bond and no hub (first at {self.x_ref[lost[0]].tolist()}): "
                "the width map needs a lattice without beam overlaps"
            )
        # bond interior: blend weights of the axial correction at each end (0 away from the hubs)
        sel = np.nonzero(kind == _KIND_BOND)[0]
        bi = bond[sel]
        s, n = s_all[sel], n_all[sel]
        arc = np.sqrt(np.maximum(R * R - n * n, 0.0))
        s1 = self.s1[bi]
        L = self.length[bi]
        phi_a = np.clip((s1 - s) / (s1 - arc), 0.0, 1.0)
        phi_b = np.clip((s1 - (L - s)) / (s1 - arc), 0.0, 1.0)
        self._bsel, self._bbond, self._bs, self._bn = sel, bi, s, n
        self._phi_a, self._phi_b = phi_a, phi_b
        # the thin-end offset's lateral profile g(n) (see coordinates): n / t_ref in the thin band,
        # then linear to 0 at the bar's edge (a bar as wide as its thin ends has no band beyond)
        t_ref = 0.5 * self.ratio * self.widths_ref[bi]
        b_ref = 0.5 * self.widths_ref[bi]
        x = np.abs(n)
        gap = np.where(b_ref - t_ref > 0, b_ref - t_ref, 1.0)
        self._thin_share = np.where(x <= t_ref, n / t_ref, np.sign(n) * np.clip(1.0 - (x - t_ref) / gap, 0.0, 1.0))

        # ---- hub nodes: sector of an incident bond, polar coordinates
        self._hub_geometry(hub, kind)
        self.kind = kind
        self.node_bond = bond
        """(n_local_nodes,) the bond whose width moves each node, -1 for none."""

    def _hub_geometry(self, hub: np.ndarray, kind: np.ndarray) -> None:
        d = self.design
        R = self.R
        # for each (hub, incident bond): axis angle pointing away from the hub, sector half-angle
        inc: dict[int, list[tuple[int, float]]] = {}
        for i, (a, b) in enumerate(d.bonds):
            ang = float(np.arctan2(self._u[i, 1], self._u[i, 0]))
            inc.setdefault(int(a), []).append((i, ang))
            inc.setdefault(int(b), []).append((i, ang + np.pi))
        sel = np.nonzero(kind == _KIND_HUB)[0]
        hj = hub[sel]
        rel = self.x_ref[sel] - d.nodes[hj]
        r = np.hypot(rel[:, 0], rel[:, 1])
        phi = np.arctan2(rel[:, 1], rel[:, 0])
        hbond = np.full(sel.size, -1, dtype=np.int64)
        alpha = np.zeros(sel.size)
        axis = np.zeros(sel.size)
        big = np.zeros(sel.size)
        for j, lst in inc.items():
            angs = np.array([g for _, g in lst])
            for k, (i, g) in enumerate(lst):
                others = np.delete(angs, k)
                gap = np.min(np.abs(_wrap(others - g))) if others.size else 2 * np.pi
                Th = min(0.5 * np.pi, 0.5 * gap)
                at = np.arcsin(min(0.5 * self.ratio * self.widths_ref[i] / R, 1.0))
                if at >= Th:
                    raise EngineError(f"bond {i}: its thin end covers the hub of node {j} beyond its sector")
                mine = np.nonzero(hj == j)[0]
                da = _wrap(phi[mine] - g)
                inside = np.abs(da) < Th
                m = mine[inside]
                hbond[m], alpha[m], axis[m], big[m] = i, da[inside], g, Th
        self._hsel = sel[hbond >= 0]
        keep = hbond >= 0
        self._hbond = hbond[keep]
        self._hc = d.nodes[hj[keep]]
        self._hr = r[keep]
        self._halpha = alpha[keep]
        self._haxis = axis[keep]
        self._hTheta = big[keep]
        self._hat = np.arcsin(np.minimum(0.5 * self.ratio * self.widths_ref[self._hbond] / R, 1.0))
        r0 = HUB_INNER * R
        self._hchi = np.clip((self._hr - r0) / (R - r0), 0.0, 1.0)
        # hub nodes outside every sector do not move
        kind[sel[~keep]] = _KIND_NONE
        nb = np.full(len(self.x_ref), -1, dtype=np.int64)
        nb[self._hsel] = self._hbond
        self._hub_node_bond = nb

    # ------------------------------------------------------------------ the map
    def coordinates(self, widths: np.ndarray, thin_offset: float | complex = 0.0) -> np.ndarray:
        """(n_local_nodes, 2) node coordinates for ``widths`` (complex-safe in ``widths`` and ``thin_offset``).

        ``thin_offset`` (mm) is added to every thin end's width only: the thin ends become
        ``thin_end_ratio * w + thin_offset`` wide, the bars stay ``w`` (see :meth:`thin_velocity`).
        """
        w = np.asarray(widths)
        rho_all = w / self.widths_ref
        # thin ends: half-width ratio w / 2 + delta / 2 = rho_t t_ref with t_ref = ratio w_ref / 2;
        # at delta = 0 exactly this is rho to the bit, so the map without an offset is unchanged.
        # A mesh made at another ratio r' carries (r - r') w of the offset itself (per bond)
        offset = (self.target_ratio - self.ratio) * w + thin_offset if self.ratio != self.target_ratio else thin_offset
        t_ref_all = 0.5 * self.ratio * self.widths_ref
        rho_t_all = rho_all + offset / (2.0 * t_ref_all)
        thin_b = np.broadcast_to(np.asarray(offset), rho_all.shape)  # per bond
        dtype = np.result_type(rho_t_all.dtype, float)
        X = self.x_ref.astype(dtype)
        R = self.R
        # bond interior
        bi = self._bbond
        rho = rho_all[bi]
        rho_t = rho_t_all[bi]
        n = self._bn
        # the axial correction only acts on thin-end nodes (phi = 0 from the step on)
        shift = np.sqrt(R * R - (rho_t * n) ** 2) - np.sqrt(R * R - n * n)
        ds = (self._phi_a - self._phi_b) * shift
        # lateral: n -> rho n, plus the thin-end offset's share delta/2 g(n): g = n / t_ref inside
        # the thin end's band |n| <= t_ref (the whole thin end, and the bar's core in line with
        # it), falling linearly to 0 at the bar's edge |n| = w_ref / 2, so the thin ends' edges
        # and the steps' inner corners move by delta / 2 and the bar's edges not at all
        dn = (rho - 1.0) * n + (0.5 * thin_b[bi]) * self._thin_share
        # written as displacements of the reference nodes: X(w_ref) is x_ref to the bit
        X[self._bsel] = self.x_ref[self._bsel] + ds[:, None] * self._u[bi] + dn[:, None] * self._n[bi]
        # hubs: angle increment chi (f(alpha) - alpha); the thin end's arc follows the thin end's width
        hb = self._hbond
        rho = rho_t_all[hb]
        al, at, Th = self._halpha, self._hat, self._hTheta
        sa, st = np.sin(al), np.sin(at)
        at_ref = np.arcsin(st)
        d_at = np.arcsin(rho * st) - at_ref  # change of the thin end's half-angle on the circle
        inner = np.abs(al) <= at
        with np.errstate(invalid="ignore"):  # outside the thin end (not inner) rho sa may exceed 1: masked below
            d_in = np.arcsin(rho * sa) - np.arcsin(sa)
        d_out = np.sign(al) * (Th - np.abs(al)) * d_at / (Th - at_ref)
        dal = self._hchi * np.where(inner, d_in, d_out)
        ang = self._haxis + al
        r = self._hr
        X[self._hsel, 0] = self.x_ref[self._hsel, 0] + r * (np.cos(ang + dal) - np.cos(ang))
        X[self._hsel, 1] = self.x_ref[self._hsel, 1] + r * (np.sin(ang + dal) - np.sin(ang))
        return X

    def velocity(self, widths: np.ndarray, thin_offset: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
        """Design velocity at ``widths`` (and ``thin_offset``): ``(node_bond, V)``.

        Every moving node depends on one width only, so all fields ``V_i = dX/dw_i``
        fit in one array: ``V[p] = dX_p/dw_{node_bond[p]}`` ((n_local_nodes, 2),
        zero where ``node_bond`` is -1).
        """
        w = np.asarray(widths, dtype=float)
        X = self.coordinates(w + 1j * _COMPLEX_STEP, float(thin_offset))
        return self.moving_bond, X.imag / _COMPLEX_STEP

    def thin_velocity(self, widths: np.ndarray, thin_offset: float = 0.0) -> np.ndarray:
        """(n_local_nodes, 2) ``dX/d thin_offset``: the one design velocity of the common thin-end offset.

        By complex step of the same map, like :meth:`velocity`; every thin end, the bar cores in
        line with them and the thin ends' arcs in the hubs move.
        """
        X = self.coordinates(np.asarray(widths, dtype=float), float(thin_offset) + 1j * _COMPLEX_STEP)
        return X.imag / _COMPLEX_STEP

    @property
    def moving_bond(self) -> np.ndarray:
        """(n_local_nodes,) the bond whose width moves each node (bond or hub sector), -1 for none."""
        out = self.node_bond.copy()
        out[self._hsel] = self._hbond
        return out


def geometry_dofmap(mesh: dolfinx.mesh.Mesh) -> np.ndarray:
    """(n_local_cells, nodes_per_cell) geometry nodes of every local cell (rows of ``mesh.geometry.x``)."""
    g = mesh.geometry
    return np.asarray(g.dofmaps[0] if hasattr(g, "dofmaps") else g.dofmap)


def geometry_degree(mesh: dolfinx.mesh.Mesh) -> int:
    """Degree of the coordinate element."""
    g = mesh.geometry
    return int((g.cmaps[0] if hasattr(g, "cmaps") else g.cmap).degree)


def _wrap(a: np.ndarray) -> np.ndarray:
    return (np.asarray(a) + np.pi) % (2 * np.pi) - np.pi


def cell_quality(mesh: dolfinx.mesh.Mesh, x: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Signed Jacobian determinant and scaled quality of every local cell (no communication).

    Uses the cell vertices (the first ``tdim + 1`` geometry nodes of a cell). Quality
    ``q = c_d |det J| / l_rms^d`` (``c_2 = 2/sqrt(3)``, ``c_3 = 1/sqrt(2)``): 1 for an
    equilateral triangle or a regular tetrahedron, 0 for a flat cell.

    Args:
        mesh: A dolfinx mesh of simplices.
        x: Coordinates to use instead of ``mesh.geometry.x`` (same rows).
    """
    tdim = mesh.topology.dim
    X = np.asarray(mesh.geometry.x if x is None else x)[:, :tdim]
    dm = geometry_dofmap(mesh)[:, : tdim + 1]
    P = X[dm]  # (ncells, tdim+1, tdim)
    E = P[:, 1:] - P[:, :1]  # (ncells, tdim, tdim)
    det = np.linalg.det(E)
    pairs = [(i, j) for i in range(tdim + 1) for j in range(i + 1, tdim + 1)]
    l2 = np.mean([np.sum((P[:, i] - P[:, j]) ** 2, axis=1) for i, j in pairs], axis=0)
    c = 2.0 / np.sqrt(3.0) if tdim == 2 else 1.0 / np.sqrt(2.0)
    return det, c * np.abs(det) / l2 ** (tdim / 2)
