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


def test_forces_finite_difference(ctx, case, profile, verdict):
    verdict(check_forces_finite_difference(ctx, case, profile.section("finite_difference")))


@pytest.mark.cases(where=lambda case: case.atoms.pbc.all())
def test_stress_finite_strain(ctx, case, profile, verdict):
    if not ctx.model.has_stress:
        pytest.skip(f"{ctx.model.label} does not give stress")
    verdict(check_stress_finite_strain(ctx, case, profile.section("stress_finite_strain")))


def test_net_force(ctx, case, profile, verdict):
    verdict(check_net_force(ctx, case, profile.section("net_force")))


def test_force_jacobian_symmetry(ctx, case, profile, verdict):
    verdict(check_force_jacobian_symmetry(ctx, case, profile.section("force_jacobian")))
