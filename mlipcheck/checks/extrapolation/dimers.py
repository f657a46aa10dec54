"""Dimer curves: two atoms from deep inside the core to beyond the cutoff.

One curve per element pair is computed once (cached on the model) and judged by several
verdicts: finite everywhere, continuous (no energy jumps beyond the curve's local smoothness),
forces along the bond equal to -dE/dr, few sign changes of the force, a repulsive wall without
a hole, and clean dissociation (the isolated atoms' energy and zero force beyond the cutoff).
MLIP Arena's diatomic metrics are computed beside them, as MLIP Arena defines them.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mlipcheck.checks.extrapolation.arena import METRICS, arena_window, force_flips
from mlipcheck.checks.extrapolation.arena import arena_metrics as metrics_of_curve
from mlipcheck.engine.context import as_context
from mlipcheck.engine.evaluate import evaluate_all, evaluate_batch
from mlipcheck.engine.finite_difference import converged_derivative, first_steps, prefetched, uncertainty
from mlipcheck.engine.measurement import Measurement, NotApplicable
from mlipcheck.engine.memo import memo
from mlipcheck.errors import ModelCallError
from mlipcheck.structures.elements import FALLBACK_ELEMENTS, bond_length, dimer, isolated_atom, sample_elements
from mlipcheck.targets import Target, provider

DEFAULT_CUTOFF = 6.0  # Angstrom, for models that do not state theirs


@dataclass
class DimerCurve:
    pair: str
    r: np.ndarray  # Angstrom
    energy: np.ndarray  # eV, total
    force: np.ndarray  # eV/A, along the bond, positive = repulsive (= -dE/dr)
    isolated: float  # eV, the two isolated atoms' energies
    cutoff: float
    nonfinite_at: float | None = None  # first distance with a NaN/inf output
    nonfinite_atoms: object = None

    @property
    def relative(self) -> np.ndarray:
        """Energy relative to the two isolated atoms (the dissociation limit)."""
        return self.energy - self.isolated


def dimer_curve(model, a: str, b: str, settings) -> DimerCurve:
    """The curve for a pair, computed once per model and profile settings."""
    cutoff = model.cutoff or DEFAULT_CUTOFF
    r_start, step = float(settings.r_start), float(settings.step)
    r_stop = cutoff + float(settings.beyond_cutoff)
    key = ("dimer", a, b, r_start, r_stop, step)
    cache = memo(model)
    if key in cache:
        return cache[key]
    # A box large enough that a model treating every cell as periodic sees no image.
    box = max(14.0, 2 * (r_stop + cutoff))
    isolated = sum(p.energy for p in evaluate_all(model, [isolated_atom(s, box=box) for s in (a, b)]))
    distances = np.arange(r_start, r_stop + step / 2, step)
    energies, forces = [], []
    curve = DimerCurve(f"{a}-{b}", distances, np.array([]), np.array([]), isolated, cutoff)
    # From far to near: a model that breaks down at short range still gets its outer curve judged.
    # All distances in one batch where the model has a batched path (the curve is ~130 calls).
    structures = [dimer(a, b, r, box=box) for r in distances[::-1]]
    predictions = evaluate_batch(model, structures, stress=False)
    for r, atoms, prediction in zip(distances[::-1], structures, predictions):
        if isinstance(prediction, ModelCallError):
            if prediction.kind != "nonfinite":
                raise prediction
            curve.nonfinite_at, curve.nonfinite_atoms = float(r), atoms
            break
        energies.append(prediction.energy)
        forces.append((prediction.forces[1, 0] - prediction.forces[0, 0]) / 2)
    n = len(energies)
    curve.r, curve.energy, curve.force = distances[len(distances) - n:], np.array(energies[::-1]), np.array(forces[::-1])
    cache[key] = curve
    return curve


def _measure(check, curve, metric, value, unit, threshold, r_at=None, **details):
    passed = bool(value <= threshold)
    atoms = None
    if not passed and r_at is not None:
        a, b = curve.pair.split("-")
        atoms = dimer(a, b, r_at)
    return Measurement(check, metric, float(value), unit, float(threshold), passed, case=f"{curve.pair} dimer",
                       details={k: (round(v, 6) if isinstance(v, float) else v) for k, v in details.items()},
                       atoms=atoms)


def pair_curve(ctx, target, settings, judged=True) -> DimerCurve:
    """The curve of `target`, an element pair (computed once per model) or a curve given whole;
    with `judged`, NotApplicable when too few distances had finite outputs to judge it."""
    curve = target if isinstance(target, DimerCurve) else dimer_curve(as_context(ctx).model, *target, settings)
    if judged and len(curve.r) < 8:
        raise NotApplicable(f"{curve.pair}: outputs not finite below r = {curve.nonfinite_at} A")
    return curve


def check_dimer_finite(ctx, pair, settings) -> Measurement:
    """Finite everywhere. Its Measurement also carries the curve itself, for the report's plots."""
    curve = pair_curve(ctx, pair, settings, judged=False)
    plot = {"curve_r": [round(float(r), 4) for r in curve.r],
            "curve_E": [round(float(e), 5) for e in curve.relative]}
    if curve.nonfinite_at is None:
        return _measure("dimer_finite", curve, "distances with NaN/inf output", 0, "points", 0,
                        scanned=f"{curve.r[0]:.2f}-{curve.r[-1]:.2f} A", **plot)
    m = _measure("dimer_finite", curve, f"first NaN/inf at r = {curve.nonfinite_at:.3f} A", 1, "points", 0, **plot)
    m.atoms = curve.nonfinite_atoms
    return m


