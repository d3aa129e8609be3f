"""Scale: the spatial-index checks equal the all-pairs ones, and large lattices build, validate and solve."""

from __future__ import annotations

import importlib
import math

import numpy as np
import pytest
from _bounds import assert_solutions_agree, operator_norm, spring_fields, spring_system

from fem_mnn.core.errors import InputError
from fem_mnn.design import Design, Geometry, Material, crossing_bonds, triangular_strip, validate
from fem_mnn.design.builders import _bonds_at_distance
from fem_mnn.design.rigidity import compatibility_matrix, rigid_by_pivots, zero_modes
from fem_mnn.spring.network import SpringModel

V = importlib.import_module("fem_mnn.design.validate")  # the module (the package exports the function)

# --------------------------------------------------------------------------- all-pairs references (the old code)


def _ref_segments_cross(p1, p2, q1, q2) -> bool:
    def orient(a, b, c) -> float:
        return (b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0])

    scale = max(np.ptp([p1[0], p2[0], q1[0], q2[0]]), np.ptp([p1[1], p2[1], q1[1], q2[1]]), 1.0)
    eps = 1e-12 * scale * scale
    d1, d2 = orient(q1, q2, p1), orient(q1, q2, p2)
    d3, d4 = orient(p1, p2, q1), orient(p1, p2, q2)
    if ((d1 > eps and d2 < -eps) or (d1 < -eps and d2 > eps)) and (
        (d3 > eps and d4 < -eps) or (d3 < -eps and d4 > eps)
    ):
        return True

    def on_seg(a, b, c, d) -> bool:
        return (
            abs(d) <= eps
            and min(a[0], b[0]) - 1e-12 <= c[0] <= max(a[0], b[0]) + 1e-12
            and min(a[1], b[1]) - 1e-12 <= c[1] <= max(a[1], b[1]) + 1e-12
        )

    return on_seg(q1, q2, p1, d1) or on_seg(q1, q2, p2, d2) or on_seg(p1, p2, q1, d3) or on_seg(p1, p2, q2, d4)


def ref_crossing_bonds(nodes: np.ndarray, bonds: np.ndarray) -> list[tuple[int, int]]:
    out = []
    for a in range(len(bonds)):
        for c in range(a + 1, len(bonds)):
            lo_a, hi_a = np.minimum(*nodes[bonds[a]]), np.maximum(*nodes[bonds[a]])
            lo_c, hi_c = np.minimum(*nodes[bonds[c]]), np.maximum(*nodes[bonds[c]])
            if not (np.all(lo_c <= hi_a + 1e-9) and np.all(hi_c >= lo_a - 1e-9)):
                continue
            shared = set(bonds[a].tolist()) & set(bonds[c].tolist())
            if shared:
                s = shared.pop()
                oa = bonds[a, 1] if bonds[a, 0] == s else bonds[a, 0]
                oc = bonds[c, 1] if bonds[c, 0] == s else bonds[c, 0]
                u, v = nodes[oa] - nodes[s], nodes[oc] - nodes[s]
                cross = u[0] * v[1] - u[1] * v[0]
                if abs(cross) <= 1e-12 * np.dot(u, u) ** 0.5 * np.dot(v, v) ** 0.5 and np.dot(u, v) > 0:
                    out.append((a, c))
            elif _ref_segments_cross(*nodes[bonds[a]], *nodes[bonds[c]]):
                out.append((a, c))
    return out


def ref_first_coincident(nodes: np.ndarray) -> tuple[int, int] | None:
    scale = max(float(np.ptp(nodes[:, 0])), float(np.ptp(nodes[:, 1])), 1.0)
    tol = 1e-9 * scale
    order = np.lexsort((nodes[:, 1], nodes[:, 0]))
    for a_pos in range(len(nodes) - 1):
        a = order[a_pos]
        for b_pos in range(a_pos + 1, len(nodes)):
            b = order[b_pos]
            if nodes[b, 0] - nodes[a, 0] > tol:
                break
            if abs(nodes[b, 1] - nodes[a, 1]) <= tol:
                return tuple(sorted((int(a), int(b))))
    return None


def ref_bonds_at_distance(nodes: np.ndarray, a: float) -> np.ndarray:
    diff = nodes[:, None, :] - nodes[None, :, :]
    dist = np.hypot(diff[..., 0], diff[..., 1])
    i, j = np.nonzero(np.triu(np.abs(dist - a) < 1e-6 * a))
    return np.stack([i, j], axis=1)


def _design(nodes, bonds, fixed=(0,)) -> Design:
    bonds = np.asarray(bonds, dtype=np.int64).reshape(-1, 2)
    return Design(
        nodes=np.asarray(nodes, dtype=float),
        bonds=bonds,
        widths=np.full(len(bonds), 2.0),
        thickness=2.0,
        material=Material(),
        fixed=fixed,
        geometry=Geometry(),
    )


