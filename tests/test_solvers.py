"""Direct (MUMPS) and iterative (CG + P2/P1 p-multigrid, or GAMG) solvers agree: displacements and gradients to 1e-8, 2D and 3D, morphing, 2 ranks."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import need_dolfinx, run_cli

need_dolfinx()

from mpi4py import MPI  # noqa: E402

from fem_mnn.core.errors import InputError  # noqa: E402
from fem_mnn.design.files import save_design  # noqa: E402
from fem_mnn.fem import solvers  # noqa: E402
from fem_mnn.fem.linear import FemModel, FemOptions, stiffness_factor_gradient  # noqa: E402
from fem_mnn.fem.morph import MorphingFemModel  # noqa: E402
from fem_mnn.fem.shape import shape_width_gradient  # noqa: E402
from fem_mnn.geometry.build import MeshOptions  # noqa: E402

pytestmark = pytest.mark.fem

sys.path.insert(0, str(Path(__file__).resolve().parent))
import mpi_shape_case  # noqa: E402

TOL = 1e-8


def _rel(a, b) -> float:
    a, b = np.asarray(a, float), np.asarray(b, float)
    return float(np.max(np.abs(a - b)) / np.max(np.abs(a)))


def _gradients(design, f, loss, dim, kind, ea=2, po=()):
    opts = FemOptions(dim=dim, mesh=MeshOptions(dim=dim, elements_across=ea), linear_solver=kind, petsc_options=po)
    op = FemModel(design, opts, comm=MPI.COMM_SELF).operator()
    sg = shape_width_gradient(op, f, loss)
    th = stiffness_factor_gradient(op, f, loss, solved=(sg.forward, sg.adjoint))
    return op, sg, th


@pytest.mark.parametrize(("dim", "pc"), [(2, "mg"), (2, "gamg"), pytest.param(3, "mg", marks=pytest.mark.slow)])
def test_iterative_matches_direct(dim, pc):
    d = mpi_shape_case.case_design()
    f, loss = mpi_shape_case.case_problem(d)
    ea = 2 if dim == 2 else 1
    po = (("pc_type", "gamg"),) if pc == "gamg" else ()  # the P2 default is the p-multigrid (mg)
    opd, sgd, thd = _gradients(d, f, loss, dim, "direct", ea)
    opi, sgi, thi = _gradients(d, f, loss, dim, "iterative", ea, po)
    assert opd.linear_solver == "direct" and opi.linear_solver == "iterative"
    assert opi.ksp.getType() == "cg" and opi.ksp.getPC().getType() == pc
    assert _rel(sgd.forward.u, sgi.forward.u) < TOL
    assert _rel(sgd.forward.elongation, sgi.forward.elongation) < TOL
    assert _rel(sgd.adjoint.u, sgi.adjoint.u) < TOL
    assert abs(sgd.loss - sgi.loss) <= TOL * abs(sgd.loss)
    assert _rel(sgd.grad_w, sgi.grad_w) < TOL  # exact width gradient (shape derivative)
    assert _rel(thd.bond, thi.bond) < TOL  # exact stiffness-factor gradient
    # one preconditioner setup, one forward and one adjoint solve per case
    assert opi.n_factorisations == 1 and opi.n_solves == 2 * f.shape[0] == len(opi.iterations)


def test_morphing_with_iterative_solver():
    d = mpi_shape_case.case_design()
    f, loss = mpi_shape_case.case_problem(d)
    w1 = d.widths + np.linspace(-0.2, 0.2, d.n_bonds)
    out = {}
    for kind in ("direct", "iterative"):
        m = MorphingFemModel(d, FemOptions(mesh=MeshOptions(elements_across=2, size=0.5), linear_solver=kind))
        shape_width_gradient(m.operator(d.widths), f, loss)
        op = m.operator(w1)
        assert m.n_meshes == 1 and m.n_morphs >= 1 and op.n_factorisations == 1
        out[kind] = shape_width_gradient(op, f, loss)
    assert _rel(out["direct"].grad_w, out["iterative"].grad_w) < TOL
    assert _rel(out["direct"].forward.u, out["iterative"].forward.u) < TOL


@pytest.mark.slow
def test_morphing_3d_with_pmg():
    """The p-multigrid's coarse operator follows the morphed matrix (refresh_ksp)."""
    d = mpi_shape_case.case_design()
    f, loss = mpi_shape_case.case_problem(d)
    w1 = d.widths + np.linspace(-0.2, 0.2, d.n_bonds)
    out = {}
    for kind in ("direct", "iterative"):
        opts = FemOptions(dim=3, mesh=MeshOptions(dim=3, elements_across=1, size=0.8), linear_solver=kind)
        m = MorphingFemModel(d, opts)
        shape_width_gradient(m.operator(d.widths), f, loss)
        op = m.operator(w1)
        assert m.n_meshes == 1 and m.n_morphs >= 1
        out[kind] = shape_width_gradient(op, f, loss)
        if kind == "iterative":
            assert op.ksp.getPC().getType() == "mg"
    assert _rel(out["direct"].grad_w, out["iterative"].grad_w) < TOL
    assert _rel(out["direct"].forward.u, out["iterative"].forward.u) < TOL


