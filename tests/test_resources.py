"""The FE memory guard, progress of long steps, gmsh's messages and the ``--fields`` files."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from conftest import need_dolfinx, run_cli

from fem_mnn.core import resources
from fem_mnn.core.errors import InputError
from fem_mnn.core.resources import ENV_LIMIT, ResourceError, check_memory, estimate_fe, memory_limit_bytes

CASE = ("--load", "12:0,-0.1", "--target", "9:_,-0.5")


# ------------------------------------------------------------------------ the model


def test_estimate_grows_with_size_degree_and_dim():
    a = estimate_fe(2, 2, 20_000)
    assert estimate_fe(2, 2, 80_000).memory_bytes > a.memory_bytes > estimate_fe(2, 1, 20_000).memory_bytes
    assert estimate_fe(3, 2, 20_000).memory_bytes > a.memory_bytes
    assert estimate_fe(2, 2, 20_000, n_dofs=1_000_000).n_dofs == 1_000_000
    assert estimate_fe(2, 2, 20_000, ranks=2).memory_bytes > a.memory_bytes


def test_iterative_estimate_has_no_fine_factor():
    """P2 iterative (p-multigrid): the P1 coarse factor only; measured 2.94 GB at 1.2M dofs (3D paper sample)."""
    direct = estimate_fe(3, 2, 238_731, n_dofs=1_198_689)
    it = estimate_fe(3, 2, 238_731, n_dofs=1_198_689, iterative=True)
    assert it.memory_bytes < 0.4 * direct.memory_bytes
    assert 0.8 < it.memory_bytes / 2.94e9 < 1.2
    # 2D P2, 3979-bond strip (bench/scale.json): 11,844 MiB measured
    big = estimate_fe(2, 2, 2_723_951, n_dofs=11_610_528, iterative=True)
    assert 0.9 < big.memory_bytes / (11_844 * 2**20) < 1.2
    assert estimate_fe(2, 1, 20_000, iterative=True).factor_entries == 0.0  # P1: GAMG, no factor
    d2, i2 = estimate_fe(2, 2, 675_173, n_dofs=2_877_884), estimate_fe(2, 2, 675_173, n_dofs=2_877_884, iterative=True)
    assert 0 < i2.factor_entries < 0.3 * d2.factor_entries  # 2D P2: the P1 coarse factor


def test_calibration_error_is_what_the_docs_say():
    """The committed calibration: 2D within 12 %, everything within 45 % from the mesh's dofs."""
    doc = json.loads((Path(resources.__file__).parents[1] / "bench" / "memory_calibration.json").read_text())
    for row, err in zip(doc["measurements"], doc["errors"], strict=True):
        model = estimate_fe(row["dim"], row["degree"], row["cells"], n_dofs=row["dofs"]).memory_bytes
        assert math.isclose(model / row["peak_bytes"] - 1, err["rel_err"], abs_tol=0.01)
        assert abs(err["rel_err"]) <= (0.12 if row["dim"] == 2 else 0.45), err


def test_limit_from_the_environment(monkeypatch):
    monkeypatch.setenv(ENV_LIMIT, "2.5")
    assert memory_limit_bytes()[0] == 2.5e9
    monkeypatch.setenv(ENV_LIMIT, "lots")
    with pytest.raises(InputError, match=ENV_LIMIT):
        memory_limit_bytes()
    monkeypatch.delenv(ENV_LIMIT)
    limit, source = memory_limit_bytes()
    assert limit == pytest.approx(resources.DEFAULT_FRACTION * resources.machine_memory_bytes())
    assert "75%" in source


def test_refusal_is_one_line_with_estimate_and_limit(monkeypatch):
    monkeypatch.setenv(ENV_LIMIT, "0.5")
    with pytest.raises(ResourceError) as exc:
        check_memory(estimate_fe(3, 2, 200_000))
    text = str(exc.value)
    assert "\n" not in text and "GB" in text and "limit of 0.5 GB" in text and "dofs" in text


# ------------------------------------------------------------------------- commands


@pytest.mark.fem
def test_fem_gradient_refuses_before_meshing(paper_file, tmp_path):
    need_dolfinx()
    r = run_cli(
        "fem", "gradient", paper_file, *CASE, "--dim", "3", "--max-memory-gb", "1", "--out", tmp_path / "g.json"
    )
    assert r.returncode == 2 and not (tmp_path / "g.json").exists()
    line = r.stderr.strip()
    assert "\n" not in line and "3D P2" in line and "limit of 1 GB" in line
    assert ENV_LIMIT not in __import__("os").environ  # the option does not leak out of main()


@pytest.mark.fem
def test_fem_train_refuses_from_the_environment(paper_file, tmp_path, monkeypatch):
    need_dolfinx()
    monkeypatch.setenv(ENV_LIMIT, "0.05")
    r = run_cli("fem", "train", paper_file, "--task", "regression", "--epochs", "1", "--out", tmp_path / "t")
    assert r.returncode == 2 and f"${ENV_LIMIT} = 0.05 GB" in r.stderr


