"""Adam (Kingma & Ba) in the paper's form, with its state as a value (checkpointed between epochs)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Adam", "AdamState"]


@dataclass(frozen=True)
class AdamState:
    """Adam moments and step count (t = number of steps taken)."""

    m: np.ndarray
    v: np.ndarray
    t: int


class Adam:
    """Adam (Kingma & Ba) in the paper's form: x -= lr m_hat / (sqrt(v_hat) + eps).

    Args:
        lr: Step size.
        beta1: First-moment decay.
        beta2: Second-moment decay.
        eps: Added to sqrt(v_hat).
    """

    def __init__(self, lr: float, beta1: float = 0.9, beta2: float = 0.999, eps: float = 1.4901161193847656e-08):
        self.lr, self.beta1, self.beta2, self.eps = lr, beta1, beta2, eps

    @staticmethod
    def init(n: int) -> AdamState:
        return AdamState(m=np.zeros(n), v=np.zeros(n), t=0)

    def step(self, x: np.ndarray, grad: np.ndarray, state: AdamState) -> tuple[np.ndarray, AdamState]:
        """One step; returns the new point and state (inputs are not modified)."""
        t = state.t + 1
        m = self.beta1 * state.m + (1.0 - self.beta1) * grad
        v = self.beta2 * state.v + (1.0 - self.beta2) * (grad * grad)
        m_hat = m / (1.0 - self.beta1**t)
        v_hat = v / (1.0 - self.beta2**t)
        return x - self.lr * m_hat / (np.sqrt(v_hat) + self.eps), AdamState(m=m, v=v, t=t)
