"""Conformance: every declared element works; an undeclared one is refused."""
import pytest

from mlipcheck.checks.conformance.species import check_species_supported, check_undeclared_element_refused

pytestmark = [pytest.mark.mlipcheck, pytest.mark.symmetry, pytest.mark.quick]


def test_species_supported_as_stated(ctx, profile, verdict):
    if ctx.model.elements is None:
        pytest.skip(f"{ctx.model.label} declares no element list")
    verdict(check_species_supported(ctx, None, profile.section("species")))


def test_undeclared_element_is_refused(ctx, profile, verdict):
    if ctx.model.elements is None:
        pytest.skip(f"{ctx.model.label} declares no element list: every element is its claim")
    verdict(check_undeclared_element_refused(ctx, None, profile.section("species")))
