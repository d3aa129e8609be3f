"""``fem-mnn identify``: what was printed, from measured node displacements; or which measurements to take.

``fem-mnn identify DESIGN --measured D.csv --loads L.csv [--gradients G.csv] [--protocol P.csv] --fit PARAMS
[--model spring|fem] [--noise-sd MM] [--prior-width-sd MM|none] --out DIR``

Weighted least squares of PARAMS (``E``, ``widths``, ``width-offset``, ``thin-end-offset``
(FE only); comma list) on the
measured displacement components (weights: the CSV's spreads, else ``--noise-sd``), with a
Gaussian prior on the widths centred on the design's; Levenberg-Marquardt with exact
Jacobians (springs: analytic; FE: the shape derivative of every measured output, one adjoint
per output component on the one factorisation, on a mesh that morphs with the widths).
Numerics in :mod:`fem_mnn.fidelity.identify`. Writes ``DIR/identified.json``,
``DIR/design_identified.json`` and ``DIR/identified_widths.png``.

``fem-mnn identify DESIGN --plan K [--mass G] --fit PARAMS --noise-sd MM --out DIR``: greedy
D-optimal choice of K load cases (each free node, down and sideways, G grams) on the same
Jacobians at the design; writes ``DIR/plan_loads.csv`` and ``DIR/plan.json`` and prints a
bench table.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
from pathlib import Path
from typing import Any

import numpy as np

from fem_mnn.commands._common import add_memory_argument, natural, positive_float
from fem_mnn.commands._solver import add_fem_arguments, fem_options
from fem_mnn.core.errors import InputError
from fem_mnn.core.files import atomic_savefig, atomic_write_json, atomic_write_text
from fem_mnn.core.log import get_logger
from fem_mnn.core.version import __version__
from fem_mnn.design.files import load_design
from fem_mnn.design.records import Design, Material
from fem_mnn.io import measured as ms

__all__ = ["DEFAULT_PRIOR_WIDTH_SD", "register"]

#: Default sd (mm) of the Gaussian prior on each width around the design's: a printed width
#: off by a third of a millimetre is plausible, by a millimetre is not.
DEFAULT_PRIOR_WIDTH_SD = 0.3
#: Standard gravity in N/g (a hanging mass of m grams pulls m * G_N_PER_G newtons).
G_N_PER_G = 9.8e-3


def _prior(text: str) -> float | None:
    if text.strip().lower() == "none":
        return None
    return positive_float(text)


def _rank(comm: Any) -> int:
    return 0 if comm is None else int(comm.rank)


def _response(args: argparse.Namespace, design: Design) -> tuple[Any, dict, Any]:
    """(response function, model record, communicator or None)."""
    if args.model == "spring":
        from fem_mnn.fidelity.identify import spring_response

        return spring_response(design), {"model": "spring", "law": "nominal k = E t w / L"}, None
    options = fem_options(args)
    if options.measure != "average":
        raise InputError(
            "identify needs the junction-average node displacement (its exact width derivative)",
            source="--measure",
            value=options.measure,
        )
    from mpi4py import MPI

    from fem_mnn.fem.morph import MorphingFemModel
    from fem_mnn.fem.shape import output_response
    from fem_mnn.geometry.build import mesh_size

    mo = options.mesh_options()
    # one element size for every width the fit visits, and a mesh that moves with the widths:
    # the response is then a smooth function of the widths and the shape derivative its exact Jacobian
    h = mesh_size(design, mo)
    options = dataclasses.replace(options, mesh=dataclasses.replace(mo, size=h * mo.refinement))
    comm = MPI.COMM_WORLD
    model = MorphingFemModel(design, options, comm=comm)
    record = {
        "model": "fem",
        "dim": options.dim,
        "degree": options.degree,
        "measure": options.measure,
        "element_size_mm": h,
        "mesh": "meshed once at the design's widths, then morphed with the widths (remeshed only if a cell degrades)",
        "_model": model,
    }
    return output_response(model), record, comm


def _check_fit(fit: tuple[str, ...], model: str) -> None:
    if "thin-end-offset" in fit and model == "spring":
        raise InputError(
            "cannot be fitted with --model spring: the spring law k = E t w / L has no thin ends (use --model fem)",
            source="--fit",
            value="thin-end-offset",
        )


def _protocol_weights(args: argparse.Namespace, design: Design, labels: list[str]) -> tuple[dict | None, dict]:
    """{(measure label, time): (n_cases,) weights of the elastic solutions at E0} and a record."""
    if not args.protocol:
        return None, {"modulus": "E", "E_MPa": design.material.E}
    from fem_mnn.design.viscoelastic import CONSTANT_NU_NOTE, protocol_extrapolation, protocol_response, require_prony

    prony = require_prony(design.material.prony, str(args.design))
    from fem_mnn.io.protocol import read_protocol

    events = read_protocol(args.protocol, labels)
    E0 = design.material.E
    # the protocol is linear in the elastic solutions: its weights are its response to one-hot "solutions"
    unit = {lab: np.eye(len(labels))[c] * E0 for c, lab in enumerate(labels)}
    out = {(m.label, m.time_s): m.u for m in protocol_response(prony, unit, events, source=str(args.protocol))}
    record = {
        "modulus": f"prony:{prony.name or 'inline'}",
        "E_MPa": E0,
        "assumptions": [CONSTANT_NU_NOTE, "the E parameter is one factor on material.E and the whole Prony series"],
        "extrapolation": protocol_extrapolation(prony, events),
    }
    return out, record


def _identified_design(design: Design, widths: np.ndarray, s: float) -> Design:
    """The design with the identified widths and modulus (not validated: a width may leave the printable range)."""
    m = design.material
    prony = m.prony
    if prony is not None and s != 1.0:
        prony = dataclasses.replace(prony, E_inf=prony.E_inf * s, terms=tuple((e * s, t) for e, t in prony.terms))
    return dataclasses.replace(design, widths=np.asarray(widths, dtype=float), material=Material(m.E * s, m.nu, prony))


def _figure(design: Design, w: np.ndarray, sd: np.ndarray | None, title: str, thin_offset: float = 0.0) -> Any:
    """Left: the lattice with the identified widths; right: every bond's width with its 1-sd bar."""
    from fem_mnn.viz.figure import subplots
    from fem_mnn.viz.training import draw_lattice

    fig, (a0, a1) = subplots(1, 2, figsize=(12, 4.8), gridspec_kw={"width_ratios": [1.1, 1]})
    g = design.geometry
    lo, hi = min(g.width_min, float(w.min())), max(g.width_max, float(w.max()))
    coll = draw_lattice(a0, design, w, label_bonds=True, vmin=lo, vmax=hi, legend=False)
    fig.colorbar(coll, ax=a0, label="identified width (mm)", shrink=0.8)
    a0.set_title("identified widths (bond ids in white)")
    b = np.arange(design.n_bonds)
    a1.plot(b, design.widths, "s", mfc="none", color="0.4", label="design")
    if sd is not None:
        a1.errorbar(b, w, yerr=sd, fmt="o", color="tab:blue", ms=4, capsize=2, label="identified ± 1 sd")
    else:
        a1.plot(b, w, "o", color="tab:blue", ms=4, label="identified")
    a1.axhspan(g.width_min, g.width_max, color="tab:green", alpha=0.08, label="printable range")
    # the width at which a thin end (ratio w + thin offset) reaches the smallest printable feature
    a1.axhline(
        (g.min_feature - thin_offset) / g.thin_end_ratio, color="tab:red", ls=":", lw=1, label="thin end = min_feature"
    )
    a1.set_xlabel("bond id")
    a1.set_ylabel("width (mm)")
    a1.legend(fontsize=7, loc="best")
    a1.set_title(title, fontsize=9)
    fig.tight_layout()
    return fig


