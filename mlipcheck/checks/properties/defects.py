"""Defect energies: vacancy formation (with a supercell-size check) and, in `full`, surface energies.

E_f(vacancy) = E(N-1 atoms, positions relaxed, cell fixed) - (N-1)/N E(N atoms, perfect), in the
model's own relaxed lattice, for two supercells (`full`): the answer of the larger is judged
against the cited reference, and the change from the smaller one must be below a tolerance (both
shown). The quick profile computes one size (32 atoms for fcc) and skips the convergence verdict.
Surface energy gamma = (E_slab - N e_bulk) / (2 A), relaxed slab, J/m^2: the facet ordering, and
the error against the PBE table the project computed (fixtures/reference_set/surface_energies.csv).
Self-interstitial
E_f = E(N+1, relaxed) - (N+1)/N E(N), which must exceed the vacancy's (full profile).
"""
from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
from ase import Atoms
from ase.build import bulk
from ase.units import J, m

from mlipcheck.checks.properties.relaxation import relax
from mlipcheck.engine.context import as_context
from mlipcheck.engine.evaluate import evaluate
from mlipcheck.engine.measurement import Measurement, NotApplicable
from mlipcheck.engine.memo import memo


@dataclass
class VacancyReference:
    element: str
    structure: str
    energy: float  # eV, PBE vacancy formation energy: gated
    migration: float | None  # eV, PBE migration barrier: gated where given
    source: str
    experiment: float | None  # eV, measured formation energy: reported beside it
    experiment_source: str
    kind: str = "PBE"


def vacancy_references() -> dict[str, VacancyReference]:
    """The cited table in fixtures/reference_set/vacancy_formation_energies.csv."""
    import mlipcheck.reference_data

    path = Path(mlipcheck.reference_data.__file__).parent / "vacancy_formation_energies.csv"
    rows = [line for line in path.read_text().splitlines() if line and not line.startswith("#")]

    def number(text):
        return float(text) if text.strip() else None

    return {r["element"]: VacancyReference(r["element"], r["structure"], float(r["pbe_vacancy_formation_eV"]),
                                           number(r["pbe_migration_eV"]), r["pbe_source"],
                                           number(r["experiment_vacancy_formation_eV"]), r["experiment_source"])
            for r in csv.DictReader(rows)}


def relaxed_bulk(model, element: str, structure: str, settings) -> Atoms:
    """The conventional cubic cell of the element, relaxed by the model (symmetry kept)."""
    key = ("relaxed_bulk", element, structure)
    if key not in memo(model):
        atoms = bulk(element, structure, cubic=True)
        memo(model)[key] = relax(model, atoms, float(settings.fmax), int(settings.steps))[0]
    return memo(model)[key]


def vacancy_energy(model, cell: Atoms, repeat: int, settings) -> tuple[float, Atoms]:
    perfect = cell.repeat(repeat)
    e_bulk = evaluate(model, perfect, stress=False).energy
    defect = perfect.copy()
    del defect[0]
    relaxed, converged, _ = relax(model, defect, float(settings.fmax), int(settings.steps), keep_symmetry=False,
                                  cell=False)
    e_vac = evaluate(model, relaxed, stress=False).energy
    n = len(perfect)
    return e_vac - (n - 1) / n * e_bulk, relaxed


def check_vacancy_energy(ctx, reference: VacancyReference, settings) -> Measurement:
    """E_f of the largest supercell in `repeats` against the reference."""
    model = as_context(ctx).model
    return _vacancy(model, reference, settings)["vacancy_energy"]


def check_vacancy_size_convergence(ctx, reference: VacancyReference, settings) -> Measurement:
    """The change of E_f from the smallest to the largest supercell in `repeats`."""
    model = as_context(ctx).model
    measurements = _vacancy(model, reference, settings)
    if "vacancy_size_convergence" not in measurements:
        raise NotApplicable("one supercell size in this profile (repeats); the full profile checks convergence")
    return measurements["vacancy_size_convergence"]


