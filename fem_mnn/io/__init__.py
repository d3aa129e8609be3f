"""Reading and writing results: the paper's and a user's measured data, and reports.

Sits above :mod:`fem_mnn.design` (readers check data against a design) and below the
models that are compared with the data.
"""

from typing import TYPE_CHECKING

from fem_mnn.core.lazy import lazy_exports

if TYPE_CHECKING:  # the public names; imported on first use by __getattr__ (fem_mnn.core.lazy)
    from fem_mnn.io.measured import (
        Displacement,
        Gradient,
        Load,
        PaperRecords,
        load_cases,
        paper_records,
        read_displacements,
        read_gradients,
        read_loads,
        write_displacements,
        write_gradients,
        write_loads,
    )
    from fem_mnn.io.paper_data import PaperData, load_all
    from fem_mnn.io.report import fmt, markdown_table

__all__ = [
    "Displacement",
    "Gradient",
    "Load",
    "PaperData",
    "PaperRecords",
    "fmt",
    "load_all",
    "load_cases",
    "markdown_table",
    "paper_records",
    "read_displacements",
    "read_gradients",
    "read_loads",
    "write_displacements",
    "write_gradients",
    "write_loads",
]

__getattr__, __dir__ = lazy_exports(__name__)
