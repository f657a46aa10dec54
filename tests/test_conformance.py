"""Every check passes the correct model and catches the broken model made for it, and only it.

The broken models (tests/broken_models.py) add terms of a few meV to EMT; most break exactly one
property, so the whole matrix is asserted: the check made for a defect fails on every case it
applies to, and every other check passes.
"""
from types import SimpleNamespace

import pytest

from mlipcheck.checks.conformance.consistency import (
    check_force_jacobian_symmetry,
    check_forces_finite_difference,
    check_net_force,
    check_stress_finite_strain,
)
from mlipcheck.checks.conformance.determinism import check_determinism
from mlipcheck.checks.conformance.generated import check_generated_structures
from mlipcheck.checks.conformance.periodicity import check_equivalent_cell, check_nonperiodic_directions, check_supercell
from mlipcheck.checks.conformance.species import check_species_supported, check_undeclared_element_refused
from mlipcheck.checks.conformance.symmetry import check_permutation, check_rotation, check_translation
from mlipcheck.engine.context import Context
from mlipcheck.engine.measurement import NotApplicable
from mlipcheck.profiles import Section
from mlipcheck.structures import Case, all_cases


def always(atoms):
    return True


# check -> (function, profile section, which structures it applies to)
CHECKS = {
    "translation": (check_translation, "invariance", always),
    "rotation": (check_rotation, "invariance", always),
    "permutation": (check_permutation, "invariance", always),
    "forces_finite_difference": (check_forces_finite_difference, "finite_difference", always),
    "stress_finite_strain": (check_stress_finite_strain, "stress_finite_strain", lambda a: a.pbc.all()),
    "net_force": (check_net_force, "net_force", always),
    "force_jacobian_symmetry": (check_force_jacobian_symmetry, "force_jacobian", always),
    "supercell": (check_supercell, "invariance", lambda a: a.pbc.any()),
    "equivalent_cell": (check_equivalent_cell, "invariance", lambda a: a.pbc.sum() >= 2),
    "nonperiodic_directions": (check_nonperiodic_directions, "invariance", lambda a: not a.pbc.all()),
    "determinism": (check_determinism, "invariance", always),
}
# broken model -> (checks it must fail on every case they apply to, checks it may fail too)
EXPECTED_FAILURES = {
    "correct": (set(), set()),
    "rotation_broken": ({"rotation"}, {"net_force"}),  # an orientation-dependent energy exerts torque
    # dE/d(centroid) is a net force; a supercell or a re-wrapped cell has another centroid
    "translation_broken": ({"translation"}, {"net_force", "supercell", "equivalent_cell"}),
    "permutation_broken": ({"permutation"}, {"supercell"}),  # a supercell renumbers the atoms
    "inconsistent_forces": ({"forces_finite_difference"}, set()),
    "stress_sign_flipped": ({"stress_finite_strain"}, set()),
    "stress_scaled": ({"stress_finite_strain"}, set()),
    "coordination_drift": ({"net_force"}, {"forces_finite_difference", "force_jacobian_symmetry"}),  # direct forces
    # a curl about a fixed z axis: not a gradient (finite differences), a torque when isolated,
    # and not rotation-equivariant
    "rotational_forces": ({"force_jacobian_symmetry"}, {"forces_finite_difference", "net_force", "rotation"}),
    "constant_offset": ({"supercell"}, set()),
    "ignores_pbc": ({"nonperiodic_directions"}, set()),
    # A cache keyed on the formula returns stale answers to every other check as well; noise
    # breaks every comparison. Determinism is the check made for them.
    "stale_cache": ({"determinism"}, set(CHECKS)),
    "dropout": ({"determinism"}, set(CHECKS)),
}
# A crystal, a molecule, a cluster, a slab, a one-atom cell: every kind of boundary condition.
CASES = [c for c in all_cases() if c.name in ("Cu_fcc", "ethanol", "Cu13_cluster", "Cu_111_slab")]
ONE_ATOM = next(c for c in all_cases() if c.name == "Cu_fcc_primitive")


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
@pytest.mark.parametrize("model_name", list(EXPECTED_FAILURES))
def test_each_check_catches_its_defect_and_only_it(broken, model_name, case, quick):
    model = broken(model_name)
    must_fail, may_fail = EXPECTED_FAILURES[model_name]
    for check_name, (check, section, applies) in CHECKS.items():
        if not applies(case.atoms):
            continue
        try:
            result = check(model, case, quick.section(section))
        except NotApplicable as exc:  # e.g. a finite difference of pure noise never converges
            assert check_name in may_fail, f"{check_name}: {exc}"
            continue
        if check_name in must_fail:
            assert not result.passed, result.describe()
            assert result.atoms is not None, "a failing check must hand over its structure"
        elif check_name not in may_fail:
            assert result.passed, result.describe()
            assert result.atoms is None


