"""Phonons with phonopy: relaxation, dynamical stability, acoustic sum rule, reference frequencies.

- The model relaxes the crystal (cell and positions) keeping its space group
  (relaxation.relax with FixSymmetry), so the finite-displacement supercell starts at the
  model's own equilibrium. The relaxation *check* relaxes without that constraint.
- Force constants from phonopy's symmetry-reduced displacements, forces by the model, with no
  symmetrisation: a model whose forces do not sum to zero shows it at Gamma.
- Stability: the most negative frequency on a q-mesh (imaginary frequencies are negative in
  phonopy), beyond a tolerance; acoustic sum rule: the three lowest |frequencies| at Gamma.
- Against a reference (phonopy_disp.yaml / FORCE_SETS / BORN): the model's forces on the
  reference's own displaced supercells, so both sides share structure and displacements; with
  BORN, the same non-analytic correction on both sides. Errors on Gamma, a band path and a q-mesh.
"""
from __future__ import annotations

import functools
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from ase import Atoms

from mlipcheck.checks.properties.relaxation import relax
from mlipcheck.engine.context import as_context
from mlipcheck.engine.evaluate import evaluate_all
from mlipcheck.engine.measurement import Measurement, NotApplicable
from mlipcheck.engine.memo import memo
from mlipcheck.errors import ModelFailure
from mlipcheck.targets import Target, provider

# Band path: Gamma to the zone-boundary points along the reciprocal axes and the body diagonal
# (fractional coordinates of the primitive reciprocal lattice); valid for any lattice.
PATH_ENDS = {"X1": (0.5, 0, 0), "X2": (0, 0.5, 0), "X3": (0, 0, 0.5), "R": (0.5, 0.5, 0.5)}


def to_phonopy_atoms(atoms: Atoms):
    """phonopy's cell with phonopy's own masses, and ASE's where phonopy has none (Po, At, Rn, Fr,
    Ra, Pu: phonopy raised "Masses of {'Po'} are undefined", and the check was a FAIL of the model)."""
    from phonopy.structure.atoms import PhonopyAtoms

    cell = dict(symbols=atoms.get_chemical_symbols(), cell=atoms.cell.array, scaled_positions=atoms.get_scaled_positions())
    try:
        return PhonopyAtoms(**cell)
    except RuntimeError as exc:
        if "Masses" not in str(exc):
            raise
        return PhonopyAtoms(**cell, masses=atoms.get_masses())


def to_ase(cell) -> Atoms:
    return Atoms(cell.symbols, cell=cell.cell, scaled_positions=cell.scaled_positions, pbc=True)


# A supercell of the suites' crystals holds 64-250 atoms (8-10 A wide); more means the relaxed
# cell is degenerate, and phonopy's symmetry search on it can take minutes and gigabytes.
MAX_SUPERCELL_ATOMS = 2000


def supercell_matrix(atoms: Atoms, min_width: float) -> np.ndarray:
    """Diagonal repetitions making every perpendicular width of the supercell >= min_width;
    ModelFailure where that needs more than MAX_SUPERCELL_ATOMS (checked before phonopy runs)."""
    widths = 1.0 / np.linalg.norm(atoms.cell.reciprocal(), axis=1)
    repeats = np.maximum(1, np.ceil(min_width / widths)).astype(int)
    size = len(atoms) * int(np.prod(repeats))
    if size > MAX_SUPERCELL_ATOMS:
        raise ModelFailure(f"the model's relaxed {atoms.get_chemical_formula()} cell (heights "
                           f"{np.round(widths, 3).tolist()} A) needs a {size}-atom supercell for {min_width:g} A "
                           f"widths (bound {MAX_SUPERCELL_ATOMS}): a degenerate cell", atoms)
    return np.diag(repeats)


def model_phonopy(model, phonon):
    """`phonon` (a Phonopy object with displacements) with forces from the model and force
    constants produced, unsymmetrised. Returns a new Phonopy object."""
    from phonopy import Phonopy

    new = Phonopy(phonon.unitcell, supercell_matrix=phonon.supercell_matrix,
                  primitive_matrix=phonon.primitive_matrix)
    new.dataset = phonon.dataset
    cells = [to_ase(cell) for cell in new.supercells_with_displacements]
    new.forces = np.array([p.forces for p in evaluate_all(model, cells, stress=False)])
    new.produce_force_constants()
    if phonon.nac_params is not None:
        new.nac_params = phonon.nac_params
    return new


