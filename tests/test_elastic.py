"""Elastic constants: EMT's C_ij from mlipcheck's stress-strain fit equal an independent
energy-strain computation with ASE alone; Born stability passes EMT and fails a model whose
shear is unstable."""
import numpy as np
import pytest
from ase.build import bulk
from ase.calculators.emt import EMT
from ase.eos import EquationOfState
from ase.units import GPa

from mlipcheck.adapters import load_model, parse_model_specs
from mlipcheck.checks.properties.elastic import check_mechanical_stability, elastic_tensor, moduli, strained
from mlipcheck.checks.properties.relaxation import relax


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
    good = check_mechanical_stability(broken("correct"), "Cu", atoms, section)
    assert good.passed and good.value > 10 and good.details["linear"], good.describe()
    bad = check_mechanical_stability(broken("shear_unstable"), "Cu", atoms, section)
    assert not bad.passed and bad.value < 0 and bad.details["C44_GPa"] < 0, bad.describe()
    assert bad.atoms is not None
