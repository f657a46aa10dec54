"""Extrapolation: crazy cubes, strong compression and expansion, MD stability and NVE drift."""
import pytest

from mlipcheck.checks.extrapolation.committee import check_committee
from mlipcheck.checks.extrapolation.crazy_cubes import check_compression, check_crazy_cubes, check_generated_cubes
from mlipcheck.checks.extrapolation.dynamics import check_md_stability, check_nve_drift

pytestmark = [pytest.mark.mlipcheck, pytest.mark.extrapolation]

CRYSTALS = dict(where=lambda case: case.atoms.pbc.all() and case.material_class != "amorphous")
# MD leaves out the *_primitive cases: the same crystals as Cu_fcc, Si_diamond and MgO_rocksalt in
# another cell (repeated to the same 16 atoms, the same temperatures), there to test periodic
# images in the conformance suites. CHGNet full, 2026-12-04: their 6 MD tests took 1010 of the
# 3840 s of MD test time, with the same verdicts as their conventional twins (all passed; NVE drift
# 0.002/0.002, 0.17/0.017, 0.031/0.042 meV/atom/ps against a 1.0 gate).
MD_CRYSTALS = dict(where=lambda case: CRYSTALS["where"](case) and not case.name.endswith("_primitive"))


@pytest.mark.quick
def test_crazy_cubes(ctx, profile, verdict):
    verdict(check_crazy_cubes(ctx, None, profile.section("crazy_cubes")))


@pytest.mark.quick
def test_generated_cubes(ctx, profile, verdict):
    verdict(check_generated_cubes(ctx, None, profile.section("crazy_cubes")))


@pytest.mark.cases(**CRYSTALS)
def test_compression(ctx, case, profile, verdict):
    verdict(check_compression(ctx, case, profile.section("compression")))


@pytest.mark.cases(**MD_CRYSTALS, one_in_quick=True)
def test_md_stability(ctx, case, profile, verdict):
    verdict(check_md_stability(ctx, case, profile.section("md")))


@pytest.mark.cases(**MD_CRYSTALS, one_in_quick=True)
def test_nve_energy_drift(ctx, case, profile, verdict):
    verdict(check_nve_drift(ctx, case, profile.section("md")))


@pytest.mark.quick
def test_committee_disagreement(committee, profile, verdict):
    verdict(check_committee(committee, None, profile.section("committee")))
