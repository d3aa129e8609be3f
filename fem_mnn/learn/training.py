"""Training engine: Adam on bond widths through in situ backpropagation.

The loop is model-agnostic: it only calls :func:`fem_mnn.contract.backprop_operator`
on operators from ``model.operator(widths)``, so the spring network and the FE
model train the same way.

API (stable)::

    from fem_mnn.learn import TrainConfig, train
    result = train(model, task, TrainConfig(epochs=100, lr=6e-3, batch_size=16, seed=0),
                   out_dir="run/", resume=False, progress=True)
    result.widths            # (n_bonds,) widths of the last epoch (mm)
    result.best_widths       # (n_bonds,) widths of the best epoch (lowest training loss; epoch 0 = start)
    result.history           # tuple[EpochRecord, ...], one per epoch
    result.stop_reason       # "max_epochs" | "loss_tol" | "patience" | "step_tol" | "metric_tol"

The concerns of a run live in modules of their own: the configuration and the width
parametrisation in :mod:`fem_mnn.learn.config`, the optimiser in :mod:`fem_mnn.learn.adam`,
the epoch records, the best epoch and the stopping rules in :mod:`fem_mnn.learn.state`,
checkpoints and resume in :mod:`fem_mnn.learn.checkpoint`, the history files in
:mod:`fem_mnn.learn.history`, signal handling in :mod:`fem_mnn.core.signals`. This module
holds the loop and its result.

Epoch loop (deterministic order, the basis of bitwise resume): permutation of the
training cases from the seeded generator (skipped when ``shuffle=False``), then
mini-batches in that order, one Adam step per batch, then one evaluation of all
train/test cases at the end-of-epoch widths, then stopping rules, then files.
A checkpoint is written at an epoch boundary (after the evaluation); resuming from it
replays the identical sequence of floating-point operations, so a killed and resumed run
ends with the same widths and history, bit for bit, as an uninterrupted one.

Files written to ``out_dir`` (all optional, atomically where they are replaced):
``history.csv`` (appended every epoch; rewritten from the checkpoint on resume),
``history.json`` (at checkpoints and at the end), ``checkpoint.npz`` and
``result.json`` (last and best widths, config, package version, design hash, seed, stop
reason).
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from fem_mnn.contract import Backprop, LinearOperator, MechanicalModel, backprop_operator
from fem_mnn.core.errors import InputError
from fem_mnn.core.files import atomic_write_json
from fem_mnn.core.log import get_logger
from fem_mnn.core.signals import StopOnSignal
from fem_mnn.core.version import __version__
from fem_mnn.learn.adam import Adam
from fem_mnn.learn.checkpoint import load_checkpoint, start_state
from fem_mnn.learn.config import TrainConfig, latent_gradient, paper_config, sigmoid_widths
from fem_mnn.learn.evaluate import task_metrics
from fem_mnn.learn.history import RunFiles
from fem_mnn.learn.state import BEST_CRITERION, EpochRecord, TrainState, advance, check_stop, with_start
from fem_mnn.learn.tasks import Task, require_regime

# TrainConfig, paper_config and load_checkpoint lived here before the split; they stay importable from
# this module for code written against it (their homes: fem_mnn.learn.config, fem_mnn.learn.checkpoint)
__all__ = ["TrainConfig", "TrainResult", "load_checkpoint", "paper_config", "train"]

log = get_logger(__name__)


@dataclass(frozen=True)
class TrainResult:
    """Outcome of :func:`train`.

    Attributes:
        widths: Widths of the last epoch (mm), as before this record had a best.
        initial_widths: Widths the run started from (mm).
        history: One record per epoch.
        stop_reason: Which rule ended the run (one of :data:`~fem_mnn.learn.state.STOP_REASONS`).
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

    def metrics(self, task: Task, widths: np.ndarray) -> dict[str, float]:
        # one implementation of the metrics: fem_mnn.learn.evaluate (also `fem-mnn fem evaluate`)
        return task_metrics(self.operator(widths), task)


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
    design = model.design
    w_min, w_max = float(design.geometry.width_min), float(design.geometry.width_max)
    w_init = _initial_widths(design, task, widths0)
    require_regime(task, getattr(model, "regime", "linear"))
    meta = _run_meta(model, task, config, w_init)
    out = Path(out_dir) if out_dir is not None else None
    ckpt = out / "checkpoint.npz" if out is not None else None
    rng = np.random.Generator(np.random.PCG64(config.seed))
    state, resumed_from = start_state(config, w_init, w_min, w_max, meta, rng, ckpt if resume else None)
    files = (
        RunFiles(out, ckpt, meta, config, design.n_bonds) if out is not None and ckpt is not None and write else None
    )
    if files is not None:
        files.reset_csv(state.history)
    # a model may supply its own gradient (fem_mnn.fem.morph.MorphingFemModel: the exact one)
    gradient = getattr(model, "backprop_operator", backprop_operator)
    adam = Adam(config.lr, config.beta1, config.beta2, config.eps)
    epochs = _Epochs(_Evaluator(model), gradient, task, config, adam, rng, w_min, w_max)
    if resumed_from is None:
        # evaluate the start (epochs=0 reports it; it is epoch 0 of the best-epoch choice). The
        # operator is the one the first batch uses: no extra factorisation, the same numbers.
        state = with_start(state, epochs.ev.metrics(task, state.widths))
    report = _Progress(task.name, config.epochs, progress, state.epoch)
    if resumed_from is not None:
        report.say(f"[{task.name}] resuming from epoch {resumed_from} ({ckpt})")
    stop = _signal_guard(model, report) if handle_signals else None
    state, stop_reason, signal_name = _run_epochs(epochs, state, files, report, stop_after, stop)
    result = _result(state, w_init, stop_reason, config, meta, resumed_from, signal_name)
    if stop_reason == "interrupted":  # the checkpoint is written; no result.json for an unfinished run
        return result
    return _finish(result, task, state, files, out)


