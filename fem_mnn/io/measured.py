"""Measured data in: documented CSV formats, readers, writers, and the paper's data as records.

Three CSV files (comma separated, one header row, UTF-8; ``#`` lines are comments;
units mm, N; node and bond ids 0-based):

**Displacements** (``load_case,node,ux,uy,spread_ux,spread_uy``)
    One row per measured node and load case. ``load_case`` is a label (any text
    without commas, e.g. ``uniform`` or ``m04g``); ``ux``, ``uy`` the measured node
    displacement (mm); ``spread_*`` its spread (mm, e.g. one standard deviation over
    repeats, >= 0). A component left empty was not measured (NaN); an empty spread
    means unknown. A (load_case, node) pair appears once.

    An optional last column ``time_s`` gives the time of the measurement (s, the
    clock of a load protocol, :mod:`fem_mnn.io.protocol`); empty = not given. With it,
    a (time_s, load_case, node) triple appears once. ``fem-mnn predict`` writes this
    layout, so a prediction and a measurement diff line by line.

**Loads** (``load_case,node,fx,fy``)
    The load cases: one row per loaded node, forces in N (a hanging mass m in g
    pulls ``fy = -m * 9.8e-3`` N). Rows of the same label add up.

**Gradients** (``bond,grad,spread``)
    Per-bond measured in situ gradient ``grad = e_i * e_adj,i`` (mm^2): the product
    of the bond's elongation under the forward load case and under the adjoint
    load case, i.e. dL/dk_i of the loss whose adjoint load was applied (k in N/mm).
    ``spread`` in mm^2. The loads table of a gradient measurement names its two
    cases ``forward`` and ``adjoint``.

Every reader raises :class:`~fem_mnn.core.errors.InputError` naming the file, the row
(1-based line number), the column and the value.

:func:`paper_records` converts the paper's Source Data folder (read at run time
through :mod:`fem_mnn.io.paper_data`, folder given as an argument) into these records:
Figure 1 (measured gradients with the bond mapping of ``bond-order-figure1.json``),
Figure 2 (uniform network outputs; the trained networks' widths are unpublished) and
Figure 3 (printed trained network, outputs vs hanging mass; widths unpublished).
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

import numpy as np

from fem_mnn.core.errors import InputError
from fem_mnn.core.files import atomic_write_text, read_input_text
from fem_mnn.design.records import Design
from fem_mnn.io import paper_data as pd

__all__ = [
    "DISPLACEMENT_COLUMNS",
    "GRADIENT_COLUMNS",
    "LOAD_COLUMNS",
    "TIME_COLUMN",
    "Displacement",
    "Gradient",
    "Load",
    "PaperRecords",
    "check_against_design",
    "load_cases",
    "paper_records",
    "read_displacements",
    "read_gradients",
    "read_loads",
    "sniff",
    "write_displacements",
    "write_gradients",
    "write_loads",
]

#: The columns of a displacements CSV, in order (mm; ``spread_*`` the measured spread).
DISPLACEMENT_COLUMNS = ("load_case", "node", "ux", "uy", "spread_ux", "spread_uy")
#: The optional last column of a displacements CSV: the time of the measurement (s).
TIME_COLUMN = "time_s"
#: The columns of a loads CSV, in order (N).
LOAD_COLUMNS = ("load_case", "node", "fx", "fy")
#: The columns of a measured-gradient CSV, in order.
GRADIENT_COLUMNS = ("bond", "grad", "spread")
G = 9.8


class Displacement(NamedTuple):
    """One measured node displacement (mm); NaN = not measured / unknown spread / no time given."""

    load_case: str
    node: int
    ux: float
    uy: float
    spread_ux: float = math.nan
    spread_uy: float = math.nan
    time_s: float = math.nan


class Load(NamedTuple):
    """One nodal force of a load case (N)."""

    load_case: str
    node: int
    fx: float
    fy: float


class Gradient(NamedTuple):
    """One measured per-bond gradient e e_adj (mm^2)."""

    bond: int
    grad: float
    spread: float = math.nan


# ---------------------------------------------------------------------- reading


def _content_lines(path: str | Path) -> list[tuple[int, list[str]]]:
    """(line number, stripped cells) of every non-blank, non-comment CSV line."""
    src = str(path)
    text = read_input_text(path)
    try:
        parsed = list(csv.reader(io.StringIO(text)))
    except csv.Error as exc:  # e.g. a field over csv's size limit
        raise InputError(f"not a readable CSV ({exc})", source=src) from None
    return [
        (lineno, [c.strip() for c in cells])
        for lineno, cells in enumerate(parsed, start=1)
        if cells and any(c.strip() for c in cells) and not cells[0].lstrip().startswith("#")
    ]


def _rows(path: str | Path, columns: Sequence[str], optional: Sequence[str] = ()) -> list[tuple[int, list[str]]]:
    """(line number, cells) of the data rows, after checking the header.

    ``optional`` columns may follow ``columns`` in the header (in that order); rows of a
    file without them are padded with empty cells, so every row has all the columns.
    """
    src = str(path)
    parsed = _content_lines(path)
    rows = []
    header = None
    allowed = [tuple(columns) + tuple(optional[:k]) for k in range(len(optional) + 1)]
    n_cells = len(columns)
    for lineno, cells in parsed:
        if header is None:
            header = cells
            if tuple(header) not in allowed:
                want = ",".join(columns) + "".join(f"[,{c}]" for c in optional)
                raise InputError(f"header must be {want}", source=src, field=f"row {lineno}", value=",".join(header))
            n_cells = len(header)
            continue
        if len(cells) != n_cells:
            raise InputError(f"expected {n_cells} cells", source=src, field=f"row {lineno}", value=",".join(cells))
        rows.append((lineno, cells + [""] * (len(columns) + len(optional) - n_cells)))
    if header is None:
        raise InputError(f"empty file, expected the header {','.join(columns)}", source=src)
    if not rows:
        raise InputError("no data rows", source=src)
    return rows


def _int(cell: str, src: str, lineno: int, col: str) -> int:
    try:
        v = int(cell)
    except ValueError:
        raise InputError("must be an integer id", source=src, field=f"row {lineno}, {col}", value=cell) from None
    if v < 0:
        raise InputError("must be >= 0 (ids are 0-based)", source=src, field=f"row {lineno}, {col}", value=cell)
    return v


def _float(cell: str, src: str, lineno: int, col: str, *, optional: bool = False, nonneg: bool = False) -> float:
    if cell == "" and optional:
        return math.nan
    try:
        v = float(cell)
    except ValueError:
        raise InputError("must be a number", source=src, field=f"row {lineno}, {col}", value=cell) from None
    if not math.isfinite(v):
        raise InputError("must be finite", source=src, field=f"row {lineno}, {col}", value=cell)
    if nonneg and v < 0:
        raise InputError("must be >= 0", source=src, field=f"row {lineno}, {col}", value=cell)
    return v


def _label(cell: str, src: str, lineno: int) -> str:
    if not cell:
        raise InputError("must not be empty", source=src, field=f"row {lineno}, load_case", value=cell)
    return cell


def read_displacements(path: str | Path) -> list[Displacement]:
    """Read a displacements CSV (format in the module docstring)."""
    src = str(path)
    out: list[Displacement] = []
    seen: dict[tuple[float | None, str, int], int] = {}
    for lineno, c in _rows(path, DISPLACEMENT_COLUMNS, (TIME_COLUMN,)):
        lab = _label(c[0], src, lineno)
        node = _int(c[1], src, lineno, "node")
        ux = _float(c[2], src, lineno, "ux", optional=True)
        uy = _float(c[3], src, lineno, "uy", optional=True)
        if math.isnan(ux) and math.isnan(uy):
            raise InputError("ux and uy are both empty", source=src, field=f"row {lineno}, ux", value="")
        sx = _float(c[4], src, lineno, "spread_ux", optional=True, nonneg=True)
        sy = _float(c[5], src, lineno, "spread_uy", optional=True, nonneg=True)
        t = _float(c[6], src, lineno, TIME_COLUMN, optional=True)
        key = (None if math.isnan(t) else t, lab, node)
        if key in seen:
            raise InputError(
                f"node measured twice in this load case{'' if math.isnan(t) else ' at this time'} "
                f"(first on row {seen[key]})",
                source=src,
                field=f"row {lineno}, node",
                value=c[1],
            )
        seen[key] = lineno
        out.append(Displacement(lab, node, ux, uy, sx, sy, t))
    return out


def read_loads(path: str | Path) -> list[Load]:
    """Read a loads CSV (format in the module docstring)."""
    src = str(path)
    return [
        Load(
            _label(c[0], src, lineno),
            _int(c[1], src, lineno, "node"),
            _float(c[2], src, lineno, "fx"),
            _float(c[3], src, lineno, "fy"),
        )
        for lineno, c in _rows(path, LOAD_COLUMNS)
    ]


def read_gradients(path: str | Path) -> list[Gradient]:
    """Read a gradients CSV (format in the module docstring)."""
    src = str(path)
    out: list[Gradient] = []
    seen: dict[int, int] = {}
    for lineno, c in _rows(path, GRADIENT_COLUMNS):
        b = _int(c[0], src, lineno, "bond")
        if b in seen:
            raise InputError(
                f"bond listed twice (first on row {seen[b]})", source=src, field=f"row {lineno}, bond", value=c[0]
            )
        seen[b] = lineno
        out.append(
            Gradient(
                b, _float(c[1], src, lineno, "grad"), _float(c[2], src, lineno, "spread", optional=True, nonneg=True)
            )
        )
    return out


def sniff(path: str | Path) -> str:
    """``"displacement"``, ``"gradient"`` or ``"load"`` from the header of a CSV."""
    src = str(path)
    parsed = _content_lines(path)
    for _, cells in parsed:
        head = tuple(cells)
        for kind, cols in (
            ("displacement", DISPLACEMENT_COLUMNS),
            ("displacement", (*DISPLACEMENT_COLUMNS, TIME_COLUMN)),
            ("gradient", GRADIENT_COLUMNS),
            ("load", LOAD_COLUMNS),
        ):
            if head == cols:
                return kind
        raise InputError(
            "unknown header (expected displacements, gradients or loads columns)", source=src, value=",".join(head)
        )
    raise InputError("empty file", source=src)


def load_cases(loads: Sequence[Load], n_nodes: int, source: str | None = None) -> dict[str, np.ndarray]:
    """Load case label -> (n_nodes, 2) forces (N), in order of first appearance."""
    out: dict[str, np.ndarray] = {}
    for r, ld in enumerate(loads):
        if ld.node >= n_nodes:
            raise InputError(
                f"unknown node id (nodes are 0..{n_nodes - 1})", source=source, field=f"load {r}, node", value=ld.node
            )
        out.setdefault(ld.load_case, np.zeros((n_nodes, 2)))[ld.node] += (ld.fx, ld.fy)
    return out


def check_against_design(design: Design, records: Sequence[Displacement | Gradient], source: str | None = None) -> None:
    """Refuse node or bond ids the design does not have, and measurements on fixed nodes."""
    for r, rec in enumerate(records):
        if isinstance(rec, Gradient):
            if rec.bond >= design.n_bonds:
                raise InputError(
                    f"unknown bond id (bonds are 0..{design.n_bonds - 1})",
                    source=source,
                    field=f"record {r}, bond",
                    value=rec.bond,
                )
        else:
            if rec.node >= design.n_nodes:
                raise InputError(
                    f"unknown node id (nodes are 0..{design.n_nodes - 1})",
                    source=source,
                    field=f"record {r}, node",
                    value=rec.node,
                )


# ---------------------------------------------------------------------- writing


def _fmt(v: float) -> str:
    return "" if v is None or (isinstance(v, float) and math.isnan(v)) else repr(float(v))


def _write(path: str | Path, columns: Sequence[str], rows: Sequence[Sequence[object]], comment: str = "") -> Path:
    buf = io.StringIO()
    for line in comment.splitlines():
        buf.write(f"# {line}\n")
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(columns)
    for r in rows:
        w.writerow(r)
    return atomic_write_text(path, buf.getvalue())


def write_displacements(
    path: str | Path, records: Sequence[Displacement], comment: str = "", *, time_column: bool | None = None
) -> Path:
    """Write a displacements CSV atomically (``comment`` lines go first, prefixed ``#``).

    ``time_column``: write the ``time_s`` column (True), or not (False; refused if a record
    has a time); None (default) writes it when some record has a time.
    """
    timed = [not math.isnan(r.time_s) for r in records]
    if time_column is None:
        time_column = any(timed)
    elif not time_column and any(timed):
        raise ValueError("records with a time need the time_s column")
    rows = [
        [r.load_case, r.node, _fmt(r.ux), _fmt(r.uy), _fmt(r.spread_ux), _fmt(r.spread_uy)]
        + ([_fmt(r.time_s)] if time_column else [])
        for r in records
    ]
    return _write(path, (*DISPLACEMENT_COLUMNS, TIME_COLUMN) if time_column else DISPLACEMENT_COLUMNS, rows, comment)


def write_loads(path: str | Path, records: Sequence[Load], comment: str = "") -> Path:
    """Write a loads CSV atomically."""
    return _write(path, LOAD_COLUMNS, [[r.load_case, r.node, _fmt(r.fx), _fmt(r.fy)] for r in records], comment)


def write_gradients(path: str | Path, records: Sequence[Gradient], comment: str = "") -> Path:
    """Write a gradients CSV atomically."""
    return _write(path, GRADIENT_COLUMNS, [[r.bond, _fmt(r.grad), _fmt(r.spread)] for r in records], comment)


# ---------------------------------------------------------------------- the paper's data


class PaperRecords(NamedTuple):
    """One figure of the paper as measured records."""

    figure: int
    kind: str
    """``"gradient"`` or ``"displacement"``."""
    records: list
    """Gradient or Displacement records."""
    loads: list[Load]
    notes: list[str]
    """What the records are, and what cannot be compared."""
    simulated: dict
    """The paper's own simulated values where published (label -> array)."""


def paper_records(figure: int, data_dir: str | Path | None = None) -> PaperRecords:
    """Convert one figure of the paper's Source Data (read at run time) into records.

    Args:
        figure: 1 (gradient experiment), 2 (behaviour: uniform network outputs) or
            3 (regression: the printed trained network's outputs vs hanging mass).
        data_dir: The Source Data folder (default :func:`fem_mnn.io.paper_data.default_data_dir`).

    Returns:
        Records and loads in this module's formats, with notes.
    """
    if figure == 1:
        f1 = pd.load_figure1(data_dir)
        bond_val = f1.by_bond(f1.grad_exp)
        bond_spr = f1.by_bond(f1.grad_exp_spread)
        bond_sim = f1.by_bond(f1.grad_sim)
        grads = [Gradient(int(b), float(bond_val[b]), abs(float(bond_spr[b]))) for b in range(len(bond_val))]
        loads = [Load("forward", 12, 0.0, -10 * G * 1e-3), Load("adjoint", 13, 0.0, -5 * G * 1e-3)]
        notes = [
            "Figure 1 main experiment, uniform 2 mm network: forward 10 g down at id 12 (paper node 13), adjoint "
            "about 5 g down at id 13 (paper node 14); grad = e * e_adj in mm^2 (published in m^2).",
            "Bond order: bond-order-figure1.json (recovered from grad_sim); bonds with equal simulated values may be "
            "swapped within their group.",
        ]
        return PaperRecords(1, "gradient", grads, loads, notes, {"grad_sim": bond_sim})
    if figure == 2:
        f2 = pd.load_figure2(data_dir)
        recs = [
            Displacement("uniform", int(n), math.nan, float(f2.u1_exp[k]), math.nan, abs(float(f2.u1_spread[k])))
            for k, n in enumerate(f2.output_nodes)
        ]
        loads = [Load("uniform", 10, 0.0, -5 * G * 1e-3)]
        notes = [
            "Figure 2, uniform 2 mm network: u_y of ids 12, 13 (paper nodes 13, 14) under 5 g at id 10 (mm).",
            "The trained networks (u2, u3) are not converted: their widths are not published, so no model can "
            "predict them; compare the ratio measured/simulated instead (studies/vs_experiment.py).",
        ]
        sim = {
            "u1": f2.u1,
            "u2": f2.u2,
            "u3": f2.u3,
            "u2_exp": f2.u2_exp,
            "u3_exp": f2.u3_exp,
            "u2_spread": f2.u2_spread,
            "u3_spread": f2.u3_spread,
        }
        return PaperRecords(2, "displacement", recs, loads, notes, sim)
    if figure == 3:
        f3 = pd.load_figure3(data_dir)
        u = f3.u_exp - f3.u_exp[0]  # relative to the unloaded photo
        recs, loads = [], []
        for m in np.unique(f3.mass_g[1:]):
            rows = np.nonzero(f3.mass_g == m)[0]
            mean = u[rows].mean(0)
            std = u[rows].std(0, ddof=1) if rows.size > 1 else np.full(4, math.nan)
            lab = f"m{int(round(m)):02d}g"
            loads.append(Load(lab, 10, 0.0, -float(m) * G * 1e-3))
            for k, node in enumerate((12, 13)):
                recs.append(
                    Displacement(
                        lab, node, float(mean[2 * k]), float(mean[2 * k + 1]), float(std[2 * k]), float(std[2 * k + 1])
                    )
                )
        notes = [
            "Figure 3, printed trained regression network: (u_x, u_y) of ids 12, 13 under 2..12 g at id 10, mean and "
            "standard deviation of three repeats, relative to the unloaded row (mm).",
            "The trained widths are not published: a model run on the uniform design predicts the UNTRAINED "
            "network; compare linearity and the compliance band instead (studies/vs_experiment.py).",
            "The sign convention of the published displacements is the paper's image coordinates; check it "
            "against the models before reading a sign difference as an error.",
        ]
        return PaperRecords(3, "displacement", recs, loads, notes, {"mass_g": f3.mass_g, "u_exp_raw": f3.u_exp})
    raise InputError("must be 1, 2 or 3", field="figure", value=figure)
