"""Rigidity of a lattice: the compatibility matrix and the zero-energy modes of its spring network.

Geometry-only (unit spring constants), so validation can ask it without a spring model.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import scipy.linalg
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from fem_mnn.design.records import Design

__all__ = ["compatibility_matrix", "factorize_spd", "free_dofs", "rigid_by_pivots", "nested_dissection", "zero_modes"]

#: Above this many free dofs the rigidity check uses sparse shift-invert.
_DENSE_LIMIT = 3000
#: Above this many free dofs :func:`zero_modes` first tries the sparse factorisation.
_PIVOT_TEST_LIMIT = 400
#: Smallest pivot / stiffness scale above which the factorisation proves rigidity.
_RIGID_PIVOT_RTOL = 1e-6
#: Nested dissection stops splitting parts of at most this many nodes.
_ND_LEAF = 64


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


def _neighbour_test(design: Design) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
    """f(nodes, flag) -> for each node, whether a bonded neighbour is flagged.

    ``flag`` has n_nodes + 1 entries (the last one False). A padded neighbour table
    when degrees are small (fast fancy indexing), sparse rows otherwise.
    """
    n, b = design.n_nodes, design.bonds
    src, dst = np.r_[b[:, 0], b[:, 1]], np.r_[b[:, 1], b[:, 0]]
    deg = np.bincount(src, minlength=n)
    if deg.max(initial=0) <= 16:
        order = np.argsort(src, kind="stable")
        src, dst = src[order], dst[order]
        slot = np.arange(src.size) - np.repeat(np.cumsum(deg) - deg, deg)
        table = np.full((n, max(int(deg.max(initial=0)), 1)), n)
        table[src, slot] = dst
        return lambda nodes, flag: flag[table[nodes]].any(axis=1)
    adj = sp.csr_matrix((np.ones(src.size), (src, dst)), shape=(n, n))

    def test(nodes: np.ndarray, flag: np.ndarray) -> np.ndarray:
        rows = adj[nodes]
        out = np.zeros(nodes.size, dtype=bool)
        out[np.repeat(np.arange(nodes.size), np.diff(rows.indptr))[flag[rows.indices]]] = True
        return out

    return test


def nested_dissection(design: Design) -> np.ndarray:
    """A fill-reducing order of the nodes: geometric nested dissection.

    Splits the nodes at the median of their longer extent; the nodes of the lower
    half bonded to the upper half form the separator, numbered after both halves,
    which are split in turn. For planar lattices the sparse factors then hold
    O(n log n) entries (SuperLU's own orderings give about as many, but
    factorise 1.5-2x slower). Any design is accepted: the order is always a
    permutation, only its quality depends on the geometry.
    """
    x, n = design.nodes, design.n_nodes
    touches_upper = _neighbour_test(design)
    side = np.zeros(n + 1, dtype=bool)  # True: in the upper half of the current split (n: no node)
    parts: list[np.ndarray] = []
    stack = [np.arange(n)]
    while stack:  # depth first; separators are appended before their halves
        ids = stack.pop()
        if ids.size <= _ND_LEAF:
            parts.append(ids)
            continue
        p = x[ids]
        ax = int(np.argmax(np.ptp(p, axis=0)))
        upper = p[:, ax] > np.median(p[:, ax])
        if upper.all() or not upper.any():
            parts.append(ids)
            continue
        side[ids] = upper
        low = ids[~upper]
        touches = touches_upper(low, side)
        side[ids] = False
        parts.append(low[touches])
        stack.append(low[~touches])
        stack.append(ids[upper])
    # parts were collected as (separator, upper..., lower...) depth first; reversing
    # numbers every separator after both of its halves
    return np.concatenate(parts[::-1]) if parts else np.zeros(0, dtype=np.int64)


def factorize_spd(
    K: sp.spmatrix, design: Design, free: np.ndarray, order: np.ndarray | None = None
) -> tuple[spla.SuperLU, np.ndarray]:
    """Sparse LU of a symmetric positive (semi)definite matrix on ``free`` dofs.

    Nested-dissection order (:func:`nested_dissection`), diagonal pivots only
    (no row exchanges, so the pivots are those of a Cholesky factorisation, each
    at least the smallest eigenvalue of K). ``order`` reuses a node order from
    :func:`nested_dissection` of the same design.

    Returns:
        (lu, perm): ``lu`` factorises ``K[perm][:, perm]``; solve K x = f by
        ``x[perm] = lu.solve(f[perm])``.

    Raises:
        RuntimeError: a pivot is exactly zero (SuperLU's "Factor is exactly singular").
    """
    order = nested_dissection(design) if order is None else order
    where = np.full(2 * design.n_nodes, -1)
    where[free] = np.arange(free.size)
    perm = where[np.stack([2 * order, 2 * order + 1], axis=1).ravel()]
    perm = perm[perm >= 0]
    Kp = sp.csc_matrix(K)[perm][:, perm].tocsc()
    lu = spla.splu(Kp, permc_spec="NATURAL", diag_pivot_thresh=0.0, options={"SymmetricMode": True})
    return lu, perm


def rigid_by_pivots(design: Design) -> bool:
    """Fast rigidity proof by sparse factorisation of the clamped unit stiffness.

    True when every pivot exceeds ``_RIGID_PIVOT_RTOL`` times the stiffness scale
    (largest absolute row sum): the pivots bound the smallest eigenvalue from
    above, so every lattice the eigenvalue test of :func:`zero_modes` calls rigid
    passes (unless it is so ill-conditioned that a pivot falls below 1e-6 of the
    scale). False when a pivot is small or zero: then only the eigenvalues can
    tell whether the lattice is floppy.
    """
    free = free_dofs(design)
    if free.size == 0:
        return True
    C = compatibility_matrix(design)
    K = (C.T @ C).tocsc()[free][:, free]
    scale = float(abs(K).sum(axis=1).max())
    try:
        lu, _ = factorize_spd(K, design, free)
    except RuntimeError:  # exactly singular
        return False
    return bool(lu.U.diagonal().min() > _RIGID_PIVOT_RTOL * scale)


def zero_modes(design: Design, rtol: float = 1e-9) -> np.ndarray:
    """Zero-energy modes of the clamped network with unit spring constants.

    Large lattices (above ``_PIVOT_TEST_LIMIT`` free dofs) are first factorised
    (:func:`rigid_by_pivots`); the eigenvalues are computed only when that does not
    prove them rigid, to count and return the modes.

    Returns:
        (2 n_nodes, m) orthonormal modes (zero on clamped dofs); m = 0 for a rigid
        lattice.
    """
    free = free_dofs(design)
    if free.size == 0:
        return np.zeros((2 * design.n_nodes, 0))
    if free.size > _PIVOT_TEST_LIMIT and rigid_by_pivots(design):
        return np.zeros((2 * design.n_nodes, 0))
    C = compatibility_matrix(design)
    K = (C.T @ C).tocsr()[free][:, free]
    if free.size <= _DENSE_LIMIT:
        w, v = scipy.linalg.eigh(K.toarray())
        scale = max(float(w[-1]), 1e-300)
        sel = v[:, w <= rtol * scale]
    else:
        scale = float(abs(K).sum(axis=1).max())
        kk = min(12, free.size - 2)
        sigma = -1e-6 * scale
        # shift-invert with the nested-dissection factors of K - sigma I (SPD)
        lu, perm = factorize_spd(K - sigma * sp.identity(free.size, format="csc"), design, free)

        def shifted_solve(x: np.ndarray) -> np.ndarray:
            y = np.empty(free.size)
            y[perm] = lu.solve(np.ascontiguousarray(np.ravel(x)[perm]))
            return y

        op_inv = spla.LinearOperator(K.shape, matvec=shifted_solve, dtype=float)
        w, v = spla.eigsh(K.tocsc(), k=kk, sigma=sigma, which="LM", OPinv=op_inv)
        sel = v[:, w <= rtol * scale]
    out = np.zeros((2 * design.n_nodes, sel.shape[1]))
    out[free] = sel
    return out
