"""Phonons (phonopy): the model's own relaxed crystals are dynamically stable and keep the acoustic
sum rule; with --phonon-reference, frequencies against the reference's force sets."""
import pytest

from mlipcheck.checks.properties.phonons import (
    check_acoustic_sum_rule,
    check_dynamical_stability,
    check_phonon_reference,
    load_phonon_reference,
)
from mlipcheck.errors import MlipcheckError

pytestmark = [pytest.mark.mlipcheck, pytest.mark.phonons]


@pytest.mark.quick
@pytest.mark.model_items("phonons", "phonons")
def test_dynamical_stability(model, item, profile, verdict):
    verdict(check_dynamical_stability(model, item.get_chemical_formula(), item, profile.section("phonons")))


@pytest.mark.model_items("phonons", "phonons")
def test_acoustic_sum_rule(model, item, profile, verdict):
    verdict(check_acoustic_sum_rule(model, item.get_chemical_formula(), item, profile.section("phonons")))


def test_phonon_reference(model, phonon_reference, profile, verdict):
    try:
        reference = load_phonon_reference(phonon_reference)
    except MlipcheckError as exc:
        pytest.fail(str(exc), pytrace=False)
    missing = model.unsupported(reference.unitcell.symbols)
    if missing:
        pytest.skip(f"{model.label} does not declare {', '.join(missing)}")
    verdict(check_phonon_reference(model, str(phonon_reference), reference, profile.section("phonons")))
