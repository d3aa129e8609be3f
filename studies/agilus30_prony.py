"""A Prony series for Agilus30 at 20 deg C, fitted to the public DMA master curve, and its long-time modulus bounded.

Data: the Agilus30 DMA master curve at 20 deg C of the materialsmine DynamFit tool
(Duke-MatSci/materialsmine, ``app/public/docs/dynamfit/agilus30-20C_mastercurve.tsv``; the
same 500 rows are ``services/app/dynamfit/files/agilus30 (8) master curve 20C clean.txt``
at commit 0fa6df80fd4d6b877fa3a6b692b3b4e37fb789a9, with ``agilus30 (8) shift factors 20C
clean.txt`` beside it): frequency (Hz), E' and E'' (Pa). The repository is licensed
CC-BY-NC-SA 4.0 (non-commercial, share-alike), which does not fit this package's licence,
so the data are NOT shipped: download the two files into a folder and pass it as ``--dma``
(or ``$FEM_MNN_DMA_DATA``). Only the fitted coefficients are shipped
(``fem_mnn/data/materials/agilus30-20C*.json``, attributed to the source).

What it computes:

* The fit: relaxation times fixed two per decade over the curve's range (t = 1/omega from
  9.8e-10 s to 701 s: 25 terms) plus E_inf, non-negative, E' and E'' jointly in
  log-relative error (:func:`fem_mnn.design.prony_fit.fit_master_curve`); its RMS log
  error beside the data's own rounding (three significant digits). One per decade for
  comparison.
* E_inf: the last point (1.33 MPa at 2.3e-4 Hz) is still falling, so E_inf is an
  extrapolation. Fits with E_inf held at values from 0 to 1.33 MPa, with relaxation times
  extended 0-3 decades beyond the data; a fit is admissible when its misfit is within
  Delta chi^2 <= 4 of the best (residual scale = the best fit's RMS, the residual count
  reduced for their correlation, N_eff = N (1 - rho) / (1 + rho) with rho the lag-one
  autocorrelation of the best fit's residuals). The admissible range of E_inf and of E(t)
  at hanging-weight times is the bound.
* Reduction for FE use on the times a hanging-weight test sees (1 s to 1e4 s): series with
  one or two terms per decade from a lower time t_lo to 701 s, refitted to the full
  series' E(t); kept: the fewest terms whose E(t) and J(t) stay within the full fit's own
  RMS error against the data in that window.
* E(t) and J(t) at 10, 60, 300, 3600 s, and the temperature change (from the shift
  factors) that moves the modulus as much as the dwell time does.

Run: ``python studies/agilus30_prony.py --dma DIR [--quick] [--out DIR] [--write-materials]``.
"""

from __future__ import annotations

import os

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):  # before numpy loads
    os.environ.setdefault(_v, "1")

import argparse  # noqa: E402
import hashlib  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
for _p in (str(ROOT), str(ROOT / "studies")):
    if _p not in sys.path:
        sys.path.insert(0, _p)

from _common import figure, log, save_figure, study_main, table, write_report  # noqa: E402

from fem_mnn.core.errors import InputError  # noqa: E402
from fem_mnn.core.files import atomic_write_text, compact_json  # noqa: E402
from fem_mnn.core.paths import shipped_data  # noqa: E402
from fem_mnn.design.prony_fit import (  # noqa: E402
    SeriesFit,
    e_inf_scan,
    fit_master_curve,
    log_spaced_taus,
    reduce_series,
)
from fem_mnn.io.dma import read_master_curve, read_shift_factors  # noqa: E402

