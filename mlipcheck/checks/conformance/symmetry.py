"""Invariances every interatomic model has: translation, rotation (proper and improper), permutation.

Each check evaluates the case and transformed copies of it, and compares energy (per atom),
forces (as vectors: transformed with the structure) and stress (as a rank-2 tensor, R s R^T).
The Measurement's value is the quantity that is worst relative to its tolerance; the others are
in its details. On failure the transformed structure that disagreed is handed over.
"""
from __future__ import annotations

import numpy as np
from scipy.spatial.transform import Rotation

from mlipcheck.engine.context import as_context
from mlipcheck.engine.evaluate import Prediction, with_reference
from mlipcheck.engine.measurement import Measurement
from mlipcheck.engine.tolerances import compare, verdict


def _transformed(pred: Prediction, rotation=None, order=None) -> Prediction:
    """What a correct model predicts after rotating by `rotation` and/or permuting by `order`."""
    forces, stress = pred.forces, pred.stress
    if rotation is not None:
        forces = forces @ rotation.T
        stress = rotation @ stress @ rotation.T if stress is not None else None
    if order is not None:
        forces = forces[order]
    return Prediction(pred.energy, forces, stress)


def check_translation(ctx, case, settings) -> Measurement:
    """Energy, forces and stress unchanged by a rigid shift; for periodic cells also by moving
    atoms by lattice vectors (wrapping); for isolated systems also far from the origin."""
    ctx = as_context(ctx)
    model, seed = ctx.model, ctx.seed
    rng = np.random.default_rng(seed)
    atoms = case.atoms
    variants = []
    shifted = atoms.copy()
    shifted.positions += rng.uniform(-3.0, 3.0, 3)
    variants.append(("random shift", shifted))
    if atoms.pbc.any():
        wrapped = atoms.copy()
        lattice_shift = rng.integers(-2, 3, (len(atoms), 3)) * atoms.pbc  # only periodic directions
        wrapped.positions += lattice_shift @ atoms.cell.array
        variants.append(("lattice-vector shifts", wrapped))
    else:
        far = atoms.copy()
        far.positions += settings.far_offset * np.array([1.0, 0.7, 0.3])
        variants.append((f"offset {settings['far_offset']:g} A", far))
    size = max(float(np.abs(atoms.positions).max()), 1.0)
    reference, predictions = with_reference(model, atoms, [moved for _, moved in variants])
    comparisons = []
    for (label, moved), got in zip(variants, predictions):
        position_scale = max(float(np.abs(moved.positions).max()) / size, 1.0)
        rows = compare(model, settings, reference, reference, got, len(atoms), position_scale)
        comparisons.append((label, rows, moved))
    return verdict("translation", case.name, comparisons, seed)


def _rotated_atoms(atoms, matrix):
    rotated = atoms.copy()
    rotated.positions = atoms.positions @ matrix.T
    if atoms.pbc.any():
        cell = atoms.cell.array @ matrix.T
        if np.linalg.det(matrix) < 0:
            # An improper operation makes the cell left-handed; negating one vector spans the
            # same lattice and keeps the cell right-handed, as codes expect.
            periodic = np.flatnonzero(atoms.pbc)
            cell[periodic[0]] *= -1
        rotated.set_cell(cell, scale_atoms=False)
    return rotated


def check_rotation(ctx, case, settings) -> Measurement:
    """Energy invariant; forces rotate as vectors and stress as R s R^T, under a random proper
    rotation (irrational angle), inversion and a mirror. Periodic cells rotate with the atoms."""
    ctx = as_context(ctx)
    model, seed = ctx.model, ctx.seed
    rng = np.random.default_rng(seed)
    atoms = case.atoms
    proper = Rotation.random(random_state=int(rng.integers(1 << 31))).as_matrix()
    normal = rng.normal(size=3)
    normal /= np.linalg.norm(normal)
    operations = [
        ("rotation", proper),
        ("inversion", -np.eye(3)),
        ("mirror", np.eye(3) - 2.0 * np.outer(normal, normal)),
    ]
    moved = [_rotated_atoms(atoms, matrix) for _, matrix in operations]
    reference, predictions = with_reference(model, atoms, moved)
    comparisons = []
    for (label, matrix), structure, got in zip(operations, moved, predictions):
        expected = _transformed(reference, rotation=matrix)
        comparisons.append((label, compare(model, settings, reference, expected, got, len(atoms)), structure))
    return verdict("rotation", case.name, comparisons, seed)


def check_permutation(ctx, case, settings) -> Measurement:
    """Energy invariant and forces permuted with the atoms under a random reordering."""
    ctx = as_context(ctx)
    model, seed = ctx.model, ctx.seed
    rng = np.random.default_rng(seed)
    atoms = case.atoms
    order = rng.permutation(len(atoms))
    shuffled = atoms[order]
    reference, (got,) = with_reference(model, atoms, [shuffled])
    expected = _transformed(reference, order=order)
    rows = compare(model, settings, reference, expected, got, len(atoms))
    return verdict("permutation", case.name, [("permutation", rows, shuffled)], seed,
                   extra={"order": order.tolist()[:12]})
