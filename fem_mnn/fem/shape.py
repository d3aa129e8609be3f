"""Exact beam-width gradient of the FE model by an adjoint shape derivative.

For a batch loss ``L = mean_c l(u_bar_c)`` on junction-region averages, with loads
that are body-force densities ``F_j / |Omega_j|`` over the junction regions, the
discrete Lagrangian of case c is (u the forward field, lambda the adjoint field under
the load ``-dl/du_bar``, as :func:`fem_mnn.fem.linear.stiffness_factor_gradient` builds it)::

    Lag_c(X) = int (gamma . u - beta) dx + int t theta sigma(u) : eps(lambda) dx
               - int (f . lambda - eta) dx

with DG0 region coefficients ``gamma = g_j / A_j``, ``beta = g_j . u_bar_j / A_j``,
``f = F_j / A_j``, ``eta = F_j . lambda_bar_j / A_j`` (g = dl/du_bar, A_j = |Omega_j|),
all frozen at the current mesh. Differentiating ``Lag_c`` with respect to the mesh
coordinates X at fixed nodal values gives the total derivative dL/dX of the discrete
loss (the first and last integrals carry the region-area dependence of the averages
and of the load densities). Then ``dL/dw_i = <dL/dX, V_i>`` with the design velocity
``V_i`` of :class:`fem_mnn.fem.width_map.WidthMap`.

Two assemblies of dL/dX (same numbers to round-off):

* ``"ufl"``: per case, ``ufl.derivative(Lag_c, SpatialCoordinate, dV)`` (one compiled
  form, one assembly per case);
* ``"batched"`` (affine geometry, the default when the mesh is straight-sided): the
  integrand is ``P_c : grad(dV)`` with the Eshelby-like tensor
  ``P = t theta [(sigma(u):grad(lambda)) I - grad(lambda)^T sigma(u) - grad(u)^T sigma(lambda)]
  + (gamma.u - beta - f.lambda + eta) I``; on affine cells grad(dV) is constant per cell,
  so only the cell averages of ``sum_c P_c`` matter. They are evaluated per case at
  quadrature points (a compiled ``fem.Expression``) and summed in numpy; one
  assembly then serves the whole batch.

Everything here is collective over the mesh communicator and returns the same numbers
on every rank.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Literal, NamedTuple

import numpy as np

from fem_mnn.core.errors import InputError
from fem_mnn.fem._dolfinx import import_dolfinx
from fem_mnn.fem.width_map import geometry_degree, geometry_dofmap

import_dolfinx()

import basix  # noqa: E402
import dolfinx  # noqa: E402
import dolfinx.fem  # noqa: E402
import dolfinx.la  # noqa: E402
import ufl  # noqa: E402
from mpi4py import MPI  # noqa: E402

from fem_mnn.contract import as_cases, paired_backprop

if TYPE_CHECKING:
    from ufl.core.expr import Expr

    from fem_mnn.fem.linear import Discretisation, FemSolution
    from fem_mnn.fem.width_map import WidthMap

__all__ = [
    "Material",
    "ShapeGradient",
    "assemble_shape_vector",
    "contract_thin_velocity",
    "contract_velocity",
    "disc_width_map",
    "output_jacobian",
    "output_response",
    "shape_backprop",
    "shape_forms",
    "shape_vector",
    "shape_width_gradient",
    "width_map",
]


class ShapeGradient(NamedTuple):
    """Exact dL/dw of a batch loss by the shape derivative."""

    loss: float
    """Mean loss over the cases."""
    case_loss: np.ndarray
    """(n_cases,) loss of every case."""
    grad_w: np.ndarray
    """(n_bonds,) dL/dw of the mean loss (N, with L in mm^2)."""
    per_case: np.ndarray | None
    """(n_cases, n_bonds) dl_c/dw of every case (with ``per_case=True``), else None."""
    forward: FemSolution
    """Forward :class:`fem_mnn.fem.FemSolution` (fields included)."""
    adjoint: FemSolution
    """Adjoint :class:`fem_mnn.fem.FemSolution` under -dl/du."""
    timings: dict
    """Seconds: ``solve`` (forward + adjoint), ``shape`` (dL/dX), ``velocity``, ``contract``."""


def width_map(op: Any) -> WidthMap:
    """The :class:`fem_mnn.fem.width_map.WidthMap` of an operator's mesh (made once per mesh, collective-free)."""
    return disc_width_map(op._disc)


