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


def _docs_ext(name: str):
    """A module of ``docs/_ext`` (the site's own Sphinx extensions: stdlib and fem_mnn only)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(name, ROOT / "docs" / "_ext" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_cli_page_has_every_command_and_sub_command(tmp_path):
    from fem_mnn.cli import COMMAND_MODULES

    page = tmp_path / "cli.md"
    _docs_ext("cli_page").write_cli_page(page)
    text = page.read_text()
    for command in COMMAND_MODULES:
        assert f"`fem-mnn {command}`" in text
    for sub in ("spring gradient", "spring train", "fem gradient", "fem train", "fem evaluate"):
        assert f"`fem-mnn {sub}`" in text
    assert "usage: fem-mnn fem train" in text  # each section is the command's own --help


def test_a_re_exported_name_resolves_to_its_definition_and_a_stale_one_does_not():
    canonical_name = _docs_ext("api_pages").canonical_name
    assert canonical_name("fem_mnn.design.Design") == "fem_mnn.design.records.Design"
    assert canonical_name("fem_mnn.learn.MSE.targets") == "fem_mnn.learn.losses.MSE.targets"
    assert canonical_name("fem_mnn.contract.backprop") == "fem_mnn.contract.backprop"
    assert canonical_name("fem_mnn.losses") is None  # the stale name issue 24 found in a docstring
    assert canonical_name("fem_mnn.design.NoSuchName") is None


def test_every_public_module_and_every_study_gets_a_page(tmp_path):
    modules = _docs_ext("api_pages").public_modules()
    assert set(modules) == {"fem_mnn", *_public_modules()}
    (tmp_path / "docs").mkdir()
    (tmp_path / "studies").symlink_to(ROOT / "studies")
    names = _docs_ext("study_pages").write_study_pages(tmp_path / "docs")
    assert names == sorted(p.parent.name for p in (ROOT / "studies" / "results").glob("*/results.md"))
    assert len(list((tmp_path / "docs" / "studies" / "_generated").glob("*.md"))) == len(names) > 0


def test_bars_in_docstrings_are_escaped_outside_literals_and_tables():
    escape_bars = _docs_ext("plain_bars").escape_bars
    assert escape_bars("the norm |u| of u") == r"the norm \|u\| of u"
    assert escape_bars("code ``|u|`` stays") == "code ``|u|`` stays"
    assert escape_bars("| a | b |") == "| a | b |"
