"""The Figure 2 and Figure 3 studies run end to end in --quick mode (slow: a few minutes together)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
@pytest.mark.parametrize("name", ["fig2_behaviour", "fig3_regression"])
def test_study_quick(name: str, tmp_path: Path, shared_data: Path):
    out = tmp_path / name
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
        env=dict(os.environ, MPLBACKEND="Agg"),
        timeout=900,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    md = (out / "results.md").read_text()
    data = json.loads((out / "results.json").read_text())
    assert data["meta"]["study"] == name and data["quick"] is True
    pngs = sorted(p.name for p in out.glob("*.png"))
    assert len(pngs) >= 3
    for p in pngs:
        assert p in md
    assert "paper" in md
