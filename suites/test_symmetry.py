"""Conformance: invariances and energy-force consistency, over every material class."""
import pytest

from mlipcheck.checks.consistency import check_forces_finite_difference
from mlipcheck.checks.symmetry import check_permutation, check_rotation, check_translation

pytestmark = [pytest.mark.mlipcheck, pytest.mark.symmetry]


def test_translation(model, case, profile, seed, verdict):
    verdict(check_translation(model, case, profile.section("invariance"), seed))


def test_rotation(model, case, profile, seed, verdict):
    verdict(check_rotation(model, case, profile.section("invariance"), seed))


def test_permutation(model, case, profile, seed, verdict):
    verdict(check_permutation(model, case, profile.section("invariance"), seed))


def test_forces_finite_difference(model, case, profile, seed, verdict):
    verdict(check_forces_finite_difference(model, case, profile.section("finite_difference"), seed))
