"""Meshing time and element counts of the paper's sample at several refinement levels.

For each level it measures gmsh geometry + meshing on one process
(:func:`fem_mnn.geometry.build.build_model`, wall and CPU time) and, when DOLFINx is
installed, the whole :func:`fem_mnn.fem.meshing.generate_mesh` (gmsh + ``model_to_mesh``).
The element counts are deterministic for a given gmsh; the times depend on the machine
and its load (the CPU time is the better measure on a shared machine).

Run: ``python studies/geometry_refinement.py [--quick] [--out DIR]`` (serial); ``compute(quick)``
returns the numbers, ``render(results, out)`` writes the report.
"""

from __future__ import annotations

# _common first: importing it pins the BLAS threads before numpy loads
from _common import log, study_main, table, write_report

# isort: split

import os

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):  # before numpy loads
    os.environ.setdefault(_v, "1")

import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fem_mnn.design import paper_sample
from fem_mnn.design.records import Design
from fem_mnn.geometry.build import MeshOptions, build_model, gmsh_session

NAME = "geometry_refinement"

#: (dim, elements_across, refinement): 2D from the default 3 elements across the
#: thinnest section; 3D from 1 across (3D at the 2D default is 0.25 M tetrahedra).
LEVELS = [(2, 3, 1.0), (2, 3, 2.0), (2, 3, 4.0), (3, 1, 1.0), (3, 1, 2.0), (3, 1, 3.0)]
QUICK_LEVELS = [(2, 3, 1.0), (2, 3, 2.0), (3, 1, 1.0)]


def _generate_mesh() -> Callable[..., Any] | None:
    """:func:`fem_mnn.fem.meshing.generate_mesh`, or None without DOLFINx."""
    try:
        from fem_mnn.fem._dolfinx import import_dolfinx

        import_dolfinx()
        from fem_mnn.fem.meshing import generate_mesh
    except ImportError:
        return None
    return generate_mesh


def measure(design: Design, dim: int, across: int, refinement: float, generate_mesh: Any) -> dict[str, Any]:
    """Mesh size, counts and times of one level."""
    opts = MeshOptions(dim=dim, elements_across=across, refinement=refinement)
    with gmsh_session():
        t0, c0 = time.perf_counter(), time.process_time()
        info = build_model(design, opts)
        gmsh_s, gmsh_cpu = time.perf_counter() - t0, time.process_time() - c0
    row = {
        "dim": dim,
        "elements_across": across,
        "refinement": refinement,
        "h_mm": info.mesh_size,
        "cells": info.n_cells,
        "vertices": info.n_vertices,
        "gmsh_s": gmsh_s,
        "gmsh_cpu_s": gmsh_cpu,
        "generate_mesh_s": None,
    }
    if generate_mesh is not None:
        t0 = time.perf_counter()
        md = generate_mesh(design, opts)
        row["generate_mesh_s"] = time.perf_counter() - t0
        row["dolfinx_cells"] = int(md.mesh.topology.index_map(dim).size_global)
    return row


def compute(quick: bool, data_dir: str | Path | None = None) -> dict[str, Any]:
    """Every level (quick: 2D at refinements 1, 2 and 3D at 1); no files.

    ``data_dir`` is not used (the study reads none of the paper's data); it keeps the studies' signature.
    """
    design = paper_sample()
    gm = _generate_mesh()
    rows = []
    for dim, n, r in QUICK_LEVELS if quick else LEVELS:
        rows.append(measure(design, dim, n, r, gm))
        log(NAME, f"{dim}D, {n} across, refinement {r:g}: {rows[-1]['cells']} cells, {rows[-1]['gmsh_s']:.2f} s")
    return {
        "quick": quick,
        "design": design.name,
        "design_hash": design.hash(),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at the end",
        "rows": rows,
    }


def headline(results: dict[str, Any]) -> dict[str, float]:
    """Cells and mesh nodes of every level (deterministic for a given gmsh); no times."""
    out = {}
    for r in results["rows"]:
        key = f"{r['dim']}D_n{r['elements_across']}_r{r['refinement']:g}"
        out[f"{key}_cells"] = r["cells"]
        out[f"{key}_vertices"] = r["vertices"]
    return out


def render(results: dict[str, Any], out: Path) -> None:
    """results.md (``studies/templates/geometry_refinement.md``) and results.json in ``out``."""
    started = time.time()
    rows = [
        [r["dim"], r["elements_across"], r["refinement"], r["h_mm"], r["cells"], r["vertices"], r["gmsh_s"]]
        + [r["gmsh_cpu_s"], "-" if r["generate_mesh_s"] is None else r["generate_mesh_s"]]
        for r in results["rows"]
    ]
    head = ["dim", "elements across", "refinement", "h (mm)", "cells", "mesh nodes", "gmsh wall (s)", "gmsh CPU (s)"]
    values = {
        "design": results["design"],
        "design_hash": results["design_hash"],
        "machine": results["machine"],
        "table_levels": table([*head, "generate_mesh wall (s)"], rows),
    }
    write_report(NAME, out, results, values, None, started)


def main(argv: list[str] | None = None) -> int:
    return study_main(NAME, __doc__, compute, render, argv, "2D at refinements 1, 2 and 3D at 1", takes_data=False)


if __name__ == "__main__":
    sys.exit(main())
