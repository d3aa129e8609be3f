"""Stage 5, print tolerance: how the printer's scatter moves a task's outputs and its success.

Above :mod:`fem_mnn.fem` and :mod:`fem_mnn.learn`: :mod:`.analysis` is numpy-only and
model-agnostic (the spring model, or any model behind the contract); :mod:`.fe` builds the
FE side (a morphing model per rank, the shape-gradient Jacobian; it imports DOLFINx when
called); :mod:`.plot` draws the output distributions and the bond shares.
"""

from typing import TYPE_CHECKING

from fem_mnn.core.lazy import lazy_exports

if TYPE_CHECKING:  # the public names; imported on first use by __getattr__ (fem_mnn.core.lazy)
    from fem_mnn.tolerance.analysis import OutputLoss, spring_jacobian, tolerance_analysis
    from fem_mnn.tolerance.fe import fe_model, shape_jacobian
    from fem_mnn.tolerance.plot import tolerance_figure
    from fem_mnn.tolerance.run import analyse

__all__ = [
    "OutputLoss",
    "analyse",
    "fe_model",
    "shape_jacobian",
    "spring_jacobian",
    "tolerance_analysis",
    "tolerance_figure",
]

__getattr__, __dir__ = lazy_exports(__name__)
