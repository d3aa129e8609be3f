"""The literate studies: their words are in ``studies/templates/<name>.md``, ``render`` keeps tables and figures.

A study is converted when it has a template (see ``studies/_common.py``). For each, the
functions ``render`` reaches in its module stay short and hold no prose (no string of more
than :data:`MAX_WORDS` words: table headers and labels are short, sentences are not), and
rendering its committed ``results.json`` (full and quick, no compute) writes the committed
``results.md`` and ``results.json`` byte for byte, the provenance of the run that computed
the numbers included. ``write_report`` itself refuses a template whose placeholders and
values disagree, so these renders also check every placeholder filled and every value used.
Runtime: a few seconds (render only: tables and a few matplotlib figures).
"""

from __future__ import annotations

import ast
import json
import re
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
from _studies import STUDIES, study

sys.path.insert(0, str(STUDIES))
import _common  # noqa: E402

CONVERTED = _common.template_names()
#: committed results the present render cannot read, and why (each is a result to recompute, not a page to fix)
STALE: dict[tuple[str, str], str] = {}
#: a function ``render`` reaches may have this many lines (tables of several columns need some)
MAX_LINES = 60
#: a string literal (an f-string's literal parts joined) of more words (of two letters or more) than this is prose
MAX_WORDS = 12


def _reached(tree: ast.Module) -> dict[str, ast.FunctionDef]:
    """The module's functions ``render`` calls, directly or through each other, ``render`` included."""
    funcs = {n.name: n for n in tree.body if isinstance(n, ast.FunctionDef)}
    todo, seen = ["render"], {}
    while todo:
        name = todo.pop()
        if name in seen or name not in funcs:
            continue
        seen[name] = funcs[name]
        todo += [c.func.id for c in ast.walk(funcs[name]) if isinstance(c, ast.Call) and isinstance(c.func, ast.Name)]
    return seen


def _strings(fn: ast.FunctionDef) -> list[str]:
    """String literals in ``fn`` without its docstring; an f-string's literal parts joined by a space."""
    doc = ast.get_docstring(fn, clean=False)
    inner = {id(v) for n in ast.walk(fn) if isinstance(n, ast.JoinedStr) for v in n.values}
    out = []
    for n in ast.walk(fn):
        if isinstance(n, ast.JoinedStr):
            out.append(" ".join(v.value for v in n.values if isinstance(v, ast.Constant)))
        elif isinstance(n, ast.Constant) and isinstance(n.value, str) and id(n) not in inner and n.value != doc:
            out.append(n.value)
    return out


def test_every_study_is_literate():
    """Every study has its template and writes through it (no page assembled in Python with StudyReport)."""
    studies = sorted(p.stem for p in STUDIES.glob("*.py") if not p.name.startswith("_"))
    assert CONVERTED == studies
    for name in studies:
        assert "StudyReport" not in (STUDIES / f"{name}.py").read_text(), name


@pytest.mark.parametrize("name", CONVERTED)
def test_render_has_no_prose(name: str):
    tree = ast.parse((STUDIES / f"{name}.py").read_text())
    reached = _reached(tree)
    assert "render" in reached
    for fname, fn in reached.items():
        lines = fn.end_lineno - fn.lineno + 1
        assert lines <= MAX_LINES, f"{name}.{fname} has {lines} lines (at most {MAX_LINES}): prose goes to the template"
        for s in _strings(fn):
            words = sum(len(re.findall("[A-Za-z]", w)) >= 2 for w in s.split())
            assert words <= MAX_WORDS, f"{name}.{fname}: prose in a string ({words} words): {s[:80]!r}"


