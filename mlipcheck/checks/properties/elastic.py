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
- Against a reference (mlipcheck's PBE table, fixtures/reference_set/elastic_constants.csv, and
  any --elastic-reference file): the Hill bulk and shear moduli's relative errors (the field's
  metric: matcalc and LAMBench compare K_VRH and G_VRH), every tabulated C_ij beside its
  reference, and the softening of the constants: the slope s of y = s x with x the reference and
  y the model's constants, as the error suite reports force softening.
"""
from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
from ase import Atoms
from ase.data import chemical_symbols
from ase.formula import Formula
from ase.units import GPa

from mlipcheck.checks.properties.relaxation import relax
from mlipcheck.engine.context import as_context
from mlipcheck.engine.evaluate import evaluate_all
from mlipcheck.engine.measurement import Measurement, NotApplicable
from mlipcheck.engine.memo import memo
from mlipcheck.engine.statistics import slope

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


def _ions_relaxed(model, atoms: Atoms, settings) -> Atoms:
    if len(atoms) == 1:
        return atoms
    # relaxed-ion constants: the ions follow the strain
    return relax(model, atoms, float(settings.fmax), int(settings.steps), keep_symmetry=False, cell=False)[0]


def elastic_tensor(model, atoms: Atoms, settings) -> tuple[np.ndarray, dict]:
    """(C in GPa at the smallest magnitude, {magnitude: C}) for the model's relaxed `atoms`. The
    strained cells' stresses, once their ions are relaxed, are evaluated in one batch."""
    magnitudes = sorted(float(m) for m in settings.strains)
    keys = [(m, j, sign) for m in magnitudes for j in range(6) for sign in (+1, -1)]
    cells = [_ions_relaxed(model, strained(atoms, j, sign * m), settings) for m, j, sign in keys]
    stress = {key: np.array([p.stress[a, b] for a, b in VOIGT])
              for key, p in zip(keys, evaluate_all(model, cells, stress=True))}
    by_magnitude = {}
    for magnitude in magnitudes:
        c = np.zeros((6, 6))
        for j in range(6):
            c[:, j] = (stress[(magnitude, j, +1)] - stress[(magnitude, j, -1)]) / (2 * magnitude) / GPa
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


def relaxed_elastic_tensor(model, atoms: Atoms, settings) -> tuple[Atoms, np.ndarray, dict]:
    """(relaxed cell, C at the smallest strain, {magnitude: C}) of the model's crystal, computed
    once per model and settings: the stability and the reference checks read the same tensor."""
    key = ("elastic", atoms.get_chemical_formula(), atoms.cell.cellpar().round(4).tobytes(),
           tuple(float(m) for m in settings.strains), float(settings.fmax))
    if key not in memo(model):
        cell, _, _ = relax(model, atoms, float(settings.fmax), int(settings.steps))
        memo(model)[key] = (cell, *elastic_tensor(model, cell, settings))
    return memo(model)[key]


def check_mechanical_stability(ctx, atoms: Atoms, settings) -> Measurement:
    """Born stability of the model's relaxed crystal: the smallest eigenvalue of C must be
    positive. The constants at the smallest and largest strain must agree within
    `max_nonlinearity` (relative to the largest |C_ij|), or the fit is not linear: said in the
    details (`nonlinearity`), and the smallest strain's constants are judged."""
    model, name = as_context(ctx).model, atoms.get_chemical_formula()
    cell, c, by_magnitude = relaxed_elastic_tensor(model, atoms, settings)
    eigenvalues = np.linalg.eigvalsh(c)
    scale = float(np.abs(c).max()) or 1.0
    nonlinearity = float(np.abs(by_magnitude[max(by_magnitude)] - c).max() / scale)
    details = {f"C{i + 1}{j + 1}_GPa": round(float(c[i, j]), 3) for i in range(6) for j in range(i, 6)
               if abs(c[i, j]) > 1e-6 * scale}
    details.update(moduli(c), eigenvalues_GPa=np.round(eigenvalues, 3).tolist(), nonlinearity=nonlinearity,
                   linear=bool(nonlinearity <= float(settings.max_nonlinearity)),
                   strains=[float(m) for m in settings.strains], atoms=len(cell))
    smallest = float(eigenvalues.min())
    passed = smallest > 0
    return Measurement("mechanical_stability", "smallest eigenvalue of the elastic tensor (Born)", smallest, "GPa",
                       0.0, passed, case=name, details=details, atoms=None if passed else cell, relation=">")


