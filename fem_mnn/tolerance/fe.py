"""The FE side of the tolerance analysis: a morphing FE model per rank and the exact output Jacobian.

Every sample moves the mesh with the widths (:class:`fem_mnn.fem.morph.MorphingFemModel`: the
exact width map written into the mesh coordinates, the matrix reassembled into the same
sparsity, MUMPS refactorised numerically with its symbolic analysis reused), rather than
remeshing; a remesh happens only when a morphed cell loses quality (counted). The Jacobian
is the exact shape gradient of each output, per case (:func:`fem_mnn.fem.shape.shape_width_gradient`).
DOLFINx is imported when these functions are called, not at import.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from fem_mnn.design.records import Design

__all__ = ["fe_model", "shape_jacobian", "sample_timing"]


def fe_model(design: Design, degree: int = 1, elements_across: int = 3, comm: Any = None) -> Any:
    """A :class:`~fem_mnn.fem.morph.MorphingFemModel` of ``design`` on ``comm`` (default COMM_SELF).

    Fixed element size (the design's thin-end rule at its own widths), so a remesh would not
    change the resolution.
    """
    from fem_mnn.fem._dolfinx import import_dolfinx

    import_dolfinx()
    from mpi4py import MPI

    from fem_mnn.fem.linear import FemOptions
    from fem_mnn.fem.morph import MorphingFemModel
    from fem_mnn.geometry.build import MeshOptions, mesh_size

    mo = MeshOptions(dim=2, elements_across=elements_across)
    mo = dataclasses.replace(mo, size=mesh_size(design, mo))
    options = FemOptions(dim=2, degree=degree, mesh=mo)
    return MorphingFemModel(design, options, MPI.COMM_SELF if comm is None else comm, gradient="exact")


def shape_jacobian(op: Any, loads: np.ndarray, loss: Any) -> np.ndarray:
    """(n_cases, n_bonds) exact per-case d loss_c / d w of the FE model (shape derivative)."""
    from fem_mnn.fem.shape import shape_width_gradient

    sg = shape_width_gradient(op, loads, loss, per_case=True)
    return np.asarray(sg.per_case)


def sample_timing(op: Any) -> dict[str, float]:
    """Seconds of one FE sample by phase (morph, assemble, factorise, solve, extract) and whether it remeshed."""
    t = dict(op.timings)
    out = {k: float(t.get(k, 0.0)) for k in ("morph", "assemble", "factorise", "solve", "extract", "mesh")}
    out["remeshed"] = float(t.get("mesh", 0.0) > 0)
    return out