def judged_region(curve: DimerCurve, settings) -> int:
    """Index of the innermost distance judged: scanning inward from the cutoff, the first point
    where the energy has risen `judged_ceiling` eV above the dissociation limit. Inside it no
    simulation of this profile goes (its MD temperatures and compressions, with margin), so a
    hole, jump or flip there is reported, not failed. 0 when the energy never rises that far
    (the repulsion check fails that)."""
    ceiling = float(settings.judged_ceiling)
    above = np.flatnonzero(curve.relative >= ceiling)
    return int(above[-1]) if len(above) else 0


def dimer_energies(model, curve: DimerCurve):
    """energies_at(distances) -> E of the curve's pair at each distance, in the curve's box, in
    one batch."""
    a, b = curve.pair.split("-")
    box = max(14.0, 2 * (curve.r[-1] + curve.cutoff))

    def energies_at(distances):
        return [p.energy for p in evaluate_all(model, [dimer(a, b, float(r), box=box) for r in distances], stress=False)]

    return energies_at


def _region_details(curve: DimerCurve, start: int) -> dict:
    return {"judged_from_A": float(curve.r[start]), "judged_to_A": float(curve.r[-1])}


def check_dimer_continuity(ctx, pair, settings, energy_at=None) -> Measurement:
    """No energy jump, within the judged region. On the curve's grid a step of height d in E leaves
    third differences d, -2d, d (alternating signs); a smooth curve, however steep, has third
    differences of one sign locally. A candidate is min(|d3[k-1]|, |d3[k]|/2, |d3[k+1]|) where
    the signs alternate, less `smoothness_factor` times the neighbourhood's median |d3|.

    A candidate over the tolerance is then resolved: the three grid intervals around it are
    rescanned `refine_points` times finer, where a real step keeps its height in one fine interval
    and a sharp but continuous feature (CHGNet's Be-Be at 1.06 A: the force turns by 3 eV/A
    within 10 mA) vanishes. The resolved height is what is judged. Candidates closer in than
    the judged region are reported, not failed. `energy_at(r)` gives E at any distance (default:
    the model's dimer)."""
    model = as_context(ctx).model
    curve = pair_curve(ctx, pair, settings)
    d3 = np.diff(curve.energy, 3)
    start = judged_region(curve, settings)
    if len(d3) - start < 8:
        raise NotApplicable(f"{curve.pair}: fewer than 8 points in the judged region "
                            f"(r >= {curve.r[start]:.2f} A)")
    window = int(settings.smoothness_window)
    size = np.abs(d3)
    jumps = np.zeros(len(d3))
    for k in range(1, len(d3) - 1):
        if np.sign(d3[k - 1]) == np.sign(d3[k + 1]) == -np.sign(d3[k]):
            around = np.concatenate([size[max(0, k - window): k - 1], size[k + 2: k + window + 1]])
            local = float(np.median(around)) if len(around) else 0.0
            height = min(size[k - 1], size[k] / 2, size[k + 1])
            jumps[k] = max(height - float(settings.smoothness_factor) * local, 0.0)
    noise = float(settings.tolerance("jump", model.dtype, _energy_scale(np.abs(curve.energy[start:]).max(), settings)))
    details = _region_details(curve, start)
    if start > 0:
        outside = int(np.argmax(jumps[:start]))
        details.update(jump_behind_wall_eV=float(jumps[outside]), jump_behind_wall_at_A=float(curve.r[outside + 1]))
    # Resolve the largest candidates over the tolerance (at most `max_refined`), largest first.
    candidates = [start + int(k) for k in np.argsort(-jumps[start:]) if jumps[start + k] > noise]
    energies_at = (lambda rs: [energy_at(r) for r in rs]) if energy_at else dimer_energies(model, curve)
    resolved = {k: _resolved_step(energies_at, curve, k, int(settings.refine_points), noise)
                for k in candidates[: int(settings.max_refined)]}
    if resolved:
        k, (height, r_at) = max(resolved.items(), key=lambda item: item[1][0])
        details.update(candidates_refined=len(resolved), grid_estimate_eV=float(jumps[k]))
    else:
        k = start + int(np.argmax(jumps[start:]))
        height, r_at = float(jumps[k]), float(curve.r[k + 1])
    return _measure("dimer_continuity", curve, f"energy jump near r = {r_at:.4f} A", height, "eV", noise,
                    r_at=r_at, arena=arena_metrics(curve), **details)


