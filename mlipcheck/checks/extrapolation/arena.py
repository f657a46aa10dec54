"""MLIP Arena's homonuclear-diatomics metrics, on Arena's own grid, so the numbers compare with
its leaderboard (definitions: ../shared/ANCHORS.md, from Arena's homonuclear-diatomics task).

As in Arena's own code (atomind-ai/mlip-arena: the run that made its published table is
mlip_arena/tasks/diatomics/run.ipynb at commit a959782; the metrics live on in
mlip_arena/flows/diatomics.py `analyze`, the means in serve/ranks/homonuclear-diatomics.py).
Grid: np.linspace from 0.9 x the covalent radius to 3.1 x the van der Waals radius of Alvarez
(ase.data.vdw_alvarez; 6 A where it has none), int((r_max - r_min) / 0.01) points. Box of the
published run: periodic, a = 2 r_max, cell (a, a + 0.001, a + 0.002); Arena's current code uses
an open box of a = 5 r_max (`arena_published_box = false`). Energies shifted to zero at the far
end. Per element:

- force flips: sign changes of the bond force after dropping |F| < 0.01 eV/A (ideal 1);
- energy jump: after zeroing |dE| < 1 meV and dropping the zeros, sum of |dE_i| + |dE_i+1| over
  each sign change between consecutive remaining differences;
- conservation deviation: mean |F_r + dE/dr| (dE/dr by np.gradient on the grid);
- tortuosity: sum |dE| / (|E(r_max) - E_min| + |E(r_min) - E_min|) (1 for a single well);
- Spearman of (r, E) from the energy minimum inward (ideal -1), and of (r, F) from the force
  minimum inward (Arena's "F: descending", ideal -1). A range too short for a rank correlation
  is NaN, and the means over elements leave NaN out (pandas' mean, as Arena's table).

Where mlipcheck's own dimer suite differs (checks/extrapolation/dimers.py): it scans from 0.3 A
on a coarser grid, judges only the region a simulation reaches (up to `judged_ceiling` eV above
the separated atoms) and resolves derivatives until they converge, because it gates a release;
Arena's metrics rank models over the whole curve. This module reproduces Arena's numbers and
gates only what a correct model cannot get wrong: its forces are the derivative of its energy.
"""
from __future__ import annotations

import numpy as np
from ase import Atoms
from ase.data import atomic_numbers, covalent_radii, vdw_alvarez

from mlipcheck.engine.context import as_context
from mlipcheck.engine.evaluate import evaluate_all
from mlipcheck.engine.measurement import Measurement, NotApplicable
from mlipcheck.engine.memo import memo
from mlipcheck.structures.elements import FALLBACK_ELEMENTS

METRICS = ("force_flips", "energy_jump_eV", "conservation_deviation_eV_per_A", "tortuosity",
           "spearman_repulsive_energy", "spearman_repulsive_force")


def arena_window(symbol: str) -> tuple[float, float]:
    """Arena's range for an element's dimer: 0.9 x covalent radius to 3.1 x Alvarez's van der Waals
    radius (6 A where that table has none)."""
    z = atomic_numbers[symbol]
    radii = vdw_alvarez.vdw_radii
    r_vdw = radii[z] if z < len(radii) else np.nan
    return 0.9 * covalent_radii[z], 3.1 * r_vdw if np.isfinite(r_vdw) else 6.0


def arena_grid(symbol: str, step: float = 0.01) -> np.ndarray:
    r_min, r_max = arena_window(symbol)
    return np.linspace(r_min, r_max, int((r_max - r_min) / step))


def arena_dimer(symbol: str, r: float, r_max: float, published_box: bool) -> Atoms:
    """The dimer as Arena places it: along x, centred in a box of 2 r_max (the published run,
    periodic) or 5 r_max (Arena's current code, open), 0.001 and 0.002 A longer along y and z."""
    a = (2.0 if published_box else 5.0) * r_max
    return Atoms(symbol * 2, positions=[[a / 2 - r / 2, a / 2, a / 2], [a / 2 + r / 2, a / 2, a / 2]],
                 cell=[a, a + 0.001, a + 0.002], pbc=published_box)


def force_flips(force: np.ndarray, threshold: float = 1e-2) -> int:
    """Sign changes of the bond force after dropping |F| below 1e-2 eV/A."""
    signs = np.sign(np.where(np.abs(force) < threshold, 0.0, force))
    signs = signs[signs != 0]
    return int(np.count_nonzero(signs[1:] != signs[:-1]))