def _vacancy(model, reference: VacancyReference, settings) -> dict[str, Measurement]:
    """E_f of each supercell size and the verdicts on them, computed once per model and element."""
    key = ("vacancy", reference.element, tuple(settings.repeats))
    if key in memo(model):
        return memo(model)[key]
    cell = relaxed_bulk(model, reference.element, reference.structure, settings)
    sizes = sorted(int(r) for r in settings.repeats)
    energies, structure = {}, None
    for n in sizes:
        energies[n], structure = vacancy_energy(model, cell, n, settings)
    large = sizes[-1]
    details = {**{f"E_f_{n}x{n}x{n}_eV": e for n, e in energies.items()},
               "atoms_large": len(cell) * large**3, "reference_eV": reference.energy,
               "reference_kind": reference.kind, "reference_source": reference.source,
               "experiment_eV": reference.experiment, "experiment_source": reference.experiment_source,
               "minus_experiment_eV": None if reference.experiment is None else energies[large] - reference.experiment,
               "lattice_A": float(cell.cell.lengths()[0])}
    tolerance = float(settings.vacancy_tolerance_eV)
    error = abs(energies[large] - reference.energy)
    out = {"vacancy_energy": Measurement(
        "vacancy_energy", f"|E_f - reference ({reference.kind})|", error, "eV", tolerance,
        bool(error <= tolerance), case=reference.element, details=details,
        atoms=None if error <= tolerance else structure)}
    if len(sizes) > 1:
        convergence = float(settings.size_convergence_eV)
        change = abs(energies[large] - energies[sizes[0]])
        out["vacancy_size_convergence"] = Measurement(
            "vacancy_size_convergence", f"|E_f({large}^3) - E_f({sizes[0]}^3)|", change, "eV", convergence,
            bool(change <= convergence), case=reference.element, details=details)
    memo(model)[key] = out
    return out


def interstitial_energy(model, cell: Atoms, repeat: int, settings) -> tuple[float, Atoms]:
    """E(N+1, relaxed) - (N+1)/N E(N) for an atom added at the octahedral site (a/2, 0, 0) of the
    conventional cell, nudged off it so the relaxation can find a split dumbbell."""
    perfect = cell.repeat(repeat)
    e_bulk = evaluate(model, perfect, stress=False).energy
    defect = perfect.copy()
    site = 0.5 * cell.cell.array[0] + np.array([0.03, 0.05, 0.07])
    defect.append(defect[0])
    defect.positions[-1] = site
    relaxed, _, _ = relax(model, defect, float(settings.fmax), int(settings.steps), keep_symmetry=False, cell=False)
    n = len(perfect)
    return evaluate(model, relaxed, stress=False).energy - (n + 1) / n * e_bulk, relaxed


def check_interstitial(ctx, reference: VacancyReference, settings) -> Measurement:
    """A self-interstitial costs more than a vacancy in every metal (Ehrhart 1991: 2-6 eV against
    0.6-3 eV); a model whose core is too soft or has a hole lets the extra atom in cheaply."""
    model = as_context(ctx).model
    cell = relaxed_bulk(model, reference.element, reference.structure, settings)
    n = max(int(r) for r in settings.repeats)
    e_int, structure = interstitial_energy(model, cell, n, settings)
    e_vac = check_vacancy_energy(ctx, reference, settings).details[f"E_f_{n}x{n}x{n}_eV"]
    margin = e_int - e_vac
    return Measurement("interstitial_energy", "E_f(interstitial) - E_f(vacancy)", margin, "eV", 0.0,
                       bool(margin > 0), case=reference.element, relation=">",
                       details={"E_f_interstitial_eV": e_int, "E_f_vacancy_eV": e_vac, "atoms": len(structure)},
                       atoms=None if margin > 0 else structure)


@dataclass
class SurfaceReference:
    element: str
    facet: str  # Miller index without brackets: "111", "100"
    gamma: float  # J/m^2, PBE, relaxed slab
    source: str


@lru_cache(maxsize=1)
def surface_references() -> dict[tuple[str, str], SurfaceReference]:
    """The computed PBE table in fixtures/reference_set/surface_energies.csv, by (element, facet);
    read once per process (callers do not change it)."""
    import mlipcheck.reference_data

    path = Path(mlipcheck.reference_data.__file__).parent / "surface_energies.csv"
    rows = [line for line in path.read_text().splitlines() if line and not line.startswith("#")]
    return {(r["element"], r["facet"].strip("()")): SurfaceReference(r["element"], r["facet"].strip("()"),
                                                                     float(r["gamma_J_m2"]), r["source"])
            for r in csv.DictReader(rows)}


def fcc_slab(element: str, a: float, facet: str, layers: int) -> Atoms:
    """A 1x1 slab of `layers` close-packed (111) or (100) planes, one atom each, 8 A of vacuum on
    each side. ase.build.surface on the conventional cube made a (111) slab of 20 atoms in six
    uneven planes (an adatom of coordination 3): CHGNet's Pt(111) read 2.0 J/m^2, not 1.1."""
    from ase.build import fcc100, fcc111

    build = {"111": fcc111, "100": fcc100}[facet]
    return build(element, (1, 1, layers), a=a, vacuum=8.0, periodic=True)


