"""Errors against reference data, per material class: energy, forces, stress, softening.

Definitions (so numbers compare with the literature):
- energy MAE / RMSE over frames of |E_model - E_ref| / N_atoms, meV/atom;
- force MAE / RMSE over all Cartesian components, meV/A (as MACE, NequIP and mlearn report);
- force cosine similarity: mean over atoms with |F_ref| >= 0.1 eV/A of cos(F_model, F_ref);
- stress MAE over the six Voigt components, GPa;
- softening scale s: least-squares slope of y = s x with x the reference and y the model force
  components (Deng et al., "Overcoming systematic softening in universal machine learning
  interatomic potentials", npj Comput. Mater. 11, 9 (2025)); s < 1 is a soft model.
- per-element energy alignment: (E_ref - E_model) / N = sum_el (n_el / N) d_el fitted by least
  squares over every frame of one file (one DFT setting), so a data set computed with other settings than the
  model's training data is compared on relative energies. Both raw and aligned are reported;
  the profile's `energy_basis` says which one is gated.
- bootstrap: frames resampled with replacement; the gate applies to the upper end of the
  confidence interval, so a class of a dozen frames does not pass on a lucky draw.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from ase.units import GPa

from mlipcheck.engine.evaluate import evaluate_many
from mlipcheck.engine.measurement import Measurement, NotApplicable
from mlipcheck.engine.memo import memo
from mlipcheck.errors import ModelCallError
from mlipcheck.reference.sets import ReferenceDataError, ReferenceSet

COSINE_MIN_FORCE = 0.1  # eV/A: below this the direction of a reference force is noise
# Energies or forces in another unit make the model-vs-reference slope far from 1:
# Hartree (27.2), kcal/mol (1/23.06), kJ/mol (1/96.5), Hartree/Bohr (51.4). A poor model is
# further from 1 than a good one (EMT on ethanol: 0.23), so the band is wide.
PLAUSIBLE_SLOPE = (0.1, 10.0)


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
    predictions = evaluate_many(model, [f.atoms for _, f in usable], want_stress)
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


def _slope(x, y) -> float | None:
    x, y = np.ravel(x), np.ravel(y)
    denominator = float(x @ x)
    return float(x @ y) / denominator if denominator > 0 else None


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


def _energy_errors(rows, basis) -> np.ndarray:
    """Per-frame energy error in eV/atom, aligned or raw."""
    if basis == "aligned":
        return np.array([r.energy_aligned_error for r in rows if r.energy_ref is not None])
    return np.array([(r.energy_model - r.energy_ref) / r.n_atoms for r in rows if r.energy_ref is not None])


def bootstrap_interval(per_frame, statistic, samples, confidence, seed) -> tuple[float, float]:
    """Percentile bootstrap of statistic(list of per-frame arrays) over frames."""
    rng = np.random.default_rng(seed)
    n = len(per_frame)
    values = [statistic([per_frame[i] for i in rng.integers(0, n, n)]) for _ in range(samples)]
    tail = (1.0 - confidence) / 2.0
    return float(np.quantile(values, tail)), float(np.quantile(values, 1.0 - tail))


def _mae(chunks):
    return float(np.mean(np.abs(np.concatenate([np.ravel(c) for c in chunks]))))


def _threshold(section, key, material_class):
    value = section[key]
    if isinstance(value, dict):
        return float(value.get(material_class, value["default"]))
    return float(value)


def _parity(pairs, limit, seed):
    """At most `limit` (reference, model) points for the report's parity plots."""
    pairs = np.asarray(pairs, dtype=float).reshape(-1, 2)
    if len(pairs) > limit:
        pairs = pairs[np.random.default_rng(seed).choice(len(pairs), limit, replace=False)]
    return np.round(pairs, 5).tolist()


def _skipped(predictions, material_class) -> dict:
    out = {}
    unsupported = sum(p.unsupported.get(material_class, 0) for p in predictions)
    if unsupported:
        out["frames_with_undeclared_elements"] = unsupported
    left_out = [text for p in predictions for text in p.reference.problems]
    if left_out:  # frames of these files without usable labels (their class is unknown)
        out["frames_left_out_of_files"] = len(left_out)
        out["first_left_out"] = left_out[0]
    return out


def _relative_energies(rows, errors):
    """(reference, model) energies per atom relative to the mean reference of the same
    composition: what an aligned comparison judges, on a scale a parity plot can show
    (absolute all-electron energies span thousands of eV/atom)."""
    by_composition = {}
    for r in rows:
        by_composition.setdefault(tuple(sorted(r.symbols)), []).append(r.energy_ref / r.n_atoms)
    means = {k: float(np.mean(v)) for k, v in by_composition.items()}
    return [(r.energy_ref / r.n_atoms - means[tuple(sorted(r.symbols))],
             r.energy_ref / r.n_atoms - means[tuple(sorted(r.symbols))] + e) for r, e in zip(rows, errors)]


