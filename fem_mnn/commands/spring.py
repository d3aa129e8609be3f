"""``fem-mnn spring``: the spring-network model (gradient, train, evaluate).

``--regime nonlinear`` uses the geometrically exact springs of
:mod:`fem_mnn.spring.nonlinear` (Newton with ``--load-steps`` load increments and bisection,
the exact adjoint on the tangent at the loaded state); the gradient JSON then has the
linear keys (``elongation`` = l - L, ``adjoint_elongation`` on the tangent) plus the Newton
history, and ``--adjoint-increment EPS`` adds the physical protocol (keep the load on, add
EPS times the adjoint load, measure) with its error against the exact rule.
"""

from __future__ import annotations

import argparse
import importlib

import numpy as np

from fem_mnn.commands._common import (
    add_case_arguments,
    add_regime_arguments,
    check_regime_options,
    gradient_payload,
    gradient_table,
    nonlinear_spring_model,
    parse_loads,
    parse_targets,
    positive_float,
)
from fem_mnn.contract import backprop
from fem_mnn.core.errors import InputError
from fem_mnn.core.files import atomic_write_json
from fem_mnn.design.files import load_design
from fem_mnn.learn.losses import MSE
from fem_mnn.spring.network import SpringModel

__all__ = ["register"]


def _newton_record(sol) -> dict:  # noqa: ANN001 - a NonlinearSpringSolution
    """The Newton history of one equilibrium, JSON-ready."""
    return {
        "load_factor": sol.load_factor,
        "converged": sol.converged,
        "newton_iterations": sol.newton_iterations,
        "increments": len(sol.history),
        "bisections": sol.bisections,
        "positive_definite": sol.positive_definite,
        "history": [h._asdict() for h in sol.history],
    }


def _gradient(args: argparse.Namespace) -> int:
    design = load_design(args.design)
    loads = parse_loads(args.load, design)
    targets = parse_targets(args.target, design)
    check_regime_options(args, "spring")
    if args.regime == "linear":
        if args.adjoint_increment is not None:
            raise InputError("only with --regime nonlinear", source="--adjoint-increment", value=args.adjoint_increment)
        bp = backprop(SpringModel(design), design.widths, loads, MSE(targets))
        if args.out:
            atomic_write_json(args.out, gradient_payload(design, loads, targets, bp, model="spring"))
        else:
            gradient_table(design, bp)
        return 0
    model = nonlinear_spring_model(design, args.load_steps or 10)
    op = model.operator()
    loss = MSE(targets)
    (state,) = op.states(loads)
    bp = op.backprop(loads, loss)
    payload = gradient_payload(design, loads, targets, bp, model="spring")
    payload["regime"] = model.regime_info
    payload["units"]["elongation"] = "mm: e = l - L per bond (deformed length minus rest length)"
    payload["units"]["adjoint_elongation"] = (
        "mm^2/N: n(u) . (v_j - v_i), v = K_T(u)^-1 (-dL/du), the tangent problem at the loaded state"
    )
    payload["units"]["grad_w"] = "mm: dL/dw, exact for the nonlinear springs (k = E t w / L)"
    payload["newton"] = _newton_record(state)
    if args.adjoint_increment is not None:
        fi = op.finite_increment(loads, loss, args.adjoint_increment, states=[state])
        err = float(np.linalg.norm(fi.grad_k - bp.grad_k) / np.linalg.norm(bp.grad_k))
        cos = float(np.dot(fi.grad_k, bp.grad_k) / (np.linalg.norm(fi.grad_k) * np.linalg.norm(bp.grad_k)))
        payload["finite_increment"] = {
            "protocol": "forward load kept on, EPS x (-dL/du) added, elongation increments / EPS",
            "eps": args.adjoint_increment,
            "adjoint_elongation": fi.adjoint_elongation[0].tolist(),
            "grad_k": fi.grad_k.tolist(),
            "grad_w": fi.grad_w.tolist(),
            "relative_l2_error": err,
            "cosine": cos,
        }
    if args.out:
        atomic_write_json(args.out, payload)
    else:
        gradient_table(design, bp)
        nr = payload["newton"]
        print(
            f"\nnonlinear springs: load factor {nr['load_factor']:g} in {nr['increments']} increments, "
            f"{nr['newton_iterations']} Newton iterations, {nr['bisections']} bisections"
        )
        if "finite_increment" in payload:
            fr = payload["finite_increment"]
            print(
                f"finite adjoint increment {fr['eps']:g}: grad_k relative L2 error {fr['relative_l2_error']:.3e} "
                f"against the exact rule, cosine {fr['cosine']:.9f}"
            )
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
    add_regime_arguments(g)
    g.add_argument(
        "--adjoint-increment",
        type=positive_float,
        default=None,
        metavar="EPS",
        help="with --regime nonlinear: also the physical protocol, the forward load kept on and EPS x (-dL/du) "
        "added (N), e_adj = elongation increments / EPS, with its error against the exact rule",
    )
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
