"""Stage 4, learning: losses, tasks, Adam and the training loop.

Model-agnostic: it sees a model only through :mod:`fem_mnn.contract` (and its in situ
backpropagation, :func:`fem_mnn.contract.backprop_operator`), so the spring
network and the FE model drive it alike. Never imports DOLFINx, gmsh, PETSc or UFL.
"""

from typing import TYPE_CHECKING

from fem_mnn.core.lazy import lazy_exports

if TYPE_CHECKING:  # the public names; imported on first use by __getattr__ (fem_mnn.core.lazy)
    from fem_mnn.learn.adam import Adam
    from fem_mnn.learn.checkpoint import load_checkpoint
    from fem_mnn.learn.config import TrainConfig, paper_config
    from fem_mnn.learn.evaluate import Evaluation, evaluate_operator, task_metrics
    from fem_mnn.learn.losses import MSE, CrossEntropy, OffsetLoss, Output
    from fem_mnn.learn.robust import RobustModel, WidthNoise
    from fem_mnn.learn.taskfile import load_task_file, paper_task, task_from_dict
    from fem_mnn.learn.tasks import (
        Task,
        behaviour_cross_entropy,
        behaviour_mse,
        build_task,
        iris,
        regression,
        split_indices,
    )
    from fem_mnn.learn.training import TrainResult, train

__all__ = [
    "Adam",
    "CrossEntropy",
    "Evaluation",
    "MSE",
    "OffsetLoss",
    "Output",
    "RobustModel",
    "Task",
    "TrainConfig",
    "TrainResult",
    "WidthNoise",
    "behaviour_cross_entropy",
    "behaviour_mse",
    "build_task",
    "evaluate_operator",
    "iris",
    "load_checkpoint",
    "load_task_file",
    "paper_config",
    "paper_task",
    "regression",
    "split_indices",
    "task_from_dict",
    "task_metrics",
    "train",
]

__getattr__, __dir__ = lazy_exports(__name__)
