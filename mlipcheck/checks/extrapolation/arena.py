"""MLIP Arena's homonuclear-diatomics metrics, on Arena's own grid, so the numbers compare with
its leaderboard (definitions: ../shared/ANCHORS.md, from Arena's homonuclear-diatomics task).

Grid: from 0.9 x the element's covalent radius to 3.1 x its van der Waals radius (6 A where ASE
has none) in 0.01 A steps, in a large, slightly anisotropic, non-periodic box; energies shifted
so that the far end is zero. Per element:

- force flips: sign changes of the bond force after zeroing |F| < 0.01 eV/A (ideal 1);
- energy jump: sum of |dE_i| + |dE_i+1| over sign changes of dE, after zeroing |dE| < 1 meV;
- conservation deviation: mean |F_r + dE/dr| (dE/dr by central differences on the grid);
- tortuosity: sum |dE| / (|E(r_max) - E_min| + |E(r_min) - E_min|) (1 for a single well);
- Spearman of (r, E) on the repulsive side, r below the minimum (ideal -1), and of (r, F) there
  (the force descends as the atoms part: ideal -1).

Where mlipcheck's own dimer suite differs (checks/extrapolation/dimers.py): it scans from 0.3 A
on a coarser grid, judges only the region a simulation reaches (up to `judged_ceiling` eV above
the separated atoms) and resolves derivatives until they converge, because it gates a release;
Arena's metrics rank models over the whole curve. This module reproduces Arena's numbers and
gates only what a correct model cannot get wrong: its forces are the derivative of its energy.
"""
from __future__ import annotations

import numpy as np
from ase.data import atomic_numbers, covalent_radii, vdw_radii

from mlipcheck.engine.evaluate import evaluate_all
from mlipcheck.engine.measurement import Measurement, NotApplicable
from mlipcheck.engine.memo import memo
from mlipcheck.structures.elements import FALLBACK_ELEMENTS, dimer

METRICS = ("force_flips", "energy_jump_eV", "conservation_deviation_eV_per_A", "tortuosity",
           "spearman_repulsive_energy", "spearman_repulsive_force")


def arena_window(symbol: str) -> tuple[float, float]:
    """Arena's range for an element's dimer: 0.9 x covalent radius to 3.1 x van der Waals radius (6 A
    where ASE has none)."""
    z = atomic_numbers[symbol]
    return 0.9 * covalent_radii[z], 3.1 * vdw_radii[z] if np.isfinite(vdw_radii[z]) else 6.0


def arena_grid(symbol: str, step: float = 0.01) -> np.ndarray:
    r_min, r_max = arena_window(symbol)
    return np.arange(r_min, r_max + step / 2, step)


def force_flips(force: np.ndarray, threshold: float = 1e-2) -> int:
    """Sign changes of the bond force after zeroing |F| below 1e-2 eV/A."""
    signs = np.sign(np.where(np.abs(force) < threshold, 0.0, force))
    signs = signs[signs != 0]
    return int(np.count_nonzero(signs[1:] != signs[:-1]))


