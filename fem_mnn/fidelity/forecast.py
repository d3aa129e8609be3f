"""Forecasting held-out measurements from a calibrated lattice model: protocols, calibration, bands.

The numerics of ``studies/printed_sample.py`` (no DOLFINx here: the FE model enters as a
:data:`fem_mnn.fidelity.identify.ResponseFn`, built on the engine side).

* :func:`staircase_protocol` / :func:`staircase_compliance`: a sweep of equal weights hung one
  after another, each held ``dwell_s`` before the photograph, as a load protocol, and the sum of
  creep compliances that multiplies the unit-modulus solution of one weight at each photograph
  (Boltzmann superposition through :func:`fem_mnn.design.viscoelastic.protocol_response`; the
  constant-nu assumption of :data:`~fem_mnn.design.viscoelastic.CONSTANT_NU_NOTE` applies).
* :func:`bond_products` and :func:`normalised_abs`: outputs that are not node displacements
  (the in situ gradient e_i e_adj,i of Figure 1; Figure 4's |u| / sum |u|) with their exact
  Jacobians by the chain rule from dU/dw.
* :func:`calibrate`: weighted least squares of a modulus factor s and a common width offset
  delta (either may be fixed) on displacement-like outputs y(w + delta) / s^p, by the one
  Levenberg-Marquardt of :mod:`fem_mnn.fidelity.lsq` (shared with ``identify``) on the exact Jacobian; the covariance (J^T J)^-1 and the Birge ratio
  chi2 / dof, by which the covariance is inflated when the model does not fit within the
  stated spreads (:attr:`Calibration.cov_inflated`).
* :func:`forecast_band`: the linearised band sqrt(diag(G Sigma G^T)) a parameter covariance
  propagates to forecasts with Jacobian G.
* :func:`linear_slope`: the least-squares slope with intercept, as the studies read the
  measured sweeps.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from fem_mnn.contract import elongations
from fem_mnn.core.errors import InputError
from fem_mnn.design.records import Design
from fem_mnn.design.viscoelastic import Prony, ProtocolEvent, protocol_response
from fem_mnn.fidelity.lsq import covariance, levenberg_marquardt

__all__ = [
    "Calibration",
    "CalibrationBlock",
    "bond_products",
    "calibrate",
    "forecast_band",
    "linear_slope",
    "normalised_abs",
    "staircase_compliance",
    "staircase_protocol",
]

#: :func:`fem_mnn.fidelity.lsq.levenberg_marquardt` stops when every parameter moved by less than this
#: fraction of its sd (tighter than identify's: two parameters, cheap evaluations).
STEP_IN_SD = 1e-8
MAX_ITER = 100


# ----------------------------------------------------------------------------- protocols


def staircase_protocol(
    n_steps: int, dwell_s: float, n_sweeps: int = 1, recovery_s: float | None = None, case: str = "step"
) -> list[ProtocolEvent]:
    """A staircase of equal weights: apply one every ``dwell_s``, photograph just before the next.

    Sweep k (0-based) starts at ``k (n_steps dwell_s + recovery_s)``; at its end every weight is
    removed and the sample rests ``recovery_s`` before the next sweep. Measure labels are
    ``"sweep{k}-step{n}"`` (n = 1..n_steps weights hung).

    Args:
        n_steps: Weights per sweep (>= 1).
        dwell_s: Hold time of each weight before its photograph (s, > 0).
        n_sweeps: Repeated sweeps (>= 1).
        recovery_s: Rest between sweeps (s, >= 0); required when ``n_sweeps > 1``.
        case: The load case name of one weight.

    Raises:
        InputError: a count below 1, a non-positive dwell, a negative or missing recovery.
    """
    if int(n_steps) < 1 or int(n_sweeps) < 1:
        raise InputError(
            "a staircase needs at least one step and one sweep", field="n_steps", value=(n_steps, n_sweeps)
        )
    if not (math.isfinite(dwell_s) and dwell_s > 0):
        raise InputError("dwell time must be positive and finite (s)", field="dwell_s", value=dwell_s)
    if n_sweeps > 1 and (recovery_s is None or not math.isfinite(recovery_s) or recovery_s < 0):
        raise InputError("repeated sweeps need a recovery time >= 0 (s)", field="recovery_s", value=recovery_s)
    events: list[ProtocolEvent] = []
    t = 0.0
    for k in range(int(n_sweeps)):
        for n in range(1, int(n_steps) + 1):
            events.append(ProtocolEvent(t, "apply", case))
            t += dwell_s
            events.append(ProtocolEvent(t, "measure", f"sweep{k}-step{n}"))
        events.extend(ProtocolEvent(t, "remove", case) for _ in range(int(n_steps)))
        t += recovery_s or 0.0
    return events


def staircase_compliance(
    creep: Prony | Callable[[np.ndarray], np.ndarray],
    n_steps: int,
    dwell_s: float,
    n_sweeps: int = 1,
    recovery_s: float | None = None,
) -> np.ndarray:
    """(n_sweeps, n_steps) the factor C_kn (1/MPa) with u(photograph) = C_kn u_unit(one weight).

    For a sweep from rest, C_n = sum_{j=1..n} J(j dwell_s): the n-th photograph sees the first weight
    after n holds, the last after one. An elastic material (J constant = 1/E) gives n / E; a
    creeping one gives more per weight the more weights hang, the apparent compliance
    C_n / (n J(dwell_s)) growing with n.
    """
    ev = staircase_protocol(n_steps, dwell_s, n_sweeps, recovery_s)
    meas = protocol_response(creep, {"step": np.array(1.0)}, ev)
    return np.array([float(m.u) for m in meas]).reshape(int(n_sweeps), int(n_steps))


# ----------------------------------------------------------------------------- derived outputs


def _full_field(design: Design, dofs: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Scatter (..., n_dofs) values of (node, component) pairs into (..., n_nodes, 2) (zeros elsewhere)."""
    values = np.asarray(values, dtype=float)
    out = np.zeros(values.shape[:-1] + (design.n_nodes, 2))
    out[..., dofs[:, 0], dofs[:, 1]] = values
    return out


