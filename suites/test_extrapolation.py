"""Extrapolation: crazy cubes, strong compression and expansion, MD stability and NVE drift."""
import pytest

from mlipcheck.checks.extrapolation.committee import check_committee
from mlipcheck.checks.extrapolation.crazy_cubes import check_compression, check_crazy_cubes, check_generated_cubes
from mlipcheck.checks.extrapolation.dynamics import check_md_stability, check_nve_drift

pytestmark = [pytest.mark.mlipcheck, pytest.mark.extrapolation]

CRYSTALS = dict(where=lambda case: case.atoms.pbc.all() and case.material_class != "amorphous")


@pytest.mark.quick
def test_crazy_cubes(ctx, profile, verdict):
    verdict(check_crazy_cubes(ctx, None, profile.section("crazy_cubes")))


@pytest.mark.quick
def test_generated_cubes(ctx, profile, verdict):
    verdict(check_generated_cubes(ctx, None, profile.section("crazy_cubes")))


@pytest.mark.cases(**CRYSTALS)
def test_compression(ctx, case, profile, verdict):
    verdict(check_compression(ctx, case, profile.section("compression")))


@pytest.mark.cases(**CRYSTALS, one_in_quick=True)
def test_md_stability(ctx, case, profile, verdict):
    verdict(check_md_stability(ctx, case, profile.section("md")))


@pytest.mark.cases(**CRYSTALS, one_in_quick=True)
def test_nve_energy_drift(ctx, case, profile, verdict):
    verdict(check_nve_drift(ctx, case, profile.section("md")))


@pytest.mark.quick
def test_committee_disagreement(committee, profile, verdict):
    verdict(check_committee(committee, None, profile.section("committee")))
