"""The spring network: the reduced-order model of the paper.

Elongations e = C u, stiffness D = C^T diag(k) C, forward D u = f on the free
degrees of freedom (fixed nodes clamped). The default spring law is the paper's
k = E t w / L.
"""

from __future__ import annotations

import numpy as np
import scipy.linalg
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from fem_mnn.contract import Solution, SpringLaw, as_cases, nominal_stiffness
from fem_mnn.core.errors import EngineError, InputError
from fem_mnn.design.records import Design
from fem_mnn.design.rigidity import compatibility_matrix, free_dofs

__all__ = ["SpringModel", "SpringOperator"]

#: Smallest pivot / largest pivot of the LU factors below which the stiffness counts as singular.
_PIVOT_RTOL = 1e-12
#: Up to this many free dofs the operator factorises densely (Cholesky): for the
#: small lattices of the paper a dense multi-RHS solve is ~10-20x faster than SuperLU.
_DENSE_SOLVE_LIMIT = 600


class SpringOperator:
    """D = C^T diag(k) C for one set of widths, factorised once.

    Small lattices (at most ``_DENSE_SOLVE_LIMIT`` free dofs) use a dense Cholesky
    factorisation, larger ones sparse LU (SuperLU); ``solver`` forces either.
    Loads on clamped dofs are reactions and are ignored.

    Raises:
        InputError: widths of the wrong shape or non-positive spring constants.
        EngineError: the clamped stiffness is singular or nearly so (a zero-energy mode).
    """

    def __init__(self, design: Design, widths: np.ndarray, law: SpringLaw, solver: str = "auto") -> None:
        self.design = design
        self.widths = np.array(widths, dtype=float)
        if self.widths.shape != (design.n_bonds,):
            raise InputError(f"needs {design.n_bonds} widths", field="widths", value=self.widths.shape)
        self.k, self.dk_dw = law(design, self.widths)
        if np.any(~np.isfinite(self.k)) or np.any(self.k <= 0):
            b = int(np.argmax(~np.isfinite(self.k) | (self.k <= 0)))
            raise InputError("spring constant must be finite and > 0", field=f"k[{b}]", value=float(self.k[b]))
        if solver not in ("auto", "dense", "sparse"):
            raise InputError("must be 'auto', 'dense' or 'sparse'", field="solver", value=solver)
        self._C = compatibility_matrix(design)
        self._free = free_dofs(design)
        Cf = self._C[:, self._free]
        Dff = (Cf.T @ sp.diags(self.k) @ Cf).tocsc()
        self.dense = solver == "dense" or (solver == "auto" and self._free.size <= _DENSE_SOLVE_LIMIT)
        if self.dense:
            try:
                self._cho = scipy.linalg.cho_factor(Dff.toarray(), check_finite=False)
            except np.linalg.LinAlgError:  # not positive definite: a zero-energy mode
                raise EngineError("singular spring stiffness: the lattice has a zero-energy mode") from None
            pivots = np.abs(np.diag(self._cho[0])) ** 2
        else:
            try:
                self._lu = spla.splu(Dff)
            except RuntimeError as exc:  # "Factor is exactly singular"
                raise EngineError(f"singular spring stiffness ({exc}): the lattice has a zero-energy mode") from None
            pivots = np.abs(self._lu.U.diagonal())
        if pivots.size and pivots.min() <= _PIVOT_RTOL * pivots.max():
            raise EngineError(
                f"near-singular spring stiffness (pivot ratio {pivots.min() / pivots.max():.1e}): "
                "the lattice has a zero-energy mode"
            )

    def stiffness_matrix(self) -> sp.csr_matrix:
        """The full (unclamped) D = C^T diag(k) C."""
        return (self._C.T @ sp.diags(self.k) @ self._C).tocsr()

    def solve(self, loads: np.ndarray) -> Solution:
        f = as_cases(loads, self.design.n_nodes)
        nc = f.shape[0]
        rhs = np.ascontiguousarray(f.reshape(nc, -1)[:, self._free].T)
        x = scipy.linalg.cho_solve(self._cho, rhs, check_finite=False) if self.dense else self._lu.solve(rhs)
        u = np.zeros((nc, 2 * self.design.n_nodes))
        u[:, self._free] = x.T.reshape(nc, -1)
        e = (self._C @ u.T).T
        return Solution(u=u.reshape(nc, -1, 2), elongation=e)


class SpringModel:
    """The spring network of a design.

    Args:
        design: The lattice (positions, bonds, E, t, fixed nodes).
        law: Spring law (k, dk/dw) = law(design, widths); default
            :func:`nominal_stiffness`, the paper's k = E t w / L.
        solver: "auto" (dense Cholesky for small lattices, sparse LU otherwise),
            "dense" or "sparse".
    """

    def __init__(self, design: Design, law: SpringLaw = nominal_stiffness, solver: str = "auto") -> None:
        self.design = design
        self.law = law
        self.solver = solver

    def operator(self, widths: np.ndarray | None = None) -> SpringOperator:
        return SpringOperator(self.design, self.design.widths if widths is None else widths, self.law, self.solver)

    def solve(self, loads: np.ndarray, widths: np.ndarray | None = None) -> Solution:
        """Shortcut: build the operator and solve once."""
        return self.operator(widths).solve(loads)
