"""Property-based fuzzing: broken designs and command lines never crash the package.

Properties (issue 5):

* ``design_from_dict`` / ``load_design`` return a design that passes independent
  checks, or raise :class:`InputError` with a one-line message that starts with
  the source (file) name and, for targeted damage, names the damaged field.
* ``fem_mnn.cli.main(argv)`` returns 0 or 2 and never raises; on failure it prints
  exactly one line on stderr and writes nothing (the folder is unchanged); on
  success it writes a finite, complete result.

Every test is derandomized (the same cases on every CI run). The number of cases
actually run is counted and checked by the last test (>= 1000 in total).
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import os
import warnings
from pathlib import Path
from unittest import mock

import numpy as np
import pytest
from _fuzz_strategies import (
    BASES,
    DICTS,
    broken_json_bytes,
    floppy_candidate,
    mutated_design,
    targeted_design,
)
from conftest import need_dolfinx, run_cli
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fem_mnn.cli import main
from fem_mnn.core.errors import InputError
from fem_mnn.design import Design, design_from_dict, load_design, save_design
from fem_mnn.design.printability import read_design_lenient
from fem_mnn.design.rigidity import compatibility_matrix, free_dofs
from fem_mnn.spring.network import SpringModel

SRC = "fuzzed.json"
COUNT: dict[str, int] = {}
PLANNED = {}


def fuzz_settings(n: int, name: str):
    PLANNED[name] = n
    return settings(
        max_examples=n,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large],
    )


def _count(name: str) -> None:
    COUNT[name] = COUNT.get(name, 0) + 1


# ------------------------------------------------------------------ oracles


def _rank_deficient(d: dict) -> bool:
    """Independent rigidity oracle: rank of C on the free dofs (SVD), from the raw dict."""
    nodes = np.array(d["nodes"], dtype=float)
    bonds = np.array(d["bonds"], dtype=int).reshape(-1, 2)
    rows = np.zeros((len(bonds), 2 * len(nodes)))
    for r, (i, j) in enumerate(bonds):
        e = nodes[j] - nodes[i]
        e /= np.hypot(*e)
        rows[r, 2 * i : 2 * i + 2] = -e
        rows[r, 2 * j : 2 * j + 2] = e
    free = [k for k in range(2 * len(nodes)) if k // 2 not in set(d["fixed"])]
    return np.linalg.matrix_rank(rows[:, free]) < len(free)


def assert_valid_design(design: Design) -> None:
    """What a returned design must satisfy, checked without the validator."""
    assert isinstance(design, Design)
    n, nb = design.n_nodes, design.n_bonds
    assert n >= 2 and nb >= 1 and design.nodes.shape == (n, 2) and design.widths.shape == (nb,)
    assert np.all(np.isfinite(design.nodes)) and np.all(np.isfinite(design.widths))
    g = design.geometry
    tol = 1e-9 * g.width_max
    assert np.all(design.widths >= g.width_min - tol) and np.all(design.widths <= g.width_max + tol)
    assert design.bonds.min() >= 0 and design.bonds.max() < n
    assert np.all(design.bonds[:, 0] != design.bonds[:, 1])
    assert len({tuple(sorted(p)) for p in design.bonds.tolist()}) == nb
    assert design.fixed and all(0 <= i < n for i in design.fixed) and len(set(design.fixed)) == len(design.fixed)
    diff = design.nodes[:, None, :] - design.nodes[None, :, :]
    dist = np.hypot(diff[..., 0], diff[..., 1]) + np.eye(n)
    assert dist.min() > 0
    assert design.thickness > 0 and design.material.E > 0 and -1 < design.material.nu < 0.5
    # rigid: C restricted to the free dofs has full column rank
    C = compatibility_matrix(design).toarray()[:, free_dofs(design)]
    assert np.linalg.matrix_rank(C) == C.shape[1]
    # it round-trips and it solves
    assert design_from_dict(design.to_dict()).hash() == design.hash()
    f = np.zeros((n, 2))
    f[[i for i in range(n) if i not in design.fixed][0]] = (0.01, -0.02)
    u = SpringModel(design).solve(f).u
    assert np.all(np.isfinite(u))


def assert_one_line_error(err: InputError, source: str) -> str:
    msg = str(err)
    assert msg and "\n" not in msg and "\r" not in msg, repr(msg)
    assert msg.startswith(f"{source}: "), msg
    return msg


def check_dict(d: object, field: str | None = None, needle: str | None = None) -> Design | None:
    try:
        design = design_from_dict(d, source=SRC)
    except InputError as err:
        msg = assert_one_line_error(err, SRC)
        if field is not None:
            assert f"{SRC}: {field}: " in msg, (field, msg)
        if needle is not None:
            assert needle in msg, (needle, msg)
        return None
    assert field is None and needle is None, f"accepted a design damaged at {field!r} ({needle!r})"
    assert_valid_design(design)
    return design


# -------------------------------------------------------------- design dicts


@fuzz_settings(450, "targeted")
@given(targeted_design())
def test_targeted_damage_is_refused_naming_the_field(case):
    _count("targeted")
    d, field, needle = case
    if field is None and needle is None:
        pytest.fail("strategy produced an undamaged case")
    assert check_dict(d, field, needle) is None


@fuzz_settings(350, "mutated")
@given(mutated_design())
def test_arbitrary_damage_never_escapes_as_another_exception(d):
    _count("mutated")
    check_dict(d)


@fuzz_settings(200, "floppy")
@given(floppy_candidate())
def test_floppy_lattices_are_refused_exactly_when_they_are_floppy(d):
    _count("floppy")
    used = {i for p in d["bonds"] for i in p}
    expect_ok = bool(d["bonds"]) and bool(d["fixed"]) and used == set(range(len(d["nodes"]))) and not _rank_deficient(d)
    design = check_dict(d)
    assert (design is not None) == expect_ok, (d["fixed"], len(d["bonds"]))


def test_python_level_abuse_of_design_from_dict():
    # non-string keys and odd containers only reach design_from_dict from Python
    d = dict(DICTS["paper"])
    d[1] = 2
    with pytest.raises(InputError, match=f"^{SRC}: 1: unknown key"):
        design_from_dict(d, source=SRC)
    d = json.loads(json.dumps(DICTS["paper"]))
    d["material"][("E",)] = 1
    with pytest.raises(InputError, match="unknown key"):
        design_from_dict(d, source=SRC)


# ---------------------------------------------------------------- JSON files


@pytest.fixture(scope="module")
def fuzz_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


@fuzz_settings(300, "json")
@given(raw=broken_json_bytes())
def test_damaged_files_load_or_fail_in_one_line(fuzz_dir, raw):
    _count("json")
    path = fuzz_dir / "design.json"
    path.write_bytes(raw)
    try:
        design = load_design(path)
    except InputError as err:
        assert_one_line_error(err, str(path))
    else:
        assert_valid_design(design)
    # the lenient reader of `fem-mnn validate` meets the same files
    try:
        read_design_lenient(path)
    except InputError as err:
        assert_one_line_error(err, str(path))


@pytest.mark.parametrize(
    "make",
    [
        lambda p: p / "missing.json",
        lambda p: p,  # a directory
        lambda p: p / ("x" * 300 + ".json"),  # name too long
        lambda p: p / "d.json" / "below-a-file.json",
    ],
    ids=["missing", "directory", "name-too-long", "below-a-file"],
)
def test_unreadable_paths_name_the_file(tmp_path, make):
    (tmp_path / "d.json").write_text("{}")
    path = make(tmp_path)
    for reader in (load_design, read_design_lenient):
        with pytest.raises(InputError) as exc:
            reader(path)
        assert_one_line_error(exc.value, str(path))


# ------------------------------------------------------------- command lines


@pytest.fixture(scope="module")
def cli_files(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("cli")
    files = {name: save_design(d, root / f"{name}.json") for name, d in BASES.items()}
    bad = json.loads(json.dumps(DICTS["paper"]))
    bad["widths"][3] = 9.0
    (root / "bad.json").write_text(json.dumps(bad))
    (root / "notjson.json").write_text("{nodes: [")
    (root / "adir").mkdir()
    files.update(
        bad=root / "bad.json", notjson=root / "notjson.json", missing=root / "missing.json", adir=root / "adir"
    )
    return files


NUMBERS = st.one_of(
    st.floats(-1.0, 1.0).map(repr),
    st.sampled_from(
        ["0", "-0.05", "1e-3", " 0.01", "+2", "1_0", "nan", "inf", "-Infinity", "1e400", "", "a", "_", "0x1", "1,2"]
    ),
    st.floats(allow_nan=False, allow_infinity=False).map(repr),
    st.sampled_from(["1e100", "-1e100", "1.0000001e100", "1e200", "-1e300"]),
)


@st.composite
def vector_spec(draw, n: int, fixed: tuple[int, ...], allow_free: bool):
    """(spec text, node, comps or None when the spec is malformed)."""
    if draw(st.integers(0, 9)) == 0:
        return draw(st.text(max_size=12)), None, None
    node = draw(st.integers(-2, n + 2))
    x, y = draw(NUMBERS), draw(NUMBERS)
    sep = draw(st.sampled_from([":"] * 8 + ["::", ";", ""]))
    text = f"{node}{sep}{x},{y}"

    def value(s: str):
        s = s.strip()
        if allow_free and s == "_":
            return math.nan
        try:
            v = float(s)
        except ValueError:
            return None
        return v if math.isfinite(v) and abs(v) <= 1e100 else None

    vals = [value(x), value(y)]
    if sep != ":" or "," in x or "," in y or not 0 <= node < n or None in vals or node in fixed:
        return text, node, None
    return text, node, vals


@st.composite
def gradient_argv(draw, files: dict[str, Path], out_dir: Path):
    """(argv, expected exit code or None when the oracle cannot tell, out path or None)."""
    which = draw(st.sampled_from(["paper", "patch", "strip", "paper", "bad", "notjson", "missing", "adir"]))
    design = BASES.get(which)
    n, fixed = (design.n_nodes, design.fixed) if design else (14, (0, 4))
    argv: list[str] = [str(files[which])]
    ok = design is not None
    loads = draw(st.lists(vector_spec(n, fixed, allow_free=False), max_size=3))
    targets = draw(st.lists(vector_spec(n, fixed, allow_free=True), max_size=3))
    for text, _, vals in loads:
        argv += ["--load", text] if draw(st.booleans()) else [f"--load={text}"]
        ok &= vals is not None
    given_t: set[tuple[int, int]] = set()
    for text, node, vals in targets:
        argv += ["--target", text] if draw(st.booleans()) else [f"--target={text}"]
        ok &= vals is not None
        for c, v in enumerate(vals or []):
            if not math.isnan(v):
                ok &= (node, c) not in given_t
                given_t.add((node, c))
    ok &= bool(loads) and bool(targets) and bool(given_t)
    out_kind = draw(st.sampled_from(["none", "file", "file", "subdir", "dir", "below-file", "long"]))
    out = {
        "none": None,
        "file": out_dir / "g.json",
        "subdir": out_dir / "new" / "deeper" / "g.json",
        "dir": files["adir"],
        "below-file": files["paper"] / "g.json",
        "long": out_dir / ("g" * 300 + ".json"),
    }[out_kind]
    if out is not None:
        argv += ["--out", str(out)]
        ok &= out_kind in ("file", "subdir")
    if draw(st.integers(0, 7)) == 0:
        argv.insert(draw(st.integers(0, len(argv))), draw(st.sampled_from(["--bogus", "-x", "--", "extra", "--out"])))
        ok = None  # argparse decides
    argv = ["spring", "gradient", *argv]
    return argv, (None if ok is None else (0 if ok else 2)), out


def _snapshot(root: Path) -> dict[str, bytes]:
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = Path(dirpath) / name
            out[str(p)] = b"<dir>" if p.is_dir() else p.read_bytes()
    return out


def run_main(argv: list[str]) -> tuple[int, str, str]:
    """main() in process; warnings count as stderr lines (the console script would print them)."""
    out, err = io.StringIO(), io.StringIO()
    # durability is test_atomic's business: skipping fsync here keeps 2000 cases fast
    with (
        mock.patch("os.fsync"),
        contextlib.redirect_stdout(out),
        contextlib.redirect_stderr(err),
        warnings.catch_warnings(record=True) as w,
    ):
        warnings.simplefilter("always")
        rc = main(argv)
    shown = "".join(f"{x.filename}:{x.lineno}: {x.category.__name__}: {x.message}\n" for x in w)
    return rc, out.getvalue(), shown + err.getvalue()


def _all_finite(obj) -> bool:
    if isinstance(obj, dict):
        return all(_all_finite(v) for v in obj.values())
    if isinstance(obj, list):
        return all(_all_finite(v) for v in obj)
    if isinstance(obj, float):
        return math.isfinite(obj)
    return isinstance(obj, int) and not isinstance(obj, bool)


def check_cli_run(argv: list[str], expected: int | None, out: Path | None, root: Path) -> None:
    before = _snapshot(root)
    rc, stdout, stderr = run_main(argv)
    assert rc in (0, 2), (rc, argv, stderr)
    if expected is not None:
        assert rc == expected, (argv, stderr)
    if rc == 2:
        lines = stderr.splitlines()
        assert len(lines) == 1 and lines[0].strip(), (argv, stderr)
        assert _snapshot(root) == before, f"failed command changed files: {argv}"
    else:
        assert stderr == "", stderr
        if out is not None:
            doc = json.loads(out.read_text())
            assert {"loss", "u", "grad_w", "design_hash", "package_version"} <= set(doc)
            for key in ("loss", "u", "elongation", "adjoint_elongation", "grad_k", "grad_w"):
                assert _all_finite(doc[key]), f"{key} is not finite"
            after = _snapshot(root)
            new = set(after) - set(before)
            assert {str(out)} <= new and all(str(out).startswith(p) for p in new), new
            assert not [p for p in new if ".tmp" in Path(p).name], "a temporary file was left"
            for p in sorted(new, key=len, reverse=True):  # back to the old state for the next case
                os.rmdir(p) if Path(p).is_dir() else os.unlink(p)
        else:
            assert "loss =" in stdout


@fuzz_settings(450, "cli")
@given(data=st.data())
def test_random_gradient_command_lines(cli_files, data):
    _count("cli")
    root = cli_files["paper"].parent
    out_dir = root / "out"
    out_dir.mkdir(exist_ok=True)
    argv, expected, out = data.draw(gradient_argv(cli_files, out_dir))
    check_cli_run(argv, expected, out, root)


@fuzz_settings(120, "design-cmd")
@given(
    kind=st.sampled_from(["paper", "patch", "strip"]),
    size=st.tuples(st.integers(-1, 6), st.integers(-1, 6)),
    a=st.one_of(st.floats(-100, 100), st.sampled_from(["nan", "inf", "-inf", "1e300", "0", "1e-300", "x"])),
    width=st.one_of(st.floats(0, 4), st.sampled_from(["nan", "-1", "2", "1.5", "2.5", "y"])),
)
def test_random_design_command_lines(fuzz_dir, kind, size, a, width):
    _count("design-cmd")
    out = fuzz_dir / "dcmd" / "d.json"
    argv = ["design", kind, "--size", str(size[0]), str(size[1]), "--a", str(a), "--width", str(width), "-o", str(out)]
    before = _snapshot(fuzz_dir)
    rc, _, stderr = run_main(argv)
    assert rc in (0, 2), (rc, stderr)
    if rc == 2:
        assert len(stderr.splitlines()) == 1 and _snapshot(fuzz_dir) == before, stderr
    else:
        assert_valid_design(load_design(out))
        out.unlink()


BAD_OPTIONS = {
    "run": [["--stages", "bogus"], ["--stages", ""], ["--stages", "spring,nope"], ["--out", "{design}"]],
    "spring train": [
        ["--task", "regression", "--epochs", "-1"],
        ["--task", "regression", "--lr", "nan"],
        ["--task", "regression", "--lr", "0"],
        ["--task", "iris", "--batch", "x"],
        ["--task", "nope"],
        ["--task", "behaviour", "--checkpoint-every", "-2"],
        ["--task", "behaviour", "--beta", "-inf"],
        ["--task", "behaviour", "--parametrisation", "tanh"],
        ["--task", "behaviour", "--seed", "1.5"],
        ["--epochs", "3"],
    ],
    "mesh": [
        ["--elements-across", "0"],
        ["--elements-across", "-2"],
        ["--elements-across", "x"],
        ["--refinement", "nan"],
        ["--refinement", "0"],
        ["--refinement", "-1"],
        ["--max-size", "0"],
        ["--max-size", "inf"],
        ["--dim", "4"],
        ["--order", "3"],
    ],
    "stl": [],
    "validate": [["--build-volume", "1", "2"], ["--build-volume", "a", "b", "c"]],
    "fem gradient": [["--load", "99:0,1"], ["--load", "4:0,1"], ["--target", "9:_,2"], ["--load", "5:nan,0"]],
}
OUT_NAMES = {
    "mesh": "m.msh",
    "stl": "s.stl",
    "validate": "r.json",
    "fem gradient": "g.json",
    "spring train": "run",
    "run": "job",
}


@fuzz_settings(200, "other-cmds")
@given(data=st.data())
def test_other_commands_refuse_broken_input_in_one_line(fuzz_dir, data):
    """mesh, stl, validate, fem gradient, spring train, run on damaged designs or bad options (before any engine)."""
    _count("other-cmds")
    root = fuzz_dir / "other"
    root.mkdir(exist_ok=True)
    cmd = data.draw(st.sampled_from(sorted(BAD_OPTIONS)))
    design = root / "d.json"
    broken = cmd == "stl" or not BAD_OPTIONS[cmd] or data.draw(st.booleans())
    if broken:
        design.write_text(json.dumps(data.draw(targeted_design())[0]))
    else:
        save_design(BASES["paper"], design)
    out = root / "out" / OUT_NAMES[cmd]
    argv = [*cmd.split(), str(design)]
    if cmd == "validate":
        argv += ["--json", str(out)]
    elif cmd == "fem gradient":
        argv += ["--load", "5:0,-0.01", "--target", "9:_,-1", "--out", str(out)]
    elif cmd == "run":
        argv += ["--out", str(out), "--quick"] + ([] if broken else ["--stages", "spring"])
    elif cmd == "spring train":
        argv += ["--out", str(out), "--quiet"] + (["--task", "regression", "--epochs", "2"] if broken else [])
    else:
        argv += ["-o", str(out) if data.draw(st.integers(0, 5)) else str(out.with_suffix(".txt"))]
    if not broken:
        argv += [a.replace("{design}", str(design)) for a in data.draw(st.sampled_from(BAD_OPTIONS[cmd]))]
    before = _snapshot(root)
    rc, stdout, stderr = run_main(argv)
    if cmd == "validate":
        # 0 pass, 1 printability failure (report written), 2 bad input
        assert rc in (0, 1, 2), (rc, stderr)
        if rc != 2:
            assert stderr == "" and stdout and json.loads(out.read_text())
            out.unlink()
            return
    assert rc == 2, (argv, rc, stdout, stderr)
    assert len(stderr.splitlines()) == 1 and "Traceback" not in stderr, stderr
    assert _snapshot(root) == before


@fuzz_settings(100, "validate")
@given(d=st.one_of(mutated_design(), targeted_design().map(lambda t: t[0])))
def test_validate_reports_every_damaged_design_or_refuses_it_in_one_line(fuzz_dir, d):
    """``fem-mnn validate`` reads leniently and runs every check: the place where damaged data go deepest."""
    _count("validate")
    root = fuzz_dir / "validate"
    root.mkdir(exist_ok=True)
    design, report = root / "d.json", root / "out" / "r.json"
    design.write_text(json.dumps(d))
    before = _snapshot(root)
    rc, stdout, stderr = run_main(["validate", str(design), "--json", str(report)])
    assert rc in (0, 1, 2), (rc, stderr)
    if rc == 2:
        assert len(stderr.splitlines()) == 1 and stderr.startswith("fem-mnn: error: "), stderr
        assert _snapshot(root) == before
    else:
        assert stderr == "" and stdout, stderr
        doc = json.loads(report.read_text())
        assert isinstance(doc, dict)
        report.unlink()


# ------------------------------------------------------------- measured CSVs

CSV_GOOD = {
    "displacement": "# measured\nload_case,node,ux,uy,spread_ux,spread_uy\nm1,5,0.1,-0.2,0.01,\nm1,9,,-0.3,,\n",
    "load": "load_case,node,fx,fy\nm1,5,0,-0.049\nm1,7,0.01,0\n",
    "gradient": "bond,grad,spread\n0,1e-3,1e-4\n3,-2e-3,\n",
}
CSV_JUNK = ["", ",", ",,,,,", "nan", "inf", "-1", "1e999", "x", "1_0", "\x00", '"', '"a,b"', "#", "\ufeff", " 5 ", "٣"]


@st.composite
def damaged_csv(draw) -> tuple[str, bytes]:
    kind = draw(st.sampled_from(sorted(CSV_GOOD)))
    text = CSV_GOOD[kind]
    how = draw(st.sampled_from(["cell", "cell", "truncate", "insert", "huge-field", "bytes", "header", "blank"]))
    lines = text.splitlines(keepends=True)
    if how == "cell":
        r = draw(st.integers(0, len(lines) - 1))
        cells = lines[r].rstrip("\n").split(",")
        cells[draw(st.integers(0, len(cells) - 1))] = draw(st.sampled_from(CSV_JUNK) | st.text(max_size=6))
        lines[r] = ",".join(cells) + "\n"
        text = "".join(lines)
    elif how == "truncate":
        text = text[: draw(st.integers(0, len(text)))]
    elif how == "insert":
        a = draw(st.integers(0, len(text)))
        text = text[:a] + draw(st.text(max_size=5)) + text[a:]
    elif how == "huge-field":
        text = text + "m1," + "9" * 200_000 + ",0,0,0,0\n"
    elif how == "header":
        text = text.replace(lines[1 if kind == "displacement" else 0].split(",")[1], draw(st.text(max_size=4)), 1)
    elif how == "blank":
        text = draw(st.sampled_from(["", "\n\n", "# only a comment\n", lines[1 if kind == "displacement" else 0]]))
    raw = text.encode("utf-8", "surrogatepass")
    if how == "bytes":
        a = draw(st.integers(0, len(raw)))
        raw = raw[:a] + draw(st.binary(min_size=1, max_size=3)) + raw[a:]
    return kind, raw


@fuzz_settings(300, "csv")
@given(case=damaged_csv())
def test_damaged_measurement_files_are_read_or_refused_in_one_line(fuzz_dir, case):
    from fem_mnn.io import measured

    _count("csv")
    kind, raw = case
    path = fuzz_dir / "m.csv"
    path.write_bytes(raw)
    reader = {
        "displacement": measured.read_displacements,
        "load": measured.read_loads,
        "gradient": measured.read_gradients,
    }
    for f in (measured.sniff, reader[kind]):
        try:
            out = f(path)
        except InputError as err:
            assert_one_line_error(err, str(path))
        else:
            assert out


@fuzz_settings(100, "compare")
@given(measured=damaged_csv(), loads=st.one_of(st.just(("load", CSV_GOOD["load"].encode())), damaged_csv()))
def test_compare_refuses_damaged_measurements_in_one_line(cli_files, measured, loads):
    _count("compare")
    root = cli_files["paper"].parent / "compare"
    root.mkdir(exist_ok=True)
    (root / "m.csv").write_bytes(measured[1])
    (root / "l.csv").write_bytes(loads[1])
    out = root / "out"
    argv = ["compare", str(cli_files["paper"]), "--measured", str(root / "m.csv"), "--loads", str(root / "l.csv")]
    before = _snapshot(root)
    rc, _, stderr = run_main([*argv, "--models", "spring", "--out", str(out)])
    assert rc in (0, 2), (rc, stderr)
    if rc == 2:
        # compare may print a progress line first; the error is one line, the last
        lines = stderr.splitlines()
        assert lines and lines[-1].startswith("fem-mnn: error: "), stderr
        assert all(line.startswith("fem-mnn: ") and "error" not in line for line in lines[:-1]), stderr
        assert _snapshot(root) == before
    else:
        assert (out / "comparison.json").exists()
        for f in out.iterdir():
            f.unlink()
        out.rmdir()


@pytest.mark.parametrize(
    "argv,code",
    [(["--help"], 0), (["--version"], 0), (["spring", "gradient", "--help"], 0), (["nope"], 2), (["spring"], 2)],
)
def test_main_returns_its_exit_code_instead_of_raising_systemexit(argv, code):
    rc, stdout, stderr = run_main(argv)
    assert rc == code and (stdout or stderr)
    if code == 2 and argv == ["nope"]:
        assert len(stderr.splitlines()) == 1, stderr


# -------------------------------------------------- the user never sees a traceback


SUBPROCESS_CASES = {
    "deep-json": ("[" * 100_000, ["--load", "5:0,-0.01", "--target", "9:_,-1"]),
    "huge-int": ('{"nodes": 1' + "0" * 5000 + "}", ["--load", "5:0,-0.01", "--target", "9:_,-1"]),
    "load-on-fixed": (None, ["--load", "4:0,-0.01", "--target", "9:_,-1"]),
    "missing-options": (None, []),
    "out-is-a-directory": (None, ["--load", "5:0,-0.01", "--target", "9:_,-1", "--out", "{dir}"]),
    "overflowing-load": (None, ["--load", "5:0,-1e300", "--target", "9:_,-1"]),
}


@pytest.mark.parametrize("case", sorted(SUBPROCESS_CASES))
def test_no_traceback_reaches_the_user(tmp_path, case):
    text, args = SUBPROCESS_CASES[case]
    design = tmp_path / "d.json"
    if text is None:
        save_design(BASES["paper"], design)
    else:
        design.write_text(text)
    (tmp_path / "adir").mkdir()
    args = [a.replace("{dir}", str(tmp_path / "adir")) for a in args]
    before = _snapshot(tmp_path)
    r = run_cli("spring", "gradient", design, *args, process=True, timeout=60)
    assert r.returncode == 2, r.stderr
    assert "Traceback" not in r.stderr and len(r.stderr.splitlines()) == 1, r.stderr
    assert _snapshot(tmp_path) == before


@pytest.mark.fem
@pytest.mark.mpi
@pytest.mark.parametrize(
    "args",
    [["--load", "4:0,-0.01", "--target", "9:_,-1"], ["--load", "5:0,-0.01"]],
    ids=["load-on-fixed", "usage-error"],
)
def test_bad_input_under_mpiexec_is_reported_once(tmp_path, args, design_file):
    need_dolfinx()
    out = tmp_path / "g.json"
    r = run_cli("fem", "gradient", design_file, *args, "--out", out, ranks=2, timeout=120)
    assert r.returncode == 2, r.stderr
    assert len(r.stderr.splitlines()) == 1 and "Traceback" not in r.stderr, r.stderr
    assert not out.exists()


def test_enough_cases_ran():
    """Issue 5 asks for >= 1000 generated designs and command lines per CI run."""
    if set(COUNT) != set(PLANNED):
        pytest.skip("only part of the fuzz suite was selected")
    total = sum(COUNT.values())
    print(f"fuzz cases run: {total} {COUNT}")
    assert total >= 1000, COUNT
