"""``fem-mnn bench --scale``: where the time and memory go from 28 to thousands of bonds.

Every lattice runs in a fresh subprocess (``python -m fem_mnn.bench.scale ONE.json``; under
``mpiexec -n 2`` for the parallel rows), so the peak resident memory of each row is its
own (summed over ranks). One row = one load case, MSE loss on four nodes: mesh (gmsh
geometry on rank 0: conforming hubs, or the global fragment when shapes overlap; gmsh
meshing, ``model_to_mesh``), assembly, factorisation
or preconditioner setup, one forward and one adjoint solve, the exact width gradient
(shape derivative). Exponents are least-squares slopes of log(time) and log(memory) vs
log(bonds) over the rows with >= 250 bonds (the small rows carry fixed costs).
"""

from __future__ import annotations

import json
import math
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from fem_mnn.core.files import atomic_write_text
from fem_mnn.design import paper_sample, triangular_strip

__all__ = ["SIZES_2D", "SIZES_3D", "run_scale", "scale_table"]

#: bonds -> design builder arguments (paper sample, or triangular_strip(columns, rows))
SIZES_2D = {28: None, 103: (11, 4), 249: (12, 8), 981: (22, 16), 3979: (43, 32)}
#: bonds -> design builder arguments of the 3D rows (the 2D sizes up to 249 bonds)
SIZES_3D = {28: None, 103: (11, 4), 249: (12, 8)}


def _design(bonds: int) -> Any:

    spec = {**SIZES_2D, **SIZES_3D}[bonds]
    return paper_sample() if spec is None else triangular_strip(*spec)


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def one(spec: dict) -> dict:
    """One row (collective under mpiexec): every stage timed, rank 0's dict returned."""
    from mpi4py import MPI

    from fem_mnn.bench.fem import random_case
    from fem_mnn.fem.linear import FemModel, FemOptions
    from fem_mnn.fem.shape import shape_width_gradient
    from fem_mnn.geometry.build import MeshOptions, build_model, gmsh_session

    comm = MPI.COMM_WORLD
    dim, bonds = spec["dim"], spec["bonds"]
    design = _design(bonds)
    case = random_case(design, f"{dim}d-{bonds}", batch=1)
    mo = MeshOptions(dim=dim, elements_across=spec.get("elements_across", 3 if dim == 2 else 1))
    opts = FemOptions(dim=dim, mesh=mo, linear_solver=spec.get("solver", "auto"))
    t_geo = 0.0
    if comm.rank == 0:  # the geometry (and fragment, if any) alone (a separate session)
        with gmsh_session():
            t_geo = build_model(design, mo, mesh=False).seconds
    comm.barrier()
    t0 = time.perf_counter()
    model = FemModel(design, opts, comm=comm)
    op = model.operator()
    disc = op._disc
    t_op = time.perf_counter() - t0
    t1 = time.perf_counter()
    sg = shape_width_gradient(op, case.loads, case.loss)
    t_grad = time.perf_counter() - t1
    total = time.perf_counter() - t0
    mem = comm.allreduce(_peak_mib(), op=MPI.SUM)
    tm = op.timings
    row = {
        "dim": dim,
        "bonds": design.n_bonds,
        "ranks": comm.size,
        "dofs": op.n_dofs,
        "cells": disc.info.n_cells,
        "solver": op.linear_solver,
        "requested_solver": spec.get("solver", "auto"),
        "iterations": op.iterations if op.linear_solver == "iterative" else None,
        "preconditioner": op.ksp.getPC().getType(),
        "mesh_s": tm["mesh"],
        "gmsh_geometry_fragment_s": t_geo,
        "gmsh_mesh_s": max(disc.info.seconds - t_geo, 0.0),
        "model_to_mesh_s": max(tm["mesh"] - disc.info.seconds, 0.0),
        "setup_forms_s": disc.t_setup,
        "assemble_s": tm["assemble"],
        "factorise_or_pc_s": tm["factorise"],
        "solves_s": sg.timings["solve"],
        "n_solves": op.n_solves,
        "shape_gradient_s": sg.timings["shape"] + sg.timings["velocity"] + sg.timings["contract"],
        "gradient_total_s": total,
        "operator_s": t_op,
        "gradient_s": t_grad,
        "peak_mib": mem,
        "load_average_1min": os.getloadavg()[0],  # other jobs on the machine slow the row down
    }
    return row


def _run_child(spec: dict, ranks: int, timeout: float) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        inp, out = Path(tmp) / "in.json", Path(tmp) / "out.json"
        atomic_write_text(inp, json.dumps(spec))
        cmd = [sys.executable, "-m", "fem_mnn.bench.scale", str(inp), str(out)]
        if ranks > 1:
            cmd = [str(Path(sys.executable).parent / "mpiexec"), "-n", str(ranks), *cmd]
        t0 = time.perf_counter()
        try:
            r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            return {**spec, "ranks": ranks, "skipped": f"over the {timeout:.0f} s budget of a row"}
        if r.returncode != 0 or not out.exists():
            return {**spec, "ranks": ranks, "failed": (r.stderr or r.stdout)[-800:]}
        row = json.loads(out.read_text())
        row["wall_s"] = time.perf_counter() - t0
        return row


