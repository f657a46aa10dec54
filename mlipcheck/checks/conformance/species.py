"""Species supported as stated (OpenKIM's SpeciesSupportedAsStated, and the converse).

Every declared element gets an isolated atom, a dimer whose energy must depend on the distance,
and a small crystal, all finite. An element the model does not declare must be refused with an
error; a model that silently returns numbers for it fails.
"""
from __future__ import annotations

import numpy as np
from ase.data import atomic_numbers

from mlipcheck.engine.context import as_context
from mlipcheck.engine.evaluate import evaluate_batch
from mlipcheck.engine.measurement import Measurement
from mlipcheck.errors import ModelCallError
from mlipcheck.structures.elements import bond_length, dimer, isolated_atom, sample_elements, small_crystal


def species_structures(symbol) -> list:
    """An isolated atom, dimers at 0.8, 1.0 and 1.4 x the bond length, a small crystal."""
    r0 = bond_length(symbol, symbol)
    return [isolated_atom(symbol)] + [dimer(symbol, symbol, r0 * f) for f in (0.8, 1.0, 1.4)] + [small_crystal(symbol)]


def species_problems(symbol, predictions) -> list[str]:
    """What goes wrong for one declared element (empty if nothing), from the predictions on its
    `species_structures`."""
    error = next((p for p in predictions if isinstance(p, ModelCallError)), None)
    if error is not None:
        return [f"{symbol}: {error}"]
    energies = [p.energy for p in predictions[1:4]]
    if np.ptp(energies) < 1e-4:
        r0 = bond_length(symbol, symbol)
        return [f"{symbol}: dimer energy does not depend on distance "
                f"(spread {np.ptp(energies):.1e} eV over {0.8 * r0:.2f}-{1.4 * r0:.2f} A)"]
    return []


def check_species_supported(ctx, target, settings) -> Measurement:
    ctx = as_context(ctx)
    model, seed = ctx.model, ctx.seed
    elements = sample_elements(model.elements, int(settings.max_elements), seed)
    structures = {symbol: species_structures(symbol) for symbol in elements}
    predictions = evaluate_batch(model, [a for symbol in elements for a in structures[symbol]])
    per_element = len(structures[elements[0]]) if elements else 0
    problems = [p for k, symbol in enumerate(elements)
                for p in species_problems(symbol, predictions[k * per_element:(k + 1) * per_element])]
    failing = sorted({p.split(":")[0] for p in problems}, key=lambda s: atomic_numbers[s])
    return Measurement(
        check="species_supported", metric="declared elements that fail", value=len(failing),
        unit="elements", threshold=0, passed=not failing, case=f"{len(elements)} declared elements",
        details={"tested": " ".join(elements), "problems": "; ".join(problems)[:2000]},
        atoms=dimer(failing[0], failing[0], bond_length(failing[0], failing[0])) if failing else None,
        seed=seed)


# Elements a model trained on common data is most likely to answer for silently, then rare ones.
PROBES = ["H", "C", "N", "O", "Si", "Fe", "Cu", "Al", "Ni", "Ag", "Au", "Pt", "Ar", "Am", "Cm", "Og"]


def check_undeclared_element_refused(ctx, target, settings) -> Measurement:
    """Up to `undeclared_probes` elements the model does not declare, each as a dimer: every
    one must be refused with an error."""
    ctx = as_context(ctx)
    model, seed = ctx.model, ctx.seed
    probes = [s for s in PROBES if s not in model.elements][: int(settings.undeclared_probes)]
    answered, refusals = [], []
    structures = [dimer(symbol, symbol, bond_length(symbol, symbol)) for symbol in probes]
    for symbol, structure, prediction in zip(probes, structures, evaluate_batch(model, structures)):
        if isinstance(prediction, ModelCallError):
            refusals.append(f"{symbol}: {str(prediction)[:120]}")
        else:
            answered.append((symbol, prediction.energy, structure))
    metric = "undeclared elements answered"
    if answered:
        metric += " (" + ", ".join(f"{s} dimer: {e:.4g} eV" for s, e, _ in answered) + ")"
    return Measurement(
        "undeclared_element", metric, len(answered), "elements", 0, not answered,
        case=f"dimers of {' '.join(probes)}", details={"refusals": "; ".join(refusals)[:1000]},
        atoms=answered[0][2] if answered else None, seed=seed)
