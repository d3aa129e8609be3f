"""``fem-mnn predict``: every node's displacement for each load case, or along a load protocol.

``fem-mnn predict DESIGN --loads L.csv [--protocol P.csv] [--model spring|fem] --out F.json``

* Without a protocol: one linear solve per load case of the loads CSV
  (:mod:`fem_mnn.io.measured`) with the design's ``material.E``; one row per case and node,
  ``time_s`` null.
* With a protocol (:mod:`fem_mnn.io.protocol`): the design's material must carry a Prony
  series (``material.prony``). Each load case is still solved once (elastic, modulus E) and
  scaled to unit modulus; the displacement at every ``measure`` event is the Boltzmann
  superposition of those unit solutions with the series' exact creep compliance J(t)
  (:func:`fem_mnn.design.viscoelastic.protocol_response`: correspondence principle, one
  homogeneous material with a constant Poisson's ratio, stated in the output). Measurements
  that need J at delays outside the series' fitted range are flagged as extrapolations (in
  the JSON and one warning line on stderr).

``F.json`` holds ``predictions``, rows ``{"time_s", "load_case", "node", "ux", "uy"}`` for every
node (fixed ones included, at 0), the modulus used (``"E"`` or ``"prony:<name>"``), the
assumptions and the provenance. ``F.csv`` (beside it) holds the same rows in the
displacements CSV layout with its ``time_s`` column, so a prediction and a measurement diff
line by line. ``--model fem`` takes the FE options of ``fem gradient`` (shared definitions,
``fem_mnn.commands._solver.add_fem_arguments``) and runs under ``mpiexec`` (only rank 0
writes). The FE path solves each case on its own with the one factorisation, exactly as
``fem gradient`` solves its load case, so the two agree to the last bit.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
from pathlib import Path
from typing import Any

import numpy as np

from fem_mnn.commands._common import add_memory_argument
from fem_mnn.commands._solver import add_fem_arguments, fem_options
from fem_mnn.core.errors import InputError
from fem_mnn.core.files import atomic_write_json
from fem_mnn.core.log import get_logger
from fem_mnn.core.mpi import process_rank
from fem_mnn.core.version import __version__
from fem_mnn.design.files import load_design
from fem_mnn.design.records import Design
from fem_mnn.design.viscoelastic import (
    CONSTANT_NU_NOTE,
    Prony,
    ProtocolEvent,
    protocol_extrapolation,
    protocol_response,
    require_prony,
)
from fem_mnn.io import measured as ms

__all__ = ["PREDICT_UNITS", "register"]

#: Units and meaning of the prediction JSON's keys.
PREDICT_UNITS = {
    "time_s": "s: time of the measure event of the protocol (null without a protocol)",
    "load_case": "the load case (no protocol) or the measure event's label (protocol)",
    "node": "0-based node id",
    "ux": "mm",
    "uy": "mm",
    "E_MPa": "MPa: the design's material.E (the modulus of a quasi-static test)",
}


def _fixed_load(design: Design, cases: dict[str, np.ndarray], source: str) -> None:
    for lab, F in cases.items():
        hit = [j for j in design.fixed if np.any(F[j] != 0)]
        if hit:
            raise InputError(
                "load on a fixed node (it would only be a reaction)",
                source=source,
                field=f"load case {lab}",
                value=hit[0],
            )


def _unit_solutions(args: argparse.Namespace, design: Design, F: np.ndarray) -> tuple[np.ndarray, dict, Any]:
    """(n_cases, n_nodes, 2) displacements at the design's E, the model record, and the communicator (or None)."""
    if args.model == "spring":
        from fem_mnn.spring.network import SpringModel

        # one factorisation, every case in one solve
        u = SpringModel(design).solve(F).u
        return u, {"model": "spring", "law": "nominal k = E t w / L", "n_solves": int(F.shape[0])}, None

    options = fem_options(args)  # DOLFINx only now
    from mpi4py import MPI

    from fem_mnn.fem.linear import FemModel
    from fem_mnn.geometry.build import mesh_record

    comm = MPI.COMM_WORLD
    op = FemModel(design, options, comm=comm).operator()
    # one case at a time on the one factorisation: the same single-case solve as `fem gradient`
    # (a batched MatMatSolve would round differently), so predict reproduces its `u` exactly;
    # the factorisation, not these solves, dominates the cost
    u = np.stack([op.solve_fields(F[c : c + 1]).u[0] for c in range(F.shape[0])])
    mo = options.mesh_options()
    record = {
        "model": "fem",
        "dim": options.dim,
        "degree": options.degree,
        "measure": options.measure,
        "linear_solver": op.linear_solver,
        "mesh": mesh_record(op.mesh_info, **dataclasses.asdict(mo)),
        "n_dofs": op.n_dofs,
        "ranks": comm.size,
        "n_factorisations": op.n_factorisations,
        "n_solves": op.n_solves,
        "timings_s": op.timings,
    }
    return u, record, comm