# Reference tables: one row per crystal, `name` its formula, `structure` a prototype below, the
# independent constants of its lattice system in GPa (cubic: C11, C12, C44; hexagonal: C11, C12,
# C13, C33, C44) or, where a source gives only those, the Voigt-Reuss-Hill moduli K_VRH_GPa and
# G_VRH_GPa (the Materials Project's), optional `a_A` (cubic lattice constant) and `source`.
PROTOTYPES = {  # nearest neighbours of atom 0, atoms in the cubic cell (volume per atom from a_A)
    "fcc": (12, 4), "bcc": (8, 2), "sc": (6, 1), "diamond": (4, 8), "rocksalt": (6, 8), "zincblende": (4, 8),
    "cesiumchloride": (8, 2), "fluorite": (8, 12), "hcp": (12, None)}
MODULI = ("K_VRH_GPa", "G_VRH_GPa")
LATTICE_CONSTANTS = {"cubic": ("C11", "C12", "C44"), "hexagonal": ("C11", "C12", "C13", "C33", "C44")}
# A table may leave C44 out (mlipcheck's own: GPAW's shear stress was not trusted): then the bulk
# modulus, (C11 + 2 C12) / 3 for cubic crystals, is judged and the shear modulus is not.
OPTIONAL = {"C44"}


@dataclass(frozen=True)
class ElasticReference:
    name: str
    structure: str
    constants: dict  # {"C11": GPa, ...}: the independent constants of the lattice system (or {})
    a: float | None  # Angstrom, cubic prototypes
    source: str
    moduli: dict | None = None  # {"K": GPa, "G": GPa}, Voigt-Reuss-Hill: a row that gives no C_ij

    @property
    def lattice(self) -> str:
        return "hexagonal" if self.structure == "hcp" else "cubic"

    def tensor(self) -> np.ndarray:
        """The 6x6 stiffness matrix (GPa) the lattice system's independent constants make."""
        k = self.constants
        c = np.zeros((6, 6))
        if self.lattice == "cubic":
            c[:3, :3] = k["C12"]
            c[[0, 1, 2], [0, 1, 2]] = k["C11"]
            c[[3, 4, 5], [3, 4, 5]] = k["C44"]
        else:
            c[0, 1] = c[1, 0] = k["C12"]
            c[0, 2] = c[2, 0] = c[1, 2] = c[2, 1] = k["C13"]
            c[0, 0] = c[1, 1] = k["C11"]
            c[2, 2], c[3, 3], c[4, 4], c[5, 5] = k["C33"], k["C44"], k["C44"], (k["C11"] - k["C12"]) / 2
        return c

    def matches(self, atoms: Atoms) -> bool:
        """Same composition, the prototype's coordination, and (where a_A is given) a volume per
        atom within 20 %: graphite is not judged against diamond, nor bcc against fcc."""
        if Formula(self.name).reduce()[0] != Formula(atoms.get_chemical_formula()).reduce()[0]:
            return False
        if _coordination(atoms) != PROTOTYPES[self.structure][0]:
            return False
        per_cubic_cell = PROTOTYPES[self.structure][1]
        if self.a is None or per_cubic_cell is None:
            return True
        return abs(atoms.get_volume() / len(atoms) / (self.a ** 3 / per_cubic_cell) - 1) < 0.2


def _coordination(atoms: Atoms) -> int:
    """Neighbours of atom 0 within 1.1 x its nearest-neighbour distance."""
    from ase.neighborlist import neighbor_list

    i, d = neighbor_list("id", atoms, 2.0 * (atoms.get_volume() / len(atoms)) ** (1 / 3))
    d = d[i == 0]
    return int(np.sum(d < 1.1 * d.min())) if len(d) else 0


def _number(row: dict, column: str) -> float:
    text = (row.get(column) or "").strip()
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{column} {text!r} is not a number (GPa)") from None
    if not np.isfinite(value):
        raise ValueError(f"{column} {text!r} is not a finite number (GPa)")
    return value


