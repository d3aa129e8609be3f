"""A beam-aware model of the lattice: a 2D frame with axial and bending stiffness per bond.

Each bond is a plane beam between the two node centres, made of

    rigid hub (R) | thin end (l_t, width c w) | bar (l_b, width w) | thin end | rigid hub (R)

(:func:`fem_mnn.design.outline.beam_layout`), with axial stiffness ``E t w_s``, bending
stiffness ``E t w_s^3 / 12`` and (Timoshenko, optional) shear stiffness
``kappa G t w_s`` (kappa = 5/6) on every segment ``s``. The 6x6 element stiffness
follows from the exact flexibility of the stepped cantilever (integrated segment by
segment) and the rigid-body equilibrium of the element, so thin ends and rigid hub
offsets are exact within beam theory. Axial and bending decouple (the centre line
is straight and the sections symmetric):

* the axial part is ``k_ax(w) e e^T`` with ``e = (u_b - u_a) . n``; ``k_ax`` comes
  from a spring law (:data:`fem_mnn.contract.SpringLaw`: e.g. the calibrated law of
  :mod:`fem_mnn.fem.calibration`) or, by default, from the same beam theory (thin ends
  and bar in series, hubs rigid);
* the bending part acts on the transverse displacements and the node rotations.

Uses:

1. :func:`beam_gradient` -- the beam-aware in situ estimate from *measured* node
   displacements and node rotations of a forward and an adjoint state (e.g. the
   junction averages and junction rotations of the FEM extractor, or image
   tracking): ``dL/dw_i = v_e^T dK_e/dw u_e``, split into an axial and a bending part;
2. :class:`FrameModel` -- a standalone model implementing
   :class:`fem_mnn.contract.MechanicalModel` (3 dofs per node, fixed nodes clamped in
   translation and rotation; loads are nodal forces, no moments), with its own
   exact gradient (:meth:`FrameOperator.gradient`).

Units mm, N, MPa; rotations in rad (counter-clockwise).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from fem_mnn.contract import Loss, Solution, SpringLaw, as_cases, elongations
from fem_mnn.core.errors import InputError
from fem_mnn.design.records import Design

__all__ = [
    "BeamGradient",
    "ElementMatrices",
    "FrameModel",
    "FrameOperator",
    "FrameOptions",
    "FrameSolution",
    "beam_axial_law",
    "beam_gradient",
    "element_matrices",
]

KAPPA = 5.0 / 6.0


@dataclass(frozen=True)
class FrameOptions:
    """How bonds are idealised as beams.

    Attributes:
        shear: Timoshenko shear flexibility (default True; the thin ends are short).
        rigid_hubs: The hub radius R at each end is rigid (default True); False makes
            the whole node-to-node length flexible with the thin-end/bar split of
            the outline scaled to L.
        bending_factor: Multiplies every bending and shear stiffness (1 = beam theory;
            0 < f gives a pin-jointed truss in the limit f -> 0).
    """

    shear: bool = True
    rigid_hubs: bool = True
    bending_factor: float = 1.0

    def __post_init__(self) -> None:
        if not (np.isfinite(self.bending_factor) and self.bending_factor > 0):
            raise InputError("must be > 0", field="bending_factor", value=self.bending_factor)


def _segments(design: Design, widths: np.ndarray, options: FrameOptions) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per bond: segment start/end coordinates (n_bonds, 3, 2) from node a and width ratios (3,)."""
    g = design.geometry
    L = design.lengths
    R = float(g.junction_radius) if options.rigid_hubs else 0.0
    free = L - 2.0 * R
    lt = free / (g.bar_to_thin_end + 2.0)
    x = np.stack([np.full_like(L, R), R + lt, L - R - lt, L - R], axis=1)
    seg = np.stack([x[:, :-1], x[:, 1:]], axis=2)  # (nb, 3, 2)
    ratio = np.array([g.thin_end_ratio, 1.0, g.thin_end_ratio])
    return seg, ratio, L


