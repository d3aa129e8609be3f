"""The README is a front door that runs, and every public module's ``__all__`` is documented.

- The README stays at most 250 lines (the rest lives in ``docs/``, built by ``./run docs``).
- Its Python example (the first ``python`` block after "## From Python") runs as printed.
- Every name in the ``__all__`` of every public module (no part of its dotted name starts
  with ``_``) has a docstring of its own (classes, functions) or a ``#:`` comment (values):
  the API pages (``docs/_ext/api_pages.py``) render exactly these names.
"""

from __future__ import annotations

import importlib
import pkgutil
import re
from pathlib import Path

import pytest
from conftest import child_env, need_dolfinx, run_python
from test_public_api import _undocumented

import fem_mnn

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
#: modules that import DOLFINx (or PETSc) when imported: skipped without it
FE_PREFIXES = ("fem_mnn.fem.", "fem_mnn.tolerance.fe", "fem_mnn.bench.fem", "fem_mnn.bench.scale", "fem_mnn.commands")


def _public_modules() -> list[str]:
    names = []
    for info in pkgutil.walk_packages(fem_mnn.__path__, prefix="fem_mnn."):
        if not any(part.startswith("_") for part in info.name.split(".")):
            names.append(info.name)
    return sorted(names)


def readme_example(text: str) -> str:
    """The first ```python block after the "## From Python" heading of the README."""
    section = text.split("\n## From Python", 1)
    assert len(section) == 2, "README has no '## From Python' section"
    match = re.search(r"```python\n(.*?)```", section[1], flags=re.S)
    assert match, "README's '## From Python' section has no ```python block"
    return match.group(1)


def test_readme_is_a_front_door_of_at_most_250_lines():
    assert len(README.read_text().splitlines()) <= 250


def test_readme_example_is_short_and_runs(tmp_path):
    code = readme_example(README.read_text())
    assert len([line for line in code.splitlines() if line.strip()]) <= 10
    script = tmp_path / "readme_example.py"
    script.write_text(code)
    r = run_python(script, cwd=tmp_path, env=child_env(OPENBLAS_NUM_THREADS="1", MPLBACKEND="Agg"), timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "->" in r.stdout  # it prints the loss before and after training


@pytest.mark.parametrize("modname", _public_modules())
def test_every_name_in_all_has_a_docstring(modname):
    if modname.startswith(FE_PREFIXES):
        need_dolfinx()
    module = importlib.import_module(modname)
    names = getattr(module, "__all__", None)
    assert names is not None, f"{modname} has no __all__"
    missing = [n for n in names if not hasattr(module, n)]
    assert not missing, f"{modname}.__all__ names what it cannot resolve: {missing}"
    assert not _undocumented(module), f"{modname}: no docstring for {_undocumented(module)}"
