"""``fem-mnn run``: the main job, every stage of the pipeline on one design.

Default: the paper's sample under the Figure 1 case (10 g at paper node 13, loss
on u_y of paper node 14 with target -25 mm, whose adjoint load is about 5 g). Each
stage writes its files into ``--out`` and adds a line to ``summary.md``. Any
subset of stages runs (``--stages``); stages hand typed records to later ones.
"""

from __future__ import annotations

import argparse
import functools
import time
from collections.abc import Callable
from pathlib import Path
from typing import Literal, NamedTuple

import numpy as np

from fem_mnn.commands._common import add_memory_argument, gradient_payload
from fem_mnn.core.errors import InputError
from fem_mnn.core.files import atomic_savefig, atomic_write_bytes, atomic_write_json, atomic_write_text
from fem_mnn.core.log import get_logger
from fem_mnn.core.metrics import cosine
from fem_mnn.core.units import GRAM_FORCE
from fem_mnn.design.builders import paper_sample
from fem_mnn.design.files import load_design, save_design
from fem_mnn.design.printability import check_design
from fem_mnn.design.records import Design
from fem_mnn.learn.insitu import Backprop, backprop, backprop_operator
from fem_mnn.learn.losses import MSE
from fem_mnn.spring.network import SpringModel

__all__ = ["STAGES", "RunCase", "StageResult", "parse_stages", "register"]

log = get_logger(__name__)


def default_case(design: Design) -> tuple[np.ndarray, np.ndarray]:
    """Loads (1, n, 2) and targets (1, n, 2) of the main job.

    On the paper's sample: 10 g down at id 12 (paper node 13), target u_y = -25 mm
    at id 13 (paper node 14). On another design: 10 g down at the free node
    farthest from the fixed ones, target u_y = -25 mm at the next farthest.
    """
    f = np.zeros((1, design.n_nodes, 2))
    t = np.full((1, design.n_nodes, 2), np.nan)
    if design.hash() == paper_sample(float(design.widths[0])).hash() or design.name == "li-mao-2024-sample":
        load_node, target_node = 12, 13
    else:
        fixed = design.nodes[list(design.fixed)]
        dist = np.min(np.linalg.norm(design.nodes[:, None] - fixed[None], axis=2), axis=1)
        order = [i for i in np.argsort(-dist) if i not in design.fixed]
        load_node, target_node = int(order[0]), int(order[1])
    f[0, load_node, 1] = -10 * GRAM_FORCE
    t[0, target_node, 1] = -25.0
    return f, t


class RunCase(NamedTuple):
    """What every stage of the main job reads: the design, its load case and the options."""

    design: Design
    loads: np.ndarray
    """(1, n_nodes, 2) nodal forces (N)."""
    targets: np.ndarray
    """(1, n_nodes, 2) target displacements (mm), NaN where free."""
    out: Path
    quick: bool


class StageResult(NamedTuple):
    """What a stage hands on: its summary line, the figures it drew and its result record."""

    line: str
    figures: tuple[str, ...] = ()
    backprop: Backprop | None = None


def _spring_backprop(case: RunCase) -> Backprop:
    return backprop(SpringModel(case.design), case.design.widths, case.loads, MSE(case.targets))


def _stage_spring(case: RunCase, done: dict[str, StageResult]) -> StageResult:
    design, f, t = case.design, case.loads, case.targets
    bp = _spring_backprop(case)
    atomic_write_json(case.out / "spring_gradient.json", gradient_payload(design, f, t, bp, model="spring"))
    top = np.argsort(-np.abs(bp.grad_w))[:3]
    line = (
        f"spring model: loss {bp.loss:.4g} mm^2; largest |dL/dw| on bonds "
        + ", ".join(f"{b} ({bp.grad_w[b]:.3g} mm)" for b in top)
        + " -> `spring_gradient.json`"
    )
    return StageResult(line, backprop=bp)


def _stage_validate(case: RunCase, done: dict[str, StageResult]) -> StageResult:
    from fem_mnn.viz.geometry import plot_geometry  # lazy: matplotlib and gmsh

    report = check_design(case.design)
    atomic_write_json(case.out / "validate.json", report.to_dict())
    atomic_write_text(case.out / "validate.txt", report.to_text())
    plot_geometry(case.design, case.out / "geometry.png", loads=case.loads, targets=case.targets)
    verdict = "passes" if report.ok else f"FAILS ({len(report.findings)} findings)"
    return StageResult(f"printability {verdict} -> `validate.txt`, `validate.json`, `geometry.png`", ("geometry.png",))


#: The main job's mesh cache (inside --out): the mesh stage writes the mesh once and
#: the FEM stage reads it instead of meshing again.
MESH_CACHE = ".mesh-cache"


def _stage_mesh(case: RunCase, done: dict[str, StageResult]) -> StageResult:
    from fem_mnn.geometry.build import MeshOptions  # lazy: gmsh
    from fem_mnn.geometry.cache import ensure_mesh

    path, info = ensure_mesh(case.design, MeshOptions(dim=2), root=case.out / MESH_CACHE)
    atomic_write_bytes(case.out / "lattice.msh", path.read_bytes())
    return StageResult(f"2D mesh: {info.n_cells} triangles, h = {info.mesh_size:.3g} mm -> `lattice.msh`")


def _stage_stl(case: RunCase, done: dict[str, StageResult]) -> StageResult:
    from fem_mnn.geometry.stl import write_stl  # lazy: gmsh

    info = write_stl(case.design, case.out / "lattice.stl")
    return StageResult(
        f"STL: {info.n_triangles} triangles, closed and outward, volume {info.volume:.2f} mm^3 "
        f"(CAD {info.cad_volume:.2f}) -> `lattice.stl`"
    )


