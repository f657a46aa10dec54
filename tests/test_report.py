"""report.json, summary.md, JUnit, compare and the baseline gate, as CI uses them."""
import json
import os
import re
import signal
import subprocess
import sys
import time

import pytest
from conftest import BROKEN, ROOT

from mlipcheck import report

SUITE = ROOT / "suites" / "test_symmetry.py"
RECORD_FIELDS = {"test_id", "name", "model", "suite", "check", "case", "material_class", "metric", "value", "relation", "unit",
                 "threshold", "passed", "outcome", "message", "structure", "to_label", "details", "duration_s", "model_seconds"}


def run_suite(folder, *models, extra=()):
    argv = [sys.executable, "-m", "pytest", str(SUITE), "-p", "no:cacheprovider", "-q", "--mlipcheck-report", str(folder)]
    for model in models:
        argv += ["--model", model]
    return subprocess.run(argv + list(extra), capture_output=True, text=True, cwd=folder.parent)


@pytest.fixture(scope="module")
def good_and_broken(tmp_path_factory):
    base = tmp_path_factory.mktemp("reports")
    good, bad = base / "good", base / "bad"
    run_suite(good, f"{BROKEN}:correct")
    run_suite(bad, f"{BROKEN}:rotation_broken")
    return good, bad


def test_report_json_follows_its_schema(good_and_broken):
    good, bad = good_and_broken
    data = report.load(bad / "report.json")
    assert data["schema"] == "mlipcheck-report/1"
    assert {"date", "mlipcheck_version", "profile", "command_line", "machine", "packages", "finished"} <= set(data["run"])
    assert data["run"]["finished"] and data["run"]["exit_status"] == 1
    assert data["models"]["rotation_broken"]["dtype"] == "float64"
    for record in data["results"]:
        assert set(record) == RECORD_FIELDS
        assert record["outcome"] in report.OUTCOMES and record["passed"] == (record["outcome"] == "passed")
    failed = [r for r in data["results"] if r["outcome"] == "failed"]
    assert failed and all(r["check"] == "rotation" for r in failed)
    assert all(r["structure"] and os.path.exists(r["structure"]) for r in failed)
    ran = [r for r in data["results"] if r["outcome"] != "skipped"]
    assert all(r["model"] == "rotation_broken" and r["material_class"] for r in ran)
    assert all(0 <= r["model_seconds"] <= r["duration_s"] + 1e-3 for r in ran)
    assert sum(data["summary"].values()) == len(data["results"])


def test_summary_markdown(good_and_broken):
    text = (good_and_broken[1] / "summary.md").read_text()
    assert text.startswith("## mlipcheck: FAIL")
    assert "| symmetry | rotation_broken |" in text and "test_rotation[rotation_broken-Cu_fcc]" in text
    assert (good_and_broken[0] / "summary.md").read_text().startswith("## mlipcheck: PASS")


def test_compare_names_the_regressions_and_exits_non_zero(good_and_broken):
    good, bad = good_and_broken
    out = subprocess.run([sys.executable, "-m", "mlipcheck.cli", "compare", str(good / "report.json"),
                          str(bad / "report.json")], capture_output=True, text=True)
    assert out.returncode == 1
    assert "test_rotation[Cu_fcc]: passed -> failed" in out.stdout
    same = subprocess.run([sys.executable, "-m", "mlipcheck.cli", "compare", str(good / "report.json"),
                           str(good / "report.json")], capture_output=True, text=True)
    assert same.returncode == 0 and "0 regressions" in same.stdout
    # The other direction: the same changes are improvements.
    back = subprocess.run([sys.executable, "-m", "mlipcheck.cli", "compare", str(bad / "report.json"),
                           str(good / "report.json")], capture_output=True, text=True)
    assert back.returncode == 0 and "failed -> passed" in back.stdout


