"""The spring network: the reduced-order model of the paper.

Elongations e = C u, stiffness D = C^T diag(k) C, forward D u = f on the free
degrees of freedom (fixed nodes clamped). The default spring law is the paper's
k = E t w / L.
"""

from __future__ import annotations

import numpy as np
import scipy.linalg
import scipy.sparse as sp

from fem_mnn.contract import Solution, SpringLaw, as_cases, nominal_stiffness
from fem_mnn.core.errors import EngineError, InputError
from fem_mnn.design.records import Design
from fem_mnn.design.rigidity import compatibility_matrix, factorize_spd, free_dofs, nested_dissection

__all__ = ["SpringModel", "SpringOperator"]

#: Smallest pivot / largest pivot of the LU factors below which the stiffness counts as singular.
_PIVOT_RTOL = 1e-12
#: Up to this many free dofs the operator factorises densely (Cholesky): for the
#: small lattices of the paper a dense multi-RHS solve is ~10-20x faster than SuperLU.
_DENSE_SOLVE_LIMIT = 600


class SpringOperator:
    """D = C^T diag(k) C for one set of widths, factorised once.

    Small lattices (at most ``_DENSE_SOLVE_LIMIT`` free dofs) use a dense Cholesky
    factorisation, larger ones sparse LU (SuperLU, nested-dissection order,
    diagonal pivots: :func:`~fem_mnn.design.rigidity.factorize_spd`; about 0.3 s
    for 100 000 bonds); ``solver`` forces either. ``node_order`` reuses the
    fill-reducing order of an earlier operator of the same design
    (:attr:`node_order`, None for the dense solver).
    Loads on clamped dofs are reactions and are ignored.

    Raises:
        InputError: widths of the wrong shape or non-positive spring constants.
        EngineError: the clamped stiffness is singular or nearly so (a zero-energy mode).
    """

    def __init__(
        self,
        design: Design,
        widths: np.ndarray,
        law: SpringLaw,
        solver: str = "auto",
        node_order: np.ndarray | None = None,
    ) -> None:
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
        self.node_order = None if self.dense else (nested_dissection(design) if node_order is None else node_order)
        if self.dense:
            try:
                self._cho = scipy.linalg.cho_factor(Dff.toarray(), check_finite=False)
            except np.linalg.LinAlgError:  # not positive definite: a zero-energy mode
                raise EngineError("singular spring stiffness: the lattice has a zero-energy mode") from None
            pivots = np.abs(np.diag(self._cho[0])) ** 2
        else:
            try:
                self._lu, self._perm = factorize_spd(Dff, design, self._free, self.node_order)
            except RuntimeError as exc:  # "Factor is exactly singular"
                raise EngineError(f"singular spring stiffness ({exc}): the lattice has a zero-energy mode") from None
            # no row exchanges: the pivots are Cholesky's, and a negative one means singular
            pivots = self._lu.U.diagonal()
        if pivots.size and pivots.min() <= _PIVOT_RTOL * np.abs(pivots).max():
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
        if self.dense:
            x = scipy.linalg.cho_solve(self._cho, rhs, check_finite=False)
        else:
            x = np.empty_like(rhs)
            x[self._perm] = self._lu.solve(np.ascontiguousarray(rhs[self._perm]))
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
        self._node_order: np.ndarray | None = None  # fill-reducing order, computed once

    def operator(self, widths: np.ndarray | None = None) -> SpringOperator:
        w = self.design.widths if widths is None else widths
        op = SpringOperator(self.design, w, self.law, self.solver, node_order=self._node_order)
        if op.node_order is not None:
            self._node_order = op.node_order
        return op

    def solve(self, loads: np.ndarray, widths: np.ndarray | None = None) -> Solution:
        """Shortcut: build the operator and solve once."""
        return self.operator(widths).solve(loads)
