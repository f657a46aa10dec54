"""Extrapolation: dimer curves, crazy cubes and compression, MD stability, committee disagreement."""
