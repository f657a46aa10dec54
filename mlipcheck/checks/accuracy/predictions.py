"""The model's predictions on a reference set: every frame through the model once per model and
file (memoised), the per-element energy alignment, and the unit checks that refuse a file in
another unit or sign than ASE's."""
from __future__ import annotations

from dataclasses import dataclass
from itertools import permutations

import numpy as np
from ase.units import GPa

from mlipcheck.engine.evaluate import evaluate_batch
from mlipcheck.engine.memo import memo
from mlipcheck.engine.statistics import slope as _slope
from mlipcheck.errors import ModelCallError
from mlipcheck.reference.sets import ReferenceDataError, ReferenceSet

COSINE_MIN_FORCE = 0.1  # eV/A: below this the direction of a reference force is noise
# Energies or forces in another unit make the model-vs-reference slope far from 1:
# Hartree (27.2), kcal/mol (1/23.06), kJ/mol (1/96.5), Hartree/Bohr (51.4). A poor model is
# further from 1 than a good one (EMT on ethanol: 0.23), so the band is wide.
PLAUSIBLE_SLOPE = (0.1, 10.0)
# Shear stress columns in another order than ASE's Voigt (yz, xz, xy), e.g. VASP's (XY, YZ, ZX):
# a permutation then fits the model far better, after a scale (a soft model's shear is smaller
# than the reference's, not elsewhere). Misfit = what a least-squares slope s > 0 of model on
# reference leaves. The shared mlearn files: EMT on Cu 378 x, Ni 43 x better permuted; CHGNet,
# 2x softer in shear, on Si 4.0 x. A poor model's shear errors are alike under every order.
SHEAR_ORDER_FACTOR = 3.0
SHEAR_SIGNAL_GPA = 0.5  # a frame's reference shear must reach this to tell one order from another
SHEAR_NAMES = ("yz", "xz", "xy")


@dataclass
class FrameResult:
    frame_index: int
    label: str  # file name and frame index
    material_class: str
    n_atoms: int
    symbols: list
    energy_ref: float | None
    energy_model: float
    forces_ref: np.ndarray | None
    forces_model: np.ndarray
    stress_ref: np.ndarray | None
    stress_model: np.ndarray | None
    energy_aligned_error: float | None = None  # eV/atom after per-element alignment


@dataclass
class SetPredictions:
    """A model's predictions on one reference set, and what could not be predicted."""
    reference: ReferenceSet
    results: list[FrameResult]
    unsupported: dict  # class -> frames with an element the model does not declare
    failures: dict  # class -> list of ModelCallError
    alignment: dict  # element -> eV added to the model's per-atom energies
    stress_problem: str | None = None  # why this file's stress cannot be compared (energies, forces can)


@dataclass(frozen=True)
class ClassFrames:
    """The target of the accuracy checks: a material class and the predictions on the reference
    files (every class of them for `transferability`); for `uncertainty`, one such list per
    model of the committee as well."""
    material_class: str
    predictions: list  # [SetPredictions] of the model under test
    committee_predictions: tuple = ()  # ([SetPredictions], ...) per model of ctx.committee


def predict_set(model, reference: ReferenceSet) -> SetPredictions:
    """Every frame of `reference` through the model, once per model and file (cached)."""
    key = ("reference_set", str(reference.path))
    if key in memo(model):
        if isinstance(memo(model)[key], Exception):
            raise memo(model)[key]
        return memo(model)[key]
    results, unsupported, failures = [], {}, {}
    usable = []
    for index, frame in enumerate(reference.frames):
        if model.unsupported(frame.atoms.get_chemical_symbols()):
            unsupported[frame.material_class] = unsupported.get(frame.material_class, 0) + 1
        else:
            usable.append((index, frame))
    want_stress = [f.stress is not None and model.has_stress and f.atoms.pbc.all() for _, f in usable]
    predictions = evaluate_batch(model, [f.atoms for _, f in usable], want_stress)
    for (index, frame), p in zip(usable, predictions):
        if isinstance(p, ModelCallError):
            failures.setdefault(frame.material_class, []).append(p)
            continue
        results.append(FrameResult(index, frame.label, frame.material_class, len(frame.atoms),
                                   frame.atoms.get_chemical_symbols(), frame.energy, p.energy,
                                   frame.forces, p.forces, frame.stress, p.stress))
    alignment = _align(results)
    predictions = SetPredictions(reference, results, unsupported, failures, alignment)
    try:
        _check_units(predictions)
    except ReferenceDataError as exc:
        memo(model)[key] = exc  # every class of this file reports it; computed once
        raise
    predictions.stress_problem = _shear_order_problem(predictions)
    memo(model)[key] = predictions
    return predictions


def _align(results) -> dict:
    """Per-element energy shifts d_el minimising sum over frames of (E_ref - E_model - n.d)^2;
    sets each frame's aligned per-atom error."""
    rows = [r for r in results if r.energy_ref is not None]
    if not rows:
        return {}
    elements = sorted({s for r in rows for s in r.symbols})
    counts = np.array([[r.symbols.count(e) for e in elements] for r in rows], dtype=float)
    gap = np.array([r.energy_ref - r.energy_model for r in rows])
    n = counts.sum(axis=1)
    # per-atom rows: every frame weighs the same, as in the per-atom MAE that is then reported
    shifts, *_ = np.linalg.lstsq(counts / n[:, None], gap / n, rcond=None)
    for r, c in zip(rows, counts):
        r.energy_aligned_error = float(r.energy_model + c @ shifts - r.energy_ref) / r.n_atoms
    return dict(zip(elements, map(float, shifts)))


