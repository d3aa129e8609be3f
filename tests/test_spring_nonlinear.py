"""Springs in large deformation (fem_mnn.spring.nonlinear): closed forms, the exact gradient
against central differences, the linear limit, and the shared notes' numbers on the paper sample."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.optimize

from fem_mnn.contract import backprop_operator
from fem_mnn.core.errors import EngineError, InputError
from fem_mnn.design import Design, Material, paper_sample, triangular_patch
from fem_mnn.design.rigidity import free_dofs
from fem_mnn.learn.losses import MSE
from fem_mnn.learn.tasks import behaviour_mse
from fem_mnn.spring import NewtonOptions, NonlinearSpringModel, SpringModel, load_sweep

G = 9.8e-3  # N per gram, as in the paper
EPS = np.finfo(float).eps


def _paper_case(grams: float) -> tuple[Design, np.ndarray, MSE]:
    """The shared notes' case: grams down at id 12, loss 1/2 (u_y,13 + 25)^2, uniform 2 mm widths."""
    d = paper_sample()
    f = np.zeros((1, d.n_nodes, 2))
    f[0, 12, 1] = -grams * G
    t = np.full((d.n_nodes, 2), np.nan)
    t[13, 1] = -25.0
    return d, f, MSE(t)


def _lambda_min(op, u: np.ndarray) -> float:
    fr = free_dofs(op.design)
    return float(np.linalg.eigvalsh(op.tangent_matrix(u).toarray()[np.ix_(fr, fr)])[0])


# ----------------------------------------------------------------- the model itself


def test_residual_and_tangent_are_the_energy_derivatives():
    """Taylor test: Pi(u + h du) - Pi(u) - h R.du and R(u + h du) - R(u) - h K du are O(h^2)."""
    d = triangular_patch(3, 3)
    op = NonlinearSpringModel(d).operator()
    rng = np.random.default_rng(3)
    u = rng.normal(scale=3.0, size=(d.n_nodes, 2))  # large: a few mm on 16 mm bonds
    du = rng.normal(size=(d.n_nodes, 2))
    f = rng.normal(scale=0.1, size=(d.n_nodes, 2))
    R = op.residual(u, f)
    K = op.tangent_matrix(u)
    hs = 1e-2 * 2.0 ** -np.arange(5)
    r_energy = [abs(op.energy(u + h * du, f) - op.energy(u, f) - h * R @ du.ravel()) for h in hs]
    r_force = [np.linalg.norm(op.residual(u + h * du, f) - R - h * (K @ du.ravel())) for h in hs]
    for r in (r_energy, r_force):
        rates = np.log2(np.array(r[:-1]) / np.array(r[1:]))
        np.testing.assert_allclose(rates, 2.0, atol=0.05)
    np.testing.assert_allclose(K.toarray(), K.toarray().T, atol=1e-15)


def test_a_node_pulled_far_balances_its_loads_in_the_deformed_geometry():
    """Node 1 between a stretched, a shortened and a turned bar, moved by about 4 mm on 16 mm bonds."""
    L, E, t, w = 16.0, 0.55, 2.0, 2.0
    d = Design(
        nodes=[[0, 0], [L, 0], [2 * L, 0], [L, -L]],
        bonds=[[0, 1], [1, 2], [1, 3]],
        widths=[w, w, w],
        thickness=t,
        material=Material(E=E),
        fixed=(0, 2, 3),
    )
    k = E * t * w / L
    f = np.zeros((4, 2))
    f[1] = [0.5 * L * k, 0.2 * L * k]
    sol = NonlinearSpringModel(d).operator().equilibrium(f)
    assert sol.converged and sol.positive_definite and np.linalg.norm(sol.u[1]) > 3.0
    x1 = np.array([L, 0]) + sol.u[1]
    force = f[1].copy()
    for other, e in zip((0, 2, 3), sol.elongation, strict=True):
        n = (x1 - d.nodes[other]) / np.linalg.norm(x1 - d.nodes[other])
        force -= k * e * n  # a stretched bar pulls node 1 back towards the other node
    # the residual criterion: ||R|| <= tol on the free dofs (node 1's two components)
    assert np.linalg.norm(force) <= sol.history[-1].tolerance