def _delays(events: list[ProtocolEvent]) -> list[tuple[float, float] | None]:
    """Per measure event: (shortest, longest) delay since an earlier apply/remove; None if nothing happened yet."""
    seen: list[float] = []
    out: list[tuple[float, float] | None] = []
    for ev in events:
        if ev.event == "measure":
            out.append((ev.time_s - max(seen), ev.time_s - min(seen)) if seen else None)
        else:
            seen.append(ev.time_s)
    return out


def _extrapolation(prony: Prony, events: list[ProtocolEvent]) -> dict[str, Any]:
    """Which measurements need J(t) outside the series' fitted range (the JSON's ``extrapolation``)."""
    if prony.range_s is None:
        return {
            "checked": False,
            "reason": "the Prony series states no fitted range (material.prony.range_s): extrapolation not checked",
        }
    lo, hi = prony.range_s
    rows = []
    for ev, d in zip([e for e in events if e.event == "measure"], _delays(events), strict=True):
        if d is not None and (d[0] < lo or d[1] > hi):
            rows.append({"time_s": ev.time_s, "load_case": ev.load_case, "delays_s": list(d)})
    return {
        "checked": True,
        "range_s": [lo, hi],
        "warning": protocol_extrapolation(prony, events),
        "measurements": rows,
    }


