"""STL/STEP of the printed lattice: closed, consistently oriented, outward, one
body, volume within 0.5 % of the CAD volume (issue 3).

The checks below read the file back and count edges themselves; they share no code
with :mod:`fem_mnn.geometry.stl`.
"""

from __future__ import annotations

import struct
from pathlib import Path

import gmsh
import numpy as np
import pytest
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from fem_mnn.core.errors import InputError
from fem_mnn.design import Design, paper_sample, triangular_patch, triangular_strip
from fem_mnn.geometry.build import MeshOptions, build_model, gmsh_session
from fem_mnn.geometry.stl import write_step, write_stl


def read_binary_stl(path: Path) -> np.ndarray:
    data = path.read_bytes()
    (n,) = struct.unpack("<I", data[80:84])
    assert len(data) == 84 + 50 * n
    rec = np.frombuffer(data[84:], dtype=[("n", "<f4", 3), ("v", "<f4", (3, 3)), ("a", "<u2")])
    return rec["v"].astype(float)


def read_ascii_stl(path: Path) -> np.ndarray:
    lines = path.read_text().split("\n")
    assert lines[0].startswith("solid")
    v = [list(map(float, ln.split()[1:])) for ln in lines if ln.strip().startswith("vertex")]
    return np.array(v).reshape(-1, 3, 3)


def check_closed_oriented_volume(tri_xyz: np.ndarray, cad_volume: float) -> dict:
    """Independent checks on a triangle soup (m, 3, 3)."""
    # merge vertices by exact float32 coordinates, as a slicer does
    flat = tri_xyz.reshape(-1, 3).astype(np.float32)
    _, ids = np.unique(flat, axis=0, return_inverse=True)
    tri = ids.reshape(-1, 3)
    assert np.all(tri[:, 0] != tri[:, 1]) and np.all(tri[:, 1] != tri[:, 2]) and np.all(tri[:, 0] != tri[:, 2])
    directed = np.concatenate([tri[:, [0, 1]], tri[:, [1, 2]], tri[:, [2, 0]]])
    # closed: every undirected edge in exactly two triangles
    _, und_count = np.unique(np.sort(directed, axis=1), axis=0, return_counts=True)
    closed = bool(np.all(und_count == 2))
    # consistently oriented: every directed edge exactly once (its twin runs the other way)
    _, dir_count = np.unique(directed, axis=0, return_counts=True)
    oriented = bool(np.all(dir_count == 1))
    # one body: connected components of the vertex graph
    n = int(ids.max()) + 1
    graph = coo_matrix((np.ones(len(directed)), (directed[:, 0], directed[:, 1])), shape=(n, n))
    bodies, _ = connected_components(graph, directed=False)
    a, b, c = tri_xyz[:, 0], tri_xyz[:, 1], tri_xyz[:, 2]
    volume = float(np.einsum("ij,ij->i", a, np.cross(b, c)).sum() / 6)
    # with a consistent orientation, a positive enclosed volume means outward normals
    return {"closed": closed, "oriented": oriented, "bodies": bodies, "volume": volume, "cad": cad_volume}


def cad_volume(design: Design) -> float:
    with gmsh_session():
        return build_model(design, MeshOptions(dim=2), mesh=False).cad_measure * design.thickness


def designs():
    rng = np.random.default_rng(7)
    yield paper_sample()
    yield paper_sample(2.5)
    base = triangular_strip(4, 3)
    yield base.with_widths(rng.uniform(1.5, 2.5, base.n_bonds))
    base = triangular_patch(3, 3, thickness=3.0)
    yield base.with_widths(rng.uniform(1.5, 2.5, base.n_bonds))


