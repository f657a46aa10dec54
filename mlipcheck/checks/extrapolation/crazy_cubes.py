"""Far from the training data: crazy cubes and strong compression and expansion.

- Crazy cubes (the transferability literature's random structures): random compositions of the
  declared elements at random positions in cubes from sparse to strongly compressed, seeded and
  Hypothesis-generated. Outputs must be finite; the energy per atom may not fall far below the
  composition-weighted energy of the elements' own simplest forms (a hole); forces must stay
  bounded where no two atoms are closer than a reasonable fraction of their bond length.
- Compression: crystals at 0.4-2.5 times their volume: finite, and the energy rises steadily
  under strong compression.

A NaN or inf here is a verdict about the model (it is what is being measured), not an error.
"""
from __future__ import annotations

import numpy as np
from ase import Atoms
from ase.data import atomic_numbers, covalent_radii
from ase.neighborlist import neighbor_list

from mlipcheck.engine.context import as_context
from mlipcheck.engine.evaluate import evaluate_all, evaluate_batch
from mlipcheck.engine.measurement import Measurement
from mlipcheck.engine.memo import memo
from mlipcheck.errors import ModelCallError
from mlipcheck.structures.elements import FALLBACK_ELEMENTS, bond_length, dimer, sample_elements, small_crystal


def crazy_cube(elements, n_atoms, volume_factor, rng) -> Atoms:
    """`n_atoms` random atoms of `elements` in a cube whose volume per atom is `volume_factor`
    times that of touching spheres of the atoms' covalent radii (1: close-packed-ish)."""
    symbols = list(rng.choice(sorted(elements), n_atoms))
    radii = covalent_radii[[atomic_numbers[s] for s in symbols]]
    volume = volume_factor * np.sum((2 * radii) ** 3)
    edge = volume ** (1 / 3)
    return Atoms(symbols, scaled_positions=rng.random((n_atoms, 3)), cell=[edge] * 3, pbc=True)


def min_bond_fraction(atoms) -> float:
    """The smallest distance between two atoms over the sum of their covalent radii."""
    radii = covalent_radii[atoms.numbers]
    i, j, d = neighbor_list("ijd", atoms, float(2 * radii.max()))
    return float((d / (radii[i] + radii[j])).min()) if len(d) else np.inf


def elemental_reference(model, symbols) -> dict:
    """Each element's lowest energy per atom in its simple forms, by the model (cached): its
    crystal, or its dimer near the bond length (N, O, H are molecules, not crystals: against a
    van der Waals packing of N atoms, any bonded cube would look like a hole)."""
    missing = sorted(s for s in set(symbols) if ("elemental_reference", s) not in memo(model))
    factors = (0.8, 0.9, 1.0, 1.1, 1.2)
    structures = []  # every missing element's crystal and dimers, in one batch
    for symbol in missing:
        bond = bond_length(symbol, symbol)
        structures += [small_crystal(symbol)] + [dimer(symbol, symbol, f * bond) for f in factors]
    predictions = evaluate_all(model, structures, stress=False)
    for k, symbol in enumerate(missing):
        mine = list(zip(structures, predictions))[k * (1 + len(factors)):(k + 1) * (1 + len(factors))]
        memo(model)[("elemental_reference", symbol)] = min(p.energy / len(a) for a, p in mine)
    return {symbol: memo(model)[("elemental_reference", symbol)] for symbol in set(symbols)}


def cube_problem(model, cube, settings, prediction=None) -> str | None:
    """What is wrong with the model on one cube: non-finite output, a hole, unbounded forces.
    `prediction`: the cube's, if already evaluated (a Prediction or its ModelCallError)."""
    if prediction is None:
        prediction = evaluate_batch(model, [cube])[0]
    if isinstance(prediction, ModelCallError):
        if prediction.kind != "nonfinite":
            raise prediction
        return str(prediction)
    reference = elemental_reference(model, cube.get_chemical_symbols())
    expected = np.mean([reference[s] for s in cube.get_chemical_symbols()])
    depth = expected - prediction.energy / len(cube)  # > 0: below the elements' own crystals
    if depth > settings.hole_depth:
        return f"{depth:.2f} eV/atom below its elements' crystals (a hole)"
    if min_bond_fraction(cube) >= settings.reasonable_bond_fraction:
        largest = float(np.abs(prediction.forces).max())
        if largest > settings.max_force:
            return (f"|F| = {largest:.0f} eV/A with no atoms closer than "
                    f"{settings['reasonable_bond_fraction']} bond lengths")
    return None


def _pool(model, settings, seed):
    return sample_elements(model.elements or FALLBACK_ELEMENTS, int(settings.max_elements), seed)


def _describe(index, cube):
    return f"cube {index} ({cube.get_chemical_formula()}, {cube.get_volume() / len(cube):.1f} A^3/atom)"


