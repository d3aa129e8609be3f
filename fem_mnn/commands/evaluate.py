"""``fem-mnn fem evaluate`` and ``fem-mnn spring evaluate``: a design's task metrics under one model.

``fem-mnn fem evaluate DESIGN (--task T | --task-file F) [--out F.json]`` solves every load case
of the task on the FE model of the printed lattice at the design's widths and reports the
metrics training reports (same keys: ``train_loss``, ``train_rel_error`` / ``train_accuracy``,
``test_...``), the outputs and the task's success criterion, met or not: check a trained design
(e.g. one trained on springs) before printing it. ``spring evaluate`` does the same on the spring
network. The FE mesh is the one ``fem gradient`` makes with the same options, so both commands
give the same displacements for the same load. Collective under MPI; rank 0 prints and writes.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

from fem_mnn.commands._buckling import add_buckling_argument, buckling_record, is_linear
from fem_mnn.commands._common import (
    add_regime_arguments,
    check_regime_options,
    natural,
    nonlinear_fem_options,
    nonlinear_spring_model,
    positive_float,
    seed,
)
from fem_mnn.core.errors import InputError
from fem_mnn.core.files import atomic_write_json
from fem_mnn.design.files import load_design
from fem_mnn.learn.evaluate import Evaluation, evaluate, evaluate_operator
from fem_mnn.learn.taskfile import NONLINEAR_TASK_NAMES, load_task_file, paper_task
from fem_mnn.learn.tasks import TASK_NAMES, require_regime
from fem_mnn.spring.network import SpringModel

__all__ = ["register_fem", "register_spring", "print_evaluation"]


def _task(args: argparse.Namespace, design):
    if args.task_file is not None:
        return load_task_file(args.task_file, design, seed=args.seed)
    return paper_task(args.task, design, seed=args.seed if args.seed is not None else 0)


def print_evaluation(ev: Evaluation, model: str, out=None, max_cases: int = 5) -> None:
    """A short table: metrics, the first cases' outputs, the success criterion."""
    out = out or sys.stdout
    print(f"task {ev.task} under the {model} model", file=out)
    for k, v in sorted(ev.metrics.items()):
        print(f"  {k:24s} {v:.6g}", file=out)
    for split, vals in ev.outputs.items():
        n = vals.shape[0]
        print(f"  {split} outputs (mm), {min(n, max_cases)} of {n} cases: " + " ".join(ev.output_names), file=out)
        for c in range(min(n, max_cases)):
            print("    " + " ".join(f"{x:10.5g}" for x in vals[c]), file=out)
    sc = ev.success
    if sc is not None:
        bound = f">= {sc['min']:g}" if "min" in sc else f"<= {sc['max']:g}"
        value = "n/a" if sc["value"] is None else f"{sc['value']:.4g}"
        print(f"success: {sc['metric']} {value} (wanted {bound}): {'met' if sc['met'] else 'NOT met'}", file=out)