def _run(args: argparse.Namespace) -> int:
    log = get_logger(__name__)
    out = Path(args.out)
    if out.suffix.lower() != ".json":
        raise InputError("must end in .json (the CSV goes beside it, F.csv)", source="--out", value=str(out))
    csv_out = out.with_suffix(".csv")
    design = load_design(args.design)
    loads = ms.read_loads(args.loads)
    cases = ms.load_cases(loads, design.n_nodes, args.loads)
    _fixed_load(design, cases, args.loads)
    labels = list(cases)

    prony: Prony | None = None
    events: list[ProtocolEvent] | None = None
    if args.protocol:
        prony = require_prony(design.material.prony, str(args.design))
        from fem_mnn.io.protocol import read_protocol

        events = read_protocol(args.protocol, labels)

    F = np.stack([cases[lab] for lab in labels])
    u, model_record, comm = _unit_solutions(args, design, F)
    if not np.all(np.isfinite(u)):
        raise InputError("the solution is not finite: the loads are too large", source=args.loads)
    E = design.material.E

    rows: list[dict[str, Any]] = []
    payload: dict[str, Any] = {
        "command": "predict",
        "package_version": __version__,
        "design": str(args.design),
        "design_hash": design.hash(),
        "loads": str(args.loads),
        "protocol": str(args.protocol) if args.protocol else None,
        "load_cases": labels,
        "units": dict(PREDICT_UNITS),
    }
    if events is None:
        payload["modulus"] = "E"
        payload["E_MPa"] = E
        payload["assumptions"] = [f"linear elastic, modulus E = {E:g} MPa (material.E), small displacements"]
        for c, lab in enumerate(labels):
            for node in range(design.n_nodes):
                rows.append({"time_s": None, "load_case": lab, "node": node, "ux": u[c, node, 0], "uy": u[c, node, 1]})
    else:
        assert prony is not None
        # unit modulus: u scales with 1/E exactly (one homogeneous material, constant nu)
        unit = {lab: u[c] * E for c, lab in enumerate(labels)}
        measured = protocol_response(prony, unit, events, source=str(args.protocol))
        payload["modulus"] = f"prony:{prony.name or 'inline'}"
        payload["prony"] = prony.to_dict()
        payload["E_MPa"] = E
        payload["assumptions"] = [
            CONSTANT_NU_NOTE,
            f"the elastic solves use material.E = {E:g} MPa and are scaled to unit modulus; the Prony series "
            "(material.prony) replaces E in the time history",
        ]
        ext = _extrapolation(prony, events)
        payload["extrapolation"] = ext
        for m in measured:
            for node in range(design.n_nodes):
                rows.append(
                    {"time_s": m.time_s, "load_case": m.label, "node": node, "ux": m.u[node, 0], "uy": m.u[node, 1]}
                )
    payload["model"] = model_record.pop("model")
    payload[payload["model"]] = model_record
    payload["csv"] = str(csv_out)
    payload["predictions"] = rows

    if (comm.rank if comm is not None else process_rank()) != 0:  # only rank 0 writes, also for springs under mpiexec
        return 0
    warning = payload.get("extrapolation", {}).get("warning")
    if warning:
        log.warning(f"warning: {warning}")
    comment = (
        f"fem-mnn {__version__} predict: {payload['model']} model, design {args.design} (hash {payload['design_hash']}),"
        f" loads {args.loads}" + (f", protocol {args.protocol}" if args.protocol else "") + "\n"
        f"modulus: {payload['modulus']}; " + "; ".join(payload["assumptions"]) + "\n"
        "spread_ux, spread_uy empty: a prediction has none; fixed nodes are 0"
    )
    recs = [
        ms.Displacement(
            r["load_case"],
            r["node"],
            float(r["ux"]),
            float(r["uy"]),
            math.nan,
            math.nan,
            math.nan if r["time_s"] is None else r["time_s"],
        )
        for r in rows
    ]
    ms.write_displacements(csv_out, recs, comment, time_column=True)
    atomic_write_json(out, payload)
    n_times = "" if events is None else f" at {sum(ev.event == 'measure' for ev in events)} measure events"
    log.info(f"{len(labels)} load case(s){n_times}, {design.n_nodes} nodes: wrote {out} and {csv_out}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    """Add this command's parser to ``fem-mnn``'s sub-commands."""
    p = sub.add_parser(
        "predict",
        help="every node's displacement for each load case, or along a load protocol (Prony material)",
        description="Predict node displacements for the load cases of a loads CSV (one linear solve per case, "
        "modulus material.E) or, with --protocol, at each measure event of a load protocol: the unit-modulus "
        "solutions convolved with the creep compliance of the design's Prony series (constant Poisson's ratio). "
        "Writes F.json (rows time_s, load_case, node, ux, uy; provenance) and F.csv beside it in the "
        "displacements CSV layout with a time_s column. --model fem runs under mpiexec (rank 0 writes).",
    )
    p.add_argument("design", metavar="DESIGN", help="design JSON file")
    p.add_argument("--loads", metavar="L.csv", required=True, help="the load cases (loads CSV: load_case,node,fx,fy)")
    p.add_argument(
        "--protocol",
        metavar="P.csv",
        help="load protocol (time_s,event,load_case; apply/remove/measure): displacements at each measure event "
        "(needs material.prony)",
    )
    p.add_argument("--model", choices=("spring", "fem"), default="spring", help="spring network (default) or FE")
    p.add_argument("--out", metavar="F.json", required=True, help="the JSON to write; F.csv goes beside it")
    fe = p.add_argument_group("FE options (--model fem; the same as fem gradient's)")
    add_memory_argument(fe)
    add_fem_arguments(fe)
    p.set_defaults(func=_run)
