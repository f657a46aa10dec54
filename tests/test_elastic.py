"""Elastic constants: EMT's C_ij from mlipcheck's stress-strain fit equal an independent
energy-strain computation with ASE alone; Born stability passes EMT and fails a model whose
shear is unstable; against a reference table, EMT's own constants pass and a uniformly softened
EMT fails both the moduli and the softening verdicts; malformed tables are one clear error."""
from pathlib import Path

import numpy as np
import pytest
from ase.build import bulk
from ase.calculators.emt import EMT
from ase.eos import EquationOfState
from ase.units import GPa

from mlipcheck.adapters import load_model, parse_model_specs
from mlipcheck.checks.properties.elastic import (
    check_elastic_moduli,
    check_elastic_softening,
    check_mechanical_stability,
    default_elastic_references,
    elastic_comparison,
    elastic_tensor,
    load_elastic_reference,
    moduli,
    strained,
)
from mlipcheck.checks.properties.relaxation import relax
from mlipcheck.engine.context import Context
from mlipcheck.engine.measurement import NotApplicable
from mlipcheck.reference.sets import ReferenceDataError


def independent_cubic_constants(atoms):
    """C11, C12, C44 (GPa) of a cubic crystal from energies only (ASE): C11 from uniaxial
    strain, C44 from shear, C12 from the bulk modulus (B = (C11 + 2 C12) / 3)."""
    def energy(a):
        a = a.copy()
        a.calc = EMT()
        return a.get_potential_energy()

    volume, e0, d = atoms.get_volume(), energy(atoms), 1e-3

    def curvature(component):  # E(eps) = E0 + V C eps^2 / 2 (engineering strain for shear)
        return (energy(strained(atoms, component, d)) + energy(strained(atoms, component, -d)) - 2 * e0) / d**2 / volume

    c11, c44 = curvature(0) / GPa, curvature(3) / GPa
    volumes, energies = [], []
    for x in np.linspace(0.99, 1.01, 7):
        scaled = atoms.copy()
        scaled.set_cell(atoms.cell * x, scale_atoms=True)
        volumes.append(scaled.get_volume())
        energies.append(energy(scaled))
    b = EquationOfState(volumes, energies).fit()[2] / GPa
    return c11, (3 * b - c11) / 2, c44


@pytest.fixture
def section(quick):
    return quick.section("elastic")


def test_emt_constants_equal_an_independent_computation(section):
    model = load_model(parse_model_specs(["emt"])[0])
    cell, _, _ = relax(model, bulk("Cu", "fcc", cubic=True), 1e-4, 200)
    c, by_magnitude = elastic_tensor(model, cell, section)
    c11, c12, c44 = independent_cubic_constants(cell)
    assert c[0, 0] == pytest.approx(c11, rel=0.01) and c[1, 1] == pytest.approx(c11, rel=0.01)
    assert c[0, 1] == pytest.approx(c12, rel=0.02)
    assert c[3, 3] == pytest.approx(c44, rel=0.01) and c[5, 5] == pytest.approx(c44, rel=0.01)
    assert abs(c[0, 3]) < 1e-3 * c[0, 0]  # cubic: no coupling of normal and shear strain
    assert moduli(c)["K_hill_GPa"] == pytest.approx((c11 + 2 * c12) / 3, rel=0.02)
    largest = by_magnitude[max(by_magnitude)]
    assert np.abs(largest - c).max() < 0.1 * np.abs(c).max()  # linear at 0.5 % and 1 %


def test_born_stability_passes_emt_and_fails_an_unstable_shear(broken, section):
    atoms = bulk("Cu", "fcc", cubic=True)
    good = check_mechanical_stability(broken("correct"), atoms, section)
    assert good.passed and good.value > 10 and good.details["linear"], good.describe()
    bad = check_mechanical_stability(broken("shear_unstable"), atoms, section)
    assert not bad.passed and bad.value < 0 and bad.details["C44_GPa"] < 0, bad.describe()
    assert bad.atoms is not None


def emt_table(tmp_path):
    """A reference table of EMT's own Cu constants, computed with ASE alone."""
    model = load_model(parse_model_specs(["emt"])[0])
    cell, _, _ = relax(model, bulk("Cu", "fcc", cubic=True), 1e-4, 200)
    c11, c12, c44 = independent_cubic_constants(cell)
    path = tmp_path / "emt.csv"
    path.write_text("# EMT Cu, energy-strain curvatures (ASE)\nname,structure,a_A,C11,C12,C44,source\n"
                    f"Cu,fcc,{cell.cell[0, 0]:.4f},{c11:.2f},{c12:.2f},{c44:.2f},EMT by ASE\n")
    return load_elastic_reference(path)