def _run_identify(args: argparse.Namespace) -> int:
    from fem_mnn.fidelity.identify import (
        check_determined,
        gradient_observations,
        identify,
        no_observations,
        observations,
        parse_fit,
    )

    log = get_logger(__name__)
    if not (args.measured or args.gradients) or not args.loads:
        raise InputError(
            "needs --loads and --measured and/or --gradients (or --plan K to choose the measurements)",
            source="identify",
        )
    if args.gradients and args.protocol:
        raise InputError(
            "measured gradients are elastic (one weight each, the paper's Figure 1): drop --protocol or --gradients",
            source="--gradients",
        )
    fit = parse_fit(args.fit)
    _check_fit(fit, args.model)
    design = load_design(args.design)
    loads = ms.read_loads(args.loads)
    cases = ms.load_cases(loads, design.n_nodes, args.loads)
    for lab, F in cases.items():
        hit = [j for j in design.fixed if np.any(F[j] != 0)]
        if hit:
            raise InputError(
                "load on a fixed node (it would only be a reaction)", source=args.loads, field=lab, value=hit[0]
            )
    labels = list(cases)
    weights, modulus = _protocol_weights(args, design, labels)
    if args.measured:
        if ms.sniff(args.measured) != "displacement":
            raise InputError("identify needs a displacements CSV (load_case,node,ux,uy,...)", source=args.measured)
        records = ms.read_displacements(args.measured)
        obs = observations(design, records, labels, args.noise_sd, args.measured, protocol=weights)
    else:
        obs = no_observations(len(labels))
    grads = None
    if args.gradients:
        if ms.sniff(args.gradients) != "gradient":
            raise InputError("--gradients needs a gradients CSV (bond,grad,spread)", source=args.gradients)
        grads = gradient_observations(design, ms.read_gradients(args.gradients), labels, args.gradients)
    check_determined(design, obs, fit, args.prior_width_sd, 0 if grads is None else grads.n)
    response, model_record, comm = _response(args, design)
    rank0 = _rank(comm) == 0
    say = log.info if rank0 else (lambda _m: None)
    F = np.stack([cases[lab] for lab in labels])
    say(
        f"{obs.n} measured displacement(s)"
        + ("" if grads is None else f" and {grads.n} gradient(s)")
        + f", {len(labels)} load case(s), fit {','.join(fit)} with the {args.model} model"
        + ("" if args.prior_width_sd is None or "widths" not in fit else f", width prior sd {args.prior_width_sd} mm")
    )
    res = identify(design, obs, F, response, fit, args.prior_width_sd, progress=say, gradients=grads)
    fem_model = model_record.pop("_model", None)
    if fem_model is not None:
        model_record["n_meshes"] = fem_model.n_meshes
        model_record["n_remeshes"] = fem_model.n_remeshes
    if not rank0:
        return 0

    out = Path(args.out)
    corr = res.correlation()
    payload = _payload(args, design, fit, obs, res, corr, modulus, model_record, grads)
    fig = _figure(
        design,
        res.widths_eff,
        np.asarray(payload["widths_identified_sd"]),
        f"{args.model} model, fit {','.join(fit)}; chi2/dof {payload['chi2_per_dof']:.3g}",
        payload.get("thin_end_offset", 0.0),
    )
    out.mkdir(parents=True, exist_ok=True)
    ident = _identified_design(design, res.widths_eff, float(res.value("E")[0]) if "E" in fit else 1.0)
    from fem_mnn.design.files import save_design

    save_design(ident, out / "design_identified.json")
    atomic_savefig(fig, out / "identified_widths.png", dpi=130, bbox_inches="tight")
    atomic_write_json(out / "identified.json", payload)
    for line in _summary(payload):
        say(line)
    for f in payload["findings"]:
        log.warning(f"finding: {f}")
    say(f"wrote {out}/identified.json, design_identified.json, identified_widths.png")
    return 0


