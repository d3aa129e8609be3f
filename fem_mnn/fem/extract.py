"""The reduced-order extractor: from FE fields to what springs and cameras see.

A continuum solution is turned into per-node and per-bond quantities through the
cell tags of :mod:`fem_mnn.geometry.tags`:

* the **junction region** of node ``j`` is the hub (``20000 + j``) plus any overlap
  pieces attributed to it (``30000 + j``); the region of bond ``i`` is ``10000 + i``;
* node displacement = average of ``u`` over the junction region (work-conjugate to a
  uniform body force over the same region, so adjoint loads are exact), or the value
  at the node centre (what image tracking of a marker measures);
* node rotation = average over the junction region of the infinitesimal rotation
  ``omega = (du_y/dx - du_x/dy) / 2``;
* bond elongation ``e_i = (u_b - u_a) . n_i``.

Every reduction runs over *owned* cells only and is summed across ranks, so results
do not depend on the partition. Functions and methods that touch fields are
collective over the mesh communicator: call them on every rank.

DOLFINx is imported lazily so the module can be imported without it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from fem_mnn.core.errors import EngineError
from fem_mnn.fem._dolfinx import import_dolfinx
from fem_mnn.geometry import tags as _tags

if TYPE_CHECKING:  # pragma: no cover
    import dolfinx
    import dolfinx.fem
    import dolfinx.mesh

__all__ = [
    "CellIntegrator",
    "Extractor",
    "PointEvaluator",
    "RegionMatrices",
    "RegionMap",
    "centre_values",
    "region_average",
    "region_map",
    "region_sums",
    "rotation",
]


class RegionMap(NamedTuple):
    """Which junction / bond region every owned cell of a mesh belongs to."""

    node_of_cell: np.ndarray
    """(n_owned_cells,) junction region (node id) of each owned cell, -1 if none."""
    bond_of_cell: np.ndarray
    """(n_owned_cells,) bond id of each owned cell, -1 if none."""
    n_nodes: int
    n_bonds: int


def region_map(mesh: dolfinx.mesh.Mesh, cell_tags: dolfinx.mesh.MeshTags, n_nodes: int, n_bonds: int) -> RegionMap:
    """Map owned cells to junction and bond regions from the tag contract (local, no communication).

    Args:
        mesh: The mesh the tags live on.
        cell_tags: Cell tags following :mod:`fem_mnn.geometry.tags`.
        n_nodes: Number of nodes of the design.
        n_bonds: Number of bonds of the design.
    """
    tdim = mesh.topology.dim
    n_owned = mesh.topology.index_map(tdim).size_local
    node = np.full(n_owned, -1, dtype=np.int64)
    bond = np.full(n_owned, -1, dtype=np.int64)
    idx = np.asarray(cell_tags.indices)
    val = np.asarray(cell_tags.values, dtype=np.int64)
    own = idx < n_owned
    idx, val = idx[own], val[own]
    kind, num = val // 10000 * 10000, val % 10000
    sel = (kind == _tags.BOND) & (num < n_bonds)
    bond[idx[sel]] = num[sel]
    sel = ((kind == _tags.NODE) | (kind == _tags.OVERLAP)) & (num < n_nodes)
    node[idx[sel]] = num[sel]
    return RegionMap(node_of_cell=node, bond_of_cell=bond, n_nodes=int(n_nodes), n_bonds=int(n_bonds))


def region_sums(cell_values: np.ndarray, region_of_cell: np.ndarray, n_regions: int, comm: Any) -> np.ndarray:
    """Sum per-owned-cell values by region and across ranks (collective).

    Args:
        cell_values: (n_owned_cells, m) values of the owned cells of this rank.
        region_of_cell: (n_owned_cells,) region index of each cell, -1 for none.
        n_regions: Number of regions.
        comm: mpi4py communicator of the mesh.

    Returns:
        (n_regions, m) global sums, the same on every rank.
    """
    vals = np.asarray(cell_values, dtype=float)
    vals = vals[:, None] if vals.ndim == 1 else vals
    sel = region_of_cell >= 0
    out = np.zeros((n_regions, vals.shape[1]))
    np.add.at(out, region_of_cell[sel], vals[sel])
    from mpi4py import MPI

    total = np.empty_like(out)
    comm.Allreduce(out, total, op=MPI.SUM)
    return total


class CellIntegrator:
    """Per-cell integrals of an m-vector integrand, compiled once and re-evaluated.

    The integrand may depend on dolfinx Functions; update their values and call
    :meth:`per_cell` again. Internally a blocked DG0 test function picks out every
    cell, so one assembly gives all cells and all m components.

    Args:
        mesh: The mesh.
        integrand: Callable ``q -> ufl form`` given the DG0 test function ``q`` (a
            vector of length m), e.g. ``lambda q: ufl.inner(u, q) * ufl.dx``.
        m: Number of components.
    """

    def __init__(self, mesh: dolfinx.mesh.Mesh, integrand: Callable[[Any], Any], m: int) -> None:
        import_dolfinx()
        import dolfinx.fem
        import ufl

        self.mesh = mesh
        self.m = int(m)
        shape = (self.m,) if self.m > 1 else ()
        self.Q = dolfinx.fem.functionspace(mesh, ("DG", 0, shape))
        q = ufl.TestFunction(self.Q)
        self._form = dolfinx.fem.form(integrand(q))
        tdim = mesh.topology.dim
        n_owned = mesh.topology.index_map(tdim).size_local
        # DG0 dof of each owned cell (not the identity in general)
        self._cell_dof = self.Q.dofmap.list[:n_owned, 0]

    def per_cell(self) -> np.ndarray:
        """(n_owned_cells, m) integrals over the owned cells of this rank (local, no communication)."""
        from dolfinx.fem import assemble_vector

        vec = assemble_vector(self._form)
        bs = self.Q.dofmap.index_map_bs
        arr = vec.array.reshape(-1, bs)
        return arr[self._cell_dof].copy()


class Extractor:
    """Node displacements, rotations and centre values of fields on one function space.

    Built once per mesh (forms compiled once); each method is collective.

    Args:
        V: Vector Lagrange space of the displacement (gdim components).
        regions: Region map of the mesh (:func:`region_map`).
        centres: (n_nodes, 2) node centres in the plane (mm); in 3D they are
            evaluated at mid-thickness ``z_mid``.
        z_mid: Mid-plane height for 3D meshes.
    """

    def __init__(
        self, V: dolfinx.fem.FunctionSpace, regions: RegionMap, centres: np.ndarray, z_mid: float = 0.0
    ) -> None:
        import_dolfinx()
        import dolfinx.fem
        import ufl

        self.V = V
        self.mesh = V.mesh
        self.comm = self.mesh.comm
        self.regions = regions
        self.gdim = self.mesh.geometry.dim
        self._u = dolfinx.fem.Function(V)
        u = self._u
        dx = ufl.dx(domain=self.mesh)
        gdim = self.gdim
        omega = 0.5 * (u[1].dx(0) - u[0].dx(1))
        # components: u_0..u_{gdim-1}, omega, 1 (the measure)
        self._node_int = CellIntegrator(
            self.mesh,
            lambda q: (sum(u[c] * q[c] for c in range(gdim)) + omega * q[gdim] + q[gdim + 1]) * dx,
            gdim + 2,
        )
        self.measure = region_sums(
            self._node_int.per_cell()[:, gdim + 1], regions.node_of_cell, regions.n_nodes, self.comm
        )[:, 0]
        """(n_nodes,) area (2D) or volume (3D) of every junction region."""
        empty = np.nonzero(self.measure <= 0)[0]
        if empty.size:
            raise EngineError(f"mesh has no cells tagged for the junction of node {int(empty[0])}")
        pts = np.zeros((len(centres), 3))
        pts[:, :2] = np.asarray(centres, dtype=float)[:, :2]
        if gdim == 3:
            pts[:, 2] = z_mid
        self._centres = pts
        self._points: PointEvaluator | None = None

    def _load(self, u: Any) -> None:
        arr = u.x.array if hasattr(u, "x") else np.asarray(u)
        self._u.x.array[:] = arr

    def node_quantities(self, u: Any) -> tuple[np.ndarray, np.ndarray]:
        """Region averages and rotations of a field (collective).

        Args:
            u: A dolfinx Function on ``V`` (or its local array, ghosts included).

        Returns:
            ``(avg, rot)``: (n_nodes, gdim) average displacement of every junction
            region and (n_nodes,) average in-plane rotation (rad).
        """
        self._load(u)
        gdim = self.gdim
        sums = region_sums(
            self._node_int.per_cell()[:, : gdim + 1], self.regions.node_of_cell, self.regions.n_nodes, self.comm
        )
        sums /= self.measure[:, None]
        return sums[:, :gdim], sums[:, gdim]

    def node_quantities_block(self, U: np.ndarray, matrices: RegionMatrices) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`node_quantities` of a block of fields at once (collective).

        Args:
            U: (n_local_dofs, n_cases) local field values (ghosts updated).
            matrices: :class:`RegionMatrices` of the current geometry.

        Returns:
            ``(avg, rot)``: (n_cases, n_nodes, gdim) and (n_cases, n_nodes).
        """
        from mpi4py import MPI

        gdim = self.gdim
        local = np.ascontiguousarray(matrices.integrals @ U)  # (n_nodes * (gdim + 1), n_cases)
        sums = np.empty_like(local)
        self.comm.Allreduce(local, sums, op=MPI.SUM)
        sums = sums.reshape(self.regions.n_nodes, gdim + 1, -1) / self.measure[:, None, None]
        sums = np.moveaxis(sums, 2, 0)
        return sums[:, :, :gdim], sums[:, :, gdim]

    def centre_values(self, u: Any) -> np.ndarray:
        """(n_nodes, gdim) field values at the node centres (collective)."""
        self._load(u)
        if self._points is None:
            self._points = PointEvaluator(self.mesh, self._centres)
        return self._points.values(self._u)


