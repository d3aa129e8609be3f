"""The common thin-end offset: thin ends ``thin_end_ratio * w + delta_t`` wide, bars ``w``.

* the width map moves exactly the thin ends' edges (by delta_t / 2), the steps' inner corners
  with them, and not the bars' edges nor the hub circle (pure geometry, no mesh);
* its design velocity is the derivative of the map;
* FE: dU/d delta_t of the shape derivative against central differences on morphed meshes
  (O(h^2): the error ratio 4 when h halves), and the width columns stay exact at delta_t != 0;
* FE: E and the thin-end offset come back from noise-free FE data;
* springs refuse it, with the reason (they have no thin ends), in the library and the CLI.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from conftest import need_dolfinx, run_cli

from fem_mnn.core.errors import InputError
from fem_mnn.design import save_design, triangular_strip
from fem_mnn.design.outline import beam_layout
from fem_mnn.fem.width_map import WidthMap
from fem_mnn.fidelity.identify import identify, observations, spring_response
from fem_mnn.io import measured as ms

G10 = 10 * 9.8e-3  # N: 10 g


def _strip():
    return triangular_strip(4, 2, width=np.linspace(1.7, 2.3, 13))


def _outline_points(d, i):
    """Points of bond i's outline in its frame (s along from hub a, n across) and their roles."""
    lay = beam_layout(d)
    R, lt, L = lay.radius, lay.thin_length[i], lay.length[i]
    t, b = 0.5 * lay.thin_width[i], 0.5 * lay.width[i]
    s1 = R + lt
    pts, role = [], []
    for sg in (-1.0, 1.0):
        pts += [(s1 - 0.5 * lt, sg * t), (L - s1 + 0.5 * lt, sg * t)]  # thin ends' edges
        role += ["thin", "thin"]
        pts += [(0.5 * L, sg * b), (s1 + 0.3 * (L - 2 * s1), sg * b)]  # bar edges
        role += ["bar", "bar"]
        pts += [(s1, sg * 0.5 * (t + b))]  # the step face, half-way out
        role += ["step"]
        pts += [(math.sqrt(R * R - t * t), sg * t)]  # the thin end's corner on hub a's circle
        role += ["arc"]
    a = d.nodes[d.bonds[i, 0]]
    u = d.directions[i]
    nrm = np.array([-u[1], u[0]])
    P = np.array([a + s * u + n * nrm for s, n in pts])
    return P, role, (a, u, nrm), (t, b, R)


def test_width_map_moves_only_the_thin_ends():
    d = _strip()
    i = 4
    P, role, (a, u, nrm), (t, b, R) = _outline_points(d, i)
    wm = WidthMap(d, P, d.widths)
    w = d.widths.copy()
    np.testing.assert_array_equal(wm.coordinates(w, 0.0), wm.coordinates(w))
    delta = 0.12
    X = wm.coordinates(w, delta)
    rel = X - a
    s, n = rel @ u, rel @ nrm
    for k, r in enumerate(role):
        if r == "thin":
            assert abs(n[k]) == pytest.approx(t + delta / 2, abs=1e-12)
        elif r == "bar":
            assert abs(n[k]) == pytest.approx(b, abs=1e-12)
        elif r == "step":  # the step face stays where it is and stretches from t + delta/2 to b
            assert s[k] == pytest.approx(R + beam_layout(d).thin_length[i], abs=1e-12)
            assert abs(n[k]) == pytest.approx(0.5 * (t + delta / 2 + b), abs=1e-12)
        elif r == "arc":  # on the hub circle, at the new thin end's edge
            assert np.hypot(*rel[k]) == pytest.approx(R, abs=1e-12)
            assert abs(n[k]) == pytest.approx(t + delta / 2, abs=1e-12)
    # with the widths: thin ends ratio w + delta, bars w
    w2 = w * 1.1
    rel = wm.coordinates(w2, delta) - a
    n = rel @ nrm
    ratio = d.geometry.thin_end_ratio
    for k, r in enumerate(role):
        if r == "thin":
            assert abs(n[k]) == pytest.approx(0.5 * (ratio * w2[i] + delta), abs=1e-12)
        elif r == "bar":
            assert abs(n[k]) == pytest.approx(0.5 * w2[i], abs=1e-12)


