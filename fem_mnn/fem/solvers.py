"""Linear solvers of the FE stiffness: direct (MUMPS) or iterative (CG + p-multigrid or GAMG), one KSP per operator.

:func:`make_ksp` builds the PETSc KSP that :class:`fem_mnn.fem.linear.FemOperator` keeps
for every forward, adjoint and batch solve; :func:`refresh_ksp` re-sets it up after the
matrix values changed (mesh morphing, same sparsity). The choice:

* ``"direct"``: ``preonly`` + MUMPS Cholesky (or LU, :attr:`FemOptions.factor`). One
  factorisation, then each right-hand side is two triangular solves; in serial a batch
  is one MatMatSolve.
* ``"iterative"``: conjugate gradients, preconditioned

  - with P2 (or higher) elements, 2D and 3D, by a two-level p-multigrid
    (:data:`PMG_DEFAULTS`): one SOR sweep on the P2 level, the Galerkin P1 operator
    ``P^T A P`` (P the P1 -> P2 interpolation on the same mesh) solved by MUMPS Cholesky.
    GAMG needs 85-250 CG iterations on P2 tetrahedra of the thin beams (aggregation on a
    quadratic operator with one element across), p-multigrid 35-49 (1-3 elements across,
    28-249 bonds); the P1 level has about a sixth of the dofs and a small fraction of the P2
    factor's fill. In 2D (981-bond strip, 2.9M dofs, one core) GAMG takes 77 iterations,
    17 s setup and 88 s for two solves, p-multigrid 18 iterations, 7 s and 30 s;
  - with P1 elements by PETSc GAMG (smoothed aggregation) with the rigid-body
    near-nullspace of the mesh (3 modes in 2D, 6 in 3D).

  The preconditioner is set up once per matrix and reused by every solve (forward,
  adjoint, every load case). The default relative tolerance :data:`RTOL` (on the
  unpreconditioned residual) makes the displacements, extracted quantities and
  gradients agree with the direct solve to about 1e-10 relative on the test designs
  (tests ask 1e-8). ``--petsc-option pc_type=gamg`` brings GAMG back for P2, with its
  defaults; hypre is not in the ``dolfinx-solver-real`` wheel (``pc_type bddc`` needs a
  MATIS matrix and is not wired here). The rigid-body near-nullspace is attached to
  every iterative operator (also the P1 coarse one), so a GAMG coarse solve
  (``mg_coarse_pc_type=gamg``) works too.
* ``"auto"`` (default): direct up to :data:`AUTO_DIRECT_MAX_DOFS_2D` dofs in 2D and
  :data:`AUTO_DIRECT_MAX_DOFS_3D` in 3D (MUMPS is faster there, and a batch of load
  cases costs little more than one), iterative beyond (where the factor's memory
  grows too fast; measured in ``fem-mnn bench --scale``).

PETSc options from :attr:`FemOptions.petsc_options` (``(key, value)`` pairs, keys
without the leading dash and without the prefix) are applied under the KSP's prefix
``fem_mnn_`` for this KSP only; ``PETSC_OPTIONS="-fem_mnn_..."`` reaches every KSP.
Everything here is collective over the matrix's communicator.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator
from typing import Any

from fem_mnn.core.errors import EngineError, InputError
from fem_mnn.fem._dolfinx import import_dolfinx

import_dolfinx()

import dolfinx.fem  # noqa: E402
import dolfinx.fem.petsc  # noqa: E402
import numpy as np  # noqa: E402
from mpi4py import MPI  # noqa: E402
from petsc4py import PETSc  # noqa: E402

__all__ = [
    "AUTO_DIRECT_MAX_DOFS_2D",
    "AUTO_DIRECT_MAX_DOFS_3D",
    "GAMG_DEFAULTS",
    "PMG_DEFAULTS",
    "PREFIX",
    "RTOL",
    "SOLVERS",
    "accumulate_ghosts",
    "assemble_matrix_into",
    "assemble_vector_into",
    "choose",
    "make_ksp",
    "norm2",
    "parse_petsc_options",
    "preconditioner",
    "refresh_ksp",
    "rigid_body_modes",
]

# dolfinx's assemble_vector / assemble_matrix are singledispatch functions: the variants that assemble into an
# existing PETSc Vec / Mat are picked here by name, so they are called (and type-checked) with their own signatures
_assemble_vector_into = dolfinx.fem.petsc.assemble_vector.dispatch(PETSc.Vec)
_assemble_matrix_into = dolfinx.fem.petsc.assemble_matrix.dispatch(PETSc.Mat)


def accumulate_ghosts(b: PETSc.Vec) -> None:
    """Add the ghost entries of an assembled vector to their owners (ADD_VALUES, SCATTER_REVERSE; collective)."""
    # petsc4py's spelling of the two modes: its stubs type InsertMode.ADD and ScatterMode.REVERSE as int,
    # which ghostUpdate's signature does not take; True and "reverse" are the documented equivalents
    b.ghostUpdate(addv=True, mode="reverse")


def assemble_vector_into(b: PETSc.Vec, form: dolfinx.fem.Form) -> None:
    """Add the linear ``form`` to ``b`` and its ghost entries to their owners (collective; ``b`` zeroed by the caller)."""
    _assemble_vector_into(b, form)
    accumulate_ghosts(b)


def assemble_matrix_into(A: PETSc.Mat, form: dolfinx.fem.Form, bcs: list[dolfinx.fem.DirichletBC]) -> None:
    """Add the bilinear ``form`` to ``A`` with the rows and columns of ``bcs`` as identity (collective; not assembled)."""
    _assemble_matrix_into(A, form, bcs=bcs)


def norm2(v: PETSc.Vec) -> float:
    """The 2-norm of ``v`` (collective)."""
    n = v.norm()
    # the default NORM_2 is one float; petsc4py's stub also admits NORM_1_AND_2's (1-norm, 2-norm) pair
    return n if isinstance(n, float) else n[1]


#: The values of ``--solver``: ``auto`` picks direct or iterative by size (see :func:`choose`).
SOLVERS = ("auto", "direct", "iterative")
#: Options prefix of every FE KSP.
PREFIX = "fem_mnn_"
#: Relative tolerance of CG (unpreconditioned residual norm); see the module docstring.
RTOL = 1e-12
#: ``auto`` picks MUMPS in 2D up to this many dofs (about 1000 bonds of P2 at the
#: default mesh size; the factor then needs ~4-5 GB).
AUTO_DIRECT_MAX_DOFS_2D = 3_500_000
#: ... and in 3D up to this many (the paper's sample at one element across its thin
#: ends: 120k dofs, MUMPS factorisation 3 s vs GAMG setup 3-5 s + 85-180 CG iterations
#: per solve, measured on a loaded 2-core machine; the factor's fill grows as n^(4/3)).
AUTO_DIRECT_MAX_DOFS_3D = 250_000


#: GAMG defaults (overridable with --petsc-option): measured on the lattices, 2 smoothing
#: steps and a small drop threshold keep the iteration count near-flat in size in 2D.
GAMG_DEFAULTS = (("pc_gamg_threshold", "0.01"), ("mg_levels_ksp_max_it", "2"))
#: p-multigrid defaults (overridable). Measured on the 3D paper sample (120k dofs, rtol 1e-12,
#: 2 load cases, loaded 2-core machine): one Richardson + SOR sweep 47 CG iterations, 7.6 s;
#: Chebyshev + SOR x2 29 it, 12.7 s; Chebyshev + Jacobi x2 65 it, 12.2 s (x4: 44 it, 16.1 s);
#: a GAMG coarse solve instead of MUMPS 68 it, 24.1 s; GAMG on P2 alone 245 it, 36.6 s.
PMG_DEFAULTS = (
    ("mg_levels_ksp_type", "richardson"),
    ("mg_levels_pc_type", "sor"),
    ("mg_levels_ksp_max_it", "1"),
    ("mg_coarse_ksp_type", "preonly"),
    ("mg_coarse_pc_type", "cholesky"),
    ("mg_coarse_pc_factor_mat_solver_type", "mumps"),
)


def preconditioner(V: dolfinx.fem.FunctionSpace, petsc_options: Iterable[tuple[str, str]] = ()) -> str:
    """The iterative path's preconditioner: ``"pmg"`` (degree >= 2), ``"gamg"`` or another ``pc_type``.

    A ``pc_type`` given in ``petsc_options`` (or ``PETSC_OPTIONS``) wins; ``pc_type=mg``
    is the p-multigrid where it applies.
    """
    given = dict(petsc_options).get("pc_type")
    opts = PETSc.Options()
    if given is None and opts.hasName(PREFIX + "pc_type"):
        given = opts.getString(PREFIX + "pc_type")
    pmg_ok = V.ufl_element().embedded_superdegree >= 2
    if given in (None, "mg"):
        return "pmg" if pmg_ok else ("mg" if given else "gamg")
    return str(given)


def choose(solver: str, n_dofs: int, gdim: int) -> str:
    """``"direct"`` or ``"iterative"`` for a requested ``solver`` (``auto`` by size and dimension)."""
    if solver not in SOLVERS:
        raise InputError(f"must be one of {', '.join(SOLVERS)}", field="solver", value=solver)
    if solver != "auto":
        return solver
    limit = AUTO_DIRECT_MAX_DOFS_2D if gdim == 2 else AUTO_DIRECT_MAX_DOFS_3D
    return "iterative" if n_dofs > limit else "direct"


def parse_petsc_options(items: Iterable[str] | None) -> tuple[tuple[str, str], ...]:
    """``["ksp_rtol=1e-10", "-pc_type=gamg", "ksp_view"]`` -> ``(("ksp_rtol", "1e-10"), ...)``.

    A leading dash and the ``fem_mnn_`` prefix are dropped; a key without ``=`` is a flag
    (value ``""``).
    """
    out = []
    for it in items or ():
        key, _, val = str(it).partition("=")
        key = key.strip().lstrip("-")
        if key.startswith(PREFIX):
            key = key[len(PREFIX) :]
        if not key or any(c.isspace() for c in key):
            raise InputError("needs KEY=VALUE (a PETSc option without the prefix)", field="petsc_option", value=it)
        out.append((key, val.strip()))
    return tuple(out)


def rigid_body_modes(V: dolfinx.fem.FunctionSpace, A: PETSc.Mat) -> list[PETSc.Vec]:
    """Orthonormal rigid-body modes of the vector space V (3 in 2D, 6 in 3D) as PETSc vectors like A's columns."""
    gdim = V.mesh.geometry.dim
    n = V.dofmap.index_map.size_local
    bs = V.dofmap.index_map_bs
    x = V.tabulate_dof_coordinates()[:n]
    comm = A.getComm().tompi4py()
    # centred coordinates: better conditioned rotation modes
    lo = comm.allreduce(x.sum(axis=0), op=MPI.SUM) / max(comm.allreduce(n, op=MPI.SUM), 1)
    x = x - lo
    nmodes = 3 if gdim == 2 else 6
    B = np.zeros((nmodes, n, bs))
    for k in range(gdim):
        B[k][:, k] = 1.0
    if gdim == 2:
        B[2][:, 0], B[2][:, 1] = -x[:, 1], x[:, 0]
    else:
        B[3][:, 0], B[3][:, 1] = -x[:, 1], x[:, 0]
        B[4][:, 0], B[4][:, 2] = x[:, 2], -x[:, 0]
        B[5][:, 2], B[5][:, 1] = x[:, 1], -x[:, 2]
    B = B.reshape(nmodes, -1)
    for i in range(nmodes):  # Gram-Schmidt over all ranks (twice is enough)
        for _ in range(2):
            for j in range(i):
                B[i] -= comm.allreduce(float(B[i] @ B[j]), op=MPI.SUM) * B[j]
        B[i] /= np.sqrt(comm.allreduce(float(B[i] @ B[i]), op=MPI.SUM))
    vecs = []
    for i in range(nmodes):
        v = A.createVecRight()
        v.array[:] = B[i]
        vecs.append(v)
    return vecs


