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


def test_box_pairs_do_not_depend_on_the_chunk_size(monkeypatch):
    """Chunking bounds memory only: any chunk size gives the same pairs, and every pair of boxes that
    overlap within pad (brute force) is among them."""
    import importlib

    import numpy as np

    V = importlib.import_module("fem_mnn.design.validate")  # the module (the package re-exports a function)

    rng = np.random.default_rng(11)
    lo = rng.uniform(0, 20, (60, 2))
    hi = lo + rng.uniform(0.1, 3, (60, 2))
    lo[:10] = 5.0  # ten equal boxes: one cell holds many entries
    hi[:10] = 6.0
    lo[-3:] = 30.0  # three in the last cell: a chunk of one pair ends just before the last entry
    hi[-3:] = 30.5
    pad = 0.25
    ref = V.box_pairs(lo, hi, pad)
    overlap = np.all((lo[:, None] - pad <= hi[None] + pad) & (lo[None] - pad <= hi[:, None] + pad), axis=2)
    i, j = np.nonzero(np.triu(overlap, 1))
    assert {tuple(p) for p in zip(i, j, strict=True)} <= {tuple(p) for p in ref.tolist()}
    for chunk in (1, 2, 3, 7, 50):
        monkeypatch.setattr(V, "_PAIR_CHUNK", chunk)
        assert np.array_equal(V.box_pairs(lo, hi, pad), ref), chunk


def test_lattice_size_and_width_refusals():
    import numpy as np

    from fem_mnn.design.records import check_widths
    from fem_mnn.design.validate import validate

    d = paper_sample()
    one = dataclasses.replace(d, nodes=d.nodes[:1].copy(), bonds=d.bonds[:0], widths=d.widths[:0], fixed=(0,))
    with pytest.raises(InputError, match="at least two nodes"):
        validate(one)
    # non-positive widths are "must be > 0"; a positive one below the range is "outside the printable range"
    for w, needle in ((0.0, "must be > 0"), (-0.5, "must be > 0"), (0.8, "outside the printable range")):
        widths = np.full(d.n_bonds, 2.0)
        widths[3] = w
        with pytest.raises(InputError, match=rf"widths\[3\]: {needle}"):
            check_widths(dataclasses.replace(d, widths=widths))
