"""Elastic constants of the model's relaxed crystals (relaxed-ion, finite strain): Born stability,
with C_ij, Voigt-Reuss-Hill moduli and the linearity of the fit in the details."""
import pytest

from mlipcheck.checks.properties.elastic import check_mechanical_stability

pytestmark = [pytest.mark.mlipcheck, pytest.mark.properties, pytest.mark.model_items("phonons", "elastic")]


@pytest.mark.quick
def test_mechanical_stability(model, item, profile, verdict):
    verdict(check_mechanical_stability(model, item.get_chemical_formula(), item, profile.section("elastic")))
