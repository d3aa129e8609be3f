"""The interface every mechanical model offers to the learning loop.

A model (the spring network of :mod:`fem_mnn.spring`, the DOLFINx continuum of
:mod:`fem_mnn.fem`) turns widths into a factorised linear operator; the operator
solves many load cases at once and reports per-node displacements and per-bond
elongations. In situ backpropagation (:mod:`fem_mnn.insitu`) needs nothing else,
so either model can drive training and the two can be compared bond by bond.

Array conventions (units mm, N):
    loads: (n_cases, n_nodes, 2) nodal forces; a single case may be (n_nodes, 2).
    u: (n_cases, n_nodes, 2) node displacements.
    elongation: (n_cases, n_bonds), e_i = (u_b - u_a) . n_i for bond i = (a, b),
        n_i the unit vector from a to b.
"""

from __future__ import annotations

from typing import NamedTuple, Protocol, runtime_checkable

import numpy as np

from fem_mnn.design import Design

__all__ = ["LinearOperator", "MechanicalModel", "Solution", "as_cases"]


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
