"""Linear eigenvalue buckling of the lattice under its design loads (DOLFINx + SLEPc).

The design loads F give a linear prestress sigma0 (the plane-stress or 3D solution
of :mod:`fem_mnn.fem` on the same mesh, clamp and load distribution). Buckling at
load factor lambda means a non-trivial solution of::

    (K + lambda K_G(sigma0)) phi = 0,   K_G[phi, psi] = int t sigma0 : (grad phi^T grad psi) dx

(``grad(phi) sigma0 : grad(psi)``; t in plane stress). It is solved as the symmetric-definite
generalised eigenproblem ``-K_G phi = eta K phi`` (K is SPD once the fixed nodes are
clamped) for the largest eta with Krylov-Schur; lambda = 1/eta. Clamped dofs carry a
unit diagonal in K and a zero one in K_G, so they map to eta = 0 and never pollute the
spectrum. Only positive lambda (the loads as given, not reversed) count; the first
mode is the one with the smallest positive lambda. The prestress is linear (classical
linearised buckling, no pre-buckling rotations), which is accurate for stiff
pre-buckling paths such as a compressed column, and optimistic when the lattice
already deforms a lot before buckling (see :mod:`fem_mnn.fem.nonlinear`).

Collective over the model's communicator.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np

from fem_mnn.core.errors import EngineError, InputError
from fem_mnn.design.records import Design
from fem_mnn.fem._dolfinx import import_dolfinx
from fem_mnn.fem.linear import FemModel, FemOptions

import_dolfinx()

import dolfinx
import dolfinx.fem
import dolfinx.fem.petsc
import ufl
from petsc4py import PETSc
from slepc4py import SLEPc

__all__ = [
    "BucklingOptions",
    "BucklingResult",
    "bond_mode_amplitude",
    "buckling_analysis",
    "euler_cantilever_load",
]


@dataclass(frozen=True)
class BucklingOptions:
    """Eigensolver settings.

    Attributes:
        n_modes: Eigenpairs requested (the smallest positive load factors among them are kept).
        tol: SLEPc relative tolerance.
        max_it: SLEPc iterations.
    """

    n_modes: int = 6
    tol: float = 1e-9
    max_it: int = 500

    def __post_init__(self) -> None:
        if not isinstance(self.n_modes, int) or self.n_modes < 1:
            raise InputError("must be an integer >= 1", field="n_modes", value=self.n_modes)


class BucklingResult(NamedTuple):
    """Load factors and mode shapes."""

    load_factors: np.ndarray
    """(m,) positive buckling load factors, ascending (empty: none found, i.e. no compression that can buckle)."""
    modes: list
    """One dolfinx Function per load factor (normalised to max nodal |phi| = 1)."""
    mode_node_u: np.ndarray
    """(m, n_nodes, 2) junction-average displacement of each mode."""
    prestress_u: np.ndarray
    """(n_nodes, 2) node displacements of the linear prestress solution."""
    prestress_field: Any
    """The prestress displacement Function."""
    n_dofs: int
    """Global number of displacement dofs."""

    @property
    def first(self) -> float:
        """Load factor of the first mode (inf when none was found)."""
        return float(self.load_factors[0]) if self.load_factors.size else math.inf


def euler_cantilever_load(E: float, t: float, w: float, free_length: float, tip_offset: float = 0.0) -> float:
    """Euler load (N) of an in-plane clamped-free column of width w, thickness t.

    ``I = t w^3 / 12``. The axial load acts at a rigid, co-linear extension of
    length ``tip_offset`` beyond the free end (a junction hub loaded at its
    centre): the critical ``k = sqrt(P / EI)`` solves ``tan(k l) = 1 / (k a)``
    (``k l = pi / 2`` for a = 0, the textbook ``P = pi^2 EI / (4 l^2)``).
    """
    EI = E * t * w**3 / 12.0
    ell, a = float(free_length), float(tip_offset)
    if a <= 0:
        kl = math.pi / 2
    else:
        # f(x) = x tan(x) - l / a on (0, pi/2): increasing from -l/a to +inf
        lo, hi = 1e-12, math.pi / 2 - 1e-12
        for _ in range(200):
            mid = 0.5 * (lo + hi)
            if mid * math.tan(mid) * a / ell < 1.0:
                lo = mid
            else:
                hi = mid
        kl = 0.5 * (lo + hi)
    return kl**2 * EI / ell**2


def buckling_analysis(
    design: Design,
    loads: np.ndarray,
    fem_options: FemOptions | None = None,
    options: BucklingOptions | None = None,
    comm: Any = None,
    model: FemModel | None = None,
) -> BucklingResult:
    """Linearised buckling load factors of ``design`` under ``loads`` (collective).

    Args:
        design: The lattice (need not pass the spring rigidity check).
        loads: (n_nodes, 2) design loads (N); the load factor multiplies all of them.
        fem_options: Discretisation (plane stress by default).
        options: Eigensolver settings.
        comm: MPI communicator (default ``MPI.COMM_WORLD``).
        model: An existing linear model to reuse its mesh (its design must be ``design``).

    Raises:
        EngineError: SLEPc failed.
    """
    o = options or BucklingOptions()
    fem = model or FemModel(design, fem_options, comm=comm)
    op = fem.operator()
    disc, _ = fem.discretisation()
    F = np.asarray(loads, dtype=float)
    pre = op.solve_fields(F)
    u0 = pre.fields[0]
    V = disc.V
    phi, psi = ufl.TrialFunction(V), ufl.TestFunction(V)
    sigma0 = disc.theta * disc.sigma(u0)
    kg = dolfinx.fem.form(disc.tfac * ufl.inner(ufl.grad(phi) * sigma0, ufl.grad(psi)) * ufl.dx(domain=disc.mesh))
    KG = dolfinx.fem.petsc.assemble_matrix(kg, bcs=[disc.bc], diag=0.0)
    KG.assemble()
    KG.scale(-1.0)
    K = op.A

    eps = SLEPc.EPS().create(disc.comm)
    eps.setOptionsPrefix(f"fem_mnn_buckling_{id(eps):x}_")
    eps.setOperators(KG, K)
    eps.setProblemType(SLEPc.EPS.ProblemType.GHEP)
    eps.setType(SLEPc.EPS.Type.KRYLOVSCHUR)
    eps.setWhichEigenpairs(SLEPc.EPS.Which.LARGEST_REAL)
    eps.setDimensions(nev=o.n_modes)
    eps.setTolerances(o.tol, o.max_it)
    st = eps.getST()
    st.setType(SLEPc.ST.Type.SHIFT)
    ksp = st.getKSP()
    ksp.setType("preonly")
    ksp.getPC().setType("cholesky")
    ksp.getPC().setFactorSolverType("mumps")
    PETSc.Options().setValue(f"{eps.getOptionsPrefix()}st_mat_mumps_icntl_14", 200)  # MUMPS work-array margin
    eps.setFromOptions()
    try:
        eps.solve()
    except PETSc.Error as exc:
        raise EngineError(f"SLEPc buckling eigensolve failed: {exc}") from None
    nconv = eps.getConverged()
    etas, vecs = [], []
    for i in range(nconv):
        vr = K.createVecRight()
        eta = eps.getEigenpair(i, vr).real
        etas.append(eta)
        vecs.append(vr)
    eps.destroy()
    KG.destroy()

    scale = max([abs(e) for e in etas] + [1e-300])
    keep = sorted((i for i, e in enumerate(etas) if e > 1e-10 * scale), key=lambda i: -etas[i])
    factors: list[float] = []
    modes: list[dolfinx.fem.Function] = []
    node_u: list[np.ndarray] = []
    for i in keep:
        f = dolfinx.fem.Function(V, name=f"buckling_mode_{len(modes)}")
        vecs[i].copy(f.x.petsc_vec)
        f.x.scatter_forward()
        avg = disc.extractor.node_quantities(f)[0][:, :2]
        local = np.abs(f.x.array).max() if f.x.array.size else 0.0
        from mpi4py import MPI

        m = disc.comm.allreduce(float(local), op=MPI.MAX)
        if m > 0:
            f.x.array[:] /= m
            avg = avg / m
        factors.append(1.0 / etas[i])
        modes.append(f)
        node_u.append(avg)
    for v in vecs:
        v.destroy()
    return BucklingResult(
        load_factors=np.array(factors),
        modes=modes,
        mode_node_u=np.array(node_u).reshape(len(node_u), design.n_nodes, 2),
        prestress_u=pre.u[0],
        prestress_field=u0,
        n_dofs=op.n_dofs,
    )


def bond_mode_amplitude(result: BucklingResult, model: FemModel, index: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Which bonds a buckling mode bends: per-bond amplitude, and how much of it is bowing (collective).

    The mode is normalised to max nodal |phi| = 1. ``amplitude[b]`` is the largest |phi| at
    the dofs of bond b's cells; ``bowing[b]`` is that minus the larger junction-average |phi|
    of its two end nodes (clipped at 0): a bond that buckles between its junctions bows far
    more than its ends move (a local mode: bowing near 1), a bond carried along by a global
    mode does not.

    Args:
        result: :func:`buckling_analysis` on ``model`` (same mesh).
        model: The linear model whose mesh the modes live on.
        index: Which mode (0 = the first).

    Returns:
        ``(amplitude, bowing)``, each (n_bonds,).

    Raises:
        InputError: ``index`` is not a computed mode.
    """
    from mpi4py import MPI

    if not 0 <= index < len(result.modes):
        raise InputError(f"only {len(result.modes)} mode(s) computed", field="index", value=index)
    disc, _ = model.discretisation()
    design = model.design
    f = result.modes[index]
    bs = f.function_space.dofmap.index_map_bs
    dof_amp = np.linalg.norm(f.x.array.reshape(-1, bs)[:, :2], axis=1)
    bond_of_cell = disc.regions.bond_of_cell
    cells = f.function_space.dofmap.list[: bond_of_cell.size]
    cell_amp = dof_amp[cells].max(axis=1) if cells.size else np.zeros(0)
    local = np.zeros(design.n_bonds)
    sel = bond_of_cell >= 0
    np.maximum.at(local, bond_of_cell[sel], cell_amp[sel])
    amplitude = np.empty_like(local)
    disc.comm.Allreduce(local, amplitude, op=MPI.MAX)
    node_amp = np.hypot(*result.mode_node_u[index].T)
    ends = np.maximum(node_amp[design.bonds[:, 0]], node_amp[design.bonds[:, 1]])
    return amplitude, np.clip(amplitude - ends, 0.0, None)
