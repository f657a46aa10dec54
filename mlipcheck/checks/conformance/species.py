"""Species supported as stated (OpenKIM's SpeciesSupportedAsStated, and the converse).

Every declared element gets an isolated atom, a dimer whose energy must depend on the distance,
and a small crystal, all finite. An element the model does not declare must be refused with an
error; a model that silently returns numbers for it fails.
"""
from __future__ import annotations

import numpy as np
from ase.data import atomic_numbers

from mlipcheck.engine.evaluate import evaluate
from mlipcheck.engine.measurement import Measurement
from mlipcheck.errors import ModelCallError
from mlipcheck.structures.elements import bond_length, dimer, isolated_atom, sample_elements, small_crystal


def species_problems(model, symbol) -> list[str]:
    """What goes wrong for one declared element (empty if nothing)."""
    problems = []
    try:
        evaluate(model, isolated_atom(symbol))
        r0 = bond_length(symbol, symbol)
        energies = [evaluate(model, dimer(symbol, symbol, r0 * f)).energy for f in (0.8, 1.0, 1.4)]
        if np.ptp(energies) < 1e-4:
            problems.append(f"{symbol}: dimer energy does not depend on distance "
                            f"(spread {np.ptp(energies):.1e} eV over {0.8 * r0:.2f}-{1.4 * r0:.2f} A)")
        evaluate(model, small_crystal(symbol))
    except ModelCallError as exc:
        problems.append(f"{symbol}: {exc}")
    return problems


def check_species_supported(model, section, seed=0) -> Measurement:
    elements = sample_elements(model.elements, int(section["max_elements"]), seed)
    problems = [p for symbol in elements for p in species_problems(model, symbol)]
    failing = sorted({p.split(":")[0] for p in problems}, key=lambda s: atomic_numbers[s])
    return Measurement(
        check="species_supported", metric="declared elements that fail", value=len(failing),
        unit="elements", threshold=0, passed=not failing, case=f"{len(elements)} declared elements",
        details={"tested": " ".join(elements), "problems": "; ".join(problems)[:2000]},
        atoms=dimer(failing[0], failing[0], bond_length(failing[0], failing[0])) if failing else None,
        seed=seed)


# Elements a model trained on common data is most likely to answer for silently, then rare ones.
PROBES = ["H", "C", "N", "O", "Si", "Fe", "Cu", "Al", "Ni", "Ag", "Au", "Pt", "Ar", "Am", "Cm", "Og"]


def check_undeclared_element_refused(model, section, seed=0) -> Measurement:
    """Up to `undeclared_probes` elements the model does not declare, each as a dimer: every
    one must be refused with an error."""
    probes = [s for s in PROBES if s not in model.elements][: int(section["undeclared_probes"])]
    answered, refusals = [], []
    for symbol in probes:
        structure = dimer(symbol, symbol, bond_length(symbol, symbol))
        try:
            prediction = evaluate(model, structure)
            answered.append((symbol, prediction.energy, structure))
        except ModelCallError as exc:
            refusals.append(f"{symbol}: {str(exc)[:120]}")
    metric = "undeclared elements answered"
    if answered:
        metric += " (" + ", ".join(f"{s} dimer: {e:.4g} eV" for s, e, _ in answered) + ")"
    return Measurement(
        "undeclared_element", metric, len(answered), "elements", 0, not answered,
        case=f"dimers of {' '.join(probes)}", details={"refusals": "; ".join(refusals)[:1000]},
        atoms=answered[0][2] if answered else None, seed=seed)
