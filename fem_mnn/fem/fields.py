"""FE fields for ParaView: the full fields as VTX folders, and P1 / DG0 projections in one VTU file.

:func:`write_fields` writes Functions (e.g. the P2 forward and adjoint fields) to a VTX
``.bp`` folder, replaced as a whole.

:func:`write_field_file` writes ``fields.vtu`` (VTK XML unstructured grid, compressed
binary, through meshio) with

* point data (P1, the P2 fields interpolated at the mesh vertices):
  ``u`` (mm, forward displacement, 2 or 3 components), ``u_adjoint`` (mm^2/N, under the
  adjoint load -dL/du applied as a force);
* cell data (DG0, values at each cell's centroid): ``strain_xx``, ``strain_yy``,
  ``strain_xy`` (and ``strain_zz``, ``strain_xz``, ``strain_yz`` in 3D; tensor
  components, dimensionless), ``von_mises`` (MPa; plane stress in 2D), ``bond``
  (bond id, -1 on hubs), ``hub`` (node id of the junction region, -1 on beams) and
  ``region`` (the cell tag of :mod:`fem_mnn.geometry.tags`).

The full P2 fields stay in the VTX folders (``forward.bp``, ``adjoint.bp``), which
ParaView reads with its ADIOS2 reader; the package's venv has no ``adios2`` module,
so the VTU is the file to read from Python: ``meshio.read("fields.vtu")``. (Not XDMF:
meshio reads and writes XDMF only through ``h5py``, which the lock does not hold, and
``dolfinx.io.XDMFFile`` reads meshes and tags but no function data.)

Collective: every rank sends its owned vertices and cells to rank 0, which writes.
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from fem_mnn.core.files import atomic_path
from fem_mnn.fem._dolfinx import import_dolfinx

import_dolfinx()

import dolfinx
import dolfinx.fem
import ufl

__all__ = ["FIELD_UNITS", "write_field_file", "write_fields"]

#: Every array of ``fields.vtu`` with its unit and meaning.
FIELD_UNITS = {
    "u": "mm: forward displacement (point data, P1 interpolation of the P2 field)",
    "u_adjoint": "mm^2/N: adjoint displacement under -dL/du (mm) applied as a force (point data, P1)",
    "strain_ij": "1: small-strain tensor components of the forward field at each cell's centroid (cell data)",
    "von_mises": "MPa: von Mises stress of the forward field at each cell's centroid (plane stress in 2D)",
    "bond": "bond id of the cell, -1 on junction hubs (cell data)",
    "hub": "node id of the junction region of the cell, -1 on beams (cell data)",
    "region": "cell tag of fem_mnn.geometry.tags: 10000+bond, 20000+node, 30000+node (overlap)",
}

_CELL_TYPE = {2: "triangle", 3: "tetra"}
_COMPONENTS = {2: ("xx", "yy", "xy"), 3: ("xx", "yy", "zz", "xy", "xz", "yz")}
_INDEX = {"x": 0, "y": 1, "z": 2}


def _cell_values(disc: Any, expr: Any, shape: tuple[int, ...]) -> np.ndarray:
    """(n_owned_cells, *shape) values of a UFL expression at the cell centroids."""
    mesh = disc.mesh
    Q = dolfinx.fem.functionspace(mesh, ("DG", 0, shape) if shape else ("DG", 0))
    f = dolfinx.fem.Function(Q)
    f.interpolate(dolfinx.fem.Expression(expr, Q.element.interpolation_points))
    n = disc.n_owned_cells
    size = int(np.prod(shape)) if shape else 1
    return f.x.array.reshape(-1, size)[:n].reshape((n, *shape))


def _von_mises(sigma: Any, gdim: int) -> Any:
    if gdim == 2:  # plane stress: sigma_zz = 0
        sxx, syy, sxy = sigma[0, 0], sigma[1, 1], sigma[0, 1]
        return ufl.sqrt(sxx**2 - sxx * syy + syy**2 + 3 * sxy**2)
    s = sigma - ufl.tr(sigma) / 3 * ufl.Identity(3)
    return ufl.sqrt(1.5 * ufl.inner(s, s))


def write_field_file(path: str | Path, disc: Any, forward: Any, adjoint: Any | None = None) -> Path:
    """Write ``path`` (``.vtu``) with the P1 / DG0 fields listed in the module docstring (collective).

    Args:
        path: The file (written atomically by rank 0).
        disc: The :class:`~fem_mnn.fem.linear.Discretisation` of the fields (mesh, tags, material).
        forward: Forward displacement (a Function on ``disc.V``).
        adjoint: Adjoint displacement, or None.
    """
    mesh = disc.mesh
    comm = mesh.comm
    gdim, tdim = disc.gdim, disc.tdim
    V1 = dolfinx.fem.functionspace(mesh, ("Lagrange", 1, (gdim,)))
    im = V1.dofmap.index_map
    n_own = im.size_local
    n_cells = disc.n_owned_cells
    glob = im.local_to_global(np.arange(im.size_local + im.num_ghosts, dtype=np.int32))
    points = V1.tabulate_dof_coordinates()[:n_own, :gdim]
    cells = glob[V1.dofmap.list[:n_cells]]

    point_data: dict[str, np.ndarray] = {}
    for name, f in (("u", forward), ("u_adjoint", adjoint)):
        if f is None:
            continue
        g = dolfinx.fem.Function(V1)
        g.interpolate(f)
        point_data[name] = g.x.array.reshape(-1, gdim)[:n_own].copy()

    eps = disc.eps(forward)
    strain = _cell_values(disc, eps, (gdim, gdim))
    cell_data: dict[str, np.ndarray] = {}
    for c in _COMPONENTS[gdim]:
        cell_data[f"strain_{c}"] = strain[:, _INDEX[c[0]], _INDEX[c[1]]].copy()
    cell_data["von_mises"] = _cell_values(disc, _von_mises(disc.theta * disc.sigma(forward), gdim), ()).copy()
    cell_data["bond"] = disc.regions.bond_of_cell.astype(np.int64)
    cell_data["hub"] = disc.regions.node_of_cell.astype(np.int64)
    region = np.zeros(mesh.topology.index_map(tdim).size_local + mesh.topology.index_map(tdim).num_ghosts, np.int64)
    region[np.asarray(disc.cell_tags.indices)] = np.asarray(disc.cell_tags.values)
    cell_data["region"] = region[:n_cells]

    parts = comm.gather((points, cells, point_data, cell_data), root=0)
    path = Path(path).with_suffix(".vtu")
    if comm.rank == 0:
        import meshio

        pts = np.concatenate([p[0] for p in parts])
        cls = np.concatenate([p[1] for p in parts]).astype(np.int64)
        pdata = {k: np.concatenate([p[2][k] for p in parts]) for k in parts[0][2]}
        cdata = {k: [np.concatenate([p[3][k] for p in parts])] for k in parts[0][3]}
        if gdim == 2:  # ParaView wants 3D points and vectors
            pts = np.column_stack([pts, np.zeros(len(pts))])
            pdata = {k: np.column_stack([v, np.zeros(len(v))]) for k, v in pdata.items()}
        out = meshio.Mesh(pts, [(_CELL_TYPE[tdim], cls)], point_data=pdata, cell_data=cdata)
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(path) as tmp:
            meshio.write(str(tmp), out, file_format="vtu")
    comm.barrier()
    return path


def write_fields(path: str | Path, functions: Sequence[Any]) -> Path:
    """Write Functions (same space, e.g. one per load case) to a VTX ``.bp`` folder for ParaView (collective).

    Higher-degree fields are written as they are (VTX supports P2 on the mesh).
    The folder is written under a temporary name and renamed into place by rank 0,
    so an interrupted run leaves the old folder or the new one, never half of one.
    """
    from dolfinx.io import VTXWriter

    path = Path(path)
    if path.suffix != ".bp":
        path = path.with_suffix(".bp")
    if not functions:
        raise ValueError("nothing to write")
    mesh = functions[0].function_space.mesh
    comm = mesh.comm
    tmp = path.with_name(f".{path.stem}.tmp{path.suffix}")
    old = path.with_name(f".{path.stem}.old{path.suffix}")
    if comm.rank == 0:
        path.parent.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(tmp, ignore_errors=True)
    comm.barrier()
    with VTXWriter(comm, str(tmp), list(functions), engine="BP4") as w:
        w.write(0.0)
    comm.barrier()
    if comm.rank == 0:
        shutil.rmtree(old, ignore_errors=True)
        if path.exists():
            path.rename(old)  # directories cannot be replaced in one rename
        tmp.rename(path)
        shutil.rmtree(old, ignore_errors=True)
    comm.barrier()
    return path
