"""Print-tolerance noise and tolerance-aware training (model-agnostic, numpy only).

The noise model (issue 16), shared by the tolerance analysis (:mod:`fem_mnn.tolerance`)
and by tolerance-aware training (``spring train`` / ``fem train --robust S``):

* every bond's width is independently normal, ``w_i + S z_i`` with ``z_i ~ N(0, 1)`` and
  S in mm; the thin ends follow the width (``thin_end_ratio * w``), as in the geometry;
* one common multiplicative modulus factor ``E -> E (1 + R xi)``, ``xi ~ N(0, 1)``, R relative;
* no truncation: a sampled width may leave the training bounds (1.5-2.5 mm are not
  printability limits) and is evaluated as it is.

A noise level is refused *before* sampling when ``w - 4 S`` would take a thin end below
the printable minimum feature (``thin_end_ratio (w - 4 S) < geometry.min_feature``) on any
bond, or when ``1 - 4 R <= 0`` (a non-positive modulus within four standard deviations).

Tolerance-aware training (:class:`RobustModel`) minimises the expected loss
``E_z[L(w + S z)]`` under the width noise by **sampled perturbations**: every optimiser
step averages the exact gradient (the model's own ``backprop_operator``: spring adjoint
or the FE shape gradient) over K perturbed copies of the widths. Why sampling and not a
first-order variance penalty: the penalty ``1/2 S^2 ||dy/dw||^2`` needs the gradient of a
Jacobian (second derivatives: one extra adjoint per output and bond for the FE model),
it is exact only for a quadratic loss of a linear response, and at S = 0.1 mm the response
is no longer linear (the tolerance report shows where linearised and sampled standard
deviations part); the sampled estimate is unbiased for any loss (MSE or cross-entropy)
at the cost of K factorisations per step, and needs only first derivatives. The modulus
factor is left out of training (a common factor on E scales every output alike; no width
choice undoes it).

The K perturbations come in **antithetic pairs** ``+S z, -S z`` (an odd K ends with one
unpaired draw). Why: at S = 0.1 mm the response is nearly linear, so the gradient at ``w + S z``
is the nominal gradient plus a term linear in z (the Hessian times ``S z``) plus O(S^2); a pair
cancels the linear term exactly, leaving the O(S^2) curvature that the expected loss is about.
With K independent draws that linear term is the bulk of the estimator's noise, and Adam turns
noise into steps: the paper's Iris recipe (sigmoid, beta 5, step 6e-3) with K = 8 independent
draws sat in the early plateau where every case is given one class and ended at 38 % test
accuracy; with 4 antithetic pairs it trains as the noise-free run does (the study
``studies/tolerance.py`` records both). Same cost (K factorisations per step), still unbiased.

Perturbations are drawn from a generator seeded with ``(seed, hash of the current
widths)``: a resumed run replays the same draws (bitwise resume survives), and under MPI
rank 0 draws and broadcasts them (every rank factorises the same perturbed widths).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import numpy as np

from fem_mnn.contract import Backprop, LinearOperator, MechanicalModel, backprop_operator
from fem_mnn.core.errors import InputError
from fem_mnn.design.records import Design

__all__ = ["RobustModel", "WidthNoise", "check_noise_printable"]

#: Standard deviations below the nominal width that must stay printable.
SIGMAS = 4.0


@dataclass(frozen=True)
class WidthNoise:
    """The printer's scatter: width sd ``width_sd`` (mm) per bond, common relative modulus sd ``E_sd``."""

    width_sd: float
    E_sd: float = 0.0

    def __post_init__(self) -> None:
        if not (np.isfinite(self.width_sd) and self.width_sd >= 0):
            raise InputError("must be a finite number >= 0 (mm)", field="--width-sd", value=self.width_sd)
        if not (np.isfinite(self.E_sd) and self.E_sd >= 0):
            raise InputError("must be a finite number >= 0 (relative)", field="--E-sd", value=self.E_sd)
        if 1.0 - SIGMAS * self.E_sd <= 0:
            raise InputError(
                f"1 - {SIGMAS:g} R <= 0: the modulus would turn non-positive within {SIGMAS:g} standard deviations",
                field="--E-sd",
                value=self.E_sd,
            )

    def describe(self) -> dict[str, Any]:
        """The noise model as stated in every output."""
        return {
            "width_sd_mm": self.width_sd,
            "E_rel_sd": self.E_sd,
            "model": "each bond's width independently normal w + S z (thin ends follow: thin_end_ratio * width); "
            "one common modulus factor E (1 + R xi); z, xi standard normal; no truncation (widths may leave "
            "the training bounds); refused when thin_end_ratio * (w - 4 S) < min_feature on any bond",
        }

    def draw(self, rng: np.random.Generator, n_samples: int, n_bonds: int) -> tuple[np.ndarray, np.ndarray]:
        """(n_samples, n_bonds) width changes (mm) and (n_samples,) modulus factors, in that order from ``rng``."""
        z = rng.standard_normal((n_samples, n_bonds))
        xi = rng.standard_normal(n_samples)
        return self.width_sd * z, 1.0 + self.E_sd * xi


