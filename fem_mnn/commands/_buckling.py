"""Know which regime you are in: the first buckling load factor of a linear run's largest load case.

Every linear ``train``, ``evaluate`` and ``tolerance`` run (spring and FE) computes the first
buckling load factor of the task's largest load case (:func:`largest_load_case`) at the starting
and at the final widths, writes it into its result as ``first_buckling_load_factor`` and warns on
stderr (one line, exit code unchanged) when it is below 1: the linear metrics of such a run
describe a lattice that the task's load buckles. ``--no-buckling-check`` skips it, and the result
says so.

Which model computes it. The FE linear buckling analysis (:mod:`fem_mnn.fem.buckling`) for every
run, spring runs included, on its own coarse check mesh (P2 plane stress, one element across the
thinnest thin end, :data:`CHECK_ELEMENTS_ACROSS`): on the paper's sample and a centred-squares
lattice it gives load factors 1.2-3.5 % above those of the three-element mesh of ``fem evaluate``
(measured), at a third of the cost. The frame model with geometric stiffness
(:mod:`fem_mnn.spring.frame_buckling`) costs 0.1 s but does not agree with the FE analysis within
10 % (measured on the paper sample and centred squares: 7-27 % above the FE load factor with rigid
hubs, 2-21 % below with the thin ends' root rotation; ``tests/test_frame_buckling.py``), so spring
runs do not use it.

Collective under MPI (the FE analysis); rank 0 prints. A module-level memo keeps the load factor per
design (widths included), load case and mesh, so a repeated check in one process costs nothing.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
from typing import Any

import numpy as np

from fem_mnn.design.records import Design
from fem_mnn.learn.tasks import Task

__all__ = [
    "CHECK_ELEMENTS_ACROSS",
    "add_buckling_argument",
    "buckling_record",
    "first_buckling_load_factor",
    "is_linear",
    "largest_load_case",
]

#: Elements across the thinnest thin end of the check's FE mesh (P2): the load factor is within
#: 1.2-3.5 % (above) of the three-element mesh's on the paper sample and centred squares (measured).
CHECK_ELEMENTS_ACROSS = 1

_MEMO: dict[tuple, float] = {}


#: Environment variable that skips the check like ``--no-buckling-check`` (read at each run, named in the result).
#: The test suite sets it (``tests/conftest.py``): the check costs an FE buckling analysis (a few seconds)
#: per command, and its own tests (``tests/test_buckling_check.py``) clear it.
ENV_SKIP = "FEM_MNN_NO_BUCKLING_CHECK"


def add_buckling_argument(parser: argparse.ArgumentParser) -> None:
    """Add ``--no-buckling-check`` to a linear ``train`` / ``evaluate`` / ``tolerance`` parser."""
    parser.add_argument(
        "--no-buckling-check",
        action="store_true",
        help="skip the first buckling load factor of the task's largest load case (FE linear buckling at the start "
        "and final widths, written to the result as first_buckling_load_factor; a warning on stderr when below 1); "
        f"${ENV_SKIP}=1 skips it too (batch runs of many small commands; the result names which skipped it)",
    )


def largest_load_case(task: Task) -> tuple[np.ndarray, dict[str, Any]]:
    """The task's load case with the largest total force (sum of |F| over the nodes), train and test cases alike.

    Returns:
        (n_nodes, 2) forces (N) and ``{"split", "index", "total_force_N"}``.
    """
    best: tuple[float, str, int] | None = None
    for split, loads in (("train", task.train_loads), ("test", task.test_loads)):
        if loads.size == 0:
            continue
        total = np.hypot(loads[..., 0], loads[..., 1]).sum(axis=1)
        i = int(np.argmax(total))
        if best is None or total[i] > best[0]:
            best = (float(total[i]), split, i)
    if best is None:
        return np.zeros((task.n_nodes, 2)), {"split": None, "index": None, "total_force_N": 0.0}
    total, split, i = best
    loads = task.train_loads if split == "train" else task.test_loads
    return np.array(loads[i], dtype=float), {"split": split, "index": i, "total_force_N": total}


def first_buckling_load_factor(design: Design, loads: np.ndarray, comm: Any = None) -> float:
    """FE first buckling load factor (inf: nothing buckles) on the check mesh, memoised (collective)."""
    from fem_mnn.fem.buckling import BucklingOptions, buckling_analysis  # lazy: DOLFINx
    from fem_mnn.fem.linear import FemOptions
    from fem_mnn.geometry.build import MeshOptions

    key = (design.hash(), np.asarray(loads, float).tobytes(), CHECK_ELEMENTS_ACROSS)
    if key not in _MEMO:
        options = FemOptions(mesh=MeshOptions(elements_across=CHECK_ELEMENTS_ACROSS))
        res = buckling_analysis(design, loads, options, BucklingOptions(n_modes=1), comm=comm)
        _MEMO[key] = res.first
    return _MEMO[key]


def _dolfinx_missing() -> str | None:
    try:
        from fem_mnn.fem._dolfinx import import_dolfinx

        import_dolfinx()
        import dolfinx  # noqa: F401
    except ModuleNotFoundError as exc:
        return f"DOLFINx is not installed ({exc.name})"
    return None


def _world() -> Any:
    from mpi4py import MPI

    return MPI.COMM_WORLD


def is_linear(args: argparse.Namespace) -> bool:
    """The run is in the linear regime (the check applies): no ``--regime`` or ``--regime linear``."""
    return getattr(args, "regime", "linear") in (None, "linear")


def buckling_record(
    design: Design,
    task: Task,
    start_widths: np.ndarray,
    final_widths: np.ndarray | None,
    skip: bool,
    *,
    rank: int = 0,
) -> dict[str, Any]:
    """The ``first_buckling_load_factor`` block of a result (collective unless skipped); warns on rank 0.

    Args:
        design: The lattice (its widths are replaced by ``start_widths`` / ``final_widths``).
        task: The task (its largest load case is used).
        start_widths, final_widths: (n_bonds,) widths (mm); ``final_widths`` None = the start
            widths (no training: ``evaluate``, ``tolerance``).
        skip: ``--no-buckling-check``.
        rank: MPI rank (only rank 0 warns).
    """
    loads, case = largest_load_case(task)
    if skip:
        return {"skipped": True, "reason": "--no-buckling-check", "start": None, "final": None}
    if os.environ.get(ENV_SKIP, "") not in ("", "0"):
        return {"skipped": True, "reason": f"${ENV_SKIP}={os.environ[ENV_SKIP]}", "start": None, "final": None}
    missing = _dolfinx_missing()
    if missing is not None:
        if rank == 0:
            print(f"fem-mnn: warning: buckling check skipped: {missing}", file=sys.stderr)
        return {"skipped": True, "reason": missing, "start": None, "final": None}
    if not np.any(loads):
        return {"skipped": True, "reason": "the task applies no load", "start": None, "final": None}
    comm = _world()
    start = first_buckling_load_factor(design.with_widths(np.asarray(start_widths, float)), loads, comm)
    if final_widths is None:
        final = start
    else:
        final = first_buckling_load_factor(design.with_widths(np.asarray(final_widths, float)), loads, comm)
    record = {
        "skipped": False,
        "start": start if math.isfinite(start) else None,
        "final": final if math.isfinite(final) else None,
        "model": "fem",
        "method": "linearised buckling of the plane-stress FE model (fem_mnn.fem.buckling), P2, "
        f"{CHECK_ELEMENTS_ACROSS} element(s) across the thinnest thin end; null = no mode (nothing in compression "
        "that can buckle)",
        "load_case": case,
        "widths": "start = final: no training" if final_widths is None else "start and final (trained) widths",
    }
    below = [(name, v) for name, v in (("start", start), ("final", final)) if v < 1.0]
    if below and rank == 0:
        at = " and ".join(f"{v:.3g} at the {name} widths" for name, v in below)
        if final_widths is None:
            at = f"{start:.3g} at the design's widths"
        print(
            f"fem-mnn: warning: first buckling load factor {at} < 1 under the task's largest load case "
            f"({case['split']} case {case['index']}, {case['total_force_N']:.4g} N): the lattice buckles there and "
            "the linear results do not describe it",
            file=sys.stderr,
        )
    return record
