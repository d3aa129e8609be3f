"""The ``fem-mnn`` command line.

Every sub-command lives in :mod:`fem_mnn.commands` (one module per command group,
each with ``register(subparsers)``). Exit codes (:data:`EXIT_CODES`): 0 success, 1 a
design that loads but fails a check (``validate``), 2 bad input, 3 engine failure,
4 internal error (a bug: any other exception), 130 interrupted. Every failure ends
with one line on stderr; no traceback is ever shown: an internal error writes its
traceback to a log file and names it.
"""

from __future__ import annotations

import argparse
import importlib
import os
import platform
import re
import shlex
import sys
import tempfile
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

from fem_mnn.core.errors import EngineError, InputError
from fem_mnn.core.mpi import process_rank
from fem_mnn.core.provenance import COMMAND, version_report
from fem_mnn.core.signals import terminate_as_interrupt

__all__ = ["EXIT_CODES", "main"]

#: Exit codes of every command (also in ``fem-mnn --help`` and the README).
EXIT_CODES = {
    0: "success",
    1: "a design that loads but fails a check (validate)",
    2: "bad input (one line naming the file or option, field and value; nothing written)",
    3: "engine failure (gmsh, MUMPS, Newton)",
    4: "internal error, a bug (one line naming it and the log file holding the traceback)",
    130: "interrupted (Ctrl-C or SIGTERM)",
}

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
    "identify",
    "bench",
)


def _report(message: str) -> None:
    """An error line on stderr, once per run (rank 0) under mpiexec."""
    if process_rank() == 0:
        print(message, file=sys.stderr)


class _Version(argparse.Action):
    """``--version``: the stack, one fact per line (argparse's own action would re-wrap it)."""

    def __call__(self, parser, namespace, values, option_string=None) -> None:  # noqa: ANN001
        print(version_report())
        parser.exit(0)


class _Parser(argparse.ArgumentParser):
    def __init__(self, *args, **kwargs) -> None:  # noqa: ANN002, ANN003 - argparse's own signature
        super().__init__(*args, **kwargs)
        # a value such as -1e+16, -inf or -nan is a (negative) number, not an unknown option: argparse's
        # own pattern knows only -12 and -1.5, and "--width-sd -inf" ended in "expected one argument"
        self._negative_number_matcher = re.compile(r"^-(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$|^-(?i:inf|infinity|nan)$")

    def error(self, message: str) -> NoReturn:  # argparse exits 2 already; keep it one line
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n" if process_rank() == 0 else None)


def build_parser() -> argparse.ArgumentParser:
    """The ``fem-mnn`` parser with every sub-command registered (the docs' command-line page walks it)."""
    parser = _Parser(
        prog="fem-mnn",
        description="Mechanical neural networks: spring model, printed-lattice geometry and FEM.",
        epilog="exit codes:\n" + "\n".join(f"  {code:<4d} {text}" for code, text in EXIT_CODES.items()),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action=_Version, nargs=0, help="the package, its commit and the library stack")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name in COMMAND_MODULES:
        importlib.import_module(f"fem_mnn.commands.{name}").register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``fem-mnn ARGV`` (``sys.argv[1:]`` when None); returns the exit code (see :data:`EXIT_CODES`)."""
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
        with terminate_as_interrupt():  # SIGTERM as Ctrl-C: exit 130, never PETSc's MPI_Abort
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
    except Exception as exc:  # a bug: one line and the traceback in a log, never a bare traceback
        _report(f"fem-mnn: internal error: {_one_line(exc)}; {_traceback_log(exc, args)}")
        return 4
    finally:
        COMMAND.reset(token)
        if limit_before is None:  # main() may run in a process that goes on (tests, notebooks)
            os.environ.pop("FEM_MNN_MAX_MEMORY_GB", None)
        else:
            os.environ["FEM_MNN_MAX_MEMORY_GB"] = limit_before


def _one_line(exc: BaseException, limit: int = 300) -> str:
    """``Type: message`` of an exception on one line (whitespace collapsed, shortened)."""
    text = " ".join(str(exc).split())
    if len(text) > limit:
        text = text[: limit - 3] + "..."
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _traceback_log(exc: BaseException, args: argparse.Namespace) -> str:
    """Write the traceback of ``exc`` to a log (rank 0) and say where, for the error line.

    The log goes into the command's ``--out`` folder when it is an existing folder (beside
    the run it belongs to), else into the temporary folder (``$TMPDIR``), named after the
    process id so that concurrent runs do not overwrite each other's.
    """
    if process_rank() != 0:
        return "the traceback is in rank 0's log"
    from fem_mnn.core.files import atomic_write_text
    from fem_mnn.core.version import __version__

    name = f"fem-mnn-{os.getpid()}-traceback.log"
    out = getattr(args, "out", None)
    folders = [Path(out)] if isinstance(out, (str, Path)) and str(out) and Path(out).is_dir() else []
    folders.append(Path(tempfile.gettempdir()))
    text = (
        f"command: {COMMAND.get()}\n"
        f"fem_mnn {__version__}, Python {platform.python_version()}, {platform.platform()}\n\n"
        + "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    )
    why = ""
    for folder in folders:
        try:
            path = atomic_write_text(folder / name, text)
        except Exception as err:  # noqa: BLE001 - an unwritable folder: try the next one
            why = _one_line(err)
            continue
        return f"this is a bug: please report it with the traceback in {path}"
    return f"this is a bug: please report it (the traceback could not be written: {why})"


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
