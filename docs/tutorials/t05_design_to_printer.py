# ---
# jupyter:
#   jupytext:
#     formats: py:light
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# # From design to printer: validate, mechanical checks, STL, the slicer
#
# A trained design is a list of widths. Before it costs a day of printer time: is every
# beam printable (widths, thin ends, hubs, no overlaps, build volume)? Will the lattice hold
# its design load (strain, buckling) and stay in the linear regime the training assumed?
# Then the STL: one closed solid, in mm, the right volume. Units mm, N, MPa; ids 0-based.
# About a minute; `FEM_MNN_QUICK=1` uses a coarser mesh for the mechanical checks (half).

# +
import os
import tempfile
from pathlib import Path

import numpy as np

from fem_mnn import SpringModel, paper_sample
from fem_mnn.design import check_design, save_design
from fem_mnn.learn import behaviour_mse, paper_config, train
from fem_mnn.learn.tasks import gram_force

QUICK = os.environ.get("FEM_MNN_QUICK", "") not in ("", "0")
work = Path(tempfile.mkdtemp(prefix="fem-mnn-t05-"))
# -

# ## A design to print
#
# The paper's sample trained for the behaviour task of the first tutorial (5 g at id 10,
# outputs u_y of ids 12 and 13), 100 epochs on springs.

# +
base = paper_sample()
springs = SpringModel(base)
task = behaviour_mse(base, targets=(-0.625333, -0.479973))
widths = train(springs, task, paper_config("behaviour", epochs=100), write=False).widths
design = base.with_widths(widths)
print(f"widths {widths.min():.3f}-{widths.max():.3f} mm")
# -

# ## Printability
#
# `check_design` (what `fem-mnn validate` prints) checks each beam against the printer:
# widths inside `geometry.width_min..width_max` (1.5–2.5 mm), thin ends (half the width
# here) at least `min_feature` = 0.5 mm wide, hubs that would swallow a beam, beams that
# overlap outside their shared hub, the build volume and connectivity. To see what a
# finding looks like, first a copy with bond 5 thinned to 0.9 mm: its thin ends would be
# 0.45 mm, below what the printer resolves. (`Design(...)` does not validate; loading a
# file with such a width is refused, while `fem-mnn validate` reports every problem.)

# +
import dataclasses  # noqa: E402

too_thin = dataclasses.replace(design, widths=np.where(np.arange(design.n_bonds) == 5, 0.9, widths))
bad = check_design(too_thin)
for finding in bad.findings:
    print(f"  [{finding.severity}] {finding.check}: {finding.message}")
good = check_design(design)
print(f"trained design: {len(good.findings)} findings; extent {good.extent} mm")
assert {f.check for f in bad.findings} >= {"width_range", "thin_end_width"}
assert all(5 in f.bonds for f in bad.findings if f.check in ("width_range", "thin_end_width"))
assert not good.findings
# -

# ## Mechanical checks under the design load
#
# `mechanical_report` runs four checks under the loads the lattice will carry (here the
# task's 5 g at id 10), in the FE model of the printed lattice (P2 plane stress):
#
# * **rigidity**: no zero-energy mode of the spring network once the fixed nodes are clamped;
# * **strain**: the peak principal strain and von Mises stress of the neo-Hookean solution,
#   against Agilus30's working strain (25 %, about a ninth of its elongation at break);
# * **buckling**: the first load factor of linearised buckling (fail below 1, warn below the
#   safety factor 2);
# * **linear regime**: the load factor at which the neo-Hookean solution departs by 5 % from
#   the linear one, which training assumes.

# +
from fem_mnn.fem import CheckOptions, FemOptions, mechanical_report  # noqa: E402  (imports DOLFINx)
from fem_mnn.geometry.build import MeshOptions  # noqa: E402