def _run_meta(model: MechanicalModel, task: Task, config: TrainConfig, w_init: np.ndarray) -> dict[str, Any]:
    """What identifies a run: a checkpoint of another run (other task, design, config, ...) is refused."""
    meta = {
        "task": task.name,
        "task_hash": task.fingerprint(),
        "design_hash": model.design.hash(),
        "package_version": __version__,
        "config": config.to_dict(),
        "initial_widths": w_init.tolist(),
    }
    regime = getattr(model, "regime_info", None)
    if regime:  # a large-deformation model (and its load stepping): part of the run's identity
        meta["regime"] = dict(regime)
    robust = getattr(model, "robust", None)
    if robust:  # tolerance-aware training (fem_mnn.learn.robust): part of the run's identity
        meta["robust"] = dict(robust)
    return meta


def _signal_guard(model: MechanicalModel, report: _Progress) -> StopOnSignal:
    """SIGINT/SIGTERM stop the run after the current epoch (on every rank of an FE model's communicator)."""
    return StopOnSignal(
        getattr(model, "comm", None),
        announce=bool(report.period),
        action="stopping after the current epoch and writing a checkpoint",
    )


def _run_epochs(
    epochs: _Epochs,
    st: TrainState,
    files: RunFiles | None,
    report: _Progress,
    stop_after: int | None,
    stop: StopOnSignal | None,
) -> tuple[TrainState, str, str | None]:
    """Epochs until a stopping rule, ``config.epochs``, ``stop_after`` or a signal.

    Returns:
        The last state, the stop reason (``"interrupted"`` after ``stop_after`` or a signal,
        with the checkpoint written) and the signal's name (None when no signal stopped it).
    """
    config = epochs.config
    # a resumed run that had already met a stopping rule stops again at once
    finished, stop_reason = check_stop(config, st.history[-1], st.since_best) if st.history else (False, "max_epochs")
    try:
        if stop is not None:
            stop.install()
        while not finished and st.epoch < config.epochs:
            t_epoch = time.monotonic()
            st = epochs.run(st)
            rec = st.history[-1]
            finished, reason = check_stop(config, rec, st.since_best)
            if finished:
                stop_reason = reason
            if files is not None:
                files.append(rec)
                if config.checkpoint_every and st.epoch % config.checkpoint_every == 0:
                    files.save(st)
            report.epoch(st, finished, t_epoch)
            interrupted = stop is not None and stop.requested()
            if not finished and ((stop_after is not None and st.epoch >= stop_after) or interrupted):
                if files is not None:
                    files.save(st)
                return st, "interrupted", stop.name if interrupted and stop is not None else None
    finally:
        if stop is not None:
            stop.restore()
        if files is not None:
            files.close()
    return st, stop_reason, None


