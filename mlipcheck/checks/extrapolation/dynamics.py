"""Molecular dynamics with ASE: stability from hot and compressed starts, and NVE energy drift.

The model is driven through `evaluate` (time limit, validated outputs, timing). A run fails when
atoms collapse onto each other, the potential energy runs away, or outputs go non-finite; the
step is reported and the frame handed over.
"""
from __future__ import annotations

import numpy as np
from ase import units
from ase.calculators.calculator import Calculator, all_changes
from ase.data import covalent_radii
from ase.md.langevin import Langevin
from ase.md.velocitydistribution import MaxwellBoltzmannDistribution, Stationary
from ase.md.verlet import VelocityVerlet

from mlipcheck.checks.extrapolation.crazy_cubes import min_bond_fraction
from mlipcheck.engine.context import as_context
from mlipcheck.engine.evaluate import evaluate, evaluate_all, wants_stress
from mlipcheck.engine.measurement import Measurement
from mlipcheck.errors import ModelCallError


class Evaluated(Calculator):
    """An ASE calculator that calls the model through mlipcheck's `evaluate` (with stress for
    3D-periodic cells when the model gives it: cell relaxations need it)."""

    implemented_properties = ["energy", "forces", "stress"]

    def __init__(self, model):
        super().__init__()
        self.model = model

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        prediction = evaluate(self.model, self.atoms, stress="stress" in properties and wants_stress(self.model, self.atoms))
        self._store(prediction)

    def _store(self, prediction):
        self.results = {"energy": prediction.energy, "forces": prediction.forces}
        if prediction.stress is not None:
            self.results["stress"] = prediction.stress.flat[[0, 4, 8, 5, 2, 1]]


def evaluate_images(model, images):
    """Energies and forces of `images` (each with an `Evaluated` calculator) whose calculator has
    no result for its current positions, in one batch; their calculators then answer without a
    call. NEB images of one band step are independent: the optimizer asks for them one by one."""
    stale = [image for image in images if image.calc.check_state(image) or "forces" not in image.calc.results]
    for image, prediction in zip(stale, evaluate_all(model, stale, stress=False)):
        image.calc.atoms = image.copy()
        image.calc._store(prediction)


def _time_step(atoms, settings):
    light = any(covalent_radii[z] < 0.5 for z in atoms.numbers)  # hydrogen moves fast
    return float(settings.time_step_fs) * (0.5 if light else 1.0) * units.fs


def _run(model, atoms, dynamics, steps, every, settings):
    """Run `steps` steps; return (problem or None, step, frame, energies per atom)."""
    start = atoms.get_potential_energy() / len(atoms)
    trace = []
    for step in range(0, steps, every):
        try:
            dynamics.run(every)
            energy = atoms.get_potential_energy() / len(atoms)
        except ModelCallError as exc:
            if exc.kind != "nonfinite":
                raise
            return f"non-finite output ({exc})", step, atoms.copy(), trace
        trace.append(energy + atoms.get_kinetic_energy() / len(atoms))
        if min_bond_fraction(atoms) < settings.collapse_fraction:
            return (f"atoms collapsed (closest pair at {min_bond_fraction(atoms):.2f} of its bond length)",
                    step + every, atoms.copy(), trace)
        if abs(energy - start) > settings.runaway_ev_per_atom:
            return (f"potential energy ran away by {energy - start:+.2f} eV/atom", step + every, atoms.copy(), trace)
    return None, steps, None, trace


def _prepared(case, settings, compress=1.0):
    atoms = case.atoms.copy()
    while len(atoms) < int(settings.min_atoms):
        atoms = atoms.repeat([2 if atoms.cell.lengths()[k] == min(atoms.cell.lengths()) else 1 for k in range(3)])
    if compress != 1.0:
        atoms.set_cell(atoms.cell.array * compress ** (1 / 3), scale_atoms=True)
    return atoms


def check_md_stability(ctx, case, settings) -> Measurement:
    """Langevin MD from a hot start and from a compressed start."""
    ctx = as_context(ctx)
    model, seed = ctx.model, ctx.seed
    runs = [("hot", 1.0, float(settings.hot_temperature_K)),
            ("compressed", float(settings.compressed_volume), float(settings.compressed_temperature_K))]
    steps = int(settings.steps)
    for label, compress, temperature in runs:
        atoms = _prepared(case, settings, compress)
        atoms.calc = Evaluated(model)
        rng = np.random.default_rng(seed)
        MaxwellBoltzmannDistribution(atoms, temperature_K=temperature, rng=rng)
        Stationary(atoms)
        dynamics = Langevin(atoms, _time_step(atoms, settings), temperature_K=temperature,
                            friction=0.02 / units.fs, rng=rng, fixcm=False)
        problem, step, frame, _ = _run(model, atoms, dynamics, steps, int(settings.check_every), settings)
        if problem:
            return Measurement("md_stability", f"{label} run ({temperature:.0f} K): {problem} at step {step}",
                               1, "failed runs", 0, False, case=case.name, atoms=frame, seed=seed,
                               details={"step": step, "run": label})
    return Measurement("md_stability", "failed runs (hot, compressed)", 0, "failed runs", 0, True, case=case.name,
                       details={"steps": steps, "atoms": len(_prepared(case, settings))}, seed=seed)


def check_nve_drift(ctx, case, settings) -> Measurement:
    """Velocity Verlet at a moderate temperature: the total energy's drift (slope of a linear
    fit, meV/atom/ps), also relative to the kinetic energy's fluctuation (ml-peg's proposal)."""
    ctx = as_context(ctx)
    model, seed = ctx.model, ctx.seed
    atoms = _prepared(case, settings)
    atoms.calc = Evaluated(model)
    MaxwellBoltzmannDistribution(atoms, temperature_K=float(settings.nve_temperature_K),
                                 rng=np.random.default_rng(seed))
    Stationary(atoms)
    dt = _time_step(atoms, settings)
    dynamics = VelocityVerlet(atoms, dt)
    kinetic = []
    dynamics.attach(lambda: kinetic.append(atoms.get_kinetic_energy() / len(atoms)), interval=1)
    steps = int(settings.nve_steps)
    problem, step, frame, totals = _run(model, atoms, dynamics, steps, 1, settings)
    if problem:
        return Measurement("nve_drift", f"{problem} at step {step}", np.inf, "meV/atom/ps",
                           float(settings.max_drift_mev_per_atom_ps), False, case=case.name, atoms=frame, seed=seed)
    time_ps = np.arange(1, len(totals) + 1) * dt / (1000 * units.fs)
    slope = float(np.polyfit(time_ps, np.array(totals) * 1000, 1)[0])  # meV/atom/ps
    fluctuation = float(np.std(kinetic) * 1000) or np.nan
    threshold = float(settings.max_drift_mev_per_atom_ps)
    return Measurement(
        "nve_drift", "|total energy drift|", abs(slope), "meV/atom/ps", threshold, abs(slope) <= threshold,
        case=case.name, atoms=atoms if abs(slope) > threshold else None, seed=seed,
        details={"drift_per_kinetic_fluctuation_per_ps": abs(slope) / fluctuation,
                 "time_step_fs": dt / units.fs, "steps": steps, "atoms": len(atoms)})