NAME = "agilus30_prony"
DMA_ENV = "FEM_MNN_DMA_DATA"
MASTER_FILES = ("agilus30-20C_mastercurve.tsv", "agilus30 (8) master curve 20C clean.txt")
SHIFT_FILES = ("agilus30-20C_shift.tsv", "agilus30 (8) shift factors 20C clean.txt")
SOURCE = {
    "repository": "https://github.com/Duke-MatSci/materialsmine",
    "file": "app/public/docs/dynamfit/agilus30-20C_mastercurve.tsv",
    "same_rows_at": "services/app/dynamfit/files/agilus30 (8) master curve 20C clean.txt @ "
    "0fa6df80fd4d6b877fa3a6b692b3b4e37fb789a9",
    "licence": "CC-BY-NC-SA 4.0 (data not redistributed here; only the fitted coefficients, with attribution)",
    "columns": "frequency Hz, E' Pa, E'' Pa",
}
#: Times (s) at which the fitted modulus is reported (hanging-weight dwell times).
REPORT_TIMES = (10.0, 60.0, 300.0, 3600.0, 1e4)
#: The window a hanging-weight test sees (s).
WINDOW = (1.0, 1e4)
PER_DECADE = 2


def _find(folder: Path, names: tuple[str, ...], what: str) -> Path:
    for n in names:
        if (folder / n).is_file():
            return folder / n
    raise InputError(f"no {what} file here (expected one of: {', '.join(names)})", source=str(folder))


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _series(fit: SeriesFit) -> dict[str, Any]:
    return {"E_inf": fit.E_inf, "terms": [[float(e), float(t)] for e, t in zip(fit.moduli, fit.taus, strict=True)]}


def _quantisation_rms(values: np.ndarray) -> float:
    """RMS relative rounding of numbers printed with three significant digits (uniform within +-half a unit)."""
    half_unit = 0.005 * 10.0 ** np.floor(np.log10(values))
    return float(np.sqrt(np.mean((half_unit / values) ** 2) / 3))