class PointEvaluator:
    """Evaluate fields at fixed points, each point on exactly one rank.

    A point is searched among the *owned* cells of every rank (ghost cells would
    count it twice); when it lies on a partition boundary the lowest rank wins. The
    cell search is done once (collective, at construction).

    Args:
        mesh: The mesh.
        points: (n_points, 3) coordinates (z = 0 for 2D meshes).

    Raises:
        EngineError: a point lies outside the mesh.
    """

    def __init__(self, mesh: dolfinx.mesh.Mesh, points: np.ndarray) -> None:
        import_dolfinx()
        import dolfinx.geometry as dg
        from mpi4py import MPI

        self.mesh = mesh
        self.comm = mesh.comm
        self.points = np.ascontiguousarray(points, dtype=float)
        tdim = mesh.topology.dim
        n_owned = mesh.topology.index_map(tdim).size_local
        tree = dg.bb_tree(mesh, tdim, entities=np.arange(n_owned, dtype=np.int32), padding=1e-8)
        coll = dg.compute_collisions_points(tree, self.points)
        hits = dg.compute_colliding_cells(mesh, coll, self.points)
        cells = np.full(len(self.points), -1, dtype=np.int32)
        for p in range(len(self.points)):
            links = hits.links(p)
            if len(links):
                cells[p] = links[0]
        rank, size = self.comm.rank, self.comm.size
        mine = np.where(cells >= 0, rank, size).astype(np.int64)
        owner = np.empty_like(mine)
        self.comm.Allreduce(mine, owner, op=MPI.MIN)
        if np.any(owner == size):
            p = int(np.argmax(owner == size))
            raise EngineError(f"point {p} at {self.points[p].tolist()} lies outside the mesh")
        cells[owner != rank] = -1
        self.cells = cells
        """(n_points,) owned cell of each point on this rank, -1 when another rank evaluates it."""

    def values(self, u: dolfinx.fem.Function) -> np.ndarray:
        """(n_points, value_size) values of ``u`` at the points, the same on every rank (collective)."""
        from mpi4py import MPI

        size = int(np.prod(u.ufl_shape)) if u.ufl_shape else 1
        local = np.zeros((len(self.points), size))
        sel = np.nonzero(self.cells >= 0)[0]
        if sel.size:
            local[sel] = np.asarray(u.eval(self.points[sel], self.cells[sel])).reshape(sel.size, size)
        out = np.empty_like(local)
        self.comm.Allreduce(local, out, op=MPI.SUM)
        return out


