"""Stage 3, the FE solve: everything that needs DOLFINx, PETSc or UFL.

Modules: :mod:`.meshing` (gmsh into DOLFINx), :mod:`.gmsh_import` (its linear-time,
scattered import), :mod:`.linear` (the linear-elastic
model, one factorisation for forward, adjoint and batches), :mod:`.extract` (per-bond
quantities), :mod:`.nonlinear`, :mod:`.buckling`, :mod:`.calibration` (k(w) from
single-bond solves) and :mod:`.mechanical_checks`. Importing a module of this package
imports DOLFINx; the package itself imports nothing.
"""
