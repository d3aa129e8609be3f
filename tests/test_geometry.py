"""Gmsh geometry, tags and meshes of the printed lattice (issue 3)."""

from __future__ import annotations

import dataclasses
import math

import gmsh
import numpy as np
import pytest
from conftest import need_dolfinx, run_python

from fem_mnn.core.errors import InputError
from fem_mnn.design import Design, Geometry, paper_sample, triangular_patch, triangular_strip
from fem_mnn.design.outline import beam_layout
from fem_mnn.geometry import tags
from fem_mnn.geometry.build import MeshOptions, build_model, gmsh_session, mesh_size, write_msh


def bond_area(design: Design, i: int) -> float:
    """Area of bond i outside its hubs, from the formula (not from gmsh)."""
    g = design.geometry
    L = design.lengths[i]
    R = g.junction_radius
    lt = (L - 2 * R) / (g.bar_to_thin_end + 2)
    w = design.widths[i]
    ht = g.thin_end_ratio * w / 2
    # rectangle from the node centre to the end of the thin end, minus the disk part
    thin = 2 * ht * (R + lt) - (ht * math.sqrt(R * R - ht * ht) + R * R * math.asin(ht / R))
    return 2 * thin + w * g.bar_to_thin_end * lt


def cell_membership() -> tuple[np.ndarray, dict[int, int]]:
    """All top-dimensional elements, and how many physical groups hold each."""
    dim = gmsh.model.getDimension()
    _, etags, _ = gmsh.model.mesh.getElements(dim)
    all_e = np.concatenate([np.asarray(a) for a in etags])
    count: dict[int, int] = {}
    for _, ptag in gmsh.model.getPhysicalGroups(dim):
        for ent in gmsh.model.getEntitiesForPhysicalGroup(dim, ptag):
            for arr in gmsh.model.mesh.getElements(dim, int(ent))[1]:
                for e in arr.tolist():
                    count[e] = count.get(e, 0) + 1
    return all_e, count


def curve_length(tag: int) -> float:
    """Length of a model curve of either kernel (OCC's getMass knows only OCC curves):
    a polyline of 4001 points on its parametrisation (an arc of angle a is
    underestimated by about a^2 / (24 * 4000^2), < 3e-8 for a <= pi)."""
    lo, hi = gmsh.model.getParametrizationBounds(1, tag)
    x = np.asarray(gmsh.model.getValue(1, tag, np.linspace(lo[0], hi[0], 4001))).reshape(-1, 3)
    return float(np.sum(np.linalg.norm(np.diff(x, axis=0), axis=1)))


def check_tagged_once(design: Design, options: MeshOptions) -> None:
    with gmsh_session():
        info = build_model(design, options)
        all_e, count = cell_membership()
        assert len(all_e) == info.n_cells > 0
        assert set(count) == set(all_e.tolist())
        assert set(count.values()) == {1}
        names = {
            tag: gmsh.model.getPhysicalName(options.dim, tag) for _, tag in gmsh.model.getPhysicalGroups(options.dim)
        }
    expected = {tags.bond_tag(i) for i in range(design.n_bonds)} | {tags.node_tag(j) for j in range(design.n_nodes)}
    assert set(names) == expected
    assert all(names[t] == tags.name(t) for t in names)
    assert info.overlap_nodes == ()
    t = design.thickness if options.dim == 3 else 1.0
    for i in range(design.n_bonds):
        assert info.region_measure[tags.bond_tag(i)] == pytest.approx(bond_area(design, i) * t, rel=1e-6)
    for j in range(design.n_nodes):
        hub = math.pi * design.geometry.junction_radius**2 * t
        assert info.region_measure[tags.node_tag(j)] == pytest.approx(hub, rel=1e-6)


# ---------------------------------------------------------------------------- tags


