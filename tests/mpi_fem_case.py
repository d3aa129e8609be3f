"""One FEM case run the same way in serial (imported by the tests) and under mpiexec.

Usage: ``mpiexec -n 2 python tests/mpi_fem_case.py OUT.json`` (``run_python`` of conftest): rank 0 writes the
results (node displacements, elongations, rotations, centre values, the exact
stiffness-factor gradient and the in situ estimate) of a small lattice.
"""

from __future__ import annotations

import json
import sys

import numpy as np


def case_design():
    """A 4x3 triangular patch with mixed widths (not the paper's sample)."""
    from fem_mnn.design import triangular_patch

    return triangular_patch(4, 3, width=np.linspace(1.5, 2.5, 16))


def case_loads(design) -> np.ndarray:
    """Two load cases (N) on the free nodes."""
    f = np.zeros((2, design.n_nodes, 2))
    f[0, design.n_nodes - 1] = (0.0, -0.01)
    f[1, 5] = (0.004, 0.002)
    f[1, design.n_nodes - 2] = (-0.003, -0.005)
    return f


def case_loss(design):
    from fem_mnn.learn.losses import MSE

    t = np.full((2, design.n_nodes, 2), np.nan)
    t[:, design.n_nodes - 1, 1] = -0.02
    t[:, 5, 0] = 0.01
    return MSE(t)


def run_case(comm) -> dict:
    """Collective: solve the case on ``comm``; every rank returns the same dict."""
    from fem_mnn.contract import backprop_operator
    from fem_mnn.fem.linear import FemModel, FemOptions, stiffness_factor_gradient
    from fem_mnn.geometry.build import MeshOptions

    d = case_design()
    model = FemModel(d, FemOptions(mesh=MeshOptions(elements_across=2)), comm=comm)
    op = model.operator()
    f = case_loads(d)
    s = op.solve_fields(f)
    centre = np.array([op.extractor.centre_values(u)[:, :2] for u in s.fields])
    bp = backprop_operator(op, f, case_loss(d))
    tg = stiffness_factor_gradient(op, f, case_loss(d))
    return {
        "n_dofs": op.n_dofs,
        "u": s.u.tolist(),
        "elongation": s.elongation.tolist(),
        "rotation": s.rotation.tolist(),
        "centre": centre.tolist(),
        "measure": op.region_measure.tolist(),
        "grad_theta": tg.bond.tolist(),
        "grad_theta_junction": tg.junction.tolist(),
        "grad_w": bp.grad_w.tolist(),
        "loss": bp.loss,
    }


if __name__ == "__main__":
    from fem_mnn.fem._dolfinx import import_dolfinx

    import_dolfinx()  # loads dolfinx_solver (the pip wheel's PETSc/MPI) before anything else

    from mpi4py import MPI

    out = run_case(MPI.COMM_WORLD)
    if MPI.COMM_WORLD.rank == 0:
        out["ranks"] = MPI.COMM_WORLD.size
        with open(sys.argv[1], "w") as fh:
            json.dump(out, fh)
