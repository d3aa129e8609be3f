"""Neo-Hookean large-deformation solver: small-load limit, convergence failure, MPI."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import arch_design, need_dolfinx, run_python

need_dolfinx()

from fem_mnn.core.errors import EngineError  # noqa: E402
from fem_mnn.design import triangular_patch  # noqa: E402
from fem_mnn.fem.linear import FemOptions  # noqa: E402
from fem_mnn.fem.nonlinear import NonlinearModel, NonlinearOptions, relative_deviation, true_elongations  # noqa: E402
from fem_mnn.geometry.build import MeshOptions  # noqa: E402

pytestmark = pytest.mark.fem

COARSE = FemOptions(mesh=MeshOptions(elements_across=2))


def small_design():
    # 3 + 2 nodes, 7 bonds, clamped at ids 0 and 2; the load goes on id 4 (bottom right)
    return triangular_patch(top=3, rows=2)


def test_true_elongation_is_projected_one_at_first_order(paper):
    rng = np.random.default_rng(1)
    u = rng.normal(size=(paper.n_nodes, 2))
    from fem_mnn.contract import elongations

    for s in (1e-3, 1e-4):
        d = true_elongations(s * u, paper) - elongations(s * u, paper)
        # second order in the displacement
        assert np.abs(d).max() < 2 * s**2 * np.abs(u).max() ** 2


def test_small_load_limit_matches_linear_and_deviation_is_linear_in_load():
    d = small_design()
    nl = NonlinearModel(d, COARSE)
    op = nl.linear_operator()
    F = np.zeros((d.n_nodes, 2))
    F[4] = (0.02, -0.098)  # 10 g down plus a side pull (N)
    devs = []
    for s in (0.01, 0.02, 0.04):
        sol = nl.solve(s * F, steps=1)
        lin = op.solve(s * F)
        devs.append(relative_deviation(sol.u, lin.u[0]))
        assert relative_deviation(sol.elongation, lin.elongation[0]) < 5e-3
        assert sol.residual_norm < 1e-9
    # nonlinear != linear (the deviation is not round-off), and first order in the load
    assert 1e-6 < devs[0] < 2e-3
    assert devs[1] / devs[0] == pytest.approx(2.0, rel=0.05)
    assert devs[2] / devs[1] == pytest.approx(2.0, rel=0.05)


def test_full_load_path_and_tangent_adjoint():
    d = small_design()
    nl = NonlinearModel(d, COARSE)
    F = np.zeros((d.n_nodes, 2))
    F[4, 1] = -0.098
    path = nl.solve_path(F, [0.5, 1.0])
    direct = nl.solve(F, steps=3)
    assert np.allclose(path[-1].u, direct.u, rtol=1e-7, atol=1e-9)
    # the tangent at (almost) zero load is the linear stiffness
    tiny = nl.solve(1e-6 * F, steps=1)
    tan = nl.tangent(tiny)
    lin = nl.linear_operator()
    f = np.zeros_like(F)
    f[3, 0] = 0.01
    assert relative_deviation(tan.solve(f).u[0], lin.solve(f).u[0]) < 1e-5
    # at the full load the tangent differs from the linear stiffness (geometric stiffening/softening)
    tan1 = nl.tangent(direct)
    assert relative_deviation(tan1.solve(f).u[0], lin.solve(f).u[0]) > 1e-3


def test_non_convergence_raises_engine_error_with_step_and_residual():
    d = small_design()
    nl = NonlinearModel(d, COARSE, NonlinearOptions(steps=1, max_bisections=1, max_it=3))
    F = np.zeros((d.n_nodes, 2))
    F[4, 1] = -50.0  # 5 kg on a 2 mm elastomer lattice
    with pytest.raises(EngineError, match=r"load factor .* residual norm"):
        nl.solve(F)


_MPI_SCRIPT = """
import json, sys
import numpy as np
from fem_mnn.design import triangular_patch
from fem_mnn.design.records import Design, Material
from fem_mnn.fem.linear import FemOptions
from fem_mnn.geometry.build import MeshOptions
from fem_mnn.fem.nonlinear import NonlinearModel, NonlinearOptions
d = triangular_patch(top=3, rows=2)
nl = NonlinearModel(d, FemOptions(mesh=MeshOptions(elements_across=2)))
F = np.zeros((d.n_nodes, 2)); F[4] = (0.02, -0.196)
s = nl.solve(F, steps=2)
# the arch of test_arclength_passes_the_snap_of_an_arch_to_the_hanging_state, through its snap
a = Design(nodes=[[-20, 0], [20, 0], [0, 6]], bonds=[[0, 2], [1, 2]], widths=[2.5, 2.5], thickness=2.0,
           material=Material(E=0.55), fixed=(0, 1))
