"""Training beyond the linear regime (issue 23, item 4), parts (i)-(v).

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

(iii) Transfer: (ii)'s spring-trained ``load-switch`` design evaluated in nonlinear FE, then
fine-tuned by a few epochs of nonlinear FE training (the Python API of ``fem train --regime
nonlinear``) from the spring widths: contrast per level before and after.

(iv) The in situ rule at a loaded state: uniform 2 mm, the load-switch task's heavy case (100 g
at id 10; full mode adds 10 g), the paper's Figure 1 loss on u_y of id 13. The tangent protocol
(e e_adj with the adjoint on the consistent tangent, ``grad_k`` of
``NonlinearFemOperator.backprop``), the finite-increment protocols (FE: forward + adjoint weight,
``NonlinearModel.backprop(adjoint="superposed")``, and the adjoint weight alone; springs:
``NonlinearSpringOperator.finite_increment``) and the linear models' gradients against the exact
FE width gradient through the nonlinear solve: cosine, relative L2 (the metrics of
``studies/insitu_vs_exact.py``, from :mod:`fem_mnn.fidelity.compare`).

(v) Buckling as activation: for (ii)'s FE-trained designs, the first linear buckling load factor
of the task's largest case (validate's check mesh), the bonds that bow in the first mode
(:func:`fem_mnn.fem.buckling.bond_mode_amplitude`), and the case's contrast along its nonlinear
load path from zero, below and past that load (the path's 0.1 is the light level of both tasks).

Run: ``python studies/nonlinear_training.py [--quick] [--out DIR]``. Both modes: FE at P1, one
element across the thin ends (P2 with three is unaffordable for nonlinear training: see
``_fem_options``). Quick: fewer epochs (200 spring, 2 FE, 2 fine-tuning) and load factors, and only
the heavy case in (iv); full: 600 spring and 20 FE epochs, 10 fine-tuning epochs, 10 g and 100 g in (iv).
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
    """P1, one element across the thin ends, in both modes: the discretisation nonlinear FE training is affordable on.

    At P2 with three elements across (86 814 dofs) one nonlinear solve of a 100 g case took more than 20 min
    on a loaded 2-core machine (part (iv) did not finish its 100 g case in 22 min); every FE training epoch
    solves such cases from zero load, so 20 epochs would take days. The two modes differ in epochs, load
    factors and cases; part (v) checks how much the post-buckling answers depend on the mesh.
    """
    from fem_mnn.fem.linear import FemOptions
    from fem_mnn.geometry.build import MeshOptions

    return FemOptions(degree=1, mesh=MeshOptions(elements_across=1))


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

    from fem_mnn.fem.nonlinear import NonlinearModel

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
    sols, stop = _follow(nl, task.train_loads[0], factors)
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
        # quick: a smoke run (2 epochs); full: 20 epochs, which took load-switch past its criterion
        # (docs/training.md: 14-45 s per epoch on a loaded 2-core machine, 140 s in all on a quieter one)
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


def _levels(task: Any, metrics: dict[str, float] | None) -> dict[str, float | None]:
    m = metrics or {}
    return {lv: m.get(f"train_contrast_{lv}") for lv in dict.fromkeys(task.train_levels or ())}


def part_iii(quick: bool, part2: dict[str, Any]) -> dict[str, Any]:
    """Transfer: part (ii)'s spring-trained load-switch design in nonlinear FE, then FE fine-tuning from it."""
    from mpi4py import MPI

    from fem_mnn.fem.nonlinear import NonlinearFemModel, NonlinearOptions

    d = paper_sample()
    name = "load-switch"
    task = paper_task(name, d)
    spring = part2[name]["springs"]
    w0 = np.array(spring["widths"], dtype=float)
    t0 = time.perf_counter()
    epochs = 2 if quick else 10
    cfg = TrainConfig(**{**dict(task.train_settings), "epochs": epochs})
    model = NonlinearFemModel(d, _fem_options(quick), NonlinearOptions(steps=10), MPI.COMM_SELF)
    out: dict[str, Any] = {
        "task": name,
        "success": task.success,
        "spring_widths": w0.tolist(),
        "springs": {"contrast": spring["train_contrast"], "per_level": spring["contrast_per_level"]},
        "fine_tune_epochs": epochs,
    }
    try:
        res = train(model, task, cfg, widths0=w0)
    except EngineError as exc:
        out["failed"] = str(exc)
        out["seconds"] = time.perf_counter() - t0
        return out
    init = res.initial_metrics or {}
    best = res.best_metrics or {}
    out["fem_before"] = {
        "contrast": init.get("train_contrast"),
        "per_level": _levels(task, init),
        "loss": init.get("train_loss"),
    }
    out["fem_after"] = {
        "contrast": best.get("train_contrast"),
        "loss": best.get("train_loss"),
        "per_level": _levels(task, best),
        "best_epoch": res.best_epoch,
        "epochs": res.epochs,
        "widths": None if res.best_widths is None else res.best_widths.tolist(),
        "success_met": bool(best.get("train_contrast", -math.inf) >= task.success["min"]),
    }
    out["seconds"] = time.perf_counter() - t0
    log(
        NAME,
        f"(iii) spring design in FE: contrast {out['fem_before']['contrast']:.4f}, after {res.epochs} FE epochs "
        f"{out['fem_after']['contrast']:.4f} ({out['seconds']:.0f} s)",
    )
    return out