def arena_curve(model, symbol: str, step: float, published_box: bool = True) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(r, E shifted to 0 at the far end, bond force F_r: positive pushes the atoms apart)."""
    key = ("arena_dimer", symbol, step, published_box)
    if key not in memo(model):
        r = arena_grid(symbol, step)
        structures = [arena_dimer(symbol, float(d), r[-1], published_box) for d in r]
        predictions = evaluate_all(model, structures, stress=False)
        energies = np.array([p.energy for p in predictions])
        forces = [float(p.forces[1, 0] - p.forces[0, 0]) / 2 for p in predictions]  # the bond lies along x
        memo(model)[key] = (r, energies - energies[-1], np.array(forces))
    return memo(model)[key]


def _spearman(x: np.ndarray, y: np.ndarray) -> float:
    """Spearman's rho, NaN where it is undefined (fewer than two points, a constant side)."""
    from scipy.stats import spearmanr

    if len(x) < 2 or np.all(y == y[0]):
        return float("nan")
    return float(spearmanr(x, y).statistic)


def arena_metrics(r: np.ndarray, energy: np.ndarray, force: np.ndarray) -> dict[str, float]:
    """The metrics of one curve (any order of r; E shifted to 0 at the far end): the one
    implementation, which the dimer suite's details use too."""
    order = np.argsort(r)[::-1]  # Arena's order: from far apart inward
    r, energy, force = r[order], energy[order], force[order]
    de = np.diff(energy)
    de = de[np.abs(de) >= 1e-3]  # zeroed below 1 meV, then dropped
    turn = np.flatnonzero(np.sign(de[1:]) != np.sign(de[:-1]))
    jump = float(np.sum(np.abs(de[turn]) + np.abs(de[turn + 1])))
    deviation = float(np.mean(np.abs(force + np.gradient(energy, r))))
    lowest = energy.min()
    tortuosity = float(np.sum(np.abs(np.diff(energy))) /
                       max(abs(energy[0] - lowest) + (energy[-1] - lowest), 1e-12))
    at_e, at_f = int(np.argmin(energy)), int(np.argmin(force))
    rho_e = _spearman(r[at_e:], energy[at_e:])
    rho_f = _spearman(r[at_f:], force[at_f:])
    return dict(zip(METRICS, (force_flips(force), jump, deviation, tortuosity, rho_e, rho_f)))


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


def check_arena_diatomics(ctx, target, settings) -> Measurement:
    """Arena's metrics for every declared element (per element and their means, in the details
    and in report.json under the model as `arena_diatomics`). Gated, element by element: the
    forces are the derivative of the energy where the grid resolves it (resolved_force_mismatch),
    the one thing on Arena's grid that a correct model cannot get wrong."""
    model = as_context(ctx).model
    if not settings.arena:
        raise NotApplicable("MLIP Arena's diatomics run in the arena profile (--mlipcheck-profile arena)")
    elements = sorted(model.elements or FALLBACK_ELEMENTS, key=lambda s: atomic_numbers[s])
    step, published_box = float(settings.arena_step), bool(settings.arena_published_box)
    per_element, mismatch = {}, {}
    for symbol in elements:
        curve = arena_curve(model, symbol, step, published_box)
        per_element[symbol] = {k: (float(v) if np.isfinite(v) else None) for k, v in arena_metrics(*curve).items()}
        mismatch[symbol] = resolved_force_mismatch(*curve)
    means = {k: float(np.nanmean([np.nan if v[k] is None else v[k] for v in per_element.values()])) for k in METRICS}
    limit = float(settings.arena_max_force_mismatch)
    judged = {s: v for s, v in mismatch.items() if np.isfinite(v)}
    worst = max(judged, key=judged.get) if judged else elements[0]
    value = judged.get(worst, 0.0)
    return Measurement("arena_diatomics", "worst element's median |F_r + dE/dr| / max(|dE/dr|, 0.5 eV/A) where resolved",
                       value, "", limit, bool(value <= limit), case=f"{len(elements)} homonuclear dimers",
                       details={"elements": len(elements), "worst_element": worst, "means": means,
                                "unresolved_elements": sorted(set(mismatch) - set(judged)),
                                "model_summary": {"arena_diatomics": {"means": means, "per_element": per_element}}})
