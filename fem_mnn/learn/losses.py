"""Losses on node displacements, with their gradients (the adjoint loads' source).

A loss is called on displacements u (n_cases, n_nodes, 2) and returns the loss of
every case (n_cases,) and dL_c/du (n_cases, n_nodes, 2). The in situ adjoint load
of case c is -dL_c/du.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

from fem_mnn.contract import Loss
from fem_mnn.core.errors import InputError

__all__ = ["CrossEntropy", "Loss", "MSE", "OffsetLoss", "Output"]


class Output(NamedTuple):
    """One output component: node id and direction (0 = x, 1 = y)."""

    node: int
    component: int


class MSE:
    """L_c = 1/2 sum over the given components of (u - target)^2.

    Args:
        targets: (n_cases, n_nodes, 2) or (n_nodes, 2) target displacements (mm);
            NaN marks a component left free.
    """

    def __init__(self, targets: np.ndarray) -> None:
        t = np.asarray(targets, dtype=float)
        if t.ndim == 2:
            t = t[None]
        self.targets = t
        self.mask = ~np.isnan(t)
        if not self.mask.any():
            raise InputError("no target component given: the loss would be empty", field="targets")

    def __call__(self, u: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        r = np.where(self.mask, u - np.nan_to_num(self.targets), 0.0)
        return 0.5 * np.sum(r * r, axis=(1, 2)), r


class OffsetLoss:
    """The paper's Figure 1 loss: ``L = (u_y,node + c)^2`` in SI units (m^2), with u and c in mm.

    ``dL/du`` is returned per m of displacement (N, as the authors' adjoint force is
    ``-2 (u_y + c) / 1000`` N): the in situ adjoint load -dL/du is then the paper's, in N, and
    the gradient is in m^2 (their units), not per mm.

    Args:
        node: Node id of the output.
        offset_mm: The offset c (mm).
    """

    def __init__(self, node: int, offset_mm: float) -> None:
        self.node = node
        self.c = offset_mm

    def __call__(self, u: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        r = (u[:, self.node, 1] + self.c) * 1e-3  # m
        g = np.zeros_like(u)
        g[:, self.node, 1] = 2.0 * r  # dL/du_m: the paper's adjoint force is its negative, in N
        return r**2, g


class CrossEntropy:
    """Cross-entropy on output magnitudes, as in the paper.

    ``p_k = |u_k| / sum_j |u_j|`` (``normalisation="linear"``, the paper's) or
    ``p = softmax(|u| / scale)`` (``"softmax"``); ``L_c = -log p_{label_c}``.

    Args:
        outputs: the output components, one per class.
        labels: (n_cases,) class index of every case.
        normalisation: "linear" or "softmax".
        scale: displacement scale of the softmax (mm).
    """

    def __init__(
        self,
        outputs: Sequence[Output | tuple[int, int]],
        labels: Sequence[int] | np.ndarray,
        normalisation: str = "linear",
        scale: float = 1.0,
    ) -> None:
        self.outputs = [Output(int(n), int(c)) for n, c in outputs]
        self.labels = np.asarray(labels, dtype=int).reshape(-1)
        if len(self.outputs) < 2:
            raise InputError("needs at least two outputs", field="outputs", value=len(self.outputs))
        if self.labels.size and (self.labels.min() < 0 or self.labels.max() >= len(self.outputs)):
            raise InputError("label outside the outputs", field="labels", value=self.labels.tolist())
        if normalisation not in ("linear", "softmax"):
            raise InputError("must be 'linear' or 'softmax'", field="normalisation", value=normalisation)
        self.normalisation = normalisation
        self.scale = float(scale)

    def magnitudes(self, u: np.ndarray) -> np.ndarray:
        """(n_cases, n_outputs) |u| of every output."""
        nodes = [o.node for o in self.outputs]
        comps = [o.component for o in self.outputs]
        return np.abs(u[:, nodes, comps])

    def probabilities(self, u: np.ndarray) -> np.ndarray:
        m = self.magnitudes(u)
        if self.normalisation == "linear":
            return m / m.sum(axis=1, keepdims=True)
        z = m / self.scale
        z = np.exp(z - z.max(axis=1, keepdims=True))
        return z / z.sum(axis=1, keepdims=True)

    def predict(self, u: np.ndarray) -> np.ndarray:
        """Predicted class: the largest output magnitude."""
        return np.argmax(self.magnitudes(u), axis=1)

    def __call__(self, u: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        nodes = np.array([o.node for o in self.outputs])
        comps = np.array([o.component for o in self.outputs])
        raw = u[:, nodes, comps]
        sign = np.sign(raw)
        m = np.abs(raw)
        nc, K = m.shape
        onehot = np.zeros((nc, K))
        onehot[np.arange(nc), self.labels] = 1.0
        if self.normalisation == "linear":
            S = m.sum(axis=1, keepdims=True)
            p = m / S
            loss = -np.log(p[np.arange(nc), self.labels])
            # L = -log m_y + log S
            with np.errstate(divide="ignore"):
                dm = 1.0 / S - onehot / np.where(onehot > 0, m, 1.0)
        else:
            z = m / self.scale
            z = z - z.max(axis=1, keepdims=True)
            p = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
            loss = -np.log(p[np.arange(nc), self.labels])
            dm = (p - onehot) / self.scale
        grad = np.zeros_like(u)
        grad[:, nodes, comps] = dm * sign
        return loss, grad
