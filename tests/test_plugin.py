"""The suites run as a user runs them (a pytest subprocess): ids, skips, errors versus failures,
written structures, bad input that gets one message while the rest of the run goes on."""
import subprocess
import sys

import pytest
from ase.io import read
from conftest import BROKEN, ROOT

SUITES = ROOT / "suites"


@pytest.fixture
def run(pytester):
    def run_suites(*args, suite="test_symmetry.py"):
        target = [str(SUITES / suite)] if suite else []
        return pytester.runpytest_subprocess(*target, "-p", "no:cacheprovider", "-rA",
                                             "--mlipcheck-report", str(pytester.path / "report"), *args)

    return run_suites


def outcomes(result):
    return result.parseoutcomes()


def test_emt_passes_and_ids_name_the_model(run):
    result = run("--model", "emt", "-v")
    counts = outcomes(result)
    assert counts["passed"] >= 12 and "failed" not in counts and "error" not in counts
    result.stdout.fnmatch_lines(["*test_rotation?emt-Cu_fcc? PASSED*"])
    assert result.ret == 0


def test_without_model_suites_skip_and_say_how(run):
    result = run()
    assert set(outcomes(result)) == {"skipped"}
    result.stdout.fnmatch_lines(["*no --model given*pytest suites --model emt*"])


def test_unknown_model_is_a_usage_error_without_traceback(run):
    result = run("--model", "nosuchmodel")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*unknown model. Available: *chgnet*emt*mace*"])
    assert "Traceback" not in result.stderr.str()


def test_unsupported_elements_are_skipped_with_the_element_named(run):
    result = run("--model", f"{BROKEN}:correct,elements=Cu", "-v")
    result.stdout.fnmatch_lines(["*SKIPPED*does not declare C, H, O (case ethanol)*"])
    assert outcomes(result)["passed"] == 11  # Cu_fcc, Cu13_cluster, Cu_fcc_primitive; three checks; translation of slab, wire


def test_broken_model_fails_its_check_and_hands_over_the_structure(run, pytester):
    result = run("--model", f"{BROKEN}:rotation_broken")
    counts = outcomes(result)
    assert counts["failed"] == 4 and counts["passed"] == 10  # rotation fails on all four EMT cases
    result.stdout.fnmatch_lines([
        "*rotation_broken: rotation on Cu_fcc: max |* error| under * = * > threshold *",
        "*structure: *test_rotation_rotation_broken-Cu_fcc.extxyz",
        "*reproduce: mlipcheck eval --model *broken_models.py:rotation_broken *.extxyz",
    ])
    path = pytester.path / "report" / "structures" / "test_rotation_rotation_broken-Cu_fcc.extxyz"
    atoms = read(path)
    assert len(atoms) == 8 and "rotation" in atoms.info["mlipcheck_reason"]
    # The reproduction line works.
    out = subprocess.run([sys.executable, "-m", "mlipcheck.cli", "eval", "--model",
                          f"{BROKEN}:rotation_broken", str(path)], capture_output=True, text=True)
    assert out.returncode == 0 and "energy" in out.stdout and "forces" in out.stdout


@pytest.mark.parametrize("factory, reason, n_errors", [
    ("raises_on_isolated", "raised RuntimeError: no periodic cell", 6),
    ("nan_forces", "non-finite forces", 3),
    ("wrong_shape", "forces have shape (7, 3), expected (8, 3)", 14),
])
def test_a_model_that_cannot_be_judged_is_an_error_not_a_failure(run, factory, reason, n_errors):
    result = run("--model", f"{BROKEN}:{factory}")
    counts = outcomes(result)
    assert counts.get("errors", counts.get("error")) == n_errors, counts
    assert "failed" not in counts
    assert counts.get("passed", 0) == 14 - n_errors  # every other test still ran and passed (slab, wire: translation)
    result.stdout.fnmatch_lines([f"*ERROR, the model could not be judged*{reason}*",
                                 "*structure: *.extxyz"])
    assert result.ret == 1


def test_a_model_that_hangs_is_stopped_and_the_run_goes_on(run):
    result = run("--model", f"{BROKEN}:hangs", "--mlipcheck-timeout", "1", "-k", "translation")
    counts = outcomes(result)
    assert counts.get("errors", counts.get("error")) == 2 and counts["passed"] == 4  # periodic: crystals, slab, wire
    result.stdout.fnmatch_lines(["*did not answer within 1 s*"])


def test_missing_weights_error_every_test_of_that_model_with_one_message(run):
    result = run("--model", "mace:/nonexistent/model.model", "--model", "emt")
    counts = outcomes(result)
    assert counts["passed"] >= 12  # emt still ran
    assert counts.get("errors", counts.get("error")) == 20  # 3 checks x 6 quick cases + translation of slab, wire
    # Where MACE is installed the file is missing; elsewhere the framework is (say which extra).
    result.stdout.fnmatch_lines(["*model 'mace:/nonexistent/model.model' could not be loaded: *"])
    assert "does not exist" in result.stdout.str() or "mlipcheck[mace]" in result.stdout.str()


def test_two_models_side_by_side(run):
    result = run("--model", "emt", "--model", f"{BROKEN}:correct", "-v", "-k", "Cu_fcc")
    result.stdout.fnmatch_lines(["*test_translation?emt-Cu_fcc? PASSED*",
                                 "*test_translation?correct-Cu_fcc? PASSED*"])


