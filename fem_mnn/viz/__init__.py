"""Pictures: lattice geometry, tagged meshes, training curves, parity plots (matplotlib object API)."""
