"""Memory guard of the FE commands: an estimate before meshing and before factorising, a limit, a refusal.

Every FE path builds a :class:`fem_mnn.fem.linear.Discretisation`, which calls
:func:`check_memory` twice: before meshing (cells estimated from the lattice's area
or volume and the element size, :func:`fem_mnn.geometry.build.estimate_cells`) and after
meshing, before assembly and the MUMPS factorisation (the exact dof count). Both
refuse with one line (:class:`ResourceError`, exit code 2) when the estimate exceeds
the limit.

The estimate (:func:`estimate_fe`) is a model calibrated on this machine
(``python -m fem_mnn.bench.memory``; 2D P1/P2 and 3D P1/P2, 5e4 to 1.4e6 dofs, serial,
peak resident memory of the whole process):

* matrix entries ``nnz = r * dofs`` (r measured per dim and degree);
* MUMPS fill (entries of the Cholesky factor, INFOG(20)) ``E = c * dofs ** (1 + q)``
  (nested dissection: q = 0.18 in 2D, 0.22 in 3D, measured);
* peak memory ``M = M0 + ranks * M1 + a * nnz + b * E`` with M0 the process baseline,
  M1 the per-rank share (Python, DOLFINx, MPI), a and b bytes per entry (matrix with
  its sparsity pattern; factor with MUMPS's integer arrays and work space).

Measured error of the model against the peak of 14 cases
(``fem_mnn/bench/memory_calibration.json``): 2D P1/P2 within -6 %..+11 %; 3D P1/P2
within -32 %..+41 % (the 3D fill depends on the number of elements through the thickness,
which the dof count does not see); rms 15 % from the mesh's dofs, 9 % from the cells
estimated before meshing. The issue's case, the paper's sample in 3D P2 (7.6 GB measured),
is estimated at 10.3 GB before meshing.

The limit is ``--max-memory-gb`` (every FE command), else ``$FEM_MNN_MAX_MEMORY_GB``,
else :data:`DEFAULT_FRACTION` of the machine's physical memory. Nothing here imports
anything outside the standard library and numpy.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

from fem_mnn.core.errors import InputError

__all__ = [
    "DEFAULT_FRACTION",
    "ENV_LIMIT",
    "FILL",
    "FeEstimate",
    "ResourceError",
    "check_memory",
    "estimate_fe",
    "machine_memory_bytes",
    "memory_limit_bytes",
]

#: Environment variable that sets the memory limit (GB = 1e9 bytes); ``--max-memory-gb`` sets it.
ENV_LIMIT = "FEM_MNN_MAX_MEMORY_GB"
#: Default limit: this fraction of the machine's physical memory.
DEFAULT_FRACTION = 0.75

#: (dim, degree) -> (dofs per cell, matrix entries per dof, fill c, fill exponent q).
#: Measured with ``python -m fem_mnn.bench.memory`` (see the module docstring).
FILL: dict[tuple[int, int], tuple[float, float, float, float]] = {
    (2, 1): (1.07, 13.5, 5.95, 0.182),
    (2, 2): (4.17, 22.4, 6.10, 0.182),
    (2, 3): (9.40, 38.0, 6.50, 0.182),  # not measured: P3 counts, the P2 fill
    (3, 1): (0.72, 37.9, 16.6, 0.223),
    (3, 2): (5.13, 74.9, 23.8, 0.223),
    (3, 3): (16.0, 160.0, 30.0, 0.223),  # not measured: P3 counts, the P2 fill
}
#: Baseline of a process that imported DOLFINx (bytes), per extra rank the same again.
BASE_BYTES = 240e6
#: Bytes per matrix entry (value, column index, DOLFINx sparsity pattern and the assembly's copies).
MATRIX_BYTES = 21.4
#: Bytes per factor entry (MUMPS real and integer arrays, work space, solve buffers).
FACTOR_BYTES = 12.2
#: Bytes per entry of the p-multigrid's product A P (fine rows x coarse columns), built while
#: forming P^T A P: a value and a column index (8 + 4).
PTAP_BYTES = 12.0


class ResourceError(InputError):
    """A run that would not fit: the estimate exceeds the limit (exit code 2)."""


@dataclass(frozen=True)
class FeEstimate:
    """Predicted size of one FE problem (all ranks together)."""

    dim: int
    degree: int
    n_cells: int
    n_dofs: int
    matrix_entries: float
    factor_entries: float
    memory_bytes: float
    exact_dofs: bool
    """True when ``n_dofs`` is the mesh's (after meshing), False when estimated from cells."""

    def describe(self) -> str:
        """e.g. ``3D P2, 1.06e+06 dofs estimated from 2.2e+05 cells``."""
        src = "" if self.exact_dofs else f" estimated from {self.n_cells:.2g} cells"
        return f"{self.dim}D P{self.degree}, {self.n_dofs:.3g} dofs{src}"