def disc_width_map(disc: Discretisation) -> WidthMap:
    """The :class:`fem_mnn.fem.width_map.WidthMap` of a discretisation's mesh (made once per mesh, collective-free)."""
    from fem_mnn.fem.width_map import WidthMap

    wm = disc.width_map
    if wm is None:
        wm = disc.width_map = WidthMap(disc.design, disc.mesh.geometry.x, np.asarray(disc.design.widths, dtype=float))
    return wm


class Material(NamedTuple):
    """The constitutive law seen by the shape derivative.

    The residual's internal work is ``int t theta stress(u) : grad(v) dx``.

    ``stress(u)`` is the first Piola-Kirchhoff stress of the displacement ``u`` (for linear
    elasticity sigma(u)); ``tangent(u, w)`` its directional derivative ``A(u)[grad w]``
    (sigma(w) for linear elasticity). ``quadrature_degree`` is the rule of the residual
    (None: exact for the linear form), so that the shape derivative is that of the
    discrete residual as assembled.
    """

    stress: Callable[[dolfinx.fem.Function], Expr]
    tangent: Callable[[dolfinx.fem.Function, dolfinx.fem.Function], Expr]
    quadrature_degree: int | None = None


class _ShapeForms:
    """Compiled forms and scratch coefficients of the shape derivative on one discretisation.

    One mechanism for the linear and the nonlinear model: the Lagrangian is the loss's
    region terms plus the residual ``R(u; lambda)`` with the test function replaced by
    the adjoint field, ``R`` built from a :class:`Material` (default: the linear
    discretisation's Hooke law).
    """

    def __init__(self, disc: Discretisation, material: Material | None = None) -> None:
        self.disc = disc
        mesh = disc.mesh
        self.mesh = mesh
        gdim = mesh.geometry.dim
        self.gdim = gdim
        deg = geometry_degree(mesh)
        self.affine = deg == 1
        self.Vg = dolfinx.fem.functionspace(mesh, ("Lagrange", deg, (gdim,)))
        # geometry node of every dof of Vg, through the two cell dofmaps (no ordering assumed)
        gd = geometry_dofmap(mesh)
        vd = np.asarray(self.Vg.dofmap.list)
        im = self.Vg.dofmap.index_map
        n_local = im.size_local + im.num_ghosts
        node = np.full(n_local, -1, dtype=np.int64)
        node[vd.ravel()] = gd.ravel()
        if np.any(node < 0):
            raise RuntimeError("geometry space has dofs outside every cell")
        check = np.full(n_local, -1, dtype=np.int64)
        check[vd.ravel()[::-1]] = gd.ravel()[::-1]
        if not np.array_equal(node, check):
            raise RuntimeError("geometry space dofs and geometry nodes do not pair one to one")
        xd = self.Vg.tabulate_dof_coordinates()[:, :gdim]
        if not np.allclose(xd, mesh.geometry.x[node, :gdim], rtol=0, atol=1e-12 * (1 + np.abs(xd).max())):
            raise RuntimeError("geometry space dof coordinates differ from the geometry nodes")
        self.node_of_dof = node
        self.n_owned_dofs = im.size_local

        if material is None:
            material = Material(stress=disc.sigma, tangent=lambda u, w: disc.sigma(w))
        V, Q, Qv = disc.V, disc.Q, disc.Qv
        self.u = dolfinx.fem.Function(V)
        self.lam = dolfinx.fem.Function(V)
        self.gam = dolfinx.fem.Function(Qv)
        self.beta = dolfinx.fem.Function(Q)
        self.fden = dolfinx.fem.Function(Qv)
        self.eta = dolfinx.fem.Function(Q)
        u, lam = self.u, self.lam
        qd = material.quadrature_degree
        dx = ufl.dx(domain=mesh) if qd is None else ufl.dx(domain=mesh, metadata={"quadrature_degree": qd})
        tth = disc.tfac * disc.theta
        Pu = material.stress(u)
        # R(u; lambda) = int t theta P(u) : grad(lambda) - f . lambda: for a symmetric P (Hooke)
        # P : grad(lambda) = sigma(u) : eps(lambda), the linear weak form
        lag = (
            (ufl.inner(self.gam, u) - self.beta) * dx
            + tth * ufl.inner(Pu, ufl.grad(lam)) * dx
            - (ufl.inner(self.fden, lam) - self.eta) * dx
        )
        dV = ufl.TestFunction(self.Vg)
        self.case_form = dolfinx.fem.form(ufl.derivative(lag, ufl.SpatialCoordinate(mesh), dV))

        if self.affine:
            # Eshelby-like tensor: with u, lambda carried by the mesh, grad u -> -grad u grad V,
            # grad lambda -> -grad lambda grad V, dx -> div V dx; the major symmetry of
            # A = dP/dF turns A[grad u grad V] : grad lambda into (grad u^T A[grad lambda]) : grad V
            eye = ufl.Identity(gdim)
            gu, gl = ufl.grad(u), ufl.grad(lam)
            Al = material.tangent(u, lam)
            S = ufl.inner(self.gam, u) - self.beta - ufl.inner(self.fden, lam) + self.eta
            P = tth * (ufl.inner(Pu, gl) * eye - ufl.dot(gl.T, Pu) - ufl.dot(gu.T, Al)) + S * eye
            k = V.ufl_element().embedded_superdegree
            # the residual's own rule (nonlinear), else one exact for the polynomial integrand
            qdeg = qd if qd is not None else max(2 * (k - 1), k)
            ct = basix.CellType.triangle if gdim == 2 else basix.CellType.tetrahedron
            pts, wts = (np.asarray(a) for a in basix.make_quadrature(ct, qdeg))
            self.q_weights = wts / wts.sum()
            self.nq = len(wts)
            self.P_expr = dolfinx.fem.Expression(P, pts)
            self.Qt = dolfinx.fem.functionspace(mesh, ("DG", 0, (gdim, gdim)))
            self.Pbar = dolfinx.fem.Function(self.Qt)
            self.batch_form = dolfinx.fem.form(ufl.inner(self.Pbar, ufl.grad(dV)) * ufl.dx(domain=mesh))
            n_owned = disc.n_owned_cells
            self.owned_cells = np.arange(n_owned, dtype=np.int32)
            self._pbar_dof = self.Qt.dofmap.list[:n_owned, 0]

    # ------------------------------------------------------------------ helpers
    def _fill(self, fn: dolfinx.fem.Function, per_node: np.ndarray) -> None:
        """DG0 ``fn`` = per_node[j] on the owned cells of junction region j, 0 elsewhere."""
        if not hasattr(self, "_region_cells"):
            d = self.disc
            sel = np.nonzero(d.regions.node_of_cell >= 0)[0]
            self._region_cells = (sel, d.regions.node_of_cell[sel])
        cells, region = self._region_cells
        bs = fn.function_space.dofmap.index_map_bs
        pn = np.asarray(per_node, dtype=float).reshape(len(per_node), -1)
        arr = fn.x.array.reshape(-1, bs)
        arr[:] = 0.0
        dofs = fn.function_space.dofmap.list[cells, 0]
        arr[dofs, : pn.shape[1]] = pn[region]
        fn.x.scatter_forward()

    def set_case(
        self,
        u_field: dolfinx.fem.Function,
        lam_field: dolfinx.fem.Function,
        g: np.ndarray,
        u_bar: np.ndarray,
        F: np.ndarray,
        lam_bar: np.ndarray,
    ) -> None:
        """Coefficients of case c: fields, dl/du_bar g, averages and nodal loads (n_nodes, 2)."""
        A = self.disc.measure
        self.u.x.array[:] = u_field.x.array
        self.lam.x.array[:] = lam_field.x.array
        self._fill(self.gam, g / A[:, None])
        self._fill(self.beta, np.sum(g * u_bar, axis=1) / A)
        self._fill(self.fden, F / A[:, None])
        self._fill(self.eta, np.sum(F * lam_bar, axis=1) / A)

    def assemble(self, form: dolfinx.fem.Form) -> np.ndarray:
        """(n_owned_dofs, gdim) assembled dL/dX on the owned geometry dofs of this rank."""
        vec = dolfinx.fem.assemble_vector(form)
        vec.scatter_reverse(dolfinx.la.InsertMode.add)
        return vec.array[: self.n_owned_dofs * self.gdim].reshape(-1, self.gdim).copy()

    def P_at_points(self) -> np.ndarray:
        """(n_owned_cells, n_points * gdim * gdim) P of the current case at the quadrature points."""
        return np.asarray(self.P_expr.eval(self.mesh, self.owned_cells)).reshape(len(self.owned_cells), -1)

    def cell_average(self, vals: np.ndarray) -> np.ndarray:
        """(n_owned_cells, gdim, gdim) cell averages from values at the quadrature points."""
        vals = vals.reshape(len(self.owned_cells), self.nq, self.gdim * self.gdim)
        out = vals[:, 0] * self.q_weights[0]
        for q in range(1, self.nq):
            out += vals[:, q] * self.q_weights[q]
        return out.reshape(-1, self.gdim, self.gdim)

    def cell_average_P(self) -> np.ndarray:
        """(n_owned_cells, gdim, gdim) cell averages of P for the current case."""
        return self.cell_average(self.P_at_points())

    def assemble_batch(self, Pbar: np.ndarray) -> np.ndarray:
        g = self.gdim
        arr = self.Pbar.x.array.reshape(-1, g * g)
        arr[:] = 0.0
        arr[self._pbar_dof] = Pbar.reshape(-1, g * g)
        self.Pbar.x.scatter_forward()
        return self.assemble(self.batch_form)


