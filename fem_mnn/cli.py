"""The ``fem-mnn`` command line.

Every sub-command lives in :mod:`fem_mnn.commands` (one module per command group,
each with ``register(subparsers)``). Bad input ends with a one-line message on
stderr and exit code 2, an engine failure with exit code 3; no traceback is shown
for either.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from fem_mnn import __version__
from fem_mnn.errors import EngineError, InputError

__all__ = ["main"]

#: Command modules in help order; each defines ``register(subparsers)``.
COMMAND_MODULES = ("run", "design", "spring", "mesh", "stl", "validate", "fem", "compare")


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # argparse exits 2 already; keep it one line
        self.print_usage(sys.stderr)
        self.exit(2, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="fem-mnn",
        description="Mechanical neural networks: spring model, printed-lattice geometry and FEM.",
    )
    parser.add_argument("--version", action="version", version=f"fem-mnn {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name in COMMAND_MODULES:
        try:
            mod = importlib.import_module(f"fem_mnn.commands.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"fem_mnn.commands.{name}":
                continue  # command group not built yet
            raise
        mod.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0 if args.command is None else 2
    try:
        return int(args.func(args) or 0)
    except InputError as err:
        print(f"fem-mnn: error: {err}", file=sys.stderr)
        return 2
    except EngineError as err:
        print(f"fem-mnn: engine failure: {err}", file=sys.stderr)
        return 3
    except KeyboardInterrupt:
        print("fem-mnn: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # output piped into head & co.
        sys.stderr.close()
        return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