def bond_products(
    design: Design, dofs: np.ndarray, U: np.ndarray, dU: np.ndarray | None, forward: int, adjoint: int
) -> tuple[np.ndarray, np.ndarray | None]:
    """e_i e_adj,i of every bond (mm^2) from node displacements of two load cases, and its width Jacobian.

    Args:
        design: The lattice.
        dofs: (n_dofs, 2) the (node, component) pairs of ``U``; every free node's two components
            (the rest are taken as 0: fixed nodes).
        U: (n_cases, n_dofs) displacements (mm).
        dU: (n_cases, n_dofs, n_bonds) dU/dw, or None.
        forward, adjoint: The load cases of the forward and adjoint measurements.

    Returns:
        (g (n_bonds,), dg/dw (n_bonds, n_bonds) or None): e = n . (u_b - u_a) is linear in u, so
        dg/dw = e_adj de/dw + e de_adj/dw exactly.
    """
    free = set(range(design.n_nodes)) - set(int(n) for n in design.fixed)
    have = {int(n) for n in np.asarray(dofs)[:, 0]}
    if not free <= have:
        raise InputError("bond products need every free node's displacement", field="dofs", value=sorted(free - have))
    e = elongations(_full_field(design, dofs, U[[forward, adjoint]]), design)  # (2, n_bonds)
    g = e[0] * e[1]
    if dU is None:
        return g, None
    # (2, n_bonds_w, n_dofs) -> elongations over the bond axis of the field
    de = elongations(_full_field(design, dofs, np.moveaxis(dU[[forward, adjoint]], 2, 1)), design)  # (2, w, b)
    dg = (de[0] * e[1][None, :] + e[0][None, :] * de[1]).T  # (b, w)
    return g, dg


def normalised_abs(U: np.ndarray, dU: np.ndarray | None) -> tuple[np.ndarray, np.ndarray | None]:
    """p = |U| / sum |U| over the last axis of (..., n_out), and dp/dw from dU (..., n_out, n_w).

    The modulus cancels in p (a common factor of U), so it depends on the widths only.

    Raises:
        InputError: an output is exactly 0 (|.| is not differentiable there) or all are.
    """
    U = np.asarray(U, dtype=float)
    if np.any(U == 0):
        raise InputError("an output is exactly 0: |u| has no derivative there", field="U")
    a = np.abs(U)
    S = a.sum(-1, keepdims=True)
    p = a / S
    if dU is None:
        return p, None
    da = np.sign(U)[..., None] * dU  # (..., n_out, n_w)
    dS = da.sum(-2, keepdims=True)
    dp = da / S[..., None] - a[..., None] * dS / (S[..., None] ** 2)
    return p, dp


