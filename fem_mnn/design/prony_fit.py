"""Fitting a Prony series to a DMA master curve, reducing it, and bounding its long-time modulus.

The storage and loss moduli of E(t) = E_inf + sum_i E_i exp(-t/tau_i) are

    E'(omega) = E_inf + sum_i E_i (omega tau_i)^2 / (1 + (omega tau_i)^2),
    E''(omega) = sum_i E_i omega tau_i / (1 + (omega tau_i)^2),

linear in (E_inf, E_i) for fixed tau_i. :func:`fit_master_curve` fixes log-spaced tau_i and
fits E' and E'' jointly in log-relative error (every decade of the curve counts alike,
from the glassy GPa to the rubbery MPa): non-negative least squares on relative
residuals, then bounded Gauss-Newton (scipy's trust-region reflective) on
ln(model/data), all E_i >= 0. :func:`reduce_series` refits fewer terms to a series'
E(t) over a time window; :func:`e_inf_scan` refits with E_inf held at given values, the
way to see how much of E_inf the data determine.

Units: MPa, s, rad/s.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np
from scipy.optimize import least_squares, nnls

from fem_mnn.core.errors import InputError
from fem_mnn.design.viscoelastic import Prony, prony_moduli

__all__ = ["SeriesFit", "e_inf_scan", "fit_master_curve", "log_spaced_taus", "reduce_series"]


class SeriesFit(NamedTuple):
    """A fitted series (E_inf may be 0 here, which a :class:`Prony` record refuses).

    Attributes:
        E_inf: MPa (>= 0).
        moduli: E_i (MPa, > 0: terms fitted to zero are dropped).
        taus: tau_i (s), ascending.
        residuals: ln(model/data), storage then loss (or of E(t) for :func:`reduce_series`).
    """

    E_inf: float
    moduli: np.ndarray
    taus: np.ndarray
    residuals: np.ndarray

    @property
    def rms_log(self) -> float:
        """RMS of ln(model/data) (about the RMS relative error)."""
        return float(np.sqrt(np.mean(self.residuals**2)))

    @property
    def max_log(self) -> float:
        """Largest |ln(model/data)|."""
        return float(np.max(np.abs(self.residuals)))

    def relaxation(self, t: np.ndarray | float) -> np.ndarray:
        """E(t) (MPa)."""
        return self.E_inf + np.exp(-np.asarray(t, float)[..., None] / self.taus) @ self.moduli

    def storage(self, omega: np.ndarray | float) -> np.ndarray:
        """Storage modulus E'(omega) (MPa) at angular frequencies omega (rad/s)."""
        return prony_moduli(self.E_inf, self.moduli, self.taus, omega)[0]

    def loss(self, omega: np.ndarray | float) -> np.ndarray:
        """Loss modulus E''(omega) (MPa) at angular frequencies omega (rad/s)."""
        return prony_moduli(self.E_inf, self.moduli, self.taus, omega)[1]

    @classmethod
    def from_record(cls, series: dict[str, Any]) -> SeriesFit:
        """A series from its JSON record ``{"E_inf": MPa, "terms": [[E_i, tau_i], ...]}`` (no residuals)."""
        terms = np.asarray(series["terms"], dtype=float).reshape(-1, 2)
        return cls(float(series["E_inf"]), terms[:, 0], terms[:, 1], np.zeros(1))

    def prony(self, name: str = "", range_s: tuple[float, float] | None = None) -> Prony:
        """The fit as a :class:`Prony` record (needs E_inf > 0)."""
        return Prony(self.E_inf, tuple(zip(self.moduli.tolist(), self.taus.tolist(), strict=True)), name, range_s)


def log_spaced_taus(t_min: float, t_max: float, per_decade: float) -> np.ndarray:
    """Relaxation times from t_min to t_max (s), both included, about ``per_decade`` per decade."""
    n = max(int(round(np.log10(t_max / t_min) * per_decade)) + 1, 1)
    return np.geomspace(t_min, t_max, n) if n > 1 else np.array([np.sqrt(t_min * t_max)])


