"""Sampled mutation check (issue 21): ``./run mutation [GROUP ...] [--n 40] [--seed S]``.

Run by ``./run mutation`` in its own venv (``.tools/mutation-venv``: requirements.lock plus
requirements-dev-mutation.lock), never by the test suite (not a ``test_*`` file).

Steps:

1. **Coverage map** (cached in ``.tools/mutation-work`` under the hash of the package's
   sources and tests): the fast suite (``-m "not slow"``; with named groups only the test
   files that import them) runs once under coverage with every line labelled by the node id
   of the test that executed it (``tests/_mutation_contexts.py``); subprocesses are measured
   too. The same data gives the raise coverage (``raises.json``).
2. **Sample**: cosmic-ray's operators (restricted to ``OPERATORS``) enumerate every mutation
   of the group's files; ``random.Random(f"{seed}/{group}")`` picks ``n`` of them.
3. **Run**: each mutant is applied in place by cosmic-ray (``use_mutation`` restores the file;
   the driver checks the bytes after each one) and run with ``-x -q -m "not slow"`` and a
   timeout against the group's pin files (``tests/test_pins_GROUP*.py``) and the tests that
   execute its line (from the map, fastest first, up to ``STEP1_BUDGET`` s of their measured
   time; tests that failed in the map run are left out). A mutant that survives them is run
   against the group's own test files (whole files: a module fixture computed in one test's
   setup serves the others). A survivor of that is run against every test file that
   imports the mutated module (``import fem_mnn.x.y`` / ``from fem_mnn.x import <a name
   defined in y>``) before it is called a survivor.
4. **Result**: ``docs/mutation/<group>.json`` (commit, seed, tool versions, every sampled
   mutant with its line, change, outcome and the tests that decided it) and the kill rate
   over the non-equivalent mutants (``docs/mutation/equivalent.json``: ``file:line:operator:
   occurrence`` -> why) with its 95 % Wilson interval.
"""

from __future__ import annotations

import argparse
import ast
import hashlib
import json
import math
import os
import random
import re
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Iterable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / ".tools" / "mutation-work"
OUT = ROOT / "docs" / "mutation"
SEED = 20260521
N_DEFAULT = 40
#: measured seconds of covering tests run for a mutant before its own test files
STEP1_BUDGET = 60.0

#: group -> (source files, the group's own test files, fastest first)
GROUPS: dict[str, tuple[list[str], list[str]]] = {
    "spring": (
        ["fem_mnn/spring/network.py", "fem_mnn/spring/frame.py", "fem_mnn/spring/nonlinear.py"],
        ["tests/test_frame.py", "tests/test_taylor.py", "tests/test_spring.py", "tests/test_spring_nonlinear.py"],
    ),
    "learn": (
        [
            f"fem_mnn/learn/{m}.py"
            for m in (
                "adam",
                "checkpoint",
                "config",
                "evaluate",
                "history",
                "losses",
                "robust",
                "state",
                "taskfile",
                "tasks",
                "training",
            )
        ],  # fmt: skip
        [
            "tests/test_taylor.py",
            "tests/test_tasks.py",
            "tests/test_training.py",
            "tests/test_evaluate.py",
            "tests/test_taskfile.py",
            "tests/test_tolerance.py",
        ],
    ),
    "design": (
        [
            f"fem_mnn/design/{m}.py"
            for m in ("builders", "files", "outline", "printability", "records", "rigidity", "validate")
        ],
        ["tests/test_design.py", "tests/test_printability.py", "tests/test_scale.py"],
    ),
    "tolerance": (["fem_mnn/tolerance/analysis.py"], ["tests/test_tolerance.py"]),
    "contract": (
        ["fem_mnn/contract.py"],
        ["tests/test_frame.py", "tests/test_taylor.py", "tests/test_compare.py", "tests/test_extract.py"],
    ),
    "extract": (["fem_mnn/fem/extract.py"], ["tests/test_extract.py"]),
    "width_map": (["fem_mnn/fem/width_map.py"], ["tests/test_shape.py"]),
    "shape": (["fem_mnn/fem/shape.py"], ["tests/test_shape.py"]),
}

_ARITH = ("Add", "Sub", "Mul", "Div", "FloorDiv", "Mod", "Pow")
_ORDER = ("Eq", "NotEq", "Lt", "LtE", "Gt", "GtE")


