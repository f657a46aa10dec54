"""Vacancy migration by climbing-image nudged elastic band (NEB), in the model's own relaxed crystal.

The transferability literature's protocol ("compare diffusion barrier predictions for a simple
vacancy migration"; "NEB paths may show erratic, non-monotonic energy profiles"): a vacancy in a
supercell of the model's relaxed cubic cell, a nearest neighbour jumps into it, both end states
relaxed by the model, a climbing-image NEB between them (ASE), bounded in steps. Then the path is
judged, not only its top:

- migration_path: the band's energy profile has one maximum and no minimum between the end
  states (a spurious minimum on a simple vacancy jump is an artefact of the model);
- migration_force_consistency: the energy profile rebuilt from the forces along the band
  (-F . dR integrated by Simpson's rule on each straight step between images) matches the
  energies the model gives: forces that are not the gradient of the energy make NEB find a
  wrong saddle.

The barrier (E_saddle - E_initial) is reported with the band, for a plot; its value is not gated
(mlipcheck ships no cited migration energies yet: issue 18).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from ase import Atoms
from ase.geometry import find_mic
from ase.mep import NEB

from mlipcheck.checks.extrapolation.dynamics import Evaluated, evaluate_images
from mlipcheck.checks.properties.defects import VacancyReference, relaxed_bulk
from mlipcheck.checks.properties.relaxation import relax
from mlipcheck.engine.context import as_context
from mlipcheck.engine.evaluate import evaluate_all
from mlipcheck.engine.measurement import Measurement, NotApplicable
from mlipcheck.engine.memo import memo

QUADRATURE_AGREEMENT_EV = 0.001  # successive Simpson estimates of one band step agree within this


@dataclass
class Band:
    images: list[Atoms]  # relaxed initial state, the band, relaxed final state
    energies: np.ndarray  # eV, relative to the initial state
    path: np.ndarray  # cumulative distance along the band (Angstrom, all atoms)
    from_forces: np.ndarray  # eV: the profile integrated from the forces along the band
    converged: bool
    steps: int
    unresolved_steps: int  # band steps whose force integral did not converge (flagged, still judged)


def migration_band(model, reference: VacancyReference, settings) -> Band:
    """The converged (or step-bounded) climbing-image band of one nearest-neighbour vacancy jump,
    computed once per model, element and settings."""
    if not settings.run_migration:
        raise NotApplicable("vacancy migration (NEB) runs in the full profile ([defects] run_migration)")
    key = ("migration", reference.element, int(settings.migration_repeat), int(settings.migration_images),
           float(settings.migration_fmax), int(settings.migration_steps))
    if key in memo(model):
        return memo(model)[key]
    from ase.optimize import FIRE

    if reference.structure != "fcc":
        raise NotApplicable(f"migration is set up for fcc crystals ({reference.element} is {reference.structure})")
    cell = relaxed_bulk(model, reference.element, reference.structure, settings)
    perfect = cell.repeat(int(settings.migration_repeat))
    distances = perfect.get_distances(0, range(1, len(perfect)), mic=True)
    jumper = 1 + int(np.argmin(distances))  # a nearest neighbour of site 0, which is emptied
    initial = perfect.copy()
    final = perfect.copy()
    final.positions[jumper] = perfect.positions[0]
    del initial[0], final[0]
    fmax, steps = float(settings.migration_fmax), int(settings.migration_steps)
    initial = relax(model, initial, fmax, steps, keep_symmetry=False, cell=False)[0]
    final = relax(model, final, fmax, steps, keep_symmetry=False, cell=False)[0]
    images = [initial] + [initial.copy() for _ in range(int(settings.migration_images))] + [final]
    for image in images:
        image.calc = Evaluated(model)
    band = BatchedNEB(images, climb=True, method="improvedtangent")
    band.interpolate(mic=True)
    optimizer = FIRE(band, logfile=None)
    converged = bool(optimizer.run(fmax=fmax, steps=steps))
    results = evaluate_all(model, images, stress=False)
    energies = np.array([r.energy for r in results]) - results[0].energy
    segments = [find_mic(b.positions - a.positions, a.cell, a.pbc)[0] for a, b in zip(images, images[1:])]
    path = np.concatenate([[0.0], np.cumsum([np.linalg.norm(d) for d in segments])])
    work = [segment_work(model, a, d, results[i].forces, results[i + 1].forces)
            for i, (a, d) in enumerate(zip(images, segments))]
    out = Band([_plain(image) for image in images], energies, path,
               np.concatenate([[0.0], np.cumsum([w for w, _ in work])]), converged, optimizer.nsteps,
               sum(not resolved for _, resolved in work))
    memo(model)[key] = out
    return out


class BatchedNEB(NEB):
    """ASE's NEB, its moving images evaluated in one batch per band step."""

    def get_forces(self):
        evaluate_images(self.images[0].calc.model, self.images[1:-1])
        return super().get_forces()


