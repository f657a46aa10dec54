"""Energy, forces and stress agree with each other: F = -dE/dx, stress = (1/V) dE/d(strain),
and forces sum to zero (and, for isolated systems, exert no torque).

Forces are compared with central finite differences of the energy.

Richardson extrapolation of two central differences (steps h and h/2) removes the O(h^2) error;
what remains is rounding, about eps(dtype) * |E| / h, which sets the float32 tolerance. The step
is per dtype in the profile: small enough for curvature, large enough that float32 rounding of
the total energy does not swamp the difference.
"""
from __future__ import annotations

import numpy as np

from mlipcheck.checks.evaluate import evaluate, reference_prediction
from mlipcheck.checks.measurement import Measurement


def _energy(model, atoms):
    return evaluate(model, atoms, stress=False).energy


def check_forces_finite_difference(model, case, section, seed=0) -> Measurement:
    rng = np.random.default_rng(seed)
    atoms = case.atoms
    reference = reference_prediction(model, atoms)
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


def _strained(atoms, component, h):
    """`atoms` under the symmetric strain h*S, S the unit tensor of Voigt `component`."""
    a, b = [(0, 0), (1, 1), (2, 2), (1, 2), (0, 2), (0, 1)][component]
    strain = np.zeros((3, 3))
    strain[a, b] += h / 2
    strain[b, a] += h / 2
    strained = atoms.copy()
    strained.set_cell(atoms.cell.array @ (np.eye(3) + strain), scale_atoms=True)
    return strained


def check_stress_finite_strain(model, case, section, seed=0) -> Measurement:
    """Stress equals (1/V) dE/d(strain), by Richardson-extrapolated central differences in each
    of the six strain components. Catches a stress in the wrong unit or with the wrong sign."""
    atoms = case.atoms
    reference = reference_prediction(model, atoms)
    volume = atoms.get_volume()
    step = float(section.per_dtype("strain_step", model.dtype))
    errors = []
    for component in range(6):
        a, b = [(0, 0), (1, 1), (2, 2), (1, 2), (0, 2), (0, 1)][component]
        derivative = {}
        for h in (step, step / 2):
            plus = _energy(model, _strained(atoms, component, +h))
            minus = _energy(model, _strained(atoms, component, -h))
            derivative[h] = (plus - minus) / (2 * h) / volume
        extrapolated = (4 * derivative[step / 2] - derivative[step]) / 3
        errors.append(abs(reference.stress[a, b] - extrapolated))
    tolerance = section.tolerance("stress", model.dtype, abs(reference.energy) / (step * volume))
    worst = float(max(errors))
    return Measurement(
        check="stress_finite_strain", metric="max |stress - (1/V) dE/de|", value=worst,
        unit="eV/A^3", threshold=tolerance, passed=bool(worst <= tolerance), case=case.name,
        details={"strain_step": step, "worst_component": "xx yy zz yz xz xy".split()[int(np.argmax(errors))],
                 "max_abs_stress_GPa": float(np.abs(reference.stress).max() * 160.21766)},
        atoms=atoms if worst > tolerance else None, seed=seed)


def check_net_force(model, case, section, seed=0) -> Measurement:
    """Forces sum to zero (any model whose energy is translation invariant); for isolated
    systems the torque about the centroid vanishes too (rotation invariance)."""
    atoms = case.atoms
    prediction = reference_prediction(model, atoms)
    scale = max(abs(prediction.energy) / len(atoms), float(np.abs(prediction.forces).max()))
    # Summing N float32 forces adds up to N roundings.
    tolerance = section.tolerance("force", model.dtype, scale * len(atoms))
    net = float(np.linalg.norm(prediction.forces.sum(axis=0)))
    details = {"net_force": net}
    value, metric = net, "|sum of forces|"
    if not atoms.pbc.any():
        arms = atoms.positions - atoms.positions.mean(axis=0)
        torque = float(np.linalg.norm(np.cross(arms, prediction.forces).sum(axis=0)))
        size = max(float(np.linalg.norm(arms, axis=1).max()), 1.0)
        details["net_torque_eV"] = torque
        if torque / size > value:  # torque over the lever arm: comparable with a force
            value, metric = torque / size, "|net torque| / max lever arm"
    return Measurement(
        check="net_force", metric=metric, value=value, unit="eV/A", threshold=tolerance,
        passed=bool(value <= tolerance), case=case.name, details=details,
        atoms=atoms if value > tolerance else None, seed=seed)


def check_force_jacobian_symmetry(model, case, section, seed=0) -> Measurement:
    """Conservative forces have a symmetric Jacobian (the Hessian of the energy). On a sample of
    `components` coordinates, J_ab = -dF_a/dx_b by central differences; lambda = |J_anti| / |J|
    (Frobenius norms), the ml-peg proposal. Zero for any F = -grad E, whatever its accuracy: a
    direct-force model shows here even where one finite-difference comparison is inconclusive."""
    rng = np.random.default_rng(seed)
    atoms = case.atoms
    chosen = np.sort(rng.choice(3 * len(atoms), min(int(section["components"]), 3 * len(atoms)), replace=False))
    h = float(section.per_dtype("step", model.dtype))
    jacobian = np.zeros((len(chosen), len(chosen)))
    for column, flat in enumerate(chosen):
        i, k = divmod(int(flat), 3)
        forces = []
        for sign in (+1, -1):
            moved = atoms.copy()
            moved.positions[i, k] += sign * h
            forces.append(evaluate(model, moved, stress=False).forces.ravel()[chosen])
        jacobian[:, column] = -(forces[0] - forces[1]) / (2 * h)
    anti = (jacobian - jacobian.T) / 2
    value = float(np.linalg.norm(anti) / max(np.linalg.norm(jacobian), 1e-12))
    threshold = float(section.per_dtype("max_lambda", model.dtype))
    return Measurement(
        "force_jacobian_symmetry", "|J_anti| / |J| of the force Jacobian", value, "", threshold,
        value <= threshold, case=case.name, atoms=atoms if value > threshold else None, seed=seed,
        details={"components": len(chosen), "step_A": h, "jacobian_norm": float(np.linalg.norm(jacobian))})
