"""Bad input gets one clear line, the right exit code (4: usage error), and is never counted as
the model's failure."""
import os
import subprocess
import sys

import pytest
from conftest import BROKEN, ROOT

SUITE = ROOT / "suites" / "test_symmetry.py"


def run(tmp_path, *args, timeout=120):
    return subprocess.run([sys.executable, "-m", "pytest", str(SUITE), "-p", "no:cacheprovider", "-q",
                           "-k", "translation and Cu_fcc", *args], capture_output=True, text=True,
                          cwd=tmp_path, timeout=timeout)


@pytest.mark.parametrize("args, words", [
    (["--model", "emt,cutoff=abc"], "cutoff='abc' is not a positive, finite number"),
    (["--model", "emt,cutoff=inf"], "cutoff='inf' is not a positive, finite number"),
    (["--model", "emt,dtpye=float32"], "emt has no option 'dtpye'; did you mean dtype=?"),
    (["--model", "mace:x.model,hed=omat"], "mace has no option 'hed'; did you mean head=?"),
    (["--model", "nonexist.py:make"], "no file 'nonexist.py'"),
    (["--model", "foo:bar"], "no module 'foo' is importable here"),
    (["--model", "emt", "--mlipcheck-timeout", "nan"], "--mlipcheck-timeout nan: give seconds >= 0"),
    (["--model", "emt", "--reference", "nowhere.extxyz"], "--reference: reference file nowhere.extxyz does not exist"),
    (["--model", "emt", "--reference", "."], "is a folder"),
    (["--model", "emt", "--reference-class-map", "metal"], "'metal' must look like LABEL=CLASS"),
    (["--model", "emt,dtype=float16"], "dtype='float16' is not float32 or float64"),
    (["--model", "emt,stress=maybe"], "stress='maybe' is not true or false"),
    (["--model", "emt", "--mlipcheck-seed", "-5"], "give a seed >= 0"),
    (["--model", "emt", "--mlipcheck-timeout", "-1"], "give seconds >= 0"),
    (["--model", "emt", "--phonon-reference", "no/such/folder"], "not a folder"),
])
def test_usage_errors_exit_4_with_one_line(tmp_path, args, words):
    out = run(tmp_path, *args)
    assert out.returncode == 4, out.stdout + out.stderr
    assert words in out.stderr and "Traceback" not in out.stderr, out.stderr


@pytest.mark.parametrize("content, words", [("", "could not be read by ASE"), ("garbage\n", "could not be read by ASE")])
def test_an_unreadable_reference_file_is_the_users_mistake(tmp_path, content, words):
    """Not four ERRORs counted against the model: exit 4 before the first test."""
    (tmp_path / "ref.extxyz").write_text(content)
    out = run(tmp_path, "--model", "emt", "--reference", "ref.extxyz")
    assert out.returncode == 4 and words in out.stderr and "passed" not in out.stdout, out.stdout + out.stderr


def test_an_eos_reference_with_an_empty_cell_is_refused(tmp_path):
    (tmp_path / "eos.json").write_text('{"BM_fit_data": {"Cu-X/FCC": {"min_volume": 11.9, "bulk_modulus_ev_ang3": '
                                       '0.88, "bulk_deriv": 5}}, "num_atoms_in_sim_cell": {"Cu-X/FCC": 0}}')
    out = run(tmp_path, "--model", "emt", "--eos-reference", "eos.json")
    assert out.returncode == 4 and "num_atoms_in_sim_cell is 0" in out.stderr and "INTERNALERROR" not in out.stdout


def test_a_model_that_calls_sys_exit_is_an_error_of_the_model(tmp_path):
    out = run(tmp_path, "--model", f"{BROKEN}:exits_on_isolated", "-k", "translation", "-rE",
              "--mlipcheck-report", str(tmp_path / "r"))
    assert out.returncode == 1, out.stdout[-2000:]
    assert "the model called sys.exit(3) on" in out.stdout and "FAILED" not in out.stdout
    assert "ERROR" in out.stdout and list((tmp_path / "r" / "structures").glob("*.extxyz"))


def test_report_folder_that_is_a_file_or_held_by_a_live_run(tmp_path):
    (tmp_path / "afile").write_text("x")
    out = run(tmp_path, "--model", "emt", "--mlipcheck-report", str(tmp_path / "afile"))
    assert out.returncode == 4 and "a file, not a folder" in out.stderr
    held = tmp_path / "held"
    held.mkdir()
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        (held / ".mlipcheck-run.lock").write_text(str(other.pid))
        out = run(tmp_path, "--model", "emt", "--mlipcheck-report", str(held))
        assert out.returncode == 4 and f"another mlipcheck run (process {other.pid})" in out.stderr
    finally:
        other.kill()
        other.wait()
    # the holder is gone: its lock is stale, the folder is taken, an earlier run's files removed
    (held / "structures").mkdir()
    (held / "structures" / "old.extxyz").write_text("stale")
    out = run(tmp_path, "--model", "emt", "--mlipcheck-report", str(held))
    assert out.returncode == 0, out.stdout
    assert not (held / "structures" / "old.extxyz").exists() and not (held / ".mlipcheck-run.lock").exists()


