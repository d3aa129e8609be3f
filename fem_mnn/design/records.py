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
from typing import Any

import numpy as np

from fem_mnn.core.errors import InputError
from fem_mnn.design.viscoelastic import Prony

__all__ = ["Design", "Geometry", "Material", "check_widths"]

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
        prony: Optional time dependence: the relaxation modulus as a Prony series
            (:mod:`fem_mnn.design.viscoelastic`). ``E`` keeps its meaning (the modulus
            of a quasi-static test) for every command; only a load protocol uses the
            series. None for a purely elastic material.
    """

    E: float = 0.55
    nu: float = 0.45
    prony: Prony | None = None

    def to_dict(self) -> dict[str, Any]:
        """The design file's ``material`` object (``prony`` only when present, so elastic files are unchanged)."""
        out: dict[str, Any] = {"E": self.E, "nu": self.nu}
        if self.prony is not None:
            out["prony"] = self.prony.to_dict()
        return out


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
            if dtype is float:
                # -0.0 + 0.0 is +0.0: builders that mirror coordinates make -0.0,
                # which would be written as "-0.0" and give the same lattice
                # another hash.
                arr = arr + 0.0
            arr.setflags(write=False)
            object.__setattr__(self, name, arr)
        object.__setattr__(self, "fixed", tuple(int(i) for i in self.fixed))

    @property
    def n_nodes(self) -> int:
        """Number of nodes."""
        return int(self.nodes.shape[0])

    @property
    def n_bonds(self) -> int:
        """Number of bonds."""
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
            "material": self.material.to_dict(),
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
