"""Every check passes the correct model and catches the broken model made for it, and only it.

The broken models (tests/broken_models.py) add terms of a few meV to EMT; each breaks exactly
one property, so the whole matrix is asserted: the check made for a defect fails, every other
check passes.
"""
import pytest

from conftest import broken
from mlipcheck.checks.consistency import check_forces_finite_difference
from mlipcheck.checks.symmetry import check_permutation, check_rotation, check_translation
from mlipcheck.structures import all_cases

CHECKS = {
    "translation": (check_translation, "invariance"),
    "rotation": (check_rotation, "invariance"),
    "permutation": (check_permutation, "invariance"),
    "forces_finite_difference": (check_forces_finite_difference, "finite_difference"),
}
# broken model -> the checks it must fail
EXPECTED_FAILURES = {
    "correct": set(),
    "rotation_broken": {"rotation"},
    "translation_broken": {"translation"},
    "permutation_broken": {"permutation"},
    "inconsistent_forces": {"forces_finite_difference"},
}
# A periodic crystal, a molecule, a cluster, a slab: every kind of boundary condition.
CASES = [c for c in all_cases() if c.name in ("Cu_fcc", "ethanol", "Cu13_cluster", "Cu_111_slab")]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
@pytest.mark.parametrize("model_name", list(EXPECTED_FAILURES))
def test_each_check_catches_only_its_defect(model_name, case, quick):
    model = broken(model_name)
    for check_name, (check, section) in CHECKS.items():
        result = check(model, case, quick.section(section))
        should_fail = check_name in EXPECTED_FAILURES[model_name]
        assert result.passed != should_fail, result.describe()
        if should_fail:
            assert result.atoms is not None, "a failing check must hand over its structure"
            # The defects are a few meV: caught with a wide margin, not by luck.
            assert result.value > 10 * result.threshold, result.describe()
        else:
            assert result.atoms is None


def test_float32_rounding_far_from_origin_is_caught(quick):
    """A model that claims float64 but rounds positions to float32 loses digits far away."""
    cluster = next(c for c in all_cases() if c.name == "ethanol")
    result = check_translation(broken("float32_positions"), cluster, quick.section("invariance"))
    assert not result.passed and "offset" in result.metric, result.describe()


def test_float32_model_gets_float32_tolerances(quick):
    """The same model declared float32 passes: its tolerance comes from float32's epsilon."""
    cluster = next(c for c in all_cases() if c.name == "ethanol")
    as_float32 = broken("float32_positions", dtype="float32")
    for check, section in CHECKS.values():
        result = check(as_float32, cluster, quick.section(section))
        assert result.passed, result.describe()


def test_tolerances_follow_dtype(quick):
    section = quick.section("invariance")
    assert section.tolerance("energy", "float64", 5.0) == section["energy_floor"]
    tol32 = section.tolerance("energy", "float32", 5.0)
    assert tol32 == pytest.approx(section["energy_eps_factor"] * 1.1920929e-07 * 5.0)
    assert tol32 > section["energy_floor"]


def test_measurement_names_the_numbers(quick):
    case = next(c for c in all_cases() if c.name == "Cu_fcc")
    text = check_rotation(broken("rotation_broken"), case, quick.section("invariance")).describe()
    assert "rotation on Cu_fcc" in text and "threshold" in text and "eV" in text


def test_checks_are_deterministic_for_a_seed(quick):
    case = next(c for c in all_cases() if c.name == "Cu_fcc")
    model = broken("rotation_broken")
    first = check_rotation(model, case, quick.section("invariance"), seed=3)
    again = check_rotation(model, case, quick.section("invariance"), seed=3)
    other = check_rotation(model, case, quick.section("invariance"), seed=4)
    assert first.value == again.value
    assert first.value != other.value
