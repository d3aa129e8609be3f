"""Gmsh meshes into DOLFINx: generate, read from the cache, write XDMF.

Every function here is collective over its communicator: gmsh runs on rank 0 only,
its mesh is read into arrays (:mod:`fem_mnn.fem.gmsh_import`) and scattered in blocks,
and DOLFINx builds and partitions the mesh from that distributed input.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

import gmsh

from fem_mnn.core.errors import EngineError
from fem_mnn.design.records import Design
from fem_mnn.fem import gmsh_import
from fem_mnn.geometry.build import GeometryInfo, MeshOptions, build_model, gmsh_session
from fem_mnn.geometry.cache import DEFAULT_ROOT, ensure_mesh

if TYPE_CHECKING:
    import dolfinx.mesh
    from mpi4py import MPI

__all__ = ["MeshData", "generate_mesh", "load_mesh", "write_xdmf"]


class MeshData(NamedTuple):
    """A DOLFINx mesh of the lattice with its tags (see :mod:`fem_mnn.geometry.tags`)."""

    mesh: dolfinx.mesh.Mesh
    cell_tags: dolfinx.mesh.MeshTags
    facet_tags: dolfinx.mesh.MeshTags | None
    info: GeometryInfo


def generate_mesh(design: Design, options: MeshOptions | None = None, comm: MPI.Comm | None = None) -> MeshData:
    """Mesh the lattice and hand it to DOLFINx.

    Collective over ``comm`` (default ``MPI.COMM_WORLD``): gmsh runs on rank 0 only,
    then :mod:`fem_mnn.fem.gmsh_import` reads it into arrays, gmsh is finalised and
    the arrays are scattered to all ranks, from which DOLFINx builds and partitions
    the mesh. Every rank gets the same :class:`GeometryInfo`.

    Returns:
        ``MeshData(mesh, cell_tags, facet_tags, info)``; ``cell_tags`` values are
        the tags of :mod:`fem_mnn.geometry.tags` (bond, node, overlap), ``facet_tags`` the
        ``node_{j}_boundary`` facets.

    Raises:
        InputError, EngineError: on every rank, if rank 0 failed.
    """
    from fem_mnn.fem._dolfinx import import_dolfinx

    import_dolfinx()
    from mpi4py import MPI

    options = options or MeshOptions()
    comm = comm if comm is not None else MPI.COMM_WORLD
    arrays = None
    with gmsh_session() if comm.rank == 0 else contextlib.nullcontext():
        info = err = None
        if comm.rank == 0:
            try:
                info = build_model(design, options)
                arrays = gmsh_import.extract(gmsh.model, options.dim)
            except Exception as exc:  # every rank must learn about it, or they hang
                err = exc
        info, err = comm.bcast((info, err), root=0)
        if err is not None:
            raise err
    # gmsh is finalised here (when this call started it): its model is freed before DOLFINx builds
    data = _to_dolfinx(comm, arrays, options.dim, "DOLFINx could not import the gmsh mesh: {exc}")
    return _mesh_data(data, info)


def write_xdmf(
    design: Design, options: MeshOptions | None = None, path: str | Path = "lattice.xdmf", comm: MPI.Comm | None = None
) -> GeometryInfo:
    """Mesh ``design`` and write XDMF + HDF5 with cell and facet tags.

    For ParaView and :class:`dolfinx.io.XDMFFile`.

    Collective over ``comm``. The two files are written in a temporary folder beside
    ``path`` and moved into place by rank 0 (the ``.h5`` first, then the ``.xdmf``).
    The mesh is named ``lattice``, the tags ``cells`` and ``facets``.
    """
    from fem_mnn.fem._dolfinx import import_dolfinx

    import_dolfinx()
    from dolfinx.io import XDMFFile
    from mpi4py import MPI

    comm = comm if comm is not None else MPI.COMM_WORLD
    path = Path(path).with_suffix(".xdmf")
    md = generate_mesh(design, options, comm)
    tmp_name: str | None = None
    if comm.rank == 0:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp_name = tempfile.mkdtemp(prefix=f".{path.stem}.", dir=path.parent)
    tmpdir = Path(comm.bcast(tmp_name, root=0))
    try:
        md.mesh.name = "lattice"
        md.mesh.topology.create_connectivity(md.mesh.topology.dim - 1, md.mesh.topology.dim)
        with XDMFFile(comm, str(tmpdir / path.name), "w") as xf:
            xf.write_mesh(md.mesh)
            xf.write_meshtags(md.cell_tags, md.mesh.geometry)
            if md.facet_tags is not None:
                xf.write_meshtags(md.facet_tags, md.mesh.geometry)
        comm.barrier()
        if comm.rank == 0:
            h5 = path.with_suffix(".h5")
            os.replace(tmpdir / h5.name, h5)
            os.replace(tmpdir / path.name, path)
    finally:
        comm.barrier()
        if comm.rank == 0:
            for f in tmpdir.glob("*"):
                f.unlink()
            tmpdir.rmdir()
    return md.info


def load_mesh(
    design: Design, options: MeshOptions, comm: MPI.Comm | None = None, root: str | Path = DEFAULT_ROOT
) -> MeshData:
    """The cached mesh as DOLFINx objects (meshing it first if missing).

    Collective over ``comm`` (default ``MPI.COMM_WORLD``): rank 0 makes sure the
    file exists, then reads it in gmsh (its messages to the log); the mesh is
    distributed as in :func:`generate_mesh`.
    """
    from fem_mnn.fem._dolfinx import import_dolfinx

    import_dolfinx()
    from mpi4py import MPI

    comm = comm if comm is not None else MPI.COMM_WORLD
    res = err = None
    if comm.rank == 0:
        try:
            res = ensure_mesh(design, options, root)
        except Exception as exc:  # tell every rank, or they hang
            err = exc
    res, err = comm.bcast((res, err), root=0)
    if err is not None:
        raise err
    path, info = res
    # not dolfinx.io.gmsh.read_from_msh: it initialises gmsh with its terminal on (Info lines on stdout)
    arrays = None
    with gmsh_session() if comm.rank == 0 else contextlib.nullcontext():
        err = None
        if comm.rank == 0:
            try:
                gmsh.model.add("cached mesh")
                gmsh.merge(str(path))
                arrays = gmsh_import.extract(gmsh.model, options.dim)
            except Exception as exc:  # gmsh raises a bare Exception on a damaged file
                err = EngineError(f"cannot read the cached mesh {path} ({exc}); delete it to mesh again")
        err = comm.bcast(err, root=0)
        if err is not None:
            raise err
    data = _to_dolfinx(
        comm, arrays, options.dim, f"cannot read the cached mesh {path} ({{exc}}); delete it to mesh again"
    )
    return _mesh_data(data, info)


def _to_dolfinx(comm: MPI.Comm, arrays: gmsh_import.MeshArrays | None, dim: int, failure: str) -> tuple:
    """The arrays read on rank 0 as a distributed DOLFINx mesh; ``failure`` names the error."""
    try:
        return gmsh_import.to_dolfinx(comm, arrays, dim)
    except RuntimeError as exc:  # DOLFINx's C++ errors
        raise EngineError(failure.format(exc=exc)) from exc


def _mesh_data(data: tuple, info: GeometryInfo) -> MeshData:
    """The record of an imported mesh, its tags named ``cells`` and ``facets``."""
    mesh, cell_tags, facet_tags = data
    cell_tags.name = "cells"
    if facet_tags is not None:
        facet_tags.name = "facets"
    return MeshData(mesh, cell_tags, facet_tags, info)
