"""Gmsh geometry and meshes of the printed lattice (OCC kernel).

Stage 2 of the pipeline: a :class:`~fem_mnn.design.Design` becomes a tagged mesh.

* Each bond is a beam thin end | bar | thin end between two hub circles
  (:mod:`fem_mnn.design.outline`); each node is a circular hub of radius
  ``design.geometry.junction_radius`` (a cylinder in 3D), independent of the widths.
* The beams end on arcs of their hub circles and each hub is built from those same
  arcs, so that the mesh is conforming without a boolean (linear in the size);
  designs whose shapes meet elsewhere (overlapping wide beams, thin ends wider than
  the hub, crossings) are fragmented globally (``occ.fragment``). Every piece is put
  in exactly one physical group following :mod:`fem_mnn.geometry.tags`.
* Mesh size: ``h = min(thin-end width) / elements_across / refinement`` (capped by
  ``max_size``), uniform, so the thinnest section of the lattice gets at least
  ``elements_across`` elements across it.
* One mesh per design: :func:`mesh_plan` is the only place that turns (design, widths,
  options) into what gmsh is given, the widths at the geometry resolution
  (:data:`GEOMETRY_DECIMALS`) and the element size h, and into the key of the result.
  Every command meshes through it, so one design file gives one mesh (same key, same
  cells) whichever command meshes it; a mesh is a discontinuous function of h, and a
  relative change of 1e-7 in h changes the cell count of a 32-node lattice by ~0.1 %.
* 2D: triangles in the plane z = 0 (plane stress). 3D: the same pieces extruded by
  ``design.thickness`` (z from 0 to t), tetrahedra.

Gmsh only: nothing here imports DOLFINx (:mod:`fem_mnn.fem.meshing` hands the
model to DOLFINx).
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import signal
import threading
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import gmsh
import numpy as np

from fem_mnn.core.errors import EngineError, FemMnnError, InputError
from fem_mnn.core.files import atomic_path
from fem_mnn.core.log import get_logger
from fem_mnn.core.resources import ResourceError, memory_limit_bytes
from fem_mnn.core.signals import rearm
from fem_mnn.design.outline import BeamLayout, beam_layout, bond_polygon
from fem_mnn.design.records import Design
from fem_mnn.design.validate import box_pairs
from fem_mnn.geometry import tags

__all__ = [
    "GEOMETRY_DECIMALS",
    "GEOMETRY_RESOLUTION",
    "GEOMETRY_VERSION",
    "GeometryInfo",
    "MeshOptions",
    "MeshPlan",
    "add_lattice_shapes",
    "build_model",
    "check_buildable",
    "estimate_cells",
    "lattice_measure",
    "gmsh_session",
    "geometry_widths",
    "mesh_plan",
    "mesh_record",
    "mesh_size",
    "write_msh",
]

log = get_logger(__name__)


#: Bumped whenever the geometry or meshing changes for the same design and options
#: (the mesh cache regenerates meshes made by another version).
GEOMETRY_VERSION = 3
#: Widths are rounded to this many decimals (mm) before they become geometry: 1 nm, far below
#: print resolution, far above the round-off that separates serial and MPI runs (or a width
#: read back from JSON). The element size is derived from the same rounded widths.
GEOMETRY_DECIMALS = 6
#: The same rounding as a length (mm): widths closer than this give the same geometry.
GEOMETRY_RESOLUTION = 10.0**-GEOMETRY_DECIMALS
#: Peak memory of gmsh per cell while meshing (bytes; 5e6 cells ~ 1.5 GB).
GMSH_BYTES_PER_CELL = 300.0
#: Largest mesh (cells) that ``build_model`` will try: ~1.5 GB in gmsh, and well
#: beyond what a 2-core machine solves in minutes.
MAX_CELLS = 5_000_000


@dataclass(frozen=True)
class MeshOptions:
    """How to mesh a design.

    Attributes:
        dim: 2 (triangles, plane stress) or 3 (tetrahedra, extruded by the thickness).
        elements_across: Minimum number of elements across the thinnest section
            (the narrowest thin end of the lattice).
        refinement: Mesh-size divisor for convergence studies (2 halves the size).
        order: Geometric order of the gmsh mesh (1 straight, 2 curved edges).
        max_size: Optional cap on the element size (mm).
        size: Optional element size (mm) that replaces the thin-end rule, so the
            mesh size does not follow the widths (training, finite differences);
            still divided by ``refinement``.
    """

    dim: int = 2
    elements_across: int = 3
    refinement: float = 1.0
    order: int = 1
    max_size: float | None = None
    size: float | None = None

    def __post_init__(self) -> None:
        if self.dim not in (2, 3):
            raise InputError("must be 2 or 3", field="dim", value=self.dim)
        if (
            isinstance(self.elements_across, bool)
            or not isinstance(self.elements_across, int)
            or self.elements_across < 1
        ):
            raise InputError("must be an integer >= 1", field="elements_across", value=self.elements_across)
        if not (np.isfinite(self.refinement) and self.refinement > 0):
            raise InputError("must be > 0", field="refinement", value=self.refinement)
        if self.order not in (1, 2):
            raise InputError("must be 1 or 2", field="order", value=self.order)
        if self.max_size is not None and not (np.isfinite(self.max_size) and self.max_size > 0):
            raise InputError("must be > 0", field="max_size", value=self.max_size)
        if self.size is not None and not (np.isfinite(self.size) and self.size > 0):
            raise InputError("must be > 0", field="size", value=self.size)

    def key(self) -> str:
        """Short text that names these options.

        A label: two option sets can give the same mesh; the key of a mesh is :attr:`MeshPlan.key`.
        """
        k = f"d{self.dim}-n{self.elements_across}-r{self.refinement:g}-o{self.order}"
        k += f"-h{self.max_size:g}" if self.max_size is not None else ""
        return k + (f"-s{self.size:g}" if self.size is not None else "")


@dataclass(frozen=True)
class GeometryInfo:
    """What :func:`build_model` made.

    Attributes:
        design_hash: :meth:`Design.hash` of the design.
        options: The mesh options used.
        mesh_size: Element size h (mm).
        cad_measure: CAD area (2D, mm^2) or volume (3D, mm^3) of the lattice.
        n_cells: Number of cells (triangles or tetrahedra).
        n_vertices: Number of mesh nodes (including high-order nodes).
        cell_groups: Physical tag -> name of the cell groups.
        facet_groups: Physical tag -> name of the facet groups.
        region_measure: Physical cell tag -> CAD area/volume of that region.
        overlap_nodes: Nodes with an ``overlap_{j}`` region (normally none).
        seconds: Wall time of geometry + meshing on rank 0 (s).
        version: :data:`GEOMETRY_VERSION` of the code that built it.
        key: :attr:`MeshPlan.key` of the mesh ("" in records written before it existed).
    """

    design_hash: str
    options: MeshOptions
    mesh_size: float
    cad_measure: float
    n_cells: int
    n_vertices: int
    cell_groups: dict[int, str] = field(default_factory=dict)
    facet_groups: dict[int, str] = field(default_factory=dict)
    region_measure: dict[int, float] = field(default_factory=dict)
    overlap_nodes: tuple[int, ...] = ()
    seconds: float = 0.0
    version: int = GEOMETRY_VERSION
    key: str = ""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary."""
        d = asdict(self)
        d["cell_groups"] = {str(k): v for k, v in self.cell_groups.items()}
        d["facet_groups"] = {str(k): v for k, v in self.facet_groups.items()}
        d["region_measure"] = {str(k): v for k, v in self.region_measure.items()}
        return d


