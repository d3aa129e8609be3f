"""Spring constants k(w) calibrated from FEM of single bonds with the real bond geometry.

The paper's spring law is ``k = E t w / L``. A printed bond is not a prismatic bar
of length L: it is thin end | bar | thin end between two junction hubs, and its
ends widen into the hubs in 2D. :func:`calibrate` meshes *one* bond with its two
hubs (the same Gmsh geometry as the lattice, :mod:`fem_mnn.geometry`), solves it
with the same DOLFINx discretisation as the lattice (:class:`fem_mnn.fem.FemModel`)
and reads the axial stiffness the way the lattice extractor reads elongations.

Boundary conditions (the choice that reproduces the bond's role in the lattice).
The elongation is read, as in the lattice, from hub *region averages*, and the
load is, as in the lattice, a uniform body force over a hub region. Two boundary
conditions bracket a bond of the lattice:

* ``"single"``: one bond between two hubs, hub a clamped, an axial force on hub b,
  ``k = F / ((u_b - u_a) . n)``. Hub b is free to move sideways and to rotate;
  under an axial load of a beam symmetric about its axis neither happens (to
  linear order), so a sliding clamp gives the same. One hub is rigid: the bond
  carries the compliance of one deformable hub.
* ``"chain"``: the middle bond of a straight chain of three bonds (clamped at one
  end, loaded at the other), ``k = F / ((u_2 - u_1) . n)``: both hubs deform and
  pass the whole force straight on to the next bond -- the most compliant case.

In the lattice a hub is shared by up to six bonds whose forces partly cancel, so a
bond sees something in between. The default law (``"mean"``) takes the mean
*compliance* of the two, ``1/k = (1/k_single + 1/k_chain) / 2`` (a midpoint by
construction, not fitted to the lattice). Measured on the paper's bond (L = 16 mm),
``k / (E t w / L)`` at w = 1.5 / 2 / 2.5 mm:

* thin | bar | thin in series, hubs rigid (1D bar theory): 1.111 (any w);
* ``"single"``: 0.959 / 0.933 / 0.910;
* ``"chain"``: 0.842 / 0.804 / 0.773;
* ``"mean"`` (default): 0.897 / 0.863 / 0.836.

The 2D spreading of stress at the thin-end/bar steps and the hubs makes every
value lower than bar theory and the ratio falls with w/L. On the lattice
(``studies/spring_vs_fem.py``) springs with ``"single"`` are ~7 % too stiff,
with ``"chain"`` ~8 % too soft; ``"mean"`` is within ~1 % in overall scale.

The single-bond solve also gives the
transverse response of hub ``b`` to a transverse force (deflection and rotation), reported as a check of the frame
model's bending stiffness (:mod:`fem_mnn.spring.frame`).

Plane stress is linear in ``E t`` (``K = E t K_hat(nu)``): the table stores
``k / (E t)``, so one calibration serves every modulus (the material fit of
``studies/vs_experiment.py`` changes E, not the table). The cache key holds what
``K_hat`` depends on: nu, the beam geometry parameters, L, the element degree and
the mesh options (and t for 3D solids, where ``k`` is not proportional to ``t``).

The table is a grid of widths over (by default) ``0.4 width_min .. 1.6 width_max``,
and the law is a cubic spline through it (not-a-knot), giving ``k`` and ``dk/dw``;
widths outside the grid raise :class:`~fem_mnn.core.errors.InputError`.

Functions that solve are collective over MPI (call on every rank); only rank 0
writes the cache file.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from fem_mnn.core.errors import InputError
from fem_mnn.core.files import atomic_write_json
from fem_mnn.core.log import get_logger
from fem_mnn.core.paths import cache_dir, shipped_data
from fem_mnn.design.outline import beam_layout
from fem_mnn.design.records import Design
from fem_mnn.fem.linear import FemModel, FemOptions
from fem_mnn.geometry.build import GEOMETRY_VERSION

__all__ = [
    "CACHE_ENV",
    "CalibratedLaw",
    "CalibrationTable",
    "DEFAULT_CACHE",
    "SHIPPED",
    "METHODS",
    "calibrate",
    "calibrated_law",
    "calibration_key",
    "chain_design",
    "default_width_grid",
    "single_bond_design",
    "series_stiffness",
]

log = get_logger(__name__)

#: Environment variable that may point at the cache file.
CACHE_ENV = "FEM_MNN_CALIBRATION"
#: Calibrations shipped with the package (read-only).
SHIPPED = shipped_data("k_w.json")
#: Default cache file for new calibrations (JSON, in the user cache directory).
DEFAULT_CACHE = cache_dir() / "k_w.json"
_FORMAT = 1
#: Boundary conditions of the calibrated law (see the module docstring).
METHODS = ("mean", "single", "chain")
#: Geometry parameters that shape a bond (the printable range and min_feature do not).
_SHAPE_KEYS = ("thin_end_ratio", "bar_to_thin_end", "junction_radius")


def _cache_path(path: str | Path | None) -> Path:
    if path is not None:
        return Path(path)
    env = os.environ.get(CACHE_ENV)
    return Path(env).expanduser() if env else DEFAULT_CACHE


@dataclass(frozen=True)
class CalibrationTable:
    """Calibrated axial stiffness of one bond geometry on a grid of widths.

    Attributes:
        key: Cache key (:func:`calibration_key`).
        params: What the key was made of (JSON-ready).
        widths: (n,) bar widths w (mm), increasing.
        k_single_per_Et: (n,) axial stiffness divided by E t (mm^-1; 2D; in 3D
            divided by E, mm) of a single bond, hub a clamped, hub b loaded by a
            body force (the default law).
        k_chain_per_Et: (n,) the same for the middle bond of a 3-bond chain (the
            alternative boundary condition).
        transverse_u: (n,) deflection of hub b under a unit transverse force,
            times E t (2D; mm N^-1 MPa mm).
        transverse_rot: (n,) rotation of hub b under that force, times E t.
        n_dofs: (n,) dofs of each single-bond solve.
    """

    key: str
    params: dict
    widths: np.ndarray
    k_single_per_Et: np.ndarray
    k_chain_per_Et: np.ndarray
    transverse_u: np.ndarray
    transverse_rot: np.ndarray
    n_dofs: np.ndarray

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready record."""
        return {
            "params": self.params,
            "widths": self.widths.tolist(),
            "k_single_per_Et": self.k_single_per_Et.tolist(),
            "k_chain_per_Et": self.k_chain_per_Et.tolist(),
            "transverse_u": self.transverse_u.tolist(),
            "transverse_rot": self.transverse_rot.tolist(),
            "n_dofs": self.n_dofs.tolist(),
        }

    @classmethod
    def from_dict(cls, key: str, d: dict[str, Any]) -> CalibrationTable:
        """Inverse of :meth:`to_dict`."""
        return cls(
            key=key,
            params=d["params"],
            widths=np.asarray(d["widths"], float),
            k_single_per_Et=np.asarray(d["k_single_per_Et"], float),
            k_chain_per_Et=np.asarray(d["k_chain_per_Et"], float),
            transverse_u=np.asarray(d["transverse_u"], float),
            transverse_rot=np.asarray(d["transverse_rot"], float),
            n_dofs=np.asarray(d["n_dofs"], int),
        )

    def k(self, method: str = "mean") -> np.ndarray:
        """k/(E t) on the grid for a boundary condition: "single", "chain" or "mean".

        "mean" is the mean compliance of the two: ``1/k = (1/k_single + 1/k_chain) / 2``.
        """
        if method == "single":
            return self.k_single_per_Et
        if method == "chain":
            return self.k_chain_per_Et
        return 2.0 / (1.0 / self.k_single_per_Et + 1.0 / self.k_chain_per_Et)

    def spline(self, method: str = "mean") -> Any:
        """Cubic spline (not-a-knot) of k/(E t) in w for ``method`` (see :meth:`k`)."""
        from scipy.interpolate import CubicSpline

        return CubicSpline(self.widths, self.k(method))


