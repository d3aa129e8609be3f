"""Derived bounds for two solutions of one linear system (a test helper).

Two *different* computations of the solution of ``K u = f`` (LU vs Cholesky, another
fill-reducing ordering, MatMatSolve vs one solve per case, serial vs ranks, ...) agree
only as far as their rounding lets them. This module states how far, from the
solutions themselves, instead of a picked ``1e-12``:

1. **Backward error** of each solution, normwise in the infinity norm (Rigal & Gaches;
   Higham, *Accuracy and Stability of Numerical Algorithms*, 2nd ed., Thm 7.1)::

       eta(u) = ||f - K u|| / (||K|| ||u|| + ||f||)

   the smallest ``e`` with ``(K + dK) u = f + df``, ``||dK|| <= e ||K||``,
   ``||df|| <= e ||f||``. The residual is itself computed in floating point: each of its
   entries is an inner product of at most ``m + 1`` terms (``m`` = most stored entries in
   a row of K), so the computed residual is off by at most ``gamma_{m+1} (|K||u| + |f|)``
   (Higham eq. 3.4, ``gamma_k = k u / (1 - k u)``, ``u = 2^-53``). In the infinity norm
   ``|| |K| ||| = ||K||``, hence the true eta is at most the computed one plus
   ``gamma_{m+1}``: :func:`backward_error` returns that sum (a rigorous upper bound).

2. **Forward bound** (Higham Thm 7.2 with E = K, f = f): if ``eta kappa < 1``
   ``||u - x|| / ||x|| <= 2 kappa eta / (1 - kappa eta)`` for the exact solution x and
   ``kappa = ||K|| ||K^-1||``. Two solutions with bounds ``b1``, ``b2`` then differ by
   at most ``(b1 + b2) ||x||`` and ``||x|| <= ||u2|| / (1 - b2)``:
   :func:`agreement` returns that number per right-hand side.

3. **Condition estimate**: ``||K^-1||_inf`` exactly (dense inverse) up to
   :data:`DENSE_EXACT_MAX` unknowns, above that from the block 1-norm estimator of
   Higham & Tisseur (``scipy.sparse.linalg.onenormest``, ``t = 4``) applied to
   ``K^-T`` through a sparse LU (``||K^-1||_inf = ||K^-T||_1``). The estimator returns
   a lower bound that is exact in most of their tests and rarely below a third of the
   norm (Higham & Tisseur 2000, SIMAX 21(4), Sec. 4; Higham 2002, Sec. 15.3), so the
   estimate is multiplied by :data:`ESTIMATE_SAFETY` = 3. This is the only safety
   factor: everything else is a bound.

Where the forward bound is too loose to say anything useful, the test checks the
backward errors directly: a backward-stable direct solver leaves ``eta`` at a few
``u``; :func:`backward_tolerance` is the rounding of evaluating the residual itself
(``gamma_{m+1}``), the level below which a computed residual cannot tell two solutions
apart. A solution above it solved a visibly different system.

Everything here is serial linear algebra on the assembled matrix (a PETSc ``Mat`` is
read on one process with ``getValuesCSR``); the FE test meshes are small (tens of
thousands of dofs: a sparse LU takes well under a second).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla

__all__ = [
    "DENSE_EXACT_MAX",
    "ESTIMATE_SAFETY",
    "UNIT_ROUNDOFF",
    "Agreement",
    "agreement",
    "as_csr",
    "assert_backward_stable",
    "assert_solutions_agree",
    "backward_error",
    "backward_tolerance",
    "condition",
    "fe_fields",
    "fe_system",
    "forward_error",
    "gamma",
    "inverse_norm",
    "operator_norm",
    "region_average_norm",
    "spring_fields",
    "spring_system",
]

#: Unit roundoff of IEEE double precision (half the machine epsilon).
UNIT_ROUNDOFF = 2.0**-53
#: Up to this many unknowns ``||K^-1||`` is computed from the dense inverse (exact, no safety factor).
DENSE_EXACT_MAX = 1500
#: The 1-norm estimator's lower bound is rarely below a third of the norm (module docstring).
ESTIMATE_SAFETY = 3.0


def gamma(k: int) -> float:
    """Higham's ``gamma_k = k u / (1 - k u)``: the rounding bound of a k-term inner product."""
    ku = k * UNIT_ROUNDOFF
    return ku / (1.0 - ku)


def as_csr(K: Any) -> sp.csr_matrix:
    """``K`` (PETSc ``Mat`` on one process, scipy sparse or a numpy array) as scipy CSR."""
    if hasattr(K, "getValuesCSR"):
        if K.getComm().getSize() != 1:
            raise ValueError("as_csr reads a PETSc Mat on one process only")
        ai, aj, av = K.getValuesCSR()
        return sp.csr_matrix((av.copy(), aj.copy(), ai.copy()), shape=K.getSize())
    if sp.issparse(K):
        return sp.csr_matrix(K)
    return sp.csr_matrix(np.asarray(K, dtype=float))


