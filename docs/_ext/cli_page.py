"""Sphinx extension: the command-line page, generated from ``fem_mnn.cli.build_parser``.

At ``builder-inited`` it writes ``docs/cli.md`` (not committed: ``.gitignore``) with the
``--help`` of ``fem-mnn`` and of every sub-command, walked from the parser itself, so the
page cannot drift from what the command accepts.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

__all__ = ["setup", "write_cli_page"]

_HEADER = """# Command line

Generated from the argparse parsers of `fem_mnn.cli` at every build of this site: each
section is exactly the command's `--help`. Exit codes are listed at the end of the first one;
every failure ends with one line on stderr naming the file or option, the field and the value.
The two commands most people need are `./run` (= `fem-mnn run`, the main job) and
`./run tests` ([getting started](getting-started.md)).
"""


def _subcommands(parser: argparse.ArgumentParser) -> list[tuple[str, argparse.ArgumentParser]]:
    """The (name, parser) of each direct sub-command, in the order they were registered."""
    out: list[tuple[str, argparse.ArgumentParser]] = []
    for action in parser._actions:  # argparse keeps sub-parsers only here
        if isinstance(action, argparse._SubParsersAction):
            seen: set[int] = set()
            for name, sub in action.choices.items():
                if id(sub) not in seen:  # an alias maps to the same parser
                    seen.add(id(sub))
                    out.append((name, sub))
    return out


def _sections(parser: argparse.ArgumentParser, depth: int) -> list[str]:
    """One Markdown section per (sub-)command, depth-first."""
    title = "#" * min(depth, 6)
    text = [f"{title} `{parser.prog}`\n", "```text", parser.format_help().rstrip(), "```\n"]
    for _name, sub in _subcommands(parser):
        text.extend(_sections(sub, depth + 1))
    return text


def write_cli_page(target: Path) -> None:
    """Write the command-line page to ``target`` (only when its text changed)."""
    from fem_mnn.cli import build_parser

    os.environ["COLUMNS"] = "100"  # argparse wraps to the terminal: fix it so the page is reproducible
    body = _HEADER + "\n" + "\n".join(_sections(build_parser(), 2)) + "\n"
    if not target.exists() or target.read_text() != body:
        target.write_text(body)


def _on_builder_inited(app: Any) -> None:
    write_cli_page(Path(app.srcdir) / "cli.md")


def setup(app: Any) -> dict[str, Any]:
    """Register the page writer."""
    app.connect("builder-inited", _on_builder_inited)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
