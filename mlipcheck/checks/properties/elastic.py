"""Elastic constants by finite strain of the model's own relaxed cell.

The crystal is relaxed (cell and positions, symmetry kept); each of the six Voigt strains is
applied at +-`strains` magnitudes, the ions relaxed in the strained cell (relaxed-ion constants,
as the Materials Project computes them: de Jong et al., Sci. Data 2, 150009 (2015)), and the
stress read. C_ij is the slope of stress_i against strain_j, fitted on each magnitude apart so the
fit is shown to be linear (the constants from the smallest and the largest magnitude must agree).

- Born stability for any lattice system: C (6x6, symmetrised) positive definite (Mouhat &
  Coudert, Phys. Rev. B 90, 224104 (2014): necessary and sufficient). A model that makes a
  crystal mechanically unstable fails.
- Bulk and shear moduli by Voigt, Reuss and Hill averages; C11, C12, C44 and the rest reported.
"""
from __future__ import annotations

import numpy as np
from ase import Atoms
from ase.units import GPa

from mlipcheck.checks.properties.relaxation import relax
from mlipcheck.engine.evaluate import evaluate
from mlipcheck.engine.measurement import Measurement

VOIGT = [(0, 0), (1, 1), (2, 2), (1, 2), (0, 2), (0, 1)]


def strained(atoms: Atoms, component: int, magnitude: float) -> Atoms:
    """`atoms` under Voigt strain `component` of size `magnitude` (engineering shear: the
    off-diagonal strain tensor entries are magnitude / 2)."""
    a, b = VOIGT[component]
    strain = np.zeros((3, 3))
    if a == b:
        strain[a, a] = magnitude
    else:
        strain[a, b] = strain[b, a] = magnitude / 2
    out = atoms.copy()
    out.set_cell(atoms.cell.array @ (np.eye(3) + strain), scale_atoms=True)
    return out


def _stress_voigt(model, atoms: Atoms, section) -> np.ndarray:
    relaxed = atoms
    if len(atoms) > 1:  # relaxed-ion constants: the ions follow the strain
        relaxed, _, _ = relax(model, atoms, float(section["fmax"]), int(section["steps"]), keep_symmetry=False,
                              cell=False)
    s = evaluate(model, relaxed, stress=True).stress
    return np.array([s[a, b] for a, b in VOIGT])


def elastic_tensor(model, atoms: Atoms, section) -> tuple[np.ndarray, dict]:
    """(C in GPa at the smallest magnitude, {magnitude: C}) for the model's relaxed `atoms`."""
    by_magnitude = {}
    for magnitude in sorted(float(m) for m in section["strains"]):
        c = np.zeros((6, 6))
        for j in range(6):
            plus = _stress_voigt(model, strained(atoms, j, magnitude), section)
            minus = _stress_voigt(model, strained(atoms, j, -magnitude), section)
            c[:, j] = (plus - minus) / (2 * magnitude) / GPa
        by_magnitude[magnitude] = (c + c.T) / 2
    smallest = min(by_magnitude)
    return by_magnitude[smallest], by_magnitude


def moduli(c: np.ndarray) -> dict:
    """Voigt, Reuss and Hill bulk and shear moduli (GPa) of a 6x6 stiffness matrix."""
    kv = (c[0, 0] + c[1, 1] + c[2, 2] + 2 * (c[0, 1] + c[1, 2] + c[0, 2])) / 9
    gv = (c[0, 0] + c[1, 1] + c[2, 2] - (c[0, 1] + c[1, 2] + c[0, 2]) + 3 * (c[3, 3] + c[4, 4] + c[5, 5])) / 15
    out = {"K_voigt_GPa": float(kv), "G_voigt_GPa": float(gv)}
    try:
        s = np.linalg.inv(c)
    except np.linalg.LinAlgError:
        return out
    kr = 1 / (s[0, 0] + s[1, 1] + s[2, 2] + 2 * (s[0, 1] + s[1, 2] + s[0, 2]))
    gr = 15 / (4 * (s[0, 0] + s[1, 1] + s[2, 2]) - 4 * (s[0, 1] + s[1, 2] + s[0, 2]) + 3 * (s[3, 3] + s[4, 4] + s[5, 5]))
    out.update(K_reuss_GPa=float(kr), G_reuss_GPa=float(gr), K_hill_GPa=float((kv + kr) / 2),
               G_hill_GPa=float((gv + gr) / 2))
    return out


def check_mechanical_stability(model, name: str, atoms: Atoms, section) -> Measurement:
    """Born stability of the model's relaxed crystal: the smallest eigenvalue of C must be
    positive. The constants at the smallest and largest strain must agree within
    `max_nonlinearity` (relative to the largest |C_ij|), or the fit is not linear: said in the
    details (`nonlinearity`), and the smallest strain's constants are judged."""
    cell, _, _ = relax(model, atoms, float(section["fmax"]), int(section["steps"]))
    c, by_magnitude = elastic_tensor(model, cell, section)
    eigenvalues = np.linalg.eigvalsh(c)
    scale = float(np.abs(c).max()) or 1.0
    nonlinearity = float(np.abs(by_magnitude[max(by_magnitude)] - c).max() / scale)
    details = {f"C{i + 1}{j + 1}_GPa": round(float(c[i, j]), 3) for i in range(6) for j in range(i, 6)
               if abs(c[i, j]) > 1e-6 * scale}
    details.update(moduli(c), eigenvalues_GPa=np.round(eigenvalues, 3).tolist(), nonlinearity=nonlinearity,
                   linear=bool(nonlinearity <= float(section["max_nonlinearity"])),
                   strains=[float(m) for m in section["strains"]], atoms=len(cell))
    smallest = float(eigenvalues.min())
    passed = smallest > 0
    return Measurement("mechanical_stability", "smallest eigenvalue of the elastic tensor (Born)", smallest, "GPa",
                       0.0, passed, case=name, details=details, atoms=None if passed else cell, relation=">")