def _flexibility(design: Design, widths: np.ndarray, options: FrameOptions) -> tuple[np.ndarray, np.ndarray]:
    """Cantilever flexibility (clamped at a, loads N, V, M at b's centre) and its w-derivative.

    Returns:
        F, dF: (n_bonds, 3, 3) each.
    """
    w = np.asarray(widths, float)
    E, nu, t = design.material.E, design.material.nu, design.thickness
    G = E / (2.0 * (1.0 + nu))
    seg, ratio, L = _segments(design, w, options)
    nb = w.size
    F = np.zeros((nb, 3, 3))
    dF = np.zeros((nb, 3, 3))
    f = options.bending_factor
    for s in range(3):
        x0, x1 = seg[:, s, 0], seg[:, s, 1]
        ws = ratio[s] * w
        dws = ratio[s]
        # integrals of 1, (L-x), (L-x)^2 over [x0, x1]
        i0 = x1 - x0
        i1 = ((L - x0) ** 2 - (L - x1) ** 2) / 2.0
        i2 = ((L - x0) ** 3 - (L - x1) ** 3) / 3.0
        EA = E * t * ws
        EI = f * E * t * ws**3 / 12.0
        F[:, 0, 0] += i0 / EA
        dF[:, 0, 0] += -i0 / EA * dws / ws
        # bending: M(x) = M + V (L - x)
        F[:, 1, 1] += i2 / EI
        F[:, 1, 2] += i1 / EI
        F[:, 2, 2] += i0 / EI
        dF[:, 1, 1] += -3.0 * i2 / EI * dws / ws
        dF[:, 1, 2] += -3.0 * i1 / EI * dws / ws
        dF[:, 2, 2] += -3.0 * i0 / EI * dws / ws
        if options.shear:
            GA = f * KAPPA * G * t * ws
            F[:, 1, 1] += i0 / GA
            dF[:, 1, 1] += -i0 / GA * dws / ws
    F[:, 2, 1] = F[:, 1, 2]
    dF[:, 2, 1] = dF[:, 1, 2]
    return F, dF


