"""FE benchmark measurements: ratios measured side by side in one process, medians of repeats.

Every function here is serial (``MPI.COMM_SELF``) except :func:`mpi_case`, which the
benchmark runs under ``mpiexec -n 2`` as a subprocess.
"""

from __future__ import annotations

import dataclasses
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from fem_mnn.core.errors import InputError
from fem_mnn.core.files import atomic_write_text
from fem_mnn.design import paper_sample
from fem_mnn.learn.losses import MSE
from fem_mnn.learn.tasks import build_task

__all__ = [
    "BenchCase",
    "TARGETS",
    "batch_cost",
    "gradient_accuracy",
    "machine",
    "mpi_difference",
    "nonlinear_step_cost",
    "nonlinear_step_table",
    "paper_case",
    "random_case",
    "speedup",
]

#: key -> (target text, predicate on the value)
TARGETS: dict[str, tuple[str, Any]] = {
    "shape_gradient_speedup": (">= 30", lambda v: v >= 30),
    "shape_gradient_max_rel_err": ("<= 1e-6", lambda v: v <= 1e-6),
    "step_over_factor_ratio": ("<= 1.25", lambda v: v <= 1.25),
    "batch_marginal_over_factor": ("<= 0.10", lambda v: v <= 0.10),
    "spring_100k_seconds": ("< 1", lambda v: v < 1),
    "spring_scaling_exponent": ("~1 (near-linear)", lambda v: v <= 1.3),
    "mpi2_max_rel_diff": ("<= 1e-10", lambda v: v <= 1e-10),
    "shape_gradient_speedup_large": (">= 100", lambda v: v >= 100),
}


@dataclasses.dataclass
class BenchCase:
    """A design, its FE options and an Iris-like batch (loads, loss) to measure on."""

    name: str
    design: Any
    options: Any
    loads: np.ndarray
    loss: Any
    make_loss: Any = None
    """``make_loss(indices) -> loss`` for sub-batches (marginal cost); default: the batch loss."""