def _stage_fem(case: RunCase, done: dict[str, StageResult]) -> StageResult:
    from fem_mnn.fem.linear import FemModel, FemOptions  # lazy: DOLFINx
    from fem_mnn.fem.meshing import load_mesh
    from fem_mnn.geometry.build import MeshOptions
    from fem_mnn.viz.parity import parity_panels

    design, f, t = case.design, case.loads, case.targets
    options = FemOptions(dim=2, degree=1 if case.quick else 2, mesh=MeshOptions(dim=2))
    # the mesh stage's mesh (meshed here only when that stage did not run)
    mesher = functools.partial(load_mesh, root=case.out / MESH_CACHE)
    op = FemModel(design, options, mesher=mesher).operator()
    bp = backprop_operator(op, f, MSE(t))
    payload = gradient_payload(design, f, t, bp, model="fem")
    payload["fem"] = {"dofs": int(op.n_dofs), "degree": options.degree, "dim": options.dim}
    atomic_write_json(case.out / "fem_gradient.json", payload)
    # the spring model is the reference: the spring stage's result, or computed here (milliseconds)
    sp = done["spring"].backprop if "spring" in done else _spring_backprop(case)
    assert sp is not None
    e_s, e_f = sp.elongation[0], bp.elongation[0]
    corr = float(np.corrcoef(e_s, e_f)[0, 1])
    scale = float(e_s @ e_f / (e_s @ e_s))
    cos = cosine(sp.grad_w, bp.grad_w)
    fig = parity_panels(
        [(e_s, e_f, "elongation", "mm"), (sp.grad_w, bp.grad_w, "in situ dL/dw", "mm")],
        xlabel="spring model",
        ylabel=f"FEM, P{options.degree} plane stress",
    )
    atomic_savefig(fig, case.out / "spring_vs_fem.png", dpi=130)
    return StageResult(
        f"FEM (P{options.degree}, {op.n_dofs} dofs): loss {bp.loss:.4g} mm^2; elongations vs spring: "
        f"correlation {corr:.4f}, FEM/spring scale {scale:.3f}; in situ gradients cosine {cos:.4f} "
        "-> `fem_gradient.json`, `spring_vs_fem.png`",
        ("spring_vs_fem.png",),
        bp,
    )


StageName = Literal["spring", "validate", "mesh", "stl", "fem"]

#: The stages in pipeline order. Any subset runs: a stage that compares with an
#: earlier one (fem with spring) computes what it needs when that stage is not run.
STAGES: dict[str, Callable[[RunCase, dict[str, StageResult]], StageResult]] = {
    "spring": _stage_spring,
    "validate": _stage_validate,
    "mesh": _stage_mesh,
    "stl": _stage_stl,
    "fem": _stage_fem,
}


def parse_stages(spec: str | None) -> list[str]:
    """The stages named in ``--stages`` (comma-separated), in pipeline order; all when None."""
    if spec is None:
        return list(STAGES)
    names = [n.strip() for n in spec.split(",")]
    for n in names:
        if n not in STAGES:
            raise InputError(f"unknown stage (choose from {', '.join(STAGES)})", source="--stages", value=n)
    return [n for n in STAGES if n in names]


def _summary_header(case: RunCase, label: str) -> list[str]:
    design, f, t = case.design, case.loads, case.targets
    loads = ", ".join(f"node {i}: ({f[0, i, 0]:.4g}, {f[0, i, 1]:.4g}) N" for i in np.nonzero(np.any(f[0], axis=1))[0])
    targets = ", ".join(
        f"node {i}: ({t[0, i, 0]:.4g}, {t[0, i, 1]:.4g}) mm" for i in np.nonzero(np.any(~np.isnan(t[0]), axis=1))[0]
    )
    return [
        f"# fem-mnn run: {design.name or label}",
        "",
        f"{design.n_nodes} nodes, {design.n_bonds} bonds, design hash `{design.hash()}`.",
        f"Load case: {loads}; target: {targets} (nan = free).",
        "",
    ]


def _run(args: argparse.Namespace) -> int:
    design = load_design(args.design) if args.design else paper_sample()
    stages = parse_stages(args.stages)
    out = Path(args.out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:  # a file of that name, no permission
        raise InputError(f"cannot create the output folder ({exc.strerror})", source="--out", value=str(out)) from None
    save_design(design, out / "design.json")
    f, t = default_case(design)
    case = RunCase(design, f, t, out, bool(args.quick))
    lines = _summary_header(case, str(args.design))
    done: dict[str, StageResult] = {}
    for name in stages:
        t0 = time.perf_counter()
        log.info("%s ...", name)
        res = STAGES[name](case, done)
        done[name] = res
        dt = time.perf_counter() - t0
        log.info("%s: %s (%.1f s)", name, res.line, dt)
        lines.append(f"- **{name}** ({dt:.1f} s): {res.line}")
    for fig in (fig for res in done.values() for fig in res.figures):
        lines += ["", f"![{fig}]({fig})"]
    atomic_write_text(out / "summary.md", "\n".join(lines) + "\n")
    log.info("wrote %s", out / "summary.md")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "run",
        help="the main job: every stage of the pipeline on a design (default: the paper's sample)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("design", nargs="?", help="design JSON (default: the paper's sample)")
    p.add_argument("--out", default="out", help="output folder (default: out)")
    p.add_argument("--stages", help="comma-separated subset of: " + ", ".join(STAGES) + " (any subset runs)")
    p.add_argument("--quick", action="store_true", help="coarser meshes, for a smoke test")
    add_memory_argument(p)
    p.set_defaults(func=_run)
