"""Plumbing shared by the studies: BLAS threads, the paper's data folder, the command line.

Every study module has the same shape:

* ``compute(quick, data_dir=None) -> dict``: numbers only (JSON-able), no files,
  no plots; the same inputs give the same numbers.
* ``render(results, out) -> None``: the markdown tables, figures (matplotlib's
  object API) and ``results.json`` (with a ``provenance`` block) in ``out``.
* ``headline(results) -> dict[str, float]``: the few numbers the tests assert
  and compare with the committed quick results.
* ``main(argv)``: ``--quick --data --out``; calls :func:`study_main`.

A study imports this module first: importing it pins the BLAS threads (before
numpy is loaded, see :data:`BLAS_THREAD_VARIABLES`); :func:`study_main` pins them
again with threadpoolctl when that is installed. ``python studies/<name>.py`` puts
``studies/`` on ``sys.path`` (the script's folder), and the package is installed.

Full runs write ``studies/results/<name>/``; quick runs default to
``studies/results/<name>/quick/`` so that they never overwrite the full results.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

#: Environment variables that limit the BLAS/OpenMP thread pools (set before numpy loads).
BLAS_THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
for _v in BLAS_THREAD_VARIABLES:  # at import: a study imports this module before numpy
    os.environ.setdefault(_v, "1")

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "studies" / "results"

__all__ = [
    "BLAS_THREAD_VARIABLES",
    "RESULTS",
    "close",
    "figure",
    "log",
    "paper_data_dir",
    "pin_blas_threads",
    "quick_results_path",
    "study_main",
]


def pin_blas_threads() -> None:
    """One BLAS thread per process (a study shares the machine with other runs).

    Sets the environment variables (effective only before numpy is imported, and
    for child processes) unless the user set them, and limits the pools already
    loaded with threadpoolctl when it is installed.
    """
    for var in BLAS_THREAD_VARIABLES:
        os.environ.setdefault(var, "1")
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return
    threadpool_limits(int(os.environ["OMP_NUM_THREADS"]))


def log(name: str, msg: str) -> None:
    """Progress line on stderr."""
    print(f"[{name}] {msg}", file=sys.stderr, flush=True)


def paper_data_dir(data_dir: str | Path | None) -> Path | None:
    """The paper's data folder: the argument, else ``$FEM_MNN_PAPER_DATA``, else None (the package default)."""
    if data_dir is not None:
        return Path(data_dir)
    env = os.environ.get("FEM_MNN_PAPER_DATA")
    return Path(env) if env else None


def figure(*size: float) -> Any:
    """A matplotlib Figure that is not registered with pyplot (no global backend or state)."""
    from matplotlib.figure import Figure

    return Figure(figsize=size or None)


def close(fig: Any) -> None:
    """Release a figure if pyplot manages it; a no-op for the object-API figures the package and studies make."""
    plt = sys.modules.get("matplotlib.pyplot")
    if plt is not None:
        plt.close(fig)


def quick_results_path(name: str) -> Path:
    """The committed quick results of study ``name``."""
    return RESULTS / name / "quick" / "results.json"


def study_main(
    name: str,
    doc: str,
    compute: Callable[..., dict[str, Any]],
    render: Callable[[dict[str, Any], Path], None],
    argv: Sequence[str] | None = None,
    quick_help: str = "a smoke version (seconds to a minute)",
    extra: Callable[[argparse.ArgumentParser], None] | None = None,
    takes_data: bool = True,
) -> int:
    """Command line of a study: ``[--quick] [--data DIR] [--out DIR]``; compute, then render.

    ``extra`` may add options; they are passed to ``compute`` as keyword arguments.
    Bad input (a missing data folder...) ends with one line on stderr and exit
    code 2, before anything is written.
    """
    from fem_mnn.core.errors import InputError

    pin_blas_threads()
    p = argparse.ArgumentParser(description=doc.strip().split("\n")[0])
    p.add_argument("--quick", action="store_true", help=quick_help)
    if takes_data:
        p.add_argument(
            "--data",
            type=Path,
            default=None,
            help="folder of the paper's data (default $FEM_MNN_PAPER_DATA, else the copy shipped in the package)",
        )
    p.add_argument(
        "--out",
        type=Path,
        default=None,
        help=f"output folder (default studies/results/{name}, or studies/results/{name}/quick with --quick)",
    )
    if extra is not None:
        extra(p)
    a = vars(p.parse_args(argv))
    quick, out = a.pop("quick"), a.pop("out")
    if out is None:
        out = RESULTS / name / "quick" if quick else RESULTS / name
    kwargs = {k: v for k, v in a.items() if k != "data"}
    if takes_data:
        kwargs["data_dir"] = a["data"]
    t0 = time.perf_counter()
    try:
        results = compute(quick, **kwargs)
    except InputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    compute_s = time.perf_counter() - t0
    results.setdefault("timing", {})["compute_s"] = round(compute_s, 3)
    render(results, out)
    log(name, f"computed in {compute_s:.1f} s, wrote {out}")
    return 0


def sampled_curve(result: Any, keys: Sequence[str], points: int = 400) -> dict[str, list[float]]:
    """A training run's history at about ``points`` log-spaced epochs (for plots): ``epoch`` and ``keys``.

    ``result`` has ``series(key)`` (a :class:`~fem_mnn.learn.training.TrainResult`).
    """
    import numpy as np

    n = len(result.series("loss"))
    idx = np.unique(np.round(np.geomspace(1, max(n, 1), points)).astype(int)) - 1 if n else np.array([], int)
    out = {"epoch": (idx + 1).tolist()}
    for k in keys:
        out[k] = np.asarray(result.series(k))[idx].tolist()
    return out


def curves_figure(
    runs: Sequence[tuple[str, dict[str, list[float]]]],
    loss_key: str,
    metric_keys: Sequence[str] = (),
    loss_label: str = "loss",
    metric_label: str = "",
    paper: Sequence[tuple[str, Any, Any]] = (),
    title: str = "",
    logx: bool = False,
) -> Any:
    """Loss (log scale) and metrics against epoch, from :func:`sampled_curve` records (object API)."""
    n = 2 if metric_keys else 1
    fig = figure(6 * n, 4.2)
    axes = fig.subplots(1, n, squeeze=False)[0]
    ax = axes[0]
    for label, c in runs:
        ax.semilogy(c["epoch"], c[loss_key], label=label)
    styles = [("k", "--"), ("0.45", "--"), ("k", ":"), ("0.45", ":")]
    for i, (label, ep, val) in enumerate(paper):
        color, ls = styles[i % len(styles)]
        ax.semilogy(ep, val, ls, color=color, lw=1.2, label=label)
    ax.set_xlabel("epoch")
    ax.set_ylabel(loss_label)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    if metric_keys:
        ax2 = axes[1]
        for label, c in runs:
            for key in metric_keys:
                ax2.plot(c["epoch"], c[key], label=f"{label}: {key}" if len(metric_keys) > 1 else label)
        ax2.set_xlabel("epoch")
        ax2.set_ylabel(metric_label)
        ax2.grid(True, alpha=0.3)
        ax2.legend(fontsize=7)
    if logx:
        for a in axes:
            a.set_xscale("log")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig
