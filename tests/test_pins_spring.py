"""Pins for ``fem_mnn.spring`` (issue 21, mutation testing): the near-singular stiffness check is
relative (pivot ratio below 1e-12 of the largest), on both the dense and the sparse path."""

from __future__ import annotations

import numpy as np
import pytest

from fem_mnn.core.errors import EngineError
from fem_mnn.design import Design
from fem_mnn.spring.network import SpringModel


def _triangle(w_weak: float, scale: float = 1.0) -> Design:
    """Nodes 0, 1 fixed; node 2 held by bonds 0-2 (width 2 mm) and 1-2 (``w_weak``): the stiffness of
    node 2 has eigenvalues of order k_02 and k_12 sin^2(60 deg), so its pivot ratio is about w_weak / 2."""
    return Design(
        nodes=np.array([[0.0, 0.0], [16.0, 0.0], [8.0, 13.856]]),
        bonds=np.array([[0, 1], [0, 2], [1, 2]]),
        widths=scale * np.array([2.0, 2.0, w_weak]),
        fixed=(0, 1),
    )


@pytest.mark.parametrize("solver", ["dense", "sparse"])
def test_near_singular_is_relative_to_the_largest_pivot(solver):
    f = np.zeros((1, 3, 2))
    f[0, 2] = (0.0, -0.01)
    for scale in (1.0, 1e6, 1e-6):  # the verdict does not depend on the units of the stiffness
        with pytest.raises(EngineError, match="near-singular spring stiffness"):
            SpringModel(_triangle(1e-14, scale), solver=solver).solve(f)
        # a pivot ratio of about 1e-10 is above the threshold: solved
        u = SpringModel(_triangle(2e-10, scale), solver=solver).solve(f).u
        assert np.all(np.isfinite(u)) and abs(u[0, 2, 1]) > 0
