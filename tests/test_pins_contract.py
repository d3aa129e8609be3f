"""Pins for ``fem_mnn.contract`` (issue 21, mutation testing): the load shapes it accepts and refuses,
the paper's spring law and the bond elongations, each against a closed form computed here."""

from __future__ import annotations

import numpy as np
import pytest

from fem_mnn.contract import as_cases, elongations, nominal_stiffness
from fem_mnn.design import paper_sample


def test_as_cases_accepts_one_case_or_many_and_refuses_other_shapes():
    n = 5
    one = np.arange(2 * n, dtype=float).reshape(n, 2)
    assert as_cases(one, n).shape == (1, n, 2) and np.array_equal(as_cases(one, n)[0], one)
    many = np.zeros((3, n, 2))
    assert as_cases(many, n).shape == (3, n, 2)
    for bad in (np.zeros(2 * n), np.zeros((n, 3)), np.zeros((n + 1, 2)), np.zeros((2, n + 1, 2)),
                np.zeros((2, n, 1)), np.zeros((1, 2, n, 2))):  # fmt: skip
        with pytest.raises(ValueError, match=f"loads must have shape \\(n_cases, {n}, 2\\)"):
            as_cases(bad, n)
    # the message names the shape the caller gave, not a reshaped one
    with pytest.raises(ValueError, match=r"got \(10,\)$"):
        as_cases(np.zeros(2 * n), n)


def test_nominal_stiffness_is_E_t_w_over_L():
    d = paper_sample()
    w = np.linspace(1.5, 2.5, d.n_bonds)
    k, dk = nominal_stiffness(d, w)
    p = d.nodes[d.bonds[:, 1]] - d.nodes[d.bonds[:, 0]]
    L = np.hypot(p[:, 0], p[:, 1])
    E, t = d.material.E, d.thickness
    assert k == pytest.approx(E * t * w / L, rel=1e-14)
    assert dk == pytest.approx(E * t / L, rel=1e-14)


def test_elongations_of_rigid_and_affine_motions():
    """Translation and (infinitesimal) rotation: no elongation; u = eps X: e = eps L;
    u = (eps x, 0): e = eps L n_x^2; a third (z) component is ignored."""
    d = paper_sample()
    X = d.nodes
    p = X[d.bonds[:, 1]] - X[d.bonds[:, 0]]
    L = np.hypot(p[:, 0], p[:, 1])
    nx = p[:, 0] / L
    eps = 1e-3
    cases = [
        (np.tile([0.3, -0.7], (d.n_nodes, 1)), np.zeros(d.n_bonds)),
        (eps * np.stack([-X[:, 1], X[:, 0]], axis=1), np.zeros(d.n_bonds)),
        (eps * X, eps * L),
        (np.stack([eps * X[:, 0], np.zeros(d.n_nodes)], axis=1), eps * L * nx**2),
    ]
    for u, want in cases:
        assert elongations(u, d) == pytest.approx(want, abs=1e-15 * np.max(np.abs(X)))
        u3 = np.concatenate([u, np.full((d.n_nodes, 1), 5.0)], axis=1)
        assert elongations(u3, d) == pytest.approx(want, abs=1e-15 * np.max(np.abs(X)))
        # batched: leading axes pass through
        assert elongations(np.stack([u, 2 * u]), d)[1] == pytest.approx(2 * want, abs=1e-14 * np.max(np.abs(X)))
