"""Built-in designs: the paper's sample, triangular patches and strips of any size, and a design with bonds cut."""

from __future__ import annotations

import math

import numpy as np
from scipy.spatial import cKDTree

from fem_mnn.core.errors import InputError
from fem_mnn.design.records import Design, Geometry, Material
from fem_mnn.design.validate import validate

__all__ = ["check_paper_sample", "paper_sample", "triangular_patch", "triangular_strip", "without_bonds"]


def paper_sample(width: float = 2.0) -> Design:
    """The printed sample of Li & Mao (2024), node for node.

    Inverted triangle with rows of 5, 4, 3, 2 nodes, a = 16 mm, t = 2 mm,
    E = 0.55 MPa, every width ``width`` (2 mm as printed), printable 1.5-2.5 mm.
    Paper node n is id n - 1: node n sits at ``-j*a1 - i*a2`` for i = 0..3,
    j = 0..4-i (a1 = (a, 0), a2 = (a/2, a*sqrt(3)/2)). Paper nodes 1 and 5 (ids 0
    and 4, the ends of the top row) are clamped. Bonds join every pair of nodes
    a apart, ordered by (i, j) with i < j.
    """
    a = 16.0
    a1 = np.array([a, 0.0])
    a2 = np.array([a / 2, a * math.sqrt(3) / 2])
    nodes = [-j * a1 - i * a2 for i in range(4) for j in range(5 - i)]
    d = _bonds_at_distance(np.array(nodes), a)
    design = Design(
        nodes=np.array(nodes),
        bonds=d,
        widths=np.full(len(d), width),
        thickness=2.0,
        material=Material(E=0.55),
        fixed=(0, 4),
        geometry=Geometry(),
        name="li-mao-2024-sample",
    )
    validate(design)
    return design


def check_paper_sample(design: Design, source: str | None = None) -> None:
    """Refuse ``design`` unless it is the paper's sample lattice.

    The same nodes (up to a translation), the same bonds in the same order, the same clamped nodes. The paper's
    measurements are per node and per bond of that sample; on another lattice they would be
    compared with whatever node or bond has the same id.
    """
    ref = paper_sample()
    why = None
    if design.n_nodes != ref.n_nodes or design.n_bonds != ref.n_bonds:
        why = (
            f"has {design.n_nodes} nodes and {design.n_bonds} bonds, the paper's sample {ref.n_nodes} and {ref.n_bonds}"
        )
    elif np.abs(design.nodes - (design.nodes[0] - ref.nodes[0]) - ref.nodes).max() > 1e-6 * 64:
        why = "its nodes are not at the paper's sample positions"
    elif not np.array_equal(design.bonds, ref.bonds):
        why = "its bonds are not the paper's sample bonds (ids and order)"
    elif sorted(design.fixed) != sorted(ref.fixed):
        why = f"clamps nodes {list(design.fixed)}, the paper's sample {list(ref.fixed)}"
    if why:
        raise InputError(
            f"not the paper's sample: {why}; the paper's data are for that lattice only "
            "(fem-mnn design paper -o FILE writes it)",
            source=source,
            field="design",
        )


def _bonds_at_distance(nodes: np.ndarray, a: float) -> np.ndarray:
    """(m, 2) pairs i < j of nodes ``a`` apart (to 1e-6 a), sorted by i then j.

    A k-d tree finds the candidates (O(n log n) time, O(m) memory) in units of
    ``a`` (no overflow for any finite ``a``; non-finite nodes bond to nothing); the
    distance test is the exact one, node to node.
    """
    with np.errstate(over="ignore", invalid="ignore"):
        scaled = nodes / a
    finite = np.nonzero(np.all(np.isfinite(scaled), axis=1))[0]
    pairs = cKDTree(scaled[finite]).query_pairs(1 + 1e-5, output_type="ndarray").reshape(-1, 2)
    pairs = np.sort(finite[pairs].astype(np.int64), axis=1)
    diff = nodes[pairs[:, 0]] - nodes[pairs[:, 1]]
    pairs = pairs[np.abs(np.hypot(diff[:, 0], diff[:, 1]) - a) < 1e-6 * a]
    return pairs[np.lexsort((pairs[:, 1], pairs[:, 0]))]


def _check_spacing(a: float) -> None:
    if not (math.isfinite(a) and a > 0):
        raise InputError("the bond length must be finite and > 0", field="a", value=a)