def load_elastic_reference(path) -> list[ElasticReference]:
    """Rows of an elastic-constant table (CSV, `#` comments): name, structure, the lattice
    system's independent constants in GPa, optional a_A and source."""
    from mlipcheck.reference.sets import ReferenceDataError

    path = Path(path)
    try:
        lines = [line for line in path.read_text().splitlines() if line.strip() and not line.startswith("#")]
    except (OSError, UnicodeDecodeError) as exc:
        raise ReferenceDataError(f"elastic reference {path}: cannot read it ({exc})") from None
    out = []
    for number, row in enumerate(csv.DictReader(lines), start=1):
        try:
            structure = (row.get("structure") or "").strip()
            if structure not in PROTOTYPES:
                raise ValueError(f"structure {structure!r}: give one of {', '.join(PROTOTYPES)}")
            name = row["name"].strip()
            unknown = [e for e in Formula(name).count() if e not in chemical_symbols]
            if unknown or not name:
                raise ValueError(f"name {name!r} is not a chemical formula")
            a = float(row["a_A"]) if (row.get("a_A") or "").strip() else None
            source = (row.get("source") or "").strip() or path.name
            if (row.get("K_VRH_GPa") or "").strip():  # moduli only
                moduli = {key[0]: _number(row, key) for key in MODULI}
                if min(moduli.values()) <= 0:
                    raise ValueError(f"moduli must be positive, got {moduli}")
                out.append(ElasticReference(name, structure, {}, a, source, moduli))
                continue
            wanted = LATTICE_CONSTANTS["hexagonal" if structure == "hcp" else "cubic"]
            constants = {key: _number(row, key) for key in wanted
                         if key not in OPTIONAL or (row.get(key) or "").strip()}
            out.append(ElasticReference(name, structure, constants, a, source))
        except (KeyError, TypeError, ValueError) as exc:
            missing = f"column {exc} missing or empty" if isinstance(exc, (KeyError, TypeError)) else exc
            raise ReferenceDataError(f"elastic reference {path}: row {number}: {missing}") from None
    if not out:
        raise ReferenceDataError(f"elastic reference {path}: no rows (columns: name,structure,C11,C12,C44,... "
                                 f"or name,structure,K_VRH_GPa,G_VRH_GPa)")
    return out


# mlipcheck's own tables, in the order they are tried: PBE constants computed with GPAW
# (fixtures/reference_set/make_periodic_set.py), then the Materials Project's PBE moduli of binary
# compounds (make_mp_moduli.py: mp-id and citation on each row).
DEFAULT_TABLES = ("elastic_constants.csv", "elastic_moduli_mp.csv")


@lru_cache(maxsize=1)
def default_elastic_references() -> tuple[ElasticReference, ...]:
    """mlipcheck's PBE tables, read once."""
    import mlipcheck.reference_data

    folder = Path(mlipcheck.reference_data.__file__).parent
    return tuple(row for name in DEFAULT_TABLES for row in load_elastic_reference(folder / name))


def _model_constants(c: np.ndarray, reference: ElasticReference) -> dict:
    """The model's constants in the reference's lattice system, averaged over the entries that
    symmetry makes equal (the relaxed cell's small departures from it are not the model's error)."""
    if reference.lattice == "cubic":
        return {"C11": float(np.mean(np.diag(c)[:3])), "C12": float(np.mean([c[0, 1], c[0, 2], c[1, 2]])),
                "C44": float(np.mean(np.diag(c)[3:]))}
    return {"C11": float((c[0, 0] + c[1, 1]) / 2), "C12": float(c[0, 1]), "C13": float((c[0, 2] + c[1, 2]) / 2),
            "C33": float(c[2, 2]), "C44": float((c[3, 3] + c[4, 4]) / 2)}


def check_elastic_moduli(ctx, atoms: Atoms, settings) -> Measurement:
    """The larger relative error of the model's Hill bulk and shear moduli against the first
    reference that matches `atoms` (the user's --elastic-reference rows, then mlipcheck's table)."""
    ctx = as_context(ctx)
    return elastic_comparison(ctx.model, atoms, elastic_references(ctx), settings)["elastic_moduli"]


def check_elastic_softening(ctx, atoms: Atoms, settings) -> Measurement:
    """The slope of the model's C_ij against the reference's (y = s x): softening below 1."""
    ctx = as_context(ctx)
    return elastic_comparison(ctx.model, atoms, elastic_references(ctx), settings)["elastic_softening"]


def elastic_references(ctx) -> list:
    """The context's rows (the user's own win), then mlipcheck's PBE table."""
    return list(ctx.elastic_references) + list(default_elastic_references())


