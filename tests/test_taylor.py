"""Taylor tests: the in situ gradients dL/dk and dL/dw against the loss itself.

For a random lattice, widths, loads and loss, and a random direction d, the
remainder of the first-order Taylor expansion

    r1(h) = |L(p + h d) - L(p) - h <grad, d>|

must fall as h^2 (rate 2 when h halves) and be much smaller than the change
r0(h) = |L(p + h d) - L(p)| itself; a wrong gradient leaves r1 at rate 1. Central differences (L(p + h d) - L(p - h d)) / 2h must also approach
<grad, d> as h^2. Parameters p are the spring constants k (N/mm) or the widths w
(mm); random triangular patches and strips, uniform random widths in the
printable range, random loads on free nodes, MSE and cross-entropy (linear and
softmax) losses.
"""

from __future__ import annotations

import numpy as np
import pytest

from fem_mnn.contract import backprop, nominal_stiffness
from fem_mnn.design import Design, triangular_patch, triangular_strip
from fem_mnn.learn.losses import MSE, CrossEntropy
from fem_mnn.spring.network import SpringModel

SEEDS = range(12)
LOSSES = ("mse", "ce-linear", "ce-softmax")
H = 0.05 * 0.5 ** np.arange(8)  # relative steps: 0.05 ... 0.0004


def random_case(seed: int, loss_kind: str) -> tuple[Design, np.ndarray, object]:
    """A random lattice (patch or strip), widths, 1-4 load cases and a loss."""
    rng = np.random.default_rng(seed)
    if rng.random() < 0.5:
        top = int(rng.integers(3, 7))
        design = triangular_patch(top, int(rng.integers(2, top + 1)))
    else:
        design = triangular_strip(int(rng.integers(3, 7)), int(rng.integers(2, 5)))
    g = design.geometry
    design = design.with_widths(rng.uniform(g.width_min, g.width_max, design.n_bonds))
    free = np.array([i for i in range(design.n_nodes) if i not in design.fixed])
    n_cases = int(rng.integers(1, 5))
    loads = np.zeros((n_cases, design.n_nodes, 2))
    for c in range(n_cases):
        at = rng.choice(free, size=min(3, free.size), replace=False)
        loads[c, at] = rng.normal(scale=0.05, size=(at.size, 2))  # ~5 g
    if loss_kind == "mse":
        targets = np.full((n_cases, design.n_nodes, 2), np.nan)
        at = rng.choice(free, size=min(3, free.size), replace=False)
        targets[:, at, :] = rng.normal(scale=0.5, size=(n_cases, at.size, 2))
        loss = MSE(targets)
    else:
        # |u| has a kink at u = 0: use output components that stay clear of zero in every case
        u = SpringModel(design).solve(loads).u
        size = np.abs(u).min(axis=0)  # (n_nodes, 2) smallest |u| over the cases
        cand = sorted(((int(n), c) for n in free for c in (0, 1)), key=lambda nc: -size[nc])[:6]
        pick = rng.choice(len(cand), size=3, replace=False)
        outputs = [cand[i] for i in pick]
        labels = rng.integers(0, len(outputs), size=n_cases)
        norm = loss_kind.split("-")[1]
        loss = CrossEntropy(outputs, labels, normalisation=norm, scale=0.2)
    return design, loads, loss