def _bond_widths(width: float | np.ndarray, n_bonds: int) -> np.ndarray:
    w = np.asarray(width, dtype=float)
    if w.ndim and w.shape != (n_bonds,):
        raise InputError(f"needs one width or {n_bonds} widths", field="widths", value=w.shape[0])
    return np.broadcast_to(w, (n_bonds,)).copy()


def _lattice(
    nodes: np.ndarray,
    a: float,
    width: float | np.ndarray,
    thickness: float,
    material: Material | None,
    geometry: Geometry | None,
    fixed: tuple[int, ...],
    name: str,
) -> Design:
    """A validated design joining every pair of nodes ``a`` apart."""
    bonds = _bonds_at_distance(nodes, a)
    d = Design(
        nodes=nodes,
        bonds=bonds,
        widths=_bond_widths(width, len(bonds)),
        thickness=thickness,
        material=material or Material(),
        fixed=fixed,
        geometry=geometry or Geometry(),
        name=name,
    )
    validate(d)
    return d


def triangular_patch(
    top: int = 5,
    rows: int = 4,
    a: float = 16.0,
    width: float | np.ndarray = 2.0,
    thickness: float = 2.0,
    material: Material | None = None,
    geometry: Geometry | None = None,
) -> Design:
    """An inverted triangular patch: ``rows`` rows of top, top-1, ... nodes.

    Same construction as :func:`paper_sample` (which is ``triangular_patch(5, 4)``);
    the two ends of the top row are clamped.
    """
    if top < 2 or rows < 1 or rows > top:
        raise InputError("needs top >= 2 and 1 <= rows <= top", field="patch", value=(top, rows))
    _check_spacing(a)
    a1 = np.array([a, 0.0])
    a2 = np.array([a / 2, a * math.sqrt(3) / 2])
    nodes = np.array([-j * a1 - i * a2 for i in range(rows) for j in range(top - i)])
    return _lattice(nodes, a, width, thickness, material, geometry, (0, top - 1), f"triangular-patch-{top}x{rows}")


def triangular_strip(
    columns: int = 6,
    rows: int = 2,
    a: float = 16.0,
    width: float | np.ndarray = 2.0,
    thickness: float = 2.0,
    material: Material | None = None,
    geometry: Geometry | None = None,
) -> Design:
    """A strip of triangles: ``rows`` rows of ``columns`` nodes, every other row shifted by a/2.

    The two ends of the top row are clamped.
    """
    if columns < 2 or rows < 2:
        raise InputError("needs columns >= 2 and rows >= 2", field="strip", value=(columns, rows))
    _check_spacing(a)
    h = a * math.sqrt(3) / 2
    nodes = np.array([[j * a + (a / 2 if i % 2 else 0.0), -i * h] for i in range(rows) for j in range(columns)])
    return _lattice(
        nodes, a, width, thickness, material, geometry, (0, columns - 1), f"triangular-strip-{columns}x{rows}"
    )


def without_bonds(design: Design, cut: tuple[int, ...] | list[int] | np.ndarray) -> tuple[Design, np.ndarray]:
    """``design`` with bonds ``cut`` removed (a damaged lattice), validated.

    Nodes, thickness, material, fixed nodes and geometry stay; the remaining bonds keep their
    order and widths and are renumbered 0..n-1; the name gains ``-cut-<ids>``.

    Args:
        design: The intact design.
        cut: Ids of the bonds to remove (0-based).

    Returns:
        ``(damaged design, kept)``: ``kept[i]`` is the id in ``design`` of the damaged design's bond i.

    Raises:
        InputError: a cut that leaves a floppy lattice or a node without bonds (:func:`validate`),
            or an id that is not a bond of ``design``.
    """
    ids = np.asarray(cut, dtype=int).reshape(-1)
    bad = ids[(ids < 0) | (ids >= design.n_bonds)]
    if bad.size:
        raise InputError(f"no such bond (bonds are 0..{design.n_bonds - 1})", field="cut", value=int(bad[0]))
    keep = np.setdiff1d(np.arange(design.n_bonds), ids)
    damaged = Design(
        nodes=design.nodes,
        bonds=design.bonds[keep],
        widths=design.widths[keep],
        thickness=design.thickness,
        material=design.material,
        fixed=design.fixed,
        geometry=design.geometry,
        name=f"{design.name}-cut-{'-'.join(map(str, ids.tolist()))}",
    )
    validate(damaged)
    return damaged, keep
