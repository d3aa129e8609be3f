"""Linear runs know which regime they are in (issue 23 item 5): first_buckling_load_factor in every result.

The paper's behaviour task (5 g at id 10) keeps the sample far from buckling (load factor about 5);
the same input at 50 g buckles it (about 0.55): the run still succeeds (exit 0) but says so on
stderr in one line, and ``--no-buckling-check`` skips the check and says so in the result.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import need_dolfinx, run_cli

need_dolfinx()

from fem_mnn.commands._buckling import first_buckling_load_factor, largest_load_case  # noqa: E402
from fem_mnn.design.builders import paper_sample  # noqa: E402
from fem_mnn.learn.taskfile import paper_task  # noqa: E402
from fem_mnn.learn.tasks import gram_force  # noqa: E402

pytestmark = pytest.mark.fem


@pytest.fixture(autouse=True)
def _buckling_check_on(monkeypatch):
    # conftest skips the check suite-wide (cost); these tests are about it
    monkeypatch.delenv("FEM_MNN_NO_BUCKLING_CHECK", raising=False)


def heavy_task(tmp_path: Path, grams: float = 50.0) -> Path:
    """The behaviour task at ``grams`` instead of 5 g."""
    task = {
        "format": "fem_mnn.task/1",
        "name": f"behaviour-{grams:g}g",
        "inputs": [{"node": 10, "direction": [0, -1]}],
        "input_scaling": {"grams": grams},
        "outputs": [{"node": 12, "component": "y"}, {"node": 13, "component": "y"}],
        "loss": "mse",
        "data": {"inputs": [[1.0]], "targets": [[-5.0, -8.0]]},
        "success": {"metric": "train_rel_error", "max": 0.16},
        "train": {"epochs": 3, "lr": 0.005},
    }
    path = tmp_path / "heavy.json"
    path.write_text(json.dumps(task))
    return path


def test_largest_load_case_is_the_largest_total_force(paper):
    task = paper_task("regression", paper)
    F, case = largest_load_case(task)
    totals = {
        s: np.hypot(L[..., 0], L[..., 1]).sum(axis=1)
        for s, L in (("train", task.train_loads), ("test", task.test_loads))
    }
    assert case["total_force_N"] == pytest.approx(max(t.max() for t in totals.values()))
    assert case["total_force_N"] == pytest.approx(totals[case["split"]][case["index"]])
    loads = task.train_loads if case["split"] == "train" else task.test_loads
    assert np.array_equal(F, loads[case["index"]])


def test_spring_train_records_start_and_final_load_factors(paper_file, tmp_path):
    r = run_cli("spring", "train", paper_file, "--task", "behaviour", "--epochs", "3", "--quiet", "--out", tmp_path)
    assert r.returncode == 0, r.stderr
    assert "warning" not in r.stderr
    b = json.loads((tmp_path / "result.json").read_text())["first_buckling_load_factor"]
    assert b["skipped"] is False and b["model"] == "fem"
    assert b["load_case"] == {"split": "train", "index": 0, "total_force_N": pytest.approx(gram_force(5.0))}
    # the start is the design file's widths, the final the trained ones, each by its own FE analysis
    d = paper_sample()
    F, _ = largest_load_case(paper_task("behaviour", d))
    assert b["start"] == first_buckling_load_factor(d, F)
    trained = json.loads((tmp_path / "design_trained.json").read_text())["widths"]
    assert b["final"] == first_buckling_load_factor(d.with_widths(np.array(trained)), F)
    assert 1 < b["final"] != b["start"] > 1


def test_a_task_that_buckles_the_lattice_warns_in_one_line(paper_file, tmp_path):
    task = heavy_task(tmp_path)
    r = run_cli("spring", "train", paper_file, "--task-file", task, "--quiet", "--out", tmp_path / "t")
    assert r.returncode == 0, r.stderr
    warnings = [line for line in r.stderr.splitlines() if "first buckling load factor" in line]
    assert len(warnings) == 1 and warnings[0].startswith("fem-mnn: warning:") and "< 1" in warnings[0]
    b = json.loads((tmp_path / "t" / "result.json").read_text())["first_buckling_load_factor"]
    # ten times the behaviour load: a tenth of its load factor (linear prestress), below 1
    d = paper_sample()
    assert b["start"] == pytest.approx(
        first_buckling_load_factor(d, largest_load_case(paper_task("behaviour", d))[0]) / 10
    )
    assert b["start"] < 1

    r = run_cli("spring", "evaluate", paper_file, "--task-file", task, "--out", tmp_path / "ev.json")
    assert r.returncode == 0 and r.stderr.count("first buckling load factor") == 1
    ev = json.loads((tmp_path / "ev.json").read_text())["first_buckling_load_factor"]
    assert ev["start"] == ev["final"] == b["start"]


def test_no_buckling_check_skips_it_and_says_so(paper_file, tmp_path):
    task = heavy_task(tmp_path)
    r = run_cli(
        "spring", "evaluate", paper_file, "--task-file", task, "--out", tmp_path / "ev.json", "--no-buckling-check"
    )
    assert r.returncode == 0 and "buckling" not in r.stderr
    b = json.loads((tmp_path / "ev.json").read_text())["first_buckling_load_factor"]
    assert b["skipped"] is True and b["reason"] == "--no-buckling-check" and b["start"] is None


def test_fem_evaluate_and_tolerance_record_it(paper_file, tmp_path):
    r = run_cli("fem", "evaluate", paper_file, "--task", "behaviour", "--out", tmp_path / "ev.json")
    assert r.returncode == 0, r.stderr
    b = json.loads((tmp_path / "ev.json").read_text())["first_buckling_load_factor"]
    d = paper_sample()
    assert b["start"] == b["final"] == first_buckling_load_factor(d, largest_load_case(paper_task("behaviour", d))[0])
    r = run_cli("tolerance", paper_file, "--task", "behaviour", "--samples", "20", "--out", tmp_path / "tol.json")
    assert r.returncode == 0, r.stderr
    assert json.loads((tmp_path / "tol.json").read_text())["first_buckling_load_factor"]["start"] == b["start"]


def test_environment_variable_skips_it_and_the_result_says_which(paper_file, tmp_path, monkeypatch):
    monkeypatch.setenv("FEM_MNN_NO_BUCKLING_CHECK", "1")
    r = run_cli("spring", "evaluate", paper_file, "--task", "behaviour", "--out", tmp_path / "ev.json")
    assert r.returncode == 0, r.stderr
    b = json.loads((tmp_path / "ev.json").read_text())["first_buckling_load_factor"]
    assert b["skipped"] is True and b["reason"] == "$FEM_MNN_NO_BUCKLING_CHECK=1" and b["start"] is None
    monkeypatch.setenv("FEM_MNN_NO_BUCKLING_CHECK", "0")  # 0 is "do not skip"
    r = run_cli("spring", "evaluate", paper_file, "--task", "behaviour", "--out", tmp_path / "ev0.json")
    assert json.loads((tmp_path / "ev0.json").read_text())["first_buckling_load_factor"]["skipped"] is False
