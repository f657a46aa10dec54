"""Elastic constants of the model's relaxed crystals (relaxed-ion, finite strain): Born stability,
with C_ij, Voigt-Reuss-Hill moduli and the linearity of the fit in the details; against PBE
(mlipcheck's table, or --elastic-reference): moduli errors and the softening of the constants.
One tensor per crystal (memoised), three verdicts."""
import pytest

from mlipcheck.checks.properties.elastic import check_mechanical_stability, elastic_comparison

pytestmark = [pytest.mark.mlipcheck, pytest.mark.properties, pytest.mark.model_items("elastic", "elastic")]


@pytest.mark.quick
def test_mechanical_stability(model, item, profile, verdict):
    verdict(check_mechanical_stability(model, item.get_chemical_formula(), item, profile.section("elastic")))


@pytest.mark.quick
def test_elastic_moduli(model, item, profile, mlipcheck_session, verdict):
    verdict(elastic_comparison(model, item.get_chemical_formula(), item, mlipcheck_session.elastic_references(),
                               profile.section("elastic"))["elastic_moduli"])


@pytest.mark.quick
def test_elastic_softening(model, item, profile, mlipcheck_session, verdict):
    verdict(elastic_comparison(model, item.get_chemical_formula(), item, mlipcheck_session.elastic_references(),
                               profile.section("elastic"))["elastic_softening"])