#: Part (iv)'s load: the load-switch task's heavy case (100 g down at id 10); full mode adds the light one
IV_NODE, IV_OUTPUT, IV_OFFSET_MM = 10, 13, 25.0
IV_INSITU = ("FE tangent (in situ)", "FE superposed (finite increment)", "FE separate (adjoint alone)")
IV_SPRING = ("springs exact (tangent)", "springs finite increment")
IV_LINEAR = ("FE linear exact", "FE linear in situ", "springs linear")


def _gradient_metrics(g: np.ndarray, exact: np.ndarray) -> dict[str, float]:
    from fem_mnn.fidelity.compare import bond_rel_error, cosine, rel_l2, sign_agreement

    med, mx = bond_rel_error(g, exact)
    err = np.abs(g - exact)
    worst = int(np.argmax(err))
    rest = np.arange(exact.size) != worst
    return {
        "cosine": cosine(g, exact),
        "rel_l2": rel_l2(g, exact),
        "sign": sign_agreement(g, exact),
        "median_rel": med,
        "max_rel": mx,
        "worst_bond": worst,
        "worst_share": float(err[worst] ** 2 / max(float(err @ err), 1e-300)),
        # without the worst bond: is the error one bond's or everyone's?
        "rel_l2_without_worst": rel_l2(g[rest], exact[rest]),
        "cosine_without_worst": cosine(g[rest], exact[rest]),
    }


