"""The package version, read from the installed distribution's metadata (one source: pyproject.toml)."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

__all__ = ["__version__"]

try:
    __version__ = version("fem_mnn")
except PackageNotFoundError:  # imported from a source tree that was never installed
    __version__ = "0+unknown"
