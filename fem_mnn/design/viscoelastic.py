"""Linear viscoelastic material records: a Prony series, its exact creep compliance, load protocols.

A :class:`Prony` series is the relaxation modulus of a linear viscoelastic solid,

    E(t) = E_inf + sum_i E_i exp(-t / tau_i)        (MPa; t and tau_i in s),

the response (stress) to a unit step of strain. Its creep compliance J(t) (1/MPa), the
strain under a unit step of stress, follows exactly from the Laplace-domain relation
s E(s) * s J(s) = 1. With a_i = 1/tau_i,

    s E(s) = Q(s) = E_inf + sum_i E_i s / (s + a_i),

a rational function that increases between its poles -a_i and has exactly one root in
each interval (-a_1, -a_2), ..., (-a_n, 0) (a_1 > ... > a_n > 0). Those roots s_j =
-1/lambda_j give the retardation times lambda_j (tau_j < lambda_j < tau_{j+1}); the
residues of J(s) = 1/(s Q(s)) give

    J(t) = J_0 + sum_j c_j (1 - exp(-t / lambda_j)),   J_0 = 1/E_0,  c_j = 1/(-s_j Q'(s_j)) > 0,

with E_0 = E_inf + sum_i E_i and J_0 + sum_j c_j = 1/E_inf. The roots are found by
bracketed root-finding on each interval, in an offset from the nearer pole so that
s + a_i keeps full relative accuracy (the technique of LAPACK's secular-equation
solver), never by the roots of the degree-n numerator polynomial, whose coefficients
span the orders of magnitude of the tau_i and lose the small roots.

**Constant Poisson's ratio.** For a homogeneous lattice of one such material whose
Poisson's ratio does not change with time, every displacement is the elastic solution
at unit modulus (``u_unit = u_E * E``) times a scalar history (correspondence
principle); a protocol of load applications and removals gives, by Boltzmann
superposition,

    u(t) = sum_events (+1 apply / -1 remove) u_unit(case) J(t - t_event).

:func:`protocol_response` evaluates that at each ``measure`` event. Agilus30's
Poisson's ratio does change across its glass transition; the constant-nu assumption is
stated wherever this is used.

Units: mm, N, MPa, s.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, NamedTuple

import numpy as np
from scipy.optimize import brentq

from fem_mnn.core.errors import InputError
from fem_mnn.core.paths import shipped_data

__all__ = [
    "require_prony",
    "EVENTS",
    "CONSTANT_NU_NOTE",
    "Measurement",
    "Prony",
    "ProtocolEvent",
    "Retardation",
    "check_protocol",
    "named_materials",
    "named_prony",
    "parse_prony",
    "prony_moduli",
    "protocol_delays",
    "protocol_extrapolation",
    "protocol_response",
    "retardation",
]

#: Protocol events, in the protocol CSV's ``event`` column.
EVENTS = ("apply", "remove", "measure")
#: The assumption behind :func:`protocol_response`, to be stated in every output that uses it.
CONSTANT_NU_NOTE = (
    "viscoelastic response by the correspondence principle: one homogeneous material with a time-independent "
    "Poisson's ratio, u(t) = sum over events of +/- u(E=1) * J(t - t_event) (Boltzmann superposition, linear)"
)
#: Relative separation below which two relaxation times count as the same (they would be one term).
_TAU_DISTINCT = 1e-9
#: Folder of the shipped named materials (``fem_mnn/data/materials/NAME.json``).
_NAMED_DIR = "materials"


def prony_moduli(
    E_inf: float, moduli: np.ndarray, taus: np.ndarray, omega: np.ndarray | float
) -> tuple[np.ndarray, np.ndarray]:
    """Storage and loss moduli E'(omega), E''(omega) (MPa) of the series E_inf + sum E_i e^(-t/tau_i).

    At angular frequencies omega (rad/s). Shared by :class:`Prony` and the fit's
    :class:`~fem_mnn.design.prony_fit.SeriesFit` (whose E_inf may be 0).
    """
    wt = np.asarray(omega, dtype=float)[..., None] * np.asarray(taus, dtype=float)
    return E_inf + (wt**2 / (1 + wt**2)) @ moduli, (wt / (1 + wt**2)) @ moduli


class Retardation(NamedTuple):
    """The creep compliance J(t) = J0 + sum_j c_j (1 - exp(-t/lambda_j)) of a Prony series.

    Attributes:
        J0: Instantaneous (glassy) compliance 1/E_0 (1/MPa).
        J_inf: Long-time compliance 1/E_inf (1/MPa).
        lambdas: Retardation times (s), ascending.
        c: Their compliance increments (1/MPa), all > 0.
    """

    J0: float
    J_inf: float
    lambdas: np.ndarray
    c: np.ndarray


@dataclass(frozen=True)
class Prony:
    """A Prony series of the relaxation modulus, E(t) = E_inf + sum_i E_i exp(-t/tau_i).

    Attributes:
        E_inf: Long-time (equilibrium) modulus (MPa), > 0: a solid, so J(t) stays bounded.
        terms: ((E_i MPa, tau_i s), ...), every E_i > 0 and tau_i > 0, taus distinct; stored
            sorted by tau ascending (so two orderings of one series are one record).
        name: The named material it came from ("" for one written out in a design file).
        range_s: (t_min, t_max) in s: the times the series was fitted on (from a master
            curve's frequency range, t = 1/omega); None when unknown. Protocols that need J at
            delays outside it are flagged as extrapolations.
    """

    E_inf: float
    terms: tuple[tuple[float, float], ...]
    name: str = ""
    range_s: tuple[float, float] | None = field(default=None)

    def __post_init__(self) -> None:
        try:
            terms = tuple((float(e), float(t)) for e, t in self.terms)
        except (TypeError, ValueError):
            raise InputError("terms must be pairs [E_i, tau_i]", field="prony.terms", value=self.terms) from None
        _check_number(self.E_inf, "prony.E_inf")
        for i, (e, t) in enumerate(terms):
            _check_number(e, f"prony.terms[{i}][0]")
            _check_number(t, f"prony.terms[{i}][1]")
        order = sorted(range(len(terms)), key=lambda i: terms[i][1])
        for a, b in zip(order[:-1], order[1:], strict=True):
            if terms[b][1] <= terms[a][1] * (1 + _TAU_DISTINCT):
                raise InputError(
                    f"relaxation time repeats terms[{a}][1] (merge the two terms: their moduli add)",
                    field=f"prony.terms[{b}][1]",
                    value=terms[b][1],
                )
        object.__setattr__(self, "E_inf", float(self.E_inf))
        object.__setattr__(self, "terms", tuple(terms[i] for i in order))
        if self.range_s is not None:
            try:
                lo, hi = (float(v) for v in self.range_s)
            except (TypeError, ValueError):
                raise InputError("must be [t_min, t_max]", field="prony.range_s", value=self.range_s) from None
            if not (math.isfinite(lo) and math.isfinite(hi) and 0 < lo < hi):
                raise InputError("must be [t_min, t_max] with 0 < t_min < t_max", field="prony.range_s", value=[lo, hi])
            object.__setattr__(self, "range_s", (lo, hi))
        if not isinstance(self.name, str):
            raise InputError("must be a string", field="prony.name", value=self.name)

    # ------------------------------------------------------------------ views

    @property
    def moduli(self) -> np.ndarray:
        """E_i (MPa), in the order of :attr:`taus`."""
        return np.array([e for e, _ in self.terms], dtype=float)

    @property
    def taus(self) -> np.ndarray:
        """tau_i (s), ascending."""
        return np.array([t for _, t in self.terms], dtype=float)

    @property
    def E0(self) -> float:
        """Instantaneous (glassy) modulus E(0) = E_inf + sum E_i (MPa)."""
        return self.E_inf + math.fsum(e for e, _ in self.terms)

    def relaxation(self, t: np.ndarray | float) -> np.ndarray:
        """E(t) (MPa) at times t >= 0 (s)."""
        t = np.asarray(t, dtype=float)
        return self.E_inf + np.exp(-t[..., None] / self.taus) @ self.moduli

    def storage(self, omega: np.ndarray | float) -> np.ndarray:
        """Storage modulus E'(omega) (MPa) at angular frequencies omega (rad/s)."""
        return prony_moduli(self.E_inf, self.moduli, self.taus, omega)[0]

    def loss(self, omega: np.ndarray | float) -> np.ndarray:
        """Loss modulus E''(omega) (MPa) at angular frequencies omega (rad/s)."""
        return prony_moduli(self.E_inf, self.moduli, self.taus, omega)[1]

    @cached_property
    def retardation(self) -> Retardation:
        """The exact retardation spectrum (see the module docstring)."""
        return retardation(self.E_inf, self.moduli, self.taus)

    def creep(self, t: np.ndarray | float) -> np.ndarray:
        """Creep compliance J(t) (1/MPa) at t >= 0 (s); 0 for t < 0 (nothing applied yet)."""
        t = np.asarray(t, dtype=float)
        r = self.retardation
        # J0 + sum c (1 - e^{-t/lambda}): every term >= 0, so no cancellation at any t
        j = r.J0 + (-np.expm1(-np.maximum(t, 0.0)[..., None] / r.lambdas)) @ r.c
        return np.where(t < 0, 0.0, j)

    def scaled(self, factor: float) -> Prony:
        """The same time dependence with every modulus multiplied by ``factor`` (> 0)."""
        _check_number(factor, "factor")
        return Prony(self.E_inf * factor, tuple((e * factor, t) for e, t in self.terms), self.name, self.range_s)

    def to_dict(self) -> dict[str, Any]:
        """The design file's ``material.prony`` object (written out in full, also for a named material)."""
        out: dict[str, Any] = {}
        if self.name:
            out["name"] = self.name
        out["E_inf"] = self.E_inf
        out["terms"] = [[e, t] for e, t in self.terms]
        if self.range_s is not None:
            out["range_s"] = list(self.range_s)
        return out


def _check_number(x: object, fld: str) -> None:
    if isinstance(x, bool) or not isinstance(x, (int, float, np.floating, np.integer)):
        raise InputError("must be a number", field=fld, value=x, has_value=True)
    if not math.isfinite(float(x)):
        raise InputError("must be finite", field=fld, value=x, has_value=True)
    if float(x) <= 0:
        raise InputError("must be > 0", field=fld, value=x, has_value=True)


# ---------------------------------------------------------------------- interconversion


def retardation(E_inf: float, moduli: np.ndarray, taus: np.ndarray) -> Retardation:
    """Retardation times and compliance increments of E(t) = E_inf + sum E_i exp(-t/tau_i), exactly.

    One bracketed root (Brent) per interval between consecutive poles -1/tau_i of
    Q(s) = s E(s), and one in (-1/tau_max, 0); the unknown is the offset from the pole
    nearer to the root, so each s + 1/tau_i is formed without cancellation. Residues:
    c_j = 1 / (-s_j Q'(s_j)), Q'(s) = sum E_i a_i / (s + a_i)^2.

    Args:
        E_inf: > 0 (MPa).
        moduli: E_i > 0 (MPa).
        taus: tau_i > 0 (s), distinct.
    """
    E = np.asarray(moduli, dtype=float)
    tau = np.asarray(taus, dtype=float)
    order = np.argsort(tau)
    E, tau = E[order], tau[order]
    a = 1.0 / tau  # descending
    n = len(a)
    E0 = E_inf + math.fsum(E)
    lam = np.empty(n)
    c = np.empty(n)
    ends = np.append(-a, 0.0)  # poles ascending, then 0 (Q(0) = E_inf > 0)

    def q(delta: float, origin: float, d: np.ndarray) -> float:
        # Q(origin + delta) with s + a_i = d_i + delta, d_i = origin + a_i (0 for the origin's own pole)
        return E_inf + float(np.sum(E * (origin + delta) / (d + delta)))

    for j in range(n):
        left, right = ends[j], ends[j + 1]
        width = right - left
        d_left = left + a
        d_left[j] = 0.0
        if q(0.5 * width, left, d_left) >= 0:  # Q increases: the root is in the left half
            origin, d = left, d_left
            lo, hi = 0.5 * width * 2.0**-80, 0.5 * width
            if q(lo, origin, d) > 0:  # the pole's own term is negligible: the root is within 1e-24 of it
                lo = hi = 0.5 * width * 2.0**-80
        else:
            origin = right
            d = right + a
            if j + 1 < n:
                d[j + 1] = 0.0
                hi = -0.5 * width * 2.0**-80
            else:
                hi = 0.0  # the right end is s = 0, not a pole
            lo = -0.5 * width
            if q(hi, origin, d) < 0:
                lo = hi
        delta = lo if lo == hi else brentq(q, lo, hi, args=(origin, d), xtol=1e-300, rtol=4 * np.finfo(float).eps)
        s = origin + delta
        dq = float(np.sum(E * a / (d + delta) ** 2))
        lam[j] = -1.0 / s
        c[j] = 1.0 / (-s * dq)
    return Retardation(1.0 / E0, 1.0 / E_inf, lam, c)


# ---------------------------------------------------------------------- parsing and named materials


def parse_prony(data: object, source: str | None = None, fld: str = "material.prony") -> Prony:
    """A :class:`Prony` from a design file's ``material.prony`` value.

    Either a material name (``"agilus30-20C"``, see :func:`named_materials`) or an object
    ``{"E_inf": MPa, "terms": [[E_i MPa, tau_i s], ...]}`` with optional ``"name"`` (text) and
    ``"range_s"`` ([t_min, t_max] in s, the fitted range). Unknown keys are refused.

    Raises:
        InputError: naming ``source``, the field (under ``fld``) and the value.
    """
    if isinstance(data, str):
        try:
            return named_prony(data)
        except InputError as err:
            raise InputError(err.reason, source=source, field=fld, value=data) from None
    if not isinstance(data, dict):
        raise InputError(
            "must be a material name or an object {E_inf, terms}", source=source, field=fld, value=data, has_value=True
        )
    known = ("E_inf", "terms", "name", "range_s")
    extra = sorted(set(data) - set(known), key=str)
    if extra:
        raise InputError(f"unknown key (known: {', '.join(known)})", source=source, field=f"{fld}.{extra[0]}")
    for key in ("E_inf", "terms"):
        if key not in data:
            raise InputError("missing required key", source=source, field=f"{fld}.{key}")
    terms = data["terms"]
    if not isinstance(terms, list) or not terms:
        raise InputError(
            "must be a non-empty list of [E_i, tau_i]", source=source, field=f"{fld}.terms", value=terms, has_value=True
        )
    for i, pair in enumerate(terms):
        if not isinstance(pair, list) or len(pair) != 2:
            raise InputError(
                "a term is [E_i MPa, tau_i s]", source=source, field=f"{fld}.terms[{i}]", value=pair, has_value=True
            )
    rng = data.get("range_s")
    if rng is not None and not (isinstance(rng, list) and len(rng) == 2):
        raise InputError("must be [t_min, t_max] (s)", source=source, field=f"{fld}.range_s", value=rng, has_value=True)
    if rng is not None:
        for k, v in enumerate(rng):
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                raise InputError(
                    "must be a number", source=source, field=f"{fld}.range_s[{k}]", value=v, has_value=True
                )
    try:
        return Prony(
            E_inf=data["E_inf"],
            terms=tuple(tuple(p) for p in terms),
            name=data.get("name", ""),
            range_s=None if rng is None else (rng[0], rng[1]),
        )
    except InputError as err:
        sub = (err.field or "prony").removeprefix("prony")
        raise InputError(err.reason, source=source, field=f"{fld}{sub}", value=err.value, has_value=True) from None
    except OverflowError:  # a JSON integer too large for a float
        raise InputError("a number is out of range", source=source, field=fld) from None


def named_materials() -> list[str]:
    """Names of the shipped Prony materials (``fem_mnn/data/materials/*.json``)."""
    folder = shipped_data(_NAMED_DIR)
    return sorted(p.stem for p in folder.glob("*.json")) if folder.is_dir() else []


def named_prony(name: str) -> Prony:
    """The shipped Prony series called ``name`` (its file also holds the source and the fit report).

    Raises:
        InputError: unknown name (the known ones are listed).
    """
    known = named_materials()
    if name not in known:
        raise InputError(f"unknown material name (known: {', '.join(known) or 'none'})", value=name)
    path = shipped_data(_NAMED_DIR) / f"{name}.json"
    data = json.loads(path.read_text())
    return parse_prony({k: data[k] for k in ("name", "E_inf", "terms", "range_s") if k in data}, str(path), "prony")


# ---------------------------------------------------------------------- protocols


class ProtocolEvent(NamedTuple):
    """One row of a load protocol.

    Attributes:
        time_s: When (s). Events at equal times take effect in their listed order, so a
            ``measure`` listed after an ``apply`` of the same time sees the instantaneous response.
        event: ``apply`` (adds one application of the load case), ``remove`` (removes one),
            ``measure`` (records every node's displacement).
        load_case: The load case applied or removed; for ``measure`` a free label.
    """

    time_s: float
    event: str
    load_case: str


class Measurement(NamedTuple):
    """The displacement at one ``measure`` event."""

    time_s: float
    label: str
    u: np.ndarray


def require_prony(prony: Prony | None, source: str | None) -> Prony:
    """The design's Prony series for a command given a load protocol; refused (InputError) when it has none.

    ``source`` names the design file in the message.
    """
    if prony is None:
        raise InputError(
            "--protocol needs a time-dependent material: add a Prony series (a material name such as "
            "'agilus30-20C' or {E_inf, terms}) to the design",
            source=source,
            field="material.prony",
            value=None,
            has_value=True,
        )
    return prony


def check_protocol(
    events: Sequence[ProtocolEvent], cases: Sequence[str] | None = None, source: str | None = None
) -> None:
    """Refuse an unusable protocol: unknown event, time going back, a removal of a load not applied.

    Args:
        events: The protocol, in order.
        cases: The load cases that exist (None: not checked).
        source: Where the protocol came from, for the message.
    """
    if not events:
        raise InputError("empty protocol", source=source)
    applied: dict[str, int] = {}
    last = -math.inf
    for k, ev in enumerate(events):
        where = f"event {k}"
        if ev.event not in EVENTS:
            raise InputError(f"event must be one of {', '.join(EVENTS)}", source=source, field=where, value=ev.event)
        if not math.isfinite(ev.time_s):
            raise InputError("time must be finite", source=source, field=where, value=ev.time_s)
        if ev.time_s < last:
            raise InputError(
                f"time goes back (previous event at {last:g} s)", source=source, field=where, value=ev.time_s
            )
        last = ev.time_s
        if ev.event == "measure":
            continue
        if cases is not None and ev.load_case not in cases:
            raise InputError(
                f"unknown load case (the loads have {', '.join(cases)})", source=source, field=where, value=ev.load_case
            )
        n = applied.get(ev.load_case, 0)
        if ev.event == "remove" and n == 0:
            raise InputError("removes a load case that is not applied", source=source, field=where, value=ev.load_case)
        applied[ev.load_case] = n + (1 if ev.event == "apply" else -1)
    if not any(ev.event == "measure" for ev in events):
        raise InputError("no measure event: the protocol would record nothing", source=source)


def protocol_response(
    creep: Prony | Callable[[np.ndarray], np.ndarray],
    unit: Mapping[str, np.ndarray],
    events: Sequence[ProtocolEvent],
    source: str | None = None,
) -> list[Measurement]:
    """Displacements at every ``measure`` event by Boltzmann superposition (constant nu, see the module doc).

    Args:
        creep: The creep compliance J(t) (1/MPa): a :class:`Prony` series or a function of
            delay arrays (s); an elastic material is ``lambda t: np.full_like(t, 1 / E)``.
        unit: Load case -> displacements at unit modulus (any array shape; mm * MPa), i.e.
            the elastic solution at modulus E times E.
        events: The protocol (checked with :func:`check_protocol`).
        source: The protocol's file, for messages.

    Returns:
        One :class:`Measurement` per ``measure`` event, in order: u(t) = sum over earlier
        events of (+1 apply / -1 remove) unit[case] J(t - t_event).
    """
    check_protocol(events, list(unit), source)
    J = creep.creep if isinstance(creep, Prony) else creep
    shape = np.shape(next(iter(unit.values())))
    out = []
    active: list[tuple[float, float, str]] = []  # (time, sign, case) of every apply/remove so far
    for ev in events:
        if ev.event == "measure":
            u = np.zeros(shape)
            if active:
                t0 = np.array([a[0] for a in active])
                w = np.array([a[1] for a in active]) * np.asarray(J(ev.time_s - t0), dtype=float)
                for (_, _, case), wk in zip(active, w, strict=True):
                    u = u + wk * np.asarray(unit[case], dtype=float)
            out.append(Measurement(float(ev.time_s), ev.load_case, u))
        else:
            active.append((float(ev.time_s), 1.0 if ev.event == "apply" else -1.0, ev.load_case))
    return out


def protocol_delays(events: Sequence[ProtocolEvent]) -> tuple[float, float] | None:
    """(shortest, longest) delay t_measure - t_event over every measure and earlier apply/remove; None if none."""
    lo, hi = math.inf, -math.inf
    seen: list[float] = []
    for ev in events:
        if ev.event == "measure":
            for t0 in seen:
                lo, hi = min(lo, ev.time_s - t0), max(hi, ev.time_s - t0)
        else:
            seen.append(ev.time_s)
    return None if hi < lo else (lo, hi)


def protocol_extrapolation(prony: Prony, events: Sequence[ProtocolEvent]) -> str | None:
    """A one-line warning when the protocol needs J(t) at delays outside the series' fitted range, else None."""
    d = protocol_delays(events)
    if d is None or prony.range_s is None:
        return None
    lo, hi = prony.range_s
    parts = []
    if d[0] < lo:
        parts.append(f"shortest delay {d[0]:.3g} s is below")
    if d[1] > hi:
        parts.append(f"longest delay {d[1]:.3g} s is beyond")
    if not parts:
        return None
    label = f" {prony.name!r}" if prony.name else ""
    return (
        f"extrapolation: the protocol's {' and '.join(parts)} the range {lo:.3g}..{hi:.3g} s the Prony "
        f"series{label} was fitted on"
    )