def _forms(op: Any) -> _ShapeForms:
    return shape_forms(op._disc)


def shape_forms(disc: Discretisation, material: Material | None = None, key: str = "linear") -> _ShapeForms:
    """The (cached) shape-derivative forms of a discretisation for a material (collective on first use).

    ``key`` names the material in the cache (one set of compiled forms per mesh and law).
    """
    cache = disc._shape_forms_by_law
    sf = cache.get(key)
    if sf is None:
        sf = _ShapeForms(disc, material)
        cache[key] = sf
    return sf


def assemble_shape_vector(sf: _ShapeForms, cases: list, method: str = "auto", per_case: bool = False) -> tuple:
    """dL/dX of the mean over ``cases`` of the Lagrangians (collective): the one mechanism.

    Args:
        sf: Forms of :func:`shape_forms` (linear or nonlinear material).
        cases: ``(u_field, lam_field, g, u_bar, F, lam_bar)`` per case: forward and adjoint
            fields (adjoint under ``-dl/du_bar``), dl/du_bar, region averages and nodal loads.
        method: ``"auto"`` (batched on affine meshes unless ``per_case``), ``"batched"`` or ``"ufl"``.
        per_case: Also return every case's vector (forces ``"ufl"``).

    Returns:
        ``(gX, per_case_vectors or None, method)``.
    """
    nc = len(cases)
    if method == "auto":
        method = "batched" if sf.affine and not per_case else "ufl"
    if method == "batched" and not sf.affine:
        raise InputError("the batched shape assembly needs straight-sided (affine) cells", field="method")
    if method not in ("batched", "ufl"):
        raise InputError("must be 'auto', 'batched' or 'ufl'", field="method", value=method)
    if not cases:
        raise InputError("needs at least one load case", field="cases")
    vecs = []
    if method == "ufl":
        sf.set_case(*cases[0])
        total = sf.assemble(sf.case_form)
        if per_case:
            vecs.append(total)
        for case in cases[1:]:
            sf.set_case(*case)
            v = sf.assemble(sf.case_form)
            if per_case:
                vecs.append(v)
            total = total + v  # a new array: vecs[0] stays the first case's
        return total / nc, (vecs if per_case else None), method
    sf.set_case(*cases[0])
    acc = sf.P_at_points()
    for case in cases[1:]:
        sf.set_case(*case)
        acc += sf.P_at_points()  # sum over the cases at the quadrature points, average once
    return sf.assemble_batch(sf.cell_average(acc) / nc), None, method


