"""Writing result files so that nothing is ever half written.

Every output goes to a temporary name in the destination folder and is moved into
place with :func:`os.replace` (atomic on POSIX): a reader, or a run interrupted at
any point, sees either the old file or the new one.

Under MPI only rank 0 writes; these helpers are meant to be called on rank 0.
"""

from __future__ import annotations

import contextlib
import json
import os
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from fem_mnn.core.errors import InputError
from fem_mnn.core.provenance import provenance as _provenance

__all__ = [
    "atomic_savefig",
    "atomic_path",
    "atomic_write_bytes",
    "atomic_write_json",
    "atomic_write_text",
    "to_jsonable",
]


@contextlib.contextmanager
def atomic_path(path: str | Path, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; move it onto ``path`` on success.

    On an exception the temporary file is removed and ``path`` is untouched. The
    temporary name keeps the extension of ``path`` (or ``suffix``), so writers
    that choose a format by extension (gmsh, meshio) work unchanged.
    """
    path = Path(path)
    ext = suffix if suffix is not None else "".join(path.suffixes[-1:])
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.stem[:64]}.", suffix=f".tmp{ext[:16]}", dir=path.parent)
    except (OSError, ValueError) as exc:  # parent is a file, no permission, name too long, NUL byte
        raise InputError(f"cannot write the file ({_why(exc)})", source=str(path)) from None
    os.close(fd)
    tmp_path = Path(tmp)
    os.chmod(tmp_path, _file_mode(path))  # mkstemp makes 0600 files; keep the mode a plain open() would give
    try:
        try:
            yield tmp_path
            _fsync(tmp_path)  # whatever wrote it (ours, gmsh, meshio, matplotlib): on disk before the rename
            os.replace(tmp_path, path)
        except OSError as exc:  # disk full, quota; the target is a directory, or its name is too long
            raise InputError(f"cannot write the file ({_why(exc)})", source=str(path)) from None
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp_path.unlink()
        raise


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _file_mode(path: Path) -> int:
    """The mode of the file being replaced, or the default for a new file (0666 minus the umask)."""
    try:
        return stat.S_IMODE(os.stat(path).st_mode)
    except OSError:
        umask = os.umask(0o022)
        os.umask(umask)
        return 0o666 & ~umask


def _why(exc: BaseException) -> str:
    if isinstance(exc, (FileExistsError, NotADirectoryError)):
        return "a parent folder is a file"
    return getattr(exc, "strerror", None) or exc.__class__.__name__


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (fsync before the rename)."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def atomic_write_text(path: str | Path, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    return atomic_write_bytes(path, text.encode())


def to_jsonable(obj: Any) -> Any:
    """Convert numpy arrays and scalars (recursively) into JSON types."""
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return to_jsonable(obj.tolist())
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, float) and not np.isfinite(obj):
        return None if np.isnan(obj) else ("inf" if obj > 0 else "-inf")
    return obj


def atomic_write_json(path: str | Path, data: Any, indent: int | None = 1, *, provenance: bool = True) -> Path:
    """Write ``data`` as JSON atomically; numpy values are converted.

    A dictionary gets the :func:`fem_mnn.core.provenance.provenance` block under
    ``"provenance"`` (unless it has one, or ``provenance=False`` for caches that are
    read back as records).
    """
    if provenance and isinstance(data, dict) and "provenance" not in data:
        data = {**data, "provenance": _provenance()}
    return atomic_write_text(path, json.dumps(to_jsonable(data), indent=indent) + "\n")


def atomic_savefig(fig: Any, path: str | Path, **kwargs: Any) -> Path:
    """Save a matplotlib figure atomically (PNG unless the extension says otherwise)."""
    path = Path(path)
    kwargs.setdefault("format", path.suffix.lstrip(".") or "png")
    with atomic_path(path) as tmp:
        fig.savefig(tmp, **kwargs)
    return path