class FixedK:
    """Spring law that returns given spring constants (to perturb k directly)."""

    def __init__(self, k: np.ndarray) -> None:
        self.k = k

    def __call__(self, design: Design, widths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return self.k.copy(), np.ones_like(self.k)


def loss_of_k(design: Design, k: np.ndarray, loads: np.ndarray, loss) -> float:
    op = SpringModel(design, law=FixedK(k)).operator()
    return float(np.mean(loss(op.solve(loads).u)[0]))


def loss_of_w(design: Design, w: np.ndarray, loads: np.ndarray, loss) -> float:
    op = SpringModel(design).operator(w)
    return float(np.mean(loss(op.solve(loads).u)[0]))


def rates(r: np.ndarray) -> np.ndarray:
    """Observed orders log2(r(h) / r(h/2))."""
    return np.log2(r[:-1] / r[1:])


def taylor(f, p0: np.ndarray, grad: np.ndarray, direction: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Zeroth- and first-order remainders, and the central-difference error, for every step in H."""
    f0 = f(p0)
    slope = float(grad @ direction)
    r0, r1, cd = [], [], []
    for h in H:
        fp, fm = f(p0 + h * direction), f(p0 - h * direction)
        r0.append(abs(fp - f0))
        r1.append(abs(fp - f0 - h * slope))
        cd.append(abs((fp - fm) / (2 * h) - slope))
    return np.array(r0), np.array(r1), np.array(cd)


def check_orders(r0: np.ndarray, r1: np.ndarray, cd: np.ndarray, scale: float) -> None:
    """Second-order convergence of r1 (and of the central-difference error) at the small steps.

    Rates above 2 are accepted (the h^2 coefficient may happen to be small, then
    h^3 shows); remainders under the round-off floor (1e-10 of |L|: the solves
    lose about log10(condition number) digits) are ignored.
    """
    floor = 1e-10 * scale
    ok = r1 > floor
    assert ok[:3].all(), (r1, floor)
    r = rates(r1[ok])
    assert np.all(r[-3:] > 1.8), rates(r1)
    okc = cd > 1e-12 * scale / H  # the difference quotient's round-off grows as 1/h
    c = rates(cd[okc])
    assert c.size >= 3 and np.all(c[-3:] > 1.7), rates(cd)


@pytest.mark.parametrize("loss_kind", LOSSES)
@pytest.mark.parametrize("seed", SEEDS)
def test_grad_k_second_order(seed: int, loss_kind: str):
    design, loads, loss = random_case(seed, loss_kind)
    k0, _ = nominal_stiffness(design, design.widths)
    bp = backprop(SpringModel(design, law=FixedK(k0)), design.widths, loads, loss)
    rng = np.random.default_rng(1000 + seed)
    direction = k0 * rng.uniform(-1, 1, design.n_bonds)  # relative perturbation of every k
    r0, r1, cd = taylor(lambda k: loss_of_k(design, k, loads, loss), k0, bp.grad_k, direction)
    check_orders(r0, r1, cd, abs(bp.loss) + 1e-300)


@pytest.mark.parametrize("loss_kind", LOSSES)
@pytest.mark.parametrize("seed", SEEDS)
def test_grad_w_second_order(seed: int, loss_kind: str):
    design, loads, loss = random_case(seed, loss_kind)
    w0 = design.widths.copy()
    bp = backprop(SpringModel(design), w0, loads, loss)
    rng = np.random.default_rng(2000 + seed)
    direction = rng.uniform(-1, 1, design.n_bonds)  # up to 0.05 mm at the largest step
    r0, r1, cd = taylor(lambda w: loss_of_w(design, w, loads, loss), w0, bp.grad_w, direction)
    check_orders(r0, r1, cd, abs(bp.loss) + 1e-300)


@pytest.mark.parametrize("seed", range(4))
def test_every_component_by_central_differences(seed: int):
    """Bond by bond: dL/dw_i from two solves vs 2 n_bonds solves of central differences."""
    design, loads, loss = random_case(seed, "mse")
    w0 = design.widths.copy()
    bp = backprop(SpringModel(design), w0, loads, loss)
    h = 1e-4
    fd = np.empty(design.n_bonds)
    for i in range(design.n_bonds):
        e = np.zeros(design.n_bonds)
        e[i] = h
        fd[i] = (loss_of_w(design, w0 + e, loads, loss) - loss_of_w(design, w0 - e, loads, loss)) / (2 * h)
    np.testing.assert_allclose(bp.grad_w, fd, rtol=1e-5, atol=1e-7 * np.abs(fd).max())


def test_wrong_gradient_is_caught():
    """The check rejects a gradient that is off by 1 %: its remainder converges at rate 1."""
    design, loads, loss = random_case(3, "mse")
    w0 = design.widths.copy()
    bp = backprop(SpringModel(design), w0, loads, loss)
    direction = np.random.default_rng(5).uniform(-1, 1, design.n_bonds)
    r0, r1, cd = taylor(lambda w: loss_of_w(design, w, loads, loss), w0, 1.01 * bp.grad_w, direction)
    with pytest.raises(AssertionError):
        check_orders(r0, r1, cd, abs(bp.loss))
