"""studies/printed_sample.py: the calibration never sees held-out data, and the committed quick results hold.

The held-out measurements are Figure 2's trained and mirror networks (columns ``u2_exp``, ``u3_exp``
and their spreads), Figure 3's sweeps (``ux1_exp`` .. ``uy2_exp``) and Figure 4's tests (``exp1`` ..
``exp3`` and their spreads). Perturbing every one of them in a copy of the data folder must leave the
calibration's inputs and its parameters bit for bit unchanged; perturbing a calibration column
(Figure 2's ``u1_exp``) must change them (so the check can fail).
"""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import numpy as np
import pytest
from _studies import committed_quick, quick_results, study

from fem_mnn.design import paper_sample
from fem_mnn.fidelity.forecast import calibrate
from fem_mnn.fidelity.identify import spring_response
from fem_mnn.io.paper_data import SHIPPED

NAME = "printed_sample"
#: (file, columns by position) of every held-out measurement and spread.
HELD_OUT = {
    "figure2.csv": [4, 5, 7, 8],  # u2_exp, +-, u3_exp, +-
    "figure3.csv": [7, 8, 9, 10],  # ux1_exp .. uy2_exp
    "figure4.csv": [10, 11, 13, 14, 16, 17],  # exp1, +-, exp2, +-, exp3, +-
}


def _perturbed_copy(tmp: Path, columns: dict[str, list[int]], factor: float) -> Path:
    out = tmp / "data"
    shutil.copytree(SHIPPED, out)
    for name, cols in columns.items():
        rows = list(csv.reader((out / name).open(newline="")))
        for row in rows[1:]:
            for c in cols:
                if c < len(row) and row[c].strip():
                    row[c] = repr(float(row[c]) * factor + 1e-3)
        with (out / name).open("w", newline="") as fh:
            csv.writer(fh).writerows(rows)
    return out


def _spring_calibration(mod, data: Path):
    cal = mod.calibration_inputs(data)
    base = paper_sample()
    c = calibrate(mod.calibration_blocks(cal, spring_response(base)), np.asarray(base.widths, float), ("s",))
    return cal, c


def test_calibration_never_sees_held_out_data(tmp_path: Path):
    mod = study(NAME)
    cal0, c0 = _spring_calibration(mod, SHIPPED)
    cal1, c1 = _spring_calibration(mod, _perturbed_copy(tmp_path / "a", HELD_OUT, 1.37))
    assert set(cal0) == set(cal1)
    for k in cal0:
        np.testing.assert_array_equal(cal0[k], cal1[k], err_msg=k)
    assert c1.s == c0.s and c1.chi2 == c0.chi2
    # the check can fail: a calibration column does move the calibration
    _, c2 = _spring_calibration(mod, _perturbed_copy(tmp_path / "b", {"figure2.csv": [1]}, 1.37))
    assert c2.s != c0.s


def test_held_out_inputs_do_read_the_perturbed_columns(tmp_path: Path):
    """The perturbation reaches the forecast's data (the held-out reader reads those columns)."""
    mod = study(NAME)
    h0 = mod.heldout_inputs(SHIPPED)
    h1 = mod.heldout_inputs(_perturbed_copy(tmp_path, HELD_OUT, 1.37))
    assert not np.allclose(h0["fig3"]["value"], h1["fig3"]["value"])
    assert not np.allclose(h0["fig4"]["value"], h1["fig4"]["value"])
    assert not np.allclose(h0["fig2"]["u2"]["value"], h1["fig2"]["u2"]["value"])


@pytest.mark.slow
@pytest.mark.fem
def test_quick_headline_matches_committed():
    """The quick run (about 3 min on an idle machine: spring training, P1 FE) against the committed quick results.

    FE numbers go through gmsh and MUMPS: 1e-6 relative, as the other FE studies.
    """
    pytest.importorskip("fem_mnn.fem.linear", reason="DOLFINx is not installed")
    mod = study(NAME)
    res = quick_results(NAME, None)
    now, then = mod.headline(res), mod.headline(committed_quick(NAME))
    assert set(now) == set(then)
    for k in now:
        assert now[k] == pytest.approx(then[k], rel=1e-6, abs=1e-15), k
    # the claims the verdict makes, on the run itself
    for name in ("springs", "FE", "FE+offset", "FE+offset(prior)"):
        # a linear elastic forecast has no light-to-heavy softening (round-off only)
        assert max(abs(x) for x in res["explain"][name]["softening"]) < 1e-9, name
    soft = [res["explain"][f"FE+Prony {T:g} s"]["softening"][1] for T in mod.DWELLS]
    assert all(s > 0 for s in soft) and soft == sorted(soft, reverse=True)  # longer dwell, less softening
    assert res["calibration"]["fe_offset"]["correlation"][0][1] < -0.99
    assert all(c["converged"] for c in res["calibration"].values())


def test_docs_page_holds_the_committed_runs_block():
    """docs/forecast.md's generated block is the committed full run's (the quick run's only where there is none)."""
    import json

    mod = study(NAME)
    text = mod.DOCS_PAGE.read_text(encoding="utf-8")
    full = Path(mod.ROOT) / "studies" / "results" / NAME / "results.json"
    run = json.loads(full.read_text()) if full.exists() else committed_quick(NAME)
    assert mod.docs_block(run) in text