Fa = np.zeros((3, 2)); Fa[2, 1] = -0.04
o = NonlinearOptions(steps=4, max_bisections=4, continuation="arclength")
sa = NonlinearModel(a, FemOptions(mesh=MeshOptions(elements_across=1)), o).solve(Fa)
from mpi4py import MPI
if MPI.COMM_WORLD.rank == 0:
    print(json.dumps({"u": s.u.tolist(), "e": s.elongation.tolist(), "size": MPI.COMM_WORLD.size,
                      "arch": sa.u.tolist()}))
"""


@pytest.mark.mpi
def test_two_ranks_equal_serial(tmp_path):
    script = tmp_path / "nl_mpi.py"
    script.write_text(_MPI_SCRIPT)
    out = {}
    for n in (1, 2):
        r = run_python(script, ranks=n)
        assert r.returncode == 0, r.stderr[-2000:]
        out[n] = json.loads(r.stdout.strip().splitlines()[-1])
    assert out[2]["size"] == 2
    u1, u2 = np.array(out[1]["u"]), np.array(out[2]["u"])
    assert np.abs(u1).max() > 0.1  # a large-deformation case, not a trivial one
    assert np.abs(u1 - u2).max() <= 1e-8 * np.abs(u1).max()
    # the continuation's decisions (step lengths, the crossing) use reduced norms and dot
    # products, the same on every rank: both runs follow the same path to the same state
    a1, a2 = np.array(out[1]["arch"]), np.array(out[2]["arch"])
    assert a1[2, 1] < -6.0  # past the snap: the apex below its supports
    assert np.abs(a1 - a2).max() <= 1e-8 * np.abs(a1).max()


@pytest.mark.slow
def test_solid_3d_small_load_limit_and_agreement_with_plane_stress():
    d = small_design()
    F = np.zeros((d.n_nodes, 2))
    F[4, 1] = -0.098
    nl3 = NonlinearModel(d, FemOptions(dim=3, mesh=MeshOptions(elements_across=1)))
    op3 = nl3.linear_operator()
    devs = [relative_deviation(nl3.solve(s * F).u, op3.solve(s * F).u[0]) for s in (0.01, 0.02)]
    assert devs[1] / devs[0] == pytest.approx(2.0, rel=0.05)
    # at 10 g the nonlinear departure is a property of the lattice, not of the 2D/3D model
    dev3 = relative_deviation(nl3.solve(F).u, op3.solve(F).u[0])
    nl2 = NonlinearModel(d, COARSE)
    dev2 = relative_deviation(nl2.solve(F).u, nl2.linear_operator().solve(F).u[0])
    assert dev3 == pytest.approx(dev2, rel=0.15)


def _pull(d, fy: float) -> np.ndarray:
    F = np.zeros((d.n_nodes, 2))
    F[4, 1] = fy
    return F


def test_path_monitor_and_stop_request_between_newton_iterations():
    from fem_mnn.fem.nonlinear import PathStopped

    d = small_design()
    nl = NonlinearModel(d, COARSE)
    F = _pull(d, -0.098)
    steps, polls = [], []
    full = nl.solve_path(F, [0.5, 1.0], monitor=steps.append, should_stop=lambda: polls.append(1))
    # one monitor call per Newton solve (one increment per factor here), one poll per Newton iteration
    assert [s.load_factor for s in steps] == [0.5, 1.0] and all(s.converged for s in steps)
    assert [s.newton_iterations for s in steps] == [p.newton_iterations for p in full]
    assert len(polls) == sum(s.newton_iterations + 1 for s in steps)  # the monitor also sees iteration 0
    # stop after the first factor's polls: the path ends with what it reached
    n_first = steps[0].newton_iterations + 1
    calls = iter(range(10_000))
    with pytest.raises(PathStopped) as info:
        nl.solve_path(F, [0.5, 1.0], should_stop=lambda: "budget spent" if next(calls) >= n_first else None)
    stop = info.value
    assert stop.reason == "budget spent" and stop.reached == 0.5
    assert [s.load_factor for s in stop.solutions] == [0.5] and stop.last is not None
    assert np.array_equal(stop.last.u, full[0].u)  # the last converged state, restored
    assert stop.newton_iterations == full[0].newton_iterations
    # the model is usable after a stop
    again = nl.solve_path(F, [0.5, 1.0])
    assert np.allclose(again[-1].u, full[-1].u, rtol=1e-7, atol=1e-9)


def test_keyboard_interrupt_in_newton_stops_instead_of_bisecting():
    # Ctrl-C inside a PETSc callback reaches Python as PETSc.Error; it used to be read as
    # "Newton did not converge" and the path bisected on (Ctrl-C ignored for minutes)
    d = small_design()
    nl = NonlinearModel(d, COARSE)
    F = _pull(d, -0.098)
    steps, calls = [], iter(range(10_000))

    def interrupt():
        if next(calls) == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        nl.solve_path(F, [1.0], monitor=steps.append, should_stop=interrupt)
    assert steps == []  # no failed increment, no halving
    assert np.allclose(nl.solve(F).u, nl.solve_path(F, [1.0])[0].u, rtol=1e-7, atol=1e-9)


def test_bisection_is_bounded_and_reports_what_it_reached():
    from fem_mnn.fem.nonlinear import PathStopped

    d = small_design()
    o = NonlinearOptions(steps=1, max_bisections=2, max_it=3)
    nl = NonlinearModel(d, COARSE, o)
    steps = []
    with pytest.raises(PathStopped, match=r"load factor .* residual norm") as info:
        nl.solve_path(_pull(d, -50.0), [1.0], monitor=steps.append)
    failed = [s for s in steps if not s.converged]
    # at most max_bisections + 1 failed solves per interval; the smallest try is 1 / 2**max_bisections
    assert len(failed) == o.max_bisections + 1
    assert min(s.load_factor - s.reached for s in steps) >= 1.0 / 2**o.max_bisections - 1e-15
    assert all(s.newton_iterations <= o.max_it for s in steps)
    stop = info.value
    assert stop.reason == "newton" and stop.reached == max([0.0] + [s.load_factor for s in steps if s.converged])
    assert stop.newton_iterations == sum(s.newton_iterations for s in steps)
    with pytest.raises(Exception, match="max_bisections"):
        NonlinearOptions(max_bisections=-1)


ARCH_MESH = FemOptions(mesh=MeshOptions(elements_across=1))


def test_arclength_passes_the_snap_of_an_arch_to_the_hanging_state():
    """Past the limit load, load stepping stops; the continuation follows the path down and back up.

    The arch under about 2.7 times its snap load: the state at the full load hangs below the
    supports. Three load-stepping routes (1, 3, 7 increments) start the continuation at different
    points and take different steps, yet must end in the same equilibrium: the states differ by
    at most what their residuals allow, 2 tau times the largest compliance of the loaded node.
    """
    from fem_mnn.fem.nonlinear import PathStopped

    d, H = arch_design(), 6.0
    F = np.zeros((3, 2))
    F[2, 1] = -0.04
    with pytest.raises(PathStopped, match="increment halved 4 times") as info:
        NonlinearModel(d, ARCH_MESH, NonlinearOptions(steps=4, max_bisections=4)).solve(F)
    snap = info.value.reached
    assert 0.2 < snap < 0.5  # the load stepping stops below the snap load
    with pytest.raises(Exception, match="continuation"):
        NonlinearOptions(continuation="jump")  # type: ignore[arg-type]

    nl = NonlinearModel(d, ARCH_MESH, NonlinearOptions(steps=4, max_bisections=4, continuation="arclength"))
    path: list = []
    (sol,) = nl.solve_path(F, [1.0], monitor=path.append)
    lam = np.array([p.load_factor for p in path if p.converged])
    top = int(np.argmax(np.diff(lam) < 0))  # the first fold: the load turns down
    # the path rises past where the load stepping stopped, then the load falls, below zero:
    # between the flat and the inverted arch the compressed beams push the apex down, so
    # holding it there takes a pull; then it rises again to the full load
    assert lam[top] >= snap and lam[top:].min() < 0 and lam[-1] == 1.0
    assert sol.load_factor == 1.0 and sol.u[2, 1] < -H  # the apex hangs below the supports

    # two more routes; with the one above (a single increment, bisected) three in all
    states, tau = [], [max(nl.options.atol, nl.options.atol_load * np.abs(F).sum())]
    for steps in (3, 7):
        o = NonlinearOptions(steps=steps, max_bisections=4, continuation="arclength")
        m = NonlinearModel(d, ARCH_MESH, o)
        s = m.solve(F)
        states.append(s.u)
        tau.append(max(o.atol, o.atol_load * np.abs(F).sum()))
    op = nl.tangent(sol)
    try:
        unit = np.zeros((2, 3, 2))
        unit[0, 2, 0] = unit[1, 2, 1] = 1.0
        c = op.solve(unit).u[:, 2, :]  # the apex's 2 x 2 compliance (mm/N)
    finally:
        op.destroy()
    bound = 2 * max(tau) * float(np.abs(np.linalg.eigvalsh(0.5 * (c + c.T))).max())
    for u in states:
        print(f"route vs route: {np.abs(u - sol.u).max():.2e} mm, bound {bound:.2e} mm")
        assert np.abs(u - sol.u).max() <= bound, (np.abs(u - sol.u).max(), bound)


def test_arclength_leaves_a_path_without_a_limit_point_as_it_was():
    """The continuation starts only where the load stepping would stop: elsewhere bit for bit."""
    d = small_design()
    F = _pull(d, -0.2)
    a = NonlinearModel(d, COARSE, NonlinearOptions(steps=2)).solve(F)
    b = NonlinearModel(d, COARSE, NonlinearOptions(steps=2, continuation="arclength")).solve(F)
    assert np.array_equal(a.u, b.u) and a.newton_iterations == b.newton_iterations
