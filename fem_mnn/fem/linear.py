"""The printed lattice as a linear-elastic continuum (DOLFINx), behind the model interface.

:class:`FemModel` implements :class:`fem_mnn.contract.MechanicalModel`: ``operator(widths)``
meshes the lattice for those widths (cached: remeshing only when they change),
assembles the stiffness once, factorises it once with an explicit PETSc KSP
(``preonly`` + MUMPS Cholesky or LU) and returns a :class:`FemOperator`, whose
:meth:`FemOperator.solve` answers any number of load cases (forward and adjoint)
with that one factorisation. :func:`fem_mnn.contract.backprop_operator` works on it
unchanged.

Physics and conventions (units mm, N, MPa):

* plane stress with thickness ``t`` (``dim=2``, default) or a 3D solid (``dim=3``);
  Lagrange elements of degree 2 by default; E and nu from the design;
* a fixed node clamps its whole junction region (every dof of its hub cells);
* a load F at node j is a uniform body force over junction region j with total
  force F (density F / (A_j t) in plane stress, F / V_j in 3D). It is
  work-conjugate to the region-average displacement, which is the default node
  displacement (``measure="average"``), so the adjoint load -dL/du of a loss on
  node displacements is exact for the discretised problem. With
  ``measure="centre"`` node displacements are point values at the node centres
  while loads stay region body forces (the adjoint is then approximate);
* per-bond stiffness factors theta_i multiply E on the cells of bond i (1 by
  default); ``dK/dtheta_i`` is the energy product over bond i
  (:meth:`FemOperator.energy_product`), which gives the exact discrete gradient
  ``dL/dtheta_i = int_{bond i} sigma(u) : eps(u_adj) t dx`` without remeshing.

``k`` and ``dk_dw`` of an operator come from a pluggable spring law (default the
paper's nominal ``E t w / L``) and feed the in situ *estimate* ``k'(w) e e_adj``.

All methods that touch the mesh are collective over the model's communicator:
call them on every rank with the same arguments. The KSP has the options prefix
``fem_mnn_``: e.g. ``PETSC_OPTIONS="-fem_mnn_ksp_view"`` or
``-fem_mnn_mat_mumps_icntl_14 50`` reach every factorisation.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, NamedTuple, Protocol

import numpy as np

from fem_mnn.contract import Loss, Solution, SpringLaw, as_cases, elongations, nominal_stiffness
from fem_mnn.core.errors import EngineError, InputError
from fem_mnn.core.log import get_logger
from fem_mnn.core.resources import FeEstimate, check_memory, estimate_fe
from fem_mnn.core.units import lame_parameters
from fem_mnn.design.records import Design
from fem_mnn.design.validate import components
from fem_mnn.fem._dolfinx import import_dolfinx
from fem_mnn.fem.extract import (
    CellIntegrator,
    Extractor,
    RegionMatrices,
    region_expression,
    region_map,
    region_sums,
)
from fem_mnn.geometry import tags as _tags

import_dolfinx()  # loads dolfinx_solver's PETSc before petsc4py

import dolfinx
import dolfinx.fem
import dolfinx.fem.petsc
import ufl
from mpi4py import MPI
from petsc4py import PETSc

from fem_mnn.fem import solvers as _solvers
from fem_mnn.fem.meshing import MeshData, generate_mesh
from fem_mnn.geometry.build import GEOMETRY_DECIMALS, GEOMETRY_RESOLUTION, geometry_widths  # noqa: F401 (re-exported)

if TYPE_CHECKING:
    from fem_mnn.fem.morph import MorphingFemModel
    from fem_mnn.fem.shape import _ShapeForms
    from fem_mnn.fem.width_map import WidthMap
    from fem_mnn.geometry.build import GeometryInfo, MeshOptions

__all__ = [
    "Discretisation",
    "EnergyProducts",
    "FemModel",
    "FemOperator",
    "FemOptions",
    "FemSolution",
    "Mesher",
    "ThetaGradient",
    "fd_width_gradient",
    "stiffness_factor_gradient",
]


class Mesher(Protocol):
    """What :class:`FemModel` calls to mesh a design: ``mesher(design, mesh_options, comm)`` (collective)."""

    def __call__(self, design: Design, mesh_options: MeshOptions, comm: MPI.Comm, /) -> MeshData:
        """The tagged DOLFINx mesh of ``design`` (:class:`~fem_mnn.fem.meshing.MeshData`), on ``comm``."""
        ...


log = get_logger(__name__)

#: Steps predicted (or found) to take at least this long are announced on the log (INFO).
LONG_STEP_SECONDS = 2.0


def _predicted_seconds(step: str, est: FeEstimate) -> float:
    """Rough wall time of a step on this machine (measured with the memory calibration), to decide what to announce."""
    if step == "mesh":
        return 1.0 + est.n_cells * (2e-5 if est.dim == 2 else 6e-5)
    if step == "assemble":
        return 1e-7 * est.matrix_entries
    if step == "factorise":
        return 1.8e-7 * est.factor_entries * (max(1.0, est.factor_entries / 1e7) ** 0.3 if est.dim == 3 else 1.0)
    if step == "precondition":  # p-multigrid or GAMG setup: ~4.5 s per 1e6 dofs (3D paper sample, 1.2M dofs)
        return 4.5e-6 * est.n_dofs
    return 0.0


@contextlib.contextmanager
def _step(what: str, predicted: float, loud: bool = True):  # noqa: ANN202
    """Log a step: its start when predicted to be long, its end when it was (INFO; else DEBUG)."""
    announce = loud and predicted >= LONG_STEP_SECONDS
    log.log(logging.INFO if announce else logging.DEBUG, "%s (about %.0f s) ...", what, predicted)
    t0 = time.perf_counter()
    yield
    dt = time.perf_counter() - t0
    log.log(logging.INFO if loud and (announce or dt >= LONG_STEP_SECONDS) else logging.DEBUG, "%s: %.1f s", what, dt)


@dataclass(frozen=True)
class FemOptions:
    """How the continuum is discretised and solved.

    Attributes:
        dim: 2 = plane stress with the design's thickness (default); 3 = solid.
        degree: Lagrange degree of the displacement (2 = P2, default).
        mesh: :class:`fem_mnn.geometry.MeshOptions` (its ``dim`` is overridden by
            ``dim``); None = the geometry defaults.
        measure: Node displacement: ``"average"`` over the junction region
            (default, work-conjugate to the loads) or ``"centre"`` (point value at
            the node centre, what marker tracking measures).
        solver: ``"cholesky"`` (default; the clamped stiffness is SPD) or ``"lu"``,
            both through MUMPS (the factorisation of the direct solver).
        linear_solver: ``"auto"`` (default), ``"direct"`` (MUMPS) or ``"iterative"``
            (CG + P2/P1 p-multigrid for P2, CG + GAMG for P1); see :mod:`fem_mnn.fem.solvers`.
        petsc_options: ``(key, value)`` PETSc options for the KSP, without the
            ``fem_mnn_`` prefix (e.g. ``(("ksp_rtol", "1e-10"),)``).
    """

    dim: int = 2
    degree: int = 2
    mesh: MeshOptions | None = None
    measure: Literal["average", "centre"] = "average"
    solver: Literal["cholesky", "lu"] = "cholesky"
    linear_solver: Literal["auto", "direct", "iterative"] = "auto"
    petsc_options: tuple[tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        if self.dim not in (2, 3):
            raise InputError("must be 2 (plane stress) or 3 (solid)", field="dim", value=self.dim)
        if not isinstance(self.degree, int) or not 1 <= self.degree <= 4:
            raise InputError("must be an integer in 1..4", field="degree", value=self.degree)
        if self.measure not in ("average", "centre"):
            raise InputError("must be 'average' or 'centre'", field="measure", value=self.measure)
        if self.solver not in ("cholesky", "lu"):
            raise InputError("must be 'cholesky' or 'lu'", field="solver", value=self.solver)
        if self.linear_solver not in _solvers.SOLVERS:
            raise InputError("must be 'auto', 'direct' or 'iterative'", field="linear_solver", value=self.linear_solver)
        object.__setattr__(self, "petsc_options", tuple((str(k), str(v)) for k, v in self.petsc_options))

    def mesh_options(self) -> MeshOptions:
        """The mesh options to pass to the mesher, with ``dim`` set to :attr:`dim`."""
        if self.mesh is None:
            from fem_mnn.geometry.build import MeshOptions

            return MeshOptions(dim=self.dim)
        return dataclasses.replace(self.mesh, dim=self.dim)


class FemSolution(NamedTuple):
    """Response to a batch of load cases, with the FE fields."""

    u: np.ndarray
    """(n_cases, n_nodes, 2) node displacements (mm), by the model's ``measure``."""
    elongation: np.ndarray
    """(n_cases, n_bonds) bond elongations (mm) from ``u``."""
    rotation: np.ndarray
    """(n_cases, n_nodes) junction-average rotation omega_z (rad)."""
    u_average: np.ndarray
    """(n_cases, n_nodes, 2) junction-region averages (whatever the measure)."""
    fields: list
    """One dolfinx Function per case (vector P``degree``); ghosts updated."""


