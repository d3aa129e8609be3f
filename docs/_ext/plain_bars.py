"""Sphinx extension: ``|x|`` in a docstring is an absolute value or a norm, not a substitution.

The package's docstrings are prose with mathematical notation (``|u|``, ``|F|``, ``|s pred -
meas|``) and define no reStructuredText substitutions, so every bar outside inline literals is
escaped before autodoc hands the docstring to docutils (which would otherwise report an
undefined substitution for each).
"""

from __future__ import annotations

import re
from typing import Any

__all__ = ["escape_bars", "setup"]

_LITERAL = re.compile(r"(``.*?``|`[^`]*`)")


def escape_bars(line: str) -> str:
    """The line with each ``|`` outside inline literals and roles escaped (table rows left alone)."""
    stripped = line.strip()
    if stripped.startswith("+-") or (len(stripped) > 1 and stripped[0] == stripped[-1] == "|"):
        return line  # a grid-table row or border: bars are its syntax
    parts = _LITERAL.split(line)
    return "".join(p if i % 2 else p.replace("|", r"\|") for i, p in enumerate(parts))


def _process(app: Any, what: str, name: str, obj: Any, options: Any, lines: list[str]) -> None:
    if not name.startswith("fem_mnn"):
        return
    lines[:] = [escape_bars(line) for line in lines]


def setup(app: Any) -> dict[str, Any]:
    """Register the docstring filter."""
    app.connect("autodoc-process-docstring", _process)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