def test_tag_contract_round_trip():
    assert tags.bond_tag(3) == 10003 and tags.node_tag(0) == 20000 and tags.overlap_tag(7) == 30007
    assert tags.node_boundary_tag(12) == 40012
    for f, kind in ((tags.bond_tag, "bond"), (tags.node_tag, "node"), (tags.overlap_tag, "overlap")):
        for i in (0, 1, 57, tags.MAX_ID):
            assert tags.decode(f(i)) == (kind, i)
    assert tags.name(10004) == "bond_4" and tags.name(20002) == "node_2" and tags.name(40001) == "node_1_boundary"
    for bad in (0, 9999, 50000, -1):
        with pytest.raises(ValueError):
            tags.decode(bad)
    with pytest.raises(ValueError):
        tags.bond_tag(tags.MAX_ID + 1)


# ------------------------------------------------------------------------ geometry


@pytest.mark.parametrize("width", [1.5, 2.0, 2.5])
def test_paper_sample_2d_every_cell_tagged_once(width):
    check_tagged_once(paper_sample(width), MeshOptions(dim=2))


def test_random_triangular_designs_mesh_with_every_cell_tagged_once():
    rng = np.random.default_rng(3)
    for make in (lambda w: triangular_patch(4, 3, width=w), lambda w: triangular_strip(5, 2, width=w)):
        base = make(2.0)
        g = base.geometry
        w = rng.uniform(g.width_min, g.width_max, base.n_bonds)
        w[0], w[-1] = g.width_min, g.width_max  # both ends of the printable range
        check_tagged_once(base.with_widths(w), MeshOptions(dim=2, elements_across=2))


def test_3d_extruded_tetrahedra_tagged_once_with_lateral_hub_facets():
    d = triangular_patch(3, 2, width=2.5)
    opts = MeshOptions(dim=3, elements_across=1)
    check_tagged_once(d, opts)
    with gmsh_session():
        info = build_model(d, opts)
        assert gmsh.model.getDimension() == 3
        types = gmsh.model.mesh.getElementTypes(3)
        assert list(types) == [4]  # 4-node tetrahedra
        for ftag in info.facet_groups:
            for ent in gmsh.model.getEntitiesForPhysicalGroup(2, ftag):
                box = gmsh.model.getBoundingBox(2, int(ent))
                assert box[2] == pytest.approx(0, abs=1e-6) and box[5] == pytest.approx(d.thickness, abs=1e-6)
    assert info.cad_measure == pytest.approx(d.thickness * sum(info.region_measure.values()) / d.thickness)
    assert set(info.facet_groups) == {tags.node_boundary_tag(j) for j in range(d.n_nodes)}


def test_hub_boundary_facets_are_the_uncovered_arcs():
    d = paper_sample()
    lay = beam_layout(d)
    R = lay.radius
    with gmsh_session():
        build_model(d, MeshOptions(dim=2), mesh=False)
        degree = np.bincount(d.bonds.ravel(), minlength=d.n_nodes)
        for j in range(d.n_nodes):
            ents = gmsh.model.getEntitiesForPhysicalGroup(1, tags.node_boundary_tag(j))
            length = sum(curve_length(int(e)) for e in ents)
            covered = sum(2 * R * math.asin(lay.thin_width[i] / 2 / R) for i in range(d.n_bonds) if j in d.bonds[i])
            assert length == pytest.approx(2 * math.pi * R - covered, rel=1e-6), (j, degree[j])


def test_wide_beams_with_small_hub_make_overlap_regions_tagged_once():
    geo = Geometry(thin_end_ratio=1.0, junction_radius=1.5)
    d = triangular_patch(3, 2, width=2.5, geometry=geo)
    with gmsh_session():
        info = build_model(d, MeshOptions(dim=2, elements_across=2))
        all_e, count = cell_membership()
    assert set(count) == set(all_e.tolist()) and set(count.values()) == {1}
    # every node of a triangle has two beams meeting at 60 degrees: 2.5 mm beams
    # overlap out to 1.25 / sin(30 deg) = 2.5 mm > 1.5 mm
    assert info.overlap_nodes == tuple(range(d.n_nodes))
    assert {tags.overlap_tag(j) for j in range(d.n_nodes)} <= set(info.cell_groups)


def test_hub_narrower_than_thin_end_still_tagged_once():
    # R = 0.5 <= half the thin end (0.5): no arc joins beam and hub, the beam is cut
    d = dataclasses.replace(triangular_patch(3, 2), geometry=Geometry(junction_radius=0.5))
    with gmsh_session():
        info = build_model(d, MeshOptions(dim=2, elements_across=2))
        all_e, count = cell_membership()
    assert set(count) == set(all_e.tolist()) and set(count.values()) == {1}
    assert {tags.bond_tag(i) for i in range(d.n_bonds)} <= set(info.cell_groups)


