"""Committee disagreement: several models on the same structures, in-domain versus far out.

The spread of a committee's predictions is the uncertainty signal the transferability
literature recommends: it should grow on extrapolation structures (crazy cubes, strong
compression) compared with ordinary crystals and molecules. Report-only unless the profile
sets `max_extrapolation_spread`.
"""
from __future__ import annotations

import numpy as np
from ase.data import atomic_numbers

from mlipcheck.checks.extrapolation.crazy_cubes import crazy_cube
from mlipcheck.engine.context import as_context
from mlipcheck.engine.evaluate import evaluate_all
from mlipcheck.engine.measurement import Measurement, NotApplicable
from mlipcheck.structures.cases import all_cases


def _spread(atoms, predictions):
    """Standard deviation across models (their `predictions` on `atoms`) of the energy per atom
    (eV/atom) and the mean over atoms of the force vectors' spread (eV/A)."""
    energies = np.array([p.energy for p in predictions]) / len(atoms)
    forces = np.array([p.forces for p in predictions])
    force_spread = np.sqrt(((forces - forces.mean(axis=0)) ** 2).sum(axis=2).mean(axis=0)).mean()
    return float(energies.std()), float(force_spread)


def check_committee(ctx, target, settings) -> Measurement:
    """The committee's (`ctx.committee`: every model of the run) spread on in-domain structures
    against its spread on crazy cubes and compressed crystals; the most uncertain structures go
    to `to_label`. Report-only unless `max_extrapolation_spread` > 0."""
    ctx = as_context(ctx)
    models, seed = ctx.committee, ctx.seed
    if len(models) < 2:
        raise NotApplicable("a committee needs at least two --model that load")
    common = set.intersection(*[set(m.elements) if m.elements else set(atomic_numbers) for m in models])
    in_domain = [c.atoms for c in all_cases() if c.quick and c.symbols <= common]
    rng = np.random.default_rng(seed)
    pool = sorted(common & {s for c in all_cases() for s in c.symbols}) or sorted(common)[:4]
    far = [crazy_cube(pool, 6, float(np.exp(rng.uniform(np.log(0.35), np.log(4.0)))), rng)
           for _ in range(int(settings.cubes))]
    for atoms in list(in_domain):
        if atoms.pbc.all():
            squeezed = atoms.copy()
            squeezed.set_cell(atoms.cell.array * 0.5 ** (1 / 3), scale_atoms=True)
            far.append(squeezed)
    if not in_domain or not far:
        return Measurement("committee", "no structure all models support", 0, "", 0, True, case="committee")
    # Each model evaluates every structure in one batch
    by_model = [evaluate_all(m, in_domain + far, stress=False) for m in models]
    spread = [_spread(a, [p[k] for p in by_model]) for k, a in enumerate(in_domain + far)]
    near, spreads = spread[:len(in_domain)], spread[len(in_domain):]
    near_e, near_f = np.mean(near, axis=0)
    far_e, far_f = np.mean(spreads, axis=0)
    limit = float(settings.max_extrapolation_spread)
    # The most uncertain structures, in-domain or far, are the committee's request for labels: those
    # the models disagree on beyond twice their in-domain spread and `label_min_spread`
    floor = max(2 * near_f, float(settings.label_min_spread))
    ranked = sorted(zip([s[1] for s in near + spreads], range(len(near + spreads)), in_domain + far), reverse=True)
    to_label = []
    for force_spread, _, atoms in [r for r in ranked if r[0] > floor][:int(settings.label_frames)]:
        atoms = atoms.copy()
        atoms.info["mlipcheck_reason"] = f"committee force spread {force_spread:.3g} eV/A (mean over atoms)"
        to_label.append(atoms)
    return Measurement(
        "committee", "force spread on extrapolation structures", float(far_f), "eV/A",
        limit if limit > 0 else np.inf, bool(limit <= 0 or far_f <= limit),
        case=f"{len(in_domain)} in-domain, {len(far)} extrapolation structures",
        details={"models": " ".join(m.label for m in models),
                 "in_domain_energy_spread_eV_per_atom": float(near_e), "in_domain_force_spread_eV_per_A": float(near_f),
                 "extrapolation_energy_spread_eV_per_atom": float(far_e),
                 "extrapolation_force_spread_eV_per_A": float(far_f),
                 "force_spread_ratio": float(far_f / near_f) if near_f else None,
                 "label_frames": len(to_label)},
        to_label=to_label)
