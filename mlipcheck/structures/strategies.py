"""Hypothesis strategies for structures: compositions from a model's elements, random cells,
positions no closer than a fraction of the covalent bond length.

Hypothesis shrinks a failing structure to a minimal one (fewer atoms, simpler cell), which is
what the user gets written out.
"""
from __future__ import annotations

import numpy as np
from ase import Atoms
from ase.data import atomic_numbers, covalent_radii
from ase.geometry import cellpar_to_cell
from ase.neighborlist import neighbor_list
from hypothesis import assume
from hypothesis import strategies as st

# Atoms closer than this fraction of the sum of covalent radii are rejected: the invariances
# hold anywhere, but far inside the core some models overflow, which is another suite's subject.
MIN_DISTANCE_FRACTION = 0.75
# Neighbours within the model's cutoff that the number density allows, at most: a close-packed
# metal has ~80 inside 6 A. A one-atom H cell of 0.7 A edges (allowed by the distance rule: its
# image is 0.7 A away) holds ~2600, and CHGNet 0.2.0's angle graph of such a cell took 24 GB
# and was killed for memory (quick run, 2026-12-05).
MAX_NEIGHBOURS = 120


def too_dense(atoms: Atoms, cutoff: float) -> bool:
    """More than MAX_NEIGHBOURS atoms per atom inside `cutoff`, by the cell's number density."""
    if not atoms.pbc.all():
        return False
    return len(atoms) / atoms.get_volume() * 4 / 3 * np.pi * cutoff ** 3 > MAX_NEIGHBOURS


def too_close(atoms: Atoms) -> bool:
    radii = covalent_radii[atoms.numbers]
    i, j, d = neighbor_list("ijd", atoms, float(2 * radii.max()), self_interaction=False)
    return bool(np.any(d < MIN_DISTANCE_FRACTION * (radii[i] + radii[j])))


@st.composite
def structures(draw, elements, max_atoms=6, periodic=None, cutoff=6.0):
    """A small structure: 1..max_atoms atoms of `elements`, periodic (3D) or isolated; a periodic
    one no denser than MAX_NEIGHBOURS within `cutoff` (the model's)."""
    symbols_pool = sorted(elements, key=lambda s: atomic_numbers[s])
    n_atoms = draw(st.integers(1, max_atoms))
    symbols = draw(st.lists(st.sampled_from(symbols_pool), min_size=n_atoms, max_size=n_atoms))
    radius = float(max(covalent_radii[atomic_numbers[s]] for s in symbols))
    is_periodic = draw(st.booleans()) if periodic is None else periodic
    unit = st.floats(0.0, 1.0, allow_nan=False)
    fractions = np.array(draw(st.lists(st.tuples(unit, unit, unit), min_size=n_atoms, max_size=n_atoms)))
    if is_periodic:
        # Cell edges from 2.2 to 4 bond lengths scaled by the number of atoms, angles 60-120 deg.
        scale = 2 * radius * max(1.0, n_atoms ** (1 / 3))
        lengths = [draw(st.floats(1.1 * scale, 2.0 * scale)) for _ in range(3)]
        angles = [draw(st.floats(60.0, 120.0)) for _ in range(3)]
        cell = cellpar_to_cell(lengths + angles)
        if abs(np.linalg.det(cell)) < 0.3 * np.prod(lengths):  # nearly flat cells are not crystals
            assume(False)
        atoms = Atoms(symbols, scaled_positions=fractions, cell=cell, pbc=True)
        assume(not too_dense(atoms, cutoff))
    else:
        box = 2 * radius * max(1.0, n_atoms ** (1 / 3)) * 1.5
        atoms = Atoms(symbols, positions=fractions * box + 6.0, cell=[box + 12.0] * 3, pbc=False)
    assume(not too_close(atoms))
    return atoms