def region_average(u: dolfinx.fem.Function, cell_tags: dolfinx.mesh.MeshTags, n_nodes: int) -> np.ndarray:
    """(n_nodes, gdim) average of ``u`` over every junction region (collective, compiles a form).

    For repeated use build an :class:`Extractor` once.
    """
    rm = region_map(u.function_space.mesh, cell_tags, n_nodes, 0)
    return Extractor(u.function_space, rm, np.zeros((n_nodes, 2))).node_quantities(u)[0]


def rotation(u: dolfinx.fem.Function, cell_tags: dolfinx.mesh.MeshTags, n_nodes: int) -> np.ndarray:
    """(n_nodes,) junction-region average of ``(du_y/dx - du_x/dy) / 2`` (collective)."""
    rm = region_map(u.function_space.mesh, cell_tags, n_nodes, 0)
    return Extractor(u.function_space, rm, np.zeros((n_nodes, 2))).node_quantities(u)[1]


def centre_values(u: dolfinx.fem.Function, points: np.ndarray, z_mid: float = 0.0) -> np.ndarray:
    """(n_points, gdim) values of ``u`` at in-plane ``points`` (collective; see :class:`PointEvaluator`)."""
    pts = np.asarray(points, dtype=float)
    p3 = np.zeros((len(pts), 3))
    p3[:, :2] = pts[:, :2]
    if u.function_space.mesh.geometry.dim == 3:
        p3[:, 2] = z_mid
    return PointEvaluator(u.function_space.mesh, p3).values(u)