def _payload(
    args: argparse.Namespace,
    design: Design,
    fit: tuple[str, ...],
    obs: Any,
    res: Any,
    corr: np.ndarray,
    modulus: dict,
    model_record: dict,
    grads: Any = None,
) -> dict:
    g = design.geometry
    p: dict[str, Any] = {
        "command": "identify",
        "package_version": __version__,
        "design": str(args.design),
        "design_hash": design.hash(),
        "measured": str(args.measured) if args.measured else None,
        "gradients": str(args.gradients) if args.gradients else None,
        "loads": str(args.loads),
        "protocol": str(args.protocol) if args.protocol else None,
        "model": model_record.pop("model"),
        "fit": list(fit),
        "noise_sd_mm": args.noise_sd,
        "prior_width_sd_mm": args.prior_width_sd if "widths" in fit else None,
        "units": {
            "E": "MPa",
            "widths": "mm",
            "offsets": "mm",
            "residuals": "mm; z = (model - measured) / sd",
            "residuals_gradients": "mm^2",
        },
        **modulus,
    }
    p[p["model"]] = model_record
    # the effective widths w + offset and their sd through the linear map of the covariance
    L = np.zeros((design.n_bonds, len(res.names)))
    lay = {n: i for i, n in enumerate(res.names)}
    for b in range(design.n_bonds):
        if f"width[{b}]" in lay:
            L[b, lay[f"width[{b}]"]] = 1.0
        if "width-offset" in lay:
            L[b, lay["width-offset"]] = 1.0
    cov_w = L @ res.cov @ L.T if np.all(np.isfinite(res.cov)) else np.full((design.n_bonds,) * 2, np.inf)
    w_sd = np.sqrt(np.diag(cov_w))
    if "E" in fit:
        s, s_sd = float(res.value("E")[0]), float(res.sd("E")[0])
        p["E"], p["E_sd"] = s * res.E0, s_sd * res.E0
        p["E_factor"], p["E_factor_sd"] = s, s_sd
    if "widths" in fit:
        p["widths"], p["widths_sd"] = res.value("widths").tolist(), res.sd("widths").tolist()
        if args.prior_width_sd is not None:
            # how much of the prior's variance the data removed, per bond (0: the prior alone sets it)
            p["widths_data_share"] = (1 - (res.sd("widths") / args.prior_width_sd) ** 2).tolist()
    if "width-offset" in fit:
        p["width_offset"], p["width_offset_sd"] = float(res.value("width-offset")[0]), float(res.sd("width-offset")[0])
    # thin ends ratio w_eff + thin offset, and their sd through the same linear map
    Lt = g.thin_end_ratio * L
    thin_off = 0.0
    if "thin-end-offset" in fit:
        thin_off = float(res.value("thin-end-offset")[0])
        p["thin_end_offset"], p["thin_end_offset_sd"] = thin_off, float(res.sd("thin-end-offset")[0])
        Lt[:, lay["thin-end-offset"]] = 1.0
        p["thin_end_offset_note"] = (
            "added to every thin end's width only (thin end = thin_end_ratio x width + offset); "
            "design_identified.json cannot carry it (a design's thin ends are thin_end_ratio x width): it holds "
            "the identified widths and E only"
        )
    cov_t = Lt @ res.cov @ Lt.T if np.all(np.isfinite(res.cov)) else np.full((design.n_bonds,) * 2, np.inf)
    thin_sd = np.sqrt(np.diag(cov_t))
    p["widths_identified"] = res.widths_eff.tolist()
    p["widths_identified_sd"] = w_sd.tolist()
    p["thin_ends_identified"] = (g.thin_end_ratio * res.widths_eff + thin_off).tolist()
    p["thin_ends_identified_sd"] = thin_sd.tolist()
    p["parameters"] = res.names
    # JSON has no NaN: an undefined correlation (a parameter with no variance) is null
    p["correlation"] = [
        [v if math.isfinite(v) else None for v in row] for row in np.asarray(corr, dtype=float).tolist()
    ]
    p["chi2"] = res.chi2
    p["chi2_data"] = res.chi2_data
    p["chi2_prior"] = res.chi2_prior
    p["dof"] = res.dof
    p["chi2_per_dof"] = res.chi2 / res.dof if res.dof > 0 else None
    p["chi2_note"] = (
        "chi2 = sum of squared weighted residuals, data and prior rows; dof = measured numbers + prior rows - "
        "parameters (its expectation when the noise sd and the prior are right)"
    )
    p["singular_values"] = res.singular_values.tolist()
    order = np.argsort(-np.abs(res.least_determined))
    p["least_determined"] = {
        "singular_value": float(res.singular_values[-1]),
        "note": "right singular vector of the smallest singular value of the weighted data Jacobian (E as the "
        "factor on the modulus, widths and offsets in mm): the parameter combination the data determine least",
        "combination": {res.names[i]: float(res.least_determined[i]) for i in order[:8]},
    }
    p["iterations"] = res.iterations
    p["converged"] = res.converged
    p["stopped"] = res.stopped
    p["n_model_failures"] = res.n_model_failures
    p["n_model_evaluations"] = res.n_evaluations
    p["history"] = res.history
    z = res.residual
    p["residuals"] = [
        {
            "load_case": obs.labels[m],
            "time_s": None if math.isnan(obs.times[m]) else float(obs.times[m]),
            "node": int(obs.node[m]),
            "component": "xy"[obs.comp[m]],
            "measured": float(obs.value[m]),
            "predicted": float(res.predicted[m]),
            "sd": float(obs.sd[m]),
            "sd_from": obs.sd_source[m],
            "z": float(z[m]),
        }
        for m in range(obs.n)
    ]
    if grads is not None:
        p["residuals_gradients"] = [
            {
                "bond": int(grads.bond[k]),
                "measured": float(grads.value[k]),
                "predicted": float(res.predicted_gradients[k]),
                "sd": float(grads.sd[k]),
                "z": float(res.residual_gradients[k]),
            }
            for k in range(grads.n)
        ]
        p["gradients_model"] = (
            "e_i(forward) e_i(adjoint) / s^2 (mm^2): the bond elongations of the model under the loads file's "
            "'forward' and 'adjoint' cases, in the same fit as the displacements"
        )
    findings = []
    thin = np.asarray(p["thin_ends_identified"])
    for b in map(int, np.nonzero(thin < g.min_feature)[0]):
        findings.append(
            f"bond {b}: identified thin end {thin[b]:.3f} ± {thin_sd[b]:.3f} mm is below min_feature "
            f"{g.min_feature:g} mm"
        )
    outside = np.nonzero((res.widths_eff < g.width_min) | (res.widths_eff > g.width_max))[0]
    if outside.size:
        findings.append(
            f"{outside.size} identified width(s) outside the printable range [{g.width_min:g}, {g.width_max:g}] mm "
            f"(bonds {', '.join(map(str, outside[:10]))}): design_identified.json keeps them, so it may not load as a "
            "design"
        )
    n = len(res.names)
    for i in range(n):
        for j in range(i + 1, n):
            if np.isfinite(corr[i, j]) and abs(corr[i, j]) > 0.95:
                findings.append(
                    f"{res.names[i]} and {res.names[j]} are correlated {corr[i, j]:+.3f}: the data determine a "
                    "combination, not both"
                )
    if not np.all(np.isfinite(res.cov)):
        findings.append("a parameter combination is not determined at all (zero singular value): see least_determined")
    if not res.converged:
        findings.append(f"Levenberg-Marquardt did not converge in {res.iterations} iterations")
    p["findings"] = findings
    return p