def test_thin_velocity_is_the_derivative_of_the_map():
    d = _strip()
    P, *_ = _outline_points(d, 4)
    wm = WidthMap(d, P, d.widths)
    w = d.widths + 0.03
    h = 1e-6
    for delta in (0.0, -0.2):
        V = wm.thin_velocity(w, delta)
        fd = (wm.coordinates(w, delta + h) - wm.coordinates(w, delta - h)) / (2 * h)
        # central differences of a smooth map: truncation ~h^2 |X'''|, round-off ~1e-16 / h
        assert np.max(np.abs(fd - V)) < 1e-8
        assert np.max(np.abs(V)) > 0.1  # the thin ends do move
        _, Vw = wm.velocity(w, delta)
        fdw = (wm.coordinates(w + h, delta) - wm.coordinates(w - h, delta)) / (2 * h)
        assert np.max(np.abs(fdw - Vw)) < 1e-8


def test_springs_refuse_a_thin_end_offset():
    d = _strip()
    free = [n for n in range(d.n_nodes) if n not in d.fixed]
    F = np.zeros((1, d.n_nodes, 2))
    F[0, free[-1], 1] = -G10
    recs = [ms.Displacement("c", n, 0.01, -0.01, math.nan, math.nan) for n in free]
    obs = observations(d, recs, ["c"], 0.005, "synthetic")
    with pytest.raises(InputError, match="spring law k = E t w / L has no thin ends"):
        identify(d, obs, F, spring_response(d), ["E", "thin-end-offset"], None)


def test_cli_spring_refuses_thin_end_offset_with_its_reason(tmp_path):
    d = _strip()
    design = save_design(d, tmp_path / "d.json")
    free = [n for n in range(d.n_nodes) if n not in d.fixed]
    ms.write_loads(tmp_path / "l.csv", [ms.Load("c", free[-1], 0.0, -G10)], "one case")
    (tmp_path / "m.csv").write_text("load_case,node,ux,uy\n" + "".join(f"c,{n},0.01,-0.01\n" for n in free))
    r = run_cli(
        "identify",
        design,
        "--measured",
        tmp_path / "m.csv",
        "--loads",
        tmp_path / "l.csv",
        "--fit",
        "E,thin-end-offset",
        "--noise-sd",
        "0.005",
        "--out",
        tmp_path / "out",
    )
    assert r.returncode == 2
    assert "no thin ends" in r.stderr and r.stderr.strip().count("\n") == 0
    assert not (tmp_path / "out").exists()


# --------------------------------------------------------------------------- FE


@pytest.fixture(scope="module")
def fe_strip():
    need_dolfinx()
    from mpi4py import MPI

    from fem_mnn.fem.linear import FemOptions
    from fem_mnn.fem.morph import MorphingFemModel
    from fem_mnn.fem.shape import output_response
    from fem_mnn.geometry.build import MeshOptions

    d = _strip()
    model = MorphingFemModel(d, FemOptions(mesh=MeshOptions(elements_across=2, size=0.5)), comm=MPI.COMM_WORLD)
    free = [n for n in range(d.n_nodes) if n not in d.fixed]
    F = np.zeros((2, d.n_nodes, 2))
    F[0, free[-1], 1] = -G10
    F[1, free[2], 0] = G10
    dofs = np.array([(n, k) for n in free for k in (0, 1)], dtype=np.int64)
    return d, model, output_response(model), F, dofs


@pytest.mark.fem
def test_fe_thin_end_jacobian_against_central_differences(fe_strip):
    d, model, resp, F, dofs = fe_strip
    assert resp.thin_end_offset
    w = d.widths + 0.05
    U0, _ = resp(w, F, dofs, False)
    np.testing.assert_array_equal(resp(w, F, dofs, False, thin_offset=0.0)[0], U0)
    t0 = 0.1
    U, dU = resp(w, F, dofs, True, thin_offset=t0)
    assert dU.shape == (2, len(dofs), d.n_bonds + 1)
    assert np.abs(U - U0).max() > 0.02 * np.abs(U0).max()  # 0.1 mm on ~1 mm thin ends: a visible stiffening
    fd = {}
    for h in (2e-2, 1e-2):
        up = resp(w, F, dofs, False, thin_offset=t0 + h)[0]
        um = resp(w, F, dofs, False, thin_offset=t0 - h)[0]
        fd[h] = (up - um) / (2 * h)
    scale = np.abs(dU[..., -1]).max()
    err = {h: np.abs(v - dU[..., -1]).max() / scale for h, v in fd.items()}
    rich = np.abs((4 * fd[1e-2] - fd[2e-2]) / 3 - dU[..., -1]).max() / scale
    print(f"dU/d thin offset vs central differences: {err}, Richardson {rich:.2e}")
    # the differences' error falls as h^2 (ratio 4 when h halves) and Richardson removes it
    assert 3.5 < err[2e-2] / err[1e-2] < 4.5
    assert rich < 0.1 * err[1e-2]
    # a width column at the offset
    i, h = 3, 1e-3
    e = np.zeros(d.n_bonds)
    e[i] = h
    fdw = (resp(w + e, F, dofs, False, thin_offset=t0)[0] - resp(w - e, F, dofs, False, thin_offset=t0)[0]) / (2 * h)
    # O(h^2) truncation at h = 1e-3 measured at ~2e-7 relative (the width test in test_identify uses the same h)
    assert np.abs(fdw - dU[..., i]).max() < 1e-5 * np.abs(dU[..., i]).max()
    assert model.n_remeshes == 0