def _region_and_facet_measures(design: Design, options: MeshOptions) -> tuple[dict, dict]:
    """Region measures and, in 2D, the length of every exposed hub boundary (3D: the group names)."""
    with gmsh_session():
        info = build_model(design, options, mesh=False)
        facets = {
            ftag: sum(curve_length(int(e)) for e in gmsh.model.getEntitiesForPhysicalGroup(1, ftag))
            if options.dim == 2
            else name
            for ftag, name in info.facet_groups.items()
        }
    return info.region_measure, facets


@pytest.mark.parametrize("dim", [2, 3])
def test_hubs_built_on_beam_arcs_match_the_global_fragment(monkeypatch, dim):
    from fem_mnn.geometry import build

    d = triangular_patch(3, 2, width=2.0).with_widths(np.linspace(1.5, 2.5, triangular_patch(3, 2).n_bonds))
    opts = MeshOptions(dim=dim, elements_across=1)
    assert build._local_fragment_suffices(d)
    local = _region_and_facet_measures(d, opts)
    monkeypatch.setattr(build, "_local_fragment_suffices", lambda design: False)
    assert local[0].keys() == (glob := _region_and_facet_measures(d, opts))[0].keys()
    for k in local[0]:
        assert local[0][k] == pytest.approx(glob[0][k], rel=1e-9)
    assert local[1].keys() == glob[1].keys()
    for k in local[1]:
        if dim == 2:
            assert local[1][k] == pytest.approx(glob[1][k], rel=1e-6)  # polyline lengths: see curve_length


def test_hubs_built_on_beam_arcs_share_the_arcs():
    d = paper_sample()
    lay = beam_layout(d)
    with gmsh_session():
        build_model(d, MeshOptions(dim=2), mesh=False)
        for i in range(d.n_bonds):
            (bond_face,) = gmsh.model.getEntitiesForPhysicalGroup(2, tags.bond_tag(i))
            arcs = {t for _, t in gmsh.model.getBoundary([(2, int(bond_face))], oriented=False)}
            for j in d.bonds[i].tolist():
                (hub_face,) = gmsh.model.getEntitiesForPhysicalGroup(2, tags.node_tag(j))
                hub = {t for _, t in gmsh.model.getBoundary([(2, int(hub_face))], oriented=False)}
                (shared,) = arcs & hub  # exactly one curve: the end arc, meshed once for both
                R, ht = lay.radius, lay.thin_width[i] / 2
                assert curve_length(shared) == pytest.approx(2 * R * math.asin(ht / R), rel=1e-6)


def test_shapes_that_meet_away_from_their_own_hubs_take_the_global_fragment():
    from fem_mnn.geometry.build import _local_fragment_suffices

    assert _local_fragment_suffices(paper_sample()) and _local_fragment_suffices(triangular_strip(12, 8))
    # wide beams overlapping next to a hub; thin ends as wide as the hub
    assert not _local_fragment_suffices(
        triangular_patch(3, 2, width=2.5, geometry=Geometry(thin_end_ratio=1.0, junction_radius=1.5))
    )
    assert not _local_fragment_suffices(
        dataclasses.replace(triangular_patch(3, 2), geometry=Geometry(junction_radius=0.5))
    )
    # a foreign hub (node 2) 2.5 mm from a bar of half-width 1 (R = 2): they overlap; 3.5 mm: apart
    for y, apart in ((2.5, False), (3.5, True)):
        d = Design(
            nodes=[[0.0, 0.0], [20.0, 0.0], [10.0, y], [10.0, y + 20]], bonds=[[0, 1], [2, 3]], widths=[2.0, 2.0]
        )
        assert _local_fragment_suffices(d) is apart
    # two hubs that overlap (no bond between them)
    hubs = Design(nodes=[[0.0, 0.0], [20.0, 0.0], [20.0, 3.0], [20.0, 23.0]], bonds=[[0, 1], [2, 3]], widths=[2.0, 2.0])
    assert not _local_fragment_suffices(hubs)
    # beams that cross far from every hub
    cross = Design(
        nodes=[[0.0, 0.0], [20.0, 0.0], [10.0, -10.0], [10.0, 10.0]], bonds=[[0, 1], [2, 3]], widths=[2.0, 2.0]
    )
    assert not _local_fragment_suffices(cross)


