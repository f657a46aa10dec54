"""Conformance: the same structure gives the same answer, whatever was computed before."""
import pytest

from mlipcheck.checks.conformance.determinism import check_determinism

pytestmark = [pytest.mark.mlipcheck, pytest.mark.symmetry]


def test_determinism(ctx, case, profile, verdict):
    verdict(check_determinism(ctx, case, profile.section("invariance")))
