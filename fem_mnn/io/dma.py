"""DMA data in: a master curve and its shift factors, as tab- or space-separated text.

**Master curve** (three columns, no header, ``#`` lines are comments): frequency (Hz),
storage modulus E' (Pa), loss modulus E'' (Pa); the layout of the materialsmine DynamFit
files (e.g. ``agilus30-20C_mastercurve.tsv``). Returned in rad/s and MPa.

**Shift factors** (two columns): temperature (deg C), horizontal shift factor a_T
(dimensionless, 1 at the reference temperature): the modulus at temperature T and time t
is the reference curve's at t / a_T.

Every reader raises :class:`~fem_mnn.core.errors.InputError` naming the file, the line
(1-based), the column and the value.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import NamedTuple

import numpy as np

from fem_mnn.core.errors import InputError
from fem_mnn.core.files import read_input_text

__all__ = ["MasterCurve", "ShiftFactors", "read_master_curve", "read_shift_factors"]


class MasterCurve(NamedTuple):
    """A DMA master curve: omega (rad/s), E' and E'' (MPa), in the file's order."""

    omega: np.ndarray
    storage: np.ndarray
    loss: np.ndarray


class ShiftFactors(NamedTuple):
    """Temperatures (deg C, ascending) and their shift factors a_T."""

    temperature_c: np.ndarray
    a_T: np.ndarray

    def log_shift(self, temperature_c: float) -> float:
        """log10 a_T at a temperature inside the table (piecewise linear in log10 a_T)."""
        t = self.temperature_c
        if not t[0] <= temperature_c <= t[-1]:
            raise InputError(f"outside the table's {t[0]:g}..{t[-1]:g} deg C", field="temperature", value=temperature_c)
        return float(np.interp(temperature_c, t, np.log10(self.a_T)))

    def temperature_for(self, log10_a_T: float) -> float:
        """The temperature (deg C) whose shift is log10 a_T (the table is monotonic)."""
        la = np.log10(self.a_T)
        order = np.argsort(la)
        if not la[order[0]] <= log10_a_T <= la[order[-1]]:
            raise InputError("shift outside the table", field="log10 a_T", value=log10_a_T)
        return float(np.interp(log10_a_T, la[order], self.temperature_c[order]))


def _numbers(path: str | Path, columns: tuple[str, ...]) -> np.ndarray:
    src = str(path)
    text = read_input_text(path)
    rows = []
    for lineno, line in enumerate(text.splitlines(), start=1):
        cells = line.replace(",", " ").split()
        if not cells or cells[0].startswith("#"):
            continue
        if len(cells) != len(columns):
            raise InputError(
                f"expected {len(columns)} columns ({', '.join(columns)})",
                source=src,
                field=f"line {lineno}",
                value=line,
            )
        row = []
        for cell, col in zip(cells, columns, strict=True):
            try:
                v = float(cell)
            except ValueError:
                raise InputError("must be a number", source=src, field=f"line {lineno}, {col}", value=cell) from None
            if not math.isfinite(v):
                raise InputError("must be finite", source=src, field=f"line {lineno}, {col}", value=cell)
            row.append(v)
        rows.append(row)
    if not rows:
        raise InputError("no data lines", source=src)
    return np.array(rows)


def read_master_curve(path: str | Path) -> MasterCurve:
    """Read a master curve file (frequency Hz, E' Pa, E'' Pa), every value > 0."""
    cols = ("frequency_hz", "storage_pa", "loss_pa")
    a = _numbers(path, cols)
    for k, col in enumerate(cols):
        bad = np.nonzero(a[:, k] <= 0)[0]
        if bad.size:
            raise InputError(
                "must be > 0", source=str(path), field=f"data line {bad[0] + 1}, {col}", value=a[bad[0], k]
            )
    return MasterCurve(2 * np.pi * a[:, 0], a[:, 1] * 1e-6, a[:, 2] * 1e-6)


def read_shift_factors(path: str | Path) -> ShiftFactors:
    """Read a shift-factor file (temperature deg C, a_T > 0), sorted by temperature."""
    a = _numbers(path, ("temperature_c", "a_T"))
    bad = np.nonzero(a[:, 1] <= 0)[0]
    if bad.size:
        raise InputError("must be > 0", source=str(path), field=f"data line {bad[0] + 1}, a_T", value=a[bad[0], 1])
    order = np.argsort(a[:, 0])
    return ShiftFactors(a[order, 0], a[order, 1])
