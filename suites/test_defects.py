"""Defects and relaxation: vacancy formation energies (two supercell sizes) against PBE (the
cited table, experiment beside it), the vacancy migration path and barrier by NEB, surface
energies (facet ordering, error against PBE) in `full`, and relaxation of the model's own crystals keeping their space group."""
import pytest

from mlipcheck.checks.properties.defects import (
    check_interstitial,
    check_surface_energies,
    check_surface_energy_error,
    check_vacancy_energy,
    check_vacancy_size_convergence,
)
from mlipcheck.checks.properties.migration import (
    check_migration_barrier,
    check_migration_force_consistency,
    check_migration_path,
)
from mlipcheck.checks.properties.relaxation import check_relaxation

pytestmark = [pytest.mark.mlipcheck, pytest.mark.defects]


@pytest.mark.quick
@pytest.mark.model_items("vacancies", "defects")
def test_vacancy_energy(model, item, profile, verdict):
    verdict(check_vacancy_energy(model, item, profile.section("defects")))


@pytest.mark.model_items("vacancies", "defects")
def test_vacancy_size_convergence(model, item, profile, verdict):
    verdict(check_vacancy_size_convergence(model, item, profile.section("defects")))


@pytest.mark.model_items("vacancies", "defects")
def test_migration_path(model, item, profile, verdict):
    verdict(check_migration_path(model, item, profile.section("defects")))


@pytest.mark.model_items("vacancies", "defects")
def test_migration_force_consistency(model, item, profile, verdict):
    verdict(check_migration_force_consistency(model, item, profile.section("defects")))


@pytest.mark.model_items("vacancies", "defects")
def test_migration_barrier(model, item, profile, verdict):
    verdict(check_migration_barrier(model, item, profile.section("defects")))


@pytest.mark.model_items("vacancies", "defects")
def test_interstitial_energy(model, item, profile, verdict):
    if profile.quick:
        pytest.skip("interstitials run in the full profile")
    verdict(check_interstitial(model, item, profile.section("defects")))


@pytest.mark.model_items("vacancies", "defects")
def test_surface_energies(model, item, profile, verdict):
    if profile.quick:
        pytest.skip("surface energies run in the full profile")
    verdict(check_surface_energies(model, item.element, item.structure, profile.section("defects")))


@pytest.mark.model_items("vacancies", "defects")
def test_surface_energy_error(model, item, profile, verdict):
    if profile.quick:
        pytest.skip("surface energies run in the full profile")
    verdict(check_surface_energy_error(model, item.element, item.structure, profile.section("defects")))


@pytest.mark.quick
@pytest.mark.model_items("phonons", "phonons")
def test_relaxation(model, item, profile, seed, verdict):
    section = profile.section("relaxation")
    crystal = item.repeat(section.repeat) if len(item) < 4 else item
    verdict(check_relaxation(model, item.get_chemical_formula(), crystal, section, seed))
