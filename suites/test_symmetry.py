"""Conformance: invariance under translation, rotation (proper and improper) and permutation."""
import pytest

from mlipcheck.checks.conformance.symmetry import check_permutation, check_rotation, check_translation

pytestmark = [pytest.mark.mlipcheck, pytest.mark.symmetry]


@pytest.mark.cases(mixed_periodicity=True)  # a shift along a slab's or a wire's open axes, in quick too
def test_translation(model, case, profile, seed, verdict):
    verdict(check_translation(model, case, profile.section("invariance"), seed))


def test_rotation(model, case, profile, seed, verdict):
    verdict(check_rotation(model, case, profile.section("invariance"), seed))


def test_permutation(model, case, profile, seed, verdict):
    verdict(check_permutation(model, case, profile.section("invariance"), seed))
