"""Reading and writing results: the paper's and a user's measured data, and reports.

Sits above :mod:`fem_mnn.design` (readers check data against a design) and below the
models that are compared with the data.
"""