def _case_data(op: Any, loads: np.ndarray, loss: Any, solved: tuple | None = None) -> tuple:

    if op.options.measure != "average":
        raise InputError("the shape gradient needs measure='average'", field="measure", value=op.options.measure)
    f = as_cases(loads, op.design.n_nodes)
    if solved is not None:  # forward and adjoint already solved on this operator (no second solve)
        fwd, adj = solved
        case_loss, dldu = loss(fwd.u)
        return f, fwd, adj, np.asarray(case_loss, dtype=float), np.asarray(dldu, dtype=float)
    fwd = op.solve_fields(f)
    case_loss, dldu = loss(fwd.u)
    adj = op.solve_fields(-dldu)
    return f, fwd, adj, np.asarray(case_loss, dtype=float), np.asarray(dldu, dtype=float)


def shape_vector(
    op: Any, loads: np.ndarray, loss: Any, method: str = "auto", per_case: bool = False, solved: tuple | None = None
) -> tuple:
    """dL/dX of the mean batch loss on the owned geometry dofs (collective).

    Returns:
        ``(gX, gX_cases, fwd, adj, case_loss, timings)``: gX (n_owned_dofs, gdim);
        gX_cases a list of per-case vectors of l_c (``per_case``) or None.
    """
    t0 = time.perf_counter()
    f, fwd, adj, case_loss, g = _case_data(op, loads, loss, solved)
    t1 = time.perf_counter()
    sf = _forms(op)
    cases = [(fwd.fields[c], adj.fields[c], g[c], fwd.u_average[c], f[c], adj.u_average[c]) for c in range(f.shape[0])]
    gX, cases, method = assemble_shape_vector(sf, cases, method, per_case)
    t2 = time.perf_counter()
    return (
        gX,
        (cases if per_case else None),
        fwd,
        adj,
        case_loss,
        {"solve": t1 - t0, "shape": t2 - t1, "method": method},
    )