def part_iv(quick: bool) -> dict[str, Any]:
    """The in situ rule at loaded states: tangent and finite-increment protocols against the exact FE gradient."""
    from mpi4py import MPI

    from fem_mnn.contract import backprop, nominal_stiffness
    from fem_mnn.fem.buckling import BucklingOptions, bond_mode_amplitude, buckling_analysis
    from fem_mnn.fem.linear import FemModel, FemOptions, stiffness_factor_gradient
    from fem_mnn.fem.nonlinear import NonlinearFemModel, NonlinearOptions
    from fem_mnn.fem.shape import shape_width_gradient
    from fem_mnn.geometry.build import MeshOptions
    from fem_mnn.io.paper_data import G
    from fem_mnn.learn.losses import OffsetLoss

    d = paper_sample()
    w = np.array(d.widths, dtype=float)
    _, dk_dw = nominal_stiffness(d, w)
    # the paper's Figure 1 loss in SI: its adjoint load -dL/du = -2 (u_y + 25 mm) / 1000 N is a few grams,
    # the size of weight the physical protocol hangs (finite increment eps = 1 = that weight)
    loss = OffsetLoss(IV_OUTPUT, IV_OFFSET_MM)
    grams = [100.0] if quick else [10.0, 100.0]
    model = NonlinearFemModel(d, _fem_options(quick), NonlinearOptions(steps=10), MPI.COMM_SELF)
    lin = FemModel(d, _fem_options(quick), comm=MPI.COMM_SELF).operator()
    sop = NonlinearSpringModel(d).operator(w)
    check = FemModel(d, FemOptions(mesh=MeshOptions(elements_across=1)), comm=MPI.COMM_SELF)
    out: dict[str, Any] = {
        "design": "paper sample, uniform 2 mm",
        "load_node": IV_NODE,
        "loss": f"(u_y(id {IV_OUTPUT}) + {IV_OFFSET_MM:g} mm)^2 in m^2 (the paper's Figure 1 loss)",
        "cases": {},
    }
    for g in grams:
        t0 = time.perf_counter()
        F = np.zeros((d.n_nodes, 2))
        F[IV_NODE, 1] = -g * G * 1e-3
        op = model.operator(w)
        bp = op.backprop(F[None], loss)  # exact grad_w through the nonlinear solve; grad_k = in situ (tangent)
        state = op.states(F[None])[0]
        t_exact = time.perf_counter() - t0
        nl = model.nl
        sup = nl.backprop(F, loss, adjoint="superposed", state=state)
        sep = nl.backprop(F, loss, adjoint="separate", state=state)
        exact = np.asarray(bp.grad_w, dtype=float)
        lin_exact = shape_width_gradient(lin, F[None], loss).grad_w
        th = stiffness_factor_gradient(lin, F[None], loss)
        lin_insitu = dk_dw * (th.forward.elongation * th.adjoint.elongation).mean(0)
        sbp = sop.backprop(F[None], loss)
        sfi = sop.finite_increment(F[None], loss, 1.0)
        est = {
            IV_INSITU[0]: bp.grad_k * dk_dw,
            IV_INSITU[1]: sup.grad_k * dk_dw,
            IV_INSITU[2]: sep.grad_k * dk_dw,
            IV_SPRING[0]: sbp.grad_w,
            IV_SPRING[1]: sfi.grad_w,
            IV_LINEAR[0]: lin_exact,
            IV_LINEAR[1]: lin_insitu,
            IV_LINEAR[2]: backprop(SpringModel(d), w, F[None], loss).grad_w,
        }
        adj_g = float(np.linalg.norm(bp.adjoint_load[0]) / (G * 1e-3))
        # is the worst-estimated bond the one that buckles? (validate's check mesh, as in part (v))
        bk = buckling_analysis(d, F, options=BucklingOptions(n_modes=1), model=check)
        _, bow = bond_mode_amplitude(bk, check) if bk.modes else (None, np.zeros(d.n_bonds))
        case = {
            "grams": g,
            "u_output_mm": float(bp.u[0][IV_OUTPUT, 1]),
            "adjoint_load_grams": adj_g,
            "exact": exact.tolist(),
            # bond-average axial strain (true length change / length) of the loaded state
            "bond_strain": (state.true_elongation / d.lengths).tolist(),
            "estimates": {k: np.asarray(v, float).tolist() for k, v in est.items()},
            "metrics": {k: _gradient_metrics(np.asarray(v, float), exact) for k, v in est.items()},
            # the in situ rule's own error in the linear regime, same mesh: the baseline to compare with
            "linear_insitu_vs_linear_exact": _gradient_metrics(lin_insitu, lin_exact),
            "first_buckling_load_factor": None if not math.isfinite(bk.first) else bk.first,
            "buckled_bonds": [int(b) for b in np.argsort(-bow) if bow[b] >= 0.5],
            "seconds": {"exact_and_tangent": t_exact, "all": time.perf_counter() - t0},
        }
        out["cases"][f"{g:g} g"] = case
        m = case["metrics"]
        log(
            NAME,
            f"(iv) {g:g} g: nonlinear vs linear exact rel L2 {m[IV_LINEAR[0]]['rel_l2']:.3f}; tangent in situ cos "
            f"{m[IV_INSITU[0]]['cosine']:.4f} rel L2 {m[IV_INSITU[0]]['rel_l2']:.3f} ({case['seconds']['all']:.0f} s)",
        )
    lin.destroy()
    return out


#: Load factors of part (v)'s path through the largest case (fractions of it), besides 0.9 and 1.1 x buckling
V_FACTORS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)


