"""A gmsh mesh into a distributed DOLFINx mesh with its tags, in time linear in its size.

This replaces ``dolfinx.io.gmsh.model_to_mesh`` for the lattice meshes, for two reasons
measured on triangular strips (2D, 3 elements across, one core):

* that function grows its cell arrays by one ``np.concatenate`` per gmsh entity, so
  reading the cells is quadratic in the number of entities (bonds + hubs): 0.30 s at
  249 bonds, 5.3 s at 981, about 85 s at 3979 (where it was 121 s of the 760 s run);
* it hands the whole mesh to DOLFINx from rank 0, so rank 0 holds gmsh's model and
  DOLFINx's input side by side and the graph partitioner starts from one rank.

Here :func:`extract` reads the model once on rank 0 (one list append per entity and
one concatenation per array) into :class:`MeshArrays`, the caller may then finalise
gmsh, and :func:`to_dolfinx` scatters contiguous blocks of nodes and cells to all
ranks before :func:`dolfinx.mesh.create_mesh` and
:func:`dolfinx.io.distribute_entity_data` build and partition the mesh from that
distributed input. With one rank the input and the mesh are those of
``model_to_mesh`` (same cell order, same tags).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

import numpy as np

from fem_mnn.core.errors import EngineError

if TYPE_CHECKING:
    import dolfinx.mesh
    from mpi4py import MPI

__all__ = ["MeshArrays", "extract", "to_dolfinx"]


class MeshArrays(NamedTuple):
    """A gmsh mesh as plain arrays, node ids 0-based in the order of ``x``.

    ``cells`` and ``facets`` keep gmsh's local node order (DOLFINx's permutation is
    applied in :func:`to_dolfinx`); ``facet_type`` is ``None`` when no facet is tagged.
    """

    x: np.ndarray  # (n_nodes, 3) float64
    cell_type: int  # gmsh element type of every cell
    cells: np.ndarray  # (n_cells, nodes per cell) int64
    cell_values: np.ndarray  # (n_cells,) int32 physical tags
    facet_type: int | None
    facets: np.ndarray  # (n_facets, nodes per facet) int64
    facet_values: np.ndarray  # (n_facets,) int32


def _groups(model, dim: int, strict: bool) -> tuple[int | None, np.ndarray, np.ndarray]:
    """Elements of the physical groups of dimension ``dim``: type, node tags, values.

    Entity by entity (``getPhysicalGroupsForEntity``): gmsh's ``getEntitiesForPhysicalGroup``
    scans every entity per call, 29 s for the 1,376 facet groups of a 3979-bond strip.
    Elements come group by group in ``getPhysicalGroups`` order, entities by tag within a
    group, as ``dolfinx.io.gmsh.model_to_mesh`` orders them. ``strict``: every entity
    in exactly one group (cells), else untagged entities are skipped (facets).
    """
    rank = {tag: i for i, (_, tag) in enumerate(model.getPhysicalGroups(dim))}
    owned = []
    for _, entity in model.getEntities(dim):
        groups = model.getPhysicalGroupsForEntity(dim, entity)
        if strict and len(groups) != 1:
            what = "no physical group" if len(groups) == 0 else f"{len(groups)} physical groups"
            raise EngineError(f"gmsh entity ({dim}, {entity}) is in {what}; every cell must be tagged once")
        owned += [(rank[int(g)], int(entity), int(g)) for g in groups]
    types: set[int] = set()
    nodes: list[np.ndarray] = []
    values: list[np.ndarray] = []
    for _, entity, tag in sorted(owned):
        etypes, etags, enodes = model.mesh.getElements(dim, entity)
        for et, el, en in zip(etypes, etags, enodes, strict=True):
            types.add(int(et))
            nodes.append(np.asarray(en, dtype=np.int64))
            values.append(np.full(len(el), tag, dtype=np.int32))
    if len(types) > 1:
        raise EngineError(f"the gmsh mesh mixes element types {sorted(types)} in dimension {dim}; one is supported")
    return (
        types.pop() if types else None,
        np.concatenate(nodes) if nodes else np.empty(0, np.int64),
        np.concatenate(values) if values else np.empty(0, np.int32),
    )


def extract(model, tdim: int) -> MeshArrays:
    """The tagged cells (dimension ``tdim``) and facets of ``model`` (the ``gmsh.model`` module).

    Local to the calling rank (no MPI); cost linear in the mesh size (one gmsh call per
    entity, each independent of the model's size).

    Raises:
        EngineError: no cell, a cell entity in no or two physical groups, mixed element types.
    """
    ctype, cnodes, cvalues = _groups(model, tdim, strict=True)
    if ctype is None:
        raise EngineError(f"the gmsh mesh has no cell of dimension {tdim}; cannot import it")
    ftype, fnodes, fvalues = _groups(model, tdim - 1, strict=False)

    tags, coords, _ = model.mesh.getNodes()
    order = np.argsort(tags)
    tags = np.asarray(tags, dtype=np.int64)[order]
    x = np.asarray(coords, dtype=np.float64).reshape(-1, 3)[order]

    def local(node_tags: np.ndarray, etype: int | None) -> np.ndarray:
        if etype is None:
            return np.empty((0, 1), dtype=np.int64)
        k = model.mesh.getElementProperties(etype)[3]
        # gmsh numbers nodes 1..n after meshing; searchsorted also covers gaps in the numbering
        ids = node_tags - 1 if len(tags) and tags[-1] == len(tags) else np.searchsorted(tags, node_tags)
        return ids.reshape(-1, k)

    return MeshArrays(x, ctype, local(cnodes, ctype), cvalues, ftype, local(fnodes, ftype), fvalues)


def _blocks(a: np.ndarray, n: int) -> list[np.ndarray]:
    """``a`` split in ``n`` contiguous blocks of (nearly) equal length, rank order."""
    edges = np.linspace(0, len(a), n + 1).astype(np.int64)
    return [a[edges[r] : edges[r + 1]] for r in range(n)]


def to_dolfinx(
    comm: MPI.Comm, arrays: MeshArrays | None, gdim: int, root: int = 0
) -> tuple[dolfinx.mesh.Mesh, dolfinx.mesh.MeshTags, dolfinx.mesh.MeshTags | None]:
    """The distributed mesh, cell tags and facet tags (``None`` if no facet is tagged).

    Collective over ``comm``: ``arrays`` is read on ``root`` only (others pass ``None``).
    ``root`` sends each rank one contiguous block of nodes (global input numbering is
    the order of ``x``) and one block of cells and facets; DOLFINx partitions the cells
    from there and sends each tag to the rank that owns its entity.
    """
    from fem_mnn.fem._dolfinx import import_dolfinx

    import_dolfinx()
    from dolfinx.cpp.mesh import to_type
    from dolfinx.graph import adjacencylist
    from dolfinx.io import distribute_entity_data
    from dolfinx.io import gmsh as dgmsh
    from dolfinx.mesh import create_mesh, meshtags_from_entities

    size = comm.size
    head = (
        (arrays.cell_type, arrays.facet_type, arrays.cells.shape[1], arrays.facets.shape[1])
        if arrays is not None
        else None
    )
    ctype, ftype, kc, kf = comm.bcast(head, root=root)

    def scatter(a: np.ndarray | None, shape: tuple[int, ...], dtype: type) -> np.ndarray:
        parts = None
        if comm.rank == root:
            if a is None:
                raise EngineError("the root rank has no mesh arrays to distribute")
            if size == 1:
                return a
            parts = _blocks(a, size)
        got = comm.scatter(parts, root=root)  # pickled: blocks stay far below MPI's 2 GB message limit
        return np.asarray(got, dtype=dtype).reshape((-1, *shape))

    x = scatter(arrays.x if arrays is not None else None, (3,), np.float64)
    cells = scatter(arrays.cells if arrays is not None else None, (kc,), np.int64)
    cvalues = scatter(arrays.cell_values if arrays is not None else None, (), np.int32)
    if ftype is not None:
        facets = scatter(arrays.facets if arrays is not None else None, (kf,), np.int64)
        fvalues = scatter(arrays.facet_values if arrays is not None else None, (), np.int32)

    domain = dgmsh.ufl_mesh(ctype, gdim, dtype=np.float64)
    n_nodes = domain.ufl_coordinate_element().basix_element.dim
    perm = dgmsh.cell_perm_array(to_type(str(domain.ufl_cell())), n_nodes)
    mesh = create_mesh(comm, np.ascontiguousarray(cells[:, perm]), domain, np.ascontiguousarray(x[:, :gdim]))
    tdim = mesh.topology.dim

    def tags(dim: int, entities: np.ndarray, values: np.ndarray) -> dolfinx.mesh.MeshTags:
        local_entities, local_values = distribute_entity_data(mesh, dim, entities, values)
        mesh.topology.create_connectivity(dim, tdim)
        return meshtags_from_entities(
            mesh, dim, adjacencylist(local_entities), np.asarray(local_values, dtype=np.int32)
        )

    cell_tags = tags(tdim, cells, cvalues)
    facet_tags = tags(tdim - 1, facets, fvalues) if ftype is not None else None
    return mesh, cell_tags, facet_tags