def test_preconditioner_choice():
    """p-multigrid with P2 (2D and 3D), GAMG with P1; a pc_type option wins."""
    import dolfinx

    for dim, degree, po, want in (
        (3, 2, (), "pmg"),
        (3, 1, (), "gamg"),
        (2, 2, (), "pmg"),
        (2, 1, (), "gamg"),
        (3, 2, (("pc_type", "gamg"),), "gamg"),
        (2, 2, (("pc_type", "jacobi"),), "jacobi"),
    ):
        mesh = (dolfinx.mesh.create_unit_cube if dim == 3 else dolfinx.mesh.create_unit_square)(
            MPI.COMM_SELF, *[1] * dim
        )
        V = dolfinx.fem.functionspace(mesh, ("Lagrange", degree, (dim,)))
        assert solvers.preconditioner(V, po) == want


def test_auto_choice_and_options():
    assert solvers.choose("auto", 100_000, 2) == "direct"
    assert solvers.choose("auto", solvers.AUTO_DIRECT_MAX_DOFS_2D + 1, 2) == "iterative"
    assert solvers.choose("auto", solvers.AUTO_DIRECT_MAX_DOFS_3D + 1, 3) == "iterative"
    assert solvers.choose("direct", 10**8, 3) == "direct"
    assert solvers.parse_petsc_options(["-fem_mnn_ksp_rtol=1e-6", "ksp_view"]) == (
        ("ksp_rtol", "1e-6"),
        ("ksp_view", ""),
    )
    with pytest.raises(InputError):
        solvers.parse_petsc_options(["=3"])
    with pytest.raises(InputError):
        FemOptions(linear_solver="hypre")
    # a PETSc option reaches this KSP only: a loose tolerance takes fewer iterations
    d = mpi_shape_case.case_design()
    f, _ = mpi_shape_case.case_problem(d)
    its = []
    for po in ((("ksp_rtol", "1e-4"),), ()):
        op = FemModel(
            d, FemOptions(mesh=MeshOptions(elements_across=2), linear_solver="iterative", petsc_options=po)
        ).operator()
        op.solve(f[:1])
        its.append(op.iterations[0])
    assert its[0] < its[1]


def _gradient_cli(tmp_path, design_file, name, *extra, ranks=1):
    out = tmp_path / f"{name}.json"
    r = run_cli(
        "fem",
        "gradient",
        design_file,
        "--load",
        "7:0,-0.01",
        "--load",
        "5:0.004,0.002",
        "--target",
        "7:_,-0.02",
        "--exact",
        "--elements-across",
        "2",
        "--out",
        out,
        *extra,
        ranks=ranks,
    )
    assert r.returncode == 0, r.stderr
    return json.loads(out.read_text())


@pytest.mark.mpi
@pytest.mark.parametrize("dim", [2, pytest.param(3, marks=pytest.mark.slow)])
def test_iterative_two_ranks_matches_serial_direct(tmp_path, dim):
    """The p-multigrid (its P1 coarse level and interpolation distributed), 2D and 3D."""
    design_file = tmp_path / "strip.json"
    save_design(mpi_shape_case.case_design(), design_file)
    extra = ("--dim", "3", "--elements-across", "1") if dim == 3 else ()
    ser = _gradient_cli(tmp_path, design_file, "serial", "--solver", "direct", *extra)
    par = _gradient_cli(tmp_path, design_file, "par", "--solver", "iterative", *extra, ranks=2)
    assert par["fem"]["ranks"] == 2 and par["fem"]["solver"]["kind"] == "iterative"
    for k in ("u", "grad_w", "grad_theta", "grad_w_exact"):
        assert _rel(ser[k], par[k]) < TOL, k
    # one forward and one adjoint solve per load case, whatever is reported
    assert ser["fem"]["n_solves"] == par["fem"]["n_solves"] == 2