loads = np.zeros((design.n_nodes, 2))
loads[10, 1] = -gram_force(5.0)  # N
across = 1 if QUICK else 2
options = CheckOptions(fem=FemOptions(degree=2, mesh=MeshOptions(elements_across=across)))
report = mechanical_report(design, loads, options, out_dir=work / "mechanical")
print(report.to_text())
checks = {c.name: c for c in report.checks}
# -

# Each number has an independent expectation.
#
# *Linear regime.* Geometric nonlinearity enters at second order in the load, so the
# relative departure of the nonlinear from the linear displacements grows in proportion
# to the load factor while it is small: doubling the load doubles it.

# +
probed = checks["linear regime"].values["probed"]
dev = {p["load_factor"]: p["dev_u"] for p in probed}
print("departure of node displacements at load factors 0.25, 0.5, 1:", [f"{dev[f]:.4f}" for f in (0.25, 0.5, 1.0)])
assert abs(dev[0.5] / dev[0.25] - 2) < 0.1 and abs(dev[1.0] / dev[0.5] - 2) < 0.1
# -

# *Strain.* The spring model gives each bond's axial force N = k e; in a thin end
# (width w/2) that is a mean axial strain N / (E t w/2). The FE peak is a maximum over the
# section (with bending and the sharp steps of the thin ends on top), so it cannot be below
# that mean, up to the difference between spring and FE axial forces (about 15 %,
# `studies/spring_vs_fem.py`).

# +
sol = springs.operator(widths).solve(loads[None])
force = base.material.E * base.thickness * widths / base.lengths * sol.elongation[0]  # N
thin_end_strain = np.abs(force) / (base.material.E * base.thickness * 0.5 * widths)
peak = checks["strain"].values["peak_tensile_strain"]
print(f"FE peak strain {peak:.4f} ({checks['strain'].values['peak_tensile_at']['region']}); ", end="")
print(f"springs: largest thin-end axial strain {thin_end_strain.max():.4f} (bond {int(thin_end_strain.argmax())})")
assert peak >= 0.85 * thin_end_strain.max()
assert checks["strain"].status == "pass"  # a few % against the 25 % working strain
# -

# *Buckling.* As in tutorial 2, the first load factor should lie between the Euler loads
# of the most compressed bond read as a pinned–pinned column with the thin ends' EI/8 and as
# a clamped–clamped one with the bar's EI, over the free length L − 2R.

# +
free = base.lengths - 2 * base.geometry.junction_radius
EI = base.material.E * base.thickness * widths**3 / 12
c = force < 0
lo = np.min(np.pi**2 * EI[c] / 8 / free[c] ** 2 / -force[c])
hi = np.min(4 * np.pi**2 * EI[c] / free[c] ** 2 / -force[c])
lam = checks["buckling"].values["load_factors"][0]
print(f"first buckling load factor {lam:.2f}; single-bond bracket {lo:.2f}-{hi:.2f}")
assert lo <= lam <= hi
assert report.ok, report.status
# -

# The pictures (`mechanical/*.png`: deformed shape, strain map, first buckling mode) and a
# markdown summary are written beside `mechanical.json`:

print(sorted(p.name for p in (work / "mechanical").iterdir()))

# ## The STL
#
# `write_stl` fuses hubs and beams into one outline, extrudes it by the thickness (z = 0
# is the build plate) and writes one closed, outward-oriented surface in mm. We read it
# back with plain numpy and check what a slicer needs: every edge shared by exactly two
# triangles (watertight), and the enclosed volume equal to t × the outline's area. The
# area has a closed form: N hubs of πR², and outside the hubs each beam's two thin ends
# and bar, plus the small slivers between each hub circle and the end of the beam's
# rectangle (the outline starts at the node centre and is cut by the circle),
# ∫_{−h}^{h} (R − √(R² − y²)) dy with h the thin end's half-width.

# +
from fem_mnn.geometry.stl import CIRCLE_SEGMENTS, write_stl  # noqa: E402

