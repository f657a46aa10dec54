"""Energy, forces and stress agree with each other: F = -dE/dx, stress = (1/V) dE/d(strain),
and forces sum to zero (and, for isolated systems, exert no torque).

Forces and stress are compared with central finite differences of the energy that are shown to
have converged (finite_difference.py): Richardson extrapolation removes the O(h^2) error, the
step is halved until successive estimates agree, and what remains is rounding, about
eps(dtype) * |E| / h, which sets the float32 tolerance. The first step is per dtype in the
profile: small enough for curvature, large enough that float32 rounding of the total energy
does not swamp the difference.
"""
from __future__ import annotations

import numpy as np

from mlipcheck.engine.context import as_context
from mlipcheck.engine.evaluate import evaluate, evaluate_all, reference_prediction
from mlipcheck.engine.finite_difference import converged_derivative, first_steps, prefetched, uncertainty
from mlipcheck.engine.measurement import Measurement, NotApplicable


def _energy(model, atoms):
    return evaluate(model, atoms, stress=False).energy


def _energies(model, structures: dict) -> dict:
    """key -> E of the structure under that key, in one batch."""
    return dict(zip(structures, (p.energy for p in evaluate_all(model, list(structures.values()), stress=False))))


def check_forces_finite_difference(ctx, case, settings) -> Measurement:
    """Forces against -dE/dx on `components` coordinates (half the largest forces, half random),
    by central differences shown to converge (finite_difference.py); a coordinate where no step
    converges is left out and counted, never judged on an unconverged difference."""
    ctx = as_context(ctx)
    model, seed = ctx.model, ctx.seed
    rng = np.random.default_rng(seed)
    atoms = case.atoms
    reference = reference_prediction(model, atoms)
    step = float(settings.per_dtype("step", model.dtype))
    n_components = min(int(settings.components), 3 * len(atoms))
    # Sample components with the atoms' largest forces first: where a wrong force shows most.
    order = np.argsort(-np.abs(reference.forces).ravel())
    chosen = np.concatenate([order[: n_components // 2],
                             rng.choice(order[n_components // 2:], n_components - n_components // 2, replace=False)])

    def tolerance(h):  # rounding of the energy in the model's precision, amplified by 1/h
        return settings.tolerance("force", model.dtype, abs(reference.energy) / h)

    def displaced(flat, delta):
        moved = atoms.copy()
        moved.positions[divmod(int(flat), 3)] += delta
        return moved

    first = _energies(model, {(flat, d): displaced(flat, d) for flat in chosen for d in first_steps(step)})
    worst, unresolved, smallest = None, 0, step
    for flat in chosen:
        i, k = divmod(int(flat), 3)
        energy_at = prefetched({d: first[(flat, d)] for d in first_steps(step)},
                               lambda delta, flat=flat: _energy(model, displaced(flat, delta)))
        derivative = converged_derivative(energy_at, step, tolerance)
        smallest = min(smallest, derivative.step)
        if not derivative.converged:
            unresolved += 1
            continue
        error = abs(reference.forces[i, k] + derivative.value)
        allowed = derivative.tolerance
        if error > allowed:  # before failing: is the estimate itself that certain?
            allowed += uncertainty(energy_at, derivative)
        if worst is None or error / allowed > worst[0]:
            worst = (error / allowed, error, allowed, i, k, derivative)
    if worst is None:
        raise NotApplicable(f"{case.name}: no finite difference of the energy converged on {n_components} "
                            f"coordinates (the energy is noise or discontinuous at every step down to {smallest:.2g} A)")
    _, error, allowed, i, k, derivative = worst
    passed = bool(error <= allowed)
    return Measurement(
        check="forces_finite_difference", metric="max |F - (-dE/dx)|", value=error, unit="eV/A",
        threshold=allowed, passed=passed, case=case.name,
        details={"step_A": derivative.step, "components": n_components, "unresolved_components": unresolved,
                 "worst_atom": i, "worst_direction": "xyz"[k], "convergence_disagreement": derivative.disagreement,
                 "max_abs_force": float(np.abs(reference.forces).max())},
        atoms=None if passed else atoms, seed=seed)


VOIGT = [(0, 0), (1, 1), (2, 2), (1, 2), (0, 2), (0, 1)]


def _strained(atoms, component, h):
    """`atoms` under the symmetric strain h*S, S the unit tensor of Voigt `component`."""
    a, b = VOIGT[component]
    strain = np.zeros((3, 3))
    strain[a, b] += h / 2
    strain[b, a] += h / 2
    strained = atoms.copy()
    strained.set_cell(atoms.cell.array @ (np.eye(3) + strain), scale_atoms=True)
    return strained


def check_stress_finite_strain(ctx, case, settings) -> Measurement:
    """Stress equals (1/V) dE/d(strain), by central differences in each of the six strain
    components, shown to converge. Catches a stress in the wrong unit or with the wrong sign."""
    ctx = as_context(ctx)
    model, seed = ctx.model, ctx.seed
    atoms = case.atoms
    reference = reference_prediction(model, atoms)
    volume = atoms.get_volume()
    step = float(settings.per_dtype("strain_step", model.dtype))

    def tolerance(h):  # rounding of E amplified by 1/(h V)
        return settings.tolerance("stress", model.dtype, abs(reference.energy) / (h * volume))

    first = _energies(model, {(c, h): _strained(atoms, c, h) for c in range(6) for h in first_steps(step)})
    worst, unresolved = None, []
    for component, (a, b) in enumerate(VOIGT):
        energy_at = prefetched({h: first[(component, h)] / volume for h in first_steps(step)},
                               lambda h, c=component: _energy(model, _strained(atoms, c, h)) / volume)
        derivative = converged_derivative(energy_at, step, tolerance)
        if not derivative.converged:
            unresolved.append("xx yy zz yz xz xy".split()[component])
            continue
        error = abs(reference.stress[a, b] - derivative.value)
        allowed = derivative.tolerance
        if error > allowed:
            allowed += uncertainty(energy_at, derivative)
        if worst is None or error / allowed > worst[0]:
            worst = (error / allowed, error, allowed, component, derivative.step)
    if worst is None:
        raise NotApplicable(f"{case.name}: no strain derivative of the energy converged (noise or a discontinuity)")
    _, error, allowed, component, used = worst
    passed = bool(error <= allowed)
    return Measurement(
        check="stress_finite_strain", metric="max |stress - (1/V) dE/de|", value=error,
        unit="eV/A^3", threshold=allowed, passed=passed, case=case.name,
        details={"strain_step": used, "worst_component": "xx yy zz yz xz xy".split()[component],
                 "unresolved_components": unresolved,
                 "max_abs_stress_GPa": float(np.abs(reference.stress).max() * 160.21766)},
        atoms=None if passed else atoms, seed=seed)


def check_net_force(ctx, case, settings) -> Measurement:
    """Forces sum to zero (any model whose energy is translation invariant); for isolated
    systems the torque about the centroid vanishes too (rotation invariance)."""
    ctx = as_context(ctx)
    model, seed = ctx.model, ctx.seed
    atoms = case.atoms
    prediction = reference_prediction(model, atoms)
    scale = max(abs(prediction.energy) / len(atoms), float(np.abs(prediction.forces).max()))
    # Summing N float32 forces adds up to N roundings.
    tolerance = settings.tolerance("force", model.dtype, scale * len(atoms))
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


def _jacobian(model, atoms, chosen, h):
    """-dF_a/dx_b on the chosen coordinates: every displaced structure in one batch."""
    structures = []
    for flat in chosen:
        for sign in (+1, -1):
            moved = atoms.copy()
            moved.positions[divmod(int(flat), 3)] += sign * h
            structures.append(moved)
    forces = [p.forces.ravel()[chosen] for p in evaluate_all(model, structures, stress=False)]
    return np.stack([-(forces[2 * c] - forces[2 * c + 1]) / (2 * h) for c in range(len(chosen))], axis=1)


def _asymmetry(jacobian) -> float:
    anti = (jacobian - jacobian.T) / 2
    return float(np.linalg.norm(anti) / max(np.linalg.norm(jacobian), 1e-12))


def check_force_jacobian_symmetry(ctx, case, settings) -> Measurement:
    """Conservative forces have a symmetric Jacobian (the Hessian of the energy). On a sample of
    `components` coordinates, J_ab = -dF_a/dx_b by central differences; lambda = |J_anti| / |J|
    (Frobenius norms), the ml-peg proposal. Zero for any F = -grad E, whatever its accuracy: a
    direct-force model shows here even where one finite-difference comparison is inconclusive.

    A lambda over the threshold is confirmed at half the step before it fails: a real curl is a
    property of the forces and stays; truncation (wiggly surfaces) shrinks ~4x and rounding grows
    ~2x. Only a lambda that stays over the threshold at both steps, within a factor 1.5 of itself
    (converged), is a failure; one that moves more is reported as unresolved (a skip)."""
    ctx = as_context(ctx)
    model, seed = ctx.model, ctx.seed
    rng = np.random.default_rng(seed)
    atoms = case.atoms
    chosen = np.sort(rng.choice(3 * len(atoms), min(int(settings.components), 3 * len(atoms)), replace=False))
    h = float(settings.per_dtype("step", model.dtype))
    threshold = float(settings.per_dtype("max_lambda", model.dtype))
    jacobian = _jacobian(model, atoms, chosen, h)
    value = _asymmetry(jacobian)
    details = {"components": len(chosen), "step_A": h, "jacobian_norm": float(np.linalg.norm(jacobian))}
    if value > threshold:
        halved = _asymmetry(_jacobian(model, atoms, chosen, h / 2))
        details.update(lambda_at_half_step=halved, step_A=h / 2)
        if halved <= threshold:
            value = halved  # the first step had not resolved the Jacobian
        elif max(value, halved) > 1.5 * min(value, halved):
            raise NotApplicable(f"{case.name}: the force Jacobian did not converge (lambda {value:.3g} at "
                                f"h = {h:g} A, {halved:.3g} at h/2): noise or a discontinuity, not judged")
    return Measurement(
        "force_jacobian_symmetry", "|J_anti| / |J| of the force Jacobian", value, "", threshold,
        value <= threshold, case=case.name, atoms=atoms if value > threshold else None, seed=seed,
        details=details)