def cell_dof_columns(V: Any, cells: np.ndarray) -> np.ndarray:
    """(n_cells, n_cell_dofs * bs) local (unrolled) dof index of every cell basis function.

    The order is the one of :class:`dolfinx.fem.Expression` arguments: scalar dof
    ``i // bs``, component ``i % bs``.
    """
    bs = V.dofmap.index_map_bs
    dm = np.asarray(V.dofmap.list)[cells]
    return (bs * dm[:, :, None] + np.arange(bs)[None, None, :]).reshape(len(cells), -1)


class RegionMatrices:
    """Region integrals of fields as one sparse matrix, for whole batches at once.

    On straight-sided (affine) simplex cells, the junction-region integrals of ``u``
    and of the rotation ``omega`` are linear in the local dof values:
    ``sums = integrals @ U`` for a block ``U`` (n_local_dofs, n_cases) of fields
    (ghosts included), summed over ranks. The same integrals, transposed, give the
    load vectors of region body forces (:attr:`load`). Built from one compiled
    expression (the basis functions times ``|det J|`` at quadrature points exact for
    the degree of ``V``) over the junction cells only; rebuild after the mesh moves.

    Attributes:
        integrals: (n_nodes * (gdim + 1), n_local_dofs) CSR: row ``j * (gdim + 1) + k`` is
            the integral over junction region j of component k (k = gdim: omega).
        load: (n_local_dofs, n_nodes * gdim) CSR: column ``j * gdim + k`` is
            ``int_{Omega_j} v_k dx`` (the load vector of a unit total force spread as a
            density 1 over region j, before dividing by its measure).
        cells, cell_u: the junction cells and their (n_cells, gdim, n_cell_dofs)
            per-dof integrals of u (for cell averages), with :attr:`cell_cols`.
    """

    def __init__(self, V: Any, regions: RegionMap, expression: Any = None) -> None:
        import_dolfinx()

        self.V = V
        gdim = V.mesh.geometry.dim
        self.gdim = gdim
        if expression is None:
            expression = region_expression(V)
        self.expression = expression
        cells = np.nonzero(regions.node_of_cell >= 0)[0].astype(np.int32)
        self.cells = cells
        im = V.dofmap.index_map
        n_local = (im.size_local + im.num_ghosts) * V.dofmap.index_map_bs
        self.n_local = n_local
        nd = V.dofmap.list.shape[1] * V.dofmap.index_map_bs
        cols = cell_dof_columns(V, cells)
        self.cell_cols = cols
        self.nd = nd
        node = regions.node_of_cell[cells]
        rows = node[:, None, None] * (gdim + 1) + np.arange(gdim + 1)[None, :, None]
        shape3 = (len(cells), gdim + 1, nd)
        self.integrals, self._imap = _pattern(
            np.broadcast_to(rows, shape3).ravel(),
            np.broadcast_to(cols[:, None, :], shape3).ravel(),
            (regions.n_nodes * (gdim + 1), n_local),
        )
        rows_u = node[:, None, None] * gdim + np.arange(gdim)[None, :, None]
        shape_u = (len(cells), gdim, nd)
        self.load, self._lmap = _pattern(
            np.broadcast_to(cols[:, None, :], shape_u).ravel(),
            np.broadcast_to(rows_u, shape_u).ravel(),
            (n_local, regions.n_nodes * gdim),
        )
        self.update()

    def update(self) -> None:
        """Recompute the values for the current mesh geometry (same sparsity; local)."""
        expr, wts = self.expression
        gdim, nd, cells = self.gdim, self.nd, self.cells
        if cells.size:
            vals = np.asarray(expr.eval(self.V.mesh, cells)).reshape(len(cells), len(wts), gdim + 1, nd)
            per = np.einsum("q,cqkd->ckd", wts, vals)  # (n_cells, gdim + 1, nd) per-dof integrals
        else:
            per = np.zeros((0, gdim + 1, nd))
        self.cell_u = per[:, :gdim, :].copy()
        self.integrals.data[:] = np.bincount(self._imap, weights=per.ravel(), minlength=self.integrals.nnz)
        self.load.data[:] = np.bincount(self._lmap, weights=self.cell_u.ravel(), minlength=self.load.nnz)


