"""Evaluate a design on a task under any model: the metrics training reports, the outputs, success.

One implementation for both uses: :func:`task_metrics` is what the training engine computes at
the end of every epoch (``train_loss``, ``test_loss`` and the task's metrics prefixed ``train_`` /
``test_``), and :func:`evaluate` adds the outputs, the node displacements and the task's success
criterion, for checking a trained design under another model (a spring-trained design in the FE
model of the printed lattice: ``fem-mnn fem evaluate``).

API (stable)::

    from fem_mnn.learn.evaluate import evaluate, task_metrics
    ev = evaluate(model, task, widths)     # any MechanicalModel (spring or FE)
    ev.metrics                             # {"train_loss": ..., "train_rel_error": ..., ...}
    ev.outputs["train"]                    # (n_cases, n_outputs) output components (mm)
    ev.success                             # {"metric": ..., "value": ..., "met": bool} or None
    ev.to_dict()                           # JSON-ready

Model-agnostic: only ``model.operator(widths).solve(loads)`` is called (no DOLFINx here).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from fem_mnn.contract import LinearOperator, MechanicalModel
from fem_mnn.learn.tasks import Task, require_regime

__all__ = ["Evaluation", "SPLITS", "evaluate", "evaluate_operator", "task_metrics"]

#: The data splits a task's metrics are reported for.
SPLITS = ("train", "test")
#: Node displacements are kept in :meth:`Evaluation.to_dict` up to this many cases per split.
MAX_CASES_WITH_U = 200


@dataclass(frozen=True)
class Evaluation:
    """A design's response to a task under one model.

    Attributes:
        task: The task's name.
        metrics: ``<split>_loss`` (mean case loss) and the task's metrics ``<split>_<name>``,
            exactly the keys of training's end-of-epoch metrics.
        outputs: Per split, (n_cases, n_outputs) output components (mm).
        u: Per split, (n_cases, n_nodes, 2) node displacements (mm).
        case_loss: Per split, (n_cases,) loss of every case.
        success: The task's success criterion with ``value`` and ``met`` (None without one).
        output_names: ``u_<node><x|y>`` of each output.
        targets: Per split, what each case should give, beside ``outputs``: (n_cases, n_outputs) target
            displacements (mm) for an MSE task, (n_cases,) class labels for a classification.
        case_error: Per split, each case's error: ||u_out - target|| / ||target|| for an MSE task
            (NaN for a zero target), 0 (right class: largest |output| is the label) or 1 for a
            classification.
    """

    task: str
    metrics: dict[str, float]
    outputs: dict[str, np.ndarray]
    u: dict[str, np.ndarray]
    case_loss: dict[str, np.ndarray]
    success: dict[str, Any] | None
    output_names: tuple[str, ...] = field(default=())
    targets: dict[str, np.ndarray] = field(default_factory=dict)
    case_error: dict[str, np.ndarray] = field(default_factory=dict)

    def to_dict(self, with_u: bool | None = None) -> dict[str, Any]:
        """JSON-ready record; node displacements only for splits of at most MAX_CASES_WITH_U cases
        (or as ``with_u`` says).
        """
        out: dict[str, Any] = {
            "task": self.task,
            "metrics": dict(self.metrics),
            "success": self.success,
            "output_names": list(self.output_names),
            "outputs": {s: v.tolist() for s, v in self.outputs.items()},
            "case_loss": {s: v.tolist() for s, v in self.case_loss.items()},
            "targets": {s: v.tolist() for s, v in self.targets.items()},
            "case_error": {
                s: [None if not np.isfinite(e) else float(e) for e in v] for s, v in self.case_error.items()
            },
        }
        keep = {s: (v.shape[0] <= MAX_CASES_WITH_U) if with_u is None else with_u for s, v in self.u.items()}
        out["u"] = {s: v.tolist() for s, v in self.u.items() if keep[s]}
        return out


def _split_loads(task: Task, split: str) -> np.ndarray:
    return task.train_loads if split == "train" else task.test_loads


def _solve_splits(op: LinearOperator, task: Task) -> Iterator[tuple[str, np.ndarray, np.ndarray]]:
    """Yield (split, u, case_loss) for every non-empty split."""
    for split in SPLITS:
        loads = _split_loads(task, split)
        if loads.shape[0] == 0:
            continue
        u = op.solve(loads).u
        case_loss, _ = task.loss(split, np.arange(loads.shape[0]))(u)
        yield split, u, np.asarray(case_loss, dtype=float)


def task_metrics(op: LinearOperator, task: Task) -> dict[str, float]:
    """The end-of-epoch metrics of training on a factorised operator (both splits, every case)."""
    out: dict[str, float] = {}
    for split, u, case_loss in _solve_splits(op, task):
        out[f"{split}_loss"] = float(np.mean(case_loss))
        for k, v in task.metrics(split, u).items():
            out[f"{split}_{k}"] = float(v)
    return out


def evaluate_operator(op: LinearOperator, task: Task) -> Evaluation:
    """Metrics, outputs, displacements and success of a task on a factorised operator.

    Raises:
        InputError: a nonlinear task on a linear operator (:func:`~fem_mnn.learn.tasks.require_regime`).
    """
    require_regime(task, getattr(op, "regime", "linear"))
    metrics: dict[str, float] = {}
    outputs: dict[str, np.ndarray] = {}
    us: dict[str, np.ndarray] = {}
    losses: dict[str, np.ndarray] = {}
    targets: dict[str, np.ndarray] = {}
    errors: dict[str, np.ndarray] = {}
    for split, u, case_loss in _solve_splits(op, task):
        metrics[f"{split}_loss"] = float(np.mean(case_loss))
        for k, v in task.metrics(split, u).items():
            metrics[f"{split}_{k}"] = float(v)
        outputs[split] = task.output_values(u)
        us[split] = np.asarray(u, dtype=float)
        losses[split] = case_loss
        targets[split], errors[split] = _case_errors(task, split, outputs[split])
    names = tuple(f"u_{o.node}{'xy'[o.component]}" for o in task.outputs)
    return Evaluation(task.name, metrics, outputs, us, losses, task.success_met(metrics), names, targets, errors)


def _case_errors(task: Task, split: str, vals: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(targets, per-case error) of ``split``, the quantities the task's metric averages."""
    t = task.train_targets if split == "train" else task.test_targets
    if task.kind == "mse" and t is not None:
        num = np.linalg.norm(vals - t, axis=1)
        den = np.linalg.norm(t, axis=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.asarray(t, dtype=float), np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)
    labels = task.train_labels if split == "train" else task.test_labels
    if labels is None:
        return np.zeros((vals.shape[0], 0)), np.full(vals.shape[0], np.nan)
    wrong = np.argmax(np.abs(vals), axis=1) != np.asarray(labels)
    return np.asarray(labels, dtype=int), wrong.astype(float)


def evaluate(model: MechanicalModel, task: Task, widths: np.ndarray | None = None) -> Evaluation:
    """Evaluate ``task`` on ``model`` at ``widths`` (default: the design's); collective for an FE model."""
    w = None if widths is None else np.asarray(widths, dtype=float)
    return evaluate_operator(model.operator(w), task)
