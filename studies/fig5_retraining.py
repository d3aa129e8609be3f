"""Figure 5 of Li & Mao (2024): retraining the same network.

Task switching: Iris (100 epochs) -> linear regression (5000 epochs) -> Iris
again (100 epochs), each phase starting from the widths the previous one left.
Damage: after Iris training, cut bonds (a design without them; cuts that leave a
floppy lattice are refused by the rigidity check) and retrain Iris for 100 epochs.
10 splits (seeds 0-9); the split seed also draws the regression data.

Recipes: the authors' code ('faithful': dL/dk in SI fed to the sigmoid latent,
Iris beta 5 / step 6e-3, regression beta 10 / step 0.1, linear cross-entropy) and
'clip+softmax' (Adam on the widths with projection onto 1.5-2.5 mm, softmax
cross-entropy, Iris step 2e-2, regression step 1e-2). A third chain runs the
faithful recipe with a regression target the lattice can reach (the compliance of
a 'teacher' lattice with random widths), because the paper's target lies outside
the printable range (see the Figure 3 study and the data README).

Run: ``python studies/fig5_retraining.py [--data DIR] [--out DIR] [--quick]``; ``compute(quick, data_dir)``
returns the numbers, ``render(results, out)`` writes the report.
"""

from __future__ import annotations

# _common first: importing it pins the BLAS threads before numpy loads
from _common import figure, paper_data_dir, save_figure, study_main, table, write_report

# isort: split

import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from _training_runs import CHAINS, Chain, Run, iris_task, log, run_many, run_task, summarise

from fem_mnn.core.errors import InputError
from fem_mnn.design import paper_sample, without_bonds
from fem_mnn.design.rigidity import zero_modes
from fem_mnn.io.paper_data import load_figure5
from fem_mnn.learn import TrainConfig
from fem_mnn.learn.tasks import REGRESSION_COMPLIANCE, regression
from fem_mnn.spring.network import SpringModel

NAME = "fig5_retraining"
TEACHER_SEED = 123


def teacher_compliance() -> np.ndarray:
    """(u_x13, u_y13, u_x14, u_y14) per N at paper node 11 of a lattice with random widths (mm/N)."""
    d = paper_sample()
    w = np.random.default_rng(TEACHER_SEED).uniform(d.geometry.width_min, d.geometry.width_max, d.n_bonds)
    f = np.zeros((1, d.n_nodes, 2))
    f[0, 10, 1] = 1.0
    u = SpringModel(d).operator(w).solve(f).u[0]
    return np.array([u[12, 0], u[12, 1], u[13, 0], u[13, 1]])


# ----------------------------------------------------------------------- workers


def _switch_job(job: tuple[Chain, int, int, int]) -> tuple[Run, Run, Run]:
    chain, split, iris_epochs, reg_epochs = job
    d = paper_sample()
    model = SpringModel(d)
    a = run_task(
        model, iris_task(d, split, chain.iris), chain.iris.train_config(split, epochs=iris_epochs), chain.key, split
    )
    comp = teacher_compliance() if chain.reachable_target else np.asarray(REGRESSION_COMPLIANCE)
    reg = regression(d, seed=split, compliance=comp)
    kw = {"epochs": reg_epochs, "batch_size": 16, "seed": split, "record_widths": False, **chain.regression}
    b = run_task(model, reg, TrainConfig(**kw), chain.key, split, widths0=a.widths)
    c = run_task(
        model,
        iris_task(d, split, chain.iris),
        chain.iris.train_config(split, epochs=iris_epochs),
        chain.key,
        split,
        widths0=b.widths,
    )
    return a, b, c


def _damage_job(job: tuple[Chain, int, tuple[int, ...], np.ndarray, int]) -> Run:
    chain, split, cut, widths, epochs = job
    d, keep = without_bonds(paper_sample(), cut)
    return run_task(
        SpringModel(d),
        iris_task(d, split, chain.iris),
        chain.iris.train_config(split, epochs=epochs),
        f"{chain.key} cut {cut}",
        split,
        widths0=widths[keep],
    )


def stack(runs: list[Run], attr: str) -> np.ndarray:
    return np.array([getattr(r, attr) for r in runs])


def pm(s: dict[str, float]) -> str:
    """Mean ± population standard deviation (ddof 0, over splits) of a :func:`summarise` record, in %."""
    return f"{100 * s['mean']:.2f} ± {100 * s['std']:.2f}"