def test_compare_flags_a_metric_worse_than_the_tolerance():
    def run(value, outcome="passed", relation="<="):
        return {"schema": report.SCHEMA, "run": {"finished": True}, "results": [{
            "test_id": "suites/test_x.py::test_a[m-Cu]", "model": "m", "outcome": outcome, "value": value,
            "threshold": 1.0, "unit": "eV", "relation": relation}]}

    assert report.compare(run(0.1), run(0.15)).regressions == []  # 5 % of the threshold: within 10 %
    assert len(report.compare(run(0.1), run(0.3)).regressions) == 1
    assert len(report.compare(run(0.1), run(2.0, "failed")).regressions) == 1
    # a metric that must stay above its threshold (softening s >= 0.8) is worse when it falls
    assert len(report.compare(run(0.9, relation=">="), run(0.7, relation=">=")).regressions) == 1
    assert report.compare(run(0.9, relation=">="), run(1.2, relation=">=")).regressions == []


def test_gate_refuses_what_it_has_not_seen():
    """An unfinished candidate, baseline tests missing from it, passed -> skipped: each fails the
    gate unless its own option allows it, and the summary lists what was not compared."""
    def run(*tests, finished=True, outcome="passed"):
        return {"schema": report.SCHEMA, "run": {"finished": finished}, "results": [{
            "test_id": f"suites/test_x.py::{t}[m-Cu]", "model": "m", "outcome": outcome, "value": 0.1,
            "threshold": 1.0, "unit": "eV"} for t in tests]}

    baseline = run("test_a", "test_b")
    assert report.compare(baseline, run("test_a", "test_b")).gate_passes
    unfinished = report.compare(baseline, run("test_a", "test_b", finished=False))
    assert not unfinished.gate_passes and "did not finish" in unfinished.refusals[0]
    assert report.compare(baseline, run("test_a", "test_b", finished=False), allow=["unfinished"]).gate_passes
    missing = report.compare(baseline, run("test_a"))
    assert not missing.gate_passes and missing.not_compared[0]["test"] == "test_x.py::test_b[Cu]"
    assert report.compare(baseline, run("test_a"), allow=["missing"]).gate_passes
    skipped = report.compare(baseline, run("test_a", "test_b", outcome="skipped"))
    assert len(skipped.regressions) == 2 and skipped.regressions[0]["why"] == "passed -> skipped"
    assert report.compare(baseline, run("test_a", "test_b", outcome="skipped"), allow=["skipped"]).gate_passes


def test_compare_and_report_refuse_malformed_files_in_one_line(tmp_path):
    for name, text in (("list.json", "[1, 2]"), ("keys.json", '{"schema": "mlipcheck-report/1", "results": [{}]}'),
                       ("outcome.json", '{"schema": "mlipcheck-report/1", "results": [{"test_id": "a", "model": null, '
                                        '"outcome": "<script>x</script>", "value": 1, "threshold": 1, "unit": ""}]}')):
        path = tmp_path / name
        path.write_text(text)
        for command in (["compare", str(path), str(path)], ["report", str(path), "--html", str(tmp_path / "o.html")]):
            out = subprocess.run([sys.executable, "-m", "mlipcheck.cli", *command], capture_output=True, text=True)
            assert out.returncode == 2 and out.stderr.startswith("mlipcheck: ") and "Traceback" not in out.stderr
            assert len(out.stderr.strip().splitlines()) == 1, out.stderr


def test_a_missing_baseline_is_said_before_the_run(tmp_path):
    out = subprocess.run([sys.executable, "-m", "mlipcheck.cli", "run", "--model", "emt", "--baseline",
                          str(tmp_path / "nowhere.json")], capture_output=True, text=True, cwd=tmp_path, timeout=60)
    assert out.returncode == 2 and "nowhere.json" in out.stderr and not (tmp_path / "mlipcheck-report").exists()


