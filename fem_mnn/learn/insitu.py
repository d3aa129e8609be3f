"""In situ backpropagation: two loadings give every bond's gradient.

For a loss L(u) the adjoint load is f_adj = -dL/du applied to the same network
(forward load removed); with e = C u and e_adj = C u_adj, the exact gradient of
the spring network is dL/dk_i = e_i e_adj,i, and dL/dw_i = dL/dk_i dk_i/dw_i.
For a continuum model the same formula is the in situ *estimate*.

The batch loss is the mean of the case losses, so gradients are means too.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from fem_mnn.contract import LinearOperator, Loss, MechanicalModel

__all__ = ["Backprop", "backprop", "backprop_operator"]


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


def backprop_operator(op: LinearOperator, loads: np.ndarray, loss: Loss) -> Backprop:
    """Forward and adjoint solves with one factorised operator.

    Args:
        op: factorised stiffness (from ``model.operator(widths)``).
        loads: (n_cases, n_nodes, 2) forward loads (N).
        loss: loss on the displacements; case c's adjoint load is -dL_c/du.
    """
    f = np.asarray(loads, dtype=float)
    f = f[None] if f.ndim == 2 else f
    fwd = op.solve(f)
    case_loss, dldu = loss(fwd.u)
    adj_load = -dldu
    adj = op.solve(adj_load)
    nc = f.shape[0]
    grad_k = np.sum(fwd.elongation * adj.elongation, axis=0) / nc
    return Backprop(
        loss=float(np.mean(case_loss)),
        case_loss=case_loss,
        u=fwd.u,
        elongation=fwd.elongation,
        adjoint_load=adj_load,
        adjoint_u=adj.u,
        adjoint_elongation=adj.elongation,
        grad_k=grad_k,
        grad_w=grad_k * op.dk_dw,
    )


def backprop(model: MechanicalModel, widths: np.ndarray, loads: np.ndarray, loss: Loss) -> Backprop:
    """Factorise the model at ``widths`` and run :func:`backprop_operator`."""
    return backprop_operator(model.operator(widths), loads, loss)
