"""Parity plots: one panel per quantity, model A against model B, with the identity line."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from fem_mnn.viz.figure import Figure, subplots

__all__ = ["parity_panels"]


def parity_panels(
    panels: Sequence[tuple[np.ndarray, np.ndarray, str, str]], *, xlabel: str, ylabel: str, label_outliers: int = 3
) -> Figure:
    """A figure with one parity panel per ``(x, y, title, unit)``.

    The ``label_outliers`` entries farthest from the identity line are labelled with their index (bond id).
    """
    fig, axes = subplots(1, len(panels), figsize=(4.5 * len(panels), 4), squeeze=False)
    for ax, (a, b, name, unit) in zip(axes[0], panels, strict=True):
        a, b = np.asarray(a, float), np.asarray(b, float)
        ax.plot(a, b, "o", ms=4)
        lim = [min(a.min(), b.min()), max(a.max(), b.max())]
        ax.plot(lim, lim, "k--", lw=0.8)
        for i in np.argsort(-np.abs(b - a))[:label_outliers]:
            ax.annotate(str(i), (a[i], b[i]), fontsize=7, xytext=(3, 3), textcoords="offset points")
        ax.set_xlabel(f"{xlabel} ({unit})")
        ax.set_ylabel(f"{ylabel} ({unit})")
        ax.set_title(name)
    fig.tight_layout()
    return fig
