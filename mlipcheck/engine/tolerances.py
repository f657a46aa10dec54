"""Comparing two predictions of what should be the same physical answer, with dtype-aware
tolerances, and turning a list of such comparisons into one Measurement (the worst one)."""
from __future__ import annotations

import numpy as np

from mlipcheck.engine.evaluate import Prediction
from mlipcheck.engine.measurement import Measurement

UNITS = {"energy": "eV/atom", "forces": "eV/A", "stress": "eV/A^3"}


SMALL_CELL_ATOMS = 8


def compare(model, section, reference: Prediction, expected: Prediction, got: Prediction, n_atoms,
            position_scale=1.0):
    """Errors of `got` against `expected` and their tolerances, per quantity.

    `position_scale` > 1 when the structure was moved far from the origin: rounding of
    positions, and so of everything computed from them, grows in proportion.
    """
    # Float32 rounding follows the size of the atomic energies summed, which the total can hide
    # (cancellation, light elements): never below the profile's typical atomic energy.
    scale_e = max(abs(reference.energy) / n_atoms, float(section.atomic_energy_scale))
    # Force rounding noise in float32 follows the per-atom energy scale over ~1 Angstrom, since
    # forces are gradients of a sum of atomic energies, not the (often small) force itself.
    scale_f = max(scale_e, float(np.abs(reference.forces).max())) * position_scale
    # Per atom, the rounding of a sum of N atomic terms shrinks as 1/sqrt(N); the factor was set on
    # cells of 8 and more atoms, so a smaller one gets sqrt(8/N): a generated one-atom Sc cell
    # moved 12 times spread CHGNet 0.2.0's energy by 2.8e-5 eV, above 32 eps x 5 eV (1.9e-5).
    few_atoms = np.sqrt(max(1.0, SMALL_CELL_ATOMS / n_atoms))
    rows = {
        "energy": (abs(got.energy - expected.energy) / n_atoms,
                   section.tolerance("energy", model.dtype, scale_e * position_scale * few_atoms)),
        "forces": (float(np.abs(got.forces - expected.forces).max()),
                   section.tolerance("force", model.dtype, scale_f)),
    }
    if expected.stress is not None and got.stress is not None:
        scale_s = (float(np.abs(reference.stress).max()) + scale_e / 10.0) * position_scale  # eV/atom over ~10 A^3
        rows["stress"] = (float(np.abs(got.stress - expected.stress).max()),
                          section.tolerance("stress", model.dtype, scale_s))
    return rows


def verdict(check, case_name, comparisons, seed, extra=None) -> Measurement:
    """One Measurement from a list of (label, rows, atoms): the worst error/tolerance ratio."""
    worst = None
    details = dict(extra or {})
    for label, rows, atoms in comparisons:
        for quantity, (error, tol) in rows.items():
            ratio = error / tol if tol > 0 else np.inf
            details[f"{label}:{quantity}"] = float(error)
            if worst is None or ratio > worst[0] or not np.isfinite(error):
                worst = (ratio, label, quantity, error, tol, atoms)
    ratio, label, quantity, error, tol, atoms = worst
    return Measurement(
        check=check, metric=f"max |{quantity} error| under {label}", value=float(error),
        unit=UNITS[quantity], threshold=float(tol), passed=bool(error <= tol), case=case_name,
        details=details, atoms=atoms if not error <= tol else None, seed=seed)


