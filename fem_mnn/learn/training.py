"""Training engine: Adam on bond widths through in situ backpropagation.

The loop is model-agnostic: it only calls :func:`fem_mnn.contract.backprop_operator`
on operators from ``model.operator(widths)``, so the spring network and the FE
model train the same way.

API (stable)::

    from fem_mnn.learn.training import TrainConfig, train
    result = train(model, task, TrainConfig(epochs=100, lr=6e-3, batch_size=16, seed=0),
                   out_dir="run/", resume=False, progress=True)
    result.widths            # (n_bonds,) widths of the last epoch (mm)
    result.best_widths       # (n_bonds,) widths of the best epoch (lowest training loss; epoch 0 = start)
    result.history           # tuple[EpochRecord, ...], one per epoch
    result.stop_reason       # "max_epochs" | "loss_tol" | "patience" | "step_tol" | "metric_tol"

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

Epoch loop (deterministic order, the basis of bitwise resume): permutation of the
training cases from the seeded generator (skipped when ``shuffle=False``), then
mini-batches in that order, one Adam step per batch, then one evaluation of all
train/test cases at the end-of-epoch widths, then stopping rules, then files.
A checkpoint is written at an epoch boundary (after the evaluation), holding the
latent variable, widths, Adam moments and step count, the epoch, the generator's
``bit_generator.state`` and the history so far. Resuming replays the identical
sequence of floating-point operations, so a killed and resumed run ends with the
same widths and history, bit for bit, as an uninterrupted one.

Best epoch: before the first epoch the start widths are evaluated (so ``epochs=0``
evaluates the start); after every epoch the end-of-epoch ``train_loss`` (the mean loss
of every training case at the widths the epoch ended with, :data:`BEST_CRITERION`) is
compared with the best so far, and the widths with the lowest one are kept beside the
last epoch's (ties keep the earlier epoch). The task format has a train and a test split
and no validation split, so the choice is made on the training split; the test split
never enters it. The best is part of the checkpoint (a resumed run keeps it).

Files written to ``out_dir`` (all optional, atomically where they are replaced):
``history.csv`` (appended every epoch; rewritten from the checkpoint on resume),
``history.json`` (at checkpoints and at the end), ``checkpoint.npz`` and
``result.json`` (last and best widths, config, package version, design hash, seed, stop
reason).
"""

from __future__ import annotations

import dataclasses
import io
import json
import math
import os
import time
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from fem_mnn.contract import Backprop, LinearOperator, MechanicalModel, backprop_operator
from fem_mnn.core.errors import InputError
from fem_mnn.core.files import atomic_path, atomic_write_json, atomic_write_text
from fem_mnn.core.log import get_logger
from fem_mnn.core.signals import StopOnSignal
from fem_mnn.core.version import __version__
from fem_mnn.learn.evaluate import task_metrics
from fem_mnn.learn.tasks import Task

__all__ = [
    "Adam",
    "AdamState",
    "EpochRecord",
    "PAPER_SETTINGS",
    "TrainConfig",
    "TrainResult",
    "TrainState",
    "BEST_CRITERION",
    "latent_from_widths",
    "latent_gradient",
    "load_checkpoint",
    "paper_config",
    "sigmoid_widths",
    "train",
]

log = get_logger(__name__)

CHECKPOINT_FORMAT = "fem_mnn.learn.training.checkpoint/1"
STOP_REASONS = ("max_epochs", "loss_tol", "patience", "step_tol", "metric_tol", "interrupted")

#: The metric that picks the best epoch: the mean loss over every training case at the
#: epoch's end widths (lower is better). Never a test metric: the test split must not
#: choose the widths it is then used to judge.
BEST_CRITERION = "train_loss"

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


# -------------------------------------------------------------------------- Adam


@dataclass(frozen=True)
class AdamState:
    """Adam moments and step count (t = number of steps taken)."""

    m: np.ndarray
    v: np.ndarray
    t: int


