"""One weighted least-squares solver for the fidelity module: Levenberg-Marquardt on exact Jacobians.

Used by :func:`fem_mnn.fidelity.identify.identify` (``fem-mnn identify``) and
:func:`fem_mnn.fidelity.forecast.calibrate` (the printed-sample study), so that both fits stop,
damp and reject infeasible steps the same way.

The problem is given as ``evaluate(theta, jacobian) -> (r, J or None, aux)`` with ``r`` the
whitened residual vector (data rows divided by their sd, prior rows divided by the prior's sd)
and ``J = dr/dtheta``; ``aux`` is anything the caller wants back at the optimum (its predictions).
The cost is ``||r||^2`` (chi2).

**Iteration.** Levenberg-Marquardt with Marquardt's scaling D = diag(J^T J) (a zero column, a
parameter the residuals do not see, gets 1); the damped step solves
``min ||J step + r||^2 + lam ||sqrt(D) step||^2`` as one stacked least-squares problem (better
conditioned than forming J^T J + lam D). A trial step is accepted when it is feasible (the
caller's ``feasible``: physical bounds only) and does not raise the cost; otherwise lam grows
tenfold. A trial the model cannot evaluate (:class:`~fem_mnn.core.errors.EngineError`, e.g. a
mesh that cannot be morphed that far) is rejected the same way and counted. An accepted step divides lam by 10. Trials are evaluated without the Jacobian and the
accepted point re-evaluated with it, unless ``evaluate`` returns one anyway.

**Stopping.** Converged when every parameter moved by less than ``step_in_sd`` times its
posterior sd (the sd of :func:`covariance` at the new point: a change no measurement can see),
or when no damping (lam up to 1e16) finds a step that lowers the cost (a minimum to round-off).
Not converged after ``max_iter`` accepted steps, nor when no trial of the last round could be
evaluated at all (stopped at the edge of what the model can evaluate, not at a minimum).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from fem_mnn.core.errors import EngineError

__all__ = ["LsqResult", "covariance", "levenberg_marquardt"]

#: evaluate(theta, jacobian) -> (whitened residuals r, dr/dtheta or None, aux)
Evaluate = Callable[[np.ndarray, bool], tuple[np.ndarray, np.ndarray | None, Any]]

#: lam beyond which no step is sought any more (the cost cannot be lowered along any damped step)
LAMBDA_MAX = 1e16
LAMBDA_START = 1e-3
LAMBDA_MIN = 1e-12


@dataclass(frozen=True)
class LsqResult:
    """The optimum of :func:`levenberg_marquardt` and how it was reached."""

    theta: np.ndarray
    r: np.ndarray
    """Whitened residuals at ``theta``."""
    J: np.ndarray
    """dr/dtheta at ``theta``."""
    aux: Any
    """What ``evaluate`` returned beside r and J at ``theta``."""
    cost: float
    """||r||^2."""
    iterations: int
    converged: bool
    n_evaluations: int
    history: list[dict]
    """Per accepted step: iteration, chi2, lambda (iteration 0: the start)."""
    n_model_failures: int = 0
    """Trial steps the model could not evaluate (rejected)."""
    stopped: str = ""
    """Why it stopped: ``small step``, ``no lower cost``, ``model limit`` or ``max_iter``."""


def covariance(J: np.ndarray) -> np.ndarray:
    """(J^T J)^-1 by the SVD; a parameter along a direction J does not see gets inf (row and column)."""
    _, S, Vt = np.linalg.svd(J, full_matrices=False)
    with np.errstate(divide="ignore"):
        inv = np.where(S > 0, 1.0 / S**2, np.inf)
    if S.size == J.shape[1] and np.all(np.isfinite(inv)):
        return (Vt.T * inv) @ Vt
    cov = (Vt.T * np.where(np.isfinite(inv), inv, 0.0)) @ Vt
    if S.size < J.shape[1]:  # fewer rows than parameters: the complement of the row space is unseen
        _, _, Vfull = np.linalg.svd(J, full_matrices=True)
        free = Vfull[S.size :]
    else:
        free = Vt[~np.isfinite(inv)]
    cov[np.abs(free).sum(0) > 0, :] = np.inf
    return cov


def levenberg_marquardt(
    evaluate: Evaluate,
    theta0: np.ndarray,
    feasible: Callable[[np.ndarray], bool] | None = None,
    step_in_sd: float = 1e-6,
    max_iter: int = 60,
    progress: Callable[[str], None] | None = None,
) -> LsqResult:
    """Minimise ||r(theta)||^2 from ``theta0`` (see the module text).

    Args:
        evaluate: ``(theta, jacobian) -> (r, J or None, aux)``.
        theta0: Start (must be feasible).
        feasible: ``theta -> bool``; infeasible trial steps are rejected (default: all feasible).
        step_in_sd: Converged when every |step| <= step_in_sd * posterior sd.
        max_iter: Accepted steps before giving up (``converged=False``).
        progress: Called with one line per accepted step.
    """
    n_eval = 0

    def ev(th: np.ndarray, jac: bool) -> tuple[np.ndarray, np.ndarray | None, Any]:
        nonlocal n_eval
        n_eval += 1
        r, J, aux = evaluate(th, jac)
        return np.asarray(r, dtype=float), (None if J is None else np.asarray(J, dtype=float)), aux

    th = np.array(theta0, dtype=float)
    r, J, aux = ev(th, True)
    assert J is not None
    n = th.size
    cost = float(r @ r)
    lam = LAMBDA_START
    history = [{"iteration": 0, "chi2": cost, "lambda": None}]
    converged = False
    stopped = "max_iter"
    failures = 0
    it = 0
    for it in range(1, max_iter + 1):
        D = np.einsum("ij,ij->j", J, J)
        D[D <= 0] = 1.0
        accepted = None
        evaluated = False
        while lam < LAMBDA_MAX:
            aug = np.vstack([J, np.diag(np.sqrt(lam * D))])
            step = -np.linalg.lstsq(aug, np.concatenate([r, np.zeros(n)]), rcond=None)[0]
            trial = th + step
            if feasible is None or feasible(trial):
                try:
                    r_t, J_t, aux_t = ev(trial, False)
                except EngineError:
                    failures += 1
                    lam *= 10.0
                    continue
                evaluated = True
                c_t = float(r_t @ r_t)
                if np.isfinite(c_t) and c_t <= cost:
                    accepted = (trial, r_t, J_t, aux_t, c_t)
                    break
            lam *= 10.0
        if accepted is None:
            # no step lowers the cost: a minimum to round-off, unless no trial could even be evaluated
            converged = evaluated
            stopped = "no lower cost" if evaluated else "model limit"
            break
        th, r, J, aux, cost = accepted
        if J is None:
            r, J, aux = ev(th, True)
            assert J is not None
            cost = float(r @ r)
        lam = max(lam / 10.0, LAMBDA_MIN)
        history.append({"iteration": it, "chi2": cost, "lambda": lam})
        sd = np.sqrt(np.abs(np.diag(covariance(J))))
        if progress is not None:
            with np.errstate(divide="ignore", invalid="ignore"):
                progress(f"iteration {it}: chi2 {cost:.6g}, largest step {np.max(np.abs(step) / sd):.3g} sd")
        if bool(np.all(np.abs(step) <= step_in_sd * sd)):
            converged = True
            stopped = "small step"
            break
    return LsqResult(
        theta=th,
        r=r,
        J=J,
        aux=aux,
        cost=cost,
        iterations=it,
        converged=converged,
        n_evaluations=n_eval,
        history=history,
        n_model_failures=failures,
        stopped=stopped,
    )