def test_a_calculator_declaring_a_cutoff_with_a_unit_is_one_load_error(tmp_path):
    (tmp_path / "calc.py").write_text(
        "from ase.calculators.emt import EMT\n"
        "def make():\n    c = EMT()\n    c.cutoff = '5 A'\n    return c\n")
    out = run(tmp_path, "--model", f"{tmp_path / 'calc.py'}:make")
    assert out.returncode == 1 and "cutoff = '5 A'; it must be a number" in out.stdout


def test_two_files_with_the_same_callable_name_are_two_models(tmp_path):
    for name in ("a", "b"):
        (tmp_path / f"{name}.py").write_text("from ase.calculators.emt import EMT\ndef make():\n    return EMT()\n")
    out = run(tmp_path, "--model", f"{tmp_path / 'a.py'}:make", "--model", f"{tmp_path / 'b.py'}:make", "-rA")
    assert out.returncode == 0, out.stdout + out.stderr
    assert "[a.make-Cu_fcc]" in out.stdout and "[b.make-Cu_fcc]" in out.stdout


def test_a_long_model_spec_keeps_structure_file_names_short(tmp_path):
    (tmp_path / "with_checkpoint.py").write_text(
        f"import sys\nsys.path.insert(0, {str(BROKEN.parent)!r})\nfrom broken_models import OriginTerm\n"
        "def make(checkpoint=None):\n    return OriginTerm()\n")
    spec = f"{tmp_path / 'with_checkpoint.py'}:make,checkpoint={'x' * 300}"
    out = run(tmp_path, "--model", spec, "--mlipcheck-report", str(tmp_path / "r"), "-k", "test_translation")
    assert out.returncode == 1 and "INTERNALERROR" not in out.stdout + out.stderr, out.stdout[-2000:]
    written = list((tmp_path / "r" / "structures").glob("*.extxyz"))
    assert written and all(len(p.name) < 120 for p in written)


def test_dollar_signs_in_labels_do_not_break_the_html_report(tmp_path):
    from mlipcheck import report
    from mlipcheck.report.html import render

    data = report.new_report("quick", ["pytest"])
    data["results"].append({"test_id": "suites/test_dimers.py::test_dimer_finite[m$x-Cu-Cu]", "model": "m$x",
                            "suite": "dimers", "check": "dimer_finite", "case": "Cu-Cu dimer",
                            "material_class": "a$b", "metric": "m", "value": 0.0, "relation": "<=", "unit": "",
                            "threshold": 0.0, "passed": True, "outcome": "passed", "message": None,
                            "structure": None, "duration_s": 0.1, "model_seconds": 0.0,
                            "details": {"curve_r": [1.0, 2.0, 3.0], "curve_E": [1.0, 0.0, 0.5]}})
    assert "m$x" in render(data)


def test_eval_on_an_empty_or_unknown_file_says_so(tmp_path):
    for name, text in (("empty.extxyz", ""), ("data.unknownext", "hello")):
        (tmp_path / name).write_text(text)
        out = subprocess.run([sys.executable, "-m", "mlipcheck.cli", "eval", "--model", "emt", str(tmp_path / name)],
                             capture_output=True, text=True, env=dict(os.environ))
        assert out.returncode == 2 and "not a structure file ASE can read" in out.stderr
        assert len(out.stderr.strip().splitlines()) == 1


def test_a_report_folder_holding_the_users_files_is_refused_untouched(tmp_path):
    """`--mlipcheck-report=.`: the user's structures and a report.json mlipcheck did not write
    are theirs; the run refuses the folder (exit 4) and deletes nothing."""
    mine = tmp_path / "project"
    (mine / "structures").mkdir(parents=True)
    (mine / "structures" / "dft.extxyz").write_text("users data")
    (mine / "report.json").write_text('{"my": "own report"}')
    for option in ("--mlipcheck-report=.", f"--mlipcheck-report={mine}"):
        out = run(mine, "--model", "emt", option)
        assert out.returncode == 4 and "files mlipcheck did not write" in out.stderr, out.stdout + out.stderr
        assert (mine / "structures" / "dft.extxyz").read_text() == "users data"
        assert (mine / "report.json").read_text() == '{"my": "own report"}'
    # a folder an earlier run wrote is replaced as before, marker or (older runs) schema
    earlier = tmp_path / "earlier"
    assert run(tmp_path, "--model", "emt", "--mlipcheck-report", str(earlier)).returncode == 0
    (earlier / ".mlipcheck-report").unlink()
    assert run(tmp_path, "--model", "emt", "--mlipcheck-report", str(earlier)).returncode == 0
    assert (earlier / ".mlipcheck-report").exists()


def test_a_structures_file_in_the_report_folder_is_refused_before_the_first_test(tmp_path):
    folder = tmp_path / "r"
    assert run(tmp_path, "--model", "emt", "--mlipcheck-report", str(folder)).returncode == 0
    (folder / "structures").rmdir() if (folder / "structures").is_dir() else None
    (folder / "structures").write_text("not a folder")
    out = run(tmp_path, "--model", "emt", "--mlipcheck-report", str(folder))
    assert out.returncode == 4 and "structures is a file" in out.stderr and "passed" not in out.stdout