class EnergyProducts(NamedTuple):
    """Region integrals of ``sigma_E(u) : eps(v)`` (times t in 2D) with the base modulus E."""

    bond: np.ndarray
    """(n_cases, n_bonds): dK/dtheta_i contracted with (u, v)."""
    junction: np.ndarray
    """(n_cases, n_nodes): the same over every junction region."""


class ThetaGradient(NamedTuple):
    """Exact discrete gradient of a batch loss with respect to stiffness factors."""

    loss: float
    """Mean loss over the cases."""
    bond: np.ndarray
    """(n_bonds,) dL/dtheta_i of each bond's stiffness factor."""
    junction: np.ndarray
    """(n_nodes,) the same for a factor on each junction region."""
    forward: FemSolution
    """The forward solution (fields included)."""
    adjoint: FemSolution
    """The adjoint solution under -dL/du (fields included)."""


def _geometry_degree(mesh: dolfinx.mesh.Mesh) -> int:
    g = mesh.geometry
    return int((g.cmaps[0] if hasattr(g, "cmaps") else g.cmap).degree)


def _default_mesher(design: Design, mesh_options: MeshOptions, comm: MPI.Comm, /) -> MeshData:

    return generate_mesh(design, mesh_options, comm)


def _check_clamped(design: Design) -> None:
    """Refuse a lattice whose stiffness is singular: a connected part holds no fixed node.

    For the continuum this is exact (a clamped hub removes every rigid motion of its
    part), and it catches what MUMPS's SPD path does not report (no null-pivot check).
    Designs from :func:`fem_mnn.design.load_design` never get here; ``Design(...)``
    built directly or read leniently can.
    """
    n = design.n_nodes
    bad = [i for i in design.fixed if not 0 <= i < n]
    if not design.fixed or bad:
        raise InputError(
            "no fixed node: the stiffness is singular" if not bad else f"unknown node id (nodes are 0..{n - 1})",
            field="fixed",
            value=list(design.fixed),
            has_value=True,
        )
    part = components(design)
    clamped = set(part[list(design.fixed)].tolist())
    loose = [i for i in range(n) if part[i] not in clamped]
    if loose:
        raise InputError(
            "the stiffness is singular: this node's part of the lattice holds no fixed node",
            field=f"nodes[{loose[0]}]",
            value=design.nodes[loose[0]].tolist(),
        )


def _resource_estimate(options: FemOptions, n_cells: int, ranks: int, n_dofs: int | None = None) -> FeEstimate:
    """Size and memory of the problem with the solver it will get; refused (InputError) over the memory limit.

    Args:
        options: Dimension, degree and the requested linear solver (``auto`` picks by size).
        n_cells: Cells of the mesh (predicted before meshing, or the mesh's).
        ranks: MPI ranks.
        n_dofs: The mesh's dofs once meshed; None = from ``n_cells``.
    """
    est = estimate_fe(options.dim, options.degree, n_cells, n_dofs=n_dofs, ranks=ranks)
    if _solvers.choose(options.linear_solver, est.n_dofs, options.dim) == "iterative":
        est = estimate_fe(options.dim, options.degree, n_cells, n_dofs=n_dofs, ranks=ranks, iterative=True)
    check_memory(est)
    return est


