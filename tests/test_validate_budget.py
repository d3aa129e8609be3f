"""``fem-mnn validate --loads``: the mechanical checks answer within their budget and stop on Ctrl-C (issue 21).

The regression case is a small version of a user's lattice (squares, each with a centre
node joined to its four corners; 4 x 3 squares, 330k dofs, hung for 27 minutes in the
linear-regime check's bisecting Newton path, Ctrl-C ignored). On the 2 x 1 version at the
coarsest mesh, 10 N (about 1 kg) on the bottom-middle node kept the old code bisecting for
50 s on 7.8k dofs (about 40 times that on the user's mesh); it is a buckling load factor
of 0.06, so the path now stops at 0.9 of it.
"""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import child_env, cli_command, need_dolfinx, run_cli

need_dolfinx()

from fem_mnn.design import Design, save_design  # noqa: E402
from fem_mnn.fem.buckling import BucklingOptions  # noqa: E402
from fem_mnn.fem.mechanical_checks import BUCKLING_FRACTION  # noqa: E402

pytestmark = pytest.mark.fem

A = 16.0  # bond length of the grid (mm)


def centred_squares(nx: int, ny: int, width: float = 2.0) -> Design:
    """nx x ny squares hanging from the two top corners; each square has a centre node joined to its corners.

    Corner (i, j) is node ``j * (nx + 1) + i`` (j = 0 the top row), the centres follow.
    """
    corners = [(A * i, -A * j) for j in range(ny + 1) for i in range(nx + 1)]
    centres = [(A * (i + 0.5), -A * (j + 0.5)) for j in range(ny) for i in range(nx)]

    def cid(i: int, j: int) -> int:
        return j * (nx + 1) + i

    bonds = [(cid(i, j), cid(i + 1, j)) for j in range(ny + 1) for i in range(nx)]
    bonds += [(cid(i, j), cid(i, j + 1)) for j in range(ny) for i in range(nx + 1)]
    for j in range(ny):
        for i in range(nx):
            c = len(corners) + j * nx + i
            bonds += [(cid(ii, jj), c) for ii, jj in ((i, j), (i + 1, j), (i + 1, j + 1), (i, j + 1))]
    return Design(
        nodes=np.array(corners + centres, float),
        bonds=np.array(bonds),
        widths=np.full(len(bonds), width),
        thickness=2.0,
        fixed=(0, nx),
        name=f"centred-squares-{nx}x{ny}",
    )


def test_builder_gives_the_users_lattice_size():
    d = centred_squares(4, 3)
    assert (d.n_nodes, d.n_bonds) == (32, 79)


@pytest.fixture(scope="module")
def lattice_21(tmp_path_factory) -> Path:
    return save_design(centred_squares(2, 1), tmp_path_factory.mktemp("lattice") / "squares_2x1.json")


@pytest.fixture(scope="module")
def lattice_22(tmp_path_factory) -> Path:
    return save_design(centred_squares(2, 2), tmp_path_factory.mktemp("lattice") / "squares_2x2.json")


def _linear_regime(json_path: Path) -> dict:
    data = json.loads(json_path.read_text())
    return next(c for c in data["mechanical"]["checks"] if c["name"] == "linear regime")


def test_huge_load_fails_the_linear_regime_check_at_the_buckling_cap(lattice_21, tmp_path):
    budget = 60.0  # the old code bisected for 50 s at this mesh, then went on to the next factor
    out, mech = tmp_path / "report.json", tmp_path / "mech"
    t0 = time.monotonic()
    r = run_cli("validate", lattice_21, "--loads", "4:0,-10", "--elements-across", "1", "--check-budget", budget,
                "--json", out, "--mech-dir", mech)  # fmt: skip
    wall = time.monotonic() - t0
    assert r.returncode == 1, r.stderr  # the design loads but fails a check: not a hang, not exit 3
    assert wall < budget
    lr = _linear_regime(out)
    v = lr["values"]
    assert lr["status"] == "fail" and v["stop_reason"] == "buckling"
    first = v["first_buckling_load_factor"]
    assert 0 < first < 1  # 10 N buckles this lattice: the bisecting path went into the bifurcation
    # buckling first: the path ends at the stated fraction of the first buckling factor, never beyond
    assert v["path_limit"] == pytest.approx(BUCKLING_FRACTION * first, rel=1e-12)
    assert all(p["load_factor"] <= v["path_limit"] for p in v["probed"])
    assert v["reached_load_factor"] == pytest.approx(v["path_limit"], rel=1e-12)
    assert v["newton_iterations"] > 0 and v["deviation_at_reached"]["dev_e"] > 0
    assert f"reached load factor {v['reached_load_factor']:.4g}" in lr["summary"]
    # one progress line per Newton solve of the path, after the buckling line
    progress = [line for line in r.stderr.splitlines() if "linear regime: load factor" in line]
    assert progress and all("Newton iterations" in line and "elapsed" in line for line in progress)
    assert r.stderr.index("first buckling load factor") < r.stderr.index(progress[0])
    assert "Traceback" not in r.stderr
    # the normal reports are written
    assert json.loads((mech / "mechanical.json").read_text())["status"] == "fail"