def test_a_mechanism_is_refused():
    d = Design(nodes=[[0, 0], [16, 0]], bonds=[[0, 1]], widths=[2.0], fixed=(0,))
    f = np.zeros((2, 2))
    f[1, 1] = -0.01
    with pytest.raises(EngineError, match="zero-energy mode"):
        NonlinearSpringModel(d).operator().equilibrium(f)


def _von_mises(A: float = 20.0, H: float = 5.0) -> tuple[Design, float, float]:
    """Shallow two-bar truss: supports (+-A, 0), apex (0, H); returns (design, k, L)."""
    E, t, w = 0.55, 2.0, 2.0
    d = Design(
        nodes=[[-A, 0], [A, 0], [0, H]],
        bonds=[[0, 2], [1, 2]],
        widths=[w, w],
        thickness=t,
        material=Material(E=E),
        fixed=(0, 1),
    )
    L = float(np.hypot(A, H))
    return d, E * t * w / L, L


def test_von_mises_truss_equilibrium_and_gradient_match_the_closed_form():
    """Apex at height y carries P(y) = 2 k (L / l - 1) y, l = sqrt(A^2 + y^2) (energy 2 x 1/2 k (l - L)^2 - P v).

    The snap load is at dP/dy = 0, i.e. l*^3 = L A^2. With loss 1/2 y^2 and P fixed,
    dy/dk = -(dP/dk)/(dP/dy) = -(P/k)/(dP/dy) for the common k, and each bar gets half.
    """
    A, H = 20.0, 5.0
    d, k, L = _von_mises(A, H)
    P = lambda y: 2 * k * (L / np.hypot(A, y) - 1) * y  # noqa: E731
    dP = lambda y: 2 * k * (L * A**2 / np.hypot(A, y) ** 3 - 1)  # noqa: E731
    ls = (L * A * A) ** (1 / 3)
    ys = np.sqrt(ls**2 - A**2)
    Pstar = P(ys)
    model = NonlinearSpringModel(d)
    for frac in (0.5, 0.9, 0.99):
        f = np.zeros((1, 3, 2))
        f[0, 2, 1] = -frac * Pstar
        y_exact = scipy.optimize.brentq(lambda y, p=frac * Pstar: P(y) - p, ys, H, xtol=1e-15, rtol=4 * EPS)
        op = model.operator()
        sol = op.equilibrium(f[0])
        assert sol.converged and sol.positive_definite and abs(sol.u[2, 0]) < 1e-12
        y = H + sol.u[2, 1]
        # the residual criterion bounds the force error by tol; divided by the vertical
        # tangent stiffness dP/dy it bounds the height error (+ rounding of y, a few eps H)
        tol = sol.history[-1].tolerance
        assert abs(y - y_exact) <= tol / abs(dP(y_exact)) + 8 * EPS * H
        # exact gradient of 1/2 y^2 (u_y target -H) against the closed form at the computed
        # height (where T = k (l - L) carries exactly P(y)): they differ by the rounding of
        # the adjoint solve, a few eps times the tangent's condition number
        t = np.full((3, 2), np.nan)
        t[2, 1] = -H
        bp = op.backprop(f, MSE(t))
        expected = 0.5 * y * (-(P(y) / k) / dP(y))
        lam = np.linalg.eigvalsh(op.tangent_matrix(sol.u).toarray()[4:, 4:])
        np.testing.assert_allclose(bp.grad_k, [expected, expected], rtol=8 * EPS * lam[-1] / lam[0])
    # the tangent stiffens to zero at the limit point: the smallest pivot falls
    near = model.operator().equilibrium(np.array([[0, 0], [0, 0], [0, -0.99 * Pstar]]))
    far = model.operator().equilibrium(np.array([[0, 0], [0, 0], [0, -0.5 * Pstar]]))
    assert 0 < near.history[-1].pivot_ratio < 0.2 * far.history[-1].pivot_ratio