class Adam:
    """Adam (Kingma & Ba) in the paper's form: x -= lr m_hat / (sqrt(v_hat) + eps).

    Args:
        lr: Step size.
        beta1: First-moment decay.
        beta2: Second-moment decay.
        eps: Added to sqrt(v_hat).
    """

    def __init__(self, lr: float, beta1: float = 0.9, beta2: float = 0.999, eps: float = 1.4901161193847656e-08):
        self.lr, self.beta1, self.beta2, self.eps = lr, beta1, beta2, eps

    @staticmethod
    def init(n: int) -> AdamState:
        return AdamState(m=np.zeros(n), v=np.zeros(n), t=0)

    def step(self, x: np.ndarray, grad: np.ndarray, state: AdamState) -> tuple[np.ndarray, AdamState]:
        """One step; returns the new point and state (inputs are not modified)."""
        t = state.t + 1
        m = self.beta1 * state.m + (1.0 - self.beta1) * grad
        v = self.beta2 * state.v + (1.0 - self.beta2) * (grad * grad)
        m_hat = m / (1.0 - self.beta1**t)
        v_hat = v / (1.0 - self.beta2**t)
        return x - self.lr * m_hat / (np.sqrt(v_hat) + self.eps), AdamState(m=m, v=v, t=t)


# ----------------------------------------------------------------------- records


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


def _better(value: float | None, best: float) -> bool:
    """Whether ``value`` beats ``best`` (strictly lower; a finite value beats NaN; NaN never wins)."""
    if value is None or math.isnan(value):
        return False
    return math.isnan(best) or value < best


