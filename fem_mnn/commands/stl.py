"""``fem-mnn stl``: the printable solid as STL (binary or ASCII) or STEP."""

from __future__ import annotations

import argparse
from pathlib import Path

from fem_mnn.core.errors import InputError
from fem_mnn.core.log import get_logger
from fem_mnn.design.files import load_design

__all__ = ["register"]

log = get_logger(__name__)


def _stl(args: argparse.Namespace) -> int:
    from fem_mnn.geometry.stl import write_step, write_stl

    out = Path(args.output)
    suffix = out.suffix.lower()
    if suffix not in (".stl", ".step", ".stp"):
        raise InputError("the output must end in .stl, .step or .stp", source="-o", value=str(out))
    design = load_design(args.design)
    log.info(f"building the solid of {design.name or args.design} ({design.n_bonds} bonds)")
    if suffix == ".stl":
        info = write_stl(design, out, ascii=args.ascii)
        err = 100 * (info.volume - info.cad_volume) / info.cad_volume
        print(
            f"wrote {out} ({'ASCII' if args.ascii else 'binary'}, mm): {info.n_triangles} triangles, "
            f"{info.n_bodies} body, volume {info.volume:.2f} mm^3 (CAD {info.cad_volume:.2f}, {err:+.3f} %), "
            f"size {info.bbox[3] - info.bbox[0]:.1f} x {info.bbox[4] - info.bbox[1]:.1f} x "
            f"{info.bbox[5] - info.bbox[2]:.1f} mm"
        )
        if info.n_bodies > 1:
            log.info(f"warning: the lattice prints as {info.n_bodies} separate parts (see fem-mnn validate)")
    else:
        if args.ascii:
            raise InputError("--ascii applies to STL only", source="--ascii")
        vol = write_step(design, out)
        print(f"wrote {out} (STEP, mm): volume {vol:.2f} mm^3")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    """Add this command's parser to ``fem-mnn``'s sub-commands."""
    p = sub.add_parser(
        "stl",
        help="the printable lattice as one closed STL (or STEP) solid, in mm",
        description="Fuse hubs and beams, extrude by the thickness (z = 0 on the build plate) and write one "
        "closed, outward-oriented surface. The file type follows the extension: .stl or .step/.stp.",
    )
    p.add_argument("design", help="design JSON")
    p.add_argument("-o", "--output", required=True, help="FILE.stl or FILE.step")
    p.add_argument("--ascii", action="store_true", help="ASCII STL (binary by default)")
    p.set_defaults(func=_stl)