def _estimate_before_meshing(
    design: Design, options: FemOptions, mesh_options: MeshOptions, ranks: int
) -> FeEstimate | None:
    """The resource estimate from the predicted cell count, so an impossible problem is refused before meshing.

    None for a foreign mesher (or no gmsh), and for a design the prediction cannot handle:
    it goes on to the mesher, which says what is wrong with it.
    """
    try:
        from fem_mnn.geometry.build import MeshOptions, estimate_cells
    except ImportError:  # no gmsh: a foreign mesher
        return None
    if not isinstance(mesh_options, MeshOptions):
        return None
    try:
        cells = estimate_cells(design, mesh_options)
    except Exception:
        return None
    return _resource_estimate(options, cells, ranks)


class Discretisation:
    """Mesh, spaces, boundary condition and compiled forms of one design's geometry.

    Built by :meth:`FemModel.discretisation` (collective over the model's
    communicator: gmsh meshes on rank 0, DOLFINx distributes). The solvers of this
    package (:mod:`.linear`, :mod:`.nonlinear`, :mod:`.buckling`,
    :mod:`.mechanical_checks`) share it, so a design is meshed and its forms compiled
    once.

    Attributes:
        design: the design it was built for.
        mesh, cell_tags, facet_tags, info: the DOLFINx mesh, its tags (:mod:`fem_mnn.geometry.tags`)
            and the gmsh :class:`~fem_mnn.geometry.build.GeometryInfo`.
        V: vector Lagrange space of the displacement (degree ``options.degree``).
        bc: the clamp (zero displacement on every dof of the fixed nodes' hub cells).
        regions: cell -> bond / node maps (:class:`~fem_mnn.fem.extract.RegionMap`).
        extractor: per-node region averages and per-bond quantities.
        measure: (n_nodes,) area (2D) or volume (3D) of each hub region.
        theta: DG0 stiffness factor (1 on hubs; per bond on beams).
        force: DG0 body-force density of the current load case.
        mu, lam: Lame constants (plane-stress ``lam*`` in 2D), MPa.
        a_form, L_form: compiled bilinear (stiffness) and linear (load) forms.
        t_mesh, t_setup: wall seconds spent meshing and building the forms.
    """

    def __init__(self, design: Design, options: FemOptions, comm: MPI.Comm, mesher: Mesher, loud: bool = True) -> None:
        _check_clamped(design)
        mesh_options = options.mesh_options()
        self.design = design
        self.loud = loud
        self._n_operators = 0
        predicted = _estimate_before_meshing(design, options, mesh_options, comm.size)
        t0 = time.perf_counter()
        md = self._mesh(design, options, mesh_options, comm, mesher, predicted)
        self.t_mesh = time.perf_counter() - t0
        t0 = time.perf_counter()
        self._take_mesh(md, options)
        self.V = dolfinx.fem.functionspace(self.mesh, ("Lagrange", options.degree, (self.gdim,)))
        self.estimate = self._estimate_of_mesh(options)  # before assembly and factorisation: the mesh's own dofs
        """Memory and size estimate (:mod:`fem_mnn.core.resources`) with the mesh's dofs."""
        self._map_regions(design)
        self.bc = self._clamp(design)
        self._make_coefficients(design)
        self._compile_forms()
        self.width_map: WidthMap | None = None  # of this mesh, made on demand (fem_mnn.fem.shape)
        self._region_matrices: RegionMatrices | None = None
        self._rm_version = -1
        self._bc_rows: np.ndarray | None = None
        self._shape_forms_by_law: dict[str, _ShapeForms] = {}  # fem_mnn.fem.shape.shape_forms, per material
        self.thin_offset = 0.0
        """Thin-end offset (mm) the mesh was morphed to (:mod:`fem_mnn.fem.morph`)."""
        self.geometry_version = 0
        """Incremented whenever the mesh nodes move (:mod:`fem_mnn.fem.morph`): caches of geometry-dependent data key on it."""
        self.t_setup = time.perf_counter() - t0

    # -------------------------------------------------------------- construction steps
    def _mesh(
        self,
        design: Design,
        options: FemOptions,
        mesh_options: MeshOptions,
        comm: MPI.Comm,
        mesher: Mesher,
        est: FeEstimate | None,
    ) -> MeshData:
        """The mesher's output for ``design`` (collective), announced when predicted (``est``) to be long."""
        what = f"meshing {design.name or 'the design'} ({options.dim}D" + (
            f", about {est.n_cells:.2g} cells)" if est else ")"
        )
        with _step(what, _predicted_seconds("mesh", est) if est else 0.0, self.loud):
            return mesher(design, mesh_options, comm)

    def _take_mesh(self, md: MeshData, options: FemOptions) -> None:
        """Keep the mesh, its tags and sizes; refuse a mesh of the wrong dimension."""
        self.mesh, self.cell_tags, self.facet_tags, self.info = md.mesh, md.cell_tags, md.facet_tags, md.info
        self.comm = self.mesh.comm
        self.gdim = self.mesh.geometry.dim
        self.tdim = self.mesh.topology.dim
        if self.gdim != options.dim:
            raise EngineError(f"mesher returned a {self.gdim}D mesh for dim={options.dim}")
        self.n_owned_cells = self.mesh.topology.index_map(self.tdim).size_local

    def _estimate_of_mesh(self, options: FemOptions) -> FeEstimate:
        """The resource estimate with the mesh's cells and dofs (refused over the memory limit), logged."""
        im = self.V.dofmap.index_map
        n_cells = self.mesh.topology.index_map(self.tdim).size_global
        est = _resource_estimate(options, n_cells, self.comm.size, n_dofs=im.size_global * self.V.dofmap.index_map_bs)
        log.log(
            logging.INFO if self.loud and _predicted_seconds("factorise", est) >= LONG_STEP_SECONDS else logging.DEBUG,
            "%s",
            f"{est.n_cells} cells, {est.describe()}: about {est.memory_bytes / 1e9:.2g} GB (limit: --max-memory-gb)",
        )
        return est

    def _map_regions(self, design: Design) -> None:
        """Cell -> bond / node maps, the extractor of node quantities and the region measures."""
        self.regions = region_map(self.mesh, self.cell_tags, design.n_nodes, design.n_bonds)
        missing = np.setdiff1d(np.arange(design.n_bonds), self._global_ids(self.regions.bond_of_cell))
        if missing.size:
            raise EngineError(f"mesh has no cells tagged for bond {int(missing[0])}")
        z_mid = 0.0
        if self.gdim == 3:
            z = self.mesh.geometry.x[:, 2]
            lo = self.comm.allreduce(float(z.min()) if z.size else np.inf, op=MPI.MIN)
            hi = self.comm.allreduce(float(z.max()) if z.size else -np.inf, op=MPI.MAX)
            z_mid = 0.5 * (lo + hi)
        self.extractor = Extractor(self.V, self.regions, design.nodes, z_mid=z_mid)
        self.measure = self.extractor.measure

    def _clamp(self, design: Design) -> dolfinx.fem.DirichletBC:
        """Zero displacement on every dof of the junction cells (ghosts included) of the fixed nodes."""
        clamp_tags = [_tags.node_tag(j) for j in design.fixed] + [_tags.overlap_tag(j) for j in design.fixed]
        cells = np.unique(np.concatenate([self.cell_tags.find(tg) for tg in clamp_tags])).astype(np.int32)
        dofs = dolfinx.fem.locate_dofs_topological(self.V, self.tdim, cells)
        zero = np.zeros(self.gdim, dtype=PETSc.ScalarType)
        return dolfinx.fem.dirichletbc(zero, dofs, self.V)

    def _make_coefficients(self, design: Design) -> None:
        """DG0 stiffness factor theta and body-force density f; the Lame constants and the thickness factor."""
        mesh = self.mesh
        self.Q = dolfinx.fem.functionspace(mesh, ("DG", 0))
        self.Qv = dolfinx.fem.functionspace(mesh, ("DG", 0, (self.gdim,)))
        self.theta = dolfinx.fem.Function(self.Q, name="theta")
        self.force = dolfinx.fem.Function(self.Qv, name="load_density")
        self._cell_dof = self.Q.dofmap.list[: self.n_owned_cells, 0]
        self._cell_dof_v = self.Qv.dofmap.list[: self.n_owned_cells, 0]
        mu, lam = lame_parameters(design.material.E, design.material.nu, plane_stress=self.gdim == 2)
        self.mu = dolfinx.fem.Constant(mesh, dolfinx.default_scalar_type(mu))
        self.lam = dolfinx.fem.Constant(mesh, dolfinx.default_scalar_type(lam))
        # thickness factor of the plane-stress weak form (loads carry it implicitly)
        self.tfac = dolfinx.fem.Constant(mesh, dolfinx.default_scalar_type(design.thickness if self.gdim == 2 else 1.0))

    def _compile_forms(self) -> None:
        """The stiffness and load forms, and the per-cell energy product sigma_E(u):eps(w) (base modulus, no theta)."""
        u, v = ufl.TrialFunction(self.V), ufl.TestFunction(self.V)
        dx = ufl.dx(domain=self.mesh)
        self.a_form = dolfinx.fem.form(self.tfac * self.theta * ufl.inner(self.sigma(u), self.eps(v)) * dx)
        # sum_j F_j / |Omega_j| int_{Omega_j} v dx: the same integrals as the region average
        self.L_form = dolfinx.fem.form(ufl.inner(self.force, v) * dx)
        self._eu = dolfinx.fem.Function(self.V)
        self._ev = dolfinx.fem.Function(self.V)
        self._energy = CellIntegrator(
            self.mesh, lambda q: self.tfac * ufl.inner(self.sigma(self._eu), self.eps(self._ev)) * q * dx, 1
        )

    # ---------------------------------------------------------------------- access
    def region_matrices(self) -> RegionMatrices | None:
        """Sparse region-integral and load matrices of the current geometry (affine simplices), else None."""
        if self._region_matrices is None:
            if _geometry_degree(self.mesh) != 1:
                return None
            self._region_matrices = RegionMatrices(self.V, self.regions, region_expression(self.V))
            self._rm_version = self.geometry_version
        elif self._rm_version != self.geometry_version:
            self._region_matrices.update()
            self._rm_version = self.geometry_version
        return self._region_matrices

    def geometry_moved(self) -> None:
        """Drop geometry-dependent caches after ``mesh.geometry.x`` changed (local)."""
        self.geometry_version += 1

    def bc_rows(self) -> np.ndarray:
        """Owned (unrolled) dof indices of the clamp."""
        rows = self._bc_rows
        if rows is None:
            dofs, first_ghost = self.bc.dof_indices()
            rows = self._bc_rows = np.asarray(dofs[:first_ghost], dtype=np.int64)
        return rows

    def _global_ids(self, ids: np.ndarray) -> np.ndarray:
        local = np.unique(ids[ids >= 0])
        return np.unique(np.concatenate(self.comm.allgather(local)))

    @staticmethod
    def eps(u: Any) -> Any:
        return ufl.sym(ufl.grad(u))

    def sigma(self, u: Any) -> Any:
        e = self.eps(u)
        return 2 * self.mu * e + self.lam * ufl.tr(e) * ufl.Identity(self.gdim)

    def set_theta(self, factors: np.ndarray) -> None:
        vals = np.ones(self.n_owned_cells)
        sel = self.regions.bond_of_cell >= 0
        vals[sel] = factors[self.regions.bond_of_cell[sel]]
        self.theta.x.array[self._cell_dof] = vals
        self.theta.x.scatter_forward()

    def set_force(self, F: np.ndarray) -> None:
        """Load density for nodal forces F (n_nodes, 2): F_j / |Omega_j| on region j.

        The load form is ``int f . v dx`` without the thickness: in plane stress the
        body force F / (A_j t) times t, so the total force on region j is F_j.
        """
        dens = np.zeros((self.n_owned_cells, self.gdim))
        sel = self.regions.node_of_cell >= 0
        nodes = self.regions.node_of_cell[sel]
        dens[sel, :2] = F[nodes] / self.measure[nodes][:, None]
        arr = self.force.x.array.reshape(-1, self.gdim)
        arr[self._cell_dof_v] = dens
        self.force.x.scatter_forward()

    def load_vector(self, F: np.ndarray) -> PETSc.Vec:
        """Assembled load vector (PETSc Vec) of nodal forces F (n_nodes, 2), zero on clamped dofs.

        Collective. The caller owns (and destroys) the vector.
        """
        self.set_force(F)
        b = dolfinx.fem.petsc.create_vector(self.V)
        with b.localForm() as loc:
            loc.set(0.0)
        _solvers.assemble_vector_into(b, self.L_form)
        dolfinx.fem.petsc.set_bc(b, [self.bc])
        return b

    def energy_per_cell(self, u: dolfinx.fem.Function, v: dolfinx.fem.Function) -> np.ndarray:
        self._eu.x.array[:] = u.x.array
        self._ev.x.array[:] = v.x.array
        return self._energy.per_cell()[:, 0]


