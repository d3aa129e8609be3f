"""Exact width gradient by the shape derivative (fem_mnn.fem.shape) and mesh morphing (fem_mnn.fem.morph)."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from fem_mnn.fem._dolfinx import import_dolfinx

try:
    import_dolfinx()
except ModuleNotFoundError:
    pytest.skip("DOLFINx is not installed", allow_module_level=True)

from mpi4py import MPI  # noqa: E402

from fem_mnn.design import paper_sample, triangular_strip  # noqa: E402
from fem_mnn.design.outline import bond_rectangles  # noqa: E402
from fem_mnn.fem.linear import FemModel, FemOptions, fd_width_gradient  # noqa: E402
from fem_mnn.fem.morph import MorphingFemModel
from fem_mnn.fem.shape import shape_width_gradient  # noqa: E402
from fem_mnn.fem.width_map import cell_quality, geometry_dofmap  # noqa: E402
from fem_mnn.geometry.build import MeshOptions, mesh_size  # noqa: E402
from fem_mnn.learn.losses import MSE  # noqa: E402

pytestmark = pytest.mark.fem

TESTS = Path(__file__).resolve().parent
sys.path.insert(0, str(TESTS))
import mpi_shape_case  # noqa: E402

COMM = MPI.COMM_SELF


@pytest.fixture(scope="module")
def strip():
    """A 4x2 strip with random widths, P2 on a coarse fixed-size mesh, morphing model."""
    d = mpi_shape_case.case_design()
    f, loss = mpi_shape_case.case_problem(d)
    return d, f, loss, mpi_shape_case.case_model(d, COMM)


def _loss(model, w, f, loss):
    return float(np.mean(loss(model.operator(w).solve(f).u)[0]))


def test_taylor_on_morphed_meshes(strip):
    d, f, loss, model = strip
    w0 = d.widths.copy()
    g = shape_width_gradient(model.operator(w0), f, loss)
    assert g.timings["method"] == "batched"
    assert _loss(model, w0, f, loss) == pytest.approx(g.loss, rel=1e-13)
    h = 1e-4
    fd = np.array(
        [(_loss(model, w0 + h * e, f, loss) - _loss(model, w0 - h * e, f, loss)) / (2 * h) for e in np.eye(d.n_bonds)]
    )
    err = np.max(np.abs(fd - g.grad_w)) / np.max(np.abs(g.grad_w))
    print("shape gradient vs central differences on morphed meshes (h = 1e-4 mm): max rel err", err)
    assert err < 1e-6
    rng = np.random.default_rng(3)
    dw = rng.normal(size=d.n_bonds)
    L0, slope = _loss(model, w0, f, loss), g.grad_w @ dw
    hs = (4e-2, 2e-2, 1e-2, 5e-3)
    rem = np.array([abs(_loss(model, w0 + hh * dw, f, loss) - L0 - hh * slope) for hh in hs])
    rates = np.log2(rem[:-1] / rem[1:])
    print("Taylor remainders", rem, "rates", rates)
    assert np.all(np.abs(rates - 2) < 0.1)
    assert model.n_meshes == 1 and model.n_remeshes == 0


def test_ufl_and_batched_assemblies_agree_and_batch_is_sum_of_cases(strip):
    d, _, _, model = strip
    rng = np.random.default_rng(7)
    nc = 16
    f = np.zeros((nc, d.n_nodes, 2))
    free = [j for j in range(d.n_nodes) if j not in d.fixed]
    f[:, free] = rng.normal(scale=0.005, size=(nc, len(free), 2))
    t = np.full((nc, d.n_nodes, 2), np.nan)
    t[:, free[-1]] = rng.normal(scale=0.02, size=(nc, 2))
    t[:, free[0], 0] = rng.normal(scale=0.02, size=nc)
    loss = MSE(t)
    op = model.operator(d.widths)
    b = shape_width_gradient(op, f, loss, method="batched")
    u = shape_width_gradient(op, f, loss, method="ufl", per_case=True)
    scale = np.max(np.abs(b.grad_w))
    e1 = np.max(np.abs(u.grad_w - b.grad_w)) / scale
    e2 = np.max(np.abs(u.per_case.mean(axis=0) - b.grad_w)) / scale
    print(f"batched vs per-case UFL: {e1:.2e}; batched vs mean of per-case gradients: {e2:.2e}")
    print("timings batched", b.timings, "ufl", u.timings)
    assert e1 < 1e-10 and e2 < 1e-10
    # each case's gradient is that case's own loss gradient
    g0 = shape_width_gradient(op, f[:1], MSE(t[:1]))
    assert np.max(np.abs(g0.grad_w - u.per_case[0])) < 1e-10 * np.max(np.abs(u.per_case[0]))


def test_bonds_between_clamped_hubs_get_zero():
    d = triangular_strip(3, 2, width=np.linspace(1.6, 2.4, 9))
    d = dataclasses.replace(d, fixed=(0, 1, 2))
    clamped = [i for i, (a, b) in enumerate(d.bonds) if a in d.fixed and b in d.fixed]
    assert len(clamped) == 2
    f = np.zeros((2, d.n_nodes, 2))
    f[0, 4] = (0.0, -0.01)
    f[1, 3] = (0.005, 0.002)
    t = np.full((2, d.n_nodes, 2), np.nan)
    t[:, 4, 1] = -0.03
    t[:, 3, 0] = 0.01
    model = FemModel(d, FemOptions(mesh=MeshOptions(elements_across=2)), comm=COMM)
    g = shape_width_gradient(model.operator(), f, MSE(t)).grad_w
    ratio = np.max(np.abs(g[clamped])) / np.max(np.abs(g))
    print("clamped-to-clamped bonds: |dL/dw| / max", ratio)
    assert ratio < 1e-10


# ------------------------------------------------------------------ paper sample


def _mirror_bonds(d):
    xm = d.nodes.copy()
    xm[:, 0] = 2 * d.nodes[:, 0].mean() - xm[:, 0]
    nmap = np.array([int(np.argmin(np.hypot(*(d.nodes - p).T))) for p in xm])
    out = []
    for a, b in d.bonds:
        lo, hi = sorted((nmap[a], nmap[b]))
        out.append(int(np.nonzero((d.bonds[:, 0] == lo) & (d.bonds[:, 1] == hi))[0][0]))
    return nmap, np.array(out)


@pytest.fixture(scope="module")
def paper():
    """The paper's sample (P2, default mesh), a symmetric load case and loss."""
    d = paper_sample()
    f = np.zeros((1, d.n_nodes, 2))
    f[0, 10] = (0.0, -0.01)
    t = np.full((1, d.n_nodes, 2), np.nan)
    t[0, [12, 13], 1] = -0.05
    t[0, 10, 1] = -0.03
    model = FemModel(d, comm=COMM)
    g = shape_width_gradient(model.operator(), f, MSE(t))
    return d, f, MSE(t), model, g


