"""Training configuration and the width parametrisation.

:class:`TrainConfig` holds everything that decides a training run's numbers;
:data:`PAPER_SETTINGS` and :func:`paper_config` give the authors' settings per task.

Parametrisations (``TrainConfig.parametrisation``):

* ``"sigmoid"`` (default): the paper's bounded form. The latent z maps to
  ``w = w_min + (w_max - w_min) * sigmoid(beta * z)``, which for the nominal law
  k = E t w / L is exactly the paper's ``k = k_L + (k_U - k_L) / (1 + exp(-beta z))``.
  The gradient fed to Adam is ``dL/dz = dL/dw * (w_max - w_min) * beta * s (1 - s)``.
* ``"clip"``: Adam on the widths themselves, projected back onto [w_min, w_max]
  after every step.

``paper_gradient=True`` (sigmoid only) reproduces the authors' MATLAB code: it
feeds ``dL/dk`` in SI units (loss in m^2 for MSE, N/m for k) straight to z, with
no sigmoid chain rule. With Adam's eps = sqrt(machine eps) and SI gradients of
1e-9 or smaller (regression), Adam then acts like momentum descent.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from fem_mnn.contract import Backprop
from fem_mnn.core.errors import InputError

__all__ = [
    "PAPER_SETTINGS",
    "TrainConfig",
    "initial_latent",
    "latent_from_widths",
    "latent_gradient",
    "paper_config",
    "sigmoid_widths",
    "widths_of_latent",
]

#: SI gradient from a mm-unit gradient: dL_SI/dk_SI = loss_si_scale * 1e-3 * dL/dk (k: N/m vs N/mm).
_K_MM_TO_SI = 1e-3

# ----------------------------------------------------------------------- config


@dataclass(frozen=True)
class TrainConfig:
    """Everything that decides a training run's numbers.

    Attributes:
        epochs: Maximum number of epochs (an epoch is one pass over the training
            cases; for a one-case task it is one Adam step, the paper's iteration).
        lr: Adam step size (alpha).
        batch_size: Cases per mini-batch; ``None`` or 0 = the whole training set.
        beta1: Adam first-moment decay.
        beta2: Adam second-moment decay.
        eps: Adam epsilon, added to sqrt(v_hat) (the paper: sqrt(machine eps)).
        parametrisation: ``"sigmoid"`` (bounded, the paper's) or ``"clip"``.
        beta: Sigmoid steepness (paper: 10 for behaviour and regression, 5 for Iris).
        paper_gradient: Feed dL/dk in SI units straight to z (the authors' code).
        seed: Seed of the mini-batch shuffling generator.
        shuffle: Shuffle the training cases every epoch.
        loss_tol: Stop when the epoch's loss is <= this.
        patience: Stop after this many epochs without the epoch loss improving on
            its best by more than ``min_delta`` (relative).
        min_delta: Relative improvement that counts for ``patience``.
        step_tol: Stop when the relative width change over an epoch,
            ||w_new - w_old|| / ||w_old||, is <= this (the paper's ``k_conv``; for
            the nominal law it equals the relative change of k).
        metric_tol: ``(name, value)``: stop when the end-of-epoch metric ``name``
            (e.g. ``"train_rel_error"``, the paper's ``u_conv``) is <= value.
        checkpoint_every: Write a checkpoint every N epochs (0 = only at the end
            when an output folder is given).
        record_widths: Keep the widths of every epoch in the history.
    """

    epochs: int = 100
    lr: float = 1e-2
    batch_size: int | None = 16
    beta1: float = 0.9
    beta2: float = 0.999
    eps: float = math.sqrt(float(np.finfo(float).eps))
    parametrisation: Literal["sigmoid", "clip"] = "sigmoid"
    beta: float = 10.0
    paper_gradient: bool = False
    seed: int = 0
    shuffle: bool = True
    loss_tol: float | None = None
    patience: int | None = None
    min_delta: float = 0.0
    step_tol: float | None = None
    metric_tol: tuple[str, float] | None = None
    checkpoint_every: int = 0
    record_widths: bool = True

    def __post_init__(self) -> None:
        if self.epochs < 0:
            raise InputError("must be >= 0", field="epochs", value=self.epochs)
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise InputError("must be > 0", field="lr", value=self.lr)
        if self.batch_size is not None and self.batch_size < 0:
            raise InputError("must be >= 0", field="batch_size", value=self.batch_size)
        if self.parametrisation not in ("sigmoid", "clip"):
            raise InputError("must be 'sigmoid' or 'clip'", field="parametrisation", value=self.parametrisation)
        if self.paper_gradient and self.parametrisation != "sigmoid":
            raise InputError("paper_gradient needs the sigmoid parametrisation", field="paper_gradient", value=True)
        if not self.beta > 0:
            raise InputError("must be > 0", field="beta", value=self.beta)
        if not (0 <= self.beta1 < 1 and 0 <= self.beta2 < 1):
            raise InputError("Adam decays must lie in [0, 1)", field="beta1/beta2", value=(self.beta1, self.beta2))
        if self.checkpoint_every < 0:
            raise InputError("must be >= 0", field="checkpoint_every", value=self.checkpoint_every)
        if self.metric_tol is not None:
            object.__setattr__(self, "metric_tol", (str(self.metric_tol[0]), float(self.metric_tol[1])))

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["metric_tol"] = list(self.metric_tol) if self.metric_tol is not None else None
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainConfig:
        d = dict(d)
        if d.get("metric_tol") is not None:
            d["metric_tol"] = tuple(d["metric_tol"])
        return cls(**d)


# ------------------------------------------------------------------ parametrisation


def sigmoid_widths(z: np.ndarray, w_min: float, w_max: float, beta: float) -> tuple[np.ndarray, np.ndarray]:
    """Widths and dw/dz of the bounded parametrisation w = w_min + (w_max - w_min) sigmoid(beta z).

    Numerically stable for large |beta z| (no overflow warning).
    """
    bz = beta * np.asarray(z, dtype=float)
    e = np.exp(-np.abs(bz))
    s = np.where(bz >= 0, 1.0 / (1.0 + e), e / (1.0 + e))
    span = w_max - w_min
    return w_min + span * s, span * beta * s * (1.0 - s)


def latent_from_widths(widths: np.ndarray, w_min: float, w_max: float, beta: float) -> np.ndarray:
    """Inverse of :func:`sigmoid_widths` (widths on a bound are pulled 1e-9 of the span inside)."""
    frac = (np.asarray(widths, dtype=float) - w_min) / (w_max - w_min)
    frac = np.clip(frac, 1e-9, 1.0 - 1e-9)
    return np.log(frac / (1.0 - frac)) / beta


def latent_gradient(
    config: TrainConfig, bp: Backprop, latent: np.ndarray, w_min: float, w_max: float, loss_si_scale: float
) -> np.ndarray:
    """The gradient Adam sees for the latent variable.

    * sigmoid: dL/dz = dL/dw * dw/dz (the exact chain rule);
    * sigmoid + ``paper_gradient``: dL/dk in SI units, ``loss_si_scale * 1e-3 * dL/dk``
      (the loss in SI, k in N/m instead of N/mm), fed to z as the authors' code does;
    * clip: dL/dw (the latent variable is the width).
    """
    if config.paper_gradient:
        return bp.grad_k * (loss_si_scale * _K_MM_TO_SI)
    if config.parametrisation == "sigmoid":
        return bp.grad_w * sigmoid_widths(latent, w_min, w_max, config.beta)[1]
    return np.array(bp.grad_w, dtype=float)


def initial_latent(config: TrainConfig, widths: np.ndarray, w_min: float, w_max: float) -> np.ndarray:
    """The latent variable a fresh run starts from (widths on or beyond a bound are pulled inside)."""
    if config.parametrisation == "sigmoid":
        return latent_from_widths(widths, w_min, w_max, config.beta)
    return np.clip(widths, w_min, w_max)


def widths_of_latent(config: TrainConfig, latent: np.ndarray, w_min: float, w_max: float) -> np.ndarray:
    """The widths of a latent variable (for ``clip`` the latent variable is the widths, copied)."""
    if config.parametrisation == "sigmoid":
        return sigmoid_widths(latent, w_min, w_max, config.beta)[0]
    return latent.copy()


# ------------------------------------------------------------------ paper settings

#: The authors' settings per task (their MATLAB scripts): step size, batch, epochs, sigmoid beta, stops.
PAPER_SETTINGS: dict[str, dict[str, Any]] = {
    # Learningspring2D_MSE.m: alpha 5e-3, MaxIter 30000, k_conv 1e-8, u_conv 1e-3
    "behaviour": {
        "epochs": 30000,
        "lr": 5e-3,
        "batch_size": None,
        "beta": 10.0,
        "shuffle": False,
        "step_tol": 1e-8,
        "metric_tol": ("train_rel_error", 1e-3),
    },
    # Learningspring2D_CE.m: alpha 5e-3, MaxIter 10000, k_conv 1e-8
    "behaviour-ce": {"epochs": 10000, "lr": 5e-3, "batch_size": None, "beta": 10.0, "shuffle": False, "step_tol": 1e-8},
    # Regression/Learningspring2D.m: alpha 0.1, batch 16, 5000 epochs, beta 10
    "regression": {"epochs": 5000, "lr": 0.1, "batch_size": 16, "beta": 10.0},
    "regression-noisy": {"epochs": 5000, "lr": 0.1, "batch_size": 16, "beta": 10.0},
    # Classification/Learningspring2D.m: alpha 6e-3, batch 16, 100 epochs, beta 5
    "iris": {"epochs": 100, "lr": 6e-3, "batch_size": 16, "beta": 5.0},
}


def paper_config(task_name: str, **overrides: Any) -> TrainConfig:
    """The authors' training settings for a task (see :data:`PAPER_SETTINGS`), with overrides.

    ``paper_gradient`` is not switched on here: pass ``paper_gradient=True`` to
    reproduce their gradient as well.
    """
    if task_name not in PAPER_SETTINGS:
        raise InputError(f"no paper settings (known: {', '.join(PAPER_SETTINGS)})", field="task", value=task_name)
    kw = dict(PAPER_SETTINGS[task_name])
    kw.update(overrides)
    return TrainConfig(**kw)
