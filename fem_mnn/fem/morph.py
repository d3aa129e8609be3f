"""Mesh morphing for training: move the mesh with the widths instead of remeshing.

:class:`MorphingFemModel` meshes the design once, then writes the exact width map of
:mod:`fem_mnn.fem.width_map` into ``mesh.geometry.x`` for every new set of widths,
keeping the compiled forms, the matrix and MUMPS's symbolic analysis; it remeshes
only when a cell inverts or its quality drops below a stated bound.
"""

from __future__ import annotations

import dataclasses
import math
import time
from typing import TYPE_CHECKING

import numpy as np

from fem_mnn.contract import Backprop, Loss, Solution, SpringLaw, backprop_operator, nominal_stiffness
from fem_mnn.core.errors import EngineError, InputError
from fem_mnn.design.records import Design
from fem_mnn.fem.linear import Discretisation, FemModel, FemOperator, FemOptions, Mesher
from fem_mnn.fem.shape import shape_backprop
from fem_mnn.fem.width_map import MIN_QUALITY, MIN_QUALITY_RATIO, WidthMap, cell_quality

if TYPE_CHECKING:
    from mpi4py import MPI

__all__ = ["MorphingFemModel"]


class MorphingFemModel:
    """An FE model that moves its mesh when the widths change, instead of remeshing.

    The first :meth:`operator` call meshes the design at its own widths (as
    :class:`~fem_mnn.fem.linear.FemModel` does) and keeps that mesh as the reference, whatever
    widths were asked for (so a resumed training run starts from the same mesh). Later calls with other widths write
    ``X_ref + map(w_ref -> w)`` into ``mesh.geometry.x`` (never cumulatively), keep the
    compiled forms, the matrix (same sparsity, same PETSc Mat) and the KSP (so MUMPS
    only refactorises numerically), recompute the junction areas, and check the cells:
    a cell whose Jacobian determinant changes sign, or quality below the bounds
    (:data:`MIN_QUALITY_RATIO` of its reference value, :data:`MIN_QUALITY` absolute)
    triggers a fresh mesh at ``w``, which becomes the new reference
    (:attr:`n_remeshes` counts them).

    An operator is valid until the next :meth:`operator` call with other widths (the
    mesh it lives on moves). All calls are collective.

    Args:
        design, options, comm, law, mesher: as :class:`~fem_mnn.fem.linear.FemModel`. Use a
            fixed element size (``MeshOptions(size=...)``) so a remesh does not
            change the resolution.
        gradient: ``"exact"`` (default): :meth:`backprop_operator` returns the
            shape-derivative gradient in ``grad_w``; ``"insitu"``: the in situ estimate.
    """

    def __init__(
        self,
        design: Design,
        options: FemOptions | None = None,
        comm: MPI.Comm | None = None,
        law: SpringLaw | None = None,
        mesher: Mesher | None = None,
        gradient: str = "exact",
    ) -> None:
        if gradient not in ("exact", "insitu"):
            raise InputError("must be 'exact' or 'insitu'", field="gradient", value=gradient)
        self._fem = FemModel(design, options, comm, law=nominal_stiffness if law is None else law, mesher=mesher)
        if self._fem.options.measure != "average":
            raise InputError("mesh morphing needs measure='average'", field="measure", value=self._fem.options.measure)
        self.design = design
        self.options = self._fem.options
        self.comm = self._fem.comm
        self.gradient = gradient
        self._disc: Discretisation | None = None
        self._map: WidthMap | None = None
        self._op: FemOperator | None = None
        self._op_stale = False  # the mesh moved since self._op was assembled
        self._widths: np.ndarray | None = None
        self._thin = 0.0  # thin-end offset (mm) the current mesh was morphed to
        self.mesh_thin_end_ratio = float(design.geometry.thin_end_ratio)
        """The thin-end ratio of the current reference mesh (another one after a remesh for a thin-end offset)."""
        self._theta: np.ndarray | None = None
        self._q_ref: np.ndarray | None = None
        self._det_sign: np.ndarray | None = None
        self.n_remeshes = 0
        """Meshes made after the first because the morphed mesh was too poor."""
        self.n_morphs = 0
        """Operators built on a morphed mesh."""
        self.min_quality_ratio = MIN_QUALITY_RATIO
        self.min_quality = MIN_QUALITY
        self.last_quality: tuple[float, float] = (1.0, 1.0)
        """(min q, min q/q_ref) of the current mesh (global)."""

    @property
    def n_meshes(self) -> int:
        """Meshes generated so far (the first included)."""
        return self._fem.n_meshes

    @property
    def width_map(self) -> WidthMap | None:
        """The width map of the current reference mesh."""
        return self._map

    def _remesh(self, w: np.ndarray, thin: float = 0.0) -> None:
        """A fresh mesh at ``w``; with a thin-end offset, at a thin-end ratio that carries most of it.

        The geometry's thin ends are ``thin_end_ratio * w``; bond i needs ``a_i = r + thin / w_i``.
        A mesh at ratio ``r' = sqrt(min a * max a)`` (exactly ``a`` for equal widths) leaves the
        width map to morph the rest (``(r - r') w_i + thin`` per bond) by reciprocal factors at the
        narrowest and widest bonds.
        """
        g = self.design.geometry
        ratio = g.thin_end_ratio
        if thin != 0.0:
            # bond i needs the ratio a_i = r + thin / w_i; a mesh at the geometric mean of the extremes leaves
            # reciprocal morph factors (a_i / r') at the narrowest and widest bonds (exact for equal widths)
            a = g.thin_end_ratio + thin / np.asarray(w, dtype=float)
            if np.min(a) <= 0.0 or np.max(a) > 1.0:
                b = int(np.argmin(a) if np.min(a) <= 0.0 else np.argmax(a))
                raise EngineError(
                    f"a thin-end offset of {thin:+.4g} mm makes bond {b}'s thin end {a[b] * w[b]:.4g} mm wide "
                    f"({'<= 0' if a[b] <= 0 else 'wider than its bar'}, width {w[b]:.4g} mm): no mesh can carry it"
                )
            ratio = float(np.sqrt(np.min(a) * np.max(a)))
        self._fem._cache = None
        if ratio != g.thin_end_ratio:
            self._fem.design = dataclasses.replace(self.design, geometry=dataclasses.replace(g, thin_end_ratio=ratio))
        try:
            disc, t_mesh = self._fem.discretisation(w)
        finally:
            self._fem.design = self.design
        self._disc = disc
        self._t_mesh = t_mesh
        mesh = disc.mesh
        w_ref = np.array(disc.design.widths, dtype=float)  # rounded to GEOMETRY_RESOLUTION
        self._map = WidthMap(self.design, mesh.geometry.x, w_ref, mesh_thin_end_ratio=ratio)
        self.mesh_thin_end_ratio = ratio
        disc.width_map = self._map
        det, q = cell_quality(mesh)
        self._q_ref, self._det_sign = q, np.sign(det)
        self._op = None
        self._widths = w_ref
        self._thin = 0.0

    def _morph(self, w: np.ndarray, thin: float = 0.0) -> bool:
        """Move the mesh to ``w`` (thin-end offset ``thin``) if the quality allows it; False if not (collective)."""
        from mpi4py import MPI

        disc, wmap = self._disc, self._map
        if disc is None or wmap is None:
            raise EngineError("no reference mesh to morph (mesh first)")
        with np.errstate(invalid="ignore"):  # a thin end pushed past the hub circle has no image (NaN): refused below
            X = wmap.coordinates(w, thin)
        # (collective) a map without an image anywhere: no quality to compute, remesh
        if self.comm.allreduce(not bool(np.all(np.isfinite(X))), op=MPI.LOR):
            return False
        mesh = disc.mesh
        gdim = mesh.geometry.dim
        x_new = np.array(mesh.geometry.x)
        x_new[:, :2] = X
        det, q = cell_quality(mesh, x_new[:, :gdim])
        inverted = bool(np.any(np.sign(det) != self._det_sign))
        qmin = float(q.min()) if q.size else 1.0
        ratio = float(np.min(q / self._q_ref)) if q.size else 1.0
        inverted = self.comm.allreduce(inverted, op=MPI.LOR)
        qmin = self.comm.allreduce(qmin, op=MPI.MIN)
        ratio = self.comm.allreduce(ratio, op=MPI.MIN)
        if inverted or qmin < self.min_quality or ratio < self.min_quality_ratio:
            return False
        mesh.geometry.x[:, :2] = X
        self.last_quality = (qmin, ratio)
        disc.design = dataclasses.replace(self.design, widths=np.array(w, dtype=float))
        _update_measures(disc)
        self._widths = np.array(w, dtype=float)
        self._thin = float(thin)
        disc.thin_offset = self._thin
        return True

    @property
    def law(self) -> SpringLaw:
        """The spring law of the in situ estimate (the wrapped :class:`~fem_mnn.fem.linear.FemModel`'s)."""
        return self._fem.law

    @property
    def thin_offset(self) -> float:
        """The thin-end offset (mm) of the current mesh (0 on a fresh mesh)."""
        return self._thin

    def discretisation(
        self, widths: np.ndarray | None = None, thin_offset: float = 0.0
    ) -> tuple[Discretisation, float]:
        """The discretisation moved (or, if the mesh would be too poor, remeshed) to ``widths`` (collective).

        The same contract as :meth:`fem_mnn.fem.linear.FemModel.discretisation`: ``(disc,
        seconds spent meshing)``; nothing is assembled or factorised (the nonlinear model
        moves its mesh with this). A remesh returns a new discretisation object.

        ``thin_offset`` (mm) is added to every thin end's width only
        (:meth:`fem_mnn.fem.width_map.WidthMap.coordinates`). The geometry cannot mesh it, so
        a remesh is made at ``widths`` without it and then morphed to it.

        Raises:
            EngineError: a thin-end offset that even a fresh mesh cannot be morphed to.
        """
        w = self._fem._widths(widths)
        thin = float(thin_offset)
        if not math.isfinite(thin):
            raise InputError("must be finite (mm)", field="thin_offset", value=thin_offset)
        t_mesh = 0.0
        if self._disc is None or self._widths is None:
            # the reference is the design's widths, whatever is asked first: a resumed
            # training run morphs from the same mesh as the run it continues
            self._remesh(self._fem._widths(None))
            t_mesh = self._t_mesh
        if not np.array_equal(w, self._reference()[1]) or thin != self._thin:
            if not self._morph(w, thin):
                self.n_remeshes += 1
                self._remesh(w, thin)
                t_mesh = self._t_mesh
                # meshed at w rounded (and the offset's mean): morph the last nanometre and the rest of the offset
                if (not np.array_equal(w, self._reference()[1]) or thin != self._thin) and not self._morph(w, thin):
                    if thin != 0.0:
                        raise EngineError(
                            f"a thin-end offset of {thin:+.4g} mm degrades or inverts cells even of a fresh mesh "
                            f"made for it (thin_end_ratio {self.mesh_thin_end_ratio:.3g}; widths {float(np.min(w)):.3g}..{float(np.max(w)):.3g} mm)"
                        )
            else:
                self.n_morphs += 1
            self._op_stale = True
        return self._reference()[0], t_mesh

    def _reference(self) -> tuple[Discretisation, np.ndarray]:
        """The current discretisation and the widths its mesh is at (after the first mesh)."""
        if self._disc is None or self._widths is None:
            raise EngineError("no mesh yet: call discretisation() or operator() first")
        return self._disc, self._widths

    def operator(
        self, widths: np.ndarray | None = None, stiffness_factors: np.ndarray | None = None, thin_offset: float = 0.0
    ) -> FemOperator:
        """The factorised operator at ``widths`` (and thin-end offset, mm) on the morphed (or fresh) mesh (collective).

        The operator carries ``thin_offset``, the offset its mesh was morphed to.
        """
        w = self._fem._widths(widths)
        theta = np.ones(self.design.n_bonds) if stiffness_factors is None else np.array(stiffness_factors, float)
        if theta.shape != (self.design.n_bonds,) or not np.all(np.isfinite(theta)) or np.any(theta <= 0):
            raise InputError("needs one finite factor > 0 per bond", field="stiffness_factors", value=theta.tolist())
        t0 = time.perf_counter()
        disc, t_mesh = self.discretisation(w, thin_offset)
        if (
            not self._op_stale
            and self._op is not None
            and self._theta is not None
            and np.array_equal(theta, self._theta)
        ):
            return self._op
        t_morph = time.perf_counter() - t0 - t_mesh
        op = FemOperator(self._fem, disc, self._reference()[1], theta, t_mesh, reuse=self._op)
        op.timings["morph"] = t_morph
        op.model = self
        op.thin_offset = self._thin
        self._op, self._theta = op, theta
        self._op_stale = False
        return op

    def solve(self, loads: np.ndarray, widths: np.ndarray | None = None) -> Solution:
        """Shortcut: build the operator and solve once (collective)."""
        return self.operator(widths).solve(loads)

    def backprop_operator(self, op: FemOperator, loads: np.ndarray, loss: Loss) -> Backprop:
        """Forward + adjoint on ``op``; ``grad_w`` exact (shape derivative) or the in situ estimate."""
        if self.gradient == "insitu":
            return backprop_operator(op, loads, loss)
        return shape_backprop(op, loads, loss)


def _update_measures(disc: Discretisation) -> None:
    """Recompute the junction areas of a discretisation after its mesh moved (collective)."""
    from fem_mnn.fem.extract import region_sums

    disc.geometry_moved()
    ext = disc.extractor
    gdim = ext.gdim
    ext.measure = region_sums(
        ext._node_int.per_cell()[:, gdim + 1], ext.regions.node_of_cell, ext.regions.n_nodes, ext.comm
    )[:, 0]
    disc.measure = ext.measure
    if ext._points is not None:
        ext._points = None  # centre points must be searched again on the moved mesh
