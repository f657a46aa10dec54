"""Conformance on Hypothesis-generated structures: invariances hold on structures nobody picked;
a failure is shrunk to a minimal structure, written out, with the seed that reproduces it."""
import pytest

from mlipcheck.checks.conformance.generated import check_generated_structures

pytestmark = [pytest.mark.mlipcheck, pytest.mark.symmetry, pytest.mark.quick]


def test_invariances_on_generated_structures(model, profile, seed, verdict):
    verdict(check_generated_structures(model, profile.section("invariance"), profile.section("net_force"),
                                       profile.section("hypothesis"), seed))