def on_bound(runs: list[Run]) -> float:
    """Mean number of widths on a bound of 1.5-2.5 mm."""
    return float(np.mean([np.sum((r.widths <= 1.5 + 1e-6) | (r.widths >= 2.5 - 1e-6)) for r in runs]))


def mean_curve(runs: list[Run], attr: str, points: int | None = None) -> dict[str, list[float]]:
    """Mean over splits of a per-epoch series; at about ``points`` log-spaced epochs if given."""
    y = stack(runs, attr).mean(axis=0)
    idx = np.arange(len(y)) if points is None else np.unique(np.round(np.geomspace(1, len(y), points)).astype(int)) - 1
    return {"epoch": (idx + 1).tolist(), "mean": y[idx].tolist()}


# --------------------------------------------------------------------------- compute


def _task_switching(chains: tuple[Chain, ...], splits: list[int], iris_epochs: int, reg_epochs: int):
    jobs = [(c, s, iris_epochs, reg_epochs) for c in chains for s in splits]
    log(
        NAME, f"task switching: {len(jobs)} chains of Iris {iris_epochs} + regression {reg_epochs} + Iris {iris_epochs}"
    )
    tic = time.time()
    switched = run_many(_switch_job, jobs)
    log(NAME, f"task switching done in {time.time() - tic:.1f} s")
    phases: dict[str, tuple[list[Run], list[Run], list[Run]]] = {}
    for c in chains:
        res = [r for (cc, _, _, _), r in zip(jobs, switched, strict=True) if cc.key == c.key]
        phases[c.key] = ([r[0] for r in res], [r[1] for r in res], [r[2] for r in res])
    out = {}
    for c in chains:
        a, b, cc = phases[c.key]
        out[c.key] = {
            "label": c.label,
            "iris1_train": summarise(stack(a, "train_acc")[:, -1]),
            "iris1_test": summarise(stack(a, "test_acc")[:, -1]),
            "regression_loss_first": float(np.mean(stack(b, "loss_paper")[:, 0])),
            "regression_loss_final": summarise(stack(b, "loss_paper")[:, -1]),
            "regression_acc_first": float(np.mean(stack(b, "train_acc")[:, 0])),
            "regression_acc_final": summarise(stack(b, "train_acc")[:, -1]),
            "iris2_acc_first": float(np.mean(stack(cc, "train_acc")[:, 0])),
            "iris2_train": summarise(stack(cc, "train_acc")[:, -1]),
            "iris2_test": summarise(stack(cc, "test_acc")[:, -1]),
            "iris2_loss_final": float(np.mean(stack(cc, "loss_paper")[:, -1])),
            "regression_config": {"epochs": reg_epochs, **c.regression},
            "reachable_target": bool(c.reachable_target),
            "widths_on_bound_after_regression": on_bound(b),
            "curves": [
                {attr: mean_curve(ph, attr, 400 if i == 1 else None) for attr in ("loss_paper", "train_acc")}
                for i, ph in enumerate((a, b, cc))
            ],
        }
    return out, phases


def _single_cuts() -> tuple[list[int], list[int]]:
    """Bonds whose cut leaves the lattice rigid, and those whose cut is refused (floppy)."""
    d0 = paper_sample()
    rigid, floppy = [], []
    for b in range(d0.n_bonds):
        try:
            without_bonds(d0, (b,))
            rigid.append(b)
        except InputError:
            floppy.append(b)
    assert all(zero_modes(without_bonds(d0, (b,))[0]).shape[1] == 0 for b in rigid)
    return rigid, floppy


