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


def test_groups_follow_the_target_not_the_module(pytester):
    """A case's tests share a group across suite modules (they share its reference prediction);
    different cases of one module do not (MD of every case on one worker took 20 minutes)."""
    pytester.makeconftest("""
        import pytest

        @pytest.hookimpl(trylast=True)
        def pytest_collection_modifyitems(items):
            for item in items:
                print("GROUP", item.nodeid.split("::")[-1], item.get_closest_marker("xdist_group").args[0])
    """)
    suites = [str(ROOT / "suites" / name) for name in ("test_symmetry.py", "test_extrapolation.py")]
    result = pytester.runpytest_subprocess(*suites, "--model", "emt", "-p", "no:cacheprovider", "--co", "-q", "-s")
    groups = dict(line.split()[1:] for line in result.stdout.lines if line.startswith("GROUP"))
    md = {name: group for name, group in groups.items() if name.startswith("test_md_stability[")}
    assert groups["test_rotation[emt-Cu_fcc]"] == md["test_md_stability[emt-Cu_fcc]"]
    assert len(set(md.values())) == len(md) > 3, md