@dataclass(frozen=True)
class TrainResult:
    """Outcome of :func:`train`.

    Attributes:
        widths: Widths of the last epoch (mm), as before this record had a best.
        initial_widths: Widths the run started from (mm).
        history: One record per epoch.
        stop_reason: Which rule ended the run (one of ``STOP_REASONS``).
        epochs: Epochs run in total (including those before a resume).
        config: The configuration.
        task: The task's name.
        design_hash: ``design.hash()`` of the starting design.
        package_version: fem_mnn version that produced it.
        resumed_from: Epoch of the checkpoint the run resumed from (None if fresh).
        task_hash: :meth:`~fem_mnn.learn.tasks.Task.fingerprint` of the task (its loads, targets, labels).
        success: The task's success criterion with the final ``value`` and ``met`` (None without one).
        signal: The signal that interrupted the run (``"SIGINT"``/``"SIGTERM"``), else None.
        best_epoch: Epoch with the lowest :data:`BEST_CRITERION` (0 = the start widths).
        best_widths: Its widths (mm).
        best_value: Its :data:`BEST_CRITERION` value.
        initial_metrics: Metrics at the start widths (None when resumed from an old checkpoint).
    """

    widths: np.ndarray
    initial_widths: np.ndarray
    history: tuple[EpochRecord, ...]
    stop_reason: str
    epochs: int
    config: TrainConfig
    task: str
    design_hash: str
    package_version: str
    resumed_from: int | None = None
    task_hash: str = ""
    success: dict[str, Any] | None = None
    signal: str | None = None
    best_epoch: int = 0
    best_widths: np.ndarray | None = None
    best_value: float = math.nan
    initial_metrics: dict[str, float] | None = None

    @property
    def final(self) -> EpochRecord | None:
        return self.history[-1] if self.history else None

    @property
    def best_metrics(self) -> dict[str, float] | None:
        """All metrics at the best epoch's widths (reported only; the choice used :data:`BEST_CRITERION`)."""
        if self.best_epoch == 0:
            return self.initial_metrics
        for rec in self.history:
            if rec.epoch == self.best_epoch:
                return dict(rec.metrics)
        return None

    def best(self) -> dict[str, Any]:
        """Which epoch is best, by what, and its metrics (JSON-ready)."""
        return {
            "epoch": self.best_epoch,
            "criterion": BEST_CRITERION,
            "split": "train",
            "rule": "lowest end-of-epoch loss over all training cases; epoch 0 = the start widths; "
            "ties keep the earlier epoch; the test split is never used",
            "value": self.best_value,
            "metrics": self.best_metrics,
        }

    def series(self, key: str) -> np.ndarray:
        """History of ``loss``, ``loss_paper``, ``step`` or a metric, as an array."""
        if key in ("loss", "loss_paper", "step"):
            return np.array([getattr(r, key) for r in self.history])
        return np.array([r.metrics.get(key, np.nan) for r in self.history])

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary (without the per-epoch history)."""
        fin = self.final
        return {
            "task": self.task,
            "task_hash": self.task_hash,
            "package_version": self.package_version,
            "design_hash": self.design_hash,
            "seed": self.config.seed,
            "config": self.config.to_dict(),
            "epochs": self.epochs,
            "stop_reason": self.stop_reason,
            "resumed_from": self.resumed_from,
            "success": self.success,
            "initial_widths": self.initial_widths.tolist(),
            "initial_metrics": self.initial_metrics,
            "widths": self.widths.tolist(),
            "widths_last": self.widths.tolist(),
            "last_epoch": self.epochs,
            "widths_best": None if self.best_widths is None else self.best_widths.tolist(),
            "best_epoch": self.best_epoch,
            "best": self.best(),
            "final": fin.to_dict() if fin is not None else None,
        }


# ------------------------------------------------------------------- checkpoints


def _history_json(history: Sequence[EpochRecord]) -> str:
    # plain json (allow_nan) round-trips every float exactly: needed for bitwise resume
    return json.dumps([r.to_dict() for r in history])


def _save_checkpoint(path: Path, state: TrainState, meta: dict[str, Any]) -> None:
    header = dict(meta)
    header.update(
        format=CHECKPOINT_FORMAT,
        epoch=state.epoch,
        adam_t=state.adam.t,
        rng_state=state.rng_state,
        best_loss=state.best_loss,
        since_best=state.since_best,
        best_epoch=state.best_epoch,
        best_value=state.best_value,
        initial_metrics=state.initial_metrics,
    )
    buf = io.BytesIO()
    np.savez(
        buf,
        latent=state.latent,
        widths=state.widths,
        best_widths=state.widths if state.best_widths is None else state.best_widths,
        adam_m=state.adam.m,
        adam_v=state.adam.v,
        header=np.array(json.dumps(header)),
        history=np.array(_history_json(state.history)),
    )
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            fh.write(buf.getvalue())
            fh.flush()
            os.fsync(fh.fileno())


def load_checkpoint(path: str | Path) -> tuple[TrainState, dict[str, Any]]:
    """Read a checkpoint written by :func:`train`; returns (state, header).

    Raises:
        InputError: missing or unreadable file, or not a training checkpoint.
    """
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as z:
            header = json.loads(str(z["header"]))
            history = tuple(EpochRecord.from_dict(d) for d in json.loads(str(z["history"])))
            state = TrainState(
                epoch=int(header["epoch"]),
                latent=np.array(z["latent"]),
                widths=np.array(z["widths"]),
                adam=AdamState(m=np.array(z["adam_m"]), v=np.array(z["adam_v"]), t=int(header["adam_t"])),
                rng_state=header["rng_state"],
                history=history,
                best_loss=float(header["best_loss"]),
                since_best=int(header["since_best"]),
            )
            state = _with_best(state, header, np.array(z["best_widths"]) if "best_widths" in z.files else None)
    except FileNotFoundError:
        raise InputError("no checkpoint to resume from", source=str(path)) from None
    except (OSError, KeyError, ValueError, TypeError, EOFError, zipfile.BadZipFile) as exc:  # torn, foreign, garbage
        raise InputError(f"not a readable training checkpoint ({exc.__class__.__name__})", source=str(path)) from None
    if header.get("format") != CHECKPOINT_FORMAT:
        raise InputError("unknown checkpoint format", source=str(path), field="format", value=header.get("format"))
    return state, header


def _with_best(state: TrainState, header: dict[str, Any], best_widths: np.ndarray | None) -> TrainState:
    """The checkpoint's best epoch; for a checkpoint written before it was kept, the best recorded epoch."""
    if best_widths is not None and "best_epoch" in header:
        return dataclasses.replace(
            state,
            best_epoch=int(header["best_epoch"]),
            best_widths=best_widths,
            best_value=float(header["best_value"]),
            initial_metrics=header.get("initial_metrics"),
        )
    # older checkpoint: the start was not evaluated; pick among the epochs whose widths were recorded
    best = (state.epoch, state.widths, math.nan)
    for rec in state.history:
        value = rec.metrics.get(BEST_CRITERION)
        if rec.widths and _better(value, best[2]):
            best = (rec.epoch, np.array(rec.widths), float(value))
    return dataclasses.replace(state, best_epoch=best[0], best_widths=best[1], best_value=best[2])


# -------------------------------------------------------------------- history files