def _damage(chains, phases, splits: list[int], iris_epochs: int, quick: bool, paper: Any) -> dict[str, Any]:
    """Cut one bond of the Iris-trained network and retrain Iris, for every rigid single cut."""
    d0 = paper_sample()
    rigid, floppy = _single_cuts()
    cuts = [(b,) for b in (rigid[:3] if quick else rigid)]
    dmg_chains = chains[:2]
    trained = {c.key: {r.split: r.widths for r in phases[c.key][0]} for c in dmg_chains}
    djobs = [(c, s, cut, trained[c.key][s], iris_epochs) for c in dmg_chains for cut in cuts for s in splits]
    log(NAME, f"damage: {len(djobs)} retraining runs ({len(cuts)} single-bond cuts)")
    tic = time.time()
    druns = run_many(_damage_job, djobs)
    log(NAME, f"damage done in {time.time() - tic:.1f} s")
    per_cut: dict[str, dict[tuple[int, ...], list[Run]]] = {c.key: {} for c in dmg_chains}
    for (c, _, cut, _, _), r in zip(djobs, druns, strict=True):
        per_cut[c.key].setdefault(cut, []).append(r)
    # headline cut: the faithful post-damage first-epoch loss closest to the paper's
    p_first = float(paper.loss_broken.mean[0])
    first_loss = {cut: float(np.mean(stack(rs, "loss_paper")[:, 0])) for cut, rs in per_cut["faithful"].items()}
    head = min(first_loss, key=lambda k: abs(first_loss[k] - p_first))
    finals = {k: [float(np.mean(stack(per_cut[k][cut], "train_acc")[:, -1])) for cut in cuts] for k in per_cut}
    outputs = {7, 1, 2}
    bad = [cut[0] for cut, f in zip(cuts, finals["faithful"], strict=True) if f < 0.6]
    return {
        "summary": {
            "below_60pct": bad,
            "touching_outputs": [b for b in bad if set(d0.bonds[b].tolist()) & outputs],
            "above_85pct": [cut[0] for cut, f in zip(cuts, finals["faithful"], strict=True) if f >= 0.85],
        },
        "rigid_single_cuts": rigid,
        "floppy_single_cuts": floppy,
        "cuts": [c[0] for c in cuts],
        "headline_cut": list(head),
        "headline_nodes": d0.bonds[head[0]].tolist(),
        "selection_rule": "faithful first-epoch logged loss closest to the paper's loss_broken[0]",
        "final_train_mean_per_cut": finals,
        "per_cut": {
            k: {
                str(cut[0]): {
                    "first_loss": float(np.mean(stack(rs, "loss_paper")[:, 0])),
                    "first_train": float(np.mean(stack(rs, "train_acc")[:, 0])),
                    "final_train": summarise(stack(rs, "train_acc")[:, -1]),
                    "final_test": summarise(stack(rs, "test_acc")[:, -1]),
                }
                for cut, rs in v.items()
            }
            for k, v in per_cut.items()
        },
        "headline_curves": {
            k: {a: mean_curve(v[head], a) for a in ("loss_paper", "train_acc")} for k, v in per_cut.items()
        },
    }


def _paper_curves(paper: Any) -> dict[str, Any]:
    bands = (
        "loss_iris1",
        "loss_regression",
        "loss_iris2",
        "acc_iris1_train",
        "acc_iris1_test",
        "acc_regression_train",
        "acc_iris2_train",
        "acc_iris2_test",
        "loss_broken",
        "acc_broken_train",
        "acc_broken_test",
    )
    out: dict[str, Any] = {"epoch_iris": paper.epoch_iris, "epoch_regression": paper.epoch_regression}
    for b in bands:
        band = getattr(paper, b)
        out[b] = {"mean": band.mean, "lower": band.lower, "upper": band.upper}
    return out


def compute(quick: bool, data_dir: str | Path | None = None) -> dict[str, Any]:
    """All numbers of the study (no files); ``quick``: 1 split, 5 + 20 + 5 epochs, 2 recipes, 3 cuts."""
    paper = load_figure5(paper_data_dir(data_dir))
    splits = list(range(1 if quick else 10))
    iris_epochs, reg_epochs = (5, 20) if quick else (100, 5000)
    chains = CHAINS[:2] if quick else CHAINS
    switching, phases = _task_switching(chains, splits, iris_epochs, reg_epochs)
    damage = _damage(chains, phases, splits, iris_epochs, quick, paper)
    return {
        "quick": quick,
        "splits": splits,
        "iris_epochs": iris_epochs,
        "regression_epochs": reg_epochs,
        "iris_beta": float(chains[0].iris.train_config(0).beta),
        "iris_lr": float(chains[0].iris.train_config(0).lr),
        "teacher_compliance": teacher_compliance(),
        "task_switching": switching,
        "damage_summary": damage.pop("summary"),
        "damage": damage,
        "paper_curves": _paper_curves(paper),
    }


def headline(results: dict[str, Any]) -> dict[str, float]:
    """Iris accuracy before and after the regression phase, per recipe, and the headline cut."""
    out: dict[str, float] = {}
    for k, ts in results["task_switching"].items():
        out[f"{k}: iris1_train_mean"] = ts["iris1_train"]["mean"]
        out[f"{k}: iris2_train_mean"] = ts["iris2_train"]["mean"]
        out[f"{k}: regression_acc_final_mean"] = ts["regression_acc_final"]["mean"]
    out["headline_cut"] = results["damage"]["headline_cut"][0]
    return out


