"""Stage 3, the FE solve: everything that needs DOLFINx, PETSc or UFL.

Modules: :mod:`.meshing` (gmsh into DOLFINx), :mod:`.gmsh_import` (its linear-time,
scattered import), :mod:`.linear` (the linear-elastic
model, one factorisation for forward, adjoint and batches), :mod:`.extract` (per-bond
quantities), :mod:`.load_basis` (many load cases by superposition), :mod:`.nonlinear`, :mod:`.buckling`, :mod:`.calibration` (k(w) from
single-bond solves) and :mod:`.mechanical_checks`. Importing a module of this package
imports DOLFINx; the package itself imports nothing until one of its names is used
(``from fem_mnn.fem import FemModel`` imports :mod:`.linear`, and with it DOLFINx).
"""

from typing import TYPE_CHECKING

from fem_mnn.core.lazy import lazy_exports

if TYPE_CHECKING:  # the public names; imported on first use by __getattr__ (fem_mnn.core.lazy)
    from fem_mnn.fem.buckling import BucklingOptions, BucklingResult, buckling_analysis
    from fem_mnn.fem.calibration import CalibratedLaw, CalibrationTable, calibrate, calibrated_law
    from fem_mnn.fem.linear import FemModel, FemOperator, FemOptions, FemSolution
    from fem_mnn.fem.load_basis import LoadBasisModel
    from fem_mnn.fem.mechanical_checks import CheckOptions, MaterialLimits, MechanicalReport, mechanical_report
    from fem_mnn.fem.meshing import MeshData, generate_mesh, load_mesh
    from fem_mnn.fem.morph import MorphingFemModel
    from fem_mnn.fem.nonlinear import NonlinearModel, NonlinearOptions, NonlinearSolution
    from fem_mnn.fem.shape import ShapeGradient, shape_backprop, shape_width_gradient
    from fem_mnn.fem.width_map import WidthMap

__all__ = [
    "BucklingOptions",
    "BucklingResult",
    "CalibratedLaw",
    "CalibrationTable",
    "CheckOptions",
    "FemModel",
    "FemOperator",
    "FemOptions",
    "FemSolution",
    "LoadBasisModel",
    "MaterialLimits",
    "MechanicalReport",
    "MeshData",
    "MorphingFemModel",
    "NonlinearModel",
    "NonlinearOptions",
    "NonlinearSolution",
    "ShapeGradient",
    "WidthMap",
    "buckling_analysis",
    "calibrate",
    "calibrated_law",
    "generate_mesh",
    "load_mesh",
    "mechanical_report",
    "shape_backprop",
    "shape_width_gradient",
]

__getattr__, __dir__ = lazy_exports(__name__)