def _cols(x: Any, n: int) -> np.ndarray:
    """A vector (PETSc Vec or array, length n) or a block (n, k) as an (n, k) float array."""
    if hasattr(x, "getArray"):
        x = x.getArray(readonly=True)
    a = np.asarray(x, dtype=float)
    if a.ndim == 1:
        a = a[:, None]
    if a.shape[0] != n:
        raise ValueError(f"expected {n} rows, got shape {a.shape}")
    return a


def _inf(a: np.ndarray) -> np.ndarray:
    """Column-wise infinity norms of an (n, k) block."""
    return np.abs(a).max(axis=0)


def operator_norm(K: Any) -> float:
    """``||K||_inf``: the largest absolute row sum (also ``|| |K| ||_inf``)."""
    K = as_csr(K)
    return float(np.abs(K).sum(axis=1).max())


def backward_tolerance(K: Any) -> float:
    """``gamma_{m+1}``, m the most stored entries in a row of K: the rounding of evaluating a residual."""
    K = as_csr(K)
    return gamma(int(np.diff(K.indptr).max()) + 1)


def backward_error(K: Any, u: Any, f: Any) -> np.ndarray:
    """Upper bound on the normwise (inf-norm) backward error of every column of ``u`` as a solution of ``K u = f``.

    The computed ``||f - K u|| / (||K|| ||u|| + ||f||)`` plus the rounding of the residual
    evaluation (:func:`backward_tolerance`): see the module docstring.
    """
    K = as_csr(K)
    n = K.shape[0]
    U, F = _cols(u, n), _cols(f, n)
    r = F - K @ U
    denom = operator_norm(K) * _inf(U) + _inf(F)
    with np.errstate(invalid="ignore", divide="ignore"):
        eta = np.where(denom > 0, _inf(r) / denom, 0.0)
    return eta + backward_tolerance(K)


def inverse_norm(K: Any) -> float:
    """``||K^-1||_inf``: exact up to :data:`DENSE_EXACT_MAX` unknowns, else the 1-norm estimate of ``K^-T`` times :data:`ESTIMATE_SAFETY`."""
    K = as_csr(K)
    n = K.shape[0]
    if n <= DENSE_EXACT_MAX:
        return float(np.abs(np.linalg.inv(K.toarray())).sum(axis=1).max())
    lu = spla.splu(K.tocsc())
    # ||K^-1||_inf = ||K^-T||_1: estimate the 1-norm of the operator x -> K^-T x
    op = spla.LinearOperator(
        (n, n),
        matvec=lambda x: lu.solve(np.asarray(x, dtype=float), trans="T"),
        rmatvec=lambda x: lu.solve(np.asarray(x, dtype=float)),
        dtype=float,
    )
    state = np.random.get_state()  # noqa: NPY002 -- onenormest draws its start vectors from numpy's global generator
    np.random.seed(0)  # noqa: NPY002 -- the same estimate on every run
    try:
        est = float(spla.onenormest(op, t=4))
    finally:
        np.random.set_state(state)  # noqa: NPY002
    return ESTIMATE_SAFETY * est


def condition(K: Any) -> float:
    """``kappa_inf(K) = ||K||_inf ||K^-1||_inf`` (:func:`inverse_norm`: exact or estimated with its safety factor)."""
    return operator_norm(K) * inverse_norm(K)


def forward_error(K: Any, u: Any, f: Any, kappa: float | None = None) -> np.ndarray:
    """Upper bound on ``||u - x||_inf`` per column, x the exact solution: ``b ||u|| / (1 - b)``, ``b = 2 kappa eta / (1 - kappa eta)``.

    ``||x|| <= ||u|| + ||u - x|| <= ||u|| + b ||x||`` gives ``||x|| <= ||u|| / (1 - b)``.
    """
    K = as_csr(K)
    U = _cols(u, K.shape[0])
    eta = backward_error(K, U, f)
    if kappa is None:
        kappa = condition(K)
    if np.any(kappa * eta >= 1 / 3):  # b < 1 needs kappa eta < 1/3
        raise AssertionError(f"no forward bound: kappa {kappa:.3g} times backward error {eta.max():.3g} >= 1/3")
    b = 2 * kappa * eta / (1 - kappa * eta)
    return b * _inf(U) / (1 - b)


class Agreement(NamedTuple):
    """How far two solutions of ``K u = f`` may differ, and how far they do (per right-hand side)."""

    eta1: np.ndarray
    """Backward-error bounds of the first solution (:func:`backward_error`)."""
    eta2: np.ndarray
    """... and of the second."""
    kappa: float
    """``||K||_inf ||K^-1||_inf`` (estimated above :data:`DENSE_EXACT_MAX`, with its safety factor)."""
    bound: np.ndarray
    """Largest ``||u1 - u2||_inf`` the backward errors allow."""
    diff: np.ndarray
    """The measured ``||u1 - u2||_inf``."""

    def ratio(self) -> float:
        """max diff / bound: below 1 when the solutions agree as their backward errors say."""
        return float(np.max(self.diff / self.bound))