# --------------------------------------------------------------------------- render


def _last(band: dict[str, Any]) -> float:
    return float(band["mean"][-1])


def _switching_table(r: dict[str, Any]) -> str:
    ts, pc = r["task_switching"], r["paper_curves"]
    rows = [
        [k, f"{pm(c['iris1_train'])} / {pm(c['iris1_test'])}"]
        + [f"{c['regression_loss_first']:.3e} -> {c['regression_loss_final']['mean']:.3e}"]
        + [f"{100 * c['regression_acc_first']:.1f} -> {pm(c['regression_acc_final'])}"]
        + [f"{100 * c['iris2_acc_first']:.1f} -> {pm(c['iris2_train'])} / {pm(c['iris2_test'])}"]
        + [c["iris2_loss_final"], c["widths_on_bound_after_regression"]]
        for k, c in ts.items()
    ]
    loss, acc2 = pc["loss_regression"]["mean"], pc["acc_iris2_train"]["mean"][0]
    rows.append(
        ["paper", f"{100 * _last(pc['acc_iris1_train']):.2f} / {100 * _last(pc['acc_iris1_test']):.2f}"]
        + [f"{loss[0] * 1e-6:.3e} -> {loss[-1] * 1e-6:.3e}"]
        + [f"{100 * pc['acc_regression_train']['mean'][0]:.1f} -> {100 * _last(pc['acc_regression_train']):.2f}"]
        + [f"{100 * acc2:.1f} -> {100 * _last(pc['acc_iris2_train']):.2f} / {100 * _last(pc['acc_iris2_test']):.2f}"]
        + [_last(pc["loss_iris2"]), "-"]
    )
    head = ["recipe", "Iris 1 train / test", "regression loss (m^2)", "regression accuracy"]
    head += ["Iris 2 train (first -> last) / test", "Iris 2 final logged loss", "widths on a bound after regression"]
    return table(head, rows)


def _switching_numbers(r: dict[str, Any]) -> dict[str, Any]:
    ts, pc = r["task_switching"], r["paper_curves"]
    fb, cs, rr = ts["faithful"], ts.get("clip+softmax"), ts.get("faithful, reachable regression")
    beta, lr, ie = r["iris_beta"], r["iris_lr"], r["iris_epochs"]
    n_steps = ie * int(np.ceil(105 / 16))
    return {
        "n_splits": len(r["splits"]),
        "iris_epochs": ie,
        "regression_epochs": r["regression_epochs"],
        "paper_regression_acc_first": 100 * pc["acc_regression_train"]["mean"][0],
        "paper_compliance": str(list(REGRESSION_COMPLIANCE)),
        "teacher_compliance": str(np.round(np.asarray(r["teacher_compliance"]), 3).tolist()),
        "table_switching": _switching_table(r),
        "faithful_regression_acc": 100 * fb["regression_acc_final"]["mean"],
        "faithful_regression_loss": fb["regression_loss_final"]["mean"],
        "faithful_on_bound": fb["widths_on_bound_after_regression"],
        "z_bound": float(np.log(1e9) / beta),
        "beta": beta,
        "n_steps": n_steps,
        "lr": lr,
        "z_travel": n_steps * lr,
        "faithful_iris2": 100 * fb["iris2_train"]["mean"],
        **{f"clip_{k}": cs and 100 * cs[k]["mean"] for k in ("iris1_train", "iris2_train", "iris1_test", "iris2_test")},
        "clip_on_bound": cs and cs["widths_on_bound_after_regression"],
        "reachable_regression_acc": rr and 100 * rr["regression_acc_final"]["mean"],
        "reachable_regression_loss": rr and rr["regression_loss_final"]["mean"],
        "reachable_iris2_train": rr and 100 * rr["iris2_train"]["mean"],
        "reachable_iris2_test": rr and 100 * rr["iris2_test"]["mean"],
        "paper_regression_loss_last": pc["loss_regression"]["mean"][-1] * 1e-6,
    }


