"""Linear buckling of the lattice as a frame of stepped beams with geometric stiffness (no DOLFINx).

Each bond is the stepped beam of :mod:`fem_mnn.spring.frame` (rigid hub | thin end |
bar | thin end | rigid hub), here cut into plane beam elements (``thin_elements`` per
thin end, ``bar_elements`` per bar) so that a bar can buckle between its junctions: a
single condensed element per bond cannot show that local mode. The two hub offsets are
rigid links from the node centre to the hub circle (the end of the thin end moves with
the node's translation and rotation).

Element matrices, local dofs ``(u1, v1, th1, u2, v2, th2)``, element length h:

* elastic: axial ``EA/h``; bending Timoshenko (``phi = 12 EI / (kappa G A h^2)``) or
  Euler-Bernoulli (``FrameOptions.shear``), ``EI`` times ``FrameOptions.bending_factor``;
* geometric (the consistent Euler-Bernoulli matrix of ``1/2 int N (v'^2 + u'^2) dx``):
  ``N/(30 h) [[36, 3h, -36, 3h], [3h, 4h^2, -3h, -h^2], ...]`` on ``(v1, th1, v2, th2)``
  and ``N/h`` on the axial dofs; a rigid hub link of length R adds ``N R`` on its node's
  rotation (its transverse slope is that rotation).

The axial force N of every element is that of the linear frame solution under the
loads (tension > 0). Buckling at load factor lambda: ``(K + lambda K_G) phi = 0``,
solved as ``-K_G phi = eta K phi`` (K is SPD with the fixed nodes clamped in
translation and rotation), lambda = 1/eta for the positive eta; the first mode has the
smallest positive lambda. This is the same linearised (classical) buckling as
:mod:`fem_mnn.fem.buckling`, on a beam model instead of the plane-stress continuum.

Units mm, N, MPa.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
import scipy.linalg as sla
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from fem_mnn.contract import as_cases
from fem_mnn.core.errors import InputError
from fem_mnn.design.records import Design
from fem_mnn.spring.frame import KAPPA, FrameOptions

__all__ = ["FrameBucklingResult", "frame_buckling"]

#: Root flexibility of a thin end built into a wider body (the hub, the bar), as a longer thin end:
#: O'Donnell's root rotation of a beam of depth h built into an elastic half-plane,
#: ``theta = 16.67 M / (pi E t h^2)``, equals that of ``16.67 / (12 pi) h = 0.442 h`` more beam.
ROOT_EXTENSION = 16.67 / (12.0 * math.pi)

#: Above this many free dofs the eigenproblem is solved with ARPACK (sparse) instead of LAPACK (dense).
_DENSE_LIMIT = 2500


class FrameBucklingResult(NamedTuple):
    """Buckling load factors of the frame model."""

    load_factors: np.ndarray
    """(m,) positive load factors, ascending (empty: nothing in compression can buckle)."""
    mode_node_u: np.ndarray
    """(m, n_nodes, 2) node-centre displacements of each mode (normalised to max |dof| = 1 over all translations)."""
    axial_force: np.ndarray
    """(n_bonds,) axial force of every bond in the linear solution (N, tension > 0)."""
    n_dofs: int
    """Free dofs of the sub-element frame."""

    @property
    def first(self) -> float:
        """Load factor of the first mode (inf when none was found)."""
        return float(self.load_factors[0]) if self.load_factors.size else math.inf


def _stations(
    design: Design, widths: np.ndarray, options: FrameOptions, thin_elements: int, bar_elements: int, root: float
) -> np.ndarray:
    """(n_bonds, n_el + 1) positions along each bond (from node a) of the element ends.

    With rigid hubs the flexible beam starts where the thin end's edges meet the hub circle,
    ``sqrt(R^2 - (w_t/2)^2)`` from the node, and each thin end is ``root * w_t`` longer at both of
    its ends (into the hub and into the bar): the root rotation of a beam built into a wider body.
    """
    g = design.geometry
    L = design.lengths
    R = float(g.junction_radius) if options.rigid_hubs else 0.0
    lt = (L - 2.0 * R) / (g.bar_to_thin_end + 2.0)
    wt = g.thin_end_ratio * np.asarray(widths, float)
    x0 = np.sqrt(np.maximum(R**2 - (wt / 2) ** 2, 0.0)) - root * wt if options.rigid_hubs else np.zeros_like(L)
    x0 = np.maximum(x0, 0.0)
    x1 = R + lt + root * wt  # thin end -> bar
    t = np.linspace(0.0, 1.0, thin_elements + 1)
    b = np.linspace(0.0, 1.0, bar_elements + 1)
    parts = [
        x0[:, None] + np.outer(x1 - x0, t),
        x1[:, None] + np.outer(L - 2 * x1, b)[:, 1:],
        (L - x1)[:, None] + np.outer(x1 - x0, t)[:, 1:],
    ]
    return np.concatenate(parts, axis=1)


def _width_ratios(thin_elements: int, bar_elements: int, thin_end_ratio: float) -> np.ndarray:
    return np.array([thin_end_ratio] * thin_elements + [1.0] * bar_elements + [thin_end_ratio] * thin_elements)


def _local_matrices(
    h: np.ndarray, EA: np.ndarray, EI: np.ndarray, GA: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray]:
    """(n, 6, 6) elastic stiffness and unit-N geometric stiffness in local element dofs."""
    n = h.size
    K = np.zeros((n, 6, 6))
    a = EA / h
    for i, j, s in ((0, 0, 1), (0, 3, -1), (3, 0, -1), (3, 3, 1)):
        K[:, i, j] = s * a
    phi = np.zeros(n) if GA is None else 12.0 * EI / (GA * h**2)
    c = EI / (h**3 * (1.0 + phi))
    bend = (
        np.array(
            [
                [12 * np.ones(n), 6 * h, -12 * np.ones(n), 6 * h],
                [6 * h, (4 + phi) * h**2, -6 * h, (2 - phi) * h**2],
                [-12 * np.ones(n), -6 * h, 12 * np.ones(n), -6 * h],
                [6 * h, (2 - phi) * h**2, -6 * h, (4 + phi) * h**2],
            ]
        ).transpose(2, 0, 1)
        * c[:, None, None]
    )
    idx = [1, 2, 4, 5]
    K[:, np.ix_(idx, idx)[0], np.ix_(idx, idx)[1]] = bend
    G = np.zeros((n, 6, 6))
    geo = (
        np.array(
            [
                [36 * np.ones(n), 3 * h, -36 * np.ones(n), 3 * h],
                [3 * h, 4 * h**2, -3 * h, -(h**2)],
                [-36 * np.ones(n), -3 * h, 36 * np.ones(n), -3 * h],
                [3 * h, -(h**2), -3 * h, 4 * h**2],
            ]
        ).transpose(2, 0, 1)
        / (30.0 * h)[:, None, None]
    )
    G[:, np.ix_(idx, idx)[0], np.ix_(idx, idx)[1]] = geo
    for i, j, s in ((0, 0, 1), (0, 3, -1), (3, 0, -1), (3, 3, 1)):
        G[:, i, j] = s / h
    return K, G


class _SubFrame:
    """The sub-element frame of one design and widths: dof maps, element transforms, matrices."""

    def __init__(
        self,
        design: Design,
        widths: np.ndarray,
        options: FrameOptions,
        thin_elements: int,
        bar_elements: int,
        root: float,
    ) -> None:
        nb, nn = design.n_bonds, design.n_nodes
        st = _stations(design, widths, options, thin_elements, bar_elements, root)  # (nb, ne + 1)
        ne = st.shape[1] - 1
        n_int = ne - 1  # interior stations per bond (the two end stations are tied to the nodes)
        self.n_dofs = 3 * (nn + nb * n_int)
        ratio = _width_ratios(thin_elements, bar_elements, design.geometry.thin_end_ratio)
        E, nu, t = design.material.E, design.material.nu, design.thickness
        f = options.bending_factor
        ws = widths[:, None] * ratio[None, :]  # (nb, ne)
        h = np.diff(st, axis=1)
        EA = E * t * ws
        EI = f * E * t * ws**3 / 12.0
        GA = f * KAPPA * E / (2.0 * (1.0 + nu)) * t * ws if options.shear else None
        Kl, Gl = _local_matrices(h.ravel(), EA.ravel(), EI.ravel(), None if GA is None else GA.ravel())
        # local -> global rotation (same for every element of a bond)
        n = design.directions
        c, s = np.repeat(n[:, 0], ne), np.repeat(n[:, 1], ne)
        T = np.zeros((nb * ne, 6, 6))
        for o in (0, 3):
            T[:, o, o], T[:, o, o + 1] = c, s
            T[:, o + 1, o], T[:, o + 1, o + 1] = -s, c
            T[:, o + 2, o + 2] = 1.0
        # element ends -> global dofs: interior stations own 3 dofs, end stations are rigid links
        R0 = st[:, 0]  # offset of the first station from node a
        R1 = design.lengths - st[:, -1]  # of the last station from node b
        link = np.tile(np.eye(6), (nb * ne, 1, 1))
        dofs = np.zeros((nb * ne, 6), dtype=np.int64)
        a, b = design.bonds[:, 0], design.bonds[:, 1]
        for i in range(nb):
            base = 3 * (nn + i * n_int)
            for e in range(ne):
                k = i * ne + e
                left = 3 * a[i] if e == 0 else base + 3 * (e - 1)
                right = 3 * b[i] if e == ne - 1 else base + 3 * e
                dofs[k, :3] = left + np.arange(3)
                dofs[k, 3:] = right + np.arange(3)
                if e == 0:  # point x_a + R0 n moves by u_a + th_a R0 (-n_y, n_x)
                    link[k, 0, 2], link[k, 1, 2] = -R0[i] * n[i, 1], R0[i] * n[i, 0]
                if e == ne - 1:  # point x_b - R1 n moves by u_b + th_b R1 (n_y, -n_x)
                    link[k, 3, 5], link[k, 4, 5] = R1[i] * n[i, 1], -R1[i] * n[i, 0]
        self.B = T @ link  # global element-dof vector -> local element dofs
        self.Kl, self.Gl = Kl, Gl
        self.dofs = dofs
        self.ne, self.design = ne, design
        self.hub_offsets = (R0, R1)
        mask = np.ones(self.n_dofs, bool)
        for j in design.fixed:
            mask[3 * j : 3 * j + 3] = False
        self.free = np.nonzero(mask)[0]
        self.K = self._assemble(np.einsum("eji,ejk,ekl->eil", self.B, Kl, self.B))

    def _assemble(self, Ke: np.ndarray, extra: np.ndarray | None = None) -> sp.csr_matrix:
        rows = np.repeat(self.dofs, 6, axis=1).ravel()
        cols = np.tile(self.dofs, (1, 6)).ravel()
        M = sp.csr_matrix((Ke.ravel(), (rows, cols)), shape=(self.n_dofs, self.n_dofs))
        if extra is not None:
            M = M + sp.diags(extra)
        return M[self.free][:, self.free].tocsc()

    def solve(self, loads: np.ndarray) -> np.ndarray:
        """Full dof vector (n_dofs,) under nodal forces (n_nodes, 2)."""
        nn = self.design.n_nodes
        rhs = np.zeros(self.n_dofs)
        rhs[: 3 * nn].reshape(nn, 3)[:, :2] = loads
        d = np.zeros(self.n_dofs)
        d[self.free] = spla.spsolve(self.K, rhs[self.free])
        return d

    def axial_forces(self, d: np.ndarray) -> np.ndarray:
        """(n_elements,) axial force of every element (N, tension > 0)."""
        loc = np.einsum("eij,ej->ei", self.B, d[self.dofs])
        return self.Kl[:, 0, 0] * (loc[:, 3] - loc[:, 0])

    def geometric(self, N: np.ndarray) -> sp.csc_matrix:
        """K_G for element axial forces N, the rigid hub links' ``N R`` on the node rotations included."""
        Ge = np.einsum("eji,ejk,ekl->eil", self.B, N[:, None, None] * self.Gl, self.B)
        diag = np.zeros(self.n_dofs)
        R0, R1 = self.hub_offsets
        a, b = self.design.bonds[:, 0], self.design.bonds[:, 1]
        Nb = N.reshape(-1, self.ne)
        np.add.at(diag, 3 * a + 2, Nb[:, 0] * R0)
        np.add.at(diag, 3 * b + 2, Nb[:, -1] * R1)
        return self._assemble(Ge, diag)