def check_energy_error(predictions, material_class, section, seed=0) -> Measurement:
    rows = [r for r in class_results(predictions, material_class) if r.energy_ref is not None]
    basis = section["energy_basis"]
    errors = _energy_errors(rows, basis)
    raw = _energy_errors(rows, "raw")
    aligned = _energy_errors(rows, "aligned")
    low, high = bootstrap_interval(list(errors), _mae, int(section["bootstrap_samples"]),
                                   float(section["confidence"]), seed)
    threshold = _threshold(section, "energy_mae_mev_per_atom", material_class)
    worst = int(np.argmax(np.abs(errors)))
    frame = rows[worst]
    atoms = _frame_atoms(predictions, frame)
    details = {
        "frames": len(rows), "basis": basis,
        "mae_raw_mev_per_atom": 1e3 * float(np.mean(np.abs(raw))),
        "rmse_raw_mev_per_atom": 1e3 * float(np.sqrt(np.mean(raw ** 2))),
        "mae_aligned_mev_per_atom": 1e3 * float(np.mean(np.abs(aligned))),
        "rmse_aligned_mev_per_atom": 1e3 * float(np.sqrt(np.mean(aligned ** 2))),
        "ci_low_mev_per_atom": 1e3 * low, "ci_high_mev_per_atom": 1e3 * high,
        "worst_frame": atoms.info.get("mlipcheck_frame"), "worst_error_mev_per_atom": 1e3 * float(errors[worst]),
        "parity_energy": _parity(_relative_energies(rows, errors), 400, seed),
        **_skipped(predictions, material_class)}
    mae = 1e3 * float(np.mean(np.abs(errors)))
    details["mae_mev_per_atom"] = mae
    passed = 1e3 * high <= threshold
    return Measurement("energy_error", f"{section['confidence']:.0%} bootstrap upper bound of the energy MAE "
                       f"({basis}; MAE {mae:.3g})", 1e3 * high, "meV/atom", threshold, passed,
                       case=material_class, details=details, atoms=None if passed else atoms, seed=seed)


def check_force_error(predictions, material_class, section, seed=0) -> Measurement:
    rows = [r for r in class_results(predictions, material_class) if r.forces_ref is not None]
    diffs = [r.forces_model - r.forces_ref for r in rows]
    low, high = bootstrap_interval(diffs, _mae, int(section["bootstrap_samples"]), float(section["confidence"]), seed)
    ref = np.concatenate([r.forces_ref for r in rows])
    got = np.concatenate([r.forces_model for r in rows])
    norms = np.linalg.norm(ref, axis=1)
    keep = norms >= COSINE_MIN_FORCE
    cosine = (np.sum(ref[keep] * got[keep], axis=1) / (norms[keep] * np.linalg.norm(got[keep], axis=1) + 1e-300))
    symbols = np.concatenate([r.symbols for r in rows])
    per_element = {f"mae_{e}_mev_per_A": 1e3 * float(np.mean(np.abs((got - ref)[symbols == e])))
                   for e in sorted(set(symbols))}
    worst = int(np.argmax([np.abs(d).max() for d in diffs]))
    threshold = _threshold(section, "force_mae_mev_per_A", material_class)
    mae = 1e3 * _mae(diffs)
    passed = 1e3 * high <= threshold
    atoms = _frame_atoms(predictions, rows[worst])
    details = {"frames": len(rows), "atoms": len(ref), "mae_mev_per_A": mae,
               "rmse_mev_per_A": 1e3 * float(np.sqrt(np.mean((got - ref) ** 2))),
               "ci_low_mev_per_A": 1e3 * low, "ci_high_mev_per_A": 1e3 * high,
               "cosine_similarity": float(np.mean(cosine)) if keep.any() else None,
               "mean_abs_reference_force_mev_per_A": 1e3 * float(np.mean(np.abs(ref))),
               "softening_scale": _slope(ref, got), **per_element,
               "worst_frame": atoms.info.get("mlipcheck_frame"),
               "parity_forces": _parity(np.stack([ref.ravel(), got.ravel()], axis=1), 600, seed),
               **_skipped(predictions, material_class)}
    return Measurement("force_error", f"{section['confidence']:.0%} bootstrap upper bound of the force MAE "
                       f"(MAE {mae:.3g})", 1e3 * high, "meV/A", threshold, passed, case=material_class, details=details,
                       atoms=None if passed else atoms, seed=seed)


