"""Each paper study (Figures 1-5) runs end to end in --quick mode; Figures 2 and 3 are slow (minutes)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# (study, plots it must write at least, timeout in s)
STUDIES = [
    pytest.param("fig1_gradient", 1, 120, id="fig1_gradient"),
    pytest.param("fig4_iris", 1, 120, id="fig4_iris"),
    pytest.param("fig5_retraining", 1, 120, id="fig5_retraining"),
    pytest.param("fig2_behaviour", 3, 900, id="fig2_behaviour", marks=pytest.mark.slow),
    pytest.param("fig3_regression", 3, 900, id="fig3_regression", marks=pytest.mark.slow),
]


@pytest.mark.parametrize("name,min_plots,timeout", STUDIES)
def test_study_quick(name: str, min_plots: int, timeout: int, tmp_path: Path, shared_data: Path):
    out = tmp_path / name
    env = dict(os.environ, FEM_MNN_WORKERS="1", MPLBACKEND="Agg")
    proc = subprocess.run(
        [
            sys.executable,
            str(ROOT / "studies" / f"{name}.py"),
            "--quick",
            "--out",
            str(out),
            "--data",
            str(shared_data),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    md = (out / "results.md").read_text()
    data = json.loads((out / "results.json").read_text())
    assert data["meta"]["study"] == name and data["quick"] is True
    pngs = sorted(p.name for p in out.glob("*.png"))
    assert len(pngs) >= min_plots, f"expected at least {min_plots} plots, got {pngs}"
    for p in pngs:
        assert p in md
    assert "paper" in md


def test_missing_data_folder_is_a_clean_error(tmp_path: Path):
    proc = subprocess.run(
        [
            sys.executable,
            str(ROOT / "studies" / "fig1_gradient.py"),
            "--quick",
            "--data",
            str(tmp_path / "none"),
            "--out",
            str(tmp_path / "o"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert "paper data folder not found" in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "o").exists()