def _near_nullspace(A: PETSc.Mat, V: dolfinx.fem.FunctionSpace) -> None:
    modes = rigid_body_modes(V, A)
    ns = PETSc.NullSpace().create(vectors=modes, comm=A.getComm())
    A.setNearNullSpace(ns)


@contextlib.contextmanager
def _options(options: Iterable[tuple[str, str]]) -> Iterator[None]:
    """``options`` under the prefix in PETSc's database for the block, removed again afterwards.

    The block must hold the setup too, not only ``setFromOptions``: PCMG and GAMG read
    their levels' options (``mg_levels_*``, ``mg_coarse_*``) when the levels are made,
    in ``KSPSetUp``.
    """
    opts = PETSc.Options()
    old: dict[str, str | None] = {}
    for k, v in options:
        full = PREFIX + k
        if full not in old:
            old[full] = opts.getString(full) if opts.hasName(full) else None
        opts.setValue(full, v)
    try:
        yield
    finally:
        for full, prev in old.items():
            if prev is None:
                opts.delValue(full)
            else:
                opts.setValue(full, prev)


def _check_mumps(ksp: PETSc.KSP) -> None:
    pc = ksp.getPC()
    if pc.getType() in ("lu", "cholesky") and pc.getFactorSolverType() == "mumps":
        info = pc.getFactorMatrix().getMumpsInfog(1)
        if info < 0:
            raise EngineError(f"MUMPS factorisation failed (INFOG(1) = {info})")


