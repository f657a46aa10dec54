"""Reference data sets (DFT energies, forces, stress) read from extxyz or anything ASE reads.

Conventions, as ASE's: energy in eV (total), forces in eV/A, stress in eV/A^3 with the sign of
`Atoms.get_stress()` (tension positive; VASP prints kBar with compression positive). What can be
checked without a model is checked here (a stress above 1 eV/A^3 = 160 GPa is GPa or kBar, not
eV/A^3); what needs a model (energies or forces in Hartree or kcal/mol, a flipped stress sign) is
checked in mlipcheck.checks.accuracy.reference_errors, against the model's own predictions.

Each frame gets a material class: `info["material_class"]`, else `info["config_type"]`, else the
automatic `classify(atoms)`; a frame whose reference forces do not sum to ~0 is left out with
the reason (a broken DFT calculation); a user mapping (`--reference-class-map Surface=surface,...`) renames
that label, or maps a `config_type` to a class (the config_type entry wins). Frames that cannot be
used are counted with the reason, never dropped silently.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from ase import Atoms
from ase.stress import voigt_6_to_full_3x3_stress

from mlipcheck.errors import UsageError
from mlipcheck.targets import Target, provider


def default_sets() -> list[Path]:
    """mlipcheck's own PBE reference set (fixtures/reference_set, installed as
    mlipcheck.reference_data): molecules and ionic clusters (PySCF, all-electron) and periodic
    crystals, surfaces, 2D sheets and disordered cells (GPAW, plane waves, PAW) in two files,
    because energies are aligned per element and file."""
    import mlipcheck.reference_data

    folder = Path(mlipcheck.reference_data.__file__).parent
    return [folder / "default_molecules.extxyz", folder / "default_periodic.extxyz"]

# Metalloids count as non-metals here: Si, Ge, B... crystals are covalent, not metallic.
NON_METALS = {"H", "He", "B", "C", "N", "O", "F", "Ne", "Si", "P", "S", "Cl", "Ar", "Ge", "As", "Se",
              "Br", "Kr", "Sb", "Te", "I", "Xe", "At", "Rn"}
ANIONS = {"N", "O", "F", "S", "Cl", "Se", "Br", "Te", "I"}
VACUUM_GAP = 5.0  # Angstrom of empty space along a lattice direction: not bonded across it
MAX_STRESS = 1.0  # eV/A^3 (160 GPa): beyond it, the file's stress is not in eV/A^3
# eV/A: forces of a structure without external field sum to zero (mlearn, rMD17: 1e-7). Our own
# first PySCF crystals had 35-700 eV/A on Na, Mg, Li (semicore states at too low a cutoff).
MAX_NET_FORCE = 0.05


class ReferenceDataError(UsageError):
    """A reference file that cannot be used as a whole (unreadable, wrong units)."""


@dataclass
class Frame:
    atoms: Atoms  # the structure, without calculator
    energy: float | None  # eV
    forces: np.ndarray | None  # (N, 3) eV/A
    stress: np.ndarray | None  # (3, 3) eV/A^3, ASE sign
    material_class: str
    label: str  # file name and frame index, for messages


@dataclass
class ReferenceSet:
    path: Path
    frames: list[Frame]
    problems: list[str] = field(default_factory=list)  # frames left out, each with the reason

    @property
    def classes(self) -> list[str]:
        return sorted({f.material_class for f in self.frames})


def vacuum_directions(atoms: Atoms) -> list[int]:
    """Lattice directions along which the structure is not connected: not periodic, or periodic
    with a gap of at least VACUUM_GAP Angstrom between the atomic planes."""
    out = []
    if len(atoms) == 0:
        return [0, 1, 2]
    scaled = atoms.get_scaled_positions(wrap=True) if atoms.cell.rank == 3 else None
    for axis in range(3):
        if not atoms.pbc[axis] or scaled is None:
            out.append(axis)
            continue
        # spacing of the lattice planes of this direction = 1 / |reciprocal vector|
        spacing = 1.0 / np.linalg.norm(atoms.cell.reciprocal()[axis])
        s = np.sort(scaled[:, axis])
        gaps = np.diff(np.concatenate([s, [s[0] + 1.0]]))
        if gaps.max() * spacing >= VACUUM_GAP:
            out.append(axis)
    return out


def classify(atoms: Atoms) -> str:
    """molecule, 2d, surface, metal, ionic or covalent, from the structure alone.

    - vacuum in all three directions (or none periodic): molecule (clusters too);
    - vacuum in one direction: a layer thinner than 4 A of non-metal is 2d, anything else surface;
    - bulk: only metals -> metal; a metal with an anion (O, N, F, S, Cl, ...) -> ionic (oxides
      included); only non-metals -> covalent; other mixtures (carbides, hydrides) -> covalent.
    """
    symbols = set(atoms.get_chemical_symbols())
    metals = symbols - NON_METALS
    vacuum = vacuum_directions(atoms)
    if len(vacuum) >= 2:
        return "molecule"
    if len(vacuum) == 1:
        axis = vacuum[0]
        normal = atoms.cell.reciprocal()[axis] if atoms.cell.rank == 3 else np.eye(3)[axis]
        thickness = (_layer_thickness(atoms, axis) if atoms.pbc[axis]
                     else np.ptp(atoms.positions @ (normal / np.linalg.norm(normal))))
        thin = thickness < 4.0
        return "2d" if thin and not metals else "surface"
    if not metals:
        return "covalent"
    if metals == symbols:
        return "metal"
    if symbols & ANIONS:
        return "ionic"
    return "covalent"


def _layer_thickness(atoms, axis) -> float:
    """Thickness of the layer along a periodic direction with vacuum: one period minus the gap."""
    spacing = 1.0 / np.linalg.norm(atoms.cell.reciprocal()[axis])
    s = np.sort(atoms.get_scaled_positions(wrap=True)[:, axis])
    gaps = np.diff(np.concatenate([s, [s[0] + 1.0]]))
    return float((1.0 - gaps.max()) * spacing)


def parse_class_map(text: str | None) -> dict[str, str]:
    """'Surface=surface,Vacancy=defect' -> {'Surface': 'surface', 'Vacancy': 'defect'}."""
    if not text:
        return {}
    out = {}
    for part in text.split(","):
        if "=" not in part:
            raise UsageError(f"--reference-class-map: {part!r} must look like LABEL=CLASS")
        key, value = part.split("=", 1)
        out[key.strip()] = value.strip()
    return out


def _quantity(atoms, name, info_keys):
    calc = atoms.calc
    if calc is not None and name in getattr(calc, "results", {}):
        return calc.results[name]
    for key in info_keys:
        if key in atoms.info:
            return atoms.info[key]
        if key in atoms.arrays:
            return atoms.arrays[key]
    return None


def load_reference(path, class_map: dict[str, str] | None = None) -> ReferenceSet:
    """Read every frame of `path`; raise ReferenceDataError when the file as a whole is unusable."""
    from ase.io import read

    path = Path(path)
    class_map = class_map or {}
    if path.is_dir():
        raise ReferenceDataError(f"reference file {path} is a folder; give the structure file (extxyz) itself")
    if not path.is_file():
        raise ReferenceDataError(f"reference file {path} does not exist")
    try:
        images = read(path, index=":")
    except Exception as exc:  # noqa: BLE001 - ASE raises many types for a malformed file
        raise ReferenceDataError(f"reference file {path} could not be read by ASE: "
                                 f"{type(exc).__name__}: {exc}") from None
    if not images:
        raise ReferenceDataError(f"reference file {path} holds no structures")
    frames, problems = [], []
    for index, atoms in enumerate(images):
        label = f"{path.name}:{index}"
        if len(atoms) == 0:
            problems.append(f"{label}: no atoms")
            continue
        energy = _quantity(atoms, "energy", ("energy", "REF_energy", "dft_energy"))
        forces = _quantity(atoms, "forces", ("forces", "REF_forces", "dft_forces"))
        stress = _quantity(atoms, "stress", ("stress", "REF_stress", "dft_stress"))
        if energy is None and forces is None:
            problems.append(f"{label}: no reference energy or forces")
            continue
        forces = None if forces is None else np.asarray(forces, dtype=float).reshape(len(atoms), 3)
        if stress is not None:
            stress = np.asarray(stress, dtype=float)
            stress = voigt_6_to_full_3x3_stress(stress) if stress.shape == (6,) else stress.reshape(3, 3)
            if np.abs(stress).max() > MAX_STRESS:
                raise ReferenceDataError(
                    f"{label}: stress up to {np.abs(stress).max():.3g} in the file's units; as eV/A^3 that "
                    f"is over {MAX_STRESS * 160.2:.0f} GPa. It looks like GPa or kBar: convert to eV/A^3 "
                    "with ASE's sign (ase.units.GPa: stress_eV_A3 = stress_GPa * ase.units.GPa; VASP kBar: "
                    "-0.1 * kbar * ase.units.GPa)")
        if energy is not None:
            energy = float(np.asarray(energy).reshape(()))
        bad = [n for n, v in (("energy", energy), ("forces", forces), ("stress", stress))
               if v is not None and not np.all(np.isfinite(v))]
        if bad:
            problems.append(f"{label}: non-finite reference {' and '.join(bad)}")
            continue
        if forces is not None and len(forces) > 1:
            net = float(np.linalg.norm(forces.sum(axis=0)))
            if net > MAX_NET_FORCE and net > 0.01 * np.abs(forces).max():
                problems.append(f"{label}: reference forces sum to {net:.3g} eV/A, not ~0 (published DFT sets: "
                                "1e-7): an unconverged or broken calculation")
                continue
        given = atoms.info.get("material_class") or atoms.info.get("config_type")
        material_class = str(given) if given else classify(atoms)
        for key in (material_class, atoms.info.get("config_type")):  # config_type wins
            if key is not None and str(key) in class_map:
                material_class = class_map[str(key)]
        clean = atoms.copy()
        clean.calc = None
        if not clean.pbc.any() and clean.cell.rank < 3:
            # a molecule without a cell: several models (CHGNet) need one even without periodicity
            clean.center(vacuum=10.0)
        frames.append(Frame(clean, energy, forces, stress, material_class, label))
    if not frames:
        raise ReferenceDataError(f"reference file {path}: no usable frame ({'; '.join(problems[:3])})")
    return ReferenceSet(path, frames, problems)


@provider("reference_class", per_model=False)
def class_targets(session, model) -> list[Target]:
    """One target per material class of the run's reference sets; an unreadable file is a target
    of its own, whose tests report it."""
    sets = session.reference_sets()
    classes = sorted({c for s in sets if not isinstance(s, Exception) for c in s.classes})
    return ([Target(c, c, case=c, material_class=c) for c in classes]
            + [Target(f"unreadable-{i}", s) for i, s in enumerate(sets) if isinstance(s, Exception)])
