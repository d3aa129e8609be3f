"""Preconditioners of CG on the 3D paper sample (issue 13): setup, iterations, time, error vs MUMPS.

``python bench/3d/preconditioners.py ELEMENTS_ACROSS "CFG,CFG,..."``; a CFG is a name and
PETSc options, ``;``-separated: ``gamg;pc_gamg_threshold=0.05;mg_levels_pc_type=sor``, or
``pmg-mumps;...`` / ``pmg-gamg;...`` (two-level P2 -> P1 p-multigrid, Galerkin coarse operator
solved by MUMPS Cholesky or one GAMG cycle). Two load cases (Figure 2's and Figure 1's), CG
on the unpreconditioned residual; per config one JSON line: setup s, iterations and solve s
at rtol 1e-12, and the iterations, seconds and output error (max relative, vs the direct
solve) at rtol 1e-6, 1e-8, 1e-10. ``preconditioners.json`` holds the committed comparison.
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any

from fem_mnn.fem._dolfinx import import_dolfinx

import_dolfinx()  # dolfinx_solver before dolfinx and petsc4py

import dolfinx  # noqa: E402
import dolfinx.fem.petsc  # noqa: E402
import numpy as np  # noqa: E402
from mpi4py import MPI  # noqa: E402
from petsc4py import PETSc  # noqa: E402

from fem_mnn.design import paper_sample  # noqa: E402
from fem_mnn.fem import solvers  # noqa: E402
from fem_mnn.fem.linear import FemModel, FemOptions  # noqa: E402
from fem_mnn.geometry.build import MeshOptions  # noqa: E402
from fem_mnn.learn.tasks import gram_force  # noqa: E402


def _pmg(ksp: Any, A: Any, V: Any, coarse: str) -> tuple:
    V1 = dolfinx.fem.functionspace(V.mesh, ("Lagrange", 1, (3,)))
    P = dolfinx.fem.petsc.interpolation_matrix(V1, V)
    P.assemble()
    Ac = A.ptap(P)
    Ac.setBlockSize(3)
    if coarse == "gamg":
        Ac.setNearNullSpace(PETSc.NullSpace().create(vectors=solvers.rigid_body_modes(V1, Ac), comm=Ac.getComm()))
    pc = ksp.getPC()
    pc.setType("mg")
    pc.setMGLevels(2)
    pc.setMGInterpolation(1, P)
    pc.getMGCoarseSolve().setOperators(Ac)
    return P, Ac


def main(ea: int, configs: list[str]) -> list[dict]:
    d = paper_sample()
    f = np.zeros((2, d.n_nodes, 2))
    f[0, 10, 1] = -gram_force(5.0)
    f[1, 12, 1] = -gram_force(10.0)
    mo = MeshOptions(dim=3, elements_across=ea)
    op = FemModel(d, FemOptions(dim=3, mesh=mo, linear_solver="direct"), MPI.COMM_SELF).operator()
    ref = op.solve_fields(f)
    A, V = op.A, op.V
    scale = np.max(np.abs(ref.u))
    out = []
    for k, cfg in enumerate(configs):
        A.setOption(PETSc.Mat.Option.SPD, True)
        solvers._near_nullspace(A, V)
        ksp = PETSc.KSP().create(A.getComm())
        pre = f"t{k}_"
        ksp.setOptionsPrefix(pre)
        ksp.setOperators(A)
        ksp.setType("cg")
        ksp.setNormType(PETSc.KSP.NormType.UNPRECONDITIONED)
        ksp.setTolerances(rtol=1e-12, atol=0, max_it=3000)
        opts = PETSc.Options()
        name, *kv = cfg.split(";")
        for item in kv:
            key, _, val = item.partition("=")
            opts.setValue(pre + key, val)
        t = time.perf_counter()
        keep = None  # noqa: F841  (the p-multigrid's matrices live as long as the KSP)
        if name == "gamg":
            ksp.getPC().setType("gamg")
        else:
            coarse = name.split("-")[1]
            keep = _pmg(ksp, A, V, coarse)  # noqa: F841
            opts.setValue(pre + "mg_coarse_ksp_type", "preonly")
            if coarse == "mumps":
                opts.setValue(pre + "mg_coarse_pc_type", "cholesky")
                opts.setValue(pre + "mg_coarse_pc_factor_mat_solver_type", "mumps")
            else:
                opts.setValue(pre + "mg_coarse_pc_type", "gamg")
        ksp.setFromOptions()
        ksp.setUp()
        row: dict[str, Any] = {"cfg": cfg, "setup_s": time.perf_counter() - t, "by_rtol": {}}
        op.ksp, op.block_solve = ksp, False
        for rt in (1e-12, 1e-6, 1e-8, 1e-10):
            ksp.setTolerances(rtol=rt)
            op.iterations = []
            t = time.perf_counter()
            s = op.solve_fields(f)
            r = {
                "its": op.iterations,
                "s": time.perf_counter() - t,
                "err_u": float(np.max(np.abs(s.u - ref.u)) / scale),
            }
            row["by_rtol"][f"{rt:g}"] = r
        print(json.dumps(row), flush=True)
        out.append(row)
        ksp.destroy()
    return out


if __name__ == "__main__":
    main(int(sys.argv[1]), sys.argv[2].split(","))
