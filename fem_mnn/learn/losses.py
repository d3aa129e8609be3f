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

__all__ = ["ContrastMargin", "CrossEntropy", "Loss", "MSE", "OffsetLoss", "Output"]


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


class ContrastMargin:
    """A soft margin on the contrast: every case's label output must beat the others by ``margin``.

    With m = |u| of the outputs, the log-contrast of case c is
    ``r_c = log m_label - log max_{j != label} m_j`` (its exponential is the contrast of
    :func:`fem_mnn.learn.tasks.contrast`), and

        L_c = softplus(s (log margin - r_c)) / s,

    a smooth hinge: about ``log margin - r_c`` while the contrast is below ``margin``, decaying
    like ``exp(-s (r_c - log margin)) / s`` above it. Unlike the paper's cross-entropy, whose
    mean over cases can trade a failing case for a case already won, the hinge spends the
    gradient on the cases below the margin: what a success criterion "contrast >= c at every
    load level" asks for. Dimensionless; ``dL/du`` is per mm.

    Args:
        outputs: the output components, one per class.
        labels: (n_cases,) class index of every case.
        margin: the contrast aimed at (> 1; a little above the success criterion's).
        sharpness: s, the hinge's sharpness (larger: closer to max(0, log margin - r)).
    """

    def __init__(
        self,
        outputs: Sequence[Output | tuple[int, int]],
        labels: Sequence[int] | np.ndarray,
        margin: float = 1.2,
        sharpness: float = 20.0,
    ) -> None:
        self.outputs = [Output(int(n), int(c)) for n, c in outputs]
        self.labels = np.asarray(labels, dtype=int).reshape(-1)
        if len(self.outputs) < 2:
            raise InputError("needs at least two outputs", field="outputs", value=len(self.outputs))
        if self.labels.size and (self.labels.min() < 0 or self.labels.max() >= len(self.outputs)):
            raise InputError("label outside the outputs", field="labels", value=self.labels.tolist())
        if not (np.isfinite(margin) and margin > 1.0):
            raise InputError("must be a finite number > 1", field="margin", value=margin)
        if not (np.isfinite(sharpness) and sharpness > 0):
            raise InputError("must be a finite number > 0", field="margin_sharpness", value=sharpness)
        self.margin = float(margin)
        self.sharpness = float(sharpness)

    def __call__(self, u: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        nodes = np.array([o.node for o in self.outputs])
        comps = np.array([o.component for o in self.outputs])
        raw = u[:, nodes, comps]
        sign = np.sign(raw)
        m = np.abs(raw)
        nc = m.shape[0]
        rows = np.arange(nc)
        other = m.copy()
        other[rows, self.labels] = -np.inf
        rival = np.argmax(other, axis=1)  # the strongest other output (ties: the first)
        with np.errstate(divide="ignore"):
            r = np.log(m[rows, self.labels]) - np.log(m[rows, rival])
        s = self.sharpness
        z = s * (np.log(self.margin) - r)
        loss = np.logaddexp(0.0, z) / s
        dldr = -0.5 * (1.0 + np.tanh(0.5 * z))  # -sigmoid(z), without overflow
        dm = np.zeros_like(m)
        with np.errstate(divide="ignore", invalid="ignore"):
            dm[rows, self.labels] = dldr / m[rows, self.labels]
            dm[rows, rival] -= dldr / m[rows, rival]
        grad = np.zeros_like(u)
        grad[:, nodes, comps] = dm * sign
        return loss, grad
