"""``fem-mnn validate``: printability report of a design (exit 0 pass, 1 fail, 2 bad input).

Exit 2 also for a design the other commands refuse (crossing bonds, widths outside the
printable range...): the report is printed first, then the loader's one-line error.

The design is read leniently (types and keys only) so that every geometric problem
is reported, not only the first. Further check groups (mechanical checks under
load) add their options in :func:`register` and their findings in :func:`report`.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from fem_mnn.commands._common import (
    add_memory_argument,
    check_sample_memory,
    count,
    natural,
    parse_loads,
    positive_float,
)
from fem_mnn.commands.tolerance import nonnegative
from fem_mnn.core.errors import InputError
from fem_mnn.core.files import atomic_write_json, to_jsonable
from fem_mnn.core.mpi import process_rank
from fem_mnn.design.files import load_design
from fem_mnn.design.printability import DEFAULT_BUILD_VOLUME, PrintabilityReport, check_design, read_design_lenient
from fem_mnn.design.records import Design
from fem_mnn.fem.mechanical_checks import (
    BUCKLING_FRACTION,
    DEFAULT_CHECK_BUDGET,
    CheckOptions,
    MaterialLimits,
    MechanicalReport,
    mechanical_report,
)
from fem_mnn.learn.robust import WidthNoise
from fem_mnn.learn.tasks import TASK_NAMES

__all__ = ["register", "report"]


def report(args: argparse.Namespace) -> tuple[Design, PrintabilityReport]:
    """The design and its report for the parsed command-line arguments."""
    design = read_design_lenient(args.design)
    return design, check_design(design, build_volume=args.build_volume)


def say(*args: object, end: str = "\n") -> None:
    """``print`` on MPI rank 0 only: under mpiexec every rank computes, one reports."""
    if process_rank() == 0:
        print(*args, end=end)


def _validate(args: argparse.Namespace) -> int:
    root = process_rank() == 0  # under mpiexec: one report, one writer (every rank computes)
    design, rep = report(args)
    say(rep.to_text(), end="")
    # a design every other command refuses is bad input here too (exit 2, nothing written, the
    # loader's one line with its hint), after the report above has listed every problem; exit 1
    # stays for a design that loads but fails a printability or mechanical check
    strict = load_design(args.design)
    loads, case = mechanical_loads(args, strict)
    mech = None
    if loads is not None:
        if case is not None:
            say(
                f"loads of task {case['task']}: its largest load case ({case['split']} case {case['index']}, "
                f"{case['total_force_N']:.4g} N in all)"
            )
        if rep.ok:
            mech = _mechanical_report(args, design, loads)
            say(mech.to_text(), end="")
        else:
            say("mechanical checks skipped: fix the geometric problems first")
    tol = None
    if getattr(args, "tolerance", None) is not None:
        tol = run_tolerance(args, design, rep.ok)
    if args.json and root:
        data = rep.to_dict()
        if mech is not None:
            data["mechanical"] = mech.to_dict()
            data["mechanical"]["regime"] = args.regime
            if case is not None:
                data["mechanical"]["load_case"] = case
        if tol is not None:
            data["tolerance"] = tol
        atomic_write_json(args.json, data)
    if args.png and root:
        from fem_mnn.viz.geometry import plot_geometry

        bonds = sorted({b for f in rep.findings for b in f.bonds})
        nodes = sorted({j for f in rep.findings for j in f.nodes if not f.bonds})
        plot_geometry(design, args.png, highlight_bonds=bonds, highlight_nodes=nodes)
        say(f"wrote {args.png}")
    return 0 if rep.ok and (mech is None or mech.ok) else 1


def mechanical_loads(args: argparse.Namespace, design: Design) -> tuple[np.ndarray | None, dict | None]:
    """The loads of the mechanical checks: ``--loads``, or the largest load case of ``--task`` / ``--task-file``.

    Returns (loads (n_nodes, 2) in N or None, the task's case ``{"task", "split", "index",
    "total_force_N"}`` or None). Refuses ``--loads`` together with a task, and ``--regime
    nonlinear`` without loads.
    """
    from fem_mnn.commands._buckling import largest_load_case

    has_task = args.task is not None or args.task_file is not None
    if getattr(args, "loads", None):
        if has_task:
            which = "--task" if args.task is not None else "--task-file"
            raise InputError(f"gives the loads of the mechanical checks: {which} or --loads, not both", source=which)
        return parse_loads_option(args.loads, design), None
    if has_task and getattr(args, "no_mechanical_checks", False):
        if args.regime == "nonlinear":
            raise InputError(
                "needs the mechanical checks (drop --no-mechanical-checks)", source="--regime", value="nonlinear"
            )
        return None, None
    if not has_task:
        if args.regime == "nonlinear":
            raise InputError("needs loads: --loads, --task or --task-file", source="--regime", value=args.regime)
        return None, None
    from fem_mnn.commands.tolerance import load_task

    task = load_task(args, design)
    loads, case = largest_load_case(task)
    if not np.any(loads):
        raise InputError("applies no load", source=str(args.task_file or args.task))
    return loads, {"task": task.name, **case}


def run_tolerance(args: argparse.Namespace, design: Design, printable: bool) -> dict | None:
    """The probability of success under print tolerance ``--tolerance S`` (spring model, ``--tolerance-samples``).

    Informational: it does not change the exit code (the task's success is a design goal, not a printability rule).
    """
    from fem_mnn.commands.tolerance import load_task, summary_lines
    from fem_mnn.tolerance.run import analyse

    if args.task is None and args.task_file is None:
        raise InputError("--tolerance needs --task or --task-file", source="--tolerance", value=args.tolerance)
    if not printable:
        say("print-tolerance check skipped: fix the geometric problems first")
        return None

    design = load_design(args.design)  # strict: the report above passed
    task = load_task(args, design)
    n_cases = task.train_loads.shape[0] + task.test_loads.shape[0]
    check_sample_memory("--tolerance-samples", args.tolerance_samples, 2 * design.n_bonds + n_cases * len(task.outputs))
    try:
        res = analyse(design, task, WidthNoise(args.tolerance, args.tolerance_E_sd), args.tolerance_samples, 0)
    except InputError as err:  # the noise model names the options of fem-mnn tolerance: name this command's
        names = {"--width-sd": "--tolerance", "--E-sd": "--tolerance-E-sd", "--samples": "--tolerance-samples"}
        if err.field not in names and err.source not in names:
            raise
        raise InputError(
            err.reason,
            source=None if err.source is None else names.get(err.source, err.source),
            field=None if err.field is None else names.get(err.field, err.field),
            value=err.value,
            has_value=err.value is not None,
        ) from None
    assert res is not None  # None only off the root rank of a communicator, and none is given here
    res.pop("samples", None)
    say("print tolerance (spring model, noise model as in fem-mnn tolerance --help):")
    for line in summary_lines(res, max_outputs=4):
        say("  " + line)
    keep = ("task", "metric", "success", "noise", "seed", "n_samples", "metric_nominal", "metric_mean", "metric_sd",
            "p_success", "p_success_mc_err", "p_success_ci95", "dominant_bond", "dominant_bond_share")  # fmt: skip
    return to_jsonable({k: res[k] for k in keep if k in res})


def register(sub: argparse._SubParsersAction) -> None:
    """Add this command's parser to ``fem-mnn``'s sub-commands."""
    p = sub.add_parser(
        "validate",
        help="printability checks of a design (exit 0 pass, 1 fail, 2 bad input)",
        description="Checks widths against the printable range, thin ends against the minimum feature, hubs that "
        "swallow beams, beams that intersect away from their shared hub, the build volume and connectivity. "
        "Every problem is reported with the bond/node ids, the measured value and the limit. Exit 1: the design "
        "loads but fails a check; exit 2: bad input, also a design every other command refuses (crossing bonds, "
        "widths outside the printable range), after the report.",
    )
    p.add_argument("design", help="design JSON")
    p.add_argument("--json", default=None, metavar="FILE", help="also write the report as JSON")
    p.add_argument(
        "--build-volume",
        nargs=3,
        type=positive_float,
        default=DEFAULT_BUILD_VOLUME,
        metavar=("X", "Y", "Z"),
        help="printer build volume in mm (default 490 390 200, a Stratasys J8-series PolyJet tray)",
    )
    p.add_argument("--png", default=None, metavar="FILE", help="also draw the geometry, offending parts in red")
    register_loads_option(p)
    add_memory_argument(p)
    g = p.add_argument_group(
        "a task: the mechanical checks under its largest load case (instead of --loads), and the print tolerance"
    )
    which = g.add_mutually_exclusive_group()
    which.add_argument(
        "--task",
        choices=TASK_NAMES,
        default=None,
        help="a paper task (shipped task file): the mechanical checks run under its largest load case (the case with "
        "the largest total force, train and test cases alike)",
    )
    which.add_argument("--task-file", type=Path, default=None, metavar="FILE.json", help="your task file (as --task)")
    g.add_argument(
        "--no-mechanical-checks",
        action="store_true",
        help="with --task/--task-file: the print-tolerance analysis only, not the mechanical checks at the task's loads",
    )
    g.add_argument(
        "--tolerance",
        type=nonnegative,
        default=None,
        metavar="S",
        help="width sd per bond (mm): report the probability of success by the task's criterion (spring model)",
    )
    g.add_argument(
        "--tolerance-E-sd", type=nonnegative, default=0.05, metavar="R", help="relative modulus sd (default 0.05)"
    )
    g.add_argument("--tolerance-samples", type=count, default=1000, metavar="N", help="samples (default 1000)")
    p.set_defaults(func=_validate)


def register_loads_option(parser: argparse.ArgumentParser) -> None:
    """Add ``--loads I:FX,FY`` (repeatable) and the mechanical options to a parser."""
    g = parser.add_argument_group("mechanical checks under load")
    g.add_argument(
        "--loads",
        action="append",
        metavar="I:FX,FY",
        default=None,
        help="design load (N) on node I; repeat for more nodes; enables rigidity, strain, buckling and linear-regime checks",
    )
    g.add_argument(
        "--safety",
        type=positive_float,
        default=CheckOptions.buckling_safety,
        help="buckling safety factor (warn below)",
    )
    g.add_argument(
        "--strain-limit",
        type=positive_float,
        default=MaterialLimits.working_strain,
        help="working strain limit (default 0.25)",
    )
    g.add_argument(
        "--linear-tol",
        type=positive_float,
        default=CheckOptions.linear_tolerance,
        help="linear-regime tolerance (default 0.05)",
    )
    g.add_argument(
        "--check-budget",
        type=positive_float,
        default=DEFAULT_CHECK_BUDGET,
        metavar="SECONDS",
        help=f"time budget of the mechanical checks (default {DEFAULT_CHECK_BUDGET:g} s, meshing included). The "
        f"linear-regime check's Newton path runs after buckling, stops at {BUCKLING_FRACTION:g} of the first buckling "
        "load factor, prints one line per load step and fails, with the load factor it reached, when the budget is "
        "spent or Newton does not converge before the design loads (exit 1, reports written). Ctrl-C or SIGTERM "
        "stops the checks between Newton iterations: exit 130, nothing written",
    )
    g.add_argument(
        "--elements-across",
        type=natural,
        default=3,
        metavar="N",
        help="FE mesh of the mechanical checks: elements across the thinnest section (default 3, as fem evaluate)",
    )
    g.add_argument(
        "--regime",
        choices=("linear", "nonlinear"),
        default="linear",
        help="linear (default): the design must stay linear and below buckling under the loads; nonlinear: a design "
        "meant to work in large deformation, through buckling: the neo-Hookean path goes to the loads (buckling "
        "below them is a warning) and strain, buckling and self-contact (unjoined beams or hubs that touch) of the "
        "deformed lattice are reported there; needs --loads, --task or --task-file",
    )
    g.add_argument("--mech-dir", default=None, metavar="DIR", help="write mechanical.json, mechanical.md and PNGs here")


def parse_loads_option(specs: list[str] | None, design: Design) -> np.ndarray:
    """(n_nodes, 2) loads from ``--loads I:FX,FY`` specs (N)."""
    return parse_loads(specs, design)[0]


def run_from_args(args: argparse.Namespace, design: Design, loads: np.ndarray | None = None) -> MechanicalReport | None:
    """Mechanical report under ``loads`` (default: the parsed ``--loads``); None when no load was given."""
    if loads is None and not getattr(args, "loads", None):
        return None
    if loads is None:
        loads = parse_loads_option(args.loads, design)
    return _mechanical_report(args, design, loads)


def _mechanical_report(args: argparse.Namespace, design: Design, loads: np.ndarray) -> MechanicalReport:
    from fem_mnn.core.signals import StopOnSignal

    budget = getattr(args, "check_budget", DEFAULT_CHECK_BUDGET)
    opts = CheckOptions(
        limits=MaterialLimits(working_strain=args.strain_limit),
        buckling_safety=args.safety,
        linear_tolerance=args.linear_tol,
        budget=budget,
        fem=_fem_options(getattr(args, "elements_across", 3)),
        regime=getattr(args, "regime", "linear"),
    )
    # Ctrl-C/SIGTERM: a request polled between Newton iterations and stages (not Python's
    # KeyboardInterrupt inside a PETSc callback, nor PETSc's SIGTERM abort); the checks end
    # with KeyboardInterrupt before writing, which the command line reports as exit 130.
    # Silent: the command line prints the one line.
    comm = _world()
    with StopOnSignal(comm, announce=False) as stop:
        return mechanical_report(design, loads, opts, comm=comm, out_dir=args.mech_dir, stop=stop.requested)


def _fem_options(elements_across: int):  # noqa: ANN202
    from fem_mnn.fem.linear import FemOptions  # lazy: DOLFINx
    from fem_mnn.geometry.build import MeshOptions  # lazy: gmsh

    return FemOptions(mesh=MeshOptions(elements_across=elements_across))


def _world():  # noqa: ANN202
    from fem_mnn.fem._dolfinx import import_dolfinx

    import_dolfinx()  # dolfinx_solver's MPI first
    from mpi4py import MPI

    return MPI.COMM_WORLD