def _setup_pmg(ksp: PETSc.KSP, A: PETSc.Mat, V: dolfinx.fem.FunctionSpace) -> None:
    """Two-level p-multigrid on ``ksp``: P2 (V) smoothed, Galerkin P1 coarse operator on the same mesh.

    The interpolation and the coarse operator are kept on the KSP (``fem_mnn_pmg``) for
    :func:`refresh_ksp`. With the symmetric clamp (identity rows and columns) ``P^T A P``
    is SPD; it is not the clamped P1 operator, only a preconditioner for it.
    """
    gdim = V.mesh.geometry.dim
    V1 = dolfinx.fem.functionspace(V.mesh, ("Lagrange", 1, (gdim,)))
    P = dolfinx.fem.petsc.interpolation_matrix(V1, V)
    P.assemble()
    Ac = A.ptap(P)
    _coarse_setup(Ac, V1, gdim)
    pc = ksp.getPC()
    pc.setType("mg")
    pc.setMGLevels(2)
    pc.setMGType(PETSc.PC.MGType.MULTIPLICATIVE)
    pc.setMGCycleType(PETSc.PC.MGCycleType.V)
    pc.setMGInterpolation(1, P)
    pc.getMGCoarseSolve().setOperators(Ac)
    ksp.setAttr("fem_mnn_pmg", (P, Ac, V1))


