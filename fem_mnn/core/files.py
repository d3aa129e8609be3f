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
    "read_input_text",
    "atomic_savefig",
    "atomic_path",
    "atomic_write_bytes",
    "atomic_write_json",
    "atomic_write_text",
    "compact_json",
    "to_jsonable",
]


def read_input_text(path: str | Path) -> str:
    """The text (UTF-8) of an input file; a missing or unreadable file is an InputError naming it.

    Unreadable covers a directory, permissions, a name too long, a NUL byte in the name and
    bytes that are not UTF-8.
    """
    try:
        return Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError("no such file", source=str(path)) from None
    except (OSError, ValueError) as exc:
        raise InputError(f"cannot read the file ({exc.__class__.__name__})", source=str(path)) from None


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


def _no_negative_zero(obj: Any) -> Any:
    if isinstance(obj, float):
        return 0.0 if obj == 0.0 else obj
    if isinstance(obj, dict):
        return {k: _no_negative_zero(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_no_negative_zero(v) for v in obj]
    return obj


def compact_json(data: Any, width: int = 100, *, negative_zero: bool = False, _indent: int = 0) -> str:
    """JSON for people: short values on one line, long ones one entry per line.

    A value that fits in ``width`` characters stays on one line, larger
    objects and lists get one entry per line (a list of 25 nodes is 25 lines, not 75); a
    list of numbers is packed several to a line. ``-0.0`` is written ``0.0`` unless
    ``negative_zero`` keeps it (design files: the design hash is computed from the values,
    so a round trip must keep every bit). Floats keep their shortest round-trip form.
    """
    if _indent == 0:
        data = to_jsonable(data) if negative_zero else _no_negative_zero(to_jsonable(data))
    one = json.dumps(data, separators=(", ", ": "))
    if len(one) + _indent <= width or not isinstance(data, (dict, list)) or not data:
        return one
    pad = " " * (_indent + 1)
    if isinstance(data, dict):
        items = [
            f"{pad}{json.dumps(k)}: {compact_json(v, width, negative_zero=True, _indent=_indent + 1).lstrip()}"
            for k, v in data.items()
        ]
        return "{\n" + ",\n".join(items) + "\n" + " " * _indent + "}"
    flat = [json.dumps(v, separators=(", ", ": ")) for v in data]
    small = all(not isinstance(v, dict) and (not isinstance(v, list) or not any(isinstance(x, (dict, list)) for x in v))
                for v in data) and max(map(len, flat)) <= 40  # fmt: skip
    if small:  # numbers, or short lists of numbers (nodes, bonds): as many per line as fit
        lines, line = [], ""
        for v in flat:
            if line and len(pad) + len(line) + len(v) + 2 > width:
                lines.append(line + ",")
                line = ""
            line = f"{line}, {v}" if line else v
        lines.append(line)
        return "[\n" + "\n".join(pad + ln for ln in lines) + "\n" + " " * _indent + "]"
    items = [pad + compact_json(v, width, negative_zero=True, _indent=_indent + 1) for v in data]
    return "[\n" + ",\n".join(items) + "\n" + " " * _indent + "]"


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
