"""``--solver`` and ``--petsc-option``: the FE linear solver on the command line (shared by the FE commands)."""

from __future__ import annotations

import argparse

from fem_mnn.core.errors import InputError

__all__ = ["add_solver_arguments", "solver_options"]


def add_solver_arguments(p: argparse.ArgumentParser) -> None:
    """``--solver auto|direct|iterative`` and repeatable ``--petsc-option KEY=VALUE``."""
    p.add_argument(
        "--solver",
        choices=("auto", "direct", "iterative"),
        default="auto",
        help="linear solver: direct (MUMPS Cholesky), iterative (CG + P2/P1 p-multigrid for P2, CG + GAMG for P1) or auto "
        "(default: direct in 2D up to ~3.5M dofs and in 3D up to 250k dofs, iterative beyond)",
    )
    p.add_argument(
        "--petsc-option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="PETSc option for the FE solver, without the dash or prefix (repeatable), e.g. ksp_rtol=1e-10, "
        "pc_gamg_threshold=0.05, mat_mumps_icntl_14=50, ksp_view",
    )


def solver_options(args: argparse.Namespace) -> dict:
    """FemOptions keywords from :func:`add_solver_arguments` (InputError names --petsc-option)."""
    from fem_mnn.fem.solvers import parse_petsc_options

    try:
        po = parse_petsc_options(getattr(args, "petsc_option", None))
    except InputError as exc:
        raise InputError(exc.args[0] if exc.args else "bad option", source="--petsc-option") from None
    return {"linear_solver": getattr(args, "solver", "auto"), "petsc_options": po}
