"""Rigidity of a lattice: the compatibility matrix and the zero-energy modes of its spring network.

Geometry-only (unit spring constants), so validation can ask it without a spring model.
"""

from __future__ import annotations

import numpy as np
import scipy.linalg
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from fem_mnn.design.records import Design

__all__ = ["compatibility_matrix", "free_dofs", "zero_modes"]

#: Above this many free dofs the rigidity check uses sparse shift-invert.
_DENSE_LIMIT = 3000


def compatibility_matrix(design: Design) -> sp.csr_matrix:
    """C (n_bonds x 2 n_nodes): row i gives e_i = (u_b - u_a) . n_i.

    Degrees of freedom are ordered node by node: (ux_0, uy_0, ux_1, uy_1, ...).
    """
    nb = design.n_bonds
    n = design.directions
    a, b = design.bonds[:, 0], design.bonds[:, 1]
    rows = np.repeat(np.arange(nb), 4)
    cols = np.stack([2 * a, 2 * a + 1, 2 * b, 2 * b + 1], axis=1).ravel()
    vals = np.stack([-n[:, 0], -n[:, 1], n[:, 0], n[:, 1]], axis=1).ravel()
    return sp.csr_matrix((vals, (rows, cols)), shape=(nb, 2 * design.n_nodes))


def free_dofs(design: Design) -> np.ndarray:
    """Indices of the degrees of freedom not clamped by ``design.fixed``."""
    mask = np.ones(2 * design.n_nodes, dtype=bool)
    for i in design.fixed:
        mask[2 * i : 2 * i + 2] = False
    return np.nonzero(mask)[0]


def zero_modes(design: Design, rtol: float = 1e-9) -> np.ndarray:
    """Zero-energy modes of the clamped network with unit spring constants.

    Returns:
        (2 n_nodes, m) orthonormal modes (zero on clamped dofs); m = 0 for a rigid
        lattice.
    """
    C = compatibility_matrix(design)
    free = free_dofs(design)
    K = (C.T @ C).tocsr()[free][:, free]
    if free.size == 0:
        return np.zeros((2 * design.n_nodes, 0))
    if free.size <= _DENSE_LIMIT:
        w, v = scipy.linalg.eigh(K.toarray())
        scale = max(float(w[-1]), 1e-300)
        sel = v[:, w <= rtol * scale]
    else:
        scale = float(abs(K).sum(axis=1).max())
        kk = min(12, free.size - 2)
        w, v = spla.eigsh(K.tocsc(), k=kk, sigma=-1e-6 * scale, which="LM")
        sel = v[:, w <= rtol * scale]
    out = np.zeros((2 * design.n_nodes, sel.shape[1]))
    out[free] = sel
    return out
