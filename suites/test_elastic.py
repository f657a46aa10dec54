"""Elastic constants of the model's relaxed crystals (relaxed-ion, finite strain): Born stability,
with C_ij, Voigt-Reuss-Hill moduli and the linearity of the fit in the details; against PBE
(mlipcheck's table, or --elastic-reference): moduli errors and the softening of the constants.
One tensor per crystal (memoised), three verdicts."""
import pytest

from mlipcheck.checks.properties.elastic import check_elastic_moduli, check_elastic_softening, check_mechanical_stability

pytestmark = [pytest.mark.mlipcheck, pytest.mark.properties, pytest.mark.model_items("elastic", "elastic")]


@pytest.mark.quick
def test_mechanical_stability(ctx, item, profile, verdict):
    verdict(check_mechanical_stability(ctx, item, profile.section("elastic")))


@pytest.mark.quick
def test_elastic_moduli(ctx, item, profile, verdict):
    verdict(check_elastic_moduli(ctx, item, profile.section("elastic")))


@pytest.mark.quick
def test_elastic_softening(ctx, item, profile, verdict):
    verdict(check_elastic_softening(ctx, item, profile.section("elastic")))
