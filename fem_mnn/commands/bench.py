"""``fem-mnn bench``: FE benchmark (shape gradient, training step, batch, MPI, spring scaling) to a JSON file."""

from __future__ import annotations

import argparse

from fem_mnn.commands._common import count, positive_float
from fem_mnn.core.files import atomic_write_json

__all__ = ["register"]


def _bench(args: argparse.Namespace) -> int:
    if args.nonlinear:
        from fem_mnn.bench.fem import nonlinear_step_cost, nonlinear_step_table

        res = nonlinear_step_cost(grams=args.nonlinear_grams)
        atomic_write_json(args.out, res)
        print(nonlinear_step_table(res))
        print(f"wrote {args.out} ({res['seconds']:.0f} s)")
        return 0
    if args.identify:
        from fem_mnn.bench.identify import identify_table, run_identify_bench

        res = run_identify_bench()
        atomic_write_json(args.out, res)
        print(identify_table(res))
        print(f"FE identification of {res['n_bonds']} widths: {res['identify_seconds']:.1f} s")
        print(f"wrote {args.out} ({res['seconds']:.0f} s)")
        return 0
    if args.scale:
        from fem_mnn.bench.scale import run_scale, scale_table

        res = run_scale(
            max_bonds_2d=args.scale_max_bonds,
            max_bonds_3d=args.scale_max_bonds_3d,
            dims=tuple(args.scale_dim or (2, 3)),
        )
        atomic_write_json(args.out, res)
        print(scale_table(res))
        print(f"wrote {args.out} ({res['seconds']:.0f} s)")
        return 0
    from fem_mnn.bench.run import run_bench, table

    res = run_bench(quick=args.quick)
    atomic_write_json(args.out, res)
    print(table(res))
    print(f"wrote {args.out} ({res['seconds']:.0f} s)")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    """Add this command's parser to ``fem-mnn``'s sub-commands."""
    p = sub.add_parser(
        "bench",
        help="benchmark the FE model (ratios measured side by side) and write FILE.json",
        description="Measure, in one run: shape gradient vs remeshed finite differences (speed-up, accuracy on "
        "morphed meshes), an Iris training step and the marginal batch case over the numeric factorisation; "
        "without --quick also the spring model's scaling, serial vs mpiexec -n 2, and the speed-up on a "
        "317-bond strip. A benchmark, not a test: timings depend on the machine and its load.",
    )
    p.add_argument("--quick", action="store_true", help="the paper's sample only (under two minutes)")
    p.add_argument(
        "--scale",
        action="store_true",
        help="scaling benchmark instead: 2D P2 lattices of 28..1000 bonds (4000 with --scale-max-bonds), 3D of "
        "28..250, serial and mpiexec -n 2 (249 bonds): dofs, peak memory, time of every stage, exponents",
    )
    p.add_argument(
        "--identify",
        action="store_true",
        help="identification benchmark instead: time fem-mnn identify --model fem --fit widths on the paper's "
        "sample (28 bonds, 12 synthetic 10 g cases, noise 0.005 mm, prior 0.3 mm; target under 2 minutes)",
    )
    p.add_argument(
        "--nonlinear",
        action="store_true",
        help="nonlinear training step benchmark instead: one step of the paper's sample (morph, Newton from zero "
        "load, tangent adjoint, exact width gradient) in numeric factorisations of the tangent, against the "
        "budget (Newton iterations + 2)",
    )
    p.add_argument(
        "--nonlinear-grams",
        type=positive_float,
        default=10.0,
        metavar="G",
        help="the weight of the --nonlinear case, hung at id 12 (default 10 g)",
    )
    p.add_argument("--scale-max-bonds", type=count, default=1000, metavar="N", help="largest 2D row (default 1000)")
    p.add_argument("--scale-max-bonds-3d", type=count, default=249, metavar="N", help="largest 3D row (default 249)")
    p.add_argument(
        "--scale-dim",
        type=int,
        choices=(2, 3),
        action="append",
        help="only these dimensions' rows (repeatable; default both)",
    )
    p.add_argument("--out", required=True, help="JSON file to write")
    p.set_defaults(func=_bench)