def _damage_tables(r: dict[str, Any]) -> dict[str, str]:
    d0 = paper_sample()
    dm, pc, ts = r["damage"], r["paper_curves"], r["task_switching"]
    head = dm["headline_cut"][0]
    rows = []
    for k, pcut in dm["per_cut"].items():
        x = pcut[str(head)]
        rows.append([k, f"{d0.bonds[head].tolist()}", x["first_loss"], f"{100 * x['first_train']:.1f}"])
        rows[-1] += [f"{pm(x['final_train'])} / {pm(x['final_test'])}", pm(ts[k]["iris1_train"])]
    rows.append(["paper", "not published", float(pc["loss_broken"]["mean"][0])])
    rows[-1] += [f"{100 * pc['acc_broken_train']['mean'][0]:.1f}"]
    rows[-1] += [f"{100 * _last(pc['acc_broken_train']):.2f} / {100 * _last(pc['acc_broken_test']):.2f}"]
    rows[-1] += [f"{100 * _last(pc['acc_iris1_train']):.2f}"]
    hdr = ["bond", "nodes"]
    for k in dm["per_cut"]:
        hdr += [f"{k}: epoch-1 train", f"{k}: final train", f"{k}: final test"]
    sweep = []
    for b in dm["cuts"]:
        sweep.append([b, d0.bonds[b].tolist()])
        for pcut in dm["per_cut"].values():
            x = pcut[str(b)]
            sweep[-1] += [f"{100 * x['first_train']:.1f}", pm(x["final_train"]), pm(x["final_test"])]
    finals = {k: np.asarray(v) for k, v in dm["final_train_mean_per_cut"].items()}
    over = [[k, f"{100 * v.mean():.2f}", f"{100 * v.min():.2f}", f"{100 * v.max():.2f}"] for k, v in finals.items()]
    over.append(["paper (unknown cut)", f"{100 * _last(pc['acc_broken_train']):.2f}", "-", "-"])
    head_h = ["recipe", "cut (node ids)", "first-epoch logged loss", "first-epoch train acc", "final train / test"]
    return {
        "table_headline_cut": table([*head_h, "before damage (train)"], rows),
        "table_cuts": table(hdr, sweep),
        "table_over_cuts": table(["recipe", "mean over cuts", "worst cut", "best cut"], over),
    }


def _damage_numbers(r: dict[str, Any]) -> dict[str, Any]:
    d0 = paper_sample()
    dm, pc, s = r["damage"], r["paper_curves"], r["damage_summary"]
    head, floppy = dm["headline_cut"][0], dm["floppy_single_cuts"]
    return {
        "n_rigid": len(dm["rigid_single_cuts"]),
        "floppy": str(floppy),
        "floppy_nodes": str([d0.bonds[b].tolist() for b in floppy]),
        "paper_first_loss": float(pc["loss_broken"]["mean"][0]),
        "head": head,
        "head_nodes": str(d0.bonds[head].tolist()),
        "head_paper_nodes": str((d0.bonds[head] + 1).tolist()),
        "n_below_60": len(s["below_60pct"]),
        "n_cuts": len(dm["cuts"]),
        "below_60": str(s["below_60pct"]),
        "n_touching": len(s["touching_outputs"]),
        "above_85": str(s["above_85pct"]),
        "above_85_nodes": str([d0.bonds[b].tolist() for b in s["above_85pct"]]),
        "head_final": 100 * dm["per_cut"]["faithful"][str(head)]["final_train"]["mean"],
        "paper_broken_final": 100 * _last(pc["acc_broken_train"]),
    }


def _verdicts(r: dict[str, Any]) -> dict[str, bool]:
    """The wording the numbers choose (the words are in the template)."""
    ts, pc = r["task_switching"], r["paper_curves"]
    fb, cs = ts["faithful"], ts.get("clip+softmax")
    paper_first = pc["acc_regression_train"]["mean"][0]
    return {
        "regression_acc_first_matches": abs(fb["regression_acc_first"] - paper_first) < 0.02,
        "faithful_stuck": fb["iris2_train"]["mean"] < 0.45 and fb["widths_on_bound_after_regression"] >= 14,
        "has_clip": cs is not None,
        "clip_same_corner": cs is not None and abs(cs["iris1_train"]["mean"] - cs["iris2_train"]["mean"]) < 0.005,
        "has_reachable": "faithful, reachable regression" in ts,
        "some_absorbed": bool(r["damage_summary"]["above_85pct"]),
    }


