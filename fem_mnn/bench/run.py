"""The benchmark run behind ``fem-mnn bench``: every key measured in one process."""

from __future__ import annotations

import importlib
import math
import time
from typing import Any

from fem_mnn.bench import fem as fb
from fem_mnn.core.log import get_logger
from fem_mnn.design import triangular_strip

__all__ = ["QUICK_KEYS", "FULL_KEYS", "default_case", "large_case", "run_bench", "table"]

log = get_logger(__name__)

#: Written by every run (``--quick`` included).
QUICK_KEYS = (
    "shape_gradient_speedup",
    "shape_gradient_max_rel_err",
    "step_over_factor_ratio",
    "batch_marginal_over_factor",
)
#: Added by a full run (the spring keys only when ``fem_mnn.bench.spring_scaling`` exists).
FULL_KEYS = (
    "spring_100k_seconds",
    "spring_scaling_exponent",
    "mpi2_max_rel_diff",
    "shape_gradient_speedup_large",
)


def default_case() -> fb.BenchCase:
    """The paper's sample, Iris batch of 16 (tests replace it with a tiny design)."""
    return fb.paper_case()


def large_case() -> fb.BenchCase:
    """A triangular strip of 317 bonds (>= 250), 16 random load cases and an MSE loss."""
    return fb.random_case(triangular_strip(12, 10), "triangular_strip_12x10")


def run_bench(quick: bool = False, case: fb.BenchCase | None = None, large: fb.BenchCase | None = None) -> dict:
    """Measure every key; ``quick``: the paper sample only (FD timed on 6 bonds and extrapolated)."""
    case = case or default_case()
    t_start = time.perf_counter()
    raw: dict[str, Any] = {}
    res: dict[str, Any] = {"quick": quick, "machine": fb.machine(), "case": case.name}

    log.info(f"bench: shape gradient vs remeshed FD on {case.name}")
    sp = fb.speedup(case, fd_bonds=6 if quick else None, repeats=3)
    raw["speedup"] = sp
    res["shape_gradient_speedup"] = sp["speedup"]
    res["shape_gradient_speedup_gradient_only"] = sp["speedup_gradient_only"]
    res["shape_gradient_speedup_fd_extrapolated"] = sp["fd_extrapolated"]

    log.info("bench: shape gradient vs central differences on morphed meshes")
    acc = fb.gradient_accuracy(case)
    raw["accuracy"] = acc
    res["shape_gradient_max_rel_err"] = acc["max_rel_err"]

    log.info("bench: training step and marginal case vs the numeric factorisation")
    bc = fb.batch_cost(case, repeats=3 if quick else 7)
    raw["batch"] = bc
    res["step_over_factor_ratio"] = bc["step_over_factor_ratio"]
    res["batch_marginal_over_factor"] = bc["batch_marginal_over_factor"]

    if not quick:
        try:
            spring = importlib.import_module("fem_mnn.bench.spring_scaling")
        except ModuleNotFoundError:
            spring = None
            raw["spring"] = {"skipped": "fem_mnn.bench.spring_scaling is not installed"}
        if spring is not None:
            log.info("bench: spring model scaling")
            ss = spring.spring_scaling(quick=False)
            raw["spring"] = ss
            for k in ("spring_100k_seconds", "spring_scaling_exponent"):
                if k in ss:
                    res[k] = ss[k]
        log.info("bench: serial vs mpiexec -n 2")
        mp = fb.mpi_difference()
        raw["mpi"] = mp
        if "max_rel_diff" in mp:
            res["mpi2_max_rel_diff"] = mp["max_rel_diff"]
        lc = large or large_case()
        log.info(f"bench: shape gradient vs remeshed FD on {lc.name} ({lc.design.n_bonds} bonds)")
        spl = fb.speedup(lc, fd_bonds=3, repeats=2)
        raw["speedup_large"] = spl
        res["shape_gradient_speedup_large"] = spl["speedup"]
        res["shape_gradient_speedup_large_gradient_only"] = spl["speedup_gradient_only"]
        res["shape_gradient_speedup_large_note"] = (
            f"{lc.name}, {lc.design.n_bonds} bonds, {spl['n_dofs']} dofs: remeshed FD timed on "
            f"{spl['fd_bonds_timed']} bonds ({spl['fd_remeshes']} remeshes) and extrapolated to "
            f"{2 * lc.design.n_bonds} remeshes"
        )
    if sp["fd_extrapolated"]:
        res["shape_gradient_speedup_note"] = (
            f"remeshed FD timed on {sp['fd_bonds_timed']} of {sp['n_bonds']} bonds and extrapolated to "
            f"{2 * sp['n_bonds']} remeshes"
        )
    res["targets"] = {k: v[0] for k, v in fb.TARGETS.items() if k in res}
    res["met"] = {k: bool(v[1](res[k])) for k, v in fb.TARGETS.items() if k in res and _finite(res[k])}
    res["seconds"] = time.perf_counter() - t_start
    res["raw"] = raw
    return res


def _finite(v: Any) -> bool:
    return isinstance(v, (int, float)) and math.isfinite(v)


def table(res: dict) -> str:
    """Key, value, target, met? (one line per measured key)."""
    lines = [f"{'key':36s} {'value':>12s} {'target':>18s}  met?"]
    for k in (*QUICK_KEYS, *FULL_KEYS):
        if k not in res:
            continue
        tgt = fb.TARGETS[k][0]
        met = res["met"].get(k)
        lines.append(f"{k:36s} {res[k]:12.4g} {tgt:>18s}  {'yes' if met else 'no' if met is not None else '-'}")
    return "\n".join(lines)
