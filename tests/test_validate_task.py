"""``fem-mnn validate --task | --task-file`` at the task's loads, and ``--regime nonlinear`` (issue 23 item 6).

The mechanical checks take the task's largest load case (grams and directions converted as the task
reader does), refuse ``--loads`` beside a task, and with ``--regime nonlinear`` follow the
neo-Hookean path through buckling to the load and check the deformed lattice for self-contact.
The FE runs use one element across the thinnest thin end (the coarsest mesh) to stay fast.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import need_dolfinx, run_cli

need_dolfinx()

from fem_mnn.learn.tasks import gram_force  # noqa: E402

pytestmark = pytest.mark.fem

COARSE = ("--elements-across", "1")


def task_file(tmp_path: Path, grams: float, node: int = 10, direction=(0, -1)) -> Path:
    task = {
        "format": "fem_mnn.task/1",
        "name": f"hang-{grams:g}g",
        "inputs": [{"node": node, "direction": list(direction)}],
        "input_scaling": {"grams": grams},
        "outputs": [{"node": 12, "component": "y"}, {"node": 13, "component": "y"}],
        "loss": "mse",
        "data": {"inputs": [[0.5], [1.0]], "targets": [[-1.0, -1.0], [-2.0, -2.0]]},
        "success": {"metric": "train_rel_error", "max": 0.1},
    }
    path = tmp_path / f"hang-{grams:g}.json"
    path.write_text(json.dumps(task))
    return path


def test_validate_takes_the_loads_of_the_tasks_largest_case(paper_file, tmp_path):
    js = tmp_path / "v.json"
    r = run_cli("validate", paper_file, "--task-file", task_file(tmp_path, 10.0), "--json", js, *COARSE)
    assert r.returncode == 0, r.stderr
    assert "loads of task hang-10g: its largest load case (train case 1" in r.stdout
    mech = json.loads(js.read_text())["mechanical"]
    # input 1.0 of the two cases, at 10 g per unit, straight down on id 10
    assert mech["loads"] == [[10, 0.0, pytest.approx(-gram_force(10.0))]]
    assert mech["load_case"] == {
        "task": "hang-10g",
        "split": "train",
        "index": 1,
        "total_force_N": pytest.approx(gram_force(10.0)),
    }
    assert mech["regime"] == "linear"
    assert [c["name"] for c in mech["checks"]] == ["rigidity", "strain", "buckling", "linear regime"]


@pytest.mark.parametrize(
    "extra,needle",
    [
        (["--task", "behaviour", "--loads", "12:0,-0.1"], "--task: gives the loads of the mechanical checks"),
        (["--task-file", "{tmp}/no-such-task.json", "--loads", "12:0,-0.1"], "--task-file: gives the loads"),
        (["--task-file", "{tmp}/no-such-task.json"], "no-such-task.json"),
        (["--task", "no-such-task"], "invalid choice"),
        (["--regime", "nonlinear"], "--regime: needs loads"),
        (["--task", "behaviour", "--regime", "nonlinear", "--no-mechanical-checks"], "drop --no-mechanical-checks"),
    ],
)
def test_refusals(paper_file, tmp_path, extra, needle):
    argv = [a.replace("{tmp}", str(tmp_path)) for a in extra]
    r = run_cli("validate", paper_file, *argv, "--json", tmp_path / "v.json")
    assert r.returncode == 2, (r.stdout, r.stderr)
    lines = [line for line in r.stderr.splitlines() if line.strip()]
    assert needle in r.stderr and len(lines) <= 2, r.stderr  # argparse adds its usage line
    assert not (tmp_path / "v.json").exists()


def test_nonlinear_regime_below_buckling_checks_self_contact(paper_file, tmp_path):
    js = tmp_path / "v.json"
    r = run_cli(
        "validate", paper_file, "--task-file", task_file(tmp_path, 10.0), "--regime", "nonlinear", "--json", js, *COARSE
    )
    assert r.returncode == 0, r.stderr
    mech = json.loads(js.read_text())["mechanical"]
    checks = {c["name"]: c for c in mech["checks"]}
    assert list(checks) == ["rigidity", "strain", "buckling", "linear regime", "self-contact"]
    # the path ends at the design load (no margin probing beyond it in the nonlinear regime)
    assert [p["load_factor"] for p in checks["linear regime"]["values"]["probed"]] == [0.25, 0.5, 1.0]
    assert checks["strain"]["values"]["model"] == "neo-Hookean"
    sc = checks["self-contact"]
    assert sc["status"] == "pass" and sc["values"]["touching"] == []
    # every outline point was found in the mesh; the nearest unjoined parts stay apart (0.8 mm undeformed)
    assert sc["values"]["points_outside_mesh"] == 0 and 0 < sc["values"]["min_gap_mm"] < 2


@pytest.mark.slow  # about 130 s: the path bisects its way through the bifurcation
def test_nonlinear_regime_goes_through_buckling_and_checks_self_contact(paper_file, tmp_path):
    # 50 g on id 10: first (linear) buckling load factor about 0.55 (test_buckling_check)
    js = tmp_path / "v.json"
    heavy = task_file(tmp_path, 50.0)
    r = run_cli("validate", paper_file, "--task-file", heavy, "--regime", "nonlinear", "--json", js, *COARSE)
    mech = json.loads(js.read_text())["mechanical"]
    checks = {c["name"]: c for c in mech["checks"]}
    assert mech["regime"] == "nonlinear"
    assert list(checks) == ["rigidity", "strain", "buckling", "linear regime", "self-contact"]
    # past the first buckling load: a warning in the nonlinear regime (a failure in the linear one)
    assert checks["buckling"]["status"] == "warn" and checks["buckling"]["values"]["load_factors"][0] < 1
    lr = checks["linear regime"]["values"]
    assert lr["path_limit"] == 1.0  # not stopped at 0.9 of the buckling load
    if lr["reached_load_factor"] == 1.0:
        assert checks["strain"]["values"]["model"] == "neo-Hookean"
        sc = checks["self-contact"]
        assert sc["status"] in ("pass", "fail") and sc["values"]["points_outside_mesh"] == 0
        assert (sc["status"] == "fail") == bool(sc["values"]["touching"])
    else:
        assert checks["self-contact"]["status"] == "skipped"
    assert r.returncode == (1 if any(c["status"] == "fail" for c in checks.values()) else 0)


@pytest.mark.mpi
@pytest.mark.slow  # about 30 s: a serial and a two-rank run
def test_nonlinear_regime_on_two_ranks_matches_serial(paper_file, tmp_path):
    task = task_file(tmp_path, 10.0)
    gaps = []
    for ranks in (1, 2):
        js = tmp_path / f"v{ranks}.json"
        argv = ("validate", paper_file, "--task-file", task, "--regime", "nonlinear", "--json", js, *COARSE)
        r = run_cli(*argv, ranks=ranks) if ranks > 1 else run_cli(*argv)
        assert r.returncode == 0, r.stderr[-2000:]
        checks = {c["name"]: c for c in json.loads(js.read_text())["mechanical"]["checks"]}
        sc = checks["self-contact"]["values"]
        assert sc["points_outside_mesh"] == 0 and sc["touching"] == []
        gaps.append((sc["min_gap_mm"], sc["closest_parts"]))
    # both runs stop Newton at a residual of 1e-10 of the load (NonlinearOptions.atol_load), so their states
    # differ by about that times the tangent's conditioning; measured 3e-15 relative on the gap
    assert gaps[1][1] == gaps[0][1]
    assert gaps[1][0] == pytest.approx(gaps[0][0], rel=1e-6)
