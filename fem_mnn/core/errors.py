"""Exceptions shared by every stage.

Bad input raises :class:`InputError` (the CLI turns it into a one-line message and
exit code 2); a failure of an engine (gmsh, PETSc/MUMPS, Newton) raises
:class:`EngineError` (exit code 3).
"""

from __future__ import annotations

__all__ = ["EngineError", "FemMnnError", "InputError"]


class FemMnnError(Exception):
    """Base class of the package's own errors."""


class InputError(FemMnnError, ValueError):
    """Bad input: names where (file), what (field) and the offending value.

    Args:
        message: What is wrong, in one line.
        source: The file (or command-line option) the input came from.
        field: The field inside it, e.g. ``bonds[3]``.
        value: The offending value (shown with ``repr``, shortened).
    """

    def __init__(
        self,
        message: str,
        *,
        source: str | None = None,
        field: str | None = None,
        value: object = None,
        has_value: bool | None = None,
    ) -> None:
        self.source = source
        self.field = field
        self.value = value
        self.reason = message
        show_value = has_value if has_value is not None else value is not None
        parts = []
        if source:
            parts.append(str(source))
        if field:
            parts.append(field)
        where = ": ".join(parts)
        text = f"{where}: {message}" if where else message
        if show_value:
            v = repr(value)
            if len(v) > 80:
                v = v[:77] + "..."
            text += f" (got {v})"
        super().__init__(text)

    def with_source(self, source: str) -> InputError:
        """The same error, attributed to ``source`` (a file name)."""
        return InputError(
            self.reason,
            source=source,
            field=self.field,
            value=self.value,
            has_value=self.value is not None,
        )


class EngineError(FemMnnError, RuntimeError):
    """A numerical engine (gmsh, PETSc, MUMPS, SNES) failed; the message says why."""
