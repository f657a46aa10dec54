"""Relaxation: the model brings its own crystals to a force minimum, within a step budget,
without changing their space group (spglib, as phonopy uses it).

The crystal is rattled (so symmetry must be *found* again by the relaxation, not inherited) and
relaxed without any symmetry constraint; its space group is then detected with a tolerance well
below the rattle, and must equal the ideal crystal's.
"""
from __future__ import annotations

import numpy as np
from ase import Atoms

from mlipcheck.checks.extrapolation.dynamics import Evaluated
from mlipcheck.engine.context import as_context
from mlipcheck.engine.evaluate import content_key
from mlipcheck.engine.measurement import Measurement
from mlipcheck.engine.memo import memo
from mlipcheck.errors import ModelFailure

# Bounds on a relaxation, so that a model's wrong stresses cannot drive a cell anywhere: no
# crystal of the suites changes volume by more than ~30 % under a correct model (EOS spans 6 %),
# and a cell whose thinnest height falls below a quarter of V^(1/3) is collapsing flat. Beyond
# either the relaxation stops as a failure: phonopy's symmetry search on such a cell once took
# 10 minutes and 9.5 GB.
MAX_VOLUME_RATIO = 3.0
MIN_HEIGHT_FRACTION = 0.25


def runaway(atoms: Atoms, start_volume: float) -> str | None:
    """Why a relaxing cell has left the bounds, or None."""
    volume = abs(atoms.get_volume())
    ratio = volume / start_volume
    if not 1 / MAX_VOLUME_RATIO < ratio < MAX_VOLUME_RATIO:
        return f"relaxation ran away: volume x{ratio:.3g} of the start (bound: x{MAX_VOLUME_RATIO:g} either way)"
    heights = 1.0 / np.linalg.norm(atoms.cell.reciprocal(), axis=1)
    if heights.min() < MIN_HEIGHT_FRACTION * volume ** (1 / 3):
        return (f"relaxation ran away: the cell is collapsing flat (thinnest height {heights.min():.3g} A, "
                f"{heights.min() / volume ** (1 / 3):.2f} of V^(1/3); bound {MIN_HEIGHT_FRACTION})")
    return None


def relax(model, atoms: Atoms, fmax: float, steps: int, keep_symmetry=True, cell=True):
    """(relaxed atoms, converged, steps taken); the cell too if `cell` and the model gives stress.
    A cell that leaves the bounds above raises ModelFailure with the structure where it left.

    Once per model, structure and settings: the phonon and elastic checks relax the same crystal
    to the same fmax (with other step bounds); a relaxation that converged within a bound is the
    same under any larger one, so it is reused."""
    key = ("relaxed", content_key(atoms), float(fmax), keep_symmetry, cell)
    known = memo(model).get(key)
    if known is not None and ((known[1] and known[2] <= steps) or known[3] == steps):
        return known[0].copy(), known[1], known[2]
    relaxed, converged, taken = _relax(model, atoms, fmax, steps, keep_symmetry, cell)
    memo(model)[key] = (relaxed.copy(), converged, taken, steps)
    return relaxed, converged, taken


def _relax(model, atoms: Atoms, fmax: float, steps: int, keep_symmetry: bool, cell: bool):
    from ase.constraints import FixSymmetry
    from ase.filters import FrechetCellFilter
    from ase.optimize import FIRE

    atoms = atoms.copy()
    atoms.calc = Evaluated(model)
    if keep_symmetry:
        atoms.set_constraint(FixSymmetry(atoms))
    target = FrechetCellFilter(atoms) if cell and model.has_stress and atoms.pbc.all() else atoms
    optimizer = FIRE(target, logfile=None)
    if target is not atoms:
        start_volume = atoms.get_volume()

        def within_bounds():
            problem = runaway(atoms, start_volume)
            if problem:
                broken = atoms.copy()
                broken.set_constraint()
                broken.calc = None
                raise ModelFailure(f"{problem}, after {optimizer.nsteps} steps on {atoms.get_chemical_formula()}",
                                   broken)

        optimizer.attach(within_bounds, interval=1)
    converged = bool(optimizer.run(fmax=fmax, steps=steps))
    out = atoms.copy()
    out.set_constraint()
    out.calc = None
    return out, converged, optimizer.nsteps


def space_group(atoms: Atoms, symprec: float) -> str:
    import spglib

    cell = (atoms.cell.array, atoms.get_scaled_positions(), atoms.numbers)
    return spglib.get_spacegroup(cell, symprec=symprec) or "none"


def check_relaxation(ctx, atoms: Atoms, settings) -> Measurement:
    """Relax a rattled copy of the ideal crystal `atoms` (a cell of fewer than 4 atoms repeated
    by `repeat` first); pass if it converges within the budget and ends in the ideal space group."""
    ctx = as_context(ctx)
    model, seed, name = ctx.model, ctx.seed, atoms.get_chemical_formula()
    if len(atoms) < 4:
        atoms = atoms.repeat(settings.repeat)
    ideal = space_group(atoms, 1e-5)
    rattled = atoms.copy()
    rng = np.random.default_rng(seed)
    rattled.positions += rng.normal(0.0, float(settings.rattle), rattled.positions.shape)
    before = space_group(rattled, float(settings.symprec))
    fmax, budget = float(settings.fmax), int(settings.steps)
    relaxed, converged, steps = relax(model, rattled, fmax, budget, keep_symmetry=False)
    after = space_group(relaxed, float(settings.symprec))
    details = {"converged": converged, "steps": steps, "space_group_ideal": ideal, "space_group_rattled": before,
               "space_group_relaxed": after, "fmax": fmax}
    if converged and after != ideal:
        # Converged, yet distorted by more than symprec: on a soft mode a residual force fmax
        # leaves a distortion fmax / k (CHGNet's Al, C44 = 3 GPa: 0.06 A at 0.005 eV/A). Relax 10x
        # tighter before judging: a soft but stable crystal finds its symmetry again, an unstable
        # one stays distorted.
        tighter, converged, more = relax(model, relaxed, fmax / 10, 2 * budget - steps, keep_symmetry=False)
        relaxed, steps = tighter, steps + more
        after = space_group(relaxed, float(settings.symprec))
        details.update(tightened_to_fmax=fmax / 10, space_group_tightened=after, converged=converged, steps=steps)
    limit = float(2 * budget if "tightened_to_fmax" in details else budget)
    if not converged:
        return Measurement("relaxation", f"optimizer steps to fmax {details.get('tightened_to_fmax', fmax):g} "
                           f"eV/A (not converged)", float(steps), "steps", limit, False, case=name, details=details,
                           atoms=relaxed, seed=seed, relation="<")
    if after != ideal:
        return Measurement("relaxation", f"space group after relaxing {after}, ideal {ideal} (symprec "
                           f"{settings['symprec']} A): changes", 1.0, "space groups", 0.0, False, case=name,
                           details=details, atoms=relaxed, seed=seed)
    return Measurement("relaxation", "optimizer steps to fmax, space group kept", float(steps), "steps",
                       limit, True, case=name, details=details, seed=seed, relation="<")
