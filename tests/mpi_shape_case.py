"""The shape-gradient case run the same way in serial (imported by the tests) and under mpiexec.

Usage: ``mpiexec -n 2 python tests/mpi_shape_case.py OUT.json``: rank 0 writes the
loss and the exact width gradient (shape derivative) of a small strip, on its fresh
mesh and after morphing it to other widths (ghost nodes must move with their owners).
"""

from __future__ import annotations

import json
import sys

import numpy as np


def case_design():
    """A 4x2 triangular strip with random widths in the printable range."""
    from fem_mnn.design import triangular_strip

    d = triangular_strip(4, 2)
    return d.with_widths(np.random.default_rng(1).uniform(1.6, 2.4, d.n_bonds))


def case_problem(design):
    """Two load cases (N) and an MSE loss on region averages."""
    from fem_mnn.learn.losses import MSE

    n = design.n_nodes
    f = np.zeros((2, n, 2))
    f[0, n - 1] = (0.0, -0.01)
    f[1, 5] = (0.004, 0.002)
    f[1, n - 2] = (-0.003, -0.005)
    t = np.full((2, n, 2), np.nan)
    t[:, n - 1, 1] = -0.02
    t[:, 5, 0] = 0.01
    return f, MSE(t)


def case_model(design, comm):
    from fem_mnn.fem.linear import FemOptions
    from fem_mnn.fem.morph import MorphingFemModel
    from fem_mnn.geometry.build import MeshOptions

    return MorphingFemModel(design, FemOptions(mesh=MeshOptions(elements_across=2, size=0.5)), comm=comm)


def run_case(comm) -> dict:
    """Collective: every rank returns the same dict."""
    from fem_mnn.fem.shape import shape_width_gradient

    d = case_design()
    f, loss = case_problem(d)
    model = case_model(d, comm)
    g0 = shape_width_gradient(model.operator(d.widths), f, loss)
    w1 = d.widths + np.linspace(-0.2, 0.2, d.n_bonds)
    op1 = model.operator(w1)
    g1 = shape_width_gradient(op1, f, loss)
    return {
        "n_dofs": op1.n_dofs,
        "loss0": g0.loss,
        "grad0": g0.grad_w.tolist(),
        "loss1": g1.loss,
        "grad1": g1.grad_w.tolist(),
        "u1": g1.forward.u.tolist(),
        "measure1": op1.region_measure.tolist(),
        "n_meshes": model.n_meshes,
    }


if __name__ == "__main__":
    from mpi4py import MPI

    import fem_mnn.fem.linear  # noqa: F401  (loads dolfinx_solver before anything else)

    out = run_case(MPI.COMM_WORLD)
    if MPI.COMM_WORLD.rank == 0:
        out["ranks"] = MPI.COMM_WORLD.size
        with open(sys.argv[1], "w") as fh:
            json.dump(out, fh)
