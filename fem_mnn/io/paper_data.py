"""Reader of the published measurements of Li & Mao (Nat. Commun. 2024).

The Source Data of the paper ship with the package (``fem_mnn/data/li-mao-2024``:
``figure1.csv`` ... ``figure5.csv`` and ``bond-order-figure1.json``, the authors'
workbook, their MIT licence, a README of the columns and ``SHA256SUMS``, checked on
read). ``--data DIR`` or ``$FEM_MNN_PAPER_DATA`` point the readers at another folder
of the same layout (a user's own measurements). :func:`load_figure1` ... :func:`load_figure5` read one figure
each and return frozen records in project units:

* lengths in mm (the CSVs are in m unless the README says otherwise),
* gradients e * e_adj in mm^2 (published in m^2),
* forces in N, losses of displacement MSEs in mm^2,
* node ids 0-based (paper node n -> id n - 1), bonds as bond ids of
  :func:`fem_mnn.design.paper_sample` (bonds sorted, i < j).

Where a column's unit cannot be converted without guessing, the field name says
so (for example ``adjoint_offset``). Bands are published as a mean and two signed
columns titled ``+`` and ``-``: ``+`` holds mean - upper (<= 0) and ``-`` holds
mean - lower (>= 0). This reading keeps every accuracy band inside [0, 1] (the
opposite one reaches 1.2), and at epoch 100 of Figure 4 it gives train 98/105 to
101/105 and test 42/45 to 45/45: the bands are the min and max over the runs.
:class:`Band` stores the lower and upper ends.

Every defect (missing folder or file, unexpected header, non-numeric cell) raises
:class:`~fem_mnn.core.errors.InputError` naming the file, the column and the value.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

import numpy as np

from fem_mnn.core.errors import EngineError, InputError
from fem_mnn.core.paths import shipped_data
from fem_mnn.core.provenance import sha256_file
from fem_mnn.design.builders import paper_sample
from fem_mnn.design.records import Design

__all__ = [
    "DATA_ENV",
    "G",
    "Band",
    "Figure1",
    "Figure2",
    "Figure3",
    "Figure4",
    "Figure5",
    "PaperData",
    "default_data_dir",
    "load_all",
    "load_figure1",
    "load_figure2",
    "load_figure3",
    "load_figure4",
    "load_figure5",
    "SHIPPED",
    "WORKBOOK_SHA256",
    "data_checksums",
    "paper_bond_ids",
    "shipped_checksums",
    "resolve_data_dir",
]

#: Standard gravity used by the paper for the hanging weights (m/s^2); 1 g of mass weighs G * 1e-3 N.
G = 9.8
#: Environment variable that may point at the data folder.
DATA_ENV = "FEM_MNN_PAPER_DATA"
_M = 1e3  # m -> mm
_M2 = 1e6  # m^2 -> mm^2


# ------------------------------------------------------------------------ folder


#: The copy of the paper's Source Data shipped inside the package (the authors' MIT licence
#: and ``SHA256SUMS`` beside the files; the workbook is ``source-data.xlsx``).
SHIPPED = shipped_data("li-mao-2024")
#: SHA-256 of the authors' Source Data workbook (``data.xlsx`` in their repository).
WORKBOOK_SHA256 = "5b36a6fc336f1fad5155775c90747c3008654a69c46ea523ed32de2416f49a2e"


def default_data_dir() -> Path:
    """The folder of the paper's data: ``$FEM_MNN_PAPER_DATA`` if set, else the copy shipped in the package."""
    env = os.environ.get(DATA_ENV)
    if env:
        return Path(env).expanduser()
    return SHIPPED


def shipped_checksums() -> dict[str, str]:
    """File name -> SHA-256 of the shipped copy, from its ``SHA256SUMS``."""
    lines = (SHIPPED / "SHA256SUMS").read_text().splitlines()
    return {name.strip(): digest for digest, name in (line.split(None, 1) for line in lines if line.strip())}


def data_checksums(data_dir: str | Path | None = None) -> dict[str, str]:
    """File name -> SHA-256 of the data files in a folder (for the provenance of a result)."""
    folder = resolve_data_dir(data_dir)
    names = ["bond-order-figure1.json"] + [f"figure{k}.csv" for k in range(1, 6)]
    return {n: sha256_file(folder / n) for n in names if (folder / n).is_file()}


