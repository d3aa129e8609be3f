"""Stage 2, geometry: the printed lattice in gmsh (OCC build, tags, STL, mesh cache).

Never imports DOLFINx; :mod:`fem_mnn.fem.meshing` hands gmsh models to DOLFINx.
"""