def beam_axial_law(options: FrameOptions | None = None) -> SpringLaw:
    """The frame's own axial law: thin ends and bar in series (hubs rigid), ``k = 1 / F_NN``."""
    opts = options or FrameOptions()

    def law(design: Design, widths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        F, dF = _flexibility(design, widths, opts)
        k = 1.0 / F[:, 0, 0]
        return k, -dF[:, 0, 0] * k**2

    return law


def _H(L: np.ndarray) -> np.ndarray:
    """(nb, 3, 6): local element dofs (u_a, v_a, th_a, u_b, v_b, th_b) -> deformation at b relative to a."""
    nb = L.size
    H = np.zeros((nb, 3, 6))
    H[:, 0, 0], H[:, 0, 3] = -1.0, 1.0
    H[:, 1, 1], H[:, 1, 2], H[:, 1, 4] = -1.0, -L, 1.0
    H[:, 2, 2], H[:, 2, 5] = -1.0, 1.0
    return H


def _rotation(design: Design) -> np.ndarray:
    """(nb, 6, 6) global -> local dof rotation of every bond."""
    n = design.directions
    c, s = n[:, 0], n[:, 1]
    nb = c.size
    T = np.zeros((nb, 6, 6))
    for o in (0, 3):
        T[:, o, o], T[:, o, o + 1] = c, s
        T[:, o + 1, o], T[:, o + 1, o + 1] = -s, c
        T[:, o + 2, o + 2] = 1.0
    return T


class ElementMatrices(NamedTuple):
    """Global-frame element matrices of every bond (dofs u_a, v_a, th_a, u_b, v_b, th_b)."""

    axial: np.ndarray
    """(nb, 6, 6) axial part k_ax c c^T."""
    bending: np.ndarray
    """(nb, 6, 6) bending (+ shear) part."""
    d_axial: np.ndarray
    """(nb, 6, 6) d(axial)/dw."""
    d_bending: np.ndarray
    """(nb, 6, 6) d(bending)/dw."""
    k_axial: np.ndarray
    """(nb,) axial stiffness (N/mm)."""
    dk_axial: np.ndarray
    """(nb,) its w-derivative."""


def element_matrices(
    design: Design, widths: np.ndarray, law: SpringLaw | None = None, options: FrameOptions | None = None
) -> ElementMatrices:
    """Element stiffness matrices and their width derivatives (global frame).

    Args:
        design: Geometry, material, bond directions.
        widths: (n_bonds,) widths (mm).
        law: Axial law; default :func:`beam_axial_law`.
        options: Beam idealisation.
    """
    opts = options or FrameOptions()
    w = np.asarray(widths, float)
    F, dF = _flexibility(design, w, opts)
    if law is None:
        k_ax = 1.0 / F[:, 0, 0]
        dk_ax = -dF[:, 0, 0] * k_ax**2
    else:
        k_ax, dk_ax = (np.asarray(a, float) for a in law(design, w))
    Fb = F[:, 1:, 1:]
    Kb = np.linalg.inv(Fb)
    dKb = -Kb @ dF[:, 1:, 1:] @ Kb
    L = design.lengths
    H = _H(L)
    T = _rotation(design)
    Hb = H[:, 1:, :] @ T  # (nb, 2, 6) global dofs -> (v_rel, th_rel)
    c = np.einsum("bj,bjk->bk", H[:, 0, :], T)  # (nb, 6) global axial row: e = c . d
    cc = c[:, :, None] * c[:, None, :]
    return ElementMatrices(
        axial=k_ax[:, None, None] * cc,
        bending=np.einsum("bji,bjk,bkl->bil", Hb, Kb, Hb),
        d_axial=dk_ax[:, None, None] * cc,
        d_bending=np.einsum("bji,bjk,bkl->bil", Hb, dKb, Hb),
        k_axial=k_ax,
        dk_axial=dk_ax,
    )


def _element_dofs(design: Design) -> np.ndarray:
    a, b = design.bonds[:, 0], design.bonds[:, 1]
    return np.stack([3 * a, 3 * a + 1, 3 * a + 2, 3 * b, 3 * b + 1, 3 * b + 2], axis=1)


def _gather(design: Design, u: np.ndarray, rot: np.ndarray) -> np.ndarray:
    """(..., nb, 6) element dofs from node displacements (..., nn, 2) and rotations (..., nn)."""
    u = np.asarray(u, float)
    rot = np.asarray(rot, float)
    full = np.concatenate([u[..., :2], rot[..., None]], axis=-1)  # (..., nn, 3)
    a, b = design.bonds[:, 0], design.bonds[:, 1]
    return np.concatenate([full[..., a, :], full[..., b, :]], axis=-1)


class BeamGradient(NamedTuple):
    """Beam-aware per-bond gradient dL/dw (mm for L in mm^2), mean over the load cases."""

    total: np.ndarray
    """(n_bonds,) axial + bending."""
    axial: np.ndarray
    """(n_bonds,) dk_ax/dw e e_adj (the elongation-only estimate with this axial law)."""
    bending: np.ndarray
    """(n_bonds,) the bending (+ shear) part."""


def beam_gradient(
    design: Design,
    widths: np.ndarray,
    u: np.ndarray,
    rot: np.ndarray,
    u_adj: np.ndarray,
    rot_adj: np.ndarray,
    law: SpringLaw | None = None,
    options: FrameOptions | None = None,
) -> BeamGradient:
    """Beam-aware in situ estimate from node displacements and rotations of two states.

    ``g_i = mean_c  v_e,c^T (dK_e,i/dw_i) u_e,c`` with the element dofs
    ``(u_a, v_a, theta_a, u_b, v_b, theta_b)`` of the forward (``u``, ``rot``) and
    the adjoint (``u_adj``, ``rot_adj``) states -- quantities image tracking of the
    junctions can measure.

    Args:
        design: The lattice.
        widths: (n_bonds,) widths (mm).
        u, u_adj: (n_cases, n_nodes, 2) or (n_nodes, 2) node displacements (mm).
        rot, rot_adj: (n_cases, n_nodes) or (n_nodes,) node rotations (rad).
        law: Axial law (default the frame's beam-theory law).
        options: Beam idealisation.
    """
    em = element_matrices(design, widths, law, options)
    ue = _gather(design, u, rot)
    ve = _gather(design, u_adj, rot_adj)
    if ue.ndim == 2:
        ue, ve = ue[None], ve[None]
    ax = np.einsum("cbi,bij,cbj->b", ve, em.d_axial, ue) / ue.shape[0]
    be = np.einsum("cbi,bij,cbj->b", ve, em.d_bending, ue) / ue.shape[0]
    return BeamGradient(total=ax + be, axial=ax, bending=be)


class FrameSolution(NamedTuple):
    """Frame response to a batch of load cases."""

    u: np.ndarray
    """(n_cases, n_nodes, 2) node displacements (mm)."""
    elongation: np.ndarray
    """(n_cases, n_bonds) elongations (mm)."""
    rotation: np.ndarray
    """(n_cases, n_nodes) node rotations (rad)."""


class FrameOperator:
    """Assembled and factorised frame stiffness for one set of widths (implements LinearOperator).

    Attributes:
        widths: (n_bonds,) widths (mm).
        k: (n_bonds,) axial stiffness (N/mm).
        dk_dw: (n_bonds,) its derivative (N/mm^2): the elongation-only in situ estimate's law.
    """

    def __init__(self, design: Design, widths: np.ndarray, law: SpringLaw | None, options: FrameOptions) -> None:
        self.design = design
        self.widths = np.array(widths, float)
        if self.widths.shape != (design.n_bonds,):
            raise InputError(f"needs {design.n_bonds} widths", field="widths", value=self.widths.shape)
        if np.any(~np.isfinite(self.widths)) or np.any(self.widths <= 0):
            b = int(np.argmax(~np.isfinite(self.widths) | (self.widths <= 0)))
            raise InputError("must be finite and > 0", field=f"widths[{b}]", value=float(self.widths[b]))
        self.law = law
        self.options = options
        self.em = element_matrices(design, self.widths, law, options)
        self.k, self.dk_dw = self.em.k_axial, self.em.dk_axial
        n = 3 * design.n_nodes
        dofs = _element_dofs(design)
        Ke = self.em.axial + self.em.bending
        rows = np.repeat(dofs, 6, axis=1).ravel()
        cols = np.tile(dofs, (1, 6)).ravel()
        self.K = sp.csr_matrix((Ke.ravel(), (rows, cols)), shape=(n, n))
        mask = np.ones(n, bool)
        for j in design.fixed:
            mask[3 * j : 3 * j + 3] = False
        self._free = np.nonzero(mask)[0]
        self._lu = spla.splu(self.K[self._free][:, self._free].tocsc())

    def solve_full(self, loads: np.ndarray) -> FrameSolution:
        """Displacements, elongations and rotations for nodal forces (n_cases, n_nodes, 2) (N)."""
        f = as_cases(loads, self.design.n_nodes)
        nc, nn = f.shape[0], self.design.n_nodes
        rhs = np.zeros((nc, nn, 3))
        rhs[:, :, :2] = f
        rhs = rhs.reshape(nc, -1)[:, self._free].T
        x = self._lu.solve(np.ascontiguousarray(rhs))
        flat = np.zeros((nc, 3 * nn))
        flat[:, self._free] = x.T
        d = flat.reshape(nc, nn, 3)
        u = d[:, :, :2].copy()

        return FrameSolution(u=u, elongation=elongations(u, self.design), rotation=d[:, :, 2].copy())

    def solve(self, loads: np.ndarray) -> Solution:
        """Node displacements and elongations (the model interface)."""
        s = self.solve_full(loads)
        return Solution(u=s.u, elongation=s.elongation)

    def gradient(self, loads: np.ndarray, loss: Loss) -> tuple[float, BeamGradient, FrameSolution, FrameSolution]:
        """Exact frame gradient dL/dw (mean over cases) by one forward and one adjoint solve.

        Returns:
            (loss, gradient parts, forward solution, adjoint solution).
        """
        fwd = self.solve_full(loads)
        case_loss, dldu = loss(fwd.u)
        adj = self.solve_full(-dldu)
        g = beam_gradient(self.design, self.widths, fwd.u, fwd.rotation, adj.u, adj.rotation, self.law, self.options)
        return float(np.mean(case_loss)), g, fwd, adj


class FrameModel:
    """The lattice as a 2D frame of stepped beams (implements MechanicalModel).

    Args:
        design: The lattice.
        law: Axial spring law (default :func:`beam_axial_law`: series thin|bar|thin, rigid hubs).
        options: Beam idealisation.
    """

    def __init__(self, design: Design, law: SpringLaw | None = None, options: FrameOptions | None = None) -> None:
        self.design = design
        self.law = law
        self.options = options or FrameOptions()

    def operator(self, widths: np.ndarray | None = None) -> FrameOperator:
        """Assemble and factorise for ``widths`` (default the design's)."""
        return FrameOperator(self.design, self.design.widths if widths is None else widths, self.law, self.options)

    def solve(self, loads: np.ndarray, widths: np.ndarray | None = None) -> Solution:
        """Shortcut: build the operator and solve once."""
        return self.operator(widths).solve(loads)
