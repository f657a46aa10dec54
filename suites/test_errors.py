"""Errors against reference data (--reference FILE, or the default PySCF set), one test id per
material class, so a CI run says "ionic failed" rather than "errors failed"."""
import pytest

from mlipcheck.checks.accuracy.predictions import predict_set, raise_failures
from mlipcheck.checks.accuracy.reference_errors import (
    check_energy_error,
    check_force_error,
    check_softening,
    check_stress_error,
    check_transferability,
    check_uncertainty,
)
from mlipcheck.reference.sets import ReferenceDataError

pytestmark = [pytest.mark.mlipcheck, pytest.mark.errors]


@pytest.fixture
def errors(profile):
    return profile.section("errors")


@pytest.fixture
def class_predictions(reference_predictions, reference_class):
    """Predictions of this class's frames; a frame the model could not evaluate is an error."""
    raise_failures(reference_predictions, reference_class)
    if not any(r.material_class == reference_class for p in reference_predictions for r in p.results):
        pytest.skip(f"no frame of class {reference_class} holds only elements the model declares")
    return reference_predictions


def require(predictions, material_class, quantity):
    if not any(getattr(r, quantity) is not None for p in predictions for r in p.results
               if r.material_class == material_class):
        pytest.skip(f"no reference {quantity.split('_')[0]} in class {material_class}")


@pytest.mark.quick
def test_energy_error(class_predictions, reference_class, errors, seed, verdict):
    require(class_predictions, reference_class, "energy_ref")
    verdict(check_energy_error(class_predictions, reference_class, errors, seed))


@pytest.mark.quick
def test_force_error(class_predictions, reference_class, errors, seed, verdict):
    require(class_predictions, reference_class, "forces_ref")
    verdict(check_force_error(class_predictions, reference_class, errors, seed))


def test_stress_error(class_predictions, reference_class, errors, seed, verdict):
    try:
        measurement = check_stress_error(class_predictions, reference_class, errors, seed)
    except ReferenceDataError as exc:  # the file's stress (shear columns) cannot be compared
        pytest.fail(str(exc), pytrace=False)
    verdict(measurement)


def test_softening(class_predictions, reference_class, errors, seed, verdict):
    require(class_predictions, reference_class, "forces_ref")
    verdict(check_softening(class_predictions, reference_class, errors, seed))


def _usable_predictions(reference_sets, model):
    out = []
    for reference in reference_sets:
        if isinstance(reference, Exception):
            continue
        try:
            out.append(predict_set(model, reference))
        except ReferenceDataError:
            continue  # the per-class tests report it
    return out


def test_transferability(reference_sets, model, errors, verdict):
    predictions = _usable_predictions(reference_sets, model)
    classes = sorted({r.material_class for p in predictions for r in p.results})
    verdict(check_transferability(predictions, classes, errors))  # NotApplicable: a skip (plugin)


def test_uncertainty(reference_sets, all_models, reference_class, errors, seed, verdict):
    by_model = [_usable_predictions(reference_sets, m) for m in all_models]
    verdict(check_uncertainty(all_models, by_model, reference_class, errors, seed))
