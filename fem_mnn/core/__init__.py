"""Helpers every stage uses: errors, atomic files, units, metrics, logging, provenance.

Nothing here imports another part of the package, so every stage may import it.
"""
