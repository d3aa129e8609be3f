"""The frame model with geometric stiffness (spring.frame_buckling) against Euler and against the FE analysis.

Issue 23 item 5: spring runs may compute their buckling check with the frame model only if it
agrees with the FE linear buckling analysis within 10 % on the paper sample and a
centred-squares lattice at a few width sets. It does not (measured, the FE on the check mesh of
``fem_mnn.commands._buckling``): beam theory with rigid hubs is 7-27 % above the FE load factor,
and with O'Donnell's root rotation of the thin ends 2-24 % below; the centred squares are the
worst case both ways (their first mode bends the short thin ends at the hubs). So spring runs use
the FE analysis, and the last test here pins that finding: if a better frame model closes the
gap, it fails and the spring runs can switch.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from fem_mnn.core.errors import InputError
from fem_mnn.design import Design, Geometry, Material
from fem_mnn.design.builders import paper_sample
from fem_mnn.spring.frame import FrameOptions
from fem_mnn.spring.frame_buckling import ROOT_EXTENSION, frame_buckling

E, T, R = 0.55, 2.0, 2.0


def column(length: float, width: float) -> Design:
    """A uniform bar (no thin ends) clamped at node 0, its free hub at node 1 above it (as in test_buckling)."""
    return Design(
        nodes=np.array([[0.0, 0.0], [0.0, length]]),
        bonds=np.array([[0, 1]]),
        widths=np.array([width]),
        thickness=T,
        material=Material(E=E, nu=0.45),
        fixed=(0,),
        geometry=Geometry(thin_end_ratio=1.0, width_min=0.5, junction_radius=R),
    )


def euler_with_offset(width: float, free: float, offset: float) -> float:
    """Euler load of a clamped-free column loaded through a rigid co-linear tip extension (tan(kl) = 1/(ka))."""
    lo, hi = 1e-12, math.pi / 2 - 1e-12
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if mid * math.tan(mid) * offset / free < 1.0 else (lo, mid)
    return (0.5 * (lo + hi)) ** 2 * E * T * width**3 / 12.0 / free**2


@pytest.mark.parametrize("length,width", [(48.0, 1.5), (64.0, 1.0)])
def test_slender_column_converges_to_euler_at_fourth_order(length, width):
    d = column(length, width)
    F = np.zeros((2, 2))
    F[1, 1] = -1e-3 * 9.8
    a = math.sqrt(R**2 - width**2 / 4)  # the beam leaves the hub where its edges cut the circle
    p_euler = euler_with_offset(width, length - 2 * a, a)
    errs = []
    for n in (4, 16):  # bar elements (plus one per "thin end" of this uniform bar)
        res = frame_buckling(d, F, options=FrameOptions(shear=False), root=0.0, bar_elements=n, n_modes=2)
        errs.append(abs(res.first * 9.8e-3 / p_euler - 1))
    # consistent cubic elements: eigenvalue error O(h^4); 6 -> 18 elements divides it by about 3^4 = 81,
    # a second-order (inconsistent) geometric stiffness would divide it by 9 only
    assert errs[1] < errs[0] / 16
    assert errs[0] < 1e-4
    # second cantilever mode: (3 pi / 2)^2 / (pi / 2)^2 = 9, and the mode moves the free hub sideways
    assert res.load_factors[1] / res.load_factors[0] == pytest.approx(9.0, rel=0.01)
    assert abs(res.mode_node_u[0, 1, 0]) > 1e6 * abs(res.mode_node_u[0, 1, 1])


def test_pulled_column_does_not_buckle():
    d = column(48.0, 1.5)
    F = np.zeros((2, 2))
    F[1, 1] = 1e-3 * 9.8
    res = frame_buckling(d, F)
    assert res.first == math.inf and res.load_factors.size == 0
    assert res.axial_force[0] == pytest.approx(1e-3 * 9.8, rel=1e-9)


def test_load_factor_scales_inversely_with_the_load():
    p = paper_sample()
    F = np.zeros((p.n_nodes, 2))
    F[12, 1] = -0.1
    a, b = frame_buckling(p, F).first, frame_buckling(p, 3 * F).first
    assert b == pytest.approx(a / 3, rel=1e-9)


def test_bad_input_is_refused():
    p = paper_sample()
    F = np.zeros((p.n_nodes, 2))
    with pytest.raises(InputError, match="widths"):
        frame_buckling(p, F, widths=np.zeros(p.n_bonds))
    with pytest.raises(InputError, match="bar_elements"):
        frame_buckling(p, F, bar_elements=0)


@pytest.mark.fem
def test_frame_model_does_not_agree_with_the_fe_analysis_within_ten_percent():
    from conftest import need_dolfinx

    need_dolfinx()
    from test_validate_budget import centred_squares

    from fem_mnn.commands._buckling import first_buckling_load_factor

    rng = np.random.default_rng(0)
    p = paper_sample()
    fp = np.zeros((p.n_nodes, 2))
    fp[12, 1] = -10e-3 * 9.81  # 10 g at paper node 13
    sq = centred_squares(2, 1)
    fs = np.zeros((sq.n_nodes, 2))
    fs[4, 1] = -1.0  # the bottom-middle corner
    cases = [
        (p, np.full(p.n_bonds, 2.0), fp),
        (p, rng.uniform(1.5, 2.5, p.n_bonds), fp),
        (sq, np.full(sq.n_bonds, 2.0), fs),
        (sq, rng.uniform(1.5, 2.5, sq.n_bonds), fs),
    ]
    ratios = {0.0: [], ROOT_EXTENSION: []}
    for d, w, F in cases:
        fe = first_buckling_load_factor(d.with_widths(w), F)
        for root in ratios:
            ratios[root].append(frame_buckling(d, F, widths=w, root=root).first / fe)
    rigid, rooted = np.array(ratios[0.0]), np.array(ratios[ROOT_EXTENSION])
    # beam theory with rigid hubs is too stiff everywhere; with the thin ends' root rotation too soft:
    # the FE answer lies between, and neither is within 10 % on every case
    assert np.all(rigid > 1.0) and np.all(rooted < 1.0)
    assert np.max(np.abs(rigid - 1)) > 0.10 and np.max(np.abs(rooted - 1)) > 0.10
    # but it is the same physics (same modes within a third), not a broken model
    assert np.all(np.abs(rigid - 1) < 1 / 3) and np.all(np.abs(rooted - 1) < 1 / 3)