def _follow(nl: Any, F: np.ndarray, factors: Any, what: str = "path stopped") -> tuple[list[Any], str]:
    """The states of ``nl`` along the load path of ``F`` at ``factors``; a path that stops keeps those it reached.

    Returns ``(states, "")``, or ``(states reached, "<what> at load factor ...: <reason>")``.
    """
    from fem_mnn.fem.nonlinear import PathStopped

    try:
        return nl.solve_path(F, factors), ""
    except PathStopped as exc:
        return exc.solutions, f"{what} at load factor {exc.reached:.4g}: {exc.reason}"


#: load factors of the P2 check (0.95 and 0.975: the heavy case's path may end at a limit point just below 1)
P2_FACTORS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.975, 1.0)


def p2_check(task: Any, dw: Any) -> dict[str, Any]:
    """Every training case of ``task`` on the printed lattice's discretisation: P2, the thin-end rule's size.

    The mesh is generated for the widths of ``dw`` (not morphed). SNES line search ``basic`` (full
    Newton steps) instead of the default backtracking: on this mesh backtracking stalled the uniform
    sample's 100 g case at load factor 0.35 where full steps reached 1.0 (docs/nonlinear.md, section 7).
    Where the load stepping meets a limit point, pseudo-arclength continuation follows the path on
    (``continuation="arclength"``); a path that still ends keeps the factors it reached and
    records where the continuation went (``continuation``: highest, lowest and last load factor).
    """
    from mpi4py import MPI

    from fem_mnn.fem.linear import FemOptions
    from fem_mnn.fem.nonlinear import NonlinearModel, NonlinearOptions, PathStopped
    from fem_mnn.io.paper_data import G
    from fem_mnn.learn.tasks import contrast

    options = NonlinearOptions(steps=10, linesearch="basic", continuation="arclength")
    model = NonlinearModel(dw, FemOptions(), options, comm=MPI.COMM_SELF)
    cases = []
    for c in range(task.train_loads.shape[0]):
        t0 = time.perf_counter()
        F = np.array(task.train_loads[c])
        label = np.array([int(task.train_labels[c])])
        try:
            sols, stop, cont = model.solve_path(F, P2_FACTORS), "", None
        except PathStopped as exc:
            sols, stop, cont = exc.solutions, f"stopped at load factor {exc.reached:.4g}: {exc}", exc.continuation
        vals = [task.output_values(sol.u[None])[0] for sol in sols]
        strains = np.abs(sols[-1].true_elongation) / dw.lengths if sols else np.full(dw.n_bonds, np.nan)
        cases.append(
            {
                "case": c,
                "grams": float(np.abs(F).sum() / (G * 1e-3)),
                "label": int(label[0]),
                "factors": list(P2_FACTORS[: len(sols)]),
                "contrast": [contrast(v[None], label) for v in vals],
                "outputs_mm": [v.tolist() for v in vals],
                "stopped": stop or None,
                "continuation": cont,
                "max_bond_axial_strain": float(np.max(strains)),
                "newton_iterations": int(sum(sol.newton_iterations for sol in sols)),
                "seconds": time.perf_counter() - t0,
            }
        )
    return {"dofs": int(model.disc.V.dofmap.index_map.size_global * model.disc.V.dofmap.index_map_bs), "cases": cases}


