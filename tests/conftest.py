"""Shared fixtures: the paper's sample and where the shared measured data live."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

from fem_mnn.design import paper_sample

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "experiments" / "li-mao-2024"


@pytest.fixture
def paper():
    return paper_sample()


@pytest.fixture
def shared_data() -> Path:
    if not (SHARED_DATA / "figure1.csv").exists():
        pytest.skip(f"the paper's measured data are not at {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture
def mpiexec() -> str:
    """The MPI launcher beside the interpreter (call the venv's own binary: hydra hangs through a symlinked copy)."""
    cand = Path(sys.executable).parent / "mpiexec"
    found = str(cand) if cand.exists() else shutil.which("mpiexec")
    if found is None:
        pytest.skip("no mpiexec beside the interpreter or on PATH")
    return found