def test_compare_refuses_a_file_that_is_not_a_report(tmp_path):
    junk = tmp_path / "junk.json"
    junk.write_text("{}")
    out = subprocess.run([sys.executable, "-m", "mlipcheck.cli", "compare", str(junk), str(junk)],
                         capture_output=True, text=True)
    assert out.returncode == 2 and "not an mlipcheck report" in out.stderr


def test_run_with_baseline_gates(good_and_broken, tmp_path):
    good, _ = good_and_broken
    out = subprocess.run([sys.executable, "-m", "mlipcheck.cli", "run", "--model", f"{BROKEN}:permutation_broken",
                          "--report", str(tmp_path / "new"), "--baseline", str(good / "report.json"), "-q",
                          "-k", "test_symmetry"], capture_output=True, text=True, cwd=tmp_path)
    assert out.returncode == 1 and "test_permutation" in out.stdout and "regressions" in out.stdout


def hanging_run(folder):
    """A run whose model hangs on the first molecule (no time limit), once its report exists."""
    argv = [sys.executable, "-m", "pytest", str(SUITE), "-p", "no:cacheprovider", "-q", "--mlipcheck-report",
            str(folder), "--model", f"{BROKEN}:hangs", "--mlipcheck-timeout", "0"]
    process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=folder.parent)
    deadline = time.time() + 60
    while time.time() < deadline and not (folder / "report.json").exists():
        time.sleep(0.2)
    time.sleep(1.0)  # hanging on a structure now
    return process


def test_a_killed_run_leaves_a_readable_report(tmp_path):
    folder = tmp_path / "killed"
    process = hanging_run(folder)
    process.send_signal(signal.SIGKILL)
    process.wait()
    data = report.load(folder / "report.json")
    assert not data["run"]["finished"] and data["results"]
    assert all(r["outcome"] in report.OUTCOMES for r in data["results"])


def test_xdist_workers_report_through_the_controller(tmp_path):
    folder = tmp_path / "xdist"
    out = run_suite(folder, "emt", extra=["-n", "2"])
    assert out.returncode == 0, out.stdout[-2000:]
    data = report.load(folder / "report.json")
    assert data["summary"]["passed"] == 14 and data["models"]["emt"]["framework"] == "emt"
    # time accounting under xdist: the workers' totals in the terminal, per suite in summary.md
    assert "the workers' tests took" in out.stdout
    assert "### Where the time went" in (folder / "summary.md").read_text()
    assert all(0 <= r["model_seconds"] <= r["duration_s"] + 1e-3 for r in data["results"] if r["outcome"] == "passed")


def test_report_rerendered_without_rerunning(good_and_broken, tmp_path):
    target = tmp_path / "again.md"
    out = subprocess.run([sys.executable, "-m", "mlipcheck.cli", "report", str(good_and_broken[1] / "report.json"),
                          "--markdown", str(target)], capture_output=True, text=True)
    assert out.returncode == 0 and target.read_text() == (good_and_broken[1] / "summary.md").read_text()


def test_html_report_is_self_contained_with_failures_first(tmp_path):
    folder = tmp_path / "html"
    run_suite(folder, f"{BROKEN}:hard_cutoff,elements=Cu", "emt",
              extra=[str(ROOT / "suites" / "test_dimers.py"), "-k", "Cu"])
    text = (folder / "report.html").read_text()
    assert "mlipcheck: FAIL" in text
    assert text.index("Failures and errors") < text.index("Verdicts per suite and model") < text.index("All results")
    assert "test_dimer_continuity[hard_cutoff,elements=Cu-Cu-Cu]" in text
    assert "mlipcheck eval --model" in text  # the reproduction line
    assert text.count("data:image/png;base64,") >= 1  # the Cu-Cu dimer plot, inline
    assert "http://" not in text and "https://" not in text and "<script" not in text  # opens offline