def crystal_phonopy(model, atoms: Atoms, settings):
    """Phonopy for the model's own relaxed crystal: (phonon, relaxed atoms)."""
    from phonopy import Phonopy

    key = ("phonons", atoms.get_chemical_formula(), atoms.cell.cellpar().round(4).tobytes())
    if key not in memo(model):
        relaxed, converged, steps = relax(model, atoms, float(settings.relax_fmax), int(settings.relax_steps))
        with warnings.catch_warnings():  # phonopy 4 warns that "auto" differs from phonopy 3's default
            warnings.simplefilter("ignore")
            phonon = Phonopy(to_phonopy_atoms(relaxed), primitive_matrix="auto",
                             supercell_matrix=supercell_matrix(relaxed, float(settings.min_width)))
        phonon.generate_displacements(distance=float(settings.displacement))
        memo(model)[key] = (model_phonopy(model, phonon), relaxed, converged, steps)
    return memo(model)[key]


def with_sum_rule(phonon):
    """A copy of `phonon` whose force constants obey the acoustic sum rule (phonopy's
    translational symmetrisation). The stability check judges these: a broken sum rule is its
    own check's verdict, and left in it makes the acoustic branches near Gamma imaginary
    (CHGNet GaAs: -0.75 THz at q = 1/12) without any unstable mode."""
    from phonopy import Phonopy

    new = Phonopy(phonon.unitcell, supercell_matrix=phonon.supercell_matrix, primitive_matrix=phonon.primitive_matrix)
    new.force_constants = phonon.force_constants.copy()
    new.symmetrize_force_constants()
    return new


def mesh_frequencies(phonon, mesh) -> np.ndarray:
    phonon.run_mesh(mesh, with_eigenvectors=False, is_gamma_center=True)
    return phonon.get_mesh_dict()["frequencies"]


def path_qpoints(points_per_segment=12):
    out = []
    for end in PATH_ENDS.values():
        for t in np.linspace(0, 1, points_per_segment)[1:]:
            out.append(t * np.array(end, float))
    return np.array(out)


def qpoint_frequencies(phonon, qpoints) -> np.ndarray:
    phonon.run_qpoints(qpoints)
    return phonon.get_qpoints_dict()["frequencies"]


def gamma_frequencies(phonon) -> np.ndarray:
    """Frequencies at Gamma without the non-analytic correction (acoustic modes must be 0)."""
    nac = phonon.nac_params
    phonon.nac_params = None
    try:
        return qpoint_frequencies(phonon, [[0, 0, 0]])[0]
    finally:
        phonon.nac_params = nac


FROZEN_AMPLITUDES_A = (0.02, 0.05)  # largest atomic displacement of a frozen-phonon test
MAX_FROZEN_MODES = 6  # distinct imaginary frequencies tried per crystal, most negative first
# A fall in energy counts beyond this many epsilons of the total energy (float32: 1.2e-7), so a
# verdict does not hang on rounding that another device could flip. CHGNet: Fe's falls of 0.011
# and 0.042 meV (3- and 4-atom cells, -25 and -33 eV) are 4 and 11 of them: not counted; Al's
# 0.39 meV (24 atoms, -90 eV) is 36, NiAl's 0.35 meV at M (-43 eV) 67: counted.
ROUNDING_FACTOR = 20.0


def commensurate_dimension(phonon, q, bound: int) -> np.ndarray | None:
    """The smallest diagonal supercell of the primitive cell in which the modulation of q repeats
    (q . n whole for each axis); None if it holds more than `bound` atoms."""
    from fractions import Fraction

    dims = [Fraction(float(x)).limit_denominator(64).denominator for x in q]
    if len(phonon.primitive) * int(np.prod(dims)) > bound:
        return None
    return np.diag(dims)


def _modulated(phonon, dimension, q, band, amplitude):
    phonon.run_modulations(dimension, [[list(q), int(band), float(amplitude), 0.0]])
    return to_ase(phonon.get_modulated_supercells()[0])


