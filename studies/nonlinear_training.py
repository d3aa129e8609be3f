"""Training beyond the linear regime (issue 23), parts (i) and (ii).

(i) A linear-trained design at growing loads: the paper's behaviour task (5 g at paper node
11 = id 10, targets u_y = -0.5 / -0.8 mm at ids 12 / 13) trained on linear springs with the
authors' recipe, then loaded by s x 5 g with the targets scaled by s (what a linear network
promises) and solved with nonlinear springs and with the neo-Hookean FE model on the load path
from zero: the relative error of the task at each load, and the first load where it exceeds
the task's success bound (0.16). A path that cannot be followed (limit point, bifurcation)
ends the FE sweep; the load factor reached is reported.

(ii) The nonlinear tasks (``load-switch``, ``load-and``; ``fem_mnn/data/tasks``) trained with
nonlinear springs and with nonlinear FE from the same start (uniform 2 mm): the smallest
contrast, the contrast per level, success, widths. An FE run whose load path stops is
reported with the load factor reached (no arc-length continuation: the equilibrium is the
state on the path from zero load, and a limit point ends it).

Run: ``python studies/nonlinear_training.py [--quick] [--out DIR]``. Quick: P1, one element
across the thin ends, fewer epochs and load factors. Parts (iii)-(v) of the issue are not done.
"""

from __future__ import annotations

# _common first: importing it pins the BLAS threads before numpy loads
from _common import figure, log, save_figure, study_main, table, write_report

# isort: split

import math
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from fem_mnn.core.errors import EngineError
from fem_mnn.design import paper_sample
from fem_mnn.learn import TrainConfig, paper_config, train
from fem_mnn.learn.taskfile import NONLINEAR_TASK_NAMES, paper_task
from fem_mnn.spring.network import SpringModel
from fem_mnn.spring.nonlinear import NonlinearSpringModel, load_sweep

NAME = "nonlinear_training"


def _fem_options(quick: bool) -> Any:
    from fem_mnn.fem.linear import FemOptions
    from fem_mnn.geometry.build import MeshOptions

    return FemOptions(degree=1 if quick else 2, mesh=MeshOptions(elements_across=1 if quick else 3))


def _rel_errors(values: np.ndarray, targets: np.ndarray, factors: np.ndarray) -> list[float | None]:
    """Relative error ||v - s t|| / ||s t|| per factor (None where not reached)."""
    out: list[float | None] = []
    for v, s in zip(values, factors, strict=True):
        t = s * targets
        out.append(None if np.any(np.isnan(v)) else float(np.linalg.norm(v - t) / np.linalg.norm(t)))
    return out


def _first_above(factors: list[float], errors: list[float | None], bound: float) -> float | None:
    for s, e in zip(factors, errors, strict=True):
        if e is not None and e > bound:
            return s
    return None


def part_i(quick: bool) -> dict[str, Any]:
    """The behaviour task's linear-spring-trained design at growing loads."""
    from mpi4py import MPI

    from fem_mnn.fem.nonlinear import NonlinearModel, PathStopped

    d = paper_sample()
    task = paper_task("behaviour", d)
    t0 = time.perf_counter()
    res = train(SpringModel(d), task, paper_config("behaviour", epochs=3000 if quick else 30000))
    w = res.best_widths
    log(NAME, f"(i) behaviour trained on linear springs: {res.epochs} epochs, {time.perf_counter() - t0:.1f} s")
    factors = [1.0, 2.0, 4.0, 8.0] if quick else [1.0, 2.0, 3.0, 4.0, 6.0, 8.0, 12.0, 16.0]
    targets = task.train_targets[0]
    bound = float(task.success["max"])
    outs = [tuple(o) for o in task.outputs]
    sw = load_sweep(NonlinearSpringModel(d), task.train_loads, factors, outs, widths=w)
    spring_vals = sw.values[:, 0, :]
    lin_vals = sw.linear_values[:, 0, :]
    nl = NonlinearModel(d.with_widths(w), fem_options=_fem_options(quick), comm=MPI.COMM_SELF)
    fem_vals = np.full((len(factors), len(outs)), np.nan)
    stop = ""
    try:
        sols = nl.solve_path(task.train_loads[0], factors)
    except PathStopped as exc:
        sols, stop = exc.solutions, f"path stopped at load factor {exc.reached:.4g}: {exc.reason}"
    for i, s in enumerate(sols):
        fem_vals[i] = [s.u[n, c] for n, c in outs]
    lin_fem = nl.linear_operator().solve(task.train_loads).u[0]
    lin_fem_vals = np.array([[s * lin_fem[n, c] for n, c in outs] for s in factors])
    rows = {
        "linear springs": _rel_errors(lin_vals, targets, np.array(factors)),
        "nonlinear springs": _rel_errors(spring_vals, targets, np.array(factors)),
        "linear FE": _rel_errors(lin_fem_vals, targets, np.array(factors)),
        "nonlinear FE": _rel_errors(fem_vals, targets, np.array(factors)),
    }
    return {
        "grams": [5.0 * s for s in factors],
        "factors": factors,
        "success_bound": bound,
        "trained_widths": w.tolist(),
        "train_epochs": res.epochs,
        "rel_error": rows,
        "outputs": {
            "nonlinear springs": spring_vals.tolist(),
            "nonlinear FE": fem_vals.tolist(),
            "linear springs": lin_vals.tolist(),
        },
        "stops_at_factor": {k: _first_above(factors, v, bound) for k, v in rows.items()},
        "fem_path": stop or "reached every load factor",
        "spring_path": [m or "reached every load factor" for m in sw.messages],
    }


