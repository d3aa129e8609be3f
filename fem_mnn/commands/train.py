"""``fem-mnn spring train`` and ``fem-mnn fem train``: train a design's widths on one of the paper's tasks.

Both run the same engine (:func:`fem_mnn.learn.training.train`); only the model differs.
The FE model is meshed with a fixed element size, the one
:func:`fem_mnn.geometry.build.mesh_plan` gives the starting design (so the first mesh is
the mesh ``fem evaluate`` and ``fem gradient`` make of the design file, same key), and the
mesh does not jump when the thinnest bond changes. ``fem train`` is collective under
MPI: every rank trains, only rank 0 writes and prints.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

import numpy as np

from fem_mnn.commands._buckling import add_buckling_argument, buckling_record, is_linear
from fem_mnn.commands._common import (
    add_memory_argument,
    add_regime_arguments,
    check_regime_options,
    check_sample_memory,
    count,
    natural,
    nonlinear_fem_options,
    nonlinear_spring_model,
    positive_float,
    rate,
    seed,
)
from fem_mnn.commands._solver import add_solver_arguments, solver_options
from fem_mnn.contract import MechanicalModel
from fem_mnn.core.errors import InputError
from fem_mnn.core.files import atomic_savefig, atomic_write_json, to_jsonable
from fem_mnn.design.files import load_design, save_design
from fem_mnn.design.records import Design
from fem_mnn.learn import TrainConfig, paper_config, train
from fem_mnn.learn.robust import RobustModel
from fem_mnn.learn.taskfile import NONLINEAR_TASK_NAMES, load_task_file, paper_task
from fem_mnn.learn.tasks import TASK_NAMES, Task, require_regime
from fem_mnn.spring.network import SpringModel

__all__ = ["DEFAULT_CHECKPOINT_EVERY", "register_fem", "register_spring", "run_train"]

#: ``--checkpoint-every`` default per model: an FE epoch costs seconds (a checkpoint every 10 bounds
#: the work a SIGKILL loses to about 10 epochs); a spring epoch costs microseconds to milliseconds, so
#: the spring run checkpoints at the end only. Both checkpoint on SIGINT/SIGTERM and at the end.
DEFAULT_CHECKPOINT_EVERY = {"spring": 0, "fem": 10}
#: ``--robust-samples`` default per model (each costs one factorisation per step).
DEFAULT_ROBUST_SAMPLES = {"spring": 16, "fem": 4}


class _RecordingMesher:
    """Meshes as the FE model's default mesher does, keeping each mesh's record for result.json."""

    def __init__(self) -> None:
        self.infos: list = []

    def __call__(self, design, options, comm):  # noqa: ANN001, ANN204 - the FemModel mesher protocol
        from fem_mnn.fem.meshing import generate_mesh

        md = generate_mesh(design, options, comm)
        self.infos.append(md.info)
        return md

    def record(self, options) -> dict:  # noqa: ANN001
        """The first mesh (the design file's own, as ``fem evaluate`` makes it) and how many followed."""
        from fem_mnn.geometry.build import mesh_record

        first = mesh_record(self.infos[0], **dataclasses.asdict(options)) if self.infos else None
        return {"mesh": first, "n_meshes": len(self.infos), "keys": sorted({i.key for i in self.infos})}


def _model(args: argparse.Namespace, design: Design) -> tuple[MechanicalModel, int]:
    """(model, MPI rank) for ``args.model``: the spring network or the FE continuum.

    The FE model's mesher is a :class:`_RecordingMesher`, kept in ``args.meshes`` (its mesh
    options in ``args.mesh_options``).
    """
    if args.model == "spring":
        if args.regime == "nonlinear":
            return nonlinear_spring_model(design, args.load_steps or 10), 0
        return SpringModel(design), 0

    from fem_mnn.fem.linear import FemModel, FemOptions
    from fem_mnn.geometry.build import MeshOptions, mesh_plan

    comm = _comm()
    asked = MeshOptions(dim=args.dim, elements_across=args.elements_across, refinement=args.refinement)
    mo = mesh_plan(design, asked).fixed_size()  # the design file's own mesh, then that h for every width
    options = FemOptions(dim=args.dim, degree=args.degree, mesh=mo, **solver_options(args))
    args.meshes, args.mesh_options = _RecordingMesher(), asked
    if args.regime == "nonlinear":
        if args.gradient != "exact":
            raise InputError(
                "--regime nonlinear trains with the exact gradient only", source="--gradient", value=args.gradient
            )
        from fem_mnn.fem.nonlinear import NonlinearFemModel

        # every state on the load path from zero (no warm start), on a mesh morphing with the widths
        nl_options = nonlinear_fem_options(args)
        return NonlinearFemModel(design, options, nl_options, comm, mesher=args.meshes), comm.rank
    if getattr(args, "gradient", "insitu") == "exact":
        # the mesh moves with the widths (no remeshing) and dL/dw is the exact shape gradient
        from fem_mnn.fem.morph import MorphingFemModel

        return MorphingFemModel(design, options, comm, mesher=args.meshes, gradient="exact"), comm.rank
    return FemModel(design, options, comm, mesher=args.meshes), comm.rank


def _comm():
    from fem_mnn.fem._dolfinx import import_dolfinx

    import_dolfinx()
    from mpi4py import MPI

    return MPI.COMM_WORLD


def _task_and_config(args: argparse.Namespace, design) -> tuple[Task, TrainConfig]:
    """The task (a paper task from its shipped file, or ``--task-file``) and the training settings."""
    overrides: dict = {"paper_gradient": args.paper_gradient, "checkpoint_every": args.checkpoint_every}
    if args.seed is not None:
        overrides["seed"] = args.seed
    for name, key in (("epochs", "epochs"), ("lr", "lr"), ("batch", "batch_size"), ("beta", "beta")):
        if getattr(args, name) is not None:
            overrides[key] = getattr(args, name)
    if args.parametrisation is not None:
        overrides["parametrisation"] = args.parametrisation
    if args.task_file is not None or args.task in NONLINEAR_TASK_NAMES:
        # a shipped nonlinear task is a task file: its own "train" block sets the defaults
        task = (
            load_task_file(args.task_file, design, seed=args.seed)
            if args.task_file is not None
            else paper_task(args.task, design, seed=args.seed)
        )
        settings = dict(task.train_settings)
        if settings.get("metric_tol") is not None:
            settings["metric_tol"] = tuple(settings["metric_tol"])
        try:
            config = TrainConfig(**{**settings, **overrides})
        except InputError as err:
            raise err.with_source(str(args.task_file or args.task)) from None
        return task, config
    task = paper_task(args.task, design, seed=args.seed if args.seed is not None else 0)
    return task, paper_config(args.task, **overrides)


def run_train(args: argparse.Namespace) -> int:
    """Run ``fem-mnn spring train`` or ``fem-mnn fem train`` (``args.model``)."""
    from fem_mnn.viz.training import compare_widths_figure, training_curves_figure

    design = load_design(args.design)
    if args.checkpoint_every is None:
        args.checkpoint_every = DEFAULT_CHECKPOINT_EVERY[args.model]
    task, config = _task_and_config(args, design)
    check_regime_options(args, args.model)
    require_regime(
        task, args.regime, what="the linear model (--regime linear, the default)"
    )  # before anything is meshed or written
    out = args.out
    ckpt = out / "checkpoint.npz"
    if not args.resume and ckpt.exists():
        raise InputError("holds a checkpoint: pass --resume to continue it, or choose another --out", source=str(out))
    if args.resume and not ckpt.exists():
        raise InputError("no checkpoint to resume from (start without --resume)", source=str(ckpt))
    if getattr(args, "robust", None):  # before any meshing
        check_sample_memory("--robust-samples", args.robust_samples, 2 * design.n_bonds)
    model, rank = _model(args, design)
    robust = None  # the tolerance-aware training's record
    if getattr(args, "robust", None):
        robust_seed = config.seed if args.robust_seed is None else args.robust_seed
        robust_model = RobustModel(model, args.robust, n_samples=args.robust_samples, seed=robust_seed)
        model, robust = robust_model, robust_model.robust
    result = train(
        model,
        task,
        config,
        out_dir=out,
        resume=args.resume,
        progress=not args.quiet and rank == 0,
        write=rank == 0,
        handle_signals=True,
    )
    if result.stop_reason == "interrupted":
        if rank == 0:
            print(
                f"fem-mnn: interrupted ({result.signal or 'SIGINT'}) after epoch {result.epochs} of {config.epochs}: "
                f"checkpoint {ckpt}; continue with the same command and --resume",
                file=sys.stderr,
            )
        return 130
    lo, hi = design.geometry.width_min, design.geometry.width_max
    buckling = None
    if is_linear(args):  # collective: before the ranks part
        skip = args.no_buckling_check
        final = np.clip(result.widths, lo, hi)
        buckling = buckling_record(design, task, result.initial_widths, final, skip, rank=rank)
    if rank != 0:
        return 0

    trained = design.with_widths(np.clip(result.widths, lo, hi))
    save_design(trained, out / "design_trained.json")  # the last epoch's widths (the name of 0.4.0)
    # the best epoch's, by the training loss (never the test split): fem_mnn.learn.training.BEST_CRITERION
    best_widths = result.widths if result.best_widths is None else result.best_widths
    save_design(design.with_widths(np.clip(best_widths, lo, hi)), out / "design_best.json")
    fig = compare_widths_figure(
        design,
        result.initial_widths,
        result.widths,
        titles=("initial widths", f"trained ({result.epochs} epochs)"),
        suptitle=f"{task.name}: {design.name}",
        loads=task.train_loads[0],
        outputs=[tuple(o) for o in task.outputs],
    )
    atomic_savefig(fig, out / "lattice.png", dpi=130, bbox_inches="tight")
    # epochs 0 runs no epoch: the metrics are those of the starting widths
    last_metrics = result.final.metrics if result.final is not None else (result.initial_metrics or {})
    keys = [k for k in ("train_accuracy", "test_accuracy", "train_rel_error", "test_rel_error") if k in last_metrics]
    outputs = []
    if task.kind == "mse" and task.train_targets is not None and len(task.train_targets) == 1:
        # one load case (behaviour tasks): each output against its target
        for o, target in zip(task.outputs, task.train_targets[0], strict=True):
            name = f"u_{o.node}{'xy'[o.component]}"
            outputs.append((f"train_{name}", float(target), name))
    fig = training_curves_figure(
        [(task.name, result)], metric_keys=keys, title=f"{task.name} training", outputs=outputs
    )
    atomic_savefig(fig, out / "training.png", dpi=130, bbox_inches="tight")

    extra: dict = {} if buckling is None else {"first_buckling_load_factor": buckling}
    if robust is not None:
        extra["robust"] = robust
        print(f"tolerance-aware: {robust['method']}, S {args.robust:g} mm, {args.robust_samples} per step")
    if getattr(args, "meshes", None) is not None:
        # the FE meshes: the first is the design file's own (the mesh `fem evaluate` makes, same key)
        extra["fem"] = {"dim": args.dim, "degree": args.degree, **args.meshes.record(args.mesh_options)}
    if extra:
        atomic_write_json(out / "result.json", to_jsonable({**result.to_dict(), **extra}))
    fin = result.final
    resumed = f" (resumed from epoch {result.resumed_from})" if result.resumed_from is not None else ""
    print(f"task {task.name}: {result.epochs} epochs{resumed}, stopped by {result.stop_reason}")
    if fin is not None:
        print(f"final loss {fin.loss:.6g}" + "".join(f", {k} {v:.6g}" for k, v in sorted(fin.metrics.items())))
    elif result.initial_metrics is not None:
        print(
            "no epoch run: the starting widths, " + ", ".join(f"{k} {v:.6g}" for k, v in sorted(last_metrics.items()))
        )
    best = result.best()
    if best["metrics"] is not None:
        shown = "".join(f", {k} {v:.6g}" for k, v in sorted(best["metrics"].items()))
        where = "the start widths" if best["epoch"] == 0 else f"epoch {best['epoch']}"
        print(f"best: {where} by {best['criterion']} (training split){shown}")
    print(
        f"widths: last epoch ({result.epochs}) in design_trained.json, best epoch ({best['epoch']}) in design_best.json"
    )
    if result.success is not None:
        sc = result.success
        bound = f">= {sc['min']:g}" if "min" in sc else f"<= {sc['max']:g}"
        value = "n/a" if sc["value"] is None else f"{sc['value']:.4g}"
        print(f"success: {sc['metric']} {value} (wanted {bound}): {'met' if sc['met'] else 'NOT met'}")
    print(
        f"wrote {out}/ (history.csv, history.json, result.json, checkpoint.npz, design_trained.json, "
        "design_best.json, lattice.png, training.png)"
    )
    sys.stdout.flush()
    return 0


def _add_train_parser(ssub: argparse._SubParsersAction, model: str, what: str) -> argparse.ArgumentParser:

    p = ssub.add_parser(
        "train",
        help="train the widths on a task: a paper task (--task) or your own (--task-file)",
        description=f"Train bond widths of DESIGN with {what}, by in situ backpropagation and Adam, on a task of "
        "Li & Mao (2024) (--task, the paper's lattice only: the tasks use its node ids) or on a task file "
        "(--task-file, any lattice; format in the README). Paper task defaults are the authors' settings "
        "(behaviour: step 5e-3, full batch, stop at relative width change 1e-8; regression: 5000 epochs, step 0.1, "
        "batch 16; iris: 100 epochs, step 6e-3, batch 16, beta 5); a task file's 'train' block sets its own. "
        "Ctrl-C (SIGINT) or SIGTERM stops at the end of the current epoch, writes a checkpoint and exits 130; "
        "--resume continues it. Writes history.csv/json, result.json (with the task's success criterion), "
        "checkpoint.npz, design_trained.json (the last epoch's widths), design_best.json (the widths of the epoch "
        "with the lowest training loss, epoch 0 being the start; the test split never chooses), lattice.png and "
        "training.png into --out.",
    )
    p.add_argument("design", metavar="DESIGN", help="design JSON file")
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument(
        "--task",
        choices=TASK_NAMES + NONLINEAR_TASK_NAMES,
        help="a paper task or a shipped nonlinear one (load-switch, load-and: --regime nonlinear; shipped task "
        "files, the paper's lattice only)",
    )
    which.add_argument(
        "--task-file",
        type=Path,
        metavar="FILE.json",
        help="your task file (schema: docs/workflow.md#task-files, or the fem_mnn.learn.taskfile docstring)",
    )
    add_regime_arguments(p)
    p.add_argument(
        "--epochs",
        type=count,
        default=None,
        help="maximum epochs (default: the paper's); 0 evaluates the starting widths (result.json initial_metrics) "
        "and writes the usual outputs",
    )
    p.add_argument("--lr", type=rate, default=None, help="Adam step size (default: the paper's)")
    p.add_argument("--batch", type=count, default=None, help="mini-batch size, 0 = full batch")
    p.add_argument("--beta", type=rate, default=None, help="sigmoid steepness of the width parametrisation")
    p.add_argument("--parametrisation", choices=("sigmoid", "clip"), default=None, help="width parametrisation")
    p.add_argument(
        "--seed",
        type=seed,
        default=None,
        help="seed of the data split/noise and of the batch shuffling (default 0, or the task file's split seed)",
    )
    p.add_argument(
        "--paper-gradient",
        action="store_true",
        help="feed dL/dk in SI units straight to the latent variable, as the authors' code does",
    )
    p.add_argument("--out", type=_out_dir, default=None, help="output folder (default ./train-TASK)")
    p.add_argument(
        "--resume", action="store_true", help="continue from --out/checkpoint.npz (an error when there is none)"
    )
    p.add_argument(
        "--checkpoint-every",
        type=count,
        default=None,
        metavar="N",
        help=f"also checkpoint every N epochs, 0 = only at the end and on SIGINT/SIGTERM "
        f"(default {DEFAULT_CHECKPOINT_EVERY[model]} for {model} train)",
    )
    p.add_argument("--quiet", action="store_true", help="no progress on stderr")
    add_memory_argument(p)
    add_buckling_argument(p)
    p.add_argument(
        "--robust",
        type=positive_float,
        default=None,
        metavar="S",
        help="tolerance-aware training: minimise the expected loss under independent normal width noise of sd S mm "
        "per bond (each step averages the exact gradient over --robust-samples perturbed copies of the widths, "
        "in antithetic pairs +S z, -S z)",
    )
    p.add_argument(
        "--robust-samples",
        type=natural,
        default=DEFAULT_ROBUST_SAMPLES[model],
        metavar="K",
        help=f"perturbations per step with --robust (default {DEFAULT_ROBUST_SAMPLES[model]})",
    )
    p.add_argument("--robust-seed", type=seed, default=None, help="seed of the perturbations (default: --seed's)")
    p.set_defaults(func=_run, model=model)
    return p


def register_spring(ssub: argparse._SubParsersAction) -> None:
    """Add ``train`` under the ``fem-mnn spring`` group."""
    _add_train_parser(ssub, "spring", "the spring model")


def register_fem(fsub: argparse._SubParsersAction) -> None:
    """Add ``train`` under the ``fem-mnn fem`` group (collective under MPI)."""
    p = _add_train_parser(fsub, "fem", "the FE model of the printed lattice (one factorisation per step)")
    p.add_argument("--dim", type=int, choices=(2, 3), default=2, help="2 = plane stress (default), 3 = solid")
    p.add_argument("--degree", type=int, choices=(1, 2), default=2, help="Lagrange degree (default 2)")
    p.add_argument(
        "--elements-across", type=natural, default=3, metavar="N", help="elements across the thinnest thin end"
    )
    p.add_argument("--refinement", type=positive_float, default=1.0, metavar="R", help="mesh-size divisor (default 1)")
    p.add_argument(
        "--gradient",
        choices=("exact", "insitu"),
        default="exact",
        help="exact (default): dL/dw by the adjoint shape derivative on a mesh that morphs with the widths, "
        "which designs the printed lattice; insitu: the in situ estimate k'(w) e e_adj on a mesh remeshed "
        "every step, what the physical in situ experiment would do",
    )
    add_solver_arguments(p)


def _out_dir(text: str):

    return Path(text)


def _run(args: argparse.Namespace) -> int:

    if args.out is None:
        args.out = Path(f"train-{args.task or Path(args.task_file).stem}")
    if args.out.exists() and not args.out.is_dir():
        raise InputError("is not a folder", source="--out", value=str(args.out))
    return run_train(args)