def test_mirror_symmetry_on_the_paper_sample(paper):
    d, _, _, _, g = paper
    nmap, bm = _mirror_bonds(d)
    assert sorted(bm.tolist()) == list(range(d.n_bonds)) and np.any(bm != np.arange(d.n_bonds))
    gw = g.grad_w
    sym = np.max(np.abs(gw - gw[bm])) / np.max(np.abs(gw))
    u = g.forward.u[0]
    # the gmsh mesh is not mirror-symmetric: its asymmetry shows in the forward response
    mesh_asym = max(np.max(np.abs(u[nmap, 1] - u[:, 1])), np.max(np.abs(u[nmap, 0] + u[:, 0]))) / np.abs(u).max()
    print(f"mirror-image bonds: max |g_i - g_mirror(i)| / max|g| = {sym:.2e}; mesh asymmetry in u: {mesh_asym:.2e}")
    assert sym < 1e-3
    assert sym < 10 * mesh_asym


def test_agrees_with_remeshed_finite_differences(paper):
    d, f, loss, model, g = paper
    gw = g.grad_w
    bonds = np.argsort(-np.abs(gw))[[0, 2, 8]]  # large, and mid-size
    fd2 = fd_width_gradient(model, f, loss, delta=0.2, bonds=bonds)[bonds]
    scale = np.max(np.abs(gw))
    err2 = np.max(np.abs(fd2 - gw[bonds])) / scale
    # the same central differences on morphed meshes (same element size): the gap above is
    # the O(delta^2) truncation error of the differences, not a discretisation error
    mo = MeshOptions(size=mesh_size(d, MeshOptions()))
    morph = MorphingFemModel(d, FemOptions(mesh=mo), comm=COMM)
    w0 = d.widths
    morph.operator(w0)  # the reference mesh: the one the shape gradient was computed on

    def fd_morph(i, h):
        e = np.zeros(d.n_bonds)
        e[i] = h
        return (_loss(morph, w0 + e, f, loss) - _loss(morph, w0 - e, f, loss)) / (2 * h)

    m2 = np.array([fd_morph(i, 0.2) for i in bonds])
    m1 = np.array([fd_morph(i, 0.1) for i in bonds])
    m05 = np.array([fd_morph(i, 0.05) for i in bonds])
    err_mr = np.max(np.abs(m2 - fd2)) / scale
    err_rich = np.max(np.abs((4 * m05 - m1) / 3 - gw[bonds])) / scale
    print("bonds", bonds.tolist(), "shape", gw[bonds], "remeshed FD 0.2", fd2, "morphed FD 0.2, 0.1, 0.05", m2, m1, m05)
    print(
        f"remeshed FD (0.2 mm) vs shape: {err2:.2e} of the largest; morphed vs remeshed FD (0.2 mm): {err_mr:.2e};"
        f" Richardson of morphed FD (0.1, 0.05) vs shape: {err_rich:.2e}"
    )
    assert err2 < 0.02
    assert err_mr < 3e-3
    assert err_rich < 1e-4
    assert morph.n_meshes == 1


