"""Stop a long run at a safe point on SIGINT (Ctrl-C) or SIGTERM.

:class:`StopOnSignal` replaces the two handlers while a long loop runs: the first signal
only records a request, which the loop reads at its own safe points
(:meth:`StopOnSignal.requested`: between epochs of a training run, between Newton
iterations of a load path) and then stops cleanly; a second signal raises
:class:`KeyboardInterrupt` at once. The command line turns a stop into exit code 130.

Why not Python's default: its SIGINT handler raises KeyboardInterrupt wherever the
interpreter happens to be, including inside a PETSc callback (SNES residual or Jacobian
assembly), where petsc4py turns it into a ``PETSc.Error`` that a solver loop may read as
"Newton did not converge" and retry; and SIGTERM belongs to PETSc's own handler (installed
at ``PetscInitialize``), which aborts without letting the program write or clean anything.

Used by :func:`fem_mnn.learn.training.train` and the mechanical checks of ``fem-mnn
validate`` (:mod:`fem_mnn.fem.mechanical_checks`). No MPI import here: under MPI the
request is shared through the communicator passed in (an all-reduce in
:meth:`StopOnSignal.requested`), so every rank stops at the same point.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from typing import Any

from fem_mnn.core.log import get_logger

__all__ = ["StopOnSignal", "rearm", "terminate_as_interrupt"]

log = get_logger(__name__)


class StopOnSignal:
    """SIGINT/SIGTERM ask the loop to stop at its next safe point (a second signal stops at once).

    Args:
        comm: MPI communicator (anything with ``allreduce`` and ``size``); with more than
            one rank every call of :meth:`requested` is collective.
        announce: Log a warning when the first signal arrives.
        action: What the run does on the request, for that warning (``"stopping after the
            current epoch and writing a checkpoint"``).

    Installed only in the main thread (Python allows handlers nowhere else); the previous
    handlers are restored by :meth:`restore`. A handler that Python did not install (PETSc's
    SIGTERM handler) cannot be put back from Python; SIGTERM then gets the default action
    (terminate), never a handler of a finished run.
    """

    def __init__(
        self,
        comm: Any = None,
        announce: bool = True,
        action: str = "stopping at the next safe point",
    ) -> None:
        self.announce = announce
        self.action = action
        self.comm = comm if hasattr(comm, "allreduce") and getattr(comm, "size", 1) > 1 else None
        self.signum: int | None = None
        self._old: dict[int, Any] = {}

    @property
    def name(self) -> str:
        """Name of the signal received (``"SIGINT"`` when the request came from another rank)."""
        return signal.Signals(self.signum).name if self.signum else "SIGINT"

    def _handler(self, signum: int, frame: Any) -> None:
        if self.signum is not None:  # the second signal: stop now
            self.restore()
            raise KeyboardInterrupt
        self.signum = signum
        if self.announce:
            log.warning("%s received: %s (send it again to stop now)", signal.Signals(signum).name, self.action)

    def install(self) -> None:
        """Catch SIGINT and SIGTERM (main thread only; elsewhere a no-op)."""
        if threading.current_thread() is not threading.main_thread():
            return
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                self._old[sig] = signal.signal(sig, self._handler)
            except (ValueError, OSError):  # not allowed here (embedded interpreter)
                pass

    def restore(self) -> None:
        """Put the previous handlers back (the default action where Python cannot)."""
        for sig, old in self._old.items():
            with contextlib.suppress(ValueError, OSError, TypeError):
                signal.signal(sig, old if old is not None else signal.SIG_DFL)
        self._old = {}

    def requested(self) -> bool:
        """Whether a stop was asked for (on any rank: collective when ``comm`` has several)."""
        flag = self.signum is not None
        if self.comm is not None:
            got = int(self.comm.allreduce(int(flag)))
            if got and self.signum is None:
                self.signum = signal.SIGINT
            return got > 0
        return flag

    def __enter__(self) -> StopOnSignal:
        self.install()
        return self

    def __exit__(self, *exc: object) -> None:
        self.restore()


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


@contextlib.contextmanager
def terminate_as_interrupt() -> Iterator[None]:
    """SIGTERM does what Ctrl-C does while the block runs: a :class:`KeyboardInterrupt` in Python.

    A command without safe points of its own (``fem gradient``, ``tolerance``, ``identify``, ...)
    then ends with exit 130, its files unwritten (every result is written atomically), on either
    signal. Without it SIGTERM takes the default action, or, once DOLFINx has initialised PETSc,
    PETSc's handler, which calls ``MPI_Abort`` (exit 59, a "PETSC ERROR" banner, nothing cleaned):
    :func:`fem_mnn.fem._dolfinx.import_dolfinx` re-arms this handler after that import
    (:func:`rearm`). A long C call (a gmsh mesh, a factorisation, an eigensolve) finishes before
    Python runs the handler: the stop comes at the end of that stage. Loops with safe points
    (training, validate's load path) install :class:`StopOnSignal` inside this block, which takes
    precedence and hands this handler back when it ends. Main thread only; elsewhere a no-op.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    try:
        old = signal.signal(signal.SIGTERM, _interrupt)
    except (ValueError, OSError):
        yield
        return
    try:
        yield
    finally:
        with contextlib.suppress(ValueError, OSError, TypeError):
            signal.signal(signal.SIGTERM, old if old is not None else signal.SIG_DFL)


def rearm() -> None:
    """Install again, at the C level, the SIGINT/SIGTERM handlers Python believes are installed.

    A library may reset a handler behind Python's back: ``gmsh.initialize()`` sets SIGTERM to
    the default action (terminate), and PETSc's initialisation (at ``import dolfinx``) installs its
    own SIGTERM handler (``MPI_Abort``), while ``signal.getsignal`` still names the Python handler,
    so a SIGTERM during or after meshing would kill the run instead of stopping it at a safe
    point. Only Python callables are re-armed (not ``SIG_DFL``/``SIG_IGN``, nor a handler
    Python did not install). Main thread only; elsewhere a no-op.
    """
    if threading.current_thread() is not threading.main_thread():
        return
    for sig in (signal.SIGINT, signal.SIGTERM):
        handler = signal.getsignal(sig)
        if callable(handler):
            with contextlib.suppress(ValueError, OSError, TypeError):
                signal.signal(sig, handler)
