"""Every tutorial in ``docs/tutorials/`` runs, in quick mode, and its inline assertions hold.

The tutorials are jupytext "light" ``.py`` files that the docs build executes at full size
(``./run docs``); here each runs as a plain script in a fresh interpreter with
``FEM_MNN_QUICK=1`` (smaller sizes, the same code), so a tutorial whose text went stale (an
asserted headline number no longer true, a renamed function) fails the test suite too.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import child_env, run_python

ROOT = Path(__file__).resolve().parents[1]
TUTORIALS = sorted((ROOT / "docs" / "tutorials").glob("*.py"))


def test_there_are_tutorials():
    assert TUTORIALS, "no docs/tutorials/*.py found"


@pytest.mark.parametrize("path", TUTORIALS, ids=[p.stem for p in TUTORIALS])
def test_tutorial_runs_in_quick_mode(path, tmp_path):
    env = child_env(FEM_MNN_QUICK="1", OPENBLAS_NUM_THREADS="1", MPLBACKEND="Agg")
    r = run_python(path, cwd=tmp_path, env=env, timeout=600)
    assert r.returncode == 0, f"{path.name} failed:\n{r.stdout[-2000:]}\n{r.stderr[-4000:]}"


#: tutorials that teach a parallel run: also run on 2 ranks (every rank checks the asserts)
MPI_TUTORIALS = ["t06_large_lattices"]


@pytest.mark.mpi
@pytest.mark.fem
@pytest.mark.parametrize("name", MPI_TUTORIALS)
def test_tutorial_runs_on_two_ranks(name, tmp_path):
    path = ROOT / "docs" / "tutorials" / f"{name}.py"
    assert path in TUTORIALS
    env = child_env(FEM_MNN_QUICK="1", OPENBLAS_NUM_THREADS="1", MPLBACKEND="Agg")
    r = run_python(path, ranks=2, cwd=tmp_path, env=env, timeout=600)
    assert r.returncode == 0, f"{name} on 2 ranks failed:\n{r.stdout[-2000:]}\n{r.stderr[-4000:]}"
