"""Self-contact of a deformed lattice (design.contact): pure geometry, moved by hand."""

from __future__ import annotations

import numpy as np
import pytest

from fem_mnn.design.builders import paper_sample
from fem_mnn.design.contact import find_contacts, part_outlines


@pytest.fixture(scope="module")
def parts():
    return part_outlines(paper_sample().with_widths(np.full(28, 2.5)))


def test_the_undeformed_lattice_touches_nowhere(parts):
    rep = find_contacts(parts, [p.outline for p in parts])
    assert rep.touching == []
    # the nearest unjoined parts of the widest sample: two beams at a 60 degree hub, outside it
    assert 0 < rep.min_gap_mm < 2.0 and len(rep.closest) == 2
    # 14 hubs and 28 beams; a beam is not paired with its own two hubs
    n = 14 + 28
    assert rep.n_pairs == n * (n - 1) // 2 - 2 * 28


def test_probes_are_inside_their_part(parts):
    for p in parts:
        d = np.hypot(*(p.probe - p.outline).T)
        assert np.all(d <= (0.25 if p.name.startswith("hub") else 0.02 * np.sqrt(2)) + 1e-12), p.name


def test_a_hub_pushed_into_its_neighbour_touches_it(parts):
    d = paper_sample()
    # id 13 is 16 mm left of id 12: move hub 13 and its beams 13 mm right, hub overlaps hub 12 by 1 mm
    shift = d.nodes[12] - d.nodes[13]
    shift = shift / np.linalg.norm(shift) * 13.0
    moved = [p.outline + (shift if 13 in p.nodes and p.name.startswith("hub") else 0.0) for p in parts]
    rep = find_contacts(parts, moved)
    names = [tuple(t["parts"]) for t in rep.touching]
    assert ("hub 12", "hub 13") in names
    hit = next(t for t in rep.touching if tuple(t["parts"]) == ("hub 12", "hub 13"))
    # two discs of radius 2 with centres 3 mm apart overlap by 1 mm; the 48-gons deviate from their circles
    # by at most the sagitta R (1 - cos(pi / 48)) each, on both sides of the overlap
    sagitta = 2.0 * (1 - np.cos(np.pi / 48))
    assert hit["penetration_mm"] == pytest.approx(1.0, abs=2 * sagitta)


def test_a_bent_beam_crossing_another_is_found_but_its_own_hubs_are_not(parts):
    d = paper_sample()
    i = 0
    a, b = d.bonds[i]
    # rotate beam 0 about node a by 90 degrees: it then crosses whatever lies there, yet never its own hubs
    c, s = 0.0, 1.0
    rot = np.array([[c, -s], [s, c]])
    moved = [p.outline.copy() for p in parts]
    k = next(n for n, p in enumerate(parts) if p.name == f"bond {i}")
    moved[k] = (parts[k].outline - d.nodes[a]) @ rot.T + d.nodes[a]
    rep = find_contacts(parts, moved)
    for t in rep.touching:
        assert f"bond {i}" in t["parts"]
        assert t["parts"] not in ([f"hub {a}", f"bond {i}"], [f"hub {b}", f"bond {i}"])
