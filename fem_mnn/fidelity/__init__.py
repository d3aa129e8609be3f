"""Comparison of models with each other and with measurements (spring, calibrated spring, frame, FE)."""

from typing import TYPE_CHECKING

from fem_mnn.core.lazy import lazy_exports

if TYPE_CHECKING:  # the public names; imported on first use by __getattr__ (fem_mnn.core.lazy)
    from fem_mnn.fidelity.compare import (
        Comparison,
        ErrorSummary,
        compare_displacements,
        compare_gradients,
        error_summary,
        make_predictors,
        parity_figure,
        write_comparison,
    )

__all__ = [
    "Comparison",
    "ErrorSummary",
    "compare_displacements",
    "compare_gradients",
    "error_summary",
    "make_predictors",
    "parity_figure",
    "write_comparison",
]

__getattr__, __dir__ = lazy_exports(__name__)
