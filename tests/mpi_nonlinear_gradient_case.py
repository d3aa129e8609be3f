"""The nonlinear width-gradient case run the same way in serial (imported by the tests) and under mpiexec.

Usage: ``mpiexec -n 2 python tests/mpi_nonlinear_gradient_case.py OUT.json``: rank 0 writes
the loss, the node displacements and the exact width gradient through the nonlinear solve
(shape derivative of the neo-Hookean residual, tangent adjoint) of the 3x2 triangular patch,
on its fresh mesh and after morphing it to other widths.
"""

from __future__ import annotations

import json
import sys

import numpy as np

GRAM = 9.81e-3  # N


def case_design():
    """The 3x2 triangular patch (5 nodes, 7 bonds, clamped at ids 0 and 2), random printable widths."""
    from fem_mnn.design import triangular_patch

    d = triangular_patch(top=3, rows=2)
    return d.with_widths(np.random.default_rng(1).uniform(1.7, 2.3, d.n_bonds))


def case_loss(design):
    """MSE on u_y of id 3 and u_x of id 4 (region averages), one target per case."""
    from fem_mnn.learn.losses import MSE

    t = np.full((2, design.n_nodes, 2), np.nan)
    t[:, 3, 1] = (-1.0, -0.5)
    t[:, 4, 0] = (0.3, 0.1)
    return MSE(t)


def case_loads(design, grams: float = 20.0):
    """Two cases: ``grams`` down at id 4; half of it diagonally at id 3 (N)."""
    f = np.zeros((2, design.n_nodes, 2))
    f[0, 4] = (0.0, -grams * GRAM)
    f[1, 3] = (0.5 * grams * GRAM / np.sqrt(2), -0.5 * grams * GRAM / np.sqrt(2))
    return f


def case_model(design, comm):
    """Nonlinear model on a morphing P2 mesh (2 elements across a bar, size 0.5 mm)."""
    from fem_mnn.fem.linear import FemOptions
    from fem_mnn.fem.morph import MorphingFemModel
    from fem_mnn.fem.nonlinear import NonlinearModel
    from fem_mnn.geometry.build import MeshOptions

    mm = MorphingFemModel(design, FemOptions(mesh=MeshOptions(elements_across=2, size=0.5)), comm=comm)
    return NonlinearModel(design, fem=mm)


def run_case(comm) -> dict:
    """Collective: every rank returns the same dict."""
    d = case_design()
    nl = case_model(d, comm)
    f, loss = case_loads(d), case_loss(d)
    g0 = nl.width_gradient(f, loss, steps=2)
    w1 = d.widths + np.linspace(-0.2, 0.2, d.n_bonds)
    g1 = nl.width_gradient(f, loss, widths=w1, steps=2)
    return {
        "n_dofs": nl.disc.V.dofmap.index_map.size_global * nl.disc.V.dofmap.index_map_bs,
        "loss0": g0.loss,
        "grad0": g0.grad_w.tolist(),
        "u0": g0.u.tolist(),
        "loss1": g1.loss,
        "grad1": g1.grad_w.tolist(),
        "u1": g1.u.tolist(),
        "adjoint1": g1.adjoint_u.tolist(),
        "n_meshes": nl.fem.n_meshes,
        "adjoint_residual": max(g0.counts["adjoint_residual"], g1.counts["adjoint_residual"]),
    }


if __name__ == "__main__":
    from mpi4py import MPI

    import fem_mnn.fem.linear  # noqa: F401  (loads dolfinx_solver before anything else)

    out = run_case(MPI.COMM_WORLD)
    if MPI.COMM_WORLD.rank == 0:
        out["ranks"] = MPI.COMM_WORLD.size
        with open(sys.argv[1], "w") as fh:
            json.dump(out, fh)
