"""The contract between the stages: what every mechanical model offers to learning.

A model (the spring network of :mod:`fem_mnn.spring`, the DOLFINx continuum of
:mod:`fem_mnn.fem`) turns widths into a factorised linear operator; the operator
solves many load cases at once and reports per-node displacements and per-bond
elongations. In situ backpropagation (:func:`backprop_operator`, here because it needs
nothing else) works on any of them, so either model can drive training and the two
can be compared bond by bond; the engines use it too, which is why it lives at this
level and not in :mod:`fem_mnn.learn`.

Array conventions (units mm, N):

- loads: (n_cases, n_nodes, 2) nodal forces; a single case may be (n_nodes, 2).
- u: (n_cases, n_nodes, 2) node displacements.
- elongation: (n_cases, n_bonds), e_i = (u_b - u_a) . n_i for bond i = (a, b),
  n_i the unit vector from a to b.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple, Protocol, runtime_checkable

import numpy as np

from fem_mnn.core.errors import EngineError
from fem_mnn.design.records import Design

__all__ = [
    "Backprop",
    "LinearOperator",
    "Loss",
    "MechanicalModel",
    "Solution",
    "SpringLaw",
    "as_cases",
    "backprop",
    "backprop_operator",
    "elongations",
    "nominal_stiffness",
    "paired_backprop",
    "states_once",
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

    def __call__(self, u: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(n_cases,) loss values and dL/du of the shape of ``u``."""
        ...


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


class Backprop(NamedTuple):
    """Result of one forward + adjoint pair over a batch of load cases."""

    loss: float
    """Mean loss over the cases."""
    case_loss: np.ndarray
    """(n_cases,) loss of every case."""
    u: np.ndarray
    """(n_cases, n_nodes, 2) forward displacements (mm)."""
    elongation: np.ndarray
    """(n_cases, n_bonds) forward elongations (mm)."""
    adjoint_load: np.ndarray
    """(n_cases, n_nodes, 2) f_adj = -dL_c/du (scaled by 1/n_cases is NOT applied)."""
    adjoint_u: np.ndarray
    """(n_cases, n_nodes, 2) adjoint displacements."""
    adjoint_elongation: np.ndarray
    """(n_cases, n_bonds) adjoint elongations."""
    grad_k: np.ndarray
    """(n_bonds,) dL/dk (mean over cases)."""
    grad_w: np.ndarray
    """(n_bonds,) dL/dw (mean over cases)."""


def paired_backprop(
    case_loss: np.ndarray,
    u: np.ndarray,
    elongation: np.ndarray,
    adjoint_load: np.ndarray,
    adjoint_u: np.ndarray,
    adjoint_elongation: np.ndarray,
    *,
    dk_dw: np.ndarray | None = None,
    grad_w: np.ndarray | None = None,
) -> Backprop:
    """The :class:`Backprop` of a forward and an adjoint response over a batch of load cases.

    ``grad_k = mean_c e_c e_adj,c`` (the in situ rule: exact for springs, linear or in large
    deformation, an estimate for a continuum), and ``grad_w`` either given (an exact shape
    gradient) or ``grad_k dk_dw``. Every model's backpropagation ends here, so the batch
    mean and the shapes are defined once.

    Args:
        case_loss: (n_cases,) loss of every case.
        u: (n_cases, n_nodes, 2) forward displacements (mm).
        elongation: (n_cases, n_bonds) forward elongations (mm).
        adjoint_load: (n_cases, n_nodes, 2) f_adj = -dL_c/du.
        adjoint_u: (n_cases, n_nodes, 2) adjoint displacements.
        adjoint_elongation: (n_cases, n_bonds) adjoint elongations.
        dk_dw: (n_bonds,) dk/dw, for ``grad_w = grad_k dk_dw``.
        grad_w: (n_bonds,) the width gradient itself, when it is not the chain rule through k.

    Raises:
        ValueError: neither or both of ``dk_dw`` and ``grad_w`` given.
    """
    if (dk_dw is None) == (grad_w is None):
        raise ValueError("give exactly one of dk_dw and grad_w")
    grad_k = np.mean(elongation * adjoint_elongation, axis=0)
    return Backprop(
        loss=float(np.mean(case_loss)),
        case_loss=np.asarray(case_loss, dtype=float),
        u=u,
        elongation=elongation,
        adjoint_load=adjoint_load,
        adjoint_u=adjoint_u,
        adjoint_elongation=adjoint_elongation,
        grad_k=grad_k,
        grad_w=grad_k * dk_dw if grad_w is None else grad_w,
    )


def states_once[S](
    cache: dict[bytes, S], loads: np.ndarray, n_nodes: int, solve_one: Callable[[np.ndarray], S]
) -> list[S]:
    """``solve_one`` of every load case of ``loads``, each distinct case solved once per ``cache``.

    For operators whose solve is not a factorisation (large-deformation equilibria): the
    end-of-epoch metrics and the next step's gradient at the same widths reuse one state.
    Cases are keyed by their bytes, so only identical loads share a state. The caller owns
    ``cache`` and clears it when its widths change.

    Raises:
        EngineError: ``solve_one`` failed; the message names the load case (0-based).
    """
    f = as_cases(loads, n_nodes)
    out = []
    for c in range(f.shape[0]):
        key = np.ascontiguousarray(f[c]).tobytes()
        if key not in cache:
            try:
                cache[key] = solve_one(f[c])
            except EngineError as exc:
                raise EngineError(f"load case {c}: {exc}") from None
        out.append(cache[key])
    return out


def backprop_operator(op: LinearOperator, loads: np.ndarray, loss: Loss) -> Backprop:
    """In situ backpropagation: a forward and an adjoint solve give every bond's gradient.

    For a loss L(u) the adjoint load is f_adj = -dL/du applied to the same network
    (forward load removed); with e = C u and e_adj = C u_adj, the exact gradient of
    the spring network is dL/dk_i = e_i e_adj,i, and dL/dw_i = dL/dk_i dk_i/dw_i.
    For a continuum model the same formula is the in situ *estimate*. The batch loss
    is the mean of the case losses, so gradients are means too. Both solves use the
    one factorisation of ``op``.

    Args:
        op: factorised stiffness (from ``model.operator(widths)``).
        loads: (n_cases, n_nodes, 2) forward loads (N).
        loss: loss on the displacements; case c's adjoint load is -dL_c/du.

    An operator whose ``regime`` is ``"nonlinear"`` (a large-deformation model) is not
    linear: the adjoint is its tangent problem at the loaded state, which its own
    ``backprop(loads, loss)`` computes; it is called instead of the rule above.
    """
    if getattr(op, "regime", "linear") == "nonlinear":
        return op.backprop(loads, loss)  # type: ignore[attr-defined]
    f = np.asarray(loads, dtype=float)
    f = f[None] if f.ndim == 2 else f
    fwd = op.solve(f)
    case_loss, dldu = loss(fwd.u)
    adj_load = -dldu
    adj = op.solve(adj_load)
    return paired_backprop(case_loss, fwd.u, fwd.elongation, adj_load, adj.u, adj.elongation, dk_dw=op.dk_dw)


def backprop(model: MechanicalModel, widths: np.ndarray, loads: np.ndarray, loss: Loss) -> Backprop:
    """Factorise the model at ``widths`` and run :func:`backprop_operator`."""
    return backprop_operator(model.operator(widths), loads, loss)
