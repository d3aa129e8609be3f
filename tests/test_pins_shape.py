"""Pins for ``fem_mnn.fem.shape`` (issue 21, mutation testing): the in situ part of the shape
backprop is the mean over cases of e_c e_adj,c, the same as the in situ backprop of the operator."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import need_dolfinx

need_dolfinx()

from mpi4py import MPI  # noqa: E402

from fem_mnn.contract import backprop_operator  # noqa: E402
from fem_mnn.fem.shape import shape_backprop  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
import mpi_shape_case  # noqa: E402

pytestmark = pytest.mark.fem


def test_shape_backprop_keeps_the_in_situ_grad_k():
    d = mpi_shape_case.case_design()
    f, loss = mpi_shape_case.case_problem(d)  # two load cases
    op = mpi_shape_case.case_model(d, MPI.COMM_SELF).operator(d.widths)
    sb = shape_backprop(op, f, loss)
    ib = backprop_operator(op, f, loss)
    # the same solves of the same factorisation: agreement to rounding
    np.testing.assert_allclose(sb.elongation, ib.elongation, rtol=1e-12, atol=1e-18)
    np.testing.assert_allclose(sb.grad_k, ib.grad_k, rtol=1e-10, atol=1e-14 * np.abs(ib.grad_k).max())
    # and by its definition, computed here from the per-case elongations
    mean = (sb.elongation[0] * sb.adjoint_elongation[0] + sb.elongation[1] * sb.adjoint_elongation[1]) / 2
    np.testing.assert_allclose(sb.grad_k, mean, rtol=1e-12, atol=1e-14 * np.abs(mean).max())
    assert sb.loss == pytest.approx(ib.loss, rel=1e-12)
