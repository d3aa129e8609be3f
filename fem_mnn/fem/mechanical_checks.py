"""Pre-print mechanical checks under the design loads: will the lattice hold, and stay linear?

:func:`mechanical_report` runs four checks, each with a status (``pass``, ``warn``,
``fail``) and the numbers behind it:

* **rigidity**: no zero-energy mode of the pin-jointed spring network once the fixed
  nodes are clamped (:func:`fem_mnn.design.rigidity.zero_modes`). The continuum with welded
  joints has no exact zero mode when it is connected; a spring-network mechanism
  shows up there as a bending-dominated, very compliant mode, which is what the
  in situ rule (elongations only) cannot learn. Floppy = ``fail``.
* **strain**: peak principal strain (engineering, principal stretch - 1, from the
  neo-Hookean solution; the linear one when ``nonlinear=False``) and peak von Mises
  stress under the design loads, with the bond or junction and the point where they
  occur, against :class:`MaterialLimits`. Values are cell-centre values of P2 fields:
  the thin-end steps are sharp re-entrant corners, so the peak grows slowly with
  refinement there (a stress singularity of the idealised geometry); read it as
  "strain at the resolution of the mesh", the region where it occurs is robust.
* **buckling**: first load factor of linear eigenvalue buckling
  (:mod:`fem_mnn.fem.buckling`); ``fail`` below 1, ``warn`` below the safety factor.
* **self-contact** (``CheckOptions.regime = "nonlinear"`` only): hubs and beams that are not
  printed together must not overlap in the deformed lattice (:mod:`fem_mnn.design.contact`).
* **linear regime**: the load factor at which the nonlinear node displacements or
  elongations depart from the linear prediction by more than a tolerance
  (:mod:`fem_mnn.fem.nonlinear`); ``warn`` when that is below 1 (the in situ gradient
  is then off by about the same fraction), ``fail`` when the neo-Hookean load path does
  not reach the design loads: Newton does not converge, the time budget is spent, or
  the first buckling load comes first.

Order and cost. The linear checks (rigidity, the linear solve, buckling) are cheap and
run first. The linear-regime check's Newton path runs last and never goes beyond
:attr:`CheckOptions.buckling_fraction` (0.9) of the first (linear) buckling load factor:
beyond it the path would bisect into the bifurcation, where Newton has no unique
answer to converge to. The whole of :func:`mechanical_report` has a time budget
(:attr:`CheckOptions.budget`, 300 s by default; ``fem-mnn validate --check-budget``),
polled between Newton iterations: when it is spent, the path stops and the check fails
with the load factor it reached. Each Newton solve of the path logs one progress line
(load factor, Newton iterations, residual, elapsed) on stderr. ``stop`` (the command
line's :class:`~fem_mnn.core.signals.StopOnSignal`) is polled at the same points and
between the stages: Ctrl-C or SIGTERM then ends the checks with KeyboardInterrupt
before anything is written.

The result is a :class:`MechanicalReport` (JSON via :meth:`MechanicalReport.to_dict`,
text via :meth:`MechanicalReport.to_text`, a markdown page with PNGs via
:meth:`MechanicalReport.write`). The command line adds ``--loads I:FX,FY`` to
``fem-mnn validate`` through :mod:`fem_mnn.commands.validate`.

Everything that touches the FE model is collective over ``comm``; pictures and files
are made on rank 0.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

if TYPE_CHECKING:
    import dolfinx.fem
    from mpi4py import MPI

    from fem_mnn.fem.buckling import BucklingResult
    from fem_mnn.fem.linear import Discretisation, FemOptions
    from fem_mnn.fem.nonlinear import NonlinearModel, NonlinearSolution

from fem_mnn.core.errors import EngineError, InputError
from fem_mnn.core.files import atomic_savefig, atomic_write_json, atomic_write_text, to_jsonable
from fem_mnn.core.log import get_logger
from fem_mnn.core.version import __version__
from fem_mnn.design.outline import beam_layout
from fem_mnn.design.records import Design
from fem_mnn.design.rigidity import zero_modes

__all__ = [
    "BUCKLING_FRACTION",
    "DEFAULT_CHECK_BUDGET",
    "Check",
    "CheckOptions",
    "MaterialLimits",
    "MechanicalReport",
    "PeakValue",
    "contact_check",
    "mechanical_report",
]

PASS, WARN, FAIL = "pass", "warn", "fail"

#: Seconds the mechanical checks may take by default (``fem-mnn validate --check-budget``):
#: the paper's sample at the default mesh takes well under a minute; a 330k-dof lattice
#: gets its linear checks and a few Newton steps within it.
DEFAULT_CHECK_BUDGET = 300.0

#: The linear-regime path stops at this fraction of the first buckling load factor:
#: close enough to show the softening before buckling, far enough that Newton is not
#: asked to converge at the bifurcation (where its tangent is singular).
BUCKLING_FRACTION = 0.9

log = get_logger(__name__)


@dataclass(frozen=True)
class MaterialLimits:
    """Strength of the printed material (defaults: Agilus30, Stratasys datasheet ranges).

    Attributes:
        strain_at_break: Elongation at break (engineering strain). Agilus30: 220-270 %;
            the lower end is used.
        tensile_strength: Tensile strength (MPa). Agilus30: 2.4-3.1 MPa; lower end.
        working_strain: Largest principal strain allowed in service (0.25): about a
            ninth of the elongation at break, where a neo-Hookean fit at E = 0.55 MPa
            is still close to the material and creep/fatigue of the printed elastomer
            stay small. A peak between the working strain and the break strain is a
            warning, beyond the break strain a failure.
        working_stress: Largest von Mises stress allowed in service (MPa), a third of
            the tensile strength by default.
    """

    strain_at_break: float = 2.2
    tensile_strength: float = 2.4
    working_strain: float = 0.25
    working_stress: float = 0.8


@dataclass(frozen=True)
class CheckOptions:
    """What to check and against what.

    Attributes:
        limits: Material limits.
        buckling_safety: Warn when the first buckling load factor is below this
            (fail below 1).
        linear_tolerance: Relative departure of the nonlinear from the linear model
            that ends the "linear regime" (0.05 = 5 %).
        margin_factors: Load factors probed for the linear-regime margin.
        nonlinear: Solve the neo-Hookean model (strain check at large deformation and
            linear-regime margin); False keeps the linear checks only.
        fem: :class:`fem_mnn.fem.FemOptions` (None = defaults: P2 plane stress).
        n_modes: Buckling modes to compute.
        pictures: Draw PNGs when writing the report (2D meshes only).
        budget: Seconds for all the checks (meshing included), polled between Newton
            iterations of the linear-regime path; when spent the path stops and the
            check fails with the load factor reached. Default :data:`DEFAULT_CHECK_BUDGET`.
        buckling_fraction: The linear-regime path ends at this fraction of the first
            buckling load factor (:data:`BUCKLING_FRACTION`).
        regime: ``"linear"`` (the design must stay below buckling: the path stops short of it,
            buckling below 1 fails) or ``"nonlinear"`` (a design meant to work in large
            deformation, through buckling: the neo-Hookean path goes to the design loads, buckling
            below 1 is a warning, and the deformed lattice is checked for self-contact).
    """

    limits: MaterialLimits = field(default_factory=MaterialLimits)
    buckling_safety: float = 2.0
    linear_tolerance: float = 0.05
    margin_factors: tuple[float, ...] = (0.25, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0)
    nonlinear: bool = True
    fem: FemOptions | None = None
    n_modes: int = 4
    pictures: bool = True
    budget: float = DEFAULT_CHECK_BUDGET
    buckling_fraction: float = BUCKLING_FRACTION
    regime: str = "linear"

    def __post_init__(self) -> None:
        if self.regime not in ("linear", "nonlinear"):
            raise InputError("must be 'linear' or 'nonlinear'", field="regime", value=self.regime)
        if not (isinstance(self.budget, (int, float)) and self.budget > 0 and math.isfinite(self.budget)):
            raise InputError("must be a finite number of seconds > 0", field="budget", value=self.budget)
        if not 0 < self.buckling_fraction < 1:
            raise InputError("must be in (0, 1)", field="buckling_fraction", value=self.buckling_fraction)


class Check(NamedTuple):
    """One check: name, status (pass / warn / fail), one-line summary and its numbers."""

    name: str
    status: str
    summary: str
    values: dict


class PeakValue(NamedTuple):
    """Largest value of a cell field and where it occurs."""

    value: float
    region: str
    """``bond i``, ``junction j`` or ``overlap j``."""
    point: tuple[float, float]
    """Cell centre in the reference configuration (mm)."""


@dataclass(frozen=True)
class MechanicalReport:
    """Mechanical checks of one design under one load case.

    Attributes:
        design_name: The design's name.
        design_hash: :meth:`Design.hash`.
        loads: ``[[node, fx, fy], ...]`` non-zero design loads (N).
        checks: The checks in order (rigidity, strain, buckling, linear regime).
        n_dofs: FE displacement dofs (0 if no FE model was built).
        figures: PNG file names written next to the report (empty until written).
    """

    design_name: str
    design_hash: str
    loads: tuple
    checks: tuple
    n_dofs: int = 0
    figures: tuple = ()

    @property
    def status(self) -> str:
        """Worst status of the checks."""
        s = [c.status for c in self.checks]
        return FAIL if FAIL in s else WARN if WARN in s else PASS

    @property
    def ok(self) -> bool:
        """No check failed (warnings allowed)."""
        return self.status != FAIL

    def check(self, name: str) -> Check:
        """The check called ``name``."""
        for c in self.checks:
            if c.name == name:
                return c
        raise KeyError(name)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary."""
        return {
            "kind": "mechanical_report",
            "package_version": __version__,
            "design_name": self.design_name,
            "design_hash": self.design_hash,
            "units": "mm, N, MPa",
            "loads": [list(x) for x in self.loads],
            "status": self.status,
            "checks": [
                {"name": c.name, "status": c.status, "summary": c.summary, "values": to_jsonable(c.values)}
                for c in self.checks
            ],
            "n_dofs": self.n_dofs,
            "figures": list(self.figures),
        }

    def to_text(self) -> str:
        """Readable lines, one per check."""
        lines = [
            f"mechanical checks of {self.design_name or self.design_hash} under loads {[list(x) for x in self.loads]} (N):"
        ]
        for c in self.checks:
            lines.append(f"  [{c.status.upper():4}] {c.name}: {c.summary}")
        lines.append(f"mechanical: {self.status.upper()}")
        return "\n".join(lines) + "\n"

    def to_markdown(self) -> str:
        """A readable page (pictures referenced by file name)."""
        out = [f"# Mechanical checks: {self.design_name or self.design_hash}\n"]
        out.append(
            f"Design hash `{self.design_hash}`, {self.n_dofs} FE dofs, loads (node, Fx, Fy in N): {[list(x) for x in self.loads]}.\n"
        )
        out.append(f"**Overall: {self.status.upper()}**\n")
        out.append("| check | status | result |\n|---|---|---|")
        for c in self.checks:
            out.append(f"| {c.name} | {c.status.upper()} | {c.summary} |")
        out.append("")
        for c in self.checks:
            out.append(f"## {c.name}\n\n```json\n{json.dumps(to_jsonable(c.values), indent=1)}\n```\n")
        captions = {
            "deformed.png": "Deformed shape under the design loads (true scale), colour = |u| (mm).",
            "strain.png": "Peak principal strain per cell (engineering), reference configuration.",
            "buckling_mode.png": "First buckling mode (scaled), colour = |phi|.",
        }
        for f in self.figures:
            out.append(f"![{f}]({f})\n\n{captions.get(f, '')}\n")
        return "\n".join(out)

    def write(self, out_dir: str | Path) -> Path:
        """Write ``mechanical.json`` and ``mechanical.md`` (pictures are written by :func:`mechanical_report`)."""
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        atomic_write_json(out / "mechanical.json", self.to_dict())
        atomic_write_text(out / "mechanical.md", self.to_markdown())
        return out