# ------------------------------------------------------------------------- helpers


@contextlib.contextmanager
def gmsh_session(verbose: bool = False) -> Iterator[None]:
    """Run the body in a gmsh session.

    Initialise gmsh if needed, finalise it after if (and only if) this call initialised it.
    """
    owner = not gmsh.isInitialized()
    main = threading.current_thread() is threading.main_thread()
    previous = signal.getsignal(signal.SIGINT) if main else None
    if owner:
        # gmsh's "interruptible" sets SIGINT to SIG_DFL (Ctrl-C then kills the process inside a
        # long mesh) and never restores it (gmsh.py forgets the previous handler). Only when
        # nobody handles SIGINT but Python's default; a training run's handler (stop after the
        # epoch, checkpoint) must stay in place.
        gmsh.initialize(interruptible=main and previous is signal.default_int_handler)
        rearm()  # gmsh.initialize resets SIGTERM to the default action in C, behind Python's back
    gmsh.option.setNumber("General.Terminal", 1 if verbose else 0)
    if owner:
        gmsh.logger.start()  # gmsh's messages go to the package log (DEBUG; errors as WARNING), not stdout
    try:
        yield
    finally:
        if owner:
            _forward_gmsh_log()
            gmsh.finalize()
            if main and previous is not None:
                signal.signal(signal.SIGINT, previous)


def _forward_gmsh_log() -> None:
    """Move gmsh's buffered messages to the package log (``FEM_MNN_LOG=DEBUG`` shows them)."""
    try:
        lines = gmsh.logger.get()
        gmsh.logger.stop()
    except Exception:  # a failed session must not hide the original error
        return
    for line in lines:
        level = logging.WARNING if line.startswith("Error") else logging.DEBUG
        log.log(level, "gmsh: %s", line)


def geometry_widths(widths: np.ndarray) -> np.ndarray:
    """The widths (mm) as the geometry is built from them: rounded to :data:`GEOMETRY_DECIMALS`."""
    return np.round(np.asarray(widths, dtype=float), GEOMETRY_DECIMALS) + 0.0


@dataclass(frozen=True)
class MeshPlan:
    """What gmsh is given for a design: the only source of the element size and of the mesh key.

    Attributes:
        design: The design at the geometry widths (:func:`geometry_widths`): what is built.
        options: The options it was planned from.
        h: Element size (mm).
    """

    design: Design
    options: MeshOptions
    h: float

    @property
    def key(self) -> str:
        """The mesh's identity beside ``design.hash()``: dimension, geometric order and the exact h.

        The mesh depends on nothing else (the refinement, elements across and size
        options only through h), so two commands that mesh the same design with the same
        h share the key and the cached file, and a different h never shares it (the
        element size is written exactly, as ``repr``).
        """
        return f"d{self.options.dim}-o{self.options.order}-h{self.h!r}"

    def fixed_size(self) -> MeshOptions:
        """Options that mesh any widths with this plan's h (training, finite differences).

        For this plan's design they give the same h, hence the same mesh and key: h is
        carried as ``size`` with refinement 1 and no cap, so no arithmetic touches it again.
        """
        return dataclasses.replace(self.options, size=self.h, refinement=1.0, max_size=None)


def mesh_plan(design: Design, options: MeshOptions | None = None, widths: np.ndarray | None = None) -> MeshPlan:
    """The mesh plan of ``design`` at ``widths`` (default its own) with ``options`` (default :class:`MeshOptions`).

    The widths are rounded to the geometry resolution first; the element size is
    ``h = thinnest thin end / elements_across / refinement`` of those rounded widths, or
    ``size / refinement`` when ``options.size`` is set, capped by ``max_size``. No
    validation of the widths' range (finite differences may step outside it).
    """
    options = options or MeshOptions()
    w = geometry_widths(design.widths if widths is None else widths)
    geo = design if np.array_equal(w, design.widths) else dataclasses.replace(design, widths=w)
    if options.size is not None:
        h = options.size / options.refinement
    else:
        thinnest = float(np.min(geo.geometry.thin_end_ratio * np.asarray(geo.widths)))
        h = thinnest / options.elements_across / options.refinement
    if options.max_size is not None:
        h = min(h, options.max_size)
    return MeshPlan(design=geo, options=options, h=float(h))


