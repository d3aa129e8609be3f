"""``fem-mnn design``: write a built-in design as a JSON file to start from.

Its clamped nodes, widths, thickness and Young's modulus are set from the command line.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
from pathlib import Path

import numpy as np

from fem_mnn.commands._common import check_sample_memory
from fem_mnn.core.errors import InputError
from fem_mnn.design.builders import paper_sample, triangular_patch, triangular_strip
from fem_mnn.design.files import save_design
from fem_mnn.design.records import Design, Material
from fem_mnn.design.validate import validate

__all__ = ["apply_widths", "register"]


def _width_file(path: Path, widths: np.ndarray) -> None:
    try:
        rows = [r for r in csv.reader(path.read_text().splitlines()) if r and not r[0].startswith("#")]
    except OSError as exc:
        raise InputError(f"cannot read the file ({exc.strerror})", source=str(path)) from None
    if rows and rows[0][0].strip().lower() == "bond":
        rows = rows[1:]
    for n, row in enumerate(rows):
        if len(row) != 2:
            raise InputError("a row is bond,width", source=str(path), field=f"row {n + 1}", value=",".join(row))
        _set_width(widths, row[0], row[1], str(path), f"row {n + 1}")


def _set_width(widths: np.ndarray, bond: str, value: str, source: str, spec: str) -> None:
    try:
        b = int(bond)
    except ValueError:
        raise InputError("bond id must be an integer", source=source, field=spec, value=bond) from None
    if not 0 <= b < widths.size:
        raise InputError(f"unknown bond id (bonds are 0..{widths.size - 1})", source=source, field=spec, value=b)
    widths[b] = _width(value, source, spec)


def _width(text: str, source: str, spec: str) -> float:
    try:
        w = float(text)
    except ValueError:
        raise InputError("width must be a number (mm)", source=source, field=spec, value=text) from None
    if not (np.isfinite(w) and w > 0):
        raise InputError("width must be finite and > 0 (mm)", source=source, field=spec, value=text)
    return w


def apply_widths(design: Design, specs: list[str]) -> Design:
    """Widths from ``--width`` specs, applied in order.

    A spec is ``W`` (every bond), ``I=W`` (bond I), or a CSV file ``bond,width`` (header optional).
    """
    widths = np.array(design.widths, dtype=float)
    for spec in specs:
        if "=" in spec:
            bond, value = spec.split("=", 1)
            _set_width(widths, bond.strip(), value.strip(), "--width", spec)
        elif spec.lower().endswith(".csv"):
            _width_file(Path(spec), widths)
        else:
            widths[:] = _width(spec, "--width", spec)
    return dataclasses.replace(design, widths=widths)


def _design(args: argparse.Namespace) -> int:
    if args.kind != "paper":
        # before building: about A x B nodes, each with its coordinates and about three bonds (ids, width)
        check_sample_memory(
            "--size", args.size[0] * args.size[1], 11, what="the design's arrays", value=list(args.size)
        )
    if args.kind == "paper":
        d = paper_sample()
    elif args.kind == "patch":
        d = triangular_patch(args.size[0], args.size[1], a=args.a)
    else:
        d = triangular_strip(args.size[0], args.size[1], a=args.a)
    changes: dict = {}
    if args.fixed is not None:
        changes["fixed"] = tuple(args.fixed)
    if args.thickness is not None:
        changes["thickness"] = args.thickness
    if args.E is not None or args.nu is not None:
        changes["material"] = Material(
            E=args.E if args.E is not None else d.material.E, nu=args.nu if args.nu is not None else d.material.nu
        )
    d = apply_widths(dataclasses.replace(d, **changes), args.width or [])
    try:
        validate(d)
    except InputError as err:  # name the option that set the field
        option = {"fixed": "--fixed", "widths": "--width"}.get((err.field or "").split("[")[0], "design")
        raise InputError(err.reason, source=option, field=err.field, value=err.value) from None
    save_design(d, args.output)
    print(
        f"wrote {args.output}: {d.n_nodes} nodes, {d.n_bonds} bonds, fixed {list(d.fixed)}, "
        f"widths {d.widths.min():g}..{d.widths.max():g} mm, hash {d.hash()}"
    )
    return 0


def _positive(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {text!r}") from None
    if not (np.isfinite(v) and v > 0):
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {text!r}")
    return v


def register(sub: argparse._SubParsersAction) -> None:
    """Add this command's parser to ``fem-mnn``'s sub-commands."""
    p = sub.add_parser(
        "design",
        help="write a built-in design (the paper's sample, triangular patches and strips)",
        description="paper: Li & Mao's 14-node sample. patch TOP ROWS: inverted triangle, rows of TOP, TOP-1, ... "
        "nodes. strip COLUMNS ROWS: strip of triangles. By default the two ends of the top row are clamped; "
        "--fixed, --width, --thickness, --E and --nu change the design before it is checked and written.",
    )
    p.add_argument("kind", choices=["paper", "patch", "strip"])
    p.add_argument(
        "--size", nargs=2, type=int, default=(5, 4), metavar=("A", "B"), help="patch: TOP ROWS; strip: COLUMNS ROWS"
    )
    p.add_argument("--a", type=_positive, default=16.0, help="bond length (mm), default 16")
    p.add_argument(
        "--width",
        action="append",
        metavar="W|I=W|FILE.csv",
        help="widths (mm), applied in order: W sets every bond (default 2), I=W bond I, FILE.csv rows 'bond,width'; "
        "repeat, e.g. --width 2.2 --width 10=2.5",
    )
    p.add_argument("--fixed", type=int, nargs="+", metavar="I", help="clamped node ids (default: top-row ends)")
    p.add_argument("--thickness", type=_positive, default=None, metavar="MM", help="out-of-plane thickness (default 2)")
    p.add_argument("--E", type=_positive, default=None, metavar="MPA", help="Young's modulus (default 0.55 MPa)")
    p.add_argument("--nu", type=_poisson, default=None, help="Poisson's ratio, in (-1, 0.5) (default 0.45)")
    p.add_argument("-o", "--output", required=True, help="design JSON to write")
    p.set_defaults(func=_design)


def _poisson(text: str) -> float:
    """argparse type: a Poisson's ratio, in (-1, 0.5) as a design file requires (an isotropic solid)."""
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number in (-1, 0.5), got {text!r}") from None
    if not -1.0 < v < 0.5:  # also refuses nan
        raise argparse.ArgumentTypeError(f"expected a number in (-1, 0.5), got {text!r}")
    return v
