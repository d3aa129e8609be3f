"""How the spring model's gradient scales: dL/dk for strips of 1e2 to 1e5 bonds.

For each size a square triangular strip (:func:`fem_mnn.design.triangular_strip`) is
built and validated (timed apart), then one forward and one adjoint solve give
dL/dk (:func:`fem_mnn.contract.backprop` on a fresh
:class:`~fem_mnn.spring.network.SpringModel`, so the fill-reducing order and the
factorisation are in the time). Numpy/scipy only.
"""

from __future__ import annotations

import math
import os
import resource
import sys
import time
from collections.abc import Sequence

import numpy as np

from fem_mnn.contract import backprop
from fem_mnn.design.builders import triangular_strip
from fem_mnn.design.records import Design
from fem_mnn.design.validate import validate
from fem_mnn.learn.losses import MSE
from fem_mnn.spring.network import SpringModel

__all__ = ["spring_scaling", "strip_side"]

#: Target bond counts: three decades.
DEFAULT_SIZES = (100, 1_000, 10_000, 100_000)
#: ``quick``: the first two decades only (a few seconds).
QUICK_SIZES = (100, 1_000, 10_000)


def _strip_bonds(n: int) -> int:
    """Bonds of a square n x n triangular strip: n-1 per row, 2n-1 between rows."""
    return (n - 1) * n + (n - 1) * (2 * n - 1)


def strip_side(bonds: int) -> int:
    """Side n of the square strip whose bond count is closest to ``bonds``."""
    n = max(2, round((4 + math.sqrt(max(16 - 12 * (1 - bonds), 0))) / 6))
    return min((m for m in (n - 1, n, n + 1) if m >= 2), key=lambda m: abs(_strip_bonds(m) - bonds))


def _peak_mb() -> float:
    """Peak resident memory of this process so far (MB)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 1024


def _problem(design: Design, side: int) -> tuple[np.ndarray, MSE]:
    """A pull down on the middle of the bottom row, the bottom-right node's x as the output."""
    f = np.zeros((1, design.n_nodes, 2))
    f[0, design.n_nodes - side // 2 - 1, 1] = -0.01  # N
    target = np.full((1, design.n_nodes, 2), np.nan)
    target[0, design.n_nodes - 1, 0] = 0.1  # mm
    return f, MSE(target)


def _time_row(bonds: int, repeats: int) -> dict:
    side = strip_side(bonds)
    t0 = time.perf_counter()
    design = triangular_strip(side, side)  # builds and validates
    build_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    validate(design)
    validate_s = time.perf_counter() - t0
    loads, loss = _problem(design, side)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        bp = backprop(SpringModel(design), design.widths, loads, loss)
        times.append(time.perf_counter() - t0)
    assert np.all(np.isfinite(bp.grad_k))
    return {
        "bonds": design.n_bonds,
        "nodes": design.n_nodes,
        "dofs": 2 * (design.n_nodes - len(design.fixed)),
        "build_s": build_s,
        "validate_s": validate_s,
        "gradient_s": float(np.median(times)),
        "gradient_min_s": float(np.min(times)),
        "repeats": repeats,
        "peak_mb": _peak_mb(),
    }


def _machine() -> dict:
    """What the times depend on: cores, load, BLAS thread settings (set them before numpy loads)."""
    env = {v: os.environ[v] for v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS") if v in os.environ}
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    return {"cpus": os.cpu_count(), "load_average_1min": load, "blas_threads_env": env}


def _slope(rows: list[dict]) -> float | None:
    if len(rows) < 2:
        return None
    x = np.log([r["bonds"] for r in rows])
    y = np.log([r["gradient_s"] for r in rows])
    return float(np.polyfit(x, y, 1)[0])


def spring_scaling(sizes: Sequence[int] | None = None, quick: bool = False, repeats: int = 5) -> dict:
    """Time dL/dk of the spring model on strips of about ``sizes`` bonds.

    Args:
        sizes: target bond counts (default 1e2, 1e3, 1e4, 1e5; ``quick``: up to 1e4).
        quick: the small sizes only (a few seconds).
        repeats: gradient timings per size; the median is reported.

    Returns:
        ``{"spring_100k_seconds", "spring_scaling_exponent",
        "spring_scaling_exponent_1k_up", "rows", "machine"}``: the median gradient time of
        the size nearest 100 000 bonds (left out when no size reaches 50 000), the
        fitted slope of log time against log bonds over all sizes (and over the
        sizes from 1 000 bonds, where fixed costs no longer dominate), and one row
        per size: ``bonds, nodes, dofs, build_s`` (construction, validation
        included), ``validate_s`` (validation alone), ``gradient_s`` (median),
        ``gradient_min_s, repeats, peak_mb`` (peak resident memory of the process
        so far, MB; sizes run smallest first); ``machine``: cores, 1-minute load
        average and the BLAS thread variables (on a loaded machine BLAS threads
        slow the sparse factorisation: pin them before numpy is imported).
    """
    sizes = tuple(sizes) if sizes is not None else (QUICK_SIZES if quick else DEFAULT_SIZES)
    rows = [_time_row(int(b), repeats) for b in sorted(sizes)]
    out: dict = {
        "spring_scaling_exponent": _slope(rows),
        "spring_scaling_exponent_1k_up": _slope([r for r in rows if r["bonds"] >= 1000]),
        "rows": rows,
        "machine": _machine(),
    }
    big = [r for r in rows if r["bonds"] >= 50_000]
    if big:
        out["spring_100k_seconds"] = min(big, key=lambda r: abs(r["bonds"] - 100_000))["gradient_s"]
    return out


if __name__ == "__main__":
    import json

    print(json.dumps(spring_scaling(quick="--quick" in sys.argv), indent=2))
