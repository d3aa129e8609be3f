"""Physical-group tag contract between the geometry and the FE solver.

Every cell of a mesh built by :mod:`fem_mnn.geometry` is in exactly one physical
group; the tag and the name are derived from the bond and node ids (0-based):

=====================  ===============  ======================  ======================
region                 tag              name                    dimension
=====================  ===============  ======================  ======================
bond ``i``             ``10000 + i``    ``bond_{i}``            cells (2D or 3D)
junction hub of node   ``20000 + j``    ``node_{j}``            cells
``j``
overlap near node      ``30000 + j``    ``overlap_{j}``         cells (only when two
``j``                                                           beams overlap outside
                                                                the hub)
exposed hub boundary   ``40000 + j``    ``node_{j}_boundary``   facets (curves in 2D,
of node ``j``                                                   faces in 3D)
=====================  ===============  ======================  ======================

A bond region is the beam between the two hub circles (thin end | bar | thin end).
A hub region is the whole disk (2D) or cylinder (3D) of radius
``design.geometry.junction_radius`` around the node, including the ends of the beams
that reach into it. An overlap region is a piece of two or more beams outside every
hub; it belongs to the node nearest to its centre. ``node_{j}_boundary`` is the part
of the hub's circle (2D) or cylindrical side (3D) that is on the outer boundary of
the lattice, i.e. not covered by a beam.

Ids up to 9999 fit (:data:`MAX_ID`).
"""

from __future__ import annotations

__all__ = [
    "BOND",
    "MAX_ID",
    "NODE",
    "NODE_BOUNDARY",
    "OVERLAP",
    "bond_tag",
    "decode",
    "name",
    "node_boundary_tag",
    "node_tag",
    "overlap_tag",
]

#: Offsets of each kind of region.
BOND = 10000
#: Offset of the hub of node j (``node_{j}``).
NODE = 20000
#: Offset of a beam overlap outside a hub, nearest node j (``overlap_{j}``, normally absent).
OVERLAP = 30000
#: Offset of the exposed hub boundary of node j (facets).
NODE_BOUNDARY = 40000
#: Largest bond or node id the numbering can hold.
MAX_ID = 9999

_KINDS = {BOND: "bond", NODE: "node", OVERLAP: "overlap", NODE_BOUNDARY: "node_boundary"}
_NAMES = {"bond": "bond_{}", "node": "node_{}", "overlap": "overlap_{}", "node_boundary": "node_{}_boundary"}


def _check(i: int) -> int:
    i = int(i)
    if not 0 <= i <= MAX_ID:
        raise ValueError(f"id {i} outside 0..{MAX_ID}")
    return i


def bond_tag(i: int) -> int:
    """Cell tag of bond ``i``."""
    return BOND + _check(i)


def node_tag(j: int) -> int:
    """Cell tag of the junction hub of node ``j``."""
    return NODE + _check(j)


def overlap_tag(j: int) -> int:
    """Cell tag of beam-overlap pieces outside the hub nearest node ``j``."""
    return OVERLAP + _check(j)


def node_boundary_tag(j: int) -> int:
    """Facet tag of the exposed boundary of the hub of node ``j``."""
    return NODE_BOUNDARY + _check(j)


def decode(tag: int) -> tuple[str, int]:
    """Inverse of the tag functions: ``decode(10003) == ("bond", 3)``.

    Raises:
        ValueError: ``tag`` is not a tag of this contract.
    """
    tag = int(tag)
    base = (tag // 10000) * 10000
    if base not in _KINDS:
        raise ValueError(f"{tag} is not a fem_mnn physical-group tag")
    return _KINDS[base], tag - base


def name(tag: int) -> str:
    """Physical-group name of ``tag`` (``bond_3``, ``node_0_boundary``, ...)."""
    kind, i = decode(tag)
    return _NAMES[kind].format(i)
