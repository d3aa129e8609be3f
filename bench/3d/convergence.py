"""One run of the 3D mesh-convergence study of the paper's sample (issue 13), as JSON on stdout.

``python bench/3d/convergence.py ELEMENTS_ACROSS SOLVER [REFINEMENT] [KEY=VALUE ...]``: P2
tetrahedra at ``elements_across`` elements across the thinnest thin end, two load cases
(5 g at id 10: outputs u_y of ids 12 and 13, Figure 2; 10 g at id 12, Figure 1), solver
``direct`` / ``iterative`` / ``auto``, extra PETSc options. Prints dofs, cells, outputs, node
displacements and elongations, stage times and the process's peak resident memory (run each
in a fresh process so the peak is its own). ``convergence.json`` holds the committed runs.
"""

from __future__ import annotations

import json
import resource
import sys
import time

import numpy as np
from mpi4py import MPI

from fem_mnn.design import paper_sample
from fem_mnn.fem.linear import FemModel, FemOptions
from fem_mnn.geometry.build import MeshOptions
from fem_mnn.learn.tasks import gram_force


def main(argv: list[str]) -> dict:
    ea, solver = int(argv[0]), argv[1]
    ref = float(argv[2]) if len(argv) > 2 else 1.0
    popts = tuple(tuple(s.split("=", 1)) for s in argv[3:])
    d = paper_sample()
    f = np.zeros((2, d.n_nodes, 2))
    f[0, 10, 1] = -gram_force(5.0)
    f[1, 12, 1] = -gram_force(10.0)
    t0 = time.perf_counter()
    mo = MeshOptions(dim=3, elements_across=ea, refinement=ref)
    m = FemModel(d, FemOptions(dim=3, mesh=mo, linear_solver=solver, petsc_options=popts), MPI.COMM_SELF)
    op = m.operator()
    t1 = time.perf_counter()
    s = op.solve(f)
    t2 = time.perf_counter()
    return {
        "ea": ea,
        "ref": ref,
        "solver": op.linear_solver,
        "pc": op.ksp.getPC().getType(),
        "dofs": op.n_dofs,
        "cells": op.mesh_info.n_cells,
        "outputs": s.u[0, [12, 13], 1].tolist(),
        "u": s.u.tolist(),
        "elong": s.elongation.tolist(),
        "timings": op.timings,
        "iterations": op.iterations,
        "operator_s": t1 - t0,
        "solve_s": t2 - t1,
        "total_s": t2 - t0,
        "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1:])))
