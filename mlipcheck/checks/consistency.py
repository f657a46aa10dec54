"""Forces are minus the gradient of the energy: compared with central finite differences.

Richardson extrapolation of two central differences (steps h and h/2) removes the O(h^2) error;
what remains is rounding, about eps(dtype) * |E| / h, which sets the float32 tolerance. The step
is per dtype in the profile: small enough for curvature, large enough that float32 rounding of
the total energy does not swamp the difference.
"""
from __future__ import annotations

import numpy as np

from mlipcheck.checks.evaluate import evaluate
from mlipcheck.checks.measurement import Measurement


def _energy(model, atoms):
    return evaluate(model, atoms, stress=False).energy


def check_forces_finite_difference(model, case, section, seed=0) -> Measurement:
    rng = np.random.default_rng(seed)
    atoms = case.atoms
    reference = evaluate(model, atoms, stress=False)
    step = float(section.per_dtype("step", model.dtype))
    n_components = min(int(section["components"]), 3 * len(atoms))
    # Sample components with the atoms' largest forces first: where a wrong force shows most.
    order = np.argsort(-np.abs(reference.forces).ravel())
    chosen = np.concatenate([order[: n_components // 2],
                             rng.choice(order[n_components // 2:], n_components - n_components // 2, replace=False)])
    errors, estimates = [], []
    worst_index = None
    for flat in chosen:
        i, k = divmod(int(flat), 3)
        derivative = {}
        for h in (step, step / 2):
            energies = []
            for sign in (+1, -1):
                moved = atoms.copy()
                moved.positions[i, k] += sign * h
                energies.append(_energy(model, moved))
            derivative[h] = -(energies[0] - energies[1]) / (2 * h)
        extrapolated = (4 * derivative[step / 2] - derivative[step]) / 3
        error = abs(reference.forces[i, k] - extrapolated)
        errors.append(error)
        estimates.append(abs(derivative[step / 2] - derivative[step]) / 3)
        if worst_index is None or error >= max(errors):
            worst_index = (i, k)
    # Rounding of the energy in the model's precision, amplified by 1/h in the difference.
    tolerance = section.tolerance("force", model.dtype, abs(reference.energy) / step)
    worst = float(max(errors))
    return Measurement(
        check="forces_finite_difference", metric="max |F - (-dE/dx)|", value=worst, unit="eV/A",
        threshold=tolerance, passed=bool(worst <= tolerance), case=case.name,
        details={"step_A": step, "components": n_components,
                 "worst_atom": worst_index[0], "worst_direction": "xyz"[worst_index[1]],
                 "richardson_error_estimate": float(max(estimates)),
                 "max_abs_force": float(np.abs(reference.forces).max())},
        atoms=atoms if worst > tolerance else None, seed=seed)
