"""One logger for progress: ``fem_mnn`` on stderr, rank 0 only under MPI.

Library code calls ``get_logger(__name__).info(...)``; the first call installs one
stderr handler on the ``fem_mnn`` logger (unless the application configured one) with
a filter that drops records on MPI ranks other than 0, so progress under ``mpiexec``
appears once. Set ``FEM_MNN_LOG=WARNING`` (or DEBUG) to change the level.
"""

from __future__ import annotations

import logging
import os
import sys
from typing import TextIO

from fem_mnn.core.mpi import process_rank

__all__ = ["get_logger"]

_ROOT = "fem_mnn"


class _RankZero(logging.Filter):
    """Pass records on MPI rank 0 only (the rank is read once, without importing MPI)."""

    def __init__(self) -> None:
        super().__init__()
        self.rank = process_rank()

    def filter(self, record: logging.LogRecord) -> bool:
        return self.rank == 0


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]  # TextIO at run time; the stub is generic
    """Writes to whatever ``sys.stderr`` is at the time of the record (so redirection and capture work)."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property
    def stream(self) -> TextIO:  # noqa: D102 - the handler's target, read at each record
        return sys.stderr

    @stream.setter
    def stream(self, value: TextIO) -> None:
        pass


def get_logger(name: str = _ROOT) -> logging.Logger:
    """The package logger (or a child of it) with the rank-0 stderr handler installed once."""
    root = logging.getLogger(_ROOT)
    if not getattr(root, "_fem_mnn_configured", False):
        root._fem_mnn_configured = True  # type: ignore[attr-defined]
        if not root.handlers:
            h = _StderrHandler()
            h.setFormatter(logging.Formatter("fem-mnn: %(message)s"))
            h.addFilter(_RankZero())
            root.addHandler(h)
            root.setLevel(os.environ.get("FEM_MNN_LOG", "INFO").upper())
            root.propagate = False
    return logging.getLogger(name if name.startswith(_ROOT) else f"{_ROOT}.{name}")
