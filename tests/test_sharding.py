"""Sharding a run (--mlipcheck-shard K/N) and merging the shards' reports gives the verdicts of
one run; a merge that misses a shard is refused by the gate."""
import json
import subprocess
import sys

from conftest import ROOT

# test_defects: its crystals are named by numpy strings (sampled), which xdist once could not send
SUITES = [str(ROOT / "suites" / f) for f in ("test_symmetry.py", "test_consistency.py", "test_dimers.py", "test_defects.py")]


def run(folder, *extra):
    out = subprocess.run([sys.executable, "-m", "pytest", *SUITES, "--model", "emt", "-p", "no:cacheprovider", "-q",
                          "--mlipcheck-report", str(folder), *extra], capture_output=True, text=True, timeout=600)
    assert out.returncode in (0, 1), out.stdout[-2000:] + out.stderr
    return json.loads((folder / "report.json").read_text())


def verdicts(data):
    return {r["test_id"]: (r["outcome"], r["value"]) for r in data["results"]}


def test_two_shards_merged_equal_one_run(tmp_path):
    whole = run(tmp_path / "whole")
    first = run(tmp_path / "s1", "--mlipcheck-shard", "1/2")
    second = run(tmp_path / "s2", "--mlipcheck-shard", "2/2")
    assert first["results"] and second["results"]  # both shards hold work
    assert not set(verdicts(first)) & set(verdicts(second))
    cli = [sys.executable, "-m", "mlipcheck.cli"]
    out = subprocess.run([*cli, "report", "merge", str(tmp_path / "s1" / "report.json"),
                          str(tmp_path / "s2" / "report.json"), "-o", str(tmp_path / "merged")],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
    merged = json.loads((tmp_path / "merged" / "report.json").read_text())
    assert verdicts(merged) == verdicts(whole)
    assert (tmp_path / "merged" / "report.html").exists() and (tmp_path / "merged" / "summary.md").exists()
    gate = subprocess.run([*cli, "compare", str(tmp_path / "whole" / "report.json"),
                           str(tmp_path / "merged" / "report.json")], capture_output=True, text=True)
    assert gate.returncode == 0, gate.stdout
    # One shard alone, or a merge that misses one, is not a whole run: the gate refuses it.
    partial = subprocess.run([*cli, "report", "merge", str(tmp_path / "s1" / "report.json"), "-o",
                              str(tmp_path / "partial")], capture_output=True, text=True)
    assert partial.returncode == 1 and "MISSING shards [2]" in partial.stdout
    for candidate in (tmp_path / "partial" / "report.json", tmp_path / "s1" / "report.json"):
        gate = subprocess.run([*cli, "compare", str(tmp_path / "whole" / "report.json"), str(candidate)],
                              capture_output=True, text=True)
        assert gate.returncode == 1 and "merge every shard" in gate.stdout, gate.stdout


def test_xdist_loadgroup_keeps_a_models_suite_together_and_gives_the_same_verdicts(tmp_path):
    whole = run(tmp_path / "whole")
    grouped = run(tmp_path / "grouped", "-n", "2", "--dist", "loadgroup")
    assert verdicts(grouped).keys() == verdicts(whole).keys()
    assert {k: v[0] for k, v in verdicts(grouped).items()} == {k: v[0] for k, v in verdicts(whole).items()}


def test_groups_follow_the_target_not_the_module():
    """A case's tests share a group across suite modules (they share its reference prediction);
    different cases of one module do not (MD of every case on one worker took 20 minutes)."""
    from mlipcheck.plugin import group_of

    labels = {"chgnet", "sevennet:7net-l3i5"}
    rotation = group_of("suites/test_symmetry.py::test_rotation[chgnet-Cu_fcc]", labels)
    assert rotation == group_of("suites/test_extrapolation.py::test_md_stability[chgnet-Cu_fcc]", labels)
    assert rotation != group_of("suites/test_extrapolation.py::test_md_stability[chgnet-Si_diamond]", labels)
    assert rotation != group_of("suites/test_symmetry.py::test_rotation[sevennet:7net-l3i5-Cu_fcc]", labels)
    species = group_of("suites/test_species.py::test_species_supported_as_stated[sevennet:7net-l3i5]", labels)
    assert species == "suites/test_species.py::sevennet:7net-l3i5"  # a model's own tests: by module
    assert group_of("tests/test_own.py::test_plain", labels) == "tests/test_own.py"


def test_under_xdist_a_targets_tests_share_a_worker(tmp_path):
    """`-n 2` alone schedules by group: each case's tests of two modules run on one worker."""
    out = subprocess.run([sys.executable, "-m", "pytest", SUITES[0], SUITES[1], "--model", "emt", "-n", "2", "-v",
                          "-p", "no:cacheprovider", "--mlipcheck-report", str(tmp_path)],
                         capture_output=True, text=True, timeout=600)
    assert "scheduling tests via ByGroup" in out.stdout, out.stdout[-2000:]
    workers = {}
    for line in out.stdout.splitlines():
        if line.startswith("[gw") and "[emt-" in line:
            workers.setdefault(line.split("[emt-")[1].split("]")[0], set()).add(line[:4])
    assert len(workers) > 5 and all(len(w) == 1 for w in workers.values()), workers
    assert len(set.union(*workers.values())) == 2, "both workers get work"


def test_a_crashed_worker_neither_hangs_the_run_nor_runs_its_test_twice(pytester):
    """A worker that dies (a model that segfaults) at the end of a run, after the other worker
    has finished: the run ends, the test it died on is reported once as the crash, and the rest of
    its group runs on the replacement worker (it hung in xdist's own group scheduling)."""
    pytester.makepyfile(test_crash="""
        import os
        import time
        import pytest

        pytestmark = pytest.mark.mlipcheck

        @pytest.mark.parametrize("variant", ["a", "b"])
        def test_one(model, variant):
            time.sleep(2)
            if variant == "b" and os.environ.get("PYTEST_XDIST_WORKER") in ("gw0", "gw1"):
                os._exit(3)

        @pytest.mark.parametrize("variant", ["a", "b", "c"])
        def test_two(model, variant):
            pass
    """)
    result = pytester.runpytest_subprocess("test_crash.py", "--model", "emt", "-n", "2", "-p", "no:cacheprovider",
                                           "--mlipcheck-report", str(pytester.path / "report"), timeout=120)
    assert result.parseoutcomes() == {"errors": 1, "passed": 4}, result.stdout.str()[-2000:]
    assert "crashed while running 'test_crash.py::test_one[emt-b]'" in result.stdout.str()
    records = json.loads((pytester.path / "report" / "report.json").read_text())["results"]
    crashed = [r for r in records if r["outcome"] == "error"]
    assert len(records) == 5 and len({r["test_id"] for r in records}) == 5, "each test once, the crashed one too"
    assert crashed[0]["test_id"] == "test_crash.py::test_one[emt-b]" and crashed[0]["model"] == "emt"
    assert crashed[0]["case"] == "b" and "the worker running this test died" in crashed[0]["message"]
    summary = (pytester.path / "report" / "summary.md").read_text()
    assert "4 passed, 0 failed, 1 errors" in summary and "| `test_one[emt-b]` | error |" in summary
