"""Frame model: closed-form cantilever and portal frame, truss limit, Taylor test of the gradient."""

from __future__ import annotations

import numpy as np
import pytest

from fem_mnn.core.errors import InputError
from fem_mnn.design import Design, Geometry, Material, paper_sample
from fem_mnn.learn.losses import MSE
from fem_mnn.spring.frame import FrameModel, FrameOptions, beam_axial_law, beam_gradient, element_matrices
from fem_mnn.spring.network import SpringModel

E, NU, T = 0.55, 0.45, 2.0
PRISMATIC = Geometry(width_min=0.1, width_max=20.0, thin_end_ratio=1.0, junction_radius=1.0)


def rigid_axial(design: Design, widths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """An axially rigid law (for closed forms that neglect axial strain)."""
    return np.full(len(widths), 1e3), np.zeros(len(widths))


def design(nodes, bonds, widths, fixed, geometry=PRISMATIC) -> Design:
    return Design(
        nodes=np.array(nodes, float),
        bonds=np.array(bonds),
        widths=np.array(widths, float),
        thickness=T,
        material=Material(E=E, nu=NU),
        fixed=fixed,
        geometry=geometry,
    )


@pytest.mark.parametrize("shear", [False, True])
def test_cantilever_closed_form(shear):
    Lb, w, P = 30.0, 1.5, 1e-3
    d = design([[0, 0], [Lb, 0]], [[0, 1]], [w], (0,))
    opts = FrameOptions(shear=shear, rigid_hubs=False)
    s = FrameModel(d, options=opts).operator().solve_full(np.array([[0.0, 0.0], [0.0, P]]))
    EI = E * T * w**3 / 12
    kGA = 5 / 6 * E / (2 * (1 + NU)) * T * w
    delta = P * Lb**3 / (3 * EI) + (P * Lb / kGA if shear else 0.0)
    assert s.u[0, 1, 1] == pytest.approx(delta, rel=1e-10)
    assert s.rotation[0, 1] == pytest.approx(P * Lb**2 / (2 * EI), rel=1e-10)
    # axial: E t w / L
    s = FrameModel(d, options=opts).operator().solve_full(np.array([[0.0, 0.0], [P, 0.0]]))
    assert s.u[0, 1, 0] == pytest.approx(P * Lb / (E * T * w), rel=1e-10)


def test_stepped_cantilever_with_rigid_hubs():
    """Thin ends and rigid hub offsets: tip deflection by direct integration of M^2 / EI."""
    g = Geometry(width_min=0.1, width_max=20.0, thin_end_ratio=0.5, bar_to_thin_end=8.0, junction_radius=2.0)
    Lb, w, P = 16.0, 2.0, 1e-3
    d = design([[0, 0], [Lb, 0]], [[0, 1]], [w], (0,), g)
    s = FrameModel(d, options=FrameOptions(shear=False)).operator().solve_full(np.array([[0.0, 0.0], [0.0, P]]))
    lt = (Lb - 4.0) / 10
    delta = 0.0
    for a, b, ws in ((2.0, 2.0 + lt, w / 2), (2.0 + lt, Lb - 2.0 - lt, w), (Lb - 2.0 - lt, Lb - 2.0, w / 2)):
        EI = E * T * ws**3 / 12
        f = [P * (Lb - x) ** 2 / EI for x in (a, (a + b) / 2, b)]
        delta += (b - a) / 6 * (f[0] + 4 * f[1] + f[2])  # Simpson: exact for the quadratic M^2
    assert s.u[0, 1, 1] == pytest.approx(delta, rel=1e-6)


def test_portal_frame_sway_closed_form():
    """Fixed-base portal, axially rigid members: slope-deflection sway stiffness."""
    h, Lb, wc, wb, H = 20.0, 30.0, 1.2, 1.8, 1e-3
    d = design([[0, 0], [0, h], [Lb, h], [Lb, 0]], [[0, 1], [1, 2], [3, 2]], [wc, wb, wc], (0, 3))
    s = (
        FrameModel(d, law=rigid_axial, options=FrameOptions(shear=False, rigid_hubs=False))
        .operator()
        .solve_full(np.array([[0, 0], [H, 0], [0, 0], [0, 0]], float))
    )
    EIc, EIb = E * T * wc**3 / 12, E * T * wb**3 / 12
    # joint rotation theta per unit sway, then lateral stiffness of the two columns
    theta = (6 * EIc / h**2) / (4 * EIc / h + 6 * EIb / Lb)
    k = 2 * (2 * EIc / h**2) * (6 / h - 3 * theta)
    assert s.u[0, 1, 0] == pytest.approx(H / k, rel=1e-6)
    assert s.u[0, 2, 0] == pytest.approx(H / k, rel=1e-6)
    assert s.rotation[0, 1] == pytest.approx(-theta * H / k, rel=1e-6)


def test_truss_limit_is_the_spring_model(paper):
    law = beam_axial_law()
    F = np.zeros((paper.n_nodes, 2))
    F[12, 1] = -0.098
    u_spring = SpringModel(paper, law).solve(F).u
    u_frame = FrameModel(paper, options=FrameOptions(bending_factor=1e-9)).solve(F).u
    assert np.allclose(u_frame, u_spring, rtol=1e-6, atol=1e-9 * np.abs(u_spring).max())


def test_frame_gradient_taylor(paper):
    rng = np.random.default_rng(1)
    w = rng.uniform(1.5, 2.5, paper.n_bonds)
    F = np.zeros((2, paper.n_nodes, 2))
    F[0, 12, 1] = -0.098
    F[1, 10, 0] = 0.05
    tgt = np.full((2, paper.n_nodes, 2), np.nan)
    tgt[:, 13, 1] = -2.0
    tgt[:, 12, 0] = 0.3
    loss = MSE(tgt)
    model = FrameModel(paper)
    L0, g, fwd, adj = model.operator(w).gradient(F, loss)
    dw = rng.normal(size=paper.n_bonds)

    def Lof(x):
        return float(np.mean(loss(model.operator(x).solve(F).u)[0]))

    errs = []
    for h in (1e-2, 5e-3, 2.5e-3):
        errs.append(abs(Lof(w + h * dw) - L0 - h * g.total @ dw))
    # second-order Taylor remainder
    assert errs[1] / errs[0] == pytest.approx(0.25, abs=0.03)
    assert errs[2] / errs[1] == pytest.approx(0.25, abs=0.03)
    central = (Lof(w + 1e-4 * dw) - Lof(w - 1e-4 * dw)) / 2e-4
    assert g.total @ dw == pytest.approx(central, rel=1e-6)
    # parts add up; the axial part is the elongation-only estimate with the frame's axial law
    assert np.allclose(g.axial + g.bending, g.total)
    _, dk = beam_axial_law()(paper, w)
    assert np.allclose(g.axial, dk * np.mean(fwd.elongation * adj.elongation, axis=0))
    # beam_gradient on the frame's own states is the same thing
    bg = beam_gradient(paper, w, fwd.u, fwd.rotation, adj.u, adj.rotation)
    assert np.allclose(bg.total, g.total)


def test_element_matrices_rigid_body_modes():
    d = paper_sample()
    em = element_matrices(d, d.widths)
    K = em.axial + em.bending
    # translation and rotation about node a are zero-energy for every element
    for b, (i, j) in enumerate(d.bonds):
        xa, xb = d.nodes[i], d.nodes[j]
        rot = np.array([0.0, 0.0, 1.0, -(xb - xa)[1], (xb - xa)[0], 1.0])
        for mode in (np.array([1, 0, 0, 1, 0, 0.0]), np.array([0, 1, 0, 0, 1, 0.0]), rot):
            assert np.abs(K[b] @ mode).max() < 1e-12 * np.abs(K[b]).max()
    assert np.allclose(K, np.transpose(K, (0, 2, 1)))


def test_bad_options():
    with pytest.raises(InputError):
        FrameOptions(bending_factor=0.0)
    with pytest.raises(InputError):
        FrameModel(paper_sample()).operator(np.zeros(28))


def test_frame_implements_the_model_interface(paper):
    from fem_mnn.contract import LinearOperator, MechanicalModel

    model = FrameModel(paper)
    assert isinstance(model, MechanicalModel)
    op = model.operator()
    assert isinstance(op, LinearOperator)
    F = np.zeros((paper.n_nodes, 2))
    F[12, 1] = -0.098
    sol = op.solve(F)
    assert sol.u.shape == (1, paper.n_nodes, 2) and sol.elongation.shape == (1, paper.n_bonds)
