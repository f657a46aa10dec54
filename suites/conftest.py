"""Fixtures of the suites' own vocabulary (the plugin provides `model`, `profile`, `verdict`, ...)."""
import pytest

from mlipcheck.structures import cases_for


@pytest.fixture
def case(request, model, profile):
    """One test structure; skipped when it holds an element the model does not declare, or when
    the suite asks for one case per model in a quick profile and this is not the first."""
    missing = model.unsupported(request.param.symbols)
    if missing:
        pytest.skip(f"{model.label} does not declare {', '.join(missing)} (case {request.param.name})")
    marker = request.node.get_closest_marker("cases")
    if marker and marker.kwargs.get("one_in_quick") and profile.quick:
        selection = {k: v for k, v in marker.kwargs.items() if k != "one_in_quick"}
        first = next(c for c in cases_for(True, **selection) if not model.unsupported(c.symbols))
        if first is not request.param:
            pytest.skip(f"the quick profile runs this on one case per model ({first.name})")
    return request.param


@pytest.fixture
def reference_predictions(model, reference_class, reference_sets):
    """The model's predictions on every reference set holding frames of this class (computed
    once per model and file); a file the model shows to be in the wrong units is an error here."""
    from mlipcheck.checks.accuracy.predictions import predict_set
    from mlipcheck.reference.sets import ReferenceDataError

    if isinstance(reference_class, Exception):
        pytest.fail(f"reference data not usable: {reference_class}", pytrace=False)
    out = []
    for reference in reference_sets:
        if isinstance(reference, Exception) or reference_class not in reference.classes:
            continue
        try:
            out.append(predict_set(model, reference))
        except ReferenceDataError as exc:
            pytest.fail(str(exc), pytrace=False)
    return out
