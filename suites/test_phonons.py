"""Phonons (phonopy): the model's own relaxed crystals are dynamically stable and keep the acoustic
sum rule; with --phonon-reference, frequencies against the reference's force sets."""
import pytest

from mlipcheck.checks.properties.phonons import (
    check_acoustic_sum_rule,
    check_dynamical_stability,
    check_phonon_reference,
)
from mlipcheck.reference.sets import ReferenceDataError

pytestmark = [pytest.mark.mlipcheck, pytest.mark.phonons]


@pytest.mark.quick
@pytest.mark.model_items("phonons", "phonons")
def test_dynamical_stability(ctx, item, profile, verdict):
    verdict(check_dynamical_stability(ctx, item, profile.section("phonons")))


@pytest.mark.model_items("phonons", "phonons")
def test_acoustic_sum_rule(ctx, item, profile, verdict):
    verdict(check_acoustic_sum_rule(ctx, item, profile.section("phonons")))


def test_phonon_reference(ctx, phonon_reference, profile, verdict):
    try:
        measurement = check_phonon_reference(ctx, phonon_reference, profile.section("phonons"))
    except ReferenceDataError as exc:  # an unreadable reference folder: said once, the run goes on
        pytest.fail(str(exc), pytrace=False)
    verdict(measurement)