def test_full_profile_runs_every_case(run):
    result = run("--model", "emt", "--mlipcheck-profile", "full", "--collect-only", "-q")
    assert "CuAu_fcc_alloy" in result.stdout.str() and "Fe_bcc" in result.stdout.str()


def test_bad_profile_is_a_usage_error(run):
    result = run("--model", "emt", "--mlipcheck-profile", "nonesuch")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*profile 'nonesuch' not found: give one of arena, full, quick*"])


def test_a_user_test_with_a_model_argument_is_left_alone(pytester):
    pytester.makepyfile("""
        import pytest
        @pytest.mark.parametrize("model", ["mine"])
        def test_own(model):
            assert model == "mine"
    """)
    result = pytester.runpytest_subprocess("--model", "emt", str(pytester.path), "-p", "no:cacheprovider")
    assert result.ret == 0
    result.assert_outcomes(passed=1)


def test_pytest_model_without_a_path_runs_the_suites_beside_the_projects_tests(pytester):
    """In a folder outside the clone, `pytest --model emt -m symmetry` collects mlipcheck's
    installed suites and the folder's own tests (one asks for the model)."""
    pytester.makepyfile(test_team="""
        import pytest
        pytestmark = pytest.mark.mlipcheck

        def test_team_check(model):
            assert model.label == "emt"
    """)
    result = pytester.runpytest_subprocess("--model", "emt", "-m", "symmetry or not quick", "-k",
                                           "team_check or (test_translation and Cu_fcc)", "-p", "no:cacheprovider",
                                           "-rA")
    assert result.ret == 0, result.stdout.str()[-2000:]
    text = result.stdout.str()
    assert "test_team.py::test_team_check[emt]" in text and "test_symmetry.py::test_translation[emt-Cu_fcc]" in text


def test_installed_command_runs_the_suites_from_anywhere(tmp_path):
    out = subprocess.run([sys.executable, "-m", "mlipcheck.cli", "run", "--model", "emt", "-q",
                          "-k", "rotation and Cu_fcc", "--mlipcheck-report", str(tmp_path)],
                         capture_output=True, text=True, cwd=tmp_path)
    assert out.returncode == 0, out.stdout[-2000:]
    assert " passed" in out.stdout and "failed" not in out.stdout


def test_pyargs_runs_the_installed_suites(tmp_path):
    out = subprocess.run([sys.executable, "-m", "pytest", "--pyargs", "mlipcheck.suites", "--model",
                          "emt", "-q", "-k", "rotation and Cu_fcc", "-p", "no:cacheprovider"],
                         capture_output=True, text=True, cwd=tmp_path)
    assert out.returncode == 0 and " passed" in out.stdout, out.stdout[-2000:]


def test_junit_carries_the_measured_values(run, pytester):
    junit = pytester.path / "junit.xml"
    run("--model", "emt", "-k", "rotation and Cu_fcc", f"--junitxml={junit}")
    text = junit.read_text()
    assert 'name="mlipcheck_value"' in text and 'name="mlipcheck_threshold"' in text


def test_property_suites_take_crystals_from_the_model_and_reference_files(run, tmp_path):
    """EOS ids name the crystal; an --eos-reference file adds its entries; a bad one is a usage
    error; a phonon reference the model's elements cannot judge is a skip with the reason."""
    shared = ROOT.parent / "shared" / "reference"
    if not shared.is_dir():
        pytest.skip("../shared/reference not beside the checkout")
    result = run(str(SUITES / "test_eos.py"), str(SUITES / "test_phonons.py"), "--model", "emt",
                 "-k", "eos_volume or phonon_reference", "--eos-reference", str(shared / "acwf" / "unaries_AE_average.json"),
                 "--phonon-reference", str(shared / "phonopy" / "Si"), suite=None)
    out = result.stdout.str()
    assert "test_eos_volume[emt-Cu-FCC-unaries_AE_average.json]" in out
    import re

    assert re.search(r"test_eos_volume\[emt-[A-Z][a-z]?\]", out)  # an entry of ASE's dcdft (WIEN2k)
    assert "emt does not declare Si" in out
    (tmp_path / "bad.json").write_text("[]")
    bad = run("--model", "emt", "--eos-reference", str(tmp_path / "bad.json"), suite="test_eos.py")
    assert bad.ret == 4 and "BM_fit_data" in bad.stderr.str() + bad.stdout.str()


def test_elastic_reference_file_adds_its_crystals_and_a_bad_one_is_a_usage_error(run, tmp_path):
    """--elastic-reference: a row none of the suite's crystals matches adds its crystal (here EMT's
    Ni, judged against EMT's own constants: passes); a malformed file stops the run, exit 4."""
    table = tmp_path / "emt_ni.csv"
    # EMT's Ni at its lattice constant, from make_periodic_set.py's elastic protocol run with EMT
    table.write_text("name,structure,a_A,C11,C12,C44,source\nNi,fcc,3.4872,230.2,148.8,147.0,EMT\n")
    result = run("--model", "emt", "--elastic-reference", str(table), "-k", "elastic_moduli and Ni",
                 "--mlipcheck-profile", "quick", suite="test_elastic.py")
    out = result.stdout.str()
    assert "PASSED" in out and "test_elastic_moduli[emt-Ni-fcc]" in out, out
    (tmp_path / "bad.csv").write_text("name,structure,C11\nNi,fcc,1\n")
    bad = run("--model", "emt", "--elastic-reference", str(tmp_path / "bad.csv"), suite="test_elastic.py")
    assert bad.ret == 4 and "C12" in bad.stderr.str() + bad.stdout.str()