def test_quick_catches_a_model_wrong_only_for_mixed_periodicity(tmp_path):
    """A model exact for crystals and molecules that computes slabs and wires as open clusters:
    the quick profile fails it on the slab and the wire (supercell, lattice-vector translation,
    equivalent cell), and nowhere else."""
    import json
    import subprocess
    import sys

    from conftest import BROKEN, ROOT

    on_mixed = {f"test_{check}[mixed_pbc_as_open-{case}]" for check in ("supercell", "translation")
                for case in ("Cu_111_slab", "Cu_wire")} | {"test_equivalent_cell[mixed_pbc_as_open-Cu_111_slab]"}
    for model, failing in (("mixed_pbc_as_open", on_mixed), ("correct", set())):
        out = subprocess.run([sys.executable, "-m", "pytest", str(ROOT / "suites" / "test_periodicity.py"),
                              str(ROOT / "suites" / "test_symmetry.py"), "--model", f"{BROKEN}:{model}",
                              "-p", "no:cacheprovider", "-q", "-m", "quick", "--mlipcheck-report",
                              str(tmp_path / model)], capture_output=True, text=True, cwd=tmp_path, timeout=300)
        results = json.loads((tmp_path / model / "report.json").read_text())["results"]
        failed = {r["name"] for r in results if r["outcome"] in ("failed", "error")}
        assert failed == failing, out.stdout[-3000:]
        ran = {r["case"] for r in results if r["suite"] == "periodicity"}
        assert {"Cu_111_slab", "Cu_wire", "Cu_fcc", "ethanol"} <= ran


def test_more_vacuum_along_open_axes_changes_nothing(broken, quick):
    """The wider-vacuum variant of nonperiodic_directions catches an energy that depends on the
    cell length along an open axis (a density feature taken from the cell volume)."""
    slab = next(c for c in all_cases() if c.name == "Cu_111_slab")
    result = check_nonperiodic_directions(broken("correct"), slab, quick.section("invariance"))
    assert result.passed and any("more vacuum" in key for key in result.details), result.details
    bad = check_nonperiodic_directions(broken("cell_volume_term"), slab, quick.section("invariance"))
    assert not bad.passed, bad.describe()
    wider = next(v for k, v in bad.details.items() if "more vacuum" in k and k.endswith("energy"))
    assert wider > bad.threshold  # the wider cell alone shows it, not only the tight one


def test_supercell_of_a_cell_smaller_than_the_cutoff(broken, quick):
    assert max(ONE_ATOM.atoms.cell.lengths()) < 3.0  # EMT's cutoff is 5.9 A: atoms see images
    assert check_supercell(broken("correct"), ONE_ATOM, quick.section("invariance")).passed
    assert not check_supercell(broken("constant_offset"), ONE_ATOM, quick.section("invariance")).passed


def test_species_supported_as_stated(broken, full):
    section = full.section("species")  # every declared element, not a sample
    assert check_species_supported(broken("correct"), None, section).passed
    result = check_species_supported(broken("flat_silver"), None, section)
    assert not result.passed and result.value == 1 and "Ag: dimer energy does not depend" in result.details["problems"]


def test_undeclared_element_must_be_refused(broken, quick):
    section = quick.section("species")
    assert check_undeclared_element_refused(broken("correct"), None, section).passed  # EMT refuses Si
    silent = check_undeclared_element_refused(broken("silent_element"), None, section)
    assert not silent.passed and "H dimer" in silent.metric and silent.value == 4


def test_float32_rounding_far_from_origin_is_caught(broken, quick):
    """A model that claims float64 but rounds positions to float32 loses digits far away."""
    cluster = next(c for c in all_cases() if c.name == "ethanol")
    result = check_translation(broken("float32_positions"), cluster, quick.section("invariance"))
    assert not result.passed and "offset" in result.metric, result.describe()


def test_float32_model_gets_float32_tolerances(broken, quick):
    """The same model declared float32 passes: its tolerance comes from float32's epsilon."""
    cluster = next(c for c in all_cases() if c.name == "ethanol")
    as_float32 = broken("float32_positions", dtype="float32")
    for check, section, applies in CHECKS.values():
        if not applies(cluster.atoms):
            continue
        result = check(as_float32, cluster, quick.section(section))
        assert result.passed, result.describe()


def test_tolerances_follow_dtype(quick):
    section = quick.section("invariance")
    assert section.tolerance("energy", "float64", 5.0) == section["energy_floor"]
    tol32 = section.tolerance("energy", "float32", 5.0)
    assert tol32 == pytest.approx(section["energy_eps_factor"] * 1.1920929e-07 * 5.0)
    assert tol32 > section["energy_floor"]


