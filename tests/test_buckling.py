"""Linear eigenvalue buckling against Euler's closed form, and the paper's sample."""

from __future__ import annotations

import math

import numpy as np
import pytest
from conftest import need_dolfinx

need_dolfinx()

from fem_mnn.design import Design, Geometry, Material  # noqa: E402
from fem_mnn.fem.buckling import BucklingOptions, buckling_analysis, euler_cantilever_load  # noqa: E402
from fem_mnn.fem.linear import FemOptions  # noqa: E402
from fem_mnn.fem.mechanical_checks import buckling_check  # noqa: E402
from fem_mnn.geometry.build import MeshOptions  # noqa: E402

pytestmark = pytest.mark.fem

E, T, R = 0.55, 2.0, 2.0


def column(length: float, width: float) -> Design:
    """A single uniform bar (no thin ends), clamped at node 0, free hub at node 1 above it."""
    return Design(
        nodes=np.array([[0.0, 0.0], [0.0, length]]),
        bonds=np.array([[0, 1]]),
        widths=np.array([width]),
        thickness=T,
        material=Material(E=E, nu=0.45),
        fixed=(0,),
        geometry=Geometry(thin_end_ratio=1.0, width_min=0.5, junction_radius=R),
        name="slender-column",
    )


def test_euler_closed_form_limits():
    EI = E * T * 1.5**3 / 12
    assert euler_cantilever_load(E, T, 1.5, 40.0) == pytest.approx(math.pi**2 * EI / (4 * 40.0**2), rel=1e-12)
    # a rigid tip extension carrying the load lowers the critical load, and tan(kl) = 1/(ka) holds
    p = euler_cantilever_load(E, T, 1.5, 40.0, 2.0)
    k = math.sqrt(p / EI)
    assert p < math.pi**2 * EI / (4 * 40.0**2)
    assert math.tan(k * 40.0) == pytest.approx(1 / (k * 2.0), rel=1e-8)


@pytest.mark.parametrize("length,width", [(48.0, 1.5), (64.0, 1.0)])
def test_slender_column_matches_euler_and_is_flagged(length, width):
    d = column(length, width)
    F = np.zeros((2, 2))
    F[1, 1] = -1e-3 * 9.8  # 1 g pushing the free end towards the clamp
    res = buckling_analysis(d, F, FemOptions(mesh=MeshOptions(elements_across=3)), BucklingOptions(n_modes=3))
    # clamp at the hub circle's intersection with the bar edges; the load acts at the free hub's centre
    a = math.sqrt(R**2 - width**2 / 4)
    p_euler = euler_cantilever_load(E, T, width, length - 2 * a, a)
    p_fe = res.first * abs(F[1, 1])
    assert p_fe == pytest.approx(p_euler, rel=0.01)
    # second cantilever mode: (3 pi / 2)^2 / (pi / 2)^2 = 9 (slightly less with the tip offset)
    assert res.load_factors[1] / res.load_factors[0] == pytest.approx(9.0, rel=0.03)
    # the mode is a sideways deflection of the free hub
    assert abs(res.mode_node_u[0, 1, 0]) > 10 * abs(res.mode_node_u[0, 1, 1])
    c = buckling_check(res, safety=2.0)
    assert c.status == "fail" and res.first < 1


def test_pulled_column_does_not_buckle():
    d = column(48.0, 1.5)
    F = np.zeros((2, 2))
    F[1, 1] = +1e-3 * 9.8  # tension
    res = buckling_analysis(d, F, FemOptions(mesh=MeshOptions(elements_across=2)), BucklingOptions(n_modes=2))
    # only the Poisson-contraction/hub details give compression: no mode anywhere near the load
    assert res.first > 100
    assert buckling_check(res, 2.0).status == "pass"


def test_paper_sample_passes_under_the_figure1_load(paper):
    F = np.zeros((paper.n_nodes, 2))
    F[12, 1] = -10e-3 * 9.8  # 10 g at paper node 13
    res = buckling_analysis(paper, F, FemOptions(mesh=MeshOptions(elements_across=2)), BucklingOptions(n_modes=2))
    # measured: 4.0 (a compressed bond near the left clamp buckles between its junctions)
    assert 3.0 < res.first < 5.0
    assert buckling_check(res, safety=2.0).status == "pass"


def test_bond_mode_amplitude_names_the_bond_that_bows(paper):
    from fem_mnn.core.errors import InputError
    from fem_mnn.fem.buckling import bond_mode_amplitude
    from fem_mnn.fem.linear import FemModel

    F = np.zeros((paper.n_nodes, 2))
    F[12, 1] = -10e-3 * 9.8
    model = FemModel(paper, FemOptions(mesh=MeshOptions(elements_across=1)))
    res = buckling_analysis(paper, F, options=BucklingOptions(n_modes=1), model=model)
    amp, bow = bond_mode_amplitude(res, model)
    assert amp.shape == bow.shape == (paper.n_bonds,)
    # the first mode is local: one bond bows between its junctions (the mode's peak is in it), the others
    # are at most carried along by their junctions
    top = int(np.argmax(bow))
    assert amp[top] == pytest.approx(np.max(amp))
    assert bow[top] > 0.5
    assert np.sort(bow)[-2] < 0.5 * bow[top]
    assert np.all(bow <= amp + 1e-12) and np.all(bow >= 0)
    with pytest.raises(InputError, match="mode"):
        bond_mode_amplitude(res, model, index=5)