def arena_curve(model, symbol: str, step: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(r, E shifted to 0 at the far end, bond force F_r: positive pushes the atoms apart)."""
    key = ("arena_dimer", symbol, step)
    if key not in memo(model):
        r = arena_grid(symbol, step)
        box = max(20.0, 2 * r[-1] + 10.0)
        predictions = evaluate_all(model, [dimer(symbol, symbol, float(d), box=box) for d in r], stress=False)
        energies = np.array([p.energy for p in predictions])
        forces = [float(p.forces[1, 0] - p.forces[0, 0]) / 2 for p in predictions]  # the bond lies along x
        memo(model)[key] = (r, energies - energies[-1], np.array(forces))
    return memo(model)[key]


def arena_metrics(r: np.ndarray, energy: np.ndarray, force: np.ndarray) -> dict[str, float]:
    """The metrics of one curve (E shifted to 0 at the far end): the one implementation, which
    the dimer suite's details use too."""
    from scipy.stats import spearmanr

    flips = force_flips(force)
    de = np.diff(energy)
    de = np.where(np.abs(de) < 1e-3, 0.0, de)
    turn = np.flatnonzero(np.sign(de[1:]) * np.sign(de[:-1]) < 0)
    jump = float(np.sum(np.abs(de[turn]) + np.abs(de[turn + 1])))
    deviation = float(np.mean(np.abs(force + np.gradient(energy, r))))
    lowest = int(np.argmin(energy))
    tortuosity = float(np.sum(np.abs(np.diff(energy))) /
                       max(abs(energy[-1] - energy[lowest]) + abs(energy[0] - energy[lowest]), 1e-12))
    repulsive = slice(0, lowest + 1)
    if lowest >= 2:
        rho_e = float(spearmanr(r[repulsive], energy[repulsive]).statistic)
        rho_f = float(spearmanr(r[repulsive], force[repulsive]).statistic)
    else:  # no repulsive side on the grid: the worst score
        rho_e = rho_f = 1.0
    return dict(zip(METRICS, (flips, jump, deviation, tortuosity, rho_e, rho_f)))


def resolved_force_mismatch(r: np.ndarray, energy: np.ndarray, force: np.ndarray) -> float:
    """Median over the grid points where the derivative is resolved of |F_r + dE/dr| / max(|dE/dr|,
    0.5 eV/A). Arena's conservation deviation mixes non-conservative forces with the grid's
    finite-difference error, which a conservative model with a sharp short-range feature makes
    large (CHGNet: 0.6 eV/A for F-F, 0.01 for Li-Li). Here dE/dr counts only where central
    differences on steps h and 2h agree within 0.1 % (+ 0.01 eV/A): there a correct model's
    mismatch is that agreement, and forces 2 % off the derivative show as 0.02. NaN: none resolved."""
    h = np.gradient(energy, r)[2:-2]
    h2 = (energy[4:] - energy[:-4]) / (r[4:] - r[:-4])
    resolved = np.abs(h - h2) <= 1e-3 * np.abs(h) + 0.01
    if not resolved.any():
        return float("nan")
    return float(np.median(np.abs(force[2:-2] + h)[resolved] / np.maximum(np.abs(h[resolved]), 0.5)))


def check_arena_diatomics(model, section, seed=0) -> Measurement:
    """Arena's metrics for every declared element (per element and their means, in the details
    and in report.json under the model as `arena_diatomics`). Gated, element by element: the
    forces are the derivative of the energy where the grid resolves it (resolved_force_mismatch),
    the one thing on Arena's grid that a correct model cannot get wrong."""
    if not section.arena:
        raise NotApplicable("MLIP Arena's diatomics run in the arena profile (--mlipcheck-profile arena)")
    elements = sorted(model.elements or FALLBACK_ELEMENTS, key=lambda s: atomic_numbers[s])
    step = float(section.arena_step)
    per_element, mismatch = {}, {}
    for symbol in elements:
        curve = arena_curve(model, symbol, step)
        per_element[symbol] = {k: round(float(v), 6) for k, v in arena_metrics(*curve).items()}
        mismatch[symbol] = resolved_force_mismatch(*curve)
    means = {k: round(float(np.nanmean([v[k] for v in per_element.values()])), 6) for k in METRICS}
    limit = float(section.arena_max_force_mismatch)
    judged = {s: v for s, v in mismatch.items() if np.isfinite(v)}
    worst = max(judged, key=judged.get) if judged else elements[0]
    value = judged.get(worst, 0.0)
    return Measurement("arena_diatomics", "worst element's median |F_r + dE/dr| / max(|dE/dr|, 0.5 eV/A) where resolved",
                       value, "", limit, bool(value <= limit), case=f"{len(elements)} homonuclear dimers",
                       details={"elements": len(elements), "worst_element": worst, "means": means,
                                "unresolved_elements": sorted(set(mismatch) - set(judged)),
                                "model_summary": {"arena_diatomics": {"means": means, "per_element": per_element}}})
