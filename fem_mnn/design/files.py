"""Design files: JSON in, JSON out, every defect named by file, field and value."""

from __future__ import annotations

import dataclasses
import difflib
import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from fem_mnn.core.errors import InputError
from fem_mnn.core.files import atomic_write_text, compact_json, read_input_text
from fem_mnn.design.records import Design, Geometry, Material
from fem_mnn.design.validate import validate
from fem_mnn.design.viscoelastic import parse_prony

__all__ = ["design_from_dict", "load_design", "parse_design", "read_design_json", "save_design"]


def _number(x: object, src: str | None, fld: str, *, positive: bool = False) -> float:
    if isinstance(x, bool) or not isinstance(x, (int, float)):
        raise InputError("must be a number", source=src, field=fld, value=x, has_value=True)
    try:
        v = float(x)
    except OverflowError:  # a JSON integer too large for a float
        raise InputError("must be finite", source=src, field=fld, value=x, has_value=True) from None
    if not math.isfinite(v):
        raise InputError("must be finite", source=src, field=fld, value=x, has_value=True)
    if positive and v <= 0:
        raise InputError("must be > 0", source=src, field=fld, value=x, has_value=True)
    return v


def _int(x: object, src: str | None, fld: str) -> int:
    if isinstance(x, bool) or not isinstance(x, int):
        if not (isinstance(x, float) and x.is_integer()):
            raise InputError("must be an integer id", source=src, field=fld, value=x, has_value=True)
    v = int(x)
    if not -(2**62) <= v < 2**62:  # ids are stored as int64
        raise InputError("unknown node id (out of range)", source=src, field=fld, value=x, has_value=True)
    return v


def _list(x: object, src: str | None, fld: str) -> list[Any]:
    if not isinstance(x, list):
        raise InputError("must be a list", source=src, field=fld, value=x, has_value=True)
    return x


def design_from_dict(data: object, source: str | None = None) -> Design:
    """Build and validate a design from its JSON dictionary.

    Raises:
        InputError: naming ``source``, the field and the offending value.
    """
    design = parse_design(data, source)
    try:
        validate(design)
    except InputError as err:
        raise err.with_source(source) if source else err from None
    return design