def exponent(rows: list, key: str, min_bonds: int = 240) -> float | None:
    """Slope of log(key) vs log(bonds) over the rows with >= min_bonds bonds."""
    pts = [(r["bonds"], r[key]) for r in rows if r.get(key) and r["bonds"] >= min_bonds]
    if len(pts) < 2:
        return None
    x, y = np.log([p[0] for p in pts]), np.log([p[1] for p in pts])
    return float(np.polyfit(x, y, 1)[0])


#: Rows the default run skips, and why (measured or estimated on the 2-core, 24 GB machine).
SKIPPED = {
    (2, 3979): "11.6M P2 dofs / 2.7M cells: ~4.5 min and ~12 GB on one rank (2026-12-02); "
    "run it with --scale-max-bonds 4000",
}
#: Rows also run with the iterative solver (``auto`` takes MUMPS there): the two side by side
#: (in 3D the paper's sample).
BOTH_SOLVERS = {2: (981,), 3: (28,)}


def run_scale(
    max_bonds_2d: int = 1000,
    max_bonds_3d: int = 249,
    mpi_bonds: tuple = (249, 981),
    timeout: float = 900,
    dims: tuple = (2, 3),
) -> dict:
    """All rows, serial and ``mpiexec -n 2``, with fitted exponents.

    The rows of :data:`BOTH_SOLVERS` run with both solvers (direct and iterative, the same
    problem), the others with ``auto`` (iterative beyond 250k dofs in 3D, 3.5M in 2D); the
    2-rank rows only up to the largest 2D size asked for. The exponents are fitted to the
    ``auto`` rows.
    """
    from fem_mnn.bench.fem import machine

    t0 = time.perf_counter()
    rows, skipped = [], []
    plan = {2: (SIZES_2D, max_bonds_2d, "--scale-max-bonds"), 3: (SIZES_3D, max_bonds_3d, "--scale-max-bonds-3d")}
    for dim in sorted(set(dims)):
        sizes, limit, flag = plan[dim]
        for b in sizes:
            if b > limit:
                skipped.append({"dim": dim, "bonds": b, "why": SKIPPED.get((dim, b), f"over {flag}")})
                continue
            rows.append(_run_child({"dim": dim, "bonds": b}, 1, timeout))
            if b in BOTH_SOLVERS[dim]:
                rows.append(_run_child({"dim": dim, "bonds": b, "solver": "iterative"}, 1, timeout))
        if dim == 2:
            rows += [_run_child({"dim": 2, "bonds": b}, 2, timeout) for b in mpi_bonds if b <= limit]
    ser2 = [
        r
        for r in rows
        if r.get("dim") == 2 and r.get("ranks") == 1 and "dofs" in r and r.get("requested_solver", "auto") == "auto"
    ]
    fits = {
        k: exponent(ser2, k)
        for k in (
            "gradient_total_s",
            "mesh_s",
            "gmsh_geometry_fragment_s",
            "gmsh_mesh_s",
            "model_to_mesh_s",
            "assemble_s",
            "factorise_or_pc_s",
            "solves_s",
            "shape_gradient_s",
            "peak_mib",
            "dofs",
        )
    }
    return {
        "machine": machine(),
        "rows": rows,
        "skipped": skipped,
        "exponents_2d_serial_from_250": fits,
        "seconds": time.perf_counter() - t0,
    }


def scale_table(res: dict) -> str:
    """Markdown table of the rows."""
    head = (
        "| dim | bonds | ranks | dofs | solver | mesh s (geom / gmsh / import) | assemble s | factor/PC s "
        "| fwd+adj s | shape grad s | total s | peak MiB |"
    )
    lines = [head, "|" + "---|" * 12]
    for r in res["rows"]:
        if "dofs" not in r:
            lines.append(f"| {r['dim']} | {r['bonds']} | {r['ranks']} | - | {r.get('skipped') or 'failed'} |")
            continue
        its = f" {r.get('preconditioner', '')} ({max(r['iterations'])} it)" if r.get("iterations") else ""
        lines.append(
            f"| {r['dim']} | {r['bonds']} | {r['ranks']} | {r['dofs']:,} | {r['solver']}{its} | {r['mesh_s']:.1f} "
            f"({r['gmsh_geometry_fragment_s']:.1f} / {r['gmsh_mesh_s']:.1f} / {r['model_to_mesh_s']:.1f}) | "
            f"{r['assemble_s']:.2f} | {r['factorise_or_pc_s']:.2f} | {r['solves_s']:.2f} | "
            f"{r['shape_gradient_s']:.2f} | {r['gradient_total_s']:.1f} | {r['peak_mib']:.0f} |"
        )
    ex = res.get("exponents_2d_serial_from_250", {})
    lines.append("")
    lines.append(
        "Exponents (2D serial, >= 250 bonds): "
        + ", ".join(f"{k} {v:.2f}" for k, v in ex.items() if v is not None and math.isfinite(v))
    )
    return "\n".join(lines)


if __name__ == "__main__":  # [mpiexec -n N] python -m fem_mnn.bench.scale IN.json OUT.json
    from mpi4py import MPI

    import fem_mnn.fem.linear  # noqa: F401  (dolfinx_solver first)

    spec = json.loads(Path(sys.argv[1]).read_text())
    row = one(spec)
    if MPI.COMM_WORLD.rank == 0:
        atomic_write_text(sys.argv[2], json.dumps(row))
