"""Conformance: invariances, energy-force-stress consistency, periodicity, determinism, species, generated structures."""