def part_v(quick: bool, part2: dict[str, Any]) -> dict[str, Any]:
    """Buckling as activation: first buckling load of the FE-trained designs, which bonds, and the task along the path."""
    from mpi4py import MPI

    from fem_mnn.fem.buckling import BucklingOptions, bond_mode_amplitude, buckling_analysis
    from fem_mnn.fem.linear import FemModel, FemOptions
    from fem_mnn.fem.nonlinear import NonlinearFemModel, NonlinearModel, NonlinearOptions
    from fem_mnn.geometry.build import MeshOptions
    from fem_mnn.io.paper_data import G
    from fem_mnn.learn.tasks import contrast

    d = paper_sample()
    out: dict[str, Any] = {}
    for name in NONLINEAR_TASK_NAMES:
        fem = part2[name]["fem"]
        if fem.get("widths") is None:
            out[name] = {"skipped": "the FE training of part (ii) failed"}
            continue
        t0 = time.perf_counter()
        task = paper_task(name, d)
        w = np.array(fem["widths"], dtype=float)
        dw = d.with_widths(w)
        totals = np.abs(task.train_loads).sum(axis=(1, 2))
        c = int(np.argmax(totals))
        F = np.array(task.train_loads[c])
        # the validate check's model: P2, one element across the thinnest thin end
        check = FemModel(dw, FemOptions(mesh=MeshOptions(elements_across=1)), comm=MPI.COMM_SELF)
        bk = buckling_analysis(dw, F, options=BucklingOptions(n_modes=3), model=check)
        lam = bk.first
        amp, bow = bond_mode_amplitude(bk, check) if bk.modes else (np.zeros(d.n_bonds), np.zeros(d.n_bonds))
        buckled = [int(b) for b in np.argsort(-bow) if bow[b] >= 0.5]
        # the largest case's label and contrast along its load path (study mesh), below and past buckling
        factors = sorted(
            {*V_FACTORS, *([round(0.9 * lam, 4), round(1.1 * lam, 4)] if math.isfinite(lam) and lam < 1 else [])}
        )
        factors = [s for s in factors if 0 < s <= 1.0]
        # the training's model: the uniform sample's mesh morphed to the trained widths (part (ii) trained on it)
        model = NonlinearFemModel(d, _fem_options(quick), NonlinearOptions(steps=10), MPI.COMM_SELF)
        nl = model.nl
        nl.set_widths(w)
        sols, stop = _follow(nl, F, factors)
        label = np.array([int(task.train_labels[c])])
        vals = [task.output_values(s.u[None])[0] for s in sols]
        path_contrast = [contrast(v[None], label) for v in vals]
        reached = factors[: len(sols)]
        flip = next((s for s, k in zip(reached, path_contrast, strict=True) if k > 1.0), None)
        below = [i for i, s in enumerate(reached) if math.isfinite(lam) and s < lam]
        # bond-average axial strain (true length change / length) of the most strained bond at the full load:
        # the local peak at the thin ends is larger (validate's strain check); this is the lattice-level number
        strains = np.abs(sols[-1].true_elongation) / d.lengths if sols else np.full(d.n_bonds, np.nan)
        # the same widths on a mesh generated for them (not morphed): past buckling, which way a bond bows is
        # decided by the discretisation's small asymmetries, so the post-buckling outputs can depend on the mesh
        remeshed = NonlinearModel(dw, _fem_options(quick), NonlinearOptions(steps=10), comm=MPI.COMM_SELF)
        try:
            k_re: float | None = contrast(task.output_values(remeshed.solve(F).u[None]), label)
        except EngineError:
            k_re = None
        # the success claim at the printed lattice's resolution (full run only: P2 at the rule's size costs minutes)
        succeeded = fem.get("train_contrast") is not None and fem["train_contrast"] >= task.success["min"]
        p2 = p2_check(task, dw) if succeeded and not quick else None
        out[name] = {
            "p2_check": p2,
            "largest_case": c,
            "largest_case_grams": float(totals[c] / (G * 1e-3)),
            "label": int(label[0]),
            "first_buckling_load_factor": None if not math.isfinite(lam) else lam,
            "load_factors": bk.load_factors.tolist(),
            "buckled_bonds": buckled,
            "bond_bowing": bow.tolist(),
            "bond_amplitude": amp.tolist(),
            "path_factors": reached,
            "path_outputs_mm": [v.tolist() for v in vals],
            "path_contrast": path_contrast,
            "label_dominant_from": flip,
            # the smallest factor (0.1) is the light level of both tasks (10 g of 100 g per input)
            "contrast_lightest": path_contrast[0] if path_contrast else None,
            "contrast_below_buckling": path_contrast[below[-1]] if below else None,
            "factor_below_buckling": reached[below[-1]] if below else None,
            "contrast_full_load": path_contrast[-1] if len(sols) == len(factors) else None,
            "contrast_full_load_remeshed": k_re,
            "max_bond_axial_strain": float(np.max(strains)),
            "max_strain_bond": int(np.argmax(strains)) if sols else None,
            "path": stop or "reached every load factor",
            "trained_contrast": fem.get("train_contrast"),
            "widths_at_bounds": int(np.sum((w <= d.geometry.width_min + 1e-9) | (w >= d.geometry.width_max - 1e-9))),
            "check_dofs": int(bk.n_dofs),
            "seconds": time.perf_counter() - t0,
        }
        log(NAME, f"(v) {name}: first buckling load factor {lam:.4g}, bonds {buckled}, label from {flip}")
    return out