def _plot_switching(out: Path, r: dict[str, Any]) -> None:
    pc = r["paper_curves"]
    fig = figure(16, 7.5)
    axes = fig.subplots(2, 3)
    e1, e2 = pc["epoch_iris"], pc["epoch_regression"]
    spec = [
        (0, 0, e1, "loss_iris1", "loss_paper", 0, "Iris 1: logged loss", True),
        (0, 1, e2, "loss_regression", "loss_paper", 1, "regression: logged loss (m^2)", True),
        (0, 2, e1, "loss_iris2", "loss_paper", 2, "Iris 2: logged loss", True),
        (1, 0, e1, "acc_iris1_train", "train_acc", 0, "Iris 1: train accuracy", False),
        (1, 1, e2, "acc_regression_train", "train_acc", 1, "regression: 1 - rel. error", False),
        (1, 2, e1, "acc_iris2_train", "train_acc", 2, "Iris 2: train accuracy", False),
    ]
    for r_, c_, ep, band, attr, ph, title, logy in spec:
        ax = axes[r_, c_]
        scale = 1e-6 if ph == 1 and attr == "loss_paper" else 1.0
        b = pc[band]
        ax.fill_between(ep, np.asarray(b["lower"]) * scale, np.asarray(b["upper"]) * scale, color="k", alpha=0.15)
        ax.plot(ep, np.asarray(b["mean"]) * scale, "k--", lw=1.2, label="paper")
        for k, ts in r["task_switching"].items():
            cv = ts["curves"][ph][attr]
            ax.plot(cv["epoch"], cv["mean"], lw=1.3, label=k)
        if logy:
            ax.set_yscale("log")
        if ph == 1:
            ax.set_xscale("log")
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
    axes[1, 2].legend(fontsize=7)
    fig.tight_layout()
    save_figure(fig, out, "task_switching.png")


def _plot_damage(out: Path, r: dict[str, Any]) -> None:
    from matplotlib import colormaps

    from fem_mnn.viz.training import draw_lattice

    pc, dm = r["paper_curves"], r["damage"]
    head = dm["headline_cut"][0]
    fig = figure(12, 4.2)
    axes = fig.subplots(1, 2)
    for ax, attr, band, title in (
        (axes[0], "loss_paper", "loss_broken", "after damage: logged loss"),
        (axes[1], "train_acc", "acc_broken_train", "after damage: train accuracy"),
    ):
        b = pc[band]
        ax.fill_between(pc["epoch_iris"], b["lower"], b["upper"], color="k", alpha=0.15)
        ax.plot(pc["epoch_iris"], b["mean"], "k--", lw=1.2, label="paper (cut unknown)")
        for k, cv in dm["headline_curves"].items():
            ax.plot(cv[attr]["epoch"], cv[attr]["mean"], lw=1.3, label=f"{k}, cut bond {head}")
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
    axes[1].legend(fontsize=8)
    fig.tight_layout()
    save_figure(fig, out, "damage_retraining.png")

    d0 = paper_sample()
    fig = figure(7, 5)
    ax = fig.subplots()
    vals = np.full(d0.n_bonds, np.nan)
    for b, f in zip(dm["cuts"], dm["final_train_mean_per_cut"]["faithful"], strict=True):
        vals[b] = 100 * f
    coll = draw_lattice(ax, d0, d0.widths, label_bonds=True, cmap="viridis")
    coll.set_cmap(colormaps["viridis"].with_extremes(bad="lightgrey"))
    coll.set_array(np.ma.masked_invalid(vals))
    coll.set_clim(np.nanmin(vals), np.nanmax(vals))
    for b in dm["floppy_single_cuts"]:
        ax.annotate("floppy if cut", d0.nodes[d0.bonds[b]].mean(axis=0), fontsize=7, color="r", ha="center")
    fig.colorbar(coll, ax=ax, label="train accuracy after retraining (%), faithful", shrink=0.8)
    ax.set_title("Which cut hurts: accuracy after retraining, per cut bond (grey: cut refused)")
    fig.tight_layout()
    save_figure(fig, out, "damage_by_bond.png")


def render(results: dict[str, Any], out: Path) -> None:
    """results.md (``studies/templates/fig5_retraining.md``), results.json and the figures in ``out``."""
    started = time.time()
    _plot_switching(out, results)
    _plot_damage(out, results)
    values = {**_switching_numbers(results), **_damage_tables(results), **_damage_numbers(results)}
    write_report(NAME, out, results, values, _verdicts(results), started)


def main(argv: list[str] | None = None) -> int:
    return study_main(NAME, __doc__, compute, render, argv, quick_help="1 split, short phases, 3 cuts (seconds)")


if __name__ == "__main__":
    sys.exit(main())
