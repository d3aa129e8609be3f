"""The reader of the paper's Source Data folder (skipped when the folder is absent)."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from fem_mnn.core.errors import EngineError, InputError
from fem_mnn.design import paper_sample
from fem_mnn.io import paper_data as pd
from fem_mnn.io.paper_data import (
    default_data_dir,
    load_all,
    load_figure1,
    load_figure4,
    load_figure5,
    paper_bond_ids,
    resolve_data_dir,
)


def test_default_folder_is_the_shipped_copy(monkeypatch):
    monkeypatch.delenv("FEM_MNN_PAPER_DATA", raising=False)
    d = default_data_dir()
    assert d == pd.SHIPPED and d.parts[-3:] == ("fem_mnn", "data", "li-mao-2024")
    assert (d / "LICENSE").read_text().startswith("MIT License")


def test_shipped_copy_matches_its_checksums_and_the_authors_workbook():
    sums = pd.shipped_checksums()
    assert sums["source-data.xlsx"] == pd.WORKBOOK_SHA256
    for name, digest in sums.items():
        assert hashlib.sha256((pd.SHIPPED / name).read_bytes()).hexdigest() == digest, name
    assert set(pd.data_checksums()) == {"bond-order-figure1.json"} | {f"figure{k}.csv" for k in range(1, 6)}


def test_a_damaged_shipped_file_is_refused(monkeypatch, tmp_path):
    copy = tmp_path / "li-mao-2024"
    shutil.copytree(pd.SHIPPED, copy)
    (copy / "figure2.csv").write_bytes((copy / "figure2.csv").read_bytes().replace(b"0", b"1", 1))
    monkeypatch.setattr(pd, "SHIPPED", copy)
    with pytest.raises(EngineError, match="SHA256SUMS"):
        pd.load_figure2(copy)


def test_environment_variable_overrides_the_default(monkeypatch, tmp_path):
    monkeypatch.setenv("FEM_MNN_PAPER_DATA", str(tmp_path))
    assert resolve_data_dir() == tmp_path


def test_missing_folder_names_it(tmp_path):
    with pytest.raises(InputError, match="paper data folder not found") as err:
        resolve_data_dir(tmp_path / "nowhere")
    assert "nowhere" in str(err.value)


def test_reads_every_figure(shared_data):
    d = load_all(shared_data)
    f1 = d.figure1
    assert f1.grad_sim.shape == (28,) and f1.bond.shape == (28,)
    assert sorted(f1.bond.tolist()) == list(range(28))
    # units: published m^2 -> mm^2; largest simulated gradient 7.94e-8 m^2
    assert np.isclose(f1.grad_sim.max(), 7.94e-2)
    assert len(f1.fd_step) == len(f1.fd_error) == 2000
    assert d.figure2.output_nodes == (12, 13)
    assert np.isclose(d.figure2.u2[0], -0.625333, atol=1e-6)
    assert d.figure3.u_exp.shape == (19, 4) and d.figure3.mass_g[1] == 2.0
    assert np.isclose(d.figure3.force[-1], -12e-3 * 9.8)
    f4 = d.figure4
    assert len(f4.epoch) == 100 and f4.sim.shape == (3, 3)
    assert np.all(f4.acc_train.lower <= f4.acc_train.mean) and np.all(f4.acc_train.mean <= f4.acc_train.upper)
    f5 = d.figure5
    assert len(f5.epoch_regression) == 5000 and len(f5.acc_broken_test.mean) == 100


def test_bond_order_matches_the_paper_nodes(shared_data):
    raw = json.loads((shared_data / "bond-order-figure1.json").read_text())["paper_bond_index_to_nodes_1based"]
    index, bond = paper_bond_ids(shared_data)
    bonds = paper_sample().bonds
    for (i, a, b), idx, bid in zip(sorted(raw), index, bond, strict=True):
        assert idx == i
        assert sorted(bonds[bid].tolist()) == sorted([a - 1, b - 1])


def test_by_bond_reorders(shared_data):
    f1 = load_figure1(shared_data)
    ours = f1.by_bond(f1.grad_sim)
    assert np.allclose(ours[f1.bond], f1.grad_sim)


@pytest.fixture
def copy(shared_data, tmp_path) -> Path:
    dst = tmp_path / "data"
    shutil.copytree(shared_data, dst)
    for p in dst.iterdir():
        p.chmod(0o644)
    return dst


def test_missing_file_named(copy):
    (copy / "figure4.csv").unlink()
    with pytest.raises(InputError, match="no such file") as err:
        load_figure4(copy)
    assert "figure4.csv" in str(err.value)


def test_bad_header_named(copy):
    p = copy / "figure4.csv"
    text = p.read_text().replace("acc_train", "acc_tr", 1)
    p.write_text(text)
    with pytest.raises(InputError, match="column 4 should be 'acc_train'") as err:
        load_figure4(copy)
    assert "acc_tr" in str(err.value) and "figure4.csv" in str(err.value)


def test_bad_cell_named(copy):
    p = copy / "figure5.csv"
    lines = p.read_text().splitlines()
    cells = lines[3].split(",")
    cells[2] = "oops"
    lines[3] = ",".join(cells)
    p.write_text("\n".join(lines) + "\n")
    with pytest.raises(InputError, match="not a number") as err:
        load_figure5(copy)
    msg = str(err.value)
    assert "figure5.csv" in msg and "loss1" in msg and "row 4" in msg and "oops" in msg


def test_bad_bond_order_named(copy):
    p = copy / "bond-order-figure1.json"
    data = json.loads(p.read_text())
    data["paper_bond_index_to_nodes_1based"][0] = [1, 1, 14]
    p.write_text(json.dumps(data))
    with pytest.raises(InputError, match="no bond joins") as err:
        load_figure1(copy)
    assert "bond-order-figure1.json" in str(err.value) and "[1, 14]" in str(err.value)


def test_short_column_named(copy):
    p = copy / "figure1.csv"
    lines = p.read_text().splitlines()
    cells = lines[5].split(",")
    cells[8] = ""  # grad_sim of paper index 5
    lines[5] = ",".join(cells)
    p.write_text("\n".join(lines) + "\n")
    with pytest.raises(InputError, match="grad_sim") as err:
        load_figure1(copy)
    assert "figure1.csv" in str(err.value)


def test_bands_are_min_max_over_runs(shared_data):
    f4 = load_figure4(shared_data)
    # accuracies stay in [0, 1] and the final band ends are whole flowers out of 105 / 45
    for band, n in ((f4.acc_train, 105), (f4.acc_test, 45)):
        assert band.lower.min() >= 0 and band.upper.max() <= 1 + 1e-9
        for x in (band.lower[-1], band.upper[-1]):
            assert abs(x * n - round(x * n)) < 1e-6
    assert np.isclose(f4.acc_test.upper[-1], 1.0) and np.isclose(f4.acc_train.lower[-1], 98 / 105)
