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
def test_vacancy_energy(ctx, item, profile, verdict):
    verdict(check_vacancy_energy(ctx, item, profile.section("defects")))


@pytest.mark.model_items("vacancies", "defects")
def test_vacancy_size_convergence(ctx, item, profile, verdict):
    verdict(check_vacancy_size_convergence(ctx, item, profile.section("defects")))


@pytest.mark.model_items("vacancies", "defects")
def test_migration_path(ctx, item, profile, verdict):
    verdict(check_migration_path(ctx, item, profile.section("defects")))


@pytest.mark.model_items("vacancies", "defects")
def test_migration_force_consistency(ctx, item, profile, verdict):
    verdict(check_migration_force_consistency(ctx, item, profile.section("defects")))


@pytest.mark.model_items("vacancies", "defects")
def test_migration_barrier(ctx, item, profile, verdict):
    verdict(check_migration_barrier(ctx, item, profile.section("defects")))


@pytest.mark.model_items("vacancies", "defects")
def test_interstitial_energy(ctx, item, profile, verdict):
    if profile.quick:
        pytest.skip("interstitials run in the full profile")
    verdict(check_interstitial(ctx, item, profile.section("defects")))


@pytest.mark.model_items("vacancies", "defects")
def test_surface_energies(ctx, item, profile, verdict):
    if profile.quick:
        pytest.skip("surface energies run in the full profile")
    verdict(check_surface_energies(ctx, item, profile.section("defects")))


@pytest.mark.model_items("vacancies", "defects")
def test_surface_energy_error(ctx, item, profile, verdict):
    if profile.quick:
        pytest.skip("surface energies run in the full profile")
    verdict(check_surface_energy_error(ctx, item, profile.section("defects")))


@pytest.mark.quick
@pytest.mark.model_items("phonons", "phonons")
def test_relaxation(ctx, item, profile, verdict):
    verdict(check_relaxation(ctx, item, profile.section("relaxation")))
