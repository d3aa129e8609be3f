"""Pins for ``fem_mnn.fem.width_map`` (issue 21, mutation testing): the classification of reference
points into hubs, thin ends and full-width beam parts (no DOLFINx needed: the map takes coordinates)."""

from __future__ import annotations

import numpy as np
import pytest

from fem_mnn.core.errors import EngineError
from fem_mnn.design import paper_sample
from fem_mnn.design.printability import beam_layout
from fem_mnn.fem.width_map import WidthMap


def _bond_point(d, lay, b: int, s: float, n: float) -> np.ndarray:
    a = d.nodes[d.bonds[b, 0]]
    u = d.directions[b]
    return a + s * u + n * np.array([-u[1], u[0]])


def test_thin_ends_are_thin():
    """A point in a bond's thin-end stretch (between the hub and the step) is inside the outline only
    within the thin half-width (thin_end_ratio * w / 2); outside it, yet inside the full half-width,
    it lies in no bond and no hub and is refused, naming the first such point."""
    d = paper_sample()
    lay = beam_layout(d)
    R = float(lay.radius)
    b = 0
    w = d.widths[b]
    s = R + 0.5 * lay.thin_length[b]  # midway along the thin end at node a
    thin = 0.5 * d.geometry.thin_end_ratio * w
    inside = _bond_point(d, lay, b, s, 0.9 * thin)
    WidthMap(d, np.vstack([d.nodes, inside]), d.widths)  # accepted
    outside = [_bond_point(d, lay, b, s, 0.5 * (thin + 0.5 * w)), _bond_point(d, lay, b, s, -0.5 * (thin + 0.5 * w))]
    with pytest.raises(EngineError, match=r"2 mesh node\(s\) lie in no bond and no hub") as info:
        WidthMap(d, np.vstack([d.nodes, *outside]), d.widths)
    first = outside[0].tolist()
    assert f"first at {first}" in str(info.value)
    # the same offset in the full-width part is inside
    mid = _bond_point(d, lay, b, 0.5 * float(lay.length[b]), 0.5 * (thin + 0.5 * w))
    WidthMap(d, np.vstack([d.nodes, mid]), d.widths)


def test_hub_core_is_fixed_and_the_hub_circle_stays_a_circle():
    """Hub nodes closer than HUB_INNER * R to the centre never move; a bond point just outside the hub
    circle (s = sqrt(R^2 - n^2) + 1e-6 R) stays on it when the width changes (the beam's end follows the
    circle: the map is continuous across the hub boundary), to the order of that offset."""
    from fem_mnn.fem.width_map import HUB_INNER

    d = paper_sample()
    lay = beam_layout(d)
    R = float(lay.radius)
    b = 0
    a = d.nodes[d.bonds[b, 0]]
    u = d.directions[b]
    nrm = np.array([-u[1], u[0]])
    core = [a + 0.2 * R * u, a + 0.3 * R * (u + 0.2 * nrm) / np.hypot(1, 0.2)]  # r < 0.35 R, in bond 0's sector
    assert 0.3 < HUB_INNER
    n = 0.6 * 0.5 * d.geometry.thin_end_ratio * d.widths[b]
    edge = [a + (np.sqrt(R * R - m * m) + 1e-6 * R) * u + m * nrm for m in (n, -n, 0.5 * n)]
    pts = np.vstack([d.nodes, *core, *edge])
    wm = WidthMap(d, pts, d.widths)
    w = d.widths.copy()
    w[b] *= 1.2
    X = wm.coordinates(w)
    k = d.n_nodes
    np.testing.assert_array_equal(X[k : k + 2], pts[k : k + 2])
    r = np.hypot(*(X[k + 2 :] - a).T)
    np.testing.assert_allclose(r, R, rtol=1e-5)
    assert np.abs(X[k + 2 :] - pts[k + 2 :]).max() > 1e-3  # the points did move (the width changed by 20 %)
