"""Properties: equation of state, elastic constants, phonons, defects and surfaces, relaxation."""
