"""``fem-mnn run``: the main job, every stage of the pipeline on one design.

Default: the paper's sample under the Figure 1 case (10 g at paper node 13, loss
on u_y of paper node 14 with target -25 mm, whose adjoint load is about 5 g). Each
stage writes its files into ``--out`` and adds a line to ``summary.md``; a stage
whose engine is missing is reported as skipped, not failed.
"""

from __future__ import annotations

import argparse
import functools
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from fem_mnn.core.errors import InputError
from fem_mnn.core.files import atomic_write_json, atomic_write_text
from fem_mnn.design.builders import paper_sample
from fem_mnn.design.files import load_design, save_design
from fem_mnn.design.records import Design

__all__ = ["register"]

G = 9.8e-3  # N per gram (the paper's g = 9.8 m/s^2)


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
    f[0, load_node, 1] = -10 * G
    t[0, target_node, 1] = -25.0
    return f, t


def _stage_spring(design: Design, out: Path, ctx: dict[str, Any]) -> str:
    from fem_mnn.commands._common import gradient_payload
    from fem_mnn.learn.insitu import backprop
    from fem_mnn.learn.losses import MSE
    from fem_mnn.spring.network import SpringModel

    f, t = ctx["loads"], ctx["targets"]
    bp = backprop(SpringModel(design), design.widths, f, MSE(t))
    ctx["spring"] = bp
    atomic_write_json(out / "spring_gradient.json", gradient_payload(design, f, t, bp, model="spring"))
    top = np.argsort(-np.abs(bp.grad_w))[:3]
    return (
        f"spring model: loss {bp.loss:.4g} mm^2; largest |dL/dw| on bonds "
        + ", ".join(f"{b} ({bp.grad_w[b]:.3g} N)" for b in top)
        + " -> `spring_gradient.json`"
    )


def _stage_validate(design: Design, out: Path, ctx: dict[str, Any]) -> str:
    from fem_mnn.design.printability import check_design
    from fem_mnn.viz.geometry import plot_geometry

    report = check_design(design)
    atomic_write_json(out / "validate.json", report.to_dict())
    atomic_write_text(out / "validate.txt", report.to_text())
    plot_geometry(design, out / "geometry.png")
    ctx.setdefault("figures", []).append("geometry.png")
    verdict = "passes" if report.ok else f"FAILS ({len(report.findings)} findings)"
    return f"printability {verdict} -> `validate.txt`, `validate.json`, `geometry.png`"


#: The main job's mesh cache (inside --out): the mesh stage writes the mesh once and
#: the FEM stage reads it instead of meshing again.
MESH_CACHE = ".mesh-cache"


def _stage_mesh(design: Design, out: Path, ctx: dict[str, Any]) -> str:
    from fem_mnn.core.files import atomic_write_bytes
    from fem_mnn.geometry.build import MeshOptions
    from fem_mnn.geometry.cache import ensure_mesh

    path, info = ensure_mesh(design, MeshOptions(dim=2), root=out / MESH_CACHE)
    atomic_write_bytes(out / "lattice.msh", path.read_bytes())
    return f"2D mesh: {info.n_cells} triangles, h = {info.mesh_size:.3g} mm -> `lattice.msh`"


def _stage_stl(design: Design, out: Path, ctx: dict[str, Any]) -> str:
    from fem_mnn.geometry.stl import write_stl

    info = write_stl(design, out / "lattice.stl")
    return (
        f"STL: {info.n_triangles} triangles, closed and outward, volume {info.volume:.2f} mm^3 "
        f"(CAD {info.cad_volume:.2f}) -> `lattice.stl`"
    )