def _csv_columns(metric_names: Sequence[str], n_bonds: int, with_widths: bool) -> list[str]:
    cols = ["epoch", "loss", "loss_paper", "step", *metric_names]
    if with_widths:
        cols += [f"w{b}" for b in range(n_bonds)]
    return cols


def _csv_line(rec: EpochRecord, metric_names: Sequence[str], with_widths: bool) -> str:
    vals = [str(rec.epoch), repr(rec.loss), repr(rec.loss_paper), repr(rec.step)]
    vals += [repr(rec.metrics.get(k, float("nan"))) for k in metric_names]
    if with_widths:
        vals += [repr(w) for w in rec.widths]
    return ",".join(vals) + "\n"


# ------------------------------------------------------------------------- engine


class _Evaluator:
    """Builds operators and keeps the last one, so evaluation and the next batch share a factorisation."""

    def __init__(self, model: MechanicalModel) -> None:
        self.model = model
        self._key: bytes | None = None
        self._op: LinearOperator | None = None

    def operator(self, widths: np.ndarray) -> LinearOperator:
        key = np.ascontiguousarray(widths, dtype=float).tobytes()
        if key != self._key or self._op is None:
            self._op = self.model.operator(np.array(widths, dtype=float))
            self._key = key
        return self._op


def _evaluate(ev: _Evaluator, task: Task, widths: np.ndarray) -> dict[str, float]:
    # one implementation of the metrics: fem_mnn.learn.evaluate (also `fem-mnn fem evaluate`)
    return task_metrics(ev.operator(widths), task)


def _batches(n: int, batch_size: int | None, order: np.ndarray) -> list[np.ndarray]:
    bs = n if not batch_size else int(batch_size)
    return [order[i : i + bs] for i in range(0, n, bs)]


def _progress(msg: str) -> None:
    log.info("%s", msg)


