"""Import a study module (``studies/<name>.py``) by path and cache its quick results per test session.

``quick_results`` runs ``compute(quick=True)`` in a child process with one BLAS thread (the
environment variables only act before numpy loads, and this process has numpy already): on a
loaded machine a threaded BLAS makes the small dense solves of the studies 5-10x slower.
The results come back through JSON, as they are committed.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
STUDIES = ROOT / "studies"


def study(name: str) -> ModuleType:
    """The module ``studies/<name>.py`` (imported once)."""
    key = f"fem_mnn_study_{name}"
    if key in sys.modules:
        return sys.modules[key]
    if str(STUDIES) not in sys.path:
        sys.path.insert(0, str(STUDIES))
    spec = importlib.util.spec_from_file_location(key, STUDIES / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[key] = mod
    spec.loader.exec_module(mod)
    return mod


_CHILD = """
import importlib.util, json, sys
sys.path.insert(0, {studies!r})
spec = importlib.util.spec_from_file_location("study", {path!r})
mod = importlib.util.module_from_spec(spec)
sys.modules["study"] = mod
spec.loader.exec_module(mod)
from fem_mnn.core.files import to_jsonable
res = mod.compute(True, {data!r})
sys.stdout.write(json.dumps(to_jsonable(res)))
"""


@cache
def quick_results(name: str, data_dir: Path | None) -> dict[str, Any]:
    """``compute(quick=True)`` of study ``name`` (JSON-converted), once per session, in a one-thread child."""
    code = _CHILD.format(
        studies=str(STUDIES), path=str(STUDIES / f"{name}.py"), data=None if data_dir is None else str(data_dir)
    )
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1", FEM_MNN_WORKERS="1")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout)


def committed_quick(name: str) -> dict[str, Any]:
    """The committed quick results of study ``name`` (``studies/results/<name>/quick/results.json``)."""
    return json.loads((STUDIES / "results" / name / "quick" / "results.json").read_text())
