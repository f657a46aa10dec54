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

import numpy as np
from ase.units import GPa

from mlipcheck.checks.accuracy.predictions import (
    COSINE_MIN_FORCE,
    ClassFrames,
    class_results,
    frame_atoms,
)
from mlipcheck.engine.context import as_context
from mlipcheck.engine.measurement import Measurement, NotApplicable
from mlipcheck.engine.statistics import bootstrap_interval, calibration, mae, slope
from mlipcheck.reference.sets import ReferenceDataError


def _energy_errors(rows, basis) -> np.ndarray:
    """Per-frame energy error in eV/atom, aligned or raw."""
    if basis == "aligned":
        return np.array([r.energy_aligned_error for r in rows if r.energy_ref is not None])
    return np.array([(r.energy_model - r.energy_ref) / r.n_atoms for r in rows if r.energy_ref is not None])


def _threshold(settings, key, material_class):
    value = settings[key]
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


def check_energy_error(ctx, frames: ClassFrames, settings) -> Measurement:
    predictions, material_class, seed = frames.predictions, frames.material_class, as_context(ctx).seed
    rows = [r for r in class_results(predictions, material_class) if r.energy_ref is not None]
    basis = settings.energy_basis
    errors = _energy_errors(rows, basis)
    raw = _energy_errors(rows, "raw")
    aligned = _energy_errors(rows, "aligned")
    low, high = bootstrap_interval(list(errors), mae, int(settings.bootstrap_samples),
                                   float(settings.confidence), seed)
    threshold = _threshold(settings, "energy_mae_mev_per_atom", material_class)
    worst = int(np.argmax(np.abs(errors)))
    frame = rows[worst]
    atoms = frame_atoms(predictions, frame)
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
    energy_mae = 1e3 * float(np.mean(np.abs(errors)))
    details["mae_mev_per_atom"] = energy_mae
    passed = 1e3 * high <= threshold
    return Measurement("energy_error", f"{settings['confidence']:.0%} bootstrap upper bound of the energy MAE "
                       f"({basis}; MAE {energy_mae:.3g})", 1e3 * high, "meV/atom", threshold, passed,
                       case=material_class, details=details, atoms=None if passed else atoms, seed=seed)


def check_force_error(ctx, frames: ClassFrames, settings) -> Measurement:
    predictions, material_class, seed = frames.predictions, frames.material_class, as_context(ctx).seed
    rows = [r for r in class_results(predictions, material_class) if r.forces_ref is not None]
    diffs = [r.forces_model - r.forces_ref for r in rows]
    low, high = bootstrap_interval(diffs, mae, int(settings.bootstrap_samples), float(settings.confidence), seed)
    ref = np.concatenate([r.forces_ref for r in rows])
    got = np.concatenate([r.forces_model for r in rows])
    norms = np.linalg.norm(ref, axis=1)
    keep = norms >= COSINE_MIN_FORCE
    cosine = (np.sum(ref[keep] * got[keep], axis=1) / (norms[keep] * np.linalg.norm(got[keep], axis=1) + 1e-300))
    symbols = np.concatenate([r.symbols for r in rows])
    per_element = {f"mae_{e}_mev_per_A": 1e3 * float(np.mean(np.abs((got - ref)[symbols == e])))
                   for e in sorted(set(symbols))}
    worst = int(np.argmax([np.abs(d).max() for d in diffs]))
    threshold = _threshold(settings, "force_mae_mev_per_A", material_class)
    force_mae = 1e3 * mae(diffs)
    passed = 1e3 * high <= threshold
    atoms = frame_atoms(predictions, rows[worst])
    details = {"frames": len(rows), "atoms": len(ref), "mae_mev_per_A": force_mae,
               "rmse_mev_per_A": 1e3 * float(np.sqrt(np.mean((got - ref) ** 2))),
               "ci_low_mev_per_A": 1e3 * low, "ci_high_mev_per_A": 1e3 * high,
               "cosine_similarity": float(np.mean(cosine)) if keep.any() else None,
               "mean_abs_reference_force_mev_per_A": 1e3 * float(np.mean(np.abs(ref))),
               "softening_scale": slope(ref, got), **per_element,
               "worst_frame": atoms.info.get("mlipcheck_frame"),
               "parity_forces": _parity(np.stack([ref.ravel(), got.ravel()], axis=1), 600, seed),
               **_skipped(predictions, material_class)}
    return Measurement("force_error", f"{settings['confidence']:.0%} bootstrap upper bound of the force MAE "
                       f"(MAE {force_mae:.3g})", 1e3 * high, "meV/A", threshold, passed, case=material_class, details=details,
                       atoms=None if passed else atoms, seed=seed)


