"""Pins for ``fem_mnn.learn`` (issue 21, mutation testing): task-file refusals that name the right
row, range and field, the split that leaves no training case, and the largest printable width sd
that the noise refusal states."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from conftest import ROOT

from fem_mnn.core.errors import InputError
from fem_mnn.design import paper_sample, save_design, triangular_strip
from fem_mnn.learn.robust import check_noise_printable
from fem_mnn.learn.taskfile import load_task_file, paper_task_path

EXAMPLES = ROOT / "docs" / "examples"


def _paper_task(tmp_path: Path, name: str, **changes) -> Path:
    data = json.loads(paper_task_path(name).read_text())
    for k, v in changes.items():
        if isinstance(v, dict) and isinstance(data.get(k), dict):
            data[k] = {**data[k], **v}
        else:
            data[k] = v
    p = tmp_path / f"{name}.json"
    p.write_text(json.dumps(data))
    return p


def test_generated_data_refusals(tmp_path):
    d = paper_sample()
    gen = json.loads(paper_task_path("regression").read_text())["data"]["generate"]
    p = _paper_task(tmp_path, "regression", data={"generate": {**gen, "range": [1, -1]}})
    with pytest.raises(InputError, match="needs low < high"):
        load_task_file(p, d)
    p = _paper_task(tmp_path, "regression", data={"generate": {**gen, "range": [1, 1]}})
    with pytest.raises(InputError, match="needs low < high"):
        load_task_file(p, d)
    # one sample, 30 % for training: floor(0.3 + 0.5) = 0 training cases
    p = _paper_task(tmp_path, "regression", data={"generate": {**gen, "n_samples": 1}}, split={"train_fraction": 0.3})
    with pytest.raises(InputError, match="the split leaves no training case"):
        load_task_file(p, d)
    p = _paper_task(tmp_path, "regression", data={"generate": {**gen, "n_samples": 2}}, split={"train_fraction": 0.3})
    assert load_task_file(p, d).train_loads.shape[0] == 1  # floor(0.6 + 0.5) = 1


def test_messages_state_the_valid_range(tmp_path):
    d = paper_sample()
    last = d.n_nodes - 1
    p = _paper_task(tmp_path, "behaviour", inputs=[{"node": last + 1, "direction": [0, -1]}])
    with pytest.raises(InputError, match=rf"nodes are 0\.\.{last}\)"):
        load_task_file(p, d)
    # node 0 is a valid id (a fixed one here): refused for being fixed, not as unknown
    assert 0 in d.fixed
    p = _paper_task(tmp_path, "behaviour", inputs=[{"node": 0, "direction": [0, -1]}])
    with pytest.raises(InputError, match="input node is clamped"):
        load_task_file(p, d)
    # two input rows, one label: the count named is the rows' (2), not the inputs' (1)
    p = _paper_task(tmp_path, "behaviour-ce", data={"inputs": [[1.0], [0.5]], "labels": [0]})
    with pytest.raises(InputError, match=r"needs one label per input row \(2\)"):
        load_task_file(p, d)
    p = _paper_task(tmp_path, "behaviour-ce", data={"inputs": [[1.0]], "labels": [2]})
    with pytest.raises(InputError, match=r"labels index the outputs \(0\.\.1\)"):  # two outputs
        load_task_file(p, d)


@pytest.fixture
def strip(tmp_path: Path) -> tuple[Path, Path]:
    for name in ("strip-regression.json", "strip-regression.csv"):
        shutil.copy(EXAMPLES / name, tmp_path / name)
    return save_design(triangular_strip(6, 4), tmp_path / "strip.json"), tmp_path / "strip-regression.json"


@pytest.mark.parametrize("bad", ["abc", "inf"])
def test_table_value_errors_name_the_file_row(strip, bad):
    """Row numbers count the header as row 1: the second data row is row 3."""
    from fem_mnn.design import load_design

    design_file, task = strip
    csv = task.with_name("strip-regression.csv")
    lines = csv.read_text().splitlines()
    cells = lines[2].split(",")
    cells[0] = bad
    lines[2] = ",".join(cells)
    csv.write_text("\n".join(lines) + "\n")
    with pytest.raises(InputError, match=r"data.table row 3\b"):
        load_task_file(task, load_design(design_file))


def test_one_target_column_per_output(strip):
    from fem_mnn.design import load_design

    design_file, task = strip
    data = json.loads(task.read_text())
    for cols in (["ux12_mm"], ["ux12_mm", "ux17_mm", "x1"]):
        data["data"]["target_columns"] = cols
        task.write_text(json.dumps(data))
        with pytest.raises(InputError, match=r"needs one column per output \(2\)"):
            load_task_file(task, load_design(design_file))


def test_the_stated_largest_width_sd_is_the_boundary():
    """The refusal states the largest S with thin_end_ratio (w - 4 S) >= min_feature on every bond:
    that S is accepted, a slightly larger one refused."""
    d = paper_sample()
    w = np.linspace(1.6, 2.4, d.n_bonds)
    g = d.geometry
    with pytest.raises(InputError) as info:
        check_noise_printable(d, w, 1.0)
    s_max = float(re.search(r"allows is ([0-9.eE+-]+) mm", str(info.value))[1])
    assert s_max == pytest.approx((w.min() - g.min_feature / g.thin_end_ratio) / 4, rel=1e-3)  # printed to 4 digits
    check_noise_printable(d, w, s_max * (1 - 1e-3))
    with pytest.raises(InputError):
        check_noise_printable(d, w, s_max * (1 + 1e-3))


def test_contrast_is_the_smallest_label_over_largest_other_ratio():
    from fem_mnn.learn.tasks import contrast

    # case 0: |2| / |1| = 2; case 1: |4| / |-3| = 4/3 -> the smallest, 4/3
    assert contrast(np.array([[2.0, 1.0], [-3.0, 4.0]]), np.array([0, 1])) == pytest.approx(4 / 3, rel=1e-15)
    # three outputs: the largest other |u| counts (|-5| / max(|1|, |2|) = 2.5); a label that loses gives < 1
    assert contrast(np.array([[1.0, -5.0, 2.0]]), np.array([1])) == pytest.approx(2.5, rel=1e-15)
    assert contrast(np.array([[1.0, -5.0, 2.0]]), np.array([2])) == pytest.approx(0.4, rel=1e-15)


def test_regression_inputs_lie_in_the_stated_range():
    from fem_mnn.learn.tasks import gram_force, regression

    t = regression(paper_sample(), max_grams=20.0)
    lo, hi = t.info["input"]["X_range_N"]
    fmax = gram_force(20.0)
    assert (lo, hi) == pytest.approx((-fmax, fmax), rel=1e-15)
    x = np.concatenate([t.train_loads, t.test_loads])[:, t.info["input"]["node"], 1]
    assert lo <= x.min() < 0 < x.max() <= hi  # uniform in the range: both signs occur in 100 draws


def test_patience_counts_relative_improvements():
    """Patience stops after ``patience`` epochs whose loss does not beat the best by the relative
    ``min_delta``: never while the loss keeps falling (min_delta 0); at epoch 1 + patience when no epoch
    can improve by half (min_delta 0.5 with small steps)."""
    from fem_mnn.learn.taskfile import paper_task
    from fem_mnn.learn.training import TrainConfig, train
    from fem_mnn.spring.network import SpringModel

    d = paper_sample()
    task = paper_task("behaviour", d)
    r = train(SpringModel(d), task, TrainConfig(epochs=6, lr=0.01, patience=2), write=False)
    losses = [h.loss for h in r.history]
    assert all(b < a for a, b in zip(losses, losses[1:], strict=False)), losses  # the premise: a falling loss
    assert r.stop_reason == "max_epochs" and len(losses) == 6
    r = train(SpringModel(d), task, TrainConfig(epochs=6, lr=0.01, patience=2, min_delta=0.5), write=False)
    assert r.stop_reason == "patience" and len(r.history) == 3


def test_epoch_records_are_immutable():
    import dataclasses

    from fem_mnn.learn.training import EpochRecord

    rec = EpochRecord(epoch=1, loss=1.0, loss_paper=1.0, step=0.0, metrics={}, widths=())
    with pytest.raises(dataclasses.FrozenInstanceError):
        rec.loss = 0.5
