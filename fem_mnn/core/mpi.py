"""The MPI rank of this process, without importing MPI for it.

Commands print their reports and write their files on rank 0 only; the spring model and the
command line must not import mpi4py just to learn they are alone.
"""

from __future__ import annotations

import contextlib
import os
import sys

__all__ = ["process_rank"]

#: Launcher variables that hold the rank (MPICH/Hydra, Open MPI, PMIx).
RANK_VARIABLES = ("PMI_RANK", "OMPI_COMM_WORLD_RANK", "PMIX_RANK")


def process_rank() -> int:
    """MPI rank of this process in COMM_WORLD: 0 outside ``mpiexec``.

    Asks mpi4py when it is already imported, else the launcher's environment. Not collective.
    """
    mpi = sys.modules.get("mpi4py.MPI")
    if mpi is not None:
        with contextlib.suppress(Exception):
            return int(mpi.COMM_WORLD.rank)
    for var in RANK_VARIABLES:
        if os.environ.get(var, "").isdigit():
            return int(os.environ[var])
    return 0
