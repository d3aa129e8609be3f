# ---
# jupyter:
#   jupytext:
#     formats: py:light
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# # Large lattices: the memory guard, direct and iterative solvers, `mpiexec`
#
# The paper's sample has 28 bonds; a lattice of a thousand bonds in P2 plane stress has
# millions of unknowns. This tutorial shows how the package sizes a problem before it
# builds it (and refuses one that would not fit), compares the direct solver (MUMPS
# Cholesky) with the iterative one (conjugate gradients with a P2/P1 p-multigrid), and runs
# the same script on several MPI ranks. Run it serially, or as
# `mpiexec -n 2 python t06_large_lattices.py`: every FE object lives on `MPI.COMM_WORLD`
# and gives the serial numbers; only rank 0 prints, and every assertion holds on every
# rank. Units mm, N, MPa; ids 0-based. About 30 s; `FEM_MNN_QUICK=1` uses a smaller
# lattice and P1 elements where the full run uses P2.

# +
import os
import time

import numpy as np
from mpi4py import MPI

from fem_mnn.core.resources import ENV_LIMIT, ResourceError, estimate_fe
from fem_mnn.design import triangular_strip
from fem_mnn.geometry.build import MeshOptions, estimate_cells
from fem_mnn.learn import MSE
from fem_mnn.learn.tasks import gram_force

QUICK = os.environ.get("FEM_MNN_QUICK", "") not in ("", "0")
comm = MPI.COMM_WORLD
rank, size = comm.rank, comm.size


def say(*args: object) -> None:
    """Print on rank 0 only (every rank computes the same numbers)."""
    if rank == 0:
        print(*args, flush=True)


say(f"running on {size} MPI rank(s)")
# -

# ## How big is it? Estimates before meshing
#
# `triangular_strip(columns, rows)` builds a strip of triangles with 16 mm bonds, clamped at
# the two ends of its top row. Before meshing, the package predicts the cell count from the
# lattice's area and the element size (one third of the thinnest thin end by default), the
# dofs from the cells, and the peak memory of assembly and MUMPS's factorisation from a
# model calibrated on this machine (`fem_mnn.core.resources`). Nothing here meshes.

# +
say(f"{'strip':>9} {'bonds':>6} {'cells':>10} {'P2 dofs':>10} {'direct GB':>10} {'iterative GB':>13}")
sizes = [(12, 5), (24, 12), (36, 16), (48, 22)]
for columns, rows in sizes:
    strip = triangular_strip(columns, rows)
    cells = estimate_cells(strip, MeshOptions())
    direct = estimate_fe(2, 2, cells)
    iterative = estimate_fe(2, 2, cells, iterative=True)
    say(
        f"{columns:>4}x{rows:<4} {strip.n_bonds:>6} {cells:>10.3g} {direct.n_dofs:>10.3g} "
        f"{direct.memory_bytes / 1e9:>10.2f} {iterative.memory_bytes / 1e9:>13.2f}"
    )
# -

# The direct solver's factor grows faster than the matrix (fill ∝ dofs^1.18 for nested
# dissection in 2D), so past a few million dofs the iterative solver needs less memory;
# `linear_solver="auto"` switches to it at 3.5 million dofs in 2D (250 thousand in 3D).
#
# ## The memory guard
#
# Every FE entry point checks the estimate against a limit, `--max-memory-gb` on the
# command line or `$FEM_MNN_MAX_MEMORY_GB`, else 75 % of the machine's memory, and refuses
# in one line *before* meshing (and again before factorising, with the exact dof count).
# Here with a limit of 1 GB, the 3,000-bond strip is refused at once:

# +
from fem_mnn.fem import FemModel, FemOptions  # noqa: E402  (imports DOLFINx)

big = triangular_strip(*sizes[-1])
os.environ[ENV_LIMIT] = "1"
guarded = FemModel(big, FemOptions(degree=2), comm=comm)
try:
    guarded.operator()
    refusal = None
except ResourceError as err:
    refusal = str(err)
finally:
    del os.environ[ENV_LIMIT]
say(f"{big.n_bonds} bonds refused: {refusal}")
assert refusal is not None and "over the memory limit of 1 GB" in refusal
assert guarded.n_meshes == 0  # refused before meshing: gmsh never ran
# -