def elastic_comparison(model, atoms: Atoms, references, settings) -> dict[str, Measurement]:
    """Both verdicts of the model's tensor against the first reference that matches `atoms`:
    `elastic_moduli` (the larger relative error of the Hill bulk and shear moduli) and
    `elastic_softening` (slope of the model's constants against the reference's)."""
    name = atoms.get_chemical_formula()
    reference = next((r for r in references if r.matches(atoms)), None)
    if reference is None:
        raise NotApplicable(f"no elastic reference for {name} ({_coordination(atoms)}-fold coordinated); "
                            "give one with --elastic-reference")
    cell, c, _ = relaxed_elastic_tensor(model, atoms, settings)
    if reference.moduli is not None:
        return _moduli_comparison(name, cell, moduli(c), reference, settings)
    model_constants = _model_constants(c, reference)
    keys = list(reference.constants)
    if set(LATTICE_CONSTANTS[reference.lattice]) <= set(keys):
        symmetric = ElasticReference(name, reference.structure, model_constants, None, "model")
        got, want = moduli(symmetric.tensor()), moduli(reference.tensor())
    else:  # cubic without C44: the bulk modulus only (Voigt = Reuss for cubic crystals)
        got, want = ({"K_hill_GPa": (k["C11"] + 2 * k["C12"]) / 3, "G_hill_GPa": None}
                     for k in (model_constants, reference.constants))
    errors = {m: abs(got[f"{m}_hill_GPa"] - want[f"{m}_hill_GPa"]) / want[f"{m}_hill_GPa"]
              for m in ("K", "G") if want[f"{m}_hill_GPa"] is not None}
    s = slope([reference.constants[k] for k in keys], [model_constants[k] for k in keys])
    details = {"reference": f"{reference.name} {reference.structure}: {reference.source}",
               **{f"{k}_GPa": round(model_constants[k], 2) for k in keys},
               **{f"{k}_reference_GPa": reference.constants[k] for k in keys},
               **{f"{m}_hill{side}_GPa": round(value[f"{m}_hill_GPa"], 2) for m in errors
                  for side, value in (("", got), ("_reference", want))},
               **{f"{m}_error": round(e, 4) for m, e in errors.items()}, "softening_scale": s}
    return _verdicts(name, cell, errors, s, "C_ij", details, settings)


def _moduli_comparison(name, cell, got: dict, reference: ElasticReference, settings) -> dict[str, Measurement]:
    """Both verdicts against a row of Voigt-Reuss-Hill moduli: the larger relative error of K and
    G, and the softening slope over the two moduli (the same least-squares y = s x as over C_ij)."""
    keys = ("K", "G")
    model_moduli = {m: got.get(f"{m}_hill_GPa", np.nan) for m in keys}
    errors = {m: abs(model_moduli[m] - reference.moduli[m]) / reference.moduli[m] for m in keys}
    s = slope([reference.moduli[m] for m in keys], [model_moduli[m] for m in keys])
    details = {"reference": f"{reference.name} {reference.structure}: {reference.source}",
               **{f"{m}_hill_GPa": round(float(model_moduli[m]), 2) for m in keys},
               **{f"{m}_hill_reference_GPa": reference.moduli[m] for m in keys},
               **{f"{m}_error": round(float(e), 4) for m, e in errors.items()}, "softening_scale": s}
    return _verdicts(name, cell, errors, s, "K, G", details, settings)


def _verdicts(name, cell, errors: dict, s, over: str, details: dict, settings) -> dict[str, Measurement]:
    """`elastic_moduli` (the larger of the relative modulus `errors`) and `elastic_softening` (the
    slope `s` of the model's values `over` the reference's); a non-finite error or slope fails."""
    worst = float(max(errors.values())) if all(np.isfinite(list(errors.values()))) else np.inf
    limit = float(settings.max_modulus_error)
    low, high = (float(v) for v in settings.softening_range)
    soft = s if s is not None and np.isfinite(s) else float("nan")
    passed_soft = bool(low <= soft <= high)
    return {
        "elastic_moduli": Measurement(
            "elastic_moduli", f"larger relative error of the Hill moduli ({', '.join(errors)})", worst, "", limit,
            worst <= limit, case=name, details=details, atoms=None if worst <= limit else cell),
        "elastic_softening": Measurement(
            "elastic_softening", f"slope s of the model's {over} vs the reference's (y = s x)", soft, "",
            low if soft < 1 else high, passed_soft, case=name, relation=">=" if soft < 1 else "<=",
            details={**details, "gate": f"{low} <= s <= {high}"}, atoms=None if passed_soft else cell),
    }