# ------------------------------------------------------------------- morphing


def _outline_distance(d, pts):
    """Signed distance of points to the union of hub disks and beam rectangles of design d."""
    best = np.full(len(pts), np.inf)
    R = d.geometry.junction_radius
    for c in d.nodes:
        best = np.minimum(best, np.hypot(*(pts - c).T) - R)
    for i in range(d.n_bonds):
        for rect in bond_rectangles(d, i):
            c = rect.mean(axis=0)
            ax = (rect[1] - rect[0]) / np.linalg.norm(rect[1] - rect[0])
            nr = np.array([-ax[1], ax[0]])
            half = np.array([np.linalg.norm(rect[1] - rect[0]), np.linalg.norm(rect[2] - rect[1])]) / 2
            p = pts - c
            q = np.abs(np.stack([p @ ax, p @ nr], axis=1)) - half
            sd = np.hypot(*np.maximum(q, 0).T) + np.minimum(q.max(axis=1), 0)
            best = np.minimum(best, sd)
    return best


def _boundary_points(mesh):
    import dolfinx.mesh

    tdim = mesh.topology.dim
    mesh.topology.create_connectivity(tdim - 1, tdim)
    facets = dolfinx.mesh.exterior_facet_indices(mesh.topology)
    nodes = np.unique(dolfinx.mesh.entities_to_geometry(mesh, tdim - 1, facets))
    return mesh.geometry.x[nodes, :2]


def test_morphed_mesh_matches_a_fresh_mesh():
    d = mpi_shape_case.case_design()
    f, loss = mpi_shape_case.case_problem(d)
    h = 0.5
    opts = FemOptions(mesh=MeshOptions(elements_across=2, size=h))
    model = mpi_shape_case.case_model(d, COMM)
    w0 = d.widths.copy()
    op0 = model.operator(w0)
    u0 = op0.solve(f).u
    A0, morphs = op0.A, model.n_morphs
    step = np.where(w0 < 2.0, 0.3, -0.3)  # 0.3 mm on every bond, inside the printable range
    w1 = w0 + step
    op1 = model.operator(w1)
    assert model.n_meshes == 1 and model.n_morphs == morphs + 1 and op1.A is A0  # same Mat: MUMPS keeps its analysis
    d1 = d.with_widths(w1)
    # every boundary node of the morphed mesh lies on the boundary of the new geometry
    dist = np.abs(_outline_distance(d1, _boundary_points(op1.mesh)))
    print("morphed boundary nodes: max distance to the new outline", dist.max())
    assert dist.max() < 1e-9
    # the largest node move exceeds the mesh size's share of the geometry change
    move = np.max(np.hypot(*(op1.mesh.geometry.x[:, :2] - model.width_map.x_ref).T))
    print("largest node move (mm)", move, "quality (min q, min q/q_ref)", model.last_quality)
    um = op1.solve(f).u
    fresh = FemModel(d1, opts, comm=COMM).operator(w1)
    uf = fresh.solve(f).u
    fine = FemModel(d1, dataclasses.replace(opts, mesh=MeshOptions(elements_across=2, size=h / 2)), comm=COMM)
    uh2 = fine.operator(w1).solve(f).u
    scale = np.abs(uf).max()
    e_morph = np.abs(um - uf).max() / scale
    e_disc = np.abs(uf - uh2).max() / scale
    change = np.abs(uf - u0).max() / scale
    lm, lf = np.mean(loss(um)[0]), np.mean(loss(uf)[0])
    print(
        f"node displacements: morphed vs fresh mesh {e_morph:.2e}, fresh h vs h/2 (discretisation) {e_disc:.2e},"
        f" change w0 -> w1 {change:.2e}; loss morphed {lm:.6e} fresh {lf:.6e}"
    )
    assert e_morph < 2 * e_disc
    assert change > 10 * e_morph
    assert abs(lm - lf) / lf < 5 * e_disc + 1e-6
    # back to w0: the reference mesh exactly (morphing is not cumulative)
    wm = model.width_map
    model.operator(wm.widths_ref)
    np.testing.assert_array_equal(op1.mesh.geometry.x[:, :2], wm.x_ref)


