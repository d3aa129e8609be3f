"""The committed quick results (``studies/results/<name>/quick/results.json``) are what the code computes.

The committed ``studies/results/<name>/results.json`` are full runs; the quick ones beside them are
regenerated with ``python studies/<name>.py --quick``. Spring-network studies are deterministic
arithmetic: their headline numbers must agree to 1e-9 relative (room for a different BLAS build
only). The FE studies go through gmsh and a sparse direct solver (and Newton's method for
linear_regime, converged far below it): 1e-6 relative. Quick FE studies over ~15 s are ``slow``.
Every committed results file records its provenance (package version, commit, clean flag).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from _studies import committed_quick, quick_results, study

ROOT = Path(__file__).resolve().parents[1]
SPRING = ["fig1_gradient", "fig2_behaviour", "fig3_regression", "fig4_iris", "fig5_retraining"]


def _compare(name: str, data_dir: Path | None, rtol: float) -> None:
    mod = study(name)
    now = mod.headline(quick_results(name, data_dir))
    then = mod.headline(committed_quick(name))
    assert set(now) == set(then)
    for k in now:
        assert now[k] == pytest.approx(then[k], rel=rtol, abs=1e-15), k


@pytest.mark.parametrize("name", [*SPRING, pytest.param("tolerance", marks=pytest.mark.slow)])
def test_quick_headline_matches_committed(name: str, shared_data: Path):
    """The tolerance study (spring model, about 45 s quick) trains and samples: slow."""
    _compare(name, shared_data, rtol=1e-9)


FE = [
    pytest.param("fem_convergence", False, id="fem_convergence"),
    pytest.param("spring_vs_fem", False, id="spring_vs_fem"),
    pytest.param("vs_experiment", True, id="vs_experiment"),
    pytest.param("geometry_refinement", False, id="geometry_refinement"),
    pytest.param("insitu_vs_exact", False, id="insitu_vs_exact", marks=pytest.mark.slow),
    pytest.param("linear_regime", True, id="linear_regime", marks=pytest.mark.slow),
]


@pytest.mark.fem
@pytest.mark.parametrize("name,reads_data", FE)
def test_fem_quick_headline_matches_committed(name: str, reads_data: bool, shared_data: Path):
    pytest.importorskip("fem_mnn.fem.linear", reason="DOLFINx is not installed")
    _compare(name, shared_data if reads_data else None, rtol=1e-6)


def test_committed_results_record_provenance():
    files = sorted((ROOT / "studies" / "results").glob("*/quick/results.json"))
    assert {f.parent.parent.name for f in files} >= set(SPRING) | {p.values[0] for p in FE} | {"tolerance"}
    for f in files:
        prov = json.loads(f.read_text())["provenance"]
        assert {"version", "commit", "clean", "libraries"} <= set(prov), f
        assert json.loads(f.read_text())["quick"] is True, f