def _contract(op: Any, sf: _ShapeForms, gX: np.ndarray) -> np.ndarray:
    """(n_bonds,) <gX, V_i> summed over the owned dofs of every rank (collective)."""
    return contract_velocity(
        width_map(op), np.asarray(op.widths, dtype=float), sf, gX, op.design.n_bonds, _thin_offset(op)
    )


def _thin_offset(op: Any) -> float:
    """The thin-end offset an operator's mesh was morphed to (0 unless a morphing model made one)."""
    return float(getattr(op, "thin_offset", 0.0))


def contract_velocity(
    wm: WidthMap, widths: np.ndarray, sf: _ShapeForms, gX: np.ndarray, n_bonds: int, thin_offset: float = 0.0
) -> np.ndarray:
    """(n_bonds,) dL/dw_i = <gX, V_i> with the design velocities of ``wm`` at ``widths`` (collective)."""
    bond, V = wm.velocity(np.asarray(widths, dtype=float), thin_offset)
    nodes = sf.node_of_dof[: sf.n_owned_dofs]
    b = bond[nodes]
    sel = b >= 0
    Vn = np.zeros((int(sel.sum()), sf.gdim))
    Vn[:, :2] = V[nodes[sel]]
    contrib = np.einsum("pk,pk->p", gX[sel], Vn)
    local = np.bincount(b[sel], weights=contrib, minlength=n_bonds).astype(float)
    out = np.empty_like(local)
    sf.mesh.comm.Allreduce(local, out, op=MPI.SUM)
    return out


def contract_thin_velocity(
    wm: WidthMap, widths: np.ndarray, sf: _ShapeForms, gX: np.ndarray, thin_offset: float
) -> float:
    """dL/d thin_offset = <gX, V_thin> with the thin-end offset's design velocity (collective)."""
    V = wm.thin_velocity(np.asarray(widths, dtype=float), thin_offset)
    nodes = sf.node_of_dof[: sf.n_owned_dofs]
    local = np.array([float(np.einsum("pk,pk->", gX[:, :2], V[nodes]))])
    out = np.empty_like(local)
    sf.mesh.comm.Allreduce(local, out, op=MPI.SUM)
    return float(out[0])