def test_width_map_classifies_like_the_cell_tags(strip):
    d, _, _, model = strip
    op = model.operator(d.widths)
    wm = model.width_map
    mesh = op.mesh
    dm = geometry_dofmap(mesh)
    tags = op.cell_tags
    bond_nodes = {}
    for i in range(d.n_bonds):
        bond_nodes[i] = np.unique(dm[tags.find(10000 + i)])
    hub_nodes = np.unique(dm[np.concatenate([tags.find(20000 + j) for j in range(d.n_nodes)])])
    moving = wm.moving_bond
    for i, nodes in bond_nodes.items():
        inner = np.setdiff1d(nodes, hub_nodes)
        assert np.all(wm.node_bond[inner] == i)
        assert np.all(moving[nodes] == i)  # arc nodes move with their bond too
    # the first-order field is the derivative of the finite map
    w = d.widths
    bond, V = wm.velocity(w)
    hh = 1e-6
    num = (wm.coordinates(w + hh) - wm.coordinates(w - hh)) / (2 * hh)
    assert np.max(np.abs(num - V)) < 1e-7
    assert np.all(V[bond < 0] == 0)


def test_quality_bound_triggers_a_remesh_and_the_gradient_stays_exact():
    d = mpi_shape_case.case_design()
    f, loss = mpi_shape_case.case_problem(d)
    model = mpi_shape_case.case_model(d, COMM)
    model.operator(d.widths)
    model.min_quality_ratio = 0.999  # any visible change of shape remeshes
    w1 = d.widths + 0.2
    op = model.operator(w1)
    assert model.n_remeshes == 1 and model.n_meshes == 2
    g = shape_width_gradient(op, f, loss).grad_w
    h = 1e-4
    model.min_quality_ratio = 0.3
    i = int(np.argmax(np.abs(g)))
    e = np.zeros(d.n_bonds)
    e[i] = h
    fd = (_loss(model, w1 + e, f, loss) - _loss(model, w1 - e, f, loss)) / (2 * h)
    assert model.n_remeshes == 1
    assert abs(fd - g[i]) < 1e-6 * abs(g[i])


def test_cell_quality_of_reference_shapes():
    import dolfinx.mesh

    m = dolfinx.mesh.create_unit_square(COMM, 2, 2)
    det, q = cell_quality(m)
    assert np.all(np.abs(det) == pytest.approx(0.25))
    np.testing.assert_allclose(q, np.sqrt(3) / 2)  # right isosceles triangles
    x = np.array(m.geometry.x)
    x[:, 0] *= -1  # mirrored: every cell inverts, same quality
    det2, q2 = cell_quality(m, x)
    assert np.all(np.sign(det2) == -np.sign(det)) and np.allclose(q2, q)


@pytest.mark.mpi
def test_two_ranks_equal_serial(tmp_path, mpiexec):
    out = tmp_path / "par.json"
    env = dict(os.environ, PYTHONPATH=str(TESTS.parent))
    subprocess.run(
        [mpiexec, "-n", "2", sys.executable, str(TESTS / "mpi_shape_case.py"), str(out)],
        check=True,
        timeout=300,
        env=env,
    )
    par = json.loads(out.read_text())
    ser = mpi_shape_case.run_case(COMM)
    assert par["ranks"] == 2 and par["n_dofs"] == ser["n_dofs"]
    worst = 0.0
    for key in ("loss0", "grad0", "loss1", "grad1", "u1", "measure1"):
        a, b = np.asarray(par[key]), np.asarray(ser[key])
        rel = np.max(np.abs(a - b)) / np.max(np.abs(b))
        worst = max(worst, rel)
        assert rel < 1e-10, key
    print("shape gradient, serial vs 2 ranks (fresh and morphed mesh): worst relative difference", worst)