def test_measurement_names_the_numbers(broken, quick):
    case = next(c for c in all_cases() if c.name == "Cu_fcc")
    text = check_rotation(broken("rotation_broken"), case, quick.section("invariance")).describe()
    assert "rotation on Cu_fcc" in text and "threshold" in text and "eV" in text


def test_checks_are_deterministic_for_a_seed(broken, quick):
    case = next(c for c in all_cases() if c.name == "Cu_fcc")
    model = broken("rotation_broken")
    first = check_rotation(Context(model, seed=3), case, quick.section("invariance"))
    again = check_rotation(Context(model, seed=3), case, quick.section("invariance"))
    other = check_rotation(Context(model, seed=4), case, quick.section("invariance"))
    assert first.value == again.value
    assert first.value != other.value


def test_generated_structures_shrink_to_a_minimal_failure(broken, quick):
    settings = quick.sections("hypothesis", "invariance", "net_force")
    assert check_generated_structures(broken("correct"), None, settings).passed
    first = check_generated_structures(Context(broken("rotation_broken"), seed=1), None, settings)
    assert not first.passed and first.check == "rotation"
    assert first.details["reproduce_with"] == "--mlipcheck-seed 1"
    no_shrink = SimpleNamespace(**vars(settings))
    no_shrink.hypothesis = Section("hypothesis", dict(settings.hypothesis.values, shrink=False), quick)
    unshrunk = check_generated_structures(Context(broken("rotation_broken"), seed=1), None, no_shrink)
    assert len(first.atoms) <= len(unshrunk.atoms)
    again = check_generated_structures(Context(broken("rotation_broken"), seed=1), None, settings)
    assert again.atoms == first.atoms  # the same seed gives the same verdict and structure


def test_a_case_reference_is_computed_once_and_keyed_on_content(broken, quick):
    model = broken("correct")
    case = next(c for c in all_cases() if c.name == "Cu_fcc")
    check_translation(model, case, quick.section("invariance"))
    calls = model.calls
    check_rotation(model, case, quick.section("invariance"))
    assert model.calls == calls + 3  # the three transformed copies, not the reference again
    moved = case.atoms.copy()
    moved.positions[0, 0] += 0.01  # same name, other content: a new reference
    calls = model.calls
    check_permutation(model, Case("Cu_fcc", moved, "metal"), quick.section("invariance"))
    assert model.calls == calls + 2


def test_thread_safety_catches_shared_state(broken, quick):
    from mlipcheck.checks.performance.concurrency import check_thread_safety

    cases = [c for c in all_cases() if c.name in ("Cu_fcc", "ethanol")]
    settings = quick.sections("concurrency", "invariance")
    good = check_thread_safety(broken("correct"), cases, settings)
    assert good.passed and good.value == 0.0, good.describe()
    bad = check_thread_safety(broken("shared_scratch"), cases, settings)
    assert not bad.passed, bad.describe()


@pytest.mark.parametrize("name", ["shared_buffer", "shared_scratch"])
def test_thread_safety_catches_shared_state_every_run(broken, quick, name):
    """Caught by design, not by luck: 20 runs of the check, 20 failures (before the calls were
    released together and threads switched every 10 us, one quick run in three passed it)."""
    from mlipcheck.checks.performance.concurrency import check_thread_safety

    cases = [c for c in all_cases() if c.name in ("Cu_fcc", "ethanol")]
    settings = quick.sections("concurrency", "invariance")
    caught = sum(not check_thread_safety(Context(broken(name), seed=run), cases, settings).passed for run in range(20))
    assert caught == 20


def test_memory_growth_catches_a_leak(broken, quick):
    from mlipcheck.checks.performance.concurrency import check_memory_growth

    case = next(c for c in all_cases() if c.name == "Cu_fcc")
    section = quick.section("concurrency")
    good = check_memory_growth(broken("correct"), case, section)
    assert good.passed, good.describe()
    once = check_memory_growth(broken("lazy_buffer"), case, section)  # 40 MB once, in the judged calls
    assert once.passed and once.details["malloc_growth_mb"] > 30, once.describe()
    bad = check_memory_growth(broken("leaks"), case, section)
    assert not bad.passed and bad.value == pytest.approx(2048, rel=0.05), bad.describe()  # 2 MB per call
    native = check_memory_growth(broken("leaks_native"), case, section)
    assert not native.passed and native.value == pytest.approx(1024, rel=0.05), native.describe()
    assert native.details["python_kb_per_call"] < 1  # only malloc's statistics see it