def compute(quick: bool, dma_dir: Path | None = None) -> dict[str, Any]:
    """Every number of the study (see the module docstring)."""
    folder = dma_dir or (Path(os.environ[DMA_ENV]) if os.environ.get(DMA_ENV) else None)
    if folder is None:
        raise InputError(
            f"needs the DMA files (not shipped: CC-BY-NC-SA); download them from {SOURCE['repository']} "
            f"and pass --dma DIR or set ${DMA_ENV}",
            source="--dma",
        )
    folder = Path(folder)
    mpath = _find(folder, MASTER_FILES, "master curve")
    spath = _find(folder, SHIFT_FILES, "shift factor")
    mc = read_master_curve(mpath)
    sf = read_shift_factors(spath)
    w, Es, El = mc.omega, mc.storage, mc.loss
    t_lo, t_hi = 1 / w.max(), 1 / w.min()
    log(NAME, f"{w.size} points, t = 1/omega from {t_lo:.3g} to {t_hi:.3g} s")

    # ------------------------------------------------------------------ the fit
    taus = log_spaced_taus(t_lo, t_hi, PER_DECADE)
    full = fit_master_curve(w, Es, El, taus)
    one = fit_master_curve(w, Es, El, log_spaced_taus(t_lo, t_hi, 1))
    in_window = (w >= 1 / WINDOW[1]) & (w <= 1 / WINDOW[0])
    r_s, r_l = full.residuals[: w.size], full.residuals[w.size :]
    window_rms = float(np.sqrt(np.mean(np.concatenate([r_s[in_window], r_l[in_window]]) ** 2)))
    low_decade = w <= 10 * w.min()
    fit = {
        "per_decade": PER_DECADE,
        "n_terms": int(full.moduli.size),
        "n_taus": int(taus.size),
        "series": _series(full),
        "E0": float(full.E_inf + full.moduli.sum()),
        "rms_log": full.rms_log,
        "max_log": full.max_log,
        "rms_log_storage": float(np.sqrt(np.mean(r_s**2))),
        "rms_log_loss": float(np.sqrt(np.mean(r_l**2))),
        "rms_log_in_window": window_rms,
        "data_rounding_rms": _quantisation_rms(np.concatenate([Es, El])),
        "one_per_decade": {"n_terms": int(one.moduli.size), "rms_log": one.rms_log, "max_log": one.max_log},
        "range_s": [float(t_lo), float(t_hi)],
    }
    prony = full.prony("agilus30-20C", (float(t_lo), float(t_hi)))
    at = {f"{t:g}": {"E": float(prony.relaxation(t)), "J": float(prony.creep(t))} for t in REPORT_TIMES}
    log(NAME, f"fit: {fit['n_terms']} terms, RMS log error {full.rms_log:.4f}, E_inf {full.E_inf:.4f} MPa")

    # ------------------------------------------------------------------ E_inf bound
    values = [0.0, 0.4, 0.8, 1.0, 1.1, 1.2, 1.25, 1.3]
    if not quick:
        values += [*np.round(np.arange(0, 1.31, 0.1), 2), 1.15, 1.18, 1.19, 1.195, 1.2, 1.21, 1.25, 1.33]
    values = sorted(set(float(v) for v in values))
    rho = float(np.corrcoef(full.residuals[:-1], full.residuals[1:])[0, 1])
    n_eff = full.residuals.size * (1 - rho) / (1 + rho)
    scan = []
    for ext in (0, 1, 2, 3):
        taus_x = log_spaced_taus(t_lo, t_hi * 10**ext, PER_DECADE)
        fits = [fit_master_curve(w, Es, El, taus_x), *e_inf_scan(w, Es, El, taus_x, values)]
        for f in fits:
            scan.append(
                {
                    "extra_decades": ext,
                    "E_inf": f.E_inf,
                    "free": f is fits[0],
                    "rms_log": f.rms_log,
                    "rms_log_low_decade": float(
                        np.sqrt(
                            np.mean(
                                np.concatenate([f.residuals[: w.size][low_decade], f.residuals[w.size :][low_decade]])
                                ** 2
                            )
                        )
                    ),
                    "E_at": {f"{t:g}": float(f.relaxation(t)) for t in REPORT_TIMES},
                }
            )
    best = min(s["rms_log"] for s in scan)
    for s in scan:
        # against the free-E_inf fit on the SAME relaxation times: moving the tau grid alone changes the
        # RMS by a few per cent, which says nothing about E_inf
        ref = next(r["rms_log"] for r in scan if r["free"] and r["extra_decades"] == s["extra_decades"])
        s["delta_chi2"] = float(n_eff * ((s["rms_log"] / ref) ** 2 - 1))
        s["admissible"] = bool(s["delta_chi2"] <= 4.0)
    ok = [s for s in scan if s["admissible"]]
    bound = {
        "criterion": "delta chi^2 <= 4 against the free-E_inf fit on the same relaxation times, residual scale = "
        "its RMS, N_eff from the lag-1 correlation of the residuals",
        "lag1_correlation": rho,
        "n_eff": float(n_eff),
        "best_rms_log": best,
        "E_inf_admissible": [min(s["E_inf"] for s in ok), max(s["E_inf"] for s in ok)],
        "E_inf_refused_from": min(
            (s["E_inf"] for s in scan if not s["admissible"] and s["E_inf"] > max(r["E_inf"] for r in ok)), default=None
        ),
        "E_at_range": {
            f"{t:g}": [min(s["E_at"][f"{t:g}"] for s in ok), max(s["E_at"][f"{t:g}"] for s in ok)] for t in REPORT_TIMES
        },
    }
    log(NAME, f"E_inf admissible {bound['E_inf_admissible']} MPa ({len(ok)} of {len(scan)} fits)")

    # ------------------------------------------------------------------ reduction
    t_check = np.geomspace(*WINDOW, 400)
    E_full, J_full = prony.relaxation(t_check), prony.creep(t_check)
    reductions = []
    for ppd in (1, 2):
        for lo in (1e-1, 1e-2, 1e-3, 1e-4, 1e-5, 1e-6):
            red = reduce_series(prony, log_spaced_taus(lo, t_hi, ppd), np.geomspace(lo / 10, WINDOW[1], 400))
            p_red = red.prony()
            reductions.append(
                {
                    "per_decade": ppd,
                    "t_lo": lo,
                    "n_terms": int(red.moduli.size),
                    "max_rel_E": float(np.max(np.abs(p_red.relaxation(t_check) / E_full - 1))),
                    "max_rel_J": float(np.max(np.abs(p_red.creep(t_check) / J_full - 1))),
                    "series": _series(red),
                }
            )
    good = [r for r in reductions if max(r["max_rel_E"], r["max_rel_J"]) <= window_rms]
    chosen = min(good, key=lambda r: (r["n_terms"], max(r["max_rel_E"], r["max_rel_J"]))) if good else None
    log(NAME, f"reduced: {chosen['n_terms'] if chosen else 'none'} terms")

    # ------------------------------------------------------------------ temperature vs dwell time
    dwell = {}
    for t in (10.0, 300.0):
        # E at temperature T and time 60 s = E_20C(60 / a_T): a_T = 60 / t moves 60 s onto t
        log_a = float(np.log10(60.0 / t))
        dwell[f"60s_to_{t:g}s"] = {
            "E_ratio": float(prony.relaxation(t) / prony.relaxation(60.0)),
            "log10_a_T": log_a,
            "delta_T_c": sf.temperature_for(log_a) - 20.0,
        }

    return {
        "quick": quick,
        "source": {**SOURCE, "sha256_master_curve": _sha(mpath), "sha256_shift_factors": _sha(spath)},
        "n_points": int(w.size),
        "fit": fit,
        "at": at,
        "e_inf_bound": bound,
        "e_inf_scan": scan,
        "reductions": reductions,
        "reduction_threshold": window_rms,
        "reduced": chosen,
        "temperature": dwell,
        "curve": {"omega": w.tolist(), "storage": Es.tolist(), "loss": El.tolist()},
    }