def surface_energy(model, element: str, a: float, e_bulk: float, facet: str, layers: int, settings) -> tuple[float, Atoms]:
    """(J/m^2, the relaxed slab) of an fcc `facet` slab at the model's lattice constant `a`, whose
    bulk energy per atom is `e_bulk` (eV)."""
    slab = fcc_slab(element, a, facet, layers)
    n = len(slab)
    relaxed, _, _ = relax(model, slab, float(settings.fmax), int(settings.steps), keep_symmetry=False, cell=False)
    area = np.linalg.norm(np.cross(relaxed.cell[0], relaxed.cell[1]))
    return (evaluate(model, relaxed, stress=False).energy - n * e_bulk) / (2 * area) / (J / m**2), relaxed


def check_surface_energies(ctx, reference: VacancyReference, settings) -> Measurement:
    """gamma(111) and gamma(100) of an fcc metal: both positive, and the close-packed (111) the
    lower (true of every fcc metal in DFT and experiment); the values are reported."""
    model, element, structure = as_context(ctx).model, reference.element, reference.structure
    gammas, slabs = _surface_gammas(model, element, structure, settings)
    details = {f"gamma_{facet}_J_m2": gamma for facet, gamma in gammas.items()}
    for facet, gamma in gammas.items():
        if not gamma > 0:
            return Measurement("surface_energy", f"gamma({facet})", gamma, "J/m^2", 0.0, False, case=element,
                               details=details, relation=">", atoms=slabs[facet])
    ratio = gammas["111"] / gammas["100"]
    return Measurement("surface_energy", "gamma(111) / gamma(100) (both > 0)", ratio, "", 1.0, bool(ratio < 1.0),
                       case=element, details=details, relation="<")


def check_surface_energy_error(ctx, reference: VacancyReference, settings) -> Measurement:
    """The larger relative error of gamma(111), gamma(100) against the PBE table (or the context's
    `surface_references`); the failing facet's relaxed slab goes to the report."""
    ctx = as_context(ctx)
    model, element, structure = ctx.model, reference.element, reference.structure
    references = surface_references() if ctx.surface_references is None else ctx.surface_references
    given = {facet: references[(element, facet)] for facet in ("111", "100") if (element, facet) in references}
    if not given:
        raise NotApplicable(f"no PBE surface energy of {element} in the reference table")
    gammas, slabs = _surface_gammas(model, element, structure, settings)
    errors = {facet: (gammas[facet] - ref.gamma) / ref.gamma for facet, ref in given.items()}
    worst = max(errors, key=lambda facet: abs(errors[facet]))
    details = {**{f"gamma_{facet}_J_m2": gamma for facet, gamma in gammas.items()},
               **{f"gamma_{facet}_reference_J_m2": ref.gamma for facet, ref in given.items()},
               **{f"relative_error_{facet}": error for facet, error in errors.items()},
               "reference_source": given[worst].source}
    tolerance = float(settings.surface_energy_tolerance)
    passed = abs(errors[worst]) <= tolerance
    return Measurement("surface_energy_error", f"max |gamma - PBE| / PBE over {', '.join(f'({f})' for f in given)}",
                       abs(errors[worst]), "", tolerance, bool(passed), case=element, details=details,
                       atoms=None if passed else slabs[worst])


def _surface_gammas(model, element: str, structure: str, settings) -> tuple[dict[str, float], dict[str, Atoms]]:
    """({facet: J/m^2}, {facet: relaxed slab}) of (111) and (100), computed once per model and element."""
    if structure != "fcc":
        raise NotApplicable(f"surface energies are set up for fcc metals ({element} is {structure})")
    layers = int(settings.slab_layers)
    key = ("surfaces", element, structure, layers)
    if key not in memo(model):
        cell = relaxed_bulk(model, element, structure, settings)  # cubic: symmetry kept
        e_bulk = evaluate(model, cell, stress=False).energy / len(cell)  # once for both facets
        a = float(np.mean(cell.cell.lengths()))
        computed = {facet: surface_energy(model, element, a, e_bulk, facet, layers, settings) for facet in ("111", "100")}
        memo(model)[key] = ({f: float(g) for f, (g, _) in computed.items()}, {f: slab for f, (_, slab) in computed.items()})
    return memo(model)[key]