# ----------------------------------------------------------------------------- calibration


@dataclass(frozen=True)
class CalibrationBlock:
    """One kind of measured number for :func:`calibrate`: y = y0(w_design + delta) / s^power.

    Attributes:
        name: A label (for the report).
        value: (n,) measured values.
        sd: (n,) their standard deviations (> 0).
        power: How the model value scales with the modulus factor s: 1 for displacements,
            2 for products of two displacements (e e_adj).
        model: widths -> (y0 (n,) at s = 1, dy0/dw (n, n_bonds)): the model at the design's E.
            With a thin-end offset (``"thin"`` fitted, or ``thin_fixed != 0``) it is called as
            ``model(widths, thin)`` and returns dy0 with one more column, d y0 / d thin, last.
    """

    name: str
    value: np.ndarray
    sd: np.ndarray
    power: int
    model: Callable[..., tuple[np.ndarray, np.ndarray]]


@dataclass(frozen=True)
class Calibration:
    """The calibrated modulus factor s, width offset delta and thin-end offset, and what the data say about them."""

    fit: tuple[str, ...]
    """Fitted parameters among ``("s", "delta", "thin")``."""
    s: float
    delta: float
    cov: np.ndarray
    """Covariance of the fitted parameters (order of ``fit``), (J^T J)^-1."""
    chi2: float
    dof: int
    predicted: dict[str, np.ndarray]
    """Block name -> model values at the optimum."""
    residual: dict[str, np.ndarray]
    """Block name -> (model - measured) / sd."""
    iterations: int
    converged: bool
    thin: float = 0.0
    """The thin-end offset (mm, added to every thin end's width only; 0 unless fitted or fixed)."""

    @property
    def birge(self) -> float:
        """chi2 / dof (1 when the spreads describe the misfit; NaN without dof)."""
        return self.chi2 / self.dof if self.dof > 0 else math.nan

    @property
    def cov_inflated(self) -> np.ndarray:
        """The covariance times max(1, chi2 / dof): the misfit counted as noise of the stated shape."""
        b = self.birge
        return self.cov * (max(1.0, b) if math.isfinite(b) else 1.0)

    def sd(self, inflated: bool = True) -> dict[str, float]:
        c = self.cov_inflated if inflated else self.cov
        return {p: float(math.sqrt(c[i, i])) for i, p in enumerate(self.fit)}

    def correlation(self) -> np.ndarray:
        d = np.sqrt(np.diag(self.cov))
        return self.cov / np.outer(d, d)