def test_reference_comparison_passes_emt_and_fails_a_softened_model(broken, section, tmp_path):
    references = emt_table(tmp_path)
    crystal = bulk("Cu", "fcc", a=3.6)  # the suite's crystals are primitive cells
    good = Context(broken("correct"), elastic_references=tuple(references))  # as --elastic-reference gives them
    moduli, softening = check_elastic_moduli(good, crystal, section), check_elastic_softening(good, crystal, section)
    assert moduli.passed and moduli.value < 0.02, moduli.describe()
    assert softening.passed and abs(softening.value - 1) < 0.02
    soft = Context(broken("softened"), elastic_references=tuple(references))
    moduli, softening = check_elastic_moduli(soft, crystal, section), check_elastic_softening(soft, crystal, section)
    assert not moduli.passed and moduli.value == pytest.approx(0.3, abs=0.02)
    assert not softening.passed and softening.value == pytest.approx(0.7, abs=0.02)
    assert moduli.atoms is not None  # the relaxed cell is written for the user
    details = moduli.details
    assert details["C44_GPa"] == pytest.approx(0.7 * details["C44_reference_GPa"], rel=0.02)


def test_a_table_without_c44_judges_the_bulk_modulus(broken, section, tmp_path):
    path = tmp_path / "no_c44.csv"
    full = emt_table(tmp_path)[0].constants
    path.write_text(f"name,structure,C11,C12,C44\nCu,fcc,{full['C11']},{full['C12']},\n")
    [reference] = load_elastic_reference(path)
    assert set(reference.constants) == {"C11", "C12"}
    soft = elastic_comparison(broken("softened"), bulk("Cu", "fcc", a=3.6), [reference], section)
    assert soft["elastic_moduli"].details["K_error"] == pytest.approx(0.3, abs=0.02)
    assert "G_error" not in soft["elastic_moduli"].details and not soft["elastic_moduli"].passed


def test_a_crystal_the_table_does_not_hold_is_not_judged(broken, section, tmp_path):
    references = emt_table(tmp_path)
    with pytest.raises(NotApplicable, match="no elastic reference"):
        elastic_comparison(broken("correct"), bulk("Ni", "fcc", a=3.52), references, section)
    with pytest.raises(NotApplicable):  # same formula and nearly the same volume, another lattice
        elastic_comparison(broken("correct"), bulk("Cu", "bcc", a=2.86), references, section)
    # the conventional cubic cell (as ASE's dcdft holds Cu) is the same crystal
    conventional = elastic_comparison(broken("correct"), bulk("Cu", "fcc", a=3.6, cubic=True), references, section)
    assert conventional["elastic_moduli"].passed
    with pytest.raises(NotApplicable):  # fcc Cu at a volume 40 % off the table's
        elastic_comparison(broken("correct"), bulk("Cu", "fcc", a=4.1), references, section)


@pytest.mark.parametrize("row, message", [
    ("Cu,fcx,3.6,170,120,75", "structure 'fcx'"),
    ("Cu,fcc,3.6,170,,75", "C12"),
    ("Cu,fcc,3.6,170,abc,75", "abc"),
    ("Qq,fcc,3.6,170,120,75", "Qq"),
])
def test_a_malformed_table_is_one_clear_error(tmp_path, row, message):
    path = tmp_path / "bad.csv"
    path.write_text("name,structure,a_A,C11,C12,C44\n" + row + "\n")
    with pytest.raises(ReferenceDataError, match=message) as error:
        load_elastic_reference(path)
    assert "row 1" in str(error.value) and str(path) in str(error.value)


def test_the_shipped_table_is_pbe_with_its_method():
    """Every row PBE with its method, C44 in each, Born stable; Cu, whose GPAW constants did not
    converge in k, comes with Ni from VASP (mlearn); Al from GPAW at 0.3 eV of smearing, 38^3."""
    references = [r for r in default_elastic_references() if r.moduli is None]
    assert {r.name for r in references} == {"Cu", "Ni", "Al", "W", "Si", "NaCl", "MgO", "LiF", "SiC"}
    for r in references:
        assert "PBE" in r.source and ("GPAW" in r.source or r.name in ("Cu", "Ni") and "mlearn" in r.source), r
        c11, c12, c44 = (r.constants[k] for k in ("C11", "C12", "C44"))
        assert c11 > abs(c12) and c11 + 2 * c12 > 0 and c44 > 0, r  # Born, cubic


