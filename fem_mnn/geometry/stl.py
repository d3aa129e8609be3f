"""The printed lattice as one closed surface: STL (binary or ASCII) and STEP.

The outline (all hubs and full beam outlines) is fused into one face with
``occ.fuse`` (a fragmented shape would leave internal faces and a non-manifold
surface), extruded by ``design.thickness`` (z from 0 to t) and its boundary is
triangulated. The triangles are collected here, not written by gmsh: gmsh's own STL
writer keeps the parametric orientation of each face, which makes the extruded
bottom face point inward. :func:`orient_outward` re-orients them consistently
(edge-adjacency walk) and outward (positive signed volume of each body).

Coordinates are the design's, in mm; z = 0 is the build plate. The widths are those every
mesh is built from (rounded to 1e-6 mm, :func:`fem_mnn.geometry.build.mesh_plan`).
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import gmsh
import numpy as np

from fem_mnn.core.errors import EngineError, FemMnnError, InputError
from fem_mnn.core.files import atomic_path
from fem_mnn.design.records import Design
from fem_mnn.geometry.build import add_lattice_shapes, check_buildable, gmsh_session, mesh_plan

__all__ = [
    "SurfaceInfo",
    "orient_outward",
    "signed_volume",
    "surface_triangles",
    "write_step",
    "write_stl",
]

#: Segments per full circle on the hub arcs: the chord error on a hub's area is
#: (2 pi / n)^2 / 6 = 0.13 %, and hubs are a fraction of the lattice.
CIRCLE_SEGMENTS = 72


@dataclass(frozen=True)
class SurfaceInfo:
    """What was written.

    Attributes:
        n_triangles: Triangles in the surface.
        n_bodies: Separate closed bodies (1 for a connected lattice).
        volume: Enclosed volume of the triangulated surface (mm^3).
        cad_volume: Volume of the OCC solid (mm^3).
        bbox: (xmin, ymin, zmin, xmax, ymax, zmax) in mm.
    """

    n_triangles: int
    n_bodies: int
    volume: float
    cad_volume: float
    bbox: tuple[float, ...]


def _fused_solid(design: Design) -> list[tuple[int, int]]:
    """Fuse hubs and beams in 2D, extrude: the lattice's volume(s)."""
    check_buildable(design)
    # the widths the FE mesh is built from (fem_mnn.geometry.build.mesh_plan): one geometry per design file
    design = mesh_plan(design).design
    occ = gmsh.model.occ
    gmsh.model.add(f"solid-{design.hash()}")
    hubs, bonds = add_lattice_shapes(design, 2)
    shapes = hubs + bonds
    fused, _ = occ.fuse(shapes[:1], shapes[1:])
    fused = [dt for dt in fused if dt[0] == 2]
    vols = []
    for dt in fused:
        out = occ.extrude([dt], 0.0, 0.0, float(design.thickness))
        vols += [v for v in out if v[0] == 3]
    occ.synchronize()
    return vols


def surface_triangles(design: Design) -> tuple[np.ndarray, np.ndarray, float]:
    """Triangulated boundary of the extruded lattice, oriented outward.

    Runs gmsh in a session of its own (or the current one) on this process.

    Returns:
        ``(points (n, 3), triangles (m, 3) int, cad_volume)``.
    """
    with gmsh_session():
        try:
            vols = _fused_solid(design)
            cad_volume = float(sum(gmsh.model.occ.getMass(3, t) for _, t in vols))
            gmsh.option.setNumber("Mesh.MeshSizeFromCurvature", CIRCLE_SEGMENTS)
            gmsh.option.setNumber("Mesh.MeshSizeMax", float(np.min(design.lengths)) / 2)
            gmsh.option.setNumber("Mesh.MeshSizeMin", 0.0)
            # coarse faces: only the arcs need many points (halves the triangle count)
            gmsh.option.setNumber("Mesh.MeshSizeExtendFromBoundary", 0)
            gmsh.model.mesh.generate(2)
            faces = gmsh.model.getBoundary(vols, combined=False, oriented=False)
            node_tags, coords, _ = gmsh.model.mesh.getNodes()
            tris = []
            for _, f in faces:
                etypes, _, enodes = gmsh.model.mesh.getElements(2, abs(f))
                for et, en in zip(etypes, enodes, strict=True):
                    if et != 2:  # 3-node triangle
                        raise EngineError(f"unexpected surface element type {et}")
                    tris.append(np.asarray(en, dtype=np.int64).reshape(-1, 3))
        except FemMnnError:
            raise
        except Exception as exc:
            raise EngineError(f"gmsh failed on the fused solid: {exc}") from exc
    index = np.full(int(np.max(node_tags)) + 1, -1, dtype=np.int64)
    index[np.asarray(node_tags, dtype=np.int64)] = np.arange(len(node_tags))
    tri = index[np.concatenate(tris)]
    pts = np.asarray(coords, dtype=float).reshape(-1, 3)
    used = np.unique(tri)
    remap = np.full(len(pts), -1, dtype=np.int64)
    remap[used] = np.arange(len(used))
    return pts[used], remap[tri], cad_volume


def signed_volume(points: np.ndarray, triangles: np.ndarray) -> float:
    """Volume enclosed by a closed triangulated surface (positive if outward)."""
    a, b, c = (points[triangles[:, k]] for k in range(3))
    return float(np.einsum("ij,ij->i", a, np.cross(b, c)).sum() / 6.0)


