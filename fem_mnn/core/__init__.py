"""Helpers every stage uses: errors, atomic files, units, metrics, logging, provenance.

Nothing here imports another part of the package, so every stage may import it.
"""

from typing import TYPE_CHECKING

from fem_mnn.core.lazy import lazy_exports

if TYPE_CHECKING:  # the public names; imported on first use by __getattr__ (fem_mnn.core.lazy)
    from fem_mnn.core.errors import EngineError, FemMnnError, InputError
    from fem_mnn.core.files import (
        atomic_path,
        atomic_savefig,
        atomic_write_bytes,
        atomic_write_json,
        atomic_write_text,
        to_jsonable,
    )
    from fem_mnn.core.log import get_logger
    from fem_mnn.core.metrics import cosine, rel_l2, sign_agreement, significant
    from fem_mnn.core.paths import cache_dir, shipped_data
    from fem_mnn.core.resources import FeEstimate, ResourceError, check_memory, estimate_fe
    from fem_mnn.core.units import grams_to_newtons, lame_parameters

__all__ = [
    "EngineError",
    "FeEstimate",
    "FemMnnError",
    "InputError",
    "ResourceError",
    "atomic_path",
    "atomic_savefig",
    "atomic_write_bytes",
    "atomic_write_json",
    "atomic_write_text",
    "cache_dir",
    "check_memory",
    "cosine",
    "estimate_fe",
    "get_logger",
    "grams_to_newtons",
    "lame_parameters",
    "rel_l2",
    "shipped_data",
    "sign_agreement",
    "significant",
    "to_jsonable",
]

__getattr__, __dir__ = lazy_exports(__name__)
