"""Pictures: lattice geometry, tagged meshes, training curves, parity plots (matplotlib object API)."""

from typing import TYPE_CHECKING

from fem_mnn.core.lazy import lazy_exports

if TYPE_CHECKING:  # the public names; imported on first use by __getattr__ (fem_mnn.core.lazy)
    from fem_mnn.viz.figure import subplots
    from fem_mnn.viz.geometry import plot_geometry, plot_mesh
    from fem_mnn.viz.parity import parity_panels
    from fem_mnn.viz.training import compare_widths_figure, draw_lattice, lattice_figure, training_curves_figure

__all__ = [
    "compare_widths_figure",
    "draw_lattice",
    "lattice_figure",
    "parity_panels",
    "plot_geometry",
    "plot_mesh",
    "subplots",
    "training_curves_figure",
]

__getattr__, __dir__ = lazy_exports(__name__)