def test_conforming_hub_without_beams_is_a_whole_disk():
    d = Design(nodes=[[0.0, 0.0], [20.0, 0.0], [40.0, 40.0]], bonds=[[0, 1]], widths=[2.0])
    with gmsh_session():
        info = build_model(d, MeshOptions(dim=2, elements_across=1))
        all_e, count = cell_membership()
        rim = sum(curve_length(int(e)) for e in gmsh.model.getEntitiesForPhysicalGroup(1, tags.node_boundary_tag(2)))
    assert len(all_e) == info.n_cells and set(count.values()) == {1}
    assert info.region_measure[tags.node_tag(2)] == pytest.approx(math.pi * 2.0**2, rel=1e-12)
    assert rim == pytest.approx(2 * math.pi * 2.0, rel=1e-6)  # the whole circle is exposed


def test_cell_check_refuses_entities_in_no_group_or_in_two():
    from fem_mnn.core.errors import EngineError
    from fem_mnn.geometry.build import _count_and_check_cells

    with gmsh_session():
        info = build_model(triangular_patch(3, 2), MeshOptions(elements_across=1))
        ents = [t for _, t in gmsh.model.getEntities(2)]
        assert _count_and_check_cells(2, {1: ents}) == (info.n_cells, info.n_vertices)
        with pytest.raises(EngineError):
            _count_and_check_cells(2, {1: ents[1:]})
        with pytest.raises(EngineError):
            _count_and_check_cells(2, {1: ents, 2: ents[:1]})


def test_segment_distance_against_sampling():
    from fem_mnn.geometry.build import _segment_distance

    rng = np.random.default_rng(5)
    p0, p1, q0, q1 = (rng.uniform(-1, 1, (200, 2)) for _ in range(4))
    p1[:50] = p0[:50]  # points among the segments
    q1[25:75] = q0[25:75]
    q0[100:150] = p0[100:150] + 0.3 * (p1[100:150] - p0[100:150])  # touching
    u = np.linspace(0, 1, 201)  # a sample within 1/400 of a segment length (< 2.9) of every point
    sp = p0[:, None] + u[None, :, None] * (p1 - p0)[:, None]
    sq = q0[:, None] + u[None, :, None] * (q1 - q0)[:, None]
    brute = np.linalg.norm(sp[:, :, None] - sq[:, None, :], axis=3).min(axis=(1, 2))
    exact = _segment_distance(p0, p1, q0, q1)
    assert np.all(exact <= brute + 1e-12)
    assert np.allclose(exact, brute, atol=2 * 2.9 / 400)


def test_global_fragment_for_a_beam_through_a_foreign_hub_tags_every_cell_once():
    d = Design(nodes=[[0.0, 0.0], [20.0, 0.0], [10.0, 1.5], [10.0, 21.5]], bonds=[[0, 1], [2, 3]], widths=[2.0, 2.0])
    with gmsh_session():
        info = build_model(d, MeshOptions(dim=2, elements_across=1))
        all_e, count = cell_membership()
    assert len(all_e) == info.n_cells and set(count.values()) == {1}


def test_mesh_size_rule_elements_across_thinnest_section():
    d = paper_sample(2.0).with_widths(np.r_[1.5, np.full(paper_sample().n_bonds - 1, 2.5)])
    opts = MeshOptions(elements_across=3, refinement=2.0)
    h = mesh_size(d, opts)
    assert h == pytest.approx(0.5 * 1.5 / 3 / 2)
    assert mesh_size(d, dataclasses.replace(opts, max_size=0.05)) == 0.05
    with gmsh_session():
        build_model(d, MeshOptions(elements_across=2))
        _, coords, _ = gmsh.model.mesh.getNodes()
        x = np.asarray(coords).reshape(-1, 3)
        node_tags = gmsh.model.mesh.getNodes()[0]
        idx = {int(t): k for k, t in enumerate(node_tags)}
        _, _, en = gmsh.model.mesh.getElements(2)
        tri = np.vectorize(idx.get)(np.asarray(en[0]).reshape(-1, 3))
    edges = np.linalg.norm(x[tri] - x[np.roll(tri, 1, axis=1)], axis=2)
    h2 = mesh_size(d, MeshOptions(elements_across=2))
    # gmsh aims at the size; allow its usual 1.5x on the longest edge, never 2x
    assert edges.max() < 1.5 * h2
    assert np.median(edges) > 0.5 * h2


