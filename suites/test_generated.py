"""Conformance on Hypothesis-generated structures: invariances hold on structures nobody picked;
a failure is shrunk to a minimal structure, written out, with the seed that reproduces it."""
import pytest

from mlipcheck.checks.conformance.generated import check_generated_structures

pytestmark = [pytest.mark.mlipcheck, pytest.mark.symmetry, pytest.mark.quick]


def test_invariances_on_generated_structures(ctx, profile, verdict):
    verdict(check_generated_structures(ctx, None, profile.sections("hypothesis", "invariance", "net_force")))