def _stage_fem(design: Design, out: Path, ctx: dict[str, Any]) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from fem_mnn.commands._common import gradient_payload
    from fem_mnn.fem.linear import FemModel, FemOptions
    from fem_mnn.fem.meshing import load_mesh
    from fem_mnn.geometry.build import MeshOptions
    from fem_mnn.learn.insitu import backprop_operator
    from fem_mnn.learn.losses import MSE

    f, t = ctx["loads"], ctx["targets"]
    options = FemOptions(dim=2, degree=1 if ctx["quick"] else 2, mesh=MeshOptions(dim=2))
    # the mesh stage's mesh (meshed here only when that stage did not run)
    mesher = functools.partial(load_mesh, root=out / MESH_CACHE)
    op = FemModel(design, options, mesher=mesher).operator()
    bp = backprop_operator(op, f, MSE(t))
    payload = gradient_payload(design, f, t, bp, model="fem")
    payload["fem"] = {"dofs": int(op.n_dofs), "degree": options.degree, "dim": options.dim}
    atomic_write_json(out / "fem_gradient.json", payload)
    sp = ctx["spring"]
    e_s, e_f = sp.elongation[0], bp.elongation[0]
    corr = float(np.corrcoef(e_s, e_f)[0, 1])
    scale = float(e_s @ e_f / (e_s @ e_s))
    g_s, g_f = sp.grad_w, bp.grad_w
    cos = float(g_s @ g_f / (np.linalg.norm(g_s) * np.linalg.norm(g_f)))
    fig, axes = plt.subplots(1, 2, figsize=(9, 4))
    for ax, (a, b, name, unit) in zip(
        axes, [(e_s, e_f, "elongation", "mm"), (g_s, g_f, "in situ dL/dw", "N")], strict=True
    ):
        ax.plot(a, b, "o", ms=4)
        lim = [min(a.min(), b.min()), max(a.max(), b.max())]
        ax.plot(lim, lim, "k--", lw=0.8)
        ax.set_xlabel(f"spring model ({unit})")
        ax.set_ylabel(f"FEM, P{options.degree} plane stress ({unit})")
        ax.set_title(name)
    fig.tight_layout()
    from fem_mnn.core.files import atomic_path

    with atomic_path(out / "spring_vs_fem.png") as tmp:
        fig.savefig(tmp, dpi=130)
    plt.close(fig)
    ctx.setdefault("figures", []).append("spring_vs_fem.png")
    return (
        f"FEM (P{options.degree}, {op.n_dofs} dofs): loss {bp.loss:.4g} mm^2; elongations vs spring: "
        f"correlation {corr:.4f}, FEM/spring scale {scale:.3f}; in situ gradients cosine {cos:.4f} "
        "-> `fem_gradient.json`, `spring_vs_fem.png`"
    )


#: (name, function) in pipeline order; later issues append stages here.
STAGES: list[tuple[str, Callable[[Design, Path, dict[str, Any]], str]]] = [
    ("spring", _stage_spring),
    ("validate", _stage_validate),
    ("mesh", _stage_mesh),
    ("stl", _stage_stl),
    ("fem", _stage_fem),
]


def _run(args: argparse.Namespace) -> int:
    design = load_design(args.design) if args.design else paper_sample()
    known = [n for n, _ in STAGES]
    unknown = sorted(set(args.stages.split(",")) - set(known)) if args.stages is not None else []
    if unknown:
        raise InputError(f"unknown stage (choose from {', '.join(known)})", source="--stages", value=unknown[0])
    out = Path(args.out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:  # a file of that name, no permission
        raise InputError(f"cannot create the output folder ({exc.strerror})", source="--out", value=str(out)) from None
    save_design(design, out / "design.json")
    f, t = default_case(design)
    ctx: dict[str, Any] = {"loads": f, "targets": t, "quick": args.quick}
    lines = [
        f"# fem-mnn run: {design.name or args.design}",
        "",
        f"{design.n_nodes} nodes, {design.n_bonds} bonds, design hash `{design.hash()}`.",
        "Load case: "
        + ", ".join(f"node {i}: ({f[0, i, 0]:.4g}, {f[0, i, 1]:.4g}) N" for i in np.nonzero(np.any(f[0], axis=1))[0])
        + "; target: "
        + ", ".join(
            f"node {i}: ({t[0, i, 0]:.4g}, {t[0, i, 1]:.4g}) mm" for i in np.nonzero(np.any(~np.isnan(t[0]), axis=1))[0]
        )
        + " (nan = free).",
        "",
    ]
    wanted = set(args.stages.split(",")) if args.stages else None
    for name, stage in STAGES:
        if wanted is not None and name not in wanted:
            continue
        t0 = time.perf_counter()
        print(f"[run] {name} ...", file=sys.stderr, flush=True)
        line = stage(design, out, ctx)
        dt = time.perf_counter() - t0
        print(f"[run] {name}: {line} ({dt:.1f} s)", file=sys.stderr, flush=True)
        lines.append(f"- **{name}** ({dt:.1f} s): {line}")
    for fig in ctx.get("figures", []):
        lines += ["", f"![{fig}]({fig})"]
    atomic_write_text(out / "summary.md", "\n".join(lines) + "\n")
    print(f"[run] wrote {out / 'summary.md'}", file=sys.stderr)
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
    p.add_argument("--stages", help="comma-separated subset of: " + ", ".join(n for n, _ in STAGES))
    p.add_argument("--quick", action="store_true", help="coarser meshes, for a smoke test")
    p.set_defaults(func=_run)
