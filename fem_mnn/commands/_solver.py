"""The FE options on the command line, shared by the FE commands.

``--solver`` and ``--petsc-option`` (the linear solver: :func:`add_solver_arguments`) and the
discretisation ``--dim``, ``--degree``, ``--elements-across``, ``--refinement``, ``--measure``
(:func:`add_fem_arguments`, which also adds the solver options). Defined once here, so that a
command computing what ``fem gradient`` computes sees the same defaults.
"""

from __future__ import annotations

import argparse
from typing import Any

from fem_mnn.commands._common import natural, positive_float
from fem_mnn.core.errors import InputError

__all__ = ["add_fem_arguments", "add_solver_arguments", "fem_options", "solver_options"]


def add_solver_arguments(p: argparse.ArgumentParser | argparse._ArgumentGroup) -> None:
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


def add_fem_arguments(p: argparse.ArgumentParser | argparse._ArgumentGroup) -> None:
    """The FE discretisation options (``--dim`` ... ``--measure``) and the solver options."""
    p.add_argument("--dim", type=int, choices=(2, 3), default=2, help="2 = plane stress (default), 3 = solid")
    p.add_argument("--degree", type=int, choices=(1, 2, 3), default=2, help="Lagrange degree (default 2)")
    p.add_argument(
        "--elements-across",
        type=natural,
        default=3,
        metavar="N",
        help="elements across the thinnest section (default 3)",
    )
    p.add_argument("--refinement", type=positive_float, default=1.0, metavar="R", help="mesh-size divisor (default 1)")
    p.add_argument(
        "--measure",
        choices=("average", "centre"),
        default="average",
        help="node displacement: junction average (default) or centre value",
    )
    add_solver_arguments(p)


def fem_options(args: argparse.Namespace) -> Any:
    """The :class:`~fem_mnn.fem.linear.FemOptions` of :func:`add_fem_arguments` (imports DOLFINx).

    Raises:
        InputError: DOLFINx is not installed, or a bad ``--petsc-option``.
    """
    try:
        from fem_mnn.fem.linear import FemOptions
    except ModuleNotFoundError as exc:
        raise InputError(f"the FEM commands need DOLFINx, which is not installed ({exc.name})") from None
    from fem_mnn.geometry.build import MeshOptions

    mesh = MeshOptions(dim=args.dim, elements_across=args.elements_across, refinement=args.refinement)
    return FemOptions(dim=args.dim, degree=args.degree, mesh=mesh, measure=args.measure, **solver_options(args))