def frozen_phonon_energies(model, phonon, q, band, dimension) -> tuple[list[float], float]:
    """Energy changes (eV, whole supercell) with the crystal displaced along mode `band` at `q`,
    its largest atomic displacement FROZEN_AMPLITUDES_A, and the rounding noise of those changes
    (ROUNDING_FACTOR x the dtype's epsilon x |E|). A mode that is really unstable lowers the
    energy; one whose imaginary frequency comes from force constants that are not harmonic at
    the displacement (CHGNet Al at X: -1.27 THz) raises it."""
    base = _modulated(phonon, dimension, q, band, 0.0)
    probe = _modulated(phonon, dimension, q, band, 1.0)
    moved = probe.positions - base.positions
    fractional = np.linalg.solve(base.cell.array.T, moved.T).T
    moved = (fractional - np.round(fractional)) @ base.cell.array  # the displacement, not a wrap
    unit = float(np.linalg.norm(moved, axis=1).max())
    cells = [base] + [_modulated(phonon, dimension, q, band, a / unit) for a in FROZEN_AMPLITUDES_A]
    energies = [p.energy for p in evaluate_all(model, cells, stress=False)]
    noise = ROUNDING_FACTOR * float(np.finfo(model.dtype).eps) * abs(energies[0])
    return [e - energies[0] for e in energies[1:]], noise


def check_dynamical_stability(ctx, atoms, settings) -> Measurement:
    """The most negative frequency on the q-mesh (force constants with the acoustic sum rule
    imposed: its violation is the sum-rule check's) against the dtype's tolerance. Each imaginary
    mode beyond it (most negative first, one per distinct frequency, at most MAX_FROZEN_MODES)
    is then tried as a frozen phonon: the smallest supercell in which it repeats, displaced
    along it by 0.02 and 0.05 A. It fails the model if the energy goes down (beyond rounding) at
    either amplitude; one along which the energy rises is reported in the details, not judged
    (the force constants from 0.01 A displacements were not harmonic: the model's forces are not
    linear there). See _confirmed for the modes left untried."""
    model, name = as_context(ctx).model, atoms.get_chemical_formula()
    measured, relaxed, converged, steps = crystal_phonopy(model, atoms, settings)
    phonon = with_sum_rule(measured)
    freqs = mesh_frequencies(phonon, [int(settings.mesh)] * 3)
    qpoints = phonon.get_mesh_dict()["qpoints"]
    at_gamma = np.flatnonzero(np.abs(qpoints).sum(axis=1) < 1e-9)
    for i in at_gamma:  # Gamma's acoustic modes are zero by the sum rule imposed
        freqs[i, np.argsort(np.abs(freqs[i]))[:3]] = 0.0
    worst = float(-freqs.min()) if freqs.min() < 0 else 0.0
    limit = float(settings.per_dtype("max_imaginary_thz", model.dtype))
    gamma = gamma_frequencies(phonon)
    details = {"mesh": int(settings.mesh), "atoms_in_supercell": len(phonon.supercell), "relaxed": converged,
               "relax_steps": steps, "max_frequency_THz": float(freqs.max()), "gamma_THz": np.round(gamma, 4).tolist(),
               "band_THz": np.round(qpoint_frequencies(phonon, path_qpoints()), 4).tolist()}
    if worst > limit:
        harmonic = worst
        worst, details["frozen_phonons"] = _confirmed(model, phonon, qpoints, freqs, limit)
        details["harmonic_imaginary_THz"] = harmonic
    return Measurement("phonon_stability", "largest imaginary frequency on the q-mesh that a frozen phonon did "
                       "not disprove", worst, "THz", limit, bool(worst <= limit), case=name,
                       details=details, atoms=None if worst <= limit else relaxed)


def _confirmed(model, phonon, qpoints, freqs, limit) -> tuple[float, list]:
    """(the largest imaginary frequency that stands, one row per frozen-phonon test). Modes are
    tried most negative first; the first whose energy falls is the verdict. When every tried
    mode is disproved, the weaker ones left untried are too: they come from the same force
    constants, which those frozen phonons showed are not harmonic. A mode whose supercell is
    too large to try stands."""
    bound = 4 * MAX_SUPERCELL_ATOMS // 10
    rows, tried = [], set()
    for flat in np.argsort(freqs, axis=None):
        q, band = np.unravel_index(flat, freqs.shape)
        frequency = float(freqs[q, band])
        if frequency >= -limit or len(tried) == MAX_FROZEN_MODES:
            break
        if round(frequency, 3) in tried:  # a symmetry-equivalent or degenerate mode: decided already
            continue
        dimension = commensurate_dimension(phonon, qpoints[q], bound)
        if dimension is None:
            rows.append({"q": np.round(qpoints[q], 4).tolist(), "band": int(band), "harmonic_THz": round(frequency, 4),
                         "confirmed": None, "why": f"its supercell would hold more than {bound} atoms"})
            return -frequency, rows
        tried.add(round(frequency, 3))
        changes, noise = frozen_phonon_energies(model, phonon, qpoints[q], band, dimension)
        falls = min(changes) < -noise
        rows.append({"q": np.round(qpoints[q], 4).tolist(), "band": int(band), "harmonic_THz": round(frequency, 4),
                     "supercell": np.diag(dimension).tolist(), "amplitudes_A": list(FROZEN_AMPLITUDES_A),
                     "energy_change_meV": [round(1e3 * c, 4) for c in changes], "noise_meV": round(1e3 * noise, 4),
                     "confirmed": bool(falls)})
        if falls:
            return -frequency, rows
    return 0.0, rows