def allowed_operator(name: str) -> bool:
    """The mutations the issue names: arithmetic or comparison swapped, a constant changed, a ``not``
    added or dropped, and/or, True/False, break/continue, a loop run zero times, an except clause
    that no longer matches. Left out: arithmetic replaced by bit or shift operators and ``~`` (on
    floats they only raise TypeError, which inflates the kill rate) and decorator removal."""
    op = name.split("/", 1)[1]
    m = re.fullmatch(r"ReplaceBinaryOperator_(\w+?)_(\w+)", op)
    if m:
        return m[1] in _ARITH and m[2] in _ARITH
    m = re.fullmatch(r"ReplaceComparisonOperator_(\w+?)_(\w+)", op)
    if m:
        return (m[1] in _ORDER and m[2] in _ORDER) or {m[1], m[2]} == {"Is", "IsNot"}
    if op.startswith("ReplaceUnaryOperator_"):
        return op in (
            "ReplaceUnaryOperator_USub_UAdd",
            "ReplaceUnaryOperator_Delete_USub",
            "ReplaceUnaryOperator_Delete_Not",
        )
    return op in (
        "AddNot",
        "ReplaceTrueWithFalse",
        "ReplaceFalseWithTrue",
        "ReplaceAndWithOr",
        "ReplaceOrWithAnd",
        "ReplaceBreakWithContinue",
        "ReplaceContinueWithBreak",
        "NumberReplacer",
        "ZeroIterationForLoop",
        "ExceptionReplacer",
    )


# ---------------------------------------------------------------------------- helpers


def _git(*args: str) -> str:
    return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=True).stdout.strip()


def _tree_hash() -> str:
    # the package's sources only: the map's line numbers are theirs; tests added later (the pins)
    # are not in the map but run as the groups' own files
    h = hashlib.sha256()
    for p in sorted(ROOT.glob("fem_mnn/**/*.py")):
        h.update(str(p.relative_to(ROOT)).encode() + b"\0" + p.read_bytes())
    return h.hexdigest()[:16]


def wilson(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """95 % Wilson score interval of a proportion k/n."""
    if n == 0:
        return 0.0, 1.0
    p = k / n
    den = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / den
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / den
    return max(0.0, centre - half), min(1.0, centre + half)


def _env() -> dict[str, str]:
    env = dict(os.environ)
    # a mutant and its restore can fall in one second with the same size: no stale bytecode
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), str(ROOT / "tests"), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    return env