def test_the_shipped_compound_moduli_are_materials_project_pbe_with_their_mp_ids():
    """At least 20 binary compounds, ten in each of the ionic, covalent and metallic classes,
    each with its mp-id; none repeats a crystal of the GPAW table (that one wins where both match)."""
    import csv

    import mlipcheck.reference_data

    path = Path(mlipcheck.reference_data.__file__).parent / "elastic_moduli_mp.csv"
    rows = list(csv.DictReader(line for line in path.read_text().splitlines() if not line.startswith("#")))
    assert len(rows) >= 20 and {r["class"] for r in rows} == {"ionic", "covalent", "metallic"}
    assert all(sum(r["class"] == c for r in rows) >= 6 for c in ("ionic", "covalent", "metallic"))
    moduli_rows = [r for r in default_elastic_references() if r.moduli is not None]
    assert len(moduli_rows) == len(rows)
    own = {r.name for r in default_elastic_references() if r.moduli is None}
    for r in moduli_rows:
        assert "Materials Project mp-" in r.source and "PBE" in r.source, r
        assert r.name not in own and 0 < r.moduli["G"] < 1.5 * r.moduli["K"] < 600, r  # positive, G < 1.5 K
        assert r.a and len(bulk(r.name, r.structure, a=r.a)) in (2, 3)  # the suite can build it


def test_a_moduli_row_judges_k_and_g_and_the_softening(broken, section, tmp_path):
    """A table giving only K_VRH and G_VRH (the Materials Project's kind): EMT against its own
    moduli passes; the softened model (x 0.7) misses both by 30 % and its slope is 0.7."""
    [constants] = emt_table(tmp_path)
    own = moduli(constants.tensor())
    path = tmp_path / "moduli.csv"
    path.write_text("name,structure,a_A,K_VRH_GPa,G_VRH_GPa,source\n"
                    f"Cu,fcc,{constants.a},{own['K_hill_GPa']:.3f},{own['G_hill_GPa']:.3f},EMT by ASE\n")
    references = tuple(load_elastic_reference(path))
    assert references[0].moduli == pytest.approx({"K": own["K_hill_GPa"], "G": own["G_hill_GPa"]}, rel=1e-3)
    crystal = bulk("Cu", "fcc", a=3.6)
    good = Context(broken("correct"), elastic_references=references)
    moduli_verdict = check_elastic_moduli(good, crystal, section)
    assert moduli_verdict.passed and moduli_verdict.value < 0.02, moduli_verdict.describe()
    assert check_elastic_softening(good, crystal, section).passed
    soft = Context(broken("softened"), elastic_references=references)
    moduli_verdict = check_elastic_moduli(soft, crystal, section)
    assert not moduli_verdict.passed and moduli_verdict.details["G_error"] == pytest.approx(0.3, abs=0.02)
    softening = check_elastic_softening(soft, crystal, section)
    assert not softening.passed and softening.value == pytest.approx(0.7, abs=0.02)
    path.write_text("name,structure,K_VRH_GPa,G_VRH_GPa\nCu,fcc,140,-3\n")
    with pytest.raises(ReferenceDataError, match="positive"):
        load_elastic_reference(path)


def test_the_full_profile_builds_every_tabulated_crystal(broken, full):
    """The table's Si row has no crystal among the phonon suite's (the Delta set's Si cell has 8
    atoms): the full profile builds it from the row (2 atoms at the table's a); quick samples."""
    from mlipcheck.structures.crystals import elastic_crystals

    model = broken("correct", elements="Si+Cu")
    table = default_elastic_references()
    crystals = dict(elastic_crystals(model, full.section("elastic"), 0, table))
    assert len(crystals["Si-diamond"]) == 2
    assert crystals["Si-diamond"].cell.cellpar()[0] == pytest.approx(5.4756 / 2 ** 0.5, rel=1e-4)
    assert "Cu" in crystals and not any(name.startswith("Cu-") for name in crystals)  # Cu once, from the Delta set
    assert "NaCl-rocksalt" not in crystals  # elements the model does not declare: not built