def sum_rule_diagnosis(model, phonon) -> dict:
    """Why the acoustic modes at Gamma are not zero. The force constants Phi[i, j] come from
    -F_j / u_i: summed over the force atoms j they are the displaced cells' net forces (the model's
    translation invariance); summed over the displaced atoms i they hold only if each force is
    linear in the displacement (superposition). The self force constant at the displacement and
    at twice it says which: CHGNet's are not linear at 0.01 A (NiAl 1.58 against 2.98 eV/A^2)."""
    fc = phonon.force_constants
    forces = np.asarray(phonon.forces)
    first = phonon.dataset["first_atoms"][0]
    atom, displacement = int(first["number"]), np.asarray(first["displacement"], float)
    twice = to_ase(phonon.supercell)
    twice.positions[atom] += 2 * displacement
    double = evaluate_all(model, [twice], stress=False)[0].forces[atom]
    amplitude = float(np.linalg.norm(displacement))
    direction = displacement / amplitude
    self_fc = [float(-forces[0][atom] @ direction / amplitude), float(-double @ direction / (2 * amplitude))]
    return {"net_force_max_eV_A": float(np.abs(forces.sum(axis=1)).max()),
            "fc_sum_over_force_atoms_max_eV_A2": float(np.abs(fc.sum(axis=1)).max()) if fc.shape[0] == fc.shape[1] else None,
            "fc_sum_over_displaced_atoms_max_eV_A2": float(np.abs(fc.sum(axis=0)).max()) if fc.shape[0] == fc.shape[1] else None,
            "displacement_A": amplitude, "self_force_constant_eV_A2_at_1x_2x": self_fc,
            "nonlinearity": abs(self_fc[0] - self_fc[1]) / max(abs(self_fc[1]), 1e-12)}


def check_acoustic_sum_rule(ctx, atoms, settings) -> Measurement:
    """The three acoustic frequencies at Gamma from force constants without the sum rule imposed:
    near zero for a model whose energy does not depend on where the crystal sits."""
    model, name = as_context(ctx).model, atoms.get_chemical_formula()
    phonon, relaxed, _, _ = crystal_phonopy(model, atoms, settings)
    acoustic = np.sort(np.abs(gamma_frequencies(phonon)))[:3]
    limit = float(settings.per_dtype("max_acoustic_gamma_thz", model.dtype))
    value = float(acoustic.max())
    details = {"acoustic_THz": acoustic.round(5).tolist()}
    if value > limit:  # one more supercell says whether the forces or their linearity broke it
        details.update(sum_rule_diagnosis(model, phonon))
        details["cause"] = ("the displaced cells' net forces are not zero: forces not translation invariant"
                            if details["net_force_max_eV_A"] > 1e-3 * abs(details["self_force_constant_eV_A2_at_1x_2x"][1])
                            * details["displacement_A"] else
                            "net forces are zero; the force on a displaced atom is not linear in its displacement "
                            "(self force constant at 1x and 2x the displacement in the details), so the force "
                            "constants are not reciprocal: the model's energy is not smooth at the crystal's sites")
    return Measurement("acoustic_sum_rule", "largest |acoustic frequency| at Gamma (unsymmetrised force constants)",
                       value, "THz", limit, bool(value <= limit), case=name, details=details,
                       atoms=None if value <= limit else relaxed)


@dataclass
class PhononComparison:
    gamma_mae: float  # THz
    path_mae: float
    mesh_mae: float
    max_frequency_error: float  # model - reference, highest frequency on the mesh
    reference_max: float
    path_model: list
    path_reference: list
    dos_bins: list  # THz, bin edges of the densities of states below
    dos_model: list
    dos_reference: list


