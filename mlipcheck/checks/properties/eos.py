"""Equation of state: E(V) around the model's own minimum, Birch-Murnaghan fit, and the Delta gauge.

- The crystal is scaled isotropically (fractional positions kept) to volumes around the model's
  own minimum: a first scan around the reference volume finds it, the curve is then centred on it.
- Third-order Birch-Murnaghan fit E(V) = E0 + 9 V0 B0 / 16 [(x - 1)^3 B' + (x - 1)^2 (6 - 4 x)],
  x = (V0 / V)^(2/3), by least squares: V0 (A^3/atom), B0 (GPa), B'.
- Delta (Lejaeghere et al., Science 351, aad3000 (2016)): the root mean square energy difference
  of the two fitted curves, each relative to its own minimum, over V in [0.94, 1.06] x the mean
  of the two V0, in meV/atom. The reference is a fit (V0, B0, B') such as WIEN2k's Delta-test set
  (ase.collections.dcdft) or ACWF's all-electron set (Bosoni et al., Nat. Rev. Phys. 6, 45 (2024)).

Magnetism: the dcdft references of Fe, Co, Ni (ferromagnetic), Cr, Mn and O (antiferromagnetic)
are spin-polarised; an MLIP has no spin, so it is compared as it is, and the case says
`magnetic = True` in its details. Those elements are not hidden or skipped.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from ase import Atoms
from ase.units import GPa
from scipy.optimize import least_squares

from mlipcheck.engine.context import as_context
from mlipcheck.engine.evaluate import evaluate_all
from mlipcheck.engine.measurement import Measurement
from mlipcheck.engine.memo import memo


@dataclass
class EosFit:
    v0: float  # A^3/atom
    e0: float  # eV/atom
    b0: float  # eV/A^3
    bp: float

    def energy(self, v):
        x = (self.v0 / np.asarray(v)) ** (2.0 / 3.0)
        return self.e0 + 9.0 * self.v0 * self.b0 / 16.0 * ((x - 1) ** 3 * self.bp + (x - 1) ** 2 * (6 - 4 * x))

    @property
    def b0_gpa(self) -> float:
        return self.b0 / GPa


@dataclass
class EosReference:
    name: str  # e.g. "Cu"
    atoms: Atoms  # the crystal, at any volume
    v0: float  # A^3/atom
    b0_gpa: float
    bp: float
    source: str
    magnetic: bool = False

    def fit(self) -> EosFit:
        return EosFit(self.v0, 0.0, self.b0_gpa * GPa, self.bp)


def fit_birch_murnaghan(volumes, energies) -> EosFit:
    volumes, energies = np.asarray(volumes, float), np.asarray(energies, float)
    i = int(np.argmin(energies))
    curvature = np.polyfit(volumes, energies, 2)[0]
    guess = [volumes[i], energies[i], max(2 * curvature * volumes[i], 1e-3), 4.0]

    def residual(p):
        return EosFit(*p).energy(volumes) - energies

    result = least_squares(residual, guess, x_scale=[volumes[i], 1.0, guess[2], 1.0])
    return EosFit(*map(float, result.x))


def delta_gauge(a: EosFit, b: EosFit, points=1001) -> float:
    """Lejaeghere's Delta in eV/atom: RMS of E_a - E_b (each relative to its minimum) over
    [0.94, 1.06] x the mean V0."""
    mean_v0 = 0.5 * (a.v0 + b.v0)
    v = np.linspace(0.94 * mean_v0, 1.06 * mean_v0, points)
    diff = (a.energy(v) - a.e0) - (b.energy(v) - b.e0)
    return float(np.sqrt(np.trapezoid(diff ** 2, v) / (v[-1] - v[0])))


def eos_curve(model, atoms: Atoms, v_per_atom_centre: float, settings) -> tuple[np.ndarray, np.ndarray]:
    """Energies per atom at `points` volumes spanning +-`span` around the centre volume."""
    n = len(atoms)
    factors = np.linspace(1 - float(settings.span), 1 + float(settings.span), int(settings.points))
    cells = []
    for f in factors:
        scaled = atoms.copy()
        scaled.set_cell(atoms.cell.array * (f * v_per_atom_centre * n / atoms.get_volume()) ** (1 / 3), scale_atoms=True)
        cells.append(scaled)
    energies = [p.energy / n for p in evaluate_all(model, cells, stress=False)]
    return np.array([c.get_volume() / n for c in cells]), np.array(energies)


def model_eos(model, reference: EosReference, settings) -> tuple[EosFit, np.ndarray, np.ndarray]:
    """The model's E(V): a scan around the reference volume finds the model's own minimum; the
    final curve is centred on it (cached per model and reference)."""
    key = ("eos", reference.name, reference.source)
    if key not in memo(model):
        v, e = eos_curve(model, reference.atoms, reference.v0, settings)
        first = fit_birch_murnaghan(v, e)
        centre = first.v0 if 0.5 * reference.v0 < first.v0 < 2 * reference.v0 else v[int(np.argmin(e))]
        v, e = eos_curve(model, reference.atoms, centre, settings)
        memo(model)[key] = (fit_birch_murnaghan(v, e), v, e)
    return memo(model)[key]


def check_eos_delta(ctx, reference: EosReference, settings) -> Measurement:
    """Delta gauge of the model's E(V) against the reference's (meV/atom)."""
    model = as_context(ctx).model
    return _eos_measurements(model, reference, settings)["eos_delta"]


def check_eos_volume(ctx, reference: EosReference, settings) -> Measurement:
    """Relative error of the equilibrium volume V0."""
    model = as_context(ctx).model
    return _eos_measurements(model, reference, settings)["eos_volume"]


def check_eos_bulk_modulus(ctx, reference: EosReference, settings) -> Measurement:
    """Relative error of the bulk modulus B0."""
    model = as_context(ctx).model
    return _eos_measurements(model, reference, settings)["eos_bulk_modulus"]


def _eos_measurements(model, reference: EosReference, settings) -> dict[str, Measurement]:
    """Three verdicts of one E(V) curve (memoised): Delta, relative error of V0 and of B0."""
    fit, v, e = model_eos(model, reference, settings)
    ref = reference.fit()
    inside = v.min() <= fit.v0 <= v.max()
    delta = 1e3 * delta_gauge(fit, ref) if inside else float("inf")
    details = {"V0_model": fit.v0, "V0_reference": ref.v0, "B0_model_GPa": fit.b0_gpa,
               "B0_reference_GPa": ref.b0_gpa, "Bp_model": fit.bp, "Bp_reference": ref.bp,
               "delta_meV_per_atom": delta, "magnetic": reference.magnetic, "reference": reference.source,
               "minimum_inside_scan": bool(inside),
               "curve_V": np.round(v, 4).tolist(), "curve_E": np.round(e - fit.e0, 6).tolist()}
    atoms = reference.atoms.copy()
    atoms.set_cell(atoms.cell.array * (fit.v0 * len(atoms) / atoms.get_volume()) ** (1 / 3), scale_atoms=True)
    v0_error = abs(fit.v0 - ref.v0) / ref.v0
    b0_error = abs(fit.b0_gpa - ref.b0_gpa) / ref.b0_gpa
    delta_metric = ("Delta gauge vs reference EOS" if inside else
                    f"Delta gauge: the fitted minimum V0 = {fit.v0:.3g} A^3/atom lies outside the scan "
                    f"({v.min():.3g}-{v.max():.3g}), so")
    rows = [("eos_delta", delta_metric, delta, "meV/atom", float(settings.max_delta_mev_per_atom)),
            ("eos_volume", "|V0 - V0_ref| / V0_ref", v0_error, "", float(settings.max_v0_relative_error)),
            ("eos_bulk_modulus", "|B0 - B0_ref| / B0_ref", b0_error, "", float(settings.max_b0_relative_error))]
    return {check: Measurement(check, metric, float(value), unit, limit, bool(value <= limit), case=reference.name,
                               details=details, atoms=None if value <= limit else atoms)
            for check, metric, value, unit, limit in rows}


def dcdft_references(elements=None, max_atoms=4) -> list[EosReference]:
    """WIEN2k PBE equations of state of the Delta test, from the installed ASE (ase.collections.dcdft),
    for crystals of at most `max_atoms` atoms in the cell (more are slow and rarely informative)."""
    from ase.collections import dcdft

    out = []
    for name in dcdft.names:
        if elements is not None and name not in elements:
            continue
        atoms = dcdft[name]
        data = dcdft.data[name]
        if len(atoms) > max_atoms or "wien2k_volume" not in data:
            continue
        magnetic = bool(atoms.has("initial_magmoms") and np.abs(atoms.get_initial_magnetic_moments()).max() > 0)
        clean = Atoms(atoms.get_chemical_symbols(), atoms.get_scaled_positions(), cell=atoms.cell, pbc=True)
        clean.set_scaled_positions(atoms.get_scaled_positions())
        out.append(EosReference(name, clean, float(data["wien2k_volume"]), float(data["wien2k_B"]),
                                float(data["wien2k_Bp"]), "WIEN2k PBE, Delta test (ase.collections.dcdft; "
                                "Lejaeghere et al., Science 2016)", magnetic))
    return out


def load_eos_reference(path) -> list[EosReference]:
    """An ACWF-style JSON file (`BM_fit_data`: {"Cu-X/FCC": {min_volume, bulk_modulus_ev_ang3,
    bulk_deriv}}, `num_atoms_in_sim_cell`), for unaries on fcc/bcc/sc/diamond lattices."""
    import json
    from pathlib import Path

    from ase.build import bulk

    from mlipcheck.reference.sets import ReferenceDataError

    path = Path(path)
    try:
        data = json.loads(path.read_text())
        fits, counts = data["BM_fit_data"], data.get("num_atoms_in_sim_cell", {})
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ReferenceDataError(f"EOS reference {path}: not an ACWF-style JSON file with BM_fit_data "
                                 f"({type(exc).__name__}: {exc})") from None
    lattices = {"FCC": ("fcc", 1), "BCC": ("bcc", 1), "SC": ("sc", 1), "Diamond": ("diamond", 2)}
    out = []
    for key, fit in fits.items():
        element, _, lattice = key.partition("-X/")
        if lattice not in lattices or fit is None:
            continue
        kind, natoms = lattices[lattice]
        try:
            n = int(counts.get(key, natoms))
            if n < 1:
                raise ValueError(f"num_atoms_in_sim_cell is {n}; a cell holds at least one atom")
            v0 = float(fit["min_volume"]) / n
            b0, bp = float(fit["bulk_modulus_ev_ang3"]), float(fit["bulk_deriv"])
            if not (np.isfinite([v0, b0, bp]).all() and v0 > 0 and b0 > 0):
                raise ValueError(f"min_volume {fit['min_volume']} and bulk_modulus_ev_ang3 {b0} must be positive")
            atoms = bulk(element, kind, a=1.0)
            atoms.set_cell(atoms.cell.array * (v0 * len(atoms) / atoms.get_volume()) ** (1 / 3), scale_atoms=True)
            out.append(EosReference(f"{element}-{lattice}", atoms, v0, float(fit["bulk_modulus_ev_ang3"]) / GPa,
                                    float(fit["bulk_deriv"]), f"{path.name}"))
        except (KeyError, TypeError, ValueError) as exc:
            raise ReferenceDataError(f"EOS reference {path}: entry {key}: {exc}") from None
    return out
