"""Extrapolation: crazy cubes, strong compression and expansion, MD stability and NVE drift."""
import pytest

from mlipcheck.checks.extrapolation.committee import check_committee
from mlipcheck.checks.extrapolation.crazy_cubes import check_compression, check_crazy_cubes, check_generated_cubes
from mlipcheck.checks.extrapolation.dynamics import check_md_stability, check_nve_drift

pytestmark = [pytest.mark.mlipcheck, pytest.mark.extrapolation]

CRYSTALS = dict(where=lambda case: case.atoms.pbc.all() and case.material_class != "amorphous")


@pytest.mark.quick
def test_crazy_cubes(model, profile, seed, verdict):
    verdict(check_crazy_cubes(model, profile.section("crazy_cubes"), seed))


@pytest.mark.quick
def test_generated_cubes(model, profile, seed, verdict):
    verdict(check_generated_cubes(model, profile.section("crazy_cubes"), seed))


@pytest.mark.cases(**CRYSTALS)
def test_compression(model, case, profile, seed, verdict):
    verdict(check_compression(model, case, profile.section("compression"), seed))


@pytest.mark.cases(**CRYSTALS, one_in_quick=True)
def test_md_stability(model, case, profile, seed, verdict):
    verdict(check_md_stability(model, case, profile.section("md"), seed))


@pytest.mark.cases(**CRYSTALS, one_in_quick=True)
def test_nve_energy_drift(model, case, profile, seed, verdict):
    verdict(check_nve_drift(model, case, profile.section("md"), seed))


@pytest.mark.quick
def test_committee_disagreement(all_models, profile, seed, verdict):
    verdict(check_committee(all_models, profile.section("committee"), seed))