# ## The real problem, on every rank
#
# A strip small enough for this page (quick: 8 × 4, 73 bonds; full: 12 × 5, 147
# bonds), 10 g hung at the middle of its bottom row, and a loss on the vertical displacement
# of that node. We compute the node displacements and the exact width gradient (the
# adjoint shape derivative of `fem gradient --exact`) three times:
#
# 1. on `MPI.COMM_SELF`: every rank solves the whole problem alone (the serial reference);
# 2. on `MPI.COMM_WORLD` with MUMPS: the mesh is partitioned over the ranks;
# 3. on `MPI.COMM_WORLD` with CG + p-multigrid (P2) or CG + GAMG (P1).
#
# With one rank, 1 and 2 are the same computation.

# +
from fem_mnn.fem import MorphingFemModel  # noqa: E402

columns, rows = (8, 4) if QUICK else (12, 5)
degree = 1 if QUICK else 2
design = triangular_strip(columns, rows)
bottom = [i for i in range(design.n_nodes) if design.nodes[i, 1] == design.nodes[:, 1].min()]
node = bottom[len(bottom) // 2]
loads = np.zeros((1, design.n_nodes, 2))
loads[0, node, 1] = -gram_force(10.0)  # N
target = np.full((design.n_nodes, 2), np.nan)
target[node, 1] = -5.0  # mm
loss = MSE(target)
mesh = MeshOptions(elements_across=1)


def solve(on: MPI.Comm, solver: str) -> tuple[np.ndarray, np.ndarray, int, float]:
    """Node displacements (mm), exact dL/dw (mm), global dofs and seconds on communicator ``on``."""
    t = time.perf_counter()
    model = MorphingFemModel(design, FemOptions(degree=degree, mesh=mesh, linear_solver=solver), comm=on)
    op = model.operator()
    bp = model.backprop_operator(op, loads, loss)
    return bp.u[0], bp.grad_w, op.n_dofs, time.perf_counter() - t


u_ref, g_ref, dofs, t_ref = solve(MPI.COMM_SELF, "direct")
u_dir, g_dir, _, t_dir = solve(comm, "direct")
u_it, g_it, _, t_it = solve(comm, "iterative")
say(f"{design.n_bonds} bonds, P{degree}, {dofs} dofs; u_y of node {node}: {u_ref[node, 1]:.6f} mm")
say(f"seconds: serial direct {t_ref:.1f}, {size}-rank direct {t_dir:.1f}, {size}-rank iterative {t_it:.1f}")


def rel(a: np.ndarray, b: np.ndarray) -> float:
    """Largest difference relative to the largest entry of the reference."""
    return float(np.max(np.abs(a - b)) / np.max(np.abs(b)))


diffs = {
    f"{size} ranks direct vs serial": (rel(u_dir, u_ref), rel(g_dir, g_ref)),
    f"{size} ranks iterative vs serial": (rel(u_it, u_ref), rel(g_it, g_ref)),
}
for what, (du, dg) in diffs.items():
    say(f"{what}: displacements {du:.1e}, gradient {dg:.1e}")
# -

# How close should they be? MUMPS on a partitioned mesh orders the unknowns differently,
# so its round-off differs: differences of order κ ε, with ε = 2.2e-16 and κ the stiffness
# matrix's condition number, which for beams a few elements thick meshed at ~0.3–1 mm over
# ~150 mm is about (size / h)² × slenderness ≈ 1e5–1e7. CG stops at a relative residual of
# 1e-12, and with a multigrid preconditioner its error follows the residual closely.
# Differences up to 1e-8 are solver noise, not physics: the bound the package's own tests
# use, and what we assert on every rank. Measured on this machine: 0 to 6e-12 (direct) and
# 2e-13 to 2e-11 (iterative), serial and on 2 ranks.

for what, (du, dg) in diffs.items():
    assert du < 1e-8 and dg < 1e-8, (what, du, dg)
# every rank holds the same answer (rank 0's, broadcast, compared on every rank)
assert np.array_equal(comm.bcast(u_dir if rank == 0 else None, root=0), u_dir)

# ## From the command line
#
# `mpiexec -n N fem-mnn fem gradient DESIGN --load I:FX,FY --target I:UX,UY --exact
# --solver iterative` (the venv's `mpiexec`, called by its path), likewise `fem train` and
# `fem evaluate`; only rank 0 writes files. On these two shared cores, two ranks do not
# make a large lattice much faster (gmsh's meshing runs on rank 0 alone, and takes a third
# of the time at 1000 bonds); ranks pay off on machines with more cores, where assembly, the
# factorisation or preconditioner and the solves divide by the ranks. The scaling table
# and what limits it are in the README's *Scale* section (`fem-mnn bench --scale`).
