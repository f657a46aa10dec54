"""Errors against reference data (--reference FILE, or the default PySCF set), one test id per
material class, so a CI run says "ionic failed" rather than "errors failed"."""
import pytest

from mlipcheck.checks.accuracy.predictions import ClassFrames, predict_set, raise_failures
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
def class_frames(reference_predictions, reference_class):
    """This class's frames and the model's predictions; a frame the model could not evaluate is
    an error."""
    raise_failures(reference_predictions, reference_class)
    if not any(r.material_class == reference_class for p in reference_predictions for r in p.results):
        pytest.skip(f"no frame of class {reference_class} holds only elements the model declares")
    return ClassFrames(reference_class, reference_predictions)


def require(frames, quantity):
    if not any(getattr(r, quantity) is not None for p in frames.predictions for r in p.results
               if r.material_class == frames.material_class):
        pytest.skip(f"no reference {quantity.split('_')[0]} in class {frames.material_class}")


@pytest.mark.quick
def test_energy_error(ctx, class_frames, errors, verdict):
    require(class_frames, "energy_ref")
    verdict(check_energy_error(ctx, class_frames, errors))


@pytest.mark.quick
def test_force_error(ctx, class_frames, errors, verdict):
    require(class_frames, "forces_ref")
    verdict(check_force_error(ctx, class_frames, errors))


def test_stress_error(ctx, class_frames, errors, verdict):
    try:
        measurement = check_stress_error(ctx, class_frames, errors)
    except ReferenceDataError as exc:  # the file's stress (shear columns) cannot be compared
        pytest.fail(str(exc), pytrace=False)
    verdict(measurement)


def test_softening(ctx, class_frames, errors, verdict):
    require(class_frames, "forces_ref")
    verdict(check_softening(ctx, class_frames, errors))


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


def test_transferability(ctx, reference_sets, errors, verdict):
    frames = ClassFrames("all classes", _usable_predictions(reference_sets, ctx.model))
    verdict(check_transferability(ctx, frames, errors))  # NotApplicable: a skip (plugin)


def test_uncertainty(committee, reference_sets, reference_class, errors, verdict):
    by_model = tuple(_usable_predictions(reference_sets, m) for m in committee.committee)
    verdict(check_uncertainty(committee, ClassFrames(reference_class, by_model[0], by_model), errors))