@pytest.mark.fem
def test_fe_noise_free_recovery_of_e_and_thin_end_offset(fe_strip):
    d, model, resp, F, dofs = fe_strip
    s_true, t_true = 1.15, -0.12
    U, _ = resp(d.widths, F, dofs, False, thin_offset=t_true)
    U = U / s_true
    labels = ["a", "b"]
    recs = [
        ms.Displacement(labels[c], int(n), U[c, 2 * k], U[c, 2 * k + 1], math.nan, math.nan)
        for c in range(2)
        for k, n in enumerate(dofs[::2, 0])
    ]
    obs = observations(d, recs, labels, 0.005, "synthetic")
    res = identify(d, obs, F, resp, ["E", "thin-end-offset"], None)
    print(
        f"noise-free FE: E factor {res.value('E')[0]:.8f} (true {s_true}), thin offset "
        f"{res.value('thin-end-offset')[0]:+.8f} mm (true {t_true}), {res.iterations} iterations"
    )
    assert res.converged
    assert abs(res.value("thin-end-offset")[0] - t_true) < 1e-3
    assert abs(res.value("E")[0] / s_true - 1) < 1e-3
    assert res.chi2 < 1e-6


@pytest.mark.fem
def test_fe_large_thin_end_offset_remeshes_at_its_ratio_and_stays_exact(fe_strip):
    """Thin ends 0.3 mm on 1 mm: the morph degrades, a mesh at the offset's mean ratio carries it."""
    from mpi4py import MPI

    from fem_mnn.fem.linear import FemOptions
    from fem_mnn.fem.morph import MorphingFemModel
    from fem_mnn.fem.shape import output_response
    from fem_mnn.geometry.build import MeshOptions

    d, _, _, F, dofs = fe_strip
    model = MorphingFemModel(d, FemOptions(mesh=MeshOptions(elements_across=2, size=0.5)), comm=MPI.COMM_WORLD)
    resp = output_response(model)
    t = -0.7
    U, dU = resp(d.widths, F, dofs, True, thin_offset=t)
    assert model.n_remeshes == 1
    a = 0.5 + t / d.widths  # the ratio each bond needs: the mesh takes the geometric mean of the extremes
    assert model.mesh_thin_end_ratio == pytest.approx(np.sqrt(a.min() * a.max()))
    h = 1e-3
    fd = (
        resp(d.widths, F, dofs, False, thin_offset=t + h)[0] - resp(d.widths, F, dofs, False, thin_offset=t - h)[0]
    ) / (2 * h)
    # O(h^2) truncation at h = 1e-3, measured 1.8e-5 relative (the map is smooth in t on one mesh)
    assert np.abs(fd - dU[..., -1]).max() < 1e-4 * np.abs(dU[..., -1]).max()
    assert model.n_remeshes == 1
    with pytest.raises(Exception, match="no mesh can carry it"):
        resp(d.widths, F, dofs, False, thin_offset=-1.2)


@pytest.mark.fem
def test_plan_cli_with_thin_end_offset(tmp_path):
    """--plan ranks load cases on the same Jacobians, thin-end column included (FE)."""
    need_dolfinx()
    import json

    d = _strip()
    design = save_design(d, tmp_path / "d.json")
    out = tmp_path / "plan"
    r = run_cli(
        "identify", design, "--plan", "2", "--fit", "E,thin-end-offset", "--model", "fem", "--noise-sd", "0.01",
        "--elements-across", "2", "--degree", "1", "--out", out,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr[-2000:]
    data = json.loads((out / "plan.json").read_text())
    assert data["fit"] == ["E", "thin-end-offset"] and len(data["steps"]) == 2
    # each added case adds information: log det grows
    assert (
        data["steps"][1]["logdet_information"]
        > data["steps"][0]["logdet_information"]
        > data["logdet_information_before"]
    )