def _run(args: argparse.Namespace) -> int:
    design = load_design(args.design)
    task = _task(args, design)
    check_regime_options(args, args.model)
    require_regime(
        task, args.regime, what="the linear model (--regime linear, the default)"
    )  # before anything is meshed
    payload: dict[str, Any] = {"design": str(args.design), "design_hash": design.hash(), "model": args.model}
    payload["regime"] = args.regime
    rank = 0
    t0 = time.perf_counter()
    if args.model == "spring" and args.regime == "nonlinear":
        model = nonlinear_spring_model(design, args.load_steps or 10)
        op = model.operator()
        ev = evaluate_operator(op, task)
        payload["regime"] = model.regime_info
        payload["newton"] = {
            split: [
                {"load_factor": s.load_factor, "increments": len(s.history), "newton_iterations": s.newton_iterations,
                 "bisections": s.bisections}
                for s in op.states(loads)
            ]
            for split, loads in (("train", task.train_loads), ("test", task.test_loads))
            if loads.shape[0]
        }  # fmt: skip
    elif args.model == "spring":
        ev = evaluate(SpringModel(design), task)
    else:
        try:
            from fem_mnn.fem.linear import FemModel, FemOptions
        except ModuleNotFoundError as exc:
            raise InputError(f"the FEM commands need DOLFINx, which is not installed ({exc.name})") from None
        from mpi4py import MPI

        from fem_mnn.geometry.build import MeshOptions, mesh_record

        comm = MPI.COMM_WORLD
        rank = comm.rank
        mo = MeshOptions(dim=args.dim, elements_across=args.elements_across, refinement=args.refinement)
        options = FemOptions(dim=args.dim, degree=args.degree, mesh=mo)
        if args.regime == "nonlinear":
            from fem_mnn.fem.nonlinear import NonlinearFemModel

            nl_options = nonlinear_fem_options(args)
            model = NonlinearFemModel(design, options, nl_options, comm)
            op = model.operator()
            ev = evaluate_operator(op, task)
            payload["regime"] = model.regime_info
            payload["newton"] = {
                split: [
                    {"load_factor": s.load_factor, "increments": s.increments, "newton_iterations": s.newton_iterations}
                    for s in op.states(loads)
                ]
                for split, loads in (("train", task.train_loads), ("test", task.test_loads))
                if loads.shape[0]
            }
            disc = model.nl.disc
            info, n_dofs = disc.info, int(disc.V.dofmap.index_map.size_global * disc.V.dofmap.index_map_bs)
        else:
            op = FemModel(design, options, comm=comm).operator()
            ev = evaluate_operator(op, task)
            info, n_dofs = op.mesh_info, int(op.n_dofs)
        payload["fem"] = {
            "dim": args.dim,
            "degree": args.degree,
            "mesh": mesh_record(info, elements_across=args.elements_across, refinement=args.refinement),
            "n_dofs": n_dofs,
            "ranks": comm.size,
        }
    payload["seconds"] = time.perf_counter() - t0
    payload.update(ev.to_dict())
    if is_linear(args):  # collective under MPI
        skip = args.no_buckling_check
        payload["first_buckling_load_factor"] = buckling_record(design, task, design.widths, None, skip, rank=rank)
    payload["units"] = {"outputs": "mm", "u": "mm", "loss": "task units (mm^2 for MSE)"}
    if rank == 0:
        if args.out:
            atomic_write_json(args.out, payload)
            print(f"wrote {args.out}")
        print_evaluation(ev, args.model)
    return 0


def _add(sub: argparse._SubParsersAction, model: str, what: str) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "evaluate",
        help="a design's task metrics, outputs and success criterion under the " + what,
        description=f"Solve every load case of a task (--task, a paper task; or --task-file) on the {what} at the "
        "design's widths and report the metrics training reports (same keys: train_loss, train_rel_error or "
        "train_accuracy, test_...), the outputs and whether the task's success criterion is met. Use it to check "
        "a trained design (e.g. trained on springs) before printing it.",
    )
    p.add_argument("design", metavar="DESIGN", help="design JSON file (e.g. a design_trained.json)")
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument(
        "--task",
        choices=TASK_NAMES + NONLINEAR_TASK_NAMES,
        help="a paper task or a shipped nonlinear one (load-switch, load-and: --regime nonlinear; the paper's lattice)",
    )
    which.add_argument(
        "--task-file",
        type=Path,
        metavar="FILE.json",
        help="your task file (schema: docs/workflow.md#task-files, or the fem_mnn.learn.taskfile docstring)",
    )
    add_regime_arguments(p)
    p.add_argument("--seed", type=seed, default=None, help="seed of the data split/noise (default 0 / the file's)")
    p.add_argument("--out", type=Path, default=None, metavar="FILE.json", help="write the evaluation as JSON")
    add_buckling_argument(p)
    p.set_defaults(func=_run, model=model)
    return p


def register_spring(ssub: argparse._SubParsersAction) -> None:
    """Add ``evaluate`` under ``fem-mnn spring``."""
    _add(ssub, "spring", "spring model")


def register_fem(fsub: argparse._SubParsersAction) -> None:
    """Add ``evaluate`` under ``fem-mnn fem`` (collective under MPI)."""
    p = _add(fsub, "fem", "FE model of the printed lattice")
    p.add_argument("--dim", type=int, choices=(2, 3), default=2, help="2 = plane stress (default), 3 = solid")
    p.add_argument("--degree", type=int, choices=(1, 2, 3), default=2, help="Lagrange degree (default 2)")
    p.add_argument(
        "--elements-across", type=natural, default=3, metavar="N", help="elements across the thinnest section"
    )
    p.add_argument("--refinement", type=positive_float, default=1.0, metavar="R", help="mesh-size divisor (default 1)")