@pytest.mark.parametrize("design", list(designs()), ids=lambda d: f"{d.name}-{d.widths.mean():.2f}")
def test_binary_stl_closed_oriented_outward_one_body(tmp_path, design):
    out = tmp_path / "lattice.stl"
    info = write_stl(design, out)
    res = check_closed_oriented_volume(read_binary_stl(out), cad_volume(design))
    assert res["closed"] and res["oriented"] and res["bodies"] == 1
    assert res["volume"] > 0  # outward
    assert abs(res["volume"] - res["cad"]) <= 0.005 * res["cad"]
    assert info.cad_volume == pytest.approx(res["cad"], rel=1e-9)
    assert info.n_triangles == len(read_binary_stl(out))
    assert info.bbox[2] == pytest.approx(0.0) and info.bbox[5] == pytest.approx(design.thickness)


def test_stored_normals_point_out_of_the_solid(tmp_path):
    out = tmp_path / "p.stl"
    d = triangular_patch(3, 2)
    write_stl(d, out)
    data = out.read_bytes()
    rec = np.frombuffer(data[84:], dtype=[("n", "<f4", 3), ("v", "<f4", (3, 3)), ("a", "<u2")])
    # top face (z = t) normals must point up, bottom face (z = 0) normals down
    z = rec["v"][:, :, 2]
    top = np.all(np.isclose(z, d.thickness), axis=1)
    bottom = np.all(np.isclose(z, 0.0), axis=1)
    assert top.sum() > 0 and bottom.sum() > 0
    assert np.all(rec["n"][top, 2] > 0.99) and np.all(rec["n"][bottom, 2] < -0.99)


def test_ascii_stl_same_surface(tmp_path):
    d = triangular_patch(3, 2)
    write_stl(d, tmp_path / "b.stl")
    write_stl(d, tmp_path / "a.stl", ascii=True)
    a, b = read_ascii_stl(tmp_path / "a.stl"), read_binary_stl(tmp_path / "b.stl")
    assert a.shape == b.shape
    assert np.allclose(a, b, atol=1e-5)
    res = check_closed_oriented_volume(a, cad_volume(d))
    assert res["closed"] and res["oriented"] and res["bodies"] == 1


def test_independent_check_catches_a_flipped_triangle(tmp_path):
    d = triangular_patch(3, 2)
    write_stl(d, tmp_path / "b.stl")
    tri = read_binary_stl(tmp_path / "b.stl").copy()
    tri[5] = tri[5][::-1]
    res = check_closed_oriented_volume(tri, cad_volume(d))
    assert res["closed"] and not res["oriented"]
    res = check_closed_oriented_volume(tri[1:], cad_volume(d))
    assert not res["closed"]


def test_step_export_volume(tmp_path):
    d = triangular_patch(3, 2)
    out = tmp_path / "p.step"
    vol = write_step(d, out)
    assert vol == pytest.approx(cad_volume(d), rel=1e-6)
    with gmsh_session():
        gmsh.model.add("check")
        ents = gmsh.model.occ.importShapes(str(out))
        gmsh.model.occ.synchronize()
        vols = [t for dim, t in ents if dim == 3]
        assert len(vols) == 1
        assert gmsh.model.occ.getMass(3, vols[0]) == pytest.approx(vol, rel=1e-6)
    with pytest.raises(InputError):
        write_step(d, tmp_path / "p.stl")


def test_stl_command(tmp_path, capsys):
    from fem_mnn.cli import main
    from fem_mnn.design import save_design

    d = triangular_patch(3, 2)
    src = save_design(d, tmp_path / "p.json")
    assert main(["stl", str(src), "-o", str(tmp_path / "p.stl")]) == 0
    assert "1 body" in capsys.readouterr().out
    res = check_closed_oriented_volume(read_binary_stl(tmp_path / "p.stl"), cad_volume(d))
    assert res["closed"] and res["oriented"] and res["bodies"] == 1
    assert main(["stl", str(src), "-o", str(tmp_path / "p.step")]) == 0
    assert (tmp_path / "p.step").read_text().startswith("ISO-10303-21")
    assert main(["stl", str(src), "-o", str(tmp_path / "p.obj")]) == 2
