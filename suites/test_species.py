"""Conformance: every declared element works; an undeclared one is refused."""
import pytest

from mlipcheck.checks.conformance.species import check_species_supported, check_undeclared_element_refused

pytestmark = [pytest.mark.mlipcheck, pytest.mark.symmetry, pytest.mark.quick]


def test_species_supported_as_stated(model, profile, seed, verdict):
    if model.elements is None:
        pytest.skip(f"{model.label} declares no element list")
    verdict(check_species_supported(model, profile.section("species"), seed))


def test_undeclared_element_is_refused(model, profile, seed, verdict):
    if model.elements is None:
        pytest.skip(f"{model.label} declares no element list: every element is its claim")
    verdict(check_undeclared_element_refused(model, profile.section("species"), seed))