def train(
    model: MechanicalModel,
    task: Task,
    config: TrainConfig,
    *,
    widths0: np.ndarray | None = None,
    out_dir: str | Path | None = None,
    resume: bool = False,
    progress: bool | float = False,
    stop_after: int | None = None,
    write: bool = True,
    handle_signals: bool = False,
) -> TrainResult:
    """Train the bond widths of ``model.design`` on ``task``.

    Args:
        model: Any :class:`~fem_mnn.contract.MechanicalModel` (spring or FE).
        task: Load cases, losses and metrics (:mod:`fem_mnn.learn.tasks`).
        config: Optimiser, parametrisation and stopping rules.
        widths0: Starting widths (default: the design's).
        out_dir: Folder for history, checkpoints and the result; None = no files.
        resume: Continue from ``out_dir/checkpoint.npz`` (fresh start when absent).
        progress: Print progress to stderr: ``True`` every ~2 s, a number = every
            that many seconds, ``False`` = silent.
        stop_after: Return after this epoch without finishing (writes a checkpoint
            when ``out_dir`` is given); used to test kill-and-resume in process.
        write: Write files into ``out_dir``. Under MPI pass ``comm.rank == 0``: every
            rank then reads the checkpoint on resume (and so continues from the same
            state) but only rank 0 writes. With an FE model the call is collective.
        handle_signals: Catch SIGINT/SIGTERM (main thread only): the run stops at the
            end of the current epoch, writes a checkpoint (with ``out_dir``) and returns
            with ``stop_reason == "interrupted"`` and ``signal`` set; a second signal
            raises KeyboardInterrupt at once. The CLI turns this into exit code 130.

    Returns:
        The final widths and the per-epoch history.

    Raises:
        InputError: bad configuration, or a checkpoint that belongs to another run.
    """

    design = model.design
    w_min, w_max = float(design.geometry.width_min), float(design.geometry.width_max)
    w_init = _initial_widths(design, task, widths0)
    out = Path(out_dir) if out_dir is not None else None
    meta = {
        "task": task.name,
        "task_hash": task.fingerprint(),
        "design_hash": design.hash(),
        "package_version": __version__,
        "config": config.to_dict(),
        "initial_widths": w_init.tolist(),
    }
    if getattr(model, "robust", None):  # tolerance-aware training (fem_mnn.learn.robust): part of the run's identity
        meta["robust"] = dict(model.robust)
    adam = Adam(config.lr, config.beta1, config.beta2, config.eps)
    rng = np.random.Generator(np.random.PCG64(config.seed))
    ckpt = out / "checkpoint.npz" if out is not None else None
    state, resumed_from = _start_state(config, w_init, w_min, w_max, meta, rng, ckpt if resume else None)
    files = _RunFiles(out, ckpt, meta, config, design.n_bonds) if out is not None and write else None
    if files is not None:
        files.reset_csv(state.history)

    ev = _Evaluator(model)
    # a model may supply its own gradient (fem_mnn.fem.morph.MorphingFemModel: the exact one)
    gradient = getattr(model, "backprop_operator", backprop_operator)
    if resumed_from is None:
        # evaluate the start (epochs=0 reports it; it is epoch 0 of the best-epoch choice). The
        # operator is the one the first batch uses: no extra factorisation, the same numbers.
        m0 = _evaluate(ev, task, state.widths)
        state = dataclasses.replace(
            state,
            initial_metrics=m0,
            best_epoch=0,
            best_widths=state.widths.copy(),
            best_value=float(m0.get(BEST_CRITERION, math.nan)),
        )
    st = state
    stop_reason = "max_epochs"
    finished = False
    if st.history:
        # a resumed run that had already met a stopping rule stops again at once
        finished, stop_reason = _check_stop(config, st.history[-1], st.since_best)
    period = 2.0 if progress is True else float(progress or 0)
    last_print = t0 = time.monotonic()
    epoch0 = st.epoch
    if period and resumed_from is not None:
        _progress(f"[{task.name}] resuming from epoch {resumed_from} ({ckpt})")
    comm = getattr(model, "comm", None)
    stop = (
        StopOnSignal(comm, announce=bool(period), action="stopping after the current epoch and writing a checkpoint")
        if handle_signals
        else None
    )
    try:
        if stop is not None:
            stop.install()
        while not finished and st.epoch < config.epochs:
            t_epoch = time.monotonic()
            st = _run_epoch(st, ev, gradient, task, config, adam, rng, w_min, w_max)
            rec = st.history[-1]
            finished, reason = _check_stop(config, rec, st.since_best)
            if finished:
                stop_reason = reason
            if files is not None:
                files.append(rec)
                if config.checkpoint_every and st.epoch % config.checkpoint_every == 0:
                    files.save(st)
            now = time.monotonic()
            if period and (now - last_print >= period or finished or st.epoch == config.epochs):
                last_print = now
                shown = ", ".join(f"{k} {v:.4g}" for k, v in sorted(rec.metrics.items()))
                per = (now - t0) / max(st.epoch - epoch0, 1)
                eta = per * (config.epochs - st.epoch)
                _progress(
                    f"[{task.name}] epoch {st.epoch}/{config.epochs} loss {rec.loss:.4e} step {rec.step:.2e}"
                    f" {shown} | {now - t_epoch:.3g} s/epoch, elapsed {_hms(now - t0)}"
                    + ("" if finished or st.epoch == config.epochs else f", ETA {_hms(eta)} (at most)")
                )
            interrupted = stop is not None and stop.requested()
            if (stop_after is not None and st.epoch >= stop_after and not finished) or (interrupted and not finished):
                if files is not None:
                    files.save(st)
                return _result(
                    st,
                    w_init,
                    "interrupted",
                    config,
                    meta,
                    resumed_from,
                    signal_name=stop.name if interrupted else None,
                )
    finally:
        if stop is not None:
            stop.restore()
        if files is not None:
            files.close()

    result = _result(st, w_init, stop_reason, config, meta, resumed_from)
    # the success criterion at the last widths (at the start when no epoch ran)
    last_metrics = result.final.metrics if result.final else result.initial_metrics
    result = dataclasses.replace(result, success=task.success_met(last_metrics) if last_metrics else None)
    if files is not None:
        if not st.history:  # epochs 0: history.csv is its header alone, like a run's before its first epoch
            files.write_header(sorted(result.initial_metrics or {}))
        files.save(st)
        atomic_write_json(out / "result.json", result.to_dict())
    return result


