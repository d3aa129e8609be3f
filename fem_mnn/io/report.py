"""Numbers as text a person reads: compact number formatting and markdown tables.

Used by ``fem-mnn compare`` and the studies (whose pages are templates filled from their
results, ``studies/_common.py``).
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["fmt", "markdown_table"]


def fmt(x: object, digits: int = 4) -> str:
    """Format numbers compactly for tables (other values with ``str``)."""
    if isinstance(x, bool) or x is None:
        return str(x)
    if isinstance(x, int):
        return str(x)
    if isinstance(x, float):
        if x == 0:
            return "0"
        ax = abs(x)
        if 1e-3 <= ax < 1e5:
            return f"{x:.{digits}g}"
        return f"{x:.{digits - 1}e}"
    return str(x)


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A GitHub-flavoured markdown table."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(fmt(c) for c in r) + " |" for r in rows]
    return "\n".join(lines) + "\n"