def compute(quick: bool, data_dir: str | Path | None = None) -> dict[str, Any]:
    """Parts (i)-(v) (numbers only; ``data_dir`` unused: no paper data is read)."""
    seconds: dict[str, float] = {}
    out: dict[str, Any] = {}
    # (iii) and (v) start from (ii)'s designs
    parts = (
        ("i", lambda: part_i(quick)),
        ("ii", lambda: part_ii(quick)),
        ("iii", lambda: part_iii(quick, out["ii"])),
        ("iv", lambda: part_iv(quick)),
        ("v", lambda: part_v(quick, out["ii"])),
    )
    for name, run in parts:
        t0 = time.perf_counter()
        out[name] = run()
        seconds[name] = time.perf_counter() - t0
    return {"quick": quick, **{f"part_{name}": out[name] for name, _ in parts}, "seconds": seconds}


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
    r3 = results["part_iii"]
    out["iii_spring_design_fem_contrast"] = _num(r3.get("fem_before", {}).get("contrast"))
    out["iii_fine_tuned_fem_contrast"] = _num(r3.get("fem_after", {}).get("contrast"))
    for label, case in results["part_iv"]["cases"].items():
        g = label.replace(" ", "")
        m = case["metrics"]
        for key, est in (
            ("tangent", IV_INSITU[0]),
            ("superposed", IV_INSITU[1]),
            ("separate", IV_INSITU[2]),
            ("springs_exact", IV_SPRING[0]),
            ("springs_increment", IV_SPRING[1]),
            ("linear_exact", IV_LINEAR[0]),
        ):
            out[f"iv_{g}_{key}_cosine"] = float(m[est]["cosine"])
            out[f"iv_{g}_{key}_rel_l2"] = float(m[est]["rel_l2"])
        out[f"iv_{g}_linear_insitu_rel_l2"] = float(case["linear_insitu_vs_linear_exact"]["rel_l2"])
    for name, r in results["part_v"].items():
        if "skipped" in r:
            continue
        out[f"v_{name}_buckling_factor"] = _num(r["first_buckling_load_factor"], math.inf)
        out[f"v_{name}_contrast_below_buckling"] = _num(r["contrast_below_buckling"])
        out[f"v_{name}_contrast_full_load"] = _num(r["contrast_full_load"])
        out[f"v_{name}_contrast_full_load_remeshed"] = _num(r["contrast_full_load_remeshed"])
    return out


def _num(v: Any, missing: float = -math.inf) -> float:
    """A headline number: ``missing`` where the value does not exist (a failed or stopped run)."""
    return missing if v is None else float(v)


def _fmt(v: Any) -> str:
    if v is None:
        return "—"
    return f"{v:.4g}" if isinstance(v, float) else str(v)


