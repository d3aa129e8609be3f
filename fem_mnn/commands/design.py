"""``fem-mnn design``: write a built-in design as a JSON file to start from."""

from __future__ import annotations

import argparse

from fem_mnn.design.builders import paper_sample, triangular_patch, triangular_strip
from fem_mnn.design.files import save_design

__all__ = ["register"]


def _design(args: argparse.Namespace) -> int:
    if args.kind == "paper":
        d = paper_sample(args.width)
    elif args.kind == "patch":
        d = triangular_patch(args.size[0], args.size[1], a=args.a, width=args.width)
    else:
        d = triangular_strip(args.size[0], args.size[1], a=args.a, width=args.width)
    save_design(d, args.output)
    print(f"wrote {args.output}: {d.n_nodes} nodes, {d.n_bonds} bonds, hash {d.hash()}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "design",
        help="write a built-in design (the paper's sample, triangular patches and strips)",
        description="paper: Li & Mao's 14-node sample. patch TOP ROWS: inverted triangle, rows of TOP, TOP-1, ... "
        "nodes. strip COLUMNS ROWS: strip of triangles. Top-row end nodes are clamped.",
    )
    p.add_argument("kind", choices=["paper", "patch", "strip"])
    p.add_argument(
        "--size", nargs=2, type=int, default=(5, 4), metavar=("A", "B"), help="patch: TOP ROWS; strip: COLUMNS ROWS"
    )
    p.add_argument("--a", type=float, default=16.0, help="bond length (mm), default 16")
    p.add_argument("--width", type=float, default=2.0, help="every bond's width (mm), default 2")
    p.add_argument("-o", "--output", required=True, help="design JSON to write")
    p.set_defaults(func=_design)