class FemOperator:
    """The assembled and factorised FE stiffness for one set of widths and stiffness factors.

    Built by :meth:`FemModel.operator` (collective). Implements
    :class:`fem_mnn.contract.LinearOperator`.

    Attributes:
        widths: (n_bonds,) widths of the mesh (mm).
        k: (n_bonds,) spring constants of the law (N/mm) for the in situ estimate.
        dk_dw: (n_bonds,) their derivatives (N/mm^2).
        stiffness_factors: (n_bonds,) theta_i multiplying E on bond i.
        n_factorisations: Numeric factorisations done (1 after construction).
        n_solves: Right-hand sides solved so far (forward and adjoint alike).
        block_solve: In serial, solve a batch with one MatMatSolve (default True);
            otherwise (and always in parallel) one KSP solve per case.
        timings: Seconds spent: ``mesh`` (0 when reused), ``setup``, ``assemble``,
            ``factorise``, ``solve`` (cumulative), ``extract`` (cumulative).
    """

    # set up by _assemble_and_factorise or _refactorise
    A: PETSc.Mat
    ksp: PETSc.KSP
    linear_solver: str

    def __init__(
        self,
        model: FemModel,
        disc: Discretisation,
        widths: np.ndarray,
        stiffness_factors: np.ndarray,
        mesh_time: float,
        reuse: FemOperator | None = None,
    ) -> None:
        self.model: FemModel | MorphingFemModel = model
        """The model that built it (a :class:`~fem_mnn.fem.morph.MorphingFemModel` sets itself)."""
        self.thin_offset = 0.0
        """Thin-end offset (mm) the mesh was morphed to (set by :class:`~fem_mnn.fem.morph.MorphingFemModel`)."""
        self.design = disc.design  # the model's design with these widths
        self.options = model.options
        self._disc = disc
        self.widths = np.array(widths, dtype=float)
        self.stiffness_factors = np.array(stiffness_factors, dtype=float)
        self.k, self.dk_dw = model.law(self.design, self.widths)
        self.n_factorisations = 0
        self.n_solves = 0
        self.iterations: list[int] = []
        """Krylov iterations of every solve of the iterative solver (1 per solve for the direct one)."""
        self.timings = {
            "mesh": mesh_time,
            "setup": 0.0,
            "assemble": 0.0,
            "factorise": 0.0,
            "solve": 0.0,
            "extract": 0.0,
        }

        disc.set_theta(self.stiffness_factors)
        if reuse is not None and reuse._disc is disc:
            self._refactorise(reuse)
        else:
            self._assemble_and_factorise()
        self.n_factorisations += 1
        self.block_solve = _solvers.is_direct(self.ksp)
        """Serial batches go through one MatMatSolve (faster per case than a loop); direct solver only."""
        self.fast_batches = True
        """Straight-sided meshes: loads and region averages of a batch as sparse products."""

    def _refactorise(self, reuse: FemOperator) -> None:
        """Same mesh topology (moved nodes): ``reuse``'s Mat and KSP, numeric refactorisation only."""
        disc = self._disc
        t0 = time.perf_counter()
        A = reuse.A
        A.zeroEntries()
        _solvers.assemble_matrix_into(A, disc.a_form, [disc.bc])
        A.assemble()
        self.A = A
        self.timings["assemble"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        _solvers.refresh_ksp(reuse.ksp, A, disc.V)
        self.ksp = reuse.ksp
        self.linear_solver = reuse.linear_solver
        self.timings["factorise"] = time.perf_counter() - t0

    def _assemble_and_factorise(self) -> None:
        """A new matrix and KSP (the first operator of a mesh announces its long steps)."""
        disc = self._disc
        est = disc.estimate
        loud = disc.loud and disc._n_operators == 0
        disc._n_operators += 1
        t0 = time.perf_counter()
        with _step(f"assembling {est.n_dofs} dofs", _predicted_seconds("assemble", est), loud):
            A = dolfinx.fem.petsc.assemble_matrix(disc.a_form, bcs=[disc.bc])
            A.assemble()
        if self.options.solver == "cholesky":
            # symmetric lifting keeps A symmetric; MUMPS uses its SPD path
            A.setOption(PETSc.Mat.Option.SPD, True)
        self.A = A
        self.timings["assemble"] = time.perf_counter() - t0

        t0 = time.perf_counter()
        # the KSP (prefix fem_mnn_: PETSC_OPTIONS such as -fem_mnn_ksp_view reach it)
        self.linear_solver = _solvers.choose(self.options.linear_solver, self.n_dofs, disc.gdim)
        """``"direct"`` or ``"iterative"``: the solver this operator uses."""
        what = (
            f"factorising (MUMPS {self.options.solver}, about {est.factor_entries:.2g} factor entries)"
            if self.linear_solver == "direct"
            else f"setting up CG + {_solvers.preconditioner(disc.V, self.options.petsc_options)}"
        )
        step = "factorise" if self.linear_solver == "direct" else "precondition"
        with _step(what, _predicted_seconds(step, est), loud):
            self.ksp = _solvers.make_ksp(A, disc.V, self.linear_solver, self.options.solver, self.options.petsc_options)
        self.timings["factorise"] = time.perf_counter() - t0

    # ------------------------------------------------------------------ access
    @property
    def discretisation(self) -> Discretisation:
        """The mesh, spaces and forms this operator was assembled on."""
        return self._disc

    @property
    def mesh(self) -> dolfinx.mesh.Mesh:
        """The dolfinx mesh."""
        return self._disc.mesh

    @property
    def cell_tags(self) -> dolfinx.mesh.MeshTags:
        """Cell tags of the mesh (:mod:`fem_mnn.geometry.tags`)."""
        return self._disc.cell_tags

    @property
    def facet_tags(self) -> dolfinx.mesh.MeshTags | None:
        """Facet tags of the mesh, as returned by the mesher."""
        return self._disc.facet_tags

    @property
    def mesh_info(self) -> GeometryInfo:
        """The mesher's ``info`` record."""
        return self._disc.info

    @property
    def V(self) -> dolfinx.fem.FunctionSpace:
        """The displacement function space."""
        return self._disc.V

    @property
    def extractor(self) -> Extractor:
        """The extractor of this mesh (region averages, rotations, centre values)."""
        return self._disc.extractor

    @property
    def region_measure(self) -> np.ndarray:
        """(n_nodes,) area (2D) or volume (3D) of every junction region."""
        return self._disc.measure.copy()

    @property
    def n_dofs(self) -> int:
        """Global number of displacement dofs."""
        im = self._disc.V.dofmap.index_map
        return int(im.size_global * self._disc.V.dofmap.index_map_bs)

    # ------------------------------------------------------------------ solves
    def solve_fields(self, loads: np.ndarray) -> FemSolution:
        """Solve every load case with the one factorisation; keep the fields (collective).

        On straight-sided meshes the batch is linear algebra on blocks: the load
        vectors are one sparse product (:class:`~fem_mnn.fem.extract.RegionMatrices`),
        the solves one MUMPS MatMatSolve (serial) and the region averages one sparse
        product; otherwise each case is assembled and reduced on its own.

        Args:
            loads: (n_cases, n_nodes, 2) or (n_nodes, 2) nodal forces (N). Forces on
                fixed nodes are reactions and are ignored.

        Returns:
            Node displacements, elongations, rotations and one Function per case.
        """
        d = self._disc
        f = as_cases(loads, self.design.n_nodes)
        nc = f.shape[0]
        t0 = time.perf_counter()
        rm = d.region_matrices() if self.fast_batches else None
        fields = [dolfinx.fem.Function(d.V, name=f"u_{c}") for c in range(nc)]
        if rm is not None:
            self._solve_loads_block(rm, f, fields)
        else:
            self._solve_assembled(f, fields)
        for uh in fields:
            uh.x.scatter_forward()
        self.n_solves += nc
        t1 = time.perf_counter()
        self.timings["solve"] += t1 - t0
        if t1 - t0 >= LONG_STEP_SECONDS and d.loud:
            log.info("solved %d load case(s): %.1f s", nc, t1 - t0)
        u_nodes, u_avg, rot = self._node_values(fields, rm)
        self.timings["extract"] += time.perf_counter() - t1
        return FemSolution(
            u=u_nodes,
            elongation=elongations(u_nodes, self.design),
            rotation=rot,
            u_average=u_avg,
            fields=fields,
        )

    def _node_values(self, fields: list, rm: RegionMatrices | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Node displacements (by the model's measure), region averages and rotations of every field (collective).

        With region matrices the averages of the whole batch are one sparse product; else each
        field is reduced on its own.
        """
        d = self._disc
        nc, n_nodes = len(fields), self.design.n_nodes
        u_avg = np.zeros((nc, n_nodes, 2))
        rot = np.zeros((nc, n_nodes))
        if rm is not None:
            U = np.empty((rm.n_local, nc))
            for c, uh in enumerate(fields):
                U[:, c] = uh.x.array
            avg, r = d.extractor.node_quantities_block(U, rm)
            u_avg[:] = avg[:, :, :2]
            rot[:] = r
        else:
            for c, uh in enumerate(fields):
                avg, r = d.extractor.node_quantities(uh)
                u_avg[c] = avg[:, :2]
                rot[c] = r
        if self.options.measure == "average":
            return u_avg.copy(), u_avg, rot
        u_nodes = np.zeros_like(u_avg)
        for c, uh in enumerate(fields):
            u_nodes[c] = d.extractor.centre_values(uh)[:, :2]
        return u_nodes, u_avg, rot

    def _load_block(self, rm: RegionMatrices, f: np.ndarray) -> np.ndarray:
        """(n_local_dofs, n_cases) load vectors before the ghost exchange and the clamp (local)."""
        d = self._disc
        g = d.gdim
        dens = np.zeros((f.shape[0], self.design.n_nodes, g))
        dens[:, :, :2] = f / d.measure[None, :, None]
        return np.asarray(rm.load @ dens.reshape(f.shape[0], -1).T)

    def _use_block_solve(self, n_cases: int) -> bool:
        """One MatMatSolve for the batch: serial, the direct solver, more than one case."""
        return self._disc.comm.size == 1 and self.block_solve and n_cases > 1

    def _solve_loads_block(self, rm: RegionMatrices, f: np.ndarray, fields: list) -> None:
        """All cases: loads by one sparse product, solves by one MatMatSolve (serial) or per case."""
        d = self._disc
        B = self._load_block(rm, f)
        bc = d.bc_rows()
        if self._use_block_solve(f.shape[0]):
            B[bc, :] = 0.0
            self._mat_mat_solve(B, fields)
            return
        for c, uh in enumerate(fields):
            b = dolfinx.fem.petsc.create_vector(d.V)
            with b.localForm() as loc:
                loc.array[:] = B[:, c]
            _solvers.accumulate_ghosts(b)
            b.array[bc] = 0.0
            self._ksp_solve(b, uh)
            b.destroy()

    def _solve_assembled(self, f: np.ndarray, fields: list) -> None:
        """All cases, each load vector assembled from the load form (curved meshes, or no region matrices)."""
        rhs = [self._disc.load_vector(f[c]) for c in range(f.shape[0])]
        if self._use_block_solve(len(rhs)):
            B = np.empty((rhs[0].getLocalSize(), len(rhs)), order="F")
            for c, b in enumerate(rhs):
                B[:, c] = b.array_r
            self._mat_mat_solve(B, fields)
        else:
            for b, uh in zip(rhs, fields, strict=True):
                self._ksp_solve(b, uh)
        for b in rhs:
            b.destroy()

    def _ksp_solve(self, b: PETSc.Vec, uh: dolfinx.fem.Function) -> None:
        """One right-hand side through the KSP into ``uh`` (collective); a failed solve raises."""
        self.ksp.solve(b, uh.x.petsc_vec)
        _solvers.check_converged(self.ksp)
        self.iterations.append(self.ksp.getIterationNumber())

    def _mat_mat_solve(self, B: np.ndarray, fields: list) -> None:
        """Every column of ``B`` (n_dofs, n_cases; clamped rows zero) through the factor's MatMatSolve (serial only)."""
        n, nc = B.shape
        Bm = PETSc.Mat().createDense((n, nc), array=np.asfortranarray(B), comm=PETSc.COMM_SELF)
        Xm = PETSc.Mat().createDense((n, nc), comm=PETSc.COMM_SELF)
        Xm.setUp()
        try:
            self.ksp.getPC().getFactorMatrix().matSolve(Bm, Xm)
            X = Xm.getDenseArray(readonly=True)
            for c, uh in enumerate(fields):
                uh.x.petsc_vec.array_w[:] = X[:, c]
        except PETSc.Error as exc:
            raise EngineError(f"MUMPS block solve failed: {exc}") from None
        finally:
            Bm.destroy()
            Xm.destroy()

    def solve(self, loads: np.ndarray) -> Solution:
        """Node displacements and elongations for every load case (collective; one factorisation)."""
        s = self.solve_fields(loads)
        return Solution(u=s.u, elongation=s.elongation)

    def energy_product(
        self, u_fields: Sequence[dolfinx.fem.Function], v_fields: Sequence[dolfinx.fem.Function]
    ) -> EnergyProducts:
        """Per-bond and per-junction integrals of sigma_E(u) : eps(v) (collective).

        With the base modulus E (no stiffness factor) and the thickness factor in
        2D, ``bond[c, i]`` is ``v_c^T (dK/dtheta_i) u_c``; for u the forward and v the
        adjoint field it is the exact discrete ``dL/dtheta_i`` of case c.

        Args:
            u_fields: Functions on :attr:`V`, one per case.
            v_fields: Functions on :attr:`V`, as many as ``u_fields``.
        """
        if len(u_fields) != len(v_fields):
            raise ValueError("u_fields and v_fields must have the same length")
        d = self._disc
        nc = len(u_fields)
        bond = np.zeros((nc, self.design.n_bonds))
        junc = np.zeros((nc, self.design.n_nodes))
        for c, (u, v) in enumerate(zip(u_fields, v_fields, strict=True)):
            per_cell = d.energy_per_cell(u, v)
            bond[c] = region_sums(per_cell, d.regions.bond_of_cell, self.design.n_bonds, d.comm)[:, 0]
            junc[c] = region_sums(per_cell, d.regions.node_of_cell, self.design.n_nodes, d.comm)[:, 0]
        return EnergyProducts(bond=bond, junction=junc)

    def compliance(self, u_fields: Sequence[dolfinx.fem.Function]) -> np.ndarray:
        """(n_cases,) u^T K u for each field, including the stiffness factors (collective)."""
        e = self.energy_product(u_fields, u_fields)
        return e.bond @ self.stiffness_factors + e.junction.sum(axis=1)

    def destroy(self) -> None:
        """Free the PETSc objects (also done by garbage collection)."""
        self.ksp.destroy()
        self.A.destroy()


class FemModel:
    """The printed lattice as a DOLFINx continuum (implements the MechanicalModel protocol).

    Args:
        design: The lattice.
        options: Discretisation and solver options.
        comm: MPI communicator (default ``MPI.COMM_WORLD``); every call is collective on it.
        law: Spring law ``(k, dk/dw) = law(design, widths)`` for the in situ
            estimate (default the nominal ``E t w / L``).
        mesher: ``mesher(design, mesh_options, comm) -> (mesh, cell_tags,
            facet_tags, info)``, collective; default
            :func:`fem_mnn.fem.meshing.generate_mesh`. :func:`fem_mnn.fem.meshing.load_mesh`
            fits too (reads cached ``.msh`` files of reference designs).

    The mesh of the last widths is kept: operators for the same widths (e.g. with
    other stiffness factors) do not remesh.
    """

    def __init__(
        self,
        design: Design,
        options: FemOptions | None = None,
        comm: MPI.Comm | None = None,
        law: SpringLaw = nominal_stiffness,
        mesher: Mesher | None = None,
    ) -> None:
        self.design = design
        self.options = options or FemOptions()
        self.comm = comm if comm is not None else MPI.COMM_WORLD
        self.law = law
        self.mesher = mesher or _default_mesher
        self._cache: tuple[bytes, Discretisation] | None = None
        self.n_meshes = 0
        """Number of meshes generated so far."""

    def _widths(self, widths: np.ndarray | None) -> np.ndarray:
        w = np.array(self.design.widths if widths is None else widths, dtype=float)
        if w.shape != (self.design.n_bonds,):
            raise InputError(f"needs {self.design.n_bonds} widths", field="widths", value=w.shape)
        if not np.all(np.isfinite(w)) or np.any(w <= 0):
            b = int(np.argmax(~np.isfinite(w) | (w <= 0)))
            raise InputError("must be finite and > 0", field=f"widths[{b}]", value=float(w[b]))
        return w

    def discretisation(self, widths: np.ndarray | None = None) -> tuple[Discretisation, float]:
        """The (cached) mesh and forms for ``widths`` and the seconds spent meshing (collective).

        The geometry is built from the widths rounded to :data:`GEOMETRY_RESOLUTION`:
        a mesh is a discontinuous function of the geometry, so widths that differ by
        round-off (a serial and a parallel training run) must give the same mesh.
        """
        w = geometry_widths(self._widths(widths))  # the rounding every mesher applies (mesh_plan)
        key = w.tobytes()
        if self._cache is not None and self._cache[0] == key:
            return self._cache[1], 0.0
        self._cache = None  # free the old mesh first
        # widths outside the printable range are allowed here (finite differences at a bound)
        design = dataclasses.replace(self.design, widths=w)
        # the first mesh of a model announces its long steps; later ones (training, FD) log at DEBUG
        disc = Discretisation(design, self.options, self.comm, self.mesher, loud=self.n_meshes == 0)
        self.n_meshes += 1
        self._cache = (key, disc)
        return disc, disc.t_mesh

    def operator(self, widths: np.ndarray | None = None, stiffness_factors: np.ndarray | None = None) -> FemOperator:
        """Mesh (if the widths changed), assemble and factorise (collective).

        Args:
            widths: (n_bonds,) widths (mm); default the design's.
            stiffness_factors: (n_bonds,) factors theta_i on E of each bond (default 1).
        """
        disc, t_mesh = self.discretisation(widths)
        theta = np.ones(self.design.n_bonds) if stiffness_factors is None else np.array(stiffness_factors, float)
        if theta.shape != (self.design.n_bonds,) or not np.all(np.isfinite(theta)) or np.any(theta <= 0):
            raise InputError("needs one finite factor > 0 per bond", field="stiffness_factors", value=theta.tolist())
        op = FemOperator(self, disc, disc.design.widths, theta, t_mesh)
        op.timings["setup"] = disc.t_setup if t_mesh else 0.0
        return op

    def solve(self, loads: np.ndarray, widths: np.ndarray | None = None) -> Solution:
        """Shortcut: build the operator and solve once (collective)."""
        return self.operator(widths).solve(loads)


def stiffness_factor_gradient(
    op: FemOperator, loads: np.ndarray, loss: Loss, solved: tuple | None = None
) -> ThetaGradient:
    """Exact discrete gradient of the mean batch loss w.r.t. stiffness factors (collective).

    One forward and one adjoint solve with ``op``'s factorisation; then
    ``dL/dtheta_i = mean_c int_{bond i} sigma_E(u_c) : eps(u_adj,c) t dx``. The
    junction entries are the gradient for a factor on each junction region (not a
    parameter of :class:`FemModel`, but the same formula). ``solved``: the
    ``(forward, adjoint)`` :class:`FemSolution` pair if already solved (no new solve).
    """
    if solved is not None:
        fwd, adj = solved
        case_loss, _ = loss(fwd.u)
    else:
        fwd = op.solve_fields(loads)
        case_loss, dldu = loss(fwd.u)
        adj = op.solve_fields(-dldu)
    ep = op.energy_product(fwd.fields, adj.fields)
    nc = len(fwd.fields)
    return ThetaGradient(
        loss=float(np.mean(case_loss)),
        bond=ep.bond.sum(0) / nc,
        junction=ep.junction.sum(0) / nc,
        forward=fwd,
        adjoint=adj,
    )


def fd_width_gradient(
    model: FemModel,
    loads: np.ndarray,
    loss: Loss,
    delta: float = 0.05,
    widths: np.ndarray | None = None,
    bonds: Sequence[int] | None = None,
) -> np.ndarray:
    """dL/dw by central finite differences with remeshing (collective).

    For every bond, the lattice is remeshed, reassembled and refactorised at
    ``w +- delta e_i``: 2 meshes per bond. The meshes at the two widths are not
    related, so the result carries discretisation noise (about 0.5 % of the largest
    gradient at delta = 0.05 mm on a welded-frame prototype); widths may leave the
    printable range by delta.

    Args:
        model: The FE model (its mesh cache may be overwritten). Use a mesher that
            meshes any design (not a file cache of reference designs).
        loads: (n_cases, n_nodes, 2) loads (N).
        loss: Loss on the node displacements; the mean over cases is differentiated.
        delta: Width step (mm).
        widths: Base widths (default the design's).
        bonds: Bonds to differentiate (default all); others are NaN.

    Returns:
        (n_bonds,) dL/dw (N, with L in mm^2).
    """
    w0 = np.array(model.design.widths if widths is None else widths, dtype=float)
    out = np.full(model.design.n_bonds, np.nan)
    for i in range(model.design.n_bonds) if bonds is None else bonds:
        vals = []
        for s in (1.0, -1.0):
            w = w0.copy()
            w[i] += s * delta
            op = _fixed_size_model(model, w0, w).operator(w)
            vals.append(float(np.mean(loss(op.solve(loads).u)[0])))
            op.destroy()
        out[i] = (vals[0] - vals[1]) / (2 * delta)
    return out


def _fixed_size_model(model: FemModel, w0: np.ndarray, w: np.ndarray) -> FemModel:
    """A model for widths ``w`` meshed with the element size of ``w0``.

    The geometry's element size follows the thinnest thin end: without this a
    width step on the thinnest bond would refine the whole mesh and bias the
    finite difference by the change of discretisation error.
    """
    from fem_mnn.geometry.build import MeshOptions, mesh_plan

    mo = model.options.mesh_options()
    if not isinstance(mo, MeshOptions) or mo.size is not None:
        return model  # a foreign mesher, or the size is already fixed
    mo = mesh_plan(model.design, mo, widths=w0).fixed_size()  # no validation: FD may leave the range
    return FemModel(model.design, dataclasses.replace(model.options, mesh=mo), model.comm, model.law, model.mesher)