def _summary(p: dict) -> list[str]:
    out = []
    if "E" in p:
        out.append(f"E = {p['E']:.5g} ± {p['E_sd']:.2g} MPa")
    if "width_offset" in p:
        out.append(f"width offset = {p['width_offset']:+.4f} ± {p['width_offset_sd']:.2g} mm")
    if "thin_end_offset" in p:
        out.append(f"thin-end offset = {p['thin_end_offset']:+.4f} ± {p['thin_end_offset_sd']:.2g} mm")
    if "widths" in p:
        sd = np.asarray(p["widths_sd"])
        out.append(
            f"widths: median sd {np.median(sd):.3g} mm, {int(np.sum(sd <= 0.05))} of {sd.size} bonds with sd <= 0.05 mm"
        )
    dof = p["dof"]
    out.append(f"chi2 {p['chi2']:.4g} on {dof} dof" + (f" ({p['chi2_per_dof']:.3g} per dof)" if dof > 0 else ""))
    return out


# ----------------------------------------------------------------------------- plan


def _run_plan(args: argparse.Namespace) -> int:
    from fem_mnn.fidelity.identify import parse_fit, plan

    log = get_logger(__name__)
    if args.measured:
        raise InputError("--plan chooses measurements before any are made: drop --measured", source="--plan")
    if args.noise_sd is None:
        raise InputError("--plan needs --noise-sd (the sd of a measured displacement, mm)", source="--plan")
    if args.protocol:
        raise InputError("--plan works on elastic load cases: drop --protocol", source="--plan")
    fit = parse_fit(args.fit)
    _check_fit(fit, args.model)
    design = load_design(args.design)
    free = [n for n in range(design.n_nodes) if n not in set(design.fixed)]
    force = args.mass * G_N_PER_G
    cand, names = [], []
    for n in free:
        for direction, vec in (("down", (0.0, -force)), ("sideways", (force, 0.0))):
            F = np.zeros((design.n_nodes, 2))
            F[n] = vec
            cand.append(F)
            names.append((n, direction))
    dofs = np.array([(n, c) for n in free for c in (0, 1)], dtype=np.int64)
    response, model_record, comm = _response(args, design)
    model_record.pop("_model", None)
    prior = args.prior_width_sd if "widths" in fit else None
    pl = plan(design, np.stack(cand), dofs, response, fit, args.noise_sd, prior, args.plan)
    if _rank(comm) != 0:
        return 0
    out = Path(args.out)
    rows, table = [], []
    table.append(f"{'step':>4}  {'what to do':<44} {'median width sd (mm)':>20} {'bonds sd<=0.05':>15}")
    sd0 = pl.width_sd[0]
    if sd0.size:
        table.append(f"{0:>4}  {'(prior only)':<44} {np.median(sd0):>20.4f} {int(np.sum(sd0 <= 0.05)):>15d}")
    loads = []
    photo = ", ".join(map(str, free))
    for i, c in enumerate(pl.chosen, start=1):
        node, direction = names[c]
        lab = f"plan{i:02d}_n{node}_{direction}"
        loads.append(ms.Load(lab, node, float(cand[c][node, 0]), float(cand[c][node, 1])))
        sd = pl.width_sd[i]
        what = f"hang {args.mass:g} g at node {node} ({direction})"
        table.append(
            f"{i:>4}  {what:<44} {np.median(sd) if sd.size else math.nan:>20.4f} "
            f"{int(np.sum(sd <= 0.05)) if sd.size else 0:>15d}"
        )
        rows.append(
            {
                "step": i,
                "load_case": lab,
                "node": node,
                "direction": direction,
                "mass_g": args.mass,
                "force_N": [float(cand[c][node, 0]), float(cand[c][node, 1])],
                "logdet_information": pl.logdet[i],
                "width_sd": sd.tolist(),
                "median_width_sd": float(np.median(sd)) if sd.size else None,
            }
        )
    payload = {
        "command": "identify --plan",
        "package_version": __version__,
        "design": str(args.design),
        "design_hash": design.hash(),
        "model": model_record.pop("model"),
        "fit": list(fit),
        "noise_sd_mm": args.noise_sd,
        "prior_width_sd_mm": prior,
        "mass_g": args.mass,
        "candidates": f"{len(cand)}: each of the {len(free)} free nodes, down and sideways (+x), {args.mass:g} g",
        "measured_in_every_case": "both components of every free node: " + photo,
        "criterion": "greedy D-optimal: each step adds the case that most increases log det of the posterior "
        "information (prior + sum J^T J / noise_sd^2) at the design",
        "vague_prior_for_ranking": pl.vague,
        "logdet_information_before": pl.logdet[0],
        "steps": rows,
        "bench_table": table,
    }
    out.mkdir(parents=True, exist_ok=True)
    comment = (
        f"fem-mnn {__version__} identify --plan {args.plan}: {len(rows)} load cases chosen greedily (D-optimal) for "
        f"fitting {','.join(fit)} with {args.model} springs/FE, noise sd {args.noise_sd} mm\n"
        f"in every case photograph nodes {photo} (both components)"
    )
    ms.write_loads(out / "plan_loads.csv", loads, comment)
    atomic_write_json(out / "plan.json", payload)
    text = "\n".join([f"In every case photograph nodes {photo} (x and y).", *table]) + "\n"
    atomic_write_text(out / "plan.txt", text)
    print(text, end="")
    log.info(f"wrote {out}/plan_loads.csv, plan.json, plan.txt")
    return 0


