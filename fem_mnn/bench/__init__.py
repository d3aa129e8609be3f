"""Benchmarks: measured figures for ``fem-mnn bench`` (not timed tests).

:mod:`.spring_scaling` times the spring model's gradient from 100 to 100 000 bonds
(numpy/scipy only: importable without DOLFINx).
"""