def _hms(seconds: float) -> str:
    seconds = max(0.0, float(seconds))
    if seconds < 60:
        return f"{seconds:.1f} s"
    m, s = divmod(int(round(seconds)), 60)
    h, m = divmod(m, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def _initial_widths(design: Any, task: Task, widths0: np.ndarray | None) -> np.ndarray:
    """The starting widths, after checking that the task fits the design."""
    n_train = int(task.train_loads.shape[0])
    if n_train == 0:
        raise InputError("the task has no training case", field="task", value=task.name)
    if task.train_loads.shape[1] != design.n_nodes:
        raise InputError(
            f"the task's loads are for {task.train_loads.shape[1]} nodes, the design has {design.n_nodes}",
            field="task",
            value=task.name,
        )
    w_init = np.array(design.widths if widths0 is None else widths0, dtype=float)
    if w_init.shape != (design.n_bonds,):
        raise InputError(f"needs {design.n_bonds} widths", field="widths0", value=w_init.shape)
    return w_init


def _start_state(
    config: TrainConfig,
    w_init: np.ndarray,
    w_min: float,
    w_max: float,
    meta: dict[str, Any],
    rng: np.random.Generator,
    ckpt: Path | None,
) -> tuple[TrainState, int | None]:
    """The state to start from: the checkpoint's (when ``ckpt`` exists and belongs to this run), else a fresh one.

    Sets ``rng`` to the checkpoint's generator state on resume.
    """
    if ckpt is not None and ckpt.exists():
        state, header = load_checkpoint(ckpt)
        for key in ("task", "task_hash", "design_hash", "config", "initial_widths", "robust"):
            if _comparable(key, header.get(key)) != _comparable(key, json.loads(json.dumps(meta.get(key)))):
                raise InputError(
                    "the checkpoint belongs to another run (different " + key + ")", source=str(ckpt), field=key
                )
        rng.bit_generator.state = state.rng_state
        return state, state.epoch
    sigmoid = config.parametrisation == "sigmoid"
    latent = latent_from_widths(w_init, w_min, w_max, config.beta) if sigmoid else np.clip(w_init, w_min, w_max)
    widths = sigmoid_widths(latent, w_min, w_max, config.beta)[0] if sigmoid else latent.copy()
    state = TrainState(
        epoch=0,
        latent=latent,
        widths=widths,
        adam=Adam.init(w_init.size),
        rng_state=rng.bit_generator.state,
        history=(),
        best_loss=math.inf,
        since_best=0,
    )
    return state, None


def _run_epoch(
    st: TrainState,
    ev: _Evaluator,
    gradient: Any,
    task: Task,
    config: TrainConfig,
    adam: Adam,
    rng: np.random.Generator,
    w_min: float,
    w_max: float,
) -> TrainState:
    """One epoch: Adam steps over the mini-batches, then the metrics; returns the new state."""
    n_train = int(task.train_loads.shape[0])
    bs_nominal = n_train if not config.batch_size else int(config.batch_size)
    sigmoid = config.parametrisation == "sigmoid"
    latent, widths, adam_state = st.latent.copy(), st.widths.copy(), st.adam
    order = rng.permutation(n_train) if config.shuffle else np.arange(n_train)
    w_start = widths.copy()
    loss_sum, loss_paper_sum, n_batches = 0.0, 0.0, 0
    for idx in _batches(n_train, config.batch_size, order):
        op = ev.operator(widths)
        bp: Backprop = gradient(op, task.train_loads[idx], task.loss("train", idx))
        loss_sum += float(np.sum(bp.case_loss))
        loss_paper_sum += float(np.sum(bp.case_loss)) * task.loss_si_scale / bs_nominal
        n_batches += 1
        g = latent_gradient(config, bp, latent, w_min, w_max, task.loss_si_scale)
        latent, adam_state = adam.step(latent, g, adam_state)
        if sigmoid:
            widths = sigmoid_widths(latent, w_min, w_max, config.beta)[0]
        else:
            latent = np.clip(latent, w_min, w_max)
            widths = latent.copy()
    step = float(np.linalg.norm(widths - w_start) / np.linalg.norm(w_start))
    metrics = _evaluate(ev, task, widths)
    rec = EpochRecord(
        epoch=st.epoch + 1,
        loss=loss_sum / n_train,
        loss_paper=loss_paper_sum / n_batches,
        step=step,
        metrics=metrics,
        widths=tuple(widths.tolist()) if config.record_widths else (),
    )
    best_loss, since_best = st.best_loss, st.since_best
    if rec.loss < best_loss * (1.0 - config.min_delta) or not math.isfinite(best_loss):
        best_loss, since_best = rec.loss, 0
    else:
        since_best += 1
    # the best epoch, on the training split only (patience above uses the batch-mean loss, as the paper)
    best = (st.best_epoch, st.best_widths, st.best_value)
    if _better(metrics.get(BEST_CRITERION), st.best_value) or st.best_widths is None:
        best = (rec.epoch, widths.copy(), float(metrics.get(BEST_CRITERION, math.nan)))
    return TrainState(
        epoch=rec.epoch,
        latent=latent,
        widths=widths,
        adam=adam_state,
        rng_state=rng.bit_generator.state,
        history=(*st.history, rec),
        best_loss=best_loss,
        since_best=since_best,
        best_epoch=best[0],
        best_widths=best[1],
        best_value=best[2],
        initial_metrics=st.initial_metrics,
    )


class _RunFiles:
    """The files of a training run in ``out``: history.csv (appended per epoch), history.json and the checkpoint."""

    def __init__(self, out: Path, ckpt: Path, meta: dict[str, Any], config: TrainConfig, n_bonds: int) -> None:
        self.out, self.ckpt, self.meta, self.config, self.n_bonds = out, ckpt, meta, config, n_bonds
        self.csv_path = out / "history.csv"
        self.metric_names: list[str] | None = None
        self._fh: Any = None
        out.mkdir(parents=True, exist_ok=True)

    def reset_csv(self, history: tuple[EpochRecord, ...]) -> None:
        """Rewrite history.csv from the checkpoint's history (drops lines written after it), or remove it."""
        if history:
            self.metric_names = sorted(history[0].metrics)
            cols = _csv_columns(self.metric_names, self.n_bonds, self.config.record_widths)
            lines = "".join(_csv_line(r, self.metric_names, self.config.record_widths) for r in history)
            atomic_write_text(self.csv_path, ",".join(cols) + "\n" + lines)
        elif self.csv_path.exists():
            self.csv_path.unlink()

    def write_header(self, metric_names: list[str]) -> None:
        """history.csv with its header line only (no epoch ran)."""
        cols = _csv_columns(metric_names, self.n_bonds, self.config.record_widths)
        atomic_write_text(self.csv_path, ",".join(cols) + "\n")

    def append(self, rec: EpochRecord) -> None:
        if self.metric_names is None:
            self.metric_names = sorted(rec.metrics)
        if self._fh is None:
            new = not self.csv_path.exists()
            self._fh = open(self.csv_path, "a")  # noqa: SIM115 - kept open for the run
            if new:
                self._fh.write(
                    ",".join(_csv_columns(self.metric_names, self.n_bonds, self.config.record_widths)) + "\n"
                )
        self._fh.write(_csv_line(rec, self.metric_names, self.config.record_widths))
        self._fh.flush()

    def save(self, st: TrainState) -> None:
        """Checkpoint and history.json of state ``st`` (atomic)."""
        _save_checkpoint(self.ckpt, st, self.meta)
        text = "[" + ",\n".join(json.dumps(r.to_dict()) for r in st.history) + "]\n"
        atomic_write_text(self.out / "history.json", text)

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()


def _comparable(key: str, value: Any) -> Any:
    # epochs and the checkpoint period may change on resume: neither alters the numbers of the epochs run
    if key == "config" and isinstance(value, dict):
        return {k: v for k, v in value.items() if k not in ("epochs", "checkpoint_every")}
    return value


def _check_stop(config: TrainConfig, rec: EpochRecord, since_best: int) -> tuple[bool, str]:
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


def _result(st: TrainState, w_init, reason, config, meta, resumed_from, signal_name=None) -> TrainResult:
    return TrainResult(
        signal=signal_name,
        widths=np.array(st.widths),
        initial_widths=np.array(w_init),
        history=tuple(st.history),
        stop_reason=reason,
        epochs=st.epoch,
        best_epoch=st.best_epoch,
        best_widths=None if st.best_widths is None else np.array(st.best_widths),
        best_value=st.best_value,
        initial_metrics=st.initial_metrics,
        config=config,
        task=meta["task"],
        design_hash=meta["design_hash"],
        package_version=meta["package_version"],
        resumed_from=resumed_from,
        task_hash=meta["task_hash"],
    )


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
