"""A dense spring model for small lattices, used by the training studies for speed.

Same physics and interface as :class:`fem_mnn.spring.SpringModel` (the
:class:`~fem_mnn.model.MechanicalModel` protocol): D = C^T diag(k) C on the free
degrees of freedom, k from the same spring law. For the 14-node paper sample a
dense Cholesky factorisation and a multi-right-hand-side triangular solve are
~10x faster than the sparse SuperLU path (whose solve with ~100 right-hand sides
dominates a training epoch). :func:`check_against_sparse` verifies agreement.
"""

from __future__ import annotations

import numpy as np
import scipy.linalg

from fem_mnn.design import Design
from fem_mnn.model import Solution, as_cases
from fem_mnn.spring import SpringLaw, SpringModel, compatibility_matrix, free_dofs, nominal_stiffness

__all__ = ["DenseSpringModel", "DenseSpringOperator", "check_against_sparse"]


class DenseSpringOperator:
    """Dense Cholesky factorisation of the clamped stiffness for one set of widths."""

    def __init__(self, design: Design, C: np.ndarray, free: np.ndarray, widths: np.ndarray, law: SpringLaw) -> None:
        self.design = design
        self.widths = np.array(widths, dtype=float)
        self.k, self.dk_dw = law(design, self.widths)
        if np.any(~np.isfinite(self.k)) or np.any(self.k <= 0):
            raise ValueError("spring constants must be finite and > 0")
        self._C = C
        self._free = free
        Cf = C[:, free]
        self._cho = scipy.linalg.cho_factor((Cf.T * self.k) @ Cf, check_finite=False)

    def solve(self, loads: np.ndarray) -> Solution:
        f = as_cases(loads, self.design.n_nodes)
        nc = f.shape[0]
        rhs = f.reshape(nc, -1)[:, self._free].T
        x = scipy.linalg.cho_solve(self._cho, rhs, check_finite=False)
        u = np.zeros((nc, 2 * self.design.n_nodes))
        u[:, self._free] = x.T
        return Solution(u=u.reshape(nc, -1, 2), elongation=u @ self._C.T)


class DenseSpringModel:
    """Drop-in dense replacement of :class:`~fem_mnn.spring.SpringModel` for small lattices."""

    def __init__(self, design: Design, law: SpringLaw = nominal_stiffness) -> None:
        self.design = design
        self.law = law
        self._C = compatibility_matrix(design).toarray()
        self._free = free_dofs(design)

    def operator(self, widths: np.ndarray | None = None) -> DenseSpringOperator:
        w = self.design.widths if widths is None else widths
        return DenseSpringOperator(self.design, self._C, self._free, w, self.law)

    def solve(self, loads: np.ndarray, widths: np.ndarray | None = None) -> Solution:
        return self.operator(widths).solve(loads)


def check_against_sparse(design: Design, seed: int = 0) -> float:
    """Largest relative difference of u between the dense and the sparse model (random widths, loads)."""
    rng = np.random.default_rng(seed)
    g = design.geometry
    w = rng.uniform(g.width_min, g.width_max, design.n_bonds)
    f = rng.normal(scale=0.05, size=(5, design.n_nodes, 2))
    a = DenseSpringModel(design).solve(f, w).u
    b = SpringModel(design).solve(f, w).u
    return float(np.abs(a - b).max() / np.abs(b).max())