def check_stress_error(ctx, frames: ClassFrames, settings) -> Measurement:
    predictions, material_class, seed = frames.predictions, frames.material_class, as_context(ctx).seed
    rows = [r for r in class_results(predictions, material_class)
            if r.stress_ref is not None and r.stress_model is not None]
    if not rows:
        raise NotApplicable(f"no reference stress (or no model stress) in class {material_class}")
    for p in predictions:
        if p.stress_problem and any(r.material_class == material_class and r.stress_ref is not None for r in p.results):
            raise ReferenceDataError(p.stress_problem)
    index = ([0, 1, 2, 1, 0, 0], [0, 1, 2, 2, 2, 1])
    diffs = [(r.stress_model - r.stress_ref)[index] / GPa for r in rows]
    low, high = bootstrap_interval(diffs, mae, int(settings.bootstrap_samples), float(settings.confidence), seed)
    threshold = _threshold(settings, "stress_mae_gpa", material_class)
    worst = int(np.argmax([np.abs(d).max() for d in diffs]))
    passed = high <= threshold
    atoms = frame_atoms(predictions, rows[worst])
    return Measurement("stress_error", f"{settings['confidence']:.0%} bootstrap upper bound of the stress MAE "
                       f"(6 Voigt components; MAE {mae(diffs):.3g})", high, "GPa", threshold,
                       passed, case=material_class,
                       details={"frames": len(rows), "mae_gpa": mae(diffs), "ci_low_gpa": low, "ci_high_gpa": high,
                                "worst_frame": atoms.info.get("mlipcheck_frame")},
                       atoms=None if passed else atoms, seed=seed)


def check_softening(ctx, frames: ClassFrames, settings) -> Measurement:
    predictions, material_class, seed = frames.predictions, frames.material_class, as_context(ctx).seed
    """Slope s of model forces against reference forces; gated to [min, max] from the profile."""
    rows = [r for r in class_results(predictions, material_class) if r.forces_ref is not None]
    ref = [r.forces_ref for r in rows]
    got = [r.forces_model for r in rows]
    s = slope(np.concatenate([x.ravel() for x in ref]), np.concatenate([y.ravel() for y in got]))
    low_gate, high_gate = (float(v) for v in settings.softening_range)
    pairs = list(zip(ref, got))
    low, high = bootstrap_interval(
        pairs, lambda chosen: slope(np.concatenate([a.ravel() for a, _ in chosen]),
                                     np.concatenate([b.ravel() for _, b in chosen])) or 0.0,
        int(settings.bootstrap_samples), float(settings.confidence), seed)
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


def check_transferability(ctx, frames: ClassFrames, settings) -> Measurement:
    """Each class's relative force error over the best class's: how unevenly the model errs
    (`frames`: the predictions on every reference file, all their classes)."""
    predictions = frames.predictions
    classes = sorted({r.material_class for p in predictions for r in p.results})
    summary = class_summary(predictions, classes, settings.energy_basis)
    relative = {c: v["relative_force_error"] for c, v in summary.items() if "relative_force_error" in v}
    limit = float(settings.max_transferability_ratio)
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


def check_uncertainty(ctx, frames: ClassFrames, settings) -> Measurement:
    """Committee spread per frame against the committee mean's true force error: does the
    spread rank the error? Spearman correlation, and the share of the error in the most
    uncertain fraction of frames (versus that fraction itself, what random flagging gets).
    The committee: `ctx.committee`, its predictions `frames.committee_predictions`."""
    models, predictions_by_model, material_class = as_context(ctx).committee, frames.committee_predictions, frames.material_class
    if len(predictions_by_model) < 2:
        raise NotApplicable("a committee needs at least two --model that load")
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
    minimum = float(settings.min_uncertainty_spearman)
    if len(spread) < 4:
        raise NotApplicable(f"{material_class}: {len(spread)} frames that every model evaluates (need 4)")
    if np.ptp(spread) == 0 or np.ptp(error) == 0:  # Spearman is undefined: nothing to rank
        raise NotApplicable(f"{material_class}: committee spread or error is the same on every frame")
    rho = float(spearmanr(spread, error)[0])
    fraction = float(settings.flag_fraction)
    flagged = np.argsort(spread)[::-1][:max(1, int(round(fraction * len(spread))))]
    captured = float(np.sum(np.array(error)[flagged]) / np.sum(error)) if np.sum(error) > 0 else None
    return Measurement("uncertainty", "Spearman(committee force spread, force error) over frames", rho, "",
                       minimum, bool(rho >= minimum), case=material_class, relation=">=",
                       details={"frames": len(spread), "models": " ".join(m.label for m in models),
                                "flagged_fraction": fraction, "error_share_in_flagged": captured,
                                "mean_spread_mev_per_A": 1e3 * float(np.mean(spread)),
                                "mean_error_mev_per_A": 1e3 * float(np.mean(error)),
                                **calibration(np.concatenate(residuals), np.concatenate(sigmas))})