def _finish(result: TrainResult, task: Task, st: TrainState, files: RunFiles | None, out: Path | None) -> TrainResult:
    """The success criterion at the last widths (at the start when no epoch ran), then the final files."""
    last_metrics = result.final.metrics if result.final else result.initial_metrics
    result = dataclasses.replace(result, success=task.success_met(last_metrics) if last_metrics else None)
    if files is not None and out is not None:
        if not st.history:  # epochs 0: history.csv is its header alone, like a run's before its first epoch
            files.write_header(sorted(result.initial_metrics or {}))
        files.save(st)
        atomic_write_json(out / "result.json", result.to_dict())
    return result


class _Progress:
    """Progress lines to the log: every ``progress`` seconds (``True``: 2 s), and at the last epoch."""

    def __init__(self, task_name: str, max_epochs: int, progress: bool | float, epoch0: int) -> None:
        self.task_name, self.max_epochs, self.epoch0 = task_name, max_epochs, epoch0
        self.period = 2.0 if progress is True else float(progress or 0)
        self.last_print = self.t0 = time.monotonic()

    def say(self, msg: str) -> None:
        if self.period:
            log.info("%s", msg)

    def epoch(self, st: TrainState, finished: bool, t_epoch: float) -> None:
        """The line of the epoch that ended in ``st`` (if one is due)."""
        now = time.monotonic()
        last = finished or st.epoch == self.max_epochs
        if not self.period or not (now - self.last_print >= self.period or last):
            return
        self.last_print = now
        rec = st.history[-1]
        shown = ", ".join(f"{k} {v:.4g}" for k, v in sorted(rec.metrics.items()))
        per = (now - self.t0) / max(st.epoch - self.epoch0, 1)
        eta = per * (self.max_epochs - st.epoch)
        self.say(
            f"[{self.task_name}] epoch {st.epoch}/{self.max_epochs} loss {rec.loss:.4e} step {rec.step:.2e}"
            f" {shown} | {now - t_epoch:.3g} s/epoch, elapsed {_hms(now - self.t0)}"
            + ("" if last else f", ETA {_hms(eta)} (at most)")
        )


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


@dataclass(frozen=True)
class _Epochs:
    """What every epoch of a run uses: the operators, the gradient, the task, the optimiser and the generator."""

    ev: _Evaluator
    gradient: Callable[..., Backprop]
    task: Task
    config: TrainConfig
    adam: Adam
    rng: np.random.Generator
    w_min: float
    w_max: float

    def run(self, st: TrainState) -> TrainState:
        """One epoch: Adam steps over the mini-batches, then the metrics; returns the new state."""
        task, config, w_min, w_max = self.task, self.config, self.w_min, self.w_max
        adam = self.adam
        n_train = int(task.train_loads.shape[0])
        bs_nominal = n_train if not config.batch_size else int(config.batch_size)
        sigmoid = config.parametrisation == "sigmoid"
        latent, widths, adam_state = st.latent.copy(), st.widths.copy(), st.adam
        order = self.rng.permutation(n_train) if config.shuffle else np.arange(n_train)
        w_start = widths.copy()
        loss_sum, loss_paper_sum, n_batches = 0.0, 0.0, 0
        for idx in _batches(n_train, config.batch_size, order):
            bp = self.gradient(self.ev.operator(widths), task.train_loads[idx], task.loss("train", idx))
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
        rec = EpochRecord(
            epoch=st.epoch + 1,
            loss=loss_sum / n_train,
            loss_paper=loss_paper_sum / n_batches,
            step=float(np.linalg.norm(widths - w_start) / np.linalg.norm(w_start)),
            metrics=self.ev.metrics(task, widths),
            widths=tuple(widths.tolist()) if config.record_widths else (),
        )
        return advance(st, rec, config, latent, widths, adam_state, dict(self.rng.bit_generator.state))


def _batches(n: int, batch_size: int | None, order: np.ndarray) -> list[np.ndarray]:
    bs = n if not batch_size else int(batch_size)
    return [order[i : i + bs] for i in range(0, n, bs)]


def _result(
    st: TrainState,
    w_init: np.ndarray,
    reason: str,
    config: TrainConfig,
    meta: dict[str, Any],
    resumed_from: int | None,
    signal_name: str | None = None,
) -> TrainResult:
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
