"""Import DOLFINx the way this installation needs.

The ``dolfinx-solver-real`` pip wheel ships PETSc/MPI libraries that must be loaded
by ``import dolfinx_solver`` before ``dolfinx`` or ``petsc4py``; a conda install has
no such module. Import DOLFINx through :func:`import_dolfinx` and lazily (inside the
functions that need it), so that gmsh-only code runs without DOLFINx.
"""

from __future__ import annotations

import importlib
import importlib.util
from types import ModuleType

from fem_mnn.core.signals import rearm

__all__ = ["import_dolfinx"]


def import_dolfinx() -> ModuleType:
    """Return the ``dolfinx`` module, loading ``dolfinx_solver`` first if installed.

    Raises:
        ModuleNotFoundError: DOLFINx is not installed.
    """
    if importlib.util.find_spec("dolfinx_solver") is not None:
        importlib.import_module("dolfinx_solver")
    dolfinx = importlib.import_module("dolfinx")
    # importing dolfinx initialises PETSc, which installs its SIGTERM handler (MPI_Abort) in C:
    # put back the Python handlers (fem_mnn.core.signals.terminate_as_interrupt, StopOnSignal)
    rearm()
    return dolfinx
