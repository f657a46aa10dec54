"""Throughput: the scaling verdict passes a linear-cost model and fails a quadratic one; the
numbers the suite reports are consistent with each other."""
import pytest

from mlipcheck.adapters import load_model, parse_model_specs
from mlipcheck.checks.performance.throughput import check_scaling, crystal_of_size, measure_size


@pytest.fixture
def section(quick):
    values = dict(quick.section("throughput").values, sizes=[64, 216, 1000], rounds=2)
    return type(quick.section("throughput"))("throughput", values, quick)


def emt():
    # ASE's EMT itself: the broken-model wrapper lets EMT reuse its result for the same structure
    return load_model(parse_model_specs(["emt"])[0])


def test_scaling_passes_emt_and_fails_a_quadratic_model(broken, section):
    good = check_scaling(emt(), "Cu", section)
    bad = check_scaling(broken("quadratic_cost"), "Cu", section)
    assert good.passed and 0.7 < good.value < 1.3, good.describe()
    assert not bad.passed and bad.value > section["max_exponent"], bad.describe()
    assert good.details["sizes"] == [64, 216, 1000]


def test_measured_numbers_are_consistent():
    atoms = crystal_of_size("Cu", 100)
    assert len(atoms) == 125  # the 1-atom primitive cell repeated 5x5x5
    row = measure_size(emt(), atoms, rounds=2)
    assert row["atoms_per_s"] == pytest.approx(125 / row["steady_s"])
    assert row["ns_per_day_1fs"] == pytest.approx(86400 / row["steady_s"] * 1e-6)
    assert row["first_call_s"] > 0 and (row["peak_rss_mb"] is None or row["peak_rss_mb"] > 10)


def test_scaling_verdict_holds_beside_two_busy_processes(section):
    """A shared CI machine: the same exponent (CPU time, one thread, minimum of interleaved
    rounds) with two processes spinning on the two cores as without them."""
    import subprocess
    import sys

    alone = check_scaling(emt(), "Cu", section)
    busy = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(2)]
    try:
        loaded = check_scaling(emt(), "Cu", section)
    finally:
        for process in busy:
            process.kill()
    assert alone.passed and loaded.passed, (alone.describe(), loaded.describe())
    assert abs(loaded.value - alone.value) < 0.15, (alone.value, loaded.value)


def test_memory_budget_is_a_workers_share_under_xdist(monkeypatch):
    """Alone, a process may grow into what is available; one of N pytest-xdist workers only into
    its share of the machine: the others may grow during its call (a 1000-atom CHGNet cell was
    killed beside a second worker while the budget read 'available')."""
    from mlipcheck.checks.performance.concurrency import proc_mb
    from mlipcheck.checks.performance.throughput import memory_budget_mb

    monkeypatch.delenv("PYTEST_XDIST_WORKER_COUNT", raising=False)
    alone = memory_budget_mb()
    monkeypatch.setenv("PYTEST_XDIST_WORKER_COUNT", "2")
    shared = memory_budget_mb()
    total = proc_mb("MemTotal", "/proc/meminfo")
    assert alone > 0 and shared <= total / 2 + 1e-6 and shared <= alone + 64  # RSS may move a little between reads
