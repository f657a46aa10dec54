"""Conformance: forces are -dE/dx (pointwise, and as a symmetric Jacobian), stress is
(1/V) dE/d(strain), forces sum to zero."""
import pytest

from mlipcheck.checks.conformance.consistency import (
    check_force_jacobian_symmetry,
    check_forces_finite_difference,
    check_net_force,
    check_stress_finite_strain,
)

pytestmark = [pytest.mark.mlipcheck, pytest.mark.symmetry]


def test_forces_finite_difference(model, case, profile, seed, verdict):
    verdict(check_forces_finite_difference(model, case, profile.section("finite_difference"), seed))


@pytest.mark.cases(where=lambda case: case.atoms.pbc.all())
def test_stress_finite_strain(model, case, profile, seed, verdict):
    if not model.has_stress:
        pytest.skip(f"{model.label} does not give stress")
    verdict(check_stress_finite_strain(model, case, profile.section("stress_finite_strain"), seed))


def test_net_force(model, case, profile, seed, verdict):
    verdict(check_net_force(model, case, profile.section("net_force"), seed))


def test_force_jacobian_symmetry(model, case, profile, seed, verdict):
    verdict(check_force_jacobian_symmetry(model, case, profile.section("force_jacobian"), seed))