def _pattern(rows: np.ndarray, cols: np.ndarray, shape: tuple) -> tuple:
    """A CSR matrix with the summed pattern of (rows, cols) entries and the entry -> data position map."""
    import scipy.sparse as sp

    key = rows.astype(np.int64) * shape[1] + cols
    uniq, inv = np.unique(key, return_inverse=True)
    r, c = np.divmod(uniq, shape[1])
    indptr = np.zeros(shape[0] + 1, dtype=np.int64)
    np.add.at(indptr, r + 1, 1)
    indptr = np.cumsum(indptr)
    m = sp.csr_matrix((np.zeros(len(uniq)), c.astype(np.int64), indptr), shape=shape)
    return m, inv.ravel()


def region_expression(V: Any) -> tuple:
    """Compiled ``[v_0, .., v_{gdim-1}, omega(v)] |det J|`` at quadrature points, and the weights."""
    import_dolfinx()
    import basix
    import dolfinx.fem
    import ufl
    from ufl.algebra import Abs

    mesh = V.mesh
    gdim = mesh.geometry.dim
    v = ufl.TrialFunction(V)
    detJ = Abs(ufl.JacobianDeterminant(mesh))  # what abs() builds (ufl adds Expr.__abs__ untyped)
    omega = 0.5 * (v[1].dx(0) - v[0].dx(1))
    comps = [v[c] * detJ for c in range(gdim)] + [omega * detJ]
    k = V.ufl_element().embedded_superdegree
    ct = basix.CellType.triangle if mesh.topology.dim == 2 else basix.CellType.tetrahedron
    pts, wts = (np.asarray(a) for a in basix.make_quadrature(ct, max(k, 1)))
    return dolfinx.fem.Expression(ufl.as_vector(comps), pts), wts
