"""The history files of a training run: ``history.csv`` (one line per epoch) and ``history.json``.

``history.csv`` is an append-only log written as the epochs run (rewritten from the
checkpoint on resume, so lines written after the checkpoint go); ``history.json`` and the
checkpoint are replaced atomically together at checkpoints and at the end. Floats are
written with ``repr``, so they read back exactly.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from fem_mnn.core.files import atomic_write_text
from fem_mnn.learn.checkpoint import save_checkpoint
from fem_mnn.learn.config import TrainConfig
from fem_mnn.learn.state import EpochRecord, TrainState

__all__ = ["RunFiles", "csv_columns", "csv_line"]


def csv_columns(metric_names: Sequence[str], n_bonds: int, with_widths: bool) -> list[str]:
    """The header of history.csv: epoch, losses, step, the metrics (sorted by the caller), then w0, w1, ..."""
    cols = ["epoch", "loss", "loss_paper", "step", *metric_names]
    if with_widths:
        cols += [f"w{b}" for b in range(n_bonds)]
    return cols


def csv_line(rec: EpochRecord, metric_names: Sequence[str], with_widths: bool) -> str:
    """One epoch's line of history.csv (a missing metric is written as nan)."""
    vals = [str(rec.epoch), repr(rec.loss), repr(rec.loss_paper), repr(rec.step)]
    vals += [repr(rec.metrics.get(k, float("nan"))) for k in metric_names]
    if with_widths:
        vals += [repr(w) for w in rec.widths]
    return ",".join(vals) + "\n"


class RunFiles:
    """The files of a training run in ``out``: history.csv (appended per epoch), history.json and the checkpoint."""

    def __init__(self, out: Path, ckpt: Path, meta: dict[str, Any], config: TrainConfig, n_bonds: int) -> None:
        self.out, self.ckpt, self.meta, self.config, self.n_bonds = out, ckpt, meta, config, n_bonds
        self.csv_path = out / "history.csv"
        self.metric_names: list[str] | None = None
        self._fh: Any = None
        out.mkdir(parents=True, exist_ok=True)

    def reset_csv(self, history: tuple[EpochRecord, ...]) -> None:
        """Rewrite history.csv from the checkpoint's history (drops lines written after it), or remove it."""
        if history:
            self.metric_names = sorted(history[0].metrics)
            cols = csv_columns(self.metric_names, self.n_bonds, self.config.record_widths)
            lines = "".join(csv_line(r, self.metric_names, self.config.record_widths) for r in history)
            atomic_write_text(self.csv_path, ",".join(cols) + "\n" + lines)
        elif self.csv_path.exists():
            self.csv_path.unlink()

    def write_header(self, metric_names: list[str]) -> None:
        """history.csv with its header line only (no epoch ran)."""
        cols = csv_columns(metric_names, self.n_bonds, self.config.record_widths)
        atomic_write_text(self.csv_path, ",".join(cols) + "\n")

    def append(self, rec: EpochRecord) -> None:
        if self.metric_names is None:
            self.metric_names = sorted(rec.metrics)
        if self._fh is None:
            new = not self.csv_path.exists()
            self._fh = open(self.csv_path, "a")  # noqa: SIM115 - kept open for the run
            if new:
                self._fh.write(",".join(csv_columns(self.metric_names, self.n_bonds, self.config.record_widths)) + "\n")
        self._fh.write(csv_line(rec, self.metric_names, self.config.record_widths))
        self._fh.flush()

    def save(self, st: TrainState) -> None:
        """Checkpoint and history.json of state ``st`` (atomic)."""
        save_checkpoint(self.ckpt, st, self.meta)
        text = "[" + ",\n".join(json.dumps(r.to_dict()) for r in st.history) + "]\n"
        atomic_write_text(self.out / "history.json", text)

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