@pytest.mark.parametrize("name", CONVERTED)
@pytest.mark.parametrize("sub", ["", "quick"])
def test_committed_results_render_to_the_committed_page(
    name: str, sub: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """Rendering the committed results.json writes the committed results.md and results.json (provenance kept).

    The figures are drawn but not saved (saving is most of the time; test_studies_quick checks the
    PNGs): the committed ones (or empty files: quick PNGs are not committed) stand in for them, as
    they do for a figure whose data results.json does not hold (agilus30_prony's master curve,
    not redistributed).
    """
    src = _common.RESULTS / name / sub
    if not (src / "results.json").is_file():
        pytest.skip(f"no committed {src / 'results.json'}")
    if (name, sub) in STALE:
        pytest.skip(STALE[name, sub])
    for png in src.glob("*.png"):
        shutil.copy(png, tmp_path / png.name)
    if hasattr(study(name), "save_figure"):
        monkeypatch.setattr(study(name), "save_figure", lambda fig, out, filename, dpi=150: (out / filename).touch())
    study(name).render(json.loads((src / "results.json").read_text()), tmp_path)
    assert (tmp_path / "results.json").read_text() == (src / "results.json").read_text()
    assert (tmp_path / "results.md").read_text() == (src / "results.md").read_text()


def test_fill_template_refuses_a_mismatch():
    text = "# T\n\n<!-- if good -->fine {x:.1f}<!-- else -->poor<!-- end -->\n"
    assert _common.fill_template(text, {"x": 1.25}, {"good": True}) == "# T\n\nfine 1.2\n"
    assert _common.fill_template(text, {"x": 1.25}, {"good": False}) == "# T\n\npoor\n"
    assert _common.fill_template(text, {"x": 1.25}, {"good": np.float64(2) > 1}) == "# T\n\nfine 1.2\n"
    for values, verdicts, msg in (
        ({}, {"good": True}, "has no value"),
        ({"x": 1, "y": 2}, {"good": True}, "used by no placeholder"),
        ({"x": 1}, {"good": 1}, "not a bool"),
        ({"x": 1}, {"good": np.float64(1.0)}, "not a bool"),
        ({"x": 1}, {}, "asked but not given"),
        ({"x": 1}, {"good": True, "other": False}, "never asked"),
    ):
        with pytest.raises(ValueError, match=msg):
            _common.fill_template(text, values, verdicts)
    block = "<!-- if a -->\nyes\n<!-- else -->\nno\n<!-- end -->\nafter\n"
    assert _common.fill_template(block, {}, {"a": False}) == "no\nafter\n"
    nested = "<!-- if a -->x<!-- if b -->y<!-- else -->z<!-- end --><!-- else -->w<!-- end -->"
    assert _common.fill_template(nested, {}, {"a": True, "b": False}) == "xz"
    assert _common.fill_template(nested, {}, {"a": False, "b": True}) == "w"
    with pytest.raises(ValueError, match="not closed"):
        _common.fill_template("<!-- if a -->x", {}, {"a": True})


def test_no_study_defines_a_class_or_imports_another():
    """Studies hold no library code (the ``_`` helpers may hold plain records, and are shared)."""
    names = {p.stem for p in STUDIES.glob("*.py")}
    for path in sorted(p for p in STUDIES.glob("*.py") if not p.name.startswith("_")):
        tree = ast.parse(path.read_text())
        assert not [n.name for n in ast.walk(tree) if isinstance(n, ast.ClassDef)], path.name
        imported = {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
        imported |= {n.module.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
        others = {m for m in imported & names if not m.startswith("_")}
        assert not others, f"{path.name} imports the studies {sorted(others)}"


def test_rerender_option_keeps_the_computing_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    """``--rerender`` writes the page from the results.json in ``--out``, which it leaves as it is; none is an error."""
    src = _common.RESULTS / "geometry_refinement" / "quick"
    shutil.copy(src / "results.json", tmp_path / "results.json")
    mod = study("geometry_refinement")
    assert mod.main(["--rerender", "--out", str(tmp_path)]) == 0
    assert (tmp_path / "results.json").read_text() == (src / "results.json").read_text()
    assert (tmp_path / "results.md").read_text() == (src / "results.md").read_text()
    assert mod.main(["--rerender", "--out", str(tmp_path / "none")]) == 2
    assert "--rerender needs" in capsys.readouterr().err