def test_memory_verdict_does_not_depend_on_what_the_process_holds(broken, quick):
    """The same correct model, measured in a process that has just allocated and freed 300 MB in
    many pieces (fragmenting the heap as another model's load does): the same verdict."""
    import numpy as np

    from mlipcheck.checks.performance.concurrency import check_memory_growth

    case = next(c for c in all_cases() if c.name == "Cu_fcc")
    section = quick.section("concurrency")
    held = [np.ones(2**14 + i) for i in range(2000)]  # ~300 MB in pieces of 128 kB+
    del held[::2]
    result = check_memory_growth(broken("correct"), case, section)
    assert result.passed and abs(result.value) < 8.0, result.describe()  # EMT alone: 1.1 kB/call


def test_batched_evaluation_matches_single_calls_and_isolates_a_bad_structure(broken):
    import numpy as np

    from mlipcheck.engine.evaluate import evaluate, evaluate_batch
    from mlipcheck.errors import ModelCallError

    model = broken("correct")
    cases = [c.atoms for c in all_cases() if c.name in ("Cu_fcc", "Cu13_cluster")]
    single = [evaluate(model, a, stress=False) for a in cases]
    calls = []

    def batch(structures, stress):  # the model's own calculator, as a framework's batched path would be
        calls.append(len(structures))
        out = []
        for a in structures:
            a.calc = model.calculator
            out.append((a.get_potential_energy(), a.get_forces(), None))
        out[-1] = (np.nan, out[-1][1], None)
        return out

    model.predict_batch = batch
    before = model.calls, model.batches
    got = evaluate_batch(model, cases, stress=False)
    assert calls == [2], "both structures in one call"
    assert (model.calls - before[0], model.batches - before[1]) == (2, 1), "structures and batches counted apart"
    assert got[0].energy == single[0].energy and np.array_equal(got[0].forces, single[0].forces)
    assert isinstance(got[1], ModelCallError) and got[1].kind == "nonfinite"
    model.predict_batch = lambda structures, stress: 1 / 0  # a batch that raises: retried one by one
    again = evaluate_batch(model, cases, stress=False)
    assert all(isinstance(p, ModelCallError) and p.kind == "raised" and p.atoms is a for p, a in zip(again, cases))
    assert "ZeroDivisionError" in str(again[0]) and "Cu13" in str(again[1])


def test_batches_are_bounded_by_atoms(broken):
    from mlipcheck.engine.evaluate import batches, evaluate_batch
    from mlipcheck.structures.elements import dimer

    assert batches([dimer("Cu", "Cu", 2.5)] * 5, 4) == [[0, 1], [2, 3], [4]]
    big = next(c.atoms for c in all_cases() if c.name == "Cu13_cluster")
    assert batches([big, dimer("Cu", "Cu", 2.5), big], 14) == [[0], [1], [2]], "a larger structure goes alone"
    model = broken("correct")
    sizes = []

    def batch(structures, stress):
        sizes.append(sum(len(a) for a in structures))
        return [(0.0, [[0.0] * 3] * len(a), None) for a in structures]

    model.predict_batch, model.batch_atoms = batch, 6
    evaluate_batch(model, [dimer("Cu", "Cu", 2 + 0.1 * i) for i in range(7)], stress=False)
    assert sizes == [6, 6, 2]


def test_generated_crystals_are_never_denser_than_a_model_can_take():
    """The distance rule alone let a one-atom H cell of 0.7 A edges through (2600 neighbours in
    6 A): CHGNet 0.2.0 took 24 GB on such a cell. Every drawn crystal holds at most
    MAX_NEIGHBOURS within the cutoff, however small its atoms."""
    import numpy as np
    from hypothesis import HealthCheck, given, settings

    from mlipcheck.structures.strategies import MAX_NEIGHBOURS, structures

    densities = []

    @settings(max_examples=200, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(structures(["H", "He", "Li"], max_atoms=3, periodic=True, cutoff=6.0))
    def drawn(atoms):
        densities.append(len(atoms) / atoms.get_volume() * 4 / 3 * np.pi * 6.0 ** 3)

    drawn()
    assert len(densities) > 20 and max(densities) <= MAX_NEIGHBOURS


def test_a_check_takes_a_context_or_a_bare_model_alike(broken, quick):
    """The one contract: check(ctx, target, settings). A bare model is a context of seed 0; the
    context's evaluate and memo are the engine's for that model."""
    from mlipcheck.engine.context import as_context
    from mlipcheck.engine.evaluate import evaluate
    from mlipcheck.engine.memo import memo

    model = broken("correct")
    case = next(c for c in all_cases() if c.name == "Cu_fcc")
    bare = check_rotation(model, case, quick.section("invariance"))
    wrapped = check_rotation(Context(model, seed=0), case, quick.section("invariance"))
    assert bare.value == wrapped.value and bare.seed == wrapped.seed == 0
    ctx = as_context(model)
    assert ctx.model is model and ctx.seed == 0 and ctx.memo is memo(model) and as_context(ctx) is ctx
    [prediction] = ctx.evaluate([case.atoms])
    assert prediction.energy == evaluate(model, case.atoms).energy
