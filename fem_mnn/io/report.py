"""Study results as files a person can open: a markdown table, JSON, PNGs.

Every study writes into its own folder (``studies/results/<name>/`` by default):
``results.md`` (tables, the paper's number beside ours), ``results.json`` (all
numbers, with package version, command, seed and design hash) and PNG plots.
Files are written atomically; under MPI only rank 0 should call these.
"""

from __future__ import annotations

import platform
import shlex
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fem_mnn.core.files import atomic_path, atomic_write_json, atomic_write_text
from fem_mnn.core.provenance import provenance
from fem_mnn.core.version import __version__

__all__ = ["StudyReport", "fmt", "markdown_table"]


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


@dataclass
class StudyReport:
    """Collects a study's tables, numbers and figures, then writes them.

    Args:
        name: study name (folder name).
        title: heading of results.md.
        out_dir: folder; default ``studies/results/<name>``.
    """

    name: str
    title: str
    out_dir: Path | None = None
    sections: list[str] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)
    figures: list[str] = field(default_factory=list)
    started: float = field(default_factory=time.time)

    def __post_init__(self) -> None:
        if self.out_dir is None:
            self.out_dir = Path("studies") / "results" / self.name
        self.out_dir = Path(self.out_dir)

    @property
    def _folder(self) -> Path:
        assert self.out_dir is not None  # set by __post_init__
        return self.out_dir

    def text(self, md: str) -> None:
        """Add a paragraph of markdown."""
        self.sections.append(md.strip() + "\n")

    def table(self, caption: str, header: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
        """Add a table with a caption line."""
        self.sections.append(f"**{caption}**\n\n" + markdown_table(header, rows))

    def figure(self, fig: Any, filename: str, caption: str = "", dpi: int = 150) -> Path:
        """Save a matplotlib figure as PNG (atomically) and reference it in results.md."""
        path = self._folder / filename
        with atomic_path(path) as tmp:
            fig.savefig(tmp, dpi=dpi, bbox_inches="tight")
        self.figures.append(filename)
        self.sections.append(f"![{caption or filename}]({filename})\n\n{caption}\n")
        return path

    def write(self) -> Path:
        """Write results.md and results.json; return the folder."""
        command = "python " + " ".join(shlex.quote(a) for a in sys.argv)
        meta = {
            "study": self.name,
            "package_version": __version__,
            "command": command,
            "python": platform.python_version(),
            "wall_time_s": round(time.time() - self.started, 3),
        }
        prov = provenance()
        commit = (prov["commit"] or "no git checkout")[:12] + (
            "" if prov["clean"] in (True, None) else ", modified tree"
        )
        header = f"# {self.title}\n\nMade by `{command}` (fem_mnn {__version__}, commit {commit}, {meta['wall_time_s']} s).\n"
        atomic_write_text(self._folder / "results.md", header + "\n" + "\n".join(self.sections))
        atomic_write_json(self._folder / "results.json", {"meta": meta, **self.data, "provenance": prov})
        return self._folder