def test_failing_structures_are_collected_once_each_for_labelling(good_and_broken):
    """to_label.extxyz: every structure a test failed on, once, tagged with test, check, value and
    threshold; a passing run writes none."""
    from ase.io import read

    good, bad = good_and_broken
    assert not (good / "to_label.extxyz").exists()
    frames = read(bad / "to_label.extxyz", ":")
    data = report.load(bad / "report.json")
    failed = [r for r in data["results"] if r["outcome"] == "failed" and r["structure"]]
    assert 0 < len(frames) <= len(failed)
    for atoms in frames:
        assert atoms.info["mlipcheck_check"] == "rotation" and "threshold" in atoms.info["mlipcheck_tests"]
        assert atoms.info["mlipcheck_model"] == "rotation_broken"
    positions = {atoms.positions.round(6).tobytes() + atoms.numbers.tobytes() for atoms in frames}
    assert len(positions) == len(frames)  # deduplicated


def test_a_committee_flags_its_most_uncertain_structures_for_labelling(tmp_path):
    """With two models, the committee's most uncertain structures reach to_label.extxyz though
    the (report-only) committee test passes."""
    from ase.io import read

    folder = tmp_path / "committee"
    run_suite(folder, f"{BROKEN}:correct,elements=Cu", f"{BROKEN}:short_range_hole,elements=Cu",
              extra=[str(ROOT / "suites" / "test_extrapolation.py"), "-k", "committee"])
    data = report.load(folder / "report.json")
    [record] = [r for r in data["results"] if r["check"] == "committee_disagreement"]
    assert record["outcome"] == "passed" and 1 <= len(record["to_label"]) <= 5
    frames = read(folder / "to_label.extxyz", ":")
    assert len(frames) == len(record["to_label"])
    assert all(a.info["mlipcheck_outcome"] == "uncertain" and "force spread" in a.info["mlipcheck_tests"]
               for a in frames)


def test_every_plot_belongs_to_a_check_of_the_suites():
    """Plots are registered by check name (mlipcheck.report.plots); a check renamed in the suites
    without its plot would drop the plot silently: here it fails."""
    import ast

    from mlipcheck.report import plots

    suites = ROOT / "suites"
    checks = {node.name.removeprefix("test_") for path in suites.glob("test_*.py")
              for node in ast.walk(ast.parse(path.read_text())) if isinstance(node, ast.FunctionDef)}
    registered = {check for entry in plots.PLOTS for check in entry.checks}
    assert registered and registered <= checks, registered - checks


def test_surface_energy_plot_draws_each_model_against_pbe():
    from mlipcheck.report.plots import surface_plots

    record = {"model": "emt", "case": "Cu", "check": "surface_energy_error", "threshold": 0.2,
              "details": {"gamma_111_J_m2": 1.04, "gamma_100_J_m2": 1.13, "gamma_111_reference_J_m2": 1.3,
                          "gamma_100_reference_J_m2": 1.4}}
    skipped = {"model": "emt", "case": "Ag", "check": "surface_energy_error", "threshold": None, "details": {}}
    images = surface_plots([skipped, record, {**record, "model": "other"}, {**record, "details": {}}])
    assert len(images) == 2 and all("data:image/png;base64," in image for image in images)


def test_a_plot_that_raises_leaves_a_message_not_a_lost_report(monkeypatch):
    from mlipcheck.report import plots

    def broken(records):
        raise ValueError("bad details")

    monkeypatch.setattr(plots, "PLOTS", [plots.Plot(("surface_energy_error",), "Surfaces", broken)])
    sections = plots.sections({"results": [{"check": "surface_energy_error", "model": "m", "case": "Cu"}]})
    assert sections == [("Surfaces", ["<p>this plot could not be drawn: ValueError: bad details</p>"])]


def cli(*argv, **kw):
    return subprocess.run([sys.executable, "-m", "mlipcheck.cli", *map(str, argv)], capture_output=True, text=True, **kw)


