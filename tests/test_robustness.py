"""No run may hang: every test has a wall-time budget, threads are joined with a bound, and work
derived from a model's answers (relaxed cells, supercells) is bounded before it starts."""
import time

import pytest
from conftest import BROKEN, ROOT

from mlipcheck.errors import ModelCallError, ModelFailure
from mlipcheck.structures import all_cases

CU = next(c for c in all_cases() if c.name == "Cu_fcc")


def test_a_model_blocking_in_a_worker_thread_is_an_error_in_bounded_time(broken, quick):
    from mlipcheck.checks.performance.concurrency import check_thread_safety

    model = broken("blocks_in_threads")
    model.call_timeout = 0.5
    start = time.perf_counter()
    with pytest.raises(ModelCallError, match="threads did not finish"):
        check_thread_safety(model, [CU], quick.sections("concurrency", "invariance"))
    assert time.perf_counter() - start < 10


def test_a_stale_cache_makes_relaxation_fail_as_a_runaway_not_hang(broken, quick):
    """A model answering every 1-atom cell with the first one's forces and stress: the relaxation
    drives the cell away; it stops at the bound with the structure, before phonopy sees it."""
    from mlipcheck.checks.properties.phonons import check_dynamical_stability
    from mlipcheck.engine.evaluate import evaluate

    model = broken("caches_by_atom_count")
    compressed = CU.atoms.copy()
    compressed.set_cell(compressed.cell.array * 0.95, scale_atoms=True)
    evaluate(model, compressed)  # an earlier test's structure of the same size: its stress stays
    start = time.perf_counter()
    with pytest.raises(ModelFailure, match="relaxation ran away") as caught:
        check_dynamical_stability(model, CU.atoms, quick.section("phonons"))
    assert caught.value.atoms is not None and time.perf_counter() - start < 60


def test_a_degenerate_cell_is_refused_before_phonopy():
    from mlipcheck.checks.properties.phonons import supercell_matrix

    flat = CU.atoms.copy()
    flat.set_cell(flat.cell.array * [1.0, 1.0, 0.02], scale_atoms=True)
    with pytest.raises(ModelFailure, match="supercell"):
        supercell_matrix(flat, 8.0)
    assert supercell_matrix(CU.atoms, 8.0).trace() > 3  # an ordinary cell still works


def test_test_budget_turns_a_long_test_into_an_error_and_the_run_goes_on(pytester):
    """A 1 s budget (a profile that inherits everything else from quick) and a 0.2 s/call model:
    tests with many calls ERROR with the reason; the run finishes and writes its report."""
    quick = (ROOT / "mlipcheck" / "profiles" / "quick.toml").read_text()
    profile = pytester.path / "tight.toml"
    profile.write_text(quick.replace("test_budget_s = 600", "test_budget_s = 1"))
    result = pytester.runpytest_subprocess(
        str(ROOT / "suites" / "test_consistency.py"), "--model", f"{BROKEN}:slow", "--mlipcheck-profile",
        str(profile), "-p", "no:cacheprovider", "--mlipcheck-report", str(pytester.path / "report"),
        "-k", "forces_finite_difference and Cu_fcc")
    text = result.stdout.str()
    assert "time budget of 1 s" in text, text[-2000:]
    assert result.ret == 1 and (pytester.path / "report" / "report.json").exists()


def test_model_time_of_threaded_calls_never_exceeds_the_wall_time(broken, quick):
    """Calls made by several threads at once overlap; summed, they read '290 % inside model calls'.
    Only main-thread calls are charged."""
    from mlipcheck.checks.performance.concurrency import check_thread_safety

    model = broken("slow")  # 0.2 s per call
    start = time.perf_counter()
    check_thread_safety(model, [CU], quick.sections("concurrency", "invariance"))
    assert model.call_seconds <= time.perf_counter() - start


def test_an_exception_in_a_checks_own_code_is_mlipchecks_error_not_the_models(pytester):
    """Whatever a check raises outside a model call (phonopy's 'Masses of {'Po'} are undefined' was
    a FAIL of CHGNet) is an ERROR that names mlipcheck; a verdict and a model's error stay what
    they are."""
    pytester.makepyfile(test_injected="""
        import pytest
        from mlipcheck.engine.evaluate import evaluate
        from mlipcheck.structures.elements import dimer

        pytestmark = pytest.mark.mlipcheck

        def test_check_code_raises(model):
            evaluate(model, dimer("Cu", "Cu", 2.5))
            raise RuntimeError("Masses of {'Po'} are undefined")

        def test_verdict_fails(model):
            pytest.fail("a verdict")
    """)
    result = pytester.runpytest_subprocess("test_injected.py", "--model", "emt", "-p", "no:cacheprovider",
                                           "--mlipcheck-report", str(pytester.path / "report"), "-rfE")
    out = result.stdout.str()
    assert result.ret == 1
    assert "ERROR test_injected.py::test_check_code_raises" in out
    assert "FAILED test_injected.py::test_verdict_fails" in out
    import json

    results = json.loads((pytester.path / "report" / "report.json").read_text())["results"]
    records = {r["test_id"].split("::")[-1]: r for r in results}
    own = records["test_check_code_raises[emt]"]
    assert own["outcome"] == "error" and "ERROR in mlipcheck, not a verdict about the model: RuntimeError" in own["message"]
    assert "test_injected.py" in own["message"]  # where it was raised
    assert records["test_verdict_fails[emt]"]["outcome"] == "failed"
