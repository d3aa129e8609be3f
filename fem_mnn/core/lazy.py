"""Lazy exports of a stage package: its public names, imported from their modules on first use.

A stage's ``__init__`` lists what it offers as ordinary imports under
``if TYPE_CHECKING:`` (so type checkers, editors and ruff see real names) and a
literal ``__all__``, then installs the module ``__getattr__`` (PEP 562) made here::

    from typing import TYPE_CHECKING

    from fem_mnn.core.lazy import lazy_exports

    if TYPE_CHECKING:
        from fem_mnn.fem.linear import FemModel

    __all__ = ["FemModel"]
    __getattr__, __dir__ = lazy_exports(__name__)

At run time the ``TYPE_CHECKING`` block does not run; the first ``fem_mnn.fem.FemModel``
reads that block of the package's source to learn where ``FemModel`` lives, imports
``fem_mnn.fem.linear`` and keeps the value. So ``import fem_mnn.fem`` alone imports
neither DOLFINx nor gmsh, importing one module of a stage does not import the rest of
it, and the list of names has one source: the import block (``tests/test_public_api.py``
checks that ``__all__`` matches it).
"""

from __future__ import annotations

import ast
import importlib
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = ["lazy_exports", "type_checking_imports"]


def type_checking_imports(source: str, package: str) -> dict[str, str]:
    """Name -> defining module of every ``from M import name`` under ``if TYPE_CHECKING:``.

    Args:
        source: Python source of a package's ``__init__``.
        package: The package's dotted name (relative imports are resolved against it).

    Returns:
        The bound name (``as`` name if any) -> absolute module name, in source order.
    """
    out: dict[str, str] = {}
    for node in ast.parse(source).body:
        if not (isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING"):
            continue
        for stmt in node.body:
            if isinstance(stmt, ast.ImportFrom):
                base = package.split(".")[: len(package.split(".")) - (stmt.level - 1)] if stmt.level else []
                module = ".".join(base + ([stmt.module] if stmt.module else []))
                for alias in stmt.names:
                    out[alias.asname or alias.name] = module
    return out


def lazy_exports(package: str) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """The module ``__getattr__`` and ``__dir__`` of ``package``, from its ``TYPE_CHECKING`` imports.

    Args:
        package: ``__name__`` of the package (its module must already be in ``sys.modules``,
            as it is while its ``__init__`` runs).

    Returns:
        ``(__getattr__, __dir__)`` to assign at the end of the package's ``__init__``.
    """
    table: dict[str, str] | None = None

    def where() -> dict[str, str]:
        # parsed on first use, not at import: ``import fem_mnn.fem`` costs nothing
        nonlocal table
        if table is None:
            init = sys.modules[package].__file__
            table = type_checking_imports(Path(init).read_text(encoding="utf-8"), package) if init else {}
        return table

    def __getattr__(name: str) -> Any:
        if name.startswith("__"):  # probes such as __wrapped__ or __path__ lookups: never lazy
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        module = where().get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module), name)
        setattr(sys.modules[package], name, value)  # later look-ups skip __getattr__
        return value

    def __dir__() -> list[str]:
        return sorted(set(vars(sys.modules[package])) | set(where()))

    return __getattr__, __dir__