# --------------------------------------------------------------------------- equality with the references


@pytest.mark.parametrize("seed", range(12))
def test_crossing_bonds_equal_the_all_pairs_check(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(4, 40))
    if seed % 3 == 0:  # integer grid: collinear overlaps, touching ends, shared nodes, duplicates
        nodes = rng.integers(0, 6, size=(n, 2)).astype(float)
    elif seed % 3 == 1:  # floats over several scales
        nodes = rng.normal(size=(n, 2)) * 10.0 ** rng.integers(-2, 4)
    else:  # a lattice with a few random extra bonds
        nodes = triangular_strip(6, 5).nodes + rng.normal(scale=1e-10, size=(30, 2))
        n = len(nodes)
    m = int(rng.integers(2, 3 * n))
    bonds = rng.integers(0, n, size=(m, 2))
    if seed % 3 == 2:
        bonds = np.vstack([triangular_strip(6, 5).bonds, bonds[:5]])
    d = _design(nodes, bonds)
    expected = ref_crossing_bonds(d.nodes, d.bonds)
    assert crossing_bonds(d) == expected
    if seed % 3 == 0:
        assert expected  # the grid cases do exercise the crossings


def test_a_crossing_is_found_in_a_large_strip_and_named_like_before():
    d = triangular_strip(30, 20)
    # one bond across a whole cell, from node 0 to the node below-right of node 1
    extra = np.vstack([d.bonds, [[0, 30 + 1]]])
    crossed = _design(d.nodes, extra, fixed=d.fixed)
    found = crossing_bonds(crossed)
    assert found and all(c == d.n_bonds or a == d.n_bonds for a, c in found)
    a, c = found[0]
    with pytest.raises(InputError, match=rf"bonds\[{a}\].*crosses bonds\[{c}\] away from a shared node"):
        validate(crossed)
    assert crossing_bonds(d) == []


@pytest.mark.parametrize("seed", range(10))
def test_coincident_nodes_equal_the_sorted_scan(seed):
    rng = np.random.default_rng(100 + seed)
    n = int(rng.integers(2, 300))
    nodes = rng.integers(0, 4 + seed * 3, size=(n, 2)).astype(float)
    nodes += rng.choice([0.0, 1e-12, 5e-9, 1e-7], size=(n, 2))  # on both sides of the tolerance
    d = _design(nodes, [[0, 1]])
    expected = ref_first_coincident(d.nodes)
    if expected is None:
        V._check_coincident_nodes(d)
        return
    i, j = expected
    with pytest.raises(InputError, match=rf"nodes\[{j}\].*coincides with node {i}\b"):
        V._check_coincident_nodes(d)


@pytest.mark.parametrize("seed", range(6))
def test_duplicate_bonds_are_named_like_the_dictionary_scan(seed):
    rng = np.random.default_rng(200 + seed)
    bonds = rng.integers(0, 12, size=(40, 2))
    bonds = bonds[bonds[:, 0] != bonds[:, 1]]
    seen: dict[tuple[int, int], int] = {}
    expected = None
    for b, (i, j) in enumerate(bonds.tolist()):
        key = (min(i, j), max(i, j))
        if key in seen:
            expected = (b, seen[key])
            break
        seen[key] = b
    d = _design(np.arange(24.0).reshape(12, 2), bonds)
    if expected is None:
        V._check_duplicate_bonds(d)
        return
    b, first = expected
    with pytest.raises(InputError, match=rf"bonds\[{b}\].*duplicate of bonds\[{first}\]"):
        V._check_duplicate_bonds(d)


@pytest.mark.parametrize("seed", range(6))
def test_bonds_at_distance_equal_all_pairs_distances(seed):
    rng = np.random.default_rng(300 + seed)
    a = float(rng.uniform(0.5, 30))
    base = triangular_strip(9, 7, a=a).nodes
    # jitter some nodes across the 1e-6 a tolerance
    nodes = base + rng.choice([0.0, 1e-8 * a, 2e-6 * a], size=base.shape) * rng.choice([-1, 1], size=base.shape)
    got = _bonds_at_distance(nodes, a)
    np.testing.assert_array_equal(got, ref_bonds_at_distance(nodes, a))


@pytest.mark.parametrize("seed", range(5))
def test_box_pairs_hold_every_overlapping_pair(seed):
    rng = np.random.default_rng(400 + seed)
    n = 300
    lo = rng.uniform(0, 100, size=(n, 2))
    hi = lo + rng.exponential(3.0 if seed else 40.0, size=(n, 2))
    pad = 0.1
    ov = np.all(lo[None] - pad <= hi[:, None] + pad, axis=2) & np.all(lo[:, None] - pad <= hi[None] + pad, axis=2)
    want = np.argwhere(np.triu(ov, 1))
    got = V.box_pairs(lo, hi, pad)
    assert len(np.unique(got, axis=0)) == len(got)  # no pair twice
    got_set = {tuple(p) for p in got.tolist()}
    assert {tuple(p) for p in want.tolist()} <= got_set