def resolve_data_dir(data_dir: str | Path | None = None) -> Path:
    """The data folder to read: ``data_dir`` if given, else :func:`default_data_dir`.

    Raises:
        InputError: the folder does not exist.
    """
    path = default_data_dir() if data_dir is None else Path(data_dir).expanduser()
    if not path.is_dir():
        raise InputError(
            "paper data folder not found (pass --data DIR or set $" + DATA_ENV + ")",
            source=str(path),
        )
    return path


# ------------------------------------------------------------------------ records


class Band(NamedTuple):
    """A published curve with its spread: mean and the lower and upper ends (min and max over runs)."""

    mean: np.ndarray
    lower: np.ndarray
    upper: np.ndarray


class Figure1(NamedTuple):
    """Figure 1: in situ gradient vs finite differences, and the measured gradient.

    The gradient arrays are in the paper's bond order (``paper_index`` 1..28);
    ``bond`` maps each to a bond id of :func:`~fem_mnn.design.paper_sample`
    (from ``bond-order-figure1.json``; bonds of equal simulated gradient may be
    swapped within their group without changing ``grad_sim``).
    """

    fd_step: np.ndarray
    """(n,) finite-difference step as published. The Figure 1 study identifies it as a forward-difference
    step on every bond width in mm (k changes by E t h / L); the data README reads it as a step on k."""
    fd_error: np.ndarray
    """(n,) error of the FD gradient at that step, as published (identified as 1 - cos(g_FD, g))."""
    adjoint_offset: np.ndarray
    """(m,) size of the adjoint (offset of the loss) as published; 25 is the main case's 0.025 m, so mm."""
    adjoint_error: np.ndarray
    """(m,) error of the in situ gradient due to nonlinearity (as published)."""
    err_exp: np.ndarray
    """(trials,) normalised error of the measured gradient, one per trial."""
    paper_index: np.ndarray
    """(28,) the paper's bond index, 1-based."""
    bond: np.ndarray
    """(28,) our bond id (0-based) of each paper index."""
    bond_nodes: np.ndarray
    """(28, 2) the bond's node ids (0-based, sorted)."""
    grad_exp: np.ndarray
    """(28,) measured e * e_adj (mm^2), mean of the trials."""
    grad_exp_spread: np.ndarray
    """(28,) its spread (mm^2)."""
    grad_sim: np.ndarray
    """(28,) simulated e * e_adj (mm^2)."""
    same_node_exp: np.ndarray
    """(28,) supplement's same-node case, measured (mm^2); bond order unknown."""
    same_node_spread: np.ndarray
    """(28,) its spread (mm^2)."""
    same_node_sim: np.ndarray
    """(28,) its simulated values (mm^2); bond order unknown."""

    def by_bond(self, values: np.ndarray) -> np.ndarray:
        """Reorder a (28,) paper-order array into our bond order."""
        out = np.full(len(self.bond), np.nan)
        out[self.bond] = values
        return out


class Figure2(NamedTuple):
    """Figure 2: outputs u_y of ids 12 and 13 (paper nodes 13, 14) under 5 g at id 10 (mm)."""

    output_nodes: tuple[int, ...]
    """0-based ids of the rows: (12, 13)."""
    u1: np.ndarray
    u1_exp: np.ndarray
    u1_spread: np.ndarray
    u2: np.ndarray
    u2_exp: np.ndarray
    u2_spread: np.ndarray
    u3: np.ndarray
    u3_exp: np.ndarray
    u3_spread: np.ndarray


class Figure3(NamedTuple):
    """Figure 3: linear regression training curves and the printed network's outputs."""

    epoch: np.ndarray
    loss: Band
    """Clean data, loss in mm^2 (published in m^2)."""
    loss_noise: Band
    """Noisy data, loss in mm^2."""
    mass_g: np.ndarray
    """(19,) hanging mass (g) of each measured row: 0, then 2..12 g three times."""
    force: np.ndarray
    """(19,) the hanging force (N), downward."""
    u_exp: np.ndarray
    """(19, 4) measured (u_x, u_y of id 12, u_x, u_y of id 13) in mm."""


