"""fem_mnn: mechanical neural networks, from spring networks to printed beams.

Stages, one sub-package each, data flowing left to right:
:mod:`~fem_mnn.design` (the lattice as data) -> :mod:`~fem_mnn.geometry` (gmsh
geometry, tags, STL) -> :mod:`~fem_mnn.fem` (DOLFINx solves and per-bond
extraction) -> :mod:`~fem_mnn.learn` (losses, tasks, Adam, the training loop).
:mod:`~fem_mnn.spring` (spring network, frame model) offers the same interface as
the FE model, :mod:`~fem_mnn.contract`, which also holds in situ backpropagation.
Beside them: :mod:`~fem_mnn.io` (measured and paper data, reports),
:mod:`~fem_mnn.fidelity` (comparisons), :mod:`~fem_mnn.viz` (pictures), and
:mod:`~fem_mnn.core` (errors, atomic files, units, metrics) below everything; :mod:`~fem_mnn.commands` and :mod:`~fem_mnn.cli`
on top.

Units: mm, N, MPa. Node and bond ids are 0-based.
"""

from fem_mnn.contract import Backprop, Solution, backprop
from fem_mnn.core.errors import EngineError, InputError
from fem_mnn.core.version import __version__
from fem_mnn.design.builders import paper_sample
from fem_mnn.design.files import load_design
from fem_mnn.design.records import Design, Geometry, Material
from fem_mnn.learn.losses import MSE, CrossEntropy, Output
from fem_mnn.spring.network import SpringModel

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
