"""The contract between the stages: what every mechanical model offers to learning.

A model (the spring network of :mod:`fem_mnn.spring`, the DOLFINx continuum of
:mod:`fem_mnn.fem`) turns widths into a factorised linear operator; the operator
solves many load cases at once and reports per-node displacements and per-bond
elongations. In situ backpropagation (:mod:`fem_mnn.learn.insitu`) needs nothing else,
so either model can drive training and the two can be compared bond by bond.

Array conventions (units mm, N):
    loads: (n_cases, n_nodes, 2) nodal forces; a single case may be (n_nodes, 2).
    u: (n_cases, n_nodes, 2) node displacements.
    elongation: (n_cases, n_bonds), e_i = (u_b - u_a) . n_i for bond i = (a, b),
        n_i the unit vector from a to b.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple, Protocol, runtime_checkable

import numpy as np

from fem_mnn.design.records import Design

__all__ = [
    "LinearOperator",
    "Loss",
    "MechanicalModel",
    "Solution",
    "SpringLaw",
    "as_cases",
    "elongations",
    "nominal_stiffness",
]


class Solution(NamedTuple):
    """Response of a lattice to a batch of load cases."""

    u: np.ndarray
    """(n_cases, n_nodes, 2) node displacements (mm)."""
    elongation: np.ndarray
    """(n_cases, n_bonds) bond elongations (mm)."""


@runtime_checkable
class LinearOperator(Protocol):
    """A factorised stiffness for one set of widths: solve as often as needed."""

    widths: np.ndarray
    """(n_bonds,) the widths it was built for (mm)."""
    k: np.ndarray
    """(n_bonds,) axial stiffness per bond (N/mm) used for the in situ gradient."""
    dk_dw: np.ndarray
    """(n_bonds,) derivative of k with respect to the width (N/mm^2)."""

    def solve(self, loads: np.ndarray) -> Solution:
        """Displacements and elongations for every load case (one factorisation)."""
        ...


@runtime_checkable
class MechanicalModel(Protocol):
    """Builds operators for a design; the widths may change between calls."""

    design: Design

    def operator(self, widths: np.ndarray | None = None) -> LinearOperator:
        """Assemble and factorise the stiffness for ``widths`` (default: the design's)."""
        ...


def as_cases(loads: np.ndarray, n_nodes: int) -> np.ndarray:
    """Return loads as (n_cases, n_nodes, 2), accepting a single (n_nodes, 2) case."""
    f = np.asarray(loads, dtype=float)
    if f.ndim == 2:
        f = f[None]
    if f.ndim != 3 or f.shape[1:] != (n_nodes, 2):
        raise ValueError(f"loads must have shape (n_cases, {n_nodes}, 2), got {f.shape}")
    return f


class Loss(Protocol):
    """A task loss: ``loss(u)`` returns (per-case values, dL/du) for u of shape (n_cases, n_nodes, 2)."""

    def __call__(self, u: np.ndarray) -> tuple[np.ndarray, np.ndarray]: ...


#: A spring law returns (k, dk/dw) for the widths of every bond.
SpringLaw = Callable[[Design, np.ndarray], tuple[np.ndarray, np.ndarray]]


def nominal_stiffness(design: Design, widths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The paper's law k = E t w / L and its derivative dk/dw = E t / L."""
    dk = design.material.E * design.thickness / design.lengths
    return dk * widths, dk.copy()


def elongations(u_nodes: np.ndarray, design: Design) -> np.ndarray:
    """Bond elongations ``e_i = (u_b - u_a) . n_i`` (local, no communication).

    Args:
        u_nodes: (..., n_nodes, >=2) node displacements; only x, y are used.
        design: The lattice (bonds and directions).

    Returns:
        (..., n_bonds) elongations (mm).
    """
    u = np.asarray(u_nodes, dtype=float)[..., :2]
    a, b = design.bonds[:, 0], design.bonds[:, 1]
    return np.einsum("...bk,bk->...b", u[..., b, :] - u[..., a, :], design.directions)
