"""Pins for ``fem_mnn.design`` (issue 21, mutation testing): the structural refusals of the lenient
reader (``fem-mnn validate``) and the ranges their messages state."""

from __future__ import annotations

import dataclasses

import pytest

from fem_mnn.core.errors import InputError
from fem_mnn.design import paper_sample
from fem_mnn.design.printability import check_structure


def test_thin_end_ratio_must_lie_in_zero_one():
    d = paper_sample()
    for ok in (1.0, 0.5, 1e-3):
        check_structure(dataclasses.replace(d, geometry=dataclasses.replace(d.geometry, thin_end_ratio=ok)))
    for bad in (0.0, -0.5, 1.0 + 1e-9, 2.0):
        g = dataclasses.replace(d.geometry, thin_end_ratio=bad)
        with pytest.raises(InputError, match=r"geometry.thin_end_ratio: must lie in \(0, 1\]"):
            check_structure(dataclasses.replace(d, geometry=g))


def test_unknown_fixed_node_states_the_valid_ids():
    d = paper_sample()
    last = d.n_nodes - 1
    for bad in (last + 1, -1):
        with pytest.raises(InputError, match=rf"fixed\[1\]: unknown node id \(nodes are 0\.\.{last}\)"):
            check_structure(dataclasses.replace(d, fixed=(0, bad)))
    check_structure(dataclasses.replace(d, fixed=(0, last)))


def test_width_range_allows_rounding_at_its_ends():
    """Widths on the bounds up to rounding (1e-12 relative, e.g. from a round trip through text) are
    printable; 1e-6 mm beyond is not."""
    import numpy as np

    from fem_mnn.design.printability import check_widths

    d = paper_sample()
    g = d.geometry
    w = np.full(d.n_bonds, 2.0)
    w[0], w[1] = g.width_max * (1 + 1e-12), g.width_min * (1 - 1e-12)
    assert check_widths(dataclasses.replace(d, widths=w.copy())) == []
    w[0], w[1] = g.width_max + 1e-6, g.width_min - 1e-6
    assert sorted(b for f in check_widths(dataclasses.replace(d, widths=w.copy())) for b in f.bonds) == [0, 1]