def _check_units(predictions: SetPredictions):
    """A file whose forces, energies or stress are in another unit or sign than ASE's gives a
    model-vs-reference slope near 27, 1/23, 51 or -1, not near 1: refuse it with the reason."""
    path = predictions.reference.path
    rows = predictions.results
    with_forces = [r for r in rows if r.forces_ref is not None]
    if with_forces:
        ref = np.concatenate([r.forces_ref.ravel() for r in with_forces])
        got = np.concatenate([r.forces_model.ravel() for r in with_forces])
        s = _slope(ref, got)
        if np.abs(ref).max() > 0.5 and s is not None and not PLAUSIBLE_SLOPE[0] <= s <= PLAUSIBLE_SLOPE[1]:
            raise ReferenceDataError(
                f"reference file {path}: model forces = {s:.3g} x reference forces. The file's forces "
                "look like another unit than eV/A (Hartree/Bohr gives ~51, kcal/mol/A ~0.043, "
                "a flipped sign < 0). Convert them to eV/A (ase.units).")
    by_composition = {}
    for r in rows:
        if r.energy_ref is not None:
            by_composition.setdefault(tuple(sorted(r.symbols)), []).append(r)
    ref_d, model_d = [], []  # energy differences within each composition: offsets cancel
    for group in by_composition.values():
        for r in group[1:]:
            ref_d.append(r.energy_ref - group[0].energy_ref)
            model_d.append(r.energy_model - group[0].energy_model)
    if ref_d and np.abs(model_d).max() > 0.05:  # eV: enough signal to tell 1 from 27 or 0.04
        s = _slope(np.array(model_d), np.array(ref_d))
        if s is not None and not PLAUSIBLE_SLOPE[0] <= s <= PLAUSIBLE_SLOPE[1]:
            raise ReferenceDataError(
                f"reference file {path}: reference energy differences = {s:.3g} x the model's. The "
                "file's energies look like another unit than eV (Hartree gives ~0.037, kcal/mol ~23, "
                "kJ/mol ~96). Convert them to eV (ase.units).")
    with_stress = [r for r in rows if r.stress_ref is not None and r.stress_model is not None]
    if with_stress:
        ref = np.array([r.stress_ref for r in with_stress])
        got = np.array([r.stress_model for r in with_stress])
        s = _slope(got, ref)
        if np.abs(got).max() > 5e-3 and s is not None and s < 0:
            raise ReferenceDataError(
                f"reference file {path}: reference stress = {s:.3g} x the model's: the sign looks "
                "flipped. ASE's convention is tension positive (VASP prints compression positive: "
                "multiply by -1).")
        if np.abs(got).max() > 5e-3 and s is not None and (7 < abs(s) < 14 or 1 / 14 < abs(s) < 1 / 7):
            raise ReferenceDataError(
                f"reference file {path}: reference stress = {s:.3g} x the model's: a factor of 10, as "
                "kBar read as GPa (1 GPa = 10 kBar; eV/A^3 = GPa * ase.units.GPa). Convert the file's "
                "stress; if the file is right, the model's stress unit is off (see stress_finite_strain).")


def _shear_order_problem(predictions: SetPredictions) -> str | None:
    """A file whose shear stress columns are in another order than ASE's: the permutation of
    (yz, xz, xy) that fits the model SHEAR_ORDER_FACTOR times better than the file's order."""
    shear = ([1, 0, 0], [2, 2, 1])  # yz, xz, xy of the 3x3 tensors the results hold
    rows = [r for r in predictions.results if r.stress_ref is not None and r.stress_model is not None]
    ref = np.array([r.stress_ref[shear] for r in rows]).reshape(-1, 3) / GPa
    got = np.array([r.stress_model[shear] for r in rows]).reshape(-1, 3) / GPa
    if (np.abs(ref).max(axis=1, initial=0) > SHEAR_SIGNAL_GPA).sum() < 2:
        return None

    def left_over(order):  # what the best slope s > 0 of model on reference leaves
        along = float((got * ref[:, order]).sum())
        return float((got ** 2).sum()) - max(along, 0.0) ** 2 / max(float((ref ** 2).sum()), 1e-12)

    misfit = {order: left_over(order) for order in permutations(range(3))}
    best = min(misfit, key=misfit.get)
    if misfit[(0, 1, 2)] <= SHEAR_ORDER_FACTOR * max(misfit[best], 1e-12):
        return None
    return (f"reference file {predictions.reference.path}: its shear stress columns (ASE's Voigt order "
            f"yz, xz, xy) fit the model {misfit[(0, 1, 2)] / max(misfit[best], 1e-12):.0f} x better read as "
            f"{', '.join(SHEAR_NAMES[best.index(column)] for column in range(3))}: the file looks to store them in another order "
            "(VASP prints XY YZ ZX), or the model to return them in another order (test_stress_finite_strain "
            "tells which). Its stress is not compared (energies and forces are); write the columns in ASE's "
            "order to judge it.")


def class_results(predictions: list[SetPredictions], material_class: str) -> list[FrameResult]:
    return [r for p in predictions for r in p.results if r.material_class == material_class]


def raise_failures(predictions: list[SetPredictions], material_class: str):
    """A frame the model could not evaluate makes the class's verdict an error, not a number."""
    failures = [exc for p in predictions for exc in p.failures.get(material_class, [])]
    if failures:
        total = failures + [None] * len(class_results(predictions, material_class))
        first = failures[0]
        raise ModelCallError(f"{len(failures)} of {len(total)} frames of class {material_class!r} could not "
                             f"be evaluated; first: {first}", first.atoms, kind=first.kind)


def frame_atoms(predictions, row: FrameResult):
    for p in predictions:
        if any(row is r for r in p.results):
            frame = p.reference.frames[row.frame_index]
            atoms = frame.atoms.copy()
            atoms.info["mlipcheck_frame"] = frame.label
            return atoms
    raise ValueError("frame not found")