def synthetic(*tests, finished=True, outcome="passed"):
    return {"schema": report.SCHEMA, "run": {"finished": finished}, "results": [{
        "test_id": f"suites/test_x.py::{t}[m-Cu]", "model": "m", "outcome": outcome, "value": 0.1,
        "threshold": 1.0, "unit": "eV"} for t in tests]}


def write(path, data):
    path.write_text(json.dumps(data))
    return path


def test_an_unfinished_or_malformed_baseline_is_refused(tmp_path):
    """A killed run's baseline holds half the tests: gating against it would pass the rest unseen."""
    good = write(tmp_path / "good.json", synthetic("test_a", "test_b"))
    for name, finished in (("killed", False), ("string", "false")):
        baseline = write(tmp_path / f"{name}.json", synthetic("test_a", finished=finished))
        out = cli("compare", baseline, good, "--allow-missing")
        assert out.returncode == 2 and "gate: PASS" not in out.stdout, out.stdout
        assert len(out.stderr.strip().splitlines()) == 1 and str(baseline) in out.stderr
        # said before the run, not after it
        run = cli("run", "--model", "emt", "--baseline", baseline, cwd=tmp_path, timeout=60)
        assert run.returncode == 2 and not (tmp_path / "mlipcheck-report").exists()
    # a candidate whose finished flag is a string is malformed too (the string "false" is truthy)
    out = cli("compare", good, write(tmp_path / "c.json", synthetic("test_a", "test_b", finished="false")))
    assert out.returncode == 2 and "run.finished" in out.stderr


def test_a_report_with_a_test_twice_is_refused(tmp_path):
    data = synthetic("test_a", "test_a", outcome="passed")
    data["results"][0]["outcome"] = "failed"
    twice = write(tmp_path / "twice.json", data)
    out = cli("compare", write(tmp_path / "good.json", synthetic("test_a")), twice)
    assert out.returncode == 2 and "recorded more than once" in out.stderr and "test_a" in out.stderr


@pytest.mark.parametrize("value", ["nan", "-0.5", "inf", "abc"])
def test_a_tolerance_that_is_not_a_finite_non_negative_number_is_refused(tmp_path, value):
    good = write(tmp_path / "good.json", synthetic("test_a"))
    out = cli("compare", good, good, f"--tolerance={value}")
    assert out.returncode == 2 and "--tolerance" in out.stderr and "gate" not in out.stdout
    with pytest.raises(ValueError, match="finite number"):
        report.compare(synthetic("test_a"), synthetic("test_a"), tolerance=float(value) if value != "abc" else -1)


def test_shards_of_different_runs_are_not_merged(tmp_path):
    def shard(index, **run):
        data = synthetic(f"test_{index}")
        data["run"].update({"shard": {"index": index, "count": 2}, "profile": "quick", "seed": 0,
                            "mlipcheck_version": "0.1.0", "models": ["chgnet"]}, **run)
        data["models"] = {"chgnet": {}}
        return data

    assert report.merge([shard(1), shard(2)])["run"]["finished"]
    for key, value in (("models", ["emt"]), ("seed", 1), ("profile", "full"), ("mlipcheck_version", "0.2.0")):
        paths = [write(tmp_path / "1.json", shard(1)), write(tmp_path / "2.json", shard(2, **{key: value}))]
        out = cli("report", "merge", *paths, "-o", tmp_path / "merged")
        assert out.returncode == 2 and f"their {key} differ" in out.stderr, out.stderr
        assert not (tmp_path / "merged").exists()
    other = shard(2)
    other["models"] = {"emt": {}}  # a report from before run.models: told apart by its results' models
    with pytest.raises(ValueError, match="models differ"):
        report.merge([shard(1), other])