def frame_buckling(
    design: Design,
    loads: np.ndarray,
    widths: np.ndarray | None = None,
    options: FrameOptions | None = None,
    n_modes: int = 4,
    thin_elements: int = 1,
    bar_elements: int = 4,
    root: float = ROOT_EXTENSION,
) -> FrameBucklingResult:
    """Linearised buckling load factors of the frame model of ``design`` under ``loads``.

    Args:
        design: The lattice (its fixed nodes are clamped in translation and rotation).
        loads: (n_nodes, 2) or (1, n_nodes, 2) nodal forces (N); the load factor multiplies all of them.
        widths: (n_bonds,) widths (mm), default the design's.
        options: Beam idealisation (:class:`~fem_mnn.spring.frame.FrameOptions`).
        n_modes: Load factors wanted.
        thin_elements, bar_elements: Beam elements per thin end and per bar.

    Raises:
        InputError: bad loads, widths or element counts.
    """
    opts = options or FrameOptions()
    w = np.array(design.widths if widths is None else widths, dtype=float)
    if w.shape != (design.n_bonds,) or not np.all(np.isfinite(w)) or np.any(w <= 0):
        raise InputError(f"needs {design.n_bonds} finite widths > 0", field="widths", value=w.shape)
    F = as_cases(loads, design.n_nodes)
    if F.shape[0] != 1:
        raise InputError("one load case expected", field="loads", value=F.shape)
    for name, v in (("thin_elements", thin_elements), ("bar_elements", bar_elements), ("n_modes", n_modes)):
        if not isinstance(v, int) or v < 1:
            raise InputError("must be an integer >= 1", field=name, value=v)
    fr = _SubFrame(design, w, opts, thin_elements, bar_elements, root)
    d = fr.solve(F[0])
    N = fr.axial_forces(d)
    KG = fr.geometric(N)
    A = -KG  # -K_G phi = eta K phi
    nf = fr.free.size
    if nf <= _DENSE_LIMIT:
        eta, vec = sla.eigh(A.toarray(), fr.K.toarray())
    else:
        k = min(n_modes + 4, nf - 1)
        eta, vec = spla.eigsh(A, k=k, M=fr.K, which="LA")
    scale = max(float(np.abs(eta).max(initial=0.0)), 1e-300)
    keep = [i for i in np.argsort(-eta) if eta[i] > 1e-10 * scale][:n_modes]
    nn = design.n_nodes
    modes = np.zeros((len(keep), nn, 2))
    for m, i in enumerate(keep):
        full = np.zeros(fr.n_dofs)
        full[fr.free] = vec[:, i]
        tr = np.concatenate(
            [full[: 3 * nn].reshape(nn, 3)[:, :2].ravel(), full[3 * nn :].reshape(-1, 3)[:, :2].ravel()]
        )
        peak = float(np.abs(tr).max()) or 1.0
        modes[m] = full[: 3 * nn].reshape(nn, 3)[:, :2] / peak
    return FrameBucklingResult(
        load_factors=np.array([1.0 / eta[i] for i in keep]),
        mode_node_u=modes,
        axial_force=N.reshape(design.n_bonds, fr.ne)[:, fr.ne // 2].copy(),
        n_dofs=int(nf),
    )
