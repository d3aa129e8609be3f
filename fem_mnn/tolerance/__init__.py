"""Stage 5, print tolerance: how the printer's scatter moves a task's outputs and its success.

Above :mod:`fem_mnn.fem` and :mod:`fem_mnn.learn`: :mod:`.analysis` is numpy-only and
model-agnostic (the spring model, or any model behind the contract); :mod:`.fe` builds the
FE side (a morphing model per rank, the shape-gradient Jacobian; it imports DOLFINx when
called); :mod:`.plot` draws the output distributions and the bond shares.
"""
