"""The rounding variants of docs/reliability.md ("Rounding variants") reach what they claim."""

from __future__ import annotations

import pytest
from conftest import child_env, need_dolfinx, run_python

need_dolfinx()

pytestmark = pytest.mark.fem

_ORDERING = """
import fem_mnn.fem._dolfinx as dx
dx.import_dolfinx()
from mpi4py import MPI
from fem_mnn.design import triangular_patch
from fem_mnn.fem.linear import FemModel, FemOptions
from fem_mnn.geometry.build import MeshOptions
op = FemModel(triangular_patch(3, 2), FemOptions(mesh=MeshOptions(elements_across=1)), comm=MPI.COMM_SELF).operator()
print("INFOG7", op.ksp.getPC().getFactorMatrix().getMumpsInfog(7))
"""


@pytest.mark.parametrize("ordering", [0, 4])
def test_petsc_options_change_the_mumps_ordering(ordering):
    # INFOG(7) is the ordering MUMPS actually used (the default ICNTL(7) = 7 lets it pick;
    # METIS, 5, here): the variant's PETSC_OPTIONS must reach the FE operator's factor
    env = child_env(PETSC_OPTIONS=f"-fem_mnn_mat_mumps_icntl_7 {ordering} -options_left no")
    r = run_python("-c", _ORDERING, env=env, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    used = int(r.stdout.split("INFOG7")[-1].split()[0])
    assert used == ordering
    assert "unused database option" not in r.stdout + r.stderr