def parse_design(data: object, source: str | None = None) -> Design:
    """Build a design from its JSON dictionary checking only types and keys.

    Unlike :func:`design_from_dict` it does not run :func:`validate` (ranges, ids,
    crossings, rigidity), so that ``fem-mnn validate`` can report every geometric
    problem of a design instead of stopping at the first.

    Raises:
        InputError: a key is missing or unknown, or a value has the wrong type.
    """
    src = source
    if not isinstance(data, dict):
        raise InputError("a design must be a JSON object", source=src, value=type(data).__name__)
    known = {"name", "units", "nodes", "bonds", "widths", "thickness", "material", "fixed"}
    known |= {"geometry", "comment"}
    unknown = sorted(set(data) - known, key=str)
    if unknown:  # before the missing keys: a typo (widht) is named, not only the key it hides
        near = difflib.get_close_matches(str(unknown[0]), sorted(known), n=1)
        hint = f" (did you mean {near[0]!r}?)" if near else f" (known: {', '.join(sorted(known))})"
        raise InputError("unknown key" + hint, source=src, field=str(unknown[0]))
    for key in ("nodes", "bonds", "widths", "thickness", "material", "fixed"):
        if key not in data:
            raise InputError("missing required key", source=src, field=key)

    nodes = []
    for n, p in enumerate(_list(data["nodes"], src, "nodes")):
        if not isinstance(p, list) or len(p) != 2:
            raise InputError("a node is [x, y]", source=src, field=f"nodes[{n}]", value=p, has_value=True)
        nodes.append([_number(c, src, f"nodes[{n}][{k}]") for k, c in enumerate(p)])
    bonds = []
    for b, pair in enumerate(_list(data["bonds"], src, "bonds")):
        if not isinstance(pair, list) or len(pair) != 2:
            raise InputError("a bond is [i, j]", source=src, field=f"bonds[{b}]", value=pair, has_value=True)
        bonds.append([_int(c, src, f"bonds[{b}][{k}]") for k, c in enumerate(pair)])
    widths = [_number(w, src, f"widths[{b}]") for b, w in enumerate(_list(data["widths"], src, "widths"))]
    thickness = _number(data["thickness"], src, "thickness", positive=True)

    mat = data["material"]
    if not isinstance(mat, dict):
        raise InputError("must be an object {E, nu}", source=src, field="material", value=mat, has_value=True)
    extra = sorted(set(mat) - {"E", "nu", "prony"}, key=str)
    if extra:
        raise InputError("unknown key", source=src, field=f"material.{extra[0]}")
    if "E" not in mat:
        raise InputError("missing required key", source=src, field="material.E")
    E = _number(mat["E"], src, "material.E", positive=True)
    nu = _number(mat.get("nu", Material.nu), src, "material.nu")
    if not -1.0 < nu < 0.5:
        raise InputError("must lie in (-1, 0.5)", source=src, field="material.nu", value=nu)
    prony = parse_prony(mat["prony"], src, "material.prony") if "prony" in mat else None

    geo_in = data.get("geometry", {})
    if not isinstance(geo_in, dict):
        raise InputError("must be an object", source=src, field="geometry", value=geo_in, has_value=True)
    geo_fields = {f.name for f in dataclasses.fields(Geometry)}
    extra = sorted(set(geo_in) - geo_fields, key=str)
    if extra:
        raise InputError("unknown key", source=src, field=f"geometry.{extra[0]}")
    geo_vals = {k: _number(v, src, f"geometry.{k}", positive=True) for k, v in geo_in.items()}
    geometry = Geometry(**geo_vals)

    fixed = [_int(i, src, f"fixed[{n}]") for n, i in enumerate(_list(data["fixed"], src, "fixed"))]
    name = data.get("name", "")
    if not isinstance(name, str):
        raise InputError("must be a string", source=src, field="name", value=name, has_value=True)

    design = Design(
        nodes=np.array(nodes, dtype=float).reshape(-1, 2),
        bonds=np.array(bonds, dtype=np.int64).reshape(-1, 2),
        widths=np.array(widths, dtype=float),
        thickness=thickness,
        material=Material(E=E, nu=nu, prony=prony),
        fixed=tuple(fixed),
        geometry=geometry,
        name=name,
    )
    return design


def load_design(path: str | Path) -> Design:
    """Read and validate a design JSON file.

    Raises:
        InputError: the file is missing, not JSON, or not a valid design; the
            message names the file, the field and the value.
    """
    return design_from_dict(read_design_json(path), source=str(path))


class _RepeatedKeyError(ValueError):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _no_repeated_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in pairs:
        if k in out:
            raise _RepeatedKeyError(k)
        out[k] = v
    return out


def read_design_json(path: str | Path) -> Any:
    """The JSON value in a design file, not yet checked (shared by the strict and lenient readers).

    Raises:
        InputError: the file cannot be read or is not JSON; the message names the file.
    """
    path = Path(path)
    text = read_input_text(path)
    try:
        data = json.loads(text, object_pairs_hook=_no_repeated_keys)
    except _RepeatedKeyError as exc:
        raise InputError(
            "key given twice (which one counts would be a guess)", source=str(path), field=exc.key
        ) from None
    except json.JSONDecodeError as exc:
        raise InputError(
            f"not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}", source=str(path)
        ) from None
    except (ValueError, RecursionError) as exc:  # integer literal over 4300 digits, nesting too deep
        reason = "nested too deeply" if isinstance(exc, RecursionError) else "a number is too long"
        raise InputError(f"not valid JSON: {reason}", source=str(path)) from None
    return data


def save_design(design: Design, path: str | Path) -> Path:
    """Write the design as compact JSON (one line per node, bonds packed), atomically.

    ``-0.0`` coordinates are kept: the design hash (the mesh cache key) is computed from the
    values, and a written design must load with the same hash.
    """
    return atomic_write_text(path, compact_json(design.to_dict(), negative_zero=True) + "\n")
