"""Reduced-order models without DOLFINx: the paper's spring network and a beam-frame model."""

from fem_mnn.spring.network import SpringModel, SpringOperator

__all__ = ["SpringModel", "SpringOperator"]