def check_crazy_cubes(ctx, target, settings) -> Measurement:
    ctx = as_context(ctx)
    model, seed = ctx.model, ctx.seed
    rng = np.random.default_rng(seed)
    pool = _pool(model, settings, seed)
    lo, hi = np.log(settings.volume_factor_min), np.log(settings.volume_factor_max)
    problems, first_bad = [], None
    cubes = [crazy_cube(pool, int(rng.integers(2, int(settings.max_atoms) + 1)), float(np.exp(rng.uniform(lo, hi))), rng)
             for _ in range(int(settings.cubes))]
    predictions = evaluate_batch(model, cubes)
    # The references the judged cubes need, in one batch (a cube without output needs none)
    elemental_reference(model, {s for c, p in zip(cubes, predictions) if not isinstance(p, ModelCallError)
                                for s in c.get_chemical_symbols()})
    for index, (cube, prediction) in enumerate(zip(cubes, predictions)):
        problem = cube_problem(model, cube, settings, prediction)
        if problem:
            problems.append(f"{_describe(index, cube)}: {problem}")
            first_bad = first_bad if first_bad is not None else cube
    return Measurement(
        "crazy_cubes", "cubes with non-finite output, a hole or unbounded forces", len(problems), "cubes", 0,
        not problems, case=f"{int(settings['cubes'])} cubes of {' '.join(pool)}",
        details={"problems": "; ".join(problems)[:2000]}, atoms=first_bad, seed=seed)


def check_generated_cubes(ctx, target, settings) -> Measurement:
    """Crazy cubes drawn by Hypothesis: a failing cube is shrunk (fewer atoms, a density nearer
    the sparse end) before it is handed over; --mlipcheck-seed reproduces it."""
    ctx = as_context(ctx)
    model, seed = ctx.model, ctx.seed
    from hypothesis import HealthCheck, given
    from hypothesis import seed as hypothesis_seed
    from hypothesis import settings as hypothesis_settings
    from hypothesis import strategies as st

    pool = _pool(model, settings, seed)
    failures = []

    @hypothesis_seed(seed)
    @hypothesis_settings(max_examples=int(settings.hypothesis_examples), deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(st.integers(2, int(settings.max_atoms)),
           st.floats(float(np.log(settings.volume_factor_min)), float(np.log(settings.volume_factor_max))),
           st.integers(0, 2**32 - 1))
    def cubes_behave(n_atoms, log_volume, cube_seed):
        cube = crazy_cube(pool, n_atoms, float(np.exp(log_volume)), np.random.default_rng(cube_seed))
        problem = cube_problem(model, cube, settings)
        if problem:
            failures.append((problem, cube))
            raise AssertionError(problem)

    try:
        cubes_behave()
    except AssertionError:
        problem, cube = failures[-1]  # Hypothesis replays the minimal failing example last
        return Measurement("generated_cubes", f"{_describe('(minimal)', cube)}: {problem}", 1, "cubes", 0, False,
                           case=f"generated cubes of {' '.join(pool)}", atoms=cube, seed=seed,
                           details={"reproduce_with": f"--mlipcheck-seed {seed}"})
    return Measurement("generated_cubes", "generated cubes with non-finite output, a hole or unbounded forces",
                       0, "cubes", 0, True, case=f"{int(settings['hypothesis_examples'])} generated cubes of "
                       f"{' '.join(pool)}", seed=seed)


def check_compression(ctx, case, settings) -> Measurement:
    """Energy over volume from strong compression to expansion: finite everywhere, and rising
    monotonically as the volume shrinks below `monotonic_below` times the starting volume."""
    ctx = as_context(ctx)
    model, seed = ctx.model, ctx.seed
    factors = np.array(settings.volume_factors, dtype=float)
    volumes = []
    for factor in factors:
        scaled = case.atoms.copy()
        scaled.set_cell(case.atoms.cell.array * factor ** (1 / 3), scale_atoms=True)
        volumes.append(scaled)
    energies = []
    for factor, scaled, prediction in zip(factors, volumes, evaluate_batch(model, volumes, stress=False)):
        if isinstance(prediction, ModelCallError):
            if prediction.kind != "nonfinite":
                raise prediction
            return Measurement("compression", f"non-finite output at {factor:g} x volume", 1, "volumes", 0, False,
                               case=case.name, atoms=scaled, seed=seed)
        energies.append(prediction.energy / len(scaled))
    by_factor = dict(zip(factors, energies))
    shrinking = np.sort(factors[factors <= settings.monotonic_below])[::-1]  # largest volume first
    path = np.array([by_factor[f] for f in shrinking])
    drops = path[:-1] - path[1:]  # > 0 where the energy falls as the volume shrinks
    value = float(max(drops.max(), 0.0)) if len(drops) else 0.0
    atoms = None
    if value > 0:
        atoms = case.atoms.copy()
        atoms.set_cell(case.atoms.cell.array * shrinking[int(np.argmax(drops)) + 1] ** (1 / 3), scale_atoms=True)
    return Measurement(
        "compression", "largest energy drop per atom as the volume shrinks", value, "eV/atom", 0.0,
        value <= 0.0, case=case.name,
        details={"volume_factors": factors.tolist(), "energy_per_atom": [round(float(e), 5) for e in energies]},
        atoms=atoms, seed=seed)