def headline(results: dict[str, Any]) -> dict[str, float]:
    """The few numbers the tests and the README quote."""
    return {
        "n_terms": results["fit"]["n_terms"],
        "rms_log": results["fit"]["rms_log"],
        "E_inf": results["fit"]["series"]["E_inf"],
        "E_inf_max": results["e_inf_bound"]["E_inf_admissible"][1],
        **{f"E_{k}s": v["E"] for k, v in results["at"].items()},
        "reduced_terms": results["reduced"]["n_terms"] if results["reduced"] else -1,
    }


def material_files(results: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The shipped named materials: the full fit and the reduced series."""
    fit, bound = results["fit"], results["e_inf_bound"]
    common = {
        "units": "MPa, s",
        "source": {k: v for k, v in results["source"].items()},
        "fitted_by": "studies/agilus30_prony.py",
        "E_inf_admissible_MPa": bound["E_inf_admissible"],
        "E_at_admissible_range_MPa": bound["E_at_range"],
        "note": "E_inf is an extrapolation (the curve's last point, 1.33 MPa at 2.3e-4 Hz, still falls); "
        "constant Poisson's ratio assumed when used for a lattice",
    }
    out = {
        "agilus30-20C": {
            "name": "agilus30-20C",
            **fit["series"],
            "range_s": fit["range_s"],
            "fit": {k: fit[k] for k in ("per_decade", "n_terms", "rms_log", "max_log", "rms_log_in_window")},
            **common,
        }
    }
    red = results["reduced"]
    if red is not None:
        out["agilus30-20C-reduced"] = {
            "name": "agilus30-20C-reduced",
            **red["series"],
            "range_s": [WINDOW[0], fit["range_s"][1]],
            "fit": {
                "reduced_from": "agilus30-20C",
                "per_decade": red["per_decade"],
                "t_lo": red["t_lo"],
                "max_rel_E_1s_1e4s": red["max_rel_E"],
                "max_rel_J_1s_1e4s": red["max_rel_J"],
            },
            **common,
        }
    return out


def render(results: dict[str, Any], out: Path) -> None:
    """results.md (``studies/templates/agilus30_prony.md``), results.json, fit.png.

    The master curve is not in results.json (its licence keeps it out of the repository): a
    re-render of the committed results keeps the committed fit.png.
    """
    started = time.time()
    if "curve" in results:
        _plot(results, out)
    fit, red = results["fit"], results["reduced"]
    fit_rows = [
        ["2 per decade", fit["n_terms"], f"{fit['series']['E_inf']:.4f}", f"{fit['E0']:.1f}"]
        + [f"{fit[k]:.4f}" for k in ("rms_log", "max_log", "rms_log_in_window", "data_rounding_rms")],
        ["1 per decade", fit["one_per_decade"]["n_terms"], "", ""]
        + [f"{fit['one_per_decade'][k]:.4f}" for k in ("rms_log", "max_log")]
        + ["", ""],
    ]
    bound = results["e_inf_bound"]
    at_rows = [
        [k, f"{v['E']:.4f}", f"{1 / v['J']:.4f}", "{:.3f}..{:.3f}".format(*bound["E_at_range"][k])]
        + ["yes" if float(k) <= fit["range_s"][1] else "NO (extrapolation)"]
        for k, v in results["at"].items()
    ]
    red_rows = [
        [r["per_decade"], f"{r['t_lo']:g}", r["n_terms"], f"{r['max_rel_E']:.2e}", f"{r['max_rel_J']:.2e}"]
        for r in results["reductions"]
    ]
    values = {
        "table_fit": table(
            ["series", "terms", "E_inf (MPa)", "E_0 (MPa)", "RMS ln error", "max"]
            + ["RMS in 1-701 s", "data rounding RMS"],
            fit_rows,
        ),
        "table_at": table(
            ["t (s)", "E (MPa)", "1/J (MPa)", "admissible E range (MPa)", "inside the curve's range"], at_rows
        ),
        "table_reductions": table(["terms per decade", "from t_lo (s)", "terms", "max rel E", "max rel J"], red_rows),
        **_numbers(results),
    }
    verdicts = {"upper_bound_only": bound["E_inf_admissible"][0] == 0, "reduced": red is not None}
    kept = {k: v for k, v in results.items() if k != "curve"}
    write_report(NAME, out, {**kept, "headline": headline(results)}, values, verdicts, started)


def write_materials(results: dict[str, Any]) -> None:
    """Write the named materials (``fem_mnn/data/materials/agilus30-20C*.json``) of :func:`material_files`."""
    folder = shipped_data("materials")
    for name, data in material_files(results).items():
        atomic_write_text(folder / f"{name}.json", compact_json(data) + "\n")
        log(NAME, f"wrote {folder / name}.json")


def _numbers(results: dict[str, Any]) -> dict[str, Any]:
    fit, bound, red, src = results["fit"], results["e_inf_bound"], results["reduced"], results["source"]
    one = [r for r in results["reductions"] if r["per_decade"] == 1]
    fast = max(results["reductions"], key=lambda r: r["max_rel_J"])
    temp = {k.split("_to_")[1]: v for k, v in results["temperature"].items()}
    return {
        "repository": src["repository"],
        "file": src["file"],
        "licence": src["licence"],
        "n_points": results["n_points"],
        "per_decade": fit["per_decade"],
        "t_min": fit["range_s"][0],
        "t_max": fit["range_s"][1],
        "E_inf_lo": bound["E_inf_admissible"][0],
        "E_inf_hi": bound["E_inf_admissible"][1],
        "n_eff": bound["n_eff"],
        "lag1": bound["lag1_correlation"],
        "E_inf_refused_from": bound["E_inf_refused_from"],
        "reduced_terms": red and red["n_terms"],
        "reduced_per_decade": red and red["per_decade"],
        "reduced_t_lo": red and red["t_lo"],
        "threshold": results["reduction_threshold"],
        "one_per_decade_best_E_pct": 100 * min(r["max_rel_E"] for r in one),
        "dropped_fast_J_pct": 100 * fast["max_rel_J"],
        "dropped_fast_t_lo": fast["t_lo"],
        **{f"E_ratio_{t}": v["E_ratio"] for t, v in temp.items()},
        **{f"dT_{t}": v["delta_T_c"] for t, v in temp.items()},
    }


def _plot(results: dict[str, Any], out: Path) -> None:
    fit, red = results["fit"], results["reduced"]
    fig = figure(17, 4.6)
    ax1, ax3, ax2 = fig.subplots(1, 3)
    c = results["curve"]
    w = np.asarray(c["omega"])
    f_hz = w / (2 * np.pi)
    full = SeriesFit.from_record(fit["series"])
    Es_fit, El_fit = full.storage(w), full.loss(w)
    ax1.loglog(f_hz, c["storage"], ".", ms=3, color="C0", label="E' data")
    ax1.loglog(f_hz, c["loss"], ".", ms=3, color="C1", label="E'' data")
    ax1.loglog(f_hz, Es_fit, "-", color="k", lw=1, label=f"fit, {fit['n_terms']} terms")
    ax1.loglog(f_hz, El_fit, "--", color="k", lw=1)
    if red is not None:
        rs, sel = SeriesFit.from_record(red["series"]), w <= 1 / 1e-2
        ax1.loglog(f_hz[sel], rs.storage(w[sel]), "-", color="C3", lw=1, label=f"reduced, {red['n_terms']} terms")
        ax1.loglog(f_hz[sel], rs.loss(w[sel]), "--", color="C3", lw=1)
    ax1.set_xlabel("frequency (Hz)")
    ax1.set_ylabel("modulus (MPa)")
    ax1.set_title("Agilus30 master curve, 20 deg C")
    ax1.grid(True, which="both", alpha=0.3)
    ax1.legend(fontsize=8)
    ax3.semilogx(f_hz, 100 * np.log(Es_fit / np.asarray(c["storage"])), "-", color="C0", lw=1, label="E'")
    ax3.semilogx(f_hz, 100 * np.log(El_fit / np.asarray(c["loss"])), "-", color="C1", lw=1, label="E''")
    ax3.axhline(0, color="k", lw=0.6)
    ax3.set_xlabel("frequency (Hz)")
    ax3.set_ylabel("fit / data - 1 (%, log-relative)")
    ax3.set_title(f"residuals, RMS {100 * fit['rms_log']:.2f} %")
    ax3.grid(True, which="both", alpha=0.3)
    ax3.legend(fontsize=8)
    t = np.geomspace(0.1, 1e5, 300)
    ax2.semilogx(t, full.relaxation(t), "k-", lw=1.2, label="E(t), fitted series")
    ok = [s for s in results["e_inf_scan"] if s["admissible"]]
    for s in ok:
        ax2.semilogx([float(k) for k in s["E_at"]], list(s["E_at"].values()), ".", color="0.6", ms=4)
    ax2.axvspan(fit["range_s"][1], 1e5, color="0.9", label="beyond the curve (extrapolation)")
    ax2.semilogx([], [], ".", color="0.6", label="admissible E_inf / slow-tail fits")
    ax2.set_xlabel("t (s)")
    ax2.set_ylabel("E(t) (MPa)")
    ax2.set_ylim(0, 4)
    ax2.set_title("relaxation modulus at hanging-weight times")
    ax2.grid(True, which="both", alpha=0.3)
    ax2.legend(fontsize=8)
    fig.tight_layout()
    save_figure(fig, out, "fit.png")


def _options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--dma", type=Path, default=None, help=f"folder of the DMA files (default ${DMA_ENV})")
    p.add_argument("--write-materials", action="store_true", help="write fem_mnn/data/materials/agilus30-20C*.json")


def main(argv: list[str] | None = None) -> int:
    state: dict[str, Any] = {}

    def _compute(quick: bool, dma: Path | None = None, write_materials: bool = False) -> dict[str, Any]:
        state["write"] = write_materials
        return compute(quick, dma)

    def _render(results: dict[str, Any], out: Path) -> None:
        render(results, out)
        if state.get("write", False):
            write_materials(results)

    return study_main(NAME, __doc__, _compute, _render, argv, "a coarser E_inf scan", extra=_options, takes_data=False)


if __name__ == "__main__":
    sys.exit(main())
