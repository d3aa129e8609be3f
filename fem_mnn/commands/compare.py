"""``fem-mnn compare``: model predictions beside measurements.

``fem-mnn compare DESIGN --measured FILE.csv [--loads FILE.csv] --out DIR`` or
``fem-mnn compare DESIGN --paper-figure 1|2|3 [--data DIR] --out DIR`` writes
``comparison.md`` (table + error summary), ``comparison.json`` and ``parity.png``.
The measured file is a displacements or a gradients CSV (:mod:`fem_mnn.io.measured`,
told apart by the header); ``--loads`` is required for a measured file. Models:
``--models`` (default spring, spring-calibrated, fem). Progress on stderr; under
``mpiexec`` only rank 0 writes.
"""

from __future__ import annotations

import argparse
from typing import Any

from fem_mnn.commands._common import add_memory_argument
from fem_mnn.core.errors import InputError
from fem_mnn.core.log import get_logger
from fem_mnn.design.builders import check_paper_sample
from fem_mnn.design.files import load_design
from fem_mnn.io import measured as ms

__all__ = ["register"]


def _run(args: argparse.Namespace) -> int:
    from fem_mnn.fidelity.compare import (
        ALL_MODELS,
        compare_displacements,
        compare_gradients,
        write_comparison,
    )

    design = load_design(args.design)
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    bad = [m for m in models if m not in ALL_MODELS]
    if bad or not models:
        raise InputError(f"unknown model (choose from {', '.join(ALL_MODELS)})", source="--models", value=args.models)
    notes: list[str] = []
    if args.paper_figure is not None:
        if args.measured or args.loads:
            raise InputError("give either --paper-figure or --measured/--loads, not both", source="--paper-figure")
        check_paper_sample(design, str(args.design))
        pr = ms.paper_records(args.paper_figure, args.data)
        kind, records, loads, notes = pr.kind, pr.records, pr.loads, list(pr.notes)
        src = f"paper figure {args.paper_figure} ({args.data or 'default data folder'})"
    else:
        if not args.measured:
            raise InputError("give --measured FILE.csv (with --loads) or --paper-figure", source="--measured")
        if not args.loads:
            raise InputError("a measured file needs its load cases (--loads FILE.csv)", source="--loads")
        kind = ms.sniff(args.measured)
        if kind == "load":
            raise InputError("this is a loads file; give it as --loads", source=args.measured)
        records = ms.read_displacements(args.measured) if kind == "displacement" else ms.read_gradients(args.measured)
        loads = ms.read_loads(args.loads)
        src = str(args.measured)
    ms.check_against_design(design, records, src)
    cases = ms.load_cases(loads, design.n_nodes, args.loads or src)
    for lab, F in cases.items():
        hit = [j for j in design.fixed if abs(F[j]).sum() > 0]
        if hit:
            raise InputError(
                "load on a fixed node (it would only be a reaction)", source=args.loads or src, field=lab, value=hit[0]
            )

    comm = None
    fem_options = None
    if any(m.startswith("fem") or m in ("spring-calibrated", "frame") for m in models):
        try:
            from mpi4py import MPI

            from fem_mnn.fem.linear import FemOptions
        except ModuleNotFoundError as exc:
            raise InputError(f"the FEM-based models need DOLFINx, which is not installed ({exc.name})") from None
        comm = MPI.COMM_WORLD
        fem_options = FemOptions(degree=args.degree)
    rank0 = comm is None or comm.rank == 0
    say = get_logger(__name__).info if rank0 else (lambda _m: None)
    from fem_mnn.fidelity.compare import make_predictors

    say(f"{src}: {len(records)} {kind} records, models {', '.join(models)}")
    preds = make_predictors(design, models, fem_options=fem_options, comm=comm, progress=say)
    if kind == "gradient":
        if "forward" not in cases or "adjoint" not in cases:
            raise InputError(
                "a gradient measurement needs load cases 'forward' and 'adjoint'", source=args.loads or src
            )
        cmp_ = compare_gradients(design, records, cases["forward"], cases["adjoint"], preds)
    else:
        cmp_ = compare_displacements(design, records, cases, preds)
    cmp_.notes.extend(notes)
    title = f"Models vs measurement: {src}"
    if args.paper_figure == 3:
        # the printed network of Figure 3 was trained; its widths are not published, so the models
        # run on the design given: say so where the numbers are read, not only in a note
        cmp_.caveat = "UNTRAINED model (design widths) vs measurement of the TRAINED network"
        title = f"{cmp_.caveat}: paper figure 3"
    meta: dict[str, Any] = {
        "design": str(args.design),
        "design_hash": design.hash(),
        "measured": src,
        "models": ", ".join(models),
        "fem": f"P{args.degree} plane stress" if fem_options else "not run",
    }
    if rank0:
        if cmp_.caveat:
            meta["caveat"] = cmp_.caveat
            say(f"note: {cmp_.caveat}")
        out = write_comparison(args.out, [cmp_], meta, title)
        for m, s in cmp_.summary.items():
            say(f"{m}: RMS {s.rms:.4g} {cmp_.unit}, max {s.max_abs:.4g}, relative RMS {s.rel_rms:.3f}")
        say(f"wrote {out}/comparison.md, comparison.json, parity.png")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    """Add this command's parser to ``fem-mnn``'s sub-commands."""
    p = sub.add_parser(
        "compare",
        help="spring, calibrated spring and FEM predictions beside measured data",
        description="Put model predictions beside measured node displacements or per-bond gradients (CSV formats "
        "in fem_mnn.io.measured; docs/fidelity.md) and write a table, an error summary and a parity plot.",
    )
    p.add_argument("design", metavar="DESIGN", help="design JSON file")
    p.add_argument("--measured", metavar="FILE.csv", help="measured displacements or gradients (CSV)")
    p.add_argument("--loads", metavar="FILE.csv", help="the load cases of the measurement (CSV)")
    p.add_argument(
        "--paper-figure",
        type=int,
        choices=(1, 2, 3),
        help="use the paper's Figure 1, 2 or 3 data (DESIGN must be the paper's sample: its nodes, bonds and "
        "clamps; Figure 3 measured the TRAINED network, whose widths are unpublished: the table and plot say so)",
    )
    p.add_argument("--data", metavar="DIR", help="folder of the paper's Source Data (with --paper-figure)")
    p.add_argument(
        "--models",
        default="spring,spring-calibrated,fem",
        help="comma-separated models: spring, spring-calibrated, frame, fem, fem-centre (default "
        "spring,spring-calibrated,fem)",
    )
    p.add_argument("--degree", type=int, choices=(1, 2, 3), default=2, help="FEM Lagrange degree (default 2)")
    p.add_argument("--out", metavar="DIR", required=True, help="output folder")
    add_memory_argument(p)
    p.set_defaults(func=_run)