def _columns(omega: np.ndarray, taus: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    wt = omega[:, None] * taus[None, :]
    return wt**2 / (1 + wt**2), wt / (1 + wt**2)


def _bounded_log_fit(M: np.ndarray, data: np.ndarray, fixed: np.ndarray, free_cols: np.ndarray) -> np.ndarray:
    """Minimise ||ln((M_free x + fixed) / data)|| over x >= 0: NNLS start, then trust-region reflective."""
    A = M[:, free_cols] / data[:, None]
    x0, _ = nnls(A, 1 - fixed / data)

    def res(x: np.ndarray) -> np.ndarray:
        return np.log(M[:, free_cols] @ x + fixed) - np.log(data)

    def jac(x: np.ndarray) -> np.ndarray:
        return M[:, free_cols] / (M[:, free_cols] @ x + fixed)[:, None]

    scale = max(float(np.max(x0)), 1e-30)
    sol = least_squares(
        res,
        np.maximum(x0, 1e-12 * scale),  # strictly inside the bounds
        jac=jac,
        bounds=(0.0, np.inf),
        method="trf",
        x_scale="jac",
        xtol=1e-14,
        ftol=1e-14,
        gtol=1e-14,
        max_nfev=5000,
    )
    return sol.x


def fit_master_curve(
    omega: np.ndarray,
    storage: np.ndarray,
    loss: np.ndarray,
    taus: np.ndarray,
    E_inf: float | None = None,
) -> SeriesFit:
    """Fit E_inf (unless given) and E_i >= 0 at fixed ``taus`` to E'(omega), E''(omega) in log-relative error.

    Args:
        omega: Angular frequencies (rad/s), > 0.
        storage: E' (MPa), > 0.
        loss: E'' (MPa), > 0.
        taus: Fixed relaxation times (s).
        E_inf: Hold E_inf at this value (>= 0) instead of fitting it.
    """
    omega, storage, loss = (np.asarray(a, float) for a in (omega, storage, loss))
    taus = np.sort(np.asarray(taus, float))
    if not (np.all(omega > 0) and np.all(storage > 0) and np.all(loss > 0)):
        raise InputError("frequencies and moduli must be > 0 to fit in log-relative error", field="master curve")
    As, Al = _columns(omega, taus)
    n = omega.size
    M = np.vstack([np.hstack([np.ones((n, 1)), As]), np.hstack([np.zeros((n, 1)), Al])])
    data = np.concatenate([storage, loss])
    if E_inf is None:
        x = _bounded_log_fit(M, data, np.zeros(2 * n), np.arange(M.shape[1]))
        e_inf, E = float(x[0]), x[1:]
    else:
        fixed = M[:, 0] * float(E_inf)
        E = _bounded_log_fit(M, data, fixed, np.arange(1, M.shape[1]))
        e_inf = float(E_inf)
    resid = np.log(M @ np.concatenate([[e_inf], E])) - np.log(data)
    keep = E > 1e-12 * (e_inf + E.sum())  # zero (bound-active) terms carry nothing
    return SeriesFit(e_inf, E[keep], taus[keep], resid)


def reduce_series(full: SeriesFit | Prony, taus: np.ndarray, t_fit: np.ndarray) -> SeriesFit:
    """Fewer terms: E_inf and E_i >= 0 at ``taus`` fitted to ``full``'s E(t) at times ``t_fit``, log-relative.

    The reduced series copies E(t) on ``t_fit`` only: its glassy modulus E(0) is whatever the
    fit makes it, so it is a model for times inside the window, not shorter ones.
    """
    t_fit = np.asarray(t_fit, float)
    taus = np.sort(np.asarray(taus, float))
    target = full.relaxation(t_fit)
    M = np.hstack([np.ones((t_fit.size, 1)), np.exp(-t_fit[:, None] / taus[None, :])])
    x = _bounded_log_fit(M, target, np.zeros(t_fit.size), np.arange(M.shape[1]))
    resid = np.log(M @ x) - np.log(target)
    E = x[1:]
    keep = E > 1e-12 * x.sum()
    return SeriesFit(float(x[0]), E[keep], taus[keep], resid)


def e_inf_scan(
    omega: np.ndarray, storage: np.ndarray, loss: np.ndarray, taus: np.ndarray, values: Sequence[float]
) -> list[SeriesFit]:
    """One :func:`fit_master_curve` per E_inf in ``values`` (held fixed)."""
    return [fit_master_curve(omega, storage, loss, taus, E_inf=v) for v in values]
