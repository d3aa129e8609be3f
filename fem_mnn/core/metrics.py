"""Metrics for comparing two vectors of per-bond quantities (models with each other or with data).

NaN entries of either vector are dropped, so a partial measurement compares on what it has.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["cosine", "rel_l2", "sign_agreement", "significant"]


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    """Cosine of the angle between two vectors (NaN entries of either dropped; NaN for a zero vector)."""
    a, b = np.asarray(a, float).ravel(), np.asarray(b, float).ravel()
    ok = np.isfinite(a) & np.isfinite(b)
    na, nb = np.linalg.norm(a[ok]), np.linalg.norm(b[ok])
    return float(a[ok] @ b[ok] / (na * nb)) if na > 0 and nb > 0 else math.nan


def rel_l2(a: np.ndarray, ref: np.ndarray) -> float:
    """Relative L2 error ``||a - ref|| / ||ref||``."""
    a, ref = np.asarray(a, float).ravel(), np.asarray(ref, float).ravel()
    ok = np.isfinite(a) & np.isfinite(ref)
    n = np.linalg.norm(ref[ok])
    return float(np.linalg.norm(a[ok] - ref[ok]) / n) if n > 0 else math.nan


def significant(ref: np.ndarray, floor: float) -> np.ndarray:
    """Mask of entries with ``|ref| > floor * max|ref|``."""
    ref = np.asarray(ref, float)
    return np.isfinite(ref) & (np.abs(ref) > floor * np.nanmax(np.abs(ref)))


def sign_agreement(a: np.ndarray, ref: np.ndarray, floor: float = 0.05) -> float:
    """Fraction of entries with the same sign, among those with ``|ref| > floor max|ref|``."""
    sel = significant(ref, floor)
    if not sel.any():
        return math.nan
    return float(np.mean(np.sign(np.asarray(a, float)[sel]) == np.sign(np.asarray(ref, float)[sel])))