def _resolved_step(energies_at, curve: DimerCurve, k: int, points: int, noise: float,
                   levels: int = 3) -> tuple[float, float]:
    """(height, r) of the largest step of E between r[k] and r[k+3], on grids `points` times
    finer, zooming `levels` times onto the largest: max |dE_i - (dE_(i-1) + dE_(i+1)) / 2| over
    the fine increments. A step of d gives d at every level; a smooth feature shrinks by about
    points^3 per level and stops the zoom once below `noise`."""
    low, high = curve.r[k], curve.r[min(k + 3, len(curve.r) - 1)]
    for _ in range(levels):
        r = np.linspace(low, high, 3 * points + 1)
        steps = np.diff(energies_at(r))
        excess = np.abs(steps[1:-1] - (steps[:-2] + steps[2:]) / 2)
        i = int(np.argmax(excess))
        height, where = float(excess[i]), float((r[i + 1] + r[i + 2]) / 2)
        if height <= noise:
            break
        low, high = r[i], r[i + 3]  # the three fine intervals around it
    return height, where


def check_dimer_forces(ctx, pair, settings) -> Measurement:
    """Forces along the bond are -dE/dr, at `force_points` distances spread over the judged
    region, by central differences shown to have converged (finite_difference.py). Pointwise, not
    by integrating along the grid: real models' short-range curves vary faster than any
    affordable grid (CHGNet's Fe-Fe force changes by 7 eV/A within 4 mA near 0.8 A while
    matching -dE/dr). A point where no step converges is left out and counted."""
    model = as_context(ctx).model
    curve = pair_curve(ctx, pair, settings)
    energies_at = dimer_energies(model, curve)
    h = float(settings.per_dtype("force_step", model.dtype))
    start = judged_region(curve, settings)
    indices = np.unique(np.linspace(start, len(curve.r) - 1, int(settings.force_points)).astype(int))
    first = [(i, d) for i in indices for d in first_steps(h)]  # every point's first differences in one batch
    first = dict(zip(first, energies_at([float(curve.r[i]) + d for i, d in first])))
    worst, unresolved, smallest_step = None, [], h
    for i in indices:
        r, force = float(curve.r[i]), float(curve.force[i])
        energy_at = prefetched({d: first[(i, d)] for d in first_steps(h)},
                               lambda delta, r=r: energies_at([r + delta])[0])

        def tolerance(step, i=i, force=force):
            return (float(settings.force_rel) * abs(force)
                    + settings.tolerance("force", model.dtype, _energy_scale(curve.energy[i], settings) / step))

        derivative = converged_derivative(energy_at, h, tolerance)
        smallest_step = min(smallest_step, derivative.step)
        if not derivative.converged:
            unresolved.append(round(r, 4))
            continue
        error = abs(force + derivative.value)
        allowed = derivative.tolerance
        if error > allowed:  # before failing a point: is the estimate itself that certain?
            allowed += uncertainty(energy_at, derivative)
        if worst is None or error - allowed > worst[0] - worst[3]:
            worst = (error, r, force, allowed, derivative.step)
    details = {"points": len(indices), "unresolved_points": len(unresolved), "unresolved_at_A": unresolved[:10],
               "smallest_step_A": smallest_step, **_region_details(curve, start),
               "conservation_deviation": arena_metrics(curve)["conservation_deviation_eV_per_A"]}
    if worst is None:
        raise NotApplicable(f"{curve.pair}: no finite difference converged at any of {len(indices)} distances "
                            f"(a discontinuous or noisy curve: see the continuity check)")
    error, r, force, tolerance, step = worst
    return _measure("dimer_forces", curve, f"|F + dE/dr| at r = {r:.3f} A (F = {force:.4g} eV/A)", error, "eV/A",
                    tolerance, r_at=r, step_A=step, **details)