@pytest.mark.parametrize("seed", range(4))
def test_printability_findings_equal_the_all_pairs_scan(monkeypatch, seed):
    P = importlib.import_module("fem_mnn.design.printability")
    rng = np.random.default_rng(500 + seed)
    n = 40
    nodes = rng.uniform(0, 25 + 10 * seed, size=(n, 2))
    bonds = rng.integers(0, n, size=(60, 2))
    bonds = np.unique(np.sort(bonds[bonds[:, 0] != bonds[:, 1]], axis=1), axis=0)
    d = _design(nodes, bonds)
    fast = P.check_junctions(d) + P.check_intersections(d)
    assert any(f.check == "hubs_overlap" for f in fast) and any(f.check == "beam_intersection" for f in fast)

    def all_node_pairs(x, limit):
        i, j = np.triu_indices(len(x), 1)
        keep = np.hypot(*(x[j] - x[i]).T) < limit
        return np.stack([i[keep], j[keep]], axis=1)

    monkeypatch.setattr(P, "_node_pairs_closer_than", all_node_pairs)
    monkeypatch.setattr(
        P, "_outline_box_pairs", lambda ids, lo, hi: [(a, c) for k, a in enumerate(ids) for c in ids[k + 1 :]]
    )
    monkeypatch.setattr(
        P, "_nodes_in_box", lambda x, tree, lo, hi: np.nonzero(np.all(x >= lo, axis=1) & np.all(x <= hi, axis=1))[0]
    )
    assert fast == P.check_junctions(d) + P.check_intersections(d)


# --------------------------------------------------------------------------- rigidity and the sparse solver


@pytest.mark.parametrize("size", [(16, 14), (40, 40)])  # dense eigenvalues / sparse shift-invert
def test_pivot_rigidity_agrees_with_the_eigenvalues(size):
    d = triangular_strip(*size)  # 444 and 3196 free dofs: above the pivot-test limit
    assert rigid_by_pivots(d) and zero_modes(d).shape[1] == 0
    # cut the two bonds holding the last node of the bottom row: it swings freely
    last = d.n_nodes - 1
    keep = ~np.any(d.bonds == last, axis=1)
    keep[np.nonzero(~keep)[0][0]] = True  # one bond left: a pendulum
    floppy = _design(d.nodes, d.bonds[keep], fixed=d.fixed)
    assert not rigid_by_pivots(floppy)
    modes = zero_modes(floppy)
    assert modes.shape[1] == 1
    with pytest.raises(InputError, match=rf"1 zero-energy mode\(s\), node {last} moves freely"):
        validate(floppy)


def test_sparse_and_dense_spring_solvers_agree():
    d = triangular_strip(24, 14)
    rng = np.random.default_rng(5)
    w = rng.uniform(1.6, 2.4, d.n_bonds)
    f = rng.normal(size=(3, d.n_nodes, 2)) * 1e-3
    dense = SpringModel(d, solver="dense").solve(f, w)
    model = SpringModel(d, solver="sparse")
    sparse = model.solve(f, w)
    # two factorisations (dense Cholesky, sparse LU in nested dissection order): the
    # agreement their backward errors and K's condition allow (tests/_bounds.py)
    K, F, free = spring_system(model.operator(w), f)
    agree = assert_solutions_agree(K, spring_fields(sparse, free), spring_fields(dense, free), F)
    c_norm = operator_norm(compatibility_matrix(d))  # elongations are C u
    assert np.all(np.abs(sparse.elongation - dense.elongation).max(axis=1) <= c_norm * agree.bound)
    again = model.operator(w * 1.1)  # the fill-reducing order is reused
    assert again.node_order is model.operator().node_order


# --------------------------------------------------------------------------- size


def test_a_20k_bond_strip_builds_and_validates():
    d = triangular_strip(82, 82)
    assert 19_000 < d.n_bonds < 21_000
    validate(d)
    assert math.isclose(float(d.lengths.max()), 16.0)


def test_the_spring_benchmark_runs_without_dolfinx():
    from fem_mnn.bench.spring_scaling import spring_scaling

    out = spring_scaling(sizes=(100, 1000), repeats=2)
    assert "spring_100k_seconds" not in out  # not measured: left out
    assert [r["bonds"] for r in out["rows"]] == [85, 1008]
    assert all(r["gradient_s"] > 0 and r["validate_s"] > 0 for r in out["rows"])
    assert out["spring_scaling_exponent"] > 0
