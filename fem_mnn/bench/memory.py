"""Calibration of the memory guard (:mod:`fem_mnn.core.resources`): measure, fit, report the error.

``python -m fem_mnn.bench.memory [--out FILE.json] [--quick]`` runs one child process per
case (a design, dim, degree and refinement; serial), each of which meshes, assembles,
factorises and solves once and reports the cells, dofs, matrix entries, MUMPS factor
entries (INFOG(20)) and the peak resident memory of the process (``ru_maxrss``). The
fit (:func:`fit`) gives the constants of :mod:`fem_mnn.core.resources`; :func:`errors`
compares the model (from the mesh's dofs, and from the cells estimated before
meshing) with every measurement.

The calibration behind the committed constants (2 cores, 24 GB, PETSc/MUMPS of the
lock file) is ``fem_mnn/bench/memory_calibration.json``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np

from fem_mnn.core.files import atomic_write_text
from fem_mnn.core.resources import estimate_fe

__all__ = ["CASES", "QUICK_CASES", "errors", "fit", "measure_case"]

#: (design, dim, degree, refinement): 2D P1/P2 and 3D P1/P2, 5e4 to 1.4e6 dofs, peaks under 3 GB
CASES = [
    ("paper", 2, 2, 1.0),
    ("paper", 2, 2, 2.0),
    ("paper", 2, 2, 3.0),
    ("paper", 2, 2, 4.5),
    ("strip", 2, 2, 1.0),
    ("paper", 2, 1, 2.0),
    ("patch3", 3, 1, 1.0),
    ("patch3", 3, 1, 1.5),
    ("patch3", 3, 1, 2.0),
    ("paper", 3, 1, 1.0),
    ("strip", 3, 1, 1.0),
    ("patch3", 3, 2, 1.0),
    ("patch3", 3, 2, 1.3),
    ("paper", 3, 2, 0.6),
]
#: The cases of ``--quick``: (design, dim, degree, refinement), as in :data:`CASES`.
QUICK_CASES = [("paper", 2, 2, 1.0), ("patch3", 3, 1, 1.0)]

DEFAULT_OUT = Path(__file__).with_name("memory_calibration.json")

_CHILD = r"""
import json, resource, sys
import numpy as np
from fem_mnn.design import paper_sample
from fem_mnn.design.builders import triangular_patch, triangular_strip
from fem_mnn.fem.linear import FemModel, FemOptions
from fem_mnn.geometry.build import MeshOptions, estimate_cells
from mpi4py import MPI
kind, dim, degree, ref = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
d = {"paper": paper_sample, "patch3": lambda: triangular_patch(3, 2), "strip": lambda: triangular_strip(6, 4)}[kind]()
mo = MeshOptions(dim=dim, refinement=ref)
m = FemModel(d, FemOptions(dim=dim, degree=degree, mesh=mo), comm=MPI.COMM_SELF)
op = m.operator()
loads = np.zeros((1, d.n_nodes, 2)); loads[0, d.n_nodes - 1] = (0.0, -0.1)
op.solve(loads)
F = op.ksp.getPC().getFactorMatrix()
ent = F.getMumpsInfog(20)
print(json.dumps(dict(design=kind, dim=dim, degree=degree, refinement=ref, cells=op.mesh_info.n_cells,
    cells_estimated=estimate_cells(d, mo), dofs=op.n_dofs, matrix_entries=op.A.getInfo()["nz_used"],
    factor_entries=ent if ent > 0 else -ent * 1e6, mumps_mb=F.getMumpsInfog(22),
    peak_bytes=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024, timings=op.timings)))
