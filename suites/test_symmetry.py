"""Conformance: invariance under translation, rotation (proper and improper) and permutation."""
import pytest

from mlipcheck.checks.conformance.symmetry import check_permutation, check_rotation, check_translation

pytestmark = [pytest.mark.mlipcheck, pytest.mark.symmetry]


@pytest.mark.cases(mixed_periodicity=True)  # a shift along a slab's or a wire's open axes, in quick too
def test_translation(ctx, case, profile, verdict):
    verdict(check_translation(ctx, case, profile.section("invariance")))


def test_rotation(ctx, case, profile, verdict):
    verdict(check_rotation(ctx, case, profile.section("invariance")))


def test_permutation(ctx, case, profile, verdict):
    verdict(check_permutation(ctx, case, profile.section("invariance")))