def test_refinement_increases_cell_count_about_quadratically():
    d = triangular_patch(3, 2)
    counts = []
    for r in (1.0, 2.0):
        with gmsh_session():
            counts.append(build_model(d, MeshOptions(elements_across=2, refinement=r)).n_cells)
    assert 3.0 < counts[1] / counts[0] < 5.0


def test_unbuildable_design_is_input_error():
    d = triangular_patch(3, 2)
    big = dataclasses.replace(d, geometry=Geometry(junction_radius=8.5))
    with gmsh_session(), pytest.raises(InputError, match="swallow"):
        build_model(big)
    with pytest.raises(InputError):
        MeshOptions(dim=4)
    with pytest.raises(InputError):
        MeshOptions(elements_across=0)
    with pytest.raises(InputError):
        MeshOptions(refinement=-1.0)


def test_write_msh_round_trip(tmp_path):
    d = triangular_patch(3, 2)
    out = tmp_path / "p.msh"
    info = write_msh(d, MeshOptions(), out)
    assert out.exists() and not list(tmp_path.glob(".*tmp*"))
    with gmsh_session():
        gmsh.open(str(out))
        all_e, count = cell_membership()
        assert len(all_e) == info.n_cells and set(count.values()) == {1}
        assert len(gmsh.model.getPhysicalGroups(2)) == d.n_bonds + d.n_nodes


def test_second_order_mesh():
    d = triangular_patch(3, 2)
    with gmsh_session():
        build_model(d, MeshOptions(order=2, elements_across=1))
        assert list(gmsh.model.mesh.getElementTypes(2)) == [9]  # 6-node triangle


# -------------------------------------------------------------------------- DOLFINx


@pytest.mark.fem
@pytest.mark.parametrize("dim", [2, 3])
def test_dolfinx_mesh_is_one_connected_piece(dim):
    # conformity: a hub and its beams that did not share their arc would be separate pieces
    need_dolfinx()
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    from fem_mnn.fem.meshing import generate_mesh

    d = triangular_patch(3, 2)
    md = generate_mesh(d, MeshOptions(dim=dim, elements_across=1))
    top = md.mesh.topology
    top.create_connectivity(dim - 1, dim)
    f2c = top.connectivity(dim - 1, dim)
    n = top.index_map(dim).size_local
    pairs = np.array([f2c.links(f) for f in range(top.index_map(dim - 1).size_local) if len(f2c.links(f)) == 2])
    graph = coo_matrix((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])), shape=(n, n))
    assert connected_components(graph, directed=False)[0] == 1


@pytest.mark.fem
def test_generate_mesh_dolfinx_regions_match_cad():
    dolfinx = need_dolfinx()
    import ufl

    from fem_mnn.fem.meshing import generate_mesh

    d = paper_sample()
    md = generate_mesh(d, MeshOptions(dim=2, order=2))
    assert md.mesh.geometry.dim == 2
    values = np.unique(md.cell_tags.values)
    assert set(values.tolist()) == set(md.info.cell_groups)
    assert md.mesh.topology.index_map(2).size_global == md.info.n_cells
    dx = ufl.Measure("dx", domain=md.mesh, subdomain_data=md.cell_tags)
    for tag in (tags.bond_tag(0), tags.bond_tag(27), tags.node_tag(13)):
        area = md.mesh.comm.allreduce(dolfinx.fem.assemble_scalar(dolfinx.fem.form(1.0 * dx(tag))))
        assert area == pytest.approx(md.info.region_measure[tag], rel=1e-5)  # curved P2 edges
    assert set(np.unique(md.facet_tags.values).tolist()) == set(md.info.facet_groups)


