"""Many load cases of a linear model by superposition of unit loads: ``u(sum_d f_d e_d) = sum_d f_d u(e_d)``.

A task's loads often sit on a few degrees of freedom (Iris: 4 input dofs; regression: 2),
while a batch or an end-of-epoch evaluation has many cases. :class:`LoadBasisModel` wraps a
linear model so that its operators solve the unit loads of the loaded dofs once and combine
them, when a batch has more cases than such dofs (fewer solves; the same answer to round-off).
Loads on fixed nodes are reactions, ignored by the direct solve and by the combination alike.

The wrapper works on any linear :class:`~fem_mnn.contract.MechanicalModel` whose operators
return node displacements from ``solve``; it imports no FE library. Gradients that need each
case's field (the exact shape gradient of :class:`~fem_mnn.fem.morph.MorphingFemModel`) get
the wrapped operator; the in situ rule needs node displacements only, so its forward and
adjoint solves go through the unit loads too (the adjoint loads sit on the output dofs).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from fem_mnn.contract import Backprop, Solution, as_cases, backprop_operator, elongations

__all__ = ["LoadBasisModel", "LoadBasisOperator", "solve_by_load_basis"]


def solve_by_load_basis(op: Any, design: Any, loads: np.ndarray) -> Solution:
    """``op.solve(loads)``, by superposition of unit-load solutions when there are more cases than loaded dofs.

    Args:
        op: A factorised linear operator (``op.solve(loads) -> Solution``).
        design: Its design (node count, bonds for the elongations).
        loads: (n_cases, n_nodes, 2) or (n_nodes, 2) nodal forces (N).

    Returns:
        Node displacements and elongations of every case.
    """
    n = design.n_nodes
    f = as_cases(loads, n).reshape(-1, 2 * n)
    dofs = np.flatnonzero(np.any(f != 0.0, axis=0))
    if f.shape[0] <= dofs.size:  # no fewer solves by the basis: solve directly
        return op.solve(f.reshape(-1, n, 2))
    unit = np.zeros((dofs.size, 2 * n))
    unit[np.arange(dofs.size), dofs] = 1.0
    u_unit = op.solve(unit.reshape(-1, n, 2)).u
    u = np.einsum("cd,dnk->cnk", f[:, dofs], u_unit)
    return Solution(u=u, elongation=elongations(u, design))


class LoadBasisOperator:
    """An operator whose :meth:`solve` goes through :func:`solve_by_load_basis`; every other attribute is ``op``'s.

    Args:
        op: The wrapped operator (kept as :attr:`op`).
        design: Its design.
    """

    def __init__(self, op: Any, design: Any) -> None:
        self.op = op
        self._design = design

    def __getattr__(self, name: str) -> Any:
        return getattr(self.op, name)

    def solve(self, loads: np.ndarray) -> Solution:
        """Node displacements and elongations of every case (by the unit loads when that saves solves)."""
        return solve_by_load_basis(self.op, self._design, loads)


class LoadBasisModel:
    """A linear model whose operators solve many cases by superposition (:class:`LoadBasisOperator`).

    Args:
        model: The wrapped model (kept as :attr:`model`); every attribute not defined here is its.
    """

    def __init__(self, model: Any) -> None:
        self.model = model
        self.design = model.design

    def __getattr__(self, name: str) -> Any:
        return getattr(self.model, name)

    def operator(self, widths: np.ndarray | None = None) -> LoadBasisOperator:
        """The wrapped model's operator for ``widths``, solving by the load basis."""
        return LoadBasisOperator(self.model.operator(widths), self.design)

    def backprop_operator(self, op: LoadBasisOperator, loads: np.ndarray, loss: Any) -> Backprop:
        """The wrapped model's gradient (the in situ rule for a model without its own).

        The in situ rule sees node displacements only, so it solves through the load basis; a
        gradient of another kind (``model.gradient != "insitu"``: the exact shape gradient) gets
        the wrapped operator, whose fields it needs.
        """
        own = getattr(self.model, "backprop_operator", None)
        if own is None:
            return backprop_operator(op, loads, loss)
        return own(op if getattr(self.model, "gradient", "insitu") == "insitu" else op.op, loads, loss)