def _run(args: argparse.Namespace) -> int:
    return _run_plan(args) if args.plan is not None else _run_identify(args)


def register(sub: argparse._SubParsersAction) -> None:
    """Add this command's parser to ``fem-mnn``'s sub-commands."""
    p = sub.add_parser(
        "identify",
        help="what was printed: fit E, widths, a width or thin-end offset to measured displacements and gradients "
        "(or plan the measurements)",
        description="Weighted least squares of the design's modulus, widths and/or a common width or thin-end offset "
        "on measured node displacements (CSV spreads, else --noise-sd) and per-bond gradients (--gradients), with a Gaussian prior on the widths around the design's; "
        "Levenberg-Marquardt with exact Jacobians (springs: analytic; FE: shape derivatives). Writes "
        "DIR/identified.json (values, sd, correlation, chi2, singular values, residuals, findings), "
        "DIR/design_identified.json and DIR/identified_widths.png. With --plan K (no --measured): the K load cases "
        "that most shrink the posterior (greedy D-optimal), as a loads CSV and a bench table.",
    )
    p.add_argument("design", metavar="DESIGN", help="design JSON file")
    p.add_argument("--measured", metavar="D.csv", help="measured displacements (CSV: load_case,node,ux,uy,...)")
    p.add_argument("--loads", metavar="L.csv", help="the load cases of the measurement (CSV: load_case,node,fx,fy)")
    p.add_argument(
        "--gradients",
        metavar="G.csv",
        help="measured per-bond in situ gradients e e_adj (CSV: bond,grad,spread; mm^2, spreads required), "
        "e.g. the paper's Figure 1: fitted with the displacements; the loads file names the cases 'forward' and "
        "'adjoint'",
    )
    p.add_argument(
        "--protocol",
        metavar="P.csv",
        help="load protocol (needs material.prony): measurements are matched by (load_case label, time_s)",
    )
    p.add_argument(
        "--fit",
        required=True,
        metavar="PARAMS",
        help="comma list of E (one factor on the modulus and any Prony series), widths (one per bond), "
        "width-offset (added to every width), thin-end-offset (added to every thin end's width only; "
        "--model fem: the mesh morphs the thin ends; refused for springs, which have no thin ends)",
    )
    p.add_argument("--model", choices=("spring", "fem"), default="spring", help="spring network (default) or FE")
    p.add_argument(
        "--noise-sd",
        type=positive_float,
        metavar="MM",
        help="sd of a measured component without a spread in the CSV (mm); required by --plan",
    )
    p.add_argument(
        "--prior-width-sd",
        type=_prior,
        default=DEFAULT_PRIOR_WIDTH_SD,
        metavar="MM|none",
        help=f"sd of the Gaussian prior on each width around the design's (mm; default {DEFAULT_PRIOR_WIDTH_SD}); "
        "'none' for no prior",
    )
    p.add_argument("--plan", type=natural, metavar="K", help="choose K load cases to measure (no --measured)")
    p.add_argument(
        "--mass", type=positive_float, default=10.0, metavar="G", help="--plan: hanging mass (g, default 10)"
    )
    p.add_argument("--out", metavar="DIR", required=True, help="output folder")
    fe = p.add_argument_group("FE options (--model fem; the same as fem gradient's)")
    add_memory_argument(fe)
    add_fem_arguments(fe)
    p.set_defaults(func=_run)