@pytest.mark.fem
@pytest.mark.mpi
def test_generate_mesh_under_mpi_two_ranks():
    need_dolfinx()
    script = (
        "from fem_mnn.design import triangular_patch\n"
        "from fem_mnn.geometry.build import MeshOptions\n"
        "from fem_mnn.fem.meshing import generate_mesh\n"
        "md = generate_mesh(triangular_patch(3, 2), MeshOptions())\n"
        "n = md.mesh.topology.index_map(2).size_local\n"
        "tot = md.mesh.comm.allreduce(n)\n"
        "assert tot == md.info.n_cells, (tot, md.info.n_cells)\n"
        "assert n > 0\n"
        "print('ok', md.mesh.comm.rank, n, tot)\n"
    )
    r = run_python("-c", script, ranks=2, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.count("ok") == 2


# ----------------------------------------------------------------------------- CLI


def test_mesh_command(tmp_path, capsys):
    from fem_mnn.cli import main
    from fem_mnn.design import save_design

    src = save_design(triangular_patch(3, 2), tmp_path / "p.json")
    out = tmp_path / "p.msh"
    assert main(["mesh", str(src), "-o", str(out), "--elements-across", "2", "--refinement", "1.5"]) == 0
    assert out.exists() and "triangles" in capsys.readouterr().out
    with gmsh_session():
        gmsh.open(str(out))
        all_e, count = cell_membership()
        assert set(count.values()) == {1} and len(all_e) == len(count)
    assert main(["mesh", str(src), "-o", str(tmp_path / "p.vtk")]) == 2
    assert main(["mesh", str(src), "-o", str(out), "--elements-across", "0"]) == 2
    assert main(["mesh", str(tmp_path / "missing.json"), "-o", str(out)]) == 2


# ---------------------------------------------------------------------- mesh cache


def test_committed_mesh_cache_is_fresh():
    import json

    from fem_mnn.geometry.build import GEOMETRY_VERSION
    from fem_mnn.geometry.cache import DEFAULT_ROOT, REFERENCE, cache_paths

    for make, options in REFERENCE.values():
        d = make()
        for opts in options:
            for p in cache_paths(d, opts, DEFAULT_ROOT).values():
                assert p.exists(), f"{p} missing: run python -m fem_mnn.geometry.cache"
            info = json.loads(cache_paths(d, opts, DEFAULT_ROOT)["info"].read_text())
            assert info["version"] == GEOMETRY_VERSION, "stale: run python -m fem_mnn.geometry.cache"
    total = sum(f.stat().st_size for f in DEFAULT_ROOT.glob("*"))
    assert total < 5e6


def test_mesh_cache_regenerates_when_the_design_changes(tmp_path, monkeypatch):
    from fem_mnn.geometry import cache as mesh_cache

    small = lambda: triangular_patch(3, 2)  # noqa: E731
    monkeypatch.setattr(mesh_cache, "REFERENCE", {"small": (small, (MeshOptions(elements_across=1),))})
    (msh,) = mesh_cache.refresh(tmp_path)
    stamp = msh.stat().st_mtime_ns
    (again,) = mesh_cache.refresh(tmp_path)
    assert again == msh and msh.stat().st_mtime_ns == stamp  # cached, not remeshed
    wider = lambda: small().with_widths(np.full(small().n_bonds, 2.4))  # noqa: E731
    monkeypatch.setattr(mesh_cache, "REFERENCE", {"small": (wider, (MeshOptions(elements_across=1),))})
    (new,) = mesh_cache.refresh(tmp_path)
    assert new != msh and new.exists() and not msh.exists()  # stale mesh removed
    assert wider().hash() in new.name
    assert len(list(tmp_path.glob("*"))) == 3  # design, mesh, info


@pytest.mark.fem
def test_load_cached_mesh_into_dolfinx():
    need_dolfinx()
    from fem_mnn.fem.meshing import load_mesh

    md = load_mesh(paper_sample(), MeshOptions(dim=2))
    assert md.mesh.topology.index_map(2).size_global == md.info.n_cells
    assert set(np.unique(md.cell_tags.values).tolist()) == set(md.info.cell_groups)


# -------------------------------------------------------------------------- pictures


def test_pictures_of_geometry_and_mesh_are_to_scale(tmp_path):
    import matplotlib.image as mpimg

    from fem_mnn.viz.geometry import plot_geometry, plot_mesh

    d = paper_sample()
    g = plot_geometry(d, tmp_path / "g.png", highlight_bonds=[4])
    info = plot_mesh(d, MeshOptions(dim=3, elements_across=2), tmp_path / "m.png")
    assert info.options.dim == 2 and info.n_cells > 0  # 3D drawn as its 2D section
    for p in (g, tmp_path / "m.png"):
        img = mpimg.imread(p)
        assert img.shape[0] > 300 and img.shape[1] > 300
        assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # drawn to scale: the picture is wider than tall like the lattice (68 x 45.6 mm)
    img = mpimg.imread(g)
    assert 1.1 < img.shape[1] / img.shape[0] < 1.9
    z = plot_mesh(d, MeshOptions(), tmp_path / "z.png", zoom_node=6)
    assert z.n_cells > info.n_cells and (tmp_path / "z.png").exists()  # 3 across > 2 across


@pytest.mark.fem
def test_write_xdmf_round_trip(tmp_path):
    need_dolfinx()
    from dolfinx.io import XDMFFile
    from mpi4py import MPI

    from fem_mnn.fem.meshing import write_xdmf

    d = triangular_patch(3, 2)
    info = write_xdmf(d, MeshOptions(elements_across=2), tmp_path / "p.xdmf")
    assert sorted(f.name for f in tmp_path.iterdir()) == ["p.h5", "p.xdmf"]
    with XDMFFile(MPI.COMM_WORLD, str(tmp_path / "p.xdmf"), "r") as xf:
        mesh = xf.read_mesh(name="lattice")
        mesh.topology.create_connectivity(1, 2)
        cells = xf.read_meshtags(mesh, name="cells")
        facets = xf.read_meshtags(mesh, name="facets")
    assert mesh.topology.index_map(2).size_global == info.n_cells
    assert set(np.unique(cells.values).tolist()) == set(info.cell_groups)
    assert set(np.unique(facets.values).tolist()) == set(info.facet_groups)


@pytest.mark.fem
def test_generate_mesh_3d_volumes_match_cad():
    dolfinx = need_dolfinx()
    import ufl

    from fem_mnn.fem.meshing import generate_mesh

    d = triangular_patch(3, 2, width=2.5)
    md = generate_mesh(d, MeshOptions(dim=3, elements_across=1, order=2))
    assert md.mesh.geometry.dim == 3 and md.mesh.topology.dim == 3
    dx = ufl.Measure("dx", domain=md.mesh, subdomain_data=md.cell_tags)
    for tag in (tags.bond_tag(0), tags.node_tag(4)):
        vol = md.mesh.comm.allreduce(dolfinx.fem.assemble_scalar(dolfinx.fem.form(1.0 * dx(tag))))
        assert vol == pytest.approx(md.info.region_measure[tag], rel=1e-4)
    ds = ufl.Measure("ds", domain=md.mesh, subdomain_data=md.facet_tags)
    side = md.mesh.comm.allreduce(dolfinx.fem.assemble_scalar(dolfinx.fem.form(1.0 * ds(tags.node_boundary_tag(0)))))
    R, ht = d.geometry.junction_radius, 0.5 * 2.5 / 2
    arc = 2 * np.pi * R - 2 * 2 * R * np.arcsin(ht / R)  # node 0 has two bonds
    assert side == pytest.approx(arc * d.thickness, rel=1e-3)


def test_a_runaway_mesh_is_refused_before_gmsh_meshes(paper):
    import time

    from fem_mnn.core.errors import InputError
    from fem_mnn.geometry.build import MeshOptions, build_model, gmsh_session

    t0 = time.perf_counter()
    with gmsh_session(), pytest.raises(InputError, match="cells"):
        build_model(paper, MeshOptions(refinement=1e4))
    assert time.perf_counter() - t0 < 30  # refused from the estimate, not after meshing