def agreement(K: Any, u1: Any, u2: Any, f: Any, kappa: float | None = None) -> Agreement:
    """``||u1 - u2||_inf <= ||u1 - x|| + ||u2 - x||``, each bounded by :func:`forward_error`.

    Args:
        K: The matrix both solutions solve (PETSc Mat, scipy sparse or numpy).
        u1, u2: Solutions, vectors or (n, n_cases) blocks, one column per right-hand side.
        f: The right-hand side(s), same shape.
        kappa: ``||K||_inf ||K^-1||_inf`` if already known (one estimate serves many tests).
    """
    K = as_csr(K)
    n = K.shape[0]
    U1, U2, F = _cols(u1, n), _cols(u2, n), _cols(f, n)
    if kappa is None:
        kappa = condition(K)
    bound = forward_error(K, U1, F, kappa) + forward_error(K, U2, F, kappa)
    return Agreement(backward_error(K, U1, F), backward_error(K, U2, F), float(kappa), bound, _inf(U1 - U2))


def assert_solutions_agree(K: Any, u1: Any, u2: Any, f: Any, kappa: float | None = None) -> Agreement:
    """Assert both backward errors are at the residual's own rounding and the difference within the forward bound.

    Returns the :class:`Agreement` (print it: the margin is worth seeing).
    """
    K = as_csr(K)
    a = agreement(K, u1, u2, f, kappa)
    assert_backward_stable(K, u1, f, a.eta1)
    assert_backward_stable(K, u2, f, a.eta2)
    assert np.all(a.diff <= a.bound), f"difference {a.diff.max():.3g} > derived bound {a.bound.min():.3g}"
    return a


def assert_backward_stable(K: Any, u: Any, f: Any, eta: np.ndarray | None = None) -> np.ndarray:
    """Assert every column of ``u`` solves ``K u = f`` to the resolution of its own residual.

    The computed backward error must be at most ``gamma_{m+1}`` (:func:`backward_tolerance`):
    :func:`backward_error` adds that once for the residual's rounding, so the bound it
    returns must stay within twice it. Returns the backward-error bounds.
    """
    K = as_csr(K)
    if eta is None:
        eta = backward_error(K, u, f)
    tol = 2 * backward_tolerance(K)
    assert np.all(eta <= tol), f"backward error {np.max(eta):.3g} > {tol:.3g} (gamma_(m+1) twice)"
    return eta


# ------------------------------------------------------------------ FE operators


def fe_system(op: Any, loads: np.ndarray) -> tuple[sp.csr_matrix, np.ndarray]:
    """``(K, F)`` of a serial :class:`fem_mnn.fem.linear.FemOperator`: its assembled matrix and load vectors.

    ``F`` (n_dofs, n_cases) is assembled case by case (clamped rows zero), the textbook
    load vector; the batched path forms the same vectors as one sparse product, which
    differs by rounding only (a few ``u ||f||``, well inside the backward errors).
    """
    K = as_csr(op.A)
    cases = loads if loads.ndim == 3 else loads[None]
    F = np.empty((K.shape[0], len(cases)))
    for c, fc in enumerate(cases):
        b = op._disc.load_vector(fc)
        F[:, c] = b.getArray(readonly=True)
        b.destroy()
    return K, F


def fe_fields(sol: Any, n: int) -> np.ndarray:
    """(n, n_cases) dof values of the fields of a :class:`fem_mnn.fem.linear.FemSolution` (serial)."""
    return np.stack([uh.x.array[:n] for uh in sol.fields], axis=1)


def region_average_norm(op: Any) -> float:
    """``||P||_inf`` of the map from dof values to junction-region averages (serial).

    Node displacements are ``P u``, so ``|P u1 - P u2| <= ||P||_inf ||u1 - u2||_inf``
    carries a dof-level bound to the node level.
    """
    rm = op.discretisation.region_matrices()
    g = rm.gdim
    rows = np.abs(rm.integrals).sum(axis=1).A.ravel().reshape(-1, g + 1)[:, :g]
    return float((rows / op.region_measure[:, None]).max())


# ------------------------------------------------------------------ spring operators


def spring_system(op: Any, loads: np.ndarray) -> tuple[sp.csr_matrix, np.ndarray, np.ndarray]:
    """``(K, F, free)`` of a :class:`fem_mnn.spring.network.SpringOperator`: the clamped stiffness it factorises.

    ``K`` is the free-dof block of ``C^T diag(k) C``, ``F`` (n_free, n_cases) the loads on
    the free dofs and ``free`` their indices in the (n_nodes * 2) displacement vector.
    """
    free = op._free
    K = op.stiffness_matrix()[free][:, free].tocsr()
    cases = loads if loads.ndim == 3 else loads[None]
    return K, cases.reshape(len(cases), -1)[:, free].T.copy(), free


def spring_fields(sol: Any, free: np.ndarray) -> np.ndarray:
    """(n_free, n_cases) free-dof displacements of a spring :class:`~fem_mnn.contract.Solution`."""
    return sol.u.reshape(sol.u.shape[0], -1)[:, free].T
