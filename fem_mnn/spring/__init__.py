"""Reduced-order models without DOLFINx: the paper's spring network (linear and in large
deformation) and a beam-frame model.
"""

from fem_mnn.spring.frame import FrameModel, FrameOperator, FrameOptions, FrameSolution
from fem_mnn.spring.network import SpringModel, SpringOperator
from fem_mnn.spring.nonlinear import (
    LoadSweep,
    NewtonIncrement,
    NewtonOptions,
    NonlinearSpringModel,
    NonlinearSpringOperator,
    NonlinearSpringSolution,
    load_sweep,
)
from fem_mnn.spring.si import SISprings

__all__ = [
    "FrameModel",
    "FrameOperator",
    "FrameOptions",
    "FrameSolution",
    "LoadSweep",
    "NewtonIncrement",
    "NewtonOptions",
    "NonlinearSpringModel",
    "NonlinearSpringOperator",
    "NonlinearSpringSolution",
    "SISprings",
    "SpringModel",
    "SpringOperator",
    "load_sweep",
]