def test_mesh_refuses_what_gmsh_cannot_hold(paper_file, tmp_path):
    r = run_cli("mesh", paper_file, "-o", tmp_path / "m.msh", "--refinement", "8", "--max-memory-gb", "0.1")
    assert r.returncode == 2 and "meshing would need" in r.stderr and not (tmp_path / "m.msh").exists()


@pytest.mark.fem
def test_long_steps_are_announced(paper_file, tmp_path, monkeypatch):
    need_dolfinx()
    from fem_mnn.fem import linear

    monkeypatch.setattr(linear, "LONG_STEP_SECONDS", 0.0)  # every step counts as long
    r = run_cli("fem", "gradient", paper_file, *CASE, "--out", tmp_path / "g.json")
    assert r.returncode == 0
    for word in ("meshing", "dofs", "GB", "assembling", "factorising"):
        assert word in r.stderr, word
    assert r.stdout == ""


@pytest.mark.fem
def test_cached_mesh_prints_nothing(paper, tmp_path, capfd):
    need_dolfinx()
    from fem_mnn.fem.meshing import load_mesh
    from fem_mnn.geometry.build import MeshOptions

    for _ in range(2):  # meshed, then read from the cache
        md = load_mesh(paper, MeshOptions(), root=tmp_path)
    assert md.mesh.topology.index_map(2).size_global > 0
    assert capfd.readouterr().out == ""


# --------------------------------------------------------------------------- fields


def _read_fields(folder: Path):
    import meshio

    return meshio.read(folder / "fields.vtu")


@pytest.mark.fem
def test_fields_vtu_reads_back(paper_file, tmp_path):
    need_dolfinx()
    r = run_cli("fem", "gradient", paper_file, *CASE, "--fields", tmp_path / "f", "--out", tmp_path / "g.json")
    assert r.returncode == 0
    doc = json.loads((tmp_path / "g.json").read_text())
    assert Path(doc["fields"]["vtu"]).name == "fields.vtu" and "von_mises" in doc["fields"]["vtu_units"]
    assert (tmp_path / "f" / "forward.bp").is_dir() and (tmp_path / "f" / "adjoint.bp").is_dir()
    m = _read_fields(tmp_path / "f")
    tri = m.cells_dict["triangle"]
    cd = {k: v[0] for k, v in m.cell_data.items()}
    assert {"strain_xx", "strain_yy", "strain_xy", "von_mises", "bond", "hub", "region"} <= set(cd)
    assert m.point_data["u"].shape == m.point_data["u_adjoint"].shape == (len(m.points), 3)
    assert set(cd["bond"][cd["bond"] >= 0]) == set(range(28)) and set(cd["hub"][cd["hub"] >= 0]) == set(range(14))
    beam = cd["bond"] >= 0
    assert np.all(cd["region"][beam] == 10000 + cd["bond"][beam]) and np.all(cd["hub"][beam] == -1)
    assert np.all(cd["von_mises"] >= 0) and cd["von_mises"].max() > 0
    # von Mises from the strain (plane stress, E and nu of the design)
    E, nu = 0.55, 0.45
    exx, eyy, exy = cd["strain_xx"], cd["strain_yy"], cd["strain_xy"]
    k = E / (1 - nu**2)
    sxx, syy, sxy = k * (exx + nu * eyy), k * (eyy + nu * exx), E / (1 + nu) * exy
    assert np.allclose(np.sqrt(sxx**2 - sxx * syy + syy**2 + 3 * sxy**2), cd["von_mises"], rtol=1e-8, atol=1e-12)
    # the junction's vertices move with the node (the JSON's junction-average displacement)
    u = np.asarray(doc["u"])
    scale = np.abs(u).max()
    for j in (9, 12):
        verts = np.unique(tri[cd["hub"] == j])
        assert np.allclose(m.point_data["u"][verts, :2].mean(axis=0), u[j], atol=0.03 * scale)


@pytest.mark.fem
@pytest.mark.mpi
def test_fields_vtu_two_ranks_match_one(paper_file, tmp_path):
    need_dolfinx()
    for ranks in (1, 2):
        r = run_cli("fem", "gradient", paper_file, *CASE, "--fields", tmp_path / f"f{ranks}", ranks=ranks)
        assert r.returncode == 0, r.stderr
    a, b = _read_fields(tmp_path / "f1"), _read_fields(tmp_path / "f2")
    assert len(a.points) == len(b.points) and len(a.cells[0]) == len(b.cells[0])
    for key in ("von_mises", "bond", "hub"):
        assert np.allclose(np.sort(a.cell_data[key][0]), np.sort(b.cell_data[key][0]), rtol=1e-6, atol=1e-12)
