"""Meshing time and element counts of the paper's sample at three refinement levels.

Run: ``.venv/bin/python studies/geometry_refinement.py`` (serial). Writes
``studies/results/geometry_refinement/{table.md,results.json}``.

For each level it measures gmsh geometry + meshing on one process
(:func:`fem_mnn.geometry.build_model`) and, when DOLFINx is installed, the whole
:func:`fem_mnn.geometry.generate_mesh` (gmsh + ``model_to_mesh``).
"""

from __future__ import annotations

import os
import platform
import time
from pathlib import Path

from fem_mnn.core.files import atomic_write_json, atomic_write_text
from fem_mnn.design import paper_sample
from fem_mnn.geometry.build import MeshOptions, build_model, gmsh_session

OUT = Path(__file__).resolve().parent / "results" / "geometry_refinement"

#: (dim, elements_across, refinement): 2D from the default 3 elements across the
#: thinnest section; 3D from 1 across (3D at the 2D default is 0.25 M tetrahedra).
LEVELS = [(2, 3, 1.0), (2, 3, 2.0), (2, 3, 4.0), (3, 1, 1.0), (3, 1, 2.0), (3, 1, 3.0)]


def main() -> None:
    try:
        from fem_mnn.fem._dolfinx import import_dolfinx

        import_dolfinx()
        from fem_mnn.fem.meshing import generate_mesh
    except ImportError:
        generate_mesh = None
    design = paper_sample()
    rows = []
    for dim, n, r in LEVELS:
        opts = MeshOptions(dim=dim, elements_across=n, refinement=r)
        with gmsh_session():
            t0, c0 = time.perf_counter(), time.process_time()
            info = build_model(design, opts)
            gmsh_s, gmsh_cpu = time.perf_counter() - t0, time.process_time() - c0
        row = {
            "dim": dim,
            "elements_across": n,
            "refinement": r,
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
            assert md.mesh.topology.index_map(dim).size_global == info.n_cells
        rows.append(row)
        print(row, flush=True)
    meta = {
        "design": design.name,
        "design_hash": design.hash(),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at the end",
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    }
    atomic_write_json(OUT / "results.json", {"meta": meta, "rows": rows})
    lines = [
        f"# Meshing the paper's sample ({design.name}, hash {design.hash()})",
        "",
        f"{meta['date']}; {meta['machine']}. Serial. h = thinnest thin end (1 mm) / elements_across / refinement.",
        "gmsh = geometry + fragment + tags + mesh (1 process, wall and CPU time: the CPU time is the better measure on",
        "a shared machine); generate_mesh = gmsh + DOLFINx model_to_mesh (wall).",
        "",
        "| dim | elements across | refinement | h (mm) | cells | mesh nodes | gmsh wall (s) | gmsh CPU (s) "
        "| generate_mesh wall (s) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        gm = f"{r['generate_mesh_s']:.2f}" if r["generate_mesh_s"] is not None else "-"
        lines.append(
            f"| {r['dim']} | {r['elements_across']} | {r['refinement']:g} | {r['h_mm']:.4g} | {r['cells']} | "
            f"{r['vertices']} | {r['gmsh_s']:.2f} | {r['gmsh_cpu_s']:.2f} | {gm} |"
        )
    atomic_write_text(OUT / "table.md", "\n".join(lines) + "\n")
    print(f"wrote {OUT / 'table.md'}")


if __name__ == "__main__":
    main()
