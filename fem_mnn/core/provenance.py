"""Which code, which libraries and which command made a result: one block for every JSON the package writes.

:func:`provenance` is the only builder. It reads versions from the installed
distributions' metadata (it never imports DOLFINx or gmsh to ask them) and the git
commit of the checkout the package runs from, if any.
"""

from __future__ import annotations

import contextvars
import ctypes
import functools
import hashlib
import platform
import shlex
import subprocess
import sys
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from fem_mnn.core.paths import checkout_root
from fem_mnn.core.version import __version__

__all__ = [
    "COMMAND",
    "blas_kernels",
    "git_state",
    "library_versions",
    "lock_sha256",
    "provenance",
    "sha256_file",
    "version_report",
]

#: The command line being run, set by ``fem_mnn.cli.main`` (``fem-mnn ARGS``); else ``sys.argv``.
COMMAND: contextvars.ContextVar[str | None] = contextvars.ContextVar("fem_mnn_command", default=None)

#: distribution names whose versions are recorded (the first installed name of each group wins)
_LIBRARIES = {
    "dolfinx": ("fenics-dolfinx", "dolfinx-solver-real"),
    "petsc4py": ("petsc4py", "dolfinx-solver-real"),
    "gmsh": ("gmsh",),
    "numpy": ("numpy",),
    "scipy": ("scipy",),
    "ufl": ("fenics-ufl",),
    "mpi4py": ("mpi4py",),
}


def sha256_file(path: str | Path) -> str:
    """SHA-256 (hex) of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


@functools.cache
def git_state() -> dict[str, Any]:
    """``{"commit": sha or None, "clean": bool or None}`` of the checkout the package runs from."""
    root = checkout_root()
    if root is None or not (root / ".git").exists():
        return {"commit": None, "clean": None}
    try:
        sha = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            # the code only: results written by other studies in the same checkout are not the code
            [
                "git",
                "-C",
                str(root),
                "status",
                "--porcelain",
                "--untracked-files=no",
                "--",
                "fem_mnn",
                "studies",
                ":(exclude)studies/results",
            ],  # fmt: skip
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return {"commit": None, "clean": None}
    return {"commit": sha, "clean": dirty == ""}


@functools.cache
def lock_sha256() -> str | None:
    """SHA-256 of the checkout's ``requirements.lock`` (None for an installed package)."""
    root = checkout_root()
    lock = root / "requirements.lock" if root is not None else None
    return sha256_file(lock) if lock is not None and lock.is_file() else None


def version_report() -> str:
    """``fem-mnn --version``: the package, its commit and the library stack."""
    g = git_state()
    commit = "not a git checkout" if g["commit"] is None else g["commit"][:12] + ("" if g["clean"] else " (modified)")
    libs = ", ".join(f"{k} {v}" for k, v in library_versions().items() if v is not None)
    lock = lock_sha256()
    return f"fem-mnn {__version__} ({commit})\n{libs}" + (f"\nrequirements.lock sha256 {lock[:16]}" if lock else "")


@functools.cache
def library_versions() -> dict[str, str | None]:
    """Installed versions of the libraries that make the numbers (None where absent)."""
    out: dict[str, str | None] = {"python": platform.python_version()}
    for key, dists in _LIBRARIES.items():
        out[key] = None
        for d in dists:
            try:
                out[key] = f"{version(d)}" if d == dists[0] else f"{version(d)} ({d})"
                break
            except PackageNotFoundError:
                continue
    return out


#: OpenBLAS builds bundled by numpy and scipy wheels: (package, library folder, symbol suffix)
_OPENBLAS = (("numpy", "numpy.libs", "64_"), ("scipy", "scipy.libs", ""))


@functools.cache
def blas_kernels() -> dict[str, str | None]:
    """The OpenBLAS kernel (core name, e.g. ``Haswell``) that numpy's and scipy's bundled OpenBLAS picked.

    OpenBLAS chooses its kernels per processor at load time (``OPENBLAS_CORETYPE`` overrides it), and
    another kernel rounds differently: results that amplify rounding (long training runs) are
    reproducible only on the same kernel, so the kernel belongs to a result's provenance. Read
    through each wheel's own library (``scipy_openblas_get_corename``); ``None`` where a build has no
    bundled OpenBLAS (conda's numpy, MKL) or the name cannot be read. Never imports scipy.
    """
    out: dict[str, str | None] = {}
    site = Path(str(__import__("numpy").__file__)).resolve().parent.parent
    for pkg, folder, suffix in _OPENBLAS:
        out[pkg] = None
        for so in sorted((site / folder).glob("libscipy_openblas*.so*")):
            try:
                fn = getattr(ctypes.CDLL(str(so)), f"scipy_openblas_get_corename{suffix}")
            except (OSError, AttributeError):
                continue
            fn.restype = ctypes.c_char_p
            name = fn()
            out[pkg] = name.decode() if name else None
            break
    return out


def provenance(*, mpi_size: int | None = None, data_files: dict[str, str] | None = None) -> dict[str, Any]:
    """The provenance block: package version, git commit and clean flag, library versions, command line.

    Args:
        mpi_size: number of MPI ranks that computed the result (None: not an MPI computation).
        data_files: name -> SHA-256 of every data file read.
    """
    block: dict[str, Any] = {"package": "fem_mnn", "version": __version__, **git_state()}
    block["libraries"] = library_versions()
    block["lock_sha256"] = lock_sha256()
    block["blas_kernels"] = blas_kernels()
    block["command"] = COMMAND.get() or " ".join(shlex.quote(a) for a in sys.argv)
    if mpi_size is None and "mpi4py.MPI" in sys.modules:  # never import MPI just to ask
        mpi_size = sys.modules["mpi4py.MPI"].COMM_WORLD.size
    if mpi_size is not None:
        block["mpi_size"] = int(mpi_size)
    if data_files:
        block["data_files"] = dict(data_files)
    return block
