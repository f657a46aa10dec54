"""Periodic boundary conditions handled as stated (OpenKIM's PeriodicitySupport, and more).

- supercell: repeating the cell along its periodic directions multiplies the energy, tiles the
  forces and leaves the stress alone (on cells smaller than the cutoff, too: atoms that see
  their own images);
- equivalent cell: a unimodular change of the cell vectors describes the same crystal;
- non-periodic directions: the cell length along a direction without periodicity changes
  nothing, shorter than the cutoff (a model that ignores `pbc` fails here) or with more vacuum.
"""
from __future__ import annotations

import numpy as np

from mlipcheck.engine.context import as_context
from mlipcheck.engine.evaluate import Prediction, with_reference
from mlipcheck.engine.tolerances import compare, verdict


def check_supercell(ctx, case, settings):
    ctx = as_context(ctx)
    model, seed = ctx.model, ctx.seed
    atoms = case.atoms
    reps = [2 if periodic else 1 for periodic in atoms.pbc]
    n_images = int(np.prod(reps))
    supercell = atoms.repeat(reps)
    reference, (got,) = with_reference(model, atoms, [supercell])
    # ASE's repeat lays out whole copies of the cell one after another.
    expected = Prediction(reference.energy * n_images, np.tile(reference.forces, (n_images, 1)),
                          reference.stress)
    rows = compare(model, settings, reference, expected, got, len(supercell))
    label = "x".join(map(str, reps)) + " supercell"
    return verdict("supercell", case.name, [(label, rows, supercell)], seed,
                   extra={"smallest_cell_length_A": float(min(atoms.cell.lengths()[atoms.pbc])),
                          "cutoff_A": model.cutoff})


def check_equivalent_cell(ctx, case, settings):
    ctx = as_context(ctx)
    model, seed = ctx.model, ctx.seed
    atoms = case.atoms
    periodic = np.flatnonzero(atoms.pbc)
    # A shear of the cell vectors by whole lattice vectors: integer, determinant 1.
    transform = np.eye(3, dtype=int)
    transform[periodic[0], periodic[1 % len(periodic)]] += 1 if len(periodic) > 1 else 0
    if len(periodic) == 3:
        transform[periodic[2], periodic[0]] -= 1
    other = atoms.copy()
    other.set_cell(transform @ atoms.cell.array, scale_atoms=False)
    other.wrap()
    reference, (got,) = with_reference(model, atoms, [other])
    rows = compare(model, settings, reference, reference, got, len(atoms))
    return verdict("equivalent_cell", case.name, [("unimodular cell change", rows, other)], seed,
                   extra={"transform": transform.tolist()})


WIDER_VACUUM_A = 10.0  # added along each non-periodic axis: the same structure in more vacuum


def check_nonperiodic_directions(ctx, case, settings):
    """The same structure in a cell shorter than any cutoff along its open axes (if the model
    wrongly treated them as periodic, images would overlap) and in one 10 A longer: both equal."""
    ctx = as_context(ctx)
    model, seed = ctx.model, ctx.seed
    atoms = case.atoms
    extent = np.ptp(atoms.get_scaled_positions(wrap=False), axis=0) * atoms.cell.lengths()
    variants = []
    for label, length_of in (("tight cell along non-periodic axes", lambda axis: extent[axis] + 1.0),
                             (f"{WIDER_VACUUM_A:g} A more vacuum along non-periodic axes",
                              lambda axis: atoms.cell.lengths()[axis] + WIDER_VACUUM_A)):
        changed = atoms.copy()
        cell = changed.cell.array.copy()
        for axis in np.flatnonzero(~atoms.pbc):
            cell[axis] *= length_of(axis) / np.linalg.norm(cell[axis])
        changed.set_cell(cell, scale_atoms=False)
        variants.append((label, changed))
    reference, predictions = with_reference(model, atoms, [changed for _, changed in variants])
    comparisons = [(label, compare(model, settings, reference, reference, got, len(atoms)), changed)
                   for (label, changed), got in zip(variants, predictions)]
    return verdict("nonperiodic_directions", case.name, comparisons, seed, extra={"pbc": atoms.pbc.tolist()})