def mesh_record(info: GeometryInfo, **options: Any) -> dict[str, Any]:
    """What a command writes about its mesh (JSON): the key, h and counts of ``info``, plus ``options``.

    The same record in every command's output, so two runs can be checked for having meshed alike.
    """
    return {
        **options,
        "key": info.key,
        "design_hash": info.design_hash,
        "h_mm": info.mesh_size,
        "n_cells": info.n_cells,
        "n_vertices": info.n_vertices,
    }


def mesh_size(design: Design, options: MeshOptions) -> float:
    """Element size h (mm) of :func:`mesh_plan`: thinnest thin end / elements_across / refinement.

    With ``options.size`` set, h = size / refinement whatever the widths.
    """
    return mesh_plan(design, options).h


#: Cells per (area / h^2) in 2D and per (volume / h^3) in 3D of gmsh's meshes of lattices
#: (measured on the paper's sample, a 3x2 patch and a 6x4 strip: 2.4-2.9 in 2D, 4.9-5.6 in 3D;
#: the coarser meshes have more cells per area, from the thin ends).
CELLS_PER_MEASURE = {2: 2.7, 3: 5.3}
#: The lattice's CAD area over the outline's (beam polygons + hub discs counts the beam
#: ends inside the hubs twice): 0.876 on the paper's sample, 0.885 on a 3x2 patch.
_CAD_OVER_OUTLINE = 0.88


def lattice_measure(design: Design) -> float:
    """Area (mm^2) of the lattice from its outline, without gmsh (about 1 % of the CAD area)."""
    lay = beam_layout(design)
    area = 0.0
    for i in range(design.n_bonds):
        x, y = np.asarray(bond_polygon(design, i, lay)).T
        area += 0.5 * abs(float(np.dot(x, np.roll(y, 1)) - np.dot(y, np.roll(x, 1))))
    return _CAD_OVER_OUTLINE * (area + design.n_nodes * np.pi * lay.radius**2)


def _cells(dim: int, measure: float, h: float) -> float:
    """Cells of gmsh's mesh of size ``h`` of a lattice of ``measure`` (area in 2D, volume in 3D)."""
    with np.errstate(divide="ignore", over="ignore"):  # an element size whose power underflows: infinitely many
        return float(CELLS_PER_MEASURE[dim] * measure / np.float64(h) ** dim)


def estimate_cells(design: Design, options: MeshOptions) -> int:
    """Cells that :func:`build_model` will make (estimate, before meshing; within about 15 %)."""
    h = mesh_size(design, options)
    area = lattice_measure(design)
    n = _cells(options.dim, area if options.dim == 2 else area * design.thickness, h)
    if n == np.inf:
        raise InputError(
            f"the element size h = {h:.3g} mm is too small to mesh",
            field="refinement / elements_across / max_size / size",
            value=(options.refinement, options.elements_across, options.max_size, options.size),
        )
    if not np.isfinite(n):
        raise InputError("cannot estimate the mesh size of this design", field="widths")
    return int(n)


def check_buildable(design: Design) -> None:
    """Refuse designs whose geometry cannot be built (as :class:`InputError`).

    Checks that the ids fit the tag numbering, widths and the hub radius are > 0 and
    that every beam has a free length between its hubs. (Full printability checks
    are in :mod:`fem_mnn.design.printability`.)
    """
    if design.n_nodes > tags.MAX_ID + 1 or design.n_bonds > tags.MAX_ID + 1:
        raise InputError(f"at most {tags.MAX_ID + 1} nodes and bonds", field="nodes", value=design.n_nodes)
    if design.widths.shape != (design.n_bonds,):
        raise InputError(f"needs one width per bond ({design.n_bonds})", field="widths", value=design.widths.size)
    bad = np.nonzero(~(np.isfinite(design.widths) & (design.widths > 0)))[0]
    if bad.size:
        raise InputError("must be > 0", field=f"widths[{bad[0]}]", value=float(design.widths[bad[0]]))
    if not design.geometry.junction_radius > 0:
        raise InputError("must be > 0", field="geometry.junction_radius", value=design.geometry.junction_radius)
    if not design.thickness > 0:
        raise InputError("must be > 0", field="thickness", value=design.thickness)
    lay = beam_layout(design)
    short = np.nonzero(lay.free_length <= 0)[0]
    if short.size:
        i = int(short[0])
        raise InputError(
            f"the hubs (radius {lay.radius} mm) swallow the whole beam (length {lay.length[i]:.4g} mm)",
            field=f"bonds[{i}]",
            value=design.bonds[i].tolist(),
        )


def _add_polygon(pts: np.ndarray) -> int:
    occ = gmsh.model.occ
    p = [occ.addPoint(float(x), float(y), 0.0) for x, y in pts]
    lines = [occ.addLine(p[k], p[(k + 1) % len(p)]) for k in range(len(p))]
    return occ.addPlaneSurface([occ.addCurveLoop(lines)])


def _solid(dim: int, surface: int, thickness: float) -> tuple[int, int]:
    """The 2D surface itself, or in 3D the volume extruded from it."""
    if dim == 2:
        return (2, surface)
    out = gmsh.model.occ.extrude([(2, surface)], 0.0, 0.0, thickness)
    return next(dt for dt in out if dt[0] == 3)


