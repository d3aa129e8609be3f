"""The ``fem-mnn`` command line.

Every sub-command lives in :mod:`fem_mnn.commands` (one module per command group,
each with ``register(subparsers)``). Bad input ends with a one-line message on
stderr and exit code 2, an engine failure with exit code 3; no traceback is shown
for either.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import shlex
import sys
from collections.abc import Sequence

from fem_mnn.core.errors import EngineError, InputError
from fem_mnn.core.provenance import COMMAND, version_report

__all__ = ["main"]

#: Command modules in help order; each defines ``register(subparsers)``.
COMMAND_MODULES = (
    "run",
    "design",
    "spring",
    "mesh",
    "stl",
    "validate",
    "fem",
    "tolerance",
    "compare",
    "predict",
    "bench",
)


def _rank() -> int:
    """MPI rank of this process (0 outside mpiexec), without importing MPI for it."""
    mpi = sys.modules.get("mpi4py.MPI")
    if mpi is not None:
        with contextlib.suppress(Exception):
            return int(mpi.COMM_WORLD.rank)
    for var in ("PMI_RANK", "OMPI_COMM_WORLD_RANK", "PMIX_RANK"):
        if os.environ.get(var, "").isdigit():
            return int(os.environ[var])
    return 0


def _report(message: str) -> None:
    """An error line on stderr, once per run (rank 0) under mpiexec."""
    if _rank() == 0:
        print(message, file=sys.stderr)


class _Version(argparse.Action):
    """``--version``: the stack, one fact per line (argparse's own action would re-wrap it)."""

    def __call__(self, parser, namespace, values, option_string=None) -> None:  # noqa: ANN001
        print(version_report())
        parser.exit(0)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # argparse exits 2 already; keep it one line
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n" if _rank() == 0 else None)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="fem-mnn",
        description="Mechanical neural networks: spring model, printed-lattice geometry and FEM.",
    )
    parser.add_argument("--version", action=_Version, nargs=0, help="the package, its commit and the library stack")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name in COMMAND_MODULES:
        importlib.import_module(f"fem_mnn.commands.{name}").register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version, or a usage error already reported in one line
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 2)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0 if args.command is None else 2
    limit_before = os.environ.get("FEM_MNN_MAX_MEMORY_GB")
    if getattr(args, "max_memory_gb", None) is not None:  # the FE memory guard reads it (every rank)
        os.environ["FEM_MNN_MAX_MEMORY_GB"] = repr(args.max_memory_gb)
    token = COMMAND.set(" ".join(shlex.quote(a) for a in ["fem-mnn", *(sys.argv[1:] if argv is None else argv)]))
    try:
        return int(args.func(args) or 0)
    except InputError as err:
        _report(f"fem-mnn: error: {err}")
        return 2
    except EngineError as err:
        _report(f"fem-mnn: engine failure: {err}")
        return 3
    except KeyboardInterrupt:
        print("fem-mnn: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # output piped into head & co.
        sys.stderr.close()
        return 0
    finally:
        COMMAND.reset(token)
        if limit_before is None:  # main() may run in a process that goes on (tests, notebooks)
            os.environ.pop("FEM_MNN_MAX_MEMORY_GB", None)
        else:
            os.environ["FEM_MNN_MAX_MEMORY_GB"] = limit_before


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