def check_dimer_force_flips(ctx, pair, settings) -> Measurement:
    """Sign changes of the bond force within the judged region (MLIP Arena's ideal is one)."""
    curve = pair_curve(ctx, pair, settings)
    start = judged_region(curve, settings)
    flips = force_flips(curve.force[start:])
    return _measure("dimer_force_flips", curve, "sign changes of the bond force (|F| > 0.01 eV/A)",
                    flips, "flips", float(settings.max_force_flips), ideal=1,
                    flips_whole_curve=force_flips(curve.force), **_region_details(curve, start))


def check_dimer_repulsion(ctx, pair, settings) -> Measurement:
    """A repulsive wall without a hole: scanning inward from the cutoff, the energy rises
    `judged_ceiling` eV above the dissociation limit (else: no wall), and the lowest point in
    front of that wall is not at unphysically short range (else: a hole). A hole behind a wall
    higher than the ceiling is where no simulation goes: reported, not failed."""
    curve = pair_curve(ctx, pair, settings)
    a, b = curve.pair.split("-")
    bond = bond_length(a, b)
    relative = curve.relative
    ceiling = float(settings.judged_ceiling)
    start = judged_region(curve, settings)
    i_min = start + int(np.argmin(relative[start:]))
    r_min, e_min = float(curve.r[i_min]), float(relative[i_min])
    hole_limit = float(settings.hole_fraction) * bond
    details = {"r_min_A": r_min, "E_min_eV": e_min, "bond_length_A": bond, "ceiling_eV": ceiling,
               "spearman_repulsive": arena_metrics(curve)["spearman_repulsive_energy"], **_region_details(curve, start)}
    i_deepest = int(np.argmin(relative))
    if i_deepest < start and float(curve.r[i_deepest]) < hole_limit:
        details["note"] = (f"a hole at r = {curve.r[i_deepest]:.2f} A ({relative[i_deepest]:.3g} eV) behind a wall "
                           f"higher than {ceiling:g} eV: outside the judged region")
    if relative[start] < ceiling:
        highest = int(np.argmax(relative))
        return _measure("dimer_repulsion", curve, f"no repulsive wall: the energy never rises {ceiling:g} eV above "
                        f"the separated atoms down to r = {curve.r[0]:.2f} A (highest {relative[highest]:.3g} eV "
                        f"at r = {curve.r[highest]:.2f} A); missing", ceiling - float(relative[highest]), "eV", 0.0,
                        r_at=float(curve.r[0]), **details)
    return _measure("dimer_repulsion", curve, f"minimum at r = {r_min:.2f} A in front of the wall; inside "
                    f"{settings['hole_fraction']} x bond length by", max(hole_limit - r_min, 0.0), "A", 0.0,
                    r_at=r_min, **details)