def segment_work(model, start: Atoms, displacement, forces_start, forces_end) -> tuple[float, bool]:
    """(-integral of F . dR along the straight segment start -> start + displacement, resolved).

    Simpson's rule on 4 intervals, then 8, 16, 32 until two successive estimates agree within
    QUADRATURE_AGREEMENT_EV: a sharp but conservative feature is resolved rather than called an
    inconsistency. Unresolved after 32 intervals: the finest estimate, flagged."""
    along = {0.0: float(np.sum(forces_start * displacement)), 1.0: float(np.sum(forces_end * displacement))}

    def simpson(n):
        missing = [k / n for k in range(1, n) if k / n not in along]
        points = []
        for t in missing:
            point = start.copy()
            point.positions = start.positions + t * displacement
            points.append(point)
        for t, prediction in zip(missing, evaluate_all(model, points, stress=False)):  # one batch per refinement
            along[t] = float(np.sum(prediction.forces * displacement))
        f = [along[k / n] for k in range(n + 1)]
        return -(f[0] + f[-1] + 4 * sum(f[1:-1:2]) + 2 * sum(f[2:-1:2])) / (3 * n)

    previous = simpson(4)
    for n in (8, 16, 32):
        estimate = simpson(n)
        if abs(estimate - previous) <= QUADRATURE_AGREEMENT_EV:
            return estimate, True
        previous = estimate
    return previous, False


def _plain(atoms: Atoms) -> Atoms:
    atoms = atoms.copy()
    atoms.calc = None
    return atoms


def _band_details(band: Band) -> dict:
    return {"barrier_eV": float(band.energies.max()), "final_minus_initial_eV": float(band.energies[-1]),
            "band_converged": band.converged, "neb_steps": band.steps, "images": len(band.images),
            "band_path_A": np.round(band.path, 4).tolist(), "band_E_eV": np.round(band.energies, 5).tolist(),
            "band_E_from_forces_eV": np.round(band.from_forces, 5).tolist(), "atoms": len(band.images[0]),
            "unresolved_band_steps": band.unresolved_steps}


def interior_extrema(energies: np.ndarray, noise: float) -> tuple[int, int]:
    """(maxima, minima) strictly between the end images, ignoring wiggles below `noise` eV."""
    maxima = minima = 0
    for i in range(1, len(energies) - 1):
        left, right = energies[i] - energies[i - 1], energies[i + 1] - energies[i]
        if left > noise and right < -noise:
            maxima += 1
        elif left < -noise and right > noise:
            minima += 1
    return maxima, minima


def check_migration_path(ctx, reference: VacancyReference, settings) -> Measurement:
    """One maximum and no minimum between the end states of a nearest-neighbour vacancy jump."""
    model = as_context(ctx).model
    band = migration_band(model, reference, settings)
    maxima, minima = interior_extrema(band.energies, float(settings.migration_noise_eV))
    extra = minima + abs(maxima - 1)
    details = {**_band_details(band), "interior_maxima": maxima, "interior_minima": minima,
               "reference_barrier_eV": reference.migration}
    if not band.converged:
        details["note"] = f"band not converged to fmax {settings['migration_fmax']} in {band.steps} steps"
    passed = extra == 0
    worst = int(np.argmax(band.energies)) if maxima != 1 else int(np.argmin(band.energies[1:-1])) + 1
    return Measurement("migration_path", "extrema of the band's energy profile beyond one maximum", float(extra),
                       "", 0.0, passed, case=reference.element, details=details,
                       atoms=None if passed else band.images[worst])


def check_migration_force_consistency(ctx, reference: VacancyReference, settings) -> Measurement:
    """The band's energies against the same profile integrated from its forces (trapezoid)."""
    model = as_context(ctx).model
    band = migration_band(model, reference, settings)
    mismatch = np.abs(band.from_forces - band.energies)
    limit = float(settings.migration_force_consistency_eV)
    worst = int(np.argmax(mismatch))
    passed = bool(mismatch.max() <= limit)
    return Measurement("migration_force_consistency", "max |E(image) - integral of -F.dR along the band|",
                       float(mismatch.max()), "eV", limit, passed, case=reference.element,
                       details=_band_details(band), atoms=None if passed else band.images[worst])


def check_migration_barrier(ctx, reference: VacancyReference, settings) -> Measurement:
    """The band's barrier (highest image above the initial state) against the PBE barrier."""
    model = as_context(ctx).model
    if reference.migration is None:
        raise NotApplicable(f"no PBE migration barrier tabulated for {reference.element}")
    band = migration_band(model, reference, settings)
    barrier = float(band.energies.max())
    error = abs(barrier - reference.migration)
    limit = float(settings.migration_barrier_tolerance_eV)
    passed = error <= limit
    details = {**_band_details(band), "reference_eV": reference.migration, "reference_source": reference.source,
               "minus_reference_eV": barrier - reference.migration}
    return Measurement("migration_barrier", "|barrier - PBE barrier|", error, "eV", limit, passed,
                       case=reference.element, details=details,
                       atoms=None if passed else band.images[int(np.argmax(band.energies))])
