"""Designs: the lattice a user wants to print, as data.

A :class:`Design` is the first record of the pipeline (design -> geometry/mesh ->
FE solve -> extraction -> learning). It is read from and written to JSON (schema in
the README), validated on construction, and immutable: changing the widths gives a
new design (:meth:`Design.with_widths`).

Units are mm, N and MPa throughout; node and bond ids are 0-based.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from fem_mnn.errors import InputError

__all__ = [
    "Design",
    "Geometry",
    "Material",
    "components",
    "design_from_dict",
    "load_design",
    "paper_sample",
    "parse_design",
    "read_design_json",
    "save_design",
    "triangular_patch",
    "triangular_strip",
]

#: Relative tolerance used when a width sits exactly on a printable bound.
_WIDTH_TOL = 1e-9
#: Largest node coordinate (mm) accepted: far beyond any printer, well below float overflow.
_COORD_MAX = 1e9


@dataclass(frozen=True)
class Material:
    """Linear-elastic material.

    Attributes:
        E: Young's modulus (MPa). The paper's spring model uses 0.55 MPa for
            Agilus30.
        nu: Poisson's ratio. Agilus30 is a nearly incompressible elastomer; 0.45
            keeps the 3D solid well conditioned with P2 elements while staying
            close to incompressible (plane stress does not lock for any nu).
    """

    E: float = 0.55
    nu: float = 0.45


@dataclass(frozen=True)
class Geometry:
    """What the printed beams and junctions look like (all lengths in mm).

    Attributes:
        width_min: Smallest printable bond width.
        width_max: Largest printable bond width.
        thin_end_ratio: Width of a bond's thin ends as a fraction of its width.
        bar_to_thin_end: Length ratio bar : thin end (the paper's 8 : 1).
        junction_radius: Radius of the circular hub at every node; it does not
            depend on the widths, so one width changes one beam only.
        min_feature: Smallest printable feature (checked on thin ends).
    """

    width_min: float = 1.5
    width_max: float = 2.5
    thin_end_ratio: float = 0.5
    bar_to_thin_end: float = 8.0
    junction_radius: float = 2.0
    min_feature: float = 0.5


@dataclass(frozen=True, eq=False)
class Design:
    """A validated lattice design.

    Attributes:
        nodes: (n_nodes, 2) node positions (mm).
        bonds: (n_bonds, 2) node-id pairs, 0-based.
        widths: (n_bonds,) in-plane bond widths (mm).
        thickness: Out-of-plane thickness t (mm).
        material: Elastic constants.
        fixed: Ids of the clamped nodes (both directions).
        geometry: Printing and beam-shape parameters.
        name: Free text label.
    """

    nodes: np.ndarray
    bonds: np.ndarray
    widths: np.ndarray
    thickness: float = 2.0
    material: Material = field(default_factory=Material)
    fixed: tuple[int, ...] = ()
    geometry: Geometry = field(default_factory=Geometry)
    name: str = ""

    def __post_init__(self) -> None:
        for name, dtype in (("nodes", float), ("bonds", np.int64), ("widths", float)):
            arr = np.array(getattr(self, name), dtype=dtype)
            arr.setflags(write=False)
            object.__setattr__(self, name, arr)
        object.__setattr__(self, "fixed", tuple(int(i) for i in self.fixed))

    @property
    def n_nodes(self) -> int:
        return int(self.nodes.shape[0])

    @property
    def n_bonds(self) -> int:
        return int(self.bonds.shape[0])

    @property
    def lengths(self) -> np.ndarray:
        """Node-to-node bond lengths L (mm)."""
        d = self.nodes[self.bonds[:, 1]] - self.nodes[self.bonds[:, 0]]
        return np.hypot(d[:, 0], d[:, 1])

    @property
    def directions(self) -> np.ndarray:
        """(n_bonds, 2) unit vectors from the first to the second node of a bond."""
        d = self.nodes[self.bonds[:, 1]] - self.nodes[self.bonds[:, 0]]
        return d / np.hypot(d[:, 0], d[:, 1])[:, None]

    def with_widths(self, widths: np.ndarray) -> Design:
        """The same design with other widths (validated like any design)."""
        new = dataclasses.replace(self, widths=np.asarray(widths, dtype=float))
        check_widths(new)
        return new

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary (the file schema)."""
        return {
            "name": self.name,
            "units": "mm, N, MPa",
            "nodes": self.nodes.tolist(),
            "bonds": self.bonds.tolist(),
            "widths": self.widths.tolist(),
            "thickness": float(self.thickness),
            "material": dataclasses.asdict(self.material),
            "fixed": list(self.fixed),
            "geometry": dataclasses.asdict(self.geometry),
        }

    def hash(self) -> str:
        """SHA-256 (first 16 hex digits) of the canonical JSON of the design."""
        d = self.to_dict()
        d.pop("name")
        text = json.dumps(d, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()[:16]


# --------------------------------------------------------------------------- I/O


def _number(x: object, src: str | None, fld: str, *, positive: bool = False) -> float:
    if isinstance(x, bool) or not isinstance(x, (int, float)):
        raise InputError("must be a number", source=src, field=fld, value=x, has_value=True)
    try:
        v = float(x)
    except OverflowError:  # a JSON integer too large for a float
        raise InputError("must be finite", source=src, field=fld, value=x, has_value=True) from None
    if not math.isfinite(v):
        raise InputError("must be finite", source=src, field=fld, value=x, has_value=True)
    if positive and v <= 0:
        raise InputError("must be > 0", source=src, field=fld, value=x, has_value=True)
    return v


def _int(x: object, src: str | None, fld: str) -> int:
    if isinstance(x, bool) or not isinstance(x, int):
        if not (isinstance(x, float) and x.is_integer()):
            raise InputError("must be an integer id", source=src, field=fld, value=x, has_value=True)
    v = int(x)
    if not -(2**62) <= v < 2**62:  # ids are stored as int64
        raise InputError("unknown node id (out of range)", source=src, field=fld, value=x, has_value=True)
    return v


def _list(x: object, src: str | None, fld: str) -> list:
    if not isinstance(x, list):
        raise InputError("must be a list", source=src, field=fld, value=x, has_value=True)
    return x


def design_from_dict(data: object, source: str | None = None) -> Design:
    """Build and validate a design from its JSON dictionary.

    Raises:
        InputError: naming ``source``, the field and the offending value.
    """
    design = parse_design(data, source)
    try:
        validate(design)
    except InputError as err:
        raise err.with_source(source) if source else err from None
    return design


def parse_design(data: object, source: str | None = None) -> Design:
    """Build a design from its JSON dictionary checking only types and keys.

    Unlike :func:`design_from_dict` it does not run :func:`validate` (ranges, ids,
    crossings, rigidity), so that ``fem-mnn validate`` can report every geometric
    problem of a design instead of stopping at the first.

    Raises:
        InputError: a key is missing or unknown, or a value has the wrong type.
    """
    src = source
    if not isinstance(data, dict):
        raise InputError("a design must be a JSON object", source=src, value=type(data).__name__)
    for key in ("nodes", "bonds", "widths", "thickness", "material", "fixed"):
        if key not in data:
            raise InputError("missing required key", source=src, field=key)
    known = {"name", "units", "nodes", "bonds", "widths", "thickness", "material", "fixed"}
    known |= {"geometry", "comment"}
    unknown = sorted(set(data) - known, key=str)
    if unknown:
        raise InputError("unknown key", source=src, field=str(unknown[0]))

    nodes = []
    for n, p in enumerate(_list(data["nodes"], src, "nodes")):
        if not isinstance(p, list) or len(p) != 2:
            raise InputError("a node is [x, y]", source=src, field=f"nodes[{n}]", value=p, has_value=True)
        nodes.append([_number(c, src, f"nodes[{n}][{k}]") for k, c in enumerate(p)])
    bonds = []
    for b, pair in enumerate(_list(data["bonds"], src, "bonds")):
        if not isinstance(pair, list) or len(pair) != 2:
            raise InputError("a bond is [i, j]", source=src, field=f"bonds[{b}]", value=pair, has_value=True)
        bonds.append([_int(c, src, f"bonds[{b}][{k}]") for k, c in enumerate(pair)])
    widths = [_number(w, src, f"widths[{b}]") for b, w in enumerate(_list(data["widths"], src, "widths"))]
    thickness = _number(data["thickness"], src, "thickness", positive=True)

    mat = data["material"]
    if not isinstance(mat, dict):
        raise InputError("must be an object {E, nu}", source=src, field="material", value=mat, has_value=True)
    extra = sorted(set(mat) - {"E", "nu"}, key=str)
    if extra:
        raise InputError("unknown key", source=src, field=f"material.{extra[0]}")
    if "E" not in mat:
        raise InputError("missing required key", source=src, field="material.E")
    E = _number(mat["E"], src, "material.E", positive=True)
    nu = _number(mat.get("nu", Material.nu), src, "material.nu")
    if not -1.0 < nu < 0.5:
        raise InputError("must lie in (-1, 0.5)", source=src, field="material.nu", value=nu)

    geo_in = data.get("geometry", {})
    if not isinstance(geo_in, dict):
        raise InputError("must be an object", source=src, field="geometry", value=geo_in, has_value=True)
    geo_fields = {f.name for f in dataclasses.fields(Geometry)}
    extra = sorted(set(geo_in) - geo_fields, key=str)
    if extra:
        raise InputError("unknown key", source=src, field=f"geometry.{extra[0]}")
    geo_vals = {k: _number(v, src, f"geometry.{k}", positive=True) for k, v in geo_in.items()}
    geometry = Geometry(**geo_vals)

    fixed = [_int(i, src, f"fixed[{n}]") for n, i in enumerate(_list(data["fixed"], src, "fixed"))]
    name = data.get("name", "")
    if not isinstance(name, str):
        raise InputError("must be a string", source=src, field="name", value=name, has_value=True)

    design = Design(
        nodes=np.array(nodes, dtype=float).reshape(-1, 2),
        bonds=np.array(bonds, dtype=np.int64).reshape(-1, 2),
        widths=np.array(widths, dtype=float),
        thickness=thickness,
        material=Material(E=E, nu=nu),
        fixed=tuple(fixed),
        geometry=geometry,
        name=name,
    )
    return design


def load_design(path: str | Path) -> Design:
    """Read and validate a design JSON file.

    Raises:
        InputError: the file is missing, not JSON, or not a valid design; the
            message names the file, the field and the value.
    """
    return design_from_dict(read_design_json(path), source=str(path))


class _RepeatedKeyError(ValueError):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _no_repeated_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in pairs:
        if k in out:
            raise _RepeatedKeyError(k)
        out[k] = v
    return out


def read_design_json(path: str | Path) -> Any:
    """The JSON value in a design file, not yet checked (shared by the strict and lenient readers).

    Raises:
        InputError: the file cannot be read or is not JSON; the message names the file.
    """
    path = Path(path)
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise InputError("no such file", source=str(path)) from None
    except (OSError, ValueError) as exc:  # directory, permissions, name too long, NUL byte, not UTF-8
        raise InputError(f"cannot read the file ({exc.__class__.__name__})", source=str(path)) from None
    try:
        data = json.loads(text, object_pairs_hook=_no_repeated_keys)
    except _RepeatedKeyError as exc:
        raise InputError(
            "key given twice (which one counts would be a guess)", source=str(path), field=exc.key
        ) from None
    except json.JSONDecodeError as exc:
        raise InputError(
            f"not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}", source=str(path)
        ) from None
    except (ValueError, RecursionError) as exc:  # integer literal over 4300 digits, nesting too deep
        reason = "nested too deeply" if isinstance(exc, RecursionError) else "a number is too long"
        raise InputError(f"not valid JSON: {reason}", source=str(path)) from None
    return data


def save_design(design: Design, path: str | Path) -> Path:
    """Write the design as JSON (atomically: a reader sees the old or the new file)."""
    from fem_mnn.io import atomic_write_text

    return atomic_write_text(path, json.dumps(design.to_dict(), indent=1) + "\n")


# ---------------------------------------------------------------------- validation


def check_widths(design: Design) -> None:
    """Widths must be finite, > 0 and inside the printable range."""
    g = design.geometry
    if design.widths.shape != (design.n_bonds,):
        raise InputError(
            f"needs one width per bond ({design.n_bonds})",
            field="widths",
            value=design.widths.shape[0] if design.widths.ndim else design.widths,
        )
    for b, w in enumerate(design.widths):
        if not math.isfinite(w):
            raise InputError("must be finite", field=f"widths[{b}]", value=float(w))
        if w <= 0:
            raise InputError("must be > 0", field=f"widths[{b}]", value=float(w))
        tol = _WIDTH_TOL * g.width_max
        if w < g.width_min - tol or w > g.width_max + tol:
            raise InputError(
                f"outside the printable range [{g.width_min}, {g.width_max}] mm",
                field=f"widths[{b}]",
                value=float(w),
            )


def _segments_cross(p1, p2, q1, q2) -> bool:
    """True when segments p1p2 and q1q2 share a point other than a common end."""

    def orient(a, b, c) -> float:
        return (b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0])

    scale = max(np.ptp([p1[0], p2[0], q1[0], q2[0]]), np.ptp([p1[1], p2[1], q1[1], q2[1]]), 1.0)
    eps = 1e-12 * scale * scale
    d1, d2 = orient(q1, q2, p1), orient(q1, q2, p2)
    d3, d4 = orient(p1, p2, q1), orient(p1, p2, q2)
    if ((d1 > eps and d2 < -eps) or (d1 < -eps and d2 > eps)) and (
        (d3 > eps and d4 < -eps) or (d3 < -eps and d4 > eps)
    ):
        return True

    def on_seg(a, b, c, d) -> bool:  # c on segment ab (collinear)
        return (
            abs(d) <= eps
            and min(a[0], b[0]) - 1e-12 <= c[0] <= max(a[0], b[0]) + 1e-12
            and min(a[1], b[1]) - 1e-12 <= c[1] <= max(a[1], b[1]) + 1e-12
        )

    return on_seg(q1, q2, p1, d1) or on_seg(q1, q2, p2, d2) or on_seg(p1, p2, q1, d3) or on_seg(p1, p2, q2, d4)


def crossing_bonds(design: Design) -> list[tuple[int, int]]:
    """Pairs of bonds whose centre lines meet other than at a shared node."""
    nodes, bonds = design.nodes, design.bonds
    lo = np.minimum(nodes[bonds[:, 0]], nodes[bonds[:, 1]])
    hi = np.maximum(nodes[bonds[:, 0]], nodes[bonds[:, 1]])
    out = []
    for a in range(design.n_bonds):
        # bounding-box prefilter keeps this near-linear for lattices
        cand = np.nonzero(np.all(lo[a + 1 :] <= hi[a] + 1e-9, axis=1) & np.all(hi[a + 1 :] >= lo[a] - 1e-9, axis=1))[0]
        for c in cand + a + 1:
            shared = set(bonds[a].tolist()) & set(bonds[c].tolist())
            pa, pb = nodes[bonds[a, 0]], nodes[bonds[a, 1]]
            qa, qb = nodes[bonds[c, 0]], nodes[bonds[c, 1]]
            if shared:
                # bonds sharing a node only clash if they are collinear and overlap
                s = shared.pop()
                oa = bonds[a, 1] if bonds[a, 0] == s else bonds[a, 0]
                oc = bonds[c, 1] if bonds[c, 0] == s else bonds[c, 0]
                u, v = nodes[oa] - nodes[s], nodes[oc] - nodes[s]
                cross = u[0] * v[1] - u[1] * v[0]
                if abs(cross) <= 1e-12 * np.dot(u, u) ** 0.5 * np.dot(v, v) ** 0.5 and np.dot(u, v) > 0:
                    out.append((a, int(c)))
            elif _segments_cross(pa, pb, qa, qb):
                out.append((a, int(c)))
    return out


def components(design: Design) -> np.ndarray:
    """(n_nodes,) label of the connected part (joined by bonds) each node belongs to.

    Works on any design, valid or not, as long as the bond ids are in range.
    """
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    n = design.n_nodes
    b = design.bonds.reshape(-1, 2)
    graph = coo_matrix((np.ones(len(b)), (b[:, 0], b[:, 1])), shape=(n, n))
    return connected_components(graph, directed=False)[1]


def validate(design: Design) -> None:
    """Check a design; raise :class:`InputError` on the first defect found.

    Checks: shapes, finite numbers, node ids, coincident nodes, zero-length and
    duplicate bonds, widths and the printable range, fixed nodes, crossing bonds,
    isolated nodes, and rigidity (no zero-energy mode once the fixed nodes are
    clamped, in the spring model).
    """
    n = design.n_nodes
    if design.nodes.ndim != 2 or design.nodes.shape[1] != 2:
        raise InputError("must be a list of [x, y]", field="nodes")
    if n < 2:
        raise InputError("a lattice needs at least two nodes", field="nodes", value=n)
    if design.n_bonds < 1:
        raise InputError("a lattice needs at least one bond", field="bonds", value=0, has_value=True)
    if not np.all(np.isfinite(design.nodes)):
        i = int(np.argwhere(~np.isfinite(design.nodes))[0][0])
        raise InputError("must be finite", field=f"nodes[{i}]", value=design.nodes[i].tolist())
    if np.any(np.abs(design.nodes) > _COORD_MAX):  # the geometric tests below would overflow
        i = int(np.argwhere(np.abs(design.nodes) > _COORD_MAX)[0][0])
        raise InputError(
            f"coordinates must lie within +-{_COORD_MAX:g} mm", field=f"nodes[{i}]", value=design.nodes[i].tolist()
        )
    g = design.geometry
    if g.width_min > g.width_max:
        raise InputError("must not exceed geometry.width_max", field="geometry.width_min", value=g.width_min)
    if not 0 < g.thin_end_ratio <= 1:
        raise InputError("must lie in (0, 1]", field="geometry.thin_end_ratio", value=g.thin_end_ratio)
    for b, (i, j) in enumerate(design.bonds.tolist()):
        for k, v in enumerate((i, j)):
            if not 0 <= v < n:
                raise InputError(f"unknown node id (nodes are 0..{n - 1})", field=f"bonds[{b}][{k}]", value=v)
        if i == j:
            raise InputError("a bond joins a node to itself", field=f"bonds[{b}]", value=[i, j])
    # coincident nodes (sort by x then compare neighbours within the tolerance)
    scale = max(float(np.ptp(design.nodes[:, 0])), float(np.ptp(design.nodes[:, 1])), 1.0)
    tol = 1e-9 * scale
    order = np.lexsort((design.nodes[:, 1], design.nodes[:, 0]))
    for a_pos in range(n - 1):
        a = order[a_pos]
        for b_pos in range(a_pos + 1, n):
            b = order[b_pos]
            if design.nodes[b, 0] - design.nodes[a, 0] > tol:
                break
            if abs(design.nodes[b, 1] - design.nodes[a, 1]) <= tol:
                i, j = sorted((int(a), int(b)))
                raise InputError(f"coincides with node {i}", field=f"nodes[{j}]", value=design.nodes[j].tolist())
    lengths = design.lengths
    for b, L in enumerate(lengths):
        if L <= tol:
            raise InputError("zero-length bond", field=f"bonds[{b}]", value=design.bonds[b].tolist())
    seen: dict[tuple[int, int], int] = {}
    for b, (i, j) in enumerate(design.bonds.tolist()):
        key = (min(i, j), max(i, j))
        if key in seen:
            raise InputError(f"duplicate of bonds[{seen[key]}]", field=f"bonds[{b}]", value=[i, j])
        seen[key] = b
    check_widths(design)
    for k, i in enumerate(design.fixed):
        if not 0 <= i < n:
            raise InputError(f"unknown node id (nodes are 0..{n - 1})", field=f"fixed[{k}]", value=i)
    if len(set(design.fixed)) != len(design.fixed):
        dup = next(i for i in design.fixed if design.fixed.count(i) > 1)
        raise InputError("node listed twice", field="fixed", value=dup)
    if not design.fixed:
        raise InputError("no fixed node: the lattice can move as a rigid body", field="fixed", value=[], has_value=True)
    used = np.zeros(n, dtype=bool)
    used[design.bonds.ravel()] = True
    if not used.all():
        i = int(np.argmin(used))
        raise InputError("node belongs to no bond", field=f"nodes[{i}]", value=design.nodes[i].tolist())
    crossing = crossing_bonds(design)
    if crossing:
        a, c = crossing[0]
        raise InputError(
            f"crosses bonds[{c}] away from a shared node", field=f"bonds[{a}]", value=design.bonds[a].tolist()
        )
    from fem_mnn.spring import zero_modes

    modes = zero_modes(design)
    if modes.shape[1]:
        # name the node that moves most in the first floppy mode
        m = modes[:, 0].reshape(-1, 2)
        i = int(np.argmax(np.hypot(m[:, 0], m[:, 1])))
        raise InputError(
            f"the fixed nodes do not pin the lattice: {modes.shape[1]} zero-energy mode(s), node {i} moves freely",
            field="fixed",
            value=list(design.fixed),
        )


# ----------------------------------------------------------------- built-in designs


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


def _bonds_at_distance(nodes: np.ndarray, a: float) -> np.ndarray:
    diff = nodes[:, None, :] - nodes[None, :, :]
    dist = np.hypot(diff[..., 0], diff[..., 1])
    i, j = np.nonzero(np.triu(np.abs(dist - a) < 1e-6 * a))
    return np.stack([i, j], axis=1)


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
    """A strip of triangles: ``rows`` rows of ``columns`` nodes, every other row
    shifted by a/2. The two ends of the top row are clamped.
    """
    if columns < 2 or rows < 2:
        raise InputError("needs columns >= 2 and rows >= 2", field="strip", value=(columns, rows))
    _check_spacing(a)
    h = a * math.sqrt(3) / 2
    nodes = np.array([[j * a + (a / 2 if i % 2 else 0.0), -i * h] for i in range(rows) for j in range(columns)])
    return _lattice(
        nodes, a, width, thickness, material, geometry, (0, columns - 1), f"triangular-strip-{columns}x{rows}"
    )
