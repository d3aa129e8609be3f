"""``fem-mnn tolerance``: will the printed lattice still do its task under the printer's scatter?

Noise model: each bond's width independently normal with sd S (``--width-sd``, mm; thin ends
follow), one common modulus factor with relative sd R (``--E-sd``), no truncation (widths
may leave the training bounds); refused before sampling when ``w - 4 S`` would take a thin
end below the printable minimum feature. Linearised sds from the exact output Jacobian and
each bond's share of the variance, beside N sampled designs (mean, sd, task metric,
probability of success by the task's criterion, Monte Carlo errors). Under
``mpiexec -n P`` the samples are spread over the ranks (the same seed gives the same
statistics); rank 0 writes.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import numpy as np

from fem_mnn.commands._buckling import add_buckling_argument, buckling_record
from fem_mnn.commands._common import add_memory_argument, check_sample_memory, count, natural, seed
from fem_mnn.core.errors import InputError
from fem_mnn.core.files import atomic_savefig, atomic_write_json, to_jsonable
from fem_mnn.design.files import load_design
from fem_mnn.learn.robust import WidthNoise
from fem_mnn.learn.taskfile import load_task_file, paper_task
from fem_mnn.learn.tasks import TASK_NAMES, Task

__all__ = ["load_task", "nonnegative", "register", "summary_lines"]


def nonnegative(text: str) -> float:
    """argparse type: a finite number >= 0."""
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number >= 0, got {text!r}") from None
    if not np.isfinite(v) or v < 0:
        raise argparse.ArgumentTypeError(f"expected a number >= 0, got {text!r}")
    return v


def load_task(args: argparse.Namespace, design: Any) -> Task:
    """``--task NAME`` (shipped task file, the paper's lattice) or ``--task-file F``."""
    if getattr(args, "task_file", None) is not None:
        return load_task_file(args.task_file, design)
    return paper_task(args.task, design)


def summary_lines(res: dict[str, Any], max_outputs: int = 12) -> list[str]:
    """A short readable report of a tolerance result."""
    nz = res["noise"]
    lines = [
        f"tolerance of task {res['task']} ({res['model']['name']} model): width sd {nz['width_sd_mm']:g} mm per bond, "
        f"modulus sd {100 * nz['E_rel_sd']:g} %, {res['n_samples']} samples (seed {res['seed']}, {res['mpi_size']} rank(s))",
    ]
    names = res["outputs"]
    lines.append("output            nominal   linear sd  sampled mean  sampled sd (+- MC)")
    for i, name in enumerate(names[:max_outputs]):
        ls = res.get("linear_sd")
        sm = res.get("sampled_mean")
        lines.append(
            f"{name:16s} {res['nominal'][i]:9.5f} {ls[i] if ls is not None else float('nan'):10.5f} "
            + (
                f"{sm[i]:13.5f} {res['sampled_sd'][i]:10.5f} +- {res['sampled_sd_mc_err'][i]:.5f}"
                if sm is not None
                else ""
            )
        )
    if len(names) > max_outputs:
        lines.append(f"... {len(names) - max_outputs} more outputs in the JSON")
    if "sd_ratio_summary" in res:
        r = res["sd_ratio_summary"]
        lines.append(f"sampled / linearised sd: median {r['median']:.3f}, range {r['min']:.3f}..{r['max']:.3f}")
    if res.get("dominant_bond") is not None:
        lines.append(
            f"dominant bond {res['dominant_bond']} ({100 * res['dominant_bond_share']:.1f} % of the outputs' variance); "
            f"modulus {100 * res['modulus_share_total']:.1f} %"
        )
    elif "modulus_share_total" in res:
        lines.append(f"no bond carries variance (no width noise); modulus {100 * res['modulus_share_total']:.1f} %")
    lines.append(f"metric {res['metric']}: nominal {res['metric_nominal']:.4g}")
    if "metric_mean" in res:
        lines[-1] += f", sampled {res['metric_mean']:.4g} +- {res['metric_sd']:.3g} (sd)"
        crit = res.get("success")
        if crit is not None:
            bound = f">= {crit['min']:g}" if "min" in crit else f"<= {crit['max']:g}"
            lo, hi = res["p_success_ci95"]
            lines.append(
                f"probability of success ({res['metric']} {bound}): {res['p_success']:.4f} +- {res['p_success_mc_err']:.4f} "
                f"(MC sd; 95 % interval {lo:.3f}..{hi:.3f}); nominal design {'meets' if res['success_nominal'] else 'fails'} it"
            )
        else:
            lines.append("the task states no success criterion: no probability of success")
    return lines


def _run(args: argparse.Namespace) -> int:
    from fem_mnn.tolerance.run import DEFAULT_SAMPLES, analyse, world

    design = load_design(args.design)
    task = load_task(args, design)
    noise = WidthNoise(args.width_sd, args.E_sd)
    if args.out.suffix.lower() != ".json":
        raise InputError("must end in .json", source="--out", value=str(args.out))
    n_cases = task.train_loads.shape[0] + task.test_loads.shape[0]
    n = args.samples if args.samples is not None else DEFAULT_SAMPLES[args.model]
    check_sample_memory("--samples", n, 2 * design.n_bonds + n_cases * len(task.outputs))
    comm = world()
    res = analyse(
        design, task, noise, args.samples, args.seed, model=args.model, comm=comm, degree=args.degree,
        elements_across=args.elements_across,
    )  # fmt: skip
    rank = 0 if comm is None else comm.rank
    buckling = buckling_record(design, task, design.widths, None, args.no_buckling_check, rank=rank)
    if res is None:  # not rank 0
        return 0
    res["first_buckling_load_factor"] = buckling
    samples = res.pop("samples", {}).get("outputs")
    atomic_write_json(args.out, to_jsonable(res))
    png = args.png or args.out.with_suffix(".png")
    from fem_mnn.tolerance.plot import tolerance_figure

    atomic_savefig(tolerance_figure(design, res, samples), png, dpi=130, bbox_inches="tight")
    print("\n".join(summary_lines(res)))
    print(f"wrote {args.out} and {png}")
    sys.stdout.flush()
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    """Add this command's parser to ``fem-mnn``'s sub-commands."""
    p = sub.add_parser(
        "tolerance",
        help="print-tolerance analysis: output scatter, bond shares and probability of success",
        description="Print-tolerance analysis of DESIGN on a task. Noise model: each bond's width independently "
        "normal with sd S mm (thin ends follow the width), one common multiplicative modulus factor with relative "
        "sd R, no truncation (sampled widths may leave the 1.5-2.5 mm training bounds). Refused before sampling "
        "when w - 4 S would take a thin end below the printable minimum feature. Reports the linearised sd of every "
        "output (exact output Jacobian: spring adjoint, or the FE shape gradient) and each bond's share of the "
        "variance, beside N sampled designs: mean and sd of every output and of the task metric, and the probability "
        "of success by the task's criterion with its Monte Carlo error. Under mpiexec the samples are spread over "
        "the ranks (same seed, same statistics). The FE model morphs its mesh per sample (one numeric "
        "refactorisation, no remesh).",
    )
    p.add_argument("design", metavar="DESIGN", help="design JSON file")
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--task", choices=TASK_NAMES, help="a paper task (shipped task file; the paper's lattice)")
    which.add_argument(
        "--task-file", type=Path, metavar="FILE.json", help="your task file (schema: docs/workflow.md#task-files)"
    )
    p.add_argument("--model", choices=("spring", "fem"), default="spring", help="model of the samples (default spring)")
    p.add_argument(
        "--width-sd", type=nonnegative, default=0.05, metavar="S", help="width sd per bond, mm (default 0.05)"
    )
    p.add_argument("--E-sd", type=nonnegative, default=0.05, metavar="R", help="relative modulus sd (default 0.05)")
    p.add_argument(
        "--samples", type=count, default=None, metavar="N", help="sampled designs (default 1000 spring, 50 fem)"
    )
    p.add_argument("--seed", type=seed, default=0, help="seed of the samples (default 0)")
    p.add_argument("--out", type=Path, required=True, metavar="F.json", help="result JSON")
    p.add_argument("--png", type=Path, default=None, metavar="F.png", help="figure (default: --out with .png)")
    p.add_argument("--degree", type=int, choices=(1, 2), default=2, help="FE Lagrange degree (default 2)")
    p.add_argument(
        "--elements-across", type=natural, default=3, metavar="N", help="FE elements across the thinnest thin end"
    )
    add_buckling_argument(p)
    add_memory_argument(p)  # the FE model's guard, and the refusal of --samples whose arrays would not fit
    p.set_defaults(func=_run)