def compare_phonons(model_phonon, reference_phonon, mesh=8) -> PhononComparison:
    qpath = path_qpoints()
    g_m, g_r = gamma_frequencies(model_phonon), gamma_frequencies(reference_phonon)
    p_m, p_r = qpoint_frequencies(model_phonon, qpath), qpoint_frequencies(reference_phonon, qpath)
    m_m, m_r = mesh_frequencies(model_phonon, [mesh] * 3), mesh_frequencies(reference_phonon, [mesh] * 3)
    bins = np.linspace(min(m_m.min(), m_r.min(), 0.0), max(m_m.max(), m_r.max()) * 1.05, 61)
    dos_m, dos_r = (np.histogram(f.ravel(), bins=bins, density=True)[0] for f in (m_m, m_r))
    return PhononComparison(float(np.abs(g_m - g_r).mean()), float(np.abs(p_m - p_r).mean()),
                            float(np.abs(m_m - m_r).mean()), float(m_m.max() - m_r.max()), float(m_r.max()),
                            np.round(p_m, 4).tolist(), np.round(p_r, 4).tolist(), np.round(bins, 4).tolist(),
                            np.round(dos_m, 5).tolist(), np.round(dos_r, 5).tolist())


@functools.cache
def load_phonon_reference(folder):
    """A phonopy reference folder: phonopy_disp.yaml (or POSCAR-unitcell + a 2x2x2 supercell),
    FORCE_SETS, optional BORN. Raises ReferenceDataError with what is missing."""
    from pathlib import Path

    import phonopy

    from mlipcheck.reference.sets import ReferenceDataError

    folder = Path(folder)
    if not folder.is_dir():
        raise ReferenceDataError(f"phonon reference {folder}: not a folder (give a phonopy folder with FORCE_SETS)")
    born = folder / "BORN"
    forces = folder / "FORCE_SETS"
    if not forces.is_file():
        raise ReferenceDataError(f"phonon reference {folder}: no FORCE_SETS")
    born_file = born if born.is_file() else None
    options = dict(force_sets_filename=forces, born_filename=born_file, produce_fc=True, symmetrize_fc=False,
                   log_level=0)
    try:
        with warnings.catch_warnings():  # phonopy 4's note on primitive_matrix="auto"
            warnings.simplefilter("ignore")
            if (folder / "phonopy_disp.yaml").is_file():
                phonon = phonopy.load(phonopy_yaml=folder / "phonopy_disp.yaml", **options)
            else:
                phonon = phonopy.load(unitcell_filename=folder / "POSCAR-unitcell", supercell_matrix=[2, 2, 2],
                                      primitive_matrix="auto", **options)
    except Exception as exc:  # noqa: BLE001 - phonopy raises many types for a malformed folder
        raise ReferenceDataError(f"phonon reference {folder} could not be loaded by phonopy: "
                                 f"{type(exc).__name__}: {exc}") from None
    return phonon


def check_phonon_reference(ctx, folder, settings) -> Measurement:
    """Frequencies on the q-mesh of the model's force constants (the reference's supercell and
    displacements) against the reference's, for a phonopy folder (`load_phonon_reference`)."""
    model, name = as_context(ctx).model, str(folder)
    reference_phonon = load_phonon_reference(folder)
    missing = model.unsupported(reference_phonon.unitcell.symbols)
    if missing:
        raise NotApplicable(f"{model.label} does not declare {', '.join(missing)}")
    key = ("phonon_reference", name)
    if key not in memo(model):
        memo(model)[key] = model_phonopy(model, reference_phonon)
    comparison = compare_phonons(memo(model)[key], reference_phonon, int(settings.mesh))
    limit = float(settings.max_mesh_mae_thz)
    value = comparison.mesh_mae
    return Measurement("phonon_reference", "MAE of frequencies on the q-mesh vs reference", value, "THz", limit,
                       bool(value <= limit), case=name,
                       details={"gamma_mae_THz": comparison.gamma_mae, "path_mae_THz": comparison.path_mae,
                                "max_frequency_error_THz": comparison.max_frequency_error,
                                "reference_max_THz": comparison.reference_max,
                                "nac": reference_phonon.nac_params is not None,
                                "band_model_THz": comparison.path_model, "band_reference_THz": comparison.path_reference,
                                "dos_bins_THz": comparison.dos_bins, "dos_model": comparison.dos_model,
                                "dos_reference": comparison.dos_reference},
                       atoms=None if value <= limit else to_ase(reference_phonon.supercell))


@provider("phonon_reference", per_model=False)
def reference_folder_targets(session, model) -> list[Target]:
    folders = session.option("phonon_reference")
    return ([Target(Path(f).name, f, case=Path(f).name) for f in folders]
            or [Target("none", None, skip="no --phonon-reference given")])