def render(results: dict[str, Any], out: Path) -> None:
    """results.md (``studies/templates/nonlinear_training.md``), results.json (with the headline) and the figures."""
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
            per = _per_level(m["contrast_per_level"])
            rows.append([name, model, _fmt(m["train_contrast"]), per, m["success_met"], m["epochs"]])
            rows[-1] += [f"{m['seconds']:.0f}"]
    part_i = [[k, *[_fmt(e) for e in v], _fmt(r1["stops_at_factor"][k])] for k, v in r1["rel_error"].items()]
    r3, r4 = results["part_iii"], results["part_iv"]
    values = {
        "success_bound": r1["success_bound"],
        "fem_path": r1["fem_path"],
        "table_part_i": table(
            ["model", *[f"{g:g} g" for g in r1["grams"]], "first load above the bound (x 5 g)"], part_i
        ),
        "table_part_ii": table(["task", "model", "contrast", "per level", "success", "epochs", "s"], rows),
        "iii_task": r3["task"],
        "iii_epochs": r3["fine_tune_epochs"],
        "table_part_iii": _table_iii(r3),
        "iv_design": r4["design"],
        "iv_load_node": r4["load_node"],
        "iv_loss": r4["loss"],
        "iv_output": IV_OUTPUT,
        "table_part_iv_states": _table_iv_states(r4),
        "table_part_iv": _table_iv(r4),
        "iv_figure_case": _figure_iv(r4, out),
        "table_part_v": _table_v(results["part_v"]),
        "seconds": ", ".join(f"({k}) {v:.0f}" for k, v in results.get("seconds", {}).items()) or "not recorded",
    }
    has_p2 = any(r.get("p2_check") for r in results["part_v"].values())
    values["table_p2"] = _table_p2(results["part_v"]) if has_p2 else ""
    _figure_v(results["part_v"], out)
    write_report(NAME, out, {**results, "headline": headline(results)}, values, {"has_p2": has_p2}, started)


def _per_level(per: dict[str, Any]) -> str:
    return ", ".join(f"{lv} {_fmt(v)}" for lv, v in per.items())


def _table_iii(r3: dict[str, Any]) -> str:
    header = ["model", "contrast", "per level", "success"]
    if "failed" in r3:
        return table(header, [["nonlinear FE", "failed", r3["failed"][:160], False]])
    after, low = r3["fem_after"], r3["success"]["min"]
    springs, before = r3["springs"], r3["fem_before"]
    fine_tuned = f"nonlinear FE, fine-tuned (best epoch {after['best_epoch']} of {after['epochs']})"
    return table(
        header,
        [
            ["nonlinear springs (trained)", _fmt(springs["contrast"]), _per_level(springs["per_level"])]
            + [bool(springs["contrast"] >= low)],
            ["nonlinear FE, same widths", _fmt(before["contrast"]), _per_level(before["per_level"])]
            + [bool((before["contrast"] or -1) >= low)],
            [fine_tuned, _fmt(after["contrast"]), _per_level(after["per_level"]), after["success_met"]],
        ],
    )


def _table_iv_states(r4: dict[str, Any]) -> str:
    rows = []
    for label, c in r4["cases"].items():
        base = c["linear_insitu_vs_linear_exact"]
        bowing = ", ".join(str(b) for b in c["buckled_bonds"]) or "none"
        rows.append([label, f"{c['u_output_mm']:.4g}", f"{c['adjoint_load_grams']:.3g}"])
        rows[-1] += [f"{base['cosine']:.4f}", f"{base['rel_l2']:.3f}", _fmt(c["first_buckling_load_factor"]), bowing]
    header = ["case", f"u_y(id {IV_OUTPUT}) (mm)", "adjoint weight (g)", "baseline cosine", "baseline rel. L2"]
    return table([*header, "first buckling factor", "bonds bowing"], rows)


def _table_iv(r4: dict[str, Any]) -> str:
    rows = []
    for label, c in r4["cases"].items():
        for k, m in c["metrics"].items():
            worst = f"{m['worst_bond']} ({100 * m['worst_share']:.0f} %, strain"
            worst += f" {100 * c['bond_strain'][m['worst_bond']]:.3g} %)"
            without = f"{_fmt(m['cosine_without_worst'])} / {_fmt(m['rel_l2_without_worst'])}"
            stats = [_fmt(m[key]) for key in ("cosine", "rel_l2", "sign", "median_rel", "max_rel")]
            rows.append([label, k, *stats, worst, without])
    header = ["case", "estimate", "cosine", "rel. L2", "sign agreement", "median bond rel. error"]
    return table([*header, "max bond rel. error", "worst bond (share of the squared error)", "without it"], rows)


