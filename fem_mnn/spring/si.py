"""The spring network in SI units for many stiffness sets at once: the finite-difference sweeps of Figure 1.

The paper's finite differences perturb the spring constants k in N/m and read displacements
in m, with the loss ``L = (u_out + c)^2`` in m^2. :class:`SISprings` solves the network in those
units for a stack of stiffness sets in one batched dense solve (a sweep over bonds and steps is
thousands of small systems), and gives the exact gradient ``dL/dk_i = e_i e_adj,i`` of the same
network to measure the finite differences against.
"""

from __future__ import annotations

import numpy as np

from fem_mnn.design.records import Design
from fem_mnn.design.rigidity import compatibility_matrix, free_dofs

__all__ = ["SISprings"]


class SISprings:
    """A design's spring network in SI units (k N/m, u m) under one load, with an offset loss on one dof.

    Args:
        design: The lattice (its widths give the nominal k0 = E t w / L, here in N/m).
        load: (n_nodes, 2) forward load (N).
        out: ``(node, component)`` of the loss's displacement (0 = x, 1 = y).
        offset_m: The offset c of ``L = (u_out + c)^2`` (m).
    """

    def __init__(self, design: Design, load: np.ndarray, out: tuple[int, int], offset_m: float) -> None:
        d = design
        self.design = d
        self.C = compatibility_matrix(d).toarray()
        self.free = free_dofs(d)
        self.k0 = d.material.E * 1e6 * (d.thickness * 1e-3) * (d.widths * 1e-3) / (d.lengths * 1e-3)
        self.f = np.asarray(load, dtype=float).reshape(2 * d.n_nodes).copy()
        self.out = 2 * int(out[0]) + int(out[1])
        self.offset = float(offset_m)

    def solve(self, k: np.ndarray, f: np.ndarray) -> np.ndarray:
        """u (m), shape (..., 2 n_nodes), for stiffness sets k (..., n_bonds) (N/m) under one load f (2 n_nodes,) (N)."""
        Cf = self.C[:, self.free]
        D = np.einsum("bi,...b,bj->...ij", Cf, k, Cf)
        x = np.linalg.solve(D, np.broadcast_to(f[self.free], D.shape[:-1])[..., None])[..., 0]
        u = np.zeros(k.shape[:-1] + (self.C.shape[1],))
        u[..., self.free] = x
        return u

    def loss(self, k: np.ndarray) -> np.ndarray:
        """L (m^2) of every stiffness set (...,) under the forward load."""
        return (self.solve(k, self.f)[..., self.out] + self.offset) ** 2

    def exact_gradient(self) -> tuple[np.ndarray, float]:
        """dL/dk at k0 (m^2 per N/m: ``e * e_adj`` with the adjoint load -dL/du in N) and L (m^2)."""
        u = self.solve(self.k0, self.f)
        fa = np.zeros_like(self.f)
        fa[self.out] = -2.0 * (u[self.out] + self.offset)
        ua = self.solve(self.k0, fa)
        return (self.C @ u) * (self.C @ ua), float((u[self.out] + self.offset) ** 2)

    def fd_width_forward(self, h: float) -> np.ndarray:
        """Forward-difference dL/dw (m^2 per mm), step h (mm) on each width in turn."""
        d = self.design
        dk_dw = d.material.E * 1e6 * (d.thickness * 1e-3) / (d.lengths * 1e-3) * 1e-3  # N/m per mm
        kp = self.k0 + h * np.diag(dk_dw)
        return (self.loss(kp) - self.loss(self.k0[None])[0]) / h

    def fd(self, h: float, central: bool) -> np.ndarray:
        """Finite-difference dL/dk (n_bonds,) with absolute step h (N/m) on each k in turn."""
        nb = self.k0.size
        kp = self.k0 + h * np.eye(nb)
        if central:
            km = self.k0 - h * np.eye(nb)
            return (self.loss(kp) - self.loss(km)) / (2 * h)
        return (self.loss(kp) - self.loss(self.k0[None])[0]) / h