def shape_width_gradient(
    op_or_model: Any,
    loads: np.ndarray,
    loss: Any,
    widths: np.ndarray | None = None,
    method: Literal["auto", "batched", "ufl"] = "auto",
    per_case: bool = False,
    solved: tuple | None = None,
) -> ShapeGradient:
    """Exact dL/dw of the mean batch loss by the adjoint shape derivative (collective).

    One forward and one adjoint solve per case with the operator's factorisation, one
    dL/dX assembly (batched) or one per case (``method="ufl"``), one dot product with
    the design velocities. The gradient is that of the discrete loss on meshes moved by
    :class:`fem_mnn.fem.width_map.WidthMap` (exact to round-off); it approximates the gradient
    of the remeshed loss to the discretisation error.

    Args:
        op_or_model: A :class:`fem_mnn.fem.FemOperator`, or a model whose
            ``operator(widths)`` gives one.
        loads: (n_cases, n_nodes, 2) nodal loads (N).
        loss: Loss on region-average node displacements (a :class:`~fem_mnn.contract.Loss`,
            such as those of :mod:`fem_mnn.learn.losses`).
        widths: Widths for a model (default the design's); ignored for an operator.
        method: ``"auto"`` (batched on affine meshes), ``"batched"`` or ``"ufl"``.
        per_case: Also return every case's gradient (forces ``"ufl"``).
        solved: ``(forward, adjoint)`` :class:`~fem_mnn.fem.FemSolution` already solved on
            this operator for these loads and loss (fields included): no solve is repeated.
    """
    op = op_or_model if hasattr(op_or_model, "solve_fields") else op_or_model.operator(widths)
    gX, cases, fwd, adj, case_loss, tm = shape_vector(op, loads, loss, method=method, per_case=per_case, solved=solved)
    sf = _forms(op)
    t0 = time.perf_counter()
    width_map(op)
    t1 = time.perf_counter()
    grad = _contract(op, sf, gX)
    pc = None
    if per_case:
        pc = np.array([_contract(op, sf, v) for v in cases])
    t2 = time.perf_counter()
    tm.update({"velocity": t1 - t0, "contract": t2 - t1})
    return ShapeGradient(
        loss=float(np.mean(case_loss)),
        case_loss=case_loss,
        grad_w=grad,
        per_case=pc,
        forward=fwd,
        adjoint=adj,
        timings=tm,
    )


def shape_backprop(op: Any, loads: np.ndarray, loss: Any) -> Any:
    """:class:`fem_mnn.contract.Backprop` whose ``grad_w`` is the exact shape gradient (collective).

    ``grad_k`` stays the in situ ``mean_c e_c e_adj,c`` (what the paper's gradient
    option feeds to the latent variables).
    """
    sg = shape_width_gradient(op, loads, loss)
    fwd, adj = sg.forward, sg.adjoint
    _, dldu = loss(fwd.u)
    return paired_backprop(sg.case_loss, fwd.u, fwd.elongation, -dldu, adj.u, adj.elongation, grad_w=sg.grad_w)