@pytest.mark.parametrize(("steps", "solver"), [(10, "dense"), (1, "dense"), (10, "sparse")])
def test_von_mises_snap_through_is_reported_with_its_load_factor(steps, solver):
    """Past the snap load the load-controlled path ends; it must stop there, not jump to the inverted branch."""
    A, H = 20.0, 5.0
    d, k, L = _von_mises(A, H)
    ls = (L * A * A) ** (1 / 3)
    ys = np.sqrt(ls**2 - A**2)
    Pstar = 2 * k * (L / ls - 1) * ys
    f = np.zeros((3, 2))
    f[2, 1] = -1.2 * Pstar
    opts = NewtonOptions(steps=steps)
    op = NonlinearSpringModel(d, options=opts, solver=solver).operator()
    with pytest.raises(EngineError, match=r"limit point \(snap-through\)") as exc:
        op.equilibrium(f)
    assert "load factor 0.833" in str(exc.value)
    sol = op.equilibrium(f, on_failure="return")
    assert not sol.converged and sol.message and sol.positive_definite
    # reached within one minimum increment below the snap (P*/P = 1/1.2)
    assert 1 / 1.2 - opts.min_increment <= sol.load_factor <= 1 / 1.2
    assert sol.u[2, 1] > -(H - ys) - 1e-9  # still above the snap height: no silent jump
    assert sol.history[-1].pivot_ratio < 1e-2


def test_failed_increments_are_bisected_and_land_on_the_same_equilibrium():
    """400 g in one increment with at most 4 Newton iterations fails; halving the increment recovers."""
    d, f, _ = _paper_case(400)
    ref_op = NonlinearSpringModel(d).operator()
    ref = ref_op.equilibrium(f[0])
    op = NonlinearSpringModel(d, options=NewtonOptions(steps=1, max_it=4)).operator()
    sol = op.equilibrium(f[0])
    assert sol.converged and sol.bisections > 0 and len(sol.history) > 1
    assert all(h.iterations <= 4 for h in sol.history)
    bound = (ref.history[-1].tolerance + sol.history[-1].tolerance) / _lambda_min(ref_op, ref.u)
    assert np.abs(sol.u - ref.u).max() <= bound


def test_options_and_inputs_are_checked():
    d = paper_sample()
    with pytest.raises(InputError, match="steps"):
        NewtonOptions(steps=0)
    with pytest.raises(InputError, match="rtol"):
        NewtonOptions(rtol=0.0)
    with pytest.raises(InputError, match="max_bisections"):
        NewtonOptions(max_bisections=-1)
    with pytest.raises(InputError, match="widths"):
        NonlinearSpringModel(d).operator(np.ones(3))
    op = NonlinearSpringModel(d).operator()
    with pytest.raises(InputError, match="loads"):
        op.equilibrium(np.zeros((3, 2)))
    with pytest.raises(InputError, match="factors"):
        op.path(np.zeros((d.n_nodes, 2)), [0.5, 0.2])
    with pytest.raises(InputError, match="on_failure"):
        op.equilibrium(np.zeros((d.n_nodes, 2)), on_failure="ignore")


def test_dense_and_sparse_solvers_agree():
    d, f, loss = _paper_case(100)
    a = NonlinearSpringModel(d, solver="dense").operator()
    b = NonlinearSpringModel(d, solver="sparse").operator()
    sa, sb = a.equilibrium(f[0]), b.equilibrium(f[0])
    assert sa.history[-1].negative_pivots == sb.history[-1].negative_pivots == 0
    # both meet their residual tolerance: the states differ by at most (tol_a + tol_b) / lambda_min
    lam = _lambda_min(a, sa.u)
    bound = (sa.history[-1].tolerance + sb.history[-1].tolerance) / lam
    assert np.abs(sa.u - sb.u).max() <= bound
    # on the same state the two adjoint solves differ by rounding: a few eps x condition number
    lam_all = np.linalg.eigvalsh(a.tangent_matrix(sb.u).toarray()[np.ix_(free_dofs(d), free_dofs(d))])
    ga, gb = a.backprop(f, loss, [sb]).grad_k, b.backprop(f, loss, [sb]).grad_k
    assert np.abs(ga - gb).max() <= 8 * EPS * lam_all[-1] / lam_all[0] * np.abs(gb).max()