def test_every_refusal_names_an_option_that_exists(tmp_path):
    from mlipcheck.cli import main

    baseline = write(tmp_path / "b.json", synthetic("test_a", "test_b"))
    sharded = synthetic("test_a", "test_b")
    sharded["run"]["shard"] = {"index": 1, "count": 2}
    for candidate in (synthetic("test_a", "test_b", finished=False), synthetic("test_a"), sharded):
        out = cli("compare", baseline, write(tmp_path / "c.json", candidate))
        assert out.returncode == 1 and "gate refused" in out.stdout and "--allow-?" not in out.stdout
        for option in re.findall(r"--allow-[a-z]+", out.stdout):
            assert main(["compare", str(baseline), str(baseline), option]) == 0


def test_an_interrupted_run_is_unfinished(tmp_path):
    """Ctrl-C: pytest still writes the report (exit status 2); it must not say the run finished."""
    folder = tmp_path / "interrupted"
    process = hanging_run(folder)
    process.send_signal(signal.SIGINT)
    assert process.wait(timeout=60) == 2
    data = report.load(folder / "report.json")
    assert data["run"]["finished"] is False and data["run"]["exit_status"] == 2
    baseline = write(tmp_path / "b.json", {**data, "run": {**data["run"], "finished": True}})
    out = cli("compare", baseline, folder / "report.json", "--allow-missing")
    assert out.returncode == 1 and "did not finish" in out.stdout and "gate: FAIL" in out.stdout


def test_board_puts_models_side_by_side(good_and_broken, tmp_path):
    """One row per check and target, one column per model; a skip for undeclared elements kept
    apart from a failure; runs made differently say so at the top."""
    from mlipcheck.report import board

    good, bad = (report.load(folder / "report.json") for folder in good_and_broken)
    built = board.build([good, bad])
    assert built.columns == ["correct", "rotation_broken"] and not built.differences
    row = built.rows["test_symmetry.py::test_rotation[Cu_fcc]"]
    assert board.cell(row["correct"])[1] == "passed" and board.cell(row["rotation_broken"])[0].startswith("FAIL ")
    assert all(set(records) == {"correct", "rotation_broken"} for records in built.rows.values())
    skipped = {key for key, records in built.rows.items() if records["correct"]["outcome"] == "skipped"}
    assert set(built.undeclared["correct"]) | set(built.other_skips["correct"]) == skipped
    text = board.markdown(built)
    assert "| `test_symmetry.py::test_rotation[Cu_fcc]` |" in text and "FAIL" in text
    # the same model twice, from runs of different profiles: two columns, the difference said
    other = json.loads(json.dumps(good))
    other["run"]["profile"] = "full"
    twice = board.build([good, other])
    assert twice.columns == ["correct", "correct (run 2)"]
    assert twice.differences == ["profile: run 1 quick, run 2 full"]
    assert "made differently" in board.markdown(twice) and "made differently" in board.html(twice)
    out = cli("report", "board", good_and_broken[0] / "report.json", good_and_broken[1] / "report.json",
              "-o", tmp_path / "board")
    assert out.returncode == 0 and "2 models (correct, rotation_broken)" in out.stdout, out.stderr
    page = (tmp_path / "board" / "board.html").read_text()
    assert "<td class='failed'>FAIL" in page and "http" not in page


def test_board_tells_an_undeclared_element_from_a_failure(tmp_path):
    from mlipcheck.report import board

    def run(label, outcome, message=None):
        data = synthetic("test_a")
        data["results"][0].update(model=label, outcome=outcome, message=message, check="a", case="Cu",
                                  test_id=f"suites/test_x.py::test_a[{label}-Cu]")
        return data

    built = board.build([run("m1", "failed"), run("m2", "skipped", "m2 does not declare Cu (case Cu)")])
    row = built.rows["test_x.py::test_a[Cu]"]
    assert board.cell(row["m1"])[0].startswith("FAIL") and board.cell(row["m2"])[0] == "not declared"
    assert built.undeclared == {"m2": ["test_x.py::test_a[Cu]"]} and not built.other_skips
