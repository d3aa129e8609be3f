"""The environment ``./run`` builds is exactly the lock: every installed distribution but the project
itself is in ``requirements.lock`` at its locked version, and every locked package that applies to this
platform is installed. Skipped outside the ``./run`` virtual environment (a conda install is not locked)."""

from __future__ import annotations

import re
import sys
import sysconfig
from importlib.metadata import distributions
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LOCK = ROOT / "requirements.lock"


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _locked() -> dict[str, tuple[str, str]]:
    """name -> (version, environment marker or '')."""
    out = {}
    for line in LOCK.read_text().splitlines():
        m = re.match(r"^([A-Za-z0-9_.-]+)==([^\s;\\]+)\s*(?:;\s*([^\\]+?))?\s*\\?$", line)
        if m:
            out[_norm(m.group(1))] = (m.group(2), (m.group(3) or "").strip())
    return out


def _applies(marker: str) -> bool:
    if not marker:
        return True
    from packaging.markers import Marker

    return Marker(marker).evaluate()


needs_locked_venv = pytest.mark.skipif(
    not (Path(sys.prefix) / ".fem_mnn-installed").exists(), reason="not the virtual environment ./run builds"
)


def test_lock_is_complete_and_hashed():
    text = LOCK.read_text()
    locked = _locked()
    assert {"dolfinx-solver-real", "gmsh", "numpy", "scipy", "meshio", "pytest", "mpich"} <= set(locked)
    # every requirement carries hashes (pip/uv --require-hashes)
    blocks = re.split(r"\n(?=[A-Za-z0-9])", text.split("\n", 2)[2] if text.startswith("#") else text)
    assert all("--hash=sha256:" in b for b in blocks if re.match(r"^[A-Za-z0-9]", b)), "a requirement without hash"


@needs_locked_venv
def test_installed_distributions_are_exactly_the_lock():
    locked = _locked()
    # The environment's own site-packages, not sys.path: setuptools appends its vendored packages
    # (setuptools/_vendor, with their .dist-info) to sys.path when imported, which DOLFINx's JIT does
    # (through cffi) on its first compilation, i.e. on a machine with a cold ~/.cache/fenics.
    site = sorted({sysconfig.get_paths()[k] for k in ("purelib", "platlib")})
    installed = {_norm(d.metadata["Name"]): d.version for d in distributions(path=site)}
    installed.pop("fem-mnn", None)
    extra = {n: v for n, v in installed.items() if n not in locked}
    wrong = {n: (v, locked[n][0]) for n, v in installed.items() if n in locked and v != locked[n][0]}
    missing = [n for n, (_, mk) in locked.items() if _applies(mk) and n not in installed]
    assert not extra, f"installed but not locked: {extra}"
    assert not wrong, f"installed version != locked version: {wrong}"
    assert not missing, f"locked but not installed: {missing}"
