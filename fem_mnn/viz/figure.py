"""Figures without pyplot: no global backend switch, no figure registry.

:func:`subplots` returns a :class:`matplotlib.figure.Figure` that is saved with
``fig.savefig`` (or :func:`fem_mnn.core.files.atomic_savefig`) and freed when it goes
out of scope, so the package never changes the backend of a notebook or GUI session.
"""

from __future__ import annotations

from typing import Any

from matplotlib.figure import Figure

__all__ = ["Figure", "subplots"]


def subplots(
    nrows: int = 1, ncols: int = 1, *, figsize: tuple[float, float] | None = None, **kwargs: Any
) -> tuple[Figure, Any]:
    """``(figure, axes)`` like ``pyplot.subplots``, on a figure that pyplot does not manage."""
    fig = Figure(figsize=figsize)
    return fig, fig.subplots(nrows, ncols, **kwargs)