class Figure4(NamedTuple):
    """Figure 4: Iris training curves (mean over 10 splits) and three physical tests."""

    epoch: np.ndarray
    loss: Band
    acc_train: Band
    acc_test: Band
    sim: np.ndarray
    """(3 cases, 3 outputs) normalised |u_x| of ids 7, 1, 2, simulated."""
    exp: np.ndarray
    """(3 cases, 3 outputs) the same, measured."""
    exp_spread: np.ndarray
    """(3 cases, 3 outputs) spread of the measurement."""


class Figure5(NamedTuple):
    """Figure 5: task switching (Iris -> regression -> Iris) and retraining after damage."""

    epoch_iris: np.ndarray
    epoch_regression: np.ndarray
    loss_iris1: Band
    loss_regression: Band
    """Regression loss (mm^2; published in m^2)."""
    loss_iris2: Band
    acc_iris1_train: Band
    acc_iris1_test: Band
    acc_regression_train: Band
    """The regression's accuracy metric (train)."""
    acc_regression_test: Band
    acc_iris2_train: Band
    acc_iris2_test: Band
    loss_broken: Band
    acc_broken_train: Band
    acc_broken_test: Band


class PaperData(NamedTuple):
    """Every figure of the folder."""

    folder: Path
    figure1: Figure1
    figure2: Figure2
    figure3: Figure3
    figure4: Figure4
    figure5: Figure5


# ------------------------------------------------------------------------ parsing


class _Table:
    """A CSV whose columns are addressed by position (headers repeat: ``+``, ``-``)."""

    def __init__(self, path: Path, header: Sequence[str]) -> None:
        self.path = path
        try:
            raw = path.read_bytes()
            rows = list(csv.reader(io.StringIO(raw.decode("utf-8"), newline="")))
        except FileNotFoundError:
            raise InputError("no such file", source=str(path)) from None
        except (OSError, UnicodeDecodeError) as exc:
            raise InputError(f"cannot read the file ({exc.__class__.__name__})", source=str(path)) from None
        self.sha256 = hashlib.sha256(raw).hexdigest()
        if path.parent.resolve() == SHIPPED.resolve():
            want = shipped_checksums().get(path.name)
            if want is not None and want != self.sha256:
                raise EngineError(
                    f"the shipped data file differs from its SHA256SUMS entry ({want[:12]}...): reinstall"
                )
        if not rows:
            raise InputError("empty file, expected a header row", source=str(path))
        got = [h.strip() for h in rows[0]]
        for c, name in enumerate(header):
            if c >= len(got):
                raise InputError(f"missing column {c + 1} '{name}'", source=str(path), field="header")
            if got[c] != name:
                raise InputError(f"column {c + 1} should be '{name}'", source=str(path), field="header", value=got[c])
        self.header = list(header)
        self.rows = rows[1:]

    def column(self, c: int, n: int | None = None) -> np.ndarray:
        """The numbers of column ``c`` (0-based) down to its first empty cell.

        Args:
            c: column position.
            n: the exact count expected (None: any count >= 1).
        """
        name = f"{self.header[c]} (column {c + 1})"
        vals: list[float] = []
        ended_at: int | None = None
        for r, row in enumerate(self.rows):
            cell = row[c].strip() if c < len(row) else ""
            if cell == "":
                if ended_at is None:
                    ended_at = r
                continue
            if ended_at is not None:
                raise InputError(
                    f"value after an empty cell in row {ended_at + 2}",
                    source=str(self.path),
                    field=f"{name}, row {r + 2}",
                    value=cell,
                )
            try:
                v = float(cell)
            except ValueError:
                raise InputError(
                    "not a number", source=str(self.path), field=f"{name}, row {r + 2}", value=cell
                ) from None
            if not math.isfinite(v):
                raise InputError("not finite", source=str(self.path), field=f"{name}, row {r + 2}", value=cell)
            vals.append(v)
        if not vals:
            raise InputError("column has no values", source=str(self.path), field=name)
        if n is not None and len(vals) != n:
            raise InputError(f"expected {n} values", source=str(self.path), field=name, value=len(vals))
        return np.array(vals)

    def band(self, c: int, n: int | None = None, scale: float = 1.0) -> Band:
        """Columns c, c+1, c+2 = mean, mean - upper (``+``), mean - lower (``-``)."""
        mean = self.column(c, n)
        plus = self.column(c + 1, len(mean))
        minus = self.column(c + 2, len(mean))
        return Band(mean * scale, (mean - minus) * scale, (mean - plus) * scale)