# ------------------------------------------------------------------------ checks


def rigidity_check(design: Design) -> Check:
    """Spring-network zero modes with the fixed nodes clamped (local, cheap)."""
    modes = zero_modes(design)
    m = modes.shape[1]
    if m == 0:
        return Check("rigidity", PASS, "no zero-energy mode with the fixed nodes clamped", {"zero_modes": 0})
    mode = modes[:, 0].reshape(-1, 2)
    amp = np.hypot(mode[:, 0], mode[:, 1])
    moving = [int(i) for i in np.nonzero(amp > 1e-6 * amp.max())[0]]
    return Check(
        "rigidity",
        FAIL,
        f"{m} zero-energy mode(s) of the spring network: nodes {moving} move without stretching any bond "
        "(in the printed part only beam bending resists them)",
        {"zero_modes": m, "moving_nodes_first_mode": moving, "first_mode": mode},
    )


def _cell_fields(
    model: NonlinearModel | Discretisation, u: dolfinx.fem.Function, nonlinear: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(strain_max, strain_min, von_mises) per owned cell at the cell centre (collective).

    ``model`` is the nonlinear model (its discretisation and strain energy) or, for
    the linear state, the :class:`~fem_mnn.fem.linear.Discretisation` itself.
    """
    import dolfinx.fem
    import ufl

    from fem_mnn.fem.nonlinear import NonlinearModel  # lazy: DOLFINx

    disc = model.disc if isinstance(model, NonlinearModel) else model
    mesh = disc.mesh
    Q = dolfinx.fem.functionspace(mesh, ("DG", 0))
    gdim = disc.gdim
    Id = ufl.Identity(gdim)
    if nonlinear:
        if not isinstance(model, NonlinearModel):
            raise EngineError("the nonlinear stretches and stresses need a NonlinearModel")
        Fd = Id + ufl.grad(u)
        C = Fd.T * Fd
        if gdim == 2:
            tr, det = ufl.tr(C), ufl.det(C)
            disc_ = ufl.sqrt(ufl.max_value((tr / 2) ** 2 - det, 0.0))
            l1 = ufl.sqrt(tr / 2 + disc_)
            l2 = ufl.sqrt(ufl.max_value(tr / 2 - disc_, 1e-30))
            l3 = model.stretch_33(u)
            smax = ufl.max_value(ufl.max_value(l1, l2), l3) - 1
            smin = ufl.min_value(ufl.min_value(l1, l2), l3) - 1
            Fv = ufl.variable(Fd)
            P = ufl.diff(model.energy_density_of_F(Fv), Fv)
            J = ufl.det(Fd) * l3
            sig = P * Fd.T / J
        else:
            # 3D: principal stretches need a 3x3 eigen-solve; use Green-Lagrange bounds
            E_gl = 0.5 * (C - Id)
            e_vm = ufl.sqrt(ufl.inner(E_gl, E_gl))
            smax = ufl.sqrt(1 + 2 * e_vm) - 1
            smin = -smax
            Fv = ufl.variable(Fd)
            P = ufl.diff(model.energy_density_of_F(Fv), Fv)
            sig = P * Fd.T / ufl.det(Fd)
    else:
        eps = ufl.sym(ufl.grad(u))
        if gdim == 2:
            nu = disc.design.material.nu
            tr, det = ufl.tr(eps), ufl.det(eps)
            r = ufl.sqrt(ufl.max_value((tr / 2) ** 2 - det, 0.0))
            e33 = -nu / (1 - nu) * tr
            smax = ufl.max_value(tr / 2 + r, e33)
            smin = ufl.min_value(tr / 2 - r, e33)
        else:
            smax = ufl.sqrt(ufl.inner(eps, eps))
            smin = -smax
        sig = disc.sigma(u)
    if gdim == 2:
        vm = ufl.sqrt(sig[0, 0] ** 2 - sig[0, 0] * sig[1, 1] + sig[1, 1] ** 2 + 3 * sig[0, 1] ** 2)
    else:
        s = sig - ufl.tr(sig) / 3 * Id
        vm = ufl.sqrt(1.5 * ufl.inner(s, s))
    n_owned = mesh.topology.index_map(mesh.topology.dim).size_local
    cell_dof = Q.dofmap.list[:n_owned, 0]
    out = []
    for expr in (smax, smin, vm):
        f = dolfinx.fem.Function(Q)
        f.interpolate(dolfinx.fem.Expression(expr, Q.element.interpolation_points))
        out.append(f.x.array[cell_dof].copy())
    return out[0], out[1], out[2]


def _peak(values: np.ndarray, disc: Discretisation, comm: MPI.Comm, sign: float = 1.0) -> PeakValue:
    """Largest sign*value over all ranks, with its region and cell centre (collective)."""
    import dolfinx.mesh

    mesh = disc.mesh
    tdim = mesh.topology.dim
    if values.size:
        k = int(np.argmax(sign * values))
        mid = dolfinx.mesh.compute_midpoints(mesh, tdim, np.array([k], dtype=np.int32))[0]
        b, j = int(disc.regions.bond_of_cell[k]), int(disc.regions.node_of_cell[k])
        local = (float(sign * values[k]), b, j, float(mid[0]), float(mid[1]))
    else:
        local = (-math.inf, -1, -1, 0.0, 0.0)
    best = max(comm.allgather(local), key=lambda t: t[0])
    v, b, j, x, y = best
    if b >= 0:
        region = f"bond {b} ({_bond_part(disc.design, b, np.array([x, y]))})"
    else:
        region = f"junction {j}" if j >= 0 else "unassigned"
    return PeakValue(value=sign * v, region=region, point=(x, y))


def _bond_part(design: Design, b: int, point: np.ndarray) -> str:
    """Which part of bond ``b`` a point lies in: a thin end (named by its node) or the bar."""
    lay = beam_layout(design)
    a, c = (int(k) for k in design.bonds[b])
    s = float(np.dot(point - design.nodes[a], design.directions[b]))
    if s < lay.radius + lay.thin_length[b]:
        return f"thin end at node {a}"
    if s > lay.length[b] - lay.radius - lay.thin_length[b]:
        return f"thin end at node {c}"
    return "bar"


def _region_max(
    values: np.ndarray, disc: Discretisation, comm: MPI.Comm, design: Design
) -> tuple[np.ndarray, np.ndarray]:
    """Per-bond and per-junction maxima of a cell field (collective)."""
    from mpi4py import MPI

    nb, nn = design.n_bonds, design.n_nodes
    bmax = np.full(nb, -np.inf)
    nmax = np.full(nn, -np.inf)
    sel = disc.regions.bond_of_cell >= 0
    np.maximum.at(bmax, disc.regions.bond_of_cell[sel], values[sel])
    sel = disc.regions.node_of_cell >= 0
    np.maximum.at(nmax, disc.regions.node_of_cell[sel], values[sel])
    gb, gn = np.empty_like(bmax), np.empty_like(nmax)
    comm.Allreduce(bmax, gb, op=MPI.MAX)
    comm.Allreduce(nmax, gn, op=MPI.MAX)
    return gb, gn


def strain_check(
    design: Design,
    disc: Discretisation,
    fields: tuple[np.ndarray, np.ndarray, np.ndarray],
    limits: MaterialLimits,
    which: str,
    comm: MPI.Comm,
) -> Check:
    """Peak principal strain and von Mises stress against the limits (collective)."""
    smax, smin, vm = fields
    pk = _peak(smax, disc, comm)
    pc = _peak(smin, disc, comm, sign=-1.0)
    ps = _peak(vm, disc, comm)
    bmax, _ = _region_max(np.maximum(smax, -smin), disc, comm, design)
    top = [int(i) for i in np.argsort(-bmax)[:5]]
    peak_strain = max(pk.value, -pc.value)
    where = pk if pk.value >= -pc.value else pc
    vals = {
        "model": which,
        "peak_tensile_strain": pk.value,
        "peak_tensile_at": {"region": pk.region, "point_mm": pk.point},
        "peak_compressive_strain": pc.value,
        "peak_compressive_at": {"region": pc.region, "point_mm": pc.point},
        "peak_von_mises_MPa": ps.value,
        "peak_von_mises_at": {"region": ps.region, "point_mm": ps.point},
        "most_strained_bonds": top,
        "bond_peak_strain": bmax,
        "limits": asdict(limits),
    }
    msg = (
        f"peak strain {100 * peak_strain:.1f} % in {where.region} at ({where.point[0]:.2f}, {where.point[1]:.2f}) mm, "
        f"peak von Mises {ps.value:.3g} MPa in {ps.region} ({which})"
    )
    if peak_strain >= limits.strain_at_break or ps.value >= limits.tensile_strength:
        return Check(
            "strain",
            FAIL,
            msg + f"; beyond break ({100 * limits.strain_at_break:.0f} %, {limits.tensile_strength} MPa)",
            vals,
        )
    if peak_strain > limits.working_strain or ps.value > limits.working_stress:
        return Check(
            "strain",
            WARN,
            msg + f"; above the working limit ({100 * limits.working_strain:.0f} %, {limits.working_stress} MPa)",
            vals,
        )
    return Check("strain", PASS, msg + f"; working limit {100 * limits.working_strain:.0f} %", vals)


def buckling_check(result: BucklingResult, safety: float, regime: str = "linear") -> Check:
    """Status of the first buckling load factor (below 1: fail in the linear regime, warn in the nonlinear)."""
    lf = result.first
    vals = {"load_factors": result.load_factors, "safety_factor": safety}
    if result.load_factors.size:
        amp = np.hypot(*result.mode_node_u[0].T)
        vals["first_mode_node_amplitude"] = amp
        vals["first_mode_local"] = bool(amp.max() < 0.1)
    if not math.isfinite(lf):
        return Check("buckling", PASS, "no buckling mode under these loads (no compression that can buckle)", vals)
    kind = " (local: a bond buckles between its junctions)" if vals.get("first_mode_local") else ""
    msg = f"first buckling load factor {lf:.3g}{kind}"
    if lf < 1.0 and regime == "nonlinear":
        msg += ": the design loads pass the first (linear) buckling load, the lattice works through buckling"
        return Check("buckling", WARN, msg, vals)
    if lf < 1.0:
        return Check("buckling", FAIL, msg + ": the design loads buckle the lattice", vals)
    if lf < safety:
        return Check("buckling", WARN, msg + f" < safety factor {safety:g}", vals)
    return Check("buckling", PASS, msg + f" >= safety factor {safety:g}", vals)


def _displacement_at(u: dolfinx.fem.Function, points: np.ndarray, comm: MPI.Comm) -> np.ndarray:
    """(m, 2) values of the displacement field ``u`` at (m, 2) reference points, on every rank (collective).

    NaN where no rank's cells hold the point.
    """
    import dolfinx.geometry
    from mpi4py import MPI

    mesh = u.function_space.mesh
    tdim = mesh.topology.dim
    pts = np.zeros((points.shape[0], 3))
    pts[:, :2] = points
    tree = dolfinx.geometry.bb_tree(mesh, tdim)
    cand = dolfinx.geometry.compute_collisions_points(tree, pts)
    hits = dolfinx.geometry.compute_colliding_cells(mesh, cand, pts)
    vals = np.zeros((points.shape[0], 2))
    found = np.zeros(points.shape[0])
    idx = [i for i in range(points.shape[0]) if len(hits.links(i)) > 0]
    if idx:
        cells = np.array([hits.links(i)[0] for i in idx], dtype=np.int32)
        vals[idx] = u.eval(pts[idx], cells)[:, :2]
        found[idx] = 1.0
    tot, cnt = np.empty_like(vals), np.empty_like(found)
    comm.Allreduce(vals, tot, op=MPI.SUM)  # a point on a partition boundary is found twice: average
    comm.Allreduce(found, cnt, op=MPI.SUM)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(cnt[:, None] > 0, tot / cnt[:, None], np.nan)


def contact_check(design: Design, u: dolfinx.fem.Function | None, comm: MPI.Comm) -> Check:
    """Self-contact of the deformed lattice (:mod:`fem_mnn.design.contact`): fail when two unjoined parts overlap."""
    from fem_mnn.design.contact import find_contacts, part_outlines

    if u is None:
        return Check("self-contact", "skipped", "not computed: the neo-Hookean path did not reach the design loads", {})
    parts = part_outlines(design)
    sizes = [len(p.probe) for p in parts]
    disp = _displacement_at(u, np.concatenate([p.probe for p in parts]), comm)
    missing = int(np.count_nonzero(np.isnan(disp[:, 0])))
    disp = np.nan_to_num(disp)
    moved = np.split(np.concatenate([p.outline for p in parts]) + disp, np.cumsum(sizes)[:-1])
    rep = find_contacts(parts, moved)
    vals = {
        "touching": rep.touching,
        "min_gap_mm": rep.min_gap_mm if math.isfinite(rep.min_gap_mm) else None,
        "closest_parts": rep.closest,
        "pairs_checked": rep.n_pairs,
        "outline_points": int(sum(sizes)),
        "points_outside_mesh": missing,
        "method": "deformed outlines of hubs and beams (outside their hubs), sampled every 0.25 mm, displacement of "
        "the neo-Hookean solution read 0.02 mm inside each beam and 0.25 mm inside each hub; a pair touches when the "
        "outlines overlap",
    }
    if rep.touching:
        first = rep.touching[0]
        msg = (
            f"{len(rep.touching)} pair(s) of parts touch in the deformed lattice, deepest {first['parts'][0]} and "
            f"{first['parts'][1]} ({first['penetration_mm']:.3g} mm): the model has no contact, its answer is wrong there"
        )
        return Check("self-contact", FAIL, msg, vals)
    gap = (
        f"; nearest unjoined parts {rep.closest[0]} and {rep.closest[1]}, {rep.min_gap_mm:.3g} mm apart"
        if rep.closest
        else ""
    )
    return Check("self-contact", PASS, "no parts touch in the deformed lattice" + gap, vals)


class _Budget:
    """The checks' clock and stop request, answered alike on every rank (collective polls)."""

    def __init__(self, seconds: float, comm: MPI.Comm, stop: Callable[[], bool] | None) -> None:
        self.seconds = float(seconds)
        self.t0 = time.monotonic()
        self.comm = comm
        self.stop = stop

    def elapsed(self) -> float:
        return time.monotonic() - self.t0

    def checkpoint(self) -> None:
        """Between stages: a stop request ends the checks (KeyboardInterrupt, exit 130 on the command line)."""
        if self.stop is not None and self.stop():
            raise KeyboardInterrupt

    def poll(self) -> str | None:
        """Between Newton iterations: stop request (raises), or the text of a spent budget."""
        self.checkpoint()
        over = self.elapsed() > self.seconds
        if getattr(self.comm, "size", 1) > 1:
            over = bool(self.comm.allreduce(int(over), op=_mpi_max()))  # rank clocks differ: one answer
        return f"time budget of {self.seconds:g} s spent" if over else None


def _mpi_max() -> Any:
    from mpi4py import MPI

    return MPI.MAX


def linear_regime_check(
    nl: NonlinearModel,
    loads: np.ndarray,
    factors: tuple[float, ...],
    tol: float,
    *,
    first_buckling: float = math.inf,
    buckling_fraction: float = BUCKLING_FRACTION,
    should_stop: Callable[[], str | None] | None = None,
    elapsed: Callable[[], float] | None = None,
) -> tuple[Check, NonlinearSolution | None, Any]:
    """Load factor where nonlinear departs from linear by more than ``tol`` (collective).

    The neo-Hookean path visits ``factors`` (and 1) below ``buckling_fraction *
    first_buckling`` and then that cap itself, logging one line per Newton solve.
    It fails when the path does not reach 1: Newton does not converge, ``should_stop``
    answers (a spent budget), or the cap is below 1 (buckling comes first). In every
    case the values hold what was reached: ``reached_load_factor``,
    ``newton_iterations`` (all of the path's, failed solves included) and the
    deviations there (``deviation_at_reached``). ``elapsed`` is the clock the progress
    lines show (default: seconds since this call).

    Returns the check, the nonlinear solution at factor 1 (None if not reached) and the
    linear solution at factor 1.
    """
    from fem_mnn.fem.nonlinear import PathStopped, relative_deviation  # lazy: DOLFINx

    t_start = time.monotonic()
    elapsed = elapsed or (lambda: time.monotonic() - t_start)
    lin = nl.linear_operator().solve_fields(loads)
    cap = buckling_fraction * first_buckling if math.isfinite(first_buckling) else math.inf
    wanted = sorted(set(float(f) for f in factors) | {1.0})
    fs = [f for f in wanted if f < cap]
    capped = len(fs) < len(wanted)
    if capped:
        fs.append(cap)

    def monitor(step: Any) -> None:
        if step.converged:
            log.info(
                "linear regime: load factor %.4g reached, %d Newton iterations, residual %.2e N, %.1f s elapsed",
                step.load_factor, step.newton_iterations, step.residual_norm, elapsed(),
            )  # fmt: skip
        else:
            log.info(
                "linear regime: load factor %.4g not reached (%d Newton iterations, residual %.2e N), "
                "halving the step from %.4g, %.1f s elapsed",
                step.load_factor, step.newton_iterations, step.residual_norm, step.reached, elapsed(),
            )  # fmt: skip

    log.info(
        "linear regime: neo-Hookean path to load factor %.4g%s",
        fs[-1],
        f" ({buckling_fraction:g} of the first buckling load factor {first_buckling:.4g})" if capped else "",
    )
    stopped = None
    try:
        path = nl.solve_path(loads, fs, monitor=monitor, should_stop=should_stop)
        states = list(zip(fs, path, strict=True))
        iterations = sum(p.newton_iterations for p in path)
    except PathStopped as exc:
        stopped = exc
        states = list(zip(fs, exc.solutions, strict=False))
        iterations = exc.newton_iterations
        if exc.last is not None and (not states or exc.reached > states[-1][0]):
            states.append((exc.reached, exc.last))  # the last converged state between two factors
    rows = []
    at_one = None
    for f, sol in states:
        du = relative_deviation(sol.u, f * lin.u[0])
        de = relative_deviation(sol.elongation, f * lin.elongation[0])
        rows.append({"load_factor": f, "dev_u": du, "dev_e": de, "newton_iterations": sol.newton_iterations})
        if f == 1.0:
            at_one = sol
    reached = rows[-1]["load_factor"] if rows else 0.0
    dev = [max(r["dev_u"], r["dev_e"]) for r in rows]
    margin = None
    for k, y in enumerate(dev):
        if y > tol:
            if k == 0:
                margin = rows[0]["load_factor"] * tol / y
            else:
                x0, x1 = rows[k - 1]["load_factor"], rows[k]["load_factor"]
                margin = x0 + (tol - dev[k - 1]) * (x1 - x0) / (y - dev[k - 1])
            break
    if stopped is None:
        stop_reason = None
    elif stopped.reason == "newton":
        stop_reason = "newton"
    else:
        stop_reason = "budget"
    vals = {
        "tolerance": tol,
        "margin_load_factor": margin,
        "probed": rows,
        "reached_load_factor": reached,
        "newton_iterations": int(iterations),
        "deviation_at_reached": {"dev_u": rows[-1]["dev_u"], "dev_e": rows[-1]["dev_e"]} if rows else None,
        "first_buckling_load_factor": first_buckling if math.isfinite(first_buckling) else None,
        "buckling_fraction": buckling_fraction,
        "path_limit": fs[-1],
        "stop_reason": stop_reason if stop_reason is not None else ("buckling" if at_one is None else None),
        "newton_error": str(stopped) if stopped is not None else None,
        "elapsed_s": round(elapsed(), 3),
    }
    at = f"reached load factor {reached:.4g} after {iterations} Newton iterations" + (
        f" (elongations {100 * rows[-1]['dev_e']:.2f} % from linear there)" if rows else ""
    )
    if at_one is None:
        if stopped is not None and stop_reason == "budget":
            msg = f"{stopped.reason} before the design loads: {at}; the loads are too large for this check or the budget too small"
        elif stop_reason == "newton":
            msg = f"Newton does not converge beyond the load factor reached: {at}; the design loads are too large"
        else:
            msg = (
                f"the first buckling load factor {first_buckling:.3g} comes before the design loads: the path stops "
                f"at {buckling_fraction:g} of it; {at}"
            )
        return Check("linear regime", FAIL, msg, vals), None, lin
    d1 = next(r for r in rows if r["load_factor"] == 1.0)
    base = f"at the design loads nonlinear vs linear: {100 * d1['dev_u']:.2f} % (node u), {100 * d1['dev_e']:.2f} % (elongations)"
    if margin is None:
        end = {
            None: "",
            "newton": " (Newton does not converge beyond it)",
            "budget": " (time budget spent there)",
        }[stop_reason] + (
            f" ({buckling_fraction:g} of the first buckling load factor)" if capped and stopped is None else ""
        )
        return (
            Check("linear regime", PASS, base + f"; within {100 * tol:g} % up to load factor {reached:.4g}{end}", vals),
            at_one,
            lin,
        )
    if margin < 1.0:
        return (
            Check("linear regime", WARN, base + f"; departs by {100 * tol:g} % at load factor {margin:.3g} < 1", vals),
            at_one,
            lin,
        )
    return (
        Check("linear regime", PASS, base + f"; departs by {100 * tol:g} % at load factor {margin:.3g}", vals),
        at_one,
        lin,
    )


# ---------------------------------------------------------------------- pictures


def _triangulation(
    disc: Discretisation, u: dolfinx.fem.Function, comm: MPI.Comm
) -> tuple[np.ndarray, np.ndarray] | None:
    """Owned cells' vertex coordinates (n, 3, 2) and P1 values of ``u`` (n, 3, 2) gathered on rank 0 (collective)."""
    import dolfinx.fem

    mesh = disc.mesh
    if mesh.topology.dim != 2:
        return None
    V1 = dolfinx.fem.functionspace(mesh, ("Lagrange", 1, (2,)))
    u1 = dolfinx.fem.Function(V1)
    u1.interpolate(u)
    n_owned = mesh.topology.index_map(2).size_local
    dofs = V1.dofmap.list[:n_owned]
    X = V1.tabulate_dof_coordinates()[:, :2]
    xy = X[dofs]
    vals = u1.x.array.reshape(-1, 2)[dofs]
    g = comm.gather((xy, vals), root=0)
    if comm.rank != 0 or g is None:  # only the root gets the list
        return None
    return np.concatenate([a for a, _ in g]), np.concatenate([b for _, b in g])


def _gather_cells(values: np.ndarray, comm: MPI.Comm) -> np.ndarray | None:
    g = comm.gather(values, root=0)
    return np.concatenate(g) if comm.rank == 0 and g is not None else None  # only the root gets the list


def _draw(
    tri_xy: np.ndarray,
    disp: np.ndarray,
    scale: float,
    colour: np.ndarray,
    per_cell: bool,
    title: str,
    label: str,
    design: Design,
    loads: np.ndarray | None,
):
    from matplotlib.tri import Triangulation

    n = tri_xy.shape[0]
    pts = (tri_xy + scale * disp).reshape(-1, 2)
    tri = Triangulation(pts[:, 0], pts[:, 1], np.arange(3 * n).reshape(n, 3))
    from fem_mnn.viz.figure import subplots  # lazy: matplotlib

    fig, ax = subplots(figsize=(7, 5.5))
    ref = tri_xy.reshape(-1, 2)
    ax.triplot(Triangulation(ref[:, 0], ref[:, 1], np.arange(3 * n).reshape(n, 3)), color="0.85", lw=0.1)
    if per_cell:
        pc = ax.tripcolor(tri, facecolors=colour, cmap="magma", shading="flat")
    else:
        pc = ax.tripcolor(tri, colour.reshape(-1), cmap="viridis", shading="gouraud")
    fig.colorbar(pc, ax=ax, label=label, shrink=0.8)
    if loads is not None:
        span = float(np.ptp(design.nodes, axis=0).max()) or 1.0
        fmax = float(np.abs(loads).max()) or 1.0
        for jl in np.nonzero(np.any(loads != 0, axis=1))[0]:
            x, y = design.nodes[jl]
            fx, fy = loads[jl] / fmax * 0.15 * span
            ax.annotate(
                "", xy=(x + fx, y + fy), xytext=(x, y), arrowprops={"color": "red", "width": 1.2, "headwidth": 6}
            )
    for j in design.fixed:
        x, y = design.nodes[j]
        ax.plot(x, y, "ks", ms=6)
    ax.set_aspect("equal")
    ax.set_title(title, fontsize=9)
    ax.set_xlabel("x (mm)")
    ax.set_ylabel("y (mm)")
    return fig


# -------------------------------------------------------------------------- main


def mechanical_report(
    design: Design,
    loads: np.ndarray,
    options: CheckOptions | None = None,
    comm: MPI.Comm | None = None,
    out_dir: str | Path | None = None,
    stop: Callable[[], bool] | None = None,
) -> MechanicalReport:
    """Run the mechanical checks of ``design`` under ``loads`` (collective over ``comm``).

    Args:
        design: The lattice (need not pass :func:`fem_mnn.design.validate`: a floppy
            design is reported, not refused).
        loads: (n_nodes, 2) or (1, n_nodes, 2) design loads (N).
        options: Limits, safety factor, tolerance, FE options.
        comm: MPI communicator (default ``MPI.COMM_WORLD``).
        out_dir: If given, write ``mechanical.json``, ``mechanical.md`` and the PNGs
            (deformed shape, strain map, buckling mode) there (rank 0).
        stop: Polled between stages and between Newton iterations (collective under
            MPI, e.g. :meth:`fem_mnn.core.signals.StopOnSignal.requested`); True ends the
            checks with KeyboardInterrupt before anything is written.

    Returns:
        The report; a floppy design gets the rigidity failure only (no FE solve of a
        mechanism).
    """
    # lazy: the records above are used by the command line without DOLFINx
    from fem_mnn.fem._dolfinx import import_dolfinx
    from fem_mnn.fem.buckling import BucklingOptions, buckling_analysis
    from fem_mnn.fem.linear import FemModel, FemOptions
    from fem_mnn.fem.nonlinear import NonlinearModel

    import_dolfinx()
    from mpi4py import MPI

    o = options or CheckOptions()
    comm = comm if comm is not None else MPI.COMM_WORLD
    budget = _Budget(o.budget, comm, stop)
    F = _check_loads(loads, design)
    load_list = tuple((int(j), float(F[j, 0]), float(F[j, 1])) for j in np.nonzero(np.any(F != 0, axis=1))[0])
    checks = [rigidity_check(design)]
    if checks[0].status == FAIL:
        names = ("strain", "buckling", "linear regime") + (("self-contact",) if o.regime == "nonlinear" else ())
        for name in names:
            checks.append(Check(name, "skipped", "not computed: the lattice is a mechanism", {}))
        rep = MechanicalReport(design.name, design.hash(), load_list, tuple(checks))
        if out_dir is not None and comm.rank == 0:
            rep.write(out_dir)
        return rep

    fem = FemModel(design, o.fem or FemOptions(), comm=comm)
    disc, _ = fem.discretisation()
    budget.checkpoint()
    # buckling first: linear and cheap, and its first load factor bounds the Newton path below
    bk = buckling_analysis(design, F, options=BucklingOptions(n_modes=o.n_modes), model=fem)
    log.info(
        "mechanical checks: %d dofs, first buckling load factor %.4g, %.1f s", bk.n_dofs, bk.first, budget.elapsed()
    )
    budget.checkpoint()
    if o.nonlinear:
        nl = NonlinearModel(design, fem=fem)
        # nonlinear regime: the design loads are the point, the path ends there (no margin beyond)
        factors = o.margin_factors if o.regime == "linear" else tuple(f for f in o.margin_factors if f <= 1.0)
        lr, sol_nl, lin = linear_regime_check(
            nl,
            F,
            factors,
            o.linear_tolerance,
            first_buckling=bk.first if o.regime == "linear" else math.inf,  # nonlinear: through buckling
            buckling_fraction=o.buckling_fraction,
            should_stop=budget.poll,
            elapsed=budget.elapsed,
        )
        lr.values["budget_s"] = o.budget
    else:
        nl = None
        lr, sol_nl, lin = None, None, fem.operator().solve_fields(F)
    budget.checkpoint()
    if sol_nl is not None and nl is not None:  # set together
        fields = _cell_fields(nl, sol_nl.field, nonlinear=True)
        which, u_show = "neo-Hookean", sol_nl.field
    else:
        fields = _cell_fields(disc, lin.fields[0], nonlinear=False)
        which, u_show = "linear", lin.fields[0]
    checks.append(strain_check(design, disc, fields, o.limits, which, comm))
    checks.append(buckling_check(bk, o.buckling_safety, o.regime))
    checks.append(lr if lr is not None else Check("linear regime", "skipped", "nonlinear solve disabled", {}))
    if o.regime == "nonlinear":
        checks.append(contact_check(design, sol_nl.field if sol_nl is not None else None, comm))

    budget.checkpoint()  # the last point where a stop leaves nothing written; from here the report completes
    figures: tuple[str, ...] = ()
    if out_dir is not None and o.pictures and disc.gdim == 2:
        figures = _write_pictures(Path(out_dir), design, F, disc, u_show, fields, bk, which, comm)
    rep = MechanicalReport(design.name, design.hash(), load_list, tuple(checks), n_dofs=bk.n_dofs, figures=figures)
    if out_dir is not None and comm.rank == 0:
        rep.write(out_dir)
    return rep


def _check_loads(loads: np.ndarray, design: Design) -> np.ndarray:
    """(n_nodes, 2) finite, non-zero loads, or an InputError."""
    F = np.asarray(loads, dtype=float)
    if F.ndim == 3 and F.shape[0] == 1:
        F = F[0]
    if F.shape != (design.n_nodes, 2) or not np.all(np.isfinite(F)):
        raise InputError(f"loads must be finite with shape ({design.n_nodes}, 2)", field="loads", value=F.shape)
    if not np.any(F):
        raise InputError("no load given", field="loads")
    return F


def _write_pictures(
    out: Path,
    design: Design,
    F: np.ndarray,
    disc: Discretisation,
    u_show: dolfinx.fem.Function,
    fields: tuple,
    bk: BucklingResult,
    which: str,
    comm: MPI.Comm,
) -> tuple[str, ...]:
    """Deformed shape, strain map and first buckling mode as PNGs (collective; rank 0 writes)."""
    if comm.rank == 0:
        out.mkdir(parents=True, exist_ok=True)
    t_u = _triangulation(disc, u_show, comm)
    cells = _gather_cells(np.maximum(fields[0], -fields[1]), comm)
    t_m = _triangulation(disc, bk.modes[0], comm) if bk.modes else None
    if comm.rank != 0 or t_u is None or cells is None:  # the figures are drawn on rank 0, which has them all
        return ()
    xy, du = t_u
    mag = np.hypot(du[..., 0], du[..., 1])
    fig = _draw(xy, du, 1.0, mag, False, f"deformed shape ({which}), true scale", "|u| (mm)", design, F)
    atomic_savefig(fig, out / "deformed.png", dpi=150, bbox_inches="tight")
    title = f"peak principal strain per cell ({which})"
    fig = _draw(xy, 0 * du, 0.0, cells, True, title, "strain (-)", design, None)
    atomic_savefig(fig, out / "strain.png", dpi=150, bbox_inches="tight")
    figures = ["deformed.png", "strain.png"]
    if t_m is not None:
        mxy, md = t_m
        span = float(np.ptp(design.nodes, axis=0).max()) or 1.0
        title = f"first buckling mode, load factor {bk.first:.3g}"
        fig = _draw(mxy, md, 0.08 * span, np.hypot(md[..., 0], md[..., 1]), False, title, "|phi| (-)", design, F)
        atomic_savefig(fig, out / "buckling_mode.png", dpi=150, bbox_inches="tight")
        figures.append("buckling_mode.png")
    return tuple(figures)
