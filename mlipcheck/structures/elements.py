"""Structures of single elements and pairs: isolated atoms, dimers, small crystals, element samples."""
from __future__ import annotations

import numpy as np
from ase import Atoms
from ase.build import bulk
from ase.data import atomic_numbers, chemical_symbols, covalent_radii, vdw_radii

# Elements tried for a model that declares no element list: those of ASE's EMT, which every ASE has.
FALLBACK_ELEMENTS = ("H", "C", "N", "O", "Al", "Ni", "Cu", "Pd", "Ag", "Pt", "Au")


def isolated_atom(symbol, box=12.0) -> Atoms:
    return Atoms(symbol, positions=[[box / 2] * 3], cell=[box] * 3, pbc=False)


def dimer(symbol_a, symbol_b, distance, box=14.0) -> Atoms:
    centre = box / 2
    return Atoms(symbol_a + symbol_b, positions=[[centre - distance / 2, centre, centre],
                                                 [centre + distance / 2, centre, centre]],
                 cell=[box, box * 1.03, box * 1.07], pbc=False)


def bond_length(symbol_a, symbol_b) -> float:
    return float(covalent_radii[atomic_numbers[symbol_a]] + covalent_radii[atomic_numbers[symbol_b]])


def small_crystal(symbol) -> Atoms:
    """ASE's reference crystal of the element where it has one, else an fcc molecular-solid-like
    packing at the van der Waals distance (H, N, O, halogens, noble gases). Not at the covalent
    distance: fcc H at 0.62 A puts thousands of atoms inside a 6 A cutoff and CHGNet's angle
    graph then takes more than 24 GB."""
    try:
        atoms = bulk(symbol)
    except (ValueError, KeyError, RuntimeError, TypeError):
        z = atomic_numbers[symbol]
        nearest = 2 * vdw_radii[z] if np.isfinite(vdw_radii[z]) else 2 * covalent_radii[z] + 1.0
        atoms = bulk(symbol, "fcc", a=nearest * np.sqrt(2))
    return atoms.repeat(2) if len(atoms) == 1 else atoms


def sample_elements(elements, limit, seed) -> list[str]:
    """`limit` of `elements` (all if limit is 0 or larger), sorted by Z: the first of them in one
    order of the whole periodic table that `seed` fixes. So two models draw the same elements
    wherever both declare them (CHGNet and SevenNet shared no EOS crystal in quick when each drew
    from its own list), and a side-by-side board or a gate compares like with like."""
    elements = sorted(elements, key=lambda s: atomic_numbers[s])
    if 0 < limit < len(elements):
        order = np.random.default_rng(seed).permutation(len(chemical_symbols))
        rank = {symbol: i for i, symbol in enumerate(np.array(chemical_symbols)[order])}
        elements = sorted(elements, key=rank.__getitem__)[:limit]
    return sorted(elements, key=lambda s: atomic_numbers[s])