def _coarse_setup(Ac: PETSc.Mat, V1: dolfinx.fem.FunctionSpace, gdim: int) -> None:
    Ac.setBlockSize(gdim)
    Ac.setOption(PETSc.Mat.Option.SPD, True)
    _near_nullspace(Ac, V1)  # for a GAMG coarse solve, if asked for


def make_ksp(
    A: PETSc.Mat,
    V: dolfinx.fem.FunctionSpace,
    kind: str,
    factor: str = "cholesky",
    petsc_options: Iterable[tuple[str, str]] = (),
) -> PETSc.KSP:
    """A set-up KSP for the assembled stiffness ``A`` on space ``V`` (collective).

    Args:
        A: The assembled matrix (clamped rows: identity), symmetric.
        V: Its displacement space (rigid-body modes, the P1 space of the p-multigrid).
        kind: ``"direct"`` or ``"iterative"`` (see :func:`choose`).
        factor: ``"cholesky"`` or ``"lu"`` for the direct solver.
        petsc_options: ``(key, value)`` pairs applied under :data:`PREFIX` (override the defaults).
    """
    petsc_options = list(petsc_options)
    ksp = PETSc.KSP().create(A.getComm())
    ksp.setOptionsPrefix(PREFIX)
    ksp.setOperators(A)
    pc = ksp.getPC()
    if kind == "direct":
        ksp.setType("preonly")
        pc.setType(factor)
        pc.setFactorSolverType("mumps")
    elif kind == "iterative":
        A.setOption(PETSc.Mat.Option.SPD, True)
        _near_nullspace(A, V)
        ksp.setType("cg")
        ksp.setNormType(PETSc.KSP.NormType.UNPRECONDITIONED)
        ksp.setTolerances(rtol=RTOL, atol=0.0, max_it=2000)
        which = preconditioner(V, petsc_options)
        defaults: tuple[tuple[str, str], ...] = ()
        if which == "pmg":
            _setup_pmg(ksp, A, V)
            defaults = PMG_DEFAULTS
        elif which == "gamg":
            pc.setType("gamg")
            pc.setGAMGType("agg")
            defaults = GAMG_DEFAULTS
        opts = PETSc.Options()
        given = {k for k, _ in petsc_options}
        petsc_options = [
            *((k, v) for k, v in defaults if k not in given and not opts.hasName(PREFIX + k)),
            *petsc_options,
        ]
    else:
        raise InputError("must be 'direct' or 'iterative'", field="solver", value=kind)
    try:
        with _options(petsc_options):
            ksp.setFromOptions()
            ksp.setUp()
    except PETSc.Error as exc:
        raise EngineError(
            f"{'MUMPS factorisation' if kind == 'direct' else 'preconditioner setup'} failed: {exc}"
        ) from None
    _check_mumps(ksp)
    return ksp