def _summary(res: Any, task: Any) -> dict[str, Any]:
    best = res.best_metrics or {}
    levels = sorted(k.removeprefix("train_contrast_") for k in best if k.startswith("train_contrast_"))
    return {
        "epochs": res.epochs,
        "best_epoch": res.best_epoch,
        "train_contrast": best.get("train_contrast"),
        "contrast_per_level": {lv: best.get(f"train_contrast_{lv}") for lv in levels},
        "train_accuracy": best.get("train_accuracy"),
        "success_met": bool(best.get("train_contrast") is not None and best["train_contrast"] >= task.success["min"]),
        "widths": None if res.best_widths is None else res.best_widths.tolist(),
        "initial_contrast": (res.initial_metrics or {}).get("train_contrast"),
    }


def part_ii(quick: bool) -> dict[str, Any]:
    """The nonlinear tasks trained with nonlinear springs and nonlinear FE from uniform 2 mm."""
    from mpi4py import MPI

    from fem_mnn.fem.nonlinear import NonlinearFemModel, NonlinearOptions

    d = paper_sample()
    out: dict[str, Any] = {}
    for name in NONLINEAR_TASK_NAMES:
        task = paper_task(name, d)
        settings = dict(task.train_settings)
        t0 = time.perf_counter()
        cfg = TrainConfig(**{**settings, "epochs": 200 if quick else 600})
        res = train(NonlinearSpringModel(d), task, cfg)
        spring = _summary(res, task) | {"seconds": time.perf_counter() - t0}
        log(NAME, f"(ii) {name}, nonlinear springs: contrast {spring['train_contrast']:.4f}")
        t0 = time.perf_counter()
        # quick: a smoke run (2 epochs); 20 epochs took load-switch past its criterion with P1, one element
        # across (docs/training.md, about 10 min on a loaded 2-core machine); full: P2, 20 epochs
        cfg = TrainConfig(**{**settings, "epochs": 2 if quick else 20})
        model = NonlinearFemModel(d, _fem_options(quick), NonlinearOptions(steps=10), MPI.COMM_SELF)
        try:
            fem = _summary(train(model, task, cfg), task)
        except EngineError as exc:
            fem = {"failed": str(exc)}
        fem["seconds"] = time.perf_counter() - t0
        log(NAME, f"(ii) {name}, nonlinear FE: {fem.get('train_contrast', fem.get('failed'))}")
        out[name] = {"success": task.success, "springs": spring, "fem": fem}
    return out


def compute(quick: bool, data_dir: str | Path | None = None) -> dict[str, Any]:
    """Parts (i) and (ii) (numbers only; ``data_dir`` unused: no paper data is read)."""
    return {"quick": quick, "part_i": part_i(quick), "part_ii": part_ii(quick)}


def headline(results: dict[str, Any]) -> dict[str, Any]:
    """Where the linear-trained design stops doing its task, and the contrasts the nonlinear tasks reached."""
    # numbers only (compared with pytest.approx): inf = never above the bound at the loads tried,
    # -inf = the FE training stopped (its load path could not be followed)
    out: dict[str, Any] = {
        f"i_stops_{k}": math.inf if v is None else float(v) for k, v in results["part_i"]["stops_at_factor"].items()
    }
    for name, r in results["part_ii"].items():
        out[f"ii_{name}_springs_contrast"] = float(r["springs"]["train_contrast"])
        fem = r["fem"].get("train_contrast")
        out[f"ii_{name}_fem_contrast"] = -math.inf if fem is None else float(fem)
    return out


def _fmt(v: Any) -> str:
    if v is None:
        return "—"
    return f"{v:.4g}" if isinstance(v, float) else str(v)


def render(results: dict[str, Any], out: Path) -> None:
    """results.md (``studies/templates/nonlinear_training.md``), results.json (with the headline) and the figure."""
    started = time.time()
    r1 = results["part_i"]
    fig = figure(6, 4)
    ax = fig.subplots()
    for k, v in r1["rel_error"].items():
        ax.plot(r1["grams"], [np.nan if e is None else e for e in v], "o-", label=k)
    ax.axhline(r1["success_bound"], color="k", lw=0.8, ls="--", label="success bound")
    ax.set_xlabel("load at id 10 (g)")
    ax.set_ylabel("relative error against scaled targets")
    ax.legend(fontsize=8)
    save_figure(fig, out, "behaviour_vs_load.png")
    rows = []
    for name, r in results["part_ii"].items():
        for model in ("springs", "fem"):
            m = r[model]
            if "failed" in m:
                rows.append([name, model, "failed", m["failed"][:160], "", "", f"{m['seconds']:.0f}"])
                continue
            per = ", ".join(f"{lv} {_fmt(v)}" for lv, v in m["contrast_per_level"].items())
            rows.append([name, model, _fmt(m["train_contrast"]), per, m["success_met"], m["epochs"]])
            rows[-1] += [f"{m['seconds']:.0f}"]
    part_i = [[k, *[_fmt(e) for e in v], _fmt(r1["stops_at_factor"][k])] for k, v in r1["rel_error"].items()]
    values = {
        "success_bound": r1["success_bound"],
        "fem_path": r1["fem_path"],
        "table_part_i": table(
            ["model", *[f"{g:g} g" for g in r1["grams"]], "first load above the bound (x 5 g)"], part_i
        ),
        "table_part_ii": table(["task", "model", "contrast", "per level", "success", "epochs", "s"], rows),
    }
    write_report(NAME, out, {**results, "headline": headline(results)}, values, None, started)


def main(argv: list[str] | None = None) -> int:
    return study_main(NAME, __doc__, compute, render, argv, "P1 meshes, few epochs and loads", takes_data=False)


if __name__ == "__main__":
    sys.exit(main())