def calibrate(
    blocks: Sequence[CalibrationBlock],
    widths: np.ndarray,
    fit: Sequence[str] = ("s", "delta"),
    s_fixed: float = 1.0,
    delta_fixed: float = 0.0,
    thin_fixed: float = 0.0,
) -> Calibration:
    """Weighted least squares of s (modulus factor), delta (width offset) and thin (thin-end offset).

    r = (y0(w + delta, thin) / s^p - value) / sd over every block; dr/ds = -p y / s / sd,
    dr/ddelta = sum_b dy0/dw_b / s^p / sd and dr/dthin = dy0/dthin / s^p / sd (exact, from
    each block's model), solved by
    :func:`fem_mnn.fidelity.lsq.levenberg_marquardt`. Steps that make s or any width non-positive
    are rejected. Converged when every step is below 1e-8 of the parameter's sd, or no step
    lowers the cost.

    Args:
        blocks: The measured numbers and their models.
        widths: (n_bonds,) the design widths the offset is added to.
        fit: Which of ``"s"``, ``"delta"``, ``"thin"`` to fit (the others are held at their fixed values).
        s_fixed, delta_fixed, thin_fixed: Values of parameters not fitted (and the start of fitted
            ones). Steps that make a thin end (``thin_end_ratio * w + thin``) non-positive cannot
            be checked here (the ratio is the blocks' business): the response refuses them.

    Raises:
        InputError: an unknown parameter, no parameter, a non-positive sd.
    """
    known = ("s", "delta", "thin")
    if any(p not in known for p in fit):
        raise InputError("fit some of s, delta, thin", field="fit", value=tuple(fit))
    fit = tuple(p for p in known if p in fit)
    if not fit:
        raise InputError("fit some of s, delta, thin", field="fit", value=fit)
    thin_on = "thin" in fit or thin_fixed != 0.0
    for b in blocks:
        if np.any(np.asarray(b.sd) <= 0):
            raise InputError("every sd must be positive", field=f"{b.name}.sd")
    w0 = np.asarray(widths, dtype=float)
    n_obs = sum(len(b.value) for b in blocks)

    def split(th: np.ndarray) -> tuple[float, float]:
        s = float(th[fit.index("s")]) if "s" in fit else s_fixed
        d = float(th[fit.index("delta")]) if "delta" in fit else delta_fixed
        return s, d

    def thin_of(th: np.ndarray) -> float:
        return float(th[fit.index("thin")]) if "thin" in fit else thin_fixed

    def evaluate(th: np.ndarray) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
        # the blocks' models return their Jacobians anyway: always hand J to the solver
        s, d = split(th)
        t = thin_of(th)
        rs, Js, pred = [], [], {}
        nb = w0.size
        for b in blocks:
            y0, dy0 = b.model(w0 + d, t) if thin_on else b.model(w0 + d)
            dy0 = np.asarray(dy0)
            y = np.asarray(y0) / s**b.power
            pred[b.name] = y
            sd = np.asarray(b.sd, dtype=float)
            rs.append((y - b.value) / sd)
            cols = []
            if "s" in fit:
                cols.append(-b.power * y / s / sd)
            if "delta" in fit:
                cols.append(dy0[:, :nb].sum(1) / s**b.power / sd)
            if "thin" in fit:
                cols.append(dy0[:, nb] / s**b.power / sd)
            Js.append(np.stack(cols, axis=1))
        return np.concatenate(rs), np.vstack(Js), pred

    def feasible(th: np.ndarray) -> bool:
        s, d = split(th)
        return s > 0 and bool(np.all(w0 + d > 0))

    sol = levenberg_marquardt(
        lambda th, _jac: evaluate(th),
        np.array([{"s": s_fixed, "delta": delta_fixed, "thin": thin_fixed}[p] for p in fit], dtype=float),
        feasible=feasible,
        step_in_sd=STEP_IN_SD,
        max_iter=MAX_ITER,
    )
    th, r, J, pred, cost, it, converged = sol.theta, sol.r, sol.J, sol.aux, sol.cost, sol.iterations, sol.converged
    cov = covariance(J)
    s, d = split(th)
    res, k = {}, 0
    for b in blocks:
        res[b.name] = r[k : k + len(b.value)]
        k += len(b.value)
    return Calibration(
        fit=fit,
        s=s,
        delta=d,
        cov=cov,
        chi2=cost,
        dof=n_obs - len(fit),
        predicted=pred,
        residual=res,
        iterations=it,
        converged=converged,
        thin=thin_of(th),
    )


# ----------------------------------------------------------------------------- bands


def forecast_band(jac: np.ndarray, cov: np.ndarray) -> np.ndarray:
    """sd of each forecast, sqrt(diag(G Sigma G^T)), for G = jac (n_forecasts, n_params)."""
    G = np.atleast_2d(np.asarray(jac, dtype=float))
    C = np.asarray(cov, dtype=float)
    if G.shape[1] != C.shape[0]:
        raise InputError("Jacobian columns must match the covariance", field="jac", value=(G.shape, C.shape))
    return np.sqrt(np.maximum(np.einsum("ip,pq,iq->i", G, C, G), 0.0))


def linear_slope(x: np.ndarray, y: np.ndarray) -> float:
    """Least-squares slope of y against x with an intercept."""
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    xc = x - x.mean()
    return float(xc @ (y - y.mean()) / (xc @ xc))