def single_bond_design(design: Design, length: float, width: float) -> Design:
    """A design with one bond of ``length`` and ``width`` between two hubs (node 0 clamped).

    Material, thickness and geometry parameters are those of ``design``. The design
    is not validated as a lattice (node 1 is held only by the beam's bending).
    """
    return Design(
        nodes=np.array([[0.0, 0.0], [float(length), 0.0]]),
        bonds=np.array([[0, 1]]),
        widths=np.array([float(width)]),
        thickness=design.thickness,
        material=design.material,
        fixed=(0,),
        geometry=design.geometry,
        name="single-bond",
    )


def series_stiffness(design: Design, widths: np.ndarray, hubs: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Closed form: thin end | bar | thin end as springs in series (1D bar theory).

    ``1/k = 2 l_t / (E t c w) + l_b / (E t w)`` (+ nothing for rigid hubs), with
    ``c`` the thin-end ratio, ``l_t``, ``l_b`` from :func:`fem_mnn.design.outline.beam_layout`.
    With ``hubs=False`` the free length is the whole L (no hubs).

    Returns:
        (k, dk/dw) per bond (N/mm, N/mm^2).
    """
    w = np.asarray(widths, float)
    g = design.geometry
    L = design.lengths
    if hubs:
        lay = beam_layout(dataclasses.replace(design, widths=w))
        lt, lb = lay.thin_length, lay.bar_length
    else:
        lt = L / (g.bar_to_thin_end + 2.0)
        lb = g.bar_to_thin_end * lt
    Et = design.material.E * design.thickness
    eff = 2.0 * lt / g.thin_end_ratio + lb  # k = E t w / eff
    k = Et * w / eff
    return k, Et / eff


def default_width_grid(design: Design, n: int = 12) -> np.ndarray:
    """``n`` widths from 0.4 width_min to 1.6 width_max (mm)."""
    g = design.geometry
    return np.linspace(0.4 * g.width_min, 1.6 * g.width_max, n)


#: FE options that choose how the linear system is solved, not what is solved: they change
#: k only by the solver's tolerance (direct and CG + GAMG agree to ~1e-11), so they stay
#: out of the cache key (calibrations made before these options existed stay valid).
_SOLVER_KEYS = ("linear_solver", "petsc_options")


def _options_dict(options: Any) -> dict[str, Any]:
    d = {k: v for k, v in dataclasses.asdict(options).items() if k not in _SOLVER_KEYS}
    if d.get("mesh") is not None and not isinstance(d["mesh"], dict):
        d["mesh"] = repr(d["mesh"])
    return d


def calibration_key(design: Design, length: float, options: Any, widths: np.ndarray) -> tuple[str, dict]:
    """Cache key and its parameters for one bond length.

    The key covers what k/(E t) depends on: nu, the shape parameters of the geometry
    (thin-end ratio, bar : thin-end ratio, hub radius) and the geometry code's version,
    the length, the FE options and the width grid (and t in 3D). E is left out: k is
    proportional to E.
    """
    params = {
        "format": _FORMAT,
        "method": "single+chain3",
        # the meshed shape of the same parameters changes with the geometry code (hubs built
        # on the beams' arcs since version 3 move k by ~1e-4): a table of another version is stale
        "geometry_version": GEOMETRY_VERSION,
        "nu": float(design.material.nu),
        "geometry": {k: v for k, v in dataclasses.asdict(design.geometry).items() if k in _SHAPE_KEYS},
        "length": round(float(length), 9),
        "fem": _options_dict(options),
        "widths": [round(float(w), 9) for w in widths],
    }
    if options.dim == 3:
        params["thickness"] = float(design.thickness)
    text = json.dumps(params, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16], params


def _read_cache(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return {"format": _FORMAT, "entries": {}}
    except (OSError, json.JSONDecodeError) as exc:
        raise InputError(f"cannot read the calibration cache ({exc.__class__.__name__})", source=str(path)) from None
    if not isinstance(data, dict) or not isinstance(data.get("entries"), dict):
        raise InputError("not a calibration cache (no 'entries')", source=str(path))
    return data


def chain_design(design: Design, length: float, width: float, n_bonds: int = 3) -> Design:
    """A straight chain of ``n_bonds`` equal bonds (node 0 clamped) with ``design``'s material and geometry."""
    x = np.arange(n_bonds + 1, dtype=float) * float(length)
    return Design(
        nodes=np.stack([x, np.zeros_like(x)], axis=1),
        bonds=np.stack([np.arange(n_bonds), np.arange(1, n_bonds + 1)], axis=1),
        widths=np.full(n_bonds, float(width)),
        thickness=design.thickness,
        material=design.material,
        fixed=(0,),
        geometry=design.geometry,
        name="bond-chain",
    )


def _solve_table(design: Design, length: float, widths: np.ndarray, options: Any, comm: Any) -> dict[str, Any]:
    """Chain and single-bond FEM solves for every width (collective)."""
    E, t = design.material.E, design.thickness
    scale = E * t if options.dim == 2 else E
    k, ks, tu, tr, nd = [], [], [], [], []
    for w in widths:
        # the calibrated k: middle bond of a 3-bond chain, both hubs deformable and loaded through
        op = FemModel(chain_design(design, length, float(w)), options, comm=comm).operator()
        F = np.zeros((4, 2))
        F[3, 0] = 1.0
        u = op.solve(F).u[0, :, 0]
        k.append(1.0 / (u[2] - u[1]) / scale)
        nd.append(op.n_dofs)
        op.destroy()
        # single bond: hub a clamped, hub b loaded (axial and transverse)
        op = FemModel(single_bond_design(design, length, float(w)), options, comm=comm).operator()
        F = np.zeros((2, 2, 2))
        F[0, 1, 0] = 1.0
        F[1, 1, 1] = 1.0
        s = op.solve_fields(F)
        ks.append(1.0 / (s.u[0, 1, 0] - s.u[0, 0, 0]) / scale)
        tu.append(s.u[1, 1, 1] * scale)
        tr.append(s.rotation[1, 1] * scale)
        op.destroy()
    return {"k_chain_per_Et": k, "k_single_per_Et": ks, "transverse_u": tu, "transverse_rot": tr, "n_dofs": nd}


def calibrate(
    design: Design,
    length: float | None = None,
    widths: Sequence[float] | None = None,
    options: Any = None,
    cache: str | Path | None = None,
    comm: Any = None,
    refresh: bool = False,
) -> CalibrationTable:
    """The calibration table of one bond length, from the cache or by FEM (collective).

    Args:
        design: Supplies nu, t, E and the beam geometry parameters.
        length: Bond length L (mm); default the design's first bond length.
        widths: Width grid (mm); default :func:`default_width_grid`.
        options: :class:`fem_mnn.fem.FemOptions` (default P2 plane stress, default mesh).
        cache: Cache file (default: the shipped table :data:`SHIPPED`, then ``$FEM_MNN_CALIBRATION``
            or :data:`DEFAULT_CACHE` in the user cache directory, where new tables are written).
        comm: MPI communicator (default COMM_WORLD).
        refresh: Recompute even if cached.

    Returns:
        The table (k/(E t) on the grid, transverse checks).
    """
    options = options or FemOptions()
    L = float(design.lengths[0] if length is None else length)
    grid = np.asarray(default_width_grid(design) if widths is None else widths, float)
    if grid.ndim != 1 or grid.size < 4 or np.any(np.diff(grid) <= 0) or np.any(grid <= 0):
        raise InputError("needs >= 4 increasing widths > 0", field="widths", value=grid.tolist())
    key, params = calibration_key(design, L, options, grid)
    path = _cache_path(cache)
    if comm is None:
        from mpi4py import MPI

        comm = MPI.COMM_WORLD
    entry = None
    if not refresh:
        entry = None
        if comm.rank == 0:
            # the shipped table first (default cache only), then the writable cache
            for src in ([SHIPPED] if cache is None and SHIPPED.exists() else []) + [path]:
                entry = entry or _read_cache(src)["entries"].get(key)
        entry = comm.bcast(entry, root=0)
    if entry is None:
        if comm.rank == 0:
            log.info("calibrating k(w) for L = %g mm on %d widths", L, grid.size)
        res = _solve_table(design, L, grid, options, comm)
        entry = {"params": params, "widths": grid.tolist(), **res}
        if comm.rank == 0:
            data = _read_cache(path)  # re-read: another process may have added entries
            data["entries"][key] = entry
            path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_json(path, data, provenance=False)
    return CalibrationTable.from_dict(key, entry)


@dataclass(frozen=True)
class CalibratedLaw:
    """A :data:`fem_mnn.contract.SpringLaw` from calibration tables: ``law(design, widths) -> (k, dk/dw)``.

    ``k = E t * spline_L(w)`` for each bond, with the spline of its length
    (2D; in 3D ``k = E * spline_L(w)``).

    Attributes:
        tables: One table per bond length.
        dim: 2 or 3 (how the table scales with E and t).
        method: ``"mean"`` (default), ``"single"`` or ``"chain"`` (module docstring).
    """

    tables: tuple[CalibrationTable, ...]
    dim: int = 2
    method: str = "mean"

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise InputError(f"must be one of {METHODS}", field="method", value=self.method)

    def _table(self, L: float) -> CalibrationTable:
        for tab in self.tables:
            if abs(tab.params["length"] - L) <= 1e-6 * max(L, 1.0):
                return tab
        raise InputError("no calibration for this bond length", field="length", value=L, has_value=True)

    def __call__(self, design: Design, widths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        w = np.asarray(widths, float)
        scale = design.material.E * (design.thickness if self.dim == 2 else 1.0)
        k = np.empty_like(w)
        dk = np.empty_like(w)
        for i, L in enumerate(design.lengths):
            tab = self._table(float(L))
            lo, hi = tab.widths[0], tab.widths[-1]
            if not lo - 1e-9 <= w[i] <= hi + 1e-9:
                raise InputError(
                    f"outside the calibrated widths {lo:g}..{hi:g} mm", field=f"widths[{i}]", value=float(w[i])
                )
            sp = tab.spline(self.method)
            k[i] = scale * float(sp(w[i]))
            dk[i] = scale * float(sp(w[i], 1))
        return k, dk

    def ratio_to_nominal(self, design: Design, widths: np.ndarray) -> np.ndarray:
        """k_calibrated / (E t w / L) per bond."""
        k, _ = self(design, widths)
        return k / (design.material.E * design.thickness * np.asarray(widths, float) / design.lengths)


def calibrated_law(
    design: Design,
    widths: Sequence[float] | None = None,
    options: Any = None,
    cache: str | Path | None = None,
    comm: Any = None,
    method: str = "mean",
) -> CalibratedLaw:
    """Calibrate every distinct bond length of ``design`` (collective) and return the law.

    The result can be passed as ``law=`` to :class:`fem_mnn.spring.SpringModel` and
    :class:`fem_mnn.fem.FemModel` (the estimate law of the in situ gradient).
    """
    options = options or FemOptions()
    lengths = np.unique(np.round(design.lengths, 6))
    tables = tuple(calibrate(design, float(L), widths, options, cache, comm) for L in lengths)
    return CalibratedLaw(tables=tables, dim=options.dim, method=method)
