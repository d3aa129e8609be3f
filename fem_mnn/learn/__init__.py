"""Stage 4, learning: losses, tasks, in situ backpropagation, Adam and the training loop.

Model-agnostic: it sees a model only through :mod:`fem_mnn.contract`, so the spring
network and the FE model drive it alike. Never imports DOLFINx, gmsh, PETSc or UFL.
"""