"""


def measure_case(design: str, dim: int, degree: int, refinement: float) -> dict[str, Any]:
    """One case in a fresh serial process (so that the peak is this case's alone)."""
    out = subprocess.run(
        [sys.executable, "-c", _CHILD, design, str(dim), str(degree), str(refinement)],
        capture_output=True,
        text=True,
        check=True,
        env={**__import__("os").environ, "FEM_MNN_MAX_MEMORY_GB": "1000"},
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def fit(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Constants of :mod:`fem_mnn.core.resources` from measurements.

    Per (dim, degree): dofs per cell and matrix entries per dof (means); fill
    ``E = c dofs^(1+q)`` (least squares in logs; q shared by the degrees of one dim).
    Then ``peak = M0 + a nnz + b E`` by least squares of the relative error over every row.
    """
    out: dict[str, Any] = {"fill": {}}
    for dim in (2, 3):
        rs = [r for r in rows if r["dim"] == dim]
        if not rs:
            continue
        # shared exponent, one constant per degree: log(E/dofs) = log c_p + q log dofs
        degrees = sorted({r["degree"] for r in rs})
        X = np.array([[np.log(r["dofs"])] + [float(r["degree"] == p) for p in degrees] for r in rs])
        y = np.array([np.log(r["factor_entries"] / r["dofs"]) for r in rs])
        coef = np.linalg.lstsq(X, y, rcond=None)[0]
        q = float(coef[0])
        for k, p in enumerate(degrees):
            sel = [r for r in rs if r["degree"] == p]
            out["fill"][f"{dim},{p}"] = {
                "dofs_per_cell": float(np.mean([r["dofs"] / r["cells"] for r in sel])),
                "entries_per_dof": float(np.mean([r["matrix_entries"] / r["dofs"] for r in sel])),
                "c": float(np.exp(coef[1 + k])),
                "q": q,
            }
    # relative least squares: every case counts alike, small or large
    b = np.array([r["peak_bytes"] for r in rows], dtype=float)
    A = np.array([[1.0, r["matrix_entries"], r["factor_entries"]] for r in rows]) / b[:, None]
    m0, a, bf = np.linalg.lstsq(A, np.ones(len(rows)), rcond=None)[0]
    out.update(base_bytes=float(m0), matrix_bytes=float(a), factor_bytes=float(bf))
    return out


def errors(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Model / measured peak per row, from the mesh's dofs and from the cells estimated before meshing."""
    out = []
    for r in rows:
        exact = estimate_fe(r["dim"], r["degree"], r["cells"], n_dofs=r["dofs"]).memory_bytes
        before = (
            estimate_fe(r["dim"], r["degree"], r["cells_estimated"]).memory_bytes if "cells_estimated" in r else None
        )
        out.append(
            {
                "case": f"{r['design']} {r['dim']}D P{r['degree']} r{r['refinement']:g}",
                "dofs": r["dofs"],
                "peak_gb": r["peak_bytes"] / 1e9,
                "model_gb": exact / 1e9,
                "rel_err": exact / r["peak_bytes"] - 1,
                "before_mesh_rel_err": None if before is None else before / r["peak_bytes"] - 1,
            }
        )
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m fem_mnn.bench.memory", description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(DEFAULT_OUT), help="JSON of the measurements, fit and errors")
    ap.add_argument("--quick", action="store_true", help="two small cases (checks the model, does not refit)")
    ap.add_argument("--from", dest="source", help="reuse the measurements of this JSON (refit only)")
    a = ap.parse_args(argv)
    if a.source:
        rows = json.loads(Path(a.source).read_text())["measurements"]
    else:
        rows = []
        for case in QUICK_CASES if a.quick else CASES:
            rows.append(measure_case(*case))
            print(json.dumps(rows[-1]), file=sys.stderr)
    doc = {"measurements": rows, "fit": fit(rows), "errors": errors(rows)}
    atomic_write_text(a.out, json.dumps(doc, indent=1) + "\n")
    for e in doc["errors"]:
        print(
            f"{e['case']:24s} {e['dofs']:9d} dofs  peak {e['peak_gb']:.2f} GB  model {e['model_gb']:.2f} GB "
            f"({e['rel_err']:+.0%}; before meshing {e['before_mesh_rel_err']:+.0%})"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
