"""fem_mnn: mechanical neural networks, from spring networks to printed beams.

Stages, one module each: :mod:`~fem_mnn.design` (the lattice as data) ->
:mod:`~fem_mnn.geometry` (Gmsh geometry and meshes) -> :mod:`~fem_mnn.fem`
(DOLFINx solves) -> :mod:`~fem_mnn.extract` (per-bond quantities) ->
:mod:`~fem_mnn.training` (in situ backpropagation with Adam). The spring network
(:mod:`~fem_mnn.spring`) offers the same interface as the FE model.

Units: mm, N, MPa. Node and bond ids are 0-based.
"""

from fem_mnn.design import Design, Geometry, Material, load_design, paper_sample
from fem_mnn.errors import EngineError, InputError
from fem_mnn.insitu import Backprop, backprop
from fem_mnn.losses import MSE, CrossEntropy, Output
from fem_mnn.model import Solution
from fem_mnn.spring import SpringModel

__version__ = "0.1.0"

__all__ = [
    "MSE",
    "Backprop",
    "CrossEntropy",
    "Design",
    "EngineError",
    "Geometry",
    "InputError",
    "Material",
    "Output",
    "Solution",
    "SpringModel",
    "__version__",
    "backprop",
    "load_design",
    "paper_sample",
]