def check_noise_printable(design: Design, widths: np.ndarray, width_sd: float, source: str = "--width-sd") -> None:
    """Refuse a width sd for which ``w - 4 S`` takes a thin end below ``geometry.min_feature``.

    Raises:
        InputError: naming the first such bond, its nominal thin end and the largest S allowed.
    """
    g = design.geometry
    w = np.asarray(widths, dtype=float)
    thin_low = g.thin_end_ratio * (w - SIGMAS * width_sd)
    bad = np.nonzero(thin_low < g.min_feature - 1e-12)[0]
    if bad.size:
        b = int(bad[np.argmin(w[bad])])
        s_max = float(np.min(w - g.min_feature / g.thin_end_ratio) / SIGMAS)
        raise InputError(
            f"w - {SIGMAS:g} S takes the thin ends of {bad.size} bond(s) below the printable minimum feature "
            f"{g.min_feature:g} mm (bond {b}: w {w[b]:.4g} mm, thin end {g.thin_end_ratio * w[b]:.4g} mm, at "
            f"-{SIGMAS:g} S {thin_low[b]:.4g} mm); the largest width sd this design allows is {max(s_max, 0):.4g} mm",
            source=source,
            value=width_sd,
        )


def _draw_seed(seed: int, widths: np.ndarray) -> list[int]:
    digest = hashlib.sha256(np.ascontiguousarray(widths, dtype=float).tobytes()).digest()
    return [int(seed), int.from_bytes(digest[:8], "little")]


class RobustModel:
    """A model whose ``backprop_operator`` returns the gradient of the expected loss under width noise.

    Wraps any :class:`~fem_mnn.contract.MechanicalModel` (its ``operator`` is passed through, so
    the nominal evaluation of the training loop is unchanged). Each call of
    :meth:`backprop_operator` builds K operators at ``w + S z_k`` and averages the base
    gradient (the model's own ``backprop_operator`` when it has one, else the spring adjoint
    :func:`~fem_mnn.contract.backprop_operator`); ``loss``/``case_loss`` are then the
    sampled expected losses. With a model whose operators move a shared mesh
    (:class:`fem_mnn.fem.morph.MorphingFemModel`), the operator of the nominal widths is rebuilt
    afterwards so that the caller's operator is valid again.

    Args:
        model: The base model.
        width_sd: S (mm).
        n_samples: K perturbations per step.
        seed: Seed of the perturbations (combined with a hash of the widths).
    """

    def __init__(self, model: MechanicalModel, width_sd: float, n_samples: int = 8, seed: int = 0) -> None:
        if n_samples < 1:
            raise InputError("must be >= 1", field="--robust-samples", value=n_samples)
        self.base = model
        self.design = model.design
        self.noise = WidthNoise(float(width_sd))
        check_noise_printable(self.design, self.design.widths, self.noise.width_sd, source="--robust")
        self.n_samples = int(n_samples)
        self.seed = int(seed)
        self.comm = getattr(model, "comm", None)
        self._base_gradient = getattr(model, "backprop_operator", backprop_operator)
        self.regime = getattr(model, "regime", "linear")
        self.regime_info = getattr(model, "regime_info", None)
        self.robust = {
            "method": "sampled perturbations (Monte Carlo gradient of the expected loss)",
            "pairs": "antithetic (+S z, -S z)",
            "width_sd_mm": self.noise.width_sd,
            "samples_per_step": self.n_samples,
            "seed": self.seed,
        }
        """Recorded with a training run (and compared on resume)."""

    def operator(self, widths: np.ndarray | None = None) -> LinearOperator:
        return self.base.operator(widths)

    def perturbations(self, widths: np.ndarray) -> np.ndarray:
        """(K, n_bonds) width changes (mm) for a step at ``widths``, in antithetic pairs (drawn on rank 0, broadcast)."""
        comm = self.comm
        if comm is not None and hasattr(comm, "bcast") and getattr(comm, "size", 1) > 1:
            dw = self._draw(widths) if comm.rank == 0 else None
            return np.asarray(comm.bcast(dw, root=0))
        return self._draw(widths)

    def _draw(self, widths: np.ndarray) -> np.ndarray:
        """The perturbations of a step at ``widths`` on this rank (seeded by the widths)."""
        rng = np.random.default_rng(_draw_seed(self.seed, widths))
        half, _ = self.noise.draw(rng, (self.n_samples + 1) // 2, self.design.n_bonds)
        # antithetic pairs, interleaved (+z1, -z1, +z2, -z2, ...): see the module docstring
        return np.stack([half, -half], axis=1).reshape(-1, self.design.n_bonds)[: self.n_samples]

    def backprop_operator(self, op: LinearOperator, loads: np.ndarray, loss: Any) -> Backprop:
        w = np.array(op.widths, dtype=float)
        dw = self.perturbations(w)
        first = self._base_gradient(self.base.operator(w + dw[0]), loads, loss)
        total = [first.case_loss.copy(), first.grad_k.copy(), first.grad_w.copy()]
        for k in range(1, self.n_samples):
            bp = self._base_gradient(self.base.operator(w + dw[k]), loads, loss)
            total[0] += bp.case_loss
            total[1] += bp.grad_k
            total[2] += bp.grad_w
        if hasattr(self.base, "n_morphs"):  # operators share a moving mesh: move it back to the nominal widths
            self.base.operator(w)
        case_loss, grad_k, grad_w = (t / self.n_samples for t in total)
        return first._replace(loss=float(np.mean(case_loss)), case_loss=case_loss, grad_k=grad_k, grad_w=grad_w)