def _centre_point(design: Design, node: int, centres: dict[int, int], kernel: Any) -> int:
    """The point at the centre of ``node``'s hub (made once), the centre of its arcs.

    It stays in the model as a free point (one mesh node in no cell): removing it
    costs an OCC ``remove``, whose time grows with the model (11 of 15 s of geometry
    at 981 bonds when the centres were removed one bond at a time, 29 s in one call).
    """
    if node not in centres:
        x, y = design.nodes[node]
        centres[node] = kernel.addPoint(float(x), float(y), 0.0)
    return centres[node]


#: One end of a beam on its hub circle: (node, arc curve tag, first and last point tags
#: of the arc, their (x, y)).
_BeamEnd = tuple[int, int, int, int, np.ndarray, np.ndarray]


def _add_bond_between_hubs(
    design: Design, i: int, lay: BeamLayout, centres: dict[int, int], kernel: Any = None
) -> tuple[int, list[_BeamEnd]] | None:
    """Surface of bond ``i`` outside its hubs, its ends arcs of the hub circles, and its two ends.

    Built directly (no boolean cut: one OCC cut per bond costs ~30 ms on a 250-bond
    lattice). None when the thin end is not narrower than the hub (no arc exists).
    ``centres`` (node -> point tag) holds the arcs' centre points, one per node,
    shared by every arc about that node. ``kernel``: ``gmsh.model.occ`` (default) or
    ``gmsh.model.geo`` (the same calls; the loop is oriented, as geo needs).
    """
    R, ht = lay.radius, lay.thin_width[i] / 2
    if ht >= R * (1 - 1e-9):
        return None
    occ = kernel or gmsh.model.occ
    pts = bond_polygon(design, i, lay).copy()  # node centre to node centre, CCW
    k = len(pts)
    c = np.sqrt(R * R - ht * ht)  # where the thin-end edges meet the hub circle
    u = design.directions[i]
    pts[[0, k - 1]] += c * u
    pts[[k // 2 - 1, k // 2]] -= c * u
    na, nb = (int(n) for n in design.bonds[i])
    ca, cb = (_centre_point(design, n, centres, occ) for n in (na, nb))
    p = [occ.addPoint(float(x), float(y), 0.0) for x, y in pts]
    curves = []
    ends: list[_BeamEnd] = []
    for m in range(k):
        n = (m + 1) % k
        if m == k // 2 - 1:
            curves.append(occ.addCircleArc(p[m], cb, p[n]))
            ends.append((nb, curves[-1], p[m], p[n], pts[m], pts[n]))
        elif m == k - 1:
            curves.append(occ.addCircleArc(p[m], ca, p[n]))
            ends.append((na, curves[-1], p[m], p[n], pts[m], pts[n]))
        else:
            curves.append(occ.addLine(p[m], p[n]))
    return occ.addPlaneSurface([occ.addCurveLoop(curves)]), ends


def add_lattice_shapes(
    design: Design, dim: int, *, between_hubs: bool = False
) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
    """Add one shape per node (hub disk or cylinder) and one per bond to the current OCC model.

    Returns (hubs, bonds).

    A bond is its full outline from node centre to node centre, or with
    ``between_hubs`` only its part outside the two hubs (ending on arcs of the hub
    circles), which a fragment joins to the hubs without a boolean cut.
    """
    occ = gmsh.model.occ
    R = float(design.geometry.junction_radius)
    t = float(design.thickness)
    hubs = []
    for x, y in design.nodes:
        if dim == 2:
            hubs.append((2, occ.addDisk(float(x), float(y), 0.0, R, R)))
        else:
            hubs.append((3, occ.addCylinder(float(x), float(y), 0.0, 0.0, 0.0, t, R)))
    lay = beam_layout(design)
    bonds = []
    centres: dict[int, int] = {}
    for i in range(design.n_bonds):
        built = _add_bond_between_hubs(design, i, lay, centres, occ) if between_hubs else None
        surf = built[0] if built is not None else None
        if surf is None:
            surf = _add_polygon(bond_polygon(design, i, lay))
            if between_hubs:  # rare fallback (thin end wider than the hub): cut it
                a, b = (int(n) for n in design.bonds[i])
                out, _ = occ.cut([(2, surf)], [(2, occ.addDisk(*design.nodes[n], 0.0, R, R)) for n in (a, b)])
                surf = next(tg for d, tg in out if d == 2)
        bonds.append(_solid(dim, surf, t))
    return hubs, bonds


# --------------------------------------------------------------------------- model


def build_model(design: Design, options: MeshOptions | None = None, *, mesh: bool = True) -> GeometryInfo:
    """Build, tag and mesh the lattice in the current gmsh session.

    Adds a new gmsh model (made current), creates hubs and beams (ending on arcs of
    their hub circles), fragments everything, creates the physical groups of
    :mod:`fem_mnn.geometry.tags` and (if ``mesh``) generates the mesh. Call it inside
    :func:`gmsh_session` (or an initialised gmsh) on one process.

    Args:
        design: The lattice (need not pass :func:`fem_mnn.design.validate`, but must
            be buildable, see :func:`check_buildable`).
        options: Mesh options (default :class:`MeshOptions`).
        mesh: False stops after the tagged geometry (no mesh).

    Returns:
        Tags, counts, CAD measures and timing.

    Raises:
        InputError: the design cannot be built.
        EngineError: gmsh failed, or a cell ended up untagged.
    """
    check_buildable(design)
    plan = mesh_plan(design, options)
    if plan.design is not design:
        check_buildable(plan.design)  # a width that rounds to 0
    options, design, h = plan.options, plan.design, plan.h  # the geometry widths, not the raw ones
    if not gmsh.isInitialized():
        raise EngineError("gmsh is not initialised: call build_model inside geometry.gmsh_session()")
    t0 = time.perf_counter()
    dim = options.dim
    n_objects, frag_map, measure = _fragment(design, options)
    groups, overlap_nodes = _group_pieces(design, dim, n_objects, frag_map)
    cell_groups, region_measure = _add_cell_groups(groups, dim, measure)
    facet_groups = _add_exposed_hub_facets(design, dim, groups)
    n_cells = n_vertices = 0
    if mesh:
        n_cells, n_vertices = _mesh(options, h, float(sum(region_measure.values())), groups)
    return GeometryInfo(
        key=plan.key,
        design_hash=design.hash(),
        options=options,
        mesh_size=h,
        cad_measure=float(sum(region_measure.values())),
        n_cells=n_cells,
        n_vertices=n_vertices,
        cell_groups=cell_groups,
        facet_groups=facet_groups,
        region_measure=region_measure,
        overlap_nodes=tuple(sorted(overlap_nodes)),
        seconds=time.perf_counter() - t0,
    )


def _fragment(design: Design, options: MeshOptions) -> tuple[int, list, dict[int, float] | None]:
    """Add the hubs and beams to a new gmsh model, conforming.

    Returns (number of beam shapes, fragment map, exact region measures or None when the CAD
    kernel measures them).

    The map lists, per beam (bond order) then per hub, the pieces it became, as
    ``occ.fragment`` returns it. When no shapes meet except a beam and its own hubs
    (:func:`_local_fragment_suffices`, every validated and printable lattice), each
    hub is built from the end arcs of its beams and no boolean runs at all
    (:func:`_add_conforming_shapes`: linear in the size; the global fragment grew as
    bonds^2.2, 41 of 104 s of meshing at 981 bonds). Otherwise one global
    ``occ.fragment`` finds the overlaps and cuts: beams wider than their hubs, wide
    beams overlapping next to a junction (overlap groups), shapes that touch or cross.
    """
    try:
        gmsh.model.add(f"lattice-{design.hash()}-{options.key()}")
        occ = gmsh.model.occ
        measure = None
        if _local_fragment_suffices(design):
            hubs, objects, measure = _add_conforming_shapes(design, options.dim)
            frag_map = [[dt] for dt in objects] + [[dt] for dt in hubs]
            gmsh.model.geo.synchronize()
        else:
            # Beams stop on their hub circles: no beam piece is left inside a hub (no
            # slivers, no tiny hub pieces), and the fragment makes the arcs conforming.
            hubs, objects = add_lattice_shapes(design, options.dim, between_hubs=True)
            _, frag_map = occ.fragment(objects, hubs)
            occ.synchronize()
    except FemMnnError:
        raise
    except Exception as exc:
        raise EngineError(f"gmsh geometry failed: {exc}") from exc
    return len(objects), frag_map, measure


def _add_conforming_shapes(
    design: Design, dim: int
) -> tuple[list[tuple[int, int]], list[tuple[int, int]], dict[int, float]]:
    """Hubs and beams that share their arcs by construction, in gmsh's built-in kernel.

    Returns (hubs, bonds) as (dim, tag), and the exact measure of every region (physical tag).

    Each beam ends on arcs of its hub circles (:func:`_add_bond_between_hubs`); each
    hub is the face bounded by those same arc curves and the arcs between them, so
    beam and hub share the curve and the mesh is conforming without a boolean. 3D
    extrudes all faces at once, then merges the duplicates (shared curves become shared
    faces). Built-in (geo), not
    OCC: OCC faces made from wires carry no curves in the plane's parameters (only a
    boolean adds them), and gmsh then recomputes them for every boundary node, which
    made meshing 1.8x slower (CPU, paper's sample) than on fragmented OCC faces. Only
    for designs that pass :func:`_local_fragment_suffices`.
    """
    geo = gmsh.model.geo
    lay = beam_layout(design)
    surfaces = []
    centres: dict[int, int] = {}
    ends_at: list[list[_BeamEnd]] = [[] for _ in range(design.n_nodes)]
    for i in range(design.n_bonds):
        built = _add_bond_between_hubs(design, i, lay, centres, geo)
        if built is None:  # excluded by _local_fragment_suffices
            raise EngineError(f"bond {i} has no arc on its hubs")
        surfaces.append(built[0])
        for end in built[1]:
            ends_at[end[0]].append(end)
    hubs = [_add_hub_on_arcs(design, j, lay.radius, ends_at[j], centres) for j in range(design.n_nodes)]
    t = float(design.thickness) if dim == 3 else 1.0
    measure = {tags.bond_tag(i): _bond_area_between_hubs(design, i, lay) * t for i in range(design.n_bonds)}
    measure.update({tags.node_tag(j): np.pi * lay.radius**2 * t for j in range(design.n_nodes)})
    if dim == 2:
        return [(2, h) for h in hubs], [(2, b) for b in surfaces], measure
    # gmsh's automatic coherence inside extrude grows as bonds^2.1 (27 s at 249 bonds); one
    # removeAllDuplicates after it merges the same shared points, curves and faces in 0.1 s
    coherence = gmsh.option.getNumber("Geometry.AutoCoherence")
    gmsh.option.setNumber("Geometry.AutoCoherence", 0)
    try:
        out = geo.extrude([(2, f) for f in surfaces + hubs], 0.0, 0.0, t)
        geo.removeAllDuplicates()
    finally:
        gmsh.option.setNumber("Geometry.AutoCoherence", coherence)
    vols = [dt for dt in out if dt[0] == 3]  # one per input face, in order
    if len(vols) != len(surfaces) + len(hubs):
        raise EngineError(f"extrusion made {len(vols)} volumes from {len(surfaces) + len(hubs)} faces")
    return vols[len(surfaces) :], vols[: len(surfaces)], measure


def _bond_area_between_hubs(design: Design, i: int, lay: BeamLayout) -> float:
    """Area (mm^2) of bond ``i`` outside its hubs.

    Its outline with the ends cut on the chords, less the two circular segments between chord and arc.
    """
    R, ht = lay.radius, lay.thin_width[i] / 2
    pts = bond_polygon(design, i, lay).copy()
    k = len(pts)
    u = design.directions[i]
    c = np.sqrt(R * R - ht * ht)
    pts[[0, k - 1]] += c * u
    pts[[k // 2 - 1, k // 2]] -= c * u
    x, y = pts.T
    polygon = 0.5 * abs(float(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))))
    phi = 2.0 * np.arcsin(ht / R)
    return polygon - R * R * (phi - np.sin(phi))  # two segments of R^2 (phi - sin phi) / 2


def _add_hub_on_arcs(design: Design, node: int, R: float, ends: list[_BeamEnd], centres: dict[int, int]) -> int:
    """Face (built-in kernel) of the hub of ``node``, bounded by its beams' end arcs and the arcs between them."""
    geo = gmsh.model.geo
    cx, cy = (float(v) for v in design.nodes[node])
    centre_tag = _centre_point(design, node, centres, geo)
    two_pi = 2.0 * np.pi
    items = []
    for _, curve, pa, pb, xa, xb in ends:
        ta, tb = (float(np.arctan2(x[1] - cy, x[0] - cx)) for x in (xa, xb))
        # an end arc spans less than pi (thin end narrower than the hub): order its
        # points counter-clockwise around the hub; the curve runs pa -> pb, so its sign
        # in the hub's loop says which way
        if (tb - ta) % two_pi < np.pi:
            items.append((ta % two_pi, tb, curve, pa, pb))
        else:
            items.append((tb % two_pi, ta, -curve, pb, pa))
    items.sort(key=lambda it: it[0])
    if not items:  # a hub without beams: a circle of three arcs
        p = [geo.addPoint(cx + R * float(np.cos(a)), cy + R * float(np.sin(a)), 0.0) for a in (0.0, 2.1, 4.2)]
        arcs = [geo.addCircleArc(p[k], centre_tag, p[(k + 1) % 3]) for k in range(3)]
        return geo.addPlaneSurface([geo.addCurveLoop(arcs)])
    loop = []
    for k, (_, t_end, curve, _, p_end) in enumerate(items):
        loop.append(curve)
        t_next, _, _, p_next, _ = items[(k + 1) % len(items)]
        gap = (t_next - t_end) % two_pi
        if not 1e-9 < gap < two_pi - 1e-9:  # ends that touch: excluded by _local_fragment_suffices
            raise EngineError(f"beam ends touch on the hub at ({cx:g}, {cy:g})")
        # Split points of the gap: angle 0 when inside it (where OCC's disk had its seam:
        # the hubs are cut as the fragmented disks were, and a width change moves no other
        # split point: extra moving points made remeshed finite differences 5x noisier),
        # then the middle of any piece of pi or more (a centred arc must span less).
        cuts = [0.0, gap]
        seam = (-t_end) % two_pi
        if 1e-9 < seam < gap - 1e-9:
            cuts.insert(1, seam)
        cuts = _split_long(cuts)
        points = [p_end]
        for a in cuts[1:-1]:
            t = t_end + a
            points.append(geo.addPoint(cx + R * float(np.cos(t)), cy + R * float(np.sin(t)), 0.0))
        points.append(p_next)
        loop += [geo.addCircleArc(points[m], centre_tag, points[m + 1]) for m in range(len(points) - 1)]
    return geo.addPlaneSurface([geo.addCurveLoop(loop)])


def _split_long(cuts: list[float]) -> list[float]:
    """Sorted angles with a middle point added to every interval of 0.9 pi or more."""
    out = [cuts[0]]
    for a, b in zip(cuts[:-1], cuts[1:], strict=True):
        if b - a >= 0.9 * np.pi:
            out.append((a + b) / 2)
        out.append(b)
    return out


def _segment_distance(p0: np.ndarray, p1: np.ndarray, q0: np.ndarray, q1: np.ndarray) -> np.ndarray:
    """Row by row: distance between segments p0p1 and q0q1 (either may be a point)."""
    d1, d2, r = p1 - p0, q1 - q0, p0 - q0
    a = np.einsum("ij,ij->i", d1, d1)
    e = np.einsum("ij,ij->i", d2, d2)
    f = np.einsum("ij,ij->i", d2, r)
    c = np.einsum("ij,ij->i", d1, r)
    b = np.einsum("ij,ij->i", d1, d2)
    # closest points (Ericson, Real-Time Collision Detection, 5.1.9), case by case with masks
    eps = 1e-24 * np.maximum(np.maximum(a, e), 1e-300)
    pa, pe = a > eps, e > eps  # segment p, segment q not a point
    a_, e_ = np.where(pa, a, 1.0), np.where(pe, e, 1.0)
    denom = a * e - b * b
    general = pa & pe
    s = np.where(
        general & (denom > 1e-12 * a_ * e_), np.clip((b * f - c * e) / np.where(denom > 0, denom, 1.0), 0, 1), 0.0
    )
    t = np.where(general, (b * s + f) / e_, 0.0)
    lo, hi = general & (t < 0), general & (t > 1)
    s = np.where(lo, np.clip(-c / a_, 0, 1), s)
    s = np.where(hi, np.clip((b - c) / a_, 0, 1), s)
    t = np.clip(t, 0, 1)
    # q a point: nearest point of p to it; p a point: nearest point of q
    s = np.where(pa & ~pe, np.clip(-c / a_, 0, 1), s)
    t = np.where(~pa & pe, np.clip(f / e_, 0, 1), t)
    s = np.where(~pa, 0.0, s)
    t = np.where(~pe, 0.0, t)
    return np.linalg.norm(p0 + s[:, None] * d1 - q0 - t[:, None] * d2, axis=1)


def _local_fragment_suffices(design: Design) -> bool:
    """True when :func:`_add_conforming_shapes` is enough.

    That is: every beam ends on arcs of its hubs and no two shapes meet except a beam and its own hubs.

    Conservative (a False only costs the global fragment): each beam outside its hubs
    lies inside three capsules (thin end, bar, thin end; a thin end of half-width h_t
    from where its edges cross the hub circle, sqrt(R^2 - h_t^2) from the node); two
    capsules of different beams, a capsule and a foreign hub, or two hubs that are not
    strictly apart count as meeting. Candidates come from a grid of boxes
    (:func:`~fem_mnn.design.validate.box_pairs`), so this is O(n) too.
    """
    lay = beam_layout(design)
    R = lay.radius
    ht = lay.thin_width / 2
    if np.any(ht >= R * (1 - 1e-9)):  # such beams are cut by their hubs, not built on arcs
        return False
    a, b = design.nodes[design.bonds[:, 0]], design.nodes[design.bonds[:, 1]]
    u = design.directions
    c = np.sqrt(R * R - ht * ht)[:, None]
    s1 = (R + lay.thin_length)[:, None]
    ends = [(a + c * u, a + s1 * u, ht), (a + s1 * u, b - s1 * u, lay.width / 2), (b - s1 * u, b - c * u, ht)]
    n_b, n_n = design.n_bonds, design.n_nodes
    p0 = np.concatenate([e[0] for e in ends] + [design.nodes])
    p1 = np.concatenate([e[1] for e in ends] + [design.nodes])
    radius = np.concatenate([e[2] for e in ends] + [np.full(n_n, R)])
    # owner: bond id for a capsule, -1 - node id for a hub
    owner = np.concatenate([np.tile(np.arange(n_b), 3), -1 - np.arange(n_n)])
    lo = np.minimum(p0, p1) - radius[:, None]
    hi = np.maximum(p0, p1) + radius[:, None]
    tol = 1e-6 * max(R, 1e-300)
    pairs = box_pairs(lo, hi, tol)
    if not pairs.size:
        return True
    i, j = pairs[:, 0], pairs[:, 1]
    oi, oj = owner[i], owner[j]
    same_bond = (oi == oj) & (oi >= 0)
    # a capsule and a hub of its own bond (ends of the bond): they meet on the arc by design
    bond_of = np.where(oi >= 0, oi, oj)
    node_of = np.where(oi >= 0, -1 - oj, -1 - oi)
    mixed = (oi >= 0) != (oj >= 0)
    safe_bond = np.clip(bond_of, 0, max(n_b - 1, 0))
    own_hub = mixed & ((design.bonds[safe_bond, 0] == node_of) | (design.bonds[safe_bond, 1] == node_of))
    check = ~(same_bond | own_hub)
    i, j = i[check], j[check]
    dist = _segment_distance(p0[i], p1[i], p0[j], p1[j])
    return bool(np.all(dist > radius[i] + radius[j] + tol))


def _group_pieces(design: Design, dim: int, n_objects: int, frag_map: list) -> tuple[dict[int, list[int]], set[int]]:
    """Physical tag -> fragment pieces, from which bonds and hubs each piece came; and the overlap nodes."""
    bond_parents: dict[int, set[int]] = {}
    hub_parents: dict[int, set[int]] = {}
    for k, pieces in enumerate(frag_map):
        for d, tag in pieces:
            if d != dim:
                continue
            if k < n_objects:  # objects are the beams, one per bond, in bond order
                bond_parents.setdefault(tag, set()).add(k)
            else:
                hub_parents.setdefault(tag, set()).add(k - n_objects)
    groups: dict[int, list[int]] = {}
    overlap_nodes: set[int] = set()
    for tag in sorted(set(bond_parents) | set(hub_parents)):
        if tag in hub_parents:
            # a piece inside a hub belongs to the hub (two hubs overlap only in
            # unprintable designs: the lower node id wins)
            ptag = tags.node_tag(min(hub_parents[tag]))
        elif len(bond_parents[tag]) == 1:
            ptag = tags.bond_tag(next(iter(bond_parents[tag])))
        else:
            c = np.array(gmsh.model.occ.getCenterOfMass(dim, tag)[:2])
            j = int(np.argmin(np.hypot(*(design.nodes - c).T)))
            overlap_nodes.add(j)
            ptag = tags.overlap_tag(j)
        groups.setdefault(ptag, []).append(tag)
    missing = [i for i in range(design.n_bonds) if tags.bond_tag(i) not in groups]
    if missing:
        raise EngineError(f"bond {missing[0]} has no region left after fragmenting (is it swallowed by hubs?)")
    return groups, overlap_nodes


def _add_cell_groups(
    groups: dict[int, list[int]], dim: int, measure: dict[int, float] | None = None
) -> tuple[dict[int, str], dict[int, float]]:
    """One physical group per tag; returns tag -> name and tag -> CAD area/volume.

    The area/volume is ``measure`` when given, else OCC's measure of the pieces.
    """
    cell_groups: dict[int, str] = {}
    region_measure: dict[int, float] = {}
    for ptag in sorted(groups):
        gmsh.model.addPhysicalGroup(dim, groups[ptag], tag=ptag, name=tags.name(ptag))
        cell_groups[ptag] = tags.name(ptag)
        if measure is not None:
            region_measure[ptag] = float(measure[ptag])
        else:
            region_measure[ptag] = float(sum(gmsh.model.occ.getMass(dim, t) for t in groups[ptag]))
    return cell_groups, region_measure


def _add_exposed_hub_facets(design: Design, dim: int, groups: dict[int, list[int]]) -> dict[int, str]:
    """Facet groups of each hub's exposed boundary (hub boundary that is also the lattice boundary)."""
    all_pieces = [t for pieces in groups.values() for t in pieces]
    outer = {t for d, t in gmsh.model.getBoundary([(dim, t) for t in all_pieces], combined=True, oriented=False)}
    facet_groups: dict[int, str] = {}
    for j in range(design.n_nodes):
        hub_pieces = groups.get(tags.node_tag(j), [])
        if not hub_pieces:
            continue
        bnd = gmsh.model.getBoundary([(dim, t) for t in hub_pieces], combined=True, oriented=False)
        exposed = []
        for d, t in bnd:
            if t not in outer:
                continue
            if dim == 3:
                box = gmsh.model.getBoundingBox(d, t)
                # top or bottom face (flat; OCC pads boxes by ~1e-7): not part of the arc
                if abs(box[5] - box[2]) < 1e-3 * design.thickness:
                    continue
            exposed.append(t)
        if exposed:
            ftag = tags.node_boundary_tag(j)
            gmsh.model.addPhysicalGroup(dim - 1, exposed, tag=ftag, name=tags.name(ftag))
            facet_groups[ftag] = tags.name(ftag)
    return facet_groups


def _mesh(options: MeshOptions, h: float, measure: float, groups: dict[int, list[int]]) -> tuple[int, int]:
    """Generate the mesh of size ``h``; refuse runaway meshes first. Returns (cells, vertices)."""
    dim = options.dim
    # refuse before gmsh runs out of memory: the cell-count model of estimate_cells, on the CAD measure
    estimate = _cells(dim, measure, h)
    if estimate > MAX_CELLS:
        raise InputError(
            f"the mesh would have about {estimate:.2g} cells (limit {MAX_CELLS:.0e}) at h = {h:.3g} mm",
            field="refinement / elements_across / max_size",
            value=(options.refinement, options.elements_across, options.max_size),
        )
    limit, source = memory_limit_bytes()
    if GMSH_BYTES_PER_CELL * estimate > limit:
        raise ResourceError(
            f"meshing would need about {GMSH_BYTES_PER_CELL * estimate / 1e9:.2g} GB ({estimate:.2g} cells at "
            f"h = {h:.3g} mm), over the memory limit of {limit / 1e9:.3g} GB ({source})"
        )
    if estimate >= 2e5:
        log.info("meshing: about %.2g cells at h = %.3g mm ...", estimate, h)
    gmsh.option.setNumber("Mesh.MeshSizeMax", h)
    gmsh.option.setNumber("Mesh.MeshSizeMin", 0.0)
    gmsh.option.setNumber("Mesh.MeshSizeFromPoints", 0)
    gmsh.option.setNumber("Mesh.MeshSizeExtendFromBoundary", 1)
    gmsh.option.setNumber("Mesh.MeshSizeFromCurvature", 0)
    if dim == 3:
        # HXT on one thread: measured 1.6x faster than the default Delaunay on the
        # paper's sample, minimum gamma quality 0.30 vs 0.09, and deterministic
        gmsh.option.setNumber("Mesh.Algorithm3D", 10)
        gmsh.option.setNumber("General.NumThreads", 1)
    t0 = time.perf_counter()
    try:
        gmsh.model.mesh.generate(dim)
        if options.order > 1:
            gmsh.model.mesh.setOrder(options.order)
    except Exception as exc:
        raise EngineError(f"gmsh meshing failed: {exc}") from exc
    if estimate >= 2e5 or time.perf_counter() - t0 >= 2.0:
        log.info("meshing: done in %.1f s", time.perf_counter() - t0)
    return _count_and_check_cells(dim, groups)


def _count_and_check_cells(dim: int, groups: dict[int, list[int]]) -> tuple[int, int]:
    """Numbers of top-dimensional cells and of their nodes; raise if a cell is in no or two groups.

    A cell lies in exactly one model entity, so the check is on entities: ``groups``
    (physical tag -> entities, as the groups were made) must hold every entity that has
    cells exactly once. Not gmsh's ``getEntitiesForPhysicalGroup`` per group: each call
    costs time proportional to the model (1.3 s at 981 bonds, ~20 s at 3979). Nodes are
    counted from the cells: the arcs' centre points are free points of the model and get
    a mesh node that no cell uses.
    """
    grouped = np.array([e for ents in groups.values() for e in ents], dtype=np.int64)
    with_cells = [t for _, t in gmsh.model.getEntities(dim) if len(gmsh.model.mesh.getElements(dim, t)[1])]
    if grouped.size != np.unique(grouped).size or not set(with_cells) <= set(grouped.tolist()):
        raise EngineError("some cells are not in exactly one physical group")
    _, all_tags, all_nodes = gmsh.model.mesh.getElements(dim)
    n_cells = int(sum(np.asarray(a).size for a in all_tags))
    nodes = np.concatenate([np.asarray(a, dtype=np.int64) for a in all_nodes]) if all_nodes else np.empty(0)
    return n_cells, int(np.unique(nodes).size)


# ---------------------------------------------------------------------------- files


def write_msh(
    design: Design, options: MeshOptions | None = None, path: str | Path = "lattice.msh", *, binary: bool = False
) -> GeometryInfo:
    """Mesh ``design`` and write a gmsh ``.msh`` (format 4.1) atomically.

    Runs gmsh on the calling process only (call it on rank 0).
    """
    options = options or MeshOptions()
    with gmsh_session():
        info = build_model(design, options)
        gmsh.option.setNumber("Mesh.Binary", 1 if binary else 0)
        gmsh.option.setNumber("Mesh.MshFileVersion", 4.1)
        gmsh.option.setNumber("Mesh.SaveAll", 0)  # physical groups only: every cell is in one
        with atomic_path(path) as tmp:
            try:
                gmsh.write(str(tmp))
            except Exception as exc:  # gmsh raises a bare Exception
                raise EngineError(f"gmsh could not write the mesh: {exc}") from exc
    return info
