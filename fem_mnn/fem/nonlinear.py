"""Large deformations: a compressible neo-Hookean lattice solved by Newton (PETSc SNES).

The linear model of :mod:`fem_mnn.fem` is exact only while displacements and strains
are small. This module solves the *same* discretisation (mesh, P2 space, clamp of
the fixed nodes' junction regions, loads as uniform body forces over junction
regions, node displacement = junction-region average: all taken from
:class:`fem_mnn.fem.FemModel`) with a hyperelastic material and full geometric
nonlinearity, so that linear and nonlinear answers can be compared node by node.

Material (per unit reference volume, C = F^T F, J = det F)::

    W = mu/2 (I1 - 3) - mu ln J + lam/4 (J^2 - 1 - 2 ln J)

with the 3D Lame constants of the design's E and nu. It linearises exactly to
Hooke's law with (lam, mu).

Formulation (``dim=2``, the default, like the linear solver): **exact plane stress**.
The out-of-plane stretch is not a field; the plane-stress condition S33 = 0 is
solved in closed form at every point, which this energy allows:
``C33 = (2 mu + lam) / (2 mu + lam det C2)`` (C2 the in-plane block), and the
reduced energy ``W(C2, C33(C2))`` is integrated over the 2D mesh times the
thickness t. Because dW/dC33 = 0 there, its derivatives are the plane-stress
stresses and the consistent tangent. In the small-load limit it reproduces the
linear plane-stress solver (effective lam* = 2 mu lam / (lam + 2 mu) = E nu / (1 - nu^2))
exactly, so any difference is nonlinearity, not a change of model. Plane strain with
thickness scaling would be stiffer than plane stress by up to 1/(1 - nu^2) (+25 % at
nu = 0.45) already at zero load; a 3D solid is available with ``dim=3`` (same
energy, tetrahedra; much more expensive).

Loads are dead loads (hanging weights: fixed direction and size), applied in
increments of the load factor with the previous converged state as the initial
guess; a failed Newton solve halves the increment, at most ``max_bisections`` times per
interval of the path, before raising :class:`PathStopped` (an
:class:`~fem_mnn.core.errors.EngineError`) with the load factor and the residual. The
smallest increment is therefore the first one divided by ``2**max_bisections`` (1/256 by
default) and an interval costs at most ``2**max_bisections`` converged increments plus
``max_bisections`` failed ones, each of at most ``max_it`` Newton iterations: bounded, but
on a large mesh still long, which is why :meth:`NonlinearModel.solve_path` also takes a
``should_stop`` poll (a time budget, a signal) checked between Newton iterations and a
``monitor`` called after every increment (progress lines).

Limit points: with ``NonlinearOptions(continuation="arclength")`` an interval the bisections
cannot pass is followed on by pseudo-arclength continuation (load factor and displacement
together, tangent predictor, bordered corrector on the same MUMPS factor) until the load
factor comes back up to the interval's end; the state there is polished by Newton at that
load. The path is still the one from zero, so the same widths and options give the same state;
where the path passes close to a bifurcation (a symmetric lattice, a mesh that is nearly
symmetric), which branch a continuation step lands on can depend on the step lengths.

Every method that touches the mesh is collective over the model's communicator.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, NamedTuple

import numpy as np

from fem_mnn.contract import (
    Backprop,
    Loss,
    Solution,
    as_cases,
    elongations,
    nominal_stiffness,
    paired_backprop,
    states_once,
)
from fem_mnn.core.errors import EngineError, InputError
from fem_mnn.core.units import lame_parameters
from fem_mnn.design.records import Design
from fem_mnn.fem import solvers as _solvers
from fem_mnn.fem._dolfinx import import_dolfinx
from fem_mnn.fem.linear import Discretisation, FemModel, FemOperator, FemOptions, Mesher
from fem_mnn.fem.shape import (
    Material,
    _ShapeForms,
    assemble_shape_vector,
    contract_velocity,
    disc_width_map,
    shape_forms,
)

import_dolfinx()  # dolfinx_solver's PETSc before petsc4py

import dolfinx
import dolfinx.fem
import dolfinx.fem.petsc
import ufl
from petsc4py import PETSc

if TYPE_CHECKING:
    from mpi4py import MPI
    from ufl.core.expr import Expr

    from fem_mnn.fem.morph import MorphingFemModel

__all__ = [
    "NonlinearBackprop",
    "NonlinearFemModel",
    "NonlinearFemOperator",
    "NonlinearModel",
    "NonlinearOptions",
    "NonlinearShapeGradient",
    "NonlinearSolution",
    "PathStep",
    "PathStopped",
    "TangentOperator",
    "lame_3d",
    "relative_deviation",
    "true_elongations",
]


def lame_3d(E: float, nu: float) -> tuple[float, float]:
    """3D Lame constants (mu, lam) of Young's modulus E and Poisson's ratio nu."""
    return lame_parameters(E, nu, plane_stress=False)


def true_elongations(u_nodes: np.ndarray, design: Design) -> np.ndarray:
    """Change of node-to-node distance ``|x_b + u_b - x_a - u_a| - L`` (local, no communication).

    The linear elongation :func:`fem_mnn.contract.elongations` projects on the
    reference direction; this is what a camera measuring node positions sees.
    """
    u = np.asarray(u_nodes, dtype=float)[..., :2]
    a, b = design.bonds[:, 0], design.bonds[:, 1]
    d = design.nodes[b] - design.nodes[a] + u[..., b, :] - u[..., a, :]
    return np.hypot(d[..., 0], d[..., 1]) - design.lengths


def relative_deviation(x: np.ndarray, ref: np.ndarray) -> float:
    """``||x - ref|| / ||ref||`` over all entries (0 when both are 0)."""
    x, ref = np.asarray(x, float), np.asarray(ref, float)
    n = float(np.linalg.norm(ref))
    d = float(np.linalg.norm(x - ref))
    return d / n if n > 0 else (0.0 if d == 0 else float("inf"))


@dataclass(frozen=True)
class NonlinearOptions:
    """Newton and load stepping.

    Attributes:
        steps: Initial number of equal load increments from 0 to the full load.
        max_bisections: How often an increment may be halved after a failed solve.
        rtol: SNES relative tolerance on the residual norm.
        atol: SNES absolute tolerance on the residual norm (N), at least.
        atol_load: Absolute tolerance as a fraction of the total applied load (sum of
            |F| components); the larger of the two is used.
        max_it: Newton iterations per increment.
        linesearch: SNES line search (``"bt"`` backtracking, ``"basic"`` full steps).
        quadrature_degree: Quadrature degree of the hyperelastic forms (None = 2 x the
            element degree, which integrates the linearised form exactly).
    """

    steps: int = 2
    max_bisections: int = 8
    """Halvings allowed per interval of the path (the smallest increment is the first / 2**max_bisections)."""
    rtol: float = 1e-10
    atol: float = 1e-13
    atol_load: float = 1e-10
    max_it: int = 30
    linesearch: Literal["bt", "basic", "l2", "cp"] = "bt"
    quadrature_degree: int | None = None
    continuation: Literal["stop", "arclength"] = "stop"
    """Where load stepping fails after its bisections (a limit point): ``"stop"`` ends the path
    there (:class:`PathStopped`); ``"arclength"`` follows it on by pseudo-arclength continuation
    until the load factor comes back up to the target (the state a slow snap-through lands on)."""
    arclength_steps: int = 200
    """Continuation steps allowed per stop of the load stepping before the path ends anyway."""

    def __post_init__(self) -> None:
        if not isinstance(self.steps, int) or self.steps < 1:
            raise InputError("must be an integer >= 1", field="steps", value=self.steps)
        if not isinstance(self.max_bisections, int) or not 0 <= self.max_bisections <= 30:
            # 2**30 increments per interval is already beyond any budget; more would only hide a failure
            raise InputError("must be an integer in 0..30", field="max_bisections", value=self.max_bisections)
        if self.linesearch not in ("bt", "basic", "l2", "cp"):
            raise InputError("unknown SNES line search", field="linesearch", value=self.linesearch)
        if self.continuation not in ("stop", "arclength"):
            raise InputError("must be stop or arclength", field="continuation", value=self.continuation)
        if not isinstance(self.arclength_steps, int) or not 1 <= self.arclength_steps <= 100_000:
            raise InputError("must be an integer in 1..100000", field="arclength_steps", value=self.arclength_steps)


class NonlinearSolution(NamedTuple):
    """Equilibrium under one load case."""

    u: np.ndarray
    """(n_nodes, 2) node displacements (junction-region averages, mm)."""
    elongation: np.ndarray
    """(n_bonds,) ``(u_b - u_a) . n_i`` (the linear definition, mm)."""
    true_elongation: np.ndarray
    """(n_bonds,) change of node distance (mm)."""
    rotation: np.ndarray
    """(n_nodes,) junction-average infinitesimal rotation of the field (rad)."""
    field: dolfinx.fem.Function
    """The displacement Function (a copy; ghosts updated)."""
    load_factor: float
    """Load factor reached (1 = the given loads)."""
    newton_iterations: int
    """Newton iterations summed over the increments."""
    increments: int
    """Increments used (after bisections)."""
    residual_norm: float
    """Final residual norm (N)."""


class PathStep(NamedTuple):
    """One Newton solve of a load path, as passed to the ``monitor`` of :meth:`NonlinearModel.solve_path`."""

    load_factor: float
    """The load factor tried (reached if ``converged``)."""
    converged: bool
    """Newton converged (otherwise the increment is halved and tried again)."""
    newton_iterations: int
    """Iterations of this solve."""
    residual_norm: float
    """Final residual norm of this solve (N; nan if the solve broke down)."""
    reached: float
    """Load factor of the last converged state."""
    elapsed: float
    """Seconds since the start of the path."""


class PathStopped(EngineError):
    """A load path ended before its last load factor: Newton failed, or ``should_stop`` asked for it.

    Attributes:
        reason: ``"newton"`` (no convergence after the allowed bisections) or the text
            ``should_stop`` returned (a spent time budget, say).
        reached: Load factor of the last converged state (0 if none).
        solutions: Solutions at the requested load factors reached before the stop.
        last: The last converged state (at ``reached``; None if nothing converged).
        newton_iterations: Newton iterations spent on the whole path, the failed solves included.
        continuation: Where an arclength continuation went before it stopped (load factors
            ``from``, ``highest``, ``lowest``, ``last``; ``steps``, ``rejected``), else None.
    """

    def __init__(self, message: str, reason: str, reached: float, newton_iterations: int = 0) -> None:
        super().__init__(message)
        self.reason = reason
        self.reached = float(reached)
        self.newton_iterations = int(newton_iterations)
        self.solutions: list[NonlinearSolution] = []
        self.last: NonlinearSolution | None = None
        self.continuation: dict[str, float | int] | None = None


#: rejected continuation steps before a continuation is given up (halving and regrowing the step
#: at a point it cannot pass, a bifurcation say, would otherwise spend all its steps there)
_ARC_REJECTIONS = 25


class _Stop(Exception):
    """Raised inside the SNES monitor when ``should_stop`` answers; carries its text."""

    iterations = 0


class NonlinearBackprop(NamedTuple):
    """Forward (nonlinear) and adjoint responses for in situ gradients."""

    loss: float
    u: np.ndarray
    """(n_nodes, 2) forward node displacements (nonlinear)."""
    elongation: np.ndarray
    """(n_bonds,) forward elongations."""
    adjoint_load: np.ndarray
    """(n_nodes, 2) -dL/du at the nonlinear state."""
    adjoint_elongation: np.ndarray
    """(n_bonds,) adjoint elongations by the chosen protocol."""
    grad_k: np.ndarray
    """(n_bonds,) e * e_adj."""


class NonlinearShapeGradient(NamedTuple):
    """Exact dL/dw through the nonlinear solve (:meth:`NonlinearModel.width_gradient`)."""

    loss: float
    """Mean loss over the cases."""
    case_loss: np.ndarray
    """(n_cases,) loss of every case."""
    grad_w: np.ndarray
    """(n_bonds,) dL/dw of the mean loss (shape derivative of the nonlinear residual, exact for the discrete model)."""
    u: np.ndarray
    """(n_cases, n_nodes, 2) converged node displacements (mm)."""
    adjoint_load: np.ndarray
    """(n_cases, n_nodes, 2) -dl_c/du at the converged states."""
    adjoint_u: np.ndarray
    """(n_cases, n_nodes, 2) node displacements of the tangent problem K_T(u_c) lambda = -dl_c/du."""
    states: list
    """The converged :class:`NonlinearSolution` of every case (fields included)."""
    counts: dict
    """``newton_iterations`` (= numeric factorisations of the forward solves), ``adjoint_factorisations``
    (numeric refactorisations for the adjoints), ``adjoint_refinements`` (solves with the last
    Newton factor), ``adjoint_residual`` (largest ||b - K_T lambda|| / ||b|| over the cases)."""
    timings: dict
    """Seconds: ``morph``, ``forward``, ``adjoint``, ``shape``, ``velocity`` + ``contract``."""


class TangentOperator:
    """The consistent tangent stiffness at a deformed state, factorised once (MUMPS LU).

    Solves ``K_T(u*) du = f`` for load cases f (adjoint loads of the nonlinear
    problem; the tangent is symmetric for a hyperelastic material). Implements the
    ``solve`` of :class:`fem_mnn.contract.LinearOperator`. Built by
    :meth:`NonlinearModel.tangent` (collective).
    """

    def __init__(self, model: NonlinearModel, state: dolfinx.fem.Function) -> None:
        self.model = model
        self.design = model.design
        d = model.disc
        d.set_theta(np.ones(self.design.n_bonds))
        model._u.x.array[:] = state.x.array
        A = dolfinx.fem.petsc.assemble_matrix(model._J_form, bcs=[d.bc])
        A.assemble()
        self.A = A
        ksp = PETSc.KSP().create(d.comm)
        ksp.setOptionsPrefix(f"fem_mnn_tangent_{id(self):x}_")
        ksp.setOperators(A)
        ksp.setType("preonly")
        ksp.getPC().setType("lu")
        ksp.getPC().setFactorSolverType("mumps")
        ksp.getPC().setFactorSetUpSolverType()
        ksp.getPC().getFactorMatrix().setMumpsIcntl(14, 200)  # work-array margin (INFOG(1) = -9 otherwise)
        try:
            ksp.setUp()
        except PETSc.Error as exc:
            raise EngineError(f"MUMPS factorisation of the tangent failed: {exc}") from None
        self.ksp = ksp
        self._b = dolfinx.fem.petsc.create_vector(d.V)
        self.widths = d.design.widths.copy()
        k, dk_dw = model.fem.law(self.design, self.widths)
        self.k: np.ndarray = k
        self.dk_dw: np.ndarray = dk_dw

    def solve_fields(self, loads: np.ndarray) -> tuple[np.ndarray, list]:
        """Node displacements (n_cases, n_nodes, 2) and Functions of K_T du = f (collective)."""
        d = self.model.disc
        f = as_cases(loads, self.design.n_nodes)
        out = np.zeros_like(f)
        fields = []
        for c in range(f.shape[0]):
            d.set_force(f[c])
            with self._b.localForm() as loc:
                loc.set(0.0)
            _solvers.assemble_vector_into(self._b, d.L_form)
            dolfinx.fem.petsc.set_bc(self._b, [d.bc])
            w = dolfinx.fem.Function(d.V)
            self.ksp.solve(self._b, w.x.petsc_vec)
            if self.ksp.is_diverged:  # a negative converged reason
                raise EngineError(f"tangent solve failed (KSP reason {self.ksp.getConvergedReason()})")
            w.x.scatter_forward()
            out[c] = d.extractor.node_quantities(w)[0][:, :2]
            fields.append(w)
        return out, fields

    def solve(self, loads: np.ndarray) -> Solution:
        """Displacements and elongations of the tangent problem (collective)."""
        u, _ = self.solve_fields(loads)
        return Solution(u=u, elongation=elongations(u, self.design))

    def destroy(self) -> None:
        """Free the PETSc objects."""
        self.ksp.destroy()
        self.A.destroy()
        self._b.destroy()


class NonlinearModel:
    """Neo-Hookean lattice on the linear solver's discretisation.

    Args:
        design: The lattice.
        fem_options: Discretisation (dim 2 = exact plane stress, 3 = solid; degree;
            mesh). Default :class:`fem_mnn.fem.FemOptions`.
        options: Newton and load stepping.
        comm: MPI communicator (default ``MPI.COMM_WORLD``); every call is collective.
        fem: An existing :class:`~fem_mnn.fem.FemModel` to share its mesh with (then
            ``fem_options`` and ``comm`` are taken from it), or a
            :class:`~fem_mnn.fem.morph.MorphingFemModel` (then :meth:`set_widths` moves
            the mesh instead of remeshing).
        mesher: Passed to :class:`~fem_mnn.fem.FemModel` (tests use small meshes).
    """

    def __init__(
        self,
        design: Design,
        fem_options: FemOptions | None = None,
        options: NonlinearOptions | None = None,
        comm: MPI.Comm | None = None,
        fem: FemModel | MorphingFemModel | None = None,
        mesher: Mesher | None = None,
    ) -> None:
        self.fem: FemModel | MorphingFemModel = fem or FemModel(design, fem_options, comm=comm, mesher=mesher)
        self.design = self.fem.design
        self.options = options or NonlinearOptions()
        self._problem: dolfinx.fem.petsc.NonlinearProblem | None = None
        self._last_reason = 0
        self._should_stop: Callable[[], str | None] | None = None
        self.n_solves = 0
        self._Kt: PETSc.Mat | None = None  # exact tangent at the converged state, for the adjoint (SNES sparsity)
        self._factor_ready = False  # the SNES's KSP holds a numeric factor of a recent Newton tangent
        self.last_adjoint_residual = float("nan")
        disc, _ = self.fem.discretisation()
        self._build_forms(disc)

    def _build_forms(self, disc: Discretisation) -> None:
        """Compile the residual and tangent on a discretisation (collective)."""
        if self._problem is not None:
            self._drop_snes()
        if self._Kt is not None:
            self._Kt.destroy()
            self._Kt = None
        self._factor_ready = False
        self.disc = disc
        d = self.disc
        mesh = d.mesh
        mu, lam = lame_3d(self.design.material.E, self.design.material.nu)
        self.mu = dolfinx.fem.Constant(mesh, dolfinx.default_scalar_type(mu))
        self.lam = dolfinx.fem.Constant(mesh, dolfinx.default_scalar_type(lam))
        self._u = dolfinx.fem.Function(d.V, name="u")
        self._f = dolfinx.fem.Function(d.Qv, name="dead_load")
        v = ufl.TestFunction(d.V)
        du = ufl.TrialFunction(d.V)
        psi = self.energy_density(self._u)
        # the integrand is not polynomial: fix the rule (degree 2p integrates the linearised form exactly)
        qdeg = self.options.quadrature_degree or 2 * self.fem.options.degree
        self.quadrature_degree = qdeg
        dx = ufl.dx(domain=mesh, metadata={"quadrature_degree": qdeg})
        Pi = d.tfac * d.theta * psi * dx
        self._Fint = ufl.derivative(Pi, self._u, v)
        self._Fext = ufl.inner(self._f, v) * dx
        self._R = self._Fint - self._Fext
        self._J = ufl.derivative(self._R, self._u, du)
        self._J_form = dolfinx.fem.form(self._J)
        self._arc_forms: tuple[dolfinx.fem.Form, dolfinx.fem.Form] | None = None  # compiled on first use

    @property
    def widths(self) -> np.ndarray:
        """Widths of the current mesh (mm)."""
        return np.array(self.disc.design.widths, dtype=float)

    def set_widths(self, widths: np.ndarray) -> bool:
        """Move the model to ``widths`` (collective); True if that needed a new mesh.

        With ``fem`` a :class:`~fem_mnn.fem.morph.MorphingFemModel` the mesh is moved in
        place (compiled forms, the SNES's matrix and MUMPS's symbolic analysis are kept);
        with a :class:`~fem_mnn.fem.linear.FemModel` the design is remeshed. The state is
        reset to zero either way (the equilibrium is the path followed from zero load).
        """
        disc, _ = self.fem.discretisation(np.asarray(widths, dtype=float))
        new_mesh = disc is not self.disc
        if new_mesh:
            self._build_forms(disc)
        self._u.x.array[:] = 0.0
        return new_mesh

    # ----------------------------------------------------------------- physics
    def energy_density(self, u: dolfinx.fem.Function) -> Expr:
        """UFL strain energy per unit reference volume of the displacement ``u`` (plane stress condensed in 2D)."""
        return self.energy_density_of_F(ufl.Identity(self.disc.gdim) + ufl.grad(u))

    def energy_density_of_F(self, F: Expr) -> Expr:
        """UFL strain energy of the deformation gradient ``F`` (2x2: exact plane stress; 3x3: solid).

        Differentiate it with respect to a ``ufl.variable(F)`` for the first
        Piola-Kirchhoff stress (in 2D, the in-plane block of the plane-stress P).
        """
        mu, lam = self.mu, self.lam
        C = F.T * F
        if F.ufl_shape == (2, 2):
            c = ufl.det(C)
            C33 = (2 * mu + lam) / (2 * mu + lam * c)
            J2 = c * C33
            I1 = ufl.tr(C) + C33
        else:
            J2 = ufl.det(C)
            I1 = ufl.tr(C)
        lnJ = 0.5 * ufl.ln(J2)
        return mu / 2 * (I1 - 3) - mu * lnJ + lam / 4 * (J2 - 1 - 2 * lnJ)

    def first_piola(self, u: dolfinx.fem.Function) -> Expr:
        """UFL first Piola-Kirchhoff stress dW/dF of the displacement ``u`` (in-plane block in 2D)."""
        F = ufl.variable(ufl.Identity(self.disc.gdim) + ufl.grad(u))
        return ufl.diff(self.energy_density_of_F(F), F)

    def tangent_action(self, u: dolfinx.fem.Function, w: dolfinx.fem.Function) -> Expr:
        """UFL ``A(u)[grad w]`` with A = d^2W/dF^2 (the consistent tangent's material part)."""
        F = ufl.variable(ufl.Identity(self.disc.gdim) + ufl.grad(u))
        A = ufl.diff(ufl.diff(self.energy_density_of_F(F), F), F)
        i, j, k, m = ufl.indices(4)
        return ufl.as_tensor(A[i, j, k, m] * ufl.grad(w)[k, m], (i, j))

    def stretch_33(self, u: dolfinx.fem.Function) -> Expr:
        """UFL out-of-plane stretch lambda_3 = sqrt(C33) of the plane-stress model (2D only)."""
        F = ufl.Identity(2) + ufl.grad(u)
        c = ufl.det(F.T * F)
        return ufl.sqrt((2 * self.mu + self.lam) / (2 * self.mu + self.lam * c))

    # ----------------------------------------------------------------- solver
    def _snes(self) -> Any:
        if self._problem is None:
            o = self.options
            opts = {
                "snes_type": "newtonls",
                "snes_linesearch_type": o.linesearch,
                "snes_rtol": o.rtol,
                "snes_atol": o.atol,
                "snes_stol": 0.0,
                "snes_max_it": o.max_it,
                "ksp_type": "preonly",
                "pc_type": "lu",
                "pc_factor_mat_solver_type": "mumps",
            }
            prefix = self._prefix()
            # MUMPS may underestimate its work array (INFOG(1) = -9) on small or odd meshes;
            # the factor reads its options at factorisation time, after NonlinearProblem has
            # removed the petsc_options, so this one stays in the options database (own prefix)
            PETSc.Options().setValue(f"{prefix}mat_mumps_icntl_14", 200)
            self._factor_ready = False
            self._problem = dolfinx.fem.petsc.NonlinearProblem(
                self._R,
                self._u,
                bcs=[self.disc.bc],
                J=self._J,
                petsc_options_prefix=prefix,
                petsc_options=opts,
            )
        return self._problem

    def _prefix(self) -> str:
        return f"fem_mnn_nl_{id(self):x}_"

    def _drop_snes(self) -> None:
        """Forget the SNES after a stop; its MUMPS option goes too (unused, PETSc would warn about it at exit)."""
        self._problem = None
        PETSc.Options().delValue(f"{self._prefix()}mat_mumps_icntl_14")

    def _set_load(self, F: np.ndarray) -> None:
        d = self.disc
        # the stiffness factors live on the shared discretisation (a linear operator sets
        # them when it is built); the nonlinear model is the nominal lattice: theta = 1
        d.set_theta(np.ones(self.design.n_bonds))
        d.set_force(F)  # the linear solver's distribution: F_j / |Omega_j| on junction j
        self._f.x.array[:] = d.force.x.array

    def _newton(self, F: np.ndarray) -> tuple[bool, int, float]:
        """One Newton solve from the current state; (converged, iterations, residual)."""
        self._set_load(F)
        problem = self._snes()
        # absolute tolerance relative to the load: small increments start from tiny residuals
        # that a purely relative test cannot reduce 1e10 times below round-off
        atol = max(self.options.atol, self.options.atol_load * float(np.abs(F).sum()))
        problem.solver.setTolerances(atol=atol)
        problem.solver.cancelMonitor()
        if self._should_stop is not None:
            poll = self._should_stop

            def _monitor(snes: Any, it: int, norm: float) -> None:
                # called before every Newton step's linear solve (it = 0: the initial residual),
                # i.e. between factorisations: the safe point to stop at
                why = poll()
                if why:
                    raise _Stop(why)

            problem.solver.setMonitor(_monitor)
        try:
            problem.solve()
        except PETSc.Error as exc:
            # petsc4py wraps an exception raised in a Python callback (residual or Jacobian
            # assembly, the monitor) in PETSc.Error: a stop request or Ctrl-C must not be read
            # as "Newton did not converge" (that made Ctrl-C bisect on instead of stopping)
            cause = exc.__cause__
            if isinstance(cause, _Stop) or (cause is not None and not isinstance(cause, Exception)):
                if isinstance(cause, _Stop):
                    cause.iterations = int(problem.solver.getIterationNumber())  # spent before the stop
                self._drop_snes()
                raise cause from None
            return False, problem.solver.getIterationNumber(), float("nan")
        snes = problem.solver
        reason = snes.getConvergedReason()
        its = snes.getIterationNumber()
        res = float(snes.getFunctionNorm())
        self._last_reason = int(reason)
        if its > 0:
            self._factor_ready = True  # the KSP holds the factor of the last Newton tangent
        ok = reason > 0 and np.isfinite(res)
        if ok:
            # reject states with inverted elements (ln of a negative J gives nan first)
            ok = bool(np.all(np.isfinite(self._u.x.array)))
        return ok, its, res

    def _advance(
        self,
        loads: np.ndarray,
        s0: float,
        s1: float,
        monitor: Callable[[PathStep], None] | None = None,
        t0: float | None = None,
    ) -> tuple[int, int, float]:
        """Advance the current state from load factor s0 to s1 with bisection (collective).

        Raises:
            PathStopped: Newton failed after ``max_bisections`` halvings, or ``should_stop``
                answered; the state is the last converged one (at ``reached``).
        """
        o = self.options
        t0 = time.monotonic() if t0 is None else t0
        s = s0
        ds = s1 - s0
        its_total = n_inc = 0
        res = 0.0
        halvings = 0
        backup = self._u.x.array.copy()
        prev: tuple[np.ndarray, float] | None = None  # the converged state before ``backup`` (secant)
        while s < s1 - 1e-14 * max(1.0, abs(s1)):
            target = min(s + ds, s1)
            try:
                ok, its, res = self._newton(target * loads)
            except _Stop as stop:
                self._u.x.array[:] = backup
                raise PathStopped(
                    f"load path stopped at load factor {s:.6g} while trying {target:.6g}: {stop}",
                    reason=str(stop),
                    reached=s,
                    newton_iterations=its_total + stop.iterations,
                ) from None
            except BaseException:
                self._u.x.array[:] = backup
                raise
            its_total += its
            if monitor is not None:
                monitor(PathStep(target, ok, its, res, target if ok else s, time.monotonic() - t0))
            if ok:
                prev = (backup, s)
                s = target
                n_inc += 1
                backup = self._u.x.array.copy()
                continue
            self._u.x.array[:] = backup
            # a failed factorisation (NaN from inverted elements) leaves the PC in a failed
            # state that would fail every later solve: start from a fresh SNES
            self._problem = None
            halvings += 1
            if halvings > o.max_bisections and o.continuation == "arclength":
                its, steps, res = self._arclength(loads, s, s1, prev, monitor, t0, its_total)
                return its_total + its, n_inc + steps, res
            if halvings > o.max_bisections:
                raise PathStopped(
                    f"Newton did not converge for design {self.design.name or self.design.hash()}: "
                    f"stuck at load factor {s:.6g} trying {target:.6g} (increment halved {o.max_bisections} times), "
                    f"residual norm {res:.3e} N after {its} iterations (SNES reason {self._last_reason})",
                    reason="newton",
                    reached=s,
                    newton_iterations=its_total,
                )
            ds = (target - s) / 2
        return its_total, n_inc, res

    def _arclength(
        self,
        loads: np.ndarray,
        s: float,
        target: float,
        prev: tuple[np.ndarray, float] | None,
        monitor: Callable[[PathStep], None] | None,
        t0: float,
        its_before: int,
    ) -> tuple[int, int, float]:
        """Follow the path from the state at load factor ``s`` to ``target`` past a limit point (collective).

        Keller's pseudo-arclength continuation: (u, lambda) are the unknowns, and each step stays on
        the hyperplane at distance ``ds`` along the path's tangent (K_T t = q at the last
        converged point, oriented along the step that reached it; the first step: along the last
        increment of the load stepping). Distances are measured with the displacement
        divided by the secant compliance ``|u_s| / s`` of the state reached, so that the load
        factor and the displacement count alike. The bordered corrector costs one numeric
        factorisation (the SNES's matrix and MUMPS factor; symbolic analysis kept) and two
        solves per iteration. When a step crosses ``target`` with the load factor rising, the
        state is interpolated there and Newton at that fixed load (the SNES, same tolerances as
        load stepping) finishes it: the state returned is an equilibrium at ``target`` exactly.

        Returns:
            ``(iterations, steps, residual norm)``; the state is at ``target``.

        Raises:
            PathStopped: ``arclength_steps`` steps did not bring the load factor back up to
                ``target``, a step could not be corrected even at ``1e-6`` of its first length,
                or ``should_stop`` answered; the state is restored to the one at ``s``.
        """
        o = self.options
        d = self.disc
        u = self._u.x.petsc_vec
        start = self._u.x.array.copy()
        self._set_load(np.asarray(loads, dtype=float))  # _f = the reference load q (factor 1)
        if self._arc_forms is None:
            self._arc_forms = (dolfinx.fem.form(self._Fint), dolfinx.fem.form(self._Fext))
        fint_form, fext_form = self._arc_forms
        problem = self._snes()
        A = problem.A
        ksp = problem.solver.getKSP()
        self._factor_ready = False  # the factor will be of a continuation point, not of a Newton tangent

        def zeros() -> PETSc.Vec:
            v = dolfinx.fem.petsc.create_vector(d.V)
            with v.localForm() as loc:
                loc.set(0.0)
            return v

        q, R, a, b, tu, uk = zeros(), zeros(), zeros(), zeros(), zeros(), zeros()
        _solvers.assemble_vector_into(q, fext_form)
        dolfinx.fem.petsc.set_bc(q, [d.bc])
        its_total = steps = rejected = 0
        lam_lo, lam_hi, lam_k = s, s, s

        def stopped(message: str, reason: str) -> PathStopped:
            self._u.x.array[:] = start
            for v in (q, R, a, b, tu, uk):
                v.destroy()
            self._problem = None  # its factor is of a continuation point
            exc = PathStopped(message, reason=reason, reached=s, newton_iterations=its_before + its_total)
            exc.continuation = {
                "from": float(s),
                "highest": float(lam_hi),
                "lowest": float(lam_lo),
                "last": float(lam_k),
                "steps": int(steps),
                "rejected": int(rejected),
            }
            return exc

        def dot(x: PETSc.Vec, y: PETSc.Vec) -> float:
            return float(x.dot(y).real)  # collective; a real build

        def residual(lam: float) -> float:
            with R.localForm() as loc:
                loc.set(0.0)
            _solvers.assemble_vector_into(R, fint_form)
            R.axpy(-lam, q)
            dolfinx.fem.petsc.set_bc(R, [d.bc])
            return _solvers.norm2(R)

        def factorise() -> bool:
            A.zeroEntries()
            _solvers.assemble_matrix_into(A, self._J_form, [d.bc])
            A.assemble()
            ksp.setOperators(A, A)
            try:
                ksp.solve(q, b)  # K b = q
            except PETSc.Error:
                return False
            return ksp.getConvergedReason() > 0

        # the metric: u scaled by the secant compliance, so both parts of a step count alike
        nu = _solvers.norm2(u)
        scale = nu / s if s > 0 and nu > 0 else 0.0
        if scale == 0.0:  # no state yet: the compliance of the tangent
            if not factorise():
                raise stopped(f"the tangent at load factor {s:.6g} could not be factorised", "newton")
            scale = _solvers.norm2(b)
        inv2 = 1.0 / scale**2

        def tangent(ref: PETSc.Vec | None, ref_l: float) -> float | None:
            # the path's tangent (K^-1 q, 1) at the current state, normalised, pointing along
            # (ref, ref_l): a tangent predictor follows sharp turns that a secant cuts across
            if not factorise():
                return None
            b.copy(tu)
            t_l = 1.0
            n = float(np.sqrt(dot(tu, tu) * inv2 + t_l * t_l))
            sign = 1.0
            if ref is not None and dot(tu, ref) * inv2 + t_l * ref_l < 0:
                sign = -1.0
            tu.scale(sign / n)
            return sign * t_l / n

        if prev is not None:  # oriented along the last increment of the load stepping
            prev_u, prev_s = prev
            R.array_w[:] = self._u.x.array[: len(R.array_w)] - prev_u[: len(R.array_w)]
            t0_l = tangent(R, s - prev_s)
        else:
            t0_l = tangent(None, 1.0)
        if t0_l is None:
            raise stopped(f"the tangent at load factor {s:.6g} could not be factorised", "newton")
        tl = t0_l
        # the first step a twentieth of the target load in this metric; at most a quarter
        ds = 0.05 * target
        ds_max, ds_min = 0.25 * target, 1e-6 * 0.05 * target
        lam_k = s
        tol = max(o.atol, o.atol_load * float(np.abs(loads).sum()) * target)
        # a corrector that needs many iterations has wandered: near a sharp turn of the path
        # the hyperplane meets it twice, and a far landing can go back along it
        max_corr = min(o.max_it, 10)
        while steps < o.arclength_steps:
            u.copy(uk)
            lam = lam_k + ds * tl
            u.axpy(ds, tu)
            self._u.x.scatter_forward()
            converged, its, nr = False, 0, float("nan")
            for its in range(max_corr + 1):
                if self._should_stop is not None:
                    why = self._should_stop()
                    if why:
                        raise stopped(f"load path stopped in arclength continuation at {lam:.6g}: {why}", str(why))
                nr = residual(lam)
                if not np.isfinite(nr):
                    break
                if nr <= tol:
                    converged = True
                    break
                if its == max_corr or not factorise():
                    break
                R.scale(-1.0)
                ksp.solve(R, a)  # K a = -R
                u.copy(R)
                R.axpy(-1.0, uk)
                g = dot(R, tu) * inv2 + tl * (lam - lam_k) - ds  # 0 up to round-off: the constraint is linear
                dlam = -(g + dot(a, tu) * inv2) / (dot(b, tu) * inv2 + tl)
                u.axpy(1.0, a)
                u.axpy(dlam, b)
                self._u.x.scatter_forward()
                lam += dlam
            its_total += its
            converged = converged and bool(np.all(np.isfinite(self._u.x.array)))
            if converged:
                # the step must go on along the path, not back: the new secant at less than
                # 60 degrees from the last one (a reversal lands on the part already followed)
                u.copy(R)
                R.axpy(-1.0, uk)
                forward = dot(R, tu) * inv2 + tl * (lam - lam_k)
                length = float(np.sqrt(dot(R, R) * inv2 + (lam - lam_k) ** 2))
                converged = forward > 0.5 * length
            if monitor is not None:
                monitor(PathStep(lam, converged, its, nr, lam if converged else lam_k, time.monotonic() - t0))
            if not converged:
                uk.copy(u)
                self._u.x.scatter_forward()
                ds /= 2
                rejected += 1
                if rejected > _ARC_REJECTIONS:
                    raise stopped(
                        f"arclength continuation from load factor {s:.6g} stalled at load factor {lam_k:.6g} "
                        f"after {steps} steps and {rejected} rejected ones (a bifurcation or a turn it cannot "
                        f"follow); load factor between {lam_lo:.6g} and {lam_hi:.6g} on the way",
                        "newton",
                    )
                if ds < ds_min:
                    raise stopped(
                        f"arclength continuation from load factor {s:.6g} failed: no converged step of "
                        f"length {ds * 2:.3g} at load factor {lam_k:.6g}",
                        "newton",
                    )
                continue
            steps += 1
            lam_lo, lam_hi = min(lam_lo, lam), max(lam_hi, lam)
            if lam_k < target <= lam:
                # crossed the target with the load rising: interpolate, then Newton at that load
                alpha = (target - lam_k) / (lam - lam_k)
                u.scale(alpha)
                u.axpy(1.0 - alpha, uk)
                self._u.x.scatter_forward()
                try:
                    ok, its, res = self._newton(target * np.asarray(loads, dtype=float))
                except _Stop as stop:
                    its_total += stop.iterations
                    raise stopped(f"load path stopped at load factor {target:.6g}: {stop}", str(stop)) from None
                its_total += its
                if monitor is not None:
                    monitor(PathStep(target, ok, its, res, target if ok else lam, time.monotonic() - t0))
                if ok:
                    for v in (q, R, a, b, tu, uk):
                        v.destroy()
                    return its_total, steps, res
                # Newton from the interpolated state failed: back to the point before the
                # crossing with a shorter step, so the next crossing interpolates closer (a
                # fresh SNES: its factor may have failed)
                self._problem = None
                problem = self._snes()
                A, ksp = problem.A, problem.solver.getKSP()
                uk.copy(u)
                self._u.x.scatter_forward()
                ds /= 4
                rejected += 1
                if ds < ds_min:
                    raise stopped(
                        f"arclength continuation crossed load factor {target:.6g} but Newton at that load "
                        "did not converge from the interpolated state",
                        "newton",
                    )
                continue
            # the tangent at the new point along this step (R = u - u_k), and a longer step after
            # an easy correction
            t_l = tangent(R, lam - lam_k)
            if t_l is None:
                raise stopped(f"the tangent at load factor {lam:.6g} could not be factorised", "newton")
            tl = t_l
            lam_k = lam
            if its <= 3:
                ds = min(1.5 * ds, ds_max)
        raise stopped(
            f"arclength continuation from load factor {s:.6g} did not come back up to {target:.6g} in "
            f"{o.arclength_steps} steps (load factor between {lam_lo:.6g} and {lam_hi:.6g} on the way)",
            "newton",
        )

    def _solution(self, s: float, its: int, n_inc: int, res: float) -> NonlinearSolution:
        d = self.disc
        avg, rot = d.extractor.node_quantities(self._u)
        u = avg[:, :2]
        field = dolfinx.fem.Function(d.V, name="u_nonlinear")
        field.x.array[:] = self._u.x.array
        return NonlinearSolution(
            u=u,
            elongation=elongations(u, self.design),
            true_elongation=true_elongations(u, self.design),
            rotation=rot,
            field=field,
            load_factor=float(s),
            newton_iterations=int(its),
            increments=int(n_inc),
            residual_norm=float(res),
        )

    def solve(self, loads: np.ndarray, steps: int | None = None) -> NonlinearSolution:
        """Equilibrium under the dead loads ``loads`` (n_nodes, 2) in N, from the undeformed state (collective).

        Raises:
            EngineError: Newton failed even after bisecting the increments; the
                message gives the load factor reached and the residual norm.
        """
        F = self._check_loads(loads)
        n = steps or self.options.steps
        self._u.x.array[:] = 0.0
        its = n_inc = 0
        res = 0.0
        for k in range(n):
            i, m, res = self._advance(F, k / n, (k + 1) / n)
            its += i
            n_inc += m
        self.n_solves += 1
        return self._solution(1.0, its, n_inc, res)

    def solve_path(
        self,
        loads: np.ndarray,
        factors: Sequence[float],
        *,
        monitor: Callable[[PathStep], None] | None = None,
        should_stop: Callable[[], str | None] | None = None,
    ) -> list[NonlinearSolution]:
        """Solutions at increasing load factors ``factors`` (continuation from 0; collective).

        Each level starts from the previous one, so a sweep costs little more than
        its largest load.

        Args:
            loads: (n_nodes, 2) dead loads at load factor 1 (N).
            factors: Increasing positive load factors.
            monitor: Called after every Newton solve of an increment (converged or not)
                with a :class:`PathStep`, on every rank (log on rank 0).
            should_stop: Polled before every Newton iteration (between factorisations) on
                every rank; a non-empty text stops the path with :class:`PathStopped`
                (``reason`` = that text). It must answer the same on every rank (reduce a
                clock or a flag over the communicator). An exception it raises
                (KeyboardInterrupt) propagates as is.

        Raises:
            PathStopped: Newton failed or ``should_stop`` answered; it carries the
                solutions at the factors reached, the last converged state and the
                Newton iterations spent.
        """
        F = self._check_loads(loads)
        fs = [float(s) for s in factors]
        if any(b <= a for a, b in zip([0.0, *fs[:-1]], fs, strict=True)):
            raise InputError("load factors must be > 0 and increasing", field="factors", value=fs)
        self._u.x.array[:] = 0.0
        out: list[NonlinearSolution] = []
        s0 = 0.0
        its_total = 0
        t0 = time.monotonic()
        self._should_stop = should_stop
        try:
            for s in fs:
                try:
                    its, n_inc, res = self._advance(F, s0, s, monitor=monitor, t0=t0)
                except PathStopped as stop:
                    stop.newton_iterations += its_total
                    stop.solutions = out
                    if stop.reached > 0:
                        stop.last = self._solution(stop.reached, stop.newton_iterations, 0, float("nan"))
                    raise
                its_total += its
                out.append(self._solution(s, its, n_inc, res))
                s0 = s
        finally:
            self._should_stop = None
        self.n_solves += 1
        return out

    def _check_loads(self, loads: np.ndarray) -> np.ndarray:
        F = np.asarray(loads, dtype=float)
        if F.shape != (self.design.n_nodes, 2):
            raise InputError(f"loads must have shape ({self.design.n_nodes}, 2)", field="loads", value=F.shape)
        if not np.all(np.isfinite(F)):
            raise InputError("loads must be finite", field="loads")
        return F

    # ------------------------------------------------------------- linearised
    def linear_operator(self) -> FemOperator:
        """The linear solver's factorised operator on the same mesh (collective)."""
        return self.fem.operator()

    def tangent(self, state: NonlinearSolution | dolfinx.fem.Function) -> TangentOperator:
        """Factorised consistent tangent at a solved state (collective)."""
        field = state.field if isinstance(state, NonlinearSolution) else state
        return TangentOperator(self, field)

    def backprop(
        self, loads: np.ndarray, loss: Loss, adjoint: str = "tangent", state: NonlinearSolution | None = None
    ) -> NonlinearBackprop:
        """In situ gradient e * e_adj with a nonlinear forward solve (collective).

        Args:
            loads: (n_nodes, 2) forward loads (N).
            loss: Loss on node displacements; the adjoint load is -dL/du at the
                nonlinear state.
            adjoint: How e_adj is obtained: ``"tangent"`` solves the consistent
                tangent at the forward state (the exact adjoint of the nonlinear
                model); ``"separate"`` is the physical protocol with the adjoint load
                applied alone to the unloaded lattice (nonlinear); ``"superposed"``
                applies forward + adjoint loads and takes the difference of the
                elongations from the forward state (nonlinear).
            state: A forward solution already computed for ``loads`` (saves a solve).
        """
        if adjoint not in ("tangent", "separate", "superposed"):
            raise InputError("must be tangent, separate or superposed", field="adjoint", value=adjoint)
        fwd = state if state is not None else self.solve(loads)
        case_loss, dldu = loss(fwd.u[None])
        f_adj = -dldu[0]
        if adjoint == "tangent":
            op = self.tangent(fwd)
            try:
                e_adj = op.solve(f_adj).elongation[0]
            finally:
                op.destroy()
        elif adjoint == "separate":
            e_adj = self.solve(f_adj).elongation
        else:
            both = self.solve(np.asarray(loads, float) + f_adj)
            e_adj = both.elongation - fwd.elongation
        return NonlinearBackprop(
            loss=float(case_loss[0]),
            u=fwd.u,
            elongation=fwd.elongation,
            adjoint_load=f_adj,
            adjoint_elongation=e_adj,
            grad_k=fwd.elongation * e_adj,
        )

    # ------------------------------------------------------- exact gradient
    def _shape_forms(self) -> _ShapeForms:
        """Shape-derivative forms of the neo-Hookean residual (the linear path's code, this material)."""
        q = self.quadrature_degree
        mat = Material(stress=self.first_piola, tangent=self.tangent_action, quadrature_degree=q)
        return shape_forms(self.disc, mat, key=f"neo-hookean-{self.disc.gdim}d-q{q}")

    def _adjoint(
        self, state: NonlinearSolution, f_adj: np.ndarray, reuse: bool
    ) -> tuple[dolfinx.fem.Function, int, int]:
        """Solve ``K_T(u) lambda = f_adj`` at a converged state (collective).

        With ``reuse`` (``state`` is the state the last Newton solve converged to), the
        SNES's factor of the last Newton tangent K_T(u_{n-1}) serves as the solver of a
        refinement on the exact tangent K_T(u_n) (assembled, not factorised): the
        contraction factor is about ||u_n - u_{n-1}||, so two or three solves reach the
        Newton tolerance, with no factorisation. Otherwise (another case's state, or the
        refinement stalls) K_T(u) is assembled into the SNES's matrix and refactorised
        numerically (same sparsity: MUMPS's symbolic analysis is kept).

        Returns:
            ``(lambda Function, numeric factorisations, refinement solves)``.
        """
        d = self.disc
        d.set_theta(np.ones(self.design.n_bonds))
        self._u.x.array[:] = state.field.x.array
        b = self.disc.load_vector(f_adj)
        lam = dolfinx.fem.Function(d.V, name="adjoint")
        x = lam.x.petsc_vec
        nb = _solvers.norm2(b)
        # accepted at the Newton tolerance (the forward state is no more accurate than that),
        # but refined while it still contracts, down to round-off: serial and parallel runs
        # then agree to the solver's backward error, not to the tolerance
        tol = max(self.options.rtol, 1e-14) * nb
        floor = 1e-15 * nb
        refinements = 0
        if nb == 0.0:
            b.destroy()
            self.last_adjoint_residual = 0.0
            return lam, 0, 0
        problem = self._problem
        if reuse and problem is not None and self._factor_ready:
            if self._Kt is None:
                self._Kt = dolfinx.fem.petsc.create_matrix(self._J_form)
            Kt = self._Kt
            Kt.zeroEntries()
            _solvers.assemble_matrix_into(Kt, self._J_form, [d.bc])
            Kt.assemble()
            ksp = problem.solver.getKSP()
            r = b.copy()
            dx = b.duplicate()
            prev = nb
            with x.localForm() as loc:
                loc.set(0.0)
            nr = nb
            for _ in range(8):
                ksp.solve(r, dx)
                refinements += 1
                x.axpy(1.0, dx)
                Kt.mult(x, r)
                r.aypx(-1.0, b)  # r = b - K_T(u_n) x
                nr = _solvers.norm2(r)
                if nr <= floor or nr > 0.5 * prev:  # round-off reached, or no longer contracting
                    break
                prev = nr
            r.destroy()
            dx.destroy()
            if nr <= tol:
                b.destroy()
                lam.x.scatter_forward()
                self.last_adjoint_residual = float(nr / nb)
                return lam, 0, refinements
        # numeric refactorisation of the exact tangent in the SNES's own matrix and KSP
        problem = self._snes()
        A = problem.A
        A.zeroEntries()
        _solvers.assemble_matrix_into(A, self._J_form, [d.bc])
        A.assemble()
        ksp = problem.solver.getKSP()
        ksp.setOperators(A, A)
        with x.localForm() as loc:
            loc.set(0.0)
        ksp.solve(b, x)
        if ksp.getConvergedReason() < 0:
            b.destroy()
            raise EngineError(f"tangent solve of the adjoint failed (KSP reason {ksp.getConvergedReason()})")
        self._factor_ready = True
        r = b.duplicate()
        A.mult(x, r)
        r.aypx(-1.0, b)
        self.last_adjoint_residual = float(_solvers.norm2(r) / nb)
        r.destroy()
        b.destroy()
        lam.x.scatter_forward()
        return lam, 1, refinements

    def width_gradient(
        self,
        loads: np.ndarray,
        loss: Loss,
        widths: np.ndarray | None = None,
        method: Literal["auto", "batched", "ufl"] = "auto",
        steps: int | None = None,
        states: Sequence[NonlinearSolution] | None = None,
    ) -> NonlinearShapeGradient:
        """Exact dL/dw of the mean batch loss through the nonlinear equilibrium (collective).

        Per case: the equilibrium on the load path from zero (:meth:`solve`), then the
        tangent adjoint ``K_T(u) lambda = -dl/du`` (symmetric for a hyperelastic
        material), then ``dL/dX = dl/dX + d/dX R(u, X; lambda)``, assembled by the same
        code as the linear gradient (:func:`fem_mnn.fem.shape.assemble_shape_vector`)
        with the neo-Hookean residual, and ``dL/dw_i = <dL/dX, V_i>`` with the design
        velocities of the width map. With a morphing ``fem`` the gradient is that of the
        discrete loss on morphed meshes (exact to the Newton tolerance); otherwise of the
        loss on the current mesh moved by the width map.

        The last case's adjoint reuses the factor of its last Newton tangent; the other
        cases' states were overwritten by later forward solves, so each costs one numeric
        refactorisation (symbolic analysis kept).

        Args:
            loads: (n_cases, n_nodes, 2) or (n_nodes, 2) dead loads (N).
            loss: Loss on region-average node displacements.
            widths: Move (or remesh) to these widths first (:meth:`set_widths`).
            method: Shape assembly, as :func:`fem_mnn.fem.shape.shape_width_gradient`.
            steps: Load increments (default the options').
            states: Converged states of ``loads`` at the current widths (from :meth:`solve`),
                to skip the forward solves; every adjoint then refactorises its tangent.
        """
        if self.fem.options.measure != "average":
            raise InputError(
                "the shape gradient needs measure='average'", field="measure", value=self.fem.options.measure
            )
        t0 = time.perf_counter()
        if widths is not None:
            self.set_widths(widths)
        t1 = time.perf_counter()
        F = as_cases(loads, self.design.n_nodes)
        nc = F.shape[0]
        given = states is not None
        if states is not None:
            states = list(states)
            if len(states) != nc:
                raise InputError("one state per load case", field="states", value=len(states))
        else:
            states = [self.solve(F[c], steps=steps) for c in range(nc)]
        t2 = time.perf_counter()
        U = np.array([s.u for s in states])
        case_loss, dldu = loss(U)
        case_loss = np.asarray(case_loss, dtype=float)
        dldu = np.asarray(dldu, dtype=float)
        adj_fields: list = [None] * nc
        lam_bar = np.zeros_like(U)
        n_fact = n_ref = 0
        adj_res = 0.0
        for c in reversed(range(nc)):  # the last case first: its Newton factor is still there
            lam, nf, nr = self._adjoint(states[c], -dldu[c], reuse=c == nc - 1 and not given)
            adj_res = max(adj_res, self.last_adjoint_residual)
            n_fact += nf
            n_ref += nr
            adj_fields[c] = lam
            lam_bar[c] = self.disc.extractor.node_quantities(lam)[0][:, :2]
        t3 = time.perf_counter()
        self.disc.set_theta(np.ones(self.design.n_bonds))
        sf = self._shape_forms()
        cases = [(states[c].field, adj_fields[c], dldu[c], U[c], F[c], lam_bar[c]) for c in range(nc)]
        gX, _, used = assemble_shape_vector(sf, cases, method)
        t4 = time.perf_counter()
        wm = disc_width_map(self.disc)
        grad = contract_velocity(wm, self.widths, sf, gX, self.design.n_bonds)
        t5 = time.perf_counter()
        return NonlinearShapeGradient(
            loss=float(np.mean(case_loss)),
            case_loss=case_loss,
            grad_w=grad,
            u=U,
            adjoint_load=-dldu,
            adjoint_u=lam_bar,
            states=states,
            counts={
                "newton_iterations": int(sum(s.newton_iterations for s in states)),
                "adjoint_factorisations": n_fact,
                "adjoint_refinements": n_ref,
                "adjoint_residual": adj_res,
            },
            timings={
                "morph": t1 - t0,
                "forward": t2 - t1,
                "adjoint": t3 - t2,
                "shape": t4 - t3,
                "contract": t5 - t4,
                "method": used,
            },
        )

    def exact_backprop(
        self,
        loads: np.ndarray,
        loss: Loss,
        widths: np.ndarray | None = None,
        steps: int | None = None,
        states: Sequence[NonlinearSolution] | None = None,
    ) -> Backprop:
        """:class:`fem_mnn.contract.Backprop` of the nonlinear model with the exact ``grad_w`` (collective).

        ``grad_w`` is :meth:`width_gradient`'s; the in situ quantities are those of the
        tangent protocol at the loaded states (keep the forward load on, add the adjoint
        load, measure the increment): ``adjoint_u`` the tangent response to ``-dl/du``,
        ``elongation`` and ``adjoint_elongation`` their projected elongations and
        ``grad_k = mean_c e_c e_adj,c`` (the in situ estimate, not the exact dL/dk of a beam lattice).
        """
        g = self.width_gradient(loads, loss, widths=widths, steps=steps, states=states)
        e = elongations(g.u, self.design)
        e_adj = elongations(g.adjoint_u, self.design)
        return paired_backprop(g.case_loss, g.u, e, g.adjoint_load, g.adjoint_u, e_adj, grad_w=g.grad_w)


class NonlinearFemOperator:
    """The neo-Hookean lattice at one set of widths, for learning (collective; built by :class:`NonlinearFemModel`).

    ``solve`` returns the equilibria of a batch of load cases, each followed from zero load
    (kept per case, so the end-of-epoch metrics and the next step's gradient at the same widths
    solve once); ``backprop`` the :class:`~fem_mnn.contract.Backprop` of
    :meth:`NonlinearModel.exact_backprop` on those states: ``grad_w`` the exact shape
    derivative through the nonlinear solve, ``grad_k`` the in situ estimate with the tangent
    adjoint. ``regime == "nonlinear"`` makes :func:`fem_mnn.contract.backprop_operator` call it.
    """

    regime = "nonlinear"

    def __init__(self, model: NonlinearFemModel, widths: np.ndarray) -> None:
        self.model = model
        self.design = model.design
        self.widths = np.array(widths, dtype=float)
        self.k, self.dk_dw = nominal_stiffness(self.design, self.widths)
        self._cache: dict[bytes, NonlinearSolution] = {}

    def _at_widths(self) -> None:
        """Move the shared mesh to this operator's widths; states on another mesh position are dropped."""
        nl = self.model.nl
        if not np.array_equal(nl.widths, self.widths) or self.model._owner is not self:
            nl.set_widths(self.widths)
            if self.model._owner is not self:
                self._cache.clear()
            self.model._owner = self

    def states(self, loads: np.ndarray) -> list[NonlinearSolution]:
        """Equilibria of every case of ``loads`` (collective; each solved once per operator)."""
        self._at_widths()
        return states_once(self._cache, loads, self.design.n_nodes, self.model.nl.solve)

    def solve(self, loads: np.ndarray) -> Solution:
        """Node displacements and projected elongations of the equilibria (not a linear solve)."""
        sols = self.states(loads)
        return Solution(u=np.stack([s.u for s in sols]), elongation=np.stack([s.elongation for s in sols]))

    def backprop(self, loads: np.ndarray, loss: Loss) -> Backprop:
        """Exact gradient through the nonlinear equilibria (collective)."""
        sols = self.states(loads)
        return self.model.nl.exact_backprop(loads, loss, states=sols)


class NonlinearFemModel:
    """The FE lattice in large deformation as a learning model (:class:`~fem_mnn.contract.MechanicalModel`).

    A :class:`NonlinearModel` on a :class:`~fem_mnn.fem.morph.MorphingFemModel`: the mesh
    moves with the widths (compiled forms, matrix sparsity and MUMPS's symbolic analysis
    kept), and the equilibrium of every case is *the state on the load path from zero*,
    followed in ``options.steps`` increments with bisection: the same widths always give the
    same state, so a resumed training repeats the uninterrupted one bit for bit with no
    stored state. Newton is never warm-started from the previous step's state: past a
    bifurcation that could land on another branch than the path from zero.

    Args:
        design: The lattice.
        fem_options: Discretisation (:class:`~fem_mnn.fem.FemOptions`).
        options: Newton and load stepping.
        comm: MPI communicator (collective).
        mesher: Passed to the FE model.
    """

    regime = "nonlinear"

    def __init__(
        self,
        design: Design,
        fem_options: FemOptions | None = None,
        options: NonlinearOptions | None = None,
        comm: MPI.Comm | None = None,
        mesher: Mesher | None = None,
    ) -> None:
        from fem_mnn.fem.morph import MorphingFemModel

        self.morph = MorphingFemModel(design, fem_options, comm, mesher=mesher, gradient="exact")
        self.nl = NonlinearModel(design, options=options, fem=self.morph)
        self.design = design
        self.comm = self.nl.disc.mesh.comm
        self._owner: NonlinearFemOperator | None = None

    @property
    def regime_info(self) -> dict[str, Any]:
        """What sets this model's numbers beyond the design: recorded with a training run."""
        o = self.nl.options
        return {
            "regime": "nonlinear",
            "model": "fem",
            "material": "compressible neo-Hookean",
            "load_steps": int(o.steps),
            "max_bisections": int(o.max_bisections),
            "rtol": float(o.rtol),
            "path": "every state followed from zero load (no warm start)",
            # only when set: results and checkpoints written before the option existed stay comparable
            **({"continuation": "arclength"} if o.continuation == "arclength" else {}),
        }

    def operator(self, widths: np.ndarray | None = None) -> NonlinearFemOperator:
        """The nonlinear operator at ``widths`` (default the design's)."""
        w = self.design.widths if widths is None else widths
        return NonlinearFemOperator(self, w)

    @staticmethod
    def backprop_operator(op: NonlinearFemOperator, loads: np.ndarray, loss: Loss) -> Backprop:
        """The training loop's gradient: exact ``grad_w`` through the nonlinear solve."""
        return op.backprop(loads, loss)
