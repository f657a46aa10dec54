"""Profiles: full and a user's profile inherit from quick and state only what differs; a
misspelt key, a wrong type or a negative number is a usage error naming file, section and key."""
import subprocess
import sys

import pytest
from conftest import ROOT

from mlipcheck.errors import UsageError
from mlipcheck.profiles import load_profile


def test_full_inherits_from_quick_and_states_only_what_differs():
    quick, full = load_profile("quick"), load_profile("full")
    assert set(full.data) == set(quick.data) and full.name == "full" and not full.quick
    assert full.section("dimers")["step"] == 0.01 and full.section("dimers")["force_rel"] == quick.section("dimers")["force_rel"]
    text = (ROOT / "mlipcheck" / "profiles" / "full.toml").read_text()
    assert "force_rel" not in text  # inherited, not repeated


def test_a_user_profile_states_only_what_differs(tmp_path):
    path = tmp_path / "team.toml"
    path.write_text('name = "team"\n[dimers]\nmax_elements = 3\n')
    team = load_profile(str(path))
    assert team.name == "team" and team.section("dimers")["max_elements"] == 3
    assert team.section("dimers")["step"] == load_profile("quick").section("dimers")["step"]
    path.write_text('inherits = "full"\n[md]\nsteps = 50\n')
    assert load_profile(str(path)).section("dimers")["step"] == 0.01  # full's, and its own md steps
    assert load_profile(str(path)).section("md")["steps"] == 50


@pytest.mark.parametrize("text, words", [
    ("[dimers]\njudged_ceilng = 2.0\n", "[dimers] judged_ceilng: unknown setting (did you mean 'judged_ceiling'?)"),
    ("[dimer]\nstep = 0.1\n", "unknown section [dimer] (did you mean [dimers]?)"),
    ("[dimers]\nstep = \"fine\"\n", "[dimers] step = 'fine': must be a number"),
    ("[errors]\nforce_mae_mev_per_A = {default = -5.0}\n", "must not be negative"),
    ("[md]\npairs = true\n", "[md] pairs: unknown setting"),
    ("[md]\nsteps = 20.5\n", "[md] steps = 20.5: must be a whole number"),
    ("[md]\nsteps = nan\n", "must be a whole number"),
    ("[relaxation]\nfmax = nan\n", "[relaxation] fmax = nan: must be a finite number"),
    ("[relaxation]\nfmax = inf\n", "must be a finite number"),
    ("[md]\nsteps = -3\n", "must not be negative"),
    ("[md]\nsteps = 0\n", "[md] steps = 0: must lie in [1, inf]"),
    ("[errors]\nconfidence = 1.0\n", "[errors] confidence = 1.0: must lie in (0.0, 1.0)"),
    ("[eos]\npoints = 3\n", "must lie in [5, inf]"),
    ("[compression]\nvolume_factors = [0.5, \"x\"]\n", "must be a list of numbers"),
    ("[phonons]\nmax_imaginary_thz = {float32 = 0.3, float64 = nan}\n", "must be a finite number"),
])
def test_profile_mistakes_are_usage_errors(tmp_path, text, words):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(UsageError) as caught:
        load_profile(str(path))
    assert words in str(caught.value) and str(path) in str(caught.value)


def test_a_bad_profile_stops_pytest_before_the_first_test(tmp_path):
    (tmp_path / "bad.toml").write_text("[dimers]\njudged_ceilng = 2.0\n")
    out = subprocess.run([sys.executable, "-m", "pytest", str(ROOT / "suites" / "test_symmetry.py"), "--model", "emt",
                          "--mlipcheck-profile", str(tmp_path / "bad.toml"), "-p", "no:cacheprovider", "-q"],
                         capture_output=True, text=True, cwd=tmp_path)
    assert out.returncode == 4 and "judged_ceilng: unknown setting" in out.stderr


def test_a_decimal_setting_takes_a_whole_number_and_reads_as_an_attribute(tmp_path):
    path = tmp_path / "ok.toml"
    path.write_text("[relaxation]\nfmax = 1\n")
    section = load_profile(str(path)).section("relaxation")
    assert section.fmax == 1 and section.steps == load_profile("quick").section("relaxation").steps
    with pytest.raises(UsageError, match="has no 'stepz'"):
        _ = section.stepz


def test_a_profile_that_inherits_itself_is_refused(tmp_path):
    (tmp_path / "a.toml").write_text('inherits = "b.toml"\n')
    (tmp_path / "b.toml").write_text('inherits = "a.toml"\n')
    with pytest.raises(UsageError, match="inherits itself"):
        load_profile(str(tmp_path / "a.toml"))
    (tmp_path / "c.toml").write_text('inherits = "c.toml"\n')
    with pytest.raises(UsageError, match="inherits itself"):
        load_profile(str(tmp_path / "c.toml"))