def _run(cmd: list[str], timeout: float, log: Path | None = None) -> tuple[str, float, str]:
    """('passed' | 'failed' | 'timeout', seconds, tail of the output); the process group dies on timeout."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        cmd, cwd=ROOT, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True
    )
    try:
        out, _ = proc.communicate(timeout=timeout)
        status = "passed" if proc.returncode == 0 else "failed"
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate()
        status = "timeout"
    text = out.decode(errors="replace")
    if log is not None:
        log.write_text(text)
    return status, time.perf_counter() - t0, "\n".join(text.strip().splitlines()[-3:])


# ---------------------------------------------------------------------------- importers


def _top_names(path: Path) -> set[str]:
    names = set()
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names.update(t.id for t in node.targets if isinstance(t, ast.Name))
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
    return names


def importers(source: str) -> list[str]:
    """Test files that import the module ``source`` (directly, or a name it defines through its package)."""
    mod = source[:-3].replace("/", ".")
    pkg, _, leaf = mod.rpartition(".")
    names = _top_names(ROOT / source)
    out = []
    for t in sorted((ROOT / "tests").glob("*.py")):
        if t.name.startswith("_mutation"):
            continue
        tree = ast.parse(t.read_text())
        hit = False
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                hit |= any(a.name == mod or a.name.startswith(mod + ".") for a in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module:
                if node.module == mod:
                    hit = True
                elif node.module == pkg:
                    hit |= any(a.name == leaf or a.name in names for a in node.names)
        if hit:
            out.append(str(t.relative_to(ROOT)))
    return out


# ---------------------------------------------------------------------------- coverage map


def coverage_map(test_files: list[str] | None, python: str) -> Path:
    """Run the fast suite (or ``test_files``) once under coverage with per-test contexts; cached by tree hash."""
    key = _tree_hash() + (
        "-all" if test_files is None else "-" + hashlib.sha256(" ".join(test_files).encode()).hexdigest()[:8]
    )
    d = WORK / f"cov-{key}"
    if (d / "map.json").exists():
        return d
    # a map over the whole suite serves any subset
    for full in WORK.glob(f"cov-{_tree_hash()}-all/map.json"):
        return full.parent
    d.mkdir(parents=True, exist_ok=True)
    for f in d.glob(".coverage*"):
        f.unlink()
    rc = d / "coveragerc"
    rc.write_text(
        f"[run]\nsource = {ROOT / 'fem_mnn'}\ndata_file = {d / '.coverage'}\nparallel = true\npatch = subprocess\n"
    )
    env = _env()
    env["FEM_MNN_MUTATION_OUTCOMES"] = str(d / "outcomes.json")
    cmd = [python, "-m", "coverage", "run", f"--rcfile={rc}", "-m", "pytest", "-m", "not slow", "-q"]
    cmd += ["-p", "_mutation_contexts", "-p", "no:cacheprovider", *(test_files or [])]
    print(f"[mutation] coverage map: {shlex.join(cmd[3:])} (the fast suite takes 10-20 min under coverage)", flush=True)
    t0 = time.perf_counter()
    with open(d / "pytest.log", "w") as log:
        subprocess.run(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, check=False)
    subprocess.run([python, "-m", "coverage", "combine", f"--rcfile={rc}", "-q"], cwd=ROOT, check=True)
    build_map(d, time.perf_counter() - t0)
    (d / "commit").write_text(_git("rev-parse", "HEAD") + "\n")
    return d


def build_map(d: Path, seconds: float | None = None) -> None:
    """map.json: per source file, line -> node ids of the tests that executed it ('' = outside any test)."""
    import coverage  # the mutation venv's

    data = coverage.CoverageData(str(d / ".coverage"))
    data.read()
    out: dict[str, dict[str, list[str]]] = {}
    for f in data.measured_files():
        rel = str(Path(f).resolve().relative_to(ROOT))
        out[rel] = {str(k): sorted(v) for k, v in data.contexts_by_lineno(f).items()}
    outcomes = json.loads((d / "outcomes.json").read_text()) if (d / "outcomes.json").exists() else {}
    json.dump({"lines": out, "outcomes": outcomes, "seconds": seconds}, open(d / "map.json", "w"))


def pins_coverage(python: str) -> dict[str, set[int]]:
    """Lines run by the pin files (tests/test_pins_*.py, written after the map): a short coverage run."""
    d = WORK / "cov-pins"
    d.mkdir(parents=True, exist_ok=True)
    for f in d.glob(".coverage*"):
        f.unlink()
    rc = d / "coveragerc"
    rc.write_text(
        f"[run]\nsource = {ROOT / 'fem_mnn'}\ndata_file = {d / '.coverage'}\nparallel = true\npatch = subprocess\n"
    )
    pins = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "tests").glob("test_pins_*.py"))
    cmd = [python, "-m", "coverage", "run", f"--rcfile={rc}", "-m", "pytest", "-q", "-p", "no:cacheprovider", *pins]
    subprocess.run(cmd, cwd=ROOT, env=_env(), stdout=subprocess.DEVNULL, check=False)
    subprocess.run([python, "-m", "coverage", "combine", f"--rcfile={rc}", "-q"], cwd=ROOT, check=True)
    import coverage

    data = coverage.CoverageData(str(d / ".coverage"))
    data.read()
    return {str(Path(f).resolve().relative_to(ROOT)): set(data.lines(f) or []) for f in data.measured_files()}


def raise_report(d: Path, extra: dict[str, set[int]] | None = None) -> dict:
    """Every ``raise`` in the package and whether any test (in process or in a subprocess) reached it:
    ``reached`` by the suite of the map, ``reached_with_pins`` adding the pin files."""
    lines = json.loads((d / "map.json").read_text())["lines"]
    extra = extra or {}
    rows = []
    for p in sorted((ROOT / "fem_mnn").rglob("*.py")):
        rel = str(p.relative_to(ROOT))
        hit = {int(k) for k in lines.get(rel, {})}
        hit_pins = hit | extra.get(rel, set())
        for node in ast.walk(ast.parse(p.read_text())):
            if isinstance(node, ast.Raise):
                exc = node.exc.func if isinstance(node.exc, ast.Call) else node.exc
                name = ast.unparse(exc) if exc is not None else "(re-raise)"
                span = range(node.lineno, (node.end_lineno or node.lineno) + 1)
                rows.append(
                    {
                        "file": rel,
                        "line": node.lineno,
                        "exception": name,
                        "reached": any(i in hit for i in span),
                        "reached_with_pins": any(i in hit_pins for i in span),
                    }
                )
    return {
        "total": len(rows),
        "reached": sum(r["reached"] for r in rows),
        "reached_with_pins": sum(r["reached_with_pins"] for r in rows),
        "raises": rows,
    }


# ---------------------------------------------------------------------------- mutants


def enumerate_mutants(sources: Iterable[str]) -> list[dict]:
    import cosmic_ray.plugins
    from cosmic_ray.ast import ast_nodes, get_ast_from_path

    names = sorted(n for n in cosmic_ray.plugins.operator_names() if allowed_operator(n))
    out = []
    for src in sources:
        tree = get_ast_from_path(ROOT / src)
        nodes = list(ast_nodes(tree))
        for name in names:
            op = cosmic_ray.plugins.get_operator(name)()
            positions = [(s, e) for node in nodes for s, e in op.mutation_positions(node)]
            for occ, (s, e) in enumerate(positions):
                out.append(
                    {"file": src, "operator": name, "occurrence": occ, "line": s[0], "col": s[1], "end": list(e)}
                )
    return out


def _changed_line(original: str, mutated: str, line: int) -> dict:
    a, b = original.splitlines(), mutated.splitlines()
    return {
        "before": a[line - 1].strip() if line <= len(a) else "",
        "after": b[line - 1].strip() if line <= len(b) else "",
    }


def run_mutant(m: dict, the_map: dict, own: list[str], python: str, logdir: Path, files_only: bool = False) -> dict:
    """Run one mutant: the tests that execute its line, then (if it survives) their files and the own files.

    ``files_only``: skip the first step (a rerun of a survivor against test files added since).
    """
    from cosmic_ray.mutating import use_mutation
    from cosmic_ray.plugins import get_operator

    path = ROOT / m["file"]
    original = path.read_bytes()
    lines = the_map["lines"].get(m["file"], {})
    failed = set(the_map["outcomes"].get("failed", []))
    durations = the_map["outcomes"].get("durations", {})
    line_ctx = set()
    for i in range(m["line"], m["end"][0] + 1):
        line_ctx |= set(lines.get(str(i), []))
    # fastest first: with -x a mutant dies at its first failing test
    tests = sorted((c for c in line_ctx if c and c not in failed), key=lambda c: (durations.get(c, 0.0), c))
    # a line that every test runs (an input check) would make this the whole suite: the fastest
    # covering tests up to STEP1_BUDGET s of their measured time; the own files follow anyway
    budget, kept = STEP1_BUDGET, []
    for c in tests:
        budget -= durations.get(c, 0.0)
        if budget < 0 and kept:
            break
        kept.append(c)
    res_cap = len(tests) - len(kept)
    tests = kept
    pins = [f for f in own if Path(f).name.startswith("test_pins_")]
    # tests that failed without a mutant cannot kill one (in the mutation venv test_environment does)
    base = [python, "-m", "pytest", "-x", "-q", "-m", "not slow", "-p", "no:cacheprovider"]
    base += [a for t in sorted(failed) for a in ("--deselect", t)]
    res = dict(m, covered_by=len(tests) + res_cap, covering_run=len(tests), reached=bool(line_ctx), steps=[])

    def timeout_for(ids: list[str], files: list[str]) -> float:
        t = sum(v for k, v in durations.items() if k in ids or k.split("::")[0] in files)
        return 60.0 + 3.0 * t

    tag = f"{Path(m['file']).stem}-{m['line']}-{m['operator'].split('/')[-1]}-{m['occurrence']}"
    with use_mutation(path, get_operator(m["operator"])(), m["occurrence"]) as (orig_code, mutated):
        if mutated is None:
            res["outcome"] = "no-mutation"
        else:
            res.update(_changed_line(orig_code, mutated, m["line"]))
            res["outcome"] = "survived"
            plans = []
            if (tests or pins) and not files_only:
                # the group's pin files (tests/test_pins_GROUP*.py, fast and precise) first
                plans.append(("covering tests", pins + tests, timeout_for(tests, pins)))
            plans.append(("own files", own, timeout_for([], own)))
            for i, (what, args, tmo) in enumerate(plans):
                status, secs, tail = _run(base + args, tmo, logdir / f"{tag}-{i}.log")
                res["steps"].append({"what": what, "n_args": len(args), "status": status, "seconds": round(secs, 1)})
                if status != "passed":
                    res["outcome"] = "killed" if status == "failed" else "timeout"
                    res["killed_by"] = what
                    res["tail"] = tail
                    break
    if path.read_bytes() != original:  # cosmic-ray restores in a finally; never go on from a mutated tree
        path.write_bytes(original)
        raise SystemExit(f"[mutation] {m['file']} was not restored; restored it from memory, stopping")
    return res


def confirm_survivor(res: dict, the_map: dict, python: str, logdir: Path) -> dict:
    """Run a survivor against every test file that imports its module."""
    from cosmic_ray.mutating import use_mutation
    from cosmic_ray.plugins import get_operator

    files = importers(res["file"])
    path = ROOT / res["file"]
    original = path.read_bytes()
    tag = f"{Path(res['file']).stem}-{res['line']}-{res['operator'].split('/')[-1]}-{res['occurrence']}-importers"
    with use_mutation(path, get_operator(res["operator"])(), res["occurrence"]):
        cmd = [python, "-m", "pytest", "-x", "-q", "-m", "not slow", "-p", "no:cacheprovider", *files]
        cmd += [a for t in sorted(the_map["outcomes"].get("failed", [])) for a in ("--deselect", t)]
        status, secs, tail = _run(cmd, 1800.0, logdir / f"{tag}.log")
    if path.read_bytes() != original:
        path.write_bytes(original)
        raise SystemExit(f"[mutation] {res['file']} was not restored; restored it from memory, stopping")
    res["steps"].append({"what": "importing files", "n_args": len(files), "status": status, "seconds": round(secs, 1)})
    if status != "passed":
        res["outcome"] = "killed" if status == "failed" else "timeout"
        res["killed_by"] = "importing files"
        res["tail"] = tail
    return res


def dump(doc: dict) -> str:
    """JSON with one line per mutant or raise statement (small diffs between runs)."""
    lines = ["{"]
    items = list(doc.items())
    for n, (k, v) in enumerate(items):
        end = "," if n < len(items) - 1 else ""
        if isinstance(v, list) and v and isinstance(v[0], dict):
            rows = [json.dumps(x, separators=(",", ":")) for x in v]
            lines.append(f" {json.dumps(k)}: [\n  " + ",\n  ".join(rows) + f"\n ]{end}")
        else:
            lines.append(f" {json.dumps(k)}: {json.dumps(v)}{end}")
    return "\n".join(lines) + "\n}\n"


def key(r: dict) -> str:
    return f"{r['file']}:{r['line']}:{r['operator'].split('/')[-1]}:{r['occurrence']}"


def summarise(group: str, results: list[dict], equivalent: dict[str, str]) -> dict:
    real = [r for r in results if r["outcome"] != "no-mutation"]
    eq = [r for r in real if r["outcome"] == "survived" and key(r) in equivalent]
    considered = [r for r in real if r not in eq]
    killed = sum(r["outcome"] in ("killed", "timeout") for r in considered)
    lo, hi = wilson(killed, len(considered))
    return {
        "group": group,
        "sampled": len(real),
        "killed": killed,
        "equivalent": len(eq),
        "non_equivalent": len(considered),
        "kill_rate": killed / len(considered) if considered else None,
        "kill_rate_ci95": [lo, hi],
        "survivors": [
            {
                "at": f"{r['file']}:{r['line']}",
                "key": key(r),
                "before": r.get("before"),
                "after": r.get("after"),
                "equivalent": equivalent.get(key(r)),
            }
            for r in real
            if r["outcome"] == "survived"
        ],
    }


def _killer(r: dict) -> str:
    """'pins' when the failing test is in a tests/test_pins_* file, 'suite' for another test, '' for none."""
    if r["outcome"] == "timeout":
        return "suite"
    m = re.search(r"FAILED (tests/[^:]+)::", r.get("tail", ""))
    if r["outcome"] != "killed":
        return ""
    return "pins" if m and Path(m[1]).name.startswith("test_pins_") else "suite"


def report(groups: list[str]) -> str:
    """Markdown tables of the committed results (docs/reliability.md, "Mutation testing")."""
    rows = [
        "| Group | Files | Sampled | Equivalent | First pass: killed | Killed (with the pins) | first failing test a pin | 95 % CI |",
        "|---|---|---|---|---|---|---|---|",
    ]
    surv = []
    for g in groups:
        f = OUT / f"{g}.json"
        if not f.exists():
            continue
        doc = json.loads(f.read_text())
        s = doc["summary"]
        by_pins = sum(_killer(r) == "pins" for r in doc["mutants"])
        files = ", ".join(sorted({Path(r["file"]).name for r in doc["mutants"]}))
        lo, hi = s["kill_rate_ci95"]
        fp = doc.get("first_pass", s)
        rows.append(
            f"| {g} | {files} | {s['sampled']} | {s['equivalent']} | {fp['killed']}/{fp['sampled']} | "
            f"{s['killed']}/{s['non_equivalent']} = {100 * (s['kill_rate'] or 0):.0f} % | {by_pins} | "
            f"{100 * lo:.0f}-{100 * hi:.0f} % |"
        )
        for v in s["survivors"]:
            why = v["equivalent"] or "NOT equivalent: no test pins it yet"
            surv.append(f"| {g} | `{v['at']}` | `{v['before']}` -> `{v['after']}` | {why} |")
    out = "\n".join(rows)
    if surv:
        out += "\n\n| Group | Where | Mutation | Why it survives |\n|---|---|---|---|\n" + "\n".join(surv)
    return out + "\n"


def raises_table() -> str:
    """Markdown list of the raise statements no test reaches (docs/mutation/raises.json), by file."""
    rep = json.loads((OUT / "raises.json").read_text())
    by_file: dict[str, list[str]] = {}
    for r in rep["raises"]:
        if not r["reached_with_pins"]:
            by_file.setdefault(r["file"], []).append(f"{r['line']} {r['exception']}")
    rows = ["| File | Unreached `raise` (line, exception) |", "|---|---|"]
    rows += [f"| `{f}` | {', '.join(v)} |" for f, v in sorted(by_file.items())]
    return "\n".join(rows) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="./run mutation", description=__doc__.split("\n\n")[0])
    ap.add_argument("groups", nargs="*", metavar="GROUP", help=f"of {', '.join(GROUPS)} (default all)")
    ap.add_argument("--n", type=int, default=N_DEFAULT, help="mutants sampled per group (default %(default)s)")
    ap.add_argument("--seed", type=int, default=SEED, help="sampling seed (default %(default)s)")
    ap.add_argument("--no-confirm", action="store_true", help="skip the importing-files run of the survivors")
    ap.add_argument(
        "--survivors",
        action="store_true",
        help="rerun only the survivors of the last result (docs/mutation/GROUP.json) against the own files as they are now",
    )
    ap.add_argument("--raises", action="store_true", help="only write docs/mutation/raises.json from the coverage map")
    ap.add_argument("--report", action="store_true", help="print the markdown tables of the committed results")
    args = ap.parse_args(argv)
    groups = args.groups or list(GROUPS)
    if args.report:
        print(report(groups), end="")
        if (OUT / "raises.json").exists() and not args.groups:
            print("\n" + raises_table(), end="")
        return 0
    unknown = [g for g in groups if g not in GROUPS]
    if unknown:
        print(f"./run mutation: unknown group {unknown[0]!r} (choose from {', '.join(GROUPS)})", file=sys.stderr)
        return 2
    python = sys.executable
    dirty = _git("status", "--porcelain", "--", *[s for g in groups for s in GROUPS[g][0]])
    if dirty:
        print(f"[mutation] commit or stash the changes first (mutants are applied in place):\n{dirty}", file=sys.stderr)
        return 2
    WORK.mkdir(parents=True, exist_ok=True)
    OUT.mkdir(parents=True, exist_ok=True)
    if args.groups:
        files = sorted({f for g in groups for s in GROUPS[g][0] for f in [*GROUPS[g][1], *importers(s)]})
    else:
        files = None
    d = coverage_map(files, python)
    the_map = json.loads((d / "map.json").read_text())
    if files is None or args.raises:
        rep = raise_report(d, pins_coverage(python))
        rep["map_commit"] = (d / "commit").read_text().strip() if (d / "commit").exists() else None
        rep["commit"] = _git("rev-parse", "HEAD")
        (OUT / "raises.json").write_text(dump(rep))
        print(
            f"[mutation] raise coverage: {rep['reached']}/{rep['total']} raise statements reached by the suite,"
            f" {rep['reached_with_pins']} with the pin files",
            flush=True,
        )
        if args.raises:
            return 0
    eq_file = OUT / "equivalent.json"
    equivalent = json.loads(eq_file.read_text()) if eq_file.exists() else {}
    signal.signal(signal.SIGTERM, lambda *a: (_ for _ in ()).throw(KeyboardInterrupt()))
    from importlib.metadata import version

    for g in groups:
        sources, own = GROUPS[g]
        # the group's pins and the raise pins (refusals of every module; a few seconds)
        pins = [*(ROOT / "tests").glob(f"test_pins_{g}*.py"), *(ROOT / "tests").glob("test_pins_raises.py")]
        own = [*own, *sorted(str(p.relative_to(ROOT)) for p in pins)]
        allm = enumerate_mutants(sources)
        rng = random.Random(f"{args.seed}/{g}")
        sample = sorted(rng.sample(allm, min(args.n, len(allm))), key=lambda m: (m["file"], m["line"], m["col"]))
        logdir = WORK / "logs" / g
        logdir.mkdir(parents=True, exist_ok=True)
        print(f"[mutation] {g}: {len(sample)} of {len(allm)} mutants (seed {args.seed})", flush=True)
        previous: dict[str, dict] = {}
        first_pass = None
        if args.survivors:
            old = json.loads((OUT / f"{g}.json").read_text())
            if (old["seed"], old["n"], old["population"]) != (args.seed, args.n, len(allm)):
                print(f"[mutation] {g}: the last result is of another sample; run without --survivors", file=sys.stderr)
                return 2
            previous = {key(r): r for r in old["mutants"]}
            first_pass = old.get("first_pass", old["summary"])
        results = []
        t0 = time.perf_counter()
        for i, m in enumerate(sample):
            prev = previous.get(key(dict(m)))
            if prev is not None and (prev["outcome"] != "survived" or key(prev) in equivalent):
                results.append(prev)
                continue
            r = run_mutant(m, the_map, own, python, logdir, files_only=prev is not None)
            if prev is not None:
                r["steps"] = prev["steps"] + r["steps"]
            results.append(r)
            print(
                f"[mutation] {g} {i + 1}/{len(sample)} {r['file']}:{r['line']} {r['operator'].split('/')[-1]}"
                f" -> {r['outcome']} ({sum(s['seconds'] for s in r['steps']):.0f} s)",
                flush=True,
            )
        if not args.no_confirm:
            for r in results:
                if r["outcome"] == "survived" and key(r) not in equivalent:
                    confirm_survivor(r, the_map, python, logdir)
                    print(f"[mutation] {g} survivor {key(r)} vs importing files -> {r['outcome']}", flush=True)
        doc = {
            "format": "fem_mnn.mutation/1",
            "commit": _git("rev-parse", "HEAD"),
            "tool": f"cosmic-ray {version('cosmic-ray')}, coverage {version('coverage')}",
            "seed": args.seed,
            "n": args.n,
            "population": len(allm),
            "seconds": round(time.perf_counter() - t0, 1),
            "own_test_files": own,
            "coverage_map_tests": "fast suite" if files is None else files,
            "summary": summarise(g, results, equivalent),
            # the first full pass, before tests were added for its survivors
            "first_pass": first_pass or summarise(g, results, equivalent),
            "mutants": results,
        }
        (OUT / f"{g}.json").write_text(dump(doc))
        s = doc["summary"]
        print(
            f"[mutation] {g}: killed {s['killed']}/{s['non_equivalent']} non-equivalent"
            f" ({s['equivalent']} equivalent), CI95 [{s['kill_rate_ci95'][0]:.2f}, {s['kill_rate_ci95'][1]:.2f}]",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
