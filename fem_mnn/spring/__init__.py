"""Reduced-order models without DOLFINx: the paper's spring network and a beam-frame model."""

from fem_mnn.spring.frame import FrameModel, FrameOperator, FrameOptions, FrameSolution
from fem_mnn.spring.network import SpringModel, SpringOperator

__all__ = ["FrameModel", "FrameOperator", "FrameOptions", "FrameSolution", "SpringModel", "SpringOperator"]