def check_dimer_dissociation(ctx, pair, settings) -> Measurement:
    """Beyond the cutoff: the energy equals the isolated atoms' and the force is zero."""
    curve, dtype = pair_curve(ctx, pair, settings), as_context(ctx).model.dtype
    beyond = curve.r >= curve.cutoff
    energy_error = float(np.abs(curve.relative[beyond]).max()) if beyond.any() else 0.0
    force_left = float(np.abs(curve.force[beyond]).max()) if beyond.any() else 0.0
    tol_e = settings.tolerance("dissociation_energy", dtype, abs(curve.isolated))
    tol_f = settings.tolerance("dissociation_force", dtype, abs(curve.isolated))
    ratio_e, ratio_f = energy_error / tol_e, force_left / tol_f
    if ratio_e >= ratio_f:
        return _measure("dimer_dissociation", curve, "|E(r >= cutoff) - E(isolated atoms)|", energy_error,
                        "eV", tol_e, r_at=curve.cutoff + 0.5, max_force_beyond_cutoff=force_left)
    return _measure("dimer_dissociation", curve, "|F(r >= cutoff)|", force_left, "eV/A", tol_f,
                    r_at=curve.cutoff + 0.5, energy_error=energy_error)


def _energy_scale(energy, settings) -> float:
    """The energy rounding is relative to: at least two atoms' typical atomic energy. A dimer's
    total can be small (CHGNet's Nd2 at 5.75 A: -0.89 eV) while its float32 noise (~7e-6 eV)
    follows the atomic terms that cancel in it."""
    return max(abs(float(energy)), 2 * float(settings.atomic_energy_scale))


def arena_metrics(curve: DimerCurve) -> dict:
    """MLIP Arena's metrics (arena.arena_metrics: one implementation) on the part of the curve in
    Arena's range for its first element, E shifted to 0 at that part's far end; None each where
    fewer than 5 points lie there."""
    r_lo, r_hi = arena_window(curve.pair.split("-")[0])
    keep = (curve.r >= r_lo) & (curve.r <= r_hi)
    r, e, f = curve.r[keep], curve.energy[keep], curve.force[keep]
    if len(r) < 5:
        return dict.fromkeys(METRICS)
    return {k: (v if np.isfinite(v) else None) for k, v in metrics_of_curve(r, e - e[-1], f).items()}


def pairs_for(model, settings, seed=0) -> list[tuple[str, str]]:
    """Homonuclear pairs of the declared elements (a sample of `max_elements`), plus the
    heteronuclear pairs among them when `pairs` is true."""
    elements = sample_elements(model.elements or FALLBACK_ELEMENTS, int(settings.max_elements), seed)
    pairs = [(s, s) for s in elements]
    if settings.pairs:
        mixed = sample_elements(elements, int(settings.max_pair_elements), seed + 1)
        pairs += [(a, b) for i, a in enumerate(mixed) for b in mixed[i + 1:]]
    return pairs


@provider("pair", marker="pairs", what="element pair")
def pair_targets(session, model, section_name: str) -> list[Target]:
    return [Target("-".join(pair), pair, case="-".join(pair) + " dimer")
            for pair in pairs_for(model, session.profile.section(section_name), session.seed)]