def refresh_ksp(ksp: PETSc.KSP, A: PETSc.Mat, V: dolfinx.fem.FunctionSpace) -> None:
    """Set ``ksp`` up again after ``A``'s values changed, same sparsity (collective).

    Direct: a numeric refactorisation (MUMPS keeps its analysis). Iterative: the
    near-nullspace of the moved mesh and a new preconditioner setup on the new matrix
    (p-multigrid: the coarse operator ``P^T A P`` again, then its refactorisation).
    """
    if ksp.getType() != "preonly":
        A.setOption(PETSc.Mat.Option.SPD, True)
        _near_nullspace(A, V)
        pmg = ksp.getAttr("fem_mnn_pmg")
        if isinstance(
            pmg, tuple
        ):  # (P, Ac, V1) of _setup_pmg: new Galerkin coarse operator, same interpolation (same mesh topology)
            P, Ac, V1 = pmg
            A.ptap(P, result=Ac)
            _coarse_setup(Ac, V1, V.mesh.geometry.dim)
            ksp.getPC().getMGCoarseSolve().setOperators(Ac)
    ksp.setOperators(A)
    try:
        ksp.setUp()
    except PETSc.Error as exc:
        raise EngineError(f"solver setup failed: {exc}") from None
    _check_mumps(ksp)


def is_direct(ksp: PETSc.KSP) -> bool:
    """True for a ``preonly`` + factorisation KSP (MatMatSolve batches are possible)."""
    return ksp.getType() == "preonly" and ksp.getPC().getType() in ("lu", "cholesky")


def check_converged(ksp: PETSc.KSP) -> None:
    """Raise if the last solve did not converge."""
    if ksp.is_diverged:  # a negative converged reason
        reason = ksp.getConvergedReason()
        raise EngineError(f"linear solve failed (KSP reason {reason}, {ksp.getIterationNumber()} iterations)")


def summary(ksp: PETSc.KSP) -> dict[str, Any]:
    """JSON-ready description of a KSP."""
    pc = ksp.getPC()
    d: dict[str, Any] = {"ksp": ksp.getType(), "pc": pc.getType()}
    if is_direct(ksp):
        d["factor_package"] = pc.getFactorSolverType()
    else:
        d["rtol"] = ksp.getTolerances()[0]
    return d