# ------------------------------------------------------------------ commands and training


def test_fem_gradient_exact_uses_the_shape_derivative(tmp_path):
    from fem_mnn.cli import main
    from fem_mnn.design import save_design

    d = mpi_shape_case.case_design()
    path = save_design(d, tmp_path / "strip.json")
    case = ["--load", "5:0,-0.01", "--target", "6:_,-0.05", "--elements-across", "2"]
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    assert main(["fem", "gradient", "--exact", str(path), *case, "--out", str(a)]) == 0
    assert main(["fem", "gradient", str(path), *case, "--exact", "--exact-method", "shape", "--out", str(b)]) == 0
    ga, gb = json.loads(a.read_text()), json.loads(b.read_text())
    assert ga["exact"]["method"].startswith("adjoint shape derivative")
    np.testing.assert_array_equal(ga["grad_w_exact"], gb["grad_w_exact"])
    # the same number from the library
    f = np.zeros((1, d.n_nodes, 2))
    f[0, 5] = (0.0, -0.01)
    t = np.full((1, d.n_nodes, 2), np.nan)
    t[0, 6, 1] = -0.05
    model = FemModel(d, FemOptions(mesh=MeshOptions(elements_across=2)), comm=COMM)
    g = shape_width_gradient(model.operator(), f, MSE(t)).grad_w
    np.testing.assert_allclose(ga["grad_w_exact"], g, rtol=0, atol=1e-12 * np.abs(g).max())


def test_exact_training_steps_along_the_exact_gradient_and_resumes_exactly(tmp_path):
    from fem_mnn.learn import paper_config, train
    from fem_mnn.learn.tasks import build_task

    d = paper_sample()
    task = build_task("behaviour-ce", d, seed=0)
    mo = MeshOptions(size=mesh_size(d, MeshOptions()))
    opts = FemOptions(degree=1, mesh=mo)
    # full batch: the first Adam step is -lr sign(dL/dz), dz/dw > 0
    idx = np.arange(task.train_loads.shape[0])
    g = shape_width_gradient(FemModel(d, opts, comm=COMM).operator(), task.train_loads, task.loss("train", idx)).grad_w
    config = paper_config("behaviour-ce", epochs=3, checkpoint_every=1)
    model = MorphingFemModel(d, opts, comm=COMM)
    one = train(model, task, config, stop_after=1, out_dir=tmp_path / "a")
    step = np.array(one.widths) - d.widths
    big = np.abs(g) > 1e-3 * np.abs(g).max()
    print(
        "first step vs -sign(exact gradient): agree on",
        int(np.sum(np.sign(step[big]) == -np.sign(g[big]))),
        "of",
        big.sum(),
    )
    assert np.all(np.sign(step[big]) == -np.sign(g[big]))
    # resume in a fresh model (a new process would do the same) and compare with one uninterrupted run
    resumed = train(MorphingFemModel(d, opts, comm=COMM), task, config, out_dir=tmp_path / "a", resume=True)
    full = train(MorphingFemModel(d, opts, comm=COMM), task, config)
    losses = [r.loss for r in full.history]
    print("exact-gradient training losses", losses)
    assert losses[2] < losses[1] < losses[0]
    np.testing.assert_allclose(resumed.widths, full.widths, rtol=1e-12)


def test_curved_geometry_uses_the_per_case_route():
    d = triangular_strip(3, 2, width=np.linspace(1.6, 2.4, 9))
    f = np.zeros((1, d.n_nodes, 2))
    f[0, 4] = (0.0, -0.01)
    t = np.full((1, d.n_nodes, 2), np.nan)
    t[0, 4, 1] = -0.03
    loss = MSE(t)
    model = MorphingFemModel(d, FemOptions(mesh=MeshOptions(size=0.6, order=2)), comm=COMM)
    g = shape_width_gradient(model.operator(d.widths), f, loss)
    assert g.timings["method"] == "ufl"
    h = 1e-4
    for i in np.argsort(-np.abs(g.grad_w))[:2]:
        e = np.zeros(d.n_bonds)
        e[i] = h
        fd = (_loss(model, d.widths + e, f, loss) - _loss(model, d.widths - e, f, loss)) / (2 * h)
        assert abs(fd - g.grad_w[i]) < 1e-6 * np.abs(g.grad_w).max()