def machine() -> dict:
    """CPU model, cores, memory and the date of the run."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                mem = round(int(line.split()[1]) / 1024**2, 1)
    except OSError:
        pass
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gib": mem,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


def paper_case(batch: int = 16) -> BenchCase:
    """The paper's sample (P2, fixed element size of its own widths) with the Iris task's first batch."""
    return iris_case(paper_sample(), "paper_sample", batch)


def iris_case(design: Any, name: str, batch: int = 16, size: float | None = None) -> BenchCase:
    """The Iris task of ``design`` (first ``batch`` training cases) on a fixed-size P2 mesh."""
    from fem_mnn.fem.linear import FemOptions
    from fem_mnn.geometry.build import MeshOptions, mesh_size

    task = build_task("iris", design, seed=0)
    idx = np.arange(min(batch, task.train_loads.shape[0]))
    h = size if size is not None else mesh_size(design, MeshOptions())
    return BenchCase(
        name=name,
        design=design,
        options=FemOptions(mesh=MeshOptions(size=h)),
        loads=task.train_loads[idx],
        loss=task.loss("train", idx),
        make_loss=lambda i: task.loss("train", idx[np.asarray(i)]),
    )


def random_case(design: Any, name: str, batch: int = 16, seed: int = 0) -> BenchCase:
    """``batch`` random load cases on four free nodes, MSE on the displacements of four others (fixed-size P2 mesh).

    For lattices without a task layout (the large-lattice speed-up).
    """
    from fem_mnn.fem.linear import FemOptions
    from fem_mnn.geometry.build import MeshOptions, mesh_size

    rng = np.random.default_rng(seed)
    n = design.n_nodes
    free = np.array([j for j in range(n) if j not in set(design.fixed)])
    pick = rng.choice(free, size=min(8, free.size), replace=False)
    ins, outs = pick[: len(pick) // 2], pick[len(pick) // 2 :]
    f = np.zeros((batch, n, 2))
    f[:, ins] = rng.normal(scale=0.01, size=(batch, len(ins), 2))
    t = np.full((batch, n, 2), np.nan)
    t[:, outs] = rng.normal(scale=0.01, size=(batch, len(outs), 2))

    def make_loss(i: Any) -> Any:
        return MSE(t[np.asarray(i)])

    return BenchCase(
        name=name,
        design=design,
        options=FemOptions(mesh=MeshOptions(size=mesh_size(design, MeshOptions()))),
        loads=f,
        loss=make_loss(np.arange(batch)),
        make_loss=make_loss,
    )


def _comm() -> Any:
    from mpi4py import MPI

    return MPI.COMM_SELF


def _median(x: list) -> float:
    return float(np.median(np.asarray(x, dtype=float)))


def speedup(case: BenchCase, fd_bonds: int | None = None, repeats: int = 3) -> dict:
    """Shape gradient vs remeshed central differences (0.2 mm), full cost of each.

    Shape: mesh + operator (assembly, factorisation) + gradient (solves, width map,
    shape assembly). FD: 2 remeshes, assemblies, factorisations and solves per bond,
    timed on ``fd_bonds`` bonds (all when None) and extrapolated to 2N.
    """
    from fem_mnn.fem.linear import FemModel, fd_width_gradient
    from fem_mnn.fem.shape import shape_width_gradient

    d = case.design
    full, grad_only = [], []
    g = None
    for _ in range(repeats):
        t0 = time.perf_counter()
        model = FemModel(d, case.options, comm=_comm())
        op = model.operator()
        t1 = time.perf_counter()
        sg = shape_width_gradient(op, case.loads, case.loss)
        t2 = time.perf_counter()
        full.append(t2 - t0)
        grad_only.append(t2 - t1)
        g = sg.grad_w
        op.destroy()
    if g is None:
        raise InputError("must be >= 1", field="repeats", value=repeats)
    n = d.n_bonds
    if fd_bonds is None or fd_bonds >= n:
        bonds = list(range(n))
    else:  # the largest gradients first: those the comparison is about
        bonds = [int(i) for i in np.argsort(-np.abs(g))[:fd_bonds]]
    model = FemModel(d, case.options, comm=_comm())
    t0 = time.perf_counter()
    fd = fd_width_gradient(model, case.loads, case.loss, delta=0.2, bonds=bonds)
    t_fd_sample = time.perf_counter() - t0
    t_fd = t_fd_sample * n / len(bonds)
    big = np.abs(g) > 0.05 * np.abs(g).max()
    sel = np.array([b for b in bonds if big[b]], dtype=int)
    agree = float(np.max(np.abs(fd[sel] - g[sel])) / np.abs(g).max()) if sel.size else float("nan")
    # the same 0.2 mm differences on morphed meshes (same topology): what remains between
    # them and the remeshed ones is remeshing error; between them and the shape gradient,
    # the truncation error of the difference quotient (large for curved losses such as Iris's)
    morph_fd = _morphed_differences(case, sel, 0.2)
    remesh_vs_morph = float(np.max(np.abs(fd[sel] - morph_fd[sel])) / np.abs(g).max()) if sel.size else float("nan")
    morph_vs_shape = float(np.max(np.abs(morph_fd[sel] - g[sel])) / np.abs(g).max()) if sel.size else float("nan")
    return {
        "speedup": t_fd / _median(full),
        "speedup_gradient_only": t_fd / _median(grad_only),
        "fd_seconds": t_fd,
        "fd_extrapolated": len(bonds) < n,
        "fd_bonds_timed": len(bonds),
        "fd_sample_seconds": t_fd_sample,
        "fd_remeshes": 2 * len(bonds),
        "n_bonds": n,
        "shape_full_seconds": full,
        "shape_gradient_seconds": grad_only,
        "fd_0p2_vs_shape_max_diff_over_largest": agree,
        "fd_0p2_remeshed_vs_morphed_max_diff_over_largest": remesh_vs_morph,
        "fd_0p2_morphed_vs_shape_max_diff_over_largest": morph_vs_shape,
        "n_dofs": int(op.n_dofs),
    }


def _morphed_differences(case: BenchCase, bonds: np.ndarray, delta: float) -> np.ndarray:
    """Central differences of the loss on meshes morphed by ``delta`` (NaN for bonds not asked)."""
    from fem_mnn.fem.morph import MorphingFemModel

    model = MorphingFemModel(case.design, case.options, _comm())
    w0 = case.design.widths

    def loss_at(w: np.ndarray) -> float:
        return float(np.mean(case.loss(model.operator(w).solve(case.loads).u)[0]))

    out = np.full(case.design.n_bonds, np.nan)
    for b in bonds:
        e = np.zeros_like(w0)
        e[b] = delta
        out[b] = (loss_at(w0 + e) - loss_at(w0 - e)) / (2 * delta)
    return out


def gradient_accuracy(case: BenchCase, h: float = 1e-4) -> dict:
    """Shape gradient vs central differences of the discrete loss on morphed meshes (same topology).

    Over the bonds above 5 % of the largest gradient; relative to each bond's value.
    """
    from fem_mnn.fem.morph import MorphingFemModel
    from fem_mnn.fem.shape import shape_width_gradient

    d = case.design
    model = MorphingFemModel(d, case.options, comm=_comm())
    w0 = np.array(d.widths, dtype=float)
    g = shape_width_gradient(model.operator(w0), case.loads, case.loss).grad_w

    def L(w: np.ndarray) -> float:
        return float(np.mean(case.loss(model.operator(w).solve(case.loads).u)[0]))

    big = np.nonzero(np.abs(g) > 0.05 * np.abs(g).max())[0]
    fd = np.full(d.n_bonds, np.nan)
    for i in big:
        e = np.zeros(d.n_bonds)
        e[i] = h
        fd[i] = (L(w0 + e) - L(w0 - e)) / (2 * h)
    rel = np.abs(fd[big] - g[big]) / np.abs(g[big])
    return {
        "max_rel_err": float(rel.max()),
        "max_err_over_largest": float(np.max(np.abs(fd[big] - g[big])) / np.abs(g).max()),
        "bonds": big.tolist(),
        "h": h,
        "n_remeshes": model.n_remeshes,
    }


def _solve_reference(op: Any, n_rhs: int, block: int) -> float:
    """Seconds of ``n_rhs`` raw solves with the operator's factor, in blocks of ``block`` (serial)."""
    from petsc4py import PETSc

    F = op.ksp.getPC().getFactorMatrix()
    n = op.A.getLocalSize()[0]
    rng = np.random.default_rng(0)
    B = PETSc.Mat().createDense((n, block), array=np.asfortranarray(rng.normal(size=(n, block))), comm=PETSc.COMM_SELF)
    X = PETSc.Mat().createDense((n, block), comm=PETSc.COMM_SELF)
    X.setUp()
    t0 = time.perf_counter()
    for _ in range(n_rhs // block):
        F.matSolve(B, X)
    t = time.perf_counter() - t0
    B.destroy()
    X.destroy()
    return t


def batch_cost(case: BenchCase, repeats: int = 5, small: int = 4, step: float = 0.01) -> dict:
    """A training step of the batch against one numeric factorisation, and the cost of one more case.

    The step is morph, assembly, numeric factorisation, forward, adjoint and exact gradient; it
    is compared with one numeric factorisation + its 2 n_cases solves, and the marginal cost of
    one more case with one numeric factorisation.

    The marginal cost is the slope of the gradient time (solves, extraction, shape
    assembly; everything after the factorisation) between ``small`` and the full
    batch, on the same operator.
    """
    from fem_mnn.fem.morph import MorphingFemModel
    from fem_mnn.fem.shape import shape_width_gradient

    d = case.design
    nc = case.loads.shape[0]
    model = MorphingFemModel(d, case.options, comm=_comm())
    w0 = np.array(d.widths, dtype=float)
    shape_width_gradient(model.operator(w0), case.loads, case.loss)  # warm-up: mesh, compile
    rng = np.random.default_rng(0)
    rows = []
    small_loss = case.make_loss(np.arange(small)) if case.make_loss else None
    for _ in range(repeats):
        w = w0 + step * rng.uniform(-1, 1, d.n_bonds)
        t0 = time.perf_counter()
        op = model.operator(w)
        t1 = time.perf_counter()
        sg = shape_width_gradient(op, case.loads, case.loss)
        t2 = time.perf_counter()
        fac = op.timings["factorise"]
        solves = _solve_reference(op, 2 * nc, nc)
        t3 = time.perf_counter()
        if small_loss is not None:
            shape_width_gradient(op, case.loads[:small], small_loss)
        t4 = time.perf_counter()
        rows.append(
            {
                "step": t2 - t0,
                "operator": t1 - t0,
                "morph": op.timings.get("morph", 0.0),
                "assemble": op.timings["assemble"],
                "factorise": fac,
                "gradient": t2 - t1,
                "solve_and_loads": sg.timings["solve"] - op.timings["extract"],
                "extract": op.timings["extract"],
                "shape": sg.timings["shape"],
                "contract": sg.timings["contract"],
                "reference_solves": solves,
                "gradient_small": t4 - t3,
                "ratio": (t2 - t0) / (fac + solves),
            }
        )
    med = {k: _median([row[k] for row in rows]) for k in rows[0]}
    marginal = (med["gradient"] - med["gradient_small"]) / (nc - small) if small_loss is not None else float("nan")
    return {
        "step_over_factor_ratio": med["ratio"],
        "batch_marginal_over_factor": marginal / med["factorise"],
        "marginal_case_seconds": marginal,
        "median": med,
        "repeats": rows,
        "batch": nc,
        "small_batch": small,
        "n_remeshes": model.n_remeshes,
        "n_dofs": int(op.n_dofs),
    }


def nonlinear_step_cost(
    design: Any = None,
    options: Any = None,
    grams: float = 10.0,
    load_node: int | None = None,
    output_node: int | None = None,
    steps: int = 2,
    repeats: int = 3,
    step: float = 0.01,
    nonlinear_options: Any = None,
) -> dict:
    """Cost of one nonlinear training step per load case, in numeric factorisations of the tangent.

    A step is: morph the mesh to new widths, the forward Newton solve from zero load
    (``steps`` increments), the tangent adjoint and the exact width gradient (shape
    assembly, design velocities). The unit is one numeric factorisation of the same
    tangent (MUMPS, symbolic analysis kept), timed on the model's own SNES matrix right
    after the step; the issue's budget is (the case's Newton iterations + 2) of them.
    Default: the paper sample, ``grams`` down at id 12, MSE on u_y of id 13, fixed-size P2
    mesh, the default :class:`~fem_mnn.fem.nonlinear.NonlinearOptions` (``nonlinear_options``
    to compare line searches: the Newton iteration count is most of the ratio).

    Returns:
        ``ratio`` (median step seconds / median factorisation seconds), ``budget``
        (median Newton iterations + 2), ``within_budget``, the medians and every repeat.
    """
    from fem_mnn.fem import solvers
    from fem_mnn.fem.linear import FemOptions
    from fem_mnn.fem.morph import MorphingFemModel
    from fem_mnn.fem.nonlinear import NonlinearModel
    from fem_mnn.geometry.build import MeshOptions, mesh_size

    t_start = time.perf_counter()
    d = design if design is not None else paper_sample()
    if options is None:
        options = FemOptions(mesh=MeshOptions(size=mesh_size(d, MeshOptions())))
    free = [j for j in range(d.n_nodes) if j not in set(d.fixed)]
    jl = load_node if load_node is not None else (12 if design is None else free[-1])
    jo = output_node if output_node is not None else (13 if design is None else free[0])
    f = np.zeros((1, d.n_nodes, 2))
    f[0, jl, 1] = -grams * 9.81e-3
    t = np.full((1, d.n_nodes, 2), np.nan)
    t[0, jo, 1] = 0.0
    loss = MSE(t)
    morph = MorphingFemModel(d, options, comm=_comm())
    nl = NonlinearModel(d, fem=morph, options=nonlinear_options)
    w0 = np.array(d.widths, dtype=float)
    nl.width_gradient(f, loss, widths=w0, steps=steps)  # warm-up: mesh, compile, symbolic analysis
    rng = np.random.default_rng(0)
    rows = []
    for _ in range(repeats):
        w = w0 + step * rng.uniform(-1, 1, d.n_bonds)
        t0 = time.perf_counter()
        g = nl.width_gradient(f, loss, widths=w, steps=steps)
        t1 = time.perf_counter()
        # one numeric factorisation of the tangent at the converged state, on the SNES's own
        # matrix and KSP (same sparsity: MUMPS keeps its symbolic analysis)
        problem = nl._snes()
        A, ksp = problem.A, problem.solver.getKSP()
        ta = time.perf_counter()
        A.zeroEntries()
        solvers.assemble_matrix_into(A, nl._J_form, [nl.disc.bc])
        A.assemble()
        tb = time.perf_counter()
        ksp.setOperators(A, A)
        ksp.setUp()
        tc = time.perf_counter()
        rows.append(
            {
                "step": t1 - t0,
                "factorise": tc - tb,
                "assemble_tangent": tb - ta,
                "newton_iterations": g.counts["newton_iterations"],
                "adjoint_factorisations": g.counts["adjoint_factorisations"],
                "adjoint_refinements": g.counts["adjoint_refinements"],
                **{k: v for k, v in g.timings.items() if k != "method"},
            }
        )
    med = {k: _median([row[k] for row in rows]) for k in rows[0]}
    ratio = med["step"] / med["factorise"]
    budget = med["newton_iterations"] + 2
    return {
        "ratio": ratio,
        "budget": budget,
        "within_budget": bool(ratio <= budget),
        # where the time goes: the exact gradient's own part (morph, adjoint, shape assembly,
        # contraction) against its share of the budget (2), and one Newton iteration (tangent
        # assembly, factorisation, solve, residual, line search) against its share (1)
        "gradient_over_factor": (med["morph"] + med["adjoint"] + med["shape"] + med["contract"]) / med["factorise"],
        "newton_iteration_over_factor": med["forward"] / max(med["newton_iterations"], 1) / med["factorise"],
        "tangent_assembly_over_factor": med["assemble_tangent"] / med["factorise"],
        "median": med,
        "repeats": rows,
        "n_dofs": int(nl.disc.V.dofmap.index_map.size_global * nl.disc.V.dofmap.index_map_bs),
        "grams": grams,
        "n_remeshes": morph.n_remeshes,
        "machine": machine(),
        "seconds": time.perf_counter() - t_start,
    }


def nonlinear_step_table(res: dict) -> str:
    """The step's ratio against its budget, and where the time goes (in factorisations)."""
    med = res["median"]
    rows = [
        ("step / factorisation", res["ratio"], f"<= {res['budget']:g}"),
        ("Newton iterations (median)", med["newton_iterations"], ""),
        ("one Newton iteration / factorisation", res["newton_iteration_over_factor"], "<= 1"),
        ("tangent assembly / factorisation", res["tangent_assembly_over_factor"], ""),
        ("gradient part / factorisation", res["gradient_over_factor"], "<= 2"),
        ("factorisation (s)", med["factorise"], ""),
        ("step (s)", med["step"], ""),
    ]
    lines = [f"{'key':40s} {'value':>10s} {'budget':>8s}"]
    lines += [f"{k:40s} {v:10.4g} {b:>8s}" for k, v, b in rows]
    lines.append(f"{res['n_dofs']} dofs, {res['grams']:g} g; within budget: {'yes' if res['within_budget'] else 'no'}")
    return "\n".join(lines)


# ------------------------------------------------------------------ serial vs mpiexec -n 2


def mpi_case(comm: Any) -> dict:
    """The paper sample's Iris batch: exact gradient on the fresh mesh and after a morph (collective)."""
    from fem_mnn.fem.morph import MorphingFemModel
    from fem_mnn.fem.shape import shape_width_gradient

    case = paper_case()
    d = case.design
    model = MorphingFemModel(d, case.options, comm=comm)
    g0 = shape_width_gradient(model.operator(d.widths), case.loads, case.loss)
    w1 = d.widths + np.linspace(-0.1, 0.1, d.n_bonds)
    g1 = shape_width_gradient(model.operator(w1), case.loads, case.loss)
    return {"grad0": g0.grad_w.tolist(), "grad1": g1.grad_w.tolist(), "loss0": g0.loss, "loss1": g1.loss}


def mpi_difference(timeout: float = 900) -> dict:
    """Max relative difference of the gradient, serial vs ``mpiexec -n 2`` (subprocess)."""
    mpiexec = Path(sys.executable).parent / "mpiexec"
    if not mpiexec.exists():
        return {"skipped": f"no mpiexec at {mpiexec}"}
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "mpi.json"
        env = dict(os.environ)
        root = str(Path(__file__).resolve().parents[2])
        env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
        t0 = time.perf_counter()
        subprocess.run(
            [str(mpiexec), "-n", "2", sys.executable, "-m", "fem_mnn.bench.fem", str(out)],
            check=True,
            timeout=timeout,
            env=env,
        )
        t_par = time.perf_counter() - t0
        par = json.loads(out.read_text())
    t0 = time.perf_counter()
    ser = mpi_case(_comm())
    t_ser = time.perf_counter() - t0
    worst = 0.0
    for key in ("grad0", "grad1", "loss0", "loss1"):
        a, b = np.asarray(par[key]), np.asarray(ser[key])
        worst = max(worst, float(np.max(np.abs(a - b)) / np.max(np.abs(b))))
    return {"max_rel_diff": worst, "serial_seconds": t_ser, "mpi2_seconds_with_startup": t_par}


if __name__ == "__main__":  # mpiexec -n 2 python -m fem_mnn.bench.fem OUT.json
    from fem_mnn.fem._dolfinx import import_dolfinx

    import_dolfinx()  # loads dolfinx_solver's MPI before mpi4py
    from mpi4py import MPI

    res = mpi_case(MPI.COMM_WORLD)
    if MPI.COMM_WORLD.rank == 0:
        atomic_write_text(sys.argv[1], json.dumps(res))
