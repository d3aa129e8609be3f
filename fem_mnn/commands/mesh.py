"""``fem-mnn mesh``: tagged gmsh mesh of a design (``.msh``, optionally XDMF)."""

from __future__ import annotations

import argparse
from pathlib import Path

from fem_mnn.commands._common import add_memory_argument, natural, positive_float
from fem_mnn.core.errors import InputError
from fem_mnn.core.log import get_logger
from fem_mnn.core.mpi import process_rank
from fem_mnn.design.files import load_design
from fem_mnn.geometry.build import MeshOptions, write_msh

__all__ = ["register"]

log = get_logger(__name__)


def _options(args: argparse.Namespace) -> MeshOptions:
    return MeshOptions(
        dim=args.dim,
        elements_across=args.elements_across,
        refinement=args.refinement,
        order=args.order,
        max_size=args.max_size,
        size=args.size,
    )


def _mesh(args: argparse.Namespace) -> int:
    out = Path(args.output)
    if out.suffix != ".msh":
        raise InputError("the mesh file name must end in .msh", source="-o", value=str(out))
    design = load_design(args.design)
    opts = _options(args)
    if process_rank() != 0:
        if args.xdmf:  # collective
            from fem_mnn.fem.meshing import write_xdmf

            write_xdmf(design, opts, out.with_suffix(".xdmf"))
        return 0
    log.info(f"meshing {design.name or args.design} ({design.n_nodes} nodes, {design.n_bonds} bonds), {opts.key()}")
    info = write_msh(design, opts, out, binary=args.binary)
    print(
        f"wrote {out}: {info.n_cells} {'triangles' if opts.dim == 2 else 'tetrahedra'}, {info.n_vertices} nodes, "
        f"h = {info.mesh_size:.4g} mm, {len(info.cell_groups)} cell groups, "
        f"{len(info.facet_groups)} facet groups, {info.seconds:.2f} s (mesh key {info.design_hash}-{info.key})"
    )
    if info.overlap_nodes:
        print(f"note: beams overlap outside the hubs at nodes {list(info.overlap_nodes)} (tagged overlap_{{j}})")
    if args.xdmf:
        try:
            from fem_mnn.fem.meshing import write_xdmf

            xdmf = out.with_suffix(".xdmf")
            log.info(f"writing {xdmf} (DOLFINx)")
            write_xdmf(design, opts, xdmf)
        except ModuleNotFoundError as exc:
            raise InputError("--xdmf needs DOLFINx, which is not installed", source="--xdmf") from exc
        print(f"wrote {xdmf} and {xdmf.with_suffix('.h5')} (cell tags 'cells', facet tags 'facets')")
    if args.png:
        from fem_mnn.viz.geometry import plot_mesh

        plot_mesh(design, opts, args.png)
        print(f"wrote {args.png}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    """Add this command's parser to ``fem-mnn``'s sub-commands."""
    p = sub.add_parser(
        "mesh",
        help="tagged gmsh mesh of a design (.msh, optionally XDMF for ParaView)",
        description="Mesh the printed lattice: cell groups bond_{i} (10000+i), node_{j} (20000+j), "
        "overlap_{j} (30000+j); facet groups node_{j}_boundary (40000+j). Element size = thinnest thin end / "
        "elements-across / refinement.",
    )
    p.add_argument("design", help="design JSON")
    p.add_argument("-o", "--output", required=True, help="mesh file to write (.msh)")
    p.add_argument("--dim", type=int, choices=(2, 3), default=2, help="2: triangles (plane stress); 3: tetrahedra")
    p.add_argument(
        "--elements-across", type=natural, default=3, help="elements across the thinnest section (default 3)"
    )
    p.add_argument("--refinement", type=positive_float, default=1.0, help="mesh-size divisor (default 1)")
    p.add_argument("--order", type=int, choices=(1, 2), default=1, help="geometric order of the mesh")
    p.add_argument("--max-size", type=positive_float, default=None, help="cap on the element size (mm)")
    p.add_argument(
        "--size",
        type=positive_float,
        default=None,
        metavar="H",
        help="fixed element size (mm) instead of the thin-end rule (then h = H / refinement, whatever the widths)",
    )
    p.add_argument("--binary", action="store_true", help="binary .msh")
    p.add_argument("--xdmf", action="store_true", help="also write FILE.xdmf + FILE.h5 with tags (needs DOLFINx)")
    p.add_argument("--png", default=None, help="also draw the mesh with its tags to this PNG")
    add_memory_argument(p)
    p.set_defaults(func=_mesh)