def check_stress_error(predictions, material_class, section, seed=0) -> Measurement:
    rows = [r for r in class_results(predictions, material_class)
            if r.stress_ref is not None and r.stress_model is not None]
    if not rows:
        raise NotApplicable(f"no reference stress (or no model stress) in class {material_class}")
    index = ([0, 1, 2, 1, 0, 0], [0, 1, 2, 2, 2, 1])
    diffs = [(r.stress_model - r.stress_ref)[index] / GPa for r in rows]
    low, high = bootstrap_interval(diffs, _mae, int(section["bootstrap_samples"]), float(section["confidence"]), seed)
    threshold = _threshold(section, "stress_mae_gpa", material_class)
    worst = int(np.argmax([np.abs(d).max() for d in diffs]))
    passed = high <= threshold
    atoms = _frame_atoms(predictions, rows[worst])
    return Measurement("stress_error", f"{section['confidence']:.0%} bootstrap upper bound of the stress MAE "
                       f"(6 Voigt components; MAE {_mae(diffs):.3g})", high, "GPa", threshold,
                       passed, case=material_class,
                       details={"frames": len(rows), "mae_gpa": _mae(diffs), "ci_low_gpa": low, "ci_high_gpa": high,
                                "worst_frame": atoms.info.get("mlipcheck_frame")},
                       atoms=None if passed else atoms, seed=seed)


def check_softening(predictions, material_class, section, seed=0) -> Measurement:
    """Slope s of model forces against reference forces; gated to [min, max] from the profile."""
    rows = [r for r in class_results(predictions, material_class) if r.forces_ref is not None]
    ref = [r.forces_ref for r in rows]
    got = [r.forces_model for r in rows]
    s = _slope(np.concatenate([x.ravel() for x in ref]), np.concatenate([y.ravel() for y in got]))
    low_gate, high_gate = (float(v) for v in section["softening_range"])
    pairs = list(zip(ref, got))
    low, high = bootstrap_interval(
        pairs, lambda chosen: _slope(np.concatenate([a.ravel() for a, _ in chosen]),
                                     np.concatenate([b.ravel() for _, b in chosen])) or 0.0,
        int(section["bootstrap_samples"]), float(section["confidence"]), seed)
    passed = s is not None and low_gate <= s <= high_gate
    threshold, relation = (low_gate, ">=") if (s or 0.0) < 1.0 else (high_gate, "<=")
    return Measurement("softening", "slope s of model vs reference forces (y = s x)",
                       float(s) if s is not None else float("nan"), "", threshold, bool(passed),
                       case=material_class, relation=relation,
                       details={"frames": len(rows), "ci_low": low, "ci_high": high,
                                "gate": f"{low_gate} <= s <= {high_gate}"}, seed=seed)


def class_summary(predictions, classes, basis) -> dict:
    """Per class: aligned/raw energy MAE, force MAE and the force MAE relative to the mean
    reference force magnitude (scale-free, so molecules and metals compare)."""
    out = {}
    for c in classes:
        rows = class_results(predictions, c)
        if not rows:
            continue
        energy = _energy_errors(rows, basis)
        with_forces = [r for r in rows if r.forces_ref is not None]
        entry = {"frames": len(rows), "energy_mae_mev_per_atom": 1e3 * float(np.mean(np.abs(energy))) if len(energy) else None}
        if with_forces:
            diff = np.concatenate([(r.forces_model - r.forces_ref).ravel() for r in with_forces])
            ref = np.concatenate([r.forces_ref.ravel() for r in with_forces])
            entry["force_mae_mev_per_A"] = 1e3 * float(np.mean(np.abs(diff)))
            entry["relative_force_error"] = float(np.mean(np.abs(diff)) / max(np.mean(np.abs(ref)), 1e-12))
        out[c] = entry
    return out


def check_transferability(predictions, classes, section) -> Measurement:
    """Each class's relative force error over the best class's: how unevenly the model errs."""
    summary = class_summary(predictions, classes, section["energy_basis"])
    relative = {c: v["relative_force_error"] for c, v in summary.items() if "relative_force_error" in v}
    limit = float(section["max_transferability_ratio"])
    if len(relative) < 2:
        raise NotApplicable(f"transferability needs two classes with reference forces, got {sorted(relative)}")
    best = min(relative, key=relative.get)
    ratios = {c: v / relative[best] if relative[best] > 0 else np.inf for c, v in relative.items()}
    worst = max(ratios, key=ratios.get)
    order = sorted(relative, key=relative.get)
    return Measurement("transferability", f"relative force error of {worst} over {best}", float(ratios[worst]),
                       "x", limit, bool(ratios[worst] <= limit), case="all classes",
                       details={"order_best_to_worst": " < ".join(order),
                                **{f"ratio_{c}": float(r) for c, r in ratios.items()}, "classes": summary})


