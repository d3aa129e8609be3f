"""A training run's state at an epoch boundary: the epoch records, the best epoch and the stopping rules.

Best epoch: before the first epoch the start widths are evaluated (so ``epochs=0``
evaluates the start); after every epoch the end-of-epoch ``train_loss`` (the mean loss
of every training case at the widths the epoch ended with, :data:`BEST_CRITERION`) is
compared with the best so far, and the widths with the lowest one are kept beside the
last epoch's (ties keep the earlier epoch). The task format has a train and a test split
and no validation split, so the choice is made on the training split; the test split
never enters it. The best is part of the checkpoint (a resumed run keeps it).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from fem_mnn.learn.adam import AdamState
from fem_mnn.learn.config import TrainConfig

__all__ = [
    "BEST_CRITERION",
    "STOP_REASONS",
    "EpochRecord",
    "TrainState",
    "advance",
    "better",
    "check_stop",
    "with_start",
]

#: Why a run ended (``TrainResult.stop_reason``); "interrupted": a signal or ``stop_after``.
STOP_REASONS = ("max_epochs", "loss_tol", "patience", "step_tol", "metric_tol", "interrupted")

#: The metric that picks the best epoch: the mean loss over every training case at the
#: epoch's end widths (lower is better). Never a test metric: the test split must not
#: choose the widths it is then used to judge.
BEST_CRITERION = "train_loss"


@dataclass(frozen=True)
class EpochRecord:
    """One epoch of history.

    Attributes:
        epoch: 1-based epoch number.
        loss: Mean case loss over the epoch's mini-batches (each evaluated at the
            widths before its step), in the task's units.
        loss_paper: The authors' logged loss: mean over batches of (sum of the
            batch's case losses) / batch_size, in SI units (m^2 for MSE).
        step: Relative width change over the epoch, ||w_end - w_start|| / ||w_start||.
        metrics: End-of-epoch metrics at the updated widths: ``train_loss``,
            ``test_loss`` and the task's metrics prefixed ``train_`` / ``test_``.
        widths: The widths at the end of the epoch (empty if not recorded).
    """

    epoch: int
    loss: float
    loss_paper: float
    step: float
    metrics: dict[str, float]
    widths: tuple[float, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "epoch": self.epoch,
            "loss": self.loss,
            "loss_paper": self.loss_paper,
            "step": self.step,
            "metrics": dict(self.metrics),
            "widths": list(self.widths),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> EpochRecord:
        return cls(
            epoch=int(d["epoch"]),
            loss=float(d["loss"]),
            loss_paper=float(d["loss_paper"]),
            step=float(d["step"]),
            metrics={k: float(v) for k, v in d["metrics"].items()},
            widths=tuple(float(w) for w in d["widths"]),
        )


@dataclass(frozen=True)
class TrainState:
    """Everything needed to continue a run at an epoch boundary."""

    epoch: int
    latent: np.ndarray
    widths: np.ndarray
    adam: AdamState
    rng_state: dict[str, Any]
    history: tuple[EpochRecord, ...]
    best_loss: float
    since_best: int
    best_epoch: int = 0
    """Epoch of the lowest :data:`BEST_CRITERION` so far (0 = the start widths)."""
    best_widths: np.ndarray | None = None
    """The widths of that epoch (None only before the start is evaluated)."""
    best_value: float = math.nan
    """Its :data:`BEST_CRITERION` value."""
    initial_metrics: dict[str, float] | None = None
    """Metrics at the start widths (None for a checkpoint written before they were recorded)."""


def better(value: float | None, best: float) -> bool:
    """Whether ``value`` beats ``best`` (strictly lower; a finite value beats NaN; NaN never wins)."""
    if value is None or math.isnan(value):
        return False
    return math.isnan(best) or value < best


def with_start(state: TrainState, metrics: dict[str, float]) -> TrainState:
    """``state`` with the start widths' metrics recorded and the start as epoch 0 of the best-epoch choice."""
    return dataclasses.replace(
        state,
        initial_metrics=metrics,
        best_epoch=0,
        best_widths=state.widths.copy(),
        best_value=float(metrics.get(BEST_CRITERION, math.nan)),
    )


def advance(
    st: TrainState,
    rec: EpochRecord,
    config: TrainConfig,
    latent: np.ndarray,
    widths: np.ndarray,
    adam: AdamState,
    rng_state: dict[str, Any],
) -> TrainState:
    """The state after epoch ``rec``: its end point, the patience counter and the best epoch."""
    best_loss, since_best = st.best_loss, st.since_best
    if rec.loss < best_loss * (1.0 - config.min_delta) or not math.isfinite(best_loss):
        best_loss, since_best = rec.loss, 0
    else:
        since_best += 1
    # the best epoch, on the training split only (patience above uses the batch-mean loss, as the paper)
    best = (st.best_epoch, st.best_widths, st.best_value)
    if better(rec.metrics.get(BEST_CRITERION), st.best_value) or st.best_widths is None:
        best = (rec.epoch, widths.copy(), float(rec.metrics.get(BEST_CRITERION, math.nan)))
    return TrainState(
        epoch=rec.epoch,
        latent=latent,
        widths=widths,
        adam=adam,
        rng_state=rng_state,
        history=(*st.history, rec),
        best_loss=best_loss,
        since_best=since_best,
        best_epoch=best[0],
        best_widths=best[1],
        best_value=best[2],
        initial_metrics=st.initial_metrics,
    )


def check_stop(config: TrainConfig, rec: EpochRecord, since_best: int) -> tuple[bool, str]:
    """Whether a stopping rule holds after epoch ``rec``, and which (``"max_epochs"`` when none)."""
    if config.loss_tol is not None and rec.loss <= config.loss_tol:
        return True, "loss_tol"
    if config.step_tol is not None and rec.step <= config.step_tol:
        return True, "step_tol"
    if config.metric_tol is not None:
        name, tol = config.metric_tol
        if name in rec.metrics and rec.metrics[name] <= tol:
            return True, "metric_tol"
    if config.patience is not None and since_best >= config.patience:
        return True, "patience"
    return False, "max_epochs"
