"""Shared pieces of the Iris and retraining studies (Figures 4 and 5).

A :class:`Variant` names one way of training (optimiser settings and loss
normalisation); a :class:`Chain` one retraining recipe of Figure 5 (:data:`CHAINS`, used by
``fig5_retraining`` and ``transfer``); :func:`run_task` trains one split and returns a small,
picklable :class:`Run`; :func:`run_many` spreads runs over worker processes. Plain records and
orchestration only: the numerics are the package's.
"""

from __future__ import annotations

import dataclasses
import os
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np

from fem_mnn.design import Design
from fem_mnn.fem.load_basis import LoadBasisModel
from fem_mnn.learn import TrainConfig, TrainResult, paper_config, train
from fem_mnn.learn.tasks import Task, iris

__all__ = [
    "CHAINS",
    "FE_LR",
    "Chain",
    "Run",
    "Variant",
    "fe_config",
    "fe_models",
    "iris_task",
    "log",
    "run_many",
    "run_task",
    "summarise",
    "worker_count",
]


def log(name: str, msg: str) -> None:
    """Progress line on stderr."""
    print(f"[{name}] {msg}", file=sys.stderr, flush=True)


@dataclass(frozen=True)
class Variant:
    """One training recipe.

    Attributes:
        key: Short identifier (JSON key, plot label).
        label: What it is, for tables.
        config: TrainConfig fields (epochs, lr, beta, paper_gradient, parametrisation...).
        normalisation: Cross-entropy normalisation, "linear" (paper) or "softmax".
        softmax_scale: Displacement scale of the softmax (mm).
    """

    key: str
    label: str
    config: dict[str, Any] = field(default_factory=dict)
    normalisation: str = "linear"
    softmax_scale: float = 0.05

    def train_config(self, seed: int, **override: Any) -> TrainConfig:
        kw = {"epochs": 100, "lr": 6e-3, "batch_size": 16, "beta": 5.0, "record_widths": False, "seed": seed}
        kw.update(self.config)
        kw.update(override)
        return TrainConfig(**kw)


@dataclass(frozen=True)
class Chain:
    """A retraining recipe: the Iris variant and the regression settings."""

    key: str
    label: str
    iris: Variant
    regression: dict[str, Any] = field(default_factory=dict)
    reachable_target: bool = False


#: The retraining recipes of Figure 5 (faithful first: the chain `transfer` reproduces on springs).
CHAINS = (
    Chain(
        "faithful",
        "authors' code (dL/dk in SI to the sigmoid latent; linear CE)",
        Variant("faithful", "", {"paper_gradient": True}),
        {"lr": 0.1, "beta": 10.0, "paper_gradient": True},
    ),
    Chain(
        "clip+softmax",
        "Adam on widths with projection; softmax CE (0.05 mm); Iris step 2e-2, regression step 1e-2",
        Variant("clip+softmax", "", {"lr": 2e-2, "parametrisation": "clip"}, "softmax", 0.05),
        {"lr": 1e-2, "parametrisation": "clip"},
    ),
    Chain(
        "faithful, reachable regression",
        "authors' code; regression target = compliance of a teacher lattice (random widths in range)",
        Variant("faithful", "", {"paper_gradient": True}),
        {"lr": 0.1, "beta": 10.0, "paper_gradient": True},
        reachable_target=True,
    ),
)


class Run(NamedTuple):
    """What a study keeps of one training run."""

    variant: str
    split: int
    train_acc: np.ndarray
    """(epochs,) end-of-epoch training accuracy (or the task's metric)."""
    test_acc: np.ndarray
    loss_paper: np.ndarray
    """(epochs,) the authors' logged loss (batch sums / 16, SI)."""
    loss: np.ndarray
    """(epochs,) mean case loss."""
    widths: np.ndarray
    """(n_bonds,) final widths (mm)."""


def iris_task(design: Design, split: int, variant: Variant) -> Task:
    """The paper's Iris task on ``design`` for split seed ``split``, with the variant's normalisation."""
    task = iris(design, seed=split, normalisation=variant.normalisation)
    return dataclasses.replace(task, softmax_scale=variant.softmax_scale)


def run_task(
    model: Any, task: Task, config: TrainConfig, variant: str, split: int, widths0: np.ndarray | None = None
) -> Run:
    """Train and keep the curves; metric ``accuracy`` (Iris) or ``1 - rel_error`` (regression)."""
    res: TrainResult = train(model, task, config, widths0=widths0)
    if task.kind == "mse":
        tr = 1.0 - res.series("train_rel_error")
        te = 1.0 - res.series("test_rel_error")
    else:
        tr, te = res.series("train_accuracy"), res.series("test_accuracy")
    return Run(variant, split, tr, te, res.series("loss_paper"), res.series("loss"), res.widths)


# ------------------------------------------------------------------ FE training (transfer, tolerance)

#: FE optimiser: Adam on the widths (mm), projected onto the printable range (transfer's workflows (b)-(d)).
FE_LR = 0.02


def fe_models(design: Any, degree: int, elements_across: int, size: float | None = None) -> dict[str, Any]:
    """Morphing FE models with the exact and the in situ gradient (serial, fixed element size).

    ``size``: the element size (default: ``elements_across`` elements across the design's thinnest
    thin end); a cut design gets the intact design's, so the two are meshed alike.
    """
    from mpi4py import MPI

    from fem_mnn.fem.linear import FemOptions
    from fem_mnn.fem.morph import MorphingFemModel
    from fem_mnn.geometry.build import MeshOptions, mesh_size

    mo = MeshOptions(dim=2, elements_across=elements_across)
    mo = dataclasses.replace(mo, size=mesh_size(design, mo) if size is None else size)
    opts = FemOptions(dim=2, degree=degree, mesh=mo)
    return {g: LoadBasisModel(MorphingFemModel(design, opts, MPI.COMM_SELF, gradient=g)) for g in ("exact", "insitu")}


def fe_config(task_name: str, epochs: int, seed: int) -> TrainConfig:
    spring = paper_config(task_name)
    return TrainConfig(
        epochs=epochs,
        lr=FE_LR,
        batch_size=spring.batch_size,
        parametrisation="clip",
        shuffle=spring.shuffle,
        seed=seed,
        record_widths=False,
    )


def worker_count() -> int:
    """Worker processes: $FEM_MNN_WORKERS or the CPUs available (at most 2 by default)."""
    env = os.environ.get("FEM_MNN_WORKERS")
    if env:
        return max(1, int(env))
    try:
        n = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        n = os.cpu_count() or 1
    return max(1, min(2, n))


def run_many(fn: Callable[[Any], Any], jobs: Sequence[Any], workers: int | None = None) -> list[Any]:
    """``[fn(j) for j in jobs]``, in worker processes when there are several jobs and workers."""
    workers = worker_count() if workers is None else workers
    if workers <= 1 or len(jobs) <= 1:
        return [fn(j) for j in jobs]
    import multiprocessing as mp

    with mp.get_context("fork").Pool(workers) as pool:
        return pool.map(fn, jobs, chunksize=1)


def summarise(values: Iterable[float]) -> dict[str, float]:
    """Mean, standard deviation (ddof 0), min and max."""
    v = np.asarray(list(values), dtype=float)
    return {
        "mean": float(v.mean()),
        "std": float(v.std()),
        "min": float(v.min()),
        "max": float(v.max()),
        "n": int(v.size),
    }