def orient_outward(points: np.ndarray, triangles: np.ndarray) -> tuple[np.ndarray, int]:
    """Orient a closed manifold triangle surface consistently and outward.

    Walks the edge adjacency from a seed triangle of each body, flipping neighbours
    that traverse a shared edge in the same direction, then flips a body whose
    signed volume is negative.

    Returns:
        ``(triangles, n_bodies)``.

    Raises:
        EngineError: an edge is not shared by exactly two triangles, or a body
            cannot be oriented (not orientable).
    """
    tri = np.array(triangles, dtype=np.int64)
    m = len(tri)
    edges = np.concatenate([tri[:, [0, 1]], tri[:, [1, 2]], tri[:, [2, 0]]])
    owner = np.tile(np.arange(m), 3)
    key = np.sort(edges, axis=1)
    order = np.lexsort((key[:, 1], key[:, 0]))
    ks = key[order]
    same = np.all(ks[1:] == ks[:-1], axis=1)
    # every edge exactly twice: sorted keys pair up (0,1), (2,3), ...
    if len(ks) % 2 or not (np.all(same[0::2]) and not np.any(same[1::2])):
        raise EngineError("the surface is not closed: an edge is not shared by exactly two triangles")
    t1, t2 = owner[order[0::2]], owner[order[1::2]]
    e1, e2 = edges[order[0::2]], edges[order[1::2]]
    same_dir = e1[:, 0] == e2[:, 0]  # both traverse the edge the same way: flip one
    nbrs: list[list[tuple[int, bool]]] = [[] for _ in range(m)]
    for a, b, s in zip(t1.tolist(), t2.tolist(), same_dir.tolist(), strict=True):
        nbrs[a].append((b, s))
        nbrs[b].append((a, s))
    flip = np.full(m, -1, dtype=np.int8)
    body = np.full(m, -1, dtype=np.int64)
    n_bodies = 0
    for seed in range(m):
        if flip[seed] >= 0:
            continue
        flip[seed] = 0
        body[seed] = n_bodies
        stack = [seed]
        while stack:
            t = stack.pop()
            for u, s in nbrs[t]:
                want = flip[t] ^ int(s)
                if flip[u] < 0:
                    flip[u] = want
                    body[u] = n_bodies
                    stack.append(u)
                elif flip[u] != want:
                    raise EngineError("the surface is not orientable")
        n_bodies += 1
    tri[flip == 1] = tri[flip == 1][:, ::-1]
    for k in range(n_bodies):
        sel = body == k
        if signed_volume(points, tri[sel]) < 0:
            tri[sel] = tri[sel][:, ::-1]
    return tri, n_bodies


def _write_stl_file(path: str | Path, points: np.ndarray, tri: np.ndarray, *, binary: bool) -> None:
    """STL through meshio (normals from the vertex order), written atomically."""
    import meshio  # lazy: only the STL writer needs it

    mesh = meshio.Mesh(np.asarray(points, float), [("triangle", np.asarray(tri, np.int64))])
    with atomic_path(path, suffix=".stl") as tmp:
        meshio.write(tmp, mesh, file_format="stl", binary=binary)


def write_stl(design: Design, path: str | Path, *, ascii: bool = False) -> SurfaceInfo:
    """Write the extruded lattice as one closed, outward-oriented STL (mm).

    Runs gmsh on this process only (call on rank 0). The file is written
    atomically.

    Raises:
        InputError: the design cannot be built.
        EngineError: gmsh failed or the surface is not closed, or its volume is
            more than 0.5 % off the CAD volume.
    """
    points, tri, cad_volume = surface_triangles(design)
    tri, n_bodies = orient_outward(points, tri)
    vol = signed_volume(points, tri)
    if abs(vol - cad_volume) > 0.005 * cad_volume:
        raise EngineError(f"STL volume {vol:.6g} mm^3 is more than 0.5 % off the CAD volume {cad_volume:.6g} mm^3")
    _write_stl_file(path, points, tri, binary=not ascii)
    lo, hi = points.min(axis=0), points.max(axis=0)
    return SurfaceInfo(len(tri), n_bodies, vol, cad_volume, tuple(float(x) for x in (*lo, *hi)))


@contextlib.contextmanager
def _quiet_stdout() -> Iterator[None]:
    """Silence file descriptor 1: OCC's STEP writer prints statistics there."""
    sys.stdout.flush()
    saved = os.dup(1)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 1)
            yield
    finally:
        os.dup2(saved, 1)
        os.close(saved)


def write_step(design: Design, path: str | Path) -> float:
    """Write the fused, extruded lattice as a STEP solid (mm); return its volume.

    Runs gmsh on this process only; written atomically.
    """
    if Path(path).suffix.lower() not in (".step", ".stp"):
        raise InputError("a STEP file name ends in .step or .stp", field="output", value=str(path))
    with gmsh_session():
        try:
            vols = _fused_solid(design)
            volume = float(sum(gmsh.model.occ.getMass(3, t) for _, t in vols))
            with atomic_path(path) as tmp, _quiet_stdout():
                gmsh.write(str(tmp))
        except FemMnnError:
            raise
        except Exception as exc:
            raise EngineError(f"gmsh could not write STEP: {exc}") from exc
    return volume