def _check_same_length(path: Path, names: Sequence[str], arrays: Sequence[np.ndarray]) -> None:
    n = len(arrays[0])
    for name, a in zip(names[1:], arrays[1:], strict=True):
        if len(a) != n:
            raise InputError(
                f"has {len(a)} values but '{names[0]}' has {n}", source=str(path), field=name, value=len(a)
            )


# ----------------------------------------------------------------------- figure 1

_F1 = [
    "step",
    "error",
    "err_exp",
    "adjoint",
    "error_adj",
    "index",
    "grad_exp",
    "+-",
    "grad_sim",
    "grad_exp_SI",
    "+-",
    "grad_sim_SI",
]


def paper_bond_ids(data_dir: str | Path | None = None, design: Design | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Read ``bond-order-figure1.json``: the paper's bond index -> our bond id.

    Args:
        data_dir: the data folder (default :func:`default_data_dir`).
        design: the lattice whose bond ids are wanted (default :func:`paper_sample`).

    Returns:
        (paper_index (28,), bond id (28,)); paper_index is 1-based as published.

    Raises:
        InputError: missing file, bad JSON, an unknown node pair or a bond listed twice.
    """
    folder = resolve_data_dir(data_dir)
    path = folder / "bond-order-figure1.json"
    design = design or paper_sample()
    key = "paper_bond_index_to_nodes_1based"
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise InputError("no such file", source=str(path)) from None
    except json.JSONDecodeError as exc:
        raise InputError(f"not valid JSON: {exc.msg} at line {exc.lineno}", source=str(path)) from None
    if not isinstance(data, dict) or key not in data or not isinstance(data[key], list):
        raise InputError("missing the list", source=str(path), field=key)
    lookup = {(int(min(a, b)), int(max(a, b))): i for i, (a, b) in enumerate(design.bonds.tolist())}
    index, bond = [], []
    for r, entry in enumerate(data[key]):
        fld = f"{key}[{r}]"
        if (
            not isinstance(entry, list)
            or len(entry) != 3
            or not all(isinstance(x, int) and not isinstance(x, bool) for x in entry)
        ):
            raise InputError("an entry is [index, node, node] (integers)", source=str(path), field=fld, value=entry)
        idx, a, b = entry
        pair = (min(a, b) - 1, max(a, b) - 1)
        if pair not in lookup:
            raise InputError(
                "no bond joins these paper nodes (1-based)", source=str(path), field=fld, value=[a, b], has_value=True
            )
        index.append(idx)
        bond.append(lookup[pair])
    n = design.n_bonds
    if sorted(index) != list(range(1, n + 1)):
        raise InputError(f"indices must be 1..{n} once each", source=str(path), field=key, value=sorted(index))
    if len(set(bond)) != n:
        dup = next(b for b in bond if bond.count(b) > 1)
        raise InputError("a bond is listed twice", source=str(path), field=key, value=design.bonds[dup].tolist())
    order = np.argsort(index)
    return np.asarray(index)[order], np.asarray(bond)[order]


def load_figure1(data_dir: str | Path | None = None) -> Figure1:
    """Read ``figure1.csv`` and the bond order (see :class:`Figure1`)."""
    folder = resolve_data_dir(data_dir)
    t = _Table(folder / "figure1.csv", _F1)
    step, err = t.column(0), t.column(1)
    _check_same_length(t.path, ["step", "error"], [step, err])
    adj, err_adj = t.column(3), t.column(4)
    _check_same_length(t.path, ["adjoint", "error_adj"], [adj, err_adj])
    idx = t.column(5, 28)
    if not np.array_equal(idx, np.arange(1, 29)):
        raise InputError("must be 1..28 in order", source=str(t.path), field="index (column 6)", value=idx.tolist())
    p_index, bond = paper_bond_ids(folder)
    design = paper_sample()
    return Figure1(
        fd_step=step,
        fd_error=err,
        adjoint_offset=adj,
        adjoint_error=err_adj,
        err_exp=t.column(2),
        paper_index=p_index,
        bond=bond,
        bond_nodes=design.bonds[bond].copy(),
        grad_exp=t.column(6, 28) * _M2,
        grad_exp_spread=t.column(7, 28) * _M2,
        grad_sim=t.column(8, 28) * _M2,
        same_node_exp=t.column(9, 28) * _M2,
        same_node_spread=t.column(10, 28) * _M2,
        same_node_sim=t.column(11, 28) * _M2,
    )


# ----------------------------------------------------------------------- figure 2

_F2 = ["u1", "u1_exp", "+-", "u2", "u2_exp", "+-", "u3", "u3_exp", "+-"]


def load_figure2(data_dir: str | Path | None = None) -> Figure2:
    """Read ``figure2.csv`` (already in mm)."""
    t = _Table(resolve_data_dir(data_dir) / "figure2.csv", _F2)
    cols = [t.column(c, 2) for c in range(9)]
    return Figure2((12, 13), *cols)


# ----------------------------------------------------------------------- figure 3

_F3 = ["epoch", "loss", "+", "-", "loss_noise", "+", "-", "ux1_exp", "uy1_exp", "ux2_exp", "uy2_exp"]


def load_figure3(data_dir: str | Path | None = None) -> Figure3:
    """Read ``figure3.csv``; losses to mm^2, displacements to mm."""
    t = _Table(resolve_data_dir(data_dir) / "figure3.csv", _F3)
    epoch = t.column(0)
    loss = t.band(1, len(epoch), _M2)
    loss_noise = t.band(4, len(epoch), _M2)
    u = np.stack([t.column(c, 19) for c in range(7, 11)], axis=1) * _M
    mass = np.concatenate([[0.0], np.tile(np.arange(2.0, 13.0, 2.0), 3)])
    return Figure3(epoch, loss, loss_noise, mass, 0.0 - mass * 1e-3 * G, u)


# ----------------------------------------------------------------------- figure 4

_F4 = [
    "loss",
    "+",
    "-",
    "acc_train",
    "+",
    "-",
    "acc_test",
    "+",
    "-",
    "sim1",
    "exp1",
    "+-",
    "sim2",
    "exp2",
    "+-",
    "sim3",
    "exp3",
    "+-",
]


def load_figure4(data_dir: str | Path | None = None) -> Figure4:
    """Read ``figure4.csv`` (accuracies as fractions, loss dimensionless)."""
    t = _Table(resolve_data_dir(data_dir) / "figure4.csv", _F4)
    loss = t.band(0)
    n = len(loss.mean)
    sim = np.stack([t.column(9 + 3 * k, 3) for k in range(3)])
    exp = np.stack([t.column(10 + 3 * k, 3) for k in range(3)])
    spread = np.stack([t.column(11 + 3 * k, 3) for k in range(3)])
    return Figure4(np.arange(1, n + 1), loss, t.band(3, n), t.band(6, n), sim, exp, spread)


# ----------------------------------------------------------------------- figure 5

_F5 = ["epoch1", "epoch2"] + [
    name
    for base in (
        "loss1",
        "loss2",
        "loss3",
        "acc1_1",
        "acc1_2",
        "acc2_1",
        "acc2_2",
        "acc3_1",
        "acc3_2",
        "loss_broken",
        "acc_broken_1",
        "acc_broken_2",
    )
    for name in (base, "+", "-")
]


def load_figure5(data_dir: str | Path | None = None) -> Figure5:
    """Read ``figure5.csv``; the regression loss to mm^2."""
    t = _Table(resolve_data_dir(data_dir) / "figure5.csv", _F5)
    e1, e2 = t.column(0), t.column(1)
    n1, n2 = len(e1), len(e2)

    def b(k: int, n: int, scale: float = 1.0) -> Band:
        return t.band(2 + 3 * k, n, scale)

    return Figure5(
        epoch_iris=e1,
        epoch_regression=e2,
        loss_iris1=b(0, n1),
        loss_regression=b(1, n2, _M2),
        loss_iris2=b(2, n1),
        acc_iris1_train=b(3, n1),
        acc_iris1_test=b(4, n1),
        acc_regression_train=b(5, n2),
        acc_regression_test=b(6, n2),
        acc_iris2_train=b(7, n1),
        acc_iris2_test=b(8, n1),
        loss_broken=b(9, n1),
        acc_broken_train=b(10, n1),
        acc_broken_test=b(11, n1),
    )


def load_all(data_dir: str | Path | None = None) -> PaperData:
    """Read every figure of the folder."""
    folder = resolve_data_dir(data_dir)
    return PaperData(
        folder,
        load_figure1(folder),
        load_figure2(folder),
        load_figure3(folder),
        load_figure4(folder),
        load_figure5(folder),
    )
