"""Parsing and output shared by the ``gradient`` commands of every model.

``--load I:FX,FY`` puts the force (FX, FY) in N on node I; ``--target I:UX,UY``
asks for displacement (UX, UY) in mm at node I, ``_`` leaving a component free.
Repeated options add up into one load case. The loss is
``1/2 sum (u - target)^2`` over the given components.
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Sequence
from typing import Any

import numpy as np

from fem_mnn.contract import Backprop
from fem_mnn.core.errors import InputError
from fem_mnn.core.version import __version__
from fem_mnn.design.records import Design

__all__ = [
    "GRADIENT_UNITS",
    "add_case_arguments",
    "add_memory_argument",
    "add_regime_arguments",
    "check_regime_options",
    "check_sample_memory",
    "count",
    "natural",
    "positive_float",
    "rate",
    "seed",
    "gradient_payload",
    "gradient_table",
    "nonlinear_fem_options",
    "nonlinear_spring_model",
    "parse_loads",
    "parse_targets",
]


#: Every key of the gradient JSON with its unit and meaning (also written as the JSON's ``units``).
#: The loss is L = 1/2 sum (u - target)^2 in mm^2. The adjoint problem is loaded with -dL/du,
#: a length (mm), applied as a force (N) of the same magnitude: its displacements and
#: elongations are therefore in mm per N of that load times mm, i.e. mm^2/N, not mm.
GRADIENT_UNITS = {
    "length": "mm",
    "force": "N",
    "loads": "N: [node, F_x, F_y]",
    "targets": "mm: [node, u_x, u_y] (null = free)",
    "loss": "mm^2: L = 1/2 sum (u - target)^2",
    "u": "mm: node displacements under the loads",
    "elongation": "mm: e = (u_j - u_i) . n per bond",
    "adjoint_elongation": "mm^2/N: e_adj per bond under the adjoint load -dL/du (mm) applied as a force (N) "
    "of the same magnitude",
    "grad_k": "mm^3/N: dL/dk = e * e_adj (L in mm^2, k in N/mm)",
    "grad_w": "mm (= mm^2/mm): dL/dw, in situ estimate k'(w) e e_adj with k = E t w / L",
}

#: Largest load (N) or target (mm) component accepted: squares of the solution stay far from overflow.
_MAX_COMPONENT = 1e100


def _split_spec(spec: str, option: str, n_nodes: int, allow_free: bool) -> tuple[int, list[float]]:
    if not isinstance(spec, str) or spec.count(":") != 1:
        raise InputError("expected I:X,Y", source=option, value=spec, has_value=True)
    node_s, vec_s = spec.split(":")
    try:
        node = int(node_s)
    except ValueError:
        raise InputError("node id must be an integer", source=option, field="I", value=spec) from None
    if not 0 <= node < n_nodes:
        raise InputError(f"unknown node id (nodes are 0..{n_nodes - 1})", source=option, field="I", value=spec)
    parts = vec_s.split(",")
    if len(parts) != 2:
        raise InputError("expected two components X,Y", source=option, value=spec)
    vals: list[float] = []
    for name, p in zip(("X", "Y"), parts, strict=True):
        p = p.strip()
        if allow_free and p == "_":
            vals.append(math.nan)
            continue
        try:
            v = float(p)
        except ValueError:
            raise InputError(
                "component must be a number" + (" or _" if allow_free else ""), source=option, field=name, value=spec
            ) from None
        if not math.isfinite(v):
            raise InputError("component must be finite", source=option, field=name, value=spec)
        if abs(v) > _MAX_COMPONENT:  # the solution and the loss would overflow
            raise InputError(f"component must lie within +-{_MAX_COMPONENT:g}", source=option, field=name, value=spec)
        vals.append(v)
    return node, vals


def _integer(text: str, minimum: int) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer >= {minimum}, got {text!r}") from None
    if v < minimum:
        raise argparse.ArgumentTypeError(f"expected an integer >= {minimum}, got {v}")
    return v


def natural(text: str) -> int:
    """argparse type: an integer >= 1."""
    return _integer(text, 1)


def count(text: str) -> int:
    """argparse type: an integer >= 0 (0 often means "off" or "all")."""
    return _integer(text, 0)


def seed(text: str) -> int:
    """argparse type: a random seed, an integer >= 0 (numpy's generators refuse negative seeds)."""
    return _integer(text, 0)


#: Largest step size or steepness accepted (``--lr``, ``--beta``): the product of two such with an
#: epoch count and Adam's bounded step ratio stays far below the float overflow at 1.8e308.
MAX_RATE = 1e100


def rate(text: str) -> float:
    """argparse type: a finite number in (0, MAX_RATE] (a step size or a steepness)."""
    v = positive_float(text)
    if v > MAX_RATE:
        raise argparse.ArgumentTypeError(f"expected a number > 0 and <= {MAX_RATE:g}, got {text!r}")
    return v


def check_sample_memory(
    option: str, n: int, floats_per_sample: float, what: str = "the samples' arrays", value: object = None
) -> None:
    """Refuse a count whose arrays alone (``n`` x ``floats_per_sample`` doubles) exceed the memory limit.

    The limit is the FE guard's (``--max-memory-gb``, ``$FEM_MNN_MAX_MEMORY_GB`` or 75 % of the
    machine's memory); the check runs before anything is allocated, so that a huge count is a
    one-line refusal naming the option rather than a MemoryError or a machine that swaps.
    """
    from fem_mnn.core.resources import memory_limit_bytes

    need = 8.0 * float(n) * float(floats_per_sample)
    limit, source = memory_limit_bytes()
    if need > limit:
        raise InputError(
            f"{what} alone would need {need / 1e9:.3g} GB, over the memory limit of {limit / 1e9:.3g} GB ({source})",
            source=option,
            value=n if value is None else value,
        )


def positive_float(text: str) -> float:
    """argparse type: a finite number > 0."""
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {text!r}") from None
    if not math.isfinite(v) or v <= 0:
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {text!r}")
    return v


def parse_loads(specs: Sequence[str] | None, design: Design) -> np.ndarray:
    """(1, n_nodes, 2) load case from ``I:FX,FY`` specs (N); refuses fixed nodes."""
    if not specs:
        raise InputError("no load given: the task is empty", source="--load")
    f = np.zeros((1, design.n_nodes, 2))
    for spec in specs:
        node, (fx, fy) = _split_spec(spec, "--load", design.n_nodes, allow_free=False)
        if node in design.fixed:
            raise InputError(
                "load on a fixed node (it would only be a reaction)", source="--load", field="I", value=spec
            )
        f[0, node] += (fx, fy)
    return f


def parse_targets(specs: Sequence[str] | None, design: Design) -> np.ndarray:
    """(1, n_nodes, 2) targets (mm) from ``I:UX,UY`` specs; NaN where free."""
    if not specs:
        raise InputError("no target given: the loss is empty", source="--target")
    t = np.full((1, design.n_nodes, 2), np.nan)
    for spec in specs:
        node, vals = _split_spec(spec, "--target", design.n_nodes, allow_free=True)
        if node in design.fixed:
            raise InputError(
                "target on a fixed node (its displacement is zero)", source="--target", field="I", value=spec
            )
        for c, v in enumerate(vals):
            if not math.isnan(v):
                if not math.isnan(t[0, node, c]):
                    raise InputError("component given twice", source="--target", field="XY"[c], value=spec)
                t[0, node, c] = v
    if np.all(np.isnan(t)):
        raise InputError("every target component is free: the loss is empty", source="--target", value=list(specs))
    return t


def add_memory_argument(p: argparse.ArgumentParser) -> None:
    """``--max-memory-gb``: the memory limit of the FE guard (:mod:`fem_mnn.core.resources`).

    The CLI puts the value in ``$FEM_MNN_MAX_MEMORY_GB`` before the command runs, so that
    every FE solve of the command (and every rank under mpiexec) sees it.
    """
    p.add_argument(
        "--max-memory-gb",
        type=positive_float,
        metavar="GB",
        help="refuse an FE problem whose estimated memory exceeds GB (default $FEM_MNN_MAX_MEMORY_GB, "
        "else 75%% of this machine's memory)",
    )


def add_regime_arguments(p: argparse.ArgumentParser) -> None:
    """``--regime linear|nonlinear`` and ``--load-steps N`` (the nonlinear model's load increments)."""
    p.add_argument(
        "--regime",
        choices=("linear", "nonlinear"),
        default="linear",
        help="linear (default): the paper's small-deformation model; nonlinear: large deformation "
        "(Newton with load stepping from zero load, exact adjoint on the tangent at the loaded state)",
    )
    p.add_argument(
        "--load-steps",
        type=natural,
        default=None,
        metavar="N",
        help="with --regime nonlinear: equal load increments from zero (default 10 for springs, 2 for FE); "
        "a failed increment is bisected",
    )
    p.add_argument(
        "--continuation",
        choices=("stop", "arclength"),
        default=None,
        help="with --regime nonlinear, FE only: where the load stepping meets a limit point, stop (default: "
        "the run ends with the load factor reached) or follow the path on by pseudo-arclength continuation "
        "until the load comes back up (the state a slow snap-through lands on)",
    )


def check_regime_options(args: argparse.Namespace, model: str) -> None:
    """Refuse ``--load-steps`` / ``--continuation`` where they would be ignored (linear regime, springs)."""
    if args.regime == "linear":
        for opt, val in (("--load-steps", args.load_steps), ("--continuation", args.continuation)):
            if val is not None:
                raise InputError("only with --regime nonlinear", source=opt, value=val)
    if model == "spring" and args.continuation is not None:
        raise InputError(
            "FE only: nonlinear springs end their path at a limit point (reported with its load factor)",
            source="--continuation",
            value=args.continuation,
        )


def nonlinear_fem_options(args: argparse.Namespace):  # noqa: ANN201 - NonlinearOptions (fem imported lazily)
    """The FE model's Newton options from ``--load-steps`` and ``--continuation``."""
    from fem_mnn.fem.nonlinear import NonlinearOptions

    return NonlinearOptions(steps=args.load_steps or NonlinearOptions().steps, continuation=args.continuation or "stop")


def nonlinear_spring_model(design, load_steps: int):  # noqa: ANN001, ANN201 - Design in, NonlinearSpringModel out
    """The nonlinear springs of ``design`` with ``load_steps`` equal load increments (``--load-steps``)."""
    from fem_mnn.spring.nonlinear import NewtonOptions, NonlinearSpringModel

    return NonlinearSpringModel(design, options=NewtonOptions(steps=int(load_steps)))


def add_case_arguments(p: argparse.ArgumentParser) -> None:
    """The options every ``gradient`` command shares."""
    p.add_argument("design", metavar="DESIGN", help="design JSON file")
    p.add_argument(
        "--load", action="append", metavar="I:FX,FY", help="force (N) on node I; repeat for more nodes", required=True
    )
    p.add_argument(
        "--target",
        action="append",
        metavar="I:UX,UY",
        required=True,
        help="target displacement (mm) of node I, '_' leaves a component free; repeat for more nodes",
    )
    p.add_argument("--out", metavar="FILE.json", help="write the result as JSON (default: print a table)")


def check_finite(bp: Backprop) -> None:
    """Refuse a result that overflowed (absurd loads or targets) rather than print or write inf/NaN."""
    arrays = (bp.u, bp.elongation, bp.adjoint_elongation, bp.grad_k, bp.grad_w)
    if not math.isfinite(bp.loss) or not all(np.all(np.isfinite(a)) for a in arrays):
        raise InputError("the solution is not finite: the loads or targets are too large", source="--load/--target")


def gradient_payload(
    design: Design, loads: np.ndarray, targets: np.ndarray, bp: Backprop, model: str
) -> dict[str, Any]:
    """The JSON document of a gradient command (keys shared by every model)."""
    check_finite(bp)
    return {
        "model": model,
        "units": dict(GRADIENT_UNITS),
        "package_version": __version__,
        "design_hash": design.hash(),
        "loads": [[i, *loads[0, i].tolist()] for i in np.nonzero(np.any(loads[0] != 0, axis=1))[0].tolist()],
        "targets": [
            [i, *[None if np.isnan(v) else float(v) for v in targets[0, i]]]
            for i in np.nonzero(np.any(~np.isnan(targets[0]), axis=1))[0].tolist()
        ],
        "loss": bp.loss,
        "u": bp.u[0].tolist(),
        "elongation": bp.elongation[0].tolist(),
        "adjoint_elongation": bp.adjoint_elongation[0].tolist(),
        "grad_k": bp.grad_k.tolist(),
        "grad_w": bp.grad_w.tolist(),
    }


def gradient_table(design: Design, bp: Backprop, out=None) -> None:
    """Print the result as readable tables."""
    check_finite(bp)
    out = out or sys.stdout
    print(f"loss = {bp.loss:.6e}  (1/2 sum (u - target)^2, mm^2)", file=out)
    print("e_adj: elongation under the adjoint load -dL/du (mm) applied as a force (N), hence mm^2/N", file=out)
    print("\nnode      ux (mm)       uy (mm)", file=out)
    for i, (ux, uy) in enumerate(bp.u[0]):
        mark = "  fixed" if i in design.fixed else ""
        print(f"{i:4d} {ux:13.6e} {uy:13.6e}{mark}", file=out)
    print("\nbond   i   j   width     e (mm)   e_adj (mm^2/N) dL/dk (mm^3/N) dL/dw (mm)", file=out)
    for b, (i, j) in enumerate(design.bonds.tolist()):
        print(
            f"{b:4d} {i:3d} {j:3d} {design.widths[b]:7.4f} {bp.elongation[0, b]:12.5e} "
            f"{bp.adjoint_elongation[0, b]:12.5e} {bp.grad_k[b]:13.5e} {bp.grad_w[b]:12.5e}",
            file=out,
        )