def test_batch_gradient_is_the_mean_of_the_cases():
    d, f1, loss1 = _paper_case(50)
    f = np.concatenate([f1, 0.5 * f1])
    t = np.full((2, d.n_nodes, 2), np.nan)
    t[:, 13, 1] = -25.0
    op = NonlinearSpringModel(d).operator()
    both = op.backprop(f, MSE(t))
    one = [op.backprop(f[c : c + 1], loss1) for c in range(2)]
    np.testing.assert_allclose(both.grad_k, (one[0].grad_k + one[1].grad_k) / 2, rtol=1e-12)
    np.testing.assert_allclose(both.loss, (one[0].loss + one[1].loss) / 2, rtol=1e-14)
    # the width gradient goes through the paper's law k = E t w / L
    np.testing.assert_allclose(both.grad_w, both.grad_k * d.material.E * d.thickness / d.lengths, rtol=1e-15)


# ---------------------------------------------------------- gradient against differences


@pytest.mark.parametrize("grams", [1, 10, 100, 400])
def test_exact_gradient_equals_central_differences(grams):
    """dL/dw_i against (L(w + h e_i) - L(w - h e_i)) / 2h on the paper sample.

    Error of the difference: truncation h^2/6 |L'''_i| (L''' estimated by a second
    difference of the exact gradient at H = 0.02 mm) plus noise (dL_+ + dL_-)/2h, dL the
    error of a computed loss: |dL/du| ||K_T^-1|| ||R|| (the residual each solve reached,
    the tangent's smallest eigenvalue) + 2 eps |L|. h minimises the sum. The exact rule
    must lie within that bound of the differences, and the bound must be below the
    target of 1e-6 of the largest gradient at the loads where the gradient is not tiny
    against the solver noise (10 g and up; at 1 g |dL/dw| is 0.28 while |dL/du| is 25).
    """
    d, f, loss = _paper_case(grams)
    model = NonlinearSpringModel(d)
    w0 = d.widths.copy()
    op = model.operator(w0)
    sol = op.equilibrium(f[0])
    bp = op.backprop(f, loss, [sol])
    g = bp.grad_w
    lam = _lambda_min(op, sol.u)
    dldu = float(np.linalg.norm(bp.adjoint_load))

    def loss_and_error(w: np.ndarray) -> tuple[float, float]:
        s = model.operator(w).equilibrium(f[0])
        value = float(loss(s.u[None])[0][0])
        return value, dldu * s.history[-1].residual_norm / lam + 2 * EPS * abs(value)

    H = 0.02
    third = np.empty(d.n_bonds)
    for i in range(d.n_bonds):
        e = np.zeros(d.n_bonds)
        e[i] = H
        third[i] = abs(model.backprop(w0 + e, f, loss).grad_w[i] - 2 * g[i] + model.backprop(w0 - e, f, loss).grad_w[i])
    third /= H**2
    h = (3 * loss_and_error(w0)[1] / third.max()) ** (1 / 3)
    fd = np.empty(d.n_bonds)
    noise = np.empty(d.n_bonds)
    for i in range(d.n_bonds):
        e = np.zeros(d.n_bonds)
        e[i] = h
        (lp, ep), (lm, em) = loss_and_error(w0 + e), loss_and_error(w0 - e)
        fd[i] = (lp - lm) / (2 * h)
        noise[i] = (ep + em) / (2 * h)
    bound = h**2 * third / 6 + noise
    err = np.abs(fd - g)
    assert np.all(err <= bound), (err / bound).max()
    assert err.max() <= 1e-6 * np.abs(g).max()
    if grams >= 10:
        assert bound.max() <= 1e-6 * np.abs(g).max()


# --------------------------------------------------------------------- linear limit