def output_jacobian(
    op: Any, loads: np.ndarray, dofs: np.ndarray, jacobian: bool = True, thin_end: bool = False
) -> tuple[np.ndarray, np.ndarray | None]:
    """Node displacements of chosen outputs and their exact width derivatives (collective).

    For every output dof ``d = (node, component)`` the output ``y = u_bar[node, component]``
    (junction-region average) is a linear functional of u: its adjoint, under the unit load
    ``-e_d``, does not depend on the load case. So one factorisation serves ``n_cases``
    forward and ``n_dofs`` adjoint solves; then each (case, output) pair costs one shape
    assembly of the Lagrangian of :func:`shape_width_gradient` (with ``g = e_d``) and one
    contraction with the design velocities. The result is the exact derivative of the
    discrete output on meshes moved by :class:`fem_mnn.fem.width_map.WidthMap`.

    Args:
        op: A :class:`fem_mnn.fem.FemOperator` with ``measure="average"``.
        loads: (n_cases, n_nodes, 2) nodal loads (N).
        dofs: (n_dofs, 2) ``(node, component)`` pairs.
        jacobian: Also compute dU/dw (else None).
        thin_end: Also the derivative with respect to the common thin-end offset the operator's
            mesh was morphed to (``op.thin_offset``), from the same shape vectors contracted with
            :meth:`~fem_mnn.fem.width_map.WidthMap.thin_velocity`: one more column of dU.

    Returns:
        ``(U, dU)``: U (n_cases, n_dofs) displacements (mm); dU (n_cases, n_dofs, n_bonds
        [+ 1 with ``thin_end``, last]).
    """
    if op.options.measure != "average":
        raise InputError("the output Jacobian needs measure='average'", field="measure", value=op.options.measure)
    f = as_cases(loads, op.design.n_nodes)
    dofs = np.asarray(dofs, dtype=np.int64).reshape(-1, 2)
    fwd = op.solve_fields(f)
    U = np.asarray(fwd.u_average)[:, dofs[:, 0], dofs[:, 1]]
    if not jacobian:
        return U, None
    nd, nc = len(dofs), f.shape[0]
    unit = np.zeros((nd, op.design.n_nodes, 2))
    unit[np.arange(nd), dofs[:, 0], dofs[:, 1]] = -1.0  # the adjoint load -dl/du_bar of l = u_bar[node, comp]
    adj = op.solve_fields(unit)
    sf = _forms(op)
    wm = width_map(op)
    nb = op.design.n_bonds
    dU = np.empty((nc, nd, nb + (1 if thin_end else 0)))
    g = np.zeros((op.design.n_nodes, 2))
    for d, (node, comp) in enumerate(dofs):
        g[:] = 0.0
        g[node, comp] = 1.0
        for c in range(nc):
            sf.set_case(fwd.fields[c], adj.fields[d], g, fwd.u_average[c], f[c], adj.u_average[d])
            gX = sf.assemble_batch(sf.cell_average_P()) if sf.affine else sf.assemble(sf.case_form)
            dU[c, d, :nb] = _contract(op, sf, gX)
            if thin_end:
                dU[c, d, nb] = contract_thin_velocity(wm, np.asarray(op.widths, dtype=float), sf, gX, _thin_offset(op))
    return U, dU


def output_response(model: Any) -> Any:
    """A response function ``(widths, loads, dofs, jacobian) -> (U, dU)`` of a :class:`fem_mnn.fem.FemModel`.

    The shape of :data:`fem_mnn.fidelity.identify.ResponseFn`, for a
    :class:`fem_mnn.fem.FemModel` (remeshes when the widths change) or a
    :class:`fem_mnn.fem.morph.MorphingFemModel` (moves one mesh: the response is then a smooth
    function of the widths, whose derivative this is). One factorisation per call. The
    operator is not destroyed here: a morphing model reuses its matrix for the next widths.

    With a morphing model the response also takes ``thin_offset`` (mm, added to every thin
    end's width only): then dU has one more column, dU/d thin_offset, last
    (``response.thin_end_offset`` says whether the model can).
    """
    morphing = hasattr(model, "thin_offset")

    def response(
        widths: np.ndarray, loads: np.ndarray, dofs: np.ndarray, jacobian: bool, thin_offset: float | None = None
    ) -> tuple[np.ndarray, np.ndarray | None]:
        if thin_offset is None:
            return output_jacobian(model.operator(np.asarray(widths, dtype=float)), loads, dofs, jacobian)
        if not morphing:
            raise InputError(
                "a thin-end offset needs a mesh that morphs (the geometry cannot mesh it)", field="thin_offset"
            )
        op = model.operator(np.asarray(widths, dtype=float), thin_offset=float(thin_offset))
        return output_jacobian(op, loads, dofs, jacobian, thin_end=True)

    response.thin_end_offset = morphing  # type: ignore[attr-defined]
    return response
