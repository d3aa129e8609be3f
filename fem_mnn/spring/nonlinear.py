"""The spring network in large deformation, with its exact in situ gradient.

Central-force springs between the nodes, geometrically exact: bond i = (a, b) with rest
length L_i and spring constant k_i (the same law as the linear model, by default the
paper's k = E t w / L) stores ``1/2 k_i (l_i - L_i)^2``, ``l_i = |x_b + u_b - x_a - u_a|``.
Under dead loads f (hanging weights) the equilibrium makes the energy

    Pi(u) = sum_i 1/2 k_i (l_i - L_i)^2 - f . u

stationary: residual ``R(u) = B(u)^T T - f`` with the bond tensions ``T = k (l - L)`` and
``B(u)`` the compatibility matrix of the *deformed* lattice (row i: ``-n_i`` at a, ``n_i``
at b, n the deformed bond direction; :func:`~fem_mnn.design.rigidity.compatibility_matrix`
is B(0)), and tangent ``K_T(u)``, assembled from the element blocks

    [[K_i, -K_i], [-K_i, K_i]],   K_i = k_i n n^T + (T_i / l_i) (I - n n^T)

(sparse, vectorised over the bonds; dense Cholesky for small lattices like the linear
:class:`~fem_mnn.spring.SpringOperator`). Fixed nodes are eliminated as in the linear model.

Newton with load increments (:class:`NewtonOptions`): ``steps`` equal increments of the
load factor, each solved by Newton with a backtracking line search on ``||R||``; a failed
increment is halved (and grows back after two good ones) until it would fall below
``1 / (steps 2^max_bisections)``, then the solve stops with the load factor reached (:class:`~fem_mnn.core.errors.EngineError`, or a result flagged
``converged=False``). An increment counts as failed when Newton does not reach the
tolerance, and also when a tangent on the way is singular or not positive definite:
along a load-controlled path from the unloaded lattice the stable equilibria have a
positive definite tangent, and losing it means a limit point (snap-through) or a
bifurcation (buckling of a bar chain, a mechanism) -- reported with the load factor where
it happens, never stepped over silently (``allow_unstable`` accepts such states).

The gradient (:meth:`NonlinearSpringOperator.backprop`): at the converged state the
adjoint is the tangent problem ``K_T v = -dL/du``, and with ``e = l - L`` and
``e_adj = n(u) . (v_b - v_a)`` the exact derivative is ``dL/dk_i = e_i e_adj,i``
(differentiate ``R(u(k), k) = 0``: ``dR/dk_i = e_i B_i^T``). Physically: keep the load on,
add a small adjoint load, measure the elongation increments. It is returned in the
:class:`~fem_mnn.contract.Backprop` record of the linear model, so the learning stage
can use either; ``grad_w = grad_k dk/dw`` through the same spring law.
:meth:`NonlinearSpringOperator.finite_increment` is the physical protocol instead: the
forward load stays on, a small adjoint load ``eps (-dL/du)`` is added, and the measured
elongation increments divided by eps replace ``e_adj`` (error O(eps) against the exact rule).

Learning (:mod:`fem_mnn.learn`) drives the nonlinear springs through the same contract as
the linear ones: :meth:`NonlinearSpringOperator.solve` returns the equilibria of a batch of
load cases (each followed from zero load, kept per case so that the end-of-epoch metrics
and the next step's gradient at the same widths solve once), and
:meth:`NonlinearSpringModel.backprop_operator` (which the training loop uses when a model
has one, like :func:`fem_mnn.contract.backprop_operator` for an operator whose ``regime``
is ``"nonlinear"``) returns the exact gradient above in the :class:`~fem_mnn.contract.Backprop`
record. Every state starts from the unloaded lattice, so the same widths always give the
same state, bit for bit (a resumed training needs no stored state).

Units mm, N; ids 0-based. Pure numpy/scipy.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import scipy.linalg
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from fem_mnn.contract import (
    Backprop,
    Loss,
    Solution,
    SpringLaw,
    as_cases,
    nominal_stiffness,
    paired_backprop,
    states_once,
)
from fem_mnn.core.errors import EngineError, InputError
from fem_mnn.design.records import Design
from fem_mnn.design.rigidity import factorize_spd, free_dofs, nested_dissection
from fem_mnn.spring.network import _PIVOT_RTOL, SpringModel

__all__ = [
    "LoadSweep",
    "NewtonIncrement",
    "NewtonOptions",
    "NonlinearSpringModel",
    "NonlinearSpringOperator",
    "NonlinearSpringSolution",
    "load_sweep",
]

_EPS = float(np.finfo(float).eps)
#: Rounding of one bond tension, in units of eps * k * (largest node coordinate of the
#: bond): node positions x + u (1 rounding each), their difference (3 eps X in all),
#: the length (hypot, <= 2 eps X) and the rest length computed the same way (3 eps X).
_TENSION_ROUNDING = 8.0
#: Up to this many free dofs Newton factorises densely. One right-hand side per
#: factorisation (the linear model's limit of 600 pays off for many load cases): measured
#: with one BLAS thread, dense is 2x faster at 152 free dofs, sparse 1.5x faster at 416.
_DENSE_NEWTON_LIMIT = 250
#: A failed path whose last tangent pivot ratio fell below this fraction of the unloaded
#: lattice's is reported as ending at a singular tangent (message wording only).
_NEAR_SINGULAR = 1e-2
#: Sufficient decrease of ||R|| a line-search step must achieve (Armijo constant).
_ARMIJO = 1e-4


@dataclass(frozen=True)
class NewtonOptions:
    """Load stepping and Newton for the nonlinear springs.

    Attributes:
        steps: Equal load increments from 0 to the full load (10: the increments the
            shared checks used on the paper sample up to 400 g).
        rtol: Residual tolerance relative to the applied load: an increment converges when
            ``||R_free|| <= max(rtol ||s f_free||, floor)``; the floor is the rounding of the
            internal forces themselves (``_TENSION_ROUNDING`` eps k X per bond summed at the
            nodes, X the bond's largest node coordinate), below which no iteration can go.
        max_it: Newton iterations per increment.
        max_backtracks: Halvings of the Newton step in the line search (smallest step 2^-max_backtracks).
        max_bisections: Halvings of a failed load increment; the smallest increment is
            ``1 / (steps 2^max_bisections)`` of the load, so a solve never bisects forever.
        allow_unstable: Accept equilibria whose tangent is not positive definite (states
            past a limit point or bifurcation that Newton still finds; ``negative_pivots``
            in the history), and Newton iterates through indefinite tangents, which may
            land on another branch (a snap-through taken without notice). Default False:
            the path stops where the tangent loses positive definiteness and says so.
    """

    steps: int = 10
    rtol: float = 1e-12
    max_it: int = 30
    max_backtracks: int = 12
    max_bisections: int = 12
    allow_unstable: bool = False

    def __post_init__(self) -> None:
        for name in ("steps", "max_it"):
            v = getattr(self, name)
            if not isinstance(v, int | np.integer) or isinstance(v, bool) or v < 1:
                raise InputError("must be an integer >= 1", field=name, value=v)
        for name in ("max_backtracks", "max_bisections"):
            v = getattr(self, name)
            if not isinstance(v, int | np.integer) or isinstance(v, bool) or not 0 <= v <= 50:
                raise InputError("must be an integer in 0..50", field=name, value=v)
        if not (np.isfinite(self.rtol) and 0 < self.rtol < 1):
            raise InputError("must be in (0, 1)", field="rtol", value=self.rtol)

    @property
    def min_increment(self) -> float:
        """The smallest load-factor increment bisection may reach."""
        return 1.0 / (self.steps * 2.0**self.max_bisections)


class NewtonIncrement(NamedTuple):
    """One accepted load increment."""

    load_factor: float
    """Load factor reached (1 = the full load)."""
    iterations: int
    """Newton iterations of this increment."""
    residual_norm: float
    """||R|| on the free dofs at convergence (N)."""
    tolerance: float
    """The tolerance it met (N): max(rtol ||s f||, rounding floor)."""
    pivot_ratio: float
    """Smallest / largest pivot of the tangent's LDL^T at the converged state (-> 0 at a limit point)."""
    negative_pivots: int
    """Negative pivots of that factorisation = negative eigenvalues of the tangent (Sylvester)."""


class NonlinearSpringSolution(NamedTuple):
    """Equilibrium of the nonlinear springs under one load case."""

    u: np.ndarray
    """(n_nodes, 2) node displacements (mm) at the load factor reached."""
    elongation: np.ndarray
    """(n_bonds,) e = l - L (mm)."""
    tension: np.ndarray
    """(n_bonds,) T = k e (N)."""
    direction: np.ndarray
    """(n_bonds, 2) deformed unit directions n (from the first node of a bond to the second)."""
    load_factor: float
    """Load factor reached (1 when converged)."""
    converged: bool
    """True when the full load was reached."""
    history: tuple[NewtonIncrement, ...]
    """Accepted increments, in order."""
    bisections: int
    """Increments halved after a failure (0: the nominal increments all converged)."""
    positive_definite: bool
    """The tangent at the final state is positive definite (a stable equilibrium)."""
    message: str
    """Why the solve stopped short ("" when converged)."""

    @property
    def newton_iterations(self) -> int:
        """Newton iterations summed over the accepted increments."""
        return int(sum(h.iterations for h in self.history))


class _Tangent:
    """A factorised tangent on the free dofs, with its inertia.

    Dense (small lattices, as :class:`~fem_mnn.spring.SpringOperator`): Cholesky; when it
    fails the tangent is not positive definite, and its eigenvalues give the inertia
    (cheap at these sizes) while a pivoting LU solves. Sparse: the LDL^T pivots of
    :func:`~fem_mnn.design.rigidity.factorize_spd` (no row exchanges, so the U diagonal
    is D of K = L D L^T and, by Sylvester's law, has the eigenvalues' signs); when the
    tangent is indefinite a pivoting LU solves, the inertia still from the unpivoted factors.
    ``pivot_ratio``: signed smallest / largest pivot (Cholesky D, LDL^T D, or eigenvalue
    in the indefinite dense case); it tends to 0 at a singular tangent.
    """

    def __init__(
        self, K: np.ndarray | sp.csc_matrix, design: Design, free: np.ndarray, order: np.ndarray | None
    ) -> None:
        self.singular = False
        self.negative = 0
        self.pivot_ratio = 1.0
        self._solve = None
        if K.shape[0] == 0:
            self._solve = lambda rhs: rhs
            return
        if isinstance(K, np.ndarray):
            self._dense(K)
        else:
            self._sparse(K, design, free, order)

    def _dense(self, K: np.ndarray) -> None:
        try:
            cho = scipy.linalg.cho_factor(K, check_finite=False)
        except np.linalg.LinAlgError:  # not positive definite
            cho = None
        if cho is not None:
            piv = np.diag(cho[0]) ** 2
            self.pivot_ratio = float(piv.min() / piv.max())
            self.singular = not (self.pivot_ratio > _PIVOT_RTOL)
            self._solve = lambda rhs: scipy.linalg.cho_solve(cho, rhs, check_finite=False)
            return
        if not np.all(np.isfinite(K)):
            self.singular, self.negative, self.pivot_ratio = True, -1, float("nan")
            return
        lam = np.linalg.eigvalsh(K)
        big = float(np.abs(lam).max())
        self.negative = int(np.count_nonzero(lam < 0))
        self.pivot_ratio = float(lam[np.argmin(np.abs(lam))] / big) if big > 0 else 0.0
        self.singular = not (abs(self.pivot_ratio) > _PIVOT_RTOL)
        if not self.singular:
            lu = scipy.linalg.lu_factor(K, check_finite=False)
            self._solve = lambda rhs: scipy.linalg.lu_solve(lu, rhs, check_finite=False)

    def _sparse(self, K: sp.csc_matrix, design: Design, free: np.ndarray, order: np.ndarray | None) -> None:
        try:
            lu, perm = factorize_spd(K, design, free, order)
        except RuntimeError:  # an exactly zero pivot: singular, or an unlucky order for an indefinite K
            lu = None
        if lu is not None:
            piv = lu.U.diagonal()
            big = float(np.abs(piv).max())
            self.negative = int(np.count_nonzero(piv < 0))
            self.pivot_ratio = float(piv[np.argmin(np.abs(piv))] / big) if big > 0 else 0.0
            self.singular = not (abs(self.pivot_ratio) > _PIVOT_RTOL)
            if self.negative == 0 and not self.singular:

                def solve(rhs: np.ndarray) -> np.ndarray:
                    x = np.empty_like(rhs)
                    x[perm] = lu.solve(np.ascontiguousarray(rhs[perm]))
                    return x

                self._solve = solve
                return
        else:
            self.negative = -1  # unknown
        if self.singular:
            return
        try:
            plu = spla.splu(K)
        except RuntimeError:
            self.singular = True
            return
        if lu is None:  # inertia unknown; the pivoting LU can still prove non-singularity
            d = np.abs(plu.U.diagonal())
            self.pivot_ratio = float(d.min() / d.max())
            self.singular = not (self.pivot_ratio > _PIVOT_RTOL)
        self._solve = lambda rhs: plu.solve(np.ascontiguousarray(rhs))

    @property
    def positive_definite(self) -> bool:
        return not self.singular and self.negative == 0

    def solve(self, rhs: np.ndarray) -> np.ndarray:
        assert self._solve is not None, "solve on a singular tangent"
        return self._solve(rhs)


class _Failure(Exception):
    """An increment did not converge (internal; turned into bisection)."""

    def __init__(self, reason: str, unstable: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.unstable = unstable


class NonlinearSpringOperator:
    """The nonlinear spring network for one set of widths.

    Not a linear operator: :meth:`solve` returns equilibria (not a superposition), and the
    linear in situ rule, which applies the adjoint load alone, does not hold; the adjoint
    is the tangent problem at the loaded state -- :meth:`backprop`.
    :func:`fem_mnn.contract.backprop_operator` sees ``regime == "nonlinear"`` and calls it.

    Raises:
        InputError: widths of the wrong shape or non-positive spring constants.
    """

    def __init__(
        self,
        design: Design,
        widths: np.ndarray,
        law: SpringLaw = nominal_stiffness,
        options: NewtonOptions | None = None,
        solver: str = "auto",
        node_order: np.ndarray | None = None,
    ) -> None:
        self.design = design
        self.options = options or NewtonOptions()
        self.widths = np.array(widths, dtype=float)
        if self.widths.shape != (design.n_bonds,):
            raise InputError(f"needs {design.n_bonds} widths", field="widths", value=self.widths.shape)
        k, dk = law(design, self.widths)
        self.k, self.dk_dw = np.asarray(k, dtype=float), np.asarray(dk, dtype=float)
        if np.any(~np.isfinite(self.k)) or np.any(self.k <= 0):
            bad = int(np.argmax(~np.isfinite(self.k) | (self.k <= 0)))
            raise InputError("spring constant must be finite and > 0", field=f"k[{bad}]", value=float(self.k[bad]))
        if solver not in ("auto", "dense", "sparse"):
            raise InputError("must be 'auto', 'dense' or 'sparse'", field="solver", value=solver)
        self.law = law
        self._cache: dict[bytes, NonlinearSpringSolution] = {}
        self._free = free_dofs(design)
        nf = self._free.size
        self.dense = solver == "dense" or (solver == "auto" and nf <= _DENSE_NEWTON_LIMIT)
        self.node_order = None if self.dense else (nested_dissection(design) if node_order is None else node_order)
        self._L = design.lengths
        # assembly pattern, once: the dofs of every bond (the columns of its row of the
        # compatibility matrix) and where each of the 16 entries of its element block goes
        a, b = design.bonds[:, 0], design.bonds[:, 1]
        self._dofs = np.stack([2 * a, 2 * a + 1, 2 * b, 2 * b + 1], axis=1)
        rows = np.repeat(self._dofs, 4, axis=1).ravel()
        cols = np.tile(self._dofs, (1, 4)).ravel()
        self._rows, self._cols = rows, cols
        where = np.full(2 * design.n_nodes, -1)
        where[self._free] = np.arange(nf)
        rf, cf = where[rows], where[cols]
        self._keep = (rf >= 0) & (cf >= 0)
        rf, cf = rf[self._keep], cf[self._keep]
        if self.dense:
            self._slot = rf * nf + cf
        else:  # CSC order is (column, row) order: the unique keys give indices and indptr
            keys, self._slot = np.unique(cf * nf + rf, return_inverse=True)
            self._csc_indices = (keys % nf).astype(np.int32)
            self._csc_indptr = np.searchsorted(keys // nf, np.arange(nf + 1)).astype(np.int32)
            self._nnz = keys.size

    # ----------------------------------------------------------------- mechanics

    def _bonds(self, u: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Deformed lengths l, directions n and coordinate scale X (largest |coordinate| of the two nodes)."""
        pos = self.design.nodes + u.reshape(-1, 2)
        a, b = self.design.bonds[:, 0], self.design.bonds[:, 1]
        d = pos[b] - pos[a]
        lng = np.hypot(d[:, 0], d[:, 1])
        with np.errstate(divide="ignore", invalid="ignore"):
            n = d / lng[:, None]
        X = np.maximum(np.abs(pos[a]).max(axis=1), np.abs(pos[b]).max(axis=1))
        return lng, n, X

    def _scatter(self, per_bond: np.ndarray, n: np.ndarray) -> np.ndarray:
        """B(u)^T q: bond quantities q (n_bonds,) to nodal forces (2 n_nodes,) along -n at a, +n at b."""
        vals = per_bond[:, None] * np.hstack([-n, n])
        return np.bincount(self._dofs.ravel(), vals.ravel(), minlength=2 * self.design.n_nodes)

    def _blocks(self, lng: np.ndarray, n: np.ndarray) -> np.ndarray:
        """(n_bonds, 4, 4) element tangents [[K, -K], [-K, K]], K = k n n^T + (T/l)(I - n n^T)."""
        T = self.k * (lng - self._L)
        nn = n[:, :, None] * n[:, None, :]
        Kb = self.k[:, None, None] * nn + (T / lng)[:, None, None] * (np.eye(2) - nn)
        s = np.array([[1.0, -1.0], [-1.0, 1.0]])
        return np.einsum("IJ,bij->bIiJj", s, Kb).reshape(-1, 4, 4)

    def residual(self, u: np.ndarray, loads: np.ndarray) -> np.ndarray:
        """R(u) = B(u)^T k (l - L) - f on all dofs ((n_nodes, 2) in, (2 n_nodes,) out; N)."""
        lng, n, _ = self._bonds(np.asarray(u, float).ravel())
        return self._scatter(self.k * (lng - self._L), n) - np.asarray(loads, float).ravel()

    def energy(self, u: np.ndarray, loads: np.ndarray) -> float:
        """Pi(u) = sum 1/2 k (l - L)^2 - f . u (N mm)."""
        lng, _, _ = self._bonds(np.asarray(u, float).ravel())
        return float(0.5 * np.sum(self.k * (lng - self._L) ** 2) - np.dot(np.ravel(loads), np.ravel(u)))

    def tangent_matrix(self, u: np.ndarray) -> sp.csr_matrix:
        """The full (unclamped) tangent K_T(u) (2 n_nodes square, N/mm)."""
        lng, n, _ = self._bonds(np.asarray(u, float).ravel())
        m = 2 * self.design.n_nodes
        return sp.csr_matrix((self._blocks(lng, n).ravel(), (self._rows, self._cols)), shape=(m, m))

    def _factor(self, lng: np.ndarray, n: np.ndarray) -> _Tangent:
        vals = self._blocks(lng, n).ravel()[self._keep]
        nf = self._free.size
        if self.dense:
            K = np.bincount(self._slot, vals, minlength=nf * nf).reshape(nf, nf)
        else:
            data = np.bincount(self._slot, vals, minlength=self._nnz)
            K = sp.csc_matrix((data, self._csc_indices, self._csc_indptr), shape=(nf, nf))
        return _Tangent(K, self.design, self._free, self.node_order)

    def _state(self, x: np.ndarray, load: np.ndarray) -> tuple[np.ndarray, float, np.ndarray, np.ndarray]:
        """Free residual, its rounding floor, l and n at the free-dof vector x."""
        u = np.zeros(2 * self.design.n_nodes)
        u[self._free] = x
        lng, n, X = self._bonds(u)
        if not np.all(np.isfinite(lng)) or np.any(lng <= _EPS * X):
            raise _Failure("a bond collapsed to zero length")
        R = (self._scatter(self.k * (lng - self._L), n) - load)[self._free]
        # |B|^T (k X) with |n_x|, |n_y| <= 1: the rounding of the tensions summed at the nodes
        scale = np.bincount(self._dofs.ravel(), np.repeat(self.k * X, 4), minlength=u.size)
        floor = _TENSION_ROUNDING * _EPS * float(np.linalg.norm(scale[self._free]))
        return R, floor, lng, n

    def _newton(
        self, x0: np.ndarray, load: np.ndarray, tangent0: _Tangent | None
    ) -> tuple[np.ndarray, int, float, float, _Tangent]:
        """Newton from x0 to equilibrium under ``load``; returns (x, its, ||R||, tol, tangent at x)."""
        o = self.options
        x = x0.copy()
        R, floor, lng, n = self._state(x, load)
        r = float(np.linalg.norm(R))
        tol = max(o.rtol * float(np.linalg.norm(load[self._free])), floor)
        tangent = tangent0
        its = 0
        while r > tol:
            if its >= o.max_it:
                raise _Failure(f"no convergence in {o.max_it} Newton iterations (||R|| = {r:.3e} N, tol {tol:.3e} N)")
            if tangent is None:
                tangent = self._factor(lng, n)
            if tangent.singular:
                raise _Failure("singular tangent on the way", unstable=True)
            if not tangent.positive_definite and not o.allow_unstable:
                raise _Failure(f"tangent with {tangent.negative} negative pivots on the way", unstable=True)
            dx = tangent.solve(-R)
            alpha = 1.0
            for _ in range(o.max_backtracks + 1):
                try:
                    Rn, floor_n, len_try, nn = self._state(x + alpha * dx, load)
                    rn = float(np.linalg.norm(Rn))
                except _Failure:
                    rn = np.inf
                if np.isfinite(rn) and rn <= (1.0 - _ARMIJO * alpha) * r:
                    break
                alpha /= 2.0
            else:
                raise _Failure(f"line search failed (||R|| = {r:.3e} N)")
            x = x + alpha * dx
            R, lng, n, r = Rn, len_try, nn, rn
            tol = max(o.rtol * float(np.linalg.norm(load[self._free])), floor_n)
            tangent = None
            its += 1
        end = tangent if tangent is not None else self._factor(lng, n)
        if end.singular:
            raise _Failure("singular tangent at the converged state", unstable=True)
        if not end.positive_definite and not o.allow_unstable:
            raise _Failure(f"unstable converged state ({end.negative} negative pivots)", unstable=True)
        return x, its, r, tol, end

    def equilibrium(self, loads: np.ndarray, on_failure: str = "raise") -> NonlinearSpringSolution:
        """Equilibrium under the dead loads ``loads`` (n_nodes, 2) in N, from the unloaded lattice.

        Args:
            loads: Nodal forces (N); loads on clamped dofs are reactions and are ignored.
            on_failure: ``"raise"`` (default) or ``"return"`` a solution flagged
                ``converged=False`` at the load factor reached.

        Raises:
            EngineError: the unloaded lattice has a zero-energy mode, or (with
                ``on_failure="raise"``) the path could not be followed to the full load:
                the message gives the load factor reached and why.
        """
        return self.path(loads, [1.0], on_failure=on_failure)[0]

    def path(
        self, loads: np.ndarray, factors: Sequence[float], on_failure: str = "raise"
    ) -> list[NonlinearSpringSolution]:
        """Equilibria at increasing load factors (continuation from zero load).

        Each factor is reached from the previous one in increments of at most
        ``1/steps`` of the load. With ``on_failure="return"`` the list stops at the
        first factor not reached, whose solution is flagged ``converged=False``.
        """
        if on_failure not in ("raise", "return"):
            raise InputError("must be 'raise' or 'return'", field="on_failure", value=on_failure)
        F = np.asarray(loads, dtype=float)
        if F.shape != (self.design.n_nodes, 2):
            raise InputError(f"loads must have shape ({self.design.n_nodes}, 2)", field="loads", value=F.shape)
        if not np.all(np.isfinite(F)):
            raise InputError("loads must be finite", field="loads")
        fs = [float(s) for s in factors]
        if not fs or any(b <= a for a, b in zip([0.0, *fs[:-1]], fs, strict=True)) or not np.all(np.isfinite(fs)):
            raise InputError("load factors must be finite, > 0 and increasing", field="factors", value=fs)
        o = self.options
        f = F.ravel()
        x = np.zeros(self._free.size)
        _, _, l0, n0 = self._state(x, 0.0 * f)
        tangent = self._factor(l0, n0)
        unloaded = tangent.pivot_ratio
        if not tangent.positive_definite:
            raise EngineError(
                "singular spring stiffness of the unloaded lattice: it has a zero-energy mode "
                "(nonlinear springs cannot carry a load a mechanism would not)"
            )
        history: list[NewtonIncrement] = []
        out: list[NonlinearSpringSolution] = []
        bisections = 0
        s = 0.0
        nominal = 1.0 / o.steps
        for target_factor in fs:
            ds = nominal
            streak = 0  # consecutive accepted increments since the last failure
            while s < target_factor * (1.0 - 1e-14):
                target = min(s + ds, target_factor)
                try:
                    x_new, its, r, tol, t_new = self._newton(x, target * f, tangent)
                except _Failure as fail:
                    bisections += 1
                    streak = 0
                    ds = (target - s) / 2.0
                    if ds < o.min_increment * (1.0 - 1e-12):
                        sol = self._solution(
                            x, s, False, history, bisections, tangent, self._why(s, target, fail, tangent, unloaded)
                        )
                        if on_failure == "raise":
                            raise EngineError(sol.message) from None
                        out.append(sol)
                        return out
                    continue
                x, tangent, s = x_new, t_new, target
                history.append(NewtonIncrement(s, its, r, tol, t_new.pivot_ratio, t_new.negative))
                # grow back after two good increments: a short hard stretch must not cost
                # 2^max_bisections increments, nor each doubling a failed attempt
                streak += 1
                if streak >= 2:
                    ds, streak = min(2.0 * ds, nominal), 0
            out.append(self._solution(x, target_factor, True, history, bisections, tangent, ""))
        return out

    def _why(self, s: float, target: float, fail: _Failure, tangent: _Tangent, unloaded: float) -> str:
        d = self.design
        where = f"nonlinear springs of design {d.name or d.hash()}"
        text = (
            f"{where}: load path stopped at load factor {s:.6g} (trying {target:.6g}; the next increment would be "
            f"below the minimum {self.options.min_increment:.3g}): {fail.reason}; smallest/largest tangent pivot "
            f"{unloaded:.2e} unloaded, {tangent.pivot_ratio:.2e} at load factor {s:.6g}"
        )
        # wording only: near a limit point the smallest eigenvalue falls like sqrt(s* - s), so
        # with the minimum increment the last pivot ratio is orders of magnitude below the unloaded one
        if fail.unstable or tangent.pivot_ratio < _NEAR_SINGULAR * unloaded:
            lost = "loses positive definiteness" if fail.unstable else "becomes singular"
            text += (
                f"; the tangent {lost} just beyond load factor {s:.6g}: a limit point (snap-through) or a "
                "bifurcation (buckling, mechanism) ends the load-controlled path"
            )
        return text

    def _solution(
        self,
        x: np.ndarray,
        s: float,
        converged: bool,
        history: list[NewtonIncrement],
        bisections: int,
        tangent: _Tangent,
        message: str,
    ) -> NonlinearSpringSolution:
        u = np.zeros(2 * self.design.n_nodes)
        u[self._free] = x
        lng, n, _ = self._bonds(u)
        e = lng - self._L
        return NonlinearSpringSolution(
            u=u.reshape(-1, 2),
            elongation=e,
            tension=self.k * e,
            direction=n,
            load_factor=float(s),
            converged=bool(converged),
            history=tuple(history),
            bisections=int(bisections),
            positive_definite=tangent.positive_definite,
            message=message,
        )

    def equilibria(self, loads: np.ndarray) -> list[NonlinearSpringSolution]:
        """:meth:`equilibrium` of every load case of ``loads`` (n_cases, n_nodes, 2); raises on failure."""
        # a fresh cache: every call solves (identical cases once), unlike states()
        return states_once({}, loads, self.design.n_nodes, self.equilibrium)

    #: Tells :func:`fem_mnn.contract.backprop_operator` (and the reader) that the in situ rule
    #: of the linear model does not apply: the gradient is :meth:`backprop`.
    regime = "nonlinear"

    def states(self, loads: np.ndarray) -> list[NonlinearSpringSolution]:
        """:meth:`equilibria` of ``loads``, each case solved once per operator (kept by its bytes)."""
        return states_once(self._cache, loads, self.design.n_nodes, self.equilibrium)

    def solve(self, loads: np.ndarray) -> Solution:
        """Equilibria of every load case: displacements and elongations e = l - L (not a linear solve)."""
        sols = self.states(loads)
        return Solution(u=np.stack([s.u for s in sols]), elongation=np.stack([s.elongation for s in sols]))

    # ---------------------------------------------------------------- gradient

    def adjoint(self, state: NonlinearSpringSolution, adjoint_load: np.ndarray) -> np.ndarray:
        """v = K_T(u)^-1 f_adj at a converged state ((n_nodes, 2) in and out; clamped dofs 0)."""
        if not state.converged:
            raise EngineError(f"no adjoint at an unconverged state (load factor {state.load_factor:.6g})")
        u = state.u.ravel()
        lng, n, _ = self._bonds(u)
        tangent = self._factor(lng, n)
        if tangent.singular:
            raise EngineError("singular tangent at the loaded state: the adjoint (and the gradient) is undefined")
        v = np.zeros(2 * self.design.n_nodes)
        v[self._free] = tangent.solve(np.asarray(adjoint_load, float).ravel()[self._free])
        return v.reshape(-1, 2)

    def backprop(
        self, loads: np.ndarray, loss: Loss, states: Sequence[NonlinearSpringSolution] | None = None
    ) -> Backprop:
        """Exact gradient of the mean case loss through the large-deformation equilibria.

        ``elongation`` is l - L, ``adjoint_elongation`` is n(u) . (v_b - v_a) with
        v = K_T(u)^-1 (-dL/du), ``grad_k`` their product (mean over cases) and
        ``grad_w = grad_k dk/dw``. ``states`` reuses equilibria already computed by
        :meth:`equilibria` for the same loads (e.g. to keep their Newton history).
        """
        f = as_cases(loads, self.design.n_nodes)
        sols = list(states) if states is not None else self.states(f)
        if len(sols) != f.shape[0]:
            raise InputError("one state per load case", field="states", value=len(sols))
        u = np.stack([s.u for s in sols])
        e = np.stack([s.elongation for s in sols])
        case_loss, dldu = loss(u)
        adj_load = -np.asarray(dldu, dtype=float)
        v = np.stack([self.adjoint(s, adj_load[c]) for c, s in enumerate(sols)])
        a, b = self.design.bonds[:, 0], self.design.bonds[:, 1]
        n = np.stack([s.direction for s in sols])
        e_adj = np.einsum("cbk,cbk->cb", v[:, b] - v[:, a], n)
        return paired_backprop(case_loss, u, e, adj_load, v, e_adj, dk_dw=self.dk_dw)

    def finite_increment(
        self, loads: np.ndarray, loss: Loss, eps: float, states: Sequence[NonlinearSpringSolution] | None = None
    ) -> Backprop:
        """The physical in situ protocol at the loaded state: add ``eps`` times the adjoint load, measure.

        For every case the forward load f stays on, ``f + eps f_adj`` (f_adj = -dL/du) is
        solved by Newton from the loaded state, and ``e_adj = (l(f + eps f_adj) - l(f)) / eps``
        replaces the exact ``n(u) . (v_b - v_a)``: what an experiment that hangs a small
        adjoint weight on the loaded lattice measures. Its error against :meth:`backprop` is
        O(eps) (the tangent's own change under the added load).

        Raises:
            InputError: eps not finite and > 0.
            EngineError: Newton does not reach the incremented state.
        """
        if not (np.isfinite(eps) and eps > 0):
            raise InputError("must be a finite number > 0", field="adjoint_increment", value=eps)
        f = as_cases(loads, self.design.n_nodes)
        sols = list(states) if states is not None else self.states(f)
        u = np.stack([s.u for s in sols])
        e = np.stack([s.elongation for s in sols])
        case_loss, dldu = loss(u)
        adj_load = -np.asarray(dldu, dtype=float)
        e_adj = np.empty_like(e)
        u_adj = np.empty_like(u)
        for c, s in enumerate(sols):
            x0 = s.u.ravel()[self._free]
            try:
                x, *_ = self._newton(x0, (f[c] + eps * adj_load[c]).ravel(), None)
            except _Failure as fail:
                raise EngineError(
                    f"load case {c}: adjoint increment {eps:g} x (-dL/du) from the loaded state: {fail.reason}"
                ) from None
            du = np.zeros(2 * self.design.n_nodes)
            du[self._free] = x
            lng, _, _ = self._bonds(du)
            e_adj[c] = (lng - self._L - s.elongation) / eps
            u_adj[c] = (du.reshape(-1, 2) - s.u) / eps
        return paired_backprop(case_loss, u, e, adj_load, u_adj, e_adj, dk_dw=self.dk_dw)


class NonlinearSpringModel:
    """Central-force springs in large deformation (same spring law as :class:`~fem_mnn.spring.SpringModel`).

    Args:
        design: The lattice.
        law: Spring law (k, dk/dw) = law(design, widths); default the paper's k = E t w / L.
        options: Newton and load stepping.
        solver: "auto" (dense for small lattices, sparse otherwise), "dense" or "sparse".
    """

    def __init__(
        self,
        design: Design,
        law: SpringLaw = nominal_stiffness,
        options: NewtonOptions | None = None,
        solver: str = "auto",
    ) -> None:
        self.design = design
        self.law = law
        self.options = options or NewtonOptions()
        self.solver = solver
        self._node_order: np.ndarray | None = None  # fill-reducing order (sparse solver), computed once

    def operator(self, widths: np.ndarray | None = None) -> NonlinearSpringOperator:
        """The nonlinear operator at ``widths`` (default the design's)."""
        w = self.design.widths if widths is None else widths
        op = NonlinearSpringOperator(self.design, w, self.law, self.options, self.solver, self._node_order)
        if op.node_order is not None:
            self._node_order = op.node_order
        return op

    #: The training loop records it with a run (a checkpoint of another regime is refused) and
    #: refuses a nonlinear task with a model that does not say "nonlinear".
    regime = "nonlinear"

    @property
    def regime_info(self) -> dict[str, object]:
        """What sets this model's numbers beyond the design: recorded with a training run."""
        o = self.options
        return {"regime": "nonlinear", "model": "spring", "load_steps": int(o.steps), "rtol": float(o.rtol)}

    def backprop(self, widths: np.ndarray | None, loads: np.ndarray, loss: Loss) -> Backprop:
        """Shortcut: equilibria and exact gradient at ``widths``."""
        return self.operator(widths).backprop(loads, loss)

    @staticmethod
    def backprop_operator(op: NonlinearSpringOperator, loads: np.ndarray, loss: Loss) -> Backprop:
        """The training loop's gradient: the exact tangent adjoint (equilibria reused from :meth:`~NonlinearSpringOperator.solve`)."""
        return op.backprop(loads, loss)

    def linear(self) -> SpringModel:
        """The linear spring model with the same law (the small-load limit)."""
        return SpringModel(self.design, self.law)


class LoadSweep(NamedTuple):
    """Outputs of a design at growing load factors, nonlinear springs against linear."""

    factors: np.ndarray
    """(n_factors,) load factors (1 = the given loads)."""
    outputs: tuple[tuple[int, int], ...]
    """The (node id, component) pairs read."""
    u: np.ndarray
    """(n_factors, n_cases, n_nodes, 2) nonlinear displacements (NaN where not reached)."""
    values: np.ndarray
    """(n_factors, n_cases, n_outputs) nonlinear outputs (NaN where not reached)."""
    linear_values: np.ndarray
    """(n_factors, n_cases, n_outputs) linear outputs (proportional to the factor)."""
    reached: np.ndarray
    """(n_cases,) largest load factor reached on each case's path (= factors[-1] when all converged)."""
    messages: tuple[str, ...]
    """Per case: why its path stopped ("" when it reached every factor)."""


def load_sweep(
    model: NonlinearSpringModel,
    loads: np.ndarray,
    factors: Sequence[float],
    outputs: Sequence[tuple[int, int]],
    widths: np.ndarray | None = None,
) -> LoadSweep:
    """Evaluate a design's outputs at growing load factors with nonlinear and linear springs.

    For the question "at which load does a design trained in the linear regime stop doing
    its task": each case's path is followed from zero load through ``factors``; where it
    cannot be followed (limit point, bifurcation, Newton failure) the remaining factors
    are NaN and the reason is kept. The caller scores the task on ``u`` (e.g.
    ``Task.metrics(split, sweep.u[i])`` for every factor reached).

    Args:
        model: The nonlinear spring model (its law also gives the linear springs).
        loads: (n_cases, n_nodes, 2) or (n_nodes, 2) the task's loads at factor 1 (N).
        factors: Increasing load factors > 0.
        outputs: Output components as (node id, 0 = x / 1 = y), e.g. ``Task.outputs``.
        widths: Widths (default the design's).
    """
    d = model.design
    f = as_cases(loads, d.n_nodes)
    fs = np.asarray([float(s) for s in factors])
    outs = tuple((int(n), int(c)) for n, c in outputs)
    for n, c in outs:
        if not (0 <= n < d.n_nodes and c in (0, 1)):
            raise InputError("output must be (node id, 0 or 1)", field="outputs", value=(n, c))
    if not outs:
        raise InputError("needs at least one output", field="outputs")
    op = model.operator(widths)
    lin = model.linear().operator(op.widths).solve(f).u  # (n_cases, n_nodes, 2) at factor 1
    nodes = [n for n, _ in outs]
    comps = [c for _, c in outs]
    u = np.full((fs.size, f.shape[0], d.n_nodes, 2), np.nan)
    reached = np.zeros(f.shape[0])
    messages = []
    for c in range(f.shape[0]):
        path = op.path(f[c], fs.tolist(), on_failure="return")
        for i, sol in enumerate(path):
            if sol.converged:
                u[i, c] = sol.u
        reached[c] = path[-1].load_factor
        messages.append(path[-1].message)
    values = u[:, :, nodes, comps]
    linear_values = fs[:, None, None] * lin[None][:, :, nodes, comps]
    return LoadSweep(fs, outs, u, values, linear_values, reached, tuple(messages))