def test_small_loads_tend_to_the_linear_model():
    """rel. difference d(P) = a P + b P^2 + ...: d(2P)/d(P) = 2 (1 + (b/a) P + O(P^2)).

    So the ratio tends to 2 (the difference is proportional to the load) and its
    deviation from 2 halves with the load; the next-order term is of the size of the
    deviation itself, which sets the window on the halving.
    """
    d, f1, loss = _paper_case(1.0)
    model = NonlinearSpringModel(d)
    lin = SpringModel(d).operator()
    diffs = {}
    for P in (0.05, 0.1, 0.2):
        f = P * f1
        bp = model.backprop(None, f, loss)
        lb = backprop_operator(lin, f, loss)
        diffs[P] = (
            np.linalg.norm(bp.u - lb.u) / np.linalg.norm(lb.u),
            np.linalg.norm(bp.grad_k - lb.grad_k) / np.linalg.norm(lb.grad_k),
        )
    for q in range(2):
        r1 = diffs[0.1][q] / diffs[0.05][q]
        r2 = diffs[0.2][q] / diffs[0.1][q]
        assert abs(r1 - 2) < abs(r2 - 2) < 0.01
        assert abs((r1 - 2) / (r2 - 2) - 0.5) <= 2 * abs(r2 - 2)


# ------------------------------------------------------------ the shared notes' numbers


def test_paper_sample_numbers_of_the_shared_notes():
    """Nonlinear vs linear gradient (relative L2) 0.7 % at 1 g, 6 % at 10 g, 34 % at 100 g, 108 % at 400 g;
    u_y of id 13 at 100 g: -6.76 mm nonlinear, -8.05 mm linear. Quoted digits set the window:
    half a unit of the last digit given."""
    quoted = {1: (0.7, 0.05), 10: (6.0, 0.5), 100: (34.0, 0.5), 400: (108.0, 0.5)}
    lin = SpringModel(paper_sample()).operator()
    for grams, (pct, half) in quoted.items():
        d, f, loss = _paper_case(grams)
        bp = NonlinearSpringModel(d).backprop(None, f, loss)
        lb = backprop_operator(lin, f, loss)
        rel = 100 * np.linalg.norm(bp.grad_k - lb.grad_k) / np.linalg.norm(lb.grad_k)
        assert abs(rel - pct) <= half, (grams, rel)
        if grams == 100:
            assert abs(bp.u[0, 13, 1] - (-6.76)) <= 0.005, bp.u[0, 13, 1]
            assert abs(lb.u[0, 13, 1] - (-8.05)) <= 0.005, lb.u[0, 13, 1]


# ---------------------------------------------------------------------- load sweep


def test_load_sweep_follows_the_path_and_scales_the_linear_outputs():
    d = paper_sample()
    task = behaviour_mse(d)
    model = NonlinearSpringModel(d)
    factors = [0.01, 1.0, 10.0, 40.0]
    sweep = load_sweep(model, task.train_loads, factors, task.outputs)
    assert sweep.values.shape == (4, 1, 2) and np.all(np.isfinite(sweep.values))
    np.testing.assert_array_equal(sweep.reached, [40.0])
    lin = SpringModel(d).operator().solve(task.train_loads).u[0, [12, 13], 1]
    np.testing.assert_allclose(sweep.linear_values[:, 0], np.outer(factors, lin), rtol=1e-14)
    # continuation gives the same equilibria as fresh solves at each factor
    op = model.operator()
    for i, s in enumerate(factors):
        fresh = op.equilibrium(s * task.train_loads[0])
        bound = 2 * fresh.history[-1].tolerance / _lambda_min(op, fresh.u)
        assert np.abs(sweep.u[i, 0] - fresh.u).max() <= bound
    # the nonlinear outputs depart further from the linear ones as the load grows
    dev = np.abs(sweep.values[:, 0] / sweep.linear_values[:, 0] - 1).max(axis=1)
    assert dev[0] < dev[1] < dev[2] < dev[3]


def test_load_sweep_stops_at_the_snap_and_says_why():
    A, H = 20.0, 5.0
    d, k, L = _von_mises(A, H)
    ls = (L * A * A) ** (1 / 3)
    Pstar = 2 * k * (L / ls - 1) * np.sqrt(ls**2 - A**2)
    f = np.zeros((1, 3, 2))
    f[0, 2, 1] = -Pstar
    sweep = load_sweep(NonlinearSpringModel(d), f, [0.5, 0.9, 1.1, 1.5], [(2, 1)])
    assert np.all(np.isfinite(sweep.values[:2])) and np.all(np.isnan(sweep.values[2:]))
    assert 1 - NewtonOptions().min_increment <= sweep.reached[0] <= 1.0
    assert "limit point" in sweep.messages[0]
