"""Calibrated spring law k(w): closed forms, thin ends in series, the spline law and its cache."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from conftest import need_dolfinx

need_dolfinx()

from mpi4py import MPI  # noqa: E402

from fem_mnn.core.errors import InputError  # noqa: E402
from fem_mnn.design import Design, Geometry, Material  # noqa: E402
from fem_mnn.fem import calibration as cal  # noqa: E402
from fem_mnn.spring.network import SpringModel  # noqa: E402

pytestmark = pytest.mark.fem

L = 40.0
WIDTHS = [0.7, 0.85, 1.0, 1.15]
COMM = MPI.COMM_SELF


def bar(thin_end_ratio: float) -> Design:
    """A slender bond (L = 40 mm, w ~ 1 mm) with small hubs (R = 0.5 mm)."""
    g = Geometry(width_min=0.1, width_max=10.0, thin_end_ratio=thin_end_ratio, junction_radius=0.5)
    return Design(
        nodes=np.array([[0.0, 0.0], [L, 0.0]]),
        bonds=np.array([[0, 1]]),
        widths=np.array([1.0]),
        thickness=2.0,
        material=Material(E=0.55, nu=0.45),
        fixed=(0,),
        geometry=g,
    )


@pytest.fixture(scope="module")
def tables(tmp_path_factory):
    cache = tmp_path_factory.mktemp("cal") / "k_w.json"
    out = {r: cal.calibrate(bar(r), L, WIDTHS, cache=cache, comm=COMM) for r in (1.0, 0.5)}
    return cache, out


def test_prismatic_slender_bar_matches_E_t_w_over_L(tables):
    _, t = tables
    tab = t[1.0]
    w = tab.widths
    nominal = w / L  # k / (E t)
    for method in cal.METHODS:
        ratio = tab.k(method) / nominal
        # hubs of radius w/2 at each end: 1D bar theory gives L / (L - 2R) = 1.026; FEM within 2 % of nominal
        assert np.all(np.abs(ratio - 1.0) < 0.02), (method, ratio)


def test_thin_ends_lower_stiffness_like_series_springs(tables):
    _, t = tables
    d = bar(0.5)
    tab = t[0.5]
    k_series, _ = cal.series_stiffness(dataclasses.replace(d, widths=tab.widths[:1]), tab.widths)
    Et = d.material.E * d.thickness
    nominal = Et * tab.widths / L
    series = k_series  # thin | bar | thin in series, closed form (0.855 of nominal here)
    assert np.all(series < nominal)
    for method in cal.METHODS:
        k = Et * tab.k(method)
        assert np.all(k < nominal), method
        # 2D stress spreading at the steps adds a little compliance to the 1D series model
        assert np.all((k / series > 0.94) & (k / series < 1.0)), (method, k / series)


def test_law_spline_and_derivative(tables):
    cache, t = tables
    d = bar(0.5)
    law = cal.calibrated_law(d, WIDTHS, cache=cache, comm=COMM)
    w = np.array([0.9])
    k, dk = law(d, w)
    h = 1e-5
    kp, _ = law(d, w + h)
    km, _ = law(d, w - h)
    assert dk[0] == pytest.approx((kp[0] - km[0]) / (2 * h), rel=1e-6)
    # the spline reproduces the table at the grid points
    k_grid, _ = law(d, np.array([1.0]))
    assert k_grid[0] == pytest.approx(d.material.E * d.thickness * t[0.5].k("mean")[2], rel=1e-12)
    # k scales with E (the table is stored per E t)
    d2 = dataclasses.replace(d, material=Material(E=1.1, nu=0.45))
    assert law(d2, w)[0][0] == pytest.approx(2 * k[0], rel=1e-12)
    # outside the calibrated widths: refused with the bond named
    with pytest.raises(InputError, match="widths\\[0\\]"):
        law(d, np.array([2.0]))
    # usable by the spring model (a triangle of three such bonds, two nodes clamped)
    tri = dataclasses.replace(
        d,
        nodes=np.array([[0.0, 0.0], [L, 0.0], [L / 2, L * np.sqrt(3) / 2]]),
        bonds=np.array([[0, 1], [0, 2], [1, 2]]),
        widths=np.full(3, 1.0),
        fixed=(0, 1),
    )
    op = SpringModel(tri, law).operator()
    assert op.k == pytest.approx(np.full(3, k_grid[0]))


def test_cache_is_reused_and_keyed_without_E(tables, monkeypatch):
    cache, _ = tables

    def boom(*a, **k):
        raise AssertionError("recomputed a cached calibration")

    monkeypatch.setattr(cal, "_solve_table", boom)
    d = dataclasses.replace(bar(0.5), material=Material(E=3.0, nu=0.45), thickness=2.0)
    tab = cal.calibrate(d, L, WIDTHS, cache=cache, comm=COMM)
    assert tab.widths.tolist() == WIDTHS
    # another Poisson ratio is another key
    d_nu = dataclasses.replace(bar(0.5), material=Material(E=0.55, nu=0.3))
    with pytest.raises(AssertionError, match="recomputed"):
        cal.calibrate(d_nu, L, WIDTHS, cache=cache, comm=COMM)
    # a table meshed by another version of the geometry code is not reused
    monkeypatch.setattr(cal, "GEOMETRY_VERSION", cal.GEOMETRY_VERSION + 1)
    with pytest.raises(AssertionError, match="recomputed"):
        cal.calibrate(d, L, WIDTHS, cache=cache, comm=COMM)


def test_shipped_table_serves_the_paper_sample(monkeypatch, tmp_path):
    """The table in the package is for this geometry version: the paper's sample solves nothing."""
    from fem_mnn.design import paper_sample

    def boom(*a, **k):
        raise AssertionError("the shipped k(w) table is stale: regenerate fem_mnn/data/k_w.json")

    monkeypatch.setattr(cal, "_solve_table", boom)
    monkeypatch.setattr(cal, "DEFAULT_CACHE", tmp_path / "empty.json")
    monkeypatch.delenv(cal.CACHE_ENV, raising=False)
    cal.calibrate(paper_sample(), comm=COMM)


def test_bad_grid_and_method():
    with pytest.raises(InputError):
        cal.calibrate(bar(0.5), L, [1.0, 0.9, 1.1, 1.2], cache="/nonexistent/x.json", comm=COMM)
    with pytest.raises(InputError):
        cal.CalibratedLaw(tables=(), method="bogus")
