"""``fem-mnn spring``: the spring-network model (gradient, train)."""

from __future__ import annotations

import argparse
import importlib

from fem_mnn.commands._common import add_case_arguments, gradient_payload, gradient_table, parse_loads, parse_targets
from fem_mnn.contract import backprop
from fem_mnn.core.files import atomic_write_json
from fem_mnn.design.files import load_design
from fem_mnn.learn.losses import MSE
from fem_mnn.spring.network import SpringModel

__all__ = ["register"]


def _gradient(args: argparse.Namespace) -> int:
    design = load_design(args.design)
    loads = parse_loads(args.load, design)
    targets = parse_targets(args.target, design)
    bp = backprop(SpringModel(design), design.widths, loads, MSE(targets))
    if args.out:
        atomic_write_json(args.out, gradient_payload(design, loads, targets, bp, model="spring"))
    else:
        gradient_table(design, bp)
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    """Add this command's parser to ``fem-mnn``'s sub-commands."""
    p = sub.add_parser("spring", help="spring-network model (the paper's reduced-order model)")
    ssub = p.add_subparsers(dest="spring_command", metavar="ACTION", parser_class=type(p))
    g = ssub.add_parser(
        "gradient",
        help="in situ gradient of an MSE loss: forward + adjoint solve",
        description="Forward solve under --load, adjoint solve under -dL/du, per-bond gradient dL/dk = e * e_adj "
        "and dL/dw = dL/dk * E t / L. Loss = 1/2 sum (u - target)^2 over the given target components.",
    )
    add_case_arguments(g)
    g.set_defaults(func=_gradient)
    try:  # the training command lives with the training engine
        train = importlib.import_module("fem_mnn.commands.train")
    except ModuleNotFoundError as exc:
        if exc.name != "fem_mnn.commands.train":
            raise
    else:
        train.register_spring(ssub)
    importlib.import_module("fem_mnn.commands.evaluate").register_spring(ssub)
    p.set_defaults(func=lambda a: (p.print_help(), 2)[1])
