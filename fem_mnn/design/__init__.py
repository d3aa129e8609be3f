"""Stage 1, the design: the lattice a user wants to print, as data (numpy/scipy only).

Modules: :mod:`.records` (the frozen :class:`Design` record), :mod:`.files` (JSON in
and out), :mod:`.validate` (every defect named), :mod:`.rigidity` (zero-energy modes),
:mod:`.builders` (the paper's sample, patches, strips), :mod:`.outline` (the printed
beam outlines) and :mod:`.printability` (what the printer can make).
"""

from fem_mnn.design.builders import paper_sample, triangular_patch, triangular_strip, without_bonds
from fem_mnn.design.files import design_from_dict, load_design, parse_design, read_design_json, save_design
from fem_mnn.design.outline import BeamLayout, beam_layout
from fem_mnn.design.printability import PrintabilityReport, check_design
from fem_mnn.design.records import Design, Geometry, Material, check_widths
from fem_mnn.design.rigidity import zero_modes
from fem_mnn.design.validate import components, crossing_bonds, validate

__all__ = [
    "BeamLayout",
    "Design",
    "Geometry",
    "Material",
    "PrintabilityReport",
    "beam_layout",
    "check_design",
    "check_widths",
    "components",
    "crossing_bonds",
    "design_from_dict",
    "load_design",
    "paper_sample",
    "parse_design",
    "read_design_json",
    "save_design",
    "triangular_patch",
    "triangular_strip",
    "validate",
    "without_bonds",
    "zero_modes",
]
