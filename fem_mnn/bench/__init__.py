"""Benchmarks of the FE model (``fem-mnn bench``): timings measured side by side in one run.

:mod:`fem_mnn.bench.fem` holds the FE measurements (shape gradient vs remeshed finite
differences, training step and batch cost against the factorisation, serial vs MPI);
``fem_mnn.bench.spring_scaling`` (when present) the spring model's scaling.
"""