def estimate_fe(
    dim: int, degree: int, n_cells: int, n_dofs: int | None = None, ranks: int = 1, iterative: bool = False
) -> FeEstimate:
    """Memory of meshing, assembling and factorising one problem (bytes, all ranks).

    Args:
        dim, degree: 2 (plane stress) or 3, and the Lagrange degree.
        n_cells: Cells of the mesh (estimated before meshing, or the mesh's).
        n_dofs: Displacement dofs if known (after meshing); else from ``n_cells``.
        ranks: MPI ranks (each adds a baseline process).
        iterative: The iterative solver (:mod:`fem_mnn.fem.solvers`) instead of the
            direct one. Degree >= 2 (p-multigrid): the P2 matrix plus the P1 coarse
            operator, its MUMPS factor (the P1 counts of :data:`FILL` on the same cells) and
            the product A P formed on the way (3D paper sample at 1.2M dofs: 3.3 GB
            estimated, 2.94 GB measured; 2D strip at 11.6M dofs: 11.8 GB and 12.4 GB). Degree 1
            (GAMG): the matrix counted twice for the hierarchy (not calibrated).
    """
    per_cell, per_dof, c, q = FILL[(dim, min(max(degree, 1), 3))]
    exact = n_dofs is not None
    dofs = int(n_dofs) if n_dofs is not None else int(per_cell * n_cells)
    nnz = per_dof * dofs
    if not iterative:
        fill = c * dofs ** (1.0 + q)
        mem = BASE_BYTES * max(ranks, 1) + MATRIX_BYTES * nnz + FACTOR_BYTES * fill
    elif degree >= 2:
        per_cell1, per_dof1, c1, q1 = FILL[(dim, 1)]
        dofs1 = dofs * per_cell1 / per_cell
        fill = c1 * dofs1 ** (1.0 + q1)
        product = per_dof1 * dofs  # A P: a fine row couples to about as many coarse dofs as a P1 row
        mem = (
            BASE_BYTES * max(ranks, 1)
            + MATRIX_BYTES * (nnz + per_dof1 * dofs1)
            + FACTOR_BYTES * fill
            + PTAP_BYTES * product
        )
    else:
        fill = 0.0
        mem = BASE_BYTES * max(ranks, 1) + 2 * MATRIX_BYTES * nnz
    return FeEstimate(dim, degree, int(n_cells), dofs, nnz, fill, mem, exact)


def machine_memory_bytes() -> float:
    """Physical memory of this machine (bytes); NaN if unknown."""
    try:
        return float(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):
        return math.nan


def memory_limit_bytes() -> tuple[float, str]:
    """The limit (bytes) and where it came from (for the refusal message)."""
    text = os.environ.get(ENV_LIMIT, "").strip()
    if text:
        try:
            gb = float(text)
        except ValueError:
            gb = math.nan
        if not (math.isfinite(gb) and gb > 0):
            raise InputError("must be a number of GB > 0", source=f"${ENV_LIMIT}", value=text)
        return gb * 1e9, f"--max-memory-gb / ${ENV_LIMIT} = {gb:g} GB"
    total = machine_memory_bytes()
    if not math.isfinite(total):
        return math.inf, "no limit (machine memory unknown)"
    return DEFAULT_FRACTION * total, (
        f"{DEFAULT_FRACTION:.0%} of this machine's {total / 1e9:.3g} GB; raise it with --max-memory-gb or ${ENV_LIMIT}"
    )


def check_memory(estimate: FeEstimate, what: str = "the FE problem") -> None:
    """Refuse (:class:`ResourceError`, one line) when ``estimate`` exceeds the limit."""
    limit, source = memory_limit_bytes()
    if estimate.memory_bytes > limit:
        raise ResourceError(
            f"{what} ({estimate.describe()}) would need about {estimate.memory_bytes / 1e9:.2g} GB, over the "
            f"memory limit of {limit / 1e9:.3g} GB ({source}); " + _remedies(estimate)
        )


def _remedies(estimate: FeEstimate) -> str:
    """What would shrink this problem: only the options it does not use already."""
    ways = ["coarsen the mesh (--refinement, --elements-across)"]
    if estimate.degree > 1:
        ways.append("use --degree 1")
    if estimate.dim > 2:
        ways.append("use --dim 2")
    return ", ".join(ways[:-1]) + (" or " if len(ways) > 1 else "") + ways[-1]