stl = work / "lattice.stl"
info = write_stl(design, stl)
raw = stl.read_bytes()
n_tri = int(np.frombuffer(raw, dtype="<u4", count=1, offset=80)[0])
rec = np.frombuffer(
    raw, dtype=np.dtype([("n", "<f4", 3), ("v", "<f4", (3, 3)), ("attr", "<u2")]), count=n_tri, offset=84
)
tri = rec["v"].astype(float)
volume = np.sum(np.einsum("ij,ij->i", tri[:, 0], np.cross(tri[:, 1], tri[:, 2]))) / 6.0
keys, inverse = np.unique(tri.reshape(-1, 3).round(5), axis=0, return_inverse=True)
ids = inverse.reshape(-1, 3)
edges = np.sort(np.concatenate([ids[:, [0, 1]], ids[:, [1, 2]], ids[:, [2, 0]]]), axis=1)
_, edge_count = np.unique(edges, axis=0, return_counts=True)

R = base.geometry.junction_radius
t_end = 0.5 * widths  # thin_end_ratio x w
thin_len = free / (base.geometry.bar_to_thin_end + 2)
h = t_end / 2
sliver = 2 * h * R - (h * np.sqrt(R**2 - h**2) + R**2 * np.arcsin(h / R))
area = base.n_nodes * np.pi * R**2 + np.sum(2 * thin_len * t_end + (free - 2 * thin_len) * widths + 2 * sliver)
expected = base.thickness * area
# the hubs are 72-gons: an inscribed n-gon lacks 1 - sin(2 pi/n) n / (2 pi) of a circle's area
hub_deficit = (
    base.thickness
    * base.n_nodes
    * np.pi
    * R**2
    * (1 - np.sin(2 * np.pi / CIRCLE_SEGMENTS) * CIRCLE_SEGMENTS / (2 * np.pi))
)
print(f"{n_tri} triangles, {info.n_bodies} body, bbox {np.round(info.bbox, 3).tolist()} mm")
print(
    f"volume {volume:.2f} mm³ (STL), {expected:.2f} mm³ (t x area), difference {volume - expected:+.2f}; bound {hub_deficit:.2f}"
)
assert info.n_bodies == 1 and np.all(edge_count == 2)  # one closed solid
assert -hub_deficit - 1e-3 <= volume - expected <= 1e-3  # only the hubs' polygons are missing
assert abs(info.bbox[5] - info.bbox[2] - base.thickness) < 1e-6
# -

# ## What to check in the slicer
#
# The STL has no units: tell the slicer (or the PolyJet job software) **millimetres**, and
# check that the part's size matches the extent above (`check_design(...).extent`, x × y × t
# in mm). Then:
#
# * **one body, watertight**: the slicer should report one shell and no repairs. A repair
#   or several shells means the file was damaged or another one was loaded.
# * **flat on the plate**: z = 0 is the bottom face; do not let the slicer reorient it.
#   Standing it up changes the layer direction relative to the thin ends.
# * **thin ends**: zoom into the narrowest thin end (0.5 × the smallest width; here
#   ≥ 0.75 mm) and check that the slice shows it as solid, not as a gap or a single wall. A
#   printer or nozzle that cannot resolve `min_feature` (0.5 mm) needs another
#   `geometry.min_feature` and a retrained design, not a slicer setting.
# * **material and support**: the paper printed Agilus30 (PolyJet, E ≈ 0.55 MPa as the
#   models assume). Another elastomer changes E, so the FE checks need the new E (and the
#   design file's `material`); support material under a flat lattice is not needed.
# * **hubs**: the clamped hubs (ids 0 and 4 here) are where the sample is held; leave
#   them as they are, since the models clamp exactly the hub.
#
# From the command line the same steps are `fem-mnn validate DESIGN --loads 10:0,-0.049
# --mech-dir DIR` (exit 1 when a check fails) and `fem-mnn stl DESIGN -o lattice.stl`
# (`.step` for CAD).

save_design(design, work / "design.json")
print(f"files for the printer in {work}")