def _figure_iv(r4: dict[str, Any], out: Path) -> str:
    """The gradients of the heaviest case as bars; returns the case's label (for the caption)."""
    label, c = list(r4["cases"].items())[-1]
    fig = figure(8, 3.5)
    ax = fig.subplots()
    b = np.arange(len(c["exact"]))
    shown = (("exact", c["exact"]), *((k, c["estimates"][k]) for k in (IV_INSITU[0], IV_INSITU[1], IV_LINEAR[0])))
    wbar = 0.8 / len(shown)
    for i, (k, g) in enumerate(shown):
        ax.bar(b + (i - (len(shown) - 1) / 2) * wbar, g, wbar, label=k)
    ax.set_xlabel("bond id")
    ax.set_ylabel("dL/dw (all bars in the same units)")
    ax.legend(fontsize=7)
    save_figure(fig, out, "insitu_large_deformation.png")
    return label


def _table_v(r5: dict[str, Any]) -> str:
    rows = []
    for name, r in r5.items():
        if "skipped" in r:
            rows.append([name, r["skipped"], *[""] * 9])
            continue
        lam = r["first_buckling_load_factor"]
        buckling = "—" if lam is None else f"{lam:.4g} ({lam * r['largest_case_grams']:.3g} g)"
        below = f"{_fmt(r['contrast_below_buckling'])} (at {_fmt(r['factor_below_buckling'])})"
        strain = f"{100 * r['max_bond_axial_strain']:.3g} % (bond {r['max_strain_bond']})"
        rows.append([name, f"{r['largest_case_grams']:.4g}", buckling])
        rows[-1] += [", ".join(str(b) for b in r["buckled_bonds"]) or "none", _fmt(r["contrast_lightest"]), below]
        rows[-1] += [_fmt(r["contrast_full_load"]), _fmt(r["contrast_full_load_remeshed"])]
        rows[-1] += [_fmt(r["label_dominant_from"]), strain, r["widths_at_bounds"]]
    header = ["task", "largest case (g)", "first buckling factor", "bonds bowing", "contrast at 0.1"]
    header += ["below buckling", "at full load", "at full load, remeshed", "label dominant from"]
    return table([*header, "max bond strain", "widths at bounds"], rows)


def _table_p2(r5: dict[str, Any]) -> str:
    rows = []
    for name, r in r5.items():
        p2 = r.get("p2_check")
        if not p2:
            continue
        for case in p2["cases"]:
            path = ", ".join(f"{f:g}: {k:.3f}" for f, k in zip(case["factors"], case["contrast"], strict=True))
            end = case["stopped"] or "reached 1.0"
            cont = case.get("continuation")
            if cont:
                # the template says what the numbers mean
                end = (
                    f"limit point {cont['highest']:.4g}; continuation: lowest {cont['lowest']:.4g}, "
                    f"last {cont['last']:.4g} ({cont['steps']} steps, {cont['rejected']} rejected)"
                )
            strain = f"{100 * case['max_bond_axial_strain']:.3g} %"
            rows.append([name, f"{case['grams']:.4g} g (label {case['label']})", path, end, strain])
            rows[-1] += [case["newton_iterations"], f"{case['seconds']:.0f}", p2["dofs"]]
    header = ["task", "case", "contrast along the path (load factor: contrast)", "path", "max bond strain"]
    return table([*header, "Newton its", "s", "dofs"], rows)


def _figure_v(r5: dict[str, Any], out: Path) -> None:
    fig = figure(6, 4)
    ax = fig.subplots()
    for name, r in r5.items():
        if "skipped" in r:
            continue
        (line,) = ax.plot(r["path_factors"], r["path_contrast"], "o-", ms=3, label=name)
        if r["first_buckling_load_factor"] is not None:
            ax.axvline(r["first_buckling_load_factor"], color=line.get_color(), ls=":", lw=1)
        for case in (r.get("p2_check") or {}).get("cases", []):
            if case["case"] == r["largest_case"]:
                ax.plot(case["factors"], case["contrast"], "s--", ms=3, color=line.get_color(), label=f"{name}, P2")
    ax.axhline(1.0, color="k", lw=0.6)
    ax.set_xlabel("load factor of the largest case (dotted: first buckling factor)")
    ax.set_ylabel("contrast of the case's label")
    ax.legend(fontsize=8)
    save_figure(fig, out, "buckling_path.png")


def main(argv: list[str] | None = None) -> int:
    return study_main(NAME, __doc__, compute, render, argv, "few epochs and loads", takes_data=False)


if __name__ == "__main__":
    sys.exit(main())
