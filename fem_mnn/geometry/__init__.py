"""Stage 2, geometry: the printed lattice in gmsh (OCC build, tags, STL, mesh cache).

Never imports DOLFINx; :mod:`fem_mnn.fem.meshing` hands gmsh models to DOLFINx. The
package imports gmsh only when one of its gmsh-backed names is used.
"""

from typing import TYPE_CHECKING

from fem_mnn.core.lazy import lazy_exports

if TYPE_CHECKING:  # the public names; imported on first use by __getattr__ (fem_mnn.core.lazy)
    from fem_mnn.geometry.build import (
        GeometryInfo,
        MeshOptions,
        MeshPlan,
        build_model,
        check_buildable,
        estimate_cells,
        gmsh_session,
        mesh_plan,
        mesh_size,
        write_msh,
    )
    from fem_mnn.geometry.cache import ensure_mesh
    from fem_mnn.geometry.stl import write_step, write_stl

__all__ = [
    "GeometryInfo",
    "MeshOptions",
    "MeshPlan",
    "build_model",
    "check_buildable",
    "ensure_mesh",
    "estimate_cells",
    "gmsh_session",
    "mesh_plan",
    "mesh_size",
    "write_msh",
    "write_step",
    "write_stl",
]

__getattr__, __dir__ = lazy_exports(__name__)
