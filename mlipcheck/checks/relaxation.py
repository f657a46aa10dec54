"""Relaxation: the model brings its own crystals to a force minimum, within a step budget,
without changing their space group (spglib, as phonopy uses it).

The crystal is rattled (so symmetry must be *found* again by the relaxation, not inherited) and
relaxed without any symmetry constraint; its space group is then detected with a tolerance well
below the rattle, and must equal the ideal crystal's.
"""
from __future__ import annotations

import numpy as np
from ase import Atoms

from mlipcheck.checks.dynamics import Evaluated
from mlipcheck.checks.measurement import Measurement


def relax(model, atoms: Atoms, fmax: float, steps: int, keep_symmetry=True, cell=True):
    """(relaxed atoms, converged, steps taken); the cell too if `cell` and the model gives stress."""
    from ase.constraints import FixSymmetry
    from ase.filters import FrechetCellFilter
    from ase.optimize import FIRE

    atoms = atoms.copy()
    atoms.calc = Evaluated(model)
    if keep_symmetry:
        atoms.set_constraint(FixSymmetry(atoms))
    target = FrechetCellFilter(atoms) if cell and model.has_stress and atoms.pbc.all() else atoms
    optimizer = FIRE(target, logfile=None)
    converged = bool(optimizer.run(fmax=fmax, steps=steps))
    out = atoms.copy()
    out.set_constraint()
    out.calc = None
    return out, converged, optimizer.nsteps


def space_group(atoms: Atoms, symprec: float) -> str:
    import spglib

    cell = (atoms.cell.array, atoms.get_scaled_positions(), atoms.numbers)
    return spglib.get_spacegroup(cell, symprec=symprec) or "none"


def check_relaxation(model, name, atoms: Atoms, section, seed=0) -> Measurement:
    """Relax a rattled copy of the ideal crystal `atoms`; pass if it converges within the budget
    and ends in the ideal space group."""
    ideal = space_group(atoms, 1e-5)
    rattled = atoms.copy()
    rng = np.random.default_rng(seed)
    rattled.positions += rng.normal(0.0, float(section["rattle"]), rattled.positions.shape)
    before = space_group(rattled, float(section["symprec"]))
    relaxed, converged, steps = relax(model, rattled, float(section["fmax"]), int(section["steps"]), keep_symmetry=False)
    after = space_group(relaxed, float(section["symprec"]))
    budget = int(section["steps"])
    details = {"converged": converged, "steps": steps, "space_group_ideal": ideal, "space_group_rattled": before,
               "space_group_relaxed": after, "fmax": float(section["fmax"])}
    if not converged:
        return Measurement("relaxation", f"optimizer steps to fmax {section['fmax']} eV/A (not converged)",
                           float(steps), "steps", float(budget), False, case=name, details=details, atoms=relaxed,
                           seed=seed, relation="<")
    if after != ideal:
        return Measurement("relaxation", f"space group after relaxing {after}, ideal {ideal} (symprec "
                           f"{section['symprec']} A): changes", 1.0, "space groups", 0.0, False, case=name,
                           details=details, atoms=relaxed, seed=seed)
    return Measurement("relaxation", "optimizer steps to fmax, space group kept", float(steps), "steps",
                       float(budget), True, case=name, details=details, seed=seed, relation="<")
