"""Benchmarks behind ``fem-mnn bench``: measured figures, ratios side by side in one run (not timed tests).

:mod:`.fem` holds the FE measurements (shape gradient vs remeshed finite differences,
training step and batch cost against the factorisation, serial vs MPI, a large
lattice); :mod:`.spring_scaling` times the spring model's gradient from 100 to
100 000 bonds (numpy/scipy only: importable without DOLFINx); :mod:`.identify` times a
28-bond FE identification (``fem-mnn bench --identify``); :mod:`.run` runs them and tables
the results.
"""

__all__: list[str] = []  # the modules are the API; the package itself exports nothing
