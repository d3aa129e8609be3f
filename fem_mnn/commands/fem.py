"""``fem-mnn fem``: the printed lattice as a DOLFINx continuum (gradient).

``fem-mnn fem gradient DESIGN --load I:FX,FY --target I:UX,UY [--out FILE.json]``
writes the same keys as ``fem-mnn spring gradient`` (``loss``, ``u``,
``elongation``, ``adjoint_elongation``, ``grad_k``, ``grad_w``; ``grad_w`` is the
in situ estimate k'(w) e e_adj) plus ``grad_theta`` (the exact discrete gradient
with respect to a stiffness factor on each bond, no remeshing) and a ``fem``
record (discretisation, dofs, timings). ``--exact`` adds ``grad_w_exact``, the exact
dL/dw of the FE model: by the adjoint shape derivative (:mod:`fem_mnn.fem.shape`, default)
or, with ``--exact-method fd``, by central finite differences with remeshing. Runs under ``mpiexec``; only rank 0 prints
and writes files. DOLFINx is imported only when the command runs.

``--regime nonlinear [--load-steps N]`` solves the compressible neo-Hookean lattice
(:mod:`fem_mnn.fem.nonlinear`) on the same mesh, on the load path from zero: ``u`` and
``elongation`` are those of the equilibrium, ``adjoint_elongation`` the response of the
consistent tangent at the loaded state to -dL/du (the in situ protocol at large
deformation), ``grad_w`` = k'(w) e e_adj, plus ``newton`` (iterations, increments) and, with
``--exact``, ``grad_w_exact`` = :meth:`~fem_mnn.fem.nonlinear.NonlinearModel.width_gradient`
(shape derivative of the nonlinear residual through the width map) or, with
``--exact-method fd``, central differences of the nonlinear loss with remeshing.
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from pathlib import Path
from typing import Any

import numpy as np

from fem_mnn.commands._common import (
    add_case_arguments,
    add_memory_argument,
    add_regime_arguments,
    check_regime_options,
    gradient_payload,
    gradient_table,
    nonlinear_fem_options,
    parse_loads,
    parse_targets,
    positive_float,
)
from fem_mnn.commands._solver import add_fem_arguments, solver_options
from fem_mnn.contract import LinearOperator, Solution, as_cases, backprop_operator
from fem_mnn.core.errors import InputError
from fem_mnn.core.files import atomic_write_json
from fem_mnn.design.files import load_design
from fem_mnn.learn.losses import MSE
from fem_mnn.spring.frame import beam_gradient

__all__ = ["FEM_GRADIENT_UNITS", "register"]

#: Units of the keys ``fem gradient`` adds to the spring command's (see GRADIENT_UNITS).
FEM_GRADIENT_UNITS = {
    "grad_theta": "mm^2: dL/dtheta, exact discrete gradient w.r.t. a dimensionless stiffness factor per bond",
    "rotation": "rad: junction rotation per node (forward case)",
    "grad_w_beam": "mm: beam-aware in situ estimate of dL/dw (axial + bending, junction rotations)",
    "grad_w_beam_bending": "mm: the bending part of grad_w_beam",
    "grad_w_exact": "mm: exact dL/dw of the FE model (--exact)",
}


class _Solved:
    """Replays forward and adjoint solutions already computed (so the in situ estimate costs no solve).

    A :class:`~fem_mnn.contract.LinearOperator` of ``op``'s widths whose ``solve`` answers from
    ``pairs``: (loads, solution with ``u`` and ``elongation``).
    """

    def __init__(self, op: LinearOperator, pairs: list[tuple[np.ndarray, Any]]) -> None:
        self.widths, self.k, self.dk_dw = op.widths, op.k, op.dk_dw
        self._pairs = pairs

    def solve(self, loads: np.ndarray) -> Solution:

        for f, s in self._pairs:
            if np.array_equal(np.asarray(loads, dtype=float).reshape(f.shape), f):
                return Solution(u=s.u, elongation=s.elongation)
        raise RuntimeError("no stored solution for these loads")


def _gradient(args: argparse.Namespace) -> int:

    design = load_design(args.design)
    loads = parse_loads(args.load, design)
    targets = parse_targets(args.target, design)

    # DOLFINx only now: the rest of the CLI must not need it
    try:
        from fem_mnn.fem.fields import write_fields
        from fem_mnn.fem.linear import FemModel, FemOptions, fd_width_gradient, stiffness_factor_gradient
    except ModuleNotFoundError as exc:
        raise InputError(f"the FEM commands need DOLFINx, which is not installed ({exc.name})") from None
    from mpi4py import MPI

    from fem_mnn.geometry.build import MeshOptions, mesh_record

    comm = MPI.COMM_WORLD
    mesh_opts = MeshOptions(dim=args.dim, elements_across=args.elements_across, refinement=args.refinement)
    options = FemOptions(dim=args.dim, degree=args.degree, mesh=mesh_opts, measure=args.measure, **solver_options(args))
    check_regime_options(args, "fem")
    if args.regime == "nonlinear":
        return _gradient_nonlinear(args, design, loads, targets, options, comm)
    model = FemModel(design, options, comm=comm)
    loss = MSE(targets)
    op = model.operator()
    # one forward and one adjoint solve per load case; every gradient below reuses them

    f = as_cases(loads, design.n_nodes)
    fwd = op.solve_fields(f)
    adj_load = -np.asarray(loss(fwd.u)[1], dtype=float)
    adj = op.solve_fields(adj_load)
    bp = backprop_operator(_Solved(op, [(f, fwd), (adj_load, adj)]), f, loss)
    theta = stiffness_factor_gradient(op, f, loss, solved=(fwd, adj))

    payload: dict[str, Any] = gradient_payload(design, loads, targets, bp, model="fem")
    payload["units"].update(FEM_GRADIENT_UNITS)
    payload["grad_theta"] = theta.bond.tolist()
    payload["rotation"] = theta.forward.rotation[0].tolist()
    # beam-aware in situ estimate (fem_mnn.spring.frame): node displacements + junction rotations, axial + bending

    fw, ad = theta.forward, theta.adjoint
    beam = beam_gradient(design, op.widths, fw.u, fw.rotation, ad.u, ad.rotation)
    payload["grad_w_beam"] = beam.total.tolist()
    payload["grad_w_beam_bending"] = beam.bending.tolist()
    payload["fem"] = {
        "dim": options.dim,
        "degree": options.degree,
        "measure": options.measure,
        "solver": _solver_record(op),
        "mesh": mesh_record(op.mesh_info, **dataclasses.asdict(mesh_opts)),
        "n_dofs": op.n_dofs,
        "ranks": comm.size,
        "n_factorisations": op.n_factorisations,
        "n_solves": op.n_solves,
        "timings_s": op.timings,
    }
    fem_record = payload["fem"]

    # ---- exact gradient (--exact): the adjoint shape derivative (default) or central
    # finite differences with remeshing (--exact-method fd, the slow check)
    if args.exact:
        if args.exact_method == "shape":
            from fem_mnn.fem.shape import shape_width_gradient

            if options.measure != "average":
                raise InputError("the shape gradient needs the junction-average measure", source="--measure")
            t0 = time.perf_counter()
            sg = shape_width_gradient(op, f, loss, solved=(fwd, adj))
            payload["grad_w_exact"] = sg.grad_w.tolist()
            payload["exact"] = {
                "method": "adjoint shape derivative (exact for the discrete loss on meshes morphed with the widths)",
                "assembly": sg.timings["method"],
                "seconds": time.perf_counter() - t0,
            }
            fem_record["n_solves"] = op.n_solves  # still one forward and one adjoint per case
        else:
            fd = fd_width_gradient(model, loads, loss, delta=args.delta)
            payload["grad_w_exact"] = fd.tolist()
            payload["exact"] = {"method": "central finite differences with remeshing", "delta_mm": args.delta}

    if args.fields:
        fwd, adj = theta.forward, theta.adjoint

        folder = Path(args.fields)
        err = None
        if comm.rank == 0:
            try:
                folder.mkdir(parents=True, exist_ok=True)
            except OSError as exc:  # every rank must learn about it, or they hang in the writer
                err = f"cannot create the folder ({exc.strerror})"
        err = comm.bcast(err, root=0)
        if err:
            raise InputError(err, source="--fields", value=str(folder))
        fwd.fields[0].name, adj.fields[0].name = "u", "u_adjoint"
        write_fields(folder / "forward.bp", [fwd.fields[0]])
        write_fields(folder / "adjoint.bp", [adj.fields[0]])
        from fem_mnn.fem.fields import FIELD_UNITS, write_field_file

        vtu = write_field_file(folder / "fields.vtu", op.discretisation, fwd.fields[0], adj.fields[0])
        payload["fields"] = {
            "forward": str(folder / "forward.bp"),
            "adjoint": str(folder / "adjoint.bp"),
            "vtu": str(vtu),
            "vtu_units": FIELD_UNITS,
        }

    if comm.rank == 0:
        if args.out:
            atomic_write_json(args.out, payload)
        else:
            gradient_table(design, bp)
            if args.exact:
                print(f"\nbond   dL/dw in situ   dL/dw exact ({args.exact_method})")
                for b in range(design.n_bonds):
                    print(f"{b:4d} {bp.grad_w[b]:14.5e} {payload['grad_w_exact'][b]:14.5e}")
    return 0


def _gradient_nonlinear(args: argparse.Namespace, design, loads, targets, options, comm) -> int:  # noqa: ANN001
    """``fem gradient --regime nonlinear``: the neo-Hookean lattice on the load path from zero (collective)."""
    from fem_mnn.fem.linear import FemModel
    from fem_mnn.fem.nonlinear import NonlinearModel
    from fem_mnn.geometry.build import mesh_record

    if args.fields:
        raise InputError("not available with --regime nonlinear", source="--fields", value=args.fields)
    if options.measure != "average" and args.exact:
        raise InputError("the shape gradient needs the junction-average measure", source="--measure")
    nl_options = nonlinear_fem_options(args)
    fem = FemModel(design, options, comm=comm)
    nl = NonlinearModel(design, options=nl_options, fem=fem)
    loss = MSE(targets)
    f = as_cases(loads, design.n_nodes)
    t0 = time.perf_counter()
    state = nl.solve(f[0])
    t_forward = time.perf_counter() - t0
    exact = None
    if args.exact and args.exact_method == "shape":
        t1 = time.perf_counter()
        g = nl.width_gradient(f, loss, states=[state])
        exact = {
            "grad_w_exact": g.grad_w.tolist(),
            "exact": {
                "method": "shape derivative of the nonlinear residual through the width map, tangent adjoint "
                "(exact for the discrete loss on meshes morphed with the widths)",
                "assembly": g.timings["method"],
                "seconds": time.perf_counter() - t1,
                "adjoint_factorisations": g.counts["adjoint_factorisations"],
                "adjoint_residual": g.counts["adjoint_residual"],
            },
        }
        adj_u = g.adjoint_u
        adj_load = g.adjoint_load
    else:
        case_loss, dldu = loss(state.u[None])
        adj_load = -np.asarray(dldu, dtype=float)
        op = nl.tangent(state)
        try:
            adj_u = op.solve(adj_load).u
        finally:
            op.destroy()
    if args.exact and args.exact_method == "fd":
        fd = _fd_nonlinear(design, options, nl_options, comm, f, loss, args.delta)
        exact = {
            "grad_w_exact": fd.tolist(),
            "exact": {
                "method": "central finite differences of the nonlinear loss with remeshing",
                "delta_mm": args.delta,
            },
        }
    from fem_mnn.contract import elongations, nominal_stiffness, paired_backprop

    case_loss, _ = loss(state.u[None])
    _, dk = nominal_stiffness(design, design.widths)
    bp = paired_backprop(
        case_loss,
        state.u[None],
        elongations(state.u[None], design),
        adj_load,
        adj_u,
        elongations(adj_u, design),
        dk_dw=dk,
    )
    payload: dict[str, Any] = gradient_payload(design, loads, targets, bp, model="fem")
    payload["units"].update(FEM_GRADIENT_UNITS)
    payload["units"]["adjoint_elongation"] = (
        "mm^2/N: projected elongations of the consistent tangent's response at the loaded state to -dL/du"
    )
    payload["units"]["grad_w_exact"] = "mm: exact dL/dw of the nonlinear FE model (--exact)"
    payload["regime"] = {
        "regime": "nonlinear",
        "material": "compressible neo-Hookean",
        "load_steps": nl_options.steps,
        "path": "from zero load, equal increments, bisection on failure",
        **({"continuation": "arclength"} if nl_options.continuation == "arclength" else {}),
    }
    payload["newton"] = {
        "load_factor": state.load_factor,
        "newton_iterations": state.newton_iterations,
        "increments": state.increments,
        "residual_norm": state.residual_norm,
        "seconds": t_forward,
    }
    payload["true_elongation"] = state.true_elongation.tolist()
    payload["units"]["true_elongation"] = "mm: change of node distance l - L"
    payload["fem"] = {
        "dim": options.dim,
        "degree": options.degree,
        "measure": options.measure,
        "mesh": mesh_record(nl.disc.info, **dataclasses.asdict(options.mesh)),
        "n_dofs": int(nl.disc.V.dofmap.index_map.size_global * nl.disc.V.dofmap.index_map_bs),
        "ranks": comm.size,
    }
    if exact is not None:
        payload.update(exact)
    if comm.rank == 0:
        if args.out:
            atomic_write_json(args.out, payload)
        else:
            gradient_table(design, bp)
            nr = payload["newton"]
            print(
                f"\nneo-Hookean FE: {nr['increments']} increments, {nr['newton_iterations']} Newton iterations "
                f"({nr['seconds']:.3g} s)"
            )
            if args.exact:
                print(f"\nbond   dL/dw in situ   dL/dw exact ({args.exact_method})")
                for b in range(design.n_bonds):
                    print(f"{b:4d} {bp.grad_w[b]:14.5e} {payload['grad_w_exact'][b]:14.5e}")
    return 0


def _fd_nonlinear(design, options, nl_options, comm, f, loss, delta: float) -> np.ndarray:  # noqa: ANN001
    """Central differences of the nonlinear loss, each width moved by +-delta and the lattice remeshed (collective)."""
    from fem_mnn.fem.nonlinear import NonlinearModel

    lo, hi = design.geometry.width_min, design.geometry.width_max

    def value(w: np.ndarray) -> float:
        nl = NonlinearModel(design.with_widths(w), fem_options=options, options=nl_options, comm=comm)
        u = np.array([nl.solve(fc).u for fc in f])
        return float(np.mean(loss(u)[0]))

    out = np.empty(design.n_bonds)
    for b in range(design.n_bonds):
        wp, wm = design.widths.copy(), design.widths.copy()
        wp[b] += delta
        wm[b] -= delta
        if wp[b] > hi or wm[b] < lo:
            raise InputError(
                f"bond {b}: width {design.widths[b]:g} +- delta leaves the printable range {lo:g}..{hi:g}",
                source="--delta",
                value=delta,
            )
        out[b] = (value(wp) - value(wm)) / (2 * delta)
    return out


def _solver_record(op: Any) -> dict:
    from fem_mnn.fem.solvers import summary

    rec = {"kind": op.linear_solver, **summary(op.ksp)}
    if op.linear_solver == "direct":
        rec["factor"] = op.options.solver
    elif op.iterations:
        rec["iterations"] = op.iterations
    if op.options.petsc_options:
        rec["petsc_options"] = dict(op.options.petsc_options)
    return rec


def register(sub: argparse._SubParsersAction) -> None:
    """Add this command's parser to ``fem-mnn``'s sub-commands."""
    p = sub.add_parser("fem", help="continuum (DOLFINx) model of the printed lattice")
    fsub = p.add_subparsers(dest="fem_command", metavar="ACTION", parser_class=type(p))
    g = fsub.add_parser(
        "gradient",
        help="in situ gradient estimate from FE forward + adjoint solves",
        description="Mesh the lattice, solve the linear-elastic continuum under --load (uniform body force over "
        "each loaded junction), read node displacements (junction averages) and elongations, solve the adjoint "
        "under -dL/du with the same factorisation and report the in situ estimate dL/dw = k'(w) e e_adj "
        "(k = E t w / L). Same JSON keys as 'fem-mnn spring gradient', plus grad_theta, rotation and fem. "
        "Runs under mpiexec (rank 0 writes).",
    )
    add_case_arguments(g)
    add_memory_argument(g)
    add_fem_arguments(g)  # --dim ... --measure and the solver: shared with predict
    g.add_argument(
        "--fields",
        metavar="DIR",
        help="write DIR/forward.bp and DIR/adjoint.bp (P2 displacement, VTX for ParaView's ADIOS2 reader) and "
        "DIR/fields.vtu (P1 displacements, DG0 strain, von Mises stress, bond/hub ids; ParaView or "
        "meshio.read)",
    )
    g.add_argument(
        "--exact",
        action="store_true",
        help="add grad_w_exact, the exact dL/dw of the FE model (method: --exact-method)",
    )
    g.add_argument(
        "--exact-method",
        choices=("shape", "fd"),
        default="shape",
        help="shape (default): adjoint shape derivative, seconds; fd: central finite differences with "
        "remeshing (2 meshes per bond, minutes; noisy at small --delta)",
    )
    g.add_argument(
        "--delta",
        type=positive_float,
        default=0.05,
        metavar="MM",
        help="finite-difference step in width for --exact-method fd (default 0.05 mm)",
    )
    add_regime_arguments(g)
    g.set_defaults(func=_gradient)
    from fem_mnn.commands.train import register_fem

    register_fem(fsub)
    from fem_mnn.commands.evaluate import register_fem as register_evaluate

    register_evaluate(fsub)
    p.set_defaults(func=lambda a: (p.print_help(), 2)[1])
