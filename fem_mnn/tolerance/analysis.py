"""Print-tolerance analysis: how the printer's scatter moves a task's outputs and its success.

Noise model (:class:`fem_mnn.learn.robust.WidthNoise`): each bond's width independently
normal with sd S (mm; thin ends follow), one common multiplicative modulus factor with
relative sd R, no truncation; refused before sampling when ``w - 4 S`` would take a thin
end below ``geometry.min_feature``.

Two answers side by side, for the task outputs of the split that the task's success
criterion names (``train_`` / ``test_``), one output per case and output component:

* **linearised**: ``sd_o^2 = sum_i (dy_o/dw_i)^2 S^2 + y_o^2 R^2`` from the exact output
  Jacobian (one adjoint per output component, batched over the cases: the spring adjoint
  ``dk/dw e e_adj``, or the FE shape gradient), and each bond's share of the variance
  (the modulus term: ``y_o^2 R^2``, since u scales as 1/E in a linear model);
* **sampled**: N perturbed designs evaluated with the model (the modulus factor applied
  exactly as ``u / (1 + R xi)``): mean and sd of every output and of the task metric, the
  probability of success by the task's criterion, each with its Monte Carlo error.

Parallel: pass a communicator (mpi4py-like: ``rank``, ``size``, ``gather``); every rank
draws all N samples from the same generator and evaluates the contiguous slice
``numpy.array_split(range(N), size)[rank]`` on its own model (COMM_SELF for the FE
model); rank 0 gathers the per-sample outputs in sample order and computes the
statistics, so the statistics do not depend on the number of ranks (bitwise for the
spring model). Only rank 0 gets the full result; other ranks get None.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from fem_mnn.contract import LinearOperator, MechanicalModel, backprop_operator
from fem_mnn.core.errors import InputError
from fem_mnn.core.log import get_logger
from fem_mnn.learn.robust import WidthNoise, check_noise_printable
from fem_mnn.learn.tasks import Task

__all__ = [
    "OutputLoss",
    "output_names",
    "spring_jacobian",
    "success_spec",
    "task_metric",
    "tolerance_analysis",
]

log = get_logger(__name__)

#: seconds between two progress lines of the sampling loop (the first comes after 1 s; a spring run of
#: 1000 samples, about 0.3 s, prints none)
PROGRESS_EVERY_S = 5.0

#: jacobian(op, loads, loss) -> (n_cases, n_bonds) d loss_c / d w for a loss linear in u.
Jacobian = Callable[[LinearOperator, np.ndarray, Any], np.ndarray]


class OutputLoss:
    """The linear "loss" ``l_c = u[c, node, comp]``: its gradient is one row of the output Jacobian per case."""

    def __init__(self, node: int, component: int) -> None:
        self.node, self.component = int(node), int(component)

    def __call__(self, u: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        u = np.asarray(u)
        g = np.zeros_like(u)
        g[:, self.node, self.component] = 1.0
        return u[:, self.node, self.component].copy(), g


def spring_jacobian(op: LinearOperator, loads: np.ndarray, loss: Any) -> np.ndarray:
    """Per-case exact gradient of a spring network: ``dk/dw * e_c * e_adj,c`` (one forward, one adjoint per case)."""
    bp = backprop_operator(op, loads, loss)
    return bp.elongation * bp.adjoint_elongation * np.asarray(op.dk_dw)[None, :]


def success_spec(task: Task) -> tuple[str, str, dict[str, Any] | None]:
    """(split, metric base name, criterion) of the task: from its success criterion, else a default metric."""
    if task.success is not None:
        split, _, base = task.success["metric"].partition("_")
        return split, base, dict(task.success)
    split = "test" if task.test_loads.shape[0] else "train"
    return split, ("rel_error" if task.kind == "mse" else "accuracy"), None


def task_metric(task: Task, split: str, base: str, u: np.ndarray) -> float:
    """The task metric ``base`` (rel_error, accuracy, contrast, loss) of all cases of ``split``."""
    if base == "loss":
        idx = np.arange(u.shape[0])
        return float(np.mean(task.loss(split, idx)(u)[0]))
    vals = task.metrics(split, u)
    if base not in vals:
        raise InputError(f"the task gives no metric {base!r}", field="success.metric", value=f"{split}_{base}")
    return float(vals[base])


def _met(criterion: dict[str, Any] | None, value: float) -> bool | None:
    if criterion is None:
        return None
    if not math.isfinite(value):
        return False
    return bool(value >= criterion["min"]) if "min" in criterion else bool(value <= criterion["max"])


def output_names(task: Task, split: str) -> list[str]:
    """``u_<node><x|y>`` per output, prefixed ``<split>[c].`` when the split has several cases."""
    n = (task.train_loads if split == "train" else task.test_loads).shape[0]
    base = [f"u_{o.node}{'xy'[o.component]}" for o in task.outputs]
    return base if n == 1 else [f"{split}[{c}].{b}" for c in range(n) for b in base]


def _wilson(p: float, n: int, z: float = 1.96) -> tuple[float, float]:
    den = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / den
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / den
    return max(0.0, centre - half), min(1.0, centre + half)


def _split_loads(task: Task, split: str) -> np.ndarray:
    loads = task.train_loads if split == "train" else task.test_loads
    if loads.shape[0] == 0:
        raise InputError(f"the task has no {split} case", field="success.metric", value=split)
    return loads


def linearised(
    model: MechanicalModel, task: Task, split: str, noise: WidthNoise, jacobian: Jacobian = spring_jacobian
) -> dict[str, Any]:
    """Nominal outputs, their linearised sds and the bond shares of the variance (see the module docstring)."""
    loads = _split_loads(task, split)
    w0 = np.array(model.design.widths, dtype=float)
    t0 = time.perf_counter()
    op = model.operator(w0)
    u = op.solve(loads).u
    y0 = task.output_values(u)  # (n_cases, n_out)
    nc, no = y0.shape
    J_cases = np.zeros((nc, no, model.design.n_bonds))
    for o, out in enumerate(task.outputs):
        J_cases[:, o, :] = jacobian(op, loads, OutputLoss(out.node, out.component))
    J = J_cases.reshape(nc * no, -1)
    y = y0.reshape(-1)
    var_b = (J * noise.width_sd) ** 2
    var_e = (y * noise.E_sd) ** 2
    var = var_b.sum(axis=1) + var_e
    with np.errstate(divide="ignore", invalid="ignore"):
        share = np.where(var[:, None] > 0, var_b / np.where(var > 0, var, 1.0)[:, None], 0.0)
        e_share = np.where(var > 0, var_e / np.where(var > 0, var, 1.0), 0.0)
    tot = float(var.sum())
    share_total = var_b.sum(axis=0) / tot if tot > 0 else np.zeros(model.design.n_bonds)
    return {
        "u": u,
        "nominal": y,
        "jacobian": J,
        "linear_sd": np.sqrt(var),
        "bond_share": share,
        "bond_share_total": share_total,
        "modulus_share": e_share,
        "modulus_share_total": float(var_e.sum() / tot) if tot > 0 else 0.0,
        "seconds": time.perf_counter() - t0,
    }


def evaluate_samples(
    model: MechanicalModel,
    task: Task,
    split: str,
    base: str,
    widths: np.ndarray,
    factors: np.ndarray,
    timing: Callable[[LinearOperator], dict[str, float]] | None = None,
) -> tuple[np.ndarray, np.ndarray, list[dict[str, float]]]:
    """(n, n_outputs) outputs and (n,) metric values of the designs ``widths`` with modulus ``factors``."""
    loads = _split_loads(task, split)
    n = widths.shape[0]
    Y = np.zeros((n, loads.shape[0] * len(task.outputs)))
    M = np.zeros(n)
    times: list[dict[str, float]] = []
    start = time.perf_counter()
    next_line = start + 1.0  # the first progress line after a second, then every PROGRESS_EVERY_S
    for s in range(n):
        t0 = time.perf_counter()
        if t0 >= next_line:  # progress on long runs (rank 0's share under MPI)
            log.info("tolerance: %d of %d samples done on this rank, %.1f s elapsed", s, n, t0 - start)
            next_line = t0 + PROGRESS_EVERY_S
        op = model.operator(widths[s])
        u = op.solve(loads).u / factors[s]
        Y[s] = task.output_values(u).reshape(-1)
        M[s] = task_metric(task, split, base, u)
        t = {"total": time.perf_counter() - t0}
        if timing is not None:
            t.update(timing(op))
        times.append(t)
    return Y, M, times


def _slice(n: int, size: int, rank: int) -> np.ndarray:
    return np.array_split(np.arange(n), size)[rank]


def tolerance_analysis(
    model: MechanicalModel,
    task: Task,
    noise: WidthNoise,
    n_samples: int,
    seed: int = 0,
    *,
    comm: Any = None,
    jacobian: Jacobian = spring_jacobian,
    linear: bool = True,
    timing: Callable[[LinearOperator], dict[str, float]] | None = None,
    success: dict[str, Any] | None = None,
) -> dict[str, Any] | None:
    """Linearised and sampled tolerance statistics of ``model``'s design on ``task``.

    Args:
        model: The model of this rank (its own communicator: COMM_SELF for the FE model).
        task: The task (its success criterion picks the split and the metric).
        noise: The noise model.
        n_samples: N perturbed designs (0: the linearised answer only).
        seed: Seed of the one generator every rank draws all samples from.
        comm: Communicator over which the samples are spread (None: serial).
        jacobian: Per-case output gradient (spring adjoint by default; the FE shape gradient).
        linear: Compute the linearised answer (rank 0 only).
        timing: ``timing(op) -> dict`` of per-sample costs to record (FE: the operator's timings).
        success: Replace the task's success criterion (``{"metric": ..., "min"|"max": ...}``).

    Returns:
        On rank 0 the JSON-ready result (keys ``outputs``, ``nominal``, ``linear_sd``,
        ``sampled_mean``, ``sampled_sd``, ``metric_nominal``, ``metric_mean``, ``metric_sd``,
        ``p_success``, ``bond_share`` and more); None on the other ranks.
    """
    if success is not None:
        task = dataclasses.replace(task, success=dict(success))
    design = model.design
    w0 = np.array(design.widths, dtype=float)
    check_noise_printable(design, w0, noise.width_sd)
    if n_samples < 0:
        raise InputError("must be >= 0", field="--samples", value=n_samples)
    split, base, criterion = success_spec(task)
    _split_loads(task, split)
    rank = int(getattr(comm, "rank", 0)) if comm is not None else 0
    size = int(getattr(comm, "size", 1)) if comm is not None else 1

    # every rank draws every sample from the same generator, then takes its slice
    rng = np.random.default_rng(seed)
    dw, factors = noise.draw(rng, n_samples, design.n_bonds)
    widths = w0[None, :] + dw
    mine = _slice(n_samples, size, rank)
    t0 = time.perf_counter()
    lin = linearised(model, task, split, noise, jacobian) if (linear and rank == 0) else None
    t_lin = time.perf_counter() - t0
    t0 = time.perf_counter()
    Y, M, times = evaluate_samples(model, task, split, base, widths[mine], factors[mine], timing)
    t_samples = time.perf_counter() - t0
    gathered = _gather(comm, size, rank, n_samples, Y, M, times, t_samples)
    if gathered is None:
        return None
    Y, M, times, t_rank = gathered

    names = output_names(task, split)
    nominal_op = model.operator(w0)
    u0 = nominal_op.solve(_split_loads(task, split)).u
    y0 = task.output_values(u0).reshape(-1)
    metric_nominal = task_metric(task, split, base, u0)
    g = design.geometry
    res: dict[str, Any] = {
        "format": "fem_mnn.tolerance/1",
        "task": task.name,
        "task_hash": task.fingerprint(),
        "design_hash": design.hash(),
        "split": split,
        "metric": f"{split}_{base}",
        "success": criterion,
        "noise": noise.describe(),
        "seed": int(seed),
        "n_samples": int(n_samples),
        "mpi_size": size,
        "outputs": names,
        "units": {"outputs": "mm (node displacements)", "linear_sd": "mm", "bond_share": "fraction of the variance"},
        "nominal": y0,
        "metric_nominal": metric_nominal,
        "success_nominal": _met(criterion, metric_nominal),
    }
    if lin is not None:
        res.update(
            linear_sd=lin["linear_sd"],
            bond_share=lin["bond_share"],
            bond_share_total=lin["bond_share_total"],
            modulus_share=lin["modulus_share"],
            modulus_share_total=lin["modulus_share_total"],
            # no bond carries variance without width noise (--width-sd 0): then no bond dominates
            dominant_bond=int(np.argmax(lin["bond_share_total"])) if np.max(lin["bond_share_total"]) > 0 else None,
            dominant_bond_share=float(np.max(lin["bond_share_total"])),
        )
    if n_samples:
        res.update(_sampled_statistics(Y, M, widths, criterion, g, lin, n_samples))
        # median: the first sample of a fresh FE model also meshes
        per = {k: float(np.median([t[k] for t in times])) for k in times[0]} if times else {}
        res["timing"] = {"linearised_s": t_lin, "samples_s_per_rank": t_rank, "per_sample_s": per}
    else:
        res["timing"] = {"linearised_s": t_lin}
    res["samples"] = {"outputs": Y} if n_samples and Y.size <= 200_000 else {}
    return res


def _gather(
    comm: Any, size: int, rank: int, n_samples: int, Y: np.ndarray, M: np.ndarray, times: list, t_samples: float
) -> tuple[np.ndarray, np.ndarray, list, list[float]] | None:
    """The samples of every rank on rank 0, in sample order (None on the other ranks)."""
    if size <= 1:
        return Y, M, times, [t_samples]
    parts = comm.gather((Y, M, times, t_samples), root=0)
    if rank != 0:
        return None
    Y = np.concatenate([p[0] for p in parts]) if n_samples else Y
    M = np.concatenate([p[1] for p in parts]) if n_samples else M
    return Y, M, [t for p in parts for t in p[2]], [p[3] for p in parts]


def _sampled_statistics(
    Y: np.ndarray,
    M: np.ndarray,
    widths: np.ndarray,
    criterion: dict[str, Any] | None,
    g: Any,
    lin: dict[str, Any] | None,
    n_samples: int,
) -> dict[str, Any]:
    """Means, sds (with their Monte Carlo errors), the metric's distribution and p_success of the samples."""
    out: dict[str, Any] = {}
    mean = Y.mean(axis=0)
    sd = Y.std(axis=0, ddof=1) if n_samples > 1 else np.zeros_like(mean)
    met = np.array([bool(_met(criterion, m)) for m in M]) if criterion is not None else None
    out.update(
        sampled_mean=mean,
        sampled_sd=sd,
        sampled_mean_mc_err=sd / math.sqrt(n_samples),
        sampled_sd_mc_err=sd / math.sqrt(2.0 * max(n_samples - 1, 1)),
        metric_mean=float(M.mean()),
        metric_sd=float(M.std(ddof=1)) if n_samples > 1 else 0.0,
        metric_mean_mc_err=float(M.std(ddof=1) / math.sqrt(n_samples)) if n_samples > 1 else 0.0,
        metric_quantiles={str(q): float(np.quantile(M, q)) for q in (0.05, 0.5, 0.95)},
        metric_samples=M,
        samples_outside_training_bounds=float(np.mean(np.any((widths < g.width_min) | (widths > g.width_max), axis=1))),
        samples_below_min_feature=float(np.mean(np.any(g.thin_end_ratio * widths < g.min_feature, axis=1))),
    )
    if met is not None:
        p = float(met.mean())
        out.update(
            p_success=p,
            p_success_mc_err=math.sqrt(p * (1 - p) / n_samples),
            p_success_ci95=list(_wilson(p, n_samples)),
        )
    else:
        out.update(p_success=None, p_success_mc_err=None, p_success_ci95=None)
    if lin is not None:
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.where(lin["linear_sd"] > 0, sd / lin["linear_sd"], np.nan)
        out["sd_ratio_sampled_over_linear"] = ratio
        finite = ratio[np.isfinite(ratio)]
        if finite.size:
            out["sd_ratio_summary"] = {
                "min": float(finite.min()),
                "median": float(np.median(finite)),
                "max": float(finite.max()),
                "max_abs_dev": float(np.max(np.abs(finite - 1.0))),
            }
    return out
