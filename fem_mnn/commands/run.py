"""``fem-mnn run``: the main job, the design pipeline on one design.

Default: the paper's sample. The gradient stages (spring, fem) use the Figure 1 case
(10 g at paper node 13 = id 12, loss on u_y of paper node 14 = id 13 with target
-25 mm, whose adjoint load is about 5 g) unless ``--load``/``--target`` are given.
The design stages then train the behaviour task (Figure 2, MSE) on springs with the
authors' recipe (train), evaluate the trained widths in the FE model of the printed
lattice (transfer: the transfer gap), fine-tune them in the FE model with the exact
gradient (finetune), and validate the fine-tuned design for printing and write its
STL (print). Each stage writes its files into ``--out`` and adds a line to
``summary.md``. Any subset of stages runs (``--stages``); stages hand typed records
to later ones.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import time
from collections.abc import Callable
from dataclasses import replace as dataclasses_replace
from pathlib import Path
from typing import Any, Literal, NamedTuple

import numpy as np

from fem_mnn.commands._common import add_memory_argument, count, gradient_payload, parse_loads, parse_targets
from fem_mnn.contract import Backprop, backprop, backprop_operator
from fem_mnn.core.errors import InputError
from fem_mnn.core.files import atomic_savefig, atomic_write_bytes, atomic_write_json, atomic_write_text
from fem_mnn.core.log import get_logger
from fem_mnn.core.metrics import cosine
from fem_mnn.core.units import GRAM_FORCE
from fem_mnn.design.builders import paper_sample
from fem_mnn.design.files import load_design, save_design
from fem_mnn.design.printability import check_design
from fem_mnn.design.records import Design
from fem_mnn.learn import TrainConfig, paper_config, train
from fem_mnn.learn.evaluate import evaluate
from fem_mnn.learn.losses import MSE
from fem_mnn.learn.taskfile import paper_task
from fem_mnn.learn.tasks import TASK_NAMES, check_paper_lattice
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
    task: str = "behaviour"
    """Paper task of the design stages (train, transfer, finetune, print)."""
    train_epochs: int | None = None
    """Cap on the spring training's epochs (None: the recipe's, capped at DEFAULT_TRAIN_EPOCHS)."""
    finetune_steps: int | None = None


#: The main job's spring training stops after at most this many epochs (the authors' MSE recipe
#: runs to 30000 iterations, minutes; by 2000 the outputs are within 1e-3 mm of where it ends).
DEFAULT_TRAIN_EPOCHS = 2000
#: FE fine-tuning: Adam on the widths (mm), projected on the printable range.
FINETUNE_LR = 0.02
FINETUNE_STEPS = {"quick": 2, "full": 30}


class StageResult(NamedTuple):
    """What a stage hands on: its summary line, the figures it drew and its result record."""

    line: str
    figures: tuple[str, ...] = ()
    backprop: Backprop | None = None
    data: dict[str, Any] | None = None
    """Numbers for later stages and the summary (design stages)."""

    @property
    def numbers(self) -> dict[str, Any]:
        """``data`` of a design stage (which always records it)."""
        if self.data is None:
            raise RuntimeError(f"the stage recorded no numbers: {self.line}")
        return self.data


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


# ----------------------------------------------------------------- design stages


def _task(case: RunCase):

    return paper_task(case.task, case.design)


def _fe_model(case: RunCase):
    """The morphing FE model with the exact gradient (P2 plane stress; P1 and coarse with --quick)."""
    from fem_mnn.fem.linear import FemOptions  # lazy: DOLFINx
    from fem_mnn.fem.morph import MorphingFemModel
    from fem_mnn.geometry.build import MeshOptions, mesh_size

    mo = MeshOptions(dim=2, elements_across=2 if case.quick else 3)
    mo = dataclasses.replace(mo, size=mesh_size(case.design, mo))
    return MorphingFemModel(case.design, FemOptions(dim=2, degree=1 if case.quick else 2, mesh=mo), gradient="exact")


def _metric_line(m: dict) -> str:
    keys = [k for k in sorted(m) if k.startswith("train_u_")] + [
        k for k in ("train_rel_error", "train_contrast", "train_accuracy") if k in m
    ]
    return ", ".join(f"{k[6:]} {m[k]:.4g}" for k in keys)


def _last_metrics(res) -> dict[str, float]:  # noqa: ANN001 - a TrainResult
    """The metrics of the last epoch, or of the starting widths when no epoch ran (0 epochs)."""
    return res.final.metrics if res.final is not None else dict(res.initial_metrics or {})


def _stage_train(case: RunCase, done: dict[str, StageResult]) -> StageResult:

    task = _task(case)
    cap = case.train_epochs if case.train_epochs is not None else (200 if case.quick else DEFAULT_TRAIN_EPOCHS)
    cfg = paper_config(case.task, paper_gradient=True, record_widths=False)
    cfg = dataclasses_replace(cfg, epochs=min(cfg.epochs, cap))
    res = train(SpringModel(case.design), task, cfg, progress=5.0)
    metrics = _last_metrics(res)
    trained = case.design.with_widths(res.widths)
    save_design(trained, case.out / "design_spring_trained.json")
    data = {
        "widths": res.widths.tolist(),
        "metrics": metrics,
        "epochs": res.epochs,
        "loss": metrics["train_loss"],
    }
    atomic_write_json(case.out / "train_spring.json", {"task": task.name, "config": cfg.to_dict(), **data})
    return StageResult(
        f"spring training ({task.name}, the authors' recipe, {res.epochs} epochs, stopped by {res.stop_reason}): "
        f"loss {data['loss']:.4g}, {_metric_line(metrics)} -> `design_spring_trained.json`",
        data=data,
    )


def _trained_widths(case: RunCase, done: dict[str, StageResult]) -> np.ndarray:
    if "train" in done:
        return np.array(done["train"].numbers["widths"])
    path = case.out / "design_spring_trained.json"
    if path.exists():
        return np.array(load_design(path).widths)
    return np.array(_stage_train(case, done).numbers["widths"])


def _stage_transfer(case: RunCase, done: dict[str, StageResult]) -> StageResult:

    task = _task(case)
    w = _trained_widths(case, done)
    model = _fe_model(case)
    ev = evaluate(model, task, w)
    spring = evaluate(SpringModel(case.design), task, w)
    payload = {"fem": ev.to_dict(), "spring": spring.to_dict(), "widths": w.tolist()}
    atomic_write_json(case.out / "transfer.json", payload)
    data = {"fem": ev.metrics, "spring": spring.metrics, "model": model, "success": ev.success}
    gap = ev.metrics["train_loss"] - spring.metrics["train_loss"]
    return StageResult(
        f"transfer gap: the spring-trained widths in the FE model give loss {ev.metrics['train_loss']:.4g} "
        f"(springs {spring.metrics['train_loss']:.4g}, gap {gap:+.4g}); FE {_metric_line(ev.metrics)} vs springs "
        f"{_metric_line(spring.metrics)}; success {'met' if ev.success and ev.success['met'] else 'NOT met'} -> `transfer.json`",
        data=data,
    )


def _stage_finetune(case: RunCase, done: dict[str, StageResult]) -> StageResult:
    from fem_mnn.viz.training import compare_widths_figure

    task = _task(case)
    w0 = _trained_widths(case, done)
    model = done["transfer"].numbers["model"] if "transfer" in done else _fe_model(case)
    steps = (
        case.finetune_steps if case.finetune_steps is not None else FINETUNE_STEPS["quick" if case.quick else "full"]
    )
    batch = paper_config(case.task).batch_size
    cfg = TrainConfig(
        epochs=steps, lr=FINETUNE_LR, batch_size=batch, parametrisation="clip", shuffle=False, record_widths=False
    )
    res = train(model, task, cfg, widths0=w0, progress=5.0)
    metrics = _last_metrics(res)
    tuned = case.design.with_widths(res.widths)
    save_design(tuned, case.out / "design_finetuned.json")
    first = res.history[0].loss if res.history else float("nan")
    data = {
        "widths_before": w0.tolist(),
        "widths": res.widths.tolist(),
        "metrics": metrics,
        "first_loss": first,
        "steps": res.epochs,
    }
    atomic_write_json(
        case.out / "finetune.json", {"task": task.name, "config": cfg.to_dict(), "success": res.success, **data}
    )
    fig = compare_widths_figure(
        case.design,
        w0,
        res.widths,
        titles=("spring-trained widths", f"FE fine-tuned ({res.epochs} steps, exact gradient)"),
        suptitle=f"{task.name}: widths before / after FE fine-tuning",
        loads=task.train_loads[0],
        outputs=[tuple(o) for o in task.outputs],
    )
    atomic_savefig(fig, case.out / "widths_before_after.png", dpi=130, bbox_inches="tight")
    return StageResult(
        f"FE fine-tuning ({res.epochs} Adam steps of {FINETUNE_LR} mm on the widths, exact shape gradient, mesh morphed): "
        f"loss {metrics['train_loss']:.4g} (from {first:.4g}), {_metric_line(metrics)}; largest width "
        f"change {np.max(np.abs(res.widths - w0)):.3f} mm -> `design_finetuned.json`, `widths_before_after.png`",
        ("widths_before_after.png",),
        data=data,
    )


def _stage_print(case: RunCase, done: dict[str, StageResult]) -> StageResult:
    from fem_mnn.geometry.stl import write_stl  # lazy: gmsh

    path = case.out / "design_finetuned.json"
    if "finetune" in done:
        tuned = case.design.with_widths(np.array(done["finetune"].numbers["widths"]))
    elif path.exists():
        tuned = load_design(path)
    else:
        raise InputError(
            "needs the finetune stage (or its design_finetuned.json in --out)", source="--stages", value="print"
        )
    report = check_design(tuned)
    atomic_write_json(case.out / "validate_finetuned.json", report.to_dict())
    atomic_write_text(case.out / "validate_finetuned.txt", report.to_text())
    info = write_stl(tuned, case.out / "lattice_finetuned.stl")
    verdict = "passes" if report.ok else f"FAILS ({len(report.findings)} findings)"
    line = f"fine-tuned design: printability {verdict}; STL {info.n_triangles} triangles, volume {info.volume:.2f} mm^3"
    mech = ""
    if not case.quick:
        from fem_mnn.fem.mechanical_checks import CheckOptions, mechanical_report

        task = _task(case)
        rep = mechanical_report(
            tuned, task.train_loads[0], CheckOptions(nonlinear=False, pictures=False), out_dir=case.out / "mechanical"
        )
        mech = "; mechanical checks (linear strain, buckling) under the task's load: " + ", ".join(
            f"{c.name} {c.status}" for c in rep.checks
        )
    return StageResult(
        line + mech + " -> `validate_finetuned.txt`, `lattice_finetuned.stl`" + (", `mechanical/`" if mech else "")
    )


StageName = Literal["spring", "validate", "mesh", "stl", "fem", "train", "transfer", "finetune", "print"]

#: The stages in pipeline order. Any subset runs: a stage that compares with an
#: earlier one (fem with spring) computes what it needs when that stage is not run.
STAGES: dict[str, Callable[[RunCase, dict[str, StageResult]], StageResult]] = {
    "spring": _stage_spring,
    "validate": _stage_validate,
    "mesh": _stage_mesh,
    "stl": _stage_stl,
    "fem": _stage_fem,
    "train": _stage_train,
    "transfer": _stage_transfer,
    "finetune": _stage_finetune,
    "print": _stage_print,
}
#: Stages that train and need the paper's lattice (the task's node ids).
DESIGN_STAGES = ("train", "transfer", "finetune", "print")


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


def _is_paper_lattice(design: Design) -> bool:

    try:
        check_paper_lattice(design, paper_sample().nodes, None, "li-mao-2024-sample")
    except InputError:
        return False
    return True


def _design_summary(done: dict[str, StageResult]) -> list[str]:
    """Tables of the transfer gap and of the widths before / after fine-tuning."""
    lines: list[str] = []
    rows = []
    if "train" in done:
        rows.append(("springs, spring-trained widths", done["train"].numbers["metrics"]))
    if "transfer" in done:
        rows.append(("FE, spring-trained widths (transfer)", done["transfer"].numbers["fem"]))
    if "finetune" in done:
        rows.append(("FE, fine-tuned widths", done["finetune"].numbers["metrics"]))
    if rows:
        keys = sorted({k for _, m in rows for k in m if k != "train_loss"})
        lines += ["", "## Transfer gap", "", "| model, widths | loss | " + " | ".join(k[6:] for k in keys) + " |"]
        lines.append("|---" * (2 + len(keys)) + "|")
        for label, m in rows:
            lines.append(
                f"| {label} | {m['train_loss']:.5g} | "
                + " | ".join(f"{m.get(k, float('nan')):.5g}" for k in keys)
                + " |"
            )
    if "finetune" in done:
        d = done["finetune"].numbers
        lines += [
            "",
            "## Widths (mm) before / after FE fine-tuning",
            "",
            "| bond | spring-trained | fine-tuned | change |",
            "|---|---|---|---|",
        ]
        for b, (w0, w1) in enumerate(zip(d["widths_before"], d["widths"], strict=True)):
            lines.append(f"| {b} | {w0:.4f} | {w1:.4f} | {w1 - w0:+.4f} |")
    return lines


def _run(args: argparse.Namespace) -> int:
    design = load_design(args.design) if args.design else paper_sample()
    stages = parse_stages(args.stages)
    if (args.load is None) != (args.target is None):
        raise InputError(
            "give both --load and --target (or neither: the default case)",
            source="--load" if args.load is None else "--target",
        )
    if args.load is not None:
        f, t = parse_loads(args.load, design), parse_targets(args.target, design)
    else:
        f, t = default_case(design)
    skipped: list[str] = []
    if not _is_paper_lattice(design):
        if args.stages is not None and any(s in DESIGN_STAGES for s in stages):
            raise InputError(
                "the design stages train a paper task, which needs the paper's lattice",
                source="--stages",
                value=args.stages,
            )
        skipped = [s for s in stages if s in DESIGN_STAGES]
        stages = [s for s in stages if s not in DESIGN_STAGES]
    out = Path(args.out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:  # a file of that name, no permission
        raise InputError(f"cannot create the output folder ({exc.strerror})", source="--out", value=str(out)) from None
    save_design(design, out / "design.json")
    case = RunCase(design, f, t, out, bool(args.quick), args.task, args.train_epochs, args.finetune_steps)
    lines = _summary_header(case, str(args.design))
    if skipped:
        lines.append(f"Stages {', '.join(skipped)} skipped: they train a paper task, which needs the paper's lattice.")
        lines.append("")
    done: dict[str, StageResult] = {}
    t_all = time.perf_counter()
    for k, name in enumerate(stages, 1):
        t0 = time.perf_counter()
        log.info("[%d/%d] %s ...", k, len(stages), name)
        res = STAGES[name](case, done)
        done[name] = res
        dt = time.perf_counter() - t0
        log.info("[%d/%d] %s (%.1f s): %s", k, len(stages), name, dt, res.line)
        lines.append(f"- **{name}** ({dt:.1f} s): {res.line}")
    lines.append(f"\nTotal {time.perf_counter() - t_all:.1f} s.")
    lines += _design_summary(done)
    for fig in (fig for res in done.values() for fig in res.figures):
        lines += ["", f"![{fig}]({fig})"]
    atomic_write_text(out / "summary.md", "\n".join(lines) + "\n")
    log.info("wrote %s", out / "summary.md")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    """Add this command's parser to ``fem-mnn``'s sub-commands."""
    p = sub.add_parser(
        "run",
        help="the main job: the design pipeline on a design (default: the paper's sample)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("design", nargs="?", help="design JSON (default: the paper's sample)")
    p.add_argument("--out", default="out", help="output folder (default: out)")
    p.add_argument("--stages", help="comma-separated subset of: " + ", ".join(STAGES) + " (any subset runs)")
    p.add_argument("--quick", action="store_true", help="coarser meshes, P1, few steps: a smoke test")
    p.add_argument(
        "--load",
        action="append",
        metavar="I:FX,FY",
        help="force (N) on node I for the gradient stages (spring, fem); repeat for more nodes. Default: 10 g down "
        "at id 12 (paper node 13) on the paper's sample, else at the free node farthest from the fixed ones",
    )
    p.add_argument(
        "--target",
        action="append",
        metavar="I:UX,UY",
        help="target displacement (mm) for the gradient stages, '_' = free. Default: u_y = -25 mm at id 13 (paper "
        "node 14) on the paper's sample, else at the next farthest free node",
    )
    p.add_argument(
        "--task",
        choices=TASK_NAMES,
        default="behaviour",
        help="paper task of the design stages (train, transfer, finetune, print; default behaviour, Figure 2 MSE)",
    )
    p.add_argument(
        "--train-epochs",
        type=count,
        default=None,
        metavar="N",
        help=f"cap on the spring training's epochs (default {DEFAULT_TRAIN_EPOCHS}, 200 with --quick)",
    )
    p.add_argument(
        "--finetune-steps",
        type=count,
        default=None,
        metavar="N",
        help=f"FE fine-tuning epochs (default {FINETUNE_STEPS['full']}, {FINETUNE_STEPS['quick']} with --quick)",
    )
    add_memory_argument(p)
    p.set_defaults(func=_run)