def test_spent_budget_fails_the_linear_regime_check_and_writes_the_report(lattice_22, tmp_path):
    # 10 ms: spent by meshing and the buckling analysis, so the path stops at its first poll
    out = tmp_path / "report.json"
    r = run_cli("validate", lattice_22, "--loads", "6:0,-0.196", "--loads", "8:0,-0.196", "--elements-across", "1",
                "--check-budget", "0.01", "--json", out)  # fmt: skip
    assert r.returncode == 1, r.stderr
    lr = _linear_regime(out)
    v = lr["values"]
    assert lr["status"] == "fail" and v["stop_reason"] == "budget" and v["budget_s"] == 0.01
    assert v["reached_load_factor"] == 0.0 and v["newton_iterations"] == 0
    assert "time budget of 0.01 s spent" in lr["summary"] and "reached load factor 0" in lr["summary"]
    data = json.loads(out.read_text())
    assert data["mechanical"]["status"] == "fail"
    assert [c["name"] for c in data["mechanical"]["checks"]] == ["rigidity", "strain", "buckling", "linear regime"]


def test_bad_budget_is_a_usage_error(lattice_21):
    for bad in ("0", "-1", "nan", "inf"):
        r = run_cli("validate", lattice_21, "--loads", "4:0,-0.1", "--check-budget", bad)
        assert r.returncode == 2 and "--check-budget" in r.stderr and len(r.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_signal_stops_validate_between_newton_iterations(lattice_22, tmp_path, sig):
    out, mech = tmp_path / "report.json", tmp_path / "mech"
    argv = ["validate", lattice_22, "--loads", "6:0,-0.196", "--loads", "8:0,-0.196", "--elements-across", "1",
            "--json", out, "--mech-dir", mech]  # fmt: skip
    proc = subprocess.Popen(cli_command(*argv), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=child_env())  # fmt: skip
    before = []
    try:
        for line in proc.stderr:  # the path has several steps after its first one (about a second)
            before.append(line)
            if "linear regime: load factor" in line:
                break
        else:
            pytest.fail(f"no progress line before the end (rc {proc.wait()}): {''.join(before)}")
        proc.send_signal(sig)
        _, rest = proc.communicate(timeout=240)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, "".join(before) + rest
    # one line, no traceback; progress lines of steps already under way may come before it
    lines = [line for line in rest.splitlines() if "linear regime: load factor" not in line]
    assert lines == ["fem-mnn: interrupted"], rest
    assert list(tmp_path.iterdir()) == []  # no report, no mechanical directory, no temporary file


@pytest.mark.skipif(os.name != "posix", reason="POSIX signals")
def test_meshing_keeps_the_sigterm_handler_armed():
    # gmsh.initialize() resets SIGTERM to the default action in C while Python still names
    # its handler: a SIGTERM after meshing killed validate instead of stopping it
    from fem_mnn.core.signals import StopOnSignal
    from fem_mnn.geometry.build import gmsh_session

    with StopOnSignal(announce=False) as stop:
        with gmsh_session():
            pass
        os.kill(os.getpid(), signal.SIGTERM)
        deadline = time.monotonic() + 5
        while not stop.requested() and time.monotonic() < deadline:
            time.sleep(0.01)
        assert stop.requested() and stop.name == "SIGTERM"


def test_huge_load_on_the_paper_sample_answers_at_the_coarse_mesh(paper_file, tmp_path):
    out = tmp_path / "report.json"
    r = run_cli("validate", paper_file, "--loads", "12:0,-100", "--elements-across", "1", "--json", out)
    assert r.returncode == 1, r.stderr
    v = _linear_regime(out)["values"]
    assert v["stop_reason"] == "buckling" and v["reached_load_factor"] <= v["path_limit"]


@pytest.mark.slow
def test_huge_load_on_the_paper_sample_answers_within_the_default_budget(paper_file, tmp_path):
    # the command at the default mesh (87k dofs): no answer in 5 min before, about a minute now
    out = tmp_path / "report.json"
    t0 = time.monotonic()
    proc = subprocess.run(cli_command("validate", paper_file, "--loads", "12:0,-100", "--json", out),
                          capture_output=True, text=True, env=child_env(), timeout=900)  # fmt: skip
    wall = time.monotonic() - t0
    assert proc.returncode == 1, proc.stderr
    v = _linear_regime(out)["values"]
    assert v["stop_reason"] == "buckling" and math.isfinite(v["reached_load_factor"])
    assert v["elapsed_s"] < v["budget_s"]
    print(f"paper sample, 100 N on node 12: {wall:.1f} s", file=sys.stderr)


@pytest.mark.mpi
def test_two_ranks_report_once_and_fail_where_serial_fails(lattice_21, tmp_path):
    # under mpiexec every rank computes the checks; one prints the report and one writes the JSON
    argv = ["validate", lattice_21, "--loads", "4:0,-10", "--elements-across", "1", "--check-budget", "120"]
    serial = run_cli(*argv, "--json", tmp_path / "serial.json")
    par = run_cli(*argv, "--json", tmp_path / "par.json", ranks=2, timeout=300)
    assert serial.returncode == par.returncode == 1, par.stderr
    assert par.stdout.count("linear regime") == serial.stdout.count("linear regime") > 0
    assert par.stdout.count("\n") == serial.stdout.count("\n")
    s, p = _linear_regime(tmp_path / "serial.json"), _linear_regime(tmp_path / "par.json")
    assert s["status"] == p["status"] == "fail"
    assert s["values"]["stop_reason"] == p["values"]["stop_reason"] == "buckling"
    # one eigenproblem solved on 1 and on 2 ranks: SLEPc stops each at a relative residual below
    # BucklingOptions.tol; for the symmetric pencil the eigenvalue error is bounded by that residual
    # (Bauer-Fike for a normal operator), so the two differ by at most twice it (plus assembly rounding, ~1e-13)
    tol = BucklingOptions().tol
    s_lam, p_lam = s["values"]["first_buckling_load_factor"], p["values"]["first_buckling_load_factor"]
    assert p_lam == pytest.approx(s_lam, rel=2 * tol)
