"""``fem-mnn validate``: printability report of a design (exit 0 pass, 1 fail, 2 bad input).

The design is read leniently (types and keys only) so that every geometric problem
is reported, not only the first. Further check groups (mechanical checks under
load) add their options in :func:`register` and their findings in :func:`report`.
"""

from __future__ import annotations

import argparse

from fem_mnn.design import Design
from fem_mnn.io import atomic_write_json
from fem_mnn.printability import DEFAULT_BUILD_VOLUME, PrintabilityReport, check_design, read_design_lenient

__all__ = ["register", "report"]


def report(args: argparse.Namespace) -> tuple[Design, PrintabilityReport]:
    """The design and its report for the parsed command-line arguments."""
    design = read_design_lenient(args.design)
    return design, check_design(design, build_volume=args.build_volume)


def _validate(args: argparse.Namespace) -> int:
    design, rep = report(args)
    print(rep.to_text(), end="")
    # --- mechanical checks under load (issue 6: fem_mnn.mechanical_checks) ---
    mech = None
    if getattr(args, "loads", None):
        if rep.ok:
            from fem_mnn.mechanical_checks import run_from_args

            mech = run_from_args(args, design)
            print(mech.to_text(), end="")
        else:
            print("mechanical checks skipped: fix the geometric problems first")
    # --- end of the mechanical checks ---
    if args.json:
        data = rep.to_dict()
        if mech is not None:
            data["mechanical"] = mech.to_dict()
        atomic_write_json(args.json, data)
    if args.png:
        from fem_mnn.plot_geometry import plot_geometry

        bonds = sorted({b for f in rep.findings for b in f.bonds})
        nodes = sorted({j for f in rep.findings for j in f.nodes if not f.bonds})
        plot_geometry(design, args.png, highlight_bonds=bonds, highlight_nodes=nodes)
        print(f"wrote {args.png}")
    return 0 if rep.ok and (mech is None or mech.ok) else 1


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "validate",
        help="printability checks of a design (exit 0 pass, 1 fail, 2 bad input)",
        description="Checks widths against the printable range, thin ends against the minimum feature, hubs that "
        "swallow beams, beams that intersect away from their shared hub, the build volume and connectivity. "
        "Every problem is reported with the bond/node ids, the measured value and the limit.",
    )
    p.add_argument("design", help="design JSON")
    p.add_argument("--json", default=None, metavar="FILE", help="also write the report as JSON")
    p.add_argument(
        "--build-volume",
        nargs=3,
        type=float,
        default=DEFAULT_BUILD_VOLUME,
        metavar=("X", "Y", "Z"),
        help="printer build volume in mm (default 490 390 200, a Stratasys J8-series PolyJet tray)",
    )
    p.add_argument("--png", default=None, metavar="FILE", help="also draw the geometry, offending parts in red")
    # --- mechanical checks under load (issue 6): --loads I:FX,FY and its options ---
    from fem_mnn.mechanical_checks import register_loads_option

    register_loads_option(p)
    p.set_defaults(func=_validate)
