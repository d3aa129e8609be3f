"""Cached meshes of the reference designs in ``meshes/``.

A cached mesh is ``{name}-{hash}-{plan.key}.msh`` (binary gmsh 4.1) beside the
design it came from, ``{name}-{hash}.json``, and ``{stem}.info.json`` (the
:class:`~fem_mnn.geometry.GeometryInfo`). ``hash`` is :meth:`Design.hash` of the design at
the geometry widths and ``plan.key`` names the dimension, order and exact element size
(:func:`~fem_mnn.geometry.build.mesh_plan`), so a changed design gets a new file and two
option sets that give the same mesh share one; :func:`refresh` (``python -m fem_mnn.geometry.cache``)
writes what is missing and removes files of the same design name with another
hash (stale).

The committed cache holds the paper's sample in 2D (default options, 1.1 MB) and in
3D with one element across the thin ends (1.2 MB): keep the folder under ~5 MB.
"""

from __future__ import annotations

import argparse
import json
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from fem_mnn.core.files import atomic_write_json
from fem_mnn.core.log import get_logger
from fem_mnn.core.paths import cache_dir, checkout_root
from fem_mnn.design.builders import paper_sample
from fem_mnn.design.files import save_design
from fem_mnn.design.records import Design
from fem_mnn.geometry.build import GEOMETRY_VERSION, GeometryInfo, MeshOptions, mesh_plan, write_msh

__all__ = ["DEFAULT_ROOT", "REFERENCE", "cache_paths", "ensure_mesh", "main", "refresh"]

log = get_logger(__name__)


def _default_root() -> Path:
    root = checkout_root()
    return (root / "meshes") if root else cache_dir("meshes")


#: The cache folder: ``meshes/`` of a source checkout, else ``meshes`` in the user cache directory.
DEFAULT_ROOT = _default_root()

#: Reference designs and the mesh options cached for each.
REFERENCE: dict[str, tuple[Callable[[], Design], tuple[MeshOptions, ...]]] = {
    "paper-sample": (paper_sample, (MeshOptions(dim=2), MeshOptions(dim=3, elements_across=1))),
}


def _slug(design: Design) -> str:
    return re.sub(r"[^A-Za-z0-9_-]+", "_", design.name or "design")


def cache_paths(design: Design, options: MeshOptions, root: str | Path = DEFAULT_ROOT) -> dict[str, Path]:
    """File names of a cached mesh: ``design``, ``msh`` and ``info``."""
    root = Path(root)
    plan = mesh_plan(design, options)
    base = f"{_slug(design)}-{plan.design.hash()}"
    stem = f"{base}-{plan.key}"
    return {"design": root / f"{base}.json", "msh": root / f"{stem}.msh", "info": root / f"{stem}.info.json"}


def _info_from_dict(d: dict[str, Any]) -> GeometryInfo:
    d = dict(d)
    d["options"] = MeshOptions(**d["options"])
    for k in ("cell_groups", "facet_groups", "region_measure"):
        d[k] = {int(t): v for t, v in d[k].items()}
    d["overlap_nodes"] = tuple(d["overlap_nodes"])
    d.setdefault("version", 0)
    return GeometryInfo(**d)


def ensure_mesh(design: Design, options: MeshOptions, root: str | Path = DEFAULT_ROOT) -> tuple[Path, GeometryInfo]:
    """Path of the cached mesh of ``design`` with ``options``, meshing it if missing.

    Runs gmsh on the calling process only (call it on rank 0).
    """
    p = cache_paths(design, options, root)
    plan = mesh_plan(design, options)
    if p["msh"].exists() and p["info"].exists() and p["design"].exists():
        try:
            info = _info_from_dict(json.loads(p["info"].read_text()))
        except (OSError, ValueError, KeyError, TypeError):  # damaged or foreign record: mesh again
            info = None
        if info is not None and info.version == GEOMETRY_VERSION and info.design_hash == plan.design.hash():
            return p["msh"], info
    log.info(f"meshing {design.name} ({plan.key}) into {p['msh']}")
    save_design(plan.design, p["design"])
    info = write_msh(design, options, p["msh"], binary=True)
    atomic_write_json(p["info"], info.to_dict(), provenance=False)
    return p["msh"], info


def refresh(root: str | Path = DEFAULT_ROOT, names: Sequence[str] | None = None) -> list[Path]:
    """Write the missing reference meshes and delete stale ones; return the meshes."""
    root = Path(root)
    out = []
    for name in names or list(REFERENCE):
        make, options = REFERENCE[name]
        design = make()
        keep: set[Path] = set()
        for opts in options:
            msh, _ = ensure_mesh(design, opts, root)
            keep |= set(cache_paths(design, opts, root).values())
            out.append(msh)
        mine = re.compile(re.escape(_slug(design)) + r"-[0-9a-f]{16}[-.]")
        for f in root.glob(f"{_slug(design)}-*"):
            if mine.match(f.name) and f not in keep:
                log.info(f"removing stale {f}")
                f.unlink()
    return out


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m fem_mnn.geometry.cache [--root DIR]``: (re)generate the cached meshes."""
    ap = argparse.ArgumentParser(prog="python -m fem_mnn.geometry.cache", description=__doc__.split("\n")[0])
    ap.add_argument("--root", default=str(DEFAULT_ROOT), help="cache folder (default: meshes/)")
    args = ap.parse_args(argv)
    for p in refresh(args.root):
        print(f"{p} ({p.stat().st_size / 1e6:.2f} MB)")
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
