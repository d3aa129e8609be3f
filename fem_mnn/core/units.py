"""Units and physical constants: mm, N, MPa everywhere (so k is in N/mm, energy in N mm).

One home for constants the stages share, so that no module defines its own.
"""

from __future__ import annotations

__all__ = ["GRAM_FORCE", "STANDARD_GRAVITY", "grams_to_newtons", "lame_parameters"]

#: Gravity the paper uses for its hanging weights (m/s^2).
STANDARD_GRAVITY = 9.8
#: Weight of one gram of hanging mass in N (the paper's g: 9.8e-3 N).
GRAM_FORCE = STANDARD_GRAVITY * 1e-3


def grams_to_newtons(grams: float) -> float:
    """Weight (N) of a hanging mass given in grams."""
    return grams * GRAM_FORCE


def lame_parameters(E: float, nu: float, *, plane_stress: bool) -> tuple[float, float]:
    """Lame constants ``(mu, lam)`` in MPa: 3D, or the plane-stress ``lam* = E nu / (1 - nu^2)``."""
    mu = E / (2 * (1 + nu))
    lam = E * nu / (1 - nu**2) if plane_stress else E * nu / ((1 + nu) * (1 - 2 * nu))
    return mu, lam
