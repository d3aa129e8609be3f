"""Training checkpoints: save, load and resume at an epoch boundary.

A checkpoint is written at an epoch boundary (after the evaluation), holding the
latent variable, widths, Adam moments and step count, the epoch, the generator's
``bit_generator.state``, the best epoch and the history so far, in one ``.npz`` (a JSON
header and the arrays) replaced atomically. Resuming replays the identical sequence of
floating-point operations, so a killed and resumed run ends with the same widths and
history, bit for bit, as an uninterrupted one. The format tag
:data:`CHECKPOINT_FORMAT` keeps the module path the format was born in
(``fem_mnn.learn.training``) so checkpoints written before the split still read.
"""

from __future__ import annotations

import dataclasses
import io
import json
import math
import os
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from fem_mnn.core.errors import InputError
from fem_mnn.core.files import atomic_path
from fem_mnn.learn.adam import Adam, AdamState
from fem_mnn.learn.config import TrainConfig, initial_latent, widths_of_latent
from fem_mnn.learn.state import BEST_CRITERION, EpochRecord, TrainState, better

__all__ = ["CHECKPOINT_FORMAT", "load_checkpoint", "save_checkpoint", "start_state"]

#: The checkpoint format tag; a file with another tag is refused. Never change the string:
#: it names the module the format was first written by, and old checkpoints carry it.
CHECKPOINT_FORMAT = "fem_mnn.learn.training.checkpoint/1"


def _history_json(history: Sequence[EpochRecord]) -> str:
    # plain json (allow_nan) round-trips every float exactly: needed for bitwise resume
    return json.dumps([r.to_dict() for r in history])


def save_checkpoint(path: Path, state: TrainState, meta: dict[str, Any]) -> None:
    """Write ``state`` with the run's ``meta`` (task, hashes, config, start widths) to ``path``, atomically."""
    header = dict(meta)
    header.update(
        format=CHECKPOINT_FORMAT,
        epoch=state.epoch,
        adam_t=state.adam.t,
        rng_state=state.rng_state,
        best_loss=state.best_loss,
        since_best=state.since_best,
        best_epoch=state.best_epoch,
        best_value=state.best_value,
        initial_metrics=state.initial_metrics,
    )
    buf = io.BytesIO()
    np.savez(
        buf,
        latent=state.latent,
        widths=state.widths,
        best_widths=state.widths if state.best_widths is None else state.best_widths,
        adam_m=state.adam.m,
        adam_v=state.adam.v,
        header=np.array(json.dumps(header)),
        history=np.array(_history_json(state.history)),
    )
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            fh.write(buf.getvalue())
            fh.flush()
            os.fsync(fh.fileno())


def load_checkpoint(path: str | Path) -> tuple[TrainState, dict[str, Any]]:
    """Read a checkpoint written by :func:`train`; returns (state, header).

    Raises:
        InputError: missing or unreadable file, or not a training checkpoint.
    """
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as z:
            header = json.loads(str(z["header"]))
            history = tuple(EpochRecord.from_dict(d) for d in json.loads(str(z["history"])))
            state = TrainState(
                epoch=int(header["epoch"]),
                latent=np.array(z["latent"]),
                widths=np.array(z["widths"]),
                adam=AdamState(m=np.array(z["adam_m"]), v=np.array(z["adam_v"]), t=int(header["adam_t"])),
                rng_state=header["rng_state"],
                history=history,
                best_loss=float(header["best_loss"]),
                since_best=int(header["since_best"]),
            )
            state = _with_best(state, header, np.array(z["best_widths"]) if "best_widths" in z.files else None)
    except FileNotFoundError:
        raise InputError("no checkpoint to resume from", source=str(path)) from None
    except (OSError, KeyError, ValueError, TypeError, EOFError, zipfile.BadZipFile) as exc:  # torn, foreign, garbage
        raise InputError(f"not a readable training checkpoint ({exc.__class__.__name__})", source=str(path)) from None
    if header.get("format") != CHECKPOINT_FORMAT:
        raise InputError("unknown checkpoint format", source=str(path), field="format", value=header.get("format"))
    return state, header


def _with_best(state: TrainState, header: dict[str, Any], best_widths: np.ndarray | None) -> TrainState:
    """The checkpoint's best epoch; for a checkpoint written before it was kept, the best recorded epoch."""
    if best_widths is not None and "best_epoch" in header:
        return dataclasses.replace(
            state,
            best_epoch=int(header["best_epoch"]),
            best_widths=best_widths,
            best_value=float(header["best_value"]),
            initial_metrics=header.get("initial_metrics"),
        )
    # older checkpoint: the start was not evaluated; pick among the epochs whose widths were recorded
    best = (state.epoch, state.widths, math.nan)
    for rec in state.history:
        value = rec.metrics.get(BEST_CRITERION)
        if rec.widths and value is not None and better(value, best[2]):
            best = (rec.epoch, np.array(rec.widths), float(value))
    return dataclasses.replace(state, best_epoch=best[0], best_widths=best[1], best_value=best[2])


def start_state(
    config: TrainConfig,
    w_init: np.ndarray,
    w_min: float,
    w_max: float,
    meta: dict[str, Any],
    rng: np.random.Generator,
    ckpt: Path | None,
) -> tuple[TrainState, int | None]:
    """The state to start from: the checkpoint's (when ``ckpt`` exists and belongs to this run), else a fresh one.

    Sets ``rng`` to the checkpoint's generator state on resume.
    """
    if ckpt is not None and ckpt.exists():
        state, header = load_checkpoint(ckpt)
        for key in ("task", "task_hash", "design_hash", "config", "initial_widths", "robust", "regime"):
            if _comparable(key, header.get(key)) != _comparable(key, json.loads(json.dumps(meta.get(key)))):
                raise InputError(
                    "the checkpoint belongs to another run (different " + key + ")", source=str(ckpt), field=key
                )
        rng.bit_generator.state = state.rng_state
        return state, state.epoch
    latent = initial_latent(config, w_init, w_min, w_max)
    widths = widths_of_latent(config, latent, w_min, w_max)
    state = TrainState(
        epoch=0,
        latent=latent,
        widths=widths,
        adam=Adam.init(w_init.size),
        rng_state=dict(rng.bit_generator.state),
        history=(),
        best_loss=math.inf,
        since_best=0,
    )
    return state, None


def _comparable(key: str, value: Any) -> Any:
    # epochs and the checkpoint period may change on resume: neither alters the numbers of the epochs run
    if key == "config" and isinstance(value, dict):
        return {k: v for k, v in value.items() if k not in ("epochs", "checkpoint_every")}
    return value
