"""``fem-mnn identify --model fem`` under ``mpiexec -n 2`` gives the serial identification.

The data: the FE model itself at a hidden modulus factor, width offset and thin-end offset, plus
noise; the fit: E, width-offset and thin-end-offset (the thin-end column's contraction sums over
every rank's owned geometry dofs, so this also checks the offset's design velocity in parallel).
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from conftest import need_dolfinx, run_cli

from fem_mnn.design import save_design, triangular_strip
from fem_mnn.io import measured as ms

G10 = 10 * 9.8e-3
NOISE = 0.005
COARSE = ("--elements-across", "2", "--degree", "1")


@pytest.mark.mpi
@pytest.mark.fem
def test_fe_identify_two_ranks_equal_serial(tmp_path):
    need_dolfinx()
    from mpi4py import MPI

    from fem_mnn.fem.linear import FemOptions
    from fem_mnn.fem.morph import MorphingFemModel
    from fem_mnn.fem.shape import output_response
    from fem_mnn.geometry.build import MeshOptions

    d = triangular_strip(4, 2, width=np.linspace(1.7, 2.3, 13))
    free = [n for n in range(d.n_nodes) if n not in d.fixed]
    cases = free[-4:]
    F = np.zeros((len(cases), d.n_nodes, 2))
    for c, n in enumerate(cases):
        F[c, n, 1] = -G10
    labels = [f"n{n}" for n in cases]
    dofs = np.array([(n, k) for n in free for k in (0, 1)], dtype=np.int64)
    model = MorphingFemModel(d, FemOptions(degree=1, mesh=MeshOptions(elements_across=2, size=0.4)), comm=MPI.COMM_SELF)
    U, _ = output_response(model)(d.widths + 0.05, F, dofs, False, thin_offset=-0.1)
    U = U / 1.1
    rng = np.random.default_rng(7)
    recs = [
        ms.Displacement(lab, n, U[c, 2 * i] + NOISE * rng.standard_normal(),
                        U[c, 2 * i + 1] + NOISE * rng.standard_normal(), math.nan, math.nan)
        for c, lab in enumerate(labels)
        for i, n in enumerate(free)
    ]  # fmt: skip
    design = save_design(d, tmp_path / "d.json")
    loads = ms.write_loads(
        tmp_path / "l.csv", [ms.Load(lab, n, 0.0, -G10) for lab, n in zip(labels, cases, strict=True)]
    )
    meas = ms.write_displacements(tmp_path / "m.csv", recs)
    argv = [design, "--measured", meas, "--loads", loads, "--fit", "E,width-offset,thin-end-offset", "--model", "fem",
            "--noise-sd", NOISE, *COARSE]  # fmt: skip
    r1 = run_cli("identify", *argv, "--out", tmp_path / "ser")
    assert r1.returncode == 0, r1.stderr[-2000:]
    r2 = run_cli("identify", *argv, "--out", tmp_path / "par", ranks=2)
    assert r2.returncode == 0, r2.stderr[-2000:]
    a = json.loads((tmp_path / "ser" / "identified.json").read_text())
    b = json.loads((tmp_path / "par" / "identified.json").read_text())
    assert a["converged"] and b["converged"]
    print(
        f"serial: E {a['E']:.8g} ± {a['E_sd']:.3g}, width offset {a['width_offset']:+.6f}, thin-end offset "
        f"{a['thin_end_offset']:+.6f} ± {a['thin_end_offset_sd']:.3g} mm, {a['iterations']} iterations; "
        f"2 ranks: E {b['E']:.8g}, {b['width_offset']:+.6f}, {b['thin_end_offset']:+.6f}, {b['iterations']} iterations"
    )
    # the same model on two ranks: every chi2 along the common iterations agrees to the FE's serial-vs-ranks
    # round-off (1e-10 relative on displacements, tests/test_fem_cli.py) amplified by nothing but the sums
    # (the start is the design; later entries follow steps made from the Jacobian, thin-end column included)
    n_common = min(len(a["history"]), len(b["history"]))
    for ha, hb in zip(a["history"][:n_common], b["history"][:n_common], strict=True):
        assert ha["chi2"] == pytest.approx(hb["chi2"], rel=1e-8), ha["iteration"]
    # the optimum: each run stops once its last step is below 1e-6 sd (fidelity.identify.STEP_IN_SD); with
    # Gauss-Newton's linear convergence on noisy data (rate rho) it is then within 1e-6 sd rho / (1 - rho)
    # of the minimum; measured 2.0e-6 sd apart for E here, so 1e-5 sd allows rho up to about 0.8
    for key, sd_key in (("E", "E_sd"), ("width_offset", "width_offset_sd"), ("thin_end_offset", "thin_end_offset_sd")):
        print(f"{key}: serial - 2 ranks = {(a[key] - b[key]) / a[sd_key]:.2e} sd")
        assert abs(a[key] - b[key]) <= 1e-5 * a[sd_key], key
        assert a[sd_key] == pytest.approx(b[sd_key], rel=1e-4), sd_key
    assert a["chi2"] == pytest.approx(b["chi2"], rel=1e-9)
    assert b["fem"]["n_remeshes"] == 0
