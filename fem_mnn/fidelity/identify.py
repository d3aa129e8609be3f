"""What was printed: weighted least squares of a lattice's parameters on measured node displacements.

The numerics of ``fem-mnn identify`` (no DOLFINx here: the FE model enters as a
:data:`ResponseFn` built on the engine side, :func:`fem_mnn.fem.shape.output_jacobian`).

**Model.** Every measured number is one displacement component of one node, in one load
case (or, along a load protocol, one superposition of load cases). With ``U[c, d]`` the
model's displacement of output dof ``d = (node, component)`` in load case ``c`` at the
design's modulus ``E0`` and the effective widths ``w_eff``, a measurement ``m`` is

    y_m = (1 / s) sum_c A[m, c] U[c, d_m](w_eff),

with ``A`` the one-hot of the measured case (no protocol) or the Boltzmann weights
``E0 J(t_m - t_event)`` of the protocol (unit-modulus solutions times the creep
compliance). ``s`` is the modulus factor (the ``E`` parameter: the design's E and, for a
Prony material, the whole series times ``s``): in a linear model of one homogeneous
material the displacements scale exactly with 1/s, so dy/ds = -y/s.

**Parameters** (``fit``): ``E`` (the factor s; reported as E = s E0), ``widths`` (one per
bond), ``width-offset`` (delta added to every width), ``thin-end-offset`` (delta_t added to
every thin end's width only: thin ends ``thin_end_ratio * w_eff + delta_t``). ``w_eff = (w if
widths are fitted else w_design) + delta``. Only a response that carries thin ends apart from
the widths can fit delta_t: the FE model on a morphing mesh (:func:`fem_mnn.fem.shape.output_response`,
whose ``thin_offset`` argument moves the thin ends and adds dU/d delta_t as a last Jacobian
column); the spring law k = E t w / L has no thin ends and is refused.

**Objective.** r = [(y - data) / sigma ; (w - w_design) / prior_sd] (the prior only on the
fitted widths, none with ``prior_sd=None``); the one Levenberg-Marquardt of
:mod:`fem_mnn.fidelity.lsq` (shared with the study's calibration) on the exact Jacobian of the
response, steps that would make a width or s non-positive rejected (the bounds are physical
only: a width below the printable range is a finding). It stops when the last step is below
1e-6 of every parameter's posterior sd (a change no measurement can see) or the cost no
longer decreases.

**Uncertainty.** The covariance is (J^T J)^-1 of the weighted, prior-augmented Jacobian at the
optimum (the Laplace approximation; exact for a linear model with Gaussian noise); chi2
is the whole objective ||r||^2 and dof = n_measured + n_prior - n_parameters, its
expectation when the noise and the prior are right.

**Plan.** :func:`plan` picks K load cases from candidates greedily by D-optimality (each
step the case that most increases log det of the posterior information), on the same
Jacobians at the design.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from fem_mnn.contract import SpringLaw, nominal_stiffness
from fem_mnn.core.errors import InputError
from fem_mnn.design.records import Design
from fem_mnn.fidelity.lsq import covariance, levenberg_marquardt
from fem_mnn.spring.network import SpringModel

__all__ = [
    "FIT_PARAMETERS",
    "GradientObservations",
    "Identification",
    "Observations",
    "Plan",
    "ResponseFn",
    "check_determined",
    "gradient_observations",
    "identify",
    "no_observations",
    "observations",
    "parse_fit",
    "plan",
    "require_thin_ends",
    "spring_response",
]

#: The parameters ``--fit`` knows, in the order of the parameter vector.
FIT_PARAMETERS = ("E", "widths", "width-offset", "thin-end-offset")

#: A response: (widths (n_bonds,), loads (n_cases, n_nodes, 2), dofs (n_dofs, 2) of (node,
#: component), jacobian) -> (U (n_cases, n_dofs) at the design's E, dU/dw (n_cases, n_dofs,
#: n_bonds) or None). A model with thin ends also takes ``thin_offset=`` (mm) and then returns one more
#: Jacobian column, d/d(thin-end offset): hence ``...`` for the arguments.
ResponseFn = Callable[..., tuple[np.ndarray, np.ndarray | None]]

#: Stop when every parameter moved by less than this fraction of its posterior sd.
STEP_IN_SD = 1e-6
#: Iterations of Levenberg-Marquardt before giving up (reported as not converged).
MAX_ITER = 60


def parse_fit(text: str, source: str = "--fit") -> tuple[str, ...]:
    """``"E,widths"`` -> ``("E", "widths")`` in :data:`FIT_PARAMETERS` order (refuses unknown or repeated)."""
    names = [p.strip() for p in str(text).split(",")]
    for p in names:
        if p not in FIT_PARAMETERS:
            raise InputError(f"unknown parameter (known: {', '.join(FIT_PARAMETERS)})", source=source, value=p)
    if len(set(names)) != len(names):
        raise InputError("a parameter is listed twice", source=source, value=text)
    return tuple(p for p in FIT_PARAMETERS if p in names)


# ----------------------------------------------------------------------------- data


@dataclass(frozen=True)
class Observations:
    """The measured numbers, flattened.

    Attributes:
        labels: (n_obs,) load case (or measure label) of each number.
        times: (n_obs,) time (s) of each number (NaN without a protocol).
        node: (n_obs,) node id.
        comp: (n_obs,) 0 = x, 1 = y.
        value: (n_obs,) measured displacement (mm).
        sd: (n_obs,) its standard deviation (mm): the CSV spread, else the noise sd.
        sd_source: (n_obs,) ``"spread"`` or ``"noise-sd"``.
        mix: (n_obs, n_cases) A: the weight of each load case's elastic solution (at the
            design's E) in each number.
    """

    labels: tuple[str, ...]
    times: np.ndarray
    node: np.ndarray
    comp: np.ndarray
    value: np.ndarray
    sd: np.ndarray
    sd_source: tuple[str, ...]
    mix: np.ndarray

    @property
    def n(self) -> int:
        return int(self.value.size)

    def dofs(self) -> tuple[np.ndarray, np.ndarray]:
        """(unique (node, comp) pairs (n_dofs, 2), index of each number's pair (n_obs,))."""
        pairs = np.stack([self.node, self.comp], axis=1)
        uniq, inv = np.unique(pairs, axis=0, return_inverse=True)
        return uniq.astype(np.int64), np.asarray(inv).ravel()


def observations(
    design: Design,
    records: Sequence[Any],
    case_labels: Sequence[str],
    noise_sd: float | None,
    source: str,
    protocol: Any = None,
) -> Observations:
    """Flatten displacement records into :class:`Observations`, refusing what the model cannot match.

    Args:
        design: The lattice.
        records: :class:`fem_mnn.io.measured.Displacement` rows.
        case_labels: The load cases of the loads file, in order.
        noise_sd: sd (mm) of components without a spread (None: every one needs a spread).
        source: The measured CSV (for messages).
        protocol: None, or ``(events, weights)``: the protocol's events and, per measure label
            and time, the (n_cases,) weights of the unit-modulus solutions times E0.

    Raises:
        InputError: unknown node, fixed node, unknown load case (or measure label), a time
            without a protocol, no sd for a component, a zero spread.
    """
    fixed = set(design.fixed)
    idx = {lab: c for c, lab in enumerate(case_labels)}
    labels, times, nodes, comps, vals, sds, srcs, mix = [], [], [], [], [], [], [], []
    for r, rec in enumerate(records):
        where = f"record {r} (load case {rec.load_case}, node {rec.node})"
        if rec.node >= design.n_nodes:
            raise InputError(
                f"unknown node id (nodes are 0..{design.n_nodes - 1})", source=source, field=where, value=rec.node
            )
        if rec.node in fixed:
            raise InputError(
                "measurement at a fixed node (it does not move in the model)",
                source=source,
                field=where,
                value=rec.node,
            )
        if protocol is None:
            if not math.isnan(rec.time_s):
                raise InputError(
                    "a measurement time needs --protocol (the load history)",
                    source=source,
                    field=where,
                    value=rec.time_s,
                )
            if rec.load_case not in idx:
                raise InputError(
                    f"load case not in the loads file (it has {', '.join(case_labels)})",
                    source=source,
                    field=where,
                    value=rec.load_case,
                )
            a = np.zeros(len(case_labels))
            a[idx[rec.load_case]] = 1.0
        else:
            key = (rec.load_case, None if math.isnan(rec.time_s) else float(rec.time_s))
            weights = protocol.get(key)
            if weights is None:
                raise InputError(
                    "no measure event of the protocol has this label and time",
                    source=source,
                    field=where,
                    value=f"{rec.load_case} at {rec.time_s} s",
                )
            a = np.asarray(weights, dtype=float)
        for comp, (v, sp) in enumerate(((rec.ux, rec.spread_ux), (rec.uy, rec.spread_uy))):
            if math.isnan(v):
                continue
            if not math.isnan(sp):
                if sp <= 0:
                    raise InputError(
                        "a spread of 0 would give the number infinite weight", source=source, field=where, value=sp
                    )
                sd, how = sp, "spread"
            elif noise_sd is not None:
                sd, how = noise_sd, "noise-sd"
            else:
                raise InputError(
                    f"no spread for u{'xy'[comp]} and no --noise-sd",
                    source=source,
                    field=where,
                    value=None,
                    has_value=False,
                )
            labels.append(rec.load_case)
            times.append(rec.time_s)
            nodes.append(rec.node)
            comps.append(comp)
            vals.append(v)
            sds.append(sd)
            srcs.append(how)
            mix.append(a)
    if not vals:
        raise InputError("no measured displacement component", source=source)
    return Observations(
        labels=tuple(labels),
        times=np.array(times, dtype=float),
        node=np.array(nodes, dtype=np.int64),
        comp=np.array(comps, dtype=np.int64),
        value=np.array(vals, dtype=float),
        sd=np.array(sds, dtype=float),
        sd_source=tuple(srcs),
        mix=np.array(mix, dtype=float),
    )


# ----------------------------------------------------------------------------- models


def spring_response(design: Design, law: SpringLaw = nominal_stiffness) -> ResponseFn:
    """The spring network's response and its exact Jacobian dU/dw (one factorisation per call).

    For an output y = s^T u (s the unit vector of a node's component) and K u = f with
    K = C^T diag(k) C: dy/dk_i = -(C K^-1 s)_i (C u)_i = -a_i e_i, so one adjoint solve per
    output dof (shared by every load case) and the forward solves give every entry; then
    dy/dw_i = dy/dk_i dk_i/dw_i.
    """
    model = SpringModel(design, law)

    def response(
        widths: np.ndarray, loads: np.ndarray, dofs: np.ndarray, jacobian: bool
    ) -> tuple[np.ndarray, np.ndarray | None]:
        op = model.operator(widths)
        fwd = op.solve(loads)
        U = fwd.u[:, dofs[:, 0], dofs[:, 1]]
        if not jacobian:
            return U, None
        unit = np.zeros((len(dofs), design.n_nodes, 2))
        unit[np.arange(len(dofs)), dofs[:, 0], dofs[:, 1]] = 1.0
        a = op.solve(unit).elongation  # (n_dofs, n_bonds)
        dU = -np.einsum("di,ci->cdi", a, fwd.elongation) * op.dk_dw
        return U, dU

    return response


# ----------------------------------------------------------------------------- the fit


def check_determined(
    design: Design, obs: Observations, fit: Sequence[str], prior_sd: float | None, n_gradients: int = 0
) -> None:
    """Refuse a fit the data cannot determine: more parameters than measured numbers and no width prior."""
    fit = parse_fit(",".join(fit))
    n = _Layout(fit, design.n_bonds).n
    n_data = obs.n + int(n_gradients)
    if n > n_data and (prior_sd is None or "widths" not in fit):
        raise InputError(
            f"{n} parameters but only {n_data} measured numbers and no width prior: the fit is not determined "
            "(measure more, fit fewer parameters, or give --prior-width-sd)",
            source="--fit",
            value=",".join(fit),
        )


def require_thin_ends(response: ResponseFn, fit: Sequence[str], source: str = "--fit") -> None:
    """Refuse ``thin-end-offset`` with a response that has no thin ends apart from the widths (springs)."""
    if "thin-end-offset" in fit and not getattr(response, "thin_end_offset", False):
        raise InputError(
            "this model has no thin ends separate from the widths (the spring law k = E t w / L has no thin ends; "
            "the FE model needs a morphing mesh)",
            source=source,
            value="thin-end-offset",
        )


@dataclass
class _Layout:
    """Where each fitted parameter sits in the parameter vector."""

    fit: tuple[str, ...]
    n_bonds: int
    slices: dict[str, slice] = field(default_factory=dict)
    names: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        i = 0
        for p in self.fit:
            n = self.n_bonds if p == "widths" else 1
            self.slices[p] = slice(i, i + n)
            self.names += [f"width[{b}]" for b in range(n)] if p == "widths" else [p]
            i += n
        self.n = i


@dataclass(frozen=True)
class Identification:
    """The fitted parameters, their covariance and the fit's diagnostics."""

    fit: tuple[str, ...]
    names: list[str]
    theta: np.ndarray
    """The parameter vector (E as the factor s)."""
    cov: np.ndarray
    """Covariance of ``theta``."""
    E0: float
    widths_eff: np.ndarray
    """Effective widths (mm) of the identified lattice: fitted or design widths plus the offset."""
    predicted: np.ndarray
    """(n_obs,) the model's values at the optimum (mm)."""
    residual: np.ndarray
    """(n_obs,) data residuals (model - measured) / sd."""
    chi2: float
    chi2_data: float
    chi2_prior: float
    dof: int
    singular_values: np.ndarray
    """Of the weighted data Jacobian (without the prior rows), largest first."""
    least_determined: np.ndarray
    """Right singular vector of the smallest singular value (over ``names``)."""
    iterations: int
    converged: bool
    n_evaluations: int
    history: list[dict]
    predicted_gradients: np.ndarray | None = None
    """(n_gradients,) the model's e e_adj at the optimum (mm^2), when gradients were fitted."""
    residual_gradients: np.ndarray | None = None
    """(n_gradients,) their residuals (model - measured) / sd."""
    stopped: str = ""
    """Why the solver stopped (:attr:`fem_mnn.fidelity.lsq.LsqResult.stopped`)."""
    n_model_failures: int = 0
    """Trial steps the model could not evaluate (rejected by the solver)."""

    def value(self, p: str) -> np.ndarray:
        sl = _Layout(self.fit, self.widths_eff.size).slices[p]
        return self.theta[sl]

    def sd(self, p: str) -> np.ndarray:
        sl = _Layout(self.fit, self.widths_eff.size).slices[p]
        return np.sqrt(np.diag(self.cov)[sl])

    def correlation(self) -> np.ndarray:
        d = np.sqrt(np.diag(self.cov))
        with np.errstate(invalid="ignore", divide="ignore"):
            return self.cov / np.outer(d, d)


@dataclass(frozen=True)
class GradientObservations:
    """Measured per-bond in situ gradients g_i = e_i(forward) e_i(adjoint) (mm^2), Figure 1's kind of data.

    Attributes:
        bond: (n,) bond ids.
        value: (n,) measured e e_adj (mm^2).
        sd: (n,) their sd (mm^2, the CSV spreads).
        forward, adjoint: The load cases (columns of the loads array) of the two measurements.
    """

    bond: np.ndarray
    value: np.ndarray
    sd: np.ndarray
    forward: int
    adjoint: int

    @property
    def n(self) -> int:
        return int(self.value.size)


def gradient_observations(
    design: Design, records: Sequence[Any], case_labels: Sequence[str], source: str
) -> GradientObservations:
    """Measured gradients (:class:`fem_mnn.io.measured.Gradient` rows) as :class:`GradientObservations`.

    The loads file must name the two cases ``forward`` and ``adjoint`` (the gradients CSV's
    convention); every row needs a spread > 0 (mm^2: ``--noise-sd`` is a displacement's sd and
    does not apply to a product of two displacements).

    Raises:
        InputError: an unknown bond, a missing or zero spread, no ``forward``/``adjoint`` case, no row.
    """
    for lab in ("forward", "adjoint"):
        if lab not in case_labels:
            raise InputError(
                f"gradients need the load cases 'forward' and 'adjoint' in the loads file (it has "
                f"{', '.join(case_labels)})",
                source=source,
                value=lab,
            )
    bonds, vals, sds = [], [], []
    for r, rec in enumerate(records):
        where = f"record {r} (bond {rec.bond})"
        if rec.bond >= design.n_bonds:
            raise InputError(
                f"unknown bond id (bonds are 0..{design.n_bonds - 1})", source=source, field=where, value=rec.bond
            )
        if math.isnan(rec.spread) or rec.spread <= 0:
            raise InputError(
                "a measured gradient needs a spread > 0 (mm^2; --noise-sd is for displacements)",
                source=source,
                field=where,
                value=rec.spread,
            )
        bonds.append(rec.bond)
        vals.append(rec.grad)
        sds.append(rec.spread)
    if not vals:
        raise InputError("no measured gradient", source=source)
    labels = list(case_labels)
    return GradientObservations(
        bond=np.array(bonds, dtype=np.int64),
        value=np.array(vals, dtype=float),
        sd=np.array(sds, dtype=float),
        forward=labels.index("forward"),
        adjoint=labels.index("adjoint"),
    )


def no_observations(n_cases: int) -> Observations:
    """No measured displacement (a fit on gradients only)."""
    z = np.zeros(0)
    return Observations((), z, z.astype(np.int64), z.astype(np.int64), z, z, (), np.zeros((0, n_cases)))


class _Problem:
    """Residuals and Jacobian of the weighted, prior-augmented least squares.

    Rows: the measured displacements, then the measured gradients (if any), then the prior.
    """

    def __init__(
        self,
        design: Design,
        obs: Observations,
        loads: np.ndarray,
        response: ResponseFn,
        fit: tuple[str, ...],
        prior_sd: float | None,
        grads: GradientObservations | None = None,
    ) -> None:
        self.design, self.obs, self.loads, self.response = design, obs, loads, response
        self.grads = grads
        self.lay = _Layout(fit, design.n_bonds)
        self.w0 = np.asarray(design.widths, dtype=float)
        self.prior_sd = prior_sd if "widths" in fit else None
        dofs, self.dof_of_obs = obs.dofs()
        if grads is not None:
            # e e_adj needs every free node's displacement: the measured dofs first, then the rest
            fixed = set(int(n) for n in design.fixed)
            every = [(n, c) for n in range(design.n_nodes) if n not in fixed for c in (0, 1)]
            have = {tuple(x) for x in dofs.tolist()}
            extra = np.array([x for x in every if x not in have], dtype=np.int64).reshape(-1, 2)
            dofs = np.concatenate([dofs.reshape(-1, 2), extra])
        self.dofs = dofs
        self.n_evaluations = 0

    @property
    def n_data(self) -> int:
        return self.obs.n + (0 if self.grads is None else self.grads.n)

    def start(self) -> np.ndarray:
        th = np.zeros(self.lay.n)
        for p, sl in self.lay.slices.items():
            th[sl] = 1.0 if p == "E" else (self.w0 if p == "widths" else 0.0)
        return th

    def split(self, th: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
        """(s, w (fitted or design), w_eff)."""
        sl = self.lay.slices
        s = float(th[sl["E"]][0]) if "E" in sl else 1.0
        w = th[sl["widths"]] if "widths" in sl else self.w0
        off = float(th[sl["width-offset"]][0]) if "width-offset" in sl else 0.0
        return s, w, w + off

    def thin(self, th: np.ndarray) -> float | None:
        """The thin-end offset (None when not fitted: the response is then called without one)."""
        sl = self.lay.slices.get("thin-end-offset")
        return None if sl is None else float(th[sl][0])

    def feasible(self, th: np.ndarray) -> bool:
        s, _, w_eff = self.split(th)
        t = self.thin(th)
        thin_ok = t is None or bool(np.all(self.design.geometry.thin_end_ratio * w_eff + t > 0))
        return s > 0 and bool(np.all(w_eff > 0)) and thin_ok

    @property
    def n_prior(self) -> int:
        return self.design.n_bonds if self.prior_sd is not None else 0

    def evaluate(self, th: np.ndarray, jacobian: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """(predicted data (n_obs [+ n_gradients],), r (data + prior rows), J or None)."""
        from fem_mnn.fidelity.forecast import bond_products

        s, w, w_eff = self.split(th)
        t = self.thin(th)
        if t is None:
            U, dU = self.response(w_eff, self.loads, self.dofs, jacobian)
        else:
            U, dU = self.response(w_eff, self.loads, self.dofs, jacobian, thin_offset=t)
        self.n_evaluations += 1
        o = self.obs
        d = self.dof_of_obs
        # displacements: y_m = (1/s) sum_c A[m, c] U[c, d_m]; gradients: g_b = e_b e_adj,b / s^2
        y = np.einsum("mc,cm->m", o.mix, U[:, d]) / s
        ys, sds, powers = [y], [o.sd], [np.ones(o.n)]
        g = dg0 = None
        if self.grads is not None:
            gr = self.grads
            g0, dg0 = bond_products(self.design, self.dofs, U, dU, gr.forward, gr.adjoint)
            g = g0[gr.bond] / s**2
            ys.append(g)
            sds.append(gr.sd)
            powers.append(np.full(gr.n, 2.0))
            values = np.concatenate([o.value, gr.value])
        else:
            values = o.value
        pred = np.concatenate(ys)
        sd = np.concatenate(sds)
        blocks = [(pred - values) / sd]
        if self.prior_sd is not None:
            blocks.append((w - self.w0) / self.prior_sd)
        r = np.concatenate(blocks)
        if not jacobian:
            return pred, r, None
        assert dU is not None
        nd, nb = self.n_data, self.design.n_bonds
        J = np.zeros((r.size, self.lay.n))
        # d(data)/d(effective widths [, thin-end offset]) at this s
        parts = [np.einsum("mc,cmb->mb", o.mix, dU[:, d, :]) / s]  # (n_obs, n_bonds [+ 1: thin end])
        if self.grads is not None:
            assert dg0 is not None
            parts.append(dg0[self.grads.bond] / s**2)
        dy_all = np.concatenate(parts)
        dy_dw = dy_all[:, :nb]
        sl = self.lay.slices
        wt = 1.0 / sd[:, None]
        if "E" in sl:
            J[:nd, sl["E"]] = (-np.concatenate(powers) * pred / s)[:, None] * wt
        if "widths" in sl:
            J[:nd, sl["widths"]] = dy_dw * wt
            if self.prior_sd is not None:
                J[nd:, sl["widths"]] = np.eye(nb) / self.prior_sd
        if "width-offset" in sl:
            J[:nd, sl["width-offset"]] = dy_dw.sum(1, keepdims=True) * wt
        if "thin-end-offset" in sl:
            J[:nd, sl["thin-end-offset"]] = dy_all[:, nb:] * wt
        return pred, r, J


def identify(
    design: Design,
    obs: Observations,
    loads: np.ndarray,
    response: ResponseFn,
    fit: Sequence[str],
    prior_sd: float | None,
    progress: Callable[[str], None] | None = None,
    gradients: GradientObservations | None = None,
) -> Identification:
    """Weighted least squares with a Gaussian width prior, by Levenberg-Marquardt (exact Jacobians).

    Args:
        design: The designed lattice (the prior's centre and the starting point).
        obs: The measured displacements (:func:`no_observations` for none).
        loads: (n_cases, n_nodes, 2) the load cases of ``obs.mix``'s columns (N).
        response: The model (:func:`spring_response` or the FE one).
        fit: Parameter names (:func:`parse_fit`).
        prior_sd: sd (mm) of the Gaussian prior on each width around the design's, or None.
        progress: Called with one line per iteration.
        gradients: Measured per-bond gradients e e_adj (Figure 1's kind), fitted with the
            displacements: g = e(forward) e(adjoint) / s^2 from the same response, its exact
            Jacobian by the chain rule (:func:`fem_mnn.fidelity.forecast.bond_products`).

    Raises:
        InputError: more parameters than measured numbers without a prior.
    """
    fit = parse_fit(",".join(fit))
    pb = _Problem(design, obs, loads, response, fit, prior_sd, gradients)
    check_determined(design, obs, fit, prior_sd, 0 if gradients is None else gradients.n)
    require_thin_ends(response, fit)

    def evaluate(th: np.ndarray, jac: bool) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:
        y, r, J = pb.evaluate(th, jac)
        return r, J, y

    sol = levenberg_marquardt(
        evaluate, pb.start(), feasible=pb.feasible, step_in_sd=STEP_IN_SD, max_iter=MAX_ITER, progress=progress
    )
    th, r, J, y, cost = sol.theta, sol.r, sol.J, sol.aux, sol.cost
    cov = covariance(J)
    s, _, w_eff = pb.split(th)
    nd = pb.n_data
    Jd = J[:nd]
    _, S, Vt = np.linalg.svd(Jd, full_matrices=False)
    if S.size < pb.lay.n:  # fewer data rows than parameters: the data leave a null space
        _, _, Vfull = np.linalg.svd(Jd, full_matrices=True)
        least = Vfull[-1]
        S = np.concatenate([S, np.zeros(pb.lay.n - S.size)])
    else:
        least = Vt[-1]
    chi2_data = float(r[:nd] @ r[:nd])
    return Identification(
        fit=fit,
        names=list(pb.lay.names),
        theta=th,
        cov=cov,
        E0=float(design.material.E),
        widths_eff=w_eff,
        predicted=y[: obs.n],
        residual=r[: obs.n],
        chi2=cost,
        chi2_data=chi2_data,
        chi2_prior=cost - chi2_data,
        dof=int(nd + pb.n_prior - pb.lay.n),
        singular_values=S,
        least_determined=least * np.sign(least[np.argmax(np.abs(least))]),
        iterations=sol.iterations,
        converged=sol.converged,
        n_evaluations=sol.n_evaluations,
        history=sol.history,
        predicted_gradients=None if gradients is None else y[obs.n : nd],
        residual_gradients=None if gradients is None else r[obs.n : nd],
        stopped=sol.stopped,
        n_model_failures=sol.n_model_failures,
    )


# ----------------------------------------------------------------------------- plan


@dataclass(frozen=True)
class Plan:
    """The chosen load cases, in order, and what each adds."""

    chosen: list[int]
    """Indices into the candidates."""
    logdet: list[float]
    """log det of the posterior information after each chosen case (first entry: before any)."""
    width_sd: list[np.ndarray]
    """Posterior sd of every width (effective widths' parameters) after each chosen case."""
    names: list[str]
    vague: dict[str, float]
    """Parameters without a prior and the sd of the vague prior used for the ranking only."""


def plan(
    design: Design,
    candidates: np.ndarray,
    dofs: np.ndarray,
    response: ResponseFn,
    fit: Sequence[str],
    noise_sd: float,
    prior_sd: float | None,
    k: int,
) -> Plan:
    """Greedy D-optimal choice of ``k`` load cases among ``candidates`` (n_cand, n_nodes, 2).

    Each candidate case measures every dof of ``dofs`` with sd ``noise_sd``. The information of a
    set of cases is P + sum_c J_c^T J_c / noise_sd^2, P the prior's; the greedy step adds the case
    that most increases its log det (equivalently shrinks the posterior volume most). Parameters
    without a prior (E, offsets, widths with ``prior_sd=None``) get a vague one for the ranking
    only: sd 1 (the factor s), 1 mm (offsets and widths), so the first cases are not ranked by
    an infinite volume; it is reported.
    """
    fit = parse_fit(",".join(fit))
    require_thin_ends(response, fit)
    lay = _Layout(fit, design.n_bonds)
    w0 = np.asarray(design.widths, dtype=float)
    if "thin-end-offset" in fit:
        U, dU_all = response(w0, candidates, dofs, True, thin_offset=0.0)
    else:
        U, dU_all = response(w0, candidates, dofs, True)
    assert dU_all is not None
    dU = dU_all[..., : design.n_bonds]
    nc = candidates.shape[0]
    Js = np.zeros((nc, len(dofs), lay.n))
    sl = lay.slices
    if "E" in sl:
        Js[:, :, sl["E"]] = -U[:, :, None]
    if "widths" in sl:
        Js[:, :, sl["widths"]] = dU
    if "width-offset" in sl:
        Js[:, :, sl["width-offset"]] = dU.sum(2, keepdims=True)
    if "thin-end-offset" in sl:
        Js[:, :, sl["thin-end-offset"]] = dU_all[..., design.n_bonds :]
    Js /= noise_sd
    infos = np.einsum("cdp,cdq->cpq", Js, Js)
    P = np.zeros((lay.n, lay.n))
    vague: dict[str, float] = {}
    for p, s_ in sl.items():
        if p == "widths" and prior_sd is not None:
            P[s_, s_] = np.eye(design.n_bonds) / prior_sd**2
        else:
            sd = 1.0
            vague[p] = sd
            idx = np.arange(s_.start, s_.stop)
            P[idx, idx] = 1.0 / sd**2

    def logdet(M: np.ndarray) -> float:
        sign, val = np.linalg.slogdet(M)
        return float(val) if sign > 0 else -math.inf

    def width_sd(M: np.ndarray) -> np.ndarray:
        C = np.linalg.inv(M)
        if "widths" in sl:
            return np.sqrt(np.diag(C)[sl["widths"]])
        if "width-offset" in sl:
            return np.full(design.n_bonds, math.sqrt(C[sl["width-offset"], sl["width-offset"]][0, 0]))
        return np.zeros(0)

    M = P.copy()
    chosen: list[int] = []
    lds = [logdet(M)]
    sds = [width_sd(M)]
    for _ in range(min(k, nc)):
        best, best_val = -1, -math.inf
        for c in range(nc):
            if c in chosen:
                continue
            v = logdet(M + infos[c])
            if v > best_val:
                best, best_val = c, v
        chosen.append(best)
        M = M + infos[best]
        lds.append(best_val)
        sds.append(width_sd(M))
    return Plan(chosen=chosen, logdet=lds, width_sd=sds, names=list(lay.names), vague=vague)
