"""Where the package finds and keeps files: by argument or environment first, never by writing into itself.

* Shipped data (read-only) live in ``fem_mnn/data`` inside the installed package.
* Things the package computes and keeps (new k(w) calibrations, meshes of designs
  other than the committed references) go to the user cache directory:
  ``$FEM_MNN_CACHE`` or ``$XDG_CACHE_HOME/fem_mnn`` (default ``~/.cache/fem_mnn``).
* A source checkout (the folder holding ``pyproject.toml`` beside the package) has
  ``meshes/`` (committed reference meshes) and ``studies/results/``; an installed
  package has neither and falls back to the cache directory.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["CACHE_ENV", "cache_dir", "checkout_root", "shipped_data"]

#: Environment variable naming the user cache directory.
CACHE_ENV = "FEM_MNN_CACHE"

_PACKAGE = Path(__file__).resolve().parents[1]


def shipped_data(name: str) -> Path:
    """Path of a data file shipped inside the package (read it, never write it)."""
    return _PACKAGE / "data" / name


def checkout_root() -> Path | None:
    """The source checkout the package runs from, or None for an installed package."""
    root = _PACKAGE.parent
    return root if (root / "pyproject.toml").is_file() and (root / "fem_mnn").is_dir() else None


def cache_dir(sub: str = "") -> Path:
    """The user cache directory (``$FEM_MNN_CACHE``, else ``$XDG_CACHE_HOME/fem_mnn``), not created."""
    env = os.environ.get(CACHE_ENV)
    if env:
        base = Path(env).expanduser()
    else:
        xdg = os.environ.get("XDG_CACHE_HOME")
        base = (Path(xdg).expanduser() if xdg else Path.home() / ".cache") / "fem_mnn"
    return base / sub if sub else base
