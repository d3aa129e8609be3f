"""One entry point for the command line, ``validate --tolerance`` and the study: build the model, analyse."""

from __future__ import annotations

import os
from typing import Any

from fem_mnn.core.errors import InputError
from fem_mnn.design.records import Design
from fem_mnn.learn.robust import WidthNoise, check_noise_printable
from fem_mnn.learn.tasks import Task
from fem_mnn.spring.network import SpringModel
from fem_mnn.tolerance.analysis import spring_jacobian, tolerance_analysis

__all__ = ["analyse", "world"]

#: Default sample counts per model.
DEFAULT_SAMPLES = {"spring": 1000, "fem": 50}


def world() -> Any:
    """MPI.COMM_WORLD under mpiexec (size > 1), else None (serial; MPI is not imported)."""
    size = 1
    for var in ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "PMIX_SIZE", "MPI_LOCALNRANKS"):
        if os.environ.get(var, "").isdigit():
            size = max(size, int(os.environ[var]))
    if size <= 1:
        return None
    from fem_mnn.fem._dolfinx import import_dolfinx

    import_dolfinx()
    from mpi4py import MPI

    return MPI.COMM_WORLD if MPI.COMM_WORLD.size > 1 else None


def analyse(
    design: Design,
    task: Task,
    noise: WidthNoise,
    n_samples: int | None = None,
    seed: int = 0,
    *,
    model: str = "spring",
    comm: Any = None,
    degree: int = 2,
    elements_across: int = 3,
    linear: bool = True,
    success: dict[str, Any] | None = None,
) -> dict[str, Any] | None:
    """The tolerance analysis of ``design`` on ``task`` with the spring or the FE model (samples over ``comm``).

    The FE model morphs one mesh per rank (COMM_SELF) per sample. Returns the result on rank 0, None elsewhere.
    """
    if model not in DEFAULT_SAMPLES:
        raise InputError("must be 'spring' or 'fem'", field="--model", value=model)
    n = DEFAULT_SAMPLES[model] if n_samples is None else int(n_samples)
    if model == "spring":
        res = tolerance_analysis(
            SpringModel(design), task, noise, n, seed, comm=comm, jacobian=spring_jacobian, linear=linear,
            success=success,
        )  # fmt: skip
        if res is not None:
            res["model"] = {"name": "spring", "law": "k = E t w / L"}
        return res
    from fem_mnn.tolerance.fe import fe_model, sample_timing, shape_jacobian

    check_noise_printable(design, design.widths, noise.width_sd)  # before any meshing
    fem = fe_model(design, degree=degree, elements_across=elements_across)
    res = tolerance_analysis(
        fem, task, noise, n, seed, comm=comm, jacobian=shape_jacobian, linear=linear, timing=sample_timing,
        success=success,
    )  # fmt: skip
    if res is not None:
        res["model"] = {
            "name": "fem",
            "what": "DOLFINx plane stress, mesh morphed per sample (MorphingFemModel, COMM_SELF per rank)",
            "degree": degree,
            "elements_across": elements_across,
            "mesh_size_mm": fem.options.mesh.size,
            "remeshes_rank0": fem.n_remeshes,
            "morphs_rank0": fem.n_morphs,
            "reference_mesh_s": getattr(fem, "_t_mesh", None),
        }
    return res