def calibration(residuals, sigmas, bins: int = 10) -> dict:
    """Whether a committee's spread can be read as an error bar (Tran et al., Mach. Learn.: Sci.
    Technol. 1, 025006 (2020); Levi et al., Sensors 22, 5540 (2022)), per force component:
    - miscalibration area: the mean over confidence levels p of |observed - p|, where observed is
      the share of |residual| <= z_p sigma (z_p the two-sided Gaussian quantile); 0 when the
      spread is a calibrated Gaussian error bar, towards 0.5 when over- or under-confident;
    - ENCE: over `bins` equal-count bins of sigma, the mean of |RMV - RMSE| / RMV (root mean
      variance against root mean squared error in the bin); 0 when calibrated;
    - the spread's scale relative to the error (RMSE / RMV over everything)."""
    from scipy.stats import norm

    r, s = np.abs(np.ravel(residuals)), np.ravel(sigmas)
    keep = s > 0
    r, s = r[keep], s[keep]
    if len(r) < 2 * bins:
        return {"calibration_points": int(len(r))}
    levels = np.linspace(0.01, 0.99, 99)
    observed = np.array([np.mean(r <= norm.ppf((1 + p) / 2) * s) for p in levels])
    order = np.argsort(s)
    ence = np.mean([abs(np.sqrt(np.mean(s[b] ** 2)) - np.sqrt(np.mean(r[b] ** 2))) / np.sqrt(np.mean(s[b] ** 2))
                    for b in np.array_split(order, bins)])
    return {"miscalibration_area": float(np.mean(np.abs(observed - levels))), "ence": float(ence),
            "error_over_spread": float(np.sqrt(np.mean(r ** 2)) / np.sqrt(np.mean(s ** 2))),
            "calibration_points": int(len(r))}


def check_uncertainty(models, predictions_by_model, material_class, section, seed=0) -> Measurement:
    """Committee spread per frame against the committee mean's true force error: does the
    spread rank the error? Spearman correlation, and the share of the error in the most
    uncertain fraction of frames (versus that fraction itself, what random flagging gets)."""
    from scipy.stats import spearmanr

    per_model = [class_results(p, material_class) for p in predictions_by_model]
    common = set.intersection(*[{r.label for r in rows} for rows in per_model])
    rows_by_model = [sorted((r for r in rows if r.label in common), key=lambda r: r.label) for rows in per_model]
    spread, error, residuals, sigmas = [], [], [], []
    for frames in zip(*rows_by_model):
        if frames[0].forces_ref is None:
            continue
        forces = np.array([f.forces_model for f in frames])
        mean = forces.mean(axis=0)
        spread.append(float(np.sqrt(((forces - mean) ** 2).sum(axis=2).mean(axis=0)).mean()))
        error.append(float(np.abs(mean - frames[0].forces_ref).mean()))
        residuals.append((mean - frames[0].forces_ref).ravel())
        sigmas.append(forces.std(axis=0, ddof=1).ravel())
    minimum = float(section["min_uncertainty_spearman"])
    if len(spread) < 4:
        raise NotApplicable(f"{material_class}: {len(spread)} frames that every model evaluates (need 4)")
    if np.ptp(spread) == 0 or np.ptp(error) == 0:  # Spearman is undefined: nothing to rank
        raise NotApplicable(f"{material_class}: committee spread or error is the same on every frame")
    rho = float(spearmanr(spread, error)[0])
    fraction = float(section["flag_fraction"])
    flagged = np.argsort(spread)[::-1][:max(1, int(round(fraction * len(spread))))]
    captured = float(np.sum(np.array(error)[flagged]) / np.sum(error)) if np.sum(error) > 0 else None
    return Measurement("uncertainty", "Spearman(committee force spread, force error) over frames", rho, "",
                       minimum, bool(rho >= minimum), case=material_class, relation=">=",
                       details={"frames": len(spread), "models": " ".join(m.label for m in models),
                                "flagged_fraction": fraction, "error_share_in_flagged": captured,
                                "mean_spread_mev_per_A": 1e3 * float(np.mean(spread)),
                                "mean_error_mev_per_A": 1e3 * float(np.mean(error)),
                                **calibration(np.concatenate(residuals), np.concatenate(sigmas))})


def _frame_atoms(predictions, row: FrameResult):
    for p in predictions:
        if any(row is r for r in p.results):
            frame = p.reference.frames[row.frame_index]
            atoms = frame.atoms.copy()
            atoms.info["mlipcheck_frame"] = frame.label
            return atoms
    raise ValueError("frame not found")
